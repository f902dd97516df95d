"""Azure Monitor metrics for the metric rules, batched: one Metrics_ListAtSubscriptionScope call
per (namespace, location, window, aggregation) answers for every resource of that namespace in
that location (a series per resource, tagged with its `Microsoft.ResourceId`), with up to 20
metric names a call (Azure Monitor's limit). Never one call per resource.

A rule's `Metric` for Azure: `namespace` is the resource type ("Microsoft.Compute/virtualMachines"),
`metric` the Azure metric name ("Percentage CPU"), `stat` the aggregation ("Average", "Total",
"Maximum", "Minimum"); `dimension` is "Microsoft.ResourceId" (the series' resource). Daily
values (interval P1D) over the window; a day without data is missing, never zero.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from cloudwaste.scanner.providers import history_series
from cloudwaste.scanner.rules import Series

METRICS_PER_CALL = 20  # Azure Monitor's limit of metric names per request
_STAT_FIELD = {"average": "average", "total": "total", "maximum": "maximum", "minimum": "minimum", "count": "count"}


def fetch(conn: Any, subscription: str, queries: Sequence[Any], now: dt.datetime) -> dict:
    """Daily series (interval P1D, whole days up to today) for the metric rules: {query.key: Series}."""
    end = now.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)  # whole days
    out: dict = {}
    for q, points in _points(conn, subscription, queries, end, "P1D", 86400):
        out[q.key] = Series(tuple(v for _, v in points), q.days)
    return out


def fetch_history(conn: Any, subscription: str, queries: Sequence[Any], now: dt.datetime, period: int) -> dict:
    """Full series at `period` seconds (PT1H: hourly), every slot of the window, None where Azure
    Monitor has no value: {(resource id, metric name): HistorySeries}."""
    epoch = int(now.astimezone(dt.UTC).timestamp())
    end = dt.datetime.fromtimestamp(epoch - epoch % period, dt.UTC)  # whole periods
    out: dict = {}
    for q, points in _points(conn, subscription, queries, end, _INTERVALS[period], period):
        out[(q.resource_id, q.metric.name)] = history_series(q, end, period, points)
    return out


_INTERVALS = {3600: "PT1H", 86400: "P1D"}


API_VERSION = "2024-02-01"


def _points(conn: Any, subscription: str, queries: Sequence[Any], end: dt.datetime, interval: str, period: int):
    """(query, [(timestamp, value), ...] oldest first) for every query, one call per namespace,
    location, window and aggregation (20 metric names a call). The answer is read as plain JSON
    through the management pipeline (`AzureConnection.send`): azure-mgmt-monitor's model
    deserialization took 93% of the time of 720-point series (28 of 31 s for one scan's history)."""
    groups: dict[tuple[str, str, int, str], list[Any]] = {}
    for q in queries:
        groups.setdefault((q.metric.namespace, q.region, q.days, q.metric.stat.lower()), []).append(q)
    for (namespace, location, days, stat), group in sorted(groups.items()):
        start = end - dt.timedelta(days=days)
        names = sorted({q.metric.metric for q in group})
        field = _STAT_FIELD.get(stat, stat)
        # {(resource id lower, metric name): [(timestamp, value)]}
        values: dict[tuple[str, str], list[tuple[dt.datetime, float]]] = {}
        for first in range(0, len(names), METRICS_PER_CALL):
            params = {
                "api-version": API_VERSION,
                "region": location,
                "timespan": f"{start:%Y-%m-%dT%H:%M:%SZ}/{end:%Y-%m-%dT%H:%M:%SZ}",  # no "+" to escape
                "interval": interval,
                "metricnames": ",".join(names[first : first + METRICS_PER_CALL]),
                "aggregation": stat,
                "metricnamespace": namespace,
                "$filter": "Microsoft.ResourceId eq '*'",
                "top": str(max(10, len({q.resource_id for q in group}))),
            }
            answer = conn.send("GET", f"/subscriptions/{subscription}/providers/Microsoft.Insights/metrics", params)
            for metric in answer.get("value") or []:
                name = (metric.get("name") or {}).get("value")
                for series in metric.get("timeseries") or []:
                    rid = next(
                        (
                            m.get("value")
                            for m in series.get("metadatavalues") or []
                            if ((m.get("name") or {}).get("value") or "").lower() == "microsoft.resourceid"
                        ),
                        None,
                    )
                    if rid is None:
                        continue
                    points = [(p.get("timeStamp"), p.get(field)) for p in series.get("data") or []]
                    values[(rid.lower(), name)] = sorted(
                        (_utc(dt.datetime.fromisoformat(t)), float(v)) for t, v in points if v is not None and t
                    )
        for q in group:
            yield q, values.get((q.resource_id.lower(), q.metric.metric), [])


def _utc(t: dt.datetime) -> dt.datetime:
    return t if t.tzinfo else t.replace(tzinfo=dt.UTC)
