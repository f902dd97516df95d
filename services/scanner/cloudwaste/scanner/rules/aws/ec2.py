"""EC2 instance rules."""

from __future__ import annotations

from decimal import Decimal

from cloudwaste.scanner.domain import Detection, Resource
from cloudwaste.scanner.rules import Context, Fixtures, Param, attach_fixtures, rule
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
