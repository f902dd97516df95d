"""NAT gateway rules."""

from __future__ import annotations

import math
from decimal import Decimal

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


# --- nat-gateway-low-traffic -------------------------------------------------------------------

GIB = 1024**3


def _low_traffic_candidate(r: Resource, p, ctx: Context) -> bool:
    """An available gateway at least as old as the window."""
    age = age_days(r.created_at, ctx.now)
    return r.attributes.get("state") == "available" and age is not None and age >= p["window_days"]


@rule(
    key="nat-gateway-low-traffic",
    provider="aws",
    resource_kind="aws.ec2.nat_gateway",
    title="NAT gateway carrying so little traffic that its hourly charge dominates",
    permissions=("ec2:DescribeNatGateways", "cloudwatch:GetMetricData"),
    params={
        "window_days": Param(
            float, 30.0, "Days of CloudWatch traffic judged (the gateway must be that old).", 2
        ),
        "max_gb_per_day": Param(
            float,
            0.03,
            "Average GB a day (bytes out to destinations + in from sources, per day with data) at "
            "most this. The default, about 1 GB a month, flags only gateways that carry next to "
            "nothing; raise it (e.g. to 1) where sharing a gateway is acceptable.",
            0,
        ),
        "min_coverage": Param(
            float, 0.8, "Share of the window's days that must have datapoints (else: not judged).", 0.1
        ),
    },
    confidence_doc="HIGH when every day of the window has data; MEDIUM when some days are missing "
    "(at least `min_coverage` of them).",
    metrics=(NAT_BYTES_OUT, NAT_BYTES_IN),
    candidate=_low_traffic_candidate,
)
def nat_gateway_low_traffic(r: Resource, p, ctx: Context) -> Detection | None:
    """An available NAT gateway, older than the window, whose traffic is not zero but low: on
    average at most `max_gb_per_day` a day (daily sums of BytesOutToDestination + BytesInFromSource,
    averaged over the days with data) over the last 30 days. Its hourly charge ($0.045/h in
    us-east-1, about $33 a month) dwarfs the data it processes; the evidence gives the GB processed
    and their data processing cost. Fixes: traffic to S3 or DynamoDB can go through a gateway VPC
    endpoint, which is free; the rest of a small flow can share another NAT gateway of the VPC
    (route the subnet's 0.0.0.0/0 to it). Zero traffic is `nat-gateway-idle`, not this rule. The
    default threshold is conservative by design (common FinOps practice treats anything under about
    1 GB a day as low: raise it to match); missing days are not zeros: below `min_coverage` of the
    window the gateway is not judged."""
    if not _low_traffic_candidate(r, p, ctx):
        return None
    window = math.ceil(p["window_days"])
    out, into = ctx.metric(r, "bytes_out", window), ctx.metric(r, "bytes_in", window)
    if out is None or into is None:
        return None
    total = out.total + into.total
    if total <= 0 or min(out.coverage, into.coverage) < p["min_coverage"]:
        return None
    days_with_data = max(out.got, into.got)
    gb_per_day = total / GIB / days_with_data
    if round(gb_per_day, 9) > p["max_gb_per_day"]:  # float noise at the boundary
        return None
    processed_gb = total / GIB
    days_per_month = ctx.prices.hours / 24  # 730 / 24
    processing = ctx.prices.nat_gateway_gb() * Decimal(str(round(gb_per_day, 6))) * days_per_month
    return Detection(
        scenario="nat-gateway-low-traffic",
        confidence="HIGH" if min(out.got, into.got) >= window else "MEDIUM",
        monthly_cost=ctx.prices.nat_gateway(),
        evidence={
            "window_days": window,
            "processed_gb": round(processed_gb, 3),
            "gb_per_day": round(gb_per_day, 4),
            "max_gb_per_day": p["max_gb_per_day"],
            "data_processing_monthly": float(round(processing, 2)),
            "hourly_charge_monthly": float(ctx.prices.nat_gateway()),
            "bytes_out": out.evidence("bytes"),
            "bytes_in": into.evidence("bytes"),
            "age_days": rounded(age_days(r.created_at, ctx.now)),
            **ctx.prices.evidence(),
        },
    )


# --- fixtures: one resource that fires and one near miss per rule ---------------------------------

# 1 GiB on the last day: not idle, and above nat-gateway-low-traffic's 0.03 GB a day on average
_ZERO, _SOME = Series((0.0,) * 30, 30), Series((0.0,) * 29 + (1024.0**3,), 30)
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
            ("nat-2", "bytes_in", 30): _SOME,  # 1 GiB on the last day: not idle
        },
    ),
)

_LOW = Series((40 * 1024**2,) * 30, 30)  # 40 MiB a day in each direction: 0.078 GB a day
attach_fixtures(
    "nat-gateway-low-traffic",
    Fixtures(
        fires=res("aws.ec2.nat_gateway", "nat-3", 90, state="available"),
        silent=res("aws.ec2.nat_gateway", "nat-4", 90, state="available"),
        now=_NOW,
        series={
            ("nat-3", "bytes_out", 30): Series((10 * 1024**2,) * 30, 30),  # 10 MiB a day
            ("nat-3", "bytes_in", 30): Series((2 * 1024**2,) * 30, 30),
            ("nat-4", "bytes_out", 30): _LOW,  # just above 0.03 GB a day in total
            ("nat-4", "bytes_in", 30): Series((0.0,) * 30, 30),
        },
    ),
)
