"""Faults as they happen in production, on the four services as processes:
- a scanner killed (-9) mid-scan leaves no run RUNNING for hours: its lease lapses and the run
  ends FAILED (ABORTED: scan again) within seconds of the lease, and the account's next scan is not
  held back by it;
- PostgreSQL stopped for 10 seconds mid-scan: the regions scanned meanwhile wait in memory and
  are written once it is back; the scan ends SUCCEEDED with every region and every resource;
- an exporter killed (-9) mid-export: its run ends FAILED a lease later, nothing half-written;
- SIGTERM to the predictor under 8 clients: it drains and exits 0, every call gets a status;
- an enricher killed (-9) mid-run: nothing of the run committed, the restarted enricher takes it
  back a lease later and every ML row of the scan ends enriched;
- a training worker killed (-9) while it registers a model: nothing registered, the predictor
  starts a new worker, which fails the run ABORTED a lease later; training again succeeds;
- PostgreSQL stopped for 10 seconds mid-export: the run ends FAILED (export again), no manifest
  or temporary file stays, and the next export holds every row.

Slow steps are caught mid-way by a lock the test holds on the table the service writes last."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import tempfile
import time
from pathlib import Path

import grpc
import psycopg
import pytest
from cloudwaste.common.v1 import provider_pb2
from cloudwaste.scanner.v1 import (
    cloud_account_pb2,
    scan_run_pb2,
    scanner_service_pb2,
    scanner_service_pb2_grpc,
)
from cloudwaste.sim.local import LocalDeployment

LEASE = 3.0
TRAINING_LEASE = 2.0


@pytest.fixture(scope="module")
def deployment():
    workdir = Path(tempfile.mkdtemp(prefix="cloudwaste-faults-"))
    deploy = LocalDeployment(
        workdir,
        size=300,
        seed=11,
        with_clouds=False,
        extra_env={
            "scanner": {"CLOUDWASTE_SCAN_LEASE_SECONDS": str(LEASE), "CLOUDWASTE_POLL_SECONDS": "0.2"},
            # short leases, renewed every third: a killed worker is found out within seconds
            "enricher": {"CLOUDWASTE_ENRICHER_LEASE_SECONDS": "1", "CLOUDWASTE_ENRICHER_POLL_SECONDS": "0.2"},
            "predictor": {
                "CLOUDWASTE_TRAINING_LEASE_SECONDS": str(TRAINING_LEASE),
                "CLOUDWASTE_TRAINING_POLL_SECONDS": "0.2",
            },
        },
    ).start()
    yield deploy
    deploy.stop()
    shutil.rmtree(workdir, ignore_errors=True)


def _run(scanner, name: str):
    return scanner.GetScanRun(scanner_service_pb2.GetScanRunRequest(name=name), timeout=10).scan_run


def _until_running(scanner, name: str) -> None:
    deadline = time.monotonic() + 30
    while _run(scanner, name).state != scan_run_pb2.SCAN_RUN_STATE_RUNNING:
        assert time.monotonic() < deadline, "the scan was never claimed"
        time.sleep(0.02)


def test_a_scanner_killed_mid_scan_leaves_a_failed_run_within_its_lease(deployment):
    truth = json.loads(deployment.truth_path.read_text())
    request = scanner_service_pb2.CreateCloudAccountRequest(
        cloud_account=cloud_account_pb2.CloudAccount(
            provider=provider_pb2.PROVIDER_AWS,
            tenant_id="faults",
            display_name="faults",
            aws=cloud_account_pb2.AwsAccess(role_arn=f"arn:aws:iam::{truth['account_id']}:role/faults"),
        )
    )
    with grpc.insecure_channel(deployment.addresses["scanner"]) as channel:
        scanner = scanner_service_pb2_grpc.ScannerServiceStub(channel)
        account = scanner.CreateCloudAccount(request, timeout=10).cloud_account
        start = scanner_service_pb2.StartScanRequest(cloud_account=account.name)
        run = scanner.StartScan(start, timeout=10).scan_run
        _until_running(scanner, run.name)
        time.sleep(1.0)
        assert _run(scanner, run.name).state == scan_run_pb2.SCAN_RUN_STATE_RUNNING  # mid-scan
    deployment.kill_service("scanner")
    killed = time.monotonic()
    deployment.start_service("scanner")
    with grpc.insecure_channel(deployment.addresses["scanner"]) as channel:
        scanner = scanner_service_pb2_grpc.ScannerServiceStub(channel)
        while (state := _run(scanner, run.name)).state == scan_run_pb2.SCAN_RUN_STATE_RUNNING:
            assert time.monotonic() - killed < 60, "the dead scanner's run was not reaped"
            time.sleep(0.1)
        reaped_after = time.monotonic() - killed
        assert state.state == scan_run_pb2.SCAN_RUN_STATE_FAILED, state
        assert state.error.code == 10 and "start a new scan" in state.error_message  # ABORTED: again
        assert reaped_after < LEASE + 10, reaped_after  # the lease, plus the restart and a poll
        # the account is not held by the dead run: its next scan is taken at once
        _until_running(scanner, scanner.StartScan(start, timeout=10).scan_run.name)
    print(f"\nthe killed scanner's run ended FAILED {reaped_after:.1f} s after the kill")


def _account(scanner, truth: dict, tenant: str):
    return scanner.CreateCloudAccount(
        scanner_service_pb2.CreateCloudAccountRequest(
            cloud_account=cloud_account_pb2.CloudAccount(
                provider=provider_pb2.PROVIDER_AWS,
                tenant_id=tenant,
                regions=truth["regions"],
                aws=cloud_account_pb2.AwsAccess(role_arn=f"arn:aws:iam::{truth['account_id']}:role/{tenant}"),
            )
        ),
        timeout=10,
    ).cloud_account


def test_postgres_down_for_10_seconds_mid_scan_loses_no_region(deployment):
    truth = json.loads(deployment.truth_path.read_text())
    # a production-like lease, longer than the outage (the module's 3 s is for the kill test)
    deployment.stop_service("scanner")
    deployment.extra_env["scanner"]["CLOUDWASTE_SCAN_LEASE_SECONDS"] = "30"
    deployment.start_service("scanner")
    try:
        with grpc.insecure_channel(deployment.addresses["scanner"]) as channel:
            scanner = scanner_service_pb2_grpc.ScannerServiceStub(channel)
            account = _account(scanner, truth, "faults-pg")
            run = scanner.StartScan(
                scanner_service_pb2.StartScanRequest(cloud_account=account.name), timeout=10
            )
            name = run.scan_run.name
            _until_running(scanner, name)
            deployment.pg.stop()
            time.sleep(10)
            deployment.pg.start()
            deadline = time.monotonic() + 120
            while (run := _run(scanner, name)).state == scan_run_pb2.SCAN_RUN_STATE_RUNNING:
                assert time.monotonic() < deadline, "the scan did not end after the outage"
                time.sleep(0.2)
        assert run.state == scan_run_pb2.SCAN_RUN_STATE_SUCCEEDED, run
        assert run.regions_done == run.regions_total == len(truth["regions"])
        assert run.resources_scanned == len(truth["resources"])
        assert all(r.succeeded for r in run.region_results), run.region_results
        took = run.end_time.ToDatetime() - run.start_time.ToDatetime()
        assert took.total_seconds() >= 9, took  # it did wait for the database
        log = deployment.log_path("scanner").read_text()
        assert "the database is unavailable; writing again until it answers" in log
    finally:
        deployment.stop_service("scanner")
        deployment.extra_env["scanner"]["CLOUDWASTE_SCAN_LEASE_SECONDS"] = str(LEASE)
        deployment.start_service("scanner")
    print(f"\nPostgreSQL down 10 s mid-scan: SUCCEEDED in {took.total_seconds():.1f} s, every region kept")


def test_an_exporter_killed_mid_export_leaves_a_failed_run_and_nothing_half_written(deployment):
    """kill -9 while an export writes: its lease lapses, and the restarted exporter fails the run
    (ABORTED: export again), withdraws what it had published and sweeps its temporary files; the
    next export of the same destination runs and succeeds."""
    from cloudwaste.exporter.v1 import export_run_pb2, exporter_service_pb2, exporter_service_pb2_grpc

    _scanned_account(deployment, "faults-export")
    _restarted(deployment, "exporter", SLOW_EXPORTER)
    destination = (deployment.export_root / "faults").as_uri()
    request = exporter_service_pb2.ExportDatasetRequest(destination_uri=destination, full=True)
    run = _export_caught_writing(deployment, request)
    deployment.kill_service("exporter")
    killed = time.monotonic()
    deployment.start_service("exporter")
    try:
        with grpc.insecure_channel(deployment.addresses["exporter"]) as channel:
            exporter = exporter_service_pb2_grpc.ExporterServiceStub(channel)
            get = exporter_service_pb2.GetExportRunRequest(name=run.name)
            while (ended := exporter.GetExportRun(get, timeout=10).export_run).state in (
                export_run_pb2.EXPORT_RUN_STATE_PENDING,
                export_run_pb2.EXPORT_RUN_STATE_RUNNING,
            ):
                assert time.monotonic() - killed < 60, "the dead exporter's run was not reaped"
                time.sleep(0.2)
            reaped_after = time.monotonic() - killed
            assert ended.state == export_run_pb2.EXPORT_RUN_STATE_FAILED, ended
            assert ended.error.code == 10 and "export again" in ended.error_message
            # nothing half-written stays visible: no manifest, no temporary file once swept
            deadline = time.monotonic() + 30
            while list(deployment.export_root.rglob(".*.tmp")):
                assert time.monotonic() < deadline, list(deployment.export_root.rglob(".*.tmp"))
                time.sleep(0.5)
            assert not list((deployment.export_root / "faults").rglob("_manifests/*.json"))
    finally:
        deployment.stop_service("exporter")
        deployment.extra_env.pop("exporter", None)
        deployment.start_service("exporter")
    # the destination is free again: the next export runs to the end
    with grpc.insecure_channel(deployment.addresses["exporter"]) as channel:
        final = None
        for progress in exporter_service_pb2_grpc.ExporterServiceStub(channel).ExportDataset(
            request, timeout=120
        ):
            final = progress.export_run
    assert final.state == export_run_pb2.EXPORT_RUN_STATE_SUCCEEDED, final
    assert reaped_after < LEASE + 10, reaped_after
    print(
        f"\nthe killed exporter's run ended FAILED {reaped_after:.1f} s after the kill; nothing left half-written"
    )


def test_sigterm_under_load_drains_and_every_call_gets_an_answer_a_client_can_act_on(deployment):
    """8 clients calling the predictor when SIGTERM comes: calls in flight are answered, later
    ones are refused UNAVAILABLE (retry elsewhere), none gets UNKNOWN or INTERNAL or hangs, and the
    process exits 0 within its grace. (A few calls that reach the transport just as it closes are
    reset CANCELLED by gRPC itself.)"""
    import threading

    from cloudwaste.predictor.v1 import predictor_service_pb2, predictor_service_pb2_grpc

    request = predictor_service_pb2.ScoreAnomaliesRequest(
        values=[10.0 + (i % 7) for i in range(200)] + [95.0]
    )
    codes: dict[str, int] = {}
    lock, stop = threading.Lock(), threading.Event()

    def client() -> None:
        with grpc.insecure_channel(deployment.addresses["predictor"]) as channel:
            stub = predictor_service_pb2_grpc.PredictorServiceStub(channel)
            while not stop.is_set():
                try:
                    stub.ScoreAnomalies(request, timeout=10)
                    code = "OK"
                except grpc.RpcError as exc:
                    code = exc.code().name
                with lock:
                    codes[code] = codes.get(code, 0) + 1

    threads = [threading.Thread(target=client, daemon=True) for _ in range(8)]
    for t in threads:
        t.start()
    time.sleep(1.5)
    with lock:
        before = codes.get("OK", 0)
    started = time.monotonic()
    exit_code = deployment.stop_service("predictor")  # SIGTERM, then waits for the exit
    stopped_after = time.monotonic() - started
    time.sleep(0.5)
    stop.set()
    for t in threads:
        t.join(15)
    deployment.start_service("predictor")
    assert before > 50, codes  # it was under load
    assert exit_code == 0 and stopped_after < 10, (exit_code, stopped_after)
    # a call that reaches the transport as the server closes it is reset (CANCELLED, gRPC's own
    # doing): rare, and never UNKNOWN or INTERNAL
    assert set(codes) <= {"OK", "UNAVAILABLE", "CANCELLED"}, codes
    assert codes.get("CANCELLED", 0) <= 0.01 * sum(codes.values()), codes
    assert not any(t.is_alive() for t in threads)
    print(f"\nSIGTERM under 8 clients: exit 0 after {stopped_after:.1f} s; answers {codes}")


def _scanned_account(deployment, tenant: str):
    """A new account of the estate, scanned to the end; (account, scan run)."""
    truth = json.loads(deployment.truth_path.read_text())
    with grpc.insecure_channel(deployment.addresses["scanner"]) as channel:
        scanner = scanner_service_pb2_grpc.ScannerServiceStub(channel)
        account = _account(scanner, truth, tenant)
        name = scanner.StartScan(
            scanner_service_pb2.StartScanRequest(cloud_account=account.name), timeout=10
        ).scan_run.name
        while (run := _run(scanner, name)).state in (
            scan_run_pb2.SCAN_RUN_STATE_PENDING,
            scan_run_pb2.SCAN_RUN_STATE_RUNNING,
        ):
            time.sleep(0.2)
    assert run.state == scan_run_pb2.SCAN_RUN_STATE_SUCCEEDED, run
    return account, run


@contextlib.contextmanager
def _table_locked(deployment, table: str):
    """Holds a SHARE lock on `table` (as the owner), so that a service writing it waits mid-run."""
    with psycopg.connect(
        host="127.0.0.1", port=deployment.pg.port, user=deployment.pg.user, dbname=deployment.pg.database
    ) as conn:
        conn.execute(f"LOCK TABLE {table} IN SHARE MODE")
        yield
        conn.rollback()


# an exporter writing one row per batch, so that an export is caught mid-way, with a short lease
SLOW_EXPORTER = {"CLOUDWASTE_EXPORT_BATCH_ROWS": "1", "CLOUDWASTE_EXPORT_LEASE_SECONDS": str(LEASE)}


def _export_caught_writing(deployment, request):
    """Starts `request` and returns its run once it has written rows (the stream is left)."""
    from cloudwaste.exporter.v1 import exporter_service_pb2_grpc

    with grpc.insecure_channel(deployment.addresses["exporter"]) as channel:
        stream = exporter_service_pb2_grpc.ExporterServiceStub(channel).ExportDataset(request, timeout=60)
        for progress in stream:
            if progress.rows_written > 0:
                stream.cancel()
                return progress.export_run
    pytest.fail("the export ended before it could be caught writing")


def _restarted(deployment, service: str, env: dict[str, str]) -> None:
    deployment.stop_service(service)
    deployment.extra_env[service] = env
    deployment.start_service(service)


def test_an_enricher_killed_mid_run_hands_its_run_on_and_nothing_is_lost(deployment):
    """kill -9 while an enrichment run writes (its transaction held open by a lock on the cost
    trends it updates last): nothing of it is committed, the restarted enricher takes the run back
    once its lease lapsed, and every ML row of the scan ends enriched."""
    from cloudwaste.enricher.v1 import enricher_service_pb2, enricher_service_pb2_grpc, enrichment_run_pb2

    with _table_locked(deployment, "cost_trend_data"):
        _, run = _scanned_account(deployment, "faults-enrich")
        get = enricher_service_pb2.GetEnrichmentRunRequest(scan_run=run.name)
        with grpc.insecure_channel(deployment.addresses["enricher"]) as channel:
            enricher = enricher_service_pb2_grpc.EnricherServiceStub(channel)
            deadline = time.monotonic() + 30
            while _enrichment_state(enricher, get) != enrichment_run_pb2.ENRICHMENT_RUN_STATE_RUNNING:
                assert time.monotonic() < deadline, "the enrichment run was never claimed"
                time.sleep(0.05)
        time.sleep(0.5)  # inside its transaction, waiting on the lock
        deployment.kill_service("enricher")
        killed = time.monotonic()
    rows = _ml_rows_enriched(deployment, run)
    assert rows[0] > 0 and rows[1] == 0, rows  # the killed run committed nothing
    deployment.start_service("enricher")
    with grpc.insecure_channel(deployment.addresses["enricher"]) as channel:
        enricher = enricher_service_pb2_grpc.EnricherServiceStub(channel)
        while (ended := enricher.GetEnrichmentRun(get, timeout=10).enrichment_run).state != (
            enrichment_run_pb2.ENRICHMENT_RUN_STATE_SUCCEEDED
        ):
            assert ended.state != enrichment_run_pb2.ENRICHMENT_RUN_STATE_FAILED, ended
            assert time.monotonic() - killed < 60, f"the dead enricher's run was not taken back: {ended}"
            time.sleep(0.1)
        taken_back_after = time.monotonic() - killed
    total, enriched = _ml_rows_enriched(deployment, run)
    assert enriched == total == ended.rows_enriched, (enriched, total, ended.rows_enriched)
    assert ended.attempts >= 2, ended
    print(
        f"\nthe killed enricher's run was taken back and SUCCEEDED {taken_back_after:.1f} s after the kill; {enriched} of {total} rows enriched"
    )


def _enrichment_state(enricher, get) -> int:
    """The run's state; 0 (unspecified) until the scanner has handed it to the enricher."""
    try:
        return enricher.GetEnrichmentRun(get, timeout=10).enrichment_run.state
    except grpc.RpcError as exc:
        if exc.code() != grpc.StatusCode.NOT_FOUND:
            raise
        return 0


