"""Streams the anonymized ML table out of PostgreSQL into a month-partitioned, incremental dataset.

A destination folder is one dataset, laid out as Hive partitions with a manifest per export
(`cloudwaste.core.datasets`, the contract with the trainer):

    <destination>/ml_training_data/detected_month=2026-11/part-20261130T030000123456Z-1a2b3c4d.parquet
    <destination>/_manifests/20261130T030000123456Z-1a2b3c4d.json

An export writes the rows written or changed (a label, an enrichment: `changed_at`, kept by a
trigger) in a window [after, before): `before` is the watermark taken when it starts, `after` the
previous export's `before` (none for a full export). Exporting twice with nothing new writes
nothing. A relabeled row appears again in a later export: a row is identified by KEY and its newest
version is the one with the latest `changed_at` (the trainer and the README's DuckDB query keep it).

Each month's rows stream through fixed-size Arrow record batches (ADBC, from PostgreSQL's binary
COPY) into a local temporary file published atomically through the storage layer
(`cloudwaste.core.storage`: file:// or s3://); the manifest, with each file's sha256, is published
last. Readers that go through the manifests see an export whole or not at all; a reader globbing the
folder may see the files of an export in progress (or of one that crashed, until it is withdrawn).
Only the columns of EXPORT_SCHEMA leave the database: the row id, and anything that could identify
a customer, never do.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import gzip
import hashlib
import json
import logging
import uuid
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field

import adbc_driver_postgresql.dbapi as adbc_dbapi
import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
from cloudwaste.core import partitions
from cloudwaste.core.datasets import KEY, MANIFESTS, PARTITION, TABLE, VERSION_COLUMN
from cloudwaste.core.errors import InvalidArgument
from cloudwaste.core.models import ML_SCHEMA_VERSION
from cloudwaste.core.storage import Storage

log = logging.getLogger(__name__)

EXTENSIONS = {"PARQUET": ".parquet", "JSONL_GZ": ".jsonl.gz"}

# (column, arrow type, SQL expression, is JSON). JSONB leaves as JSON text in Parquet, nested in JSONL.
_COLUMNS: list[tuple[str, pa.DataType, str, bool]] = [
    ("detected_at", pa.timestamp("us", tz="UTC"), "detected_at", False),
    ("schema_version", pa.int32(), "schema_version", False),
    ("hash_key_id", pa.string(), "hash_key_id", False),
    ("resource_hash", pa.string(), "resource_hash", False),
    ("account_hash", pa.string(), "account_hash", False),
    ("tenant_hash", pa.string(), "tenant_hash", False),
    ("provider", pa.string(), "provider", False),
    ("resource_type", pa.string(), "resource_type", False),
    ("region_group", pa.string(), "region_group", False),
    ("detection_scenario", pa.string(), "detection_scenario", False),
    ("confidence_level", pa.string(), "confidence_level", False),
    ("resource_age_days", pa.float64(), "resource_age_days", False),
    ("cost_monthly", pa.float64(), "cost_monthly", False),
    ("cost_real_monthly", pa.float64(), "cost_real_monthly", False),
    ("cost_variance_pct", pa.float64(), "cost_variance_pct", False),
    ("cost_real_source", pa.string(), "cost_real_source", False),
    ("cost_real_missing", pa.string(), "cost_real_missing", False),
    ("metrics_summary", pa.string(), "metrics_summary", True),
    ("resource_config", pa.string(), "resource_config", True),
    ("tags_anonymized", pa.string(), "tags_anonymized", True),
    ("parent_resource_hash", pa.string(), "parent_resource_hash", False),
    ("parent_resource_type", pa.string(), "parent_resource_type", False),
    ("parent_resource_state", pa.string(), "parent_resource_state", False),
    ("temporal_features", pa.string(), "temporal_features", True),
    ("user_action", pa.string(), "user_action", False),
    ("label_source", pa.string(), "label_source", False),
    ("time_to_action_hours", pa.float64(), "time_to_action_hours", False),
    ("labeled_at", pa.timestamp("us", tz="UTC"), "labeled_at", False),
    ("enriched_at", pa.timestamp("us", tz="UTC"), "enriched_at", False),
    ("changed_at", pa.timestamp("us", tz="UTC"), "changed_at", False),
]
EXPORT_SCHEMA = pa.schema(
    [pa.field(name, typ) for name, typ, _, _ in _COLUMNS],
    metadata={"cloudwaste.schema_version": str(ML_SCHEMA_VERSION), "cloudwaste.table": TABLE},
)


def select_list(nested_json: bool = False) -> str:
    """The SQL select list of the exported columns (JSONB as JSON text unless `nested_json`)."""
    return ", ".join(
        expr if nested_json or not is_json else f"{expr}::text" for _, _, expr, is_json in _COLUMNS
    )


@dataclass(frozen=True)
class Window:
    """The rows written or changed in [after, before); `after` None: from the beginning."""

    before: dt.datetime
    after: dt.datetime | None = None

    def sql(self) -> str:
        # both bounds are timestamps this code produced, never request text
        where = f"changed_at < '{self.before.isoformat()}'::timestamptz"
        if self.after is not None:
            where += f" AND changed_at >= '{self.after.isoformat()}'::timestamptz"
        return where

    @property
    def stamp(self) -> str:
        return self.before.astimezone(dt.UTC).strftime("%Y%m%dT%H%M%S%fZ")


# The rows of a scan still running are not exported yet: its other regions, its hand-off and its
# enrichment are to come. When the run ends, the scanner touches its rows (changed_at), so the
# next incremental export takes them (scanner store: _release_ml_rows).
UNFINISHED_SCAN = (
    "EXISTS (SELECT 1 FROM finding_observations o JOIN scan_runs r ON r.id = o.scan_run_id "
    "WHERE r.state = 'RUNNING' AND o.ml_row_id = ml_training_data.id "
    "AND o.ml_row_detected_at = ml_training_data.detected_at)"
)


def rows_where(window: Window, labeled_only: bool) -> str:
    """The SQL condition selecting an export's rows from ml_training_data (quality.py measures the
    same rows): changed in the window, of scans that ended."""
    where = f"{window.sql()} AND NOT {UNFINISHED_SCAN}"
    return where + (" AND user_action IS NOT NULL" if labeled_only else "")


def _libpq_url(sqlalchemy_url: str) -> str:
    return sqlalchemy_url.replace("postgresql+psycopg://", "postgresql://", 1)


def watermark(database_url: str) -> dt.datetime:
    """The upper bound of the next export: every row with an older changed_at is committed.

    changed_at is the start of the transaction that wrote the row, so a row still uncommitted has a
    changed_at no older than the oldest open transaction. Taken before the export reads (each of its
    queries then sees every such row). The oldest start comes from
    cloudwaste_oldest_transaction_start() (migration 0027), which reads pg_stat_activity with the
    rights to see every role's sessions. A transaction left open holds the watermark back, which
    delays rows to a later export and never loses them.
    """
    with psycopg.connect(_libpq_url(database_url), autocommit=True) as conn:
        value = conn.execute(
            "SELECT least(clock_timestamp(), cloudwaste_oldest_transaction_start())"
        ).fetchone()[0]
    return value.astimezone(dt.UTC)


@dataclass(frozen=True)
class ExportFile:
    uri: str
    month: str  # "YYYY-MM"
    row_count: int
    size_bytes: int
    sha256: str


@dataclass(frozen=True)
class Progress:
    rows_written: int
    rows_total: int


@dataclass(frozen=True)
class Result:
    dataset_uri: str  # the destination folder: the whole dataset
    manifest_uri: str  # "" when there was nothing new to write
    row_count: int
    size_bytes: int
    sha256: str  # of the manifest
    files: list[ExportFile] = field(default_factory=list)


EXAMPLE = "file:///exports or s3://bucket/exports"


def resolve_destination(uri: str, storage: Storage) -> str:
    """The normalized folder URI a destination names, which must lie under the storage root."""
    folder = storage.resolve("destination_uri", uri, EXAMPLE)
    if storage.info(folder) is not None:
        raise InvalidArgument("destination_uri", "names a file; give the folder to export into")
    return folder


def file_uri(storage: Storage, folder: str, month: str, name: str) -> str:
    return storage.join(storage.join(storage.join(folder, TABLE), f"{PARTITION}={month}"), name)


def manifest_uri(storage: Storage, folder: str, window: Window, run_id: uuid.UUID) -> str:
    return storage.join(storage.join(folder, MANIFESTS), f"{window.stamp}-{run_id.hex[:8]}.json")


BATCH_HINT = "adbc.postgresql.batch_size_hint_bytes"
ROW_BYTES_HINT = 400  # an ML row is about this many bytes in Arrow: batches of ~batch_rows rows


def _conform(batch: pa.RecordBatch) -> pa.RecordBatch:
    """The driver's batch with the export schema's names and types (timestamps in UTC, int32s)."""
    return pa.RecordBatch.from_arrays(
        [
            col.cast(f.type) if col.type != f.type else col
            for col, f in zip(batch.columns, EXPORT_SCHEMA, strict=True)
        ],
        schema=EXPORT_SCHEMA,
    )


def export_ml_dataset(
    database_url: str,
    folder: str,
    run_id: uuid.UUID,
    *,
    storage: Storage,
    window: Window,
    fmt: str = "PARQUET",
    labeled_only: bool = False,
    batch_rows: int = 10_000,
    previous_export: str | None = None,
    on_file: Callable[[str], None] = lambda uri: None,
) -> Iterator[Progress | Result]:
    """Yields Progress after every batch, then one Result once the files and the manifest are in place.

    `folder` is a normalized folder URI under `storage`'s root (`resolve_destination`). `on_file(uri)`
    is called before each file is published, so that a failed export's files can be withdrawn.
    """
    if fmt not in EXTENSIONS:
        raise InvalidArgument("format", f"must be one of {', '.join(EXTENSIONS)}")
    where = rows_where(window, labeled_only)
    name = f"part-{window.stamp}-{run_id.hex[:8]}{EXTENSIONS[fmt]}"
    files: list[ExportFile] = []
    written = 0
    # ADBC streams the result as Arrow record batches straight from PostgreSQL's binary COPY:
    # no Python object per value (3x faster than a cursor into pa.array, at the same memory).
    with adbc_dbapi.connect(_libpq_url(database_url)) as conn, conn.cursor() as cur:
        cur.execute("SET TIME ZONE 'UTC'")
        cur.execute(partitions.LIST_SQL)
        months = partitions.from_names(row[0] for row in cur.fetchall())
        cur.execute(f"SELECT count(*), min(detected_at), max(detected_at) FROM {TABLE} WHERE {where}")
        total, detected_from, detected_to = cur.fetchone()
        yield Progress(0, total)
        cur.adbc_statement.set_options(**{BATCH_HINT: str(batch_rows * ROW_BYTES_HINT)})
        for month in months:
            label = month.start.strftime("%Y-%m")
            in_month = (
                f"detected_at >= '{month.start.isoformat()}'::timestamptz "
                f"AND detected_at < '{month.end.isoformat()}'::timestamptz AND {where}"
            )
            if fmt == "PARQUET":
                # no ORDER BY: sorting spills to disk; consumers sort (the trainer does)
                cur.execute(f"SELECT {select_list()} FROM {TABLE} WHERE {in_month}")
            else:  # PostgreSQL writes the JSON (in C, JSONB nested, times in ISO 8601 UTC)
                cur.execute(
                    f"SELECT row_to_json(t)::text FROM (SELECT {select_list(nested_json=True)} "
                    f"FROM {TABLE} WHERE {in_month}) t"
                )
            uri = file_uri(storage, folder, label, name)
            rows = 0
            with contextlib.ExitStack() as stack:
                sink = None
                for batch in cur.fetch_record_batch():
                    if batch.num_rows == 0:
                        continue
                    if sink is None:
                        staged = stack.enter_context(storage.stage(uri))
                        sink = _open_sink(stack, fmt, staged.path)
                    if fmt == "PARQUET":
                        sink.write_batch(_conform(batch))
                    else:
                        sink.write(("\n".join(batch.column(0).to_pylist()) + "\n").encode())
                    rows += batch.num_rows
                    written += batch.num_rows
                    yield Progress(written, max(total, written))
                if sink is not None:
                    sink.close()  # before publishing; the stack's exit publishes the staged file
                    on_file(uri)
            if rows:
                published = staged.written
                assert published is not None
                files.append(ExportFile(uri, label, rows, published.size_bytes, published.sha256))
    if not files:
        yield Result(folder, "", 0, 0, "", [])
        return
    manifest = {
        "table": TABLE,
        "export_run": f"exportRuns/{run_id}",
        "previous_export": previous_export,
        "schema_version": ML_SCHEMA_VERSION,
        "format": fmt.lower(),
        "compression": "zstd" if fmt == "PARQUET" else "gzip",
        "labeled_only": labeled_only,
        "full": window.after is None,
        # rows written or changed in [changed_after, changed_before)
        "changed_after": window.after.isoformat() if window.after else None,
        "changed_before": window.before.isoformat(),
        # rows detected in [detected_from, detected_to] (counted when the export started)
        "detected_from": _iso(detected_from),
        "detected_to": _iso(detected_to),
        "partitioning": {"style": "hive", "key": PARTITION, "value": "the month of detected_at, YYYY-MM"},
        "key": list(KEY),
        "version_column": VERSION_COLUMN,
        "row_count": written,
        "size_bytes": sum(f.size_bytes for f in files),
        "files": [{**asdict(f), "path": f"{TABLE}/{PARTITION}={f.month}/{name}"} for f in files],
        "columns": [{"name": f.name, "type": str(f.type)} for f in EXPORT_SCHEMA],
        "created_at": dt.datetime.now(dt.UTC).isoformat(),
    }
    body = json.dumps(manifest, indent=2).encode()
    target = manifest_uri(storage, folder, window, run_id)
    on_file(target)
    storage.write_bytes(target, body)
    yield Result(
        folder,
        target,
        written,
        manifest["size_bytes"],
        hashlib.sha256(body).hexdigest(),
        files,
    )


def _iso(value) -> str | None:
    if value is None:
        return None
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    return str(value)


def _open_sink(stack: contextlib.ExitStack, fmt: str, path):
    if fmt == "PARQUET":
        return stack.enter_context(pq.ParquetWriter(path, EXPORT_SCHEMA, compression="zstd"))
    return stack.enter_context(gzip.open(path, "wb", compresslevel=6))
