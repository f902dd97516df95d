"""The layout of an exported dataset: the contract between the exporter, which writes it, and the
trainer (and analysts), who read it.

A destination folder is one dataset: Hive partitions of ML rows by month of detection, and a JSON
manifest per export, named so that they sort oldest first:

    <dataset>/ml_training_data/detected_month=2026-11/part-20261130T030000123456Z-1a2b3c4d.parquet
    <dataset>/_manifests/20261130T030000123456Z-1a2b3c4d.json

A manifest lists its export's files (path relative to the dataset, month, row count, size, sha256).
Exports are incremental: a row relabeled after it was exported appears again in a later file; KEY
identifies a row and the version with the latest VERSION_COLUMN is the current one.
"""

from __future__ import annotations

import json

from cloudwaste.core.errors import InvalidArgument
from cloudwaste.core.storage import Storage

TABLE = "ml_training_data"
MANIFESTS = "_manifests"
PARTITION = "detected_month"
KEY = ("resource_hash", "detection_scenario", "detected_at")
VERSION_COLUMN = "changed_at"


def under(storage: Storage, folder: str, relative: str) -> str:
    """The URI of `relative` (a/b/c) inside `folder`."""
    uri = folder
    for segment in relative.split("/"):
        uri = storage.join(uri, segment)
    return uri


def read_manifests(storage: Storage, dataset_uri: str, *, up_to: str | None = None) -> list[dict]:
    """The manifests of the dataset at `dataset_uri`, oldest first, each with its own "uri" and its
    files' "uri"s; with `up_to` (a manifest URI), those up to and including it."""
    out = []
    for info in storage.list(storage.join(dataset_uri, MANIFESTS)):
        if not info.uri.endswith(".json"):
            continue
        if up_to is not None and info.uri > up_to:
            break
        with storage.open_input(info.uri) as fh:
            manifest = json.loads(fh.read())
        manifest["uri"] = info.uri
        for f in manifest.get("files", []):
            f["uri"] = under(storage, dataset_uri, f["path"])
        out.append(manifest)
    return out


def parquet_files(storage: Storage, field: str, uri: str) -> list[str]:
    """The Parquet files a dataset URI stands for, oldest export first:

    - a dataset folder: every Parquet export in it (the dataset as it is now);
    - one of its manifests (<dataset>/_manifests/X.json): the dataset as of that export;
    - a single Parquet file.

    Raises InvalidArgument(field) when there is nothing to read there.
    """
    if uri.endswith(".json") and f"/{MANIFESTS}/" in uri:
        if storage.info(uri) is None:
            raise InvalidArgument(field, f"{uri} does not exist")
        dataset, _ = uri.rsplit(f"/{MANIFESTS}/", 1)
        manifests = read_manifests(storage, dataset, up_to=uri)
    elif storage.info(uri) is not None:
        return [uri]
    else:
        manifests = read_manifests(storage, uri)
        if not manifests:
            raise InvalidArgument(
                field, f"{uri} is neither a file nor a dataset folder with export manifests"
            )
    return [f["uri"] for m in manifests if m.get("format") == "parquet" for f in m.get("files", [])]
