"""GCP Compute Engine: persistent disks, VM instances (running busy, idle and oversized; stopped
for days and for months, with their disks and static IPs), static IP addresses, snapshots and
custom images; for every rule of the compute catalogue the waste it must flag and the near misses
it must not.

Bodies use the field names of Compute Engine v1 (camelCase JSON, as the discovery document
defines them). Every disk attached to an instance lists the instance in its `users`, and the
instance lists the disk in its `disks[].source`; a static IP IN_USE by an instance is that
instance's `accessConfigs[].natIP`. Running instances get Cloud Monitoring series (CPU mean and
max, bytes received and sent), keyed by the instance's numeric `id`.
"""

from __future__ import annotations

import random

from ..cloud_estate import EstateContext
from ..gcp_api import SELF_LINK_BASE
from ..truth import TruthResource

DISK = "gcp.compute.disk"
INSTANCE = "gcp.compute.instance"
ADDRESS = "gcp.compute.address"
SNAPSHOT = "gcp.compute.snapshot"
IMAGE = "gcp.compute.image"
_TYPES = (("pd-ssd", 200), ("pd-balanced", 100), ("pd-standard", 500))
GIB = 1024**3
CPU = "compute.googleapis.com/instance/cpu/utilization"
RECEIVED = "compute.googleapis.com/instance/network/received_bytes_count"
SENT = "compute.googleapis.com/instance/network/sent_bytes_count"
PUBLIC_IMAGE = f"{SELF_LINK_BASE}/projects/debian-cloud/global/images/debian-12-bookworm-v20250610"
# Machine types by size class (all priced in data/gcp_prices/compute.json).
SMALL = ("e2-standard-2", "n1-standard-2", "n2-standard-2", "n2d-standard-2", "e2-medium")
LARGE = ("n2-standard-8", "e2-standard-8", "c2-standard-8", "n2d-standard-8", "n1-standard-8")
MEDIUM = ("n2-standard-4", "e2-standard-4", "n1-standard-4", "c2-standard-4", "n2-highmem-4")


def path(body: dict) -> str:
    """The resource path the scanner reports: the selfLink without its host."""
    return body["selfLink"].split("/compute/v1/")[1]


def region_of(zone: str) -> str:
    return zone.rsplit("-", 1)[0]


def multi_region(zone: str) -> str:
    return {"europe": "eu", "us": "us", "asia": "asia"}[zone.split("-", 1)[0]]


def _disk(ctx: EstateContext, project: str, zone: str, name: str, disk_type: str, size: int,
          created_days: float, detached_days: float | None, labels: dict, users: list[str] | None = None,
          source_image: str | None = None) -> dict:
    body = {
        "name": name,
        "sizeGb": str(size),
        "type": f"{SELF_LINK_BASE}/projects/{project}/zones/{zone}/diskTypes/{disk_type}",
        "status": "READY",
        "creationTimestamp": ctx.stamp(created_days),
        "labels": labels,
    }
    if detached_days is not None:
        body["lastDetachTimestamp"] = ctx.stamp(detached_days)
    if users:
        body["users"] = users
        body["lastAttachTimestamp"] = ctx.stamp(created_days - 1)
    if source_image:
        body["sourceImage"] = source_image
    return ctx.api.put(project, "disks", f"zones/{zone}", body)


def _labels(ctx: EstateContext, rng, kind: str = "volume") -> dict:
    # GCP labels: lower case keys and values
    return {k.lower(): v.lower().replace("@", "_at_").replace(".", "_")[:63] for k, v in ctx.tags(rng, kind).items()}


def _ip(rng: random.Random) -> str:
    return f"34.{rng.randrange(1, 250)}.{rng.randrange(1, 250)}.{rng.randrange(1, 250)}"


