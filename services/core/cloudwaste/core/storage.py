"""One storage layer for exports and the datasets training reads: file:// and s3:// on pyarrow.fs.

A `Storage` is confined to a root URI from the service's settings (`file:///exports`, a plain path
meaning the same, or `s3://bucket/prefix` on AWS S3 or any S3-compatible store such as MinIO).
Every URI a request names must lie under it; otherwise the request fails with INVALID_ARGUMENT
naming the request field, and the message repeats only what the caller sent.

Writes are atomic: what is written is first staged in a local temporary file, then published.

* file://  the temporary file lives next to the destination (same filesystem); it is fsynced, then
  hard-linked (or renamed, when overwriting) to its final name and the folder fsynced.
* s3://    the temporary file lives on local disk (`staging_dir`, default the system temp folder);
  once complete it is uploaded with one PutObject, or a multipart upload that S3 completes only
  after its last part. An error or a crash before that leaves no object (a crash mid-upload may
  leave an incomplete multipart upload, which is invisible; a bucket lifecycle rule
  AbortIncompleteMultipartUpload reclaims it). The object's size is checked after the upload.
  Never write through pyarrow's S3 output stream directly: closing it, even on an error or at
  garbage collection, completes the upload and publishes whatever was written so far.

Deleting the last file of an s3:// "folder" leaves pyarrow's empty-folder marker (a zero-byte key
ending in "/"), as file:// leaves the empty folder; `list` shows files only.

Either way a reader sees the whole file or nothing, and memory stays bounded: the file streams
from disk. Credentials for s3:// come from the standard AWS chain (AWS_* environment variables,
shared config files, web identity / IRSA on EKS, instance metadata).

    storage = Storage("s3://bucket/exports", s3_endpoint_url="http://127.0.0.1:5000", s3_region="us-east-1")
    folder = storage.resolve("destination_uri", request.destination_uri)
    with storage.stage(storage.join(folder, "data.parquet")) as staged:
        pq.write_table(table, staged.path)
    staged.written  # Written(uri, size_bytes, sha256)
    pq.read_table(storage.open_input(staged.written.uri))
"""

from __future__ import annotations

import datetime as dt
import hashlib
import logging
import os
import shutil
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlparse

import pyarrow as pa
import pyarrow.fs as pafs
from cloudwaste.core.errors import AlreadyExists, FailedPrecondition, InvalidArgument, Unavailable
from cloudwaste.core.settings import SettingsError, env_str
from cloudwaste.core.uris import file_path, s3_bucket_key, scheme_of

log = logging.getLogger(__name__)

_CHUNK = 1 << 20
_EXAMPLE = "file:///exports or s3://bucket/exports"


@dataclass(frozen=True)
class Root:
    """A parsed storage root. `path` is the local folder (file) or the key prefix (s3, may be "")."""

    scheme: str
    bucket: str
    path: str

    @property
    def uri(self) -> str:
        if self.scheme == "file":
            return Path(self.path).as_uri()
        return f"s3://{self.bucket}/{self.path}" if self.path else f"s3://{self.bucket}"


def parse_root(value: str) -> Root:
    """A root setting: a plain path (meaning file://), a file:// URI or an s3://bucket[/prefix] URI.
    Raises ValueError saying what is wrong."""
    value = value.strip()
    if not value:
        raise ValueError(f"is empty; use a path or a URI such as {_EXAMPLE}")
    if "://" not in value:
        return Root("file", "", str(Path(value).resolve()))
    try:
        scheme = scheme_of("root", value, _EXAMPLE)
        if scheme == "file":
            return Root("file", "", str(file_path("root", value)))
        bucket, key = s3_bucket_key("root", value)
    except InvalidArgument as exc:
        raise ValueError(exc.problem) from None
    return Root("s3", bucket, key)


def parse_endpoint(url: str) -> tuple[str, str]:
    """(scheme, host[:port]) of an S3 endpoint URL such as http://127.0.0.1:9000 (https when the
    URL has no scheme). Raises ValueError."""
    raw = url.strip()
    parsed = urlparse(raw if "://" in raw else f"https://{raw}")
    if parsed.scheme not in ("http", "https") or not parsed.hostname:
        raise ValueError(f"{url!r} is not an http(s) URL such as http://127.0.0.1:9000")
    if parsed.path not in ("", "/") or parsed.query or parsed.username:
        raise ValueError(f"{url!r} must be scheme://host[:port] only")
    return parsed.scheme, parsed.netloc


