"""The storage layer (cloudwaste.core.storage), one behaviour suite run against both backends:
a local folder (file://) and moto's S3 served in this process (s3://)."""

from __future__ import annotations

import hashlib
import os
import uuid
from pathlib import Path

import boto3
import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq
import pytest
from cloudwaste.core.errors import AlreadyExists, InvalidArgument, Unavailable
from cloudwaste.core.settings import SettingsError
from cloudwaste.core.storage import Storage, parse_endpoint, parse_root

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")

SETTING = "CLOUDWASTE_EXPORT_ROOT"


@pytest.fixture(scope="module")
def moto_s3():
    from cloudwaste.sim.aws import start_moto

    handle = start_moto()
    yield handle.endpoint_url
    handle.stop()


class Backend:
    """A fresh root on one backend, plus a way to see everything stored there, temp files included."""

    def __init__(self, kind: str, storage: Storage, everything, uploads=lambda: []) -> None:
        self.kind, self.storage, self.everything, self.uploads = kind, storage, everything, uploads

    def uri(self, *parts: str) -> str:
        return "/".join([self.storage.root.uri, *parts])


@pytest.fixture(params=["file", "s3"])
def backend(request, tmp_path):
    if request.param == "file":
        root = tmp_path / "exports"
        root.mkdir()
        storage = Storage(str(root), setting=SETTING)
        yield Backend(
            "file", storage, lambda: sorted(str(p.relative_to(root)) for p in root.rglob("*") if p.is_file())
        )
        return
    endpoint = request.getfixturevalue("moto_s3")
    bucket = f"cw-{uuid.uuid4().hex[:12]}"
    s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
    s3.create_bucket(Bucket=bucket)
    staging = tmp_path / "staging"
    staging.mkdir()
    storage = Storage(
        f"s3://{bucket}/exports",
        s3_endpoint_url=endpoint,
        s3_region="us-east-1",
        setting=SETTING,
        staging_dir=staging,
    )

    def everything():
        # keys ending in "/" are the empty-folder markers pyarrow keeps when a folder's last file is
        # deleted (like the empty folder file:// keeps); they are folders, not files
        keys = [o["Key"] for o in s3.list_objects_v2(Bucket=bucket).get("Contents", [])]
        keys = [k for k in keys if not k.endswith("/")]
        return sorted(keys + [f"staging:{p.name}" for p in staging.iterdir()])

    yield Backend(
        "s3", storage, everything, lambda: s3.list_multipart_uploads(Bucket=bucket).get("Uploads", [])
    )


def _prefix(b: Backend, rel: str) -> str:
    return rel if b.kind == "file" else f"exports/{rel}"


def test_write_read_list_delete(backend):
    st = backend.storage
    w = st.write_bytes(backend.uri("a", "one.json"), b'{"x": 1}')
    assert w.uri == backend.uri("a", "one.json") and w.size_bytes == 8
    assert w.sha256 == hashlib.sha256(b'{"x": 1}').hexdigest()
    assert st.digest(w.uri) == w  # what is stored is exactly what was written
    with st.open_input(w.uri) as fh:
        assert fh.read() == b'{"x": 1}'
    st.write_bytes(backend.uri("a", "two.json"), b"{}")
    st.write_bytes(backend.uri("top.json"), b"[]")
    assert [o.uri for o in st.list(backend.uri("a"))] == [
        backend.uri("a", "one.json"),
        backend.uri("a", "two.json"),
    ]
    assert [o.uri for o in st.list()] == [backend.uri("top.json")]
    assert len(st.list(recursive=True)) == 3
    assert st.list(backend.uri("nothing-here")) == []
    info = st.info(w.uri)
    assert info is not None and info.size_bytes == 8 and info.modified is not None
    assert st.exists(w.uri) and st.info(backend.uri("a")) is None  # a folder is not a file
    assert st.delete(w.uri) is True
    assert st.delete(w.uri) is False  # already gone: not an error (the retention purge relies on it)
    assert not st.exists(w.uri)
    with pytest.raises(FileNotFoundError):
        st.open_input(w.uri)
    assert backend.everything() == sorted([_prefix(backend, "a/two.json"), _prefix(backend, "top.json")])