class _Seeder:
    """The instances, their disks and addresses, and everything else, with their truth."""

    def __init__(self, ctx: EstateContext) -> None:
        self.ctx = ctx
        self.truth: list[TruthResource] = []
        self.rng = ctx.rng("compute")

    def add(self, body: dict, kind: str, place: str, labels: dict, scenario: str | None = None,
            age: float | None = None, cost: float = 0.0) -> dict:
        decision = None
        if scenario is not None:
            decision = self.ctx.decide(self.rng, tags=labels, scenario=scenario, age_days=age, monthly_cost=cost)
        self.truth.append(self.ctx.truth(path(body), kind, place, labels, scenario, decision))
        return body

    # -- instances ---------------------------------------------------------------------------------

    def instance(self, project: str, zone: str, name: str, machine_type: str, *, created: float,
                 stopped: float | None = None, disks: tuple[tuple[str, int], ...] = (("pd-balanced", 20),),
                 disk_scenario: str | None = None, ssd_scenario: str | None = None,
                 static_ip: str | None = None, ephemeral_ip: bool = False, scenario: str | None = None,
                 boot_image: str = PUBLIC_IMAGE) -> dict:
        """An instance RUNNING (stopped None) or TERMINATED `stopped` days ago, with its disks
        (the first boots from `boot_image`) and, when `static_ip` names a scenario or "" (a near
        miss), a static external IP IN_USE by it. `disk_scenario` is every disk's expected rule;
        `ssd_scenario` that of its pd-ssd/pd-balanced disks only."""
        ctx, rng = self.ctx, self.rng
        link = f"{SELF_LINK_BASE}/projects/{project}/zones/{zone}/instances/{name}"
        labels = _labels(ctx, rng, "instance")
        attached = []
        for n, (disk_type, size) in enumerate(disks):
            disk_name = f"{name}-{'boot' if n == 0 else f'data-{n}'}"
            body = _disk(ctx, project, zone, disk_name, disk_type, size, created, None, labels, [link],
                         boot_image if n == 0 else None)
            expected = disk_scenario or (ssd_scenario if disk_type in ("pd-ssd", "pd-balanced") else None)
            self.add(body, DISK, zone, labels, expected, stopped, 0.1 * size)
            attached.append({
                "kind": "compute#attachedDisk", "type": "PERSISTENT", "mode": "READ_WRITE",
                "source": body["selfLink"], "deviceName": disk_name, "index": n, "boot": n == 0,
                "autoDelete": n == 0, "interface": "SCSI", "diskSizeGb": str(size),
            })
        nic = {
            "kind": "compute#networkInterface", "name": "nic0",
            "network": f"{SELF_LINK_BASE}/projects/{project}/global/networks/default",
            "subnetwork": f"{SELF_LINK_BASE}/projects/{project}/regions/{region_of(zone)}/subnetworks/default",
            "networkIP": f"10.{rng.randrange(0, 250)}.{rng.randrange(0, 250)}.{rng.randrange(2, 250)}",
            "stackType": "IPV4_ONLY",
        }
        address = None
        if static_ip is not None:
            address = self.address(project, region_of(zone), f"{name}-ip", "IN_USE", [link],
                                   scenario=static_ip or None, age=stopped)
            nic["accessConfigs"] = [{"kind": "compute#accessConfig", "type": "ONE_TO_ONE_NAT",
                                     "name": "External NAT", "natIP": address["address"], "networkTier": "PREMIUM"}]
        elif ephemeral_ip and stopped is None:
            nic["accessConfigs"] = [{"kind": "compute#accessConfig", "type": "ONE_TO_ONE_NAT",
                                     "name": "External NAT", "natIP": _ip(rng), "networkTier": "PREMIUM"}]
        body = {
            "name": name,
            "id": str(rng.randrange(10**18, 9 * 10**18)),
            "machineType": f"{SELF_LINK_BASE}/projects/{project}/zones/{zone}/machineTypes/{machine_type}",
            "status": "RUNNING" if stopped is None else "TERMINATED",
            "creationTimestamp": ctx.stamp(created),
            "lastStartTimestamp": ctx.stamp(created - 0.01 if stopped is None else max(stopped + 1, created / 2)),
            "labels": labels,
            "disks": attached,
            "networkInterfaces": [nic],
            "cpuPlatform": "Intel Cascade Lake",
            "deletionProtection": False,
            "scheduling": {"onHostMaintenance": "MIGRATE", "automaticRestart": True, "preemptible": False},
        }
        if stopped is not None:
            body["lastStopTimestamp"] = ctx.stamp(stopped)
        ctx.api.put(project, "instances", f"zones/{zone}", body)
        return self.add(body, INSTANCE, zone, labels, scenario, stopped if stopped is not None else created, 50.0)

    def metrics(self, project: str, zone: str, instance: dict, cpu: list[float], received: list[float],
                sent: list[float]) -> None:
        """Daily series of a running instance, newest first, ending yesterday. CPU utilization is
        a fraction of the instance's vCPUs. (The local endpoint serves one value a day whatever
        the aligner asked, so the CPU values stand for the day's mean and its peak alike.)"""
        labels = {"instance_id": instance["id"], "zone": zone, "project_id": project}
        for metric, values in ((CPU, cpu), (RECEIVED, received), (SENT, sent)):
            self.ctx.api.put_metric(project, metric, "gce_instance", labels, self.ctx.daily(values))

    # -- addresses ---------------------------------------------------------------------------------

    def address(self, project: str, region: str, name: str, status: str, users: list[str], *,
                scenario: str | None = None, age: float | None = None, created: float = 200.0,
                address_type: str = "EXTERNAL") -> dict:
        rng = self.rng
        labels = _labels(self.ctx, rng, "address")
        body = {
            "name": name,
            "address": _ip(rng) if address_type == "EXTERNAL" else f"10.{rng.randrange(0, 250)}.0.{rng.randrange(2, 250)}",
            "addressType": address_type,
            "status": status,
            "creationTimestamp": self.ctx.stamp(created),
            "ipVersion": "IPV4",
            "labels": labels,
        }
        if address_type == "EXTERNAL":
            body["networkTier"] = "PREMIUM"
        else:
            body["purpose"] = "GCE_ENDPOINT"
            body["subnetwork"] = f"{SELF_LINK_BASE}/projects/{project}/regions/{region}/subnetworks/default"
        if users:
            body["users"] = users
        scope = "global" if region == "global" else f"regions/{region}"
        self.ctx.api.put(project, "addresses", scope, body)
        return self.add(body, ADDRESS, region, labels, scenario, age if age is not None else created, 7.3)

    # -- snapshots and images ----------------------------------------------------------------------

    def snapshot(self, project: str, zone: str, name: str, source_disk: str, *, created: float,
                 scenario: str | None = None, auto: bool = False, size: int = 100) -> dict:
        rng = self.rng
        labels = _labels(self.ctx, rng, "snapshot")
        stored = int(size * GIB * rng.uniform(0.1, 0.6))
        body = {
            "name": name,
            "status": "READY",
            "sourceDisk": source_disk,
            "sourceDiskId": str(rng.randrange(10**18, 9 * 10**18)),
            "diskSizeGb": str(size),
            "storageBytes": str(stored),
            "storageBytesStatus": "UP_TO_DATE",
            "storageLocations": [multi_region(zone)],
            "snapshotType": "STANDARD",
            "autoCreated": auto,
            "creationTimestamp": self.ctx.stamp(created),
            "architecture": "X86_64",
            "labels": labels,
        }
        if auto:
            body["sourceSnapshotSchedulePolicy"] = (
                f"{SELF_LINK_BASE}/projects/{project}/regions/{region_of(zone)}/resourcePolicies/daily-backup"
            )
        self.ctx.api.put(project, "snapshots", "global", body)
        return self.add(body, SNAPSHOT, "global", labels, scenario, created, stored / GIB * 0.065)

    def image(self, project: str, zone: str, name: str, *, created: float, scenario: str | None = None,
              family: str | None = None, source_disk: str | None = None) -> dict:
        rng = self.rng
        labels = _labels(self.ctx, rng, "image")
        size = rng.choice((10, 20, 50))
        body = {
            "name": name,
            "status": "READY",
            "sourceType": "RAW",
            "diskSizeGb": str(size),
            "archiveSizeBytes": str(int(size * GIB * rng.uniform(0.1, 0.4))),
            "storageLocations": [multi_region(zone)],
            "creationTimestamp": self.ctx.stamp(created),
            "architecture": "X86_64",
            "labels": labels,
        }
        if family:
            body["family"] = family
        if source_disk:
            body["sourceDisk"] = source_disk
        self.ctx.api.put(project, "images", "global", body)
        return self.add(body, IMAGE, "global", labels, scenario, created, size * 0.05)


