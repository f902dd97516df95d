"""Snapshots, AMIs and Elastic IPs beyond the EC2 core: what the core estate does not exercise.

==============================  ======================================================  ==========================================
scenario                        waste                                                   near misses (scenario ``None``)
==============================  ======================================================  ==========================================
``snapshot-error-state``        snapshot in state ``error``, 1.2-300 days old           ``error`` 0.2-0.8 days old; ``pending``
``snapshots-per-volume-excess`` the 3 oldest of 33 daily snapshots of a live gp3         a live volume with exactly 30 snapshots
                                volume on a busy running instance
``eip-on-stopped-instance``     EIP on an instance stopped 7.5-28.5 days (the EIP        EIP on an instance stopped 1-6 days
                                only) or 31.5-400 days (the instance is then
                                ``ec2-instance-stopped`` and each of its volumes
                                ``ebs-volume-on-stopped-instance``)
``eip-on-detached-eni``         EIP on a network interface attached to nothing          EIP on an interface attached to a running
                                                                                        instance
``ami-unused``                  AMI 93-900 days old that nothing launches from          AMIs as old used by a running instance, by
                                                                                        a launch template's latest or default
                                                                                        version, by a launch configuration; unused
                                                                                        AMIs 20-87 days old
``snapshot-of-deregistered-ami`` snapshot CreateImage made for an AMI deregistered      the same 3-27 days old; the snapshots of
                                since, 32-700 days old                                  every live AMI above
``snapshot-orphaned`` (core)    (none here)                                             the 95-400-day-old snapshot of a deleted
                                                                                        volume behind an AMI made with
                                                                                        RegisterImage (20-87 days old): no
                                                                                        CreateImage description, only the AMI's
                                                                                        block device mapping names it
==============================  ======================================================  ==========================================

Every instance made here runs (or is stopped) with gp3 volumes only, and every running one has 16
days of busy CPU and network history, so that no instance or volume rule fires on them but the
ones above. AMIs are made with CreateImage from a running "host" instance of the region (one per
region, made when first needed); moto gives each AMI one 15 GiB snapshot whose source volume it
deletes at once, so without the AMI id in its description every old AMI snapshot would look like
`snapshot-orphaned` (the scanner reads that id and leaves such snapshots to the AMI rules).

moto gaps worked around: a snapshot's state, an AMI's creation time and snapshot times are set on
moto's objects; DescribeLaunchTemplateVersions ignores NextToken (the estate stays far below one
200-entry page); moto's AMI snapshot description follows CreateImage's format without the
"from vol-..." suffix (the scanner's pattern accepts both).
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from ..estate_moto import BackendWriter, naive
from . import SeedContext, ServiceEstate

NAME = "ec2_snapshots"
INSTANCE = "aws.ec2.instance"
VOLUME = "aws.ec2.volume"
SNAPSHOT = "aws.ec2.snapshot"
ELASTIC_IP = "aws.ec2.elastic_ip"
IMAGE = "aws.ec2.image"

SNAPSHOT_ERROR = "snapshot-error-state"
SNAPSHOT_EXCESS = "snapshots-per-volume-excess"
EIP_STOPPED = "eip-on-stopped-instance"
EIP_DETACHED_ENI = "eip-on-detached-eni"
AMI_UNUSED = "ami-unused"
SNAPSHOT_OF_DEREGISTERED = "snapshot-of-deregistered-ami"
EC2_STOPPED = "ec2-instance-stopped"
EBS_ON_STOPPED = "ebs-volume-on-stopped-instance"

MAX_PER_VOLUME = 30  # snapshots-per-volume-excess's default
EXCESS = 3
STOPPED_DAYS = 30  # ec2-instance-stopped's and ebs-volume-on-stopped-instance's default
HISTORY_DAYS = 16
AMI_SNAPSHOT_GB = 15  # what moto gives every AMI

_GP3_GB_MONTH = 0.08
_SNAPSHOT_GB_MONTH = 0.05
_EIP_MONTH = 0.005 * 730
_ROOT, _DATA = "/dev/sda1", "/dev/sdf"
_FAKE_AMI = "ami-0c0ffee0000051a7e"  # the core estate's image id (no such image exists)

# share of the estate's size per variant (each at least 1)
_SHARES: dict[str, float] = {
    "snap.error": 0.0013,
    "snap.error_young": 0.0007,
    "snap.pending": 0.0007,
    "volume.excess": 0.0003,
    "volume.at_limit": 0.0003,
    "eip.stopped_mid": 0.0013,
    "eip.stopped_long": 0.0013,
    "eip.stopped_recent": 0.001,
    "eip.detached_eni": 0.0013,
    "eip.attached_eni": 0.001,
    "ami.used_instance": 0.001,
    "ami.used_template": 0.001,
    "ami.used_lc": 0.0007,
    "ami.young": 0.001,
    "ami.old": 0.0017,
    "ami.dereg_old": 0.0017,
    "ami.dereg_young": 0.001,
    "ami.registered": 0.001,
}


@dataclass
class _Item:
    key: str
    region: str
    tags: dict[str, str]
    age: float = 0.0  # snapshots, AMIs: since creation; stopped instances: since the stop
    size: int = 0
    extra_tags: dict[str, str] = field(default_factory=dict)  # an EIP's, a user instance's


def _plan(ctx: SeedContext) -> tuple[list[_Item], dict[str, dict[str, str]]]:
    rng = ctx.rng(NAME)
    items = []
    for key, share in _SHARES.items():
        kind = key.split(".", 1)[0]
        for _ in range(ctx.count(share)):
            item = _Item(key, ctx.pick_region(rng), ctx.tags(rng, _TAG_KIND[kind]))
            variant = key.split(".", 1)[1]
            item.age = _AGE[key](rng) if key in _AGE else 0.0
            if kind == "volume":
                item.size = rng.choice((20, 50, 100, 200))
            elif kind == "eip":
                item.size = rng.choice((8, 16, 30))
                item.extra_tags = ctx.tags(rng, "elastic_ip")
                if variant.startswith("stopped"):
                    item.extra_tags = {**item.extra_tags, "team": item.tags["team"]}
            elif key == "ami.used_instance":
                item.extra_tags = ctx.tags(rng, "instance")
            items.append(item)
    hosts = {region: ctx.tags(rng, "instance") for region in ctx.regions}
    return items, hosts


_TAG_KIND = {"snap": "snapshot", "volume": "volume", "eip": "instance", "ami": "image"}
_AGE = {
    "snap.error": lambda r: round(r.uniform(1.2, 300), 3),
    "snap.error_young": lambda r: round(r.uniform(0.2, 0.8), 3),
    "snap.pending": lambda r: round(r.uniform(0.02, 0.5), 3),
    "eip.stopped_mid": lambda r: round(r.uniform(7.5, 28.5), 3),
    "eip.stopped_long": lambda r: round(r.uniform(31.5, 400), 3),
    "eip.stopped_recent": lambda r: round(r.uniform(1, 6), 3),
    "ami.used_instance": lambda r: round(r.uniform(95, 700), 3),
    "ami.used_template": lambda r: round(r.uniform(95, 700), 3),
    "ami.used_lc": lambda r: round(r.uniform(95, 700), 3),
    "ami.young": lambda r: round(r.uniform(20, 87), 3),
    "ami.old": lambda r: round(r.uniform(93, 900), 3),
    "ami.dereg_old": lambda r: round(r.uniform(32, 700), 3),
    "ami.dereg_young": lambda r: round(r.uniform(3, 27), 3),
    "ami.registered": lambda r: round(r.uniform(20, 87), 3),
}


class _Region:
    """What one region's seeding shares: moto's backend writer, clients, the host instance."""

    def __init__(self, ctx: SeedContext, region: str, host_tags: dict[str, str], truth: list) -> None:
        self.ctx, self.region, self.host_tags, self.truth = ctx, region, host_tags, truth
        network = ctx.networks[region]
        self.subnets = network.subnet_ids
        self.writer = BackendWriter(ctx.account_id, region, probe_vpc_id=network.vpc_id)
        self.ec2 = self.writer.ec2
        self._host: Any = None
        self._host_nics = 1
        self._n = 0
        self.busy: list[str] = []
        self.rng = ctx.rng(f"{NAME}:{region}:usage")

    def add(self, rid: str, rtype: str, tags: dict[str, str], scenario=None, decision=None) -> None:
        self.truth.append(self.ctx.truth(rid, rtype, self.region, tags, scenario, decision))

    def instance(
        self, tags: dict[str, str], disks: list[int], launched_days: float, image_id: str = _FAKE_AMI
    ) -> Any:
        """A gp3-only instance (root volume first); the caller puts it and its volumes in the truth."""
        self._n += 1
        return self.writer.run_instance(
            image_id=image_id,
            instance_type="t3.medium",
            subnet_id=self.subnets[self._n % len(self.subnets)],
            disks=[(_ROOT if d == 0 else _DATA, size, "gp3", d == 0) for d, size in enumerate(disks)],
            tags=tags,
            launched=self.ctx.ago(launched_days),
        )

    def running(self, tags: dict[str, str], disks: list[int], image_id: str = _FAKE_AMI) -> Any:
        """A busy running instance (never idle) whose instance and volumes are no waste."""
        instance = self.instance(tags, disks, round(self.rng.uniform(40, 600), 3), image_id)
        self.add(instance.id, INSTANCE, tags)
        for vid in volume_ids(instance):
            self.add(vid, VOLUME, tags)
        self.busy.append(instance.id)
        return instance

    @property
    def host(self) -> Any:
        if self._host is None:
            self._host = self.running(self.host_tags, [20])
        return self._host

    def next_nic_index(self) -> int:
        self._host_nics += 1
        return self._host_nics

    def put_busy_metrics(self) -> None:
        data = []
        for iid in self.busy:
            dims = {"InstanceId": iid}
            cpu = [round(self.rng.uniform(45, 80), 2) for _ in range(HISTORY_DAYS)]
            net = [self.rng.uniform(1, 20) * 1024**3 for _ in range(HISTORY_DAYS)]
            data += self.ctx.daily_points("CPUUtilization", dims, cpu, "Percent")
            data += self.ctx.daily_points("NetworkIn", dims, net, "Bytes")
            data += self.ctx.daily_points("NetworkOut", dims, net, "Bytes")
        self.ctx.put_metrics(self.region, "AWS/EC2", data)


def volume_ids(instance: Any) -> list[str]:
    return [
        instance.block_device_mapping[d].volume_id
        for d in (_ROOT, _DATA)
        if d in instance.block_device_mapping
    ]


def _snapshot(r: _Region, volume_id: str, description: str, tags: dict[str, str], age: float) -> Any:
    return r.writer.create_snapshot(
        volume_id=volume_id, description=description, tags=tags, started=r.ctx.ago(age)
    )


def seed(ctx: SeedContext) -> list:
    items, hosts = _plan(ctx)
    decisions = ctx.rng(f"{NAME}:decisions")
    truth: list = []
    for region in ctx.regions:
        mine = [i for i in items if i.region == region]
        if not mine:
            continue
        r = _Region(ctx, region, hosts[region], truth)
        stopped: list[tuple[Any, datetime]] = []
        for n, item in enumerate(mine):
            _SEEDERS[item.key.split(".", 1)[0]](r, item, n, decisions, stopped)
        if stopped:
            r.writer.stop_instances([i for i, _ in stopped], [t for _, t in stopped])
        r.put_busy_metrics()
    return truth


def _decide(ctx: SeedContext, rng: random.Random, tags, scenario: str, age, cost: float) -> str:
    return ctx.decide(rng, tags=tags, scenario=scenario, age_days=age, monthly_cost=cost)


def _seed_snap(r: _Region, item: _Item, n: int, decisions, stopped) -> None:
    """A snapshot of the host's root volume that failed, or is still being taken."""
    root = volume_ids(r.host)[0]
    snap = _snapshot(r, root, f"nightly backup of {r.host_tags['Name']}", item.tags, item.age)
    snap.status = "pending" if item.key == "snap.pending" else "error"
    if item.key == "snap.error":
        decision = _decide(r.ctx, decisions, item.tags, SNAPSHOT_ERROR, item.age, 20 * _SNAPSHOT_GB_MONTH)
        r.add(snap.id, SNAPSHOT, item.tags, SNAPSHOT_ERROR, decision)
    else:
        r.add(snap.id, SNAPSHOT, item.tags)