def test_digest_of_a_gzip_file_is_of_its_stored_bytes(backend):
    import gzip

    body = gzip.compress(b'{"x": 1}\n' * 100)
    w = backend.storage.write_bytes(backend.uri("rows.jsonl.gz"), body)
    assert backend.storage.digest(w.uri) == w  # not of the decompressed text (a manifest's sha256)


def test_parquet_written_through_a_stage_reads_back_with_pyarrow_and_pandas(backend):
    st = backend.storage
    table = pa.table({"n": list(range(50_000)), "s": [f"row-{i}" for i in range(50_000)]})
    with st.stage(backend.uri("ds", "data.parquet")) as staged:
        assert not st.exists(staged.uri)  # nothing visible while it is written
        with pq.ParquetWriter(staged.path, table.schema, compression="zstd") as writer:
            for batch in table.to_batches(max_chunksize=10_000):
                writer.write_batch(batch)
        assert not st.exists(staged.uri)
    written = staged.written
    assert written is not None and st.info(written.uri).size_bytes == written.size_bytes
    assert st.digest(written.uri).sha256 == written.sha256
    with st.open_input(written.uri) as fh:
        assert pq.read_table(fh).equals(table)
    fs, path = st.arrow_path(written.uri)
    assert ds.dataset(path, filesystem=fs, format="parquet").count_rows() == 50_000
    frame = pd.read_parquet(path, filesystem=fs)
    assert len(frame) == 50_000 and frame["s"].iloc[-1] == "row-49999"
    assert backend.everything() == [_prefix(backend, "ds/data.parquet")]  # the temp file is gone


@pytest.mark.parametrize("size", [1_000, 12 << 20])  # one PUT, and big enough for a multipart upload
def test_an_error_during_a_write_leaves_nothing_visible(backend, size):
    st = backend.storage
    uri = backend.uri("ds", "data.parquet")
    with pytest.raises(RuntimeError, match="query failed"), st.stage(uri) as staged:
        with staged.path.open("wb") as fh:
            fh.write(os.urandom(size))
        raise RuntimeError("query failed half-way")
    assert staged.written is None
    assert not st.exists(uri) and st.list(recursive=True) == []
    assert backend.everything() == [] and backend.uploads() == []


def test_a_stage_abandoned_by_its_generator_publishes_nothing(backend):
    """The exporter stages inside a generator; a client that goes away closes it at a yield."""
    st = backend.storage
    uri = backend.uri("gen.bin")

    def producer():
        with st.stage(uri) as staged, staged.path.open("wb") as fh:
            for i in range(10):
                fh.write(os.urandom(1000))
                yield i

    gen = producer()
    assert next(gen) == 0 and next(gen) == 1
    gen.close()
    assert backend.everything() == [] and backend.uploads() == []


def test_no_overwrite_unless_asked(backend):
    st = backend.storage
    uri = backend.uri("m.json")
    st.write_bytes(uri, b"first")
    with pytest.raises(AlreadyExists):
        st.write_bytes(uri, b"second")
    with st.open_input(uri) as fh:
        assert fh.read() == b"first"
    st.write_bytes(uri, b"second", overwrite=True)
    with st.open_input(uri) as fh:
        assert fh.read() == b"second"
    assert backend.everything() == [_prefix(backend, "m.json")]


def test_publish_copies_a_complete_local_file(backend, tmp_path):
    local = tmp_path / "local.bin"
    data = os.urandom(300_000)
    local.write_bytes(data)
    w = backend.storage.publish(local, backend.uri("copy.bin"))
    assert local.read_bytes() == data  # the source stays
    with backend.storage.open_input(w.uri) as fh:
        assert fh.read() == data


