"""An indexed GetMetricData for moto's CloudWatch, so that metric rules can be tested at estate scale.

moto's own implementation scans every stored datapoint for every query and every period: a scan
of 1,500 running instances (3 metrics, 14 days) makes it 4,500 queries x 15 periods x 60,000
datapoints, minutes per region. This one reads the stored datapoints once per call, groups them by
(namespace, metric, dimensions) and by period, and computes each statistic with moto's own
`Statistics`, so the values are moto's. It serves plain MetricStat queries (what the scanner
sends); a call with math or Metrics Insights expressions goes to moto's implementation unchanged.

`install()` is idempotent; the simulated estate calls it before moto serves its first request.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

_installed = False
ORIGINAL = None  # moto's own implementation, once installed (the tests compare against it)


def install() -> None:
    global _installed, ORIGINAL
    if _installed:
        return
    from moto.cloudwatch import models

    original = ORIGINAL = models.CloudWatchBackend.get_metric_data

    def get_metric_data(self, queries, start_time, end_time, scan_by="TimestampAscending"):
        if not queries or any("MetricStat" not in q for q in queries):
            return original(self, queries, start_time, end_time, scan_by)
        start_time = start_time.replace(microsecond=0)
        end_time = end_time.replace(microsecond=0)
        if start_time >= end_time:  # moto's messages for these
            return original(self, queries, start_time, end_time, scan_by)
        index: dict[tuple, list[Any]] = {}
        for md in self.get_all_metrics():
            if start_time <= md.timestamp < end_time:
                index.setdefault(_key(md.namespace, md.name, md.dimensions), []).append(md)
        results = []
        for query in queries:
            stat_q = query["MetricStat"]
            metric = stat_q["Metric"]
            dims = [models.Dimension(d["Name"], d["Value"]) for d in metric.get("Dimensions", [])]
            data = index.get(_key(metric["Namespace"], metric["MetricName"], dims), [])
            unit = stat_q.get("Unit")
            if unit:
                data = [md for md in data if md.unit == unit]
            period = int(stat_q["Period"])
            buckets: dict[int, list[Any]] = {}
            for md in data:
                buckets.setdefault(int((md.timestamp - start_time).total_seconds()) // period, []).append(md)
            values, timestamps = [], []
            for n in sorted(buckets):
                stats = models.Statistics([stat_q["Stat"]], start_time + timedelta(seconds=n * period))
                stats.metric_data = buckets[n]
                values.append(stats.get_statistics_for_type(stat_q["Stat"]))
                timestamps.append(stats.timestamp)
            if scan_by == "TimestampDescending":
                values.reverse()
                timestamps.reverse()
            if query.get("ReturnData", True):
                results.append(
                    {
                        "id": query["Id"],
                        "label": query.get("Label") or f"{metric['MetricName']} {stat_q['Stat']}",
                        "values": values,
                        "timestamps": timestamps,
                        "status_code": "Complete",
                    }
                )
        return results

    models.CloudWatchBackend.get_metric_data = get_metric_data
    _installed = True


def _key(namespace: str, name: str, dimensions) -> tuple:
    return (namespace, name, tuple(sorted((d.name, d.value) for d in dimensions)))
