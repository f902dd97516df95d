"""CloudWatch Logs rules.

The two rules split the log groups that hold data: a group that received nothing over the window
is `logs-group-no-ingestion` (delete it: all its storage goes), whatever its retention; a group
still receiving logs that never expires is `logs-group-no-retention` (set a retention). Both read
the same IncomingBytes series, with windows of the same default, so one group fires at most one.
"""

from __future__ import annotations

import math
from decimal import Decimal

from cloudwaste.scanner.domain import Detection, Resource
from cloudwaste.scanner.rules import Context, Fixtures, Metric, Param, Series, age_days, attach_fixtures, rule
from cloudwaste.scanner.rules.aws._common import NOW as _NOW
from cloudwaste.scanner.rules.aws._common import res, rounded

KIND = "aws.logs.log_group"
GB = 1024**3
INCOMING = Metric("incoming_bytes", "AWS/Logs", "IncomingBytes", "LogGroupName", "Sum")
PERMISSIONS = ("logs:DescribeLogGroups", "cloudwatch:GetMetricData")


def _stored_gb(r: Resource) -> float:
    return (r.attributes.get("stored_bytes") or 0) / GB


def _storage_price(r: Resource, ctx: Context) -> tuple[Decimal, dict]:
    price = ctx.prices.log_storage(round(_stored_gb(r), 6))
    evidence = dict(ctx.prices.evidence())
    if price is None:
        evidence["price"] = "unknown log storage price: priced at 0"
    return (price if price is not None else Decimal(0)), evidence


def _not_ingesting(r: Resource, window_days: float, min_stored_gb: float, ctx: Context) -> Series | None:
    """The IncomingBytes series when the group is old enough, holds at least `min_stored_gb` and
    received nothing over the window (no datapoint, or only zeros); else None."""
    age = age_days(r.created_at, ctx.now)
    if age is None or age < window_days or _stored_gb(r) < min_stored_gb or _stored_gb(r) <= 0:
        return None
    series = ctx.metric(r, INCOMING.name, math.ceil(window_days))
    if series is None or series.total > 0:
        return None
    return series


# --- logs-group-no-ingestion ------------------------------------------------------------------------


def _idle_candidate(r: Resource, p, ctx: Context) -> bool:
    age = age_days(r.created_at, ctx.now)
    return (
        age is not None
        and age >= p["window_days"]
        and 0 < _stored_gb(r)
        and _stored_gb(r) >= p["min_stored_gb"]
    )


@rule(
    key="logs-group-no-ingestion",
    provider="aws",
    resource_kind=KIND,
    title="CloudWatch log group storing data but receiving none",
    permissions=PERMISSIONS,
    params={
        "window_days": Param(
            float, 30.0, "No bytes ingested over this many days (the group must be that old).", 2
        ),
        "min_stored_gb": Param(float, 0.1, "Stores at least this many GB (smaller groups are noise).", 0),
    },
    confidence_doc="HIGH when the group is older than twice the window, MEDIUM otherwise. CloudWatch "
    "publishes no IncomingBytes datapoint for a day without ingestion, so 'no datapoint at all' is the "
    "signal itself.",
    metrics=(INCOMING,),
    candidate=_idle_candidate,
)
def logs_group_no_ingestion(r: Resource, p, ctx: Context) -> Detection | None:
    """A log group that stores data but received no log event over the last 30 days (daily Sum of
    AWS/Logs IncomingBytes, dimension LogGroupName) belongs to something that stopped logging (a
    deleted function, a decommissioned service); its archive bills every month. Deleting it (after
    an export to S3 if the logs must be kept) saves its stored GB x the log storage price. This rule
    owns idle groups whether or not they have a retention (an idle group with a retention empties
    itself only after it); `logs-group-no-retention` owns the groups still ingesting. AWS publishes
    no IncomingBytes datapoint without ingestion: no datapoint over the window means nothing came
    in, which is why the group must be at least as old as the window. The 30-day window is common
    FinOps practice; groups under 0.1 GB are left out (cents a month)."""
    series = _not_ingesting(r, p["window_days"], p["min_stored_gb"], ctx)
    if series is None:
        return None
    cost, price_evidence = _storage_price(r, ctx)
    age = age_days(r.created_at, ctx.now)
    return Detection(
        scenario="logs-group-no-ingestion",
        confidence="HIGH" if age is not None and age >= 2 * p["window_days"] else "MEDIUM",
        monthly_cost=cost,
        evidence={
            "stored_gb": round(_stored_gb(r), 3),
            "retention_days": r.attributes.get("retention_days"),
            "window_days": math.ceil(p["window_days"]),
            "incoming_bytes": series.evidence("bytes"),
            "age_days": rounded(age),
            **price_evidence,
        },
    )


