"""The monthly retention purge through the exporter's gRPC API, against a real PostgreSQL: whole
expired months of ML rows dropped, the month holding the cutoff kept, coming months created ahead,
expired exports deleted with their files, and an audit record of all of it (dry runs included)."""

from __future__ import annotations

import datetime as dt
import json
import os
import time
import uuid

import grpc
import pytest
import sqlalchemy as sa
from cloudwaste.core import partitions
from cloudwaste.core.storage import Storage
from cloudwaste.exporter.v1 import export_run_pb2, exporter_service_pb2, purge_run_pb2

NOW = dt.datetime.now(dt.UTC)


def _seed(url: str, export_root) -> dict:
    """ML rows in three months (40 and 36 months ago, this month) and a failed export's record."""
    engine = sa.create_engine(url)
    old, edge = NOW - dt.timedelta(days=40 * 30), NOW - dt.timedelta(days=1095 - 10)
    counts = {}
    with engine.begin() as c:
        for when, n in ((old, 3), (edge, 2), (NOW, 4)):
            month = partitions.month_of(when)
            c.execute(
                sa.text(
                    f"CREATE TABLE IF NOT EXISTS {month.name} PARTITION OF ml_training_data "
                    f"FOR VALUES FROM ('{month.start.isoformat()}') TO ('{month.end.isoformat()}')"
                )
            )
            for _ in range(n):
                c.execute(
                    sa.text(
                        "INSERT INTO ml_training_data (id, detected_at, schema_version, hash_key_id, resource_hash, "
                        "account_hash, tenant_hash, provider, resource_type, region_group, detection_scenario, "
                        "confidence_level, cost_monthly, resource_config) VALUES (:id, :at, 2, 'k', 'h', 'a', 't', "
                        "'aws', 'aws.ec2.volume', 'eu', 'ebs-volume-unattached', 'HIGH', 1, '{}')"
                    ),
                    {"id": uuid.uuid4(), "at": month.start + dt.timedelta(hours=1)},
                )
            counts[month.name] = n
        # an export that failed long ago and holds no file: only its record is left
        c.execute(
            sa.text(
                "INSERT INTO export_runs (id, state, format, destination_uri, labeled_only, row_count, "
                "size_bytes, schema_version, create_time, error_message) VALUES (:id, 'FAILED', 'PARQUET', "
                ":dest, false, 0, 0, 2, :at, 'it failed')"
            ),
            {"id": uuid.uuid4(), "dest": export_root.as_uri(), "at": NOW - dt.timedelta(days=400)},
        )
    engine.dispose()
    return {
        "counts": counts,
        "old": partitions.month_of(old).name,
        "edge": partitions.month_of(edge).name,
        "old_month": partitions.month_of(old).start.strftime("%Y-%m"),
    }


ENDED = (purge_run_pb2.PURGE_RUN_STATE_SUCCEEDED, purge_run_pb2.PURGE_RUN_STATE_FAILED)


def purge(stack, timeout: float = 60, **fields):
    """PurgeExpiredData queues the purge (PENDING) and returns; the exporter's worker runs it."""
    run = stack.exporter.PurgeExpiredData(exporter_service_pb2.PurgeExpiredDataRequest(**fields)).purge_run
    assert run.state == purge_run_pb2.PURGE_RUN_STATE_PENDING
    return wait(stack, run, timeout)


def wait(stack, run, timeout: float = 60):
    deadline = time.monotonic() + timeout
    while run.state not in ENDED:
        assert time.monotonic() < deadline, f"{run.name} did not end"
        time.sleep(0.05)
        run = stack.exporter.GetPurgeRun(exporter_service_pb2.GetPurgeRunRequest(name=run.name)).purge_run
    return run


def _tables(url: str) -> set[str]:
    engine = sa.create_engine(url)
    with engine.connect() as c:
        names = set(
            c.execute(
                sa.text("SELECT relname FROM pg_class WHERE relname LIKE 'ml_training_data_y%'")
            ).scalars()
        )
    engine.dispose()
    return names


