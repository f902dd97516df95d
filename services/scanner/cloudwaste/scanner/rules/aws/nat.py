"""NAT gateway rules."""

from __future__ import annotations

from cloudwaste.scanner.domain import Detection, Resource
from cloudwaste.scanner.rules import Context, Fixtures, Param, age_days, attach_fixtures, rule
from cloudwaste.scanner.rules.aws._common import NOW as _NOW
from cloudwaste.scanner.rules.aws._common import res, rounded

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
        evidence={
            "bytes_total": total,
            "window_days": window,
            "datapoints": points,
            "age_days": rounded(age),
        },
    )


# --- fixtures: one resource that fires and one near miss per rule ---------------------------------

attach_fixtures(
    "nat-gateway-idle",
    Fixtures(
        fires=res(
            "aws.ec2.nat_gateway",
            "nat-1",
            90,
            state="available",
            bytes_total=0.0,
            datapoints=30,
            metric_window_days=30,
        ),
        silent=res(
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
