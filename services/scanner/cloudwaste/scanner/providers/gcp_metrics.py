"""Cloud Monitoring metrics for the metric rules, batched: one timeSeries.list listing (paged)
per (metric type, monitored resource type, aligner, window) answers for every resource of the
project; the series are matched to resources by a resource label. Never one call per resource.

A rule's `Metric` for GCP: `namespace` is the monitored resource type ("gce_instance",
"cloudsql_database"), `metric` the metric type ("compute.googleapis.com/instance/cpu/utilization"),
`stat` the per-series aligner ("ALIGN_MEAN", "ALIGN_SUM", "ALIGN_MAX"), `dimension` the resource
label that names the resource ("instance_id", "database_id") with its value from the resource
(`dimension_attribute`). Daily values (86400 s alignment) over the window; a day without data
is missing, never zero.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from cloudwaste.scanner.providers import history_series
from cloudwaste.scanner.rules import Series


def _value(point: dict) -> float | None:
    v = point.get("value", {})
    for key in ("doubleValue", "int64Value"):
        if key in v:
            return float(v[key])
    return None


def fetch(conn: Any, project: str, queries: Sequence[Any], now: dt.datetime) -> dict:
    """Daily series (86400 s alignment, whole days up to today) for the metric rules: {query.key: Series}."""
    end = now.astimezone(dt.UTC).replace(hour=0, minute=0, second=0, microsecond=0)  # whole days
    return {q.key: Series(tuple(v for _, v in points), q.days) for q, points in _points(conn, project, queries, end, 86400)}


def fetch_history(conn: Any, project: str, queries: Sequence[Any], now: dt.datetime, period: int) -> dict:
    """Full series at `period` seconds (3600 s alignment: hourly), every slot of the window,
    None where Cloud Monitoring has no point: {(resource id, metric name): HistorySeries}. A
    point is placed by the start of its aligned interval."""
    epoch = int(now.astimezone(dt.UTC).timestamp())
    end = dt.datetime.fromtimestamp(epoch - epoch % period, dt.UTC)  # whole periods
    out = {}
    for q, points in _points(conn, project, queries, end, period):
        starts = [(stamp - dt.timedelta(seconds=period), value) for stamp, value in points]
        out[(q.resource_id, q.metric.name)] = history_series(q, end, period, starts)
    return out


def _points(conn: Any, project: str, queries: Sequence[Any], end: dt.datetime, period: int):
    """(query, [(end of the aligned interval, value), ...] oldest first) for every query: one
    paged listing per metric type, resource type, aligner and window."""
    groups: dict[tuple[str, str, str, int, str], list[Any]] = {}
    for q in queries:
        label = q.dimensions[0][0]
        groups.setdefault((q.metric.metric, q.metric.namespace, q.metric.stat, q.days, label), []).append(q)
    for (metric_type, resource_type, aligner, days, label), group in sorted(groups.items()):
        start = end - dt.timedelta(days=days)
        params = {
            "filter": f'metric.type = "{metric_type}" AND resource.type = "{resource_type}"',
            "interval.startTime": start.isoformat().replace("+00:00", "Z"),
            "interval.endTime": end.isoformat().replace("+00:00", "Z"),
            "aggregation.alignmentPeriod": f"{period}s",
            "aggregation.perSeriesAligner": aligner,
            "pageSize": 1000,
        }
        values: dict[str, list[tuple[dt.datetime, float]]] = {}
        for page in conn.pages("monitoring", f"v3/projects/{project}/timeSeries", params):
            for series in page.get("timeSeries", []):
                key = series.get("resource", {}).get("labels", {}).get(label)
                if key is None:
                    continue
                for point in series.get("points", []):
                    value = _value(point)
                    if value is not None:
                        stamp = dt.datetime.fromisoformat(point["interval"]["endTime"].replace("Z", "+00:00"))
                        values.setdefault(key, []).append((stamp, value))
        for q in group:
            yield q, sorted(values.get(q.dimensions[0][1], ()))
