"""EC2 usage: running instances and the volumes on them, judged by their type and CloudWatch
history, and On-Demand Capacity Reservations.

Scenarios (rule key) and their near misses (scenario None):

=====================================  ============================================  ==============================================
scenario                               waste                                          near misses
=====================================  ============================================  ==============================================
``ebs-volume-gp2-to-gp3``              gp2 data volume (60-1500 GiB) on a running     gp2 of 10-30 GiB (saves < $1 a month)
                                       instance
``ebs-volume-io-to-gp3``               io1 (1,000-8,000 IOPS) gp3 can replace         io1 with 17,000-20,000 IOPS, well used
``ebs-volume-no-io``                   gp3 data volume, 30 days of zero read/write    a few ops on one day; zero IO but 10-25 days
                                       ops                                            old; zero IO with 24 of 30 days of data
``ebs-volume-iops-overprovisioned``    io1 with 17,000-20,000 IOPS using < 10%;       gp3 with 6,000 IOPS using > 20% of them (and
                                       gp3 with 8,000-12,000 IOPS using < 5%          the well-used io1 above)
``ec2-instance-previous-generation``   busy m4/c4/r4/t2 instances (and one launched   busy m5/c5/r5/t3 instances; busy m3.medium (its
                                       a few days ago)                                successor costs more)
``ec2-capacity-reservation-unused``    active >= 10 days, no instance in it; or at    unused but 1-6 days old; fully used; 1 of 5-10
                                       least half of it free                          instances free
=====================================  ============================================  ==============================================

Every instance here is busy (daily CPU 15-70%, 50 MiB-5 GiB of network a day, 16 days, as the
core estate's running instances): `ec2-instance-idle` never fires on them. Every volume of a
running instance here has a daily ``AWS/EBS`` VolumeReadOps/VolumeWriteOps history (AWS publishes
them for attached volumes, zeros included), over 30 days or since its creation, one datapoint a
day (so a day's Sum and Maximum are the same value: for the volumes ``ebs-volume-iops-overprovisioned``
judges it is the day's busiest minute, IOPS x 60); root volumes (gp3) have none and are not judged.

moto has no Capacity Reservations: :func:`install_capacity_reservations` (called by the core
estate before moto serves its first request) adds CreateCapacityReservation,
DescribeCapacityReservations (ids, ``state`` filter, pagination), ModifyCapacityReservation
(InstanceCount) and CancelCapacityReservation to moto's EC2, kept per account and region; the seed
sets what the API cannot (CreateDate, StartDate, AvailableInstanceCount: moto launches no instance
into a reservation) on those records.
"""

from __future__ import annotations

import math
import random
from datetime import UTC, datetime, timedelta
from typing import Any

from ..estate_moto import BackendWriter, naive
from ..truth import TruthResource
from . import SeedContext, ServiceEstate

INSTANCE = "aws.ec2.instance"
VOLUME = "aws.ec2.volume"
CAPACITY_RESERVATION = "aws.ec2.capacity_reservation"

GP2_TO_GP3 = "ebs-volume-gp2-to-gp3"
IO_TO_GP3 = "ebs-volume-io-to-gp3"
NO_IO = "ebs-volume-no-io"
IOPS_OVER = "ebs-volume-iops-overprovisioned"
PREVIOUS_GENERATION = "ec2-instance-previous-generation"
CR_UNUSED = "ec2-capacity-reservation-unused"

WINDOW_DAYS = 30  # the EBS usage rules' window
HISTORY_DAYS = 16  # EC2 CPU/network history of an instance (the idle rule reads 14)
_MIB = 1024 * 1024
_DAY = 86400
_MINUTE = 60
_AMI = "ami-0c0ffee0000051a7e"
_DEVICES = tuple(f"/dev/sd{c}" for c in "fghijklmnop")

# share of ctx.size per variant (3,000 resources: about 4 of each)
_SHARE = 0.0013