def _outside(b: Backend) -> list[str]:
    root = b.storage.root
    if b.kind == "file":
        base = Path(root.path)
        return [
            "file:///etc",
            "file:///etc/passwd",
            (base.parent / f"{base.name}-other").as_uri(),  # a sibling sharing the prefix
            base.as_uri() + "/../escape",
            "s3://some-bucket/exports",
        ]
    return [
        "s3://another-bucket/exports/x",
        f"s3://{root.bucket}/exports-other/x",  # a sibling sharing the prefix
        f"s3://{root.bucket}/other",
        f"s3://{root.bucket}/exports/../other",
        f"s3://{root.bucket}",
        "file:///exports",
    ]


def test_a_uri_outside_the_root_is_invalid_argument_naming_the_field(backend):
    st = backend.storage
    for uri in [*_outside(backend), "", "gs://bucket/x", "/exports/plain/path", "s3://UPPER/x"]:
        with pytest.raises(InvalidArgument) as err:
            st.resolve("destination_uri", uri)
        assert err.value.field == "destination_uri", uri
        assert str(err.value).startswith("destination_uri: "), uri
        # the configured root is never revealed, only what the caller sent (and the setting's name)
        root_value = st.root.path if backend.kind == "file" else st.root.bucket
        assert root_value not in str(err.value).replace(uri, ""), (uri, str(err.value))
    for op in (st.exists, st.delete, st.open_input, st.digest):
        with pytest.raises(InvalidArgument):
            op(_outside(backend)[0])
    with pytest.raises(InvalidArgument):
        st.write_bytes(_outside(backend)[0], b"x")
    assert backend.everything() == []


def test_uris_under_the_root_are_normalized(backend):
    st = backend.storage
    assert st.resolve("f", st.root.uri) == st.root.uri
    assert st.resolve("f", st.root.uri + "/") == st.root.uri
    assert st.resolve("f", backend.uri("a", "b")) == backend.uri("a", "b")
    if backend.kind == "file":
        assert st.resolve("f", backend.uri("a", "..", "b")) == backend.uri("b")


def test_an_unreachable_object_store_is_unavailable_and_leaves_nothing(tmp_path):
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    st = Storage(
        "s3://nowhere-bucket/exports",
        s3_endpoint_url=f"http://127.0.0.1:{port}",
        s3_region="us-east-1",
        staging_dir=tmp_path,
    )
    with pytest.raises(Unavailable) as err:
        st.write_bytes("s3://nowhere-bucket/exports/x.json", b"{}")
    assert "127.0.0.1" not in str(err.value) and "nowhere" not in str(err.value)
    assert list(tmp_path.iterdir()) == []


def test_roots_and_endpoints():
    assert parse_root("/exports").uri == "file:///exports"
    assert parse_root("file:///exports/").uri == "file:///exports"
    assert parse_root("s3://bucket/a/b/").uri == "s3://bucket/a/b"
    assert parse_root("s3://bucket").uri == "s3://bucket"
    for bad in ("", "gs://bucket/x", "s3://B/x", "s3://bucket/a//b", "file://host/x", "s3://k:s@bucket/x"):
        with pytest.raises(ValueError):
            parse_root(bad)
    assert parse_endpoint("http://127.0.0.1:9000") == ("http", "127.0.0.1:9000")
    assert parse_endpoint("minio.local:9000") == ("https", "minio.local:9000")
    for bad in ("ftp://x", "http://x/path", "http://"):
        with pytest.raises(ValueError):
            parse_endpoint(bad)


