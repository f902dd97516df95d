"""Streams the anonymized ML table out of PostgreSQL into Parquet with bounded memory.

A server-side cursor feeds fixed-size Arrow record batches to a zstd ParquetWriter; the file is
written under a temporary name, fsynced, hashed and renamed into place, then its manifest likewise,
so a reader never sees a partial file. Only the columns in EXPORT_SCHEMA leave the database: the
row id, and anything that could identify a customer, never do.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
import os
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import psycopg
import pyarrow as pa
import pyarrow.parquet as pq
from cloudwaste.core.errors import InvalidArgument
from cloudwaste.core.models import ML_SCHEMA_VERSION
from cloudwaste.core.uris import local_path

# (column, arrow type, SQL expression). JSONB leaves as JSON text.
_COLUMNS: list[tuple[str, pa.DataType, str]] = [
    ("detected_at", pa.timestamp("us", tz="UTC"), "detected_at"),
    ("schema_version", pa.int32(), "schema_version"),
    ("hash_key_id", pa.string(), "hash_key_id"),
    ("resource_hash", pa.string(), "resource_hash"),
    ("account_hash", pa.string(), "account_hash"),
    ("tenant_hash", pa.string(), "tenant_hash"),
    ("provider", pa.string(), "provider"),
    ("resource_type", pa.string(), "resource_type"),
    ("region_group", pa.string(), "region_group"),
    ("detection_scenario", pa.string(), "detection_scenario"),
    ("confidence_level", pa.string(), "confidence_level"),
    ("resource_age_days", pa.float64(), "resource_age_days"),
    ("cost_monthly", pa.float64(), "cost_monthly"),
    ("cost_real_monthly", pa.float64(), "cost_real_monthly"),
    ("cost_variance_pct", pa.float64(), "cost_variance_pct"),
    ("metrics_summary", pa.string(), "metrics_summary::text"),
    ("resource_config", pa.string(), "resource_config::text"),
    ("tags_anonymized", pa.string(), "tags_anonymized::text"),
    ("parent_resource_hash", pa.string(), "parent_resource_hash"),
    ("parent_resource_type", pa.string(), "parent_resource_type"),
    ("parent_resource_state", pa.string(), "parent_resource_state"),
    ("temporal_features", pa.string(), "temporal_features::text"),
    ("user_action", pa.string(), "user_action"),
    ("label_source", pa.string(), "label_source"),
    ("time_to_action_hours", pa.float64(), "time_to_action_hours"),
    ("labeled_at", pa.timestamp("us", tz="UTC"), "labeled_at"),
    ("enriched_at", pa.timestamp("us", tz="UTC"), "enriched_at"),
]
EXPORT_SCHEMA = pa.schema(
    [pa.field(name, typ) for name, typ, _ in _COLUMNS],
    metadata={"cloudwaste.schema_version": str(ML_SCHEMA_VERSION), "cloudwaste.table": "ml_training_data"},
)


@dataclass(frozen=True)
class Progress:
    rows_written: int
    rows_total: int


@dataclass(frozen=True)
class Result:
    dataset_path: Path
    manifest_path: Path
    row_count: int
    size_bytes: int
    sha256: str


def resolve_destination(uri: str, export_root: str) -> Path:
    """A file:// URI inside the export root -> its folder (created if missing)."""
    path = local_path("destination_uri", uri, export_root, "file:///exports")
    path.mkdir(parents=True, exist_ok=True)
    return path


def _libpq_url(sqlalchemy_url: str) -> str:
    return sqlalchemy_url.replace("postgresql+psycopg://", "postgresql://", 1)


def _atomic_write_bytes(path: Path, data: bytes) -> None:
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as fh:
            fh.write(data)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def export_ml_dataset(
    database_url: str,
    folder: Path,
    run_id: uuid.UUID,
    *,
    labeled_only: bool = False,
    batch_rows: int = 10_000,
) -> Iterator[Progress | Result]:
    """Yields Progress after every batch, then one Result once both files are in place."""
    stamp = dt.datetime.now(dt.UTC).strftime("%Y%m%dT%H%M%SZ")
    final = folder / f"ml_training_data-{stamp}-{run_id.hex[:8]}.parquet"
    manifest_path = final.with_suffix(".manifest.json")
    if final.exists() or manifest_path.exists():
        raise InvalidArgument("destination_uri", f"{final.name} already exists; refusing to overwrite")
    where = "WHERE user_action IS NOT NULL" if labeled_only else ""
    select_list = ", ".join(expr for _, _, expr in _COLUMNS)
    fd, tmp_name = tempfile.mkstemp(dir=folder, prefix=f".{final.name}.", suffix=".tmp")
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        with psycopg.connect(_libpq_url(database_url)) as conn:
            total = conn.execute(f"SELECT count(*) FROM ml_training_data {where}").fetchone()[0]
            yield Progress(0, total)
            written = 0
            with (
                conn.transaction(),
                conn.cursor(name=f"export_{run_id.hex}") as cur,
                pq.ParquetWriter(tmp, EXPORT_SCHEMA, compression="zstd") as writer,
            ):
                cur.itersize = batch_rows
                # no ORDER BY: sorting the whole table spills to disk; consumers sort (the trainer does)
                cur.execute(f"SELECT {select_list} FROM ml_training_data {where}")
                while True:
                    rows = cur.fetchmany(batch_rows)
                    if not rows:
                        break
                    columns = list(zip(*rows, strict=True))
                    batch = pa.RecordBatch.from_arrays(
                        [pa.array(col, type=f.type) for col, f in zip(columns, EXPORT_SCHEMA, strict=True)],
                        schema=EXPORT_SCHEMA,
                    )
                    writer.write_batch(batch)
                    written += len(rows)
                    yield Progress(written, max(total, written))
        digest = hashlib.sha256()
        with tmp.open("rb") as fh:
            for chunk in iter(lambda: fh.read(1 << 20), b""):
                digest.update(chunk)
            os.fsync(fh.fileno())
        size = tmp.stat().st_size
        os.replace(tmp, final)
        manifest = {
            "dataset": final.name,
            "table": "ml_training_data",
            "format": "parquet",
            "compression": "zstd",
            "row_count": written,
            "size_bytes": size,
            "sha256": digest.hexdigest(),
            "schema_version": ML_SCHEMA_VERSION,
            "labeled_only": labeled_only,
            "columns": [{"name": f.name, "type": str(f.type)} for f in EXPORT_SCHEMA],
            "created_at": dt.datetime.now(dt.UTC).isoformat(),
            "export_run": f"exportRuns/{run_id}",
        }
        _atomic_write_bytes(manifest_path, json.dumps(manifest, indent=2).encode())
        yield Result(final, manifest_path, written, size, digest.hexdigest())
    finally:
        tmp.unlink(missing_ok=True)