def _seed_volume(r: _Region, item: _Item, n: int, decisions, stopped) -> None:
    """A busy instance whose gp3 data volume has daily snapshots: 33 (the 3 oldest fire) or 30."""
    instance = r.running(item.tags, [16, item.size])
    data = volume_ids(instance)[1]
    count = MAX_PER_VOLUME + (EXCESS if item.key == "volume.excess" else 0)
    for rank in range(1, count + 1):  # newest first
        age = round(rank - 0.7, 3)
        snap = _snapshot(r, data, f"daily backup of {item.tags['Name']}", item.tags, age)
        if rank > MAX_PER_VOLUME:
            cost = item.size * _SNAPSHOT_GB_MONTH
            decision = _decide(r.ctx, decisions, item.tags, SNAPSHOT_EXCESS, age, cost)
            r.add(snap.id, SNAPSHOT, item.tags, SNAPSHOT_EXCESS, decision)
        else:
            r.add(snap.id, SNAPSHOT, item.tags)


def _seed_eip(r: _Region, item: _Item, n: int, decisions, stopped) -> None:
    if item.key in ("eip.detached_eni", "eip.attached_eni"):
        _seed_eni(r, item, decisions)
        return
    # an instance with an EIP, stopped item.age days ago
    disks = [item.size] + ([100] if n % 2 else [])
    instance = r.instance(item.tags, disks, item.age + r.rng.uniform(10, 300))
    address = r.writer.allocate_address(item.extra_tags)
    r.writer.associate_address(address.allocation_id, instance)
    stopped.append((instance, r.ctx.ago(item.age)))
    long = item.age >= STOPPED_DAYS
    if long:
        cost = sum(disks) * _GP3_GB_MONTH
        r.add(
            instance.id,
            INSTANCE,
            item.tags,
            EC2_STOPPED,
            _decide(r.ctx, decisions, item.tags, EC2_STOPPED, item.age, cost),
        )
        for vid, size in zip(volume_ids(instance), disks, strict=True):
            decision = _decide(r.ctx, decisions, item.tags, EBS_ON_STOPPED, item.age, size * _GP3_GB_MONTH)
            r.add(vid, VOLUME, item.tags, EBS_ON_STOPPED, decision)
    else:
        r.add(instance.id, INSTANCE, item.tags)
        for vid in volume_ids(instance):
            r.add(vid, VOLUME, item.tags)
    if item.key == "eip.stopped_recent":
        r.add(address.allocation_id, ELASTIC_IP, item.extra_tags)
    else:
        decision = _decide(r.ctx, decisions, item.extra_tags, EIP_STOPPED, None, _EIP_MONTH)
        r.add(address.allocation_id, ELASTIC_IP, item.extra_tags, EIP_STOPPED, decision)