_VOLUME_VARIANTS: dict[str, str | None] = {
    "gp2_data": GP2_TO_GP3,
    "gp2_small": None,
    "io1_fits": IO_TO_GP3,
    "io1_busy_high": None,
    "gp3_no_io": NO_IO,
    "gp3_rare_io": None,
    "gp3_young_no_io": None,
    "gp3_sparse_no_io": None,
    "io1_over": IOPS_OVER,
    "gp3_over": IOPS_OVER,
    "gp3_iops_used": None,
}
_INSTANCE_VARIANTS: dict[str, str | None] = {
    "prev_gen": PREVIOUS_GENERATION,
    "prev_gen_young": PREVIOUS_GENERATION,
    "prev_gen_no_saving": None,
    "current_gen": None,
}
_CR_VARIANTS: dict[str, str | None] = {
    "unused": CR_UNUSED,
    "half_free": CR_UNUSED,
    "unused_young": None,
    "used": None,
    "one_free": None,
}
_PREV_TYPES = ("m4.large", "m4.xlarge", "c4.large", "c4.xlarge", "r4.large", "t2.medium", "t2.large")
_CURRENT_TYPES = ("m5.large", "m5.xlarge", "c5.large", "r5.large", "t3.medium")
_CR_TYPES = ("m5.large", "c5.xlarge", "r5.large", "t3.medium", "m5.2xlarge")
# rough us-east-1 on-demand monthly prices: only to feed the simulated decisions
_MONTH = {
    "m4.large": 73.0,
    "m4.xlarge": 146.0,
    "c4.large": 73.0,
    "c4.xlarge": 145.27,
    "r4.large": 97.09,
    "t2.medium": 33.87,
    "t2.large": 67.74,
    "m5.large": 70.08,
    "m5.xlarge": 140.16,
    "c5.large": 62.05,
    "c5.xlarge": 124.1,
    "r5.large": 91.98,
    "t3.medium": 30.37,
    "m5.2xlarge": 280.32,
    "m3.medium": 48.91,
}
_SUCCESSOR_SAVING = {"m4": 0.04, "c4": 0.15, "r4": 0.05, "t2": 0.1}


# --------------------------------------------------------------------------------------------
# Capacity Reservations in moto
# --------------------------------------------------------------------------------------------

_installed = False


def _reservations(backend: Any) -> dict[str, dict[str, Any]]:
    store = getattr(backend, "cloudwaste_capacity_reservations", None)
    if store is None:
        store = backend.cloudwaste_capacity_reservations = {}
    return store


def capacity_reservations(backend: Any) -> dict[str, dict[str, Any]]:
    """The Capacity Reservations of one moto EC2 backend (account and region), by id: the records
    DescribeCapacityReservations returns, to change what the API cannot."""
    return _reservations(backend)