def _training_worker_pid(deployment) -> int:
    """The predictor's training worker: its child process (multiprocessing spawn)."""
    parent = deployment.pids()["predictor"]
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        for child in Path(f"/proc/{parent}/task/{parent}/children").read_text().split():
            cmdline = Path(f"/proc/{child}/cmdline").read_bytes()
            if b"spawn_main" in cmdline and b"resource_tracker" not in cmdline:
                return int(child)
        time.sleep(0.1)
    raise AssertionError("the predictor has no training worker")


@pytest.fixture(scope="module")
def labeled_export(deployment) -> str:
    """The manifest of a full export of one scanned account whose findings were all decided."""
    from cloudwaste.exporter.v1 import exporter_service_pb2, exporter_service_pb2_grpc
    from cloudwaste.sim.demo import DECISION_STATE, list_all_findings

    truth = {r["resource_id"]: r for r in json.loads(deployment.truth_path.read_text())["resources"]}
    account, _ = _scanned_account(deployment, "faults-labeled")
    with grpc.insecure_channel(deployment.addresses["scanner"]) as channel:
        scanner = scanner_service_pb2_grpc.ScannerServiceStub(channel)
        for i, f in enumerate(list_all_findings(scanner, cloud_account=account.name)):
            decision = truth.get(f.resource_name, {}).get("decision") or ("kept", "deleted")[i % 2]
            scanner.SetFindingState(
                scanner_service_pb2.SetFindingStateRequest(name=f.name, state=DECISION_STATE[decision]),
                timeout=10,
            )
    with grpc.insecure_channel(deployment.addresses["exporter"]) as channel:
        request = exporter_service_pb2.ExportDatasetRequest(
            destination_uri=(deployment.export_root / "faults-labeled").as_uri(), full=True
        )
        export = list(
            exporter_service_pb2_grpc.ExporterServiceStub(channel).ExportDataset(request, timeout=120)
        )[-1]
    assert export.export_run.manifest_uri, export
    return export.export_run.manifest_uri


