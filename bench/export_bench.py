#!/usr/bin/env python
"""ML dataset export: the streaming exporter vs the naive pandas.read_sql + to_parquet, peak RSS and wall.

Usage:  python bench/export_bench.py [--rows N] [--json PATH]
        (the 10M-row memory run: --rows 10000000, about 25 minutes)

One run, every target judged against a baseline measured in the same run:
  setup     an embedded PostgreSQL, migrated, with two databases: N product-built ML rows (see
            _harness.ml_rows) and the first N/4 of them, in the scanner's monthly partitions
            (ensure_ml_partition), loaded with COPY, then VACUUM (FREEZE, ANALYZE).
  exporter  the first (full) export of the product: export_ml_dataset to a file:// folder, drained
            to the end; its month partitions, their sha256 and the manifest are verified.
  s3        the same export to moto's S3 server (started by this bench, outside the measured process).
  pandas    pandas.read_sql(SELECT <EXPORT_SCHEMA's columns, JSON columns as text>) + to_parquet(zstd).
  copy      PostgreSQL's own COPY ... TO STDOUT of the same columns: the floor any export pays.
  held      the N/4 export again, once every row has its scan's observation (as scans record
            them) and HELD_SHARE of them belong to RUNNING_SCANS scans still running, whose rows
            an export leaves out (export.UNFINISHED_SCAN): against the bare N/4 export.
Each method runs in its own fresh process, so its peak RSS (ru_maxrss) is its own.

Exit status: 0 when every target passes, 1 when one fails, 2 when the bench could not run.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

from _harness import Target, log, ml_rows, report_targets, run_in_tempdir  # bench/ is on sys.path

DEFAULT_ROWS = 1_000_000
RSS_VS_PANDAS = 0.5  # exporter peak RSS at N / pandas peak RSS at N, at most
VS_COPY = 2.0  # export wall time / COPY TO STDOUT of the same rows, at most
S3_VS_FILE = 2.0  # export to (moto's) S3 / to a local folder, at most
RSS_GROWTH = 1.5  # exporter peak RSS at N / at N/4, below (bounded memory)
PANDAS_MAX_ROWS = 2_000_000  # pandas holds the table: ~4 GB per million rows; above this it is skipped
RSS_VS_COPY = 2.0  # without pandas: exporter peak RSS / the COPY process's, at most
START, SPAN_DAYS = dt.datetime(2026, 3, 1, tzinfo=dt.UTC), 90
CHILD_TIMEOUT_S = 900
RUNNING_SCANS, HELD_SHARE = 20, 0.2  # scans still running, and the share of the rows they hold
HELD_VS_BARE = 1.5  # export with the scans' bookkeeping / without it, at most


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def prepare(url: str) -> None:
    """Migrated schema and the scanner's month partitions for the rows' detection period."""
    import sqlalchemy as sa
    from cloudwaste.core.migrate import upgrade
    from cloudwaste.core.partitions import ensure_for as ensure_ml_partition
    from sqlalchemy.orm import Session

    upgrade(url)
    engine = sa.create_engine(url)
    with Session(engine) as session, session.begin():
        for day in range(0, SPAN_DAYS + 2):
            ensure_ml_partition(session, START + dt.timedelta(days=day))
    engine.dispose()


def load(urls: tuple[str, str], n: int, seed: int) -> dict:
    """COPY the same N rows into urls[0] and the first N/4 of them into urls[1]."""
    import psycopg
    from cloudwaste.exporter.export import EXPORT_SCHEMA

    columns = ["id", *(c for c in EXPORT_SCHEMA.names if c != "changed_at")]  # changed_at: now()
    sql = f"COPY ml_training_data ({', '.join(columns)}) FROM STDIN"
    t0 = time.perf_counter()
    with psycopg.connect(_libpq(urls[0])) as full, psycopg.connect(_libpq(urls[1])) as quarter:
        with full.cursor().copy(sql) as cp_full, quarter.cursor().copy(sql) as cp_quarter:
            for i, (row, _) in enumerate(ml_rows(n, seed, start=START, span_days=SPAN_DAYS)):
                values = [json.dumps(v) if isinstance(v, dict) else v for v in map(row.get, columns)]
                cp_full.write_row(values)
                if i < n // 4:
                    cp_quarter.write_row(values)
    for url in urls:
        with psycopg.connect(_libpq(url), autocommit=True) as conn:
            conn.execute("VACUUM (FREEZE, ANALYZE) ml_training_data")
    return {"seconds": time.perf_counter() - t0}


# --- children: one method each, in a fresh process ---------------------------------------------


def _peak_rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def _export(url: str, storage, expect: int) -> dict:
    """The product's first export of the table to `storage`'s root, then its files verified."""
    import hashlib
    import uuid

    import pyarrow.parquet as pq
    from cloudwaste.exporter.export import Result, Window, export_ml_dataset, watermark

    t0 = time.perf_counter()
    window = Window(before=watermark(url))
    events = export_ml_dataset(url, storage.root.uri, uuid.uuid4(), storage=storage, window=window)
    result = [ev for ev in events if isinstance(ev, Result)][-1]
    wall, peak = time.perf_counter() - t0, _peak_rss_mb()
    with storage.open_input(result.manifest_uri) as fh:
        manifest = json.loads(fh.read())
    rows, sha_ok = 0, True
    for f in result.files:
        with storage.open_input(f.uri) as fh:
            sha_ok &= hashlib.sha256(fh.read()).hexdigest() == f.sha256
        with storage.open_input(f.uri) as fh:
            rows += pq.ParquetFile(fh).metadata.num_rows
    checks = {
        "rows": rows == expect == result.row_count == manifest["row_count"],
        "sha256 per file": sha_ok
        and [f["sha256"] for f in manifest["files"]] == [f.sha256 for f in result.files],
        "one file per month": len(result.files) == len({f.month for f in result.files}) > 1,
    }
    return {"wall_s": wall, "peak_rss_mb": peak, "file_mb": result.size_bytes / 1e6, "checks": checks}


def child_exporter(url: str, out: Path, expect: int) -> dict:
    from cloudwaste.core.storage import Storage

    return _export(url, Storage(out.as_uri()), expect)


def child_s3(url: str, out: Path, expect: int) -> dict:
    from cloudwaste.core.storage import Storage

    endpoint, bucket = os.environ["BENCH_S3_ENDPOINT"], os.environ["BENCH_S3_BUCKET"]
    storage = Storage(
        f"s3://{bucket}/{out.name}", s3_endpoint_url=endpoint, s3_region="us-east-1", staging_dir=out
    )
    return _export(url, storage, expect)


def child_pandas(url: str, out: Path, expect: int) -> dict:
    import pandas as pd
    import pyarrow.parquet as pq
    import sqlalchemy as sa
    from cloudwaste.exporter.export import EXPORT_SCHEMA

    path = out / "ml_training_data-pandas.parquet"
    engine = sa.create_engine(url)
    with engine.connect() as conn:  # JSON columns leave as text, as the exporter writes them
        jsonb = set(
            conn.execute(
                sa.text(
                    "SELECT column_name FROM information_schema.columns "
                    "WHERE table_name = 'ml_training_data' AND data_type = 'jsonb'"
                )
            ).scalars()
        )
    select = ", ".join(f"{c}::text AS {c}" if c in jsonb else c for c in EXPORT_SCHEMA.names)
    t0 = time.perf_counter()
    df = pd.read_sql(sa.text(f"SELECT {select} FROM ml_training_data"), engine)
    df.to_parquet(path, compression="zstd")
    wall, peak = time.perf_counter() - t0, _peak_rss_mb()
    engine.dispose()
    rows = pq.ParquetFile(path).metadata.num_rows
    return {
        "wall_s": wall,
        "peak_rss_mb": peak,
        "file_mb": path.stat().st_size / 1e6,
        "checks": {"rows": rows == expect},
    }


def child_copy(url: str, out: Path, expect: int) -> dict:
    """PostgreSQL's own COPY of the same columns to a file: the floor any export pays."""
    import psycopg
    from cloudwaste.exporter.export import EXPORT_SCHEMA, select_list

    path = out / "ml_training_data-copy.bin"
    t0 = time.perf_counter()
    with psycopg.connect(_libpq(url)) as conn, conn.cursor() as cur, path.open("wb") as fh:
        with cur.copy(
            f"COPY (SELECT {select_list()} FROM ml_training_data) TO STDOUT (FORMAT binary)"
        ) as copy:
            for chunk in copy:
                fh.write(chunk)
    wall, peak = time.perf_counter() - t0, _peak_rss_mb()
    assert len(EXPORT_SCHEMA) > 0
    return {"wall_s": wall, "peak_rss_mb": peak, "file_mb": path.stat().st_size / 1e6, "checks": {}}