def install_capacity_reservations() -> None:
    """Adds Capacity Reservations to moto's EC2 responses (idempotent)."""
    global _installed
    if _installed:
        return
    from moto.core.responses import ActionResult
    from moto.ec2.responses import EC2Response

    def create_capacity_reservation(self: Any) -> ActionResult:
        self.error_on_dryrun()
        store = _reservations(self.ec2_backend)
        rid = f"cr-{random.getrandbits(68):017x}"
        count = int(self._get_param("InstanceCount"))
        now = datetime.now(UTC).replace(microsecond=0, tzinfo=None)
        tags = self._parse_tag_specification().get("capacity-reservation", {})
        record = {
            "CapacityReservationId": rid,
            "OwnerId": self.current_account,
            "CapacityReservationArn": (
                f"arn:aws:ec2:{self.region}:{self.current_account}:capacity-reservation/{rid}"
            ),
            "InstanceType": self._get_param("InstanceType"),
            "InstancePlatform": self._get_param("InstancePlatform"),
            "AvailabilityZone": self._get_param("AvailabilityZone"),
            "Tenancy": self._get_param("Tenancy") or "default",
            "TotalInstanceCount": count,
            "AvailableInstanceCount": count,
            "EbsOptimized": bool(self._get_param("EbsOptimized")),
            "State": "active",
            "StartDate": now,
            "EndDateType": self._get_param("EndDateType") or "unlimited",
            "InstanceMatchCriteria": self._get_param("InstanceMatchCriteria") or "open",
            "CreateDate": now,
            "ReservationType": "default",
            "Tags": [{"Key": k, "Value": v} for k, v in tags.items()],
        }
        store[rid] = record
        return ActionResult({"CapacityReservation": record})

    def describe_capacity_reservations(self: Any) -> ActionResult:
        store = _reservations(self.ec2_backend)
        ids = self._get_param("CapacityReservationIds", []) or []
        found = [store[i] for i in ids if i in store] if ids else list(store.values())
        for f in self._get_param("Filters", []) or []:
            field = {"state": "State", "instance-type": "InstanceType"}.get(f.get("Name"))
            if field:
                found = [r for r in found if r.get(field) in f.get("Values", [])]
        start = int(self._get_param("NextToken") or 0)
        size = int(self._get_param("MaxResults") or 1000)
        page = found[start : start + size]
        out: dict[str, Any] = {"CapacityReservations": page}
        if start + size < len(found):
            out["NextToken"] = str(start + size)
        return ActionResult(out)

    def modify_capacity_reservation(self: Any) -> ActionResult:
        record = _reservations(self.ec2_backend)[self._get_param("CapacityReservationId")]
        count = self._get_param("InstanceCount")
        if count is not None:
            used = record["TotalInstanceCount"] - record["AvailableInstanceCount"]
            record["TotalInstanceCount"] = int(count)
            record["AvailableInstanceCount"] = max(0, int(count) - used)
        return ActionResult({"Return": True})

    def cancel_capacity_reservation(self: Any) -> ActionResult:
        record = _reservations(self.ec2_backend)[self._get_param("CapacityReservationId")]
        record["State"] = "cancelled"
        return ActionResult({"Return": True})

    for fn in (
        create_capacity_reservation,
        describe_capacity_reservations,
        modify_capacity_reservation,
        cancel_capacity_reservation,
    ):
        setattr(EC2Response, fn.__name__, fn)
    _installed = True


# --------------------------------------------------------------------------------------------
# The estate
# --------------------------------------------------------------------------------------------


def _log_uniform(rng: random.Random, lo: float, hi: float) -> float:
    return math.exp(rng.uniform(math.log(lo), math.log(hi)))


def _busy_usage(rng: random.Random, days: int) -> list[tuple[float, float, float]]:
    return [
        (
            round(rng.uniform(15, 70), 2),
            _log_uniform(rng, 50, 5000) * _MIB,
            _log_uniform(rng, 50, 5000) * _MIB,
        )
        for _ in range(days)
    ]


