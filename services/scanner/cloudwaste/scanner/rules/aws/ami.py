"""AMI (machine image) rules."""

from __future__ import annotations

from cloudwaste.scanner.domain import Detection, Resource
from cloudwaste.scanner.rules import Context, Fixtures, Param, age_days, attach_fixtures, rule
from cloudwaste.scanner.rules.aws._common import NOW as _NOW
from cloudwaste.scanner.rules.aws._common import res, rounded

_IMAGE = "aws.ec2.image"
# An image that can still be launched (or re-enabled): `pending` and `failed` ones are not judged.
_JUDGED_STATES = ("available", "disabled")

# --- ami-unused --------------------------------------------------------------------------------------


@rule(
    key="ami-unused",
    provider="aws",
    resource_kind=_IMAGE,
    title="AMI that no instance, launch template or launch configuration uses",
    permissions=(
        "ec2:DescribeImages",
        "ec2:DescribeInstances",
        "ec2:DescribeVolumes",  # the instances' listing reads their volumes
        "ec2:DescribeLaunchTemplateVersions",
        "autoscaling:DescribeLaunchConfigurations",
    ),
    params={
        "min_age_days": Param(float, 90.0, "The image was created at least this long ago.", 0),
    },
    confidence_doc=(
        "MEDIUM: nothing in the region launches from it, but an Auto Scaling group or a fleet may "
        "pin a launch template version other than the latest and default, another account may "
        "launch it if it is shared, and an image is sometimes kept for a rollback. LOW when it is "
        "public, or when a launch template of the region takes its image from an SSM parameter "
        "(which may name this one). The cost is an upper bound (see the doc)."
    ),
)
def ami_unused(r: Resource, p, ctx: Context) -> Detection | None:
    """An image this account owns, created more than `min_age_days` ago, that nothing launches
    from: no instance of the region (running or stopped) was launched from it, no launch
    template's latest or default version names it, and no Auto Scaling launch configuration does.
    Its EBS snapshots bill every month for an image nobody uses. Deregister it and delete its
    snapshots (DeregisterImage alone leaves them behind, and they would then be
    `snapshot-of-deregistered-ami` findings).

    `monthly_cost` is an upper bound: the snapshot price of the volume sizes its block device
    mappings declare; snapshots are incremental, and blocks other snapshots keep are not freed.
    An image with no EBS snapshot (instance store) is reported at $0.

    Default `min_age_days` 90: common FinOps practice for images (a quarter, the usual time a
    release image is kept for a rollback; AMI cleaners default to 60-90 days), and the same age as
    `snapshot-orphaned`'s. The creation time is the only age AWS gives for every image; an image
    without one is not judged."""
    if r.attributes.get("state") not in _JUDGED_STATES:
        return None
    age = age_days(r.created_at, ctx.now)
    if age is None or age < p["min_age_days"]:
        return None
    used = {
        "instances": r.attributes.get("used_by_instances") or [],
        "launch_templates": r.attributes.get("used_by_launch_templates") or [],
        "launch_configurations": r.attributes.get("used_by_launch_configurations") or [],
    }
    if any(used.values()):
        return None
    public = bool(r.attributes.get("public"))
    ssm = r.attributes.get("ssm_resolved_templates") or 0
    gb = r.attributes.get("snapshot_gb")
    gb = gb if isinstance(gb, int) and gb > 0 else 0
    return Detection(
        scenario="ami-unused",
        confidence="LOW" if public or ssm else "MEDIUM",
        monthly_cost=ctx.prices.ebs_snapshot(gb),
        evidence={
            "state": r.attributes.get("state"),
            "age_days": rounded(age),
            "snapshot_ids": list(r.attributes.get("snapshot_ids") or []),
            "snapshot_gb": gb,
            "cost_basis": "upper bound (incremental snapshots)" if gb else "no EBS snapshot: not priced",
            "used_by_instances": 0,
            "used_by_launch_templates": 0,
            "used_by_launch_configurations": 0,
            "launch_template_versions_checked": "$Latest and $Default",
            "ssm_resolved_templates": ssm,
            "public": public,
            **ctx.prices.evidence(),
        },
    )


# --- fixtures: one resource that fires and one near miss per rule ---------------------------------


def _image(rid: str, days: float, **usage) -> Resource:
    attrs = {
        "state": "available",
        "public": False,
        "snapshot_ids": ["snap-root"],
        "snapshot_gb": 30,
        "used_by_instances": [],
        "used_by_launch_templates": [],
        "used_by_launch_configurations": [],
        "ssm_resolved_templates": 0,
    }
    attrs.update(usage)
    return res(_IMAGE, rid, days, **attrs)


attach_fixtures(
    "ami-unused",
    Fixtures(
        fires=_image("ami-00000000000000old", 200),
        # the near miss: as old, and the default version of a launch template names it
        silent=_image("ami-0000000000000used", 200, used_by_launch_templates=["lt-1:3"]),
        now=_NOW,
    ),
)
