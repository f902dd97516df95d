"""EC2 rules: instances (stopped, idle, of a previous generation) and capacity reservations."""

from __future__ import annotations

import math
from decimal import Decimal

from cloudwaste.scanner.domain import Detection, Resource
from cloudwaste.scanner.rules import Context, Fixtures, Metric, Param, Series, age_days, attach_fixtures, rule
from cloudwaste.scanner.rules.aws._common import NOW as _NOW
from cloudwaste.scanner.rules.aws._common import days_ago, res, rounded, stopped_days

# --- ec2-instance-stopped ---------------------------------------------------------------------------


@rule(
    key="ec2-instance-stopped",
    provider="aws",
    resource_kind="aws.ec2.instance",
    title="EC2 instance stopped for a long time",
    permissions=("ec2:DescribeInstances", "ec2:DescribeVolumes"),
    params={"min_stopped_days": Param(float, 30.0, "Stopped at least this long.", 1)},
    confidence_doc="HIGH after 90 days stopped, else MEDIUM.",
)
def ec2_instance_stopped(r: Resource, p, ctx: Context) -> Detection | None:
    """A long-stopped instance is likely abandoned. Its compute costs nothing while stopped; its EBS
    volumes still bill, and each is a finding of its own (`ebs-volume-on-stopped-instance`) whose
    parent is this one, so this finding costs $0 and the machine's total is the sum of its parts."""
    days_stopped = stopped_days(r, ctx)
    if days_stopped is None or days_stopped < p["min_stopped_days"]:
        return None
    volumes = r.attributes.get("attached_volumes", [])
    return Detection(
        scenario="ec2-instance-stopped",
        confidence="HIGH" if days_stopped >= 90 else "MEDIUM",
        monthly_cost=Decimal(0),
        evidence={
            "state": "stopped",
            "stopped_days": rounded(days_stopped),
            "instance_type": r.attributes.get("instance_type"),
            "attached_volume_count": len(volumes),
            "attached_volume_gb": sum(v["size_gb"] for v in volumes),
        },
    )


# --- ec2-instance-idle ------------------------------------------------------------------------------

CPU = Metric("cpu_average", "AWS/EC2", "CPUUtilization", "InstanceId", "Average")
NET_IN = Metric("network_in", "AWS/EC2", "NetworkIn", "InstanceId", "Sum")
NET_OUT = Metric("network_out", "AWS/EC2", "NetworkOut", "InstanceId", "Sum")
MB = 1024 * 1024


def _running_for_the_window(r: Resource, p, ctx: Context) -> bool:
    """A running instance launched at least a window ago (a younger one is never called idle)."""
    age = age_days(r.created_at, ctx.now)
    return r.attributes.get("state") == "running" and age is not None and age >= p["window_days"]


def idle_verdict(r: Resource, p, ctx: Context) -> tuple[Series, Series, Series, list[float], bool] | None:
    """The idle test of `ec2-instance-idle` with parameters `p` (window_days, max_cpu_percent,
    max_network_mb_per_day, min_coverage): (cpu, network in, network out, daily MiB, complete)
    when the instance is idle, else None (not running for the window, series missing or too
    sparse, or busy on a day)."""
    if not _running_for_the_window(r, p, ctx):
        return None
    days = math.ceil(p["window_days"])
    cpu, net_in, net_out = (ctx.metric(r, m.name, days) for m in (CPU, NET_IN, NET_OUT))
    if cpu is None or net_in is None or net_out is None:
        return None
    if min(cpu.coverage, net_in.coverage, net_out.coverage) < p["min_coverage"]:
        return None
    if (cpu.peak or 0.0) > p["max_cpu_percent"]:
        return None
    daily_net = _daily_network_mb(net_in, net_out)
    if max(daily_net, default=0.0) > p["max_network_mb_per_day"]:
        return None
    complete = min(cpu.got, net_in.got, net_out.got) >= days
    return cpu, net_in, net_out, daily_net, complete


