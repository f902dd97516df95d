"""Rewriting an exported dataset without some tenants' rows (cloudwaste.exporter.rewrite), on a
dataset laid out as the exporter writes it, on both storage backends (file:// and moto's S3):
rows of other tenants (and rows with no tenant hash) kept byte for byte, Parquet metadata kept,
manifests true to the files, nothing rewritten twice, and a run that died half-way completed."""

from __future__ import annotations

import gzip
import json
import os
import uuid

import boto3
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cloudwaste.core.datasets import MANIFESTS, PARTITION, TABLE, under
from cloudwaste.core.errors import InvalidArgument
from cloudwaste.core.storage import Storage
from cloudwaste.exporter.rewrite import DELETED, MISSING, REWRITTEN, UNTOUCHED, rewrite_without

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")

GONE, OTHER = "a" * 64, "b" * 64
SCHEMA = pa.schema(
    [pa.field("resource_hash", pa.string()), pa.field("tenant_hash", pa.string()), pa.field("n", pa.int64())],
    metadata={"cloudwaste.schema_version": "2", "cloudwaste.table": TABLE},
)


@pytest.fixture(scope="module")
def moto_s3():
    from cloudwaste.sim.aws import start_moto

    handle = start_moto()
    yield handle.endpoint_url
    handle.stop()


@pytest.fixture(params=["file", "s3"])
def storage(request, tmp_path):
    if request.param == "file":
        (tmp_path / "exports").mkdir()
        return Storage(str(tmp_path / "exports"))
    endpoint = request.getfixturevalue("moto_s3")
    bucket = f"cw-{uuid.uuid4().hex[:12]}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket=bucket)
    (tmp_path / "staging").mkdir()
    return Storage(
        f"s3://{bucket}/exports",
        s3_endpoint_url=endpoint,
        s3_region="us-east-1",
        staging_dir=tmp_path / "staging",
    )


def rows(tenants: list[str | None]) -> list[dict]:
    # another tenant's resource hash may well equal an erased tenant's hash text: only tenant_hash counts
    return [{"resource_hash": GONE, "tenant_hash": t, "n": i} for i, t in enumerate(tenants)]


def write_export(storage: Storage, dataset: str, name: str, fmt: str, months: dict[str, list[dict]]) -> str:
    """One export as the exporter lays it out: a file per month, then its manifest."""
    files = []
    for month, data in months.items():
        path = f"{TABLE}/{PARTITION}={month}/part-{name}{'.parquet' if fmt == 'parquet' else '.jsonl.gz'}"
        uri = under(storage, dataset, path)
        with storage.stage(uri) as staged:
            if fmt == "parquet":
                pq.write_table(
                    pa.Table.from_pylist(data, SCHEMA), staged.path, compression="zstd", row_group_size=2
                )
            else:
                with gzip.open(staged.path, "wb") as fh:
                    fh.write(b"".join(json.dumps(r).encode() + b"\n" for r in data))
        w = staged.written
        files.append(
            {
                "uri": uri,
                "month": month,
                "row_count": len(data),
                "size_bytes": w.size_bytes,
                "sha256": w.sha256,
                "path": path,
            }
        )
    manifest = {
        "format": fmt if fmt == "parquet" else "jsonl_gz",
        "compression": "zstd" if fmt == "parquet" else "gzip",
        "row_count": sum(f["row_count"] for f in files),
        "size_bytes": sum(f["size_bytes"] for f in files),
        "files": files,
    }
    uri = under(storage, dataset, f"{MANIFESTS}/{name}.json")
    storage.write_bytes(uri, json.dumps(manifest, indent=2).encode())
    return uri


def read(storage: Storage, uri: str, fmt: str) -> list[dict]:
    with storage.open_input(uri) as fh:
        if fmt == "parquet":
            return pq.read_table(fh).to_pylist()
        return [json.loads(line) for line in gzip.decompress(fh.read()).splitlines()]


def manifest(storage: Storage, uri: str) -> dict:
    with storage.open_input(uri) as fh:
        return json.loads(fh.read())


def check_manifest(storage: Storage, m: dict, fmt: str) -> None:
    for f in m["files"]:
        stored = storage.digest(f["uri"])
        assert (stored.sha256, stored.size_bytes) == (f["sha256"], f["size_bytes"])
        assert len(read(storage, f["uri"], fmt)) == f["row_count"]
    assert m["row_count"] == sum(f["row_count"] for f in m["files"])
    assert m["size_bytes"] == sum(f["size_bytes"] for f in m["files"])


