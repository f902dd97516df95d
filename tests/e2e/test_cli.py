"""Black box: the `cloudwaste` client commands as real processes against the services as processes."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import grpc
import pytest
from cloudwaste.common.v1 import provider_pb2
from cloudwaste.scanner.v1 import (
    cloud_account_pb2,
    finding_pb2,
    scanner_service_pb2,
    scanner_service_pb2_grpc,
)
from cloudwaste.sim.local import LocalDeployment
from cloudwaste.sim.truth import GroundTruth

pytestmark = pytest.mark.e2e


def cli(*args: str, env: dict[str, str] | None = None, timeout: float = 120) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if k != "CLOUDWASTE_SCANNER_ADDRESS"}
    return subprocess.run(
        [sys.executable, "-m", "cloudwaste.core.cli", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**base, **(env or {})},
    )


def one_line_error(proc: subprocess.CompletedProcess) -> str:
    err = proc.stderr.strip()
    assert "Traceback" not in err and len(err.splitlines()) == 1, err
    return err


@pytest.fixture(scope="module")
def deployment():
    workdir = Path(tempfile.mkdtemp(prefix="cloudwaste-e2e-cli-"))
    deploy = LocalDeployment(workdir, size=60, seed=11, with_clouds=False).start()  # AWS only: no CLI test reads the others
    yield deploy
    codes = deploy.stop()
    shutil.rmtree(workdir, ignore_errors=True)
    assert all(c == 0 for c in codes.values() if c is not None), f"unclean exits: {codes}"


@pytest.fixture(scope="module")
def scanner(deployment):
    with grpc.insecure_channel(deployment.addresses["scanner"]) as channel:
        yield scanner_service_pb2_grpc.ScannerServiceStub(channel)


def create_account(deployment, scanner, display_name: str) -> str:
    truth = GroundTruth.read(deployment.truth_path)
    return scanner.CreateCloudAccount(
        scanner_service_pb2.CreateCloudAccountRequest(
            cloud_account=cloud_account_pb2.CloudAccount(
                provider=provider_pb2.PROVIDER_AWS,
                tenant_id="e2e-cli",
                display_name=display_name,
                regions=list(truth.regions),
                aws=cloud_account_pb2.AwsAccess(
                    role_arn=f"arn:aws:iam::{truth.account_id}:role/CloudWasteReadOnly",
                ),
            )
        ),
        timeout=10,
    ).cloud_account.name


@pytest.fixture(scope="module")
def scanned(deployment, scanner):
    """(account name, scan run name, the `scan --wait` process), address from the environment."""
    account = create_account(deployment, scanner, "e2e cli")
    proc = cli("scan", account, "--wait", env={"CLOUDWASTE_SCANNER_ADDRESS": deployment.addresses["scanner"]})
    m = re.search(r"scanRuns/[0-9a-f-]{36}", proc.stdout)
    return account, (m.group(0) if m else ""), proc


def findings_json(deployment, *args: str) -> list[dict]:
    proc = cli("findings", "--scanner-address", deployment.addresses["scanner"], "--format", "json", *args)
    assert proc.returncode == 0, proc.stderr
    return [json.loads(line) for line in proc.stdout.splitlines()]


def test_scan_wait_exits_0_and_prints_succeeded(scanned):
    _, run, proc = scanned
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert run, proc.stdout
    last = proc.stdout.strip().splitlines()[-1]
    assert run in last and "SUCCEEDED" in last and "findings" in last, proc.stdout


def test_findings_json_is_one_object_per_line_over_every_page(deployment, scanner, scanned):
    account, run, _ = scanned
    total = scanner.ListFindings(
        scanner_service_pb2.ListFindingsRequest(cloud_account=account, page_size=1), timeout=10
    ).total_size
    assert total > 20
    # a small page size forces several pages
    rows = findings_json(deployment, "--account", account, "--page-size", "7")
    assert len(rows) == total
    assert len({r["name"] for r in rows}) == total
    assert all(r["name"].startswith("findings/") and r["cloud_account"] == account for r in rows)
    by_run = findings_json(deployment, "--scan-run", run)
    assert {r["name"] for r in by_run} == {r["name"] for r in rows}
    category = rows[0]["category"]
    only = findings_json(deployment, "--account", account, "--category", category)
    assert only and all(r["category"] == category for r in only)


def test_state_filter(deployment, scanner, scanned):
    account, _, _ = scanned
    rows = findings_json(deployment, "--account", account, "--state", "open")
    assert rows and all(r["state"] == "FINDING_STATE_OPEN" for r in rows)
    kept = rows[0]["name"]
    scanner.SetFindingState(
        scanner_service_pb2.SetFindingStateRequest(name=kept, state=finding_pb2.FINDING_STATE_KEPT),
        timeout=10,
    )
    kept_rows = findings_json(deployment, "--account", account, "--state", "KEPT")
    assert [r["name"] for r in kept_rows] == [kept] and kept_rows[0]["state"] == "FINDING_STATE_KEPT"
    assert len(findings_json(deployment, "--account", account, "--state", "open")) == len(rows) - 1
    assert len(findings_json(deployment, "--account", account, "--state", "all")) == len(rows)
    bad = cli("findings", "--scanner-address", deployment.addresses["scanner"], "--state", "bogus")
    assert bad.returncode == 2 and "'bogus' is not a finding state" in bad.stderr and "open" in bad.stderr


def test_findings_table(deployment, scanned):
    account, _, _ = scanned
    proc = cli(
        "findings",
        "--scanner-address",
        deployment.addresses["scanner"],
        "--account",
        account,
        "--state",
        "all",
    )
    assert proc.returncode == 0, proc.stderr
    lines = proc.stdout.splitlines()
    assert lines[0].split() == ["finding", "category", "region", "state", "confidence", "$/month", "resource"]
    assert set(lines[1]) <= {"-", " "}
    m = re.fullmatch(r"(\d+) findings, \$[\d,]+\.\d\d/month", lines[-1])
    assert m and int(m.group(1)) == len(lines) - 3, lines[-1]


@pytest.mark.parametrize(
    "command", [["scan", "cloudAccounts/00000000-0000-0000-0000-000000000000"], ["findings"]]
)
def test_unreachable_scanner_fails_within_the_deadline(command):
    started = time.monotonic()
    proc = cli(*command, "--scanner-address", "127.0.0.1:1", "--timeout", "2", timeout=30)
    elapsed = time.monotonic() - started
    assert proc.returncode == 1
    err = one_line_error(proc)
    assert err.startswith(f"cloudwaste {command[0]}: scanner at 127.0.0.1:1 unreachable (")
    assert "DEADLINE_EXCEEDED" in err or "UNAVAILABLE" in err
    assert elapsed < 15, elapsed


@pytest.mark.parametrize(
    "command", [("export", "--destination", "file:///nowhere"), ("purge",)], ids=["export", "purge"]
)
def test_unreachable_exporter_fails_within_the_connect_timeout_naming_it(command):
    """The export and purge deadlines are long (an hour, ten minutes): a wrong address must not
    spend them, nor end in a message that does not say where it tried."""
    started = time.monotonic()
    proc = cli(*command, "--exporter-address", "127.0.0.1:1", "--connect-timeout", "2", timeout=30)
    elapsed = time.monotonic() - started
    assert proc.returncode == 1
    err = one_line_error(proc)
    assert err == f"cloudwaste {command[0]}: exporter at 127.0.0.1:1 unreachable (no connection within 2 s)", err
    assert elapsed < 15, elapsed


def test_malformed_account_is_invalid_argument_naming_the_field(deployment):
    proc = cli("scan", "cloudAccounts/not-a-uuid", "--scanner-address", deployment.addresses["scanner"])
    assert proc.returncode == 1
    err = one_line_error(proc)
    assert deployment.addresses["scanner"] in err and "INVALID_ARGUMENT: cloud_account:" in err, err
    proc = cli("findings", "--account", "nope", "--scanner-address", deployment.addresses["scanner"])
    assert proc.returncode == 1 and "INVALID_ARGUMENT: cloud_account:" in one_line_error(proc)


def test_missing_address_is_a_usage_error():
    proc = cli("findings")
    assert proc.returncode == 2 and "CLOUDWASTE_SCANNER_ADDRESS" in one_line_error(proc)


def test_scan_without_wait_prints_the_queued_run(deployment, scanner):
    account = create_account(deployment, scanner, "e2e cli no wait")
    proc = cli("scan", account, "--region", "us-east-1", "--scanner-address", deployment.addresses["scanner"])
    assert proc.returncode == 0, proc.stderr
    assert re.match(r"scanRuns/[0-9a-f-]{36} (PENDING|RUNNING|SUCCEEDED): regions \d+/", proc.stdout), (
        proc.stdout
    )


def test_rules_json_lists_the_rule_keys():
    proc = cli("rules", "--format", "json")
    assert proc.returncode == 0, proc.stderr
    rules = [json.loads(line) for line in proc.stdout.splitlines()]
    keys = {r["key"] for r in rules}
    assert {"ebs-volume-unattached", "eip-unassociated", "snapshot-orphaned"} <= keys
    assert all(r["provider"] and r["kind"] and r["title"] for r in rules)
    by_provider = {}
    for r in rules:
        by_provider[r["provider"]] = by_provider.get(r["provider"], 0) + 1
    assert set(by_provider) == {"aws", "azure", "gcp", "m365"}
    one = cli("rules", "--provider", "azure", "--format", "json")  # each process imports every SDK: one
    assert one.returncode == 0 and len(one.stdout.splitlines()) == by_provider["azure"]
    table = cli("rules")
    assert table.returncode == 0 and all(k in table.stdout for k in keys)
    unknown = cli("rules", "--provider", "nosuchcloud")
    assert unknown.returncode == 2 and "nosuchcloud" in one_line_error(unknown)


def test_iam_policy_aws_is_read_only_iam_json():
    proc = cli("iam-policy", "aws")
    assert proc.returncode == 0, proc.stderr
    policy = json.loads(proc.stdout)
    assert policy["Version"] == "2012-10-17"
    assert isinstance(policy["Statement"], list) and policy["Statement"]
    actions: list[str] = []
    for st in policy["Statement"]:
        assert st["Effect"] == "Allow" and st["Resource"]
        actions += [st["Action"]] if isinstance(st["Action"], str) else st["Action"]
    assert "ec2:DescribeVolumes" in actions
    bad = [a for a in actions if not re.fullmatch(r"[a-z0-9-]+:(Describe|Get|List)[A-Za-z]*", a)]
    assert not bad, bad


def test_anomaly_evaluate_writes_nab_layout_and_scores_with_windows(tmp_path):
    """`cloudwaste anomaly evaluate` on a NAB-like data folder with a category folder of CSVs."""
    import numpy as np

    data = tmp_path / "data" / "realTest"
    data.mkdir(parents=True)
    t0 = np.datetime64("2024-01-01T00:00")
    rng = np.random.default_rng(5)
    for name, shift in (("cpu_a.csv", 1500), ("cpu_b.csv", None)):
        values = 20 + rng.normal(0, 1, 2000)
        if shift:
            values[shift:] += 30
        times = [str(t0 + np.timedelta64(5 * i, "m")).replace("T", " ") + ":00" for i in range(2000)]
        (data / name).write_text(
            "timestamp,value\n" + "".join(f"{t},{v:.3f}\n" for t, v in zip(times, values, strict=True))
        )
    start = str(t0 + np.timedelta64(5 * 1480, "m")).replace("T", " ")
    end = str(t0 + np.timedelta64(5 * 1560, "m")).replace("T", " ")
    windows = tmp_path / "windows.json"
    windows.write_text(json.dumps({"realTest/cpu_a.csv": [[start, end]], "realTest/cpu_b.csv": []}))

    out = tmp_path / "results"
    proc = cli(
        "anomaly",
        "evaluate",
        str(tmp_path / "data"),
        "--out",
        str(out),
        "--name",
        "cw1",
        "--windows",
        str(windows),
    )
    assert proc.returncode == 0, proc.stderr
    written = out / "cw1" / "realTest" / "cw1_cpu_a.csv"
    lines = written.read_text().splitlines()
    assert lines[0] == "timestamp,value,anomaly_score,label" and len(lines) == 2001
    assert (out / "cw1" / "realTest" / "cw1_cpu_b.csv").exists()
    standard = next(
        line for line in proc.stdout.splitlines() if line.startswith("standard") and "oracle" in line
    )
    assert float(standard.split()[3]) > 90  # the shift is found at once, the steady file stays quiet

    bad = cli("anomaly", "evaluate", str(tmp_path / "nowhere"), "--out", str(out))
    assert bad.returncode == 2 and bad.stderr.count("\n") == 1 and "nowhere" in bad.stderr
