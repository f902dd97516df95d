#!/usr/bin/env python
"""ML dataset export benchmark: export_ml_dataset vs the naive pandas.read_sql + to_parquet.

Usage:  python bench/export_bench.py [--rows N] [--json PATH]

Everything is measured in ONE run and judged as ratios against a baseline measured in the same run
(never as a timed unit test, whose absolute numbers depend on the machine):

  setup       an embedded PostgreSQL in a temp folder, migrated; two databases, one with N rows and
              one with the first N/4 of the same rows, in monthly partitions of ml_training_data,
              loaded with COPY FROM STDIN (text format), then VACUUM (FREEZE, ANALYZE) so no
              method pays for hint bits. Rows are detections of a pool of synthetic resources
              (keyed-hash style 64-hex hashes, the scanner's kinds/scenarios/config allow-list,
              anonymized tags, temporal features, labels) spread over 3 months.
  cloudwaste  export_ml_dataset(url, folder, uuid4()) drained fully; the Parquet row count must be N
              and the manifest's sha256/size/row_count must match the file.
  pandas      pandas.read_sql(SELECT <the same columns, jsonb::text> FROM ml_training_data, engine)
              then df.to_parquet(path, compression="zstd") -- the approach the issue forbids.
  copy-floor  (reference only) COPY (the exporter's SELECT, same ORDER BY) TO STDOUT, discarded:
              what PostgreSQL and the wire cost alone, without Parquet.

Every method runs in its own child process (this script with the hidden --child flag), so its peak
RSS (getrusage(RUSAGE_SELF).ru_maxrss) is its own; the child also reports the RSS right after its
imports, its CPU time, and (cloudwaste) when each phase ended, read off the Progress/Result yields.
The parent reads PostgreSQL's temp-file counters around every child to show on-disk sorts.

Checks: peak RSS pandas / cloudwaste >= 2 at N, and cloudwaste RSS(N) / RSS(N/4) < 1.5.
Exit code: 0 when both hold (and the cloudwaste output verified), 1 when one does not (printed),
2 when the bench itself could not run (e.g. PostgreSQL binaries missing).
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import platform
import random
import resource
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

from _harness import run_in_tempdir  # bench/ is on sys.path when run as a script

DEFAULT_ROWS = 300_000
TARGET_RSS_RATIO = 2.0  # pandas peak RSS / cloudwaste peak RSS at N, at least
TARGET_RSS_SCALING = 1.5  # cloudwaste peak RSS at N / at N/4, below
CHILD_TIMEOUT_S = 600

# The exporter's columns (EXPORT_SCHEMA order); the parent checks they still match.
COLUMNS = [
    "detected_at",
    "schema_version",
    "hash_key_id",
    "resource_hash",
    "account_hash",
    "tenant_hash",
    "provider",
    "resource_type",
    "region_group",
    "detection_scenario",
    "confidence_level",
    "resource_age_days",
    "cost_monthly",
    "cost_real_monthly",
    "cost_variance_pct",
    "metrics_summary",
    "resource_config",
    "tags_anonymized",
    "parent_resource_hash",
    "parent_resource_type",
    "parent_resource_state",
    "temporal_features",
    "user_action",
    "time_to_action_hours",
    "labeled_at",
    "enriched_at",
]
JSONB_COLUMNS = {"metrics_summary", "resource_config", "tags_anonymized", "temporal_features"}
SELECT_LIST = ", ".join(f"{c}::text" if c in JSONB_COLUMNS else c for c in COLUMNS)
COPY_COLUMNS = ["id", *COLUMNS]

# Three whole months of detections.
PERIOD_START = dt.datetime(2026, 3, 1, tzinfo=dt.UTC)
PERIOD_MONTHS = 3

# ---------------------------------------------------------------------------------------------
# Synthetic but realistic rows: what the scanner's AWS rules and the enricher write.
# ---------------------------------------------------------------------------------------------

REGION_GROUPS = ["north-america", "europe", "asia-pacific", "south-america"]
REGION_GROUP_WEIGHTS = [53, 32, 13, 2]
KIND_WEIGHTS = {
    "aws.ec2.volume": 30,
    "aws.ec2.elastic_ip": 10,
    "aws.ec2.instance": 20,
    "aws.ec2.snapshot": 25,
    "aws.ec2.nat_gateway": 5,
    "aws.elbv2.load_balancer": 10,
}
SCENARIOS = {
    "aws.ec2.volume": "ebs-volume-unattached",
    "aws.ec2.elastic_ip": "eip-unassociated",
    "aws.ec2.instance": "ec2-instance-stopped",
    "aws.ec2.snapshot": "snapshot-orphaned",
    "aws.ec2.nat_gateway": "nat-gateway-idle",
    "aws.elbv2.load_balancer": "load-balancer-no-targets",
}
ENVIRONMENTS = ["prod", "staging", "dev", "test", "qa", "sandbox", "dr", "shared", "other"]
ENV_WEIGHTS = [30, 12, 22, 10, 5, 6, 3, 4, 3]
ACTIONS = ["deleted", "kept", "ignored", None]
ACTION_WEIGHTS = [35, 20, 10, 35]
INSTANCE_TYPES = ["t3.micro", "t3.medium", "m5.large", "m5.xlarge", "c6g.large", "r5.2xlarge"]


def _hex(rnd: random.Random, bits: int = 256) -> str:
    return "%0*x" % (bits // 4, rnd.getrandbits(bits))


def _config(kind: str, rnd: random.Random) -> tuple[dict, float]:
    """The allow-listed resource_config of one resource and its list-price monthly cost."""
    if kind == "aws.ec2.volume":
        vt = rnd.choice(["gp2", "gp3", "gp3", "io1", "st1", "sc1"])
        size = rnd.choice([8, 20, 50, 100, 200, 500, 1000])
        cfg = {"volume_type": vt, "size_gb": size, "iops": 3000 if vt == "gp3" else size * 3}
        cfg["encrypted"] = rnd.random() < 0.6
        return cfg, size * {"gp2": 0.10, "gp3": 0.08, "io1": 0.125, "st1": 0.045, "sc1": 0.015}[vt]
    if kind == "aws.ec2.elastic_ip":
        return {"domain": "vpc", "associated": False}, 3.65
    if kind == "aws.ec2.instance":
        it = rnd.choice(INSTANCE_TYPES)
        cfg = {
            "instance_type": it,
            "architecture": "arm64" if it.startswith("c6g") else "x86_64",
            "platform": "windows" if rnd.random() < 0.1 else "linux",
            "state": "stopped",
        }
        return cfg, rnd.choice([8, 30, 100, 250]) * 0.08
    if kind == "aws.ec2.snapshot":
        size = rnd.choice([8, 50, 100, 500, 1000])
        tier = "archive" if rnd.random() < 0.1 else "standard"
        return {"size_gb": size, "encrypted": rnd.random() < 0.5, "storage_tier": tier}, size * 0.05
    if kind == "aws.ec2.nat_gateway":
        return {"connectivity_type": rnd.choice(["public", "public", "private"])}, 32.85
    cfg = {
        "type": rnd.choice(["application", "network"]),
        "scheme": rnd.choice(["internet-facing", "internal"]),
        "target_group_count": rnd.randint(0, 3),
    }
    return cfg, rnd.choice([16.43, 18.40, 22.27])


def _tags(rnd: random.Random) -> dict:
    tags: dict[str, str] = {}
    if rnd.random() < 0.85:
        tags["environment"] = rnd.choices(ENVIRONMENTS, ENV_WEIGHTS)[0]
    if rnd.random() < 0.35:
        tags["criticality"] = rnd.choice(["high", "medium", "low"])
    if rnd.random() < 0.30:
        tags["backup"] = rnd.choice(["required", "none"])
    if rnd.random() < 0.20:
        tags["lifecycle"] = rnd.choice(["permanent", "temporary"])
    return dict(sorted(tags.items()))


def _temporal(created: dt.datetime) -> dict:
    weekend = created.weekday() >= 5
    return {
        "created_hour_of_day": created.hour,
        "created_day_of_week": created.weekday(),
        "created_day_of_month": created.day,
        "created_on_weekend": weekend,
        "created_in_business_hours": (not weekend) and 9 <= created.hour < 18,
    }


def make_resources(n: int, rnd: random.Random) -> list[dict]:
    """A pool of resources; every row is one detection of one of them (they recur across scans)."""
    tenants = [_hex(rnd) for _ in range(40)]
    accounts = [(_hex(rnd), rnd.choice(tenants)) for _ in range(300)]
    kinds, kind_w = list(KIND_WEIGHTS), list(KIND_WEIGHTS.values())
    out = []
    for _ in range(n):
        kind = rnd.choices(kinds, kind_w)[0]
        account, tenant = rnd.choice(accounts)
        cfg, cost = _config(kind, rnd)
        created = PERIOD_START - dt.timedelta(
            days=rnd.lognormvariate(3.3, 1.2), seconds=rnd.randint(0, 86399)
        )
        parent = (None, None, None)
        if kind == "aws.ec2.volume" and rnd.random() < 0.5:
            parent = (_hex(rnd), "aws.ec2.instance", rnd.choice(["terminated", "stopped"]))
        elif kind == "aws.ec2.snapshot" and rnd.random() < 0.7:
            parent = (_hex(rnd), "aws.ec2.volume", "deleted")
        out.append(
            {
                "hash": _hex(rnd),
                "account": account,
                "tenant": tenant,
                "kind": kind,
                "region_group": rnd.choices(REGION_GROUPS, REGION_GROUP_WEIGHTS)[0],
                "config": json.dumps(cfg),
                "cost": cost,
                "created": created.timestamp(),
                "tags": json.dumps(_tags(rnd)),
                "temporal": json.dumps(_temporal(created)),
                "parent": parent,
                "key_id": "k1" if rnd.random() < 0.8 else "k2",
            }
        )
    return out


def _confidence(kind: str, age: float, rnd: random.Random) -> str:
    if kind == "aws.ec2.volume":
        return "LOW" if age < 7 else ("MEDIUM" if age < 30 else "HIGH")
    if kind == "aws.ec2.elastic_ip":
        return "HIGH"
    if kind == "aws.ec2.instance":
        return "HIGH" if age >= 90 else "MEDIUM"
    if kind == "aws.ec2.snapshot":
        return "HIGH" if age >= 365 else "MEDIUM"
    return "HIGH" if age >= 30 or rnd.random() < 0.5 else "MEDIUM"


def _ts(epoch: float) -> str:
    return dt.datetime.fromtimestamp(epoch, dt.UTC).isoformat()


def _num(x: float | None) -> str:
    return r"\N" if x is None else repr(x)


def _txt(x: str | None) -> str:
    return r"\N" if x is None else x


def copy_lines(resources: list[dict], n: int, rnd: random.Random, span_s: float) -> list[str]:
    """n rows as COPY text-format lines (columns COPY_COLUMNS). No value holds a tab, newline or
    backslash, so nothing needs escaping."""
    t0 = PERIOD_START.timestamp()
    lines = []
    picks = rnd.choices(resources, k=n)
    actions = rnd.choices(ACTIONS, ACTION_WEIGHTS, k=n)
    for res, action in zip(picks, actions, strict=True):
        detected = t0 + rnd.random() * span_s
        age = round((detected - res["created"]) / 86400.0, 3)
        kind = res["kind"]
        cost = round(res["cost"] * rnd.uniform(0.95, 1.05), 2)
        if rnd.random() < 0.6:
            real = round(cost * rnd.uniform(0.7, 1.2), 2)
            variance = round((real - cost) / cost * 100.0, 2)
        else:
            real = variance = None
        if kind in ("aws.ec2.instance", "aws.ec2.nat_gateway", "aws.elbv2.load_balancer"):
            metrics = json.dumps(
                {
                    "cpu_avg_14d": round(rnd.uniform(0, 3), 3),
                    "cpu_p95_14d": round(rnd.uniform(0, 8), 3),
                    "network_bytes_14d": rnd.randint(0, 5_000_000),
                    "datapoints": 336,
                }
            )
        elif kind == "aws.ec2.volume":
            metrics = json.dumps(
                {"read_ops_14d": 0, "write_ops_14d": rnd.choice([0, 0, 0, 12]), "datapoints": 336}
            )
        else:
            metrics = None
        enriched = rnd.random() < 0.9
        if action is None:
            tta = labeled = None
        else:
            tta = round(rnd.expovariate(1 / 36.0), 2)
            labeled = _ts(detected + tta * 3600)
        phash, ptype, pstate = res["parent"]
        lines.append(
            "\t".join(
                (
                    "%032x" % (rnd.getrandbits(128) & ~(0xF << 76) | (0x4 << 76)),
                    _ts(detected),
                    "1",
                    res["key_id"],
                    res["hash"],
                    res["account"],
                    res["tenant"],
                    "aws",
                    kind,
                    res["region_group"],
                    SCENARIOS[kind],
                    _confidence(kind, age, rnd),
                    _num(age),
                    _num(cost),
                    _num(real),
                    _num(variance),
                    _txt(metrics),
                    res["config"],
                    res["tags"] if enriched else r"\N",
                    _txt(phash),
                    _txt(ptype),
                    _txt(pstate),
                    res["temporal"] if enriched else r"\N",
                    _txt(action),
                    _num(tta),
                    _txt(labeled),
                    _ts(detected + rnd.randint(60, 7200)) if enriched else r"\N",
                )
            )
            + "\n"
        )
    return lines


# ---------------------------------------------------------------------------------------------
# Setup
# ---------------------------------------------------------------------------------------------


def _months() -> list[tuple[dt.datetime, dt.datetime]]:
    out, start = [], PERIOD_START
    for _ in range(PERIOD_MONTHS):
        end = dt.datetime(start.year + (start.month == 12), start.month % 12 + 1, 1, tzinfo=dt.UTC)
        out.append((start, end))
        start = end
    return out


def _libpq(url: str) -> str:
    return url.replace("postgresql+psycopg://", "postgresql://", 1)


def prepare_database(url: str) -> None:
    """Migrated schema plus the monthly partitions the rows fall in."""
    import psycopg
    from cloudwaste.core.migrate import upgrade

    upgrade(url)
    with psycopg.connect(_libpq(url), autocommit=True) as conn:
        for start, end in _months():
            name = f"ml_training_data_y{start.year}m{start.month:02d}"
            conn.execute(
                f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF ml_training_data "
                f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
            )


def load(urls: list[str], n: int, seed: int, chunk: int = 20_000) -> dict:
    """Streams the same N rows into urls[0] and the first N/4 of them into urls[1], with COPY."""
    import psycopg

    rnd = random.Random(seed)
    t0 = time.perf_counter()
    resources = make_resources(max(2_000, n // 6), rnd)
    span_s = (_months()[-1][1] - PERIOD_START).total_seconds()
    t_pool = time.perf_counter() - t0
    quarter = n // 4
    copy_sql = f"COPY ml_training_data ({', '.join(COPY_COLUMNS)}) FROM STDIN"
    gen_s = 0.0
    bytes_total = 0
    with psycopg.connect(_libpq(urls[0])) as c_full, psycopg.connect(_libpq(urls[1])) as c_quarter:
        with c_full.cursor().copy(copy_sql) as cp_full, c_quarter.cursor().copy(copy_sql) as cp_quarter:
            done = 0
            while done < n:
                g = time.perf_counter()
                lines = copy_lines(resources, min(chunk, n - done), rnd, span_s)
                data = "".join(lines).encode()
                gen_s += time.perf_counter() - g
                cp_full.write(data)
                bytes_total += len(data)
                if done < quarter:
                    cp_quarter.write("".join(lines[: quarter - done]).encode())
                done += len(lines)
    for url in urls:
        with psycopg.connect(_libpq(url), autocommit=True) as conn:
            conn.execute("VACUUM (FREEZE, ANALYZE) ml_training_data")
    return {
        "seconds": time.perf_counter() - t0,
        "generate_seconds": t_pool + gen_s,
        "copy_text_mb": bytes_total / 1e6,
        "resources": len(resources),
        "quarter_rows": quarter,
        "quarter_table_mb": table_mb(urls[1]),
    }


def table_mb(url: str) -> float:
    import psycopg

    with psycopg.connect(_libpq(url)) as conn:
        rows = conn.execute(
            "SELECT pg_total_relation_size(inhrelid) FROM pg_inherits "
            "WHERE inhparent = 'ml_training_data'::regclass"
        ).fetchall()
    return sum(s for (s,) in rows) / 1e6


def temp_counters(url: str) -> tuple[int, int]:
    import psycopg

    with psycopg.connect(_libpq(url), autocommit=True) as conn:
        # A backend flushes its temp-file counters when it exits, a moment after its client is gone.
        deadline = time.monotonic() + 3.0
        while (
            time.monotonic() < deadline
            and conn.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ).fetchone()[0]
        ):
            time.sleep(0.05)
        conn.execute("SELECT pg_stat_clear_snapshot()")
        return conn.execute(
            "SELECT temp_files, temp_bytes FROM pg_stat_database WHERE datname = current_database()"
        ).fetchone()


# ---------------------------------------------------------------------------------------------
# Children: one method each, in a fresh process
# ---------------------------------------------------------------------------------------------


def _rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0  # KiB on Linux


def _vmhwm_mb() -> float | None:
    """This process's own peak RSS (/proc/self/status VmHWM), a cross-check of ru_maxrss."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024.0
    except OSError:
        pass
    return None


