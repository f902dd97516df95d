"""Parsing the storage URIs requests carry (file://, s3://). Errors name the request field.

Only syntax lives here; which URIs a service may use (those under its configured root) is decided
by `cloudwaste.core.storage.Storage`. Messages repeat at most what the caller sent: never a path
or bucket from the server's configuration.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlparse

from cloudwaste.core.errors import InvalidArgument

SCHEMES = ("file", "s3")

# S3 bucket naming rules (general purpose buckets): 3-63 of a-z 0-9 . -, starting and ending with
# a letter or digit.
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.\-]{1,61}[a-z0-9]$")


def scheme_of(field: str, uri: str, example: str) -> str:
    """The scheme of a non-empty storage URI, which must be one of SCHEMES."""
    if not uri:
        raise InvalidArgument(field, f"is required, e.g. {example}")
    parsed = urlparse(uri)
    if not parsed.scheme:
        raise InvalidArgument(field, f"must be a URI (file:// or s3://), e.g. {example}")
    if parsed.scheme not in SCHEMES:
        raise InvalidArgument(field, f'scheme "{parsed.scheme}" is not supported; use file:// or s3://')
    if parsed.query or parsed.fragment:
        raise InvalidArgument(field, "must not carry a query or a fragment")
    return parsed.scheme


def file_path(field: str, uri: str) -> Path:
    """The absolute, symlink-resolved local path a file:// `uri` names."""
    parsed = urlparse(uri)
    if parsed.scheme != "file":
        raise InvalidArgument(field, "must be a file:// URI")
    if parsed.netloc not in ("", "localhost"):
        raise InvalidArgument(field, "file:// URIs must not name a host")
    raw = unquote(parsed.path)
    if not raw.startswith("/"):
        raise InvalidArgument(field, "file:// URIs must hold an absolute path")
    if "\x00" in raw:
        raise InvalidArgument(field, "must not contain NUL characters")
    return Path(raw).resolve()


def s3_bucket_key(field: str, uri: str) -> tuple[str, str]:
    """(bucket, key) of an s3:// `uri`; the key has no leading or trailing slash and no empty, "."
    or ".." segment (S3 would keep them literally; a dataset name never needs them)."""
    parsed = urlparse(uri)
    if parsed.scheme != "s3":
        raise InvalidArgument(field, "must be an s3:// URI")
    if "@" in parsed.netloc or ":" in parsed.netloc:
        raise InvalidArgument(field, "s3:// URIs name a bucket only (no credentials, no port)")
    bucket = parsed.netloc
    if not _BUCKET.match(bucket):
        raise InvalidArgument(field, "must name a valid S3 bucket, e.g. s3://my-bucket/exports")
    key = parsed.path[1:] if parsed.path.startswith("/") else parsed.path
    key = key[:-1] if key.endswith("/") else key
    if key and any(seg in ("", ".", "..") for seg in key.split("/")):
        raise InvalidArgument(field, 'must not contain empty, "." or ".." path segments')
    if "\x00" in key:
        raise InvalidArgument(field, "must not contain NUL characters")
    return bucket, key


def local_path(field: str, uri: str, root: str, example: str) -> Path:
    """The absolute path a file:// `uri` names, which must lie inside the local folder `root`."""
    if scheme_of(field, uri, example) != "file":
        raise InvalidArgument(field, "must be a file:// URI here")
    path = file_path(field, uri)
    base = Path(root).resolve()
    if path != base and base not in path.parents:
        raise InvalidArgument(field, "is outside the folder this service may use")
    return path
