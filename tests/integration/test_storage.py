"""Exports and training through the storage layer, on file:// and on s3:// (moto's S3, served in
this process by the session's moto server), through the real gRPC servicers and PostgreSQL."""

from __future__ import annotations

import hashlib
import json
import time
import uuid
from dataclasses import dataclass
from types import SimpleNamespace

import boto3
import grpc
import pandas as pd
import pyarrow.fs as pafs
import pytest
from cloudwaste.core.server import create_server
from cloudwaste.core.storage import Storage
from cloudwaste.exporter.settings import ExporterSettings
from cloudwaste.exporter.v1 import export_run_pb2, exporter_service_pb2, exporter_service_pb2_grpc
from cloudwaste.predictor.client import wait_for_training
from cloudwaste.predictor.settings import PredictorSettings
from cloudwaste.predictor.v1 import predictor_service_pb2, predictor_service_pb2_grpc
from cloudwaste.scanner.v1 import finding_pb2, scanner_service_pb2

DECISION = {
    "deleted": finding_pb2.FINDING_STATE_DELETED,
    "kept": finding_pb2.FINDING_STATE_KEPT,
    "ignored": finding_pb2.FINDING_STATE_IGNORED,
}


@dataclass
class Stored:
    """An exporter and a predictor whose roots are on one backend, next to the `stack`."""

    kind: str
    root: str  # the configured root URI
    storage: Storage  # the same root, for the test's own looks
    exporter: exporter_service_pb2_grpc.ExporterServiceStub
    predictor: predictor_service_pb2_grpc.PredictorServiceStub
    everything: object  # () -> every stored file name under the root, temporary ones included

    def export(self, destination: str) -> list:
        return list(
            self.exporter.ExportDataset(
                exporter_service_pb2.ExportDatasetRequest(destination_uri=destination), timeout=120
            )
        )


@pytest.fixture(params=["file", "s3"])
def stored(request, stack, moto_estate, tmp_path):
    """Exporter and predictor servers on the stack's database, with their roots on file:// (a tmp
    folder) or s3:// (a fresh bucket in the session's moto server)."""
    from cloudwaste.exporter.server import build_app as exporter_app
    from cloudwaste.predictor.server import build_app as predictor_app

    endpoint, _ = moto_estate
    s3_options: dict = {}
    if request.param == "file":
        folder = tmp_path / "store"
        folder.mkdir()
        root = folder.as_uri()

        def everything():
            return sorted(str(p.relative_to(folder)) for p in folder.rglob("*") if p.is_file())

    else:
        bucket = f"cw-exports-{uuid.uuid4().hex[:10]}"
        s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
        s3.create_bucket(Bucket=bucket)
        root = f"s3://{bucket}/ml"
        s3_options = {"s3_endpoint_url": endpoint, "s3_region": "us-east-1"}

        def everything():
            keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
            pending = s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
            return sorted(k[len("ml/") :] for k in keys if not k.endswith("/")) + [
                f"upload:{u['Key']}" for u in pending
            ]

    common = dict(
        database_url=stack.database_url,
        grpc_host="127.0.0.1",
        grpc_port=0,
        metrics_port=-1,
        shutdown_grace_seconds=1,
    )
    # One storage configuration per database, as in a deployment: the stack's own exporter and
    # predictor (and their workers, configured for another root) stop; these take over.
    stack.running.pop("predictor").stop(0.5)
    stack.running.pop("exporter").stop(0.5)
    xs = ExporterSettings(**common, export_root=root, batch_rows=50, **s3_options)
    ps = PredictorSettings(**common, dataset_root=root, model_poll_seconds=0.3, **s3_options)
    running = {
        "exporter": create_server(xs, exporter_app(xs)),
        "predictor": create_server(ps, predictor_app(ps)),
    }
    channels = {k: grpc.insecure_channel(f"127.0.0.1:{v.port}") for k, v in running.items()}
    yield Stored(
        kind=request.param,
        root=root,
        storage=Storage(root, **s3_options),
        exporter=exporter_service_pb2_grpc.ExporterServiceStub(channels["exporter"]),
        predictor=predictor_service_pb2_grpc.PredictorServiceStub(channels["predictor"]),
        everything=everything,
    )
    for c in channels.values():
        c.close()
    for r in running.values():
        r.stop(0.5)


def labeled_estate(stack) -> tuple[int, int]:
    """Scan the estate, wait for enrichment, record the simulated decisions: (findings, decisions)."""
    run = stack.scan(stack.create_account().name)
    findings = stack.findings(scan_run=run.name)
    stack.wait_enriched(run.name)
    by_id = {t.resource_id: t for t in stack.truth.resources}
    decided = [f for f in findings if by_id[f.resource_name].decision]
    for f in decided:
        stack.scanner.SetFindingState(
            scanner_service_pb2.SetFindingStateRequest(
                name=f.name, state=DECISION[by_id[f.resource_name].decision]
            )
        )
    return len(findings), len(decided)


def _files(stored, run) -> list[str]:
    """The run's files relative to the root, as the backend names them."""
    return sorted(f.uri.removeprefix(stored.root + "/") for f in run.files)


