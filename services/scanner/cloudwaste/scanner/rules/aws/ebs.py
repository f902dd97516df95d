"""EBS volume rules."""

from __future__ import annotations

from cloudwaste.scanner.domain import Detection, FindingRef, Resource
from cloudwaste.scanner.rules import Context, Fixtures, Param, age_days, attach_fixtures, rule
from cloudwaste.scanner.rules.aws._common import NOW as _NOW
from cloudwaste.scanner.rules.aws._common import days_ago, res, rounded, stopped_days

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
            "age_days": rounded(age),
        },
    )


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
    days_stopped = stopped_days(instance, ctx)
    if days_stopped is None or days_stopped < p["min_stopped_days"]:
        return None
    size, vtype, iops = r.attributes["size_gb"], r.attributes["volume_type"], r.attributes.get("iops")
    return Detection(
        scenario="ebs-volume-on-stopped-instance",
        confidence="HIGH" if days_stopped >= 90 else "MEDIUM",
        monthly_cost=ctx.prices.ebs_volume(vtype, size, iops),
        evidence={
            "state": "in-use",
            "size_gb": size,
            "volume_type": vtype,
            "iops": iops,
            "instance_state": "stopped",
            "instance_stopped_days": rounded(days_stopped),
        },
        parent=FindingRef("aws.ec2.instance", instance_id, "ec2-instance-stopped"),
    )


# --- fixtures: one resource that fires and one near miss per rule ---------------------------------

_VOL = {"size_gb": 100, "volume_type": "gp3", "iops": 3000}
attach_fixtures(
    "ebs-volume-unattached",
    Fixtures(
        fires=res("aws.ec2.volume", "vol-1", 40, state="available", **_VOL),
        silent=res("aws.ec2.volume", "vol-2", 40, state="in-use", attached_instance_id="i-1", **_VOL),
        now=_NOW,
    ),
)
_STOPPED_45 = res(
    "aws.ec2.instance", "i-45", 200, state="stopped", stopped_since=days_ago(45), instance_type="m5.large"
)
_STOPPED_29 = res(
    "aws.ec2.instance", "i-29", 200, state="stopped", stopped_since=days_ago(29), instance_type="m5.large"
)
_RUNNING = res(
    "aws.ec2.instance", "i-run", 200, state="running", stopped_since=None, instance_type="m5.large"
)
attach_fixtures(
    "ebs-volume-on-stopped-instance",
    Fixtures(
        fires=res("aws.ec2.volume", "vol-on-45", 200, state="in-use", attached_instance_id="i-45", **_VOL),
        silent=res("aws.ec2.volume", "vol-on-29", 200, state="in-use", attached_instance_id="i-29", **_VOL),
        related=(
            _STOPPED_45,
            _STOPPED_29,
            _RUNNING,
            res("aws.ec2.volume", "vol-on-run", 200, state="in-use", attached_instance_id="i-run", **_VOL),
        ),
        now=_NOW,
    ),
)