@rule(
    key="ec2-instance-idle",
    provider="aws",
    resource_kind="aws.ec2.instance",
    title="EC2 instance running but idle (CPU and network both low)",
    permissions=("ec2:DescribeInstances", "ec2:DescribeVolumes", "cloudwatch:GetMetricData"),
    params={
        "window_days": Param(
            float, 14.0, "Days of CloudWatch history judged (the instance must be that old).", 2
        ),
        "max_cpu_percent": Param(float, 10.0, "Every day's average CPU at most this.", 0),
        "max_network_mb_per_day": Param(float, 5.0, "Every day's network in + out at most this many MiB.", 0),
        "min_coverage": Param(
            float, 0.85, "Share of the window's days that must have datapoints (else: not judged).", 0.1
        ),
    },
    confidence_doc="HIGH when every day of the window has data and CPU never averaged above 2%; "
    "MEDIUM otherwise (a few days missing, or CPU up to the threshold).",
    metrics=(CPU, NET_IN, NET_OUT),
    candidate=_running_for_the_window,
)
def ec2_instance_idle(r: Resource, p, ctx: Context) -> Detection | None:
    """A running instance whose daily average CPU stayed at or below 10% AND whose network in + out
    stayed at or below 5 MiB a day, every day of the last 14 days, does no work but bills for its
    compute. Defaults after AWS Trusted Advisor's "Low Utilization Amazon EC2 Instances" check
    (daily CPU <= 10% and network I/O <= 5 MB over 14 days). Both signals are needed: near-zero CPU
    with gigabytes of traffic is a proxy or a NAT instance at work, not idle. Missing days are not
    zeros: below `min_coverage` of the window the instance is not judged at all."""
    verdict = idle_verdict(r, p, ctx)
    if verdict is None:
        return None
    cpu, net_in, net_out, daily_net, complete = verdict
    days = math.ceil(p["window_days"])
    price = ctx.prices.ec2_instance(r.attributes.get("instance_type", ""))
    evidence = {
        "instance_type": r.attributes.get("instance_type"),
        "window_days": days,
        "cpu_average_percent": cpu.evidence("percent"),
        "network_mb_per_day_peak": round(max(daily_net, default=0.0), 3),
        "network_in": net_in.evidence("bytes"),
        "network_out": net_out.evidence("bytes"),
        "age_days": rounded(age_days(r.created_at, ctx.now)),
        **ctx.prices.evidence(),
    }
    if price is None:
        evidence["price"] = "unknown instance type: priced at 0"
    return Detection(
        scenario="ec2-instance-idle",
        confidence="HIGH" if complete and (cpu.peak or 0.0) <= 2.0 else "MEDIUM",
        monthly_cost=price if price is not None else Decimal(0),
        evidence=evidence,
    )


def _daily_network_mb(net_in: Series, net_out: Series) -> list[float]:
    """In + out per day, in MiB. The two series are aligned from their newest day (both daily,
    both ending now); a day present in one only counts that one."""
    days = max(net_in.got, net_out.got)
    pad = lambda s: (0.0,) * (days - s.got) + s.values  # noqa: E731
    return [(a + b) / MB for a, b in zip(pad(net_in), pad(net_out), strict=True)]


# --- ec2-instance-previous-generation ----------------------------------------------------------

# Previous-generation families (AWS's "Previous generation instances" page, plus T2, which Steampipe
# Thrifty's ec2_instance_older_generation flags as T3 is cheaper) -> the current-generation family
# of the same purpose and architecture (x86: no rebuild needed).
PREVIOUS_GENERATION: dict[str, str] = {
    "t1": "t3",
    "t2": "t3",
    "m1": "m5",
    "m2": "r5",
    "m3": "m5",
    "m4": "m5",
    "c1": "c5",
    "c3": "c5",
    "c4": "c5",
    "cc2": "c5",
    "r3": "r5",
    "r4": "r5",
    "cr1": "r5",
    "i2": "i3",
    "hi1": "i3",
    "hs1": "d3",
    "g2": "g4dn",
    "g3": "g4dn",
    "g3s": "g4dn",
    "p2": "p3",
}
# Sizes the successor family does not have: the nearest current type with at least as many vCPUs
# and as much memory.
PREVIOUS_GENERATION_SIZES: dict[str, str] = {
    "m1.small": "t3.small",
    "m1.medium": "t3.medium",
    "m2.xlarge": "r5.large",
    "m2.2xlarge": "r5.xlarge",
    "m2.4xlarge": "r5.2xlarge",
    "m3.medium": "m5.large",
    "m4.10xlarge": "m5.12xlarge",
    "c1.medium": "c5.large",
    "c1.xlarge": "c5.2xlarge",
    "c3.8xlarge": "c5.9xlarge",
    "c4.8xlarge": "c5.9xlarge",
    "cc2.8xlarge": "c5.9xlarge",
    "cr1.8xlarge": "r5.8xlarge",
    "hi1.4xlarge": "i3.4xlarge",
    "g2.2xlarge": "g4dn.2xlarge",
    "g2.8xlarge": "g4dn.12xlarge",
    "p2.xlarge": "p3.2xlarge",
}


