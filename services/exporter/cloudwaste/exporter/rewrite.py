"""Rewrites an exported dataset without some tenants' rows (GDPR erasure): no database here.

`EraseTenantData` removes a tenant's ML rows from PostgreSQL and names the datasets exports wrote
(`exports_to_rewrite`) with the keyed hashes its rows carried (`tenant_hashes`). `rewrite_without`
takes one such dataset (`cloudwaste.core.datasets`: month partitions and a manifest per export) and
those hashes, and for every file a manifest lists (Parquet or JSON Lines, gzip):

- streams it, batch by batch (memory stays bounded), keeping the rows whose `tenant_hash` is not
  one of them, into a local staged file that replaces the original atomically
  (`Storage.stage(..., overwrite=True)`); a file left with no row is deleted instead;
- leaves a file that holds none of them untouched.

Then it rewrites each manifest it changed, atomically (`Storage.write_bytes(..., overwrite=True)`):
the row count, size and sha256 of every file, the totals, and one entry appended to "erased"
(how many hashes, how many rows went, when; never the hashes themselves). Files are replaced before
their manifest: a reader checking sha256s in between sees a mismatch, never the erased rows.

Running it again changes nothing (idempotent), and it completes what a run that died half-way left:
a listed file that no longer matches its manifest's row count or size, or that is gone, is
accounted for in the manifest then. Files no manifest lists (an export still running, or one that
crashed before its manifest) are not read: rewrite once no export to the dataset is running.
"""

from __future__ import annotations

import datetime as dt
import gzip
import json
import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from cloudwaste.core.datasets import read_manifests
from cloudwaste.core.errors import Aborted, FailedPrecondition, InvalidArgument
from cloudwaste.core.storage import Storage

log = logging.getLogger(__name__)

BATCH_ROWS = 10_000
COLUMN = "tenant_hash"

# What happened to a file.
UNTOUCHED, REWRITTEN, DELETED, MISSING = "untouched", "rewritten", "deleted", "missing"


@dataclass(frozen=True)
class FileResult:
    uri: str
    manifest_uri: str
    action: str  # UNTOUCHED, REWRITTEN, DELETED (no row left) or MISSING (listed, not there)
    rows_before: int  # as its manifest listed it
    rows_removed: int
    rows_after: int


@dataclass
class RewriteResult:
    dataset_uri: str
    manifests: int = 0  # manifests read
    manifests_rewritten: list[str] = field(default_factory=list)
    files: list[FileResult] = field(default_factory=list)

    @property
    def rows_removed(self) -> int:
        return sum(f.rows_removed for f in self.files)

    @property
    def changed(self) -> list[FileResult]:
        return [f for f in self.files if f.action != UNTOUCHED]


def rewrite_without(
    storage: Storage, dataset_uri: str, tenant_hashes: Iterable[str], *, batch_rows: int = BATCH_ROWS
) -> RewriteResult:
    """Removes the rows whose tenant_hash is in `tenant_hashes` from every file of the dataset at
    `dataset_uri` (a folder under `storage`'s root) that its manifests list; see the module doc."""
    hashes = sorted({h.strip() for h in tenant_hashes if h and h.strip()})
    if not hashes:
        raise InvalidArgument("tenant_hashes", "name at least one tenant hash")
    dataset = storage.resolve("dataset_uri", dataset_uri)
    if storage.info(dataset) is not None:
        raise InvalidArgument("dataset_uri", "names a file; give the dataset folder (an export destination)")
    result = RewriteResult(dataset)
    for manifest in read_manifests(storage, dataset):
        result.manifests += 1
        _rewrite_manifest(storage, manifest, hashes, batch_rows, result)
    return result


