"""VM instance rules: an instance stopped (TERMINATED) for a long time, the parent of its disks'
and static IPs' findings; a running instance that does nothing; a running instance much bigger
than its load. One finding per instance: a stopped one is judged by the first rule only, a
running one by the idle rule, else by the underused rule."""

from __future__ import annotations

import math
import re
from decimal import Decimal

from cloudwaste.scanner.domain import Detection, Resource
from cloudwaste.scanner.rules import (
    REGISTRY,
    Context,
    Fixtures,
    Metric,
    Param,
    Series,
    age_days,
    attach_fixtures,
    rule,
)
from cloudwaste.scanner.rules.gcp._common import NOW, days_ago, path, res, rounded
from cloudwaste.scanner.rules.gcp._compute import INSTANCE, machine_monthly, stopped_days

# --- gcp-instance-terminated-long ------------------------------------------------------------------


@rule(
    key="gcp-instance-terminated-long",
    provider="gcp",
    resource_kind=INSTANCE,
    title="VM instance stopped (TERMINATED) for a long time",
    permissions=("compute.instances.list",),
    params={"min_stopped_days": Param(float, 30.0, "Stopped (TERMINATED) at least this long.", 1)},
    confidence_doc="HIGH after 90 days stopped, else MEDIUM.",
)
def instance_terminated_long(r: Resource, p, ctx: Context) -> Detection | None:
    """An instance stopped (status TERMINATED) for 30 days or more is likely abandoned. Compute
    Engine bills no vCPU or memory while it is stopped, but its persistent disks and the static
    external IPs assigned to it still bill: each is a finding of its own
    (`gcp-disk-of-terminated-instance`, `gcp-address-on-stopped-instance`) whose parent is this
    one, so this finding costs $0 and the machine's total is the sum of its parts.

    How long: since `lastStopTimestamp` (an instance without one is not judged). Default
    `min_stopped_days` 30, as Steampipe's Thrifty mod for GCP (compute instances stopped for
    more than 30 days) and AWS's equivalent rule (`ec2-instance-stopped`)."""
    days = stopped_days(r, ctx)
    if days is None or days < p["min_stopped_days"]:
        return None
    disks = r.attributes.get("disks") or []
    return Detection(
        scenario="gcp-instance-terminated-long",
        confidence="HIGH" if days >= 90 else "MEDIUM",
        monthly_cost=Decimal(0),
        evidence={
            "status": "TERMINATED",
            "stopped_days": rounded(days),
            "machine_type": r.attributes.get("machine_type"),
            "attached_disk_count": len(disks),
            "attached_disk_gb": sum(int(d.get("size_gb") or 0) for d in disks),
            "external_ip_count": len(r.attributes.get("nat_ips") or []),
            "monthly_cost_note": "no compute is billed while stopped; its disks and static IPs "
            "bill and are findings of their own, parts of this one",
            **ctx.prices.evidence(r.region, "compute"),
        },
    )


# --- gcp-instance-idle -----------------------------------------------------------------------------

_GCE = "gce_instance"
# compute.googleapis.com/instance/cpu/utilization is a fraction of the instance's vCPUs (0..1)
CPU = Metric(
    "cpu_mean",
    _GCE,
    "compute.googleapis.com/instance/cpu/utilization",
    "instance_id",
    "ALIGN_MEAN",
    dimension_attribute="instance_id",
)
CPU_MAX = Metric(
    "cpu_max",
    _GCE,
    "compute.googleapis.com/instance/cpu/utilization",
    "instance_id",
    "ALIGN_MAX",
    dimension_attribute="instance_id",
)
NET_IN = Metric(
    "received_bytes",
    _GCE,
    "compute.googleapis.com/instance/network/received_bytes_count",
    "instance_id",
    "ALIGN_SUM",
    dimension_attribute="instance_id",
)
NET_OUT = Metric(
    "sent_bytes",
    _GCE,
    "compute.googleapis.com/instance/network/sent_bytes_count",
    "instance_id",
    "ALIGN_SUM",
    dimension_attribute="instance_id",
)
SECONDS_A_DAY = 86400


