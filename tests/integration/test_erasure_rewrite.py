"""GDPR erasure end to end: EraseTenantData removes a tenant's ML rows and names the datasets exports
wrote, with the keyed hashes its rows carried; `cloudwaste rewrite-export` rewrites each dataset
(Parquet and JSON Lines) without them. Another tenant's rows all stay, the manifests describe the
files as they are, a second rewrite changes nothing, the audit record lists what to rewrite, the
trainer still reads the dataset, and the tenant id is nowhere in an export or the audit record."""

from __future__ import annotations

import gzip
import hashlib
import json
from collections import Counter
from pathlib import Path

import duckdb
import grpc
import pyarrow.parquet as pq
import pytest
import sqlalchemy as sa
from cloudwaste.common.v1 import provider_pb2
from cloudwaste.core.cli import main as cli
from cloudwaste.core.privacy import keyed_hash
from cloudwaste.core.storage import Storage
from cloudwaste.exporter.rewrite import UNTOUCHED, rewrite_without
from cloudwaste.exporter.v1 import export_run_pb2
from cloudwaste.predictor.client import wait_for_training
from cloudwaste.predictor.v1 import predictor_service_pb2, training_run_pb2
from cloudwaste.scanner.v1 import cloud_account_pb2, finding_pb2, scanner_service_pb2

from tests.integration.conftest import HASH_KEY, TENANT, external_ids
from tests.integration.test_incremental_export import decide, export, move_to_earlier_months

OTHER = "tenant-canary-globex-inc"
JSONL = export_run_pb2.DATASET_FORMAT_JSONL_GZ


def other_account(stack):
    return stack.scanner.CreateCloudAccount(
        scanner_service_pb2.CreateCloudAccountRequest(
            cloud_account=cloud_account_pb2.CloudAccount(
                provider=provider_pb2.PROVIDER_AWS,
                tenant_id=OTHER,
                display_name="other",
                regions=list(stack.truth.regions),
                ml_collection_enabled=True,
                aws=cloud_account_pb2.AwsAccess(
                    role_arn=f"arn:aws:iam::{stack.truth.account_id}:role/CloudWasteOther",
                ),
            )
        ),
        timeout=10,
    ).cloud_account


def read_rows(path: Path) -> list[dict]:
    """Every row of one export file, read back with pyarrow (Parquet) or json (JSON Lines, gzip)."""
    if path.name.endswith(".parquet"):
        return pq.read_table(path).to_pylist()
    with gzip.open(path, "rt") as fh:
        return [json.loads(line) for line in fh if line.strip()]


def dataset_rows(folder: Path) -> list[dict]:
    return [r for p in sorted((folder / "ml_training_data").rglob("*")) if p.is_file() for r in read_rows(p)]


def versions(rows) -> Counter:
    """The row versions (their identity and changed_at), as a multiset."""
    return Counter(
        (
            r["tenant_hash"],
            r["resource_hash"],
            r["detection_scenario"],
            str(r["detected_at"]),
            str(r["changed_at"]),
        )
        for r in rows
    )


def manifests(folder: Path) -> list[dict]:
    return [json.loads(p.read_text()) for p in sorted((folder / "_manifests").glob("*.json"))]


def snapshot(root: Path) -> dict:
    return {str(p): (p.stat().st_mtime_ns, p.read_bytes()) for p in sorted(root.rglob("*")) if p.is_file()}


def rewrite_cli(dataset: str, hashes, capsys) -> tuple[int, str]:
    rc = cli(["rewrite-export", "--dataset-uri", dataset, *[a for h in hashes for a in ("--tenant-hash", h)]])
    out = capsys.readouterr()
    return rc, out.out + out.err


