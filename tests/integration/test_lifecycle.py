"""Findings over the time users live with them: an estate of more than a thousand resources, five
scans, decisions between them, resources deleted and fixed outside CloudWaste, rule parameters
changed and changed back, and a scanner restart in the middle. Real gRPC, PostgreSQL and moto."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections import Counter

import grpc
import pytest
import sqlalchemy as sa
from cloudwaste.common.v1 import provider_pb2
from cloudwaste.core.server import create_server
from cloudwaste.scanner.v1 import (
    cloud_account_pb2,
    finding_pb2,
    scan_run_pb2,
    scanner_service_pb2,
    scanner_service_pb2_grpc,
)
from google.protobuf import field_mask_pb2, struct_pb2, timestamp_pb2
from google.rpc import error_details_pb2
from grpc_status import rpc_status

from tests.integration.conftest import TENANT

ACCOUNT_ID = "345678901234"
S = finding_pb2
OPEN, KEPT, IGNORED, DELETED, RESOLVED = (
    S.FINDING_STATE_OPEN,
    S.FINDING_STATE_KEPT,
    S.FINDING_STATE_IGNORED,
    S.FINDING_STATE_DELETED,
    S.FINDING_STATE_RESOLVED,
)


@pytest.fixture(scope="module")
def big_estate(moto_estate):
    """A second estate, of more than a thousand resources, in its own account of the same moto."""
    from cloudwaste.sim.aws import seed_estate

    endpoint, _ = moto_estate
    return endpoint, seed_estate(endpoint, size=1200, seed=11, account_id=ACCOUNT_ID)


def create_account(scanner, truth, **extra):
    return scanner.CreateCloudAccount(
        scanner_service_pb2.CreateCloudAccountRequest(
            cloud_account=cloud_account_pb2.CloudAccount(
                provider=provider_pb2.PROVIDER_AWS,
                tenant_id=TENANT,
                display_name="lifecycle",
                regions=list(truth.regions),
                ml_collection_enabled=True,
                aws=cloud_account_pb2.AwsAccess(
                    role_arn=f"arn:aws:iam::{truth.account_id}:role/CloudWaste"
                ),
                **extra,
            )
        ),
        timeout=10,
    ).cloud_account


def scan(scanner, account, timeout=300):
    run = scanner.StartScan(scanner_service_pb2.StartScanRequest(cloud_account=account), timeout=10).scan_run
    deadline = time.monotonic() + timeout
    while run.state in (scan_run_pb2.SCAN_RUN_STATE_PENDING, scan_run_pb2.SCAN_RUN_STATE_RUNNING):
        assert time.monotonic() < deadline, "scan did not finish"
        time.sleep(0.2)
        run = scanner.GetScanRun(scanner_service_pb2.GetScanRunRequest(name=run.name), timeout=10).scan_run
    assert run.state == scan_run_pb2.SCAN_RUN_STATE_SUCCEEDED, run
    return run


def findings(scanner, **filters):
    out, token = [], ""
    while True:
        r = scanner.ListFindings(
            scanner_service_pb2.ListFindingsRequest(page_size=500, page_token=token, **filters), timeout=30
        )
        out.extend(r.findings)
        token = r.next_page_token
        if not token:
            return out


def set_state(scanner, finding, state, **kw):
    return scanner.SetFindingState(
        scanner_service_pb2.SetFindingStateRequest(name=finding.name, state=state, **kw), timeout=10
    ).finding


def cost(m) -> float:
    return m.units + m.nanos / 1e9


def go_live_waste_model(stack) -> None:
    """Registers and activates a small waste model (trained here on synthetic rows), and waits
    until the predictor serves it."""
    from cloudwaste.core.db import Database
    from cloudwaste.core.models import ModelVersion
    from cloudwaste.predictor.client import wait_for_serving
    from cloudwaste.predictor.kinds import waste as train
    from cloudwaste.predictor.v1 import prediction_pb2

    from tests.unit.test_serving import synthetic_rows

    rows, labels = synthetic_rows(200, 1)
    x = train.features_frame(rows)
    onnx = train.to_onnx(train.build_pipeline(0).fit(x, labels), None, train.reference_row(x))
    db = Database(stack.database_url)
    with db.transaction() as s:
        s.add(ModelVersion(model_kind="waste", version=1, onnx=onnx, feature_spec={}, active=True))
    db.dispose()
    features = prediction_pb2.WasteFeatures(
        provider=1,
        resource_type="aws.ec2.volume",
        region="eu-west-1",
        detection_scenario="ebs-volume-unattached",
        confidence_level=3,
        cost_monthly=10.0,
    )
    wait_for_serving(stack.predictor, "models/waste/versions/1", features, timeout=30)


def restart_scanner(stack):
    """Stops the scanner server and starts a new one on the same database (a new port)."""
    from cloudwaste.scanner.server import build_app

    settings = stack.settings["scanner"]
    stack.running["scanner"].stop(1)
    stack.running["scanner"] = create_server(settings, build_app(settings))
    channel = grpc.insecure_channel(f"127.0.0.1:{stack.running['scanner'].port}")
    return scanner_service_pb2_grpc.ScannerServiceStub(channel)


def test_findings_live_across_scans_decisions_and_a_restart(stack, big_estate):
    from cloudwaste.sim.aws import act_on

    endpoint, truth = big_estate
    assert len(truth.resources) >= 1200
    scanner = stack.scanner
    account = create_account(scanner, truth).name
    waste = {t.resource_id: t for t in truth.waste()}

    # scan 1: exactly the known waste, all new
    run1 = scan(scanner, account)
    first = {f.resource_name: f for f in findings(scanner, cloud_account=account)}
    assert {(f.resource_name, f.category) for f in first.values()} == {
        (t.resource_id, t.scenario) for t in waste.values()
    }
    assert run1.new_findings_count == run1.findings_count == len(waste)

    # the disks (and Elastic IPs) of a long-stopped machine are findings of their own, linked to
    # the machine's; the machine shows the total of its parts and no dollar is counted twice
    parts = Counter()
    for f in first.values():
        if f.parent_finding:
            parent = next(p for p in first.values() if p.name == f.parent_finding)
            assert parent.category == "ec2-instance-stopped"
            assert f.category in ("ebs-volume-on-stopped-instance", "eip-on-stopped-instance")
            parts[parent.name] += cost(f.monthly_cost)
    assert parts, "the estate has disks on long-stopped machines"
    for name, total in parts.items():
        parent = next(p for p in first.values() if p.name == name)
        assert cost(parent.parts_monthly_cost) == pytest.approx(total, abs=1e-3)
    assert cost(run1.total_monthly_waste) == pytest.approx(
        sum(cost(f.monthly_cost) for f in first.values()), abs=0.05
    )

    # scan 2, nothing changed: the same findings, seen twice, no duplicates
    run2 = scan(scanner, account)
    second = findings(scanner, cloud_account=account)
    assert {f.name for f in second} == {f.name for f in first.values()}
    assert run2.new_findings_count == 0 and run2.findings_count == len(waste)
    assert all(f.observation_count == 2 and f.scan_run == run2.name for f in second)
    assert {f.name for f in findings(scanner, scan_run=run1.name)} == {f.name for f in second}

    # decisions between scans, and changes made outside CloudWaste
    by_kind: dict[str, list] = {}
    for f in sorted(first.values(), key=lambda f: f.resource_name):
        if not f.parent_finding and f.category != "ec2-instance-stopped":
            by_kind.setdefault(f.category, []).append(f)
    volumes, eips, snaps = (
        by_kind["ebs-volume-unattached"],
        by_kind["eip-unassociated"],
        by_kind["snapshot-orphaned"],
    )
    kept, ignored, deleted = volumes[0:5], volumes[5:8], volumes[8:12]
    soon = snaps[0]
    fixed, gone_outside = volumes[12:15], eips[0:4]
    from prometheus_client import REGISTRY

    def decisions(kind: str) -> float:
        return REGISTRY.get_sample_value("cloudwaste_scanner_decisions_total", {"decision": kind}) or 0.0

    kept_before = decisions("kept")
    for f in kept:
        set_state(scanner, f, KEPT)
    assert decisions("kept") - kept_before == len(kept)  # what the dashboard counts
    for f in ignored:
        set_state(scanner, f, IGNORED)
    expiry = timestamp_pb2.Timestamp()
    expiry.FromDatetime(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2))
    assert set_state(scanner, soon, IGNORED, ignore_expire_time=expiry).ignore_expire_time.seconds
    for f in deleted:
        set_state(scanner, f, DELETED)
        act_on(endpoint, waste[f.resource_name], "delete", account_id=ACCOUNT_ID)
    for f in fixed:
        act_on(endpoint, waste[f.resource_name], "fix", account_id=ACCOUNT_ID)
    for f in gone_outside:
        act_on(endpoint, waste[f.resource_name], "delete", account_id=ACCOUNT_ID)
    decided = {f.name for f in kept + ignored + deleted}  # (soon's ignore may have expired already)
    assert not decided & {f.name for f in findings(scanner, cloud_account=account)}, "decided ones left OPEN"

    # the scanner restarts; the decisions and the findings are in the database, not in it
    scanner = restart_scanner(stack)
    time.sleep(max(0.0, expiry.ToDatetime(tzinfo=dt.UTC).timestamp() - time.time()) + 0.1)

    first_names = {f.name for f in first.values()}
    run3 = scan(scanner, account)
    now = {f.name: f for f in findings(scanner, cloud_account=account, all_states=True)}
    # deleting a volume can orphan its old snapshots: those are new waste, and nothing else is
    extra = [f for n, f in now.items() if n not in first_names]
    assert all(f.category == "snapshot-orphaned" and f.state == OPEN for f in extra), extra
    assert run3.new_findings_count == len(extra)
    assert len(now) == len(waste) + len(extra), "one finding per resource and rule, whatever happened"
    for f in kept:
        assert now[f.name].state == KEPT and now[f.name].observation_count == 3
    for f in ignored:
        assert now[f.name].state == IGNORED
    assert now[soon.name].state == OPEN, "an expired ignore is OPEN again"
    for f in deleted + gone_outside:
        g = now[f.name]
        assert g.state == RESOLVED and g.resolve_reason == S.RESOLVE_REASON_RESOURCE_GONE, g
        assert g.resolve_scan_run == run3.name
    for f in fixed:
        assert now[f.name].resolve_reason == S.RESOLVE_REASON_RESOURCE_CHANGED
    assert run3.resolved_findings_count == len(deleted) + len(fixed) + len(gone_outside)
    open_now = findings(scanner, cloud_account=account)  # the default list: OPEN only
    assert {f.name for f in open_now} == {n for n, f in now.items() if f.state == OPEN}
    closed = len(kept) + len(ignored) + len(deleted) + len(fixed) + len(gone_outside)
    assert len(open_now) == len(waste) + len(extra) - closed

    # ML rows: one per (finding, scan); a decision labels every row of its finding, including rows
    # of scans made after it; a resource deleted while open is an implicit label, kept apart
    engine = sa.create_engine(stack.database_url)
    with engine.connect() as c:
        rows = c.execute(
            sa.text(
                "SELECT o.finding_id::text, m.user_action, m.label_source, m.time_to_action_hours "
                "FROM finding_observations o JOIN ml_training_data m "
                "ON m.id = o.ml_row_id AND m.detected_at = o.ml_row_detected_at"
            )
        ).all()
    labels: dict[str, list] = {}
    for fid, action, source, hours in rows:
        labels.setdefault(f"findings/{fid}", []).append((action, source, hours))
    assert sum(len(v) for v in labels.values()) == sum(f.observation_count for f in now.values())
    assert all(v == [("kept", "explicit", v[0][2])] * 3 for v in (labels[f.name] for f in kept))
    assert all(v[0][2] is not None and v[0][2] >= 0 for v in (labels[f.name] for f in kept))
    assert all({(a, s) for a, s, _ in labels[f.name]} == {("deleted", "implicit")} for f in gone_outside)
    assert all({(a, s) for a, s, _ in labels[f.name]} == {("deleted", "explicit")} for f in deleted)
    assert all({a for a, _, _ in labels[f.name]} == {None} for f in fixed)
    # an ignore that expired: the rows of the scans made while ignored say so, the later one not
    soon_labels = sorted((a or "", s or "") for a, s, _ in labels[soon.name])
    assert soon_labels == [("", ""), ("ignored", "explicit"), ("ignored", "explicit")], soon_labels

    # a waste model goes live between scans: from the next scan on, every finding a scan sees is
    # scored before the run ends
    go_live_waste_model(stack)

    # the account's parameters for a rule change: its findings resolve with that reason...
    snapshots = [f for f in now.values() if f.category == "snapshot-orphaned" and f.state == OPEN]
    params = struct_pb2.Struct()
    params.update({"min_age_days": 100000})
    mask = field_mask_pb2.FieldMask(paths=["rule_parameters"])
    upd = cloud_account_pb2.CloudAccount(name=account)
    upd.rule_parameters["snapshot-orphaned"].CopyFrom(params)
    scanner.UpdateCloudAccount(
        scanner_service_pb2.UpdateCloudAccountRequest(cloud_account=upd, update_mask=mask)
    )
    run4 = scan(scanner, account)
    after = {f.name: f for f in findings(scanner, cloud_account=account, all_states=True)}
    assert all(after[f.name].resolve_reason == S.RESOLVE_REASON_RULE_PARAMETERS_CHANGED for f in snapshots)
    assert run4.resolved_findings_count == len(snapshots) > 0

    # ...and reopen, as new open cycles, when they are changed back
    scanner.UpdateCloudAccount(
        scanner_service_pb2.UpdateCloudAccountRequest(
            cloud_account=cloud_account_pb2.CloudAccount(name=account), update_mask=mask
        )
    )
    run5 = scan(scanner, account)
    final = {f.name: f for f in findings(scanner, cloud_account=account, all_states=True)}
    assert run5.reopened_findings_count == len(snapshots) and run5.new_findings_count == 0
    # after five scans, decisions, a restart, scores and resolve / reopen cycles, every finding a
    # page shows (the rendering its last write stored) is the one GetFinding renders from its columns
    for f in final.values():
        got = scanner.GetFinding(scanner_service_pb2.GetFindingRequest(name=f.name), timeout=10).finding
        assert got == f, (f.name, got, f)
    assert all(final[f.name].state == OPEN and not final[f.name].resolve_scan_run for f in snapshots)
    # one never decided before (the ignore that expired was a snapshot too: its earlier rows say
    # "ignored", rightly, as the rows of a cycle that ended)
    reopened = next(f for f in snapshots if f.name != soon.name)
    set_state(scanner, reopened, DELETED)
    with engine.connect() as c:
        cycle = (
            c.execute(
                sa.text(
                    "SELECT m.user_action FROM finding_observations o JOIN ml_training_data m "
                    "ON m.id = o.ml_row_id AND m.detected_at = o.ml_row_detected_at "
                    "WHERE o.finding_id = :id ORDER BY m.detected_at"
                ),
                {"id": reopened.name.split("/")[1]},
            )
            .scalars()
            .all()
        )
    engine.dispose()
    assert cycle[-1] == "deleted" and cycle[:-1] == [None] * (len(cycle) - 1), cycle
    runs = scanner.ListScanRuns(scanner_service_pb2.ListScanRunsRequest(cloud_account=account, page_size=2))
    assert [r.name for r in runs.scan_runs] == [run5.name, run4.name] and runs.next_page_token

    # the last scan scored every finding it saw; by expected saving, in pages, each seen once
    seen = findings(scanner, scan_run=run5.name, all_states=True)
    assert len(seen) == run5.findings_count > 300
    assert all(f.prediction.model_version == "models/waste/versions/1" for f in seen)
    ordered, token = [], ""
    while True:
        page = scanner.ListFindings(
            scanner_service_pb2.ListFindingsRequest(
                scan_run=run5.name,
                all_states=True,
                order_by="expected_monthly_saving desc",
                page_size=100,
                page_token=token,
            ),
            timeout=30,
        )
        ordered += page.findings
        token = page.next_page_token
        if not token:
            break
    assert sorted(f.name for f in ordered) == sorted(f.name for f in seen)
    savings = [cost(f.prediction.expected_monthly_saving) for f in ordered]
    assert savings == sorted(savings, reverse=True) and savings[0] > savings[-1]


def test_concurrent_decisions_on_one_finding_one_wins_by_etag(stack):
    run = stack.scan(stack.create_account().name)
    f = stack.findings(scan_run=run.name)[0]
    results = []
    barrier = threading.Barrier(2)

    def decide(state):
        barrier.wait()
        try:
            results.append(set_state(stack.scanner, f, state, etag=f.etag).state)
        except grpc.RpcError as exc:
            results.append(exc.code())

    threads = [threading.Thread(target=decide, args=(s,)) for s in (KEPT, DELETED)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results.count(grpc.StatusCode.ABORTED) == 1 and len(results) == 2
    winner = stack.scanner.GetFinding(scanner_service_pb2.GetFindingRequest(name=f.name)).finding
    assert winner.state in (KEPT, DELETED) and winner.etag != f.etag


def test_accounts_list_update_and_delete_with_erasure(stack):
    a = stack.create_account()
    b = stack.create_account(ml=False)
    listed = stack.scanner.ListCloudAccounts(
        scanner_service_pb2.ListCloudAccountsRequest(tenant_id=TENANT, page_size=1)
    )
    assert listed.cloud_accounts[0].name == a.name and listed.next_page_token
    rest = stack.scanner.ListCloudAccounts(
        scanner_service_pb2.ListCloudAccountsRequest(
            tenant_id=TENANT, page_size=1, page_token=listed.next_page_token
        )
    )
    assert [x.name for x in rest.cloud_accounts] == [b.name] and not rest.next_page_token

    renamed = stack.scanner.UpdateCloudAccount(
        scanner_service_pb2.UpdateCloudAccountRequest(
            cloud_account=cloud_account_pb2.CloudAccount(
                name=a.name, display_name="renamed", tenant_id="ignored"
            ),
            update_mask=field_mask_pb2.FieldMask(paths=["display_name"]),
        )
    ).cloud_account
    assert renamed.display_name == "renamed" and renamed.tenant_id == TENANT

    run = stack.scan(a.name)
    f = stack.findings(scan_run=run.name)[0]
    set_state(stack.scanner, f, KEPT)
    engine = sa.create_engine(stack.database_url)
    with engine.connect() as c:
        ml_before = c.execute(sa.text("SELECT count(*) FROM ml_training_data")).scalar()
    assert ml_before == run.findings_count
    erased = stack.scanner.DeleteCloudAccount(
        scanner_service_pb2.DeleteCloudAccountRequest(name=a.name, erase_ml_data=True)
    )
    assert erased.scan_runs_deleted == 1 and erased.findings_deleted == run.findings_count
    assert erased.user_actions_deleted == 1 and erased.ml_rows_deleted == ml_before
    with engine.connect() as c:
        assert c.execute(sa.text("SELECT count(*) FROM ml_training_data")).scalar() == 0
        assert c.execute(sa.text("SELECT count(*) FROM findings")).scalar() == 0
    engine.dispose()
    with pytest.raises(grpc.RpcError) as err:
        stack.scanner.GetCloudAccount(scanner_service_pb2.GetCloudAccountRequest(name=a.name))
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


@pytest.mark.parametrize(
    ("params", "field"),
    [
        ({"no-such-rule": {"enabled": False}}, "cloud_account.rule_parameters.no-such-rule"),
        ({"snapshot-orphaned": {"min_age": 3}}, "cloud_account.rule_parameters.snapshot-orphaned.min_age"),
        (
            {"snapshot-orphaned": {"min_age_days": "x"}},
            "cloud_account.rule_parameters.snapshot-orphaned.min_age_days",
        ),
    ],
)
def test_bad_rule_parameters_name_the_parameter_with_bad_request_details(stack, params, field):
    extra = {}
    for rule, values in params.items():
        st = struct_pb2.Struct()
        st.update(values)
        extra[rule] = st
    with pytest.raises(grpc.RpcError) as err:
        create_account(stack.scanner, stack.truth, rule_parameters=extra)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details().startswith(field), err.value.details()
    status = rpc_status.from_call(err.value)
    bad = error_details_pb2.BadRequest()
    assert status.details[0].Unpack(bad) and bad.field_violations[0].field == field


def test_a_scanner_stopped_mid_scan_loses_and_resolves_nothing(stack, big_estate):
    """SIGTERM-like stop while a scan is between regions: the regions already saved stay saved,
    the others are reported interrupted and resolve nothing; the next scan completes the picture."""
    from cloudwaste.core.settings import replace
    from cloudwaste.scanner.server import build_app

    _, truth = big_estate
    stack.running["scanner"].stop(1)
    settings = replace(stack.settings["scanner"], region_concurrency=1)  # one region after another
    stack.running["scanner"] = create_server(settings, build_app(settings))
    scanner = scanner_service_pb2_grpc.ScannerServiceStub(
        grpc.insecure_channel(f"127.0.0.1:{stack.running['scanner'].port}")
    )
    account = create_account(scanner, truth).name
    full = scan(scanner, account)
    expected = {f.name for f in findings(scanner, cloud_account=account)}

    run = scanner.StartScan(scanner_service_pb2.StartScanRequest(cloud_account=account)).scan_run
    deadline = time.monotonic() + 120
    while run.regions_done < 1:
        assert time.monotonic() < deadline
        time.sleep(0.02)
        run = scanner.GetScanRun(scanner_service_pb2.GetScanRunRequest(name=run.name)).scan_run
    assert run.state == scan_run_pb2.SCAN_RUN_STATE_RUNNING, "the scan ended before it could be stopped"
    stack.running["scanner"].stop(5)  # what SIGTERM does: drain, stop the worker between kinds

    scanner = restart_scanner(stack)
    run = scanner.GetScanRun(scanner_service_pb2.GetScanRunRequest(name=run.name)).scan_run
    assert run.state == scan_run_pb2.SCAN_RUN_STATE_PARTIALLY_SUCCEEDED, run
    interrupted = [r for r in run.region_results if not r.succeeded]
    assert interrupted and all("interrupted" in r.error_message for r in interrupted)
    assert run.resolved_findings_count == 0
    after = {f.name: f for f in findings(scanner, cloud_account=account, all_states=True)}
    assert set(after) == expected and all(f.state == OPEN for f in after.values())
    saved = {r.region for r in run.region_results if r.succeeded}
    assert all(f.observation_count == (2 if f.region in saved else 1) for f in after.values())

    again = scan(scanner, account)
    assert again.findings_count == full.findings_count and again.new_findings_count == 0
    assert {f.name for f in findings(scanner, cloud_account=account)} == expected


def test_erasing_a_tenant_removes_its_ml_rows_only_and_lists_exports_to_rewrite(stack):
    """GDPR erasure of one tenant: every ML row it produced goes (an account deleted earlier without
    erasure included), another tenant's rows stay, and exports written since are named."""
    from cloudwaste.exporter.v1 import exporter_service_pb2

    engine = sa.create_engine(stack.database_url)

    def rows() -> int:
        with engine.connect() as c:
            return c.execute(sa.text("SELECT count(*) FROM ml_training_data")).scalar()

    gone = stack.create_account()  # tenant TENANT, deleted below without erasing its ML rows
    stack.scan(gone.name)
    stack.scanner.DeleteCloudAccount(scanner_service_pb2.DeleteCloudAccountRequest(name=gone.name))
    kept = stack.create_account()
    first = stack.scan(kept.name)
    other = stack.scanner.CreateCloudAccount(
        scanner_service_pb2.CreateCloudAccountRequest(
            cloud_account=cloud_account_pb2.CloudAccount(
                provider=provider_pb2.PROVIDER_AWS,
                tenant_id="another-tenant",
                regions=list(stack.truth.regions),
                aws=cloud_account_pb2.AwsAccess(
                    role_arn=f"arn:aws:iam::{stack.truth.account_id}:role/CloudWasteOther"
                ),
            )
        )
    ).cloud_account
    others = stack.scan(other.name)
    export = list(
        stack.exporter.ExportDataset(
            exporter_service_pb2.ExportDatasetRequest(destination_uri=stack.export_root.as_uri())
        )
    )[-1].export_run
    total = rows()
    assert total == 2 * first.findings_count + others.findings_count

    erased = stack.scanner.EraseTenantData(scanner_service_pb2.EraseTenantDataRequest(tenant_id=TENANT))
    assert erased.ml_rows_deleted == 2 * first.findings_count
    assert list(erased.exports_to_rewrite) == [export.dataset_uri]
    assert rows() == others.findings_count
    again = stack.scanner.EraseTenantData(scanner_service_pb2.EraseTenantDataRequest(tenant_id=TENANT))
    assert again.ml_rows_deleted == 0 and list(again.exports_to_rewrite) == [export.dataset_uri]  # a retry
    # and no more is collected for it: a new scan of its account writes no ML row
    stack.scan(kept.name)
    assert rows() == others.findings_count
    assert not stack.scanner.GetCloudAccount(
        scanner_service_pb2.GetCloudAccountRequest(name=kept.name)
    ).cloud_account.ml_collection_enabled
    engine.dispose()
    with pytest.raises(grpc.RpcError) as err:
        stack.scanner.EraseTenantData(scanner_service_pb2.EraseTenantDataRequest(tenant_id=" "))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and err.value.details().startswith(
        "tenant_id"
    )
