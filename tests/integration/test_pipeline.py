"""The whole data path through real gRPC, a real PostgreSQL and moto, with planted canaries."""

from __future__ import annotations

import json
import time

import grpc
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from cloudwaste.enricher.v1 import enricher_service_pb2, enrichment_run_pb2
from cloudwaste.exporter.v1 import export_run_pb2, exporter_service_pb2
from cloudwaste.predictor.client import wait_for_serving, wait_for_training
from cloudwaste.predictor.v1 import prediction_pb2, predictor_service_pb2, training_run_pb2
from cloudwaste.scanner.v1 import finding_pb2, scan_run_pb2, scanner_service_pb2

from tests.integration.conftest import TENANT, external_ids

DECISION = {
    "deleted": finding_pb2.FINDING_STATE_DELETED,
    "kept": finding_pb2.FINDING_STATE_KEPT,
    "ignored": finding_pb2.FINDING_STATE_IGNORED,
}

# waste no API prices: a paused Redshift cluster's storage, a duplicate trail's event volume
UNPRICEABLE = {"redshift-cluster-paused-long", "cloudtrail-trail-duplicate"}


def _usd(m) -> float:
    return m.units + m.nanos / 1e9


def ml_dump(url: str) -> str:
    """Every ML table as one lowercase JSON text."""
    engine = sa.create_engine(url)
    with engine.connect() as c:
        parts = []
        for table in ("ml_training_data", "cloudwatch_metrics_history", "cost_trend_data"):
            parts += [r[0] for r in c.execute(sa.text(f"SELECT row_to_json(t)::text FROM {table} t"))]
        parts += [
            r[0]
            for r in c.execute(
                sa.text(
                    "SELECT json_build_array(metrics, baseline_metrics, feature_spec)::text FROM model_versions"
                )
            )
        ]
    engine.dispose()
    return "\n".join(parts).lower()


def canaries(truth, database_url: str) -> set[str]:
    """Strings that identify the customer: ids, names, e-mails, free text, tenant, external id, account."""
    out = {TENANT, *external_ids(database_url), truth.account_id}
    for r in truth.resources:
        out.add(r.resource_id)
        for key, value in r.tags.items():
            if key.lower() in ("name", "owner", "notes") or "@" in value:
                out.add(value)
    return {c.lower() for c in out if len(c) >= 6}


def test_scan_finds_exactly_the_known_waste_with_prices_and_evidence(stack):
    account = stack.create_account()
    run = stack.scan(account.name)
    assert run.state == scan_run_pb2.SCAN_RUN_STATE_SUCCEEDED, run
    assert run.regions_done == run.regions_total == 3
    assert run.resources_scanned == len(stack.truth.resources)
    findings = stack.findings(scan_run=run.name)
    assert len({f.name for f in findings}) == len(findings) == run.findings_count  # pagination: no dupes
    expected = {(t.resource_id, t.scenario) for t in stack.truth.waste()}
    assert {(f.resource_name, f.category) for f in findings} == expected
    total = sum(f.monthly_cost.units + f.monthly_cost.nanos / 1e9 for f in findings)
    assert total == pytest.approx(
        run.total_monthly_waste.units + run.total_monthly_waste.nanos / 1e9, abs=0.01
    )
    for f in findings:
        # a long-stopped machine costs nothing itself: its disks are findings of their own
        priced = f.parts_monthly_cost if f.category == "ec2-instance-stopped" else f.monthly_cost
        if f.category in UNPRICEABLE:  # no API gives the amount: $0, and the evidence says why
            assert "priced at 0" in f.evidence["price"], f
        else:
            assert priced.units > 0 or priced.nanos > 0, f
        assert f.evidence.fields, f
        assert f.state == finding_pb2.FINDING_STATE_OPEN
    stopped = [f for f in findings if f.category == "ec2-instance-stopped"]
    assert stopped and all(f.evidence["stopped_days"] > 30 for f in stopped)