def current_generation_of(instance_type: str) -> str | None:
    """The current-generation equivalent of a previous-generation type; None for any other type."""
    family, _, size = instance_type.partition(".")
    if family not in PREVIOUS_GENERATION or not size:
        return None
    return PREVIOUS_GENERATION_SIZES.get(instance_type, f"{PREVIOUS_GENERATION[family]}.{size}")


def _previous_generation_running(r: Resource) -> bool:
    return (
        r.attributes.get("state") == "running"
        and current_generation_of(r.attributes.get("instance_type") or "") is not None
    )


def _prev_gen_candidate(r: Resource, p, ctx: Context) -> bool:
    """A running previous-generation instance old enough for the idle test (its usage is read only
    to leave the idle ones to `ec2-instance-idle`)."""
    return _previous_generation_running(r) and _running_for_the_window(r, p, ctx)


@rule(
    key="ec2-instance-previous-generation",
    provider="aws",
    resource_kind="aws.ec2.instance",
    title="EC2 instance of a previous generation that a current one replaces for less",
    permissions=("ec2:DescribeInstances", "ec2:DescribeVolumes", "cloudwatch:GetMetricData"),
    params={
        "min_monthly_saving": Param(
            float, 1.0, "Report an instance only when the move saves at least this much per month (USD).", 0
        ),
        "window_days": Param(
            float, 14.0, "As ec2-instance-idle's: an instance idle over this window is left to it.", 2
        ),
        "max_cpu_percent": Param(float, 10.0, "As ec2-instance-idle's (the idle test).", 0),
        "max_network_mb_per_day": Param(float, 5.0, "As ec2-instance-idle's (the idle test).", 0),
        "min_coverage": Param(float, 0.85, "As ec2-instance-idle's (the idle test).", 0.1),
    },
    confidence_doc="HIGH when both on-demand prices are known (the saving is the list-price "
    "difference; the current type is also faster); LOW when a price is unknown (reported at $0, "
    "the evidence says which).",
    metrics=(CPU, NET_IN, NET_OUT),
    candidate=_prev_gen_candidate,
)
def ec2_instance_previous_generation(r: Resource, p, ctx: Context) -> Detection | None:
    """An optimization finding: a running instance of a previous-generation family (t1, t2, m1-m4,
    c1, c3, c4, r3, r4, i2, g2, g3, p2, ...) costs more than its current-generation equivalent of
    the same size (t2 -> t3, m4 -> m5, c4 -> c5, r4 -> r5, ...), which is also faster.
    `monthly_cost` is the on-demand saving (730 hours). Not reported when the current equivalent
    costs more (m3.medium has no cheaper successor) or saves less than `min_monthly_saving`.

    Defaults: the families after AWS's previous-generation list and Steampipe Thrifty's
    ec2_instance_older_generation (t2, m3, m4); `min_monthly_saving` $1, common FinOps practice
    (below it, a restart is not worth it).

    An instance `ec2-instance-idle` flags is not reported here: an idle instance's finding is its
    whole price, not a cheaper type. This rule applies the same idle test (its own window and
    thresholds, equal to ec2-instance-idle's by default: keep them equal when overriding either)
    and leaves the idle ones alone; a running instance younger than the window is never idle, and
    one without enough CloudWatch data is not judged idle, so both are judged here."""
    if not _previous_generation_running(r):
        return None
    if idle_verdict(r, p, ctx) is not None:
        return None
    instance_type = r.attributes["instance_type"]
    target = current_generation_of(instance_type)
    now_price, target_price = ctx.prices.ec2_instance(instance_type), ctx.prices.ec2_instance(target)
    evidence = {
        "finding_type": "optimization",
        "instance_type": instance_type,
        "current_generation_type": target,
        "age_days": rounded(age_days(r.created_at, ctx.now)),
        **ctx.prices.evidence(),
    }
    if now_price is None or target_price is None:
        unknown = [t for t, price in ((instance_type, now_price), (target, target_price)) if price is None]
        evidence["price"] = f"unknown for {', '.join(unknown)}: priced at 0"
        return Detection("ec2-instance-previous-generation", "LOW", Decimal(0), evidence)
    saving = now_price - target_price
    if saving <= 0 or saving < Decimal(str(p["min_monthly_saving"])):
        return None
    evidence |= {
        "monthly_cost_now": float(now_price),
        "monthly_cost_current_generation": float(target_price),
        "monthly_saving": float(saving),
    }
    return Detection("ec2-instance-previous-generation", "HIGH", saving, evidence)


