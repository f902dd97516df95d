"""CloudTrail kinds: trails, with the other trails that record the same region's events."""

from __future__ import annotations

import datetime as dt

from cloudwaste.scanner.domain import Resource
from cloudwaste.scanner.kinds import kind
from cloudwaste.scanner.kinds.aws._common import PROVIDER, Deps, resource, utc

TRAIL = "aws.cloudtrail.trail"


def management_scope(selectors: dict) -> str | None:
    """Which management events a trail records, from GetEventSelectors: "All", "ReadOnly",
    "WriteOnly", or None (none). A trail without selectors records all of them (CloudTrail's
    default); basic selectors record them unless IncludeManagementEvents is false; advanced ones
    when a selector's eventCategory equals Management (narrowed by a readOnly field)."""
    basic = selectors.get("EventSelectors") or []
    advanced = selectors.get("AdvancedEventSelectors") or []
    if not basic and not advanced:
        return "All"
    scopes = set()
    for s in basic:
        if s.get("IncludeManagementEvents", True):
            scopes.add(s.get("ReadWriteType") or "All")
    for s in advanced:
        fields = {f.get("Field"): f for f in s.get("FieldSelectors") or []}
        category = fields.get("eventCategory", {})
        if "Management" not in (category.get("Equals") or []):
            continue
        read_only = (fields.get("readOnly", {}).get("Equals") or [None])[0]
        scopes.add({"true": "ReadOnly", "false": "WriteOnly"}.get(str(read_only).lower(), "All"))
    if not scopes:
        return None
    if "All" in scopes or scopes >= {"ReadOnly", "WriteOnly"}:
        return "All"
    return scopes.pop()


@kind(
    key=TRAIL,
    provider=PROVIDER,
    title="CloudTrail trail",
    operations=("cloudtrail:DescribeTrails", "cloudtrail:GetEventSelectors", "cloudtrail:GetTrailStatus"),
    id_field="TrailARN",
    name_field="Name",
    created_field=None,  # CloudTrail does not say when a trail was created
    ml_config={"multi_region": bool, "organization": bool, "logging": bool, "management_events": str},
)
def list_trails(conn, region: str, now: dt.datetime, deps: Deps) -> list[Resource]:
    """The trails whose home region is this one, each with every trail that records this region's
    events (`region_trails`: its own, and the multi-region and organization trails of other home
    regions, CloudTrail's "shadow trails").

    One DescribeTrails (includeShadowTrails; it has no paginator and returns every trail that
    applies to the region), then one GetTrailStatus per trail and one GetEventSelectors per trail
    of this home region: CloudTrail has no batch form of either (a region holds at most 5 trails of
    its own). A shadow trail's management events are known from DescribeTrails only when it has no
    custom event selectors (then it records all of them); otherwise they count as unknown."""
    ct = conn.client("cloudtrail", region)
    trails = ct.describe_trails(includeShadowTrails=True).get("trailList", [])
    summaries = []
    home = []
    for t in trails:
        arn = t["TrailARN"]
        status = ct.get_trail_status(Name=arn)
        own = t.get("HomeRegion") == region
        if own:
            scope = management_scope(ct.get_event_selectors(TrailName=arn))
        else:
            scope = None if t.get("HasCustomEventSelectors") else "All"
        summary = {
            "arn": arn,
            "home_region": t.get("HomeRegion"),
            "organization": bool(t.get("IsOrganizationTrail")),
            "multi_region": bool(t.get("IsMultiRegionTrail")),
            "logging": bool(status.get("IsLogging")),
            "started_logging": utc(status.get("StartLoggingTime")),
            "management_events": scope,
        }
        summaries.append(summary)
        if own:
            home.append((t, summary))
    out = []
    for t, summary in home:
        out.append(
            resource(
                TRAIL,
                t,
                region,
                {},
                attributes={**summary, "region_trails": summaries},
                config={
                    "multi_region": summary["multi_region"],
                    "organization": summary["organization"],
                    "logging": summary["logging"],
                    "management_events": summary["management_events"] or "None",
                },
            )
        )
    return out
