"""NAT gateway rules."""

from __future__ import annotations

import math

from cloudwaste.scanner.domain import Detection, Resource
from cloudwaste.scanner.rules import Context, Fixtures, Metric, Param, Series, age_days, attach_fixtures, rule
from cloudwaste.scanner.rules.aws._common import NOW as _NOW
from cloudwaste.scanner.rules.aws._common import res, rounded

NAT_BYTES_OUT = Metric("bytes_out", "AWS/NATGateway", "BytesOutToDestination", "NatGatewayId", "Sum")
NAT_BYTES_IN = Metric("bytes_in", "AWS/NATGateway", "BytesInFromSource", "NatGatewayId", "Sum")

# --- nat-gateway-idle ----------------------------------------------------------------------------


def _old_enough(r: Resource, p, ctx: Context) -> bool:
    """An available gateway at least as old as the window (a younger one is never called idle)."""
    age = age_days(r.created_at, ctx.now)
    return r.attributes.get("state") == "available" and age is not None and age >= p["min_idle_days"]


@rule(
    key="nat-gateway-idle",
    provider="aws",
    resource_kind="aws.ec2.nat_gateway",
    title="NAT gateway with no traffic",
    permissions=("ec2:DescribeNatGateways", "cloudwatch:GetMetricData"),
    params={
        "min_idle_days": Param(
            float, 30.0, "No bytes in or out over this many days (the gateway must be that old).", 1
        )
    },
    confidence_doc="HIGH when CloudWatch has datapoints over the window and they sum to zero; MEDIUM "
    "when it has none at all (a gateway that never carried traffic publishes nothing).",
    metrics=(NAT_BYTES_OUT, NAT_BYTES_IN),
    window_param="min_idle_days",
    candidate=_old_enough,
)
def nat_gateway_idle(r: Resource, p, ctx: Context) -> Detection | None:
    """A NAT gateway bills hourly whether or not traffic flows; zero bytes in and out over the
    window (daily sums of BytesOutToDestination and BytesInFromSource) means idle."""
    if not _old_enough(r, p, ctx):
        return None
    window = math.ceil(p["min_idle_days"])  # whole days, as the engine fetched them
    out, into = ctx.metric(r, "bytes_out", window), ctx.metric(r, "bytes_in", window)
    if out is None or into is None or out.total + into.total > 0:
        return None
    points = max(out.got, into.got)
    return Detection(
        scenario="nat-gateway-idle",
        confidence="HIGH" if points > 0 else "MEDIUM",
        monthly_cost=ctx.prices.nat_gateway(),
        evidence={
            "bytes_total": 0.0,
            "window_days": window,
            "datapoints": points,
            "bytes_out": out.evidence("bytes"),
            "bytes_in": into.evidence("bytes"),
            "age_days": rounded(age_days(r.created_at, ctx.now)),
        },
    )


# --- fixtures: one resource that fires and one near miss per rule ---------------------------------

_ZERO, _SOME = Series((0.0,) * 30, 30), Series((0.0,) * 29 + (1024.0,), 30)
attach_fixtures(
    "nat-gateway-idle",
    Fixtures(
        fires=res("aws.ec2.nat_gateway", "nat-1", 90, state="available"),
        silent=res("aws.ec2.nat_gateway", "nat-2", 90, state="available"),
        now=_NOW,
        series={
            ("nat-1", "bytes_out", 30): _ZERO,
            ("nat-1", "bytes_in", 30): _ZERO,
            ("nat-2", "bytes_out", 30): _ZERO,
            ("nat-2", "bytes_in", 30): _SOME,  # 1 KiB on the last day: not idle
        },
    ),
)