def test_filters_and_page_tokens(stack):
    run = stack.scan(stack.create_account().name)
    eips = stack.findings(scan_run=run.name, category="eip-unassociated")
    assert eips and all(f.category == "eip-unassociated" for f in eips)
    first = stack.scanner.ListFindings(
        scanner_service_pb2.ListFindingsRequest(scan_run=run.name, page_size=5)
    )
    assert len(first.findings) == 5 and first.next_page_token and first.total_size == run.findings_count
    with pytest.raises(grpc.RpcError) as err:  # a token is bound to its filter
        stack.scanner.ListFindings(
            scanner_service_pb2.ListFindingsRequest(
                scan_run=run.name, category="eip-unassociated", page_token=first.next_page_token
            )
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "page_token" in err.value.details()


def test_a_failing_region_is_recorded_and_the_others_are_kept(stack, monkeypatch):
    from botocore.exceptions import EndpointConnectionError
    from cloudwaste.scanner.providers import aws

    real = aws.AwsProvider.list_kind

    def flaky(self, conn, kind, scope, now, dependencies):
        if scope == "eu-west-1":  # every kind fails there: the region fails as a whole
            raise EndpointConnectionError(endpoint_url="https://ec2.eu-west-1.amazonaws.com/")
        return real(self, conn, kind, scope, now, dependencies)

    monkeypatch.setattr(aws.AwsProvider, "list_kind", flaky)
    run = stack.scan(stack.create_account().name)
    assert run.state == scan_run_pb2.SCAN_RUN_STATE_PARTIALLY_SUCCEEDED
    failed = [r for r in run.region_results if not r.succeeded]
    assert [r.region for r in failed] == ["eu-west-1"] and "Could not connect" in failed[0].error_message
    findings = stack.findings(scan_run=run.name)
    expected = {t.resource_id for t in stack.truth.waste() if t.region != "eu-west-1"}
    assert {f.resource_name for f in findings} == expected


def test_labels_enrichment_export_train_predict_and_no_canary_leaks(stack):
    from prometheus_client import REGISTRY

    def unscored() -> float:
        labels = {"result": "no_model"}
        return REGISTRY.get_sample_value("cloudwaste_scanner_findings_scored_total", labels) or 0.0

    before = unscored()
    account = stack.create_account()
    run = stack.scan(account.name)
    findings = stack.findings(scan_run=run.name)
    assert unscored() - before == len(findings)  # no model yet: the scan ended without scores
    by_id = {t.resource_id: t for t in stack.truth.resources}

    # enrichment was queued by the scanner and run by the enricher's worker; queueing it again is
    # harmless (idempotent): the worker enriches the same rows again
    er1 = stack.wait_enriched(run.name)
    queued = stack.enricher.EnrichScanRun(
        enricher_service_pb2.EnrichScanRunRequest(scan_run=run.name)
    ).enrichment_run
    assert queued.state == enrichment_run_pb2.ENRICHMENT_RUN_STATE_PENDING
    assert queued.attempts == er1.attempts + 1
    er2 = stack.wait_enriched(run.name)  # polls GetEnrichmentRun until the worker has run it
    assert er1.rows_enriched == er2.rows_enriched == len(findings)

    # label exactly each finding's own ML row
    engine = sa.create_engine(stack.database_url)
    decided = [f for f in findings if by_id[f.resource_name].decision]
    for f in decided:
        resp = stack.scanner.SetFindingState(
            scanner_service_pb2.SetFindingStateRequest(
                name=f.name, state=DECISION[by_id[f.resource_name].decision]
            )
        )
        assert resp.finding.state == DECISION[by_id[f.resource_name].decision]
    with engine.connect() as c:
        rows = c.execute(
            sa.text(
                "SELECT f.resource_id, m.user_action, m.labeled_at IS NOT NULL, m.tags_anonymized, m.temporal_features, "
                "f.resource_create_time IS NOT NULL "
                "FROM findings f JOIN finding_observations o ON o.finding_id = f.id "
                "JOIN ml_training_data m ON m.id = o.ml_row_id AND m.detected_at = o.ml_row_detected_at"
            )
        ).all()
    engine.dispose()
    assert len(rows) == len(findings)
    for resource_id, action, labeled, tags, temporal, has_created in rows:
        assert action == by_id[resource_id].decision and labeled == (action is not None)
        # Elastic IPs have no creation time in AWS, hence no temporal features
        assert (temporal is not None and "created_hour_of_day" in temporal) == has_created
        assert isinstance(tags, dict)

    # export: atomic file + manifest, sha256 matches, canaries absent
    msgs = list(
        stack.exporter.ExportDataset(
            exporter_service_pb2.ExportDatasetRequest(destination_uri=stack.export_root.as_uri())
        )
    )
    assert (
        msgs[-1].rows_total == msgs[-1].rows_written == len(findings)
        and msgs[-1].export_run.state == export_run_pb2.EXPORT_RUN_STATE_SUCCEEDED
    )
    exp = msgs[-1].export_run
    q = exp.quality  # measured over the exported rows: all enriched, a known share labeled
    assert q.row_count == len(findings) and q.enriched_share == 1.0 and 0 < q.score <= 100
    assert q.labeled_share == pytest.approx(len(decided) / len(findings)) and q.duplicate_share == 0.0
    files = sorted(p.relative_to(stack.export_root) for p in stack.export_root.rglob("*") if p.is_file())
    (part,) = exp.files
    assert [str(f) for f in files] == [
        f"_manifests/{exp.manifest_uri.rsplit('/', 1)[1]}",
        f"ml_training_data/detected_month={part.month}/{part.uri.rsplit('/', 1)[1]}",
    ]
    import hashlib

    path = stack.export_root / files[1]
    assert hashlib.sha256(path.read_bytes()).hexdigest() == part.sha256
    manifest_text = (stack.export_root / files[0]).read_text()
    assert hashlib.sha256(manifest_text.encode()).hexdigest() == exp.sha256
    manifest = json.loads(manifest_text)
    assert manifest["row_count"] == exp.row_count == len(findings)
    assert manifest["files"][0]["sha256"] == part.sha256
    table = pq.read_table(path)
    assert "id" not in table.column_names and table.num_rows == len(findings)
    # every byte that left the database: the rows and the manifest
    exported = (json.dumps(table.to_pylist(), default=str) + manifest_text).lower()
    db_text = ml_dump(stack.database_url)
    leaks = [c for c in canaries(stack.truth, stack.database_url) if c in exported or c in db_text]
    assert not leaks, f"identifying strings reached ML data: {leaks[:5]}"

    # no model yet -> FAILED_PRECONDITION that says how to get one
    features = prediction_pb2.WasteFeatures(
        provider=1,
        resource_type="aws.ec2.volume",
        region="eu-west-1",
        detection_scenario="ebs-volume-unattached",
        confidence_level=3,
        cost_monthly=12.5,
        resource_age_days=40,
        tags={"environment": "dev"},
    )
    with pytest.raises(grpc.RpcError) as err:
        stack.predictor.PredictWaste(predictor_service_pb2.PredictWasteRequest(features=features))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "TrainModels" in err.value.details()

    queued = stack.predictor.TrainModels(
        predictor_service_pb2.TrainModelsRequest(dataset_uri=exp.dataset_uri, request_id="train-1"),
        timeout=30,
    ).training_run
    assert queued.state == training_run_pb2.TRAINING_RUN_STATE_PENDING  # returned at once; a worker trains
    again = stack.predictor.TrainModels(
        predictor_service_pb2.TrainModelsRequest(dataset_uri=exp.dataset_uri, request_id="train-1"),
        timeout=30,
    ).training_run
    assert again.name == queued.name  # idempotent with a request id
    tr = wait_for_training(stack.predictor, queued, timeout=300)
    assert tr.state == training_run_pb2.TRAINING_RUN_STATE_SUCCEEDED, tr.error_message
    mv = tr.model_version
    assert mv.name == "models/waste/versions/1" and mv.active
    assert mv.metrics["onnx_max_abs_diff"] < 1e-4
    assert mv.training_rows + mv.test_rows == len(decided)
    assert mv.algorithm in {c.name for c in mv.candidates if c.chosen} and len(mv.candidates) >= 4
    assert all(0 < c.metrics["roc_auc"] <= 1 and c.calibration_log_loss > 0 for c in mv.candidates)
    p1 = wait_for_serving(stack.predictor, mv.name, features)
    assert 0.0 <= p1.waste_probability <= 1.0 and p1.model_version == mv.name
    assert p1.expected_monthly_saving == pytest.approx(p1.waste_probability * features.cost_monthly)
    assert 1 <= len(p1.top_features) <= 3 and all(t.feature and t.contribution for t in p1.top_features)
    batch = stack.predictor.PredictWasteBatch(
        predictor_service_pb2.PredictWasteBatchRequest(features=[features, features])
    ).predictions
    assert [b.waste_probability for b in batch] == pytest.approx([p1.waste_probability] * 2)
    # the Open Inference Protocol on the same port: tritonclient gets the same answer
    from tests.e2e.test_processes import oip_client

    text = {"datatype": "BYTES"}
    oip = oip_client(
        f"127.0.0.1:{stack.running['predictor'].port}",
        "infer",
        "waste",
        request={
            "inputs": {
                "provider": {**text, "data": ["aws", "aws"]},
                "resource_type": {**text, "data": ["aws.ec2.volume"] * 2},
                "region": {**text, "data": ["eu-west-1"] * 2},
                "detection_scenario": {**text, "data": ["ebs-volume-unattached"] * 2},
                "confidence_level": {**text, "data": ["HIGH"] * 2},
                "cost_monthly": {"datatype": "FP64", "data": [12.5, 12.5]},
                "resource_age_days": {"datatype": "FP64", "data": [40.0, float("nan")]},
                "tags": {**text, "data": ['{"environment": "dev"}', ""]},
            }
        },
    )
    assert oip["model_version"] == "1"
    assert oip["outputs"]["waste_probability"][0] == pytest.approx(p1.waste_probability, abs=1e-6)
    assert oip["outputs"]["expected_monthly_saving"][0] == pytest.approx(p1.expected_monthly_saving, abs=1e-5)

    # a second model is picked up without restart; ListModelVersions shows both
    tr2 = wait_for_training(
        stack.predictor,
        stack.predictor.TrainModels(
            predictor_service_pb2.TrainModelsRequest(dataset_uri=exp.dataset_uri)
        ).training_run,
    )
    assert tr2.model_version.name == "models/waste/versions/2"
    assert (
        wait_for_serving(stack.predictor, "models/waste/versions/2", features).model_version
        == tr2.model_version.name
    )
    runs = stack.predictor.ListTrainingRuns(predictor_service_pb2.ListTrainingRunsRequest(page_size=1))
    assert [r.name for r in runs.training_runs] == [tr2.name] and runs.next_page_token
    versions = stack.predictor.ListModelVersions(predictor_service_pb2.ListModelVersionsRequest(page_size=1))
    assert len(versions.model_versions) == 1 and versions.next_page_token
    assert versions.model_versions[0].active and versions.model_versions[0].version == 2

    # the first scan ended before any model: its findings were not scored. The next scan's are,
    # with the active model, before the run is shown as ended; ListFindings pages them by expected
    # saving, largest first
    assert not any(f.HasField("prediction") for f in findings)
    # version 1 becomes the shadow of version 2: loaded, scored beside it on live requests, never
    # answered with
    shadowed = stack.predictor.SetModelVersionRole(
        predictor_service_pb2.SetModelVersionRoleRequest(
            name="models/waste/versions/1", role=predictor_service_pb2.MODEL_ROLE_SHADOW
        )
    ).model_version
    assert shadowed.shadow and not shadowed.active
    unordered = stack.scanner.ListFindings(
        scanner_service_pb2.ListFindingsRequest(
            scan_run=run.name, all_states=True, order_by="expected_monthly_saving desc", page_size=1000
        )
    ).findings
    assert sorted(f.name for f in unordered) == sorted(f.name for f in findings)  # unscored: listed, last
    rescan = stack.scan(account.name)
    by_saving, token = [], ""
    while True:
        page = stack.scanner.ListFindings(
            scanner_service_pb2.ListFindingsRequest(
                scan_run=rescan.name,
                all_states=True,  # every finding of this estate was decided
                order_by="expected_monthly_saving desc",
                page_size=7,
                page_token=token,
            )
        )
        by_saving += page.findings
        token = page.next_page_token
        if not token:
            break
    seen = stack.findings(scan_run=rescan.name, all_states=True)
    assert sorted(f.name for f in by_saving) == sorted(f.name for f in seen) and len(by_saving) > 7
    savings = [_usd(f.prediction.expected_monthly_saving) for f in by_saving]
    assert savings == sorted(savings, reverse=True) and savings[0] > savings[-1]
    for f in by_saving:
        said = f.prediction
        assert said.model_version == "models/waste/versions/2" and 0 <= said.waste_probability <= 1
        assert _usd(said.expected_monthly_saving) == pytest.approx(
            said.waste_probability * _usd(f.monthly_cost), abs=1e-4
        )
        assert 1 <= len(said.top_features) <= 3 and said.predict_time.seconds > 0
    # the shadow scored the same live rows; users had decided every one of these findings, so
    # both versions have live metrics on them
    deadline = time.monotonic() + 30
    while True:
        live = stack.predictor.GetShadowEvaluation(predictor_service_pb2.GetShadowEvaluationRequest())
        if live.predictions >= len(by_saving) or time.monotonic() > deadline:
            break
        time.sleep(0.1)
    assert (live.active_version, live.shadow_version) == (
        "models/waste/versions/2",
        "models/waste/versions/1",
    )
    assert live.predictions == live.labeled == len(by_saving)
    assert 0.5 <= live.agreement <= 1 and 0 <= live.mean_abs_difference < 0.5
    assert set(live.active_metrics) >= {"roc_auc", "brier", "log_loss"}
    assert 0 < live.shadow_metrics["roc_auc"] <= 1
    # promoting the shadow: it answers from now on, and no shadow is left
    promoted = stack.predictor.SetModelVersionRole(
        predictor_service_pb2.SetModelVersionRoleRequest(
            name="models/waste/versions/1", role=predictor_service_pb2.MODEL_ROLE_ACTIVE
        )
    ).model_version
    assert promoted.active and not promoted.shadow
    assert (
        stack.predictor.PredictWaste(
            predictor_service_pb2.PredictWasteRequest(features=features)
        ).prediction.model_version
        == "models/waste/versions/1"
    )
    after = stack.predictor.GetShadowEvaluation(predictor_service_pb2.GetShadowEvaluationRequest())
    assert after.active_version == "models/waste/versions/1" and after.shadow_version == ""
    # a version that does not load never takes a role
    from cloudwaste.core.db import Database
    from cloudwaste.core.models import ModelVersion

    db = Database(stack.database_url)
    with db.transaction() as s:
        s.add(ModelVersion(model_kind="waste", version=3, onnx=b"not a model", feature_spec={}))
    db.dispose()
    with pytest.raises(grpc.RpcError) as err:
        stack.predictor.SetModelVersionRole(
            predictor_service_pb2.SetModelVersionRoleRequest(
                name="models/waste/versions/3", role=predictor_service_pb2.MODEL_ROLE_SHADOW
            )
        )
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION and "does not load" in err.value.details()
    assert "Error" not in err.value.details()  # no exception class names
    roles = {
        v.version: (v.active, v.shadow)
        for v in stack.predictor.ListModelVersions(
            predictor_service_pb2.ListModelVersionsRequest()
        ).model_versions
    }
    assert roles == {3: (False, False), 2: (False, False), 1: (True, False)}
    for name, role, code in [
        (
            "models/waste/versions/1",
            predictor_service_pb2.MODEL_ROLE_NONE,
            grpc.StatusCode.FAILED_PRECONDITION,
        ),
        ("models/waste/versions/9", predictor_service_pb2.MODEL_ROLE_SHADOW, grpc.StatusCode.NOT_FOUND),
        ("models/waste/v/1", predictor_service_pb2.MODEL_ROLE_SHADOW, grpc.StatusCode.INVALID_ARGUMENT),
        (
            "models/waste/versions/2",
            predictor_service_pb2.MODEL_ROLE_UNSPECIFIED,
            grpc.StatusCode.INVALID_ARGUMENT,
        ),
    ]:
        with pytest.raises(grpc.RpcError) as err:
            stack.predictor.SetModelVersionRole(
                predictor_service_pb2.SetModelVersionRoleRequest(name=name, role=role)
            )
        assert err.value.code() == code, (name, err.value.details())

    # the same finding, asked for by itself, says the same
    top = stack.scanner.GetFinding(scanner_service_pb2.GetFindingRequest(name=by_saving[0].name)).finding
    assert top.prediction == by_saving[0].prediction
    with pytest.raises(grpc.RpcError) as err:
        stack.scanner.ListFindings(scanner_service_pb2.ListFindingsRequest(order_by="cost desc"))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "order_by" in err.value.details()
    first = stack.scanner.ListFindings(
        scanner_service_pb2.ListFindingsRequest(
            scan_run=rescan.name, all_states=True, order_by="expected_monthly_saving desc", page_size=7
        )
    )
    with pytest.raises(grpc.RpcError) as err:  # a token of one order is not a position in the other
        stack.scanner.ListFindings(
            scanner_service_pb2.ListFindingsRequest(
                scan_run=rescan.name, all_states=True, page_size=7, page_token=first.next_page_token
            )
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "page_token" in err.value.details()


def test_opted_out_tenant_gets_findings_but_no_ml_rows(stack):
    run = stack.scan(stack.create_account(ml=False).name)
    findings = stack.findings(scan_run=run.name)
    assert findings
    stack.scanner.SetFindingState(
        scanner_service_pb2.SetFindingStateRequest(
            name=findings[0].name, state=finding_pb2.FINDING_STATE_KEPT
        )
    )
    engine = sa.create_engine(stack.database_url)
    with engine.connect() as c:
        assert c.execute(sa.text("SELECT count(*) FROM ml_training_data")).scalar() == 0
    engine.dispose()


@pytest.mark.parametrize(
    ("call", "field"),
    [
        (lambda s: s.scanner.GetScanRun(scanner_service_pb2.GetScanRunRequest(name="scanRuns/nope")), "name"),
        (
            lambda s: s.scanner.StartScan(scanner_service_pb2.StartScanRequest(cloud_account="")),
            "cloud_account",
        ),
        (
            lambda s: s.scanner.ListFindings(scanner_service_pb2.ListFindingsRequest(page_size=-1)),
            "page_size",
        ),
        (
            lambda s: s.scanner.SetFindingState(
                scanner_service_pb2.SetFindingStateRequest(
                    name="findings/00000000-0000-0000-0000-000000000000", state=0
                )
            ),
            "state",
        ),
        (lambda s: s.exporter.GetExportRun(exporter_service_pb2.GetExportRunRequest(name="x")), "name"),
        (
            lambda s: list(
                s.exporter.ExportDataset(
                    exporter_service_pb2.ExportDatasetRequest(destination_uri="s3://bucket/x")
                )
            ),
            "destination_uri",
        ),
        (
            lambda s: list(
                s.exporter.ExportDataset(
                    exporter_service_pb2.ExportDatasetRequest(destination_uri="file:///etc")
                )
            ),
            "destination_uri",
        ),
        (
            lambda s: s.predictor.TrainModels(
                predictor_service_pb2.TrainModelsRequest(dataset_uri="file:///etc/passwd")
            ),
            "dataset_uri",
        ),
        (
            lambda s: s.predictor.PredictWasteBatch(
                predictor_service_pb2.PredictWasteBatchRequest(
                    features=[
                        prediction_pb2.WasteFeatures(
                            provider=1, resource_type="t", detection_scenario="s", confidence_level=1
                        ),
                        prediction_pb2.WasteFeatures(
                            provider=1,
                            resource_type="t",
                            detection_scenario="s",
                            confidence_level=1,
                            cost_monthly=-1,
                        ),
                    ]
                )
            ),
            "features[1].cost_monthly",
        ),
        (
            lambda s: s.enricher.EnrichScanRun(enricher_service_pb2.EnrichScanRunRequest(scan_run="")),
            "scan_run",
        ),
    ],
)
def test_bad_input_is_invalid_argument_naming_the_field(stack, call, field):
    with pytest.raises(grpc.RpcError) as err:
        call(stack)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details().startswith(field), err.value.details()


def test_unknown_ids_are_not_found(stack):
    missing = "00000000-0000-0000-0000-000000000000"
    for call in (
        lambda: stack.scanner.GetScanRun(scanner_service_pb2.GetScanRunRequest(name=f"scanRuns/{missing}")),
        lambda: stack.scanner.StartScan(
            scanner_service_pb2.StartScanRequest(cloud_account=f"cloudAccounts/{missing}")
        ),
        lambda: stack.enricher.EnrichScanRun(
            enricher_service_pb2.EnrichScanRunRequest(scan_run=f"scanRuns/{missing}")
        ),
    ):
        with pytest.raises(grpc.RpcError) as err:
            call()
        assert err.value.code() == grpc.StatusCode.NOT_FOUND
