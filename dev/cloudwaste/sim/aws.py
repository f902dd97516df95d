"""A seeded, simulated AWS estate with known waste, served by moto.

Used by the demo (``make demo``), the tests and the benchmarks::

    from cloudwaste.sim.aws import seed_estate, start_moto

    with start_moto() as moto:
        truth = seed_estate(moto.endpoint_url, size=400, seed=42)
        ...  # scan moto.endpoint_url with boto3, compare the findings with truth.waste()

or from the command line::

    python -m cloudwaste.sim.aws serve --port 0 --size 400 --seed 42 --truth truth.json \\
        --ready-file moto.url

How it works
------------
:func:`seed_estate` first draws a *plan* from the seed alone (which resources, in which region,
their tags, ages, scenarios and simulated decisions), then creates every resource with real boto3
calls against ``endpoint_url`` (dummy ``testing`` credentials; tags are set through the create
calls' ``TagSpecifications`` so moto does not need extra tagging calls), and finally *backdates*
what the AWS API cannot set (creation, launch, stop and snapshot times) by editing moto's backend
objects directly.

That last step only works when the moto server runs **in the same process** as the caller, which
is what :func:`start_moto` and the ``serve`` command do. Against an out-of-process moto server
``seed_estate`` raises :class:`RuntimeError` rather than produce an estate whose ages are wrong.

Determinism: the same ``seed``, ``size`` and ``regions`` give the same estate shape, tags,
scenarios and decisions; only the ids (assigned by moto) and the absolute times (relative to
``now``) differ.

Waste scenarios (``TruthResource.scenario``) and deliberate near misses (not waste):

============================  =====================================================  ====================================
scenario                      waste                                                  near miss (scenario ``None``)
============================  =====================================================  ====================================
``ebs-volume-unattached``     volume in state ``available``                          volumes attached to instances
``eip-unassociated``          Elastic IP without association                         EIPs on running instances and NATs
``ec2-instance-stopped``      instance stopped 31-400 days ago                       instance stopped 5-20 days ago
``snapshot-orphaned``         snapshot of a deleted volume, older than 90 days       same, 5-80 days old
``nat-gateway-idle``          NAT gateway > 30 days old, 30 days of zero traffic     NAT gateway created 3 days ago, idle
``load-balancer-no-targets``  ALB whose target groups have no targets, or none       ALBs with registered targets
============================  =====================================================  ====================================

The stop time of an instance is in its ``StateTransitionReason``, formatted as AWS does:
``"User initiated (YYYY-MM-DD HH:MM:SS GMT)"``. NAT gateway traffic is in CloudWatch
(``AWS/NATGateway`` ``BytesOutToDestination`` and ``BytesInFromSource``, dimension
``NatGatewayId``), one datapoint a day for the last 30 days (for the young one, since creation).

The CloudWatch datapoints are stamped relative to ``now`` (the newest 12 hours before it): a
scanner querying a 30-day window within about half a day of seeding sees all 30 of them.

Accounts: resources are created in ``account_id`` (seeding sends ``x-moto-account-id`` for a
non-default one, see :func:`boto3_client`). A client reaches that account either by assuming a role
in it through moto's STS (``arn:aws:iam::<account>:role/<any>``: moto maps the temporary
credentials to that account, which is what the scanner does), or by sending the same header;
plain ``testing`` credentials land in moto's default account ``123456789012``.

moto quirks worth knowing when scanning this estate: ``DescribeTargetGroups`` with a
``LoadBalancerArn`` that has no target group raises ``TargetGroupNotFound`` (list all target groups
and use their ``LoadBalancerArns`` instead); moto ignores ``Iops`` in ``RunInstances`` block device
mappings, so instance volumes are gp2/gp3/st1 and only unattached volumes and snapshots use io1.
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import random
import re
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from .profile import DecisionModel, draw_tags
from .truth import GroundTruth, TruthResource, atomic_write_text

__all__ = [
    "DEFAULT_ACCOUNT_ID",
    "DEFAULT_REGIONS",
    "RESOURCE_TYPES",
    "SCENARIOS",
    "GroundTruth",
    "MotoHandle",
    "TruthResource",
    "boto3_client",
    "estimate_monthly_cost",
    "main",
    "seed_estate",
    "start_moto",
]

DEFAULT_REGIONS: tuple[str, ...] = ("us-east-1", "eu-west-1", "ap-southeast-2")
DEFAULT_ACCOUNT_ID = "123456789012"

VOLUME = "aws.ec2.volume"
ELASTIC_IP = "aws.ec2.elastic_ip"
INSTANCE = "aws.ec2.instance"
SNAPSHOT = "aws.ec2.snapshot"
NAT_GATEWAY = "aws.ec2.nat_gateway"
LOAD_BALANCER = "aws.elbv2.load_balancer"
RESOURCE_TYPES: tuple[str, ...] = (VOLUME, ELASTIC_IP, INSTANCE, SNAPSHOT, NAT_GATEWAY, LOAD_BALANCER)

EBS_UNATTACHED = "ebs-volume-unattached"
EIP_UNASSOCIATED = "eip-unassociated"
EC2_STOPPED = "ec2-instance-stopped"
SNAPSHOT_ORPHANED = "snapshot-orphaned"
NAT_IDLE = "nat-gateway-idle"
LB_NO_TARGETS = "load-balancer-no-targets"
SCENARIOS: tuple[str, ...] = (
    EBS_UNATTACHED,
    EIP_UNASSOCIATED,
    EC2_STOPPED,
    SNAPSHOT_ORPHANED,
    NAT_IDLE,
    LB_NO_TARGETS,
)

#: Thresholds the scenarios are built around (the scanner's rules use the same ones).
STOPPED_DAYS = 30
SNAPSHOT_ORPHAN_DAYS = 90
NAT_IDLE_DAYS = 30

NAT_METRICS = ("BytesOutToDestination", "BytesInFromSource")
NAT_NAMESPACE = "AWS/NATGateway"

_FAKE_AMI = "ami-0c0ffee0000051a7e"
_ROOT_DEVICE = "/dev/sda1"
_DATA_DEVICE = "/dev/sdf"

# Share of `size` per planned kind; derived resources (instance volumes, NAT EIPs, EIPs on
# instances) and a top-up of running instances bring the total to at least `size`, with about a
# third of it waste.
_SHARES: dict[str, float] = {
    "instance.running": 0.12,
    "instance.stopped_long": 0.045,
    "instance.stopped_recent": 0.02,
    "volume.unattached": 0.13,
    "elastic_ip.unassociated": 0.04,
    "snapshot.existing": 0.06,
    "snapshot.orphan_old": 0.075,
    "snapshot.orphan_young": 0.025,
    "nat_gateway.active": 0.015,
    "nat_gateway.idle": 0.012,
    "nat_gateway.young": 0.004,
    "load_balancer.targets": 0.025,
    "load_balancer.empty_tg": 0.017,
    "load_balancer.no_tg": 0.008,
}
_SCENARIO_OF: dict[str, str] = {
    "instance.stopped_long": EC2_STOPPED,
    "volume.unattached": EBS_UNATTACHED,
    "elastic_ip.unassociated": EIP_UNASSOCIATED,
    "snapshot.orphan_old": SNAPSHOT_ORPHANED,
    "nat_gateway.idle": NAT_IDLE,
    "load_balancer.empty_tg": LB_NO_TARGETS,
    "load_balancer.no_tg": LB_NO_TARGETS,
}

# Rough us-east-1 list prices, USD per month: only used to feed the simulated decisions.
_EBS_GB_MONTH = {"gp2": 0.10, "gp3": 0.08, "io1": 0.125, "st1": 0.045}
_IO1_IOPS_MONTH = 0.065
_SNAPSHOT_GB_MONTH = 0.05
_EIP_MONTH = 0.005 * 730
_NAT_MONTH = 0.045 * 730
_ALB_MONTH = 0.0225 * 730

_INSTANCE_TYPES = ("t3.micro", "t3.medium", "m5.large", "m5.xlarge", "c5.xlarge", "r5.large", "m5.2xlarge")


# --------------------------------------------------------------------------------------------
# moto server
# --------------------------------------------------------------------------------------------


def _prepare_moto_environment() -> None:
    """Environment moto reads when its backends load; must run before the first request."""
    # Otherwise every region's snapshot listing holds ~1,300 public AMI snapshots.
    os.environ["MOTO_EC2_LOAD_DEFAULT_AMIS"] = "false"


@dataclass(frozen=True)
class MotoHandle:
    """A moto server running in a thread of this process.

    Attributes:
        endpoint_url: ``http://127.0.0.1:PORT``, for boto3's ``endpoint_url``.
        host: The address the server listens on.
        port: The port it listens on.
    """

    endpoint_url: str
    host: str
    port: int
    _server: Any = field(repr=False, compare=False)
    _stopped: threading.Event = field(default_factory=threading.Event, repr=False, compare=False)

    def stop(self) -> None:
        """Stop the server and wait for its thread; calling it again does nothing."""
        if self._stopped.is_set():
            return
        self._stopped.set()
        self._server.stop()

    def __enter__(self) -> MotoHandle:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def start_moto(port: int = 0) -> MotoHandle:
    """Start moto's server (all services) on ``127.0.0.1:port`` in a daemon thread of this process.

    With ``port=0`` the operating system picks a free port. Sets ``MOTO_EC2_LOAD_DEFAULT_AMIS=false``
    first. Note that moto keeps its state per process, not per server: two servers started in one
    process share the same resources (use distinct account ids, or one server, to keep them apart).
    """
    _prepare_moto_environment()
    # One access-log line per request otherwise; warnings and errors still show.
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    if port:
        # ThreadedMotoServer would wait forever if its thread failed to bind: fail here instead.
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            probe.bind(("127.0.0.1", port))
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
    server.start()
    host, bound_port = server.get_host_and_port()
    return MotoHandle(endpoint_url=f"http://{host}:{bound_port}", host=host, port=bound_port, _server=server)


_SESSION_LOCK = threading.Lock()
_SESSION: Any = None


def _shared_session() -> Any:
    global _SESSION
    if _SESSION is None:
        import boto3

        _SESSION = boto3.session.Session()
    return _SESSION


def boto3_client(
    service: str,
    endpoint_url: str,
    region: str,
    *,
    account_id: str = DEFAULT_ACCOUNT_ID,
    max_attempts: int = 2,
    session: Any = None,
) -> Any:
    """A boto3 client for moto at ``endpoint_url`` with dummy ``testing`` credentials.

    For an ``account_id`` other than moto's default, the client sends ``x-moto-account-id``.
    By default clients come from one module-wide ``boto3.session.Session``, which keeps the
    service models loaded (the first EC2 client of a fresh session costs ~0.3 s).
    """
    from botocore.config import Config

    with _SESSION_LOCK:  # boto3 sessions are not thread-safe
        client = (session or _shared_session()).client(
            service,
            endpoint_url=endpoint_url,
            region_name=region,
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
            config=Config(retries={"max_attempts": max_attempts, "mode": "standard"}),
        )
    if account_id != DEFAULT_ACCOUNT_ID:

        def _add_account(request: Any, **_: Any) -> None:
            request.headers["x-moto-account-id"] = account_id

        client.meta.events.register("before-sign", _add_account)
    return client


# --------------------------------------------------------------------------------------------
# Plan: everything drawn from the seed, before any call to moto
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class _Disk:
    volume_type: str
    size: int
    iops: int | None = None

    @property
    def monthly_cost(self) -> float:
        cost = self.size * _EBS_GB_MONTH[self.volume_type]
        if self.volume_type == "io1" and self.iops:
            cost += self.iops * _IO1_IOPS_MONTH
        return cost


@dataclass
class _Item:
    """One planned resource (plus, for instances, its volumes and EIP). Mutable during planning."""

    key: str  # "<kind>.<variant>", a key of _SHARES
    region: str
    tags: dict[str, str] = field(default_factory=dict)
    age_days: float = 0.0  # created / launched; for stopped instances: since the stop
    launch_days: float = 0.0  # instances only: since launch
    disks: tuple[_Disk, ...] = ()  # instance volumes; the volume; a snapshot's source volume
    instance_type: str = ""
    eip_tags: dict[str, str] | None = None  # instance with an EIP, NAT gateway's EIP
    source: tuple[int, int] | None = None  # existing snapshot: (item index, disk index)
    targets: tuple[int, ...] = ()  # load balancer: item indexes of the instances registered
    traffic: tuple[tuple[float, float], ...] = ()  # NAT: (bytes out, bytes in) per day, newest first
    scheme: str = "internet-facing"
    decision: str | None = None

    @property
    def kind(self) -> str:
        return self.key.split(".", 1)[0]

    @property
    def variant(self) -> str:
        return self.key.split(".", 1)[1]

    @property
    def scenario(self) -> str | None:
        return _SCENARIO_OF.get(self.key)

    @property
    def resource_count(self) -> int:
        if self.kind == "instance":
            return 1 + len(self.disks) + (1 if self.eip_tags is not None else 0)
        if self.kind == "nat_gateway":
            return 2
        return 1


def estimate_monthly_cost(resource_type: str, **details: Any) -> float:
    """The rough monthly USD cost the generator assumes when it simulates decisions.

    ``details``: for volumes ``volume_type``, ``size`` and optional ``iops``; for snapshots
    ``size``; for stopped instances ``volumes`` (an iterable of such volume dicts).
    """
    if resource_type == VOLUME:
        return _Disk(details["volume_type"], int(details["size"]), details.get("iops")).monthly_cost
    if resource_type == SNAPSHOT:
        return int(details["size"]) * _SNAPSHOT_GB_MONTH
    if resource_type == INSTANCE:
        return sum(estimate_monthly_cost(VOLUME, **v) for v in details.get("volumes", ()))
    if resource_type == ELASTIC_IP:
        return _EIP_MONTH
    if resource_type == NAT_GATEWAY:
        return _NAT_MONTH
    if resource_type == LOAD_BALANCER:
        return _ALB_MONTH
    raise ValueError(f"unknown resource type {resource_type!r}")


def _log_uniform(rng: random.Random, lo: float, hi: float) -> float:
    return math.exp(rng.uniform(math.log(lo), math.log(hi)))


def _data_disk(rng: random.Random, *, allow_io1: bool = True) -> _Disk:
    volume_type = rng.choices(("gp3", "gp2", "io1", "st1"), weights=(0.40, 0.30, 0.15, 0.15), k=1)[0]
    if volume_type == "io1" and not allow_io1:
        volume_type = "gp3"
    if volume_type == "st1":
        return _Disk("st1", int(_log_uniform(rng, 125, 2000)))
    if volume_type == "io1":
        size = int(_log_uniform(rng, 20, 1000))
        return _Disk("io1", size, iops=min(50 * size, rng.choice((100, 500, 1000, 3000, 5000))))
    return _Disk(volume_type, int(_log_uniform(rng, 8, 2000)))


def _root_disk(rng: random.Random) -> _Disk:
    return _Disk(rng.choice(("gp2", "gp3", "gp3")), rng.choice((8, 8, 16, 20, 30, 50, 100)))


def _age(rng: random.Random, lo: float, hi: float) -> float:
    """A realistic age in days, skewed towards young, within [lo, hi]."""
    return round(_log_uniform(rng, lo, hi), 3)


def _item_cost(item: _Item) -> float:
    kind = item.kind
    if kind in ("instance", "volume"):
        return sum(d.monthly_cost for d in item.disks)
    if kind == "snapshot":
        return item.disks[0].size * _SNAPSHOT_GB_MONTH
    if kind == "elastic_ip":
        return _EIP_MONTH
    if kind == "nat_gateway":
        return _NAT_MONTH
    return _ALB_MONTH


def _plan(size: int, seed: int, regions: Sequence[str]) -> list[_Item]:
    shape = random.Random(f"cloudwaste.sim.aws:{seed}:shape")
    tag_rng = random.Random(f"cloudwaste.sim.aws:{seed}:tags")
    decision_rng = random.Random(f"cloudwaste.sim.aws:{seed}:decisions")
    weights = [1.0 / (i + 1) for i in range(len(regions))]

    def pick_region() -> str:
        return shape.choices(regions, weights=weights, k=1)[0]

    items: list[_Item] = []

    def new_instance(region: str, variant: str) -> _Item:
        disks = [_root_disk(shape)]
        if shape.random() < 0.3:
            # moto ignores Iops in RunInstances' block device mappings, so no io1 there.
            disks.append(_data_disk(shape, allow_io1=False))
        item = _Item(key=f"instance.{variant}", region=region, disks=tuple(disks))
        item.instance_type = shape.choice(_INSTANCE_TYPES)
        if variant == "running":
            item.launch_days = item.age_days = _age(shape, 1, 900)
            if shape.random() < 0.25:
                item.eip_tags = {}
        else:
            stop = shape.uniform(32, 400) if variant == "stopped_long" else shape.uniform(5, 20)
            item.age_days = round(stop, 3)
            item.launch_days = round(stop + _age(shape, 10, 700), 3)
        return item

    counts = {key: max(1, round(size * share)) for key, share in _SHARES.items()}
    # Two running instances per region first: load balancers and snapshots need some everywhere.
    for i in range(2 * len(regions)):
        items.append(new_instance(regions[i % len(regions)], "running"))
    counts["instance.running"] = max(0, counts["instance.running"] - 2 * len(regions))

    for key, count in counts.items():
        kind, variant = key.split(".", 1)
        for _ in range(count):
            region = pick_region()
            if kind == "instance":
                items.append(new_instance(region, variant))
                continue
            item = _Item(key=key, region=region)
            if kind == "volume":
                item.disks = (_data_disk(shape),)
                item.age_days = _age(shape, 2, 900)
            elif kind == "snapshot":
                item.disks = (_data_disk(shape) if shape.random() < 0.6 else _root_disk(shape),)
                if variant == "orphan_old":
                    item.age_days = _age(shape, 95, 900)
                elif variant == "orphan_young":
                    item.age_days = round(shape.uniform(5, 80), 3)
            elif kind == "nat_gateway":
                item.eip_tags = {}
                item.age_days = 3.0 if variant == "young" else _age(shape, 35, 700)
                days = 3 if variant == "young" else NAT_IDLE_DAYS
                if variant == "active":
                    scale = _log_uniform(shape, 5e7, 5e10)
                    item.traffic = tuple(
                        (round(scale * shape.uniform(0.2, 1.5)), round(scale * shape.uniform(0.05, 0.6)))
                        for _ in range(days)
                    )
                else:
                    item.traffic = tuple((0.0, 0.0) for _ in range(days))
            elif kind == "load_balancer":
                item.age_days = _age(shape, 31, 600)
                item.scheme = "internal" if shape.random() < 0.3 else "internet-facing"
            items.append(item)

    # Top up with running instances until the estate has at least `size` resources.
    while sum(i.resource_count for i in items) < size:
        items.append(new_instance(pick_region(), "running"))

    # Wiring that needs the final item list: snapshot sources and load balancer targets.
    by_region: dict[str, list[int]] = {r: [] for r in regions}
    volume_sources: dict[str, list[tuple[int, int]]] = {r: [] for r in regions}
    for idx, item in enumerate(items):
        if item.key == "instance.running":
            by_region[item.region].append(idx)
        if item.kind == "instance" or item.key == "volume.unattached":
            volume_sources[item.region].extend((idx, d) for d in range(len(item.disks)))
    for item in items:
        if item.key == "snapshot.existing":
            src_idx, disk_idx = shape.choice(volume_sources[item.region])
            source = items[src_idx]
            item.source = (src_idx, disk_idx)
            item.disks = (source.disks[disk_idx],)
            src_age = source.launch_days if source.kind == "instance" else source.age_days
            item.age_days = round(shape.uniform(0.2, 0.9) * min(src_age, 400.0), 3)
        elif item.key == "load_balancer.targets":
            pool = by_region[item.region]
            item.targets = tuple(sorted(shape.sample(pool, min(len(pool), shape.randint(1, 3)))))

    # Tags, then decisions, each from its own stream so the shape does not shift them.
    model = DecisionModel()
    for item in items:
        item.tags = draw_tags(tag_rng, item.kind)
        if item.eip_tags is not None:
            item.eip_tags = draw_tags(tag_rng, "elastic_ip")
            # An EIP usually carries its owner's environment and team.
            for key in ("environment", "team", "owner", "cost-center"):
                item.eip_tags[key] = item.tags[key]
    for item in items:
        scenario = item.scenario
        if scenario is not None:
            item.decision = model.draw(
                decision_rng,
                tags=item.tags,
                scenario=scenario,
                age_days=None if item.kind == "elastic_ip" else item.age_days,
                monthly_cost=_item_cost(item),
            )
    return items


# --------------------------------------------------------------------------------------------
# Execution: boto3 calls, then backdating in moto's backends
# --------------------------------------------------------------------------------------------


def _tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def _tag_spec(resource_type: str, tags: dict[str, str]) -> list[dict[str, Any]]:
    return [{"ResourceType": resource_type, "Tags": _tag_list(tags)}]


def _naive(dt: datetime) -> datetime:
    """moto keeps naive UTC datetimes."""
    return dt.astimezone(UTC).replace(tzinfo=None, microsecond=0)


@dataclass
class _Created:
    """What seeding one region produced, in creation order."""

    truth: list[TruthResource] = field(default_factory=list)
    # Backdating work: (kind, id, datetime[, extra]).
    instances: list[tuple[str, datetime, datetime | None]] = field(default_factory=list)
    volumes: list[tuple[str, datetime]] = field(default_factory=list)
    snapshots: list[tuple[str, datetime]] = field(default_factory=list)
    nat_gateways: list[tuple[str, datetime]] = field(default_factory=list)
    load_balancers: list[tuple[str, datetime]] = field(default_factory=list)


def _seed_region(
    endpoint_url: str,
    region: str,
    region_index: int,
    items: list[tuple[int, _Item]],
    all_items: list[_Item],
    now: datetime,
    account_id: str,
    session: Any,
) -> _Created:
    ec2 = boto3_client("ec2", endpoint_url, region, account_id=account_id, session=session)
    elbv2 = boto3_client("elbv2", endpoint_url, region, account_id=account_id, session=session)
    cloudwatch = boto3_client("cloudwatch", endpoint_url, region, account_id=account_id, session=session)
    out = _Created()

    def ago(days: float) -> datetime:
        return now - timedelta(days=days)

    def add(rid: str, rtype: str, tags: dict[str, str], item: _Item | None = None) -> None:
        scenario = item.scenario if item is not None else None
        decision = item.decision if item is not None else None
        out.truth.append(TruthResource(rid, rtype, region, scenario, decision, dict(tags)))

    # Network: one VPC and two subnets in two zones (ALBs need two).
    zones = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]][:2]
    net_tags = {"Name": f"sim-{region}", "environment": "prod", "team": "infra"}
    vpc_id = ec2.create_vpc(
        CidrBlock=f"10.{region_index % 250}.0.0/16", TagSpecifications=_tag_spec("vpc", net_tags)
    )["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(
            VpcId=vpc_id,
            CidrBlock=f"10.{region_index % 250}.{16 * i}.0/20",
            AvailabilityZone=zone,
            TagSpecifications=_tag_spec("subnet", {**net_tags, "Name": f"sim-{zone}"}),
        )["Subnet"]["SubnetId"]
        for i, zone in enumerate(zones)
    ]

    # Instances (their volumes are tagged like the instance, through the same call).
    instance_ids: dict[int, str] = {}
    volume_ids: dict[tuple[int, int], str] = {}
    for n, (idx, item) in enumerate(p for p in items if p[1].kind == "instance"):
        mappings = []
        for d, disk in enumerate(item.disks):
            ebs: dict[str, Any] = {
                "VolumeSize": disk.size,
                "VolumeType": disk.volume_type,
                "DeleteOnTermination": d == 0,
            }
            if disk.iops:
                ebs["Iops"] = disk.iops
            mappings.append({"DeviceName": _ROOT_DEVICE if d == 0 else _DATA_DEVICE, "Ebs": ebs})
        resp = ec2.run_instances(
            ImageId=_FAKE_AMI,
            InstanceType=item.instance_type,
            MinCount=1,
            MaxCount=1,
            SubnetId=subnets[n % len(subnets)],
            BlockDeviceMappings=mappings,
            TagSpecifications=[
                {"ResourceType": "instance", "Tags": _tag_list(item.tags)},
                {"ResourceType": "volume", "Tags": _tag_list(item.tags)},
            ],
        )
        instance_ids[idx] = resp["Instances"][0]["InstanceId"]
    if instance_ids:
        reservations = ec2.describe_instances(InstanceIds=list(instance_ids.values()))["Reservations"]
        devices = {
            inst["InstanceId"]: {
                m["DeviceName"]: m["Ebs"]["VolumeId"] for m in inst.get("BlockDeviceMappings", [])
            }
            for res in reservations
            for inst in res["Instances"]
        }
        for idx, iid in instance_ids.items():
            for d in range(len(all_items[idx].disks)):
                volume_ids[(idx, d)] = devices[iid][_ROOT_DEVICE if d == 0 else _DATA_DEVICE]
    stopped = [instance_ids[idx] for idx, item in items if item.key.startswith("instance.stopped")]
    if stopped:
        ec2.stop_instances(InstanceIds=stopped)
    for idx, item in items:
        if item.kind != "instance":
            continue
        iid = instance_ids[idx]
        launched = ago(item.launch_days)
        stopped_at = None if item.variant == "running" else ago(item.age_days)
        out.instances.append((iid, launched, stopped_at))
        add(iid, INSTANCE, item.tags, item)
        for d in range(len(item.disks)):
            vid = volume_ids[(idx, d)]
            out.volumes.append((vid, launched))
            add(vid, VOLUME, item.tags)
        if item.eip_tags is not None:
            alloc = ec2.allocate_address(
                Domain="vpc", TagSpecifications=_tag_spec("elastic-ip", item.eip_tags)
            )
            ec2.associate_address(AllocationId=alloc["AllocationId"], InstanceId=iid)
            add(alloc["AllocationId"], ELASTIC_IP, item.eip_tags)

    # Unattached volumes and unassociated Elastic IPs.
    for idx, item in items:
        if item.kind == "volume":
            disk = item.disks[0]
            vid = ec2.create_volume(
                AvailabilityZone=zones[idx % len(zones)],
                Size=disk.size,
                VolumeType=disk.volume_type,
                TagSpecifications=_tag_spec("volume", item.tags),
                **({"Iops": disk.iops} if disk.iops else {}),
            )["VolumeId"]
            volume_ids[(idx, 0)] = vid
            out.volumes.append((vid, ago(item.age_days)))
            add(vid, VOLUME, item.tags, item)
        elif item.kind == "elastic_ip":
            alloc_id = ec2.allocate_address(
                Domain="vpc", TagSpecifications=_tag_spec("elastic-ip", item.tags)
            )["AllocationId"]
            add(alloc_id, ELASTIC_IP, item.tags, item)

    # Snapshots: of live volumes, and of volumes deleted since (orphans).
    for idx, item in items:
        if item.kind != "snapshot":
            continue
        name = item.tags["Name"]
        if item.source is not None:
            source_volume = volume_ids[item.source]
            description = f"nightly backup of {name}"
        else:
            disk = item.disks[0]
            source_volume = ec2.create_volume(
                AvailabilityZone=zones[idx % len(zones)],
                Size=disk.size,
                VolumeType=disk.volume_type,
                **({"Iops": disk.iops} if disk.iops else {}),
            )["VolumeId"]
            description = f"{name} before decommissioning"
        sid = ec2.create_snapshot(
            VolumeId=source_volume,
            Description=description,
            TagSpecifications=_tag_spec("snapshot", item.tags),
        )["SnapshotId"]
        if item.source is None:
            ec2.delete_volume(VolumeId=source_volume)
        out.snapshots.append((sid, ago(item.age_days)))
        add(sid, SNAPSHOT, item.tags, item)

    # NAT gateways, each with its Elastic IP, and their daily traffic in CloudWatch.
    metric_data: list[dict[str, Any]] = []
    for idx, item in items:
        if item.kind != "nat_gateway":
            continue
        assert item.eip_tags is not None
        alloc_id = ec2.allocate_address(
            Domain="vpc", TagSpecifications=_tag_spec("elastic-ip", item.eip_tags)
        )["AllocationId"]
        nat_id = ec2.create_nat_gateway(
            SubnetId=subnets[idx % len(subnets)],
            AllocationId=alloc_id,
            TagSpecifications=_tag_spec("natgateway", item.tags),
        )["NatGateway"]["NatGatewayId"]
        out.nat_gateways.append((nat_id, ago(item.age_days)))
        add(nat_id, NAT_GATEWAY, item.tags, item)
        add(alloc_id, ELASTIC_IP, item.eip_tags)
        for day, (bytes_out, bytes_in) in enumerate(item.traffic):
            stamp = now - timedelta(days=day, hours=12)
            for metric, value in zip(NAT_METRICS, (bytes_out, bytes_in), strict=True):
                metric_data.append(
                    {
                        "MetricName": metric,
                        "Dimensions": [{"Name": "NatGatewayId", "Value": nat_id}],
                        "Timestamp": stamp,
                        "Value": float(value),
                        "Unit": "Bytes",
                    }
                )
    for start in range(0, len(metric_data), 500):
        cloudwatch.put_metric_data(Namespace=NAT_NAMESPACE, MetricData=metric_data[start : start + 500])

    # Application load balancers: with targets, with empty target groups, with none.
    for n, (_idx, item) in enumerate(p for p in items if p[1].kind == "load_balancer"):
        # ELBv2 names: at most 32 alphanumerics or hyphens, unique in the region.
        role = re.sub(r"[^a-z0-9]", "", re.split(r"[-\s.@]", item.tags["Name"].lower())[0])[:8] or "alb"
        name = f"{item.tags['team']}-{role}-{n:03d}"
        arn = elbv2.create_load_balancer(
            Name=name,
            Subnets=subnets,
            Scheme=item.scheme,
            Type="application",
            Tags=_tag_list(item.tags),
        )["LoadBalancers"][0]["LoadBalancerArn"]
        if item.variant != "no_tg":
            tg_arn = elbv2.create_target_group(
                Name=f"{name[:28]}-tg", Protocol="HTTP", Port=80, VpcId=vpc_id, TargetType="instance"
            )["TargetGroups"][0]["TargetGroupArn"]
            elbv2.create_listener(
                LoadBalancerArn=arn,
                Protocol="HTTP",
                Port=80,
                DefaultActions=[{"Type": "forward", "TargetGroupArn": tg_arn}],
            )
            if item.targets:
                elbv2.register_targets(
                    TargetGroupArn=tg_arn, Targets=[{"Id": instance_ids[t], "Port": 80} for t in item.targets]
                )
        out.load_balancers.append((arn, ago(item.age_days)))
        add(arn, LOAD_BALANCER, item.tags, item)
    return out


def _backdate(created: _Created, region: str, account_id: str) -> None:
    """Set the times the AWS API cannot: works only with moto running in this process."""
    from moto.backends import get_backend
    from moto.core.utils import iso_8601_datetime_with_milliseconds

    ec2 = get_backend("ec2")[account_id][region]
    elbv2 = get_backend("elbv2")[account_id][region]
    probe = created.volumes[0][0] if created.volumes else None
    if probe is not None and probe not in ec2.volumes:
        raise RuntimeError(
            "seed_estate must run in the same process as the moto server it seeds (use start_moto): "
            f"volume {probe} is not in this process's moto backend for {account_id}/{region}"
        )
    for iid, launched, stopped_at in created.instances:
        instance = ec2.get_instance(iid)
        instance.launch_time = _naive(launched)
        if stopped_at is not None:
            # AWS's format; moto's own says "UTC".
            instance._reason = f"User initiated ({_naive(stopped_at):%Y-%m-%d %H:%M:%S} GMT)"
    for vid, created_at in created.volumes:
        volume = ec2.volumes[vid]
        volume.create_time = _naive(created_at)
        if volume.attachment is not None:
            volume.attachment.attach_time = _naive(created_at)
    for sid, started in created.snapshots:
        ec2.snapshots[sid].start_time = _naive(started)
    for nat_id, created_at in created.nat_gateways:
        ec2.nat_gateways[nat_id]._created_at = _naive(created_at)
    for arn, created_at in created.load_balancers:
        elbv2.load_balancers[arn].created_time = iso_8601_datetime_with_milliseconds(_naive(created_at))


def seed_estate(
    endpoint_url: str,
    *,
    size: int = 400,
    seed: int = 42,
    regions: Sequence[str] = DEFAULT_REGIONS,
    account_id: str = DEFAULT_ACCOUNT_ID,
    now: datetime | None = None,
) -> GroundTruth:
    """Create a simulated estate of at least ``size`` resources in moto and return its ground truth.

    Args:
        endpoint_url: The moto server, which must run in this process (see :func:`start_moto`).
        size: Minimum number of resources (volumes, EIPs, instances, snapshots, NAT gateways,
            load balancers); the estate has this many or a few more, about a third of it waste.
        seed: Everything but the moto-assigned ids follows from it.
        regions: Regions to spread the estate over (the first gets the most resources).
        account_id: The account to create the resources in (see the module docstring).
        now: The reference time for all ages; defaults to the current UTC time. Must be close to
            the real time if a scanner is to evaluate ages and CloudWatch windows against it.

    One estate per account: seeding an account twice fails on load balancer names (and would mix
    two estates); use another ``account_id`` (or another process) for a second estate.

    Raises:
        RuntimeError: When moto does not run in this process, so times cannot be backdated.
    """
    if size < 1:
        raise ValueError("size must be positive")
    regions = tuple(regions)
    if not regions or len(set(regions)) != len(regions):
        raise ValueError("regions must be non-empty and distinct")
    env_account = os.environ.get("MOTO_ACCOUNT_ID")
    if env_account and env_account != account_id:
        raise ValueError(f"MOTO_ACCOUNT_ID={env_account} overrides account_id={account_id}")
    _prepare_moto_environment()
    now = (now or datetime.now(UTC)).astimezone(UTC).replace(microsecond=0)

    items = _plan(size, seed, regions)
    resources: list[TruthResource] = []
    for region_index, region in enumerate(regions):
        region_items = [(idx, item) for idx, item in enumerate(items) if item.region == region]
        created = _seed_region(endpoint_url, region, region_index, region_items, items, now, account_id, None)
        _backdate(created, region, account_id)
        resources.extend(created.truth)
    return GroundTruth(
        seed=seed,
        size=size,
        regions=regions,
        account_id=account_id,
        created_at=now.isoformat(),
        resources=tuple(resources),
    )


# --------------------------------------------------------------------------------------------
# Command line
# --------------------------------------------------------------------------------------------


def _serve(args: argparse.Namespace, *, out: Callable[[str], None]) -> int:
    stop = threading.Event()

    def _on_signal(signum: int, _frame: object) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    handle = start_moto(args.port)
    ready_file = Path(args.ready_file) if args.ready_file else None
    try:
        started = time.perf_counter()
        regions = tuple(r.strip() for r in args.regions.split(",") if r.strip())
        truth = seed_estate(handle.endpoint_url, size=args.size, seed=args.seed, regions=regions)
        elapsed = time.perf_counter() - started
        truth.write(args.truth)
        if ready_file is not None:
            atomic_write_text(ready_file, handle.endpoint_url + "\n")
        print(f"seeded {truth.by_scenario()} in {elapsed:.1f} s", file=sys.stderr, flush=True)
        out(
            f"moto ready at {handle.endpoint_url}: {len(truth.resources)} resources, {len(truth.waste())} waste"
        )
        while not stop.wait(0.5):
            pass
    finally:
        handle.stop()
        if ready_file is not None:
            ready_file.unlink(missing_ok=True)
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    return 0


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m cloudwaste.sim.aws serve ...``: serve a seeded estate until SIGTERM/SIGINT."""
    parser = argparse.ArgumentParser(prog="python -m cloudwaste.sim.aws", description=__doc__.splitlines()[0])
    sub = parser.add_subparsers(dest="command", required=True)
    serve = sub.add_parser("serve", help="start moto in this process, seed it, serve until SIGTERM/SIGINT")
    serve.add_argument("--port", type=int, default=0, help="port on 127.0.0.1 (0: any free port)")
    serve.add_argument("--size", type=int, default=400, help="minimum number of resources")
    serve.add_argument("--seed", type=int, default=42)
    serve.add_argument("--truth", required=True, help="where to write the ground truth JSON")
    serve.add_argument("--regions", default=",".join(DEFAULT_REGIONS), help="comma-separated regions")
    serve.add_argument("--ready-file", help="written with the endpoint URL once seeding is done")
    args = parser.parse_args(argv)

    def out(line: str) -> None:
        print(line, flush=True)

    return _serve(args, out=out)


if __name__ == "__main__":
    sys.exit(main())