def storage_settings(env: Mapping[str, str], root_name: str, root_default: str) -> dict:
    """{"root", "s3_endpoint_url", "s3_region"} from CLOUDWASTE_<root_name>,
    CLOUDWASTE_S3_ENDPOINT_URL and CLOUDWASTE_S3_REGION, checked: a bad value raises SettingsError
    naming the variable."""
    root = env_str(env, root_name, root_default)
    try:
        parse_root(root)
    except ValueError as exc:
        raise SettingsError(f"CLOUDWASTE_{root_name}: {exc}") from None
    endpoint = env.get("CLOUDWASTE_S3_ENDPOINT_URL") or None
    if endpoint:
        try:
            parse_endpoint(endpoint)
        except ValueError as exc:
            raise SettingsError(f"CLOUDWASTE_S3_ENDPOINT_URL: {exc}") from None
    return {"root": root, "s3_endpoint_url": endpoint, "s3_region": env.get("CLOUDWASTE_S3_REGION") or None}


@dataclass(frozen=True)
class Written:
    """What a write published: where, how many bytes, their sha256 (hex)."""

    uri: str
    size_bytes: int
    sha256: str


@dataclass(frozen=True)
class ObjectInfo:
    uri: str
    size_bytes: int
    modified: dt.datetime | None


@dataclass(frozen=True)
class _Loc:
    uri: str  # normalized
    path: str  # the path pyarrow's filesystem uses: local path, or "bucket/key"
    name: str  # last segment ("" for an s3 bucket root)


class Staged:
    """A write in progress: fill the local file at `path`; leaving the `with` block without an
    error publishes it atomically and sets `written`. An error (or the generator around it being
    closed) discards it: nothing becomes visible."""

    def __init__(self, storage: Storage, loc: _Loc, path: Path, overwrite: bool) -> None:
        self._storage, self._loc, self.path, self._overwrite = storage, loc, path, overwrite
        self.uri = loc.uri
        self.written: Written | None = None

    def __enter__(self) -> Staged:
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        try:
            if exc_type is None:
                self.written = self._storage._publish(self.path, self._loc, self._overwrite, same_dir=True)
        finally:
            self.path.unlink(missing_ok=True)