def _cpu_s() -> float:
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def child_cloudwaste(url: str, out: Path, expect: int) -> dict:
    import hashlib
    import uuid

    import pyarrow.parquet as pq
    from cloudwaste.exporter.export import Progress, Result, export_ml_dataset

    import_rss, cpu0 = _rss_mb(), _cpu_s()
    t0 = time.perf_counter()
    marks: dict[str, float] = {}
    result = None
    progress_events = 0
    last = t0
    for ev in export_ml_dataset(url, out, uuid.uuid4()):
        now = time.perf_counter()
        if isinstance(ev, Progress):
            progress_events += 1
            if progress_events == 1:
                marks["count"] = now - t0
            elif progress_events == 2:
                marks["first_batch"] = now - t0
            last = now
        elif isinstance(ev, Result):
            result = ev
    wall = time.perf_counter() - t0
    peak, hwm, cpu = _rss_mb(), _vmhwm_mb(), _cpu_s() - cpu0
    marks["batches_done"] = last - t0
    marks["finalize"] = wall - (last - t0)  # sha256 + fsync + rename + manifest
    if result is None:
        raise RuntimeError("export_ml_dataset ended without yielding a Result")
    checks: dict[str, bool] = {}
    manifest = json.loads(result.manifest_path.read_text())
    digest = hashlib.sha256()
    with result.dataset_path.open("rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    parquet_rows = pq.ParquetFile(result.dataset_path).metadata.num_rows
    checks["parquet_rows_eq_n"] = parquet_rows == expect
    checks["result_rows_eq_n"] = result.row_count == expect
    checks["manifest_rows_eq_n"] = manifest["row_count"] == expect
    checks["manifest_sha256_matches_file"] = manifest["sha256"] == digest.hexdigest() == result.sha256
    checks["manifest_size_matches_file"] = manifest["size_bytes"] == result.dataset_path.stat().st_size
    return {
        "wall_s": wall,
        "peak_rss_mb": peak,
        "vmhwm_mb": hwm,
        "import_rss_mb": import_rss,
        "cpu_s": cpu,
        "rows": parquet_rows,
        "file_mb": result.size_bytes / 1e6,
        "progress_events": progress_events,
        "phases_s": marks,
        "checks": checks,
    }


def child_pandas(url: str, out: Path, expect: int) -> dict:
    import pandas as pd
    import pyarrow.parquet as pq
    import sqlalchemy as sa

    import_rss, cpu0 = _rss_mb(), _cpu_s()
    path = out / "ml_training_data-pandas.parquet"
    t0 = time.perf_counter()
    engine = sa.create_engine(url)
    df = pd.read_sql(sa.text(f"SELECT {SELECT_LIST} FROM ml_training_data"), engine)
    t_read = time.perf_counter() - t0
    df.to_parquet(path, compression="zstd")
    wall = time.perf_counter() - t0
    peak, hwm, cpu = _rss_mb(), _vmhwm_mb(), _cpu_s() - cpu0
    engine.dispose()
    rows = pq.ParquetFile(path).metadata.num_rows
    return {
        "wall_s": wall,
        "peak_rss_mb": peak,
        "vmhwm_mb": hwm,
        "import_rss_mb": import_rss,
        "cpu_s": cpu,
        "rows": rows,
        "file_mb": path.stat().st_size / 1e6,
        "phases_s": {"read_sql": t_read, "to_parquet": wall - t_read},
        "checks": {"parquet_rows_eq_n": rows == expect},
    }


def child_copy_floor(url: str, out: Path, expect: int) -> dict:
    import psycopg

    import_rss, cpu0 = _rss_mb(), _cpu_s()
    t0 = time.perf_counter()
    n_bytes = n_lines = 0
    with psycopg.connect(_libpq(url)) as conn, conn.cursor() as cur:
        sql = f"COPY (SELECT {SELECT_LIST} FROM ml_training_data ORDER BY detected_at, id) TO STDOUT"
        with cur.copy(sql) as cp:
            for block in cp:
                n_bytes += len(block)
                n_lines += bytes(block).count(b"\n")
    wall = time.perf_counter() - t0
    return {
        "wall_s": wall,
        "peak_rss_mb": _rss_mb(),
        "vmhwm_mb": _vmhwm_mb(),
        "import_rss_mb": import_rss,
        "cpu_s": _cpu_s() - cpu0,
        "rows": n_lines,
        "file_mb": None,
        "copy_text_mb": n_bytes / 1e6,
        "checks": {"rows_eq_n": n_lines == expect},
    }


CHILDREN = {"cloudwaste": child_cloudwaste, "pandas": child_pandas, "copy-floor": child_copy_floor}


def run_child(method: str, url: str, out: Path, expect: int) -> dict:
    out.mkdir(parents=True, exist_ok=True)
    before = temp_counters(url)
    t0 = time.perf_counter()
    # Through a small /bin/sh that forks: on Linux ru_maxrss survives execve and starts from the
    # hiwater RSS of the process that exec'd (with vfork, this big parent's), so a direct child would
    # report max(parent peak, own peak). The grandchild forked by sh starts from sh's few MB.
    # Its own session (process group), so a timeout or Ctrl-C ends sh and the grandchild together.
    proc = subprocess.Popen(
        [
            "/bin/sh",
            "-c",
            '"$0" "$@"; exit $?',
            sys.executable,
            str(Path(__file__).resolve()),
            "--child",
            method,
            "--url",
            url,
            "--out",
            str(out),
            "--expect",
            str(expect),
        ],
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
    process_wall = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"child {method} failed (exit {proc.returncode}):\n{stderr[-4000:]}")
    r = json.loads(stdout.strip().splitlines()[-1])
    after = temp_counters(url)
    r["method"], r["n"], r["process_wall_s"] = method, expect, process_wall
    r["pg_temp_files"], r["pg_temp_mb"] = after[0] - before[0], (after[1] - before[1]) / 1e6
    r["rows_per_s"] = expect / r["wall_s"] if r["wall_s"] > 0 else float("nan")
    shutil.rmtree(out, ignore_errors=True)
    return r


# ---------------------------------------------------------------------------------------------
# Parent
# ---------------------------------------------------------------------------------------------


def run(args: argparse.Namespace, tmp: Path) -> dict:
    from cloudwaste.core.pg import EmbeddedPostgres
    from cloudwaste.exporter.export import EXPORT_SCHEMA

    if EXPORT_SCHEMA.names != COLUMNS:
        raise RuntimeError(f"EXPORT_SCHEMA changed; update COLUMNS in this bench: {EXPORT_SCHEMA.names}")
    n, q = args.rows, args.rows // 4
    r: dict = {"rows": n, "quarter_rows": q}
    pg = EmbeddedPostgres(tmp / "pg")
    try:
        t = time.perf_counter()
        pg.start()
        url_full = pg.url
        url_quarter = pg.create_database("cloudwaste_quarter")
        for url in (url_full, url_quarter):
            prepare_database(url)
        r["pg_start_migrate_s"] = time.perf_counter() - t
        print(
            f"setup: PostgreSQL up and migrated in {r['pg_start_migrate_s']:.1f} s; loading {n:,} rows ...",
            flush=True,
        )
        r["load"] = load([url_full, url_quarter], n, args.seed)
        r["load"]["table_mb"] = table_mb(url_full)
        ld = r["load"]
        print(
            f"setup: loaded {n:,} + {q:,} rows in {ld['seconds']:.1f} s (generation {ld['generate_seconds']:.1f} s, "
            f"{ld['copy_text_mb']:.0f} MB COPY text; table {ld['table_mb']:.0f} MB)",
            flush=True,
        )
        runs = []
        plan = [
            ("cloudwaste", url_full, n),
            ("pandas", url_full, n),
            ("cloudwaste", url_quarter, q),
            ("pandas", url_quarter, q),
        ]
        if not args.no_floor:
            plan.append(("copy-floor", url_full, n))
        for i, (method, url, rows) in enumerate(plan):
            print(f"measuring {method} at {rows:,} rows ...", flush=True)
            runs.append(run_child(method, url, tmp / "out" / f"{i}-{method}", rows))
        r["runs"] = runs
    finally:
        pg.stop()
    return r


def _fmt(x: float | None, spec: str) -> str:
    return "-" if x is None else format(x, spec)


def report(r: dict) -> list[tuple[str, float, str, float, bool]]:
    runs = r["runs"]

    def get(method: str, n: int) -> dict:
        return next(x for x in runs if x["method"] == method and x["n"] == n)

    n, q = r["rows"], r["quarter_rows"]
    print()
    hdr = (
        f"{'method':<12}{'rows':>10}{'wall s':>9}{'cpu s':>8}{'peak RSS MB':>13}{'VmHWM':>8}{'import RSS':>12}"
        f"{'rows/s':>11}{'file MB':>9}{'pg temp MB':>12}"
    )
    print(hdr)
    print("-" * len(hdr))
    for x in runs:
        print(
            f"{x['method']:<12}{x['n']:>10,}{x['wall_s']:>9.2f}{x['cpu_s']:>8.2f}{x['peak_rss_mb']:>13.0f}"
            f"{_fmt(x.get('vmhwm_mb'), '.0f'):>8}{x['import_rss_mb']:>12.0f}{x['rows_per_s']:>11,.0f}"
            f"{_fmt(x.get('file_mb'), '.1f'):>9}{x['pg_temp_mb']:>12.0f}"
        )
    print(
        "(wall/cpu: the method's work in its child, imports excluded; peak RSS: the child's ru_maxrss,"
        " VmHWM its cross-check; import RSS: ru_maxrss right after the child's imports; pg temp: bytes"
        " PostgreSQL spilled to temp files during the run)"
    )
    for x in runs:
        hwm = x.get("vmhwm_mb")
        if hwm is not None and abs(x["peak_rss_mb"] - hwm) > max(5.0, 0.05 * hwm):
            print(
                f"WARNING: {x['method']} at {x['n']:,}: ru_maxrss {x['peak_rss_mb']:.0f} MB != VmHWM {hwm:.0f} MB"
            )
    cw, pd_, cwq, pdq = get("cloudwaste", n), get("pandas", n), get("cloudwaste", q), get("pandas", q)
    ph = cw["phases_s"]
    print()
    print(
        f"cloudwaste phases at N: count(*) {ph['count']:.2f} s, first batch {ph['first_batch'] - ph['count']:.2f} s"
        f" (execute, server-side sort, first fetch), remaining batches "
        f"{ph['batches_done'] - ph['first_batch']:.2f} s, finalize (sha256, fsync, manifest) {ph['finalize']:.2f} s"
    )
    pph = pd_["phases_s"]
    print(f"pandas phases at N: read_sql {pph['read_sql']:.2f} s, to_parquet {pph['to_parquet']:.2f} s")
    floor = next((x for x in runs if x["method"] == "copy-floor"), None)
    if floor:
        print(f"copy-floor at N (PostgreSQL + wire, sorted, no Parquet): {floor['wall_s']:.2f} s")
    fails = [
        f"cloudwaste verification at {x['n']:,}: {k}"
        for x in (cw, cwq)
        for k, ok in x["checks"].items()
        if not ok
    ]
    fails += [f"pandas row count at {x['n']:,}" for x in (pd_, pdq) if not all(x["checks"].values())]
    for f in fails:
        print(f"CHECK FAILED: {f}")

    ratios = {
        "pandas_over_cloudwaste_rss": pd_["peak_rss_mb"] / cw["peak_rss_mb"],
        "pandas_over_cloudwaste_wall": pd_["wall_s"] / cw["wall_s"],
        "cloudwaste_rss_n_over_quarter": cw["peak_rss_mb"] / cwq["peak_rss_mb"],
        "pandas_rss_n_over_quarter": pd_["peak_rss_mb"] / pdq["peak_rss_mb"],
        "cloudwaste_rss_growth_mb": cw["peak_rss_mb"] - cwq["peak_rss_mb"],
        "pandas_rss_growth_mb": pd_["peak_rss_mb"] - pdq["peak_rss_mb"],
        "cloudwaste_rss_above_imports_n_over_quarter": (cw["peak_rss_mb"] - cw["import_rss_mb"])
        / max(cwq["peak_rss_mb"] - cwq["import_rss_mb"], 1e-9),
    }
    r["ratios"] = ratios
    print()
    print(f"peak RSS  pandas / cloudwaste at N     : {ratios['pandas_over_cloudwaste_rss']:.2f}x")
    print(f"wall      pandas / cloudwaste at N     : {ratios['pandas_over_cloudwaste_wall']:.2f}x")
    print(
        f"peak RSS  cloudwaste N / N/4           : {ratios['cloudwaste_rss_n_over_quarter']:.2f}x "
        f"(+{ratios['cloudwaste_rss_growth_mb']:.0f} MB; above-import RSS "
        f"{ratios['cloudwaste_rss_above_imports_n_over_quarter']:.2f}x)"
    )
    print(
        f"peak RSS  pandas N / N/4               : {ratios['pandas_rss_n_over_quarter']:.2f}x "
        f"(+{ratios['pandas_rss_growth_mb']:.0f} MB)"
    )
    verdicts = [
        (
            "peak RSS pandas/cloudwaste at N",
            ratios["pandas_over_cloudwaste_rss"],
            ">=",
            TARGET_RSS_RATIO,
            ratios["pandas_over_cloudwaste_rss"] >= TARGET_RSS_RATIO,
        ),
        (
            "peak RSS cloudwaste N/(N/4)",
            ratios["cloudwaste_rss_n_over_quarter"],
            "<",
            TARGET_RSS_SCALING,
            ratios["cloudwaste_rss_n_over_quarter"] < TARGET_RSS_SCALING,
        ),
    ]
    verdicts += [(f, float("nan"), "", 0.0, False) for f in fails]
    print()
    for name, value, cmp, target, met in verdicts[:2]:
        print(f"{'PASS' if met else 'FAIL'}  {name} = {value:.2f} (target {cmp} {target})")
    return verdicts


def child_main(args: argparse.Namespace) -> int:
    r = CHILDREN[args.child](args.url, Path(args.out), args.expect)
    print(json.dumps(r))
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--rows", type=int, default=DEFAULT_ROWS, help="rows in the large database (N)")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--json", type=Path, help="write the numbers to this file")
    ap.add_argument("--no-floor", action="store_true", help="skip the COPY TO STDOUT reference run")
    ap.add_argument("--child", choices=sorted(CHILDREN), help=argparse.SUPPRESS)
    ap.add_argument("--url", help=argparse.SUPPRESS)
    ap.add_argument("--out", help=argparse.SUPPRESS)
    ap.add_argument("--expect", type=int, help=argparse.SUPPRESS)
    args = ap.parse_args(argv)
    if args.child:
        return child_main(args)
    if args.rows < 4_000:
        ap.error("--rows must be at least 4000")

    started = time.perf_counter()
    r = run_in_tempdir(
        "cloudwaste-export-bench-", lambda tmp: run(args, tmp), lambda tmp: [tmp / "pg" / "server.log"]
    )
    if r is None:
        return 2

    verdicts = report(r)
    r["total_wall_s"] = time.perf_counter() - started
    r["machine"] = {
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "platform": platform.platform(),
    }
    r["targets"] = [{"name": n, "value": v, "cmp": c, "target": t, "met": m} for n, v, c, t, m in verdicts]
    print(f"\ntotal wall time {r['total_wall_s']:.1f} s")
    if args.json:
        args.json.write_text(json.dumps(r, indent=2, default=str))
    missed = [name for name, *_, met in verdicts if not met]
    if missed:
        print("FAILED: " + "; ".join(missed))
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