def _running_for_the_window(r: Resource, p, ctx: Context) -> bool:
    """A RUNNING instance created at least a window ago (a younger one is never judged)."""
    age = age_days(r.created_at, ctx.now)
    return (
        r.attributes.get("status") == "RUNNING"
        and bool(r.attributes.get("instance_id"))
        and age is not None
        and age >= p["window_days"]
    )


def _aligned(a: Series, b: Series) -> list[tuple[float, float]]:
    """Two daily series side by side, aligned from their newest day; a missing day is 0."""
    days = max(a.got, b.got)
    pad = lambda s: (0.0,) * (days - s.got) + s.values  # noqa: E731
    return list(zip(pad(a), pad(b), strict=True))


def idle_verdict(r: Resource, p, ctx: Context) -> tuple[Series, Series, Series, Series, bool] | None:
    """The test of `gcp-instance-idle` with parameters `p`: (cpu mean, cpu max, received, sent,
    complete) when the instance is idle, else None (not running for the window, a series missing
    or too sparse, or busy on a day)."""
    if not _running_for_the_window(r, p, ctx):
        return None
    days = math.ceil(p["window_days"])
    series = [ctx.metric(r, m.name, days) for m in (CPU, CPU_MAX, NET_IN, NET_OUT)]
    if any(s is None for s in series):
        return None
    cpu, cpu_max, rx, tx = series
    if min(s.coverage for s in series) < p["min_coverage"]:
        return None
    if (cpu.peak or 0.0) * 100 > p["max_cpu_percent"] or (cpu_max.peak or 0.0) * 100 > p[
        "max_cpu_peak_percent"
    ]:
        return None
    for received, sent in _aligned(rx, tx):
        if received / SECONDS_A_DAY > p["max_received_bytes_per_second"]:
            return None
        if sent / SECONDS_A_DAY > p["max_sent_bytes_per_second"]:
            return None
    complete = min(s.got for s in series) >= days
    return cpu, cpu_max, rx, tx, complete


def _price(r: Resource, ctx: Context) -> tuple[Decimal, dict]:
    machine_type = r.attributes.get("machine_type") or ""
    price = machine_monthly(ctx, r.region, machine_type)
    if price is None:
        return Decimal(0), {"cost_unknown": f"no list price for machine type {machine_type or '?'}"}
    return price, {}


_IDLE_PARAMS = {
    "window_days": Param(
        float, 14.0, "Days of Cloud Monitoring history judged (the instance must be that old).", 2
    ),
    "max_cpu_percent": Param(
        float, 3.0, "Every day's mean CPU utilization at most this (percent of its vCPUs).", 0
    ),
    "max_cpu_peak_percent": Param(
        float, 20.0, "Every day's highest CPU utilization sample at most this (no daily batch job).", 0
    ),
    "max_received_bytes_per_second": Param(
        float, 2600.0, "Every day's average bytes received per second at most this.", 0
    ),
    "max_sent_bytes_per_second": Param(
        float, 1000.0, "Every day's average bytes sent per second at most this.", 0
    ),
    "min_coverage": Param(
        float, 0.85, "Share of the window's days that must have datapoints (else: not judged).", 0.1
    ),
}


