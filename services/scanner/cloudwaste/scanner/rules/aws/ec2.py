"""EC2 instance rules."""

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