def test_a_training_worker_killed_mid_run_registers_nothing_and_the_run_fails_to_be_retried(
    deployment, labeled_export
):
    """kill -9 the training worker while it registers a model (held by a lock on the registry):
    nothing is registered, the predictor starts a new worker, which fails the run ABORTED once its
    lease lapsed; training again succeeds."""
    from cloudwaste.predictor.client import wait_for_training
    from cloudwaste.predictor.v1 import predictor_service_pb2, predictor_service_pb2_grpc, training_run_pb2

    with grpc.insecure_channel(deployment.addresses["predictor"]) as channel:
        predictor = predictor_service_pb2_grpc.PredictorServiceStub(channel)

        def versions() -> int:
            request = predictor_service_pb2.ListModelVersionsRequest(page_size=100)
            return len(predictor.ListModelVersions(request, timeout=10).model_versions)

        def get(run):
            request = predictor_service_pb2.GetTrainingRunRequest(name=run.name)
            return predictor.GetTrainingRun(request, timeout=10).training_run

        before = versions()
        train = predictor_service_pb2.TrainModelsRequest(dataset_uri=labeled_export, skip_activation=True)
        with _table_locked(deployment, "model_versions"):
            run = predictor.TrainModels(train, timeout=30).training_run
            deadline = time.monotonic() + 120
            while get(run).state != training_run_pb2.TRAINING_RUN_STATE_RUNNING:
                assert time.monotonic() < deadline, "the training run was never claimed"
                time.sleep(0.05)
            # trained, waiting to register: the lock shows up in pg_stat_activity as a wait
            while not _sql(
                deployment,
                "SELECT 1 FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND query ILIKE '%model_versions%'",
            ):
                assert time.monotonic() < deadline, "the training never reached the registry"
                time.sleep(0.1)
            os.kill(_training_worker_pid(deployment), signal.SIGKILL)
            killed = time.monotonic()
        ended = wait_for_training(predictor, get(run), timeout=60)
        failed_after = time.monotonic() - killed
        assert ended.state == training_run_pb2.TRAINING_RUN_STATE_FAILED, ended
        assert ended.error.code == 10 and not ended.model_version.name, ended  # ABORTED: train again
        assert versions() == before  # nothing half-registered
        again = wait_for_training(
            predictor, predictor.TrainModels(train, timeout=30).training_run, timeout=300
        )
        assert again.state == training_run_pb2.TRAINING_RUN_STATE_SUCCEEDED, again
        assert versions() == before + 1
    assert failed_after < TRAINING_LEASE + 15, failed_after
    print(
        f"\nthe killed training worker's run ended FAILED (ABORTED) {failed_after:.1f} s after the kill; nothing registered"
    )


