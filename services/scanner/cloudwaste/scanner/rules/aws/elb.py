"""Load balancer rules."""

from __future__ import annotations

from cloudwaste.scanner.domain import Detection, Resource
from cloudwaste.scanner.rules import Context, Fixtures, Param, age_days, attach_fixtures, rule
from cloudwaste.scanner.rules.aws._common import NOW as _NOW
from cloudwaste.scanner.rules.aws._common import res, rounded

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
            "age_days": rounded(age),
        },
    )


# --- fixtures: one resource that fires and one near miss per rule ---------------------------------

attach_fixtures(
    "load-balancer-no-targets",
    Fixtures(
        fires=res(
            "aws.elbv2.load_balancer",
            "arn:lb/1",
            60,
            registered_targets=0,
            target_group_count=1,
            type="application",
        ),
        silent=res(
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
