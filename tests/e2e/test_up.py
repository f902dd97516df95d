"""Black box: `python -m cloudwaste.sim.up` (what `make up` / `make down` run) as a process."""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

import grpc
import pytest
from cloudwaste.scanner.v1 import scanner_service_pb2, scanner_service_pb2_grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

pytestmark = pytest.mark.e2e

SERVICES = ("scanner", "enricher", "exporter", "predictor")


@pytest.fixture
def tmp_path():
    """A folder the postgres user can reach when the tests run as root (pytest's own is 0700)."""
    path = Path(tempfile.mkdtemp(prefix="cloudwaste-e2e-up-"))
    os.chmod(path, 0o755)
    yield path
    shutil.rmtree(path, ignore_errors=True)


def start_up(tmp_path: Path, *args: str, env: dict[str, str] | None = None) -> tuple[subprocess.Popen, Path]:
    stack_file = tmp_path / "stack.json"
    out = (tmp_path / "up.out").open("w")
    base = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDWASTE_AWS_")}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cloudwaste.sim.up",
            "--workdir",
            str(tmp_path / "stack"),
            "--stack-file",
            str(stack_file),
            *args,
        ],
        stdout=out,
        stderr=subprocess.STDOUT,
        stdin=subprocess.DEVNULL,
        env={**base, **(env or {})},
    )
    out.close()
    return proc, stack_file


def wait_for_stack(proc: subprocess.Popen, stack_file: Path, tmp_path: Path, timeout: float = 120) -> dict:
    deadline = time.monotonic() + timeout
    while not stack_file.exists():
        output = (tmp_path / "up.out").read_text()
        assert proc.poll() is None, f"exited {proc.returncode}:\n{output}"
        if time.monotonic() > deadline:
            proc.kill()
            pytest.fail(f"no stack file after {timeout} s:\n{output}")
        time.sleep(0.2)
    return json.loads(stack_file.read_text())


def stop(proc: subprocess.Popen) -> None:
    if proc.poll() is None:
        proc.kill()
        proc.wait()