def test_purge_drops_expired_months_creates_ahead_and_records_it(stack):
    seeded = _seed(stack.database_url, stack.export_root)
    export = list(
        stack.exporter.ExportDataset(
            exporter_service_pb2.ExportDatasetRequest(destination_uri=stack.export_root.as_uri())
        )
    )[-1].export_run
    assert export.state == export_run_pb2.EXPORT_RUN_STATE_SUCCEEDED and len(export.files) == 3
    old_file = next(f.uri for f in export.files if f.month == seeded["old_month"])
    old_path = Storage(stack.export_root.as_uri()).arrow_path(old_file)[1]
    manifest_path = Storage(stack.export_root.as_uri()).arrow_path(export.manifest_uri)[1]
    before = _tables(stack.database_url)
    ahead = {m.name for m in partitions.months_ahead(NOW, 3)}

    dry = purge(stack, dry_run=True)
    assert dry.dry_run and dry.state == purge_run_pb2.PURGE_RUN_STATE_SUCCEEDED
    assert list(dry.ml_partitions_dropped) == [seeded["old"]] and dry.ml_rows_removed == 3
    assert list(dry.export_files_removed) == [old_file] and dry.export_runs_removed == 1
    assert _tables(stack.database_url) == before, "a dry run removes and creates nothing"
    assert os.path.exists(old_path)

    run = purge(stack)
    assert (
        run.state == purge_run_pb2.PURGE_RUN_STATE_SUCCEEDED and not run.dry_run and not run.HasField("error")
    )
    assert run.ml_retention_days == 1095 and run.export_retention_days == 365
    assert run.finding_retention_days == run.scan_run_retention_days == 365
    assert list(run.ml_partitions_dropped) == [seeded["old"]] and run.ml_rows_removed == 3
    after = _tables(stack.database_url)
    assert seeded["old"] not in after and seeded["edge"] in after, "the month holding the cutoff stays"
    assert ahead <= after and set(run.ml_partitions_created) == ahead - before
    # the expired month's export file went with its rows; the manifest no longer lists it
    assert list(run.export_files_removed) == [old_file] and not os.path.exists(old_path)
    assert run.export_runs_removed == 1  # the failed export's record, past the record retention
    with open(manifest_path) as fh:
        manifest = json.load(fh)
    assert [f["month"] for f in manifest["files"]] == sorted(f.month for f in export.files)[1:]
    assert [f["month"] for f in manifest["purged_files"]] == [seeded["old_month"]]
    assert manifest["row_count"] == 2 + 4
    kept = stack.exporter.GetExportRun(exporter_service_pb2.GetExportRunRequest(name=export.name)).export_run
    assert len(kept.files) == 2 and kept.manifest_uri == export.manifest_uri

    again = purge(stack)
    assert again.ml_rows_removed == 0 and not again.ml_partitions_created and again.export_runs_removed == 0
    assert not again.export_files_removed

    audit = stack.exporter.ListPurgeRuns(exporter_service_pb2.ListPurgeRunsRequest(page_size=2))
    assert [r.name for r in audit.purge_runs] == [again.name, run.name] and audit.next_page_token
    rest = stack.exporter.ListPurgeRuns(
        exporter_service_pb2.ListPurgeRunsRequest(page_token=audit.next_page_token)
    )
    assert [r.name for r in rest.purge_runs] == [dry.name]


@pytest.mark.parametrize(
    ("request_fields", "field"),
    [
        ({"ml_retention_days": 5}, "ml_retention_days"),
        ({"export_retention_days": 0}, "export_retention_days"),
        ({"partitions_ahead": 99}, "partitions_ahead"),
        ({"finding_retention_days": 7}, "finding_retention_days"),
        ({"scan_run_retention_days": -1}, "scan_run_retention_days"),
    ],
)
def test_bad_retention_is_invalid_argument_naming_the_field(stack, request_fields, field):
    with pytest.raises(grpc.RpcError) as err:
        stack.exporter.PurgeExpiredData(exporter_service_pb2.PurgeExpiredDataRequest(**request_fields))
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and err.value.details().startswith(field)


