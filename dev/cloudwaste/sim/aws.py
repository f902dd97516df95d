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
their tags, ages, scenarios and simulated decisions). Per region it then creates the network (a
VPC and two subnets) with real boto3 calls against ``endpoint_url``, and every other resource
straight in moto's backend, through the same backend methods moto's request handlers call
(:mod:`.estate_moto`), setting there what the AWS API cannot set (creation, launch, stop and
snapshot times). Through HTTP each call costs ~8 ms of moto's request handling, which made 20,000
resources take minutes; this way they take about 20 s, and the resources are the same moto
objects, seen by every describe call, paginator and filter. Seeding also makes moto's per-resource
tag lookup O(1) (process-wide, same results), without which both seeding and a scanner's listing
are quadratic in the number of tagged resources of a region.

This only works when the moto server runs **in the same process** as the caller, which is what
:func:`start_moto` and the ``serve`` command do. Against an out-of-process moto server
``seed_estate`` raises :class:`RuntimeError` rather than produce a partial estate.

Between two scans, :func:`act_on` deletes or fixes a resource the way a user would, through
ordinary boto3 calls.

Determinism: the same ``seed``, ``size`` and ``regions`` give the same estate shape, tags,
scenarios and decisions; only the ids (assigned by moto) and the absolute times (relative to
``now``) differ.

Waste scenarios (``TruthResource.scenario``) and deliberate near misses (not waste):

==================================  =====================================================  ====================================
scenario                            waste                                                  near miss (scenario ``None``)
==================================  =====================================================  ====================================
``ebs-volume-unattached``           volume in state ``available``                          volumes attached to running instances
``eip-unassociated``                Elastic IP without association                         EIPs on running instances and NATs
``ec2-instance-stopped``            instance stopped 32-400 days ago                       instance stopped 5-20 days ago
``ebs-volume-on-stopped-instance``  volume attached to an instance stopped 32-400 days     volumes of instances stopped 5-20
                                    ago (every volume of a ``ec2-instance-stopped`` one)   days ago
``snapshot-orphaned``               snapshot of a deleted volume, older than 90 days       same, 5-80 days old
``nat-gateway-idle``                NAT gateway > 30 days old, 30 days of zero traffic     NAT gateway created 3 days ago, idle
``load-balancer-no-targets``        ALB whose target groups have no targets, or none       ALBs with registered targets
==================================  =====================================================  ====================================

Running instances' disks are never gp2 (drawn as for any instance, then gp2 made gp3): a gp2
volume on a running instance is an ``ebs-volume-gp2-to-gp3`` finding, and those (with the other
volume-type and volume-usage findings) are seeded on purpose by
:mod:`cloudwaste.sim.services.ec2_usage`. Their volumes have no ``AWS/EBS`` history, which the
usage rules read as "not judged", never as "no IO".

A volume on a long-stopped instance is waste of its own (the scanner's rule fires on a volume
attached to an instance stopped >= 30 days); the instance keeps ``ec2-instance-stopped``. Each such
volume gets its own decision, drawn with its own monthly cost and the days since the stop as age.

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

from . import billing
from . import services as _services
from .billing import Charge
from .estate_moto import BackendWriter, install_fast_lookups, naive
from .profile import DecisionModel, draw_tags
from .services import Network, SeedContext
from .truth import GroundTruth, TruthResource, atomic_write_text

