#!/usr/bin/env python
"""Enrichment of a 5,000-finding scan with full metric history, against the same scan without it.

Usage:  python bench/enrich_bench.py [--findings 5000] [--json PATH]

One embedded PostgreSQL holding one scan run handed over as the scanner hands it (scan_handoffs,
enrichment_inputs, the ML rows): findings built by the product (`_harness.ml_rows`: the rules'
fixtures judged by the rules, the scanner's `base_row`), each with the series of every metric its
kind has (`Engine.history_metrics`), 720 hourly points over 30 days with a point an hour present on
weekdays' working hours only (the rest are gaps, as a sparse metric has them).
  plain    `EnricherStore.enrich_rows` (the product) on the hand-off without its series: tags and
           temporal features, the Phase 1 enrichment.
  history  the same call on the same rows with their series: the aggregates into metrics_summary
           and one cloudwatch_metrics_history row per resource and metric.
  floor    the same points only written: copied (binary COPY) into a scratch table.
Reported: rows per second of each, series per second, what the series add over the floor, bytes
stored per resource-metric (the row's size in PostgreSQL), and the GetMetricData calls a scan makes
to read those series (ceil of series / 500 per region: the provider's batching, counted by the
at-scale test).

Exit status: 0 when every target passes, 1 when one fails, 2 when the bench could not run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import math
import sys
import time
import uuid
from pathlib import Path

from _harness import Target, finish, log, ml_rows, run_in_tempdir

# The series' share of an enrichment (aggregates, the JSON hand-off, the upsert) over the floor of
# only writing the same points: at most this many times.
SERIES_OVER_FLOOR = 8.0
BYTES_OVER_RAW = 1.15  # stored bytes per resource-metric over the raw float8 points (720 x 8 B)
GET_METRIC_DATA_SERIES = 500  # series per GetMetricData call (the API's limit)
SERIES_START = dt.datetime(2026, 5, 1, tzinfo=dt.UTC)


def _series(i: int, period: int, points: int) -> list[float | None]:
    out: list[float | None] = []
    for slot in range(points):
        at = SERIES_START + dt.timedelta(seconds=slot * period)
        busy = at.weekday() < 5 and 8 <= at.hour < 18
        out.append(round(((i * 7 + slot) % 97) / 9.7, 3) if busy else None)
    return out


def load(url: str, n: int, seed: int, with_history: bool) -> tuple[uuid.UUID, int]:
    """A scan run of n findings, handed over; returns (scan run id, series handed over)."""
    import sqlalchemy as sa
    from cloudwaste.core.migrate import upgrade
    from cloudwaste.core.models import EnrichmentInput, MlTrainingData, ScanHandoff
    from cloudwaste.core.partitions import ensure_for
    from cloudwaste.scanner.engine import HISTORY_DAYS, HISTORY_PERIOD_S, Engine
    from cloudwaste.scanner.rules import load_all
    from sqlalchemy.orm import Session

    upgrade(url)
    engine = Engine(load_all())
    points = HISTORY_DAYS * 86400 // HISTORY_PERIOD_S
    db = sa.create_engine(url)
    run_id, account_id, handed = uuid.uuid4(), uuid.uuid4(), 0
    with Session(db) as s, s.begin():
        s.execute(
            sa.text(
                "INSERT INTO cloud_accounts (id, tenant_id, provider, display_name, regions, access, "
                "ml_collection_enabled, create_time) VALUES (:a, 't', 'aws', 'bench', '{}', '{}', true, now())"
            ),
            {"a": account_id},
        )
        s.execute(
            sa.text(
                "INSERT INTO scan_runs (id, cloud_account_id, state, regions, region_results, resources_scanned, "
                "findings_count, total_monthly_waste, enrichment_attempts) "
                "VALUES (:r, :a, 'SUCCEEDED', '{}', '[]', 0, 0, 0, 0)"
            ),
            {"r": run_id, "a": account_id},
        )
        s.add(ScanHandoff(scan_run_id=run_id, scan_state="SUCCEEDED", end_time=dt.datetime.now(dt.UTC)))
        rows, inputs = [], []
        for i, (row, draft) in enumerate(ml_rows(n, seed, span_days=20)):
            ensure_for(s, row["detected_at"])
            for column in ("tags_anonymized", "temporal_features", "enriched_at", "user_action", "label_source",
                           "labeled_at", "time_to_action_hours"):
                row.pop(column, None)
            history = None
            if with_history:
                history = {
                    m.name: {
                        "namespace": m.namespace, "metric": m.metric, "stat": m.stat,
                        "start": SERIES_START.isoformat(), "period": HISTORY_PERIOD_S,
                        "values": _series(i, HISTORY_PERIOD_S, points),
                    }
                    for m in engine.history_metrics(draft.resource.kind)
                } or None
                handed += len(history or ())
            rows.append(row)
            inputs.append(
                {"scan_run_id": run_id, "ml_row_id": row["id"], "ml_row_detected_at": row["detected_at"],
                 "tags": draft.resource.tags, "resource_create_time": draft.resource.created_at,
                 "metric_history": history}
            )
        s.execute(sa.insert(MlTrainingData), rows)
        s.execute(sa.insert(EnrichmentInput), inputs)
    with db.connect() as c:
        c.execute(sa.text("ANALYZE"))
    db.dispose()
    return run_id, handed


def enrich(url: str, run_id: uuid.UUID) -> float:
    """The product's enrichment of the run, from claim to SUCCEEDED; seconds."""
    from cloudwaste.core.db import Database
    from cloudwaste.enricher.store import EnricherStore

    db = Database(url)
    store = EnricherStore(db)
    store.queue(run_id)
    claimed = store.claim_next("bench")
    assert claimed is not None and claimed.scan_run_id == run_id
    t0 = time.perf_counter()
    done = store.enrich_rows(run_id, "bench")
    seconds = time.perf_counter() - t0
    assert done.state == "SUCCEEDED", done.state
    db.dispose()
    return seconds