# --- ec2-capacity-reservation-unused -----------------------------------------------------------


@rule(
    key="ec2-capacity-reservation-unused",
    provider="aws",
    resource_kind="aws.ec2.capacity_reservation",
    title="On-Demand Capacity Reservation paid for but not used",
    permissions=("ec2:DescribeCapacityReservations",),
    params={
        "min_age_days": Param(
            float, 7.0, "Active at least this long (a new reservation is filled as instances launch).", 0
        ),
        "min_unused_share": Param(
            float,
            0.5,
            "Also report a partly used reservation when at least this share of its instances is free.",
            0.01,
        ),
    },
    confidence_doc="HIGH when no instance uses the reservation at all; MEDIUM when it is partly used "
    "(the free share may be headroom someone wants). LOW when the instance price is unknown "
    "(reported at $0).",
)
def ec2_capacity_reservation_unused(r: Resource, p, ctx: Context) -> Detection | None:
    """An active On-Demand Capacity Reservation bills every reserved instance at the on-demand rate
    whether an instance runs in it or not. One whose instances are all free
    (AvailableInstanceCount == TotalInstanceCount), or whose free share is at least
    `min_unused_share`, after `min_age_days` active, pays for capacity nobody uses:
    `monthly_cost` = free instances x the type's on-demand hourly price x 730 (Linux price; other
    platforms cost more, so it is a lower bound). Cancelling the reservation (or cutting its count
    to what runs in it) saves it. Capacity Blocks for ML (paid upfront) are not judged, nor the
    reservations other accounts share with this one (the listing keeps those whose unused
    capacity this account pays for).

    Defaults, common FinOps practice: 7 days (a reservation made for a launch is filled within
    hours or days; a week empty is not a launch in progress); 50% free for a partly used one (less
    is headroom, not waste)."""
    if r.attributes.get("state") != "active" or r.attributes.get("reservation_type", "default") != "default":
        return None
    total, free = r.attributes.get("total_instance_count"), r.attributes.get("available_instance_count")
    if not isinstance(total, int) or not isinstance(free, int) or total <= 0 or free <= 0:
        return None
    since = r.attributes.get("start_date") or r.created_at
    age = age_days(since, ctx.now)
    if age is None or age < p["min_age_days"]:
        return None
    unused = free >= total
    share = min(1.0, free / total)
    if not unused and share < p["min_unused_share"]:
        return None
    instance_type = r.attributes.get("instance_type") or ""
    hourly_month = ctx.prices.ec2_instance(instance_type)
    evidence = {
        "state": "active",
        "instance_type": instance_type,
        "instance_platform": r.attributes.get("instance_platform"),
        "total_instance_count": total,
        "available_instance_count": free,
        "unused_share": round(share, 4),
        "active_days": rounded(age),
        "end_date_type": r.attributes.get("end_date_type"),
        **ctx.prices.evidence(),
    }
    if hourly_month is None:
        evidence["price"] = "unknown instance type: priced at 0"
        return Detection("ec2-capacity-reservation-unused", "LOW", Decimal(0), evidence)
    evidence["price_basis"] = "on-demand Linux/UNIX, 730 hours a month, per free instance"
    return Detection(
        scenario="ec2-capacity-reservation-unused",
        confidence="HIGH" if unused else "MEDIUM",
        monthly_cost=hourly_month * free,
        evidence=evidence,
    )


