"""OpenSearch Service rules: idle domains."""

from __future__ import annotations

import math
from decimal import Decimal

from cloudwaste.scanner.domain import Detection, Resource
from cloudwaste.scanner.rules import Context, Fixtures, Metric, Param, Series, attach_fixtures, rule
from cloudwaste.scanner.rules.aws._common import NOW as _NOW

KIND = "aws.opensearch.domain"

# Domain-level metrics: dimensions DomainName and ClientId (the account id).
_CLIENT = (("ClientId", "@account_id"),)
SEARCH = Metric("search_rate", "AWS/ES", "SearchRate", "DomainName", "Sum", extra_dimensions=_CLIENT)
INDEXING = Metric("indexing_rate", "AWS/ES", "IndexingRate", "DomainName", "Sum", extra_dimensions=_CLIENT)


def _active(r: Resource, p, ctx: Context) -> bool:
    return r.attributes.get("state") == "active"


def _domain_price(r: Resource, ctx: Context) -> tuple[Decimal, list[str], dict]:
    """Data nodes + dedicated masters x their hourly price x 730, plus EBS storage (GB per data
    node x data nodes x the GB-month price). Parts with an unknown price count 0 and are named."""
    a = r.attributes
    unknown: list[str] = []
    parts: dict[str, str] = {}
    total = Decimal(0)
    for label, itype, count in (
        ("data_nodes", a.get("instance_type"), int(a.get("instance_count") or 0)),
        ("dedicated_masters", a.get("dedicated_master_type"), int(a.get("dedicated_master_count") or 0)),
    ):
        if not count:
            continue
        price = ctx.prices.monthly_from_hourly("opensearch", "instance_hour", str(itype), quantity=count)
        if price is None:
            unknown.append(f"{label} ({itype})")
        else:
            total += price
            parts[label] = str(price)
    gb = int(a.get("volume_gb") or 0) * int(a.get("instance_count") or 0)
    if gb:
        storage = ctx.prices.monthly("opensearch", "storage_gb_month", quantity=gb)
        if storage is None:
            unknown.append("storage")
        else:
            total += storage
            parts["storage"] = str(storage)
    return total, unknown, parts


@rule(
    key="opensearch-domain-idle",
    provider="aws",
    resource_kind=KIND,
    title="OpenSearch domain with no searches and no indexing",
    permissions=("es:ListDomainNames", "es:DescribeDomains", "cloudwatch:GetMetricData"),
    params={
        "window_days": Param(float, 14.0, "Days of CloudWatch history judged.", 2),
        "min_coverage": Param(
            float,
            0.85,
            "Share of the window's days that must have datapoints (else: not judged; this is also "
            "what keeps a domain younger than the window from being called idle).",
            0.1,
        ),
    },
    confidence_doc="HIGH when every day of the window has data; MEDIUM when a few days are missing "
    "(at least min_coverage of them must have data).",
    metrics=(SEARCH, INDEXING),
    candidate=_active,
)
def opensearch_domain_idle(r: Resource, p, ctx: Context) -> Detection | None:
    """An active domain that served no search and indexed no document over the last 14 days
    (daily sums of SearchRate and IndexingRate, dimensions DomainName + ClientId, both 0) bills
    for its nodes and storage for nothing. The window follows AWS Trusted Advisor's 14-day idle
    checks. The domain API gives no creation time; a domain publishes both metrics every minute
    (zeros included) from its creation on, so requiring `min_coverage` of the window's days to
    have data both keeps missing data from reading as zero and keeps a domain younger than the
    window from being judged. Cost: data nodes and dedicated masters x their on-demand price, plus
    the EBS storage of the data nodes (UltraWarm and cold storage are not priced)."""
    if not _active(r, p, ctx):
        return None
    days = math.ceil(p["window_days"])
    search, indexing = ctx.metric(r, SEARCH.name, days), ctx.metric(r, INDEXING.name, days)
    if search is None or indexing is None:
        return None
    if min(search.coverage, indexing.coverage) < p["min_coverage"]:
        return None
    if search.total + indexing.total > 0:
        return None
    cost, unknown, parts = _domain_price(r, ctx)
    evidence = {
        "instance_type": r.attributes.get("instance_type"),
        "instance_count": r.attributes.get("instance_count"),
        "dedicated_master_count": r.attributes.get("dedicated_master_count"),
        "volume_gb": r.attributes.get("volume_gb"),
        "window_days": days,
        "search_rate": search.evidence("requests"),
        "indexing_rate": indexing.evidence("documents"),
        "monthly_price_parts": parts,
        **ctx.prices.evidence(),
    }
    if unknown:
        evidence["price"] = f"unknown price for {', '.join(unknown)}: priced at 0"
    return Detection(
        scenario="opensearch-domain-idle",
        confidence="HIGH" if min(search.got, indexing.got) >= days else "MEDIUM",
        monthly_cost=cost,
        evidence=evidence,
    )


# --- fixtures: one resource that fires and one near miss per rule ---------------------------------


def _domain(rid: str) -> Resource:
    # the API gives no creation time: created_at stays None
    return Resource(
        "aws",
        KIND,
        rid,
        "eu-west-1",
        attributes=dict(
            state="active",
            account_id="123456789012",
            instance_type="m5.large.search",
            instance_count=2,
            dedicated_master_type=None,
            dedicated_master_count=0,
            volume_gb=100,
            volume_type="gp3",
        ),
    )


_ZERO = Series((0.0,) * 14, 14)
attach_fixtures(
    "opensearch-domain-idle",
    Fixtures(
        fires=_domain("os-idle-1"),
        silent=_domain("os-ingest-1"),
        now=_NOW,
        series={
            ("os-idle-1", "search_rate", 14): _ZERO,
            ("os-idle-1", "indexing_rate", 14): _ZERO,
            ("os-ingest-1", "search_rate", 14): _ZERO,  # nobody searches, but logs are indexed daily
            ("os-ingest-1", "indexing_rate", 14): Series((120.0,) * 14, 14),
        },
    ),
)
