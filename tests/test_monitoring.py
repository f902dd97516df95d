"""The alert rules and the dashboard, offline: promtool checks the rules and runs their unit tests
(each alert fires on the series that should raise it and stays quiet beside healthy ones), and the
committed dashboard is what Grafana's typed builders make. tests/e2e/test_monitoring.py runs the
dashboard's queries and the rules against a real Prometheus scraping the running services."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
RULES = ROOT / "deploy/helm/cloudwaste/files/prometheus"
DASHBOARD = ROOT / "deploy/helm/cloudwaste/files/grafana/cloudwaste.json"
PROMTOOL = shutil.which("promtool")  # `make setup` installs it: a test fails, never skips, without it


def promtool(*args: str) -> subprocess.CompletedProcess:
    assert PROMTOOL, "promtool not found: `make setup` installs it (tools/ensure_prometheus.sh)"
    return subprocess.run([PROMTOOL, *args], cwd=RULES, capture_output=True, text=True, timeout=120)


def alert_names() -> list[str]:
    groups = yaml.safe_load((RULES / "alerts.yaml").read_text())["groups"]
    return [r["alert"] for g in groups for r in g["rules"] if "alert" in r]


def test_the_rules_file_is_valid():
    proc = promtool("check", "rules", "alerts.yaml")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert f"SUCCESS: {len(alert_names())} rules found" in proc.stdout


def test_every_alert_passes_its_unit_tests():
    proc = promtool("test", "rules", "alerts_test.yaml", "alerts_test_long.yaml")
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert proc.stdout.count("SUCCESS") == 2


def test_every_alert_has_a_test_where_it_fires_and_one_where_it_does_not():
    fires, quiet = set(), set()
    for name in ("alerts_test.yaml", "alerts_test_long.yaml"):
        for case in yaml.safe_load((RULES / name).read_text())["tests"]:
            for check in case["alert_rule_test"]:
                (fires if check["exp_alerts"] else quiet).add(check["alertname"])
    names = set(alert_names())
    assert len(names) >= 9
    assert names <= fires, f"alerts never shown to fire: {sorted(names - fires)}"
    assert names <= quiet, f"alerts never shown to stay quiet: {sorted(names - quiet)}"
    # the ones the operations issue asks for
    for wanted in (
        "CloudWasteExportMissed",
        "CloudWasteScanFailureRate",
        "CloudWasteEnrichmentLag",
        "CloudWastePredictorLatencyHigh",
        "CloudWasteNoActiveModel",
        "CloudWasteModelStale",
        "CloudWasteDataQualityLow",
        "CloudWastePurgeMissed",
        "CloudWasteDatabaseUnavailable",
    ):
        assert wanted in names


def test_every_alert_says_what_to_do():
    groups = yaml.safe_load((RULES / "alerts.yaml").read_text())["groups"]
    for rule in (r for g in groups for r in g["rules"]):
        assert rule["labels"]["severity"] in ("info", "warning", "critical"), rule["alert"]
        assert rule["annotations"]["summary"] and rule["annotations"]["description"], rule["alert"]


def test_the_dashboard_is_what_the_typed_builders_make():
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tools/gen_dashboard.py"), "--check"], capture_output=True, text=True
    )
    assert proc.returncode == 0, proc.stderr


def _through_grafanas_model(board: dict) -> dict:
    """The board read into Grafana's typed dashboard model (generated from its schema) and written
    back: a field the schema does not know is dropped, so the result differs."""
    from grafana_foundation_sdk.cog.encoder import JSONEncoder
    from grafana_foundation_sdk.models.dashboard import Dashboard

    return json.loads(JSONEncoder(sort_keys=True).encode(Dashboard.from_json(board)))


def test_the_dashboard_json_holds_only_what_grafanas_schema_knows():
    board = json.loads(DASHBOARD.read_text())
    assert _through_grafanas_model(board) == board
    # the check can fail: a misspelt panel field does not survive the model
    bad = json.loads(DASHBOARD.read_text())
    panel = next(p for p in bad["panels"] if p["type"] != "row")
    panel["gridPosition"] = panel.pop("gridPos")
    assert _through_grafanas_model(bad) != bad


def test_the_dashboard_has_a_panel_for_each_question():
    board = json.loads(DASHBOARD.read_text())
    panels = [p for p in board["panels"] if p["type"] != "row"]
    titles = [p["title"] for p in panels]
    assert len(titles) == len(set(titles)) >= 20
    assert board["uid"] == "cloudwaste-overview"
    assert {v["name"] for v in board["templating"]["list"]} == {"datasource"}
    exprs = " ".join(t["expr"] for p in panels for t in p["targets"])
    for metric in (
        "cloudwaste_scanner_resources_scanned_total",
        "cloudwaste_scanner_findings_total",
        "cloudwaste_scanner_scan_duration_seconds_bucket",
        "cloudwaste_scanner_scopes_total",
        "cloudwaste_scanner_ml_rows_total",
        "cloudwaste_scanner_decisions_total",
        "cloudwaste_enricher_rows_enriched_total",
        "cloudwaste_enricher_oldest_queued_run_age_seconds",
        "cloudwaste_exporter_exports_total",
        "cloudwaste_exporter_export_duration_seconds_bucket",
        "cloudwaste_exporter_bytes_total",
        "cloudwaste_exporter_last_success_timestamp_seconds",
        "cloudwaste_exporter_data_quality_score",
        "cloudwaste_predictor_recorded_training_runs",
        "cloudwaste_predictor_model_info",
        "grpc_server_handling_seconds_bucket",
        "cloudwaste_predictor_predictions_total",
    ):
        assert metric in exprs, metric
    for p in panels:
        assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, p["title"]
        assert p["targets"] and all(t["expr"] for t in p["targets"]), p["title"]
        grid = p["gridPos"]
        assert grid["x"] + grid["w"] <= 24 and grid["h"] > 0, p["title"]