def test_up_serves_registers_and_stops_on_sigterm(tmp_path):
    proc, stack_file = start_up(tmp_path, "--size", "200")
    try:
        stack = wait_for_stack(proc, stack_file, tmp_path)
        assert set(stack["services"]) == set(SERVICES) == set(stack["metrics"])
        assert stack["database_url"].startswith("postgresql") and stack["workdir"] == str(tmp_path / "stack")
        for service in SERVICES:
            with grpc.insecure_channel(stack["services"][service]) as channel:
                resp = health_pb2_grpc.HealthStub(channel).Check(health_pb2.HealthCheckRequest(), timeout=5)
                assert resp.status == health_pb2.HealthCheckResponse.SERVING
        with urllib.request.urlopen(stack["metrics"]["scanner"], timeout=5) as resp:
            assert resp.status == 200
        account, azure, gcp, m365 = stack["cloud_accounts"]
        with grpc.insecure_channel(stack["services"]["scanner"]) as channel:
            stub = scanner_service_pb2_grpc.ScannerServiceStub(channel)
            got = {
                a["name"]: stub.GetCloudAccount(
                    scanner_service_pb2.GetCloudAccountRequest(name=a["name"]), timeout=5
                ).cloud_account
                for a in (account, azure, gcp, m365)
            }
        for a in (account, azure, gcp, m365):
            assert got[a["name"]].display_name == a["display_name"]
            assert list(got[a["name"]].regions) == a["regions"]
        assert (
            got[account["name"]].aws.role_arn.endswith(":role/CloudWasteReadOnly")
            and len(account["regions"]) == 3
        )
        # the Azure and GCP accounts name their credential file; no secret is in the account
        assert got[azure["name"]].azure.credential_secret and got[gcp["name"]].gcp.credential_secret
        assert got[m365["name"]].m365.credential_secret
        assert set(stack["cloud_endpoints"]) == {"azure", "gcp", "m365"}
        for a in (azure, gcp, m365):  # each scans its simulated estate through the stack
            scan = subprocess.run(
                [sys.executable, "-m", "cloudwaste.core.cli", "scan", a["name"], "--wait"],
                capture_output=True,
                text=True,
                timeout=120,
                env={**os.environ, "CLOUDWASTE_SCANNER_ADDRESS": stack["services"]["scanner"]},
            )
            assert scan.returncode == 0 and "SUCCEEDED" in scan.stdout, scan.stdout + scan.stderr

        # its Prometheus scrapes the four services and has counted those scans' findings by provider
        prom = stack["prometheus"]
        deadline = time.monotonic() + 30
        while True:
            query = urllib.parse.urlencode({"query": "sum by (provider) (cloudwaste_scanner_findings_total)"})
            with urllib.request.urlopen(f"{prom}/api/v1/query?{query}", timeout=5) as resp:
                result = json.loads(resp.read())["data"]["result"]
            if {r["metric"]["provider"] for r in result} >= {"azure", "gcp", "m365"}:
                break
            assert time.monotonic() < deadline, result
            time.sleep(1)
        with urllib.request.urlopen(f"{prom}/api/v1/targets", timeout=5) as resp:
            targets = json.loads(resp.read())["data"]["activeTargets"]
        assert sorted(t["labels"]["job"] for t in targets) == sorted(f"cloudwaste-{s}" for s in SERVICES)

        output = (tmp_path / "up.out").read_text()
        assert f"prometheus {prom}" in " ".join(output.split())
        assert f'-plaintext -d \'{{"name":"{account["name"]}"}}\' {stack["services"]["scanner"]} ' in output
        assert str(tmp_path / "stack" / "logs") in output and account["name"] in output

        # a second stack on the same stack file is refused while this one runs
        again = subprocess.run(
            [sys.executable, "-m", "cloudwaste.sim.up", "--stack-file", str(stack_file)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert again.returncode == 2 and "already running" in again.stderr

        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=60) == 0, (tmp_path / "up.out").read_text()
        assert not stack_file.exists() and not (tmp_path / "stack.pid").exists()
        assert "stopped: " in (tmp_path / "up.out").read_text()
    finally:
        stop(proc)


def test_external_endpoint_and_down(tmp_path, moto_estate):
    endpoint, truth = moto_estate
    env = {
        "CLOUDWASTE_AWS_ENDPOINT_URL": endpoint,
        "CLOUDWASTE_AWS_REGIONS": ",".join(truth.regions),
        "CLOUDWASTE_AWS_ACCOUNT_ID": truth.account_id,
    }
    proc, stack_file = start_up(tmp_path, env=env)
    try:
        stack = wait_for_stack(proc, stack_file, tmp_path)
        assert stack["aws_endpoint_url"] == endpoint
        [account] = stack["cloud_accounts"]
        assert account["regions"] == list(truth.regions)
        assert not (tmp_path / "stack" / "ground_truth.json").exists()  # no simulated estate of its own
        scan = subprocess.run(
            [sys.executable, "-m", "cloudwaste.core.cli", "scan", account["name"], "--wait"],
            capture_output=True,
            text=True,
            timeout=120,
            env={**os.environ, "CLOUDWASTE_SCANNER_ADDRESS": stack["services"]["scanner"]},
        )
        assert scan.returncode == 0 and "SUCCEEDED" in scan.stdout, scan.stdout + scan.stderr
        assert f"{len(truth.resources)} resources" in scan.stdout, scan.stdout

        down = subprocess.run(
            [sys.executable, "-m", "cloudwaste.sim.up", "--down", "--stack-file", str(stack_file)],
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert down.returncode == 0 and ") stopped" in down.stdout, down.stdout + down.stderr
        assert proc.wait(timeout=10) == 0
        assert not stack_file.exists()
        again = subprocess.run(
            [sys.executable, "-m", "cloudwaste.sim.up", "--down", "--stack-file", str(stack_file)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert again.returncode == 0 and "no stack running" in again.stdout
    finally:
        stop(proc)


def test_refuses_a_workdir_it_did_not_make(tmp_path):
    workdir = tmp_path / "precious"
    workdir.mkdir()
    (workdir / "notes.txt").write_text("keep me")
    proc = subprocess.run(
        [
            sys.executable,
            "-m",
            "cloudwaste.sim.up",
            "--workdir",
            str(workdir),
            "--stack-file",
            str(tmp_path / "stack.json"),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == 2 and "not empty" in proc.stderr
    assert (workdir / "notes.txt").read_text() == "keep me" and not (tmp_path / "stack.pid").exists()
