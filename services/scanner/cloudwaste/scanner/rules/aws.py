"""AWS detection rules. Each evaluates one resource kind listed once per region by the provider."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from cloudwaste.scanner.domain import Detection, FindingRef, Resource
from cloudwaste.scanner.rules import Context, Fixtures, Param, age_days, attach_fixtures, rule

UTC = dt.UTC
_NOW = dt.datetime(2026, 6, 1, tzinfo=UTC)


def _days_ago(days: float) -> dt.datetime:
    return _NOW - dt.timedelta(days=days)


# --- ebs-volume-unattached ---------------------------------------------------------------------


@rule(
    key="ebs-volume-unattached",
    provider="aws",
    resource_kind="aws.ec2.volume",
    title="EBS volume not attached to any instance",
    permissions=("ec2:DescribeVolumes",),
    params={"min_age_days": Param(float, 1.0, "Ignore volumes younger than this (just created).", 0)},
    confidence_doc="HIGH after 30 days unattached-and-old, MEDIUM after 7, else LOW.",
)
def ebs_volume_unattached(r: Resource, p, ctx: Context) -> Detection | None:
    """An EBS volume in state `available` bills for its provisioned size (and IOPS) while nothing uses it."""
    if r.attributes.get("state") != "available":
        return None
    age = age_days(r.created_at, ctx.now)
    if age is not None and age < p["min_age_days"]:
        return None
    confidence = "LOW" if age is None or age < 7 else ("MEDIUM" if age < 30 else "HIGH")
    size, vtype, iops = r.attributes["size_gb"], r.attributes["volume_type"], r.attributes.get("iops")
    return Detection(
        scenario="ebs-volume-unattached",
        confidence=confidence,
        monthly_cost=ctx.prices.ebs_volume(vtype, size, iops),
        evidence={
            "state": "available",
            "size_gb": size,
            "volume_type": vtype,
            "iops": iops,
            "age_days": _r(age),
        },
    )


# --- eip-unassociated -------------------------------------------------------------------------------


@rule(
    key="eip-unassociated",
    provider="aws",
    resource_kind="aws.ec2.elastic_ip",
    title="Elastic IP not associated with anything",
    permissions=("ec2:DescribeAddresses",),
    confidence_doc="Always HIGH: an unassociated address does nothing and bills hourly.",
)
def eip_unassociated(r: Resource, p, ctx: Context) -> Detection | None:
    """An allocated Elastic IP with no association bills by the hour for nothing."""
    if r.attributes.get("association_id") or r.attributes.get("network_interface_id"):
        return None
    return Detection(
        scenario="eip-unassociated",
        confidence="HIGH",
        monthly_cost=ctx.prices.idle_elastic_ip(),
        evidence={"association_id": None, "domain": r.attributes.get("domain", "vpc")},
    )


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
    stopped_days = _stopped_days(r, ctx)
    if stopped_days is None or stopped_days < p["min_stopped_days"]:
        return None
    volumes = r.attributes.get("attached_volumes", [])
    return Detection(
        scenario="ec2-instance-stopped",
        confidence="HIGH" if stopped_days >= 90 else "MEDIUM",
        monthly_cost=Decimal(0),
        evidence={
            "state": "stopped",
            "stopped_days": _r(stopped_days),
            "instance_type": r.attributes.get("instance_type"),
            "attached_volume_count": len(volumes),
            "attached_volume_gb": sum(v["size_gb"] for v in volumes),
        },
    )


def _stopped_days(instance: Resource, ctx: Context) -> float | None:
    """Days since a stopped instance stopped; None when it is not stopped or the time is unknown."""
    if instance.attributes.get("state") != "stopped":
        return None
    return age_days(instance.attributes.get("stopped_since"), ctx.now)


# --- ebs-volume-on-stopped-instance -----------------------------------------------------------------


@rule(
    key="ebs-volume-on-stopped-instance",
    provider="aws",
    resource_kind="aws.ec2.volume",
    needs=("aws.ec2.instance",),
    title="EBS volume attached to a long-stopped instance",
    permissions=("ec2:DescribeVolumes", "ec2:DescribeInstances"),
    params={"min_stopped_days": Param(float, 30.0, "The instance has been stopped at least this long.", 1)},
    confidence_doc="HIGH after 90 days stopped, else MEDIUM (as for the instance itself).",
)
def ebs_volume_on_stopped_instance(r: Resource, p, ctx: Context) -> Detection | None:
    """A volume attached to a long-stopped instance bills for its size (and IOPS) while nothing runs.
    It is a part of the instance's `ec2-instance-stopped` finding, which shows the machine's total."""
    instance_id = r.attributes.get("attached_instance_id")
    if r.attributes.get("state") != "in-use" or not instance_id:
        return None
    instance = ctx.lookup("aws.ec2.instance", instance_id)
    if instance is None:
        return None
    stopped_days = _stopped_days(instance, ctx)
    if stopped_days is None or stopped_days < p["min_stopped_days"]:
        return None
    size, vtype, iops = r.attributes["size_gb"], r.attributes["volume_type"], r.attributes.get("iops")
    return Detection(
        scenario="ebs-volume-on-stopped-instance",
        confidence="HIGH" if stopped_days >= 90 else "MEDIUM",
        monthly_cost=ctx.prices.ebs_volume(vtype, size, iops),
        evidence={
            "state": "in-use",
            "size_gb": size,
            "volume_type": vtype,
            "iops": iops,
            "instance_state": "stopped",
            "instance_stopped_days": _r(stopped_days),
        },
        parent=FindingRef("aws.ec2.instance", instance_id, "ec2-instance-stopped"),
    )


# --- snapshot-orphaned ------------------------------------------------------------------------------


@rule(
    key="snapshot-orphaned",
    provider="aws",
    resource_kind="aws.ec2.snapshot",
    title="EBS snapshot whose source volume is gone",
    permissions=("ec2:DescribeSnapshots", "ec2:DescribeVolumes"),
    params={"min_age_days": Param(float, 90.0, "Snapshot at least this old.", 0)},
    confidence_doc="HIGH after a year, else MEDIUM. Cost is an upper bound (full volume size).",
)
def snapshot_orphaned(r: Resource, p, ctx: Context) -> Detection | None:
    """A snapshot of a deleted volume that nobody restored for months is usually forgotten backup."""
    if r.attributes.get("source_volume_exists", True):
        return None
    age = age_days(r.created_at, ctx.now)
    if age is None or age < p["min_age_days"]:
        return None
    size = r.attributes["size_gb"]
    return Detection(
        scenario="snapshot-orphaned",
        confidence="HIGH" if age >= 365 else "MEDIUM",
        monthly_cost=ctx.prices.ebs_snapshot(size),
        evidence={"source_volume_exists": False, "size_gb": size, "age_days": _r(age)},
    )


# --- nat-gateway-idle ----------------------------------------------------------------------------


@rule(
    key="nat-gateway-idle",
    provider="aws",
    resource_kind="aws.ec2.nat_gateway",
    title="NAT gateway with no traffic",
    permissions=("ec2:DescribeNatGateways", "cloudwatch:GetMetricData"),
    params={
        "min_idle_days": Param(float, 30.0, "No bytes in or out for this long (needs that much history).", 1)
    },
    confidence_doc="HIGH when CloudWatch has datapoints and they sum to zero; MEDIUM when it has none.",
)
def nat_gateway_idle(r: Resource, p, ctx: Context) -> Detection | None:
    """A NAT gateway bills hourly whether or not traffic flows; zero bytes over the window means idle."""
    if r.attributes.get("state") != "available":
        return None
    age = age_days(r.created_at, ctx.now)
    window = r.attributes.get("metric_window_days", 0)
    if age is None or age < p["min_idle_days"] or window < p["min_idle_days"]:
        return None
    total = r.attributes.get("bytes_total")
    if total is None or total > 0:
        return None
    points = r.attributes.get("datapoints", 0)
    return Detection(
        scenario="nat-gateway-idle",
        confidence="HIGH" if points > 0 else "MEDIUM",
        monthly_cost=ctx.prices.nat_gateway(),
        evidence={"bytes_total": total, "window_days": window, "datapoints": points, "age_days": _r(age)},
    )


# --- load-balancer-no-targets ------------------------------------------------------------------


@rule(
    key="load-balancer-no-targets",
    provider="aws",
    resource_kind="aws.elbv2.load_balancer",
    title="Load balancer with no registered targets",
    permissions=(
        "elasticloadbalancing:DescribeLoadBalancers",
        "elasticloadbalancing:DescribeTargetGroups",
        "elasticloadbalancing:DescribeTargetHealth",
        "elasticloadbalancing:DescribeTags",
    ),
    params={"min_age_days": Param(float, 7.0, "Ignore load balancers younger than this (being set up).", 0)},
    confidence_doc="HIGH when it has no target group at all or after 30 days, else MEDIUM.",
)
def load_balancer_no_targets(r: Resource, p, ctx: Context) -> Detection | None:
    """A load balancer with nothing behind it serves nobody but bills hourly."""
    if r.attributes.get("registered_targets", 1) > 0:
        return None
    age = age_days(r.created_at, ctx.now)
    if age is not None and age < p["min_age_days"]:
        return None
    groups = r.attributes.get("target_group_count", 0)
    lb_type = r.attributes.get("type", "application")
    return Detection(
        scenario="load-balancer-no-targets",
        confidence="HIGH" if groups == 0 or (age or 0) >= 30 else "MEDIUM",
        monthly_cost=ctx.prices.load_balancer(lb_type),
        evidence={
            "registered_targets": 0,
            "target_group_count": groups,
            "type": lb_type,
            "age_days": _r(age),
        },
    )


def _r(x: float | None) -> float | None:
    return None if x is None else round(x, 1)


# --- fixtures: one resource that fires and one near miss per rule ---------------------------------


def _res(kind: str, rid: str, created_days: float, **attributes) -> Resource:
    return Resource("aws", kind, rid, "eu-west-1", created_at=_days_ago(created_days), attributes=attributes)


_VOL = {"size_gb": 100, "volume_type": "gp3", "iops": 3000}
attach_fixtures(
    "ebs-volume-unattached",
    Fixtures(
        fires=_res("aws.ec2.volume", "vol-1", 40, state="available", **_VOL),
        silent=_res("aws.ec2.volume", "vol-2", 40, state="in-use", attached_instance_id="i-1", **_VOL),
        now=_NOW,
    ),
)
attach_fixtures(
    "eip-unassociated",
    Fixtures(
        fires=_res("aws.ec2.elastic_ip", "eipalloc-1", 10, association_id=None),
        silent=_res("aws.ec2.elastic_ip", "eipalloc-2", 10, association_id="eipassoc-1", instance_id="i-1"),
        now=_NOW,
    ),
)
_DISKS = [{"volume_id": "vol-9", "size_gb": 50, "volume_type": "gp2", "iops": None}]
attach_fixtures(
    "ec2-instance-stopped",
    Fixtures(
        fires=_res(
            "aws.ec2.instance",
            "i-1",
            200,
            state="stopped",
            stopped_since=_days_ago(45),
            instance_type="m5.large",
            attached_volumes=_DISKS,
        ),
        silent=_res(
            "aws.ec2.instance",
            "i-2",
            200,
            state="stopped",
            stopped_since=_days_ago(29),
            instance_type="m5.large",
            attached_volumes=_DISKS,
        ),
        now=_NOW,
    ),
)
_STOPPED_45 = _res(
    "aws.ec2.instance", "i-45", 200, state="stopped", stopped_since=_days_ago(45), instance_type="m5.large"
)
_STOPPED_29 = _res(
    "aws.ec2.instance", "i-29", 200, state="stopped", stopped_since=_days_ago(29), instance_type="m5.large"
)
_RUNNING = _res(
    "aws.ec2.instance", "i-run", 200, state="running", stopped_since=None, instance_type="m5.large"
)
attach_fixtures(
    "ebs-volume-on-stopped-instance",
    Fixtures(
        fires=_res("aws.ec2.volume", "vol-on-45", 200, state="in-use", attached_instance_id="i-45", **_VOL),
        silent=_res("aws.ec2.volume", "vol-on-29", 200, state="in-use", attached_instance_id="i-29", **_VOL),
        related=(
            _STOPPED_45,
            _STOPPED_29,
            _RUNNING,
            _res("aws.ec2.volume", "vol-on-run", 200, state="in-use", attached_instance_id="i-run", **_VOL),
        ),
        now=_NOW,
    ),
)
attach_fixtures(
    "snapshot-orphaned",
    Fixtures(
        fires=_res(
            "aws.ec2.snapshot", "snap-1", 120, source_volume_exists=False, size_gb=200, volume_id="vol-x"
        ),
        silent=_res(
            "aws.ec2.snapshot", "snap-2", 60, source_volume_exists=False, size_gb=200, volume_id="vol-x"
        ),
        now=_NOW,
    ),
)
attach_fixtures(
    "nat-gateway-idle",
    Fixtures(
        fires=_res(
            "aws.ec2.nat_gateway",
            "nat-1",
            90,
            state="available",
            bytes_total=0.0,
            datapoints=30,
            metric_window_days=30,
        ),
        silent=_res(
            "aws.ec2.nat_gateway",
            "nat-2",
            90,
            state="available",
            bytes_total=1024.0,
            datapoints=30,
            metric_window_days=30,
        ),
        now=_NOW,
    ),
)
attach_fixtures(
    "load-balancer-no-targets",
    Fixtures(
        fires=_res(
            "aws.elbv2.load_balancer",
            "arn:lb/1",
            60,
            registered_targets=0,
            target_group_count=1,
            type="application",
        ),
        silent=_res(
            "aws.elbv2.load_balancer",
            "arn:lb/2",
            60,
            registered_targets=2,
            target_group_count=1,
            type="application",
        ),
        now=_NOW,
    ),
)
