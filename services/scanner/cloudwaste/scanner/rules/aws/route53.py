"""Route 53 rules (global resources, listed in us-east-1): empty public zones nobody queries, and
health checks nothing uses."""

from __future__ import annotations

import dataclasses
import math

from cloudwaste.scanner.domain import Detection, Resource
from cloudwaste.scanner.rules import Context, Fixtures, Metric, Param, Series, attach_fixtures, rule
from cloudwaste.scanner.rules.aws._common import NOW as _NOW
from cloudwaste.scanner.rules.aws._common import res
from cloudwaste.scanner.rules.aws.vpn import WINDOW, coverage_param, priced, zero_activity

HOSTED_ZONE = "aws.route53.hosted_zone"
HEALTH_CHECK = "aws.route53.health_check"

# --- route53-zone-no-queries ----------------------------------------------------------------------

DNS_QUERIES = Metric("dns_queries", "AWS/Route53", "DNSQueries", "HostedZoneId", "Sum")


def _empty_public_zone(r: Resource, p, ctx: Context) -> bool:
    a = r.attributes
    return (
        not a.get("private")
        and not a.get("linked_service")
        and int(a.get("record_set_count") or 0) <= p["max_record_sets"]
    )


@rule(
    key="route53-zone-no-queries",
    provider="aws",
    resource_kind=HOSTED_ZONE,
    title="Public hosted zone with no records and no DNS queries",
    permissions=("route53:ListHostedZones", "cloudwatch:GetMetricData"),
    params={
        "window_days": WINDOW,
        "max_record_sets": Param(
            int, 2, "At most this many record sets (2: only the SOA and NS records Route 53 creates).", 2
        ),
        "min_coverage": coverage_param(
            "Share of the window's days with datapoints for HIGH confidence (Route 53 publishes "
            "DNSQueries only for days with queries: none at all is the usual idle signal)."
        ),
    },
    confidence_doc="MEDIUM when CloudWatch has no DNSQueries datapoint over the window (the zone's age "
    "is unknown); HIGH when datapoints cover at least min_coverage of the window and all are zero.",
    metrics=(DNS_QUERIES,),
    candidate=_empty_public_zone,
)
def route53_zone_no_queries(r: Resource, p, ctx: Context) -> Detection | None:
    """A hosted zone bills $0.50 a month. A public zone fires when it holds nothing but the SOA
    and NS records Route 53 creates with it (ListHostedZones' ResourceRecordSetCount <= 2) AND
    CloudWatch shows no DNS query for it over 30 days (AWS/Route53 DNSQueries, HostedZoneId,
    published in us-east-1 for public zones only).

    Why both signals: Route 53 publishes DNSQueries only when a zone is queried, and says nothing
    of a zone's creation time, so "no datapoints" alone cannot tell an unused zone from a new one
    or from a zone whose metrics are missing; a zone with records may also serve a domain that is
    simply little queried. An empty zone that nothing queries serves nothing at all. Private and
    service-managed zones (LinkedService, e.g. Cloud Map) are never flagged (no query metrics;
    managed by another service). An empty zone that IS queried (a delegated domain whose names
    answer NXDOMAIN on purpose, a migration in progress) is not flagged either."""
    if not _empty_public_zone(r, p, ctx):
        return None
    days = math.ceil(p["window_days"])
    queries = ctx.metric(r, "dns_queries", days)
    verdict = zero_activity([queries])
    if verdict is None:
        return None
    points, coverage = verdict
    evidence = {
        "record_set_count": int(r.attributes.get("record_set_count") or 0),
        "dns_queries": queries.evidence("queries"),
        "window_days": days,
        "datapoints": points,
        "age": "unknown (Route 53 does not say when a zone was created)",
    }
    cost = priced(ctx.prices.route53_hosted_zone(), "hosted zone price", evidence, ctx)
    return Detection(
        scenario="route53-zone-no-queries",
        confidence="HIGH" if coverage >= p["min_coverage"] else "MEDIUM",
        monthly_cost=cost,
        evidence=evidence,
    )


# --- route53-health-check-orphaned ----------------------------------------------------------------


@rule(
    key="route53-health-check-orphaned",
    provider="aws",
    resource_kind=HEALTH_CHECK,
    title="Route 53 health check that no record, calculated check or alarm uses",
    permissions=(
        "route53:ListHostedZones",
        "route53:ListHealthChecks",
        "route53:ListResourceRecordSets",
        "cloudwatch:DescribeAlarms",
    ),
    params={},
    confidence_doc="HIGH when the health check is disabled as well; MEDIUM otherwise (something outside "
    "Route 53 and CloudWatch alarms may read its status through the API).",
)
def route53_health_check_orphaned(r: Resource, p, ctx: Context) -> Detection | None:
    """A health check bills monthly (from $0.50 for an AWS endpoint; more for other endpoints and
    optional features). It fires when nothing in the account uses it: no record set of any hosted
    zone of the account names it (the listing reads every zone's record sets), no calculated
    health check has it as a child, no CloudWatch alarm watches its HealthCheckId, and no service
    manages it (LinkedService). Priced at the base health check price (a lower bound: optional
    features such as HTTPS, string matching or fast interval cost more). Not seen: a health check
    named only in a Route 53 Traffic Flow policy document, or read by a tool outside AWS through
    GetHealthCheckStatus; hence MEDIUM unless the check is disabled too. Route 53 gives no
    creation time, so a check created minutes before its record is not told apart."""
    a = r.attributes
    if a.get("referenced_by_record") or a.get("child_of_calculated") or a.get("alarmed"):
        return None
    if a.get("linked_service"):
        return None
    evidence = {
        "type": a.get("type"),
        "disabled": bool(a.get("disabled")),
        "hosted_zones_read": a.get("zones_read"),
        "referenced_by_record": False,
        "child_of_calculated": False,
        "alarmed": False,
        "price_scope": "base health check price (optional features not priced)",
    }
    cost = priced(ctx.prices.monthly("route53", "health_check_month"), "health check price", evidence, ctx)
    return Detection(
        scenario="route53-health-check-orphaned",
        confidence="HIGH" if a.get("disabled") else "MEDIUM",
        monthly_cost=cost,
        evidence=evidence,
    )


# --- fixtures -------------------------------------------------------------------------------------


def _undated(r: Resource) -> Resource:
    """As listed: Route 53 gives no creation time."""
    return dataclasses.replace(r, created_at=None, region="us-east-1")


_EMPTY = {"private": False, "record_set_count": 2, "linked_service": None}
attach_fixtures(
    "route53-zone-no-queries",
    Fixtures(
        fires=_undated(res(HOSTED_ZONE, "Z0EMPTY", 0, **_EMPTY)),
        silent=_undated(res(HOSTED_ZONE, "Z0QUERIED", 0, **_EMPTY)),  # empty, but queried
        now=_NOW,
        series={
            ("Z0EMPTY", "dns_queries", 30): Series((), 30),
            ("Z0QUERIED", "dns_queries", 30): Series((3.0, 1.0), 30),
        },
    ),
)
_CHECK = {"type": "HTTPS", "disabled": False, "zones_read": 4, "child_of_calculated": False, "alarmed": False}
attach_fixtures(
    "route53-health-check-orphaned",
    Fixtures(
        fires=_undated(res(HEALTH_CHECK, "hc-orphan", 0, referenced_by_record=False, **_CHECK)),
        silent=_undated(res(HEALTH_CHECK, "hc-used", 0, referenced_by_record=True, **_CHECK)),
        now=_NOW,
    ),
)
