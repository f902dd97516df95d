"""The dashboard and the alerts against a real Prometheus: the one-machine deployment (four service
processes, embedded PostgreSQL, the simulated clouds) runs the demo flow (scans, decisions,
enrichment, export, training, scoring, forecasts) plus a purge and an anomaly call, while Prometheus
scrapes every service each second. Then every panel's every query returns data, every scrape
passes `promtool check metrics`, and a healthy run fires no alert."""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import grpc
import pytest
from cloudwaste.common.v1 import provider_pb2
from cloudwaste.exporter.v1 import exporter_service_pb2, exporter_service_pb2_grpc, purge_run_pb2
from cloudwaste.predictor.v1 import predictor_service_pb2, predictor_service_pb2_grpc
from cloudwaste.scanner.v1 import scanner_service_pb2, scanner_service_pb2_grpc
from cloudwaste.sim import demo, prometheus
from cloudwaste.sim.local import LocalDeployment

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "tools"))
import gen_dashboard

RATE_INTERVAL = "10m"  # what Grafana's $__rate_interval stands for here: the whole run


@pytest.fixture(scope="module")
def monitored():
    workdir = Path(tempfile.mkdtemp(prefix="cloudwaste-monitored-"))
    workdir.chmod(0o755)  # PostgreSQL's user must traverse it
    deploy = LocalDeployment(workdir / "deploy", size=200, seed=5).start()
    prom = None
    try:
        prom = prometheus.start(
            workdir / "prometheus",
            {f"cloudwaste-{s}": f"127.0.0.1:{port}" for s, port in deploy.metrics.items()},
        )
        assert demo.run(deploy, 0.8, seed=5) == 0
        with grpc.insecure_channel(deploy.addresses["predictor"]) as ch:
            predictor_service_pb2_grpc.PredictorServiceStub(ch).ScoreAnomalies(
                predictor_service_pb2.ScoreAnomaliesRequest(values=[10.0, 11, 9, 10, 12, 10, 95]), timeout=10
            )
        with grpc.insecure_channel(deploy.addresses["exporter"]) as ch:
            exporter = exporter_service_pb2_grpc.ExporterServiceStub(ch)
            run = exporter.PurgeExpiredData(
                exporter_service_pb2.PurgeExpiredDataRequest(), timeout=10
            ).purge_run
            deadline = time.monotonic() + 60
            while run.state in (purge_run_pb2.PURGE_RUN_STATE_PENDING, purge_run_pb2.PURGE_RUN_STATE_RUNNING):
                assert time.monotonic() < deadline, "the purge did not end"
                time.sleep(0.2)
                run = exporter.GetPurgeRun(
                    exporter_service_pb2.GetPurgeRunRequest(name=run.name), timeout=10
                ).purge_run
            assert run.state == purge_run_pb2.PURGE_RUN_STATE_SUCCEEDED, run.error_message
        time.sleep(3)  # a few more scrapes and rule evaluations
        yield deploy, prom
    finally:
        if prom is not None:
            prom.stop()
        deploy.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def test_every_target_is_scraped(monitored):
    _, prom = monitored
    assert prom.targets_up() == {
        f"cloudwaste-{s}": "up" for s in ("scanner", "enricher", "exporter", "predictor")
    }


def test_every_scrape_passes_promtool_check_metrics(monitored):
    deploy, _ = monitored
    for service, port in deploy.metrics.items():
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read()
        proc = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, timeout=30)
        assert proc.returncode == 0 and not proc.stdout.strip(), (service, proc.stdout, proc.stderr)


def test_every_panel_returns_data(monitored):
    _, prom = monitored
    answers, empty = [], []
    for title, expr in gen_dashboard.queries(gen_dashboard.build()):
        result = prom.query(expr.replace("$__rate_interval", RATE_INTERVAL))
        if not result:
            empty.append(f"{title}: {expr}")
            continue
        first = result[0]
        answers.append(f"{title} | {expr} | {first['metric']} = {first['value'][1]}")
    print("\n".join(answers))  # the proof, query by query (pytest -s shows it)
    assert not empty, "panels without data:\n" + "\n".join(empty)