class Storage:
    """Files under one root, on the local filesystem or an S3-compatible object store.

    `setting` names the configuration variable the root comes from; errors mention it (never its
    value) so that an operator knows what to change.
    """

    def __init__(
        self,
        root: str | Root,
        *,
        s3_endpoint_url: str | None = None,
        s3_region: str | None = None,
        setting: str = "the storage root",
        staging_dir: str | Path | None = None,
        filesystem: pafs.FileSystem | None = None,
    ) -> None:
        self.root = root if isinstance(root, Root) else parse_root(root)
        self.setting = setting
        self.staging_dir = Path(staging_dir) if staging_dir else None
        if filesystem is not None:
            self.fs = filesystem
        elif self.root.scheme == "file":
            self.fs = pafs.LocalFileSystem()
        else:
            options: dict = {}
            if s3_endpoint_url:
                options["scheme"], options["endpoint_override"] = parse_endpoint(s3_endpoint_url)
            if s3_region:
                options["region"] = s3_region
            # Parts are uploaded as they are read: with background writes, a part waits in memory
            # for its upload, so a 200 MB file held ~200 MB (measured: 279 MB peak vs 88 MB).
            options["background_writes"] = False
            # no keys given: the AWS SDK's default chain (env, config files, IRSA, instance profile)
            self.fs = pafs.S3FileSystem(**options)

    @property
    def scheme(self) -> str:
        return self.root.scheme

    def __repr__(self) -> str:
        return f"Storage({self.root.uri!r})"

    # ---------------------------------------------------------------- URIs

    def _locate(self, field: str, uri: str, example: str | None = None) -> _Loc:
        example = example or _EXAMPLE
        scheme = scheme_of(field, uri, example)
        if scheme != self.root.scheme:
            raise InvalidArgument(
                field, f"{scheme}:// is not where this service keeps its data (see {self.setting})"
            )
        outside = InvalidArgument(field, f"is outside the storage root this service may use ({self.setting})")
        if scheme == "file":
            path = file_path(field, uri)
            base = Path(self.root.path)
            if path != base and base not in path.parents:
                raise outside
            return _Loc(path.as_uri(), str(path), path.name)
        bucket, key = s3_bucket_key(field, uri)
        prefix = self.root.path
        if bucket != self.root.bucket or (prefix and key != prefix and not key.startswith(prefix + "/")):
            raise outside
        full = f"{bucket}/{key}" if key else bucket
        return _Loc(f"s3://{full}", full, key.rsplit("/", 1)[-1])

    def resolve(self, field: str, uri: str, example: str | None = None) -> str:
        """The normalized form of `uri`, which must lie under the root; else InvalidArgument(field)."""
        return self._locate(field, uri, example).uri

    def join(self, folder_uri: str, name: str) -> str:
        """The URI of `name` (one path segment) inside `folder_uri`."""
        if not name or "/" in name or name in (".", ".."):
            raise ValueError(f"{name!r} is not a single file name")
        loc = self._locate("uri", folder_uri)
        if self.scheme == "file":
            return (Path(loc.path) / name).as_uri()
        return f"{loc.uri}/{name}"

    def arrow_path(self, uri: str) -> tuple[pafs.FileSystem, str]:
        """(filesystem, path) for pyarrow APIs that take both, e.g. pyarrow.dataset.dataset."""
        return self.fs, self._locate("uri", uri).path

    # ---------------------------------------------------------------- reading

    def info(self, uri: str) -> ObjectInfo | None:
        """Size and modification time of the file at `uri`; None when there is no file there."""
        loc = self._locate("uri", uri)
        fi = self._call("stat", loc, self.fs.get_file_info, loc.path)
        if fi.type != pafs.FileType.File:
            return None
        return ObjectInfo(loc.uri, fi.size, _utc(fi.mtime))

    def exists(self, uri: str) -> bool:
        return self.info(uri) is not None

    def open_input(self, uri: str) -> pa.NativeFile:
        """A random-access file for reading (pyarrow.parquet reads from it). Close it after use.
        A missing file raises FileNotFoundError."""
        loc = self._locate("uri", uri)
        try:
            return self.fs.open_input_file(loc.path)
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise self._unavailable("read", loc, exc) from exc

    def digest(self, uri: str) -> Written:
        """Size and sha256 of what is stored at `uri`, streamed."""
        loc = self._locate("uri", uri)
        digest, size = hashlib.sha256(), 0
        try:
            # compression=None: the bytes as stored (pyarrow would decompress a .gz file)
            with self.fs.open_input_stream(loc.path, compression=None) as fh:
                while chunk := fh.read(_CHUNK):
                    digest.update(chunk)
                    size += len(chunk)
        except FileNotFoundError:
            raise
        except OSError as exc:
            raise self._unavailable("read", loc, exc) from exc
        return Written(loc.uri, size, digest.hexdigest())

    def list(self, folder_uri: str | None = None, *, recursive: bool = False) -> list[ObjectInfo]:
        """The files in `folder_uri` (default: the root), sorted by URI; [] when it does not exist.
        Temporary files of writes in progress (names starting with ".") are not listed."""
        loc = self._locate("uri", folder_uri or self.root.uri)
        selector = pafs.FileSelector(loc.path, recursive=recursive, allow_not_found=True)
        infos = self._call("list", loc, self.fs.get_file_info, selector)
        out = []
        for fi in infos:
            if fi.type != pafs.FileType.File or any(seg.startswith(".") for seg in _below(fi.path, loc.path)):
                continue
            uri = Path(fi.path).as_uri() if self.scheme == "file" else f"s3://{fi.path}"
            out.append(ObjectInfo(uri, fi.size, _utc(fi.mtime)))
        return sorted(out, key=lambda o: o.uri)

    # ---------------------------------------------------------------- writing

    def stage(self, uri: str, *, overwrite: bool = False) -> Staged:
        """Start an atomic write of the file `uri` (use as a context manager, see `Staged`)."""
        loc = self._locate("uri", uri)
        if not loc.name:
            raise ValueError("a file URI is needed, not a bucket")
        if self.scheme == "file":
            folder = Path(loc.path).parent
            self._call("create folder", loc, folder.mkdir, parents=True, exist_ok=True)
        else:
            folder = self.staging_dir or Path(tempfile.gettempdir())
        fd, tmp = self._call(
            "create a temporary file", loc, tempfile.mkstemp, dir=folder, prefix=f".{loc.name}.", suffix=".tmp"
        )
        os.close(fd)
        return Staged(self, loc, Path(tmp), overwrite)

    def write_bytes(self, uri: str, data: bytes, *, overwrite: bool = False) -> Written:
        """Atomically writes a small file (a manifest) at `uri`."""
        with self.stage(uri, overwrite=overwrite) as staged, staged.path.open("wb") as fh:
            fh.write(data)
        assert staged.written is not None
        return staged.written

    def publish(self, local: str | Path, uri: str, *, overwrite: bool = False) -> Written:
        """Atomically copies the complete local file `local` to `uri` (the local file stays)."""
        loc = self._locate("uri", uri)
        if self.scheme == "file":
            with self.stage(uri, overwrite=overwrite) as staged:
                shutil.copyfile(local, staged.path)
            assert staged.written is not None
            return staged.written
        return self._publish(Path(local), loc, overwrite, same_dir=False)

    def delete(self, uri: str) -> bool:
        """Deletes the file at `uri`; False when there was none. Folders are not deleted."""
        loc = self._locate("uri", uri)
        if self.info(loc.uri) is None:
            return False
        try:
            self.fs.delete_file(loc.path)
        except FileNotFoundError:
            return False
        except OSError as exc:
            raise self._unavailable("delete", loc, exc) from exc
        return True

    def sweep_temporary(self, older_than: dt.timedelta) -> list[str]:
        """Deletes the temporary files that writes killed half-way (a crash, an OOM kill) left
        under a file:// root: hidden ".<name>.<random>.tmp" files not modified for `older_than`.
        Returns their paths. On s3:// nothing is left in the bucket (staging is local, and an
        incomplete multipart upload is invisible: a bucket lifecycle rule reclaims it)."""
        if self.scheme != "file":
            return []
        cutoff = dt.datetime.now(dt.UTC) - older_than
        removed = []
        for path in Path(self.root.path).rglob(".*.tmp"):
            try:
                if dt.datetime.fromtimestamp(path.stat().st_mtime, dt.UTC) < cutoff:
                    path.unlink()
                    removed.append(str(path))
            except FileNotFoundError:
                continue  # finished or swept meanwhile
        return removed

    # ---------------------------------------------------------------- internals

    def _publish(self, tmp: Path, loc: _Loc, overwrite: bool, same_dir: bool) -> Written:
        digest, size = hashlib.sha256(), 0
        with tmp.open("rb") as fh:
            while chunk := fh.read(_CHUNK):
                digest.update(chunk)
                size += len(chunk)
            os.fsync(fh.fileno())
        written = Written(loc.uri, size, digest.hexdigest())
        if self.scheme == "file":
            assert same_dir
            self._call("publish", loc, _link_into_place, tmp, Path(loc.path), overwrite)
            return written
        if not overwrite and self.exists(loc.uri):
            raise AlreadyExists(f"{loc.uri} already exists; refusing to overwrite")
        try:
            # The copy loop runs in C++: no Python exception can interrupt it half-way and let the
            # stream's close publish a partial object.
            pafs.copy_files(
                str(tmp),
                loc.path,
                source_filesystem=pafs.LocalFileSystem(),
                destination_filesystem=self.fs,
                use_threads=False,
            )
            stored = self.fs.get_file_info(loc.path)
        except OSError as exc:
            raise self._unavailable("upload", loc, exc) from exc
        if stored.type != pafs.FileType.File or stored.size != size:
            self._call("delete", loc, self.fs.delete_file, loc.path)
            log.error("upload of %s stored %s bytes instead of %s; deleted", loc.uri, stored.size, size)
            raise Unavailable("the object store did not keep the whole file; retry later")
        return written

    def _call(self, what: str, loc: _Loc, fn, *args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except FileExistsError:
            if what == "publish":
                raise AlreadyExists(f"{loc.uri} already exists; refusing to overwrite") from None
            raise
        except PermissionError as exc:  # a read-only folder or a bucket policy: retrying will not help
            log.warning("storage %s refused for %s: %s", what, loc.uri, exc)
            raise FailedPrecondition(
                f"storage {what} for {loc.uri} was refused (permission denied); check the folder's or "
                "the bucket's permissions"
            ) from None
        except OSError as exc:
            raise self._unavailable(what, loc, exc) from exc

    def _unavailable(self, what: str, loc: _Loc, exc: OSError) -> Unavailable:
        # the detail (endpoint, bucket, errno) goes to the log only
        log.warning("storage %s failed for %s: %s", what, loc.uri, exc)
        return Unavailable(f"storage {what} failed; retry later or see the service log")


def _link_into_place(tmp: Path, final: Path, overwrite: bool) -> None:
    if overwrite:
        os.replace(tmp, final)
    else:
        try:
            os.link(tmp, final)  # fails if `final` exists: no clobbering, even under a race
        except FileExistsError:
            raise
        except OSError:  # a filesystem without hard links
            if final.exists():
                raise FileExistsError(str(final)) from None
            os.replace(tmp, final)
    fd = os.open(final.parent, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _below(path: str, base: str) -> list[str]:
    rest = path[len(base) :] if path.startswith(base) else path
    return [s for s in rest.split("/") if s]


def _utc(mtime) -> dt.datetime | None:
    if mtime is None:
        return None
    return mtime if mtime.tzinfo else mtime.replace(tzinfo=dt.UTC)
