#!/usr/bin/env python
"""Builds the Grafana dashboard (deploy/helm/cloudwaste/files/grafana/cloudwaste.json) with Grafana's
own typed builders (grafana-foundation-sdk), so its JSON follows Grafana's schema.

    python tools/gen_dashboard.py          # writes the file
    python tools/gen_dashboard.py --check  # exit 1 if the file differs from what this builds

Every panel's PromQL is run against a real Prometheus scraping the one-machine deployment after the
demo flow by tests/e2e/test_monitoring.py: each must return data. `$__rate_interval` is Grafana's
(4 scrape intervals at least); counts "per day" use a fixed 1d window.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from grafana_foundation_sdk.builders import dashboard, prometheus, stat, table, timeseries
from grafana_foundation_sdk.cog.encoder import JSONEncoder
from grafana_foundation_sdk.models.dashboard import DataSourceRef

OUT = Path(__file__).resolve().parent.parent / "deploy/helm/cloudwaste/files/grafana/cloudwaste.json"
UID = "cloudwaste-overview"
DS = DataSourceRef(type_val="prometheus", uid="${datasource}")
PREDICTOR = 'grpc_service="cloudwaste.predictor.v1.PredictorService"'

# (row title, [(panel type, title, unit, description, [(legend, expr), ...]), ...])
ROWS = [
    (
        "Scans",
        [
            ("timeseries", "Resources scanned per day, by provider", "short",
             "Resources listed by scans over the last day.",
             [("{{provider}}", "sum by (provider) (increase(cloudwaste_scanner_resources_scanned_total[1d]))")]),
            ("timeseries", "Findings per day, by provider and rule (top 10)", "short",
             "Findings seen by scans over the last day (a finding counts once per scan).",
             [("{{provider}} {{rule}}",
               "topk(10, sum by (provider, rule) (increase(cloudwaste_scanner_findings_total[1d])))")]),
            ("timeseries", "Scan runs per day, by provider and state", "short", "",
             [("{{provider}} {{state}}",
               "sum by (provider, state) (increase(cloudwaste_scanner_scan_runs_total[1d]))")]),
            ("timeseries", "Scan duration p90, by provider", "s", "",
             [("{{provider}}", "histogram_quantile(0.9, sum by (le, provider) "
               "(rate(cloudwaste_scanner_scan_duration_seconds_bucket[1h])))")]),
            ("timeseries", "Scopes scanned per day, by provider and outcome", "short",
             "Regions, subscriptions, projects and tenants; a failed one keeps its findings as they were.",
             [("{{provider}} {{outcome}}",
               "sum by (provider, outcome) (increase(cloudwaste_scanner_scopes_total[1d]))")]),
            ("timeseries", "Provider API calls per second", "reqps", "",
             [("{{provider}}",
               "sum by (provider) (rate(cloudwaste_scanner_provider_api_calls_total[$__rate_interval]))")]),
        ],
    ),
    (
        "ML data",
        [
            ("timeseries", "ML rows collected per day", "short", "One anonymized row per finding and scan.",
             [("rows", "sum(increase(cloudwaste_scanner_ml_rows_total[1d]))")]),
            ("timeseries", "User decisions per day, by decision", "short", "",
             [("{{decision}}", "sum by (decision) (increase(cloudwaste_scanner_decisions_total[1d]))")]),
            ("timeseries", "Enrichment coverage", "percentunit",
             "Share of the rows enriched over the last day that got a metric history summary, and a real cost.",
             [("metric history", "sum(increase(cloudwaste_enricher_rows_with_metric_history_total[1d])) "
               "/ sum(increase(cloudwaste_enricher_rows_enriched_total[1d]))"),
              ("real cost", "sum(increase(cloudwaste_enricher_rows_with_real_cost_total[1d])) "
               "/ sum(increase(cloudwaste_enricher_rows_enriched_total[1d]))")]),
            ("timeseries", "Enrichment lag", "s",
             "The oldest queued enrichment run's age, and the p90 from hand-off to enriched.",
             [("oldest queued", "max(cloudwaste_enricher_oldest_queued_run_age_seconds)"),
              ("p90 hand-off to enriched",
               "histogram_quantile(0.9, sum by (le) (rate(cloudwaste_enricher_lag_seconds_bucket[1h])))")]),
        ],
    ),
    (
        "Exports and retention",
        [
            ("stat", "Since the last successful export", "s", "The weekly export's freshness.",
             [("export", "time() - max(cloudwaste_exporter_last_success_timestamp_seconds)")]),
            ("stat", "Data quality score", "none",
             "Of the last successful export, 0 to 100, and the rows it was measured over (the alert "
             "judges only scores over 100 rows or more).",
             [("score", "max(cloudwaste_exporter_data_quality_score)"),
              ("rows", "max(cloudwaste_exporter_data_quality_rows)")]),
            ("timeseries", "Export runs per week, by state", "short", "",
             [("{{state}}", "sum by (state) (increase(cloudwaste_exporter_exports_total[7d]))")]),
            ("timeseries", "Exports: p90 duration, bytes and rows written per week", "short", "",
             [("p90 seconds", "histogram_quantile(0.9, sum by (le) "
               "(rate(cloudwaste_exporter_export_duration_seconds_bucket[7d])))"),
              ("bytes", "sum(increase(cloudwaste_exporter_bytes_total[7d]))"),
              ("rows", "sum(increase(cloudwaste_exporter_rows_total[7d]))")]),
            ("stat", "Since the last successful purge", "s", "The monthly retention purge's freshness.",
             [("purge", "time() - max(cloudwaste_exporter_purge_last_success_timestamp_seconds)")]),
        ],
    ),
    (
        "Models",
        [
            ("table", "Serving models", "none", "The version and algorithm serving each kind.",
             [("", "max by (model_kind, version, algorithm) (cloudwaste_predictor_model_info)")]),
            ("stat", "Age of the trained models", "s", "",
             [("{{model_kind}}",
               "time() - max by (model_kind) (cloudwaste_predictor_model_trained_timestamp_seconds)")]),
            ("timeseries", "Training runs on record, by kind and state", "short", "",
             [("{{model_kind}} {{state}}", "max by (model_kind, state) (cloudwaste_predictor_recorded_training_runs)")]),
            ("timeseries", "Prediction latency p50 and p99, by method", "s", "",
             [("p50 {{grpc_method}}", "histogram_quantile(0.5, sum by (le, grpc_method) "
               f"(rate(grpc_server_handling_seconds_bucket{{{PREDICTOR}}}[$__rate_interval])))"),
              ("p99 {{grpc_method}}", "histogram_quantile(0.99, sum by (le, grpc_method) "
               f"(rate(grpc_server_handling_seconds_bucket{{{PREDICTOR}}}[$__rate_interval])))")]),
            ("timeseries", "Rows scored per second, by model kind", "short",
             "Waste predictions, anomaly points and forecasts.",
             [("{{model_kind}}",
               "sum by (model_kind) (rate(cloudwaste_predictor_predictions_total[$__rate_interval]))")]),
            ("timeseries", "Anomaly and forecast calls per second", "reqps", "",
             [("{{grpc_method}} {{grpc_code}}", "sum by (grpc_method, grpc_code) (rate(grpc_server_handled_total{"
               f'{PREDICTOR}, grpc_method=~"ScoreAnomalies|StreamAnomalyScores|ForecastCost"}}[$__rate_interval]))')]),
        ],
    ),
    (
        "Services",
        [
            ("timeseries", "Database reachable, by service", "none", "1: the service's PostgreSQL answers.",
             [("{{job}}", "min by (job) (cloudwaste_database_up)")]),
            ("timeseries", "RPCs per second, by service and status code", "reqps", "",
             [("{{job}} {{grpc_code}}",
               "sum by (job, grpc_code) (rate(grpc_server_handled_total[$__rate_interval]))")]),
            ("timeseries", "Targets up", "none", "",
             [("{{job}} {{instance}}", 'up{job=~".*cloudwaste-(scanner|enricher|exporter|predictor)"}')]),
        ],
    ),
]

BUILDERS = {"timeseries": timeseries.Panel, "stat": stat.Panel, "table": table.Panel}


def build() -> dict:
    board = (
        dashboard.Dashboard("CloudWaste")
        .uid(UID)
        .tags(["cloudwaste"])
        .description("Scans, ML data collection, exports, models and the services' health.")
        .refresh("1m")
        .time("now-7d", "now")
        .with_variable(dashboard.DatasourceVariable("datasource").label("Prometheus").type("prometheus"))
    )
    for row_title, panels in ROWS:
        board = board.with_row(dashboard.Row(row_title))
        for kind, title, unit, description, targets in panels:
            panel = BUILDERS[kind]().title(title).unit(unit).datasource(DS).height(8).span(8)
            if description:
                panel = panel.description(description)
            for n, (legend, expr) in enumerate(targets):
                query = prometheus.Dataquery().expr(expr).ref_id(chr(ord("A") + n)).datasource(DS)
                if kind == "table":
                    query = query.instant().format("table")
                elif legend:
                    query = query.legend_format(legend)
                panel = panel.with_target(query)
            board = board.with_panel(panel)
    return json.loads(JSONEncoder(sort_keys=True, indent=2).encode(board.build()))


def queries(board: dict) -> list[tuple[str, str]]:
    """(panel title, PromQL) of every panel's every target."""
    return [
        (p["title"], t["expr"]) for p in board["panels"] if p.get("type") != "row" for t in p.get("targets", [])
    ]


def render(board: dict) -> str:
    return json.dumps(board, indent=2, sort_keys=True) + "\n"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--check", action="store_true", help="fail if the committed file is not what this builds")
    args = ap.parse_args(argv)
    text = render(build())
    if args.check:
        if not OUT.exists() or OUT.read_text() != text:
            print(f"{OUT} is out of date: run python tools/gen_dashboard.py", file=sys.stderr)
            return 1
        return 0
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text(text)
    print(f"wrote {OUT} ({len(queries(build()))} queries)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
