"""Weekly exports as a user lives them: several scans, decisions between them, rows from several
months, an exporter restarted between exports. Each export takes exactly the rows written or
changed since the previous one; together they are the dataset (DuckDB, pandas and the trainer read
it back, the newest version of each row winning), and nothing is lost to a transaction still open
when an export starts."""

from __future__ import annotations

import datetime as dt
import gzip
import json
import uuid
from pathlib import Path

import duckdb
import psycopg
import sqlalchemy as sa
from cloudwaste.core import partitions
from cloudwaste.core.server import create_server
from cloudwaste.core.storage import Storage
from cloudwaste.exporter.v1 import export_run_pb2, exporter_service_pb2, exporter_service_pb2_grpc
from cloudwaste.predictor.kinds.waste import load_labeled_rows
from cloudwaste.scanner.v1 import finding_pb2, scanner_service_pb2

DECISION = {
    "deleted": finding_pb2.FINDING_STATE_DELETED,
    "kept": finding_pb2.FINDING_STATE_KEPT,
    "ignored": finding_pb2.FINDING_STATE_IGNORED,
}
KEY = "resource_hash, detection_scenario, detected_at"


def export(stub, destination: str, **kw):
    msgs = list(
        stub.ExportDataset(
            exporter_service_pb2.ExportDatasetRequest(destination_uri=destination, **kw), timeout=120
        )
    )
    run = msgs[-1].export_run
    assert run.state == export_run_pb2.EXPORT_RUN_STATE_SUCCEEDED, run.error_message
    return run


def decide(stack, findings, state=None):
    by_id = {t.resource_id: t for t in stack.truth.resources}
    decided = 0
    for f in findings:
        target = state if state is not None else DECISION.get(by_id[f.resource_name].decision or "")
        if target is None:
            continue
        stack.scanner.SetFindingState(
            scanner_service_pb2.SetFindingStateRequest(name=f.name, state=target), timeout=10
        )
        decided += 1
    return decided


def ml_rows(url: str) -> int:
    engine = sa.create_engine(url)
    with engine.connect() as c:
        n = c.execute(sa.text("SELECT count(*) FROM ml_training_data")).scalar_one()
    engine.dispose()
    return n


def move_to_earlier_months(url: str, share: int = 3) -> list[str]:
    """Backdates every `share`-th finding by one or two months, as if first detected then: its ML
    rows, their links and its cycle move together. Returns the months ("YYYY-MM") holding rows."""
    from sqlalchemy.orm import Session

    now = dt.datetime.now(dt.UTC)
    engine = sa.create_engine(url)
    with engine.begin() as c:
        with Session(bind=c) as s:
            for back in (1, 2):
                partitions.ensure(s, partitions.month_of(now - dt.timedelta(days=31 * back)))
        c.execute(
            sa.text(
                "CREATE TEMP TABLE shift ON COMMIT DROP AS SELECT fid, make_interval(days => (31 * (1 + n % 2))::int) AS d "
                "FROM (SELECT id AS fid, row_number() OVER (ORDER BY id) AS n FROM findings) f WHERE n % :share = 0"
            ),
            {"share": share},
        )
        c.execute(
            sa.text(
                "UPDATE ml_training_data m SET detected_at = m.detected_at - s.d FROM finding_observations o "
                "JOIN shift s ON s.fid = o.finding_id WHERE m.id = o.ml_row_id AND m.detected_at = o.ml_row_detected_at"
            )
        )
        c.execute(
            sa.text(
                "UPDATE finding_observations o SET ml_row_detected_at = o.ml_row_detected_at - s.d "
                "FROM shift s WHERE o.finding_id = s.fid"
            )
        )
        c.execute(
            sa.text(
                "UPDATE findings f SET cycle_start_time = f.cycle_start_time - s.d FROM shift s WHERE f.id = s.fid"
            )
        )
        months = sorted(
            c.execute(
                sa.text(
                    "SELECT DISTINCT to_char(detected_at AT TIME ZONE 'UTC', 'YYYY-MM') FROM ml_training_data"
                )
            ).scalars()
        )
    engine.dispose()
    return months


