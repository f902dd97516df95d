"""Hybrid connectivity rules: idle Site-to-Site VPN connections and transit gateway attachments.

`zero_activity` is the verdict the traffic rules of this family share (VPN, transit gateway,
EFS, VPC endpoints, Kinesis, Route 53 zones): every series fetched and summing to zero.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Sequence
from decimal import Decimal

from cloudwaste.scanner.domain import Detection, Resource
from cloudwaste.scanner.rules import Context, Fixtures, Metric, Param, Series, age_days, attach_fixtures, rule
from cloudwaste.scanner.rules.aws._common import NOW as _NOW
from cloudwaste.scanner.rules.aws._common import res, rounded

VPN_CONNECTION = "aws.ec2.vpn_connection"
TGW_ATTACHMENT = "aws.ec2.transit_gateway_attachment"


def zero_activity(series: Sequence[Series | None]) -> tuple[int, float] | None:
    """(datapoints, coverage) when every series was fetched and none shows any activity (all
    values zero, or no datapoints at all); None otherwise. The caller decides what missing days
    mean for its metric."""
    if not series or any(s is None for s in series):
        return None
    if any(s.total != 0 or (s.peak or 0) > 0 for s in series):
        return None
    return max(s.got for s in series), max(s.coverage for s in series)


def priced(cost: Decimal | None, what: str, evidence: dict, ctx: Context) -> Decimal:
    """The cost, or 0 with the evidence saying the price is unknown; adds the price source."""
    evidence.update(ctx.prices.evidence())
    if cost is None:
        evidence["price"] = f"unknown {what}: priced at 0"
        return Decimal(0)
    return cost


def old_enough(r: Resource, days: float, ctx: Context) -> bool:
    age = age_days(r.created_at, ctx.now)
    return age is not None and age >= days


WINDOW = Param(float, 30.0, "Days of CloudWatch history judged (the resource must be that old).", 2)


def coverage_param(doc: str, default: float = 0.8) -> Param:
    return Param(float, default, doc, 0.1)


# --- vpn-connection-idle --------------------------------------------------------------------------

VPN_IN = Metric("tunnel_in", "AWS/VPN", "TunnelDataIn", "VpnId", "Sum")
VPN_OUT = Metric("tunnel_out", "AWS/VPN", "TunnelDataOut", "VpnId", "Sum")


def _vpn_candidate(r: Resource, p, ctx: Context) -> bool:
    return r.attributes.get("state") == "available"


@rule(
    key="vpn-connection-idle",
    provider="aws",
    resource_kind=VPN_CONNECTION,
    title="Site-to-Site VPN connection with no traffic",
    permissions=("ec2:DescribeVpnConnections", "cloudwatch:GetMetricData"),
    params={
        "window_days": WINDOW,
        "min_coverage": coverage_param(
            "Share of the window's days that must have tunnel datapoints: AWS does not say when a "
            "VPN connection was created, so this history is what proves it is older than the window.",
            0.9,
        ),
    },
    confidence_doc="HIGH when every day of the window has datapoints and no tunnel is up; MEDIUM when "
    "a few days are missing (above min_coverage) or a tunnel is up but carries nothing.",
    metrics=(VPN_IN, VPN_OUT),
    candidate=_vpn_candidate,
)
def vpn_connection_idle(r: Resource, p, ctx: Context) -> Detection | None:
    """An available Site-to-Site VPN connection bills per connection-hour whether or not traffic
    flows; zero TunnelDataIn and TunnelDataOut bytes (AWS/VPN, VpnId, daily sums) over 30 days
    means nothing uses it. DescribeVpnConnections has no creation time, so the connection's own
    CloudWatch history stands for its age: it is judged only when at least `min_coverage` of the
    window's days have datapoints (AWS publishes the tunnel metrics of every connection; a
    connection with less history is younger than the window, or its data is missing, and is
    never called idle). Window after common FinOps practice (30 days, as for NAT gateways)."""
    if not _vpn_candidate(r, p, ctx):
        return None
    days = math.ceil(p["window_days"])
    into, out = ctx.metric(r, "tunnel_in", days), ctx.metric(r, "tunnel_out", days)
    verdict = zero_activity([into, out])
    if verdict is None or verdict[1] < p["min_coverage"]:
        return None
    points, coverage = verdict
    up = int(r.attributes.get("tunnels_up") or 0)
    evidence = {
        "bytes_total": 0.0,
        "window_days": days,
        "datapoints": points,
        "coverage": round(coverage, 3),
        "tunnel_data_in": into.evidence("bytes"),
        "tunnel_data_out": out.evidence("bytes"),
        "tunnels_up": up,
        "gateway": "transit_gateway" if r.attributes.get("transit_gateway_id") else "vpn_gateway",
        "age": "unknown (AWS does not say); the metric history covers the window",
    }
    cost = priced(ctx.prices.vpn_connection(), "VPN connection price", evidence, ctx)
    return Detection(
        scenario="vpn-connection-idle",
        confidence="HIGH" if points >= days and up == 0 else "MEDIUM",
        monthly_cost=cost,
        evidence=evidence,
    )


# --- transit-gateway-attachment-idle --------------------------------------------------------------

_TGW_DIMS = (("TransitGateway", "@transit_gateway_id"),)
TGW_IN = Metric(
    "bytes_in", "AWS/TransitGateway", "BytesIn", "TransitGatewayAttachment", "Sum", extra_dimensions=_TGW_DIMS
)
TGW_OUT = Metric(
    "bytes_out",
    "AWS/TransitGateway",
    "BytesOut",
    "TransitGatewayAttachment",
    "Sum",
    extra_dimensions=_TGW_DIMS,
)


def _tgw_candidate(r: Resource, p, ctx: Context) -> bool:
    return r.attributes.get("state") == "available" and old_enough(r, p["window_days"], ctx)


@rule(
    key="transit-gateway-attachment-idle",
    provider="aws",
    resource_kind=TGW_ATTACHMENT,
    title="Transit gateway attachment with no traffic",
    permissions=("ec2:DescribeTransitGatewayAttachments", "cloudwatch:GetMetricData"),
    params={
        "window_days": WINDOW,
        "min_coverage": coverage_param(
            "Share of the window's days with datapoints for HIGH confidence (fewer, all zero: MEDIUM)."
        ),
    },
    confidence_doc="HIGH when at least min_coverage of the window's days have datapoints and all are "
    "zero; MEDIUM when there are fewer or none (AWS publishes an attachment's metrics only while "
    "traffic flows). An attachment to another account's transit gateway needs datapoints.",
    metrics=(TGW_IN, TGW_OUT),
    candidate=_tgw_candidate,
)
def transit_gateway_attachment_idle(r: Resource, p, ctx: Context) -> Detection | None:
    """An available transit gateway attachment bills per attachment-hour; zero BytesIn and
    BytesOut (AWS/TransitGateway, dimensions TransitGateway and TransitGatewayAttachment, daily
    sums) over 30 days means nothing crosses it. The attachment must be older than the window
    (CreationTime). No datapoints at all counts as no traffic, at MEDIUM confidence, where the
    metrics would be: AWS/TransitGateway sends an attachment's metrics to the transit gateway
    owner's account, and only while traffic flows through it (an idle attachment publishes
    nothing). So only for an attachment of this account's own transit gateway (or when the owners
    are not known); one attachment of this account to another account's (shared) transit gateway,
    whose metrics this account may not receive, needs datapoints (all zero) to be judged. The
    listing keeps only the attachments this account pays for. Window after common FinOps
    practice."""
    if not _tgw_candidate(r, p, ctx):
        return None
    days = math.ceil(p["window_days"])
    into, out = ctx.metric(r, "bytes_in", days), ctx.metric(r, "bytes_out", days)
    verdict = zero_activity([into, out])
    if verdict is None:
        return None
    points, coverage = verdict
    tgw_owner, owner = (r.attributes.get(k) for k in ("transit_gateway_owner_id", "resource_owner_id"))
    if points == 0 and tgw_owner and owner and tgw_owner != owner:
        return None
    evidence = {
        "bytes_total": 0.0,
        "window_days": days,
        "datapoints": points,
        "coverage": round(coverage, 3),
        "bytes_in": into.evidence("bytes"),
        "bytes_out": out.evidence("bytes"),
        "resource_type": r.attributes.get("resource_type"),
        "age_days": rounded(age_days(r.created_at, ctx.now)),
    }
    if coverage < p["min_coverage"]:
        evidence["missing_data"] = (
            "fewer datapoints than min_coverage: no traffic assumed where none published"
        )
    cost = priced(ctx.prices.transit_gateway_attachment(), "attachment price", evidence, ctx)
    return Detection(
        scenario="transit-gateway-attachment-idle",
        confidence="HIGH" if coverage >= p["min_coverage"] else "MEDIUM",
        monthly_cost=cost,
        evidence=evidence,
    )


# --- fixtures -------------------------------------------------------------------------------------


def _no_date(r: Resource) -> Resource:
    """As listed: AWS gives no creation time for this kind."""
    return dataclasses.replace(r, created_at=None)


_ZERO30 = Series((0.0,) * 30, 30)
_YOUNG = Series((0.0,) * 20, 30)  # 20 days of history: younger than the window
attach_fixtures(
    "vpn-connection-idle",
    Fixtures(
        fires=_no_date(
            res(VPN_CONNECTION, "vpn-1", 0, state="available", tunnels_up=0, vpn_gateway_id="vgw-1")
        ),
        silent=_no_date(
            res(VPN_CONNECTION, "vpn-2", 0, state="available", tunnels_up=0, vpn_gateway_id="vgw-1")
        ),
        now=_NOW,
        series={
            ("vpn-1", "tunnel_in", 30): _ZERO30,
            ("vpn-1", "tunnel_out", 30): _ZERO30,
            ("vpn-2", "tunnel_in", 30): _YOUNG,
            ("vpn-2", "tunnel_out", 30): _YOUNG,
        },
    ),
)
_TGW = {"state": "available", "transit_gateway_id": "tgw-1", "resource_type": "vpc"}
attach_fixtures(
    "transit-gateway-attachment-idle",
    Fixtures(
        fires=res(TGW_ATTACHMENT, "tgw-attach-1", 90, **_TGW),
        silent=res(TGW_ATTACHMENT, "tgw-attach-2", 90, **_TGW),
        now=_NOW,
        series={
            ("tgw-attach-1", "bytes_in", 30): _ZERO30,
            ("tgw-attach-1", "bytes_out", 30): _ZERO30,
            ("tgw-attach-2", "bytes_in", 30): _ZERO30,
            ("tgw-attach-2", "bytes_out", 30): Series((0.0,) * 29 + (512.0,), 30),
        },
    ),
)