def _volume_spec(rng: random.Random, variant: str) -> dict[str, Any]:
    """Type, size, IOPS, age (days) and daily total ops (newest first) of one volume variant."""
    age = round(rng.uniform(WINDOW_DAYS + 10, 380), 3)
    if variant == "gp2_data":
        spec = {"type": "gp2", "size": int(_log_uniform(rng, 60, 1500)), "iops": None}
    elif variant == "gp2_small":
        spec = {"type": "gp2", "size": rng.randint(10, 30), "iops": None}
    elif variant == "io1_fits":
        size = rng.randint(100, 500)
        spec = {"type": "io1", "size": size, "iops": min(50 * size, rng.choice((1000, 2000, 4000, 8000)))}
    elif variant in ("io1_busy_high", "io1_over"):
        size = rng.randint(400, 1000)
        spec = {"type": "io1", "size": size, "iops": rng.randint(17000, 20000)}
    elif variant == "gp3_over":
        spec = {"type": "gp3", "size": rng.randint(200, 1000), "iops": rng.randint(8000, 12000)}
    elif variant == "gp3_iops_used":
        spec = {"type": "gp3", "size": rng.randint(200, 1000), "iops": 6000}
    else:  # the gp3 data volumes judged by their IO
        spec = {"type": "gp3", "size": int(_log_uniform(rng, 20, 800)), "iops": None}
    if variant == "gp3_young_no_io":
        age = round(rng.uniform(10, WINDOW_DAYS - 5), 3)
    days = min(WINDOW_DAYS, int(age))
    iops = spec["iops"] or 3000
    if variant in ("gp3_no_io", "gp3_young_no_io"):
        ops = [0.0] * days
    elif variant == "gp3_sparse_no_io":
        ops = [0.0] * 24  # 24 of 30 days: below the 85% coverage needed
    elif variant == "gp3_rare_io":
        ops = [0.0] * (days - 1) + [float(rng.randint(3, 40))]
        rng.shuffle(ops)
    # The volumes the IOPS rule judges: one datapoint a day that is both the day's Sum and its
    # Maximum, so its value is the day's busiest minute (IOPS x 60 s); the rule reads Maximum / 60.
    elif variant == "io1_over":
        ops = [iops * rng.uniform(0.01, 0.1) * _MINUTE for _ in range(days)]
    elif variant == "gp3_over":
        ops = [iops * rng.uniform(0.005, 0.05) * _MINUTE for _ in range(days)]
    elif variant in ("io1_busy_high", "gp3_iops_used"):
        ops = [iops * rng.uniform(0.25, 0.8) * _MINUTE for _ in range(days)]
    else:
        ops = [_log_uniform(rng, 5, 1500) * _DAY for _ in range(days)]
    spec |= {"age": age, "ops": ops}
    return spec


def _volume_cost(spec: dict[str, Any], scenario: str) -> float:
    """Rough us-east-1 monthly amount a finding is worth: only to feed the simulated decisions."""
    size, iops = spec["size"], spec["iops"] or 0
    if scenario == GP2_TO_GP3:
        return 0.02 * size
    if scenario == IO_TO_GP3:
        return 0.045 * size + 0.065 * iops - 0.005 * max(0, iops - 3000)
    if scenario == IOPS_OVER:
        return (0.065 if spec["type"] == "io1" else 0.005) * iops * 0.7
    return {"gp2": 0.1, "gp3": 0.08, "io1": 0.125}[spec["type"]] * size


