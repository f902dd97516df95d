"""VPC endpoint rules: Interface endpoints nothing sends traffic through."""

from __future__ import annotations

import math

from cloudwaste.scanner.domain import Detection, Resource
from cloudwaste.scanner.rules import Context, Fixtures, Metric, Series, age_days, attach_fixtures, rule
from cloudwaste.scanner.rules.aws._common import NOW as _NOW
from cloudwaste.scanner.rules.aws._common import res, rounded
from cloudwaste.scanner.rules.aws.vpn import WINDOW, coverage_param, old_enough, priced, zero_activity

VPC_ENDPOINT = "aws.ec2.vpc_endpoint"
BYTES = Metric(
    "bytes_processed",
    "AWS/PrivateLinkEndpoints",
    "BytesProcessed",
    "VPC Endpoint Id",
    "Sum",
    extra_dimensions=(
        ("VPC Id", "@vpc_id"),
        ("Endpoint Type", "@endpoint_type"),
        ("Service Name", "@service_name"),
    ),
)


def _candidate(r: Resource, p, ctx: Context) -> bool:
    a = r.attributes
    return (
        a.get("endpoint_type") == "Interface"
        and a.get("state") == "available"
        and not a.get("requester_managed")
        and old_enough(r, p["window_days"], ctx)
    )


@rule(
    key="vpc-interface-endpoint-idle",
    provider="aws",
    resource_kind=VPC_ENDPOINT,
    title="Interface VPC endpoint with no traffic",
    permissions=("ec2:DescribeVpcEndpoints", "cloudwatch:GetMetricData"),
    params={
        "window_days": WINDOW,
        "min_coverage": coverage_param(
            "Share of the window's days with datapoints for HIGH confidence (fewer, all zero: MEDIUM)."
        ),
    },
    confidence_doc="HIGH when datapoints cover at least min_coverage of the window and are all zero; "
    "MEDIUM when there are fewer or none (an endpoint without traffic may publish nothing).",
    metrics=(BYTES,),
    candidate=_candidate,
)
def vpc_interface_endpoint_idle(r: Resource, p, ctx: Context) -> Detection | None:
    """An Interface endpoint bills per hour in every zone (subnet) it is in, whether or not traffic
    flows. An available one older than the window fires when its daily BytesProcessed
    (AWS/PrivateLinkEndpoints, dimensions VPC Id, VPC Endpoint Id, Endpoint Type and Service Name)
    sums to zero over 30 days; no datapoints at all counts as no traffic, at MEDIUM confidence.
    Gateway endpoints (S3, DynamoDB) are free and never flagged, nor are Gateway Load Balancer,
    resource and service-network endpoints, nor endpoints another service created and manages
    (RequesterManaged). Priced as subnets x the Interface endpoint hourly price (data processing
    is zero by definition here). Window after common FinOps practice."""
    if not _candidate(r, p, ctx):
        return None
    days = math.ceil(p["window_days"])
    series = ctx.metric(r, "bytes_processed", days)
    verdict = zero_activity([series])
    if verdict is None:
        return None
    points, coverage = verdict
    zones = max(1, int(r.attributes.get("subnet_count") or 0))
    evidence = {
        "bytes_processed": series.evidence("bytes"),
        "window_days": days,
        "datapoints": points,
        "service_name": r.attributes.get("service_name"),
        "zones": zones,
        "age_days": rounded(age_days(r.created_at, ctx.now)),
    }
    cost = priced(
        ctx.prices.monthly_from_hourly("vpc", "interface_endpoint_hour", quantity=zones),
        "Interface endpoint price",
        evidence,
        ctx,
    )
    return Detection(
        scenario="vpc-interface-endpoint-idle",
        confidence="HIGH" if coverage >= p["min_coverage"] else "MEDIUM",
        monthly_cost=cost,
        evidence=evidence,
    )


_EP = {
    "state": "available",
    "vpc_id": "vpc-1",
    "service_name": "com.amazonaws.eu-west-1.ssm",
    "subnet_count": 2,
    "requester_managed": False,
}
attach_fixtures(
    "vpc-interface-endpoint-idle",
    Fixtures(
        fires=res(VPC_ENDPOINT, "vpce-idle", 90, endpoint_type="Interface", **_EP),
        silent=res(VPC_ENDPOINT, "vpce-gateway", 90, endpoint_type="Gateway", **_EP),  # free
        now=_NOW,
        series={
            ("vpce-idle", "bytes_processed", 30): Series((0.0,) * 30, 30),
            ("vpce-gateway", "bytes_processed", 30): Series((0.0,) * 30, 30),
        },
    ),
)