@rule(
    key="gcp-instance-idle",
    provider="gcp",
    resource_kind=INSTANCE,
    title="VM instance running but idle (CPU and network both low)",
    permissions=("compute.instances.list", "monitoring.timeSeries.list"),
    params=_IDLE_PARAMS,
    confidence_doc="HIGH when every day of the window has data and mean CPU never went above 1%; "
    "MEDIUM otherwise (a few days missing, or CPU up to the threshold).",
    metrics=(CPU, CPU_MAX, NET_IN, NET_OUT),
    candidate=_running_for_the_window,
)
def instance_idle(r: Resource, p, ctx: Context) -> Detection | None:
    """A RUNNING instance that did no work for the last 14 days bills its machine type every hour.
    Idle means, every day of the window: mean CPU utilization at most 3% and no sample above 20%
    (Cloud Monitoring's compute.googleapis.com/instance/cpu/utilization, daily ALIGN_MEAN and
    ALIGN_MAX), and on average at most 2,600 bytes/s received and 1,000 bytes/s sent
    (instance/network/received_bytes_count and sent_bytes_count, daily ALIGN_SUM / 86,400).
    Defaults after Google's idle VM recommender (google.compute.instance.IdleResourceRecommender:
    CPU below 0.03 vCPU, received under 2,600 B/s and sent under 1,000 B/s for most of an
    observation period of up to 14 days); both signals are needed, since near-zero CPU with
    traffic is a proxy or a NAT instance at work. Missing days are not zeros: below
    `min_coverage` of the window the instance is not judged. The cost is the machine type's
    on-demand price for 730 hours (no committed-use or sustained-use discount)."""
    verdict = idle_verdict(r, p, ctx)
    if verdict is None:
        return None
    cpu, cpu_max, rx, tx, complete = verdict
    cost, unknown = _price(r, ctx)
    return Detection(
        scenario="gcp-instance-idle",
        confidence="HIGH" if complete and (cpu.peak or 0.0) * 100 <= 1.0 else "MEDIUM",
        monthly_cost=cost,
        evidence={
            "status": "RUNNING",
            "machine_type": r.attributes.get("machine_type"),
            "window_days": math.ceil(p["window_days"]),
            "cpu_mean_fraction": cpu.evidence("fraction of vCPUs"),
            "cpu_max_fraction": cpu_max.evidence("fraction of vCPUs"),
            "received_bytes": rx.evidence("bytes"),
            "sent_bytes": tx.evidence("bytes"),
            "age_days": rounded(age_days(r.created_at, ctx.now)),
            **unknown,
            **ctx.prices.evidence(r.region, "compute"),
        },
    )


# --- gcp-instance-underused ------------------------------------------------------------------------

# Predefined machine types whose last number is their vCPU count ("n2-standard-8": 8 vCPUs).
_SIZED = re.compile(r"^(e2|n1|n2|n2d|c2|c2d|c3|n4|t2d)-(standard|highmem|highcpu)-(\d+)$")


def vcpus_of(machine_type: str) -> int | None:
    m = _SIZED.match(machine_type or "")
    return int(m.group(3)) if m else None


@rule(
    key="gcp-instance-underused",
    provider="gcp",
    resource_kind=INSTANCE,
    title="VM instance much bigger than its load (rightsizing)",
    permissions=("compute.instances.list", "monitoring.timeSeries.list"),
    params={
        "window_days": Param(
            float, 14.0, "Days of Cloud Monitoring history judged (the instance must be that old).", 2
        ),
        "max_cpu_peak_percent": Param(
            float, 20.0, "Every day's highest CPU utilization sample below this.", 0
        ),
        "min_vcpus": Param(
            int, 4, "Only machine types with at least this many vCPUs (halving leaves 2 or more).", 2
        ),
        "min_coverage": Param(
            float, 0.85, "Share of the window's days that must have datapoints (else: not judged).", 0.1
        ),
    },
    confidence_doc="MEDIUM when every day of the window has data (memory is not measured: a "
    "memory-bound workload may need its size); LOW with days missing.",
    metrics=(CPU, CPU_MAX, NET_IN, NET_OUT),
    candidate=_running_for_the_window,
)
def instance_underused(r: Resource, p, ctx: Context) -> Detection | None:
    """An optimization finding, not idle waste: a RUNNING predefined machine of 4 vCPUs or more
    whose CPU utilization never reached 20% on any day of the last 14 (daily ALIGN_MAX of
    compute.googleapis.com/instance/cpu/utilization) would run on half its vCPUs: the next
    smaller size of the same family. `monthly_cost` is the saving, half the machine's on-demand
    price. Default after Steampipe's Thrifty mod for GCP, which calls an instance's CPU low under
    20% average, and Google's machine type recommender, which proposes a smaller type when the
    peak stays low. An idle instance (`gcp-instance-idle` with its default thresholds) is left to
    that rule, which counts the whole price; an instance is flagged once."""
    vcpus = vcpus_of(r.attributes.get("machine_type") or "")
    if vcpus is None or vcpus < p["min_vcpus"] or not _running_for_the_window(r, p, ctx):
        return None
    days = math.ceil(p["window_days"])
    cpu_max = ctx.metric(r, CPU_MAX.name, days)
    if cpu_max is None or cpu_max.coverage < p["min_coverage"] or cpu_max.peak is None:
        return None
    if cpu_max.peak * 100 >= p["max_cpu_peak_percent"]:
        return None
    idle = {**REGISTRY.rules["gcp-instance-idle"].resolve_params(), "window_days": p["window_days"]}
    if idle_verdict(r, idle, ctx) is not None:
        return None
    cost, unknown = _price(r, ctx)
    return Detection(
        scenario="gcp-instance-underused",
        confidence="MEDIUM" if cpu_max.got >= days else "LOW",
        monthly_cost=(cost / 2).quantize(Decimal("0.0001")),
        evidence={
            "status": "RUNNING",
            "machine_type": r.attributes.get("machine_type"),
            "vcpus": vcpus,
            "suggested_vcpus": vcpus // 2,
            "window_days": days,
            "cpu_max_fraction": cpu_max.evidence("fraction of vCPUs"),
            "machine_monthly_price": str(cost),
            **unknown,
            **ctx.prices.evidence(r.region, "compute"),
        },
    )


