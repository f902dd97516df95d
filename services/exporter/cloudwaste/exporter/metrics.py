"""The exporter's Prometheus metrics (names: cloudwaste_exporter_<what>_<unit>; bounded labels).

The last-success gauges are what the "export missed" and "purge missed" alerts read: at start they
are restored from the runs on record (`restore`), so a restarted exporter does not look as if it
had never exported."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EXPORTS = Counter("cloudwaste_exporter_exports_total", "Export runs finished, by state.", ["state"])
ROWS = Counter("cloudwaste_exporter_rows_total", "Rows written to export files.")
BYTES = Counter("cloudwaste_exporter_bytes_total", "Bytes written to export files.")
DURATION = Histogram(
    "cloudwaste_exporter_export_duration_seconds",
    "Wall time of an export.",
    buckets=(0.1, 0.5, 1, 5, 15, 60, 300, 900, 3600),
)
PURGES = Counter("cloudwaste_exporter_purge_runs_total", "Retention purges finished, by state.", ["state"])
PURGED_ML_ROWS = Counter("cloudwaste_exporter_purged_ml_rows_total", "ML rows removed by retention.")
# The quality of the last export that had rows: an export of nothing (nothing changed since the
# previous one) has no quality to judge. A score measured over a handful of rows is noise, so the
# alert reads the row count too and judges only scores measured over enough rows.
QUALITY_SCORE = Gauge(
    "cloudwaste_exporter_data_quality_score",
    "Data quality score (0-100) of the last successful export that had rows.",
)
QUALITY_ROWS = Gauge(
    "cloudwaste_exporter_data_quality_rows", "Rows the data quality score was measured over."
)
LAST_SUCCESS = Gauge(
    "cloudwaste_exporter_last_success_timestamp_seconds", "When the last export succeeded (Unix time)."
)
PURGE_LAST_SUCCESS = Gauge(
    "cloudwaste_exporter_purge_last_success_timestamp_seconds",
    "When the last retention purge (not a dry run) succeeded (Unix time).",
)


def restore(store) -> None:
    """Sets the last-success gauges and the quality ones from the runs on record."""
    export, measured, purge = store.last_successes()
    if export is not None:
        LAST_SUCCESS.set(export.end_time.timestamp())
    if measured is not None and (measured.quality or {}).get("score") is not None:
        observe_quality(measured.quality["score"], measured.quality.get("row_count") or measured.row_count)
    if purge is not None:
        PURGE_LAST_SUCCESS.set(purge.end_time.timestamp())


def observe_quality(score: float, rows: int) -> None:
    """Records an export's quality score, unless it exported nothing."""
    if rows > 0:
        QUALITY_SCORE.set(float(score))
        QUALITY_ROWS.set(float(rows))