def test_export_then_train_from_the_same_storage(stack, stored):
    n_findings, n_decided = labeled_estate(stack)
    destination = f"{stored.root}/weekly"
    msgs = stored.export(destination)
    exp = msgs[-1].export_run
    assert exp.state == export_run_pb2.EXPORT_RUN_STATE_SUCCEEDED, exp.error_message
    assert msgs[-1].rows_total == msgs[-1].rows_written == n_findings
    written = [m.rows_written for m in msgs]
    assert written == sorted(written)  # progress as the worker records it, never backwards
    assert exp.destination_uri == exp.dataset_uri == destination and exp.full is False
    assert not exp.HasField("changed_after") and exp.HasField("changed_before")  # the first of its stream
    month = time.strftime("%Y-%m", time.gmtime())
    part = f"part-{exp.manifest_uri.rsplit('/', 1)[1].removesuffix('.json')}.parquet"
    assert [f.month for f in exp.files] == [month]
    # exactly the month's file and the manifest: no temporary file or pending upload left
    assert stored.everything() == sorted(
        [f"weekly/ml_training_data/detected_month={month}/{part}", f"weekly/_manifests/{part[5:-8]}.json"]
    )

    # read back by a plain client of the backend: sha256 per file, the manifest, pandas on the partitions
    with stored.storage.open_input(exp.files[0].uri) as fh:
        data = fh.read()
    assert hashlib.sha256(data).hexdigest() == exp.files[0].sha256 and len(data) == exp.size_bytes
    with stored.storage.open_input(exp.manifest_uri) as fh:
        body = fh.read()
    manifest = json.loads(body)
    assert hashlib.sha256(body).hexdigest() == exp.sha256
    assert manifest["row_count"] == exp.row_count == n_findings and manifest["full"] is True
    assert [(f["path"], f["sha256"]) for f in manifest["files"]] == [
        (f"ml_training_data/detected_month={month}/{part}", exp.files[0].sha256)
    ]
    assert manifest["key"] == ["resource_hash", "detection_scenario", "detected_at"]
    fs, path = stored.storage.arrow_path(f"{destination}/ml_training_data")
    if stored.kind == "s3":
        assert isinstance(fs, pafs.S3FileSystem)
    frame = pd.read_parquet(path, filesystem=fs)  # hive partitions: detected_month is a column
    assert len(frame) == n_findings and "id" not in frame.columns
    assert set(frame["detected_month"].astype(str)) == {month}
    assert frame["user_action"].notna().sum() == n_decided

    # the same week again: nothing new, nothing written
    again = stored.export(destination)[-1].export_run
    assert again.state == export_run_pb2.EXPORT_RUN_STATE_SUCCEEDED and again.row_count == 0
    assert not again.manifest_uri and not again.files and again.previous_export == exp.name
    assert again.changed_after == exp.changed_before
    assert len(stored.everything()) == 2

    tr = wait_for_training(
        stored.predictor,
        stored.predictor.TrainModels(
            predictor_service_pb2.TrainModelsRequest(dataset_uri=exp.dataset_uri), timeout=30
        ).training_run,
    )
    assert tr.dataset_uri == exp.dataset_uri
    assert (
        tr.model_version.active and tr.model_version.training_rows + tr.model_version.test_rows == n_decided
    )


def _invalid(call, field: str) -> str:
    with pytest.raises(grpc.RpcError) as err:
        call()
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT, err.value.details()
    assert err.value.details().startswith(f"{field}: "), err.value.details()
    return err.value.details()


def test_outside_the_root_is_invalid_argument_naming_the_field(stack, stored):
    other = "file:///etc" if stored.kind == "s3" else "s3://some-bucket/ml"
    root_bucket_or_path = stored.storage.root.bucket or stored.storage.root.path
    for uri in (other, f"{stored.root}-sibling/x", f"{stored.root}/../escape", "gs://bucket/x"):
        details = _invalid(lambda uri=uri: stored.export(uri), "destination_uri")
        assert root_bucket_or_path not in details.replace(uri, "")  # the root is not revealed
        _invalid(
            lambda uri=uri: stored.predictor.TrainModels(
                predictor_service_pb2.TrainModelsRequest(dataset_uri=f"{uri}/d.parquet")
            ),
            "dataset_uri",
        )
    missing = f"{stored.root}/nope/_manifests/x.json"
    details = _invalid(
        lambda: stored.predictor.TrainModels(predictor_service_pb2.TrainModelsRequest(dataset_uri=missing)),
        "dataset_uri",
    )
    assert details == f"dataset_uri: {missing} does not exist"
    empty = f"{stored.root}/nope"
    details = _invalid(
        lambda: stored.predictor.TrainModels(predictor_service_pb2.TrainModelsRequest(dataset_uri=empty)),
        "dataset_uri",
    )
    assert details == f"dataset_uri: {empty} is neither a file nor a dataset folder with export manifests"
    assert stored.everything() == []