def _busy(s: _Seeder, project: str, zone: str, vm: dict) -> None:
    rng = s.rng
    s.metrics(project, zone, vm, _days(rng, 20, 0.25, 0.7), _days(rng, 20, 1e9, 5e9), _days(rng, 20, 1e9, 5e9))


def _days(rng: random.Random, n: int, low: float, high: float) -> list[float]:
    return [rng.uniform(low, high) for _ in range(n)]


def seed(ctx: EstateContext) -> list[TruthResource]:
    truth = _seed_disks(ctx)
    s = _Seeder(ctx)
    rng = s.rng
    zone_rng = ctx.rng("compute-places")

    def place() -> tuple[str, str]:
        return ctx.pick(zone_rng)

    # running and busy: near misses of the idle and underused rules
    for i in range(ctx.count(0.04)):
        project, zone = place()
        vm = s.instance(project, zone, f"vm-busy-{i}", MEDIUM[i % len(MEDIUM)], created=rng.uniform(60, 400),
                        disks=(("pd-balanced", 50), ("pd-ssd", 200)), ephemeral_ip=True)
        s.metrics(project, zone, vm, _days(rng, 20, 0.3, 0.6), _days(rng, 20, 2e9, 9e9), _days(rng, 20, 1e9, 5e9))
    # running idle: gcp-instance-idle
    for i in range(ctx.count(0.03)):
        project, zone = place()
        machine = (SMALL + MEDIUM)[i % (len(SMALL) + len(MEDIUM))]
        vm = s.instance(project, zone, f"vm-idle-{i}", machine, created=rng.uniform(30, 400),
                        scenario="gcp-instance-idle")
        s.metrics(project, zone, vm, _days(rng, 20, 0.002, 0.025), _days(rng, 20, 1e6, 1.5e8), _days(rng, 20, 1e6, 6e7))
    # idle near misses: a proxy (no CPU, gigabytes out one day), a young machine, sparse data
    for i in range(ctx.count(0.01)):
        project, zone = place()
        vm = s.instance(project, zone, f"vm-proxy-{i}", SMALL[i % len(SMALL)], created=90, ephemeral_ip=True)
        s.metrics(project, zone, vm, [0.01] * 20, [5e7] * 20, [5e7] * 5 + [6e9] + [5e7] * 14)
        project, zone = place()
        vm = s.instance(project, zone, f"vm-young-{i}", SMALL[i % len(SMALL)], created=6)
        s.metrics(project, zone, vm, [0.01] * 5, [1e6] * 5, [1e6] * 5)
        project, zone = place()
        vm = s.instance(project, zone, f"vm-sparse-{i}", SMALL[i % len(SMALL)], created=120)
        s.metrics(project, zone, vm, [0.01] * 8, [1e6] * 8, [1e6] * 8)
    # oversized: gcp-instance-underused; near miss: the same with one busy day
    for i in range(ctx.count(0.02)):
        project, zone = place()
        vm = s.instance(project, zone, f"vm-oversized-{i}", LARGE[i % len(LARGE)], created=rng.uniform(30, 400),
                        scenario="gcp-instance-underused")
        s.metrics(project, zone, vm, _days(rng, 20, 0.05, 0.17), _days(rng, 20, 5e8, 2e9), _days(rng, 20, 5e8, 2e9))
        project, zone = place()
        vm = s.instance(project, zone, f"vm-peaky-{i}", LARGE[i % len(LARGE)], created=rng.uniform(30, 400))
        s.metrics(project, zone, vm, [0.15] * 6 + [0.85] + [0.15] * 13, _days(rng, 20, 5e8, 2e9),
                  _days(rng, 20, 5e8, 2e9))
    # stopped for months: the instance (parent, $0), its disks and static IP (parts)
    for i in range(ctx.count(0.03)):
        project, zone = place()
        stopped = rng.uniform(35, 300)
        s.instance(project, zone, f"vm-abandoned-{i}", MEDIUM[i % len(MEDIUM)], created=stopped + rng.uniform(30, 300),
                   stopped=stopped, disks=_TYPES[: 1 + i % 3], disk_scenario="gcp-disk-of-terminated-instance",
                   static_ip="gcp-address-on-stopped-instance" if i % 2 == 0 else None,
                   scenario="gcp-instance-terminated-long")
    # stopped for one to four weeks: SSD-class disks to move to pd-standard, static IPs billed
    for i in range(ctx.count(0.03)):
        project, zone = place()
        stopped = rng.uniform(8, 27)
        s.instance(project, zone, f"vm-stopped-{i}", SMALL[i % len(SMALL)], created=stopped + rng.uniform(30, 300),
                   stopped=stopped, disks=(("pd-ssd", 100), ("pd-standard", 500), ("pd-balanced", 200)),
                   ssd_scenario="gcp-disk-ssd-on-stopped-instance",
                   static_ip="gcp-address-on-stopped-instance" if i % 2 == 1 else None)
    # stopped for a few days only: nothing to flag (near misses of every stopped rule)
    for i in range(ctx.count(0.01)):
        project, zone = place()
        s.instance(project, zone, f"vm-paused-{i}", SMALL[i % len(SMALL)], created=200, stopped=rng.uniform(1, 5),
                   disks=(("pd-ssd", 100),), static_ip="")

    # reserved static IPs assigned to nothing: regional and global
    for i in range(ctx.count(0.04)):
        project, zone = place()
        region = "global" if i % 3 == 2 else region_of(zone)
        age = rng.uniform(3, 400)
        s.address(project, region, f"ip-spare-{i}", "RESERVED", [], scenario="gcp-address-unused", age=age, created=age)
    # near misses: internal, in use by a forwarding rule, reserved minutes ago, on a running VM
    for i in range(ctx.count(0.01)):
        project, zone = place()
        region = region_of(zone)
        s.address(project, region, f"ip-internal-{i}", "RESERVED", [], address_type="INTERNAL")
        rule_link = f"{SELF_LINK_BASE}/projects/{project}/regions/{region}/forwardingRules/fr-web-{i}"
        s.address(project, region, f"ip-lb-{i}", "IN_USE", [rule_link])
        s.address(project, region, f"ip-new-{i}", "RESERVED", [], created=0.2)
        vm = s.instance(project, zone, f"vm-web-{i}", SMALL[i % len(SMALL)], created=200, static_ip="")
        _busy(s, project, zone, vm)

    # snapshots: of deleted disks (orphaned), old ones of live disks, and near misses
    live = [t.resource_id for t in s.truth if t.resource_type == DISK and "/disks/vm-busy-" in t.resource_id]
    for i in range(ctx.count(0.03)):
        project, zone = place()
        gone = f"{SELF_LINK_BASE}/projects/{project}/zones/{zone}/disks/deleted-disk-{i}"
        s.snapshot(project, zone, f"snap-orphan-{i}", gone, created=rng.uniform(35, 500), scenario="gcp-snapshot-orphaned")
        s.snapshot(project, zone, f"snap-lastcopy-{i}", gone, created=rng.uniform(1, 25))
    for i in range(ctx.count(0.03)):
        disk = live[i % len(live)]
        project, zone = disk.split("/")[1], disk.split("/")[3]
        source = f"{SELF_LINK_BASE}/{disk}"
        s.snapshot(project, zone, f"snap-old-{i}", source, created=rng.uniform(95, 700), scenario="gcp-snapshot-old")
        s.snapshot(project, zone, f"snap-recent-{i}", source, created=rng.uniform(1, 85))
        s.snapshot(project, zone, f"snap-scheduled-{i}", source, created=rng.uniform(95, 300), auto=True)

    # custom images: unused ones, and ones a disk was created from (by name or by family)
    for i in range(ctx.count(0.03)):
        project, zone = place()
        s.image(project, zone, f"img-unused-{i}", created=rng.uniform(95, 700), scenario="gcp-image-unused")
        s.image(project, zone, f"img-new-{i}", created=rng.uniform(1, 80))
        used = s.image(project, zone, f"img-golden-{i}", created=rng.uniform(95, 700))
        vm = s.instance(project, zone, f"vm-golden-{i}", SMALL[i % len(SMALL)], created=90, boot_image=used["selfLink"])
        _busy(s, project, zone, vm)
        s.image(project, zone, f"img-family-{i}", created=rng.uniform(95, 700), family=f"app-{i}")
        family = f"{SELF_LINK_BASE}/projects/{project}/global/images/family/app-{i}"
        vm = s.instance(project, zone, f"vm-family-{i}", SMALL[i % len(SMALL)], created=90, boot_image=family)
        _busy(s, project, zone, vm)
    return truth + s.truth