def test_erasing_a_tenant_then_rewriting_its_exports_leaves_no_row_of_it(stack, monkeypatch, capsys):
    root = stack.export_root
    parquet_dir, jsonl_dir = root / "parquet", root / "jsonl"
    parquet_uri, jsonl_uri = parquet_dir.as_uri(), jsonl_dir.as_uri()
    by_id = {t.resource_id: t for t in stack.truth.resources}

    # two tenants on the same simulated AWS account, each scanned, with rows over three months
    gone_account, kept_account = stack.create_account(), other_account(stack)
    for account in (gone_account, kept_account):
        stack.wait_enriched(stack.scan(account.name).name)
    assert len(move_to_earlier_months(stack.database_url)) == 3
    for account in (gone_account, kept_account):
        decide(stack, stack.findings(cloud_account=account.name))
    decided_other = [
        f
        for f in stack.findings(cloud_account=kept_account.name, all_states=True)
        if by_id[f.resource_name].decision
    ]
    # export 1: both tenants, in every month's file
    first = [export(stack.exporter, parquet_uri), export(stack.exporter, jsonl_uri, format=JSONL)]
    assert all(len(run.files) == 3 for run in first)
    # export 2: a second scan of the erased tenant only: files holding nothing but its rows
    stack.wait_enriched(stack.scan(gone_account.name).name)
    second = [export(stack.exporter, parquet_uri), export(stack.exporter, jsonl_uri, format=JSONL)]
    assert all(run.row_count > 0 for run in second)
    # export 3: the other tenant changes its mind on a few findings: its rows only
    changed = [f for f in decided_other if by_id[f.resource_name].decision == "deleted"][:3]
    assert decide(stack, changed, finding_pb2.FINDING_STATE_KEPT) == 3
    third = [export(stack.exporter, parquet_uri), export(stack.exporter, jsonl_uri, format=JSONL)]
    assert all(run.row_count == 3 for run in third)

    gone_hash, other_hash = (keyed_hash(HASH_KEY, "tenant", t) for t in (TENANT, OTHER))
    before = {d: dataset_rows(d) for d in (parquet_dir, jsonl_dir)}
    for rows in before.values():
        assert {r["tenant_hash"] for r in rows} == {gone_hash, other_hash}

    # the erasure: rows gone from the database, datasets named once each, the hashes to remove
    engine = sa.create_engine(stack.database_url)
    with engine.connect() as c:
        other_in_db = c.execute(
            sa.text("SELECT count(*) FROM ml_training_data WHERE tenant_hash = :h"), {"h": other_hash}
        ).scalar_one()
    erased = stack.scanner.EraseTenantData(
        scanner_service_pb2.EraseTenantDataRequest(tenant_id=TENANT), timeout=30
    )
    assert erased.ml_rows_deleted > 0
    assert list(erased.exports_to_rewrite) == [parquet_uri, jsonl_uri]  # each dataset once
    assert list(erased.tenant_hashes) == [gone_hash]  # keyed hashes only, never the tenant id
    assert erased.erasure.startswith("erasures/")
    with engine.connect() as c:
        left = [
            tuple(r)
            for r in c.execute(sa.text("SELECT tenant_hash, count(*) FROM ml_training_data GROUP BY 1"))
        ]
        audit = c.execute(sa.text("SELECT row_to_json(t)::text FROM erasure_runs t")).scalars().all()
    engine.dispose()
    assert left == [(other_hash, other_in_db)]
    assert len(audit) == 1 and TENANT not in audit[0] and gone_hash in audit[0]

    # the audit record, through the API
    (record,) = stack.scanner.ListErasures(scanner_service_pb2.ListErasuresRequest(), timeout=10).erasures
    assert record.name == erased.erasure and record.ml_rows_deleted == erased.ml_rows_deleted
    assert list(record.exports_to_rewrite) == [parquet_uri, jsonl_uri]
    assert list(record.tenant_hashes) == [gone_hash] and record.HasField("create_time")
    got = stack.scanner.GetErasure(scanner_service_pb2.GetErasureRequest(name=erased.erasure), timeout=10)
    assert got.erasure == record

    # the rewrite, as an operator runs it: the CLI with the exporter's storage settings
    monkeypatch.setenv("CLOUDWASTE_EXPORT_ROOT", str(root))
    monkeypatch.delenv("CLOUDWASTE_S3_ENDPOINT_URL", raising=False)
    storage = Storage(str(root))
    outputs = []
    for dataset in erased.exports_to_rewrite:
        rc, out = rewrite_cli(dataset, erased.tenant_hashes, capsys)
        assert rc == 0, out
        outputs.append(out)
        assert "deleted " in out and "rewrote " in out and "rewrote manifest" in out
    assert not any(TENANT in out for out in outputs)

    for folder, runs in (
        (parquet_dir, [first[0], second[0], third[0]]),
        (jsonl_dir, [first[1], second[1], third[1]]),
    ):
        rows = dataset_rows(folder)
        # no row of the erased tenant; every version of every row of the other tenant
        assert gone_hash not in {r["tenant_hash"] for r in rows}
        assert versions(rows) == versions(r for r in before[folder] if r["tenant_hash"] == other_hash)
        # the files the erased tenant alone filled are gone; the others' are untouched
        assert not any(Path(storage.arrow_path(f.uri)[1]).exists() for f in runs[1].files)
        ms = manifests(folder)
        assert len(ms) == 3
        for m in ms:
            listed = 0
            for f in m["files"]:
                path = folder / f["path"]
                data = path.read_bytes()
                assert hashlib.sha256(data).hexdigest() == f["sha256"] and len(data) == f["size_bytes"]
                assert len(read_rows(path)) == f["row_count"]
                listed += f["row_count"]
            assert m["row_count"] == listed and m["size_bytes"] == sum(f["size_bytes"] for f in m["files"])
        mixed, alone, untouched = ms
        assert mixed["files"] and len(mixed["erased"]) == 1
        assert mixed["erased"][0]["tenant_hashes_count"] == 1 and mixed["erased"][0]["rows_removed"] > 0
        assert alone["files"] == [] and alone["erased"][0]["rows_removed"] == runs[1].row_count
        assert len(alone["erased"][0]["files_deleted"]) == len(runs[1].files)
        assert "erased" not in untouched and untouched["row_count"] == 3
        removed = sum(m["erased"][0]["rows_removed"] for m in (mixed, alone))
        assert removed == sum(1 for r in before[folder] if r["tenant_hash"] == gone_hash)
        # the hashes themselves are never written into a manifest
        assert not any(gone_hash in p.read_text() for p in (folder / "_manifests").glob("*.json"))

    # DuckDB reads the dataset back the same way
    con = duckdb.connect()
    theirs = con.execute(
        f"SELECT count(*) FROM read_parquet('{parquet_dir}/ml_training_data/*/*.parquet') WHERE tenant_hash = ?",
        [gone_hash],
    ).fetchone()[0]
    con.close()
    assert theirs == 0

    # a second rewrite changes nothing, not even a file's time
    untouched_before = snapshot(root)
    for dataset in erased.exports_to_rewrite:
        again = rewrite_without(storage, dataset, erased.tenant_hashes)
        assert again.manifests == 3 and again.rows_removed == 0 and not again.manifests_rewritten
        assert {f.action for f in again.files} == {UNTOUCHED}
    assert snapshot(root) == untouched_before
    rc, out = rewrite_cli(parquet_uri, erased.tenant_hashes, capsys)
    assert rc == 0 and "0 rows removed" in out and snapshot(root) == untouched_before

    # canaries: neither tenant id nor external id appears in any file of either dataset
    for path in (p for p in root.rglob("*") if p.is_file()):
        if path.suffix == ".json":
            text = path.read_text()
        elif "ml_training_data" in path.parts:
            text = json.dumps(read_rows(path), default=str)
        else:
            continue
        for canary in (TENANT, OTHER, *external_ids(stack.database_url)):
            assert canary.lower() not in text.lower(), f"{canary} in {path}"

    # the trainer still reads the rewritten dataset: one example per decided finding of the other tenant
    run = wait_for_training(
        stack.predictor,
        stack.predictor.TrainModels(
            predictor_service_pb2.TrainModelsRequest(dataset_uri=parquet_uri), timeout=30
        ).training_run,
        timeout=300,
    )
    assert run.state == training_run_pb2.TRAINING_RUN_STATE_SUCCEEDED, run.error_message
    assert run.model_version.training_rows + run.model_version.test_rows == len(decided_other)