# --- fixtures: one resource that fires and one near miss per rule ---------------------------------

_DISKS = [{"volume_id": "vol-9", "size_gb": 50, "volume_type": "gp2", "iops": None}]
attach_fixtures(
    "ec2-instance-stopped",
    Fixtures(
        fires=res(
            "aws.ec2.instance",
            "i-1",
            200,
            state="stopped",
            stopped_since=days_ago(45),
            instance_type="m5.large",
            attached_volumes=_DISKS,
        ),
        silent=res(
            "aws.ec2.instance",
            "i-2",
            200,
            state="stopped",
            stopped_since=days_ago(29),
            instance_type="m5.large",
            attached_volumes=_DISKS,
        ),
        now=_NOW,
    ),
)

_IDLE_CPU = Series((0.8, 1.1, 0.6, 0.9, 1.4, 0.7, 0.5, 0.9, 1.0, 0.8, 0.6, 0.7, 1.2, 0.9), 14)
_LOW_NET = Series((0.4 * MB,) * 14, 14)
_BUSY_NET = Series((0.4 * MB,) * 13 + (2048.0 * MB,), 14)  # a proxy: near-zero CPU, GBs a day
attach_fixtures(
    "ec2-instance-idle",
    Fixtures(
        fires=res("aws.ec2.instance", "i-idle", 60, state="running", instance_type="m5.large"),
        silent=res("aws.ec2.instance", "i-proxy", 60, state="running", instance_type="m5.large"),
        now=_NOW,
        series={
            ("i-idle", "cpu_average", 14): _IDLE_CPU,
            ("i-idle", "network_in", 14): _LOW_NET,
            ("i-idle", "network_out", 14): _LOW_NET,
            ("i-proxy", "cpu_average", 14): _IDLE_CPU,
            ("i-proxy", "network_in", 14): _LOW_NET,
            ("i-proxy", "network_out", 14): _BUSY_NET,
        },
    ),
)

_BUSY_CPU = Series((35.0,) * 14, 14)
_BUSY_NET_DAY = Series((900.0 * MB,) * 14, 14)
attach_fixtures(
    "ec2-instance-previous-generation",
    Fixtures(
        fires=res("aws.ec2.instance", "i-m4", 200, state="running", instance_type="m4.large"),
        # the near miss: busy, previous generation, but its successor (m5.large) costs more
        silent=res("aws.ec2.instance", "i-m3", 200, state="running", instance_type="m3.medium"),
        now=_NOW,
        series={
            ("i-m4", "cpu_average", 14): _BUSY_CPU,
            ("i-m4", "network_in", 14): _BUSY_NET_DAY,
            ("i-m4", "network_out", 14): _BUSY_NET_DAY,
            ("i-m3", "cpu_average", 14): _BUSY_CPU,
            ("i-m3", "network_in", 14): _BUSY_NET_DAY,
            ("i-m3", "network_out", 14): _BUSY_NET_DAY,
        },
    ),
)
_ODCR = {
    "state": "active",
    "instance_type": "m5.large",
    "instance_platform": "Linux/UNIX",
    "total_instance_count": 2,
}
attach_fixtures(
    "ec2-capacity-reservation-unused",
    Fixtures(
        fires=res("aws.ec2.capacity_reservation", "cr-1", 20, available_instance_count=2, **_ODCR),
        # the near miss: as unused, but active for 6 days only
        silent=res("aws.ec2.capacity_reservation", "cr-2", 6, available_instance_count=2, **_ODCR),
        now=_NOW,
    ),
)
