"""Faults as they happen in production, on the four services as processes: a scanner killed (-9)
mid-scan leaves no run RUNNING for hours. Its lease lapses and the run ends FAILED (ABORTED: scan
again) within seconds of the lease, the account scans again, and nothing half-done shows as done."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

import grpc
import pytest
from cloudwaste.scanner.v1 import scan_run_pb2, scanner_service_pb2, scanner_service_pb2_grpc
from cloudwaste.sim.local import LocalDeployment

from .fuzz_seeds import _scanned_account

LEASE = 3.0


@pytest.fixture(scope="module")
def deployment():
    workdir = Path(tempfile.mkdtemp(prefix="cloudwaste-faults-"))
    deploy = LocalDeployment(
        workdir,
        size=500,
        seed=11,
        with_clouds=False,
        extra_env={
            "scanner": {"CLOUDWASTE_SCAN_LEASE_SECONDS": str(LEASE), "CLOUDWASTE_POLL_SECONDS": "0.2"}
        },
    ).start()
    yield deploy
    deploy.stop()
    shutil.rmtree(workdir, ignore_errors=True)


def _run(scanner, name: str):
    return scanner.GetScanRun(scanner_service_pb2.GetScanRunRequest(name=name), timeout=10).scan_run


def test_a_scanner_killed_mid_scan_leaves_a_failed_run_within_its_lease(deployment):
    aws = {
        "provider": "PROVIDER_AWS",
        "tenant_id": "faults",
        "display_name": "faults",
        "ml_collection_enabled": True,
        "aws": {"role_arn": "arn:aws:iam::{account}:role/ro", "external_id": "faults-external-id"},
    }
    truth = __import__("json").loads(deployment.truth_path.read_text())
    aws["aws"]["role_arn"] = aws["aws"]["role_arn"].format(account=truth["account_id"])
    account, first, _ = _scanned_account(deployment, aws)  # one whole scan: how long one takes
    took = (first.end_time.ToDatetime() - first.start_time.ToDatetime()).total_seconds()
    with grpc.insecure_channel(deployment.addresses["scanner"]) as channel:
        scanner = scanner_service_pb2_grpc.ScannerServiceStub(channel)
        run = scanner.StartScan(
            scanner_service_pb2.StartScanRequest(cloud_account=account.name), timeout=10
        ).scan_run
        deadline = time.monotonic() + 30
        while _run(scanner, run.name).state != scan_run_pb2.SCAN_RUN_STATE_RUNNING:
            assert time.monotonic() < deadline
            time.sleep(0.02)
    time.sleep(min(took / 3, 1.0))  # mid-scan
    deployment.kill_service("scanner")
    killed = time.monotonic()
    deployment.start_service("scanner")
    with grpc.insecure_channel(deployment.addresses["scanner"]) as channel:
        scanner = scanner_service_pb2_grpc.ScannerServiceStub(channel)
        while (state := _run(scanner, run.name)).state == scan_run_pb2.SCAN_RUN_STATE_RUNNING:
            assert time.monotonic() - killed < 60, "the dead scanner's run was not reaped"
            time.sleep(0.2)
        reaped_after = time.monotonic() - killed
        assert state.state == scan_run_pb2.SCAN_RUN_STATE_FAILED, state
        assert state.error.code == 10 and "start a new scan" in state.error_message  # ABORTED: again
        assert reaped_after < LEASE + 10, reaped_after  # the lease, plus the restart and a poll
        # the account is not blocked by the dead run: the next scan runs to the end
        again = scanner.StartScan(
            scanner_service_pb2.StartScanRequest(cloud_account=account.name), timeout=10
        ).scan_run
        deadline = time.monotonic() + 120
        while (again := _run(scanner, again.name)).state in (1, 2):
            assert time.monotonic() < deadline
            time.sleep(0.2)
        assert again.state == scan_run_pb2.SCAN_RUN_STATE_SUCCEEDED
    print(
        f"\nscan took {took:.1f} s; the killed scanner's run ended FAILED {reaped_after:.1f} s after the kill"
    )