def test_an_export_that_fails_half_way_leaves_nothing_visible(stack, stored, monkeypatch):
    from cloudwaste.exporter import export

    n_findings, _ = labeled_estate(stack)
    assert n_findings > 50  # two batches at least: the second one fails, after the first was written
    real = export.pq.ParquetWriter

    class FailingWriter(real):
        batches = 0

        def write_batch(self, batch, *args, **kwargs):
            FailingWriter.batches += 1
            if FailingWriter.batches == 2:
                raise OSError("disk went away")
            return super().write_batch(batch, *args, **kwargs)

    monkeypatch.setattr(export, "pq", SimpleNamespace(ParquetWriter=FailingWriter))
    run = stored.export(f"{stored.root}/weekly")[-1].export_run  # the run carries the failure
    assert run.state == export_run_pb2.EXPORT_RUN_STATE_FAILED and "export failed" in run.error_message
    assert run.error.code == 13 and run.error.message == run.error_message  # google.rpc.Status INTERNAL
    assert "OSError" not in run.error_message and not run.manifest_uri and not run.files
    assert FailingWriter.batches == 2
    assert stored.everything() == []


def test_a_failed_manifest_withdraws_its_dataset(stack, stored, monkeypatch):
    labeled_estate(stack)
    real = Storage.write_bytes

    def failing(self, uri, data, **kwargs):
        if "/_manifests/" in uri:
            raise OSError("no space left for the manifest")
        return real(self, uri, data, **kwargs)

    monkeypatch.setattr(Storage, "write_bytes", failing)
    run = stored.export(f"{stored.root}/weekly")[-1].export_run
    assert run.state == export_run_pb2.EXPORT_RUN_STATE_FAILED and run.error_message
    assert stored.everything() == []


def test_a_local_folder_with_nothing_to_export_writes_nothing(database_url, tmp_path):
    """The form the benchmarks use: export_ml_dataset on a local folder's Storage."""
    from cloudwaste.exporter.export import Result, Window, export_ml_dataset, watermark

    folder = tmp_path / "out" / "nested"
    storage = Storage(folder.as_uri())
    window = Window(before=watermark(database_url))
    events = list(
        export_ml_dataset(database_url, storage.root.uri, uuid.uuid4(), storage=storage, window=window)
    )
    result = events[-1]
    assert isinstance(result, Result) and result.row_count == 0 and not result.manifest_uri
    assert not folder.exists() or not any(folder.rglob("*"))


def test_a_client_that_goes_away_stops_watching_not_the_export(stack):
    """The export is a run the exporter's worker owns: a caller that cancels (or whose deadline
    passes) stops receiving progress; the run still finishes, and a retry with the same request id
    follows that same run instead of starting another."""
    labeled_estate(stack)
    request = exporter_service_pb2.ExportDatasetRequest(
        destination_uri=stack.export_root.as_uri(), request_id="weekly-2026-48"
    )
    stream = stack.exporter.ExportDataset(request)
    first = next(stream)
    stream.cancel()
    run = first.export_run
    for _ in range(300):
        run = stack.exporter.GetExportRun(exporter_service_pb2.GetExportRunRequest(name=run.name)).export_run
        if run.state == export_run_pb2.EXPORT_RUN_STATE_SUCCEEDED:
            break
        time.sleep(0.1)
    assert run.state == export_run_pb2.EXPORT_RUN_STATE_SUCCEEDED and run.dataset_uri
    again = list(stack.exporter.ExportDataset(request))
    assert [m.export_run.name for m in again] == [run.name] and again[
        -1
    ].export_run.dataset_uri == run.dataset_uri
    other = exporter_service_pb2.ExportDatasetRequest(
        destination_uri=stack.export_root.as_uri(), request_id="weekly-2026-48", labeled_only=True
    )
    assert _invalid(lambda: list(stack.exporter.ExportDataset(other)), "request_id")


def test_duckdb_reads_an_export_back(stack):
    """An analyst's first query: DuckDB reads the export as it is, with the labels the users gave."""
    import duckdb

    _, n_decided = labeled_estate(stack)
    run = list(
        stack.exporter.ExportDataset(
            exporter_service_pb2.ExportDatasetRequest(destination_uri=stack.export_root.as_uri())
        )
    )[-1].export_run
    assert run.state == export_run_pb2.EXPORT_RUN_STATE_SUCCEEDED, run.error_message
    path = (
        Storage(stack.export_root.as_uri()).arrow_path(run.dataset_uri)[1] + "/ml_training_data/*/*.parquet"
    )
    con = duckdb.connect()
    total, labeled, scenarios = con.execute(
        "SELECT count(*), count(user_action), count(DISTINCT detection_scenario) FROM read_parquet(?)", [path]
    ).fetchone()
    by_label = dict(
        con.execute(
            "SELECT user_action, count(*) FROM read_parquet(?) WHERE user_action IS NOT NULL GROUP BY 1",
            [path],
        ).fetchall()
    )
    con.close()
    assert total == run.row_count and labeled == n_decided == sum(by_label.values()) and scenarios > 3
    assert set(by_label) <= {"deleted", "kept", "ignored"}