def _seed_disks(ctx: EstateContext) -> list[TruthResource]:
    """Disks outside any instance: unattached ones (gcp-disk-unattached) and near misses."""
    rng = ctx.rng("disks")
    truth = []
    for i in range(ctx.count(0.05)):
        project, zone = ctx.pick(rng)
        disk_type, size = _TYPES[i % len(_TYPES)]
        labels = _labels(ctx, rng)
        days = rng.uniform(10, 200)
        body = _disk(ctx, project, zone, f"disk-orphan-{i}", disk_type, size, days + 20, days, labels)
        decision = ctx.decide(rng, tags=labels, scenario="gcp-disk-unattached", age_days=days, monthly_cost=20.0)
        truth.append(ctx.truth(path(body), DISK, zone, labels, "gcp-disk-unattached", decision))
    for i in range(ctx.count(0.03)):  # near misses: detached yesterday, or never attached and new
        project, zone = ctx.pick(rng)
        labels = _labels(ctx, rng)
        if i % 2 == 0:
            body = _disk(ctx, project, zone, f"disk-new-{i}", "pd-balanced", 100, 2, None, labels)
        else:
            body = _disk(ctx, project, zone, f"disk-detached-{i}", "pd-ssd", 50, 90, 1, labels)
        truth.append(ctx.truth(path(body), DISK, zone, labels))
    return truth