CHILDREN = {
    "exporter": child_exporter,
    "held": child_exporter,  # the same export, of a table some running scans hold rows of
    "s3": child_s3,
    "pandas": child_pandas,
    "copy": child_copy,
}


def observe(url: str, running: int, share: float) -> int:
    """Gives every ML row of `url` its scan's observation, as the scanner records them: one finding
    each, observed by one finished scan, except `share` of the rows, observed by `running` scans
    still RUNNING. Returns how many rows those hold back."""
    import uuid

    import sqlalchemy as sa
    from cloudwaste.core.db import Database
    from cloudwaste.core.models import ScanRun
    from cloudwaste.core.settings import HashKey
    from cloudwaste.scanner.store import ScannerStore

    db = Database(url, pool_size=1)
    try:
        store = ScannerStore(db, HashKey(b"export-bench-hash-key-0123456789abcdef", "bench"))
        account = store.create_account(
            tenant_id="bench",
            provider="aws",
            display_name="bench",
            regions=["eu-west-1"],
            access={"account_id": "123456789012"},
            ml_collection_enabled=True,
        )
        runs = [uuid.uuid4() for _ in range(running + 1)]  # runs[0] finished
        with db.transaction() as s:
            s.execute(
                sa.insert(ScanRun),
                [
                    {"id": r, "cloud_account_id": account.id, "state": "SUCCEEDED" if i == 0 else "RUNNING"}
                    for i, r in enumerate(runs)
                ],
            )
            n = s.execute(sa.text("SELECT count(*) FROM ml_training_data")).scalar_one()
            held = int(n * share)
            s.execute(
                sa.text(
                    "INSERT INTO findings (id, cloud_account_id, last_scan_run_id, provider, resource_id, "
                    "resource_display_name, resource_type, region, scenario, severity, confidence, state, monthly_cost, currency, "
                    "evidence, tags, resource_config, event_time, create_time, cycle_start_time) "
                    "SELECT gen_random_uuid(), :account, :done, 'aws', 'vol-' || g, '', 'aws.ec2.volume', "
                    "'eu-west-1', 'ebs-volume-unattached', 'LOW', 'HIGH', 'OPEN', 1, 'USD', '{}', '{}', '{}', "
                    "now(), now(), now() FROM generate_series(1, :n) g"
                ),
                {"account": account.id, "done": runs[0], "n": n},
            )
            s.execute(
                sa.text(
                    "INSERT INTO finding_observations (scan_run_id, finding_id, monthly_cost, confidence, "
                    "ml_row_id, ml_row_detected_at) "
                    "SELECT CASE WHEN m.rn <= :held THEN (:running)[1 + m.rn % cardinality(:running)] "
                    "ELSE :done END, f.id, 1, 'HIGH', m.id, m.detected_at "
                    "FROM (SELECT id, detected_at, row_number() OVER (ORDER BY id) AS rn FROM ml_training_data) m "
                    "JOIN (SELECT id, row_number() OVER (ORDER BY id) AS rn FROM findings) f USING (rn)"
                ),
                {"held": held, "running": runs[1:], "done": runs[0]},
            )
        with db.engine.connect() as c:
            c.execution_options(isolation_level="AUTOCOMMIT").execute(
                sa.text("VACUUM ANALYZE findings, finding_observations, scan_runs")
            )
        return held
    finally:
        db.dispose()