def test_the_numbers_say_what_the_run_did(monitored):
    """Not only data: the right data (the demo scanned four clouds, users decided, one export,
    one training, a purge, each service reaching its database)."""
    _, prom = monitored

    def values(expr: str) -> dict[str, float]:
        return {
            ",".join(f"{k}={v}" for k, v in sorted(r["metric"].items())): float(r["value"][1])
            for r in prom.query(expr)
        }

    providers = values("sum by (provider) (cloudwaste_scanner_resources_scanned_total)")
    assert set(providers) == {"provider=aws", "provider=azure", "provider=gcp", "provider=m365"}
    assert all(v > 0 for v in providers.values())
    assert (
        values('sum(cloudwaste_scanner_scan_runs_total{state="SUCCEEDED"})')[""] >= 12
    )  # 4 clouds x 3 scans
    assert sum(values("sum by (decision) (cloudwaste_scanner_decisions_total)").values()) > 0
    assert values("sum(cloudwaste_enricher_rows_enriched_total)")[""] > 0
    assert values('sum(cloudwaste_exporter_exports_total{state="SUCCEEDED"})')[""] >= 1
    quality = values("max(cloudwaste_exporter_data_quality_score)")[""]
    assert 0 < quality <= 100
    assert values("max(cloudwaste_exporter_data_quality_rows)")[""] > 0
    assert (
        values('max by (state) (cloudwaste_predictor_recorded_training_runs{model_kind="waste"})')[
            "state=SUCCEEDED"
        ]
        >= 1
    )
    info = values("max by (model_kind, version) (cloudwaste_predictor_model_info)")
    assert info["model_kind=waste,version=1"] == 1 and info["model_kind=anomaly,version=0"] == 1
    assert values("min by (job) (cloudwaste_database_up)") == {
        f"job=cloudwaste-{s}": 1.0 for s in ("scanner", "enricher", "exporter", "predictor")
    }
    p99 = values(
        'histogram_quantile(0.99, sum by (le) (rate(grpc_server_handling_seconds_bucket{grpc_method="PredictWasteBatch"}[10m])))'
    )[""]
    assert math.isfinite(p99) and p99 > 0


def test_the_last_scan_of_every_cloud_scored_its_findings(monitored):
    """The trained waste model serves every provider alike: after it went live, each account's
    rescan scored every open finding with it (a probability and an expected saving)."""
    deploy, _ = monitored
    with grpc.insecure_channel(deploy.addresses["scanner"]) as ch:
        scanner = scanner_service_pb2_grpc.ScannerServiceStub(ch)
        accounts = scanner.ListCloudAccounts(
            scanner_service_pb2.ListCloudAccountsRequest(page_size=100), timeout=10
        ).cloud_accounts
        scored: dict[str, set[str]] = {}
        for account in accounts:
            found = demo.list_all_findings(scanner, cloud_account=account.name)
            assert found, account.display_name
            for f in found:
                assert 0.0 <= f.prediction.waste_probability <= 1.0, f.name
                scored.setdefault(provider_pb2.Provider.Name(account.provider), set()).add(
                    f.prediction.model_version
                )
    assert scored == {
        p: {"models/waste/versions/1"} for p in ("PROVIDER_AWS", "PROVIDER_AZURE", "PROVIDER_GCP", "PROVIDER_M365")
    }


def test_a_healthy_run_fires_no_alert(monitored):
    """Nor is any about to: an alert waits its `for:` pending, longer than the run, so a pending
    one would fire later."""
    _, prom = monitored
    active = [(a["labels"]["alertname"], a["state"]) for a in prom.alerts()]
    assert active == []