__all__ = [
    "ACTIONS",
    "DEFAULT_ACCOUNT_ID",
    "DEFAULT_REGIONS",
    "RESOURCE_TYPES",
    "SCENARIOS",
    "GroundTruth",
    "MotoHandle",
    "TruthResource",
    "act_on",
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
EBS_ON_STOPPED = "ebs-volume-on-stopped-instance"
EIP_UNASSOCIATED = "eip-unassociated"
EC2_STOPPED = "ec2-instance-stopped"
SNAPSHOT_ORPHANED = "snapshot-orphaned"
NAT_IDLE = "nat-gateway-idle"
LB_NO_TARGETS = "load-balancer-no-targets"
EC2_IDLE = "ec2-instance-idle"
SCENARIOS: tuple[str, ...] = (
    EBS_UNATTACHED,
    EIP_UNASSOCIATED,
    EC2_STOPPED,
    SNAPSHOT_ORPHANED,
    NAT_IDLE,
    LB_NO_TARGETS,
    EBS_ON_STOPPED,
    EC2_IDLE,
)

#: Thresholds the scenarios are built around (the scanner's rules use the same ones).
STOPPED_DAYS = 30
SNAPSHOT_ORPHAN_DAYS = 90
NAT_IDLE_DAYS = 30
IDLE_WINDOW_DAYS = 14  # ec2-instance-idle's window: daily CPU <= 10% and network <= 5 MiB
USAGE_HISTORY_DAYS = 16  # days of CloudWatch history a running instance has (at most its age)
EC2_NAMESPACE = "AWS/EC2"
ALB_NAMESPACE = "AWS/ApplicationELB"

EBS_NAMESPACE = "AWS/EBS"

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
# Running instances judged by their CloudWatch history: idle ones (waste), and two near misses:
# proxies (near-zero CPU, gigabytes a day) and idle ones younger than the window. Planned from
# their own random streams, after the rest, so that adding them changed no other resource.
_USAGE_SHARES: dict[str, float] = {
    "instance.idle": 0.02,
    "instance.proxy": 0.006,
    "instance.young_idle": 0.004,
}
RUNNING_VARIANTS = frozenset({"running", "idle", "proxy", "young_idle"})
_SCENARIO_OF: dict[str, str] = {
    "instance.idle": EC2_IDLE,
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
_INSTANCE_MONTH = {  # on-demand Linux, us-east-1, x 730 hours
    "t3.micro": 7.59,
    "t3.medium": 30.37,
    "m5.large": 70.08,
    "m5.xlarge": 140.16,
    "c5.xlarge": 124.10,
    "r5.large": 91.98,
    "m5.2xlarge": 280.32,
}
_MIB = 1024 * 1024


# --------------------------------------------------------------------------------------------
# moto server
# --------------------------------------------------------------------------------------------


def _prepare_moto_environment() -> None:
    """Environment moto reads when its backends load; must run before the first request."""
    # Otherwise every region's snapshot listing holds ~1,300 public AMI snapshots.
    os.environ["MOTO_EC2_LOAD_DEFAULT_AMIS"] = "false"
    from cloudwaste.sim import moto_cloudwatch

    moto_cloudwatch.install()  # GetMetricData that holds up at estate scale
    from cloudwaste.sim import billing

    billing.install()  # Cost Explorer answering from the estate's bill
    from cloudwaste.sim.services import ec2_usage, management

    ec2_usage.install_capacity_reservations()  # moto has no Capacity Reservations
    management.install_provisioned_concurrency()  # nor Lambda provisioned concurrency


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
    # running instances: (CPU average %, network in bytes, network out bytes) per day, newest first
    usage: tuple[tuple[float, float, float], ...] = ()
    scheme: str = "internet-facing"
    decision: str | None = None
    # instance.stopped_long: the decision on each of its volumes (waste of their own).
    disk_decisions: tuple[str, ...] = ()

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

    A volume costs the same under both volume scenarios (``ebs-volume-unattached`` and
    ``ebs-volume-on-stopped-instance``): its size and IOPS, whatever it is attached to. A stopped
    instance is priced as the sum of its volumes (what it still costs while stopped); each of those
    volumes also gets its own decision at its own cost. Summing these estimates over the waste of an
    estate therefore counts the volumes of stopped instances twice.
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


def _not_gp2(disks: Sequence[_Disk]) -> tuple[_Disk, ...]:
    """A running instance's disks, drawn as for any instance, with gp2 made gp3 (same size): a gp2
    volume on a running instance is an `ebs-volume-gp2-to-gp3` finding, and the core estate's
    running instances carry none (cloudwaste.sim.services.ec2_usage seeds those on purpose)."""
    return tuple(_Disk("gp3", d.size, d.iops) if d.volume_type == "gp2" else d for d in disks)


def _age(rng: random.Random, lo: float, hi: float) -> float:
    """A realistic age in days, skewed towards young, within [lo, hi]."""
    return round(_log_uniform(rng, lo, hi), 3)


def _item_cost(item: _Item) -> float:
    kind = item.kind
    if item.key == "instance.idle":
        return _INSTANCE_MONTH[item.instance_type]  # what an idle instance wastes: its compute
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
        if variant in RUNNING_VARIANTS:
            disks = list(_not_gp2(disks))
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

    # Top up with running instances until the estate has at least `size` resources, counting the
    # instances judged by their usage that are planned below (each with its root volume).
    usage_counts = {key: max(1, round(size * share)) for key, share in _USAGE_SHARES.items()}
    total = sum(i.resource_count for i in items) + 2 * sum(usage_counts.values())
    while total < size:
        items.append(new_instance(pick_region(), "running"))
        total += items[-1].resource_count

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

    # Running instances judged by their usage, then every running instance's usage history.
    usage = random.Random(f"cloudwaste.sim.aws:{seed}:usage")
    for key, count in usage_counts.items():
        for _ in range(count):
            region = usage.choices(regions, weights=weights, k=1)[0]
            item = _Item(key=key, region=region, disks=_not_gp2((_root_disk(usage),)))
            item.instance_type = usage.choice(_INSTANCE_TYPES)
            if key == "instance.young_idle":
                item.launch_days = item.age_days = round(usage.uniform(3, IDLE_WINDOW_DAYS - 2), 3)
            else:
                item.launch_days = item.age_days = _age(usage, IDLE_WINDOW_DAYS + 3, 900)
            items.append(item)
    for item in items:
        if item.kind == "instance" and item.variant in RUNNING_VARIANTS:
            item.usage = _usage(usage, item)

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
        if scenario is not None and item.key not in _USAGE_SHARES:
            item.decision = model.draw(
                decision_rng,
                tags=item.tags,
                scenario=scenario,
                age_days=None if item.kind == "elastic_ip" else item.age_days,
                monthly_cost=_item_cost(item),
            )
    # Then the volumes of long-stopped instances, each priced on its own; after the loop above so
    # that the other decisions do not depend on them.
    for item in items:
        if item.key == "instance.stopped_long":
            item.disk_decisions = tuple(
                model.draw(
                    decision_rng,
                    tags=item.tags,
                    scenario=EBS_ON_STOPPED,
                    age_days=item.age_days,
                    monthly_cost=disk.monthly_cost,
                )
                for disk in item.disks
            )
    idle_decisions = random.Random(f"cloudwaste.sim.aws:{seed}:usage-decisions")
    for item in items:
        if item.key == "instance.idle":
            item.decision = model.draw(
                idle_decisions,
                tags=item.tags,
                scenario=EC2_IDLE,
                age_days=item.age_days,
                monthly_cost=_item_cost(item),
            )
    return items


def _usage(rng: random.Random, item: _Item) -> tuple[tuple[float, float, float], ...]:
    """Daily (CPU %, bytes in, bytes out) since launch, at most USAGE_HISTORY_DAYS, newest first."""
    days = min(USAGE_HISTORY_DAYS, max(1, int(item.launch_days)))
    out = []
    for _ in range(days):
        if item.variant in ("idle", "young_idle"):
            out.append(
                (
                    round(rng.uniform(0.2, 3.5), 2),
                    rng.uniform(0.05, 1.5) * _MIB,
                    rng.uniform(0.05, 1.5) * _MIB,
                )
            )
        elif item.variant == "proxy":  # near-zero CPU, gigabytes through it: at work, not idle
            out.append(
                (
                    round(rng.uniform(0.3, 3.0), 2),
                    rng.uniform(0.5, 20) * 1024 * _MIB,
                    rng.uniform(0.5, 20) * 1024 * _MIB,
                )
            )
        else:
            out.append(
                (
                    round(rng.uniform(12, 75), 2),
                    _log_uniform(rng, 20, 20_000) * _MIB,
                    _log_uniform(rng, 20, 20_000) * _MIB,
                )
            )
    return tuple(out)


# --------------------------------------------------------------------------------------------
# Execution: a VPC through the API, then everything else straight into moto's backends
# --------------------------------------------------------------------------------------------


def _tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def _tag_spec(resource_type: str, tags: dict[str, str]) -> list[dict[str, Any]]:
    return [{"ResourceType": resource_type, "Tags": _tag_list(tags)}]


def _lb_name(item: _Item, n: int) -> str:
    # ELBv2 names: at most 32 alphanumerics or hyphens, unique in the region.
    role = re.sub(r"[^a-z0-9]", "", re.split(r"[-\s.@]", item.tags["Name"].lower())[0])[:8] or "alb"
    return f"{item.tags['team']}-{role}-{n:04d}"


def _seed_region(
    endpoint_url: str,
    region: str,
    region_index: int,
    items: list[tuple[int, _Item]],
    now: datetime,
    account_id: str,
    networks: dict[str, Network],
) -> list[TruthResource]:
    """Create one region's part of the plan; returns its truth, in creation order (and records
    the region's network in `networks`)."""
    ec2 = boto3_client("ec2", endpoint_url, region, account_id=account_id)
    truth: list[TruthResource] = []
    bill: list[Charge] = []

    def charge(
        rid: str,
        product: str,
        usage: str,
        monthly: float,
        since: datetime,
        until: datetime | None = None,
        **kw: Any,
    ) -> None:
        bill.append(Charge(rid, product, usage, region, monthly / 730, since, until, **kw))

    def arn(kind: str, rid: str, account: str = account_id) -> str:
        return f"arn:aws:ec2:{region}:{account}:{kind}/{rid}"

    def ago(days: float) -> datetime:
        return now - timedelta(days=days)

    def add(
        rid: str, rtype: str, tags: dict[str, str], scenario: str | None = None, decision: str | None = None
    ) -> None:
        truth.append(TruthResource(rid, rtype, region, scenario, decision, dict(tags)))

    # Network through the API: one VPC and two subnets in two zones (ALBs need two). It also
    # proves that the server runs in this process (BackendWriter checks the VPC is there).
    zones = [z["ZoneName"] for z in ec2.describe_availability_zones()["AvailabilityZones"]][:2]
    net_tags = {"Name": f"sim-{region}", "environment": "prod", "team": "infra"}
    vpc_id = ec2.create_vpc(
        CidrBlock=f"10.{region_index % 250}.0.0/16", TagSpecifications=_tag_spec("vpc", net_tags)
    )["Vpc"]["VpcId"]
    subnets = [
        ec2.create_subnet(
            VpcId=vpc_id,
            # /18s: room for thousands of instance and NAT gateway addresses per subnet.
            CidrBlock=f"10.{region_index % 250}.{64 * i}.0/18",
            AvailabilityZone=zone,
            TagSpecifications=_tag_spec("subnet", {**net_tags, "Name": f"sim-{zone}"}),
        )["Subnet"]["SubnetId"]
        for i, zone in enumerate(zones)
    ]
    networks[region] = Network(vpc_id, tuple(subnets), tuple(zones))
    writer = BackendWriter(account_id, region, probe_vpc_id=vpc_id)

    # Instances, tagged like their volumes (RunInstances with TagSpecifications for both).
    instances: dict[int, Any] = {}
    volume_ids: dict[tuple[int, int], str] = {}
    stopped: list[tuple[Any, datetime]] = []
    for n, (idx, item) in enumerate(p for p in items if p[1].kind == "instance"):
        instance = writer.run_instance(
            image_id=_FAKE_AMI,
            instance_type=item.instance_type,
            subnet_id=subnets[n % len(subnets)],
            disks=[
                (_ROOT_DEVICE if d == 0 else _DATA_DEVICE, disk.size, disk.volume_type, d == 0)
                for d, disk in enumerate(item.disks)
            ],
            tags=item.tags,
            launched=ago(item.launch_days),
        )
        instances[idx] = instance
        running = item.variant in RUNNING_VARIANTS
        if not running:
            stopped.append((instance, ago(item.age_days)))
        add(instance.id, INSTANCE, item.tags, item.scenario, item.decision)
        charge(
            instance.id,
            "AmazonEC2",
            f"BoxUsage:{item.instance_type}",
            _INSTANCE_MONTH[item.instance_type],
            ago(item.launch_days),
            None if running else ago(item.age_days),
            savings_plan=running and n % 2 == 0,  # half of the running fleet is under a Savings Plan
        )
        for d in range(len(item.disks)):
            vid = instance.block_device_mapping[_ROOT_DEVICE if d == 0 else _DATA_DEVICE].volume_id
            volume_ids[(idx, d)] = vid
            decision = item.disk_decisions[d] if item.disk_decisions else None
            add(vid, VOLUME, item.tags, EBS_ON_STOPPED if decision else None, decision)
            disk = item.disks[d]
            charge(
                vid,
                "AmazonEC2",
                f"EBS:VolumeUsage.{disk.volume_type}",
                disk.monthly_cost,
                ago(item.launch_days),
            )
        if item.eip_tags is not None:
            address = writer.allocate_address(item.eip_tags)
            writer.associate_address(address.allocation_id, instance)
            add(address.allocation_id, ELASTIC_IP, item.eip_tags)
            charge(
                arn("elastic-ip", address.allocation_id),
                "AmazonEC2",
                "PublicIPv4:InUseAddress",
                _EIP_MONTH,
                ago(item.launch_days),
            )
    if stopped:
        writer.stop_instances([i for i, _ in stopped], [t for _, t in stopped])
    usage_points = [
        point
        for idx, item in items
        if item.kind == "instance" and item.usage
        for point in _instance_datapoints(instances[idx].id, item.usage, now)
    ]
    if usage_points:
        writer.put_metric_data(EC2_NAMESPACE, usage_points)

    # Unattached volumes and unassociated Elastic IPs.
    for idx, item in items:
        if item.kind == "volume":
            disk = item.disks[0]
            volume = writer.create_volume(
                zone=zones[idx % len(zones)],
                size=disk.size,
                volume_type=disk.volume_type,
                iops=disk.iops,
                tags=item.tags,
                created=ago(item.age_days),
            )
            volume_ids[(idx, 0)] = volume.id
            add(volume.id, VOLUME, item.tags, item.scenario, item.decision)
            charge(
                volume.id,
                "AmazonEC2",
                f"EBS:VolumeUsage.{disk.volume_type}",
                disk.monthly_cost,
                ago(item.age_days),
            )
        elif item.kind == "elastic_ip":
            address = writer.allocate_address(item.tags)
            add(address.allocation_id, ELASTIC_IP, item.tags, item.scenario, item.decision)
            charge(
                arn("elastic-ip", address.allocation_id),
                "AmazonEC2",
                "PublicIPv4:IdleAddress",
                _EIP_MONTH,
                ago(item.age_days or 45),
            )  # no allocation time: from before the window

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
            source_volume = writer.create_volume(
                zone=zones[idx % len(zones)],
                size=disk.size,
                volume_type=disk.volume_type,
                iops=disk.iops,
                tags=None,
                created=ago(item.age_days + 1),
            ).id
            description = f"{name} before decommissioning"
        snapshot = writer.create_snapshot(
            volume_id=source_volume, description=description, tags=item.tags, started=ago(item.age_days)
        )
        if item.source is None:
            writer.delete_volume(source_volume)
        add(snapshot.id, SNAPSHOT, item.tags, item.scenario, item.decision)
        stored = item.disks[0].size
        charge(
            arn("snapshot", snapshot.id, ""),
            "AmazonEC2",
            "EBS:SnapshotUsage",
            stored
            * _SNAPSHOT_GB_MONTH
            * billing.SNAPSHOT_STORED_SHARE,  # incremental: only the blocks stored
            ago(item.age_days),
        )

    # NAT gateways, each with its Elastic IP, and their daily traffic in CloudWatch.
    metric_data: list[dict[str, Any]] = []
    for idx, item in items:
        if item.kind != "nat_gateway":
            continue
        assert item.eip_tags is not None
        address = writer.allocate_address(item.eip_tags)
        nat = writer.create_nat_gateway(
            subnet_id=subnets[idx % len(subnets)],
            allocation_id=address.allocation_id,
            tags=item.tags,
            created=ago(item.age_days),
        )
        add(nat.id, NAT_GATEWAY, item.tags, item.scenario, item.decision)
        add(address.allocation_id, ELASTIC_IP, item.eip_tags)
        charge(arn("natgateway", nat.id), "AmazonEC2", "NatGateway-Hours", _NAT_MONTH, ago(item.age_days))
        charge(
            arn("elastic-ip", address.allocation_id),
            "AmazonEC2",
            "PublicIPv4:InUseAddress",
            _EIP_MONTH,
            ago(item.age_days),
        )
        metric_data.extend(_nat_datapoints(nat.id, item.traffic, now))
    if metric_data:
        writer.put_metric_data(NAT_NAMESPACE, metric_data)

    # Application load balancers: with targets (and requests), with empty target groups, with none.
    requests: list[dict[str, Any]] = []
    for n, (_idx, item) in enumerate(p for p in items if p[1].kind == "load_balancer"):
        name = _lb_name(item, n)
        lb = writer.create_load_balancer(
            name=name, subnet_ids=subnets, scheme=item.scheme, tags=item.tags, created=ago(item.age_days)
        )
        if item.variant != "no_tg":
            group = writer.create_forwarding_target_group(
                load_balancer_arn=lb.arn, name=f"{name[:28]}-tg", vpc_id=vpc_id
            )
            if item.targets:
                writer.register_targets(group.arn, [instances[t].id for t in item.targets])
                # in use: requests every day (AWS publishes no RequestCount without requests)
                requests.extend(
                    _request_datapoints(lb.arn, [1000 + 97 * ((n + d) % 13) for d in range(31)], now)
                )
        add(lb.arn, LOAD_BALANCER, item.tags, item.scenario, item.decision)
        charge(lb.arn, "AWSELB", "LoadBalancerUsage", _ALB_MONTH, ago(item.age_days))
    if requests:
        writer.put_metric_data(ALB_NAMESPACE, requests)
    billing.record(account_id, bill)
    return truth


def _request_datapoints(
    arn: str, counts: Sequence[int], now: datetime, *, newest_hours_ago: float = 1
) -> list[dict[str, Any]]:
    """PutMetricData entries: an ALB's RequestCount, one a day, newest first."""
    dimension = arn.split(":loadbalancer/", 1)[1]  # "app/<name>/<id>", as CloudWatch names it
    return [
        {
            "MetricName": "RequestCount",
            "Dimensions": [{"Name": "LoadBalancer", "Value": dimension}],
            "Timestamp": naive(now - timedelta(days=day, hours=newest_hours_ago)),
            "Value": float(count),
            "Unit": "Count",
        }
        for day, count in enumerate(counts)
    ]


def _instance_datapoints(
    instance_id: str,
    usage: Sequence[tuple[float, float, float]],
    now: datetime,
    *,
    newest_hours_ago: float = 1,
) -> list[dict[str, Any]]:
    """PutMetricData entries: CPU average and network in/out, one each a day, newest first."""
    out = []
    for day, (cpu, net_in, net_out) in enumerate(usage):
        stamp = naive(now - timedelta(days=day, hours=newest_hours_ago))
        for metric, value, unit in (
            ("CPUUtilization", cpu, "Percent"),
            ("NetworkIn", net_in, "Bytes"),
            ("NetworkOut", net_out, "Bytes"),
        ):
            out.append(
                {
                    "MetricName": metric,
                    "Dimensions": [{"Name": "InstanceId", "Value": instance_id}],
                    "Timestamp": stamp,
                    "Value": float(value),
                    "Unit": unit,
                }
            )
    return out


def _nat_datapoints(
    nat_id: str, traffic: Sequence[tuple[float, float]], now: datetime, *, newest_hours_ago: float = 12
) -> list[dict[str, Any]]:
    """PutMetricData entries: one per metric a day, newest first (naive UTC timestamps)."""
    out = []
    for day, (bytes_out, bytes_in) in enumerate(traffic):
        stamp = naive(now - timedelta(days=day, hours=newest_hours_ago))
        for metric, value in zip(NAT_METRICS, (bytes_out, bytes_in), strict=True):
            out.append(
                {
                    "MetricName": metric,
                    "Dimensions": [{"Name": "NatGatewayId", "Value": nat_id}],
                    "Timestamp": stamp,
                    "Value": float(value),
                    "Unit": "Bytes",
                }
            )
    return out


def seed_estate(
    endpoint_url: str,
    *,
    size: int = 400,
    seed: int = 42,
    regions: Sequence[str] = DEFAULT_REGIONS,
    account_id: str = DEFAULT_ACCOUNT_ID,
    now: datetime | None = None,
    services: Sequence[str] | None = None,
    cost_export: bool = False,
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
        services: The service modules of :mod:`cloudwaste.sim.services` to seed after the EC2
            core (by name); None: all of them.
        cost_export: Also write the EC2 core's bill as a CUR 2.0 export into moto's S3, at
            ``billing.export_uri(account_id)`` (a bucket more in the estate). Cost Explorer answers
            from the same bill either way (:mod:`cloudwaste.sim.billing`).

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

    install_fast_lookups()
    items = _plan(size, seed, regions)
    resources: list[TruthResource] = []
    networks: dict[str, Network] = {}
    for region_index, region in enumerate(regions):
        region_items = [(idx, item) for idx, item in enumerate(items) if item.region == region]
        resources.extend(
            _seed_region(endpoint_url, region, region_index, region_items, now, account_id, networks)
        )
    # Then every other service, each from its own random stream (see cloudwaste.sim.services).
    ctx = SeedContext(endpoint_url, regions, size, seed, now, account_id, networks)
    for service in _services.load_all():
        if services is None or service.name in services:
            resources.extend(service.seed(ctx))
    if cost_export:  # the bill of the EC2 core, as a CUR 2.0 export (cloudwaste.sim.billing)
        s3 = boto3_client("s3", endpoint_url, regions[0], account_id=account_id)
        billing.write_cur(s3, account_id, now, regions[0])
        resources.append(TruthResource(billing.export_bucket(account_id), "aws.s3.bucket", regions[0], None, None))
    return GroundTruth(
        seed=seed,
        size=size,
        regions=regions,
        account_id=account_id,
        created_at=now.isoformat(),
        resources=tuple(resources),
    )


# --------------------------------------------------------------------------------------------
# What users do between two scans
# --------------------------------------------------------------------------------------------

#: The actions :func:`act_on` takes.
ACTIONS: tuple[str, ...] = ("delete", "fix")

_SPARE_DEVICES = tuple(f"/dev/sd{c}" for c in "ghijklmnopqrstuvwxyz")


def act_on(
    endpoint_url: str,
    resource: TruthResource,
    action: str,
    *,
    account_id: str = DEFAULT_ACCOUNT_ID,
    now: datetime | None = None,
) -> None:
    """Change one resource of a seeded estate the way a user would between two scans.

    Everything goes through ordinary boto3 calls (with ``x-moto-account-id`` for a non-default
    ``account_id``, see :func:`boto3_client`), so it works against any moto server, in this process
    or not, and a scanner sees the change through the same describe calls it always makes.

    Args:
        endpoint_url: The moto server the estate was seeded into.
        resource: A resource of the ground truth (any, waste or not; its type and region matter).
        action: ``"delete"`` removes the resource as AWS would:

            * volume: detached (forced) if attached, then deleted;
            * Elastic IP: disassociated if associated, then released;
            * instance: terminated; AWS (and moto) delete the volumes marked DeleteOnTermination
              (the root volume here) and detach the others, which stay behind as ``available``;
            * snapshot: deleted;
            * NAT gateway: deleted (state ``deleted``); its Elastic IP stays allocated, as in AWS;
            * load balancer: deleted with its listeners; its target groups stay, as in AWS.

            ``"fix"`` keeps the resource but makes it no longer waste:

            * volume: attached to a running instance in its availability zone (detached first
              from a stopped instance it may be on), as gp3 if it was gp2 or io1/io2; a volume
              already on a running instance (a type, IOPS or usage finding) is made gp3 with
              the included 3,000 IOPS and gets a busy day of reads and writes an hour ago;
            * Elastic IP: associated with a running instance of the region, preferably one
              without an Elastic IP yet;
            * instance: started when stopped; when running (idle), a busy day of CPU and network
              an hour before ``now``;
            * NAT gateway: non-zero ``BytesOutToDestination`` and ``BytesInFromSource``
              datapoints an hour before ``now``;
            * load balancer: a running instance of its VPC registered in its first target
              group, or in a new HTTP:80 target group with a listener forwarding to it when it
              has none, and a RequestCount datapoint an hour before ``now``;
            * snapshot: not supported (nothing short of deleting it gives it a source volume).
        account_id: The account the estate was seeded into (``GroundTruth.account_id``).
        now: Reference time for the NAT gateway datapoints; defaults to the current UTC time.

    Raises:
        ValueError: Unknown ``action`` or resource type, or ``"fix"`` on a snapshot.
        LookupError: ``"fix"`` needs a running instance (same zone for a volume, same VPC for
            a load balancer) and the region has none.
        botocore.exceptions.ClientError: The API refused (e.g. the resource is already gone).
    """
    if action not in ACTIONS:
        raise ValueError(f"action must be one of {ACTIONS}, not {action!r}")
    handler = _ACTIONS.get((resource.resource_type, action)) or _services.actions().get(
        (resource.resource_type, action)
    )
    if handler is None:
        if resource.resource_type == SNAPSHOT and action == "fix":
            raise ValueError("a snapshot cannot be fixed (its source volume is gone): delete it instead")
        raise ValueError(f"unknown resource type {resource.resource_type!r}")
    when = (now or datetime.now(UTC)).astimezone(UTC)
    handler(_Clients(endpoint_url, resource.region, account_id), resource.resource_id, when)


class _Clients:
    """boto3 clients for one region of one account, made on first use."""

    def __init__(self, endpoint_url: str, region: str, account_id: str) -> None:
        self._args = (endpoint_url, region)
        self._account_id = account_id
        self._made: dict[str, Any] = {}

    def __getattr__(self, service: str) -> Any:
        if service.startswith("_"):
            raise AttributeError(service)
        if service not in self._made:
            self._made[service] = boto3_client(service, *self._args, account_id=self._account_id)
        return self._made[service]


def _running_instances(ec2: Any, **filters: str) -> list[dict[str, Any]]:
    flt = [{"Name": "instance-state-name", "Values": ["running"]}]
    flt += [{"Name": k, "Values": [v]} for k, v in filters.items()]
    return [
        inst
        for page in ec2.get_paginator("describe_instances").paginate(Filters=flt)
        for res in page["Reservations"]
        for inst in res["Instances"]
    ]


def _delete_volume(c: _Clients, volume_id: str, _now: datetime) -> None:
    volume = c.ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]
    # With the InstanceId: moto fails (HTTP 500) without it.
    for attachment in volume.get("Attachments") or []:
        c.ec2.detach_volume(VolumeId=volume_id, InstanceId=attachment["InstanceId"], Force=True)
    c.ec2.delete_volume(VolumeId=volume_id)


def _fix_volume(c: _Clients, volume_id: str, now: datetime) -> None:
    """A volume of a running instance (a type, IOPS or usage finding) becomes gp3 with the included
    IOPS and gets read and written (a busy day an hour ago); any other one is attached to a running
    instance of its zone (detached first from a stopped one), as gp3 when it was gp2 or io1/io2."""
    volume = c.ec2.describe_volumes(VolumeIds=[volume_id])["Volumes"][0]
    attachments = volume.get("Attachments") or []
    hosts = [a["InstanceId"] for a in attachments]
    if hosts and _running_instances(c.ec2, **{"instance-id": hosts[0]}):
        _make_gp3(c, volume)
        c.cloudwatch.put_metric_data(
            Namespace=EBS_NAMESPACE,
            MetricData=[
                {
                    "MetricName": metric,
                    "Dimensions": [{"Name": "VolumeId", "Value": volume_id}],
                    "Timestamp": naive(now - timedelta(hours=1)),
                    "Value": 250_000.0,
                    "Unit": "Count",
                }
                for metric in ("VolumeReadOps", "VolumeWriteOps")
            ],
        )
        return
    for attachment in attachments:
        c.ec2.detach_volume(VolumeId=volume_id, InstanceId=attachment["InstanceId"], Force=True)
    candidates = _running_instances(c.ec2, **{"availability-zone": volume["AvailabilityZone"]})
    if not candidates:
        raise LookupError(f"no running instance in {volume['AvailabilityZone']} to attach {volume_id} to")
    target = candidates[0]
    used = {m["DeviceName"] for m in target.get("BlockDeviceMappings", [])}
    device = next(d for d in _SPARE_DEVICES if d not in used)
    c.ec2.attach_volume(VolumeId=volume_id, InstanceId=target["InstanceId"], Device=device)
    _make_gp3(c, volume)


def _make_gp3(c: _Clients, volume: dict[str, Any]) -> None:
    """gp2, io1/io2 and gp3 with extra IOPS become gp3 with its included 3,000 IOPS (Elastic
    Volumes): on a running instance, nothing the volume-type rules flag."""
    if volume.get("VolumeType") in ("gp2", "io1", "io2") or (volume.get("Iops") or 0) > 3000:
        c.ec2.modify_volume(VolumeId=volume["VolumeId"], VolumeType="gp3", Iops=3000)


def _delete_address(c: _Clients, allocation_id: str, _now: datetime) -> None:
    address = c.ec2.describe_addresses(AllocationIds=[allocation_id])["Addresses"][0]
    if address.get("AssociationId"):
        c.ec2.disassociate_address(AssociationId=address["AssociationId"])
    c.ec2.release_address(AllocationId=allocation_id)


def _fix_address(c: _Clients, allocation_id: str, _now: datetime) -> None:
    with_eip = {a.get("InstanceId") for a in c.ec2.describe_addresses()["Addresses"]}
    candidates = _running_instances(c.ec2)
    if not candidates:
        raise LookupError(f"no running instance to associate {allocation_id} with")
    free = [i for i in candidates if i["InstanceId"] not in with_eip]
    c.ec2.associate_address(AllocationId=allocation_id, InstanceId=(free or candidates)[0]["InstanceId"])


def _delete_instance(c: _Clients, instance_id: str, _now: datetime) -> None:
    c.ec2.terminate_instances(InstanceIds=[instance_id])


def _fix_instance(c: _Clients, instance_id: str, now: datetime) -> None:
    """A stopped instance is started; a running (idle) one gets to work: a busy day an hour ago."""
    state = c.ec2.describe_instances(InstanceIds=[instance_id])["Reservations"][0]["Instances"][0]["State"][
        "Name"
    ]
    if state != "running":
        c.ec2.start_instances(InstanceIds=[instance_id])
        return
    points = _instance_datapoints(instance_id, [(45.0, 2e9, 2e9)], now, newest_hours_ago=0.5)
    c.cloudwatch.put_metric_data(Namespace=EC2_NAMESPACE, MetricData=points)


def _delete_snapshot(c: _Clients, snapshot_id: str, _now: datetime) -> None:
    c.ec2.delete_snapshot(SnapshotId=snapshot_id)


def _delete_nat_gateway(c: _Clients, nat_id: str, _now: datetime) -> None:
    c.ec2.delete_nat_gateway(NatGatewayId=nat_id)


def _fix_nat_gateway(c: _Clients, nat_id: str, now: datetime) -> None:
    points = _nat_datapoints(nat_id, [(2.5e9, 4.0e8)], now, newest_hours_ago=1)
    c.cloudwatch.put_metric_data(Namespace=NAT_NAMESPACE, MetricData=points)


def _delete_load_balancer(c: _Clients, arn: str, _now: datetime) -> None:
    c.elbv2.delete_load_balancer(LoadBalancerArn=arn)


def _fix_load_balancer(c: _Clients, arn: str, now: datetime) -> None:
    lb = c.elbv2.describe_load_balancers(LoadBalancerArns=[arn])["LoadBalancers"][0]
    candidates = _running_instances(c.ec2, **{"vpc-id": lb["VpcId"]})
    if not candidates:
        raise LookupError(f"no running instance in {lb['VpcId']} to register behind {arn}")
    # All target groups, not DescribeTargetGroups(LoadBalancerArn=...): see the module docstring.
    groups = [
        g
        for page in c.elbv2.get_paginator("describe_target_groups").paginate()
        for g in page["TargetGroups"]
        if arn in g.get("LoadBalancerArns", [])
    ]
    if groups:
        group_arn = groups[0]["TargetGroupArn"]
    else:
        name = f"{lb['LoadBalancerName'][:25]}-fixtg"
        group_arn = c.elbv2.create_target_group(
            Name=name, Protocol="HTTP", Port=80, VpcId=lb["VpcId"], TargetType="instance"
        )["TargetGroups"][0]["TargetGroupArn"]
        c.elbv2.create_listener(
            LoadBalancerArn=arn,
            Protocol="HTTP",
            Port=80,
            DefaultActions=[{"Type": "forward", "TargetGroupArn": group_arn}],
        )
    c.elbv2.register_targets(
        TargetGroupArn=group_arn, Targets=[{"Id": candidates[0]["InstanceId"], "Port": 80}]
    )
    # and it serves: requests an hour ago (else load-balancer-no-requests would flag it)
    points = _request_datapoints(arn, [500], now)
    c.cloudwatch.put_metric_data(Namespace=ALB_NAMESPACE, MetricData=points)


_ACTIONS: dict[tuple[str, str], Callable[[_Clients, str, datetime], None]] = {
    (VOLUME, "delete"): _delete_volume,
    (VOLUME, "fix"): _fix_volume,
    (ELASTIC_IP, "delete"): _delete_address,
    (ELASTIC_IP, "fix"): _fix_address,
    (INSTANCE, "delete"): _delete_instance,
    (INSTANCE, "fix"): _fix_instance,
    (SNAPSHOT, "delete"): _delete_snapshot,
    (NAT_GATEWAY, "delete"): _delete_nat_gateway,
    (NAT_GATEWAY, "fix"): _fix_nat_gateway,
    (LOAD_BALANCER, "delete"): _delete_load_balancer,
    (LOAD_BALANCER, "fix"): _fix_load_balancer,
}


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
        truth = seed_estate(
            handle.endpoint_url, size=args.size, seed=args.seed, regions=regions, cost_export=True
        )
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