def test_purges_run_one_at_a_time_and_a_retry_follows_the_first(stack):
    """A CronJob retry with the same request id follows the first purge; a second purge queued
    while one runs waits for it; one that finds the purge lock held (another process purging)
    ends FAILED with FAILED_PRECONDITION in its status."""
    first = stack.exporter.PurgeExpiredData(
        exporter_service_pb2.PurgeExpiredDataRequest(request_id="purge-2026-12")
    ).purge_run
    retry = stack.exporter.PurgeExpiredData(
        exporter_service_pb2.PurgeExpiredDataRequest(request_id="purge-2026-12")
    ).purge_run
    assert retry.name == first.name and first.request_id == "purge-2026-12"
    with pytest.raises(grpc.RpcError) as err:
        stack.exporter.PurgeExpiredData(
            exporter_service_pb2.PurgeExpiredDataRequest(request_id="purge-2026-12", dry_run=True)
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and err.value.details().startswith(
        "request_id"
    )
    assert wait(stack, first).state == purge_run_pb2.PURGE_RUN_STATE_SUCCEEDED

    engine = sa.create_engine(stack.database_url)
    with engine.connect() as held:  # another process purging holds the lock
        held.execute(sa.text("SELECT pg_advisory_lock(hashtext('cloudwaste.purge'))"))
        blocked = purge(stack)
        held.execute(sa.text("SELECT pg_advisory_unlock(hashtext('cloudwaste.purge'))"))
    engine.dispose()
    assert blocked.state == purge_run_pb2.PURGE_RUN_STATE_FAILED and "another purge" in blocked.error_message
    assert blocked.error.code == 9 and blocked.error.message == blocked.error_message  # FAILED_PRECONDITION


def test_a_purge_left_running_by_a_dead_exporter_fails_and_the_next_one_runs(stack):
    from cloudwaste.core.db import Database
    from cloudwaste.exporter.purge import RetentionPolicy
    from cloudwaste.exporter.store import ExporterStore

    store = ExporterStore(Database(stack.database_url))
    dead = store.create_purge_run(RetentionPolicy(), NOW)
    assert store.claim_next_purge("dead-exporter").id == dead.id
    queued = stack.exporter.PurgeExpiredData(exporter_service_pb2.PurgeExpiredDataRequest()).purge_run
    time.sleep(0.5)
    assert (
        stack.exporter.GetPurgeRun(exporter_service_pb2.GetPurgeRunRequest(name=queued.name)).purge_run.state
        == purge_run_pb2.PURGE_RUN_STATE_PENDING
    ), "one purge at a time"
    assert store.fail_stale_purge_runs(dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)) == 1
    failed = store.get_purge_run(dead.id)
    assert failed.state == "FAILED" and failed.error_code == 10 and "stopped" in failed.error_message
    assert wait(stack, queued).state == purge_run_pb2.PURGE_RUN_STATE_SUCCEEDED


def test_dropping_an_expired_month_does_not_block_writes_to_the_others(stack):
    """DETACH ... CONCURRENTLY: while the purge waits for a transaction that still writes this
    month's rows, new rows keep coming in (a plain DROP TABLE would make them wait behind it)."""
    import threading

    seeded = _seed(stack.database_url, stack.export_root)
    engine = sa.create_engine(stack.database_url)
    insert = (
        "INSERT INTO ml_training_data (id, detected_at, schema_version, hash_key_id, resource_hash, account_hash, "
        "tenant_hash, provider, resource_type, region_group, detection_scenario, confidence_level, cost_monthly, "
        "resource_config) VALUES (gen_random_uuid(), now(), 2, 'k', 'h', 'a', 't', 'aws', 'aws.ec2.volume', 'eu', "
        "'ebs-volume-unattached', 'HIGH', 1, '{}')"
    )
    writer = engine.connect()
    writer.execute(sa.text(insert))  # an open transaction writing this month: the detach must wait for it
    result = {}
    purge_thread = threading.Thread(target=lambda: result.setdefault("run", purge(stack)))
    purge_thread.start()
    time.sleep(1.0)  # the purge is now waiting in its detach
    with engine.connect() as other:
        other.execute(sa.text("SET lock_timeout = '2s'"))
        other.execute(sa.text(insert))  # not blocked
        other.commit()
    assert purge_thread.is_alive(), "the purge did not wait for the open writer"
    writer.commit()
    writer.close()
    purge_thread.join(60)
    engine.dispose()
    run = result["run"]
    assert run.state == purge_run_pb2.PURGE_RUN_STATE_SUCCEEDED and list(run.ml_partitions_dropped) == [
        seeded["old"]
    ]
    assert seeded["old"] not in _tables(stack.database_url)