def _ml_rows_enriched(deployment, run) -> tuple[int, int]:
    """(ML rows the scan run observed, how many of them are enriched)."""
    return _sql(
        deployment,
        "SELECT count(*), count(m.enriched_at) FROM ml_training_data m JOIN finding_observations o "
        "ON o.ml_row_id = m.id AND o.ml_row_detected_at = m.detected_at "
        f"WHERE o.scan_run_id = '{run.name.removeprefix('scanRuns/')}'",
    )[0]


def _sql(deployment, sql: str) -> list[tuple]:
    with psycopg.connect(
        host="127.0.0.1", port=deployment.pg.port, user=deployment.pg.user, dbname=deployment.pg.database
    ) as conn:
        return conn.execute(sql).fetchall()


def test_postgres_down_for_10_seconds_mid_export_leaves_nothing_half_written(deployment, labeled_export):
    """PostgreSQL stops while an export writes: the run ends FAILED once the database answers
    again, saying to export again; no manifest and no temporary file stay; the next export of the
    destination holds every row."""
    from cloudwaste.exporter.v1 import export_run_pb2, exporter_service_pb2, exporter_service_pb2_grpc

    _restarted(deployment, "exporter", SLOW_EXPORTER)
    destination = deployment.export_root / "faults-pg"
    request = exporter_service_pb2.ExportDatasetRequest(destination_uri=destination.as_uri(), full=True)
    try:
        run = _export_caught_writing(deployment, request)
        with grpc.insecure_channel(deployment.addresses["exporter"]) as channel:
            exporter = exporter_service_pb2_grpc.ExporterServiceStub(channel)
            deployment.pg.stop()
            time.sleep(10)
            deployment.pg.start()
            back = time.monotonic()
            get = exporter_service_pb2.GetExportRunRequest(name=run.name)
            while True:
                try:
                    ended = exporter.GetExportRun(get, timeout=10).export_run
                except grpc.RpcError as exc:  # the exporter's pool reconnecting
                    assert exc.code() == grpc.StatusCode.UNAVAILABLE, exc
                    ended = run
                if ended.state not in (
                    export_run_pb2.EXPORT_RUN_STATE_PENDING,
                    export_run_pb2.EXPORT_RUN_STATE_RUNNING,
                ):
                    break
                assert time.monotonic() - back < 60, f"the export did not end after the outage: {ended}"
                time.sleep(0.2)
            print(
                f"\n{export_run_pb2.ExportRunState.Name(ended.state)} {ended.error.code} {ended.error_message}"
            )
            ended_after = time.monotonic() - back
            assert ended.state == export_run_pb2.EXPORT_RUN_STATE_FAILED, ended
            assert "export again" in ended.error_message, ended
            deadline = time.monotonic() + 30
            while list(destination.rglob(".*.tmp")):
                assert time.monotonic() < deadline, list(destination.rglob(".*.tmp"))
                time.sleep(0.5)
            assert not list(destination.rglob("_manifests/*.json"))
    finally:
        deployment.stop_service("exporter")
        deployment.extra_env.pop("exporter", None)
        deployment.start_service("exporter")
    with grpc.insecure_channel(deployment.addresses["exporter"]) as channel:
        final = list(
            exporter_service_pb2_grpc.ExporterServiceStub(channel).ExportDataset(request, timeout=120)
        )[-1]
    assert final.export_run.state == export_run_pb2.EXPORT_RUN_STATE_SUCCEEDED, final
    rows = _sql(deployment, "SELECT count(*) FROM ml_training_data")[0][0]
    assert final.export_run.row_count == rows > 0
    print(
        f"PostgreSQL down 10 s mid-export: FAILED {ended_after:.1f} s after it was back; nothing half-written"
    )