def seed(ctx: SeedContext) -> list[TruthResource]:
    rng = ctx.rng("ec2_usage")
    truth: list[TruthResource] = []
    # 1. the plan, drawn before any call
    instances: list[dict[str, Any]] = []
    for variant, scenario in _INSTANCE_VARIANTS.items():
        for _ in range(ctx.count(_SHARE)):
            if variant in ("prev_gen", "prev_gen_young"):
                itype = rng.choice(_PREV_TYPES)
            elif variant == "prev_gen_no_saving":
                itype = "m3.medium"
            else:
                itype = rng.choice(_CURRENT_TYPES)
            age = (
                round(rng.uniform(3, 12), 3)
                if variant == "prev_gen_young"
                else round(rng.uniform(400, 900), 3)
            )
            instances.append(
                {
                    "variant": variant,
                    "scenario": scenario,
                    "type": itype,
                    "age": age,
                    "region": ctx.pick_region(rng),
                }
            )
    volumes: list[dict[str, Any]] = []
    for variant, scenario in _VOLUME_VARIANTS.items():
        for _ in range(ctx.count(_SHARE)):
            volumes.append(
                {
                    "variant": variant,
                    "scenario": scenario,
                    "region": ctx.pick_region(rng),
                    **_volume_spec(rng, variant),
                }
            )
    reservations: list[dict[str, Any]] = []
    for variant, scenario in _CR_VARIANTS.items():
        for _ in range(ctx.count(_SHARE)):
            total = rng.randint(5, 10) if variant in ("half_free", "one_free") else rng.randint(1, 4)
            free = {
                "unused": total,
                "unused_young": total,
                "used": 0,
                "half_free": math.ceil(total / 2) + rng.randint(0, total // 2 - 1) if total >= 4 else total,
                "one_free": 1,
            }[variant]
            age = round(rng.uniform(1, 6), 3) if variant == "unused_young" else round(rng.uniform(10, 300), 3)
            reservations.append(
                {
                    "variant": variant,
                    "scenario": scenario,
                    "type": rng.choice(_CR_TYPES),
                    "total": total,
                    "free": free,
                    "age": age,
                    "region": ctx.pick_region(rng),
                }
            )
    # every region with volumes has an old host instance (a busy current-generation one if need be)
    for region in sorted({v["region"] for v in volumes}):
        if not any(i["region"] == region and i["age"] > 380 for i in instances):
            instances.append(
                {
                    "variant": "current_gen",
                    "scenario": None,
                    "type": "m5.large",
                    "age": 500.0,
                    "region": region,
                }
            )
    for item in instances:
        item["tags"] = ctx.tags(rng, "instance")
        item["root"] = rng.choice((8, 16, 30, 50))
        item["usage"] = _busy_usage(rng, min(HISTORY_DAYS, max(1, int(item["age"]))))
        item["host_pick"] = rng.random()
    for item in volumes:
        item["tags"] = ctx.tags(rng, "volume")
        item["host_pick"] = rng.random()
    for item in reservations:
        item["tags"] = ctx.tags(rng, "capacity_reservation")
    for item in instances:
        if item["scenario"]:
            saving = _MONTH[item["type"]] * _SUCCESSOR_SAVING[item["type"].split(".")[0]]
            item["decision"] = ctx.decide(
                rng, tags=item["tags"], scenario=item["scenario"], age_days=item["age"], monthly_cost=saving
            )
    for item in volumes:
        if item["scenario"]:
            item["decision"] = ctx.decide(
                rng,
                tags=item["tags"],
                scenario=item["scenario"],
                age_days=item["age"],
                monthly_cost=_volume_cost(item, item["scenario"]),
            )
    for item in reservations:
        if item["scenario"]:
            item["decision"] = ctx.decide(
                rng,
                tags=item["tags"],
                scenario=item["scenario"],
                age_days=item["age"],
                monthly_cost=_MONTH[item["type"]] * item["free"],
            )

    # 2. per region: instances, their volumes, reservations, metric history
    for region in ctx.regions:
        truth.extend(_seed_region(ctx, region, instances, volumes, reservations))
    return truth


def _seed_region(ctx: SeedContext, region: str, instances, volumes, reservations) -> list[TruthResource]:
    here = [i for i in instances if i["region"] == region]
    if not here and not any(r["region"] == region for r in reservations):
        return []
    truth: list[TruthResource] = []
    network = ctx.networks[region]
    writer = BackendWriter(ctx.account_id, region, probe_vpc_id=network.vpc_id)
    ec2 = writer.ec2
    points: list[dict[str, Any]] = []
    hosts = []
    for n, item in enumerate(here):
        instance = writer.run_instance(
            image_id=_AMI,
            instance_type=item["type"],
            subnet_id=network.subnet_ids[n % len(network.subnet_ids)],
            disks=[("/dev/sda1", item["root"], "gp3", True)],
            tags=item["tags"],
            launched=ctx.ago(item["age"]),
        )
        item["id"] = instance.id
        truth.append(
            ctx.truth(instance.id, INSTANCE, region, item["tags"], item["scenario"], item.get("decision"))
        )
        root = instance.block_device_mapping["/dev/sda1"].volume_id
        truth.append(ctx.truth(root, VOLUME, region, item["tags"]))
        for day, (cpu, net_in, net_out) in enumerate(item["usage"]):
            for metric, value, unit in (
                ("CPUUtilization", cpu, "Percent"),
                ("NetworkIn", net_in, "Bytes"),
                ("NetworkOut", net_out, "Bytes"),
            ):
                points.append(_point(ctx, metric, "InstanceId", instance.id, day, value, unit))
        if item["age"] > 380:
            hosts.append((instance, [0]))
    writer.put_metric_data("AWS/EC2", points)

    ebs_points: list[dict[str, Any]] = []
    for item in (v for v in volumes if v["region"] == region):
        instance, used = hosts[int(item["host_pick"] * len(hosts))]
        created = ctx.ago(item["age"])
        volume = writer.create_volume(
            zone=instance._placement.zone,
            size=item["size"],
            volume_type=item["type"],
            iops=item["iops"],
            tags=item["tags"],
            created=created,
        )
        device = _DEVICES[used[0] % len(_DEVICES)] if used[0] < len(_DEVICES) else None
        if device is None:
            raise RuntimeError("too many volumes on one simulated host")
        used[0] += 1
        ec2.attach_volume(volume.id, instance.id, device)
        volume.attachment.attach_time = naive(created + timedelta(minutes=5))
        truth.append(
            ctx.truth(volume.id, VOLUME, region, item["tags"], item["scenario"], item.get("decision"))
        )
        for day, ops in enumerate(item["ops"]):
            read = round(ops * 0.6)
            for metric, value in (("VolumeReadOps", read), ("VolumeWriteOps", round(ops) - read)):
                ebs_points.append(_point(ctx, metric, "VolumeId", volume.id, day, value, "Count"))
    writer.put_metric_data("AWS/EBS", ebs_points)

    client = ctx.client("ec2", region)
    store = capacity_reservations(ec2)
    for n, item in enumerate(r for r in reservations if r["region"] == region):
        made = client.create_capacity_reservation(
            InstanceType=item["type"],
            InstancePlatform="Linux/UNIX",
            AvailabilityZone=network.zones[n % len(network.zones)],
            InstanceCount=item["total"],
            TagSpecifications=[
                {
                    "ResourceType": "capacity-reservation",
                    "Tags": [{"Key": k, "Value": v} for k, v in item["tags"].items()],
                }
            ],
        )["CapacityReservation"]
        record = store[made["CapacityReservationId"]]
        record["CreateDate"] = record["StartDate"] = naive(ctx.ago(item["age"]))
        record["AvailableInstanceCount"] = item["free"]
        truth.append(
            ctx.truth(
                made["CapacityReservationId"],
                CAPACITY_RESERVATION,
                region,
                item["tags"],
                item["scenario"],
                item.get("decision"),
            )
        )
    return truth


def _point(ctx: SeedContext, metric: str, dimension: str, value_id: str, day: int, value: float, unit: str):
    return {
        "MetricName": metric,
        "Dimensions": [{"Name": dimension, "Value": value_id}],
        "Timestamp": naive(ctx.now - timedelta(days=day, hours=1)),
        "Value": float(value),
        "Unit": unit,
    }


# --------------------------------------------------------------------------------------------
# What users do between two scans
# --------------------------------------------------------------------------------------------


def _cancel_reservation(clients: Any, reservation_id: str, _now: datetime) -> None:
    clients.ec2.cancel_capacity_reservation(CapacityReservationId=reservation_id)


def _fix_reservation(clients: Any, reservation_id: str, _now: datetime) -> None:
    """Cut the reservation to the instances that use it (cancelled when none does)."""
    record = clients.ec2.describe_capacity_reservations(CapacityReservationIds=[reservation_id])[
        "CapacityReservations"
    ][0]
    used = record["TotalInstanceCount"] - record["AvailableInstanceCount"]
    if used <= 0:
        clients.ec2.cancel_capacity_reservation(CapacityReservationId=reservation_id)
    else:
        clients.ec2.modify_capacity_reservation(CapacityReservationId=reservation_id, InstanceCount=used)


SERVICE = ServiceEstate(
    name="ec2_usage",
    seed=seed,
    actions={
        (CAPACITY_RESERVATION, "delete"): _cancel_reservation,
        (CAPACITY_RESERVATION, "fix"): _fix_reservation,
    },
    doc=__doc__ or "",
)