def test_settings_take_a_path_or_a_uri_and_the_s3_options():
    from cloudwaste.exporter.settings import ExporterSettings
    from cloudwaste.predictor.settings import PredictorSettings

    base = {"CLOUDWASTE_DATABASE_URL": "postgresql://x@127.0.0.1/db", "CLOUDWASTE_AUTH_MODE": "none"}
    xs = ExporterSettings.from_env({**base, "CLOUDWASTE_EXPORT_ROOT": "/data/exports"})
    assert xs.export_root == "/data/exports" and xs.storage().root.uri == "file:///data/exports"
    assert xs.s3_endpoint_url is None and xs.s3_region is None
    env = {
        **base,
        "CLOUDWASTE_EXPORT_ROOT": "s3://ml-bucket/exports",
        "CLOUDWASTE_S3_ENDPOINT_URL": "http://127.0.0.1:9000",
        "CLOUDWASTE_S3_REGION": "eu-west-1",
    }
    xs = ExporterSettings.from_env(env)
    assert (xs.export_root, xs.s3_endpoint_url, xs.s3_region) == (
        "s3://ml-bucket/exports",
        "http://127.0.0.1:9000",
        "eu-west-1",
    )
    assert xs.storage().root.uri == "s3://ml-bucket/exports"
    ps = PredictorSettings.from_env(env)  # the dataset root falls back to the export root
    assert ps.dataset_root == "s3://ml-bucket/exports" and ps.s3_region == "eu-west-1"
    ps = PredictorSettings.from_env({**env, "CLOUDWASTE_DATASET_ROOT": "file:///datasets"})
    assert ps.storage().root.uri == "file:///datasets"
    with pytest.raises(SettingsError, match="CLOUDWASTE_EXPORT_ROOT"):
        ExporterSettings.from_env({**base, "CLOUDWASTE_EXPORT_ROOT": "gs://b/x"})
    with pytest.raises(SettingsError, match="CLOUDWASTE_S3_ENDPOINT_URL"):
        ExporterSettings.from_env({**env, "CLOUDWASTE_S3_ENDPOINT_URL": "ftp://x"})
    with pytest.raises(SettingsError, match="CLOUDWASTE_DATASET_ROOT"):
        PredictorSettings.from_env({**base, "CLOUDWASTE_DATASET_ROOT": "s3://"})


def test_sweep_removes_only_old_temporary_files(tmp_path):
    import datetime as dt
    import os

    from cloudwaste.core.storage import Storage

    storage = Storage(tmp_path.as_uri())
    month = tmp_path / "weekly" / "ml_training_data" / "detected_month=2026-11"
    month.mkdir(parents=True)
    old_tmp, new_tmp = month / ".part-a.parquet.x1.tmp", month / ".part-b.parquet.x2.tmp"
    data, hidden = month / "part-a.parquet", month / ".keep"
    for p in (old_tmp, new_tmp, data, hidden):
        p.write_bytes(b"x")
    three_hours_ago = (dt.datetime.now() - dt.timedelta(hours=3)).timestamp()
    for p in (old_tmp, data, hidden):
        os.utime(p, (three_hours_ago, three_hours_ago))
    assert storage.sweep_temporary(dt.timedelta(hours=2)) == [str(old_tmp)]
    assert not old_tmp.exists() and new_tmp.exists() and data.exists() and hidden.exists()
    assert Storage("s3://bucket/x").sweep_temporary(dt.timedelta(0)) == []


def test_a_folder_storage_may_not_write_is_failed_precondition_naming_it(tmp_path, monkeypatch):
    """A read-only export folder (or one owned by another user): not retryable, so not UNAVAILABLE,
    and never INTERNAL. (Simulated: the tests run as root, which writes anywhere.)"""
    import tempfile

    from cloudwaste.core.errors import FailedPrecondition

    storage = Storage(tmp_path.as_uri())

    def refused(*args, **kwargs):
        raise PermissionError(13, "Permission denied", str(tmp_path))

    monkeypatch.setattr(tempfile, "mkstemp", refused)
    target = f"{tmp_path.as_uri()}/weekly/manifest.json"
    with pytest.raises(FailedPrecondition, match="permission denied") as raised:
        storage.write_bytes(target, b"{}")
    assert target in str(raised.value) and "Errno" not in str(raised.value)
