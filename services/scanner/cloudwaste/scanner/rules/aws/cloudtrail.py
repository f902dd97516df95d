"""CloudTrail rules."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from cloudwaste.scanner.domain import Detection, Resource
from cloudwaste.scanner.rules import Context, Fixtures, Param, attach_fixtures, rule
from cloudwaste.scanner.rules.aws._common import NOW as _NOW
from cloudwaste.scanner.rules.aws._common import days_ago, res

KIND = "aws.cloudtrail.trail"
_LATE = dt.datetime.max.replace(tzinfo=dt.UTC)


def _overlap(a: str | None, b: str | None) -> bool:
    """Two trails' management events overlap (All with anything; ReadOnly and WriteOnly do not)."""
    return a is not None and b is not None and (a == "All" or b == "All" or a == b)


def _order(t: dict) -> tuple:
    """Which copy of the region's management events is "the first" (free) one: an organization
    trail, then a multi-region trail, then the trail logging the longest, then by ARN."""
    return (
        not t.get("organization"),
        not t.get("multi_region"),
        t.get("started_logging") or _LATE,
        t.get("arn") or "",
    )


def first_copies(trail: Resource) -> list[dict]:
    """The trails recording this region's management events that come before `trail` (see
    `_order`) and overlap with it: empty when `trail` is the first copy or records none."""
    a = trail.attributes
    if not a.get("logging") or a.get("management_events") is None:
        return []
    me = _order({**a, "arn": trail.resource_id})
    return [
        t
        for t in a.get("region_trails") or []
        if t.get("arn") != trail.resource_id
        and t.get("logging")
        and _overlap(t.get("management_events"), a.get("management_events"))
        and _order(t) < me
    ]


@rule(
    key="cloudtrail-trail-duplicate",
    provider="aws",
    resource_kind=KIND,
    title="CloudTrail trail recording a second copy of the region's management events",
    permissions=("cloudtrail:DescribeTrails", "cloudtrail:GetEventSelectors", "cloudtrail:GetTrailStatus"),
    params={
        "management_events_per_month": Param(
            float,
            0.0,
            "The region's management events a month, when known (0: unknown, the finding is priced "
            "at 0). Each further copy costs this / 100,000 x the per-100,000-events price.",
            0,
        )
    },
    confidence_doc="HIGH when the first copy is a trail of the same home region (its event selectors "
    "were read); MEDIUM when it is another region's multi-region or organization trail (its "
    "selectors are judged from DescribeTrails).",
)
def cloudtrail_trail_duplicate(r: Resource, p, ctx: Context) -> Detection | None:
    """The first copy of a region's management events that CloudTrail delivers is free; every
    further copy costs $2.00 per 100,000 events (AWS CloudTrail pricing). A trail that is logging
    and records management events that another trail already records for the same region (its own
    home-region trails, and the multi-region and organization trails of other home regions) is such
    a copy. The trail reported is each additional one: the free copy is taken to be an organization
    trail, else a multi-region trail, else the trail that has been logging the longest (CloudTrail
    does not say which copy it bills as the first; the total is the same). Trails that only record
    data events, or that are stopped, are not copies. A trail is judged in its home region.

    The event volume is not knowable cheaply (no CloudWatch metric counts management events), so
    the finding is priced at 0 unless the account sets management_events_per_month. Steampipe
    Thrifty has similar checks (redundant regional and multi-region trails)."""
    firsts = first_copies(r)
    if not firsts:
        return None
    first = min(firsts, key=_order)
    events = p["management_events_per_month"]
    unit = ctx.prices.price("cloudtrail", "management_events_100k")
    evidence = {
        "management_events": r.attributes.get("management_events"),
        "multi_region": bool(r.attributes.get("multi_region")),
        "first_copy_trail": first.get("arn"),
        "first_copy_home_region": first.get("home_region"),
        "trails_recording_management_events": 1 + len(firsts),
        **ctx.prices.evidence(),
    }
    if events > 0 and unit is not None:
        cost = (unit * Decimal(str(events)) / 100000).quantize(Decimal("0.0001"))
        evidence["management_events_per_month"] = events
    else:
        cost = Decimal(0)
        evidence["price"] = (
            "unknown event volume: priced at 0 (each further copy costs "
            f"{unit if unit is not None else 'an unknown price'} per 100,000 management events)"
        )
    return Detection(
        scenario="cloudtrail-trail-duplicate",
        confidence="HIGH" if first.get("home_region") == r.region else "MEDIUM",
        monthly_cost=cost,
        evidence=evidence,
    )


# --- fixtures: one resource that fires and one near miss per rule ---------------------------------

_ARN = "arn:aws:cloudtrail:eu-west-1:123456789012:trail/"


def _summary(name: str, started: float, scope: str | None = "All", logging: bool = True) -> dict:
    return {
        "arn": _ARN + name,
        "home_region": "eu-west-1",
        "organization": False,
        "multi_region": False,
        "logging": logging,
        "started_logging": days_ago(started),
        "management_events": scope,
    }


_MAIN, _COPY, _DATA = _summary("main", 900), _summary("audit-copy", 100), _summary("s3-data", 50, None)
_REGION = [_MAIN, _COPY, _DATA]
attach_fixtures(
    "cloudtrail-trail-duplicate",
    Fixtures(
        fires=res(KIND, _ARN + "audit-copy", 100, **_COPY, region_trails=_REGION),
        silent=res(KIND, _ARN + "main", 900, **_MAIN, region_trails=_REGION),
        now=_NOW,
    ),
)