def test_rewrite_export_refuses_what_it_cannot_do(stack, monkeypatch, capsys, tmp_path):
    """A tenant id given for a hash, a folder with no export, a dataset outside the export root:
    usage errors (2) or failures (1) that say why, nothing written."""
    monkeypatch.setenv("CLOUDWASTE_EXPORT_ROOT", str(stack.export_root))
    monkeypatch.delenv("CLOUDWASTE_S3_ENDPOINT_URL", raising=False)
    digest = "ab" * 32
    with pytest.raises(SystemExit) as usage:
        cli(["rewrite-export", "--dataset-uri", stack.export_root.as_uri(), "--tenant-hash", TENANT])
    assert usage.value.code == 2
    err = capsys.readouterr().err
    assert "is not a tenant hash" in err and TENANT not in err  # the value is not echoed
    rc, out = rewrite_cli((stack.export_root / "nothing-here").as_uri(), [digest], capsys)
    assert rc == 1 and "no export manifest" in out
    rc, out = rewrite_cli(tmp_path.as_uri(), [digest], capsys)
    assert rc == 2 and "outside the storage root" in out
    with pytest.raises(grpc.RpcError) as bad:
        stack.scanner.ListErasures(scanner_service_pb2.ListErasuresRequest(page_token="junk"), timeout=10)
    assert bad.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as missing:
        stack.scanner.GetErasure(
            scanner_service_pb2.GetErasureRequest(name="erasures/0b6f2c1e-5d3a-4f7b-9c8e-1a2b3c4d5e6f"),
            timeout=10,
        )
    assert missing.value.code() == grpc.StatusCode.NOT_FOUND


def test_erasures_are_listed_newest_first_page_by_page(stack):
    names = [
        stack.scanner.EraseTenantData(
            scanner_service_pb2.EraseTenantDataRequest(tenant_id=f"tenant-{i}"), timeout=10
        ).erasure
        for i in range(3)
    ]
    seen, token = [], ""
    while True:
        page = stack.scanner.ListErasures(
            scanner_service_pb2.ListErasuresRequest(page_size=2, page_token=token), timeout=10
        )
        assert len(page.erasures) <= 2
        seen += [e.name for e in page.erasures]
        token = page.next_page_token
        if not token:
            break
    assert seen == names[::-1]
    # nothing to erase is still recorded, with the tenant's current hash and no export to rewrite
    (newest,) = stack.scanner.ListErasures(scanner_service_pb2.ListErasuresRequest(page_size=1)).erasures
    assert newest.ml_rows_deleted == 0 and list(newest.exports_to_rewrite) == []
    assert list(newest.tenant_hashes) == [keyed_hash(HASH_KEY, "tenant", "tenant-2")]