def test_weekly_exports_take_exactly_what_changed(stack):
    root = stack.export_root.as_uri()
    destination = f"{root}/weekly"
    storage = Storage(root)

    # week 1: a scan, some decisions; rows spread over three months
    first = stack.scan(stack.create_account().name)
    stack.wait_enriched(first.name)
    findings = stack.findings(scan_run=first.name)
    half = findings[: len(findings) // 2]
    decide(stack, half)
    months = move_to_earlier_months(stack.database_url)
    assert len(months) == 3
    w1 = export(stack.exporter, destination)
    assert w1.row_count == ml_rows(stack.database_url) == len(findings)
    assert sorted(f.month for f in w1.files) == months  # one file per month of detection

    # the same week again: nothing new, nothing written
    empty = export(stack.exporter, destination)
    assert empty.row_count == 0 and empty.previous_export == w1.name and not empty.manifest_uri

    # week 2: the exporter restarts; the rest of the findings are decided, a second scan runs
    stack.running.pop("exporter").stop(0.5)
    xs = stack.settings["exporter"]
    from cloudwaste.exporter import metrics
    from cloudwaste.exporter.server import build_app

    # a restarted exporter takes its last success and quality from the runs on record (the
    # "export missed" and "data quality" alerts read them), not from a process that is gone
    for gauge in (metrics.LAST_SUCCESS, metrics.QUALITY_SCORE, metrics.QUALITY_ROWS):
        gauge.set(-1)
    restarted = create_server(xs, build_app(xs))
    # (the quality of the last export with rows: the empty one has nothing to judge)
    assert metrics.LAST_SUCCESS._value.get() == empty.end_time.ToDatetime(dt.UTC).timestamp()
    assert metrics.QUALITY_SCORE._value.get() == w1.quality.score
    assert metrics.QUALITY_ROWS._value.get() == w1.quality.row_count == w1.row_count
    stack.running["exporter"] = restarted
    exporter = exporter_service_pb2_grpc.ExporterServiceStub(
        __import__("grpc").insecure_channel(f"127.0.0.1:{restarted.port}")
    )
    newly_decided = decide(stack, findings[len(findings) // 2 :])
    by_id = {t.resource_id: t for t in stack.truth.resources}
    relabeled = [f for f in half if by_id[f.resource_name].decision == "deleted"][:5]
    assert len(relabeled) == 5
    decide(stack, relabeled, finding_pb2.FINDING_STATE_KEPT)  # changed minds
    second = stack.scan(first.cloud_account)
    stack.wait_enriched(second.name)
    new_rows = ml_rows(stack.database_url) - w1.row_count
    assert new_rows > 0
    w2 = export(exporter, destination)
    assert w2.previous_export == empty.name and w2.changed_after == empty.changed_before
    # exactly what changed: the second scan's rows, and the first scan's rows that got a label
    # or whose label changed
    assert w2.row_count == new_rows + newly_decided + len(relabeled)

    # the dataset is the union of the exports, the newest version of each row winning
    con = duckdb.connect()
    glob = f"{stack.export_root}/weekly/ml_training_data/*/*.parquet"
    total, versions, current_labels = con.execute(
        f"""
        WITH current AS (
            SELECT * FROM read_parquet('{glob}', hive_partitioning = true)
            QUALIFY row_number() OVER (PARTITION BY {KEY} ORDER BY changed_at DESC) = 1
        )
        SELECT (SELECT count(*) FROM current),
               (SELECT count(*) FROM read_parquet('{glob}')),
               (SELECT count(*) FROM current WHERE user_action = 'kept')
        """
    ).fetchone()
    months_read = {
        m
        for (m,) in con.execute(
            f"SELECT DISTINCT detected_month FROM read_parquet('{glob}', hive_partitioning = true)"
        ).fetchall()
    }
    con.close()
    assert total == ml_rows(stack.database_url) and versions == w1.row_count + w2.row_count
    # the README's query, as written there, gives the same current rows
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    query = readme.split("```sql\n", 1)[1].split("```", 1)[0]
    con = duckdb.connect()
    by_query = con.execute(
        f"SELECT sum(rows) FROM ({query.replace('exports/weekly/ml_training_data/*/*.parquet', glob).rstrip().rstrip(';')})"
    ).fetchone()[0]
    con.close()
    assert by_query == total
    assert {str(m) for m in months_read} >= set(months)
    engine = sa.create_engine(stack.database_url)
    with engine.connect() as c:
        kept = c.execute(
            sa.text("SELECT count(*) FROM ml_training_data WHERE user_action = 'kept'")
        ).scalar_one()
    engine.dispose()
    assert current_labels == kept

    # the trainer reads the same thing from the manifests: the relabeled findings are "kept" now
    from cloudwaste.core.datasets import parquet_files

    files = parquet_files(storage, "dataset_uri", destination)
    assert len(files) == len(w1.files) + len(w2.files)
    rows, labels = load_labeled_rows([storage.open_input(f) for f in files])
    engine = sa.create_engine(stack.database_url)
    with engine.connect() as c:
        decided, deleted = c.execute(
            sa.text(
                "SELECT count(DISTINCT (resource_hash, detection_scenario)), "
                "count(DISTINCT (resource_hash, detection_scenario)) FILTER (WHERE user_action = 'deleted') "
                "FROM ml_training_data WHERE label_source = 'explicit'"
            )
        ).one()
    engine.dispose()
    # one example per decided finding, with its current decision (the relabeled ones are "kept")
    assert len(rows) == len(labels) == decided and int(labels.sum()) == deleted
    as_of_w1 = parquet_files(storage, "dataset_uri", w1.manifest_uri)
    assert sorted(as_of_w1) == sorted(f.uri for f in w1.files)


def test_a_row_written_by_a_transaction_open_during_an_export_is_in_the_next_one(stack):
    destination = f"{stack.export_root.as_uri()}/weekly"
    run = stack.scan(stack.create_account().name)
    stack.wait_enriched(run.name)
    first = export(stack.exporter, destination)
    url = stack.database_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as writer:  # a label written, not yet committed, while the export runs
        writer.execute("SELECT 1")  # the transaction starts now: its changed_at is now
        writer.execute(
            "UPDATE ml_training_data SET user_action = 'deleted', label_source = 'explicit', labeled_at = now() "
            "WHERE id = (SELECT id FROM ml_training_data ORDER BY id LIMIT 1)"
        )
        during = export(stack.exporter, destination)
        assert during.row_count == 0
        assert during.changed_before.ToDatetime(dt.UTC) <= dt.datetime.now(dt.UTC)
        writer.commit()
    after = export(stack.exporter, destination)
    assert after.row_count == 1 and after.changed_after == during.changed_before
    assert first.row_count == ml_rows(stack.database_url)


def test_the_rows_of_a_scan_still_running_wait_for_its_end_then_come_in_the_next_export(stack):
    """A scan saves region by region: an export made meanwhile leaves its rows out (its other
    regions, its hand-off and enrichment are to come), and the export after its end takes them all,
    though they were written before the first export's window closed."""
    from cloudwaste.core.db import Database
    from cloudwaste.scanner.domain import ScopeOutcome
    from cloudwaste.scanner.store import ScannerStore

    from tests.integration.conftest import HASH_KEY

    destination = f"{stack.export_root.as_uri()}/weekly"
    scanned = stack.scan(stack.create_account().name)
    stack.wait_enriched(scanned.name)
    run_id = uuid.UUID(scanned.name.split("/")[1])
    engine = sa.create_engine(stack.database_url)
    with engine.begin() as c:  # as it was before its last region was saved: running, its lease held
        c.execute(
            sa.text(
                "UPDATE scan_runs SET state = 'RUNNING', end_time = NULL, "
                "lease_expire_time = now() + interval '1 hour' WHERE id = :id"
            ),
            {"id": run_id},
        )
        written = c.execute(
            sa.text("SELECT count(*) FROM finding_observations WHERE scan_run_id = :id AND ml_row_id IS NOT NULL"),
            {"id": run_id},
        ).scalar_one()
    engine.dispose()
    assert written == ml_rows(stack.database_url) > 0
    during = export(stack.exporter, destination)
    assert during.row_count == 0, "rows of a running scan exported"
    assert export(stack.exporter, f"{destination}-full", full=True).row_count == 0  # nor in a full one
    db = Database(stack.database_url)
    assert ScannerStore(db, HASH_KEY).finish_run(run_id, [ScopeOutcome("us-east-1", True)]).state == "SUCCEEDED"
    db.dispose()
    after = export(stack.exporter, destination)
    assert after.changed_after == during.changed_before and after.row_count == written


def test_full_and_jsonl_exports(stack):
    root = stack.export_root.as_uri()
    run = stack.scan(stack.create_account().name)
    stack.wait_enriched(run.name)
    n = ml_rows(stack.database_url)
    jsonl = export(stack.exporter, f"{root}/json", format=export_run_pb2.DATASET_FORMAT_JSONL_GZ)
    assert jsonl.format == export_run_pb2.DATASET_FORMAT_JSONL_GZ and jsonl.row_count == n
    (only,) = jsonl.files
    assert only.uri.endswith(".jsonl.gz")
    path = Storage(root).arrow_path(only.uri)[1]
    with gzip.open(path, "rt") as fh:
        rows = [json.loads(line) for line in fh]
    assert len(rows) == only.row_count == n and "id" not in rows[0]
    assert isinstance(rows[0]["resource_config"], dict)  # JSON columns nested, not strings
    assert rows[0]["detected_at"].endswith("+00:00")
    con = duckdb.connect()
    assert con.execute(f"SELECT count(*) FROM read_json_auto('{path}')").fetchone()[0] == n
    con.close()
    manifest = json.loads(open(Storage(root).arrow_path(jsonl.manifest_uri)[1]).read())
    assert manifest["format"] == "jsonl_gz" and manifest["compression"] == "gzip"

    # a Parquet stream into the same folder is its own stream: its first export takes everything
    parquet = export(stack.exporter, f"{root}/json")
    assert parquet.row_count == n and not parquet.previous_export
    assert export(stack.exporter, f"{root}/json").row_count == 0
    full = export(stack.exporter, f"{root}/json", full=True)
    assert full.full and full.row_count == n and not full.HasField("changed_after")

    # the runs of one destination, newest first, page by page
    listed, token = [], ""
    while True:
        page = stack.exporter.ListExportRuns(
            exporter_service_pb2.ListExportRunsRequest(
                page_size=2, page_token=token, destination_uri=f"{root}/json"
            )
        )
        listed += [r.name for r in page.export_runs]
        token = page.next_page_token
        if not token:
            break
    assert listed == [full.name, *listed[1:3], jsonl.name] and len(listed) == 4


def test_a_crashed_export_is_failed_and_its_files_withdrawn(stack):
    from cloudwaste.core.db import Database
    from cloudwaste.exporter.runs import Exports
    from cloudwaste.exporter.store import ExporterStore

    # this test plays the workers itself: the stack's export worker must not claim its runs first
    stop_export_worker = stack.running["exporter"].app.on_stop[0]
    stop_export_worker()
    root = stack.export_root.as_uri()
    storage = Storage(root)
    store = ExporterStore(Database(stack.database_url))
    run = store.create(f"{root}/weekly", "PARQUET", False)
    claimed = store.claim_next("dead-worker")
    assert claimed.id == run.id
    # it had published one file, then its process was killed
    leftover = f"{root}/weekly/ml_training_data/detected_month=2026-11/part-x-{run.id.hex[:8]}.parquet"
    storage.write_bytes(leftover, b"PAR1 half")
    store.record_file(run.id, leftover)
    # a queued export to the same destination waits for it
    queued = store.create(f"{root}/weekly", "PARQUET", False, request_id=f"r-{uuid.uuid4()}")
    assert store.claim_next("other-worker") is None
    exports = Exports(store, stack.settings["exporter"], storage)
    assert exports.reap_stale(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)) == 1
    assert not storage.exists(leftover)
    failed = store.get(run.id)
    assert failed.state == "FAILED" and failed.files == [] and "stopped" in failed.error_message
    assert store.claim_next("other-worker").id == queued.id