# --- logs-group-no-retention ------------------------------------------------------------------------


def _no_retention_candidate(r: Resource, p, ctx: Context) -> bool:
    return (
        not r.attributes.get("retention_days") and _stored_gb(r) >= p["min_stored_gb"] and _stored_gb(r) > 0
    )


@rule(
    key="logs-group-no-retention",
    provider="aws",
    resource_kind=KIND,
    title="CloudWatch log group that never expires its data",
    permissions=PERMISSIONS,
    params={
        "min_stored_gb": Param(float, 1.0, "Stores at least this many GB.", 0),
        "window_days": Param(
            float,
            30.0,
            "A group older than this that received nothing over as many days is left to "
            "logs-group-no-ingestion (keep both rules' windows equal).",
            2,
        ),
    },
    confidence_doc="MEDIUM: the saving depends on the retention chosen; the finding prices everything "
    "stored as the upper bound.",
    metrics=(INCOMING,),
    candidate=_no_retention_candidate,
)
def logs_group_no_retention(r: Resource, p, ctx: Context) -> Detection | None:
    """A log group without a retention policy ("Never expire") keeps every event forever and its
    storage bill only grows. Fires for a group storing at least 1 GB that is still receiving logs
    (a group idle over the window is left to `logs-group-no-ingestion`, whatever its size: with the
    default windows and sizes the two never fire together and every such group gets one of them).
    Priced as its stored GB x the log storage price: what a retention would eventually save once
    old events expire (an upper bound; the real saving depends on the retention chosen and on how
    old the data is). Default after Steampipe Thrifty's check for log groups without retention,
    with a 1 GB floor (common FinOps practice: below it the saving is cents)."""
    if not _no_retention_candidate(r, p, ctx):
        return None
    age = age_days(r.created_at, ctx.now)
    window = math.ceil(p["window_days"])
    series = ctx.metric(r, INCOMING.name, window)
    if age is not None and age >= p["window_days"]:
        if series is None:  # old enough to be judged idle, and not measured: leave it
            return None
        if _not_ingesting(r, p["window_days"], 0.0, ctx) is not None:
            return None  # idle: logs-group-no-ingestion's finding
    cost, price_evidence = _storage_price(r, ctx)
    evidence = {
        "retention_days": None,
        "stored_gb": round(_stored_gb(r), 3),
        "age_days": rounded(age),
        "window_days": window,
        **price_evidence,
        "saving": "upper bound: everything stored, once a retention has expired it",
    }
    if series is not None:
        evidence["incoming_bytes"] = series.evidence("bytes")
    return Detection(
        scenario="logs-group-no-retention", confidence="MEDIUM", monthly_cost=cost, evidence=evidence
    )


# --- fixtures: one resource that fires and one near miss per rule ---------------------------------

_DAILY = Series((5.0e8,) * 30, 30)  # 500 MB a day coming in
attach_fixtures(
    "logs-group-no-ingestion",
    Fixtures(
        fires=res(KIND, "/aws/lambda/retired-fn", 200, retention_days=None, stored_bytes=40 * GB),
        silent=res(KIND, "/aws/lambda/quiet-but-alive", 200, retention_days=30, stored_bytes=40 * GB),
        now=_NOW,
        series={
            ("/aws/lambda/retired-fn", "incoming_bytes", 30): Series((), 30),  # nothing came in
            ("/aws/lambda/quiet-but-alive", "incoming_bytes", 30): Series((2048.0,), 30),  # 2 KB one day
        },
    ),
)
attach_fixtures(
    "logs-group-no-retention",
    Fixtures(
        fires=res(KIND, "/app/api", 400, retention_days=None, stored_bytes=250 * GB),
        silent=res(KIND, "/app/web", 400, retention_days=90, stored_bytes=250 * GB),
        now=_NOW,
        series={("/app/api", "incoming_bytes", 30): _DAILY, ("/app/web", "incoming_bytes", 30): _DAILY},
    ),
)