@pytest.mark.parametrize("fmt", ["parquet", "jsonl"])
def test_rewrites_mixed_files_deletes_emptied_ones_and_leaves_the_rest(storage, fmt):
    dataset = storage.join(storage.root.uri, "weekly")
    mixed = rows([GONE, OTHER, None, GONE, OTHER])
    m1 = write_export(storage, dataset, "1", fmt, {"2026-10": mixed, "2026-11": rows([GONE, GONE])})
    m2 = write_export(storage, dataset, "2", fmt, {"2026-11": rows([OTHER])})
    untouched = manifest(storage, m2)

    result = rewrite_without(storage, dataset + "/", [GONE, " "])  # a trailing slash, a blank hash
    by_month = {
        m: f for f in result.files for m in ("2026-10", "2026-11") if f.manifest_uri == m1 and m in f.uri
    }
    assert (by_month["2026-10"].action, by_month["2026-10"].rows_removed, by_month["2026-10"].rows_after) == (
        REWRITTEN,
        2,
        3,
    )
    assert (by_month["2026-11"].action, by_month["2026-11"].rows_removed) == (DELETED, 2)
    assert [f.action for f in result.files if f.manifest_uri == m2] == [UNTOUCHED]
    assert result.rows_removed == 4 and result.manifests == 2 and result.manifests_rewritten == [m1]

    after = manifest(storage, m1)
    (kept,) = after["files"]
    assert read(storage, kept["uri"], fmt) == [r for r in mixed if r["tenant_hash"] != GONE]
    assert not storage.exists(by_month["2026-11"].uri)
    check_manifest(storage, after, fmt)
    (note,) = after["erased"]
    assert note["tenant_hashes_count"] == 1 and note["rows_removed"] == 4
    ext = ".parquet" if fmt == "parquet" else ".jsonl.gz"
    assert note["files_deleted"] == [f"{TABLE}/{PARTITION}=2026-11/part-1{ext}"]
    assert GONE not in json.dumps(after)
    assert manifest(storage, m2) == untouched
    if fmt == "parquet":
        with storage.open_input(kept["uri"]) as fh:
            pf = pq.ParquetFile(fh)
            assert pf.schema_arrow.metadata[b"cloudwaste.schema_version"] == b"2"
            assert pf.metadata.row_group(0).column(0).compression == "ZSTD"

    again = rewrite_without(storage, dataset, [GONE])
    assert again.rows_removed == 0 and not again.manifests_rewritten and not again.changed
    assert manifest(storage, m1) == after


def test_completes_a_rewrite_that_died_before_its_manifest(storage):
    dataset = storage.join(storage.root.uri, "weekly")
    m = write_export(
        storage,
        dataset,
        "1",
        "parquet",
        {"2026-09": rows([GONE, OTHER]), "2026-10": rows([GONE]), "2026-11": rows([OTHER])},
    )
    files = {f["month"]: f["uri"] for f in manifest(storage, m)["files"]}
    # what a run that died left: one file rewritten, one deleted, the manifest not yet rewritten
    with storage.stage(files["2026-09"], overwrite=True) as staged:
        pq.write_table(pa.Table.from_pylist(rows([OTHER]), SCHEMA), staged.path)
    storage.delete(files["2026-10"])

    result = rewrite_without(storage, dataset, [GONE])
    actions = {f.uri: (f.action, f.rows_removed) for f in result.files}
    assert actions == {
        files["2026-09"]: (REWRITTEN, 1),
        files["2026-10"]: (MISSING, 1),
        files["2026-11"]: (UNTOUCHED, 0),
    }
    after = manifest(storage, m)
    assert [f["month"] for f in after["files"]] == ["2026-09", "2026-11"]
    check_manifest(storage, after, "parquet")
    assert after["erased"][0]["rows_removed"] == 2
    assert not rewrite_without(storage, dataset, [GONE]).manifests_rewritten


def test_refuses_no_hash_a_file_and_a_uri_outside_the_root(storage, tmp_path):
    dataset = storage.join(storage.root.uri, "weekly")
    m = write_export(storage, dataset, "1", "parquet", {"2026-11": rows([OTHER])})
    with pytest.raises(InvalidArgument, match="tenant_hashes"):
        rewrite_without(storage, dataset, [])
    with pytest.raises(InvalidArgument, match="names a file"):
        rewrite_without(storage, m, [GONE])
    with pytest.raises(InvalidArgument, match="outside the storage root"):
        rewrite_without(storage, storage.root.uri.rsplit("/", 1)[0] + "/elsewhere", [GONE])
    assert rewrite_without(storage, storage.join(storage.root.uri, "empty"), [GONE]).manifests == 0