def _seed_eni(r: _Region, item: _Item, decisions: random.Random) -> None:
    """An EIP on a network interface, attached to nothing (waste) or to the running host."""
    subnet = r.ec2.get_subnet(r.subnets[0])
    eni = r.ec2.create_network_interface(subnet, None, description=f"{item.tags['Name']} standby")
    if item.key == "eip.attached_eni":
        r.ec2.attach_network_interface(eni.id, r.host.id, r.next_nic_index())
    address = r.writer.allocate_address(item.extra_tags)
    r.ec2.associate_address(eni=eni, allocation_id=address.allocation_id)
    if item.key == "eip.detached_eni":
        decision = _decide(r.ctx, decisions, item.extra_tags, EIP_DETACHED_ENI, None, _EIP_MONTH)
        r.add(address.allocation_id, ELASTIC_IP, item.extra_tags, EIP_DETACHED_ENI, decision)
    else:
        r.add(address.allocation_id, ELASTIC_IP, item.extra_tags)


def _seed_registered(r: _Region, item: _Item, name: str, tag_list: list[dict[str, str]]) -> None:
    """An AMI made with RegisterImage, younger than `ami-unused`'s 90 days, whose snapshot is
    older than `snapshot-orphaned`'s 90 days and whose volume is gone. moto's RegisterImage makes
    its own snapshot ("Auto-created snapshot for AMI ...", not CreateImage's description) of a
    volume it deletes at once: only the image's block device mapping ties the two."""
    image_id = (
        r.ctx.client("ec2", r.region)
        .register_image(
            Name=name,
            RootDeviceName=_ROOT,
            TagSpecifications=[{"ResourceType": "image", "Tags": tag_list}],
        )
        .get("ImageId")
    )
    ami = r.ec2.amis[image_id]
    ami.creation_date = naive(r.ctx.ago(item.age))
    snap = ami.ebs_snapshot
    snap.start_time = naive(r.ctx.ago(round(item.age + r.rng.uniform(75, 313), 3)))
    snap.add_tags(dict(item.tags))
    r.add(image_id, IMAGE, item.tags)
    r.add(snap.id, SNAPSHOT, item.tags)