def run_child(method: str, url: str, out: Path, expect: int) -> dict:
    """The method in a grandchild forked by /bin/sh: ru_maxrss survives execve, so a direct child of
    this (large) process would start from our peak; sh's fork starts from a few MB."""
    out.mkdir(parents=True, exist_ok=True)
    args = [sys.executable, str(Path(__file__).resolve()), "--child", method, url, str(out), str(expect)]
    proc = subprocess.Popen(
        ["/bin/sh", "-c", '"$0" "$@"; exit $?', *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        stdout, stderr = proc.communicate(timeout=CHILD_TIMEOUT_S)
    except BaseException:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    if proc.returncode != 0:
        raise RuntimeError(f"child {method} failed (exit {proc.returncode}):\n{stderr[-4000:]}")
    return {"method": method, "rows": expect, **json.loads(stdout.strip().splitlines()[-1])}


def run(args: argparse.Namespace, tmp: Path) -> dict:
    from cloudwaste.core.pg import EmbeddedPostgres

    n, q = args.rows, args.rows // 4
    pg = EmbeddedPostgres(tmp / "pg")
    moto = None
    try:
        import boto3
        from cloudwaste.sim.aws import start_moto

        moto = start_moto()  # in this process: the measured child only talks to it
        os.environ.update(
            BENCH_S3_ENDPOINT=moto.endpoint_url,
            BENCH_S3_BUCKET="cloudwaste-bench",
            AWS_ACCESS_KEY_ID="bench",
            AWS_SECRET_ACCESS_KEY="bench",
        )
        boto3.client("s3", endpoint_url=moto.endpoint_url, region_name="us-east-1").create_bucket(
            Bucket="cloudwaste-bench"
        )
        pg.start()
        urls = (pg.url, pg.create_database("cloudwaste_quarter"))
        for url in urls:
            prepare(url)
        loaded = load(urls, n, args.seed)
        log(f"loaded {n:,} + {q:,} product-built rows in {loaded['seconds']:.1f} s")
        runs = []
        plan = [("copy", urls[0], n), ("exporter", urls[0], n), ("s3", urls[0], n), ("exporter", urls[1], q)]
        if n <= PANDAS_MAX_ROWS and not args.skip_pandas:
            plan += [("pandas", urls[0], n), ("pandas", urls[1], q)]
        else:
            log(f"pandas skipped above {PANDAS_MAX_ROWS:,} rows (it would need ~{4 * n / 1e6:.0f} GB)")
        for method, url, rows in plan:
            log(f"measuring {method} at {rows:,} rows")
            runs.append(run_child(method, url, tmp / "out" / f"{len(runs)}-{method}", rows))
        held = observe(urls[1], RUNNING_SCANS, HELD_SHARE)
        log(f"measuring held at {q:,} rows: {held:,} of them held by {RUNNING_SCANS} running scans")
        runs.append({**run_child("held", urls[1], tmp / "out" / "held", q - held), "held": held})
    finally:
        pg.stop()
        if moto is not None:
            moto.stop()
    return {"rows": n, "quarter_rows": q, "load": loaded, "runs": runs}


def report(r: dict) -> tuple[list[Target], list[str]]:
    def get(method: str, rows: int) -> dict:
        return next(x for x in r["runs"] if x["method"] == method and x["rows"] == rows)

    print(f"\n{'method':<10}{'rows':>10}{'wall s':>9}{'peak RSS MB':>13}{'rows/s':>11}{'file MB':>9}")
    for x in r["runs"]:
        print(
            f"{x['method']:<10}{x['rows']:>10,}{x['wall_s']:>9.2f}{x['peak_rss_mb']:>13.0f}"
            f"{x['rows'] / x['wall_s']:>11,.0f}{x['file_mb']:>9.1f}"
        )
    n, q = r["rows"], r["quarter_rows"]
    cw, cwq, copy, s3 = get("exporter", n), get("exporter", q), get("copy", n), get("s3", n)
    held = next(x for x in r["runs"] if x["method"] == "held")
    held_vs_bare = held["wall_s"] / cwq["wall_s"]
    with_pandas = any(x["method"] == "pandas" for x in r["runs"])
    vs_copy = cw["wall_s"] / copy["wall_s"]
    s3_vs_file = s3["wall_s"] / cw["wall_s"]
    if with_pandas:
        pd_, pdq = get("pandas", n), get("pandas", q)
        print(f"wall at {n:,} rows: exporter / pandas = {cw['wall_s'] / pd_['wall_s']:.2f}x")
    failed = [
        f"{x['method']} at {x['rows']:,} rows: {k}"
        for x in r["runs"]
        for k, ok in x["checks"].items()
        if not ok
    ]
    for f in failed:
        print(f"CHECK FAILED  {f}")
    growth = cw["peak_rss_mb"] / cwq["peak_rss_mb"]
    if with_pandas:
        pd_growth = pd_["peak_rss_mb"] / pdq["peak_rss_mb"]
        rss_ratio = cw["peak_rss_mb"] / pd_["peak_rss_mb"]
        memory = [
            Target(
                f"exporter peak RSS at {n:,} rows <= {RSS_VS_PANDAS:g}x pandas",
                f"{cw['peak_rss_mb']:.0f} MB",
                f"pandas {pd_['peak_rss_mb']:.0f} MB",
                rss_ratio,
                rss_ratio <= RSS_VS_PANDAS,
            ),
            Target(
                f"exporter peak RSS {q:,} -> {n:,} rows grows < {RSS_GROWTH:g}x (bounded)",
                f"{growth:.2f}x ({cwq['peak_rss_mb']:.0f} -> {cw['peak_rss_mb']:.0f} MB)",
                f"pandas {pd_growth:.2f}x ({pdq['peak_rss_mb']:.0f} -> {pd_['peak_rss_mb']:.0f} MB)",
                growth / pd_growth,
                growth < RSS_GROWTH,
            ),
        ]
    else:
        rss_ratio = cw["peak_rss_mb"] / copy["peak_rss_mb"]
        memory = [
            Target(
                f"exporter peak RSS at {n:,} rows <= {RSS_VS_COPY:g}x the COPY process's",
                f"{cw['peak_rss_mb']:.0f} MB",
                f"COPY {copy['peak_rss_mb']:.0f} MB",
                rss_ratio,
                rss_ratio <= RSS_VS_COPY,
            ),
            Target(
                f"exporter peak RSS {q:,} -> {n:,} rows grows < {RSS_GROWTH:g}x (bounded)",
                f"{growth:.2f}x ({cwq['peak_rss_mb']:.0f} -> {cw['peak_rss_mb']:.0f} MB)",
                f"{RSS_GROWTH:g}x",
                growth / RSS_GROWTH,
                growth < RSS_GROWTH,
            ),
        ]
    return [
        Target(
            f"export of {n:,} rows to Parquet within {VS_COPY:g}x of PostgreSQL's COPY of them",
            f"{cw['wall_s']:.2f} s ({n / cw['wall_s']:,.0f} rows/s)",
            f"COPY TO STDOUT {copy['wall_s']:.2f} s",
            vs_copy,
            vs_copy <= VS_COPY,
        ),
        Target(
            f"export of {n:,} rows to S3 (moto) within {S3_VS_FILE:g}x of the same export to a folder",
            f"{s3['wall_s']:.2f} s ({n / s3['wall_s']:,.0f} rows/s)",
            f"file:// {cw['wall_s']:.2f} s ({n / cw['wall_s']:,.0f} rows/s)",
            s3_vs_file,
            s3_vs_file <= S3_VS_FILE,
        ),
        Target(
            f"export of {q:,} observed rows, {held['held']:,} held by {RUNNING_SCANS} running scans, "
            f"within {HELD_VS_BARE:g}x of the bare table's",
            f"{held['wall_s']:.2f} s ({held['rows']:,} rows exported)",
            f"bare {cwq['wall_s']:.2f} s",
            held_vs_bare,
            held_vs_bare <= HELD_VS_BARE,
        ),
        *memory,
    ], failed


def main(argv: list[str] | None = None) -> int:
    if argv is None and len(sys.argv) == 6 and sys.argv[1] == "--child":
        method, url, out, expect = sys.argv[2:]
        print(json.dumps(CHILDREN[method](url, Path(out), int(expect))))
        return 0
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="rows in the large database (N)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument(
        "--skip-pandas",
        action="store_true",
        help=f"no pandas baseline (always above {PANDAS_MAX_ROWS:,} rows)",
    )
    ap.add_argument("--json", type=Path, help="also write the numbers here")
    args = ap.parse_args(argv)
    if args.rows < 4_000:
        ap.error("--rows must be at least 4000")
    r = run_in_tempdir(
        "cloudwaste-export-bench-", lambda tmp: run(args, tmp), lambda tmp: [tmp / "pg" / "server.log"]
    )
    if r is None:
        return 2
    targets, failed = report(r)
    if args.json:
        args.json.write_text(json.dumps({**r, "targets": [t.__dict__ for t in targets]}, indent=2))
    status = report_targets(targets)
    return 1 if failed else status


if __name__ == "__main__":
    sys.exit(main())