# --- fixtures ----------------------------------------------------------------------------------------

_Z = "zones/europe-west1-b"


def _stopped(name: str, days: float) -> Resource:
    return res(
        INSTANCE,
        path(_Z, "instances", name),
        400,
        status="TERMINATED",
        machine_type="n2-standard-4",
        instance_id="1001",
        last_stop=days_ago(days),
        disks=[{"source": path(_Z, "disks", name), "size_gb": 100}],
        nat_ips=[],
    )


attach_fixtures(
    "gcp-instance-terminated-long",
    Fixtures(fires=_stopped("old-vm", 45), silent=_stopped("weekend-vm", 29), now=NOW),
)


def _running(name: str, iid: str, machine_type: str = "n2-standard-4") -> Resource:
    return res(
        INSTANCE,
        path(_Z, "instances", name),
        60,
        status="RUNNING",
        machine_type=machine_type,
        instance_id=iid,
    )


def _s(*values: float) -> Series:
    return Series(tuple(values), 14)


_IDLE = {
    "cpu_mean": _s(*[0.005] * 14),
    "cpu_max": _s(*[0.04] * 14),
    "received_bytes": _s(*[2e6] * 14),
    "sent_bytes": _s(*[1e6] * 14),
}
_PROXY = {**_IDLE, "sent_bytes": _s(*[1e6] * 13, 5e9)}  # a proxy: near-zero CPU, GBs a day
_MODEST = {  # works every day, but never above 12%
    "cpu_mean": _s(*[0.06] * 14),
    "cpu_max": _s(*[0.12] * 14),
    "received_bytes": _s(*[5e8] * 14),
    "sent_bytes": _s(*[5e8] * 14),
}
_BUSY = {**_MODEST, "cpu_max": _s(*[0.12] * 13, 0.65)}


def _series(rid: str, values: dict[str, Series]) -> dict:
    return {(rid, name, 14): s for name, s in values.items()}


attach_fixtures(
    "gcp-instance-idle",
    Fixtures(
        fires=_running("idle-vm", "2001", "e2-standard-2"),
        silent=_running("proxy-vm", "2002", "e2-standard-2"),
        now=NOW,
        series={
            **_series(path(_Z, "instances", "idle-vm"), _IDLE),
            **_series(path(_Z, "instances", "proxy-vm"), _PROXY),
        },
    ),
)
attach_fixtures(
    "gcp-instance-underused",
    Fixtures(
        fires=_running("oversized-vm", "3001", "n2-standard-8"),
        silent=_running("peaky-vm", "3002", "n2-standard-8"),
        now=NOW,
        series={
            **_series(path(_Z, "instances", "oversized-vm"), _MODEST),
            **_series(path(_Z, "instances", "peaky-vm"), _BUSY),
        },
    ),
)