def _seed_ami(r: _Region, item: _Item, n: int, decisions, stopped) -> None:
    """An AMI made from the host (CreateImage), then used, left unused, or deregistered; or one
    made with RegisterImage (`_seed_registered`)."""
    variant = item.key.split(".", 1)[1]
    tag_list = [{"Key": k, "Value": v} for k, v in item.tags.items()]
    name = f"{item.tags['Name']}-{r.region}-{n:04d}"
    if variant == "registered":
        _seed_registered(r, item, name, tag_list)
        return
    ami = r.ec2.create_image(
        r.host.id, name, f"golden image {n}", tag_specifications=[{"ResourceType": "image", "Tags": tag_list}]
    )
    created = naive(r.ctx.ago(item.age))
    ami.creation_date = created
    snap = ami.ebs_snapshot
    snap.start_time = created
    snap.add_tags(dict(item.tags))
    cost = AMI_SNAPSHOT_GB * _SNAPSHOT_GB_MONTH
    if variant.startswith("dereg"):
        r.ec2.deregister_image(ami.id)
        if variant == "dereg_old":
            decision = _decide(r.ctx, decisions, item.tags, SNAPSHOT_OF_DEREGISTERED, item.age, cost)
            r.add(snap.id, SNAPSHOT, item.tags, SNAPSHOT_OF_DEREGISTERED, decision)
        else:
            r.add(snap.id, SNAPSHOT, item.tags)
        return
    r.add(snap.id, SNAPSHOT, item.tags)  # a live image's snapshot: the image's business
    if variant == "old":
        decision = _decide(r.ctx, decisions, item.tags, AMI_UNUSED, item.age, cost)
        r.add(ami.id, IMAGE, item.tags, AMI_UNUSED, decision)
        return
    r.add(ami.id, IMAGE, item.tags)
    if variant == "used_instance":
        r.running(item.extra_tags, [16], image_id=ami.id)
    elif variant == "used_template":
        ec2 = r.ctx.client("ec2", r.region)
        data = {"ImageId": ami.id, "InstanceType": "t3.medium"}
        other = {"ImageId": _FAKE_AMI, "InstanceType": "t3.medium"}
        # even: the image is the latest version (the default is an older one); odd: the default
        first, second = (other, data) if n % 2 == 0 else (data, other)
        lt_name = f"sim-{name}"[:120]
        ec2.create_launch_template(LaunchTemplateName=lt_name, LaunchTemplateData=first)
        ec2.create_launch_template_version(LaunchTemplateName=lt_name, LaunchTemplateData=second)
    elif variant == "used_lc":
        r.ctx.client("autoscaling", r.region).create_launch_configuration(
            LaunchConfigurationName=f"sim-{name}"[:250], ImageId=ami.id, InstanceType="t3.medium"
        )


def _delete_image(clients: Any, image_id: str, _now: datetime) -> None:
    """Deregister the image, then delete its snapshots (DeregisterImage leaves them behind)."""
    image = clients.ec2.describe_images(ImageIds=[image_id])["Images"][0]
    clients.ec2.deregister_image(ImageId=image_id)
    for mapping in image.get("BlockDeviceMappings") or []:
        snapshot_id = (mapping.get("Ebs") or {}).get("SnapshotId")
        if snapshot_id:
            clients.ec2.delete_snapshot(SnapshotId=snapshot_id)


_SEEDERS = {"snap": _seed_snap, "volume": _seed_volume, "eip": _seed_eip, "ami": _seed_ami}

SERVICE = ServiceEstate(
    name=NAME,
    seed=seed,
    actions={(IMAGE, "delete"): _delete_image},
    doc=__doc__ or "",
)
