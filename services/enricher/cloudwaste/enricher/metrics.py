"""The enricher's Prometheus metrics (names: cloudwaste_enricher_<what>_<unit>; bounded labels)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

RUNS = Counter(
    "cloudwaste_enricher_runs_total",
    "Enrichment runs that ended an attempt, by result: succeeded, failed (for good), retried (queued "
    "again after a failure) or released (queued again because this enricher was stopping).",
    ["result"],
)
ROWS = Counter("cloudwaste_enricher_rows_enriched_total", "ML rows enriched.")
ROWS_WITH_HISTORY = Counter(
    "cloudwaste_enricher_rows_with_metric_history_total",
    "ML rows enriched with a summary of their resource's metric history (idle-type findings).",
)
ROWS_WITH_REAL_COST = Counter(
    "cloudwaste_enricher_rows_with_real_cost_total",
    "ML rows enriched with what the bill says the resource really costs.",
)
LAG = Histogram(
    "cloudwaste_enricher_lag_seconds",
    "From a scan run's hand-off (its enrichment queued) to the end of its enrichment.",
    buckets=(1, 5, 15, 30, 60, 300, 900, 1800, 3600, 4 * 3600, 86_400),
)
LAST_SUCCESS = Gauge(
    "cloudwaste_enricher_last_success_timestamp_seconds", "When an enrichment run last succeeded (Unix time)."
)
QUEUED = Gauge(
    "cloudwaste_enricher_queued_runs",
    "Enrichment runs waiting or being enriched (PENDING or RUNNING), at the last look (every 15 s).",
)
OLDEST_QUEUED_AGE = Gauge(
    "cloudwaste_enricher_oldest_queued_run_age_seconds",
    "Age of the oldest PENDING or RUNNING enrichment run at the last look (0: none): the enrichment lag.",
)