def _rewrite_manifest(
    storage: Storage, manifest: dict, hashes: list[str], batch_rows: int, result: RewriteResult
) -> None:
    fmt = manifest.get("format", "parquet")
    compression = manifest.get("compression") or ("zstd" if fmt == "parquet" else "gzip")
    changed: dict[str, dict] = {}  # path -> the manifest entry's new values ({} deletes it)
    removed = 0
    for entry in manifest.get("files", []):
        uri, listed = entry["uri"], int(entry.get("row_count", 0))
        info = storage.info(uri)
        if info is None:  # deleted by a run that died before it rewrote this manifest
            changed[entry["path"]] = {}
            removed += listed
            result.files.append(FileResult(uri, manifest["uri"], MISSING, listed, listed, 0))
            log.warning("%s is listed in %s but missing: dropped from it", uri, manifest["uri"])
            continue
        if fmt == "parquet":
            rows, matching = _parquet_counts(storage, uri, hashes, batch_rows)
        else:
            rows, matching = _jsonl_counts(storage, uri, hashes)
        if matching == 0:
            if rows == listed and info.size_bytes == entry.get("size_bytes"):
                result.files.append(FileResult(uri, manifest["uri"], UNTOUCHED, listed, 0, rows))
                continue
            # rewritten by a run that died before it rewrote this manifest: account for it now
            written = storage.digest(uri)
            changed[entry["path"]] = {
                "row_count": rows,
                "size_bytes": written.size_bytes,
                "sha256": written.sha256,
            }
            removed += max(listed - rows, 0)
            result.files.append(
                FileResult(uri, manifest["uri"], REWRITTEN, listed, max(listed - rows, 0), rows)
            )
            continue
        kept = rows - matching
        if kept == 0:
            storage.delete(uri)
            changed[entry["path"]] = {}
            action = DELETED
        else:
            with storage.stage(uri, overwrite=True) as staged:
                if fmt == "parquet":
                    written_rows = _rewrite_parquet(
                        storage, uri, staged.path, hashes, batch_rows, compression
                    )
                else:
                    written_rows = _rewrite_jsonl(storage, uri, staged.path, hashes)
                if written_rows != kept:  # the file changed under us: publish nothing
                    raise Aborted(f"{uri} changed while it was rewritten; run the rewrite again")
            assert staged.written is not None
            changed[entry["path"]] = {
                "row_count": kept,
                "size_bytes": staged.written.size_bytes,
                "sha256": staged.written.sha256,
            }
            action = REWRITTEN
        removed += listed - kept
        result.files.append(FileResult(uri, manifest["uri"], action, listed, listed - kept, kept))
    if not changed:
        return
    # the manifest as stored (read_manifests adds the URIs it computes), with the new file stats
    with storage.open_input(manifest["uri"]) as fh:
        stored = json.loads(fh.read())
    files, deleted = [], []
    for entry in stored.get("files", []):
        update = changed.get(entry["path"])
        if update is None:
            files.append(entry)
        elif update:
            files.append({**entry, **update})
        else:
            deleted.append(entry["path"])
    stored["files"] = files
    stored["row_count"] = sum(int(f.get("row_count", 0)) for f in files)
    stored["size_bytes"] = sum(int(f.get("size_bytes", 0)) for f in files)
    note = {
        "tenant_hashes_count": len(hashes),
        "rows_removed": removed,
        "time": dt.datetime.now(dt.UTC).isoformat(),
    }
    if deleted:
        note["files_deleted"] = deleted
    stored["erased"] = [*stored.get("erased", []), note]
    storage.write_bytes(manifest["uri"], json.dumps(stored, indent=2).encode(), overwrite=True)
    result.manifests_rewritten.append(manifest["uri"])


# ------------------------------------------------------------------------------------------ Parquet


def _matches(column: pa.Array, hashes: pa.Array) -> pa.Array:
    """True where the row's tenant_hash is one of `hashes` (false for a null)."""
    return pc.fill_null(pc.is_in(column, value_set=hashes), False)


def _parquet_counts(storage: Storage, uri: str, hashes: list[str], batch_rows: int) -> tuple[int, int]:
    """(rows, rows of those tenants), reading the tenant_hash column only."""
    value_set = pa.array(hashes, pa.string())
    rows = matching = 0
    with storage.open_input(uri) as fh:
        pf = pq.ParquetFile(fh)
        if COLUMN not in pf.schema_arrow.names:
            raise FailedPrecondition(f"{uri} has no {COLUMN} column: not an export of ML rows")
        for batch in pf.iter_batches(batch_size=batch_rows, columns=[COLUMN]):
            rows += batch.num_rows
            matching += pc.sum(_matches(batch.column(0), value_set)).as_py() or 0
    return rows, matching


def _rewrite_parquet(
    storage: Storage, uri: str, target, hashes: list[str], batch_rows: int, compression: str
) -> int:
    value_set = pa.array(hashes, pa.string())
    rows = 0
    with storage.open_input(uri) as fh:
        pf = pq.ParquetFile(fh)
        schema = pf.schema_arrow  # with the file's metadata (schema version, table)
        with pq.ParquetWriter(target, schema, compression=compression) as writer:
            for batch in pf.iter_batches(batch_size=batch_rows):
                keep = pc.invert(_matches(batch.column(COLUMN), value_set))
                kept = batch.filter(keep)
                if kept.num_rows:
                    writer.write_batch(kept)
                    rows += kept.num_rows
    return rows


# ---------------------------------------------------------------------------------- JSON Lines, gzip


def _lines(storage: Storage, uri: str) -> Iterator[bytes]:
    with storage.open_input(uri) as raw, gzip.GzipFile(fileobj=raw, mode="rb") as gz:
        yield from gz  # line by line, buffered


def _is_theirs(line: bytes, needles: list[bytes], hashes: set[str]) -> bool:
    # a hash is 64 hex characters: a line that does not contain one cannot be theirs (no parse)
    if not any(n in line for n in needles):
        return False
    return json.loads(line).get(COLUMN) in hashes


def _jsonl_counts(storage: Storage, uri: str, hashes: list[str]) -> tuple[int, int]:
    needles, wanted = [h.encode() for h in hashes], set(hashes)
    rows = matching = 0
    for line in _lines(storage, uri):
        if not line.strip():
            continue
        rows += 1
        matching += _is_theirs(line, needles, wanted)
    return rows, matching


def _rewrite_jsonl(storage: Storage, uri: str, target, hashes: list[str]) -> int:
    needles, wanted = [h.encode() for h in hashes], set(hashes)
    rows = 0
    with gzip.open(target, "wb", compresslevel=6) as out:
        for line in _lines(storage, uri):
            if not line.strip() or _is_theirs(line, needles, wanted):
                continue
            out.write(line if line.endswith(b"\n") else line + b"\n")
            rows += 1
    return rows
