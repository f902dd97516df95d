"""EBS snapshot rules."""

from __future__ import annotations

from cloudwaste.scanner.domain import Detection, Resource
from cloudwaste.scanner.rules import Context, Fixtures, Param, age_days, attach_fixtures, rule
from cloudwaste.scanner.rules.aws._common import NOW as _NOW
from cloudwaste.scanner.rules.aws._common import res, rounded

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
        evidence={"source_volume_exists": False, "size_gb": size, "age_days": rounded(age)},
    )


# --- fixtures: one resource that fires and one near miss per rule ---------------------------------

attach_fixtures(
    "snapshot-orphaned",
    Fixtures(
        fires=res(
            "aws.ec2.snapshot", "snap-1", 120, source_volume_exists=False, size_gb=200, volume_id="vol-x"
        ),
        silent=res(
            "aws.ec2.snapshot", "snap-2", 60, source_volume_exists=False, size_gb=200, volume_id="vol-x"
        ),
        now=_NOW,
    ),
)