def write_floor(url: str) -> float:
    """The floor: the same points written, and nothing else: the enriched series copied (binary
    COPY) into an unlogged scratch table. Seconds."""
    import psycopg

    conninfo = url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(conninfo, autocommit=True) as conn:
        series = conn.execute("SELECT resource_hash, metric_name, point_values FROM cloudwatch_metrics_history").fetchall()
        conn.execute("CREATE UNLOGGED TABLE floor_points (resource_hash text, metric_name text, point_values float8[])")
        t0 = time.perf_counter()
        with conn.cursor().copy("COPY floor_points FROM STDIN (FORMAT BINARY)") as cp:
            cp.set_types(["text", "text", "float8[]"])
            for row in series:
                cp.write_row(row)
        return time.perf_counter() - t0


def stored_bytes(url: str) -> dict:
    import sqlalchemy as sa

    db = sa.create_engine(url)
    with db.connect() as c:
        n, points, avg_row, avg_values = c.execute(
            sa.text(
                "SELECT count(*), max(cardinality(point_values)), avg(pg_column_size(h.*)), "
                "avg(pg_column_size(point_values)) FROM cloudwatch_metrics_history h"
            )
        ).one()
        summarized = c.execute(sa.text("SELECT count(*) FROM ml_training_data WHERE metrics_summary IS NOT NULL")).scalar()
    db.dispose()
    return {"series_rows": n, "points": points, "row_bytes": float(avg_row or 0), "values_bytes": float(avg_values or 0),
            "rows_summarized": summarized}


def run(args: argparse.Namespace, tmp: Path) -> dict:
    from cloudwaste.core.pg import EmbeddedPostgres

    pg = EmbeddedPostgres(tmp / "pg")
    try:
        pg.start()
        out = {"findings": args.findings}
        for name, with_history in (("plain", False), ("history", True)):
            url = pg.create_database(f"bench_{name}")
            run_id, handed = load(url, args.findings, args.seed, with_history)
            log(f"{name}: {args.findings:,} findings handed over ({handed:,} series)")
            seconds = enrich(url, run_id)
            out[name] = {"seconds": seconds, "series": handed, **stored_bytes(url)}
            log(f"{name}: enriched in {seconds:.2f} s")
            if with_history:
                out["floor_seconds"] = min(write_floor(url) for _ in range(1))
        return out
    finally:
        pg.stop()


def report(r: dict) -> list[Target]:
    plain, hist, n, floor = r["plain"], r["history"], r["findings"], r["floor_seconds"]
    extra = hist["seconds"] - plain["seconds"]  # what the series add to the enrichment
    raw = (hist["points"] or 720) * 8
    calls = math.ceil(hist["series"] / GET_METRIC_DATA_SERIES)
    print(f"\n{n:,} findings, {hist['series']:,} series of {hist['points']} points")
    print(f"  plain    {plain['seconds']:7.2f} s  {n / plain['seconds']:9,.0f} rows/s")
    print(f"  history  {hist['seconds']:7.2f} s  {n / hist['seconds']:9,.0f} rows/s  "
          f"{hist['series'] / hist['seconds']:9,.0f} series/s  {hist['rows_summarized']:,} rows summarized")
    print(f"  stored   {hist['row_bytes']:,.0f} B per resource-metric row ({hist['values_bytes']:,.0f} B of points; "
          f"raw float8 {raw:,} B)")
    print(f"  floor    {floor:7.2f} s  the same points only written (binary COPY)")
    print(f"  reading them: {calls} GetMetricData calls if in one region ({GET_METRIC_DATA_SERIES} series a call)")
    return [
        Target(
            f"what the series add to enrichment <= {SERIES_OVER_FLOOR:g}x writing their points",
            f"{extra:.2f} s", f"{floor:.2f} s", extra / floor, extra <= SERIES_OVER_FLOOR * floor,
        ),
        Target(
            f"stored bytes per resource-metric <= {BYTES_OVER_RAW:g}x raw float8",
            f"{hist['row_bytes']:,.0f} B", f"{raw:,} B", hist["row_bytes"] / raw,
            hist["row_bytes"] <= BYTES_OVER_RAW * raw,
        ),
        Target(
            "every finding with a metric kind summarized",
            f"{hist['rows_summarized']:,} rows", f"{hist['series_rows'] and hist['rows_summarized']:,} rows", 1.0,
            hist["rows_summarized"] > 0 and hist["series_rows"] > 0,
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--findings", type=int, default=5000)
    parser.add_argument("--seed", type=int, default=3)
    parser.add_argument("--json", default="")
    args = parser.parse_args(argv)
    log(f"enrichment bench: {args.findings:,} findings, with and without metric history")
    result = run_in_tempdir("cloudwaste-enrich-bench-", lambda tmp: run(args, tmp), lambda tmp: [tmp / "pg" / "server.log"])
    return finish(result, report, args.json)


if __name__ == "__main__":
    sys.exit(main())
