#!/usr/bin/env python
"""Reading the real cost of a scan's findings from a Cost and Usage Report, against DuckDB doing it.

Usage:  python bench/cost_bench.py [--resources 10000] [--findings 5000] [--json PATH]

An account of `--resources` billed resources whose bill (the simulated estate's, cloudwaste.sim.billing:
a usage and a discount line per resource and day, a tax line a day) is a CUR 2.0 export of two
billing periods in moto's S3 (in this process).
  cur    `aws_billing.read_cur` (the product): the daily cost of `--findings` of those resources over
         the scanner's 14-day window: both periods' files fetched, the needed columns read batch by
         batch, the findings' lines kept and summed per resource and day.
  duckdb the same question asked of DuckDB (a SQL engine over the same Parquet, the other way the
         issue names): the same files fetched, the findings' usage lines in the window summed per
         resource and day, the sums fetched into Python. It matches ids only (the bench's are not
         ARNs), so it does a little less than the product.
  decode the same files fetched and the needed columns only decoded (`pyarrow.parquet`), nothing
         filtered: the floor of any reader, reported for scale.
Reported: CUR lines per second of each; the target is the product against DuckDB.

Exit status: 0 when every target passes, 1 when one fails, 2 when the bench could not run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import sys
import tempfile
import time
from pathlib import Path

from _harness import Target, finish, log, run_in_tempdir

OVER_DUCKDB = 1.0  # the product answers at least as fast as DuckDB does the same query
ACCOUNT = "313131313131"


def run(args) -> dict:
    import boto3
    import duckdb
    import pyarrow as pa
    import pyarrow.parquet as pq
    from cloudwaste.scanner.domain import Resource
    from cloudwaste.scanner.providers import aws_billing
    from cloudwaste.sim import billing
    from cloudwaste.sim.aws import start_moto

    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    charges = [
        billing.Charge(
            f"vol-{i:017x}",
            "AmazonEC2",
            "EBS:VolumeUsage.gp3",
            "us-east-1",
            0.01 + (i % 50) / 1000,
            now - dt.timedelta(days=90 - i % 80),
        )
        for i in range(args.resources)
    ]
    billing.record(ACCOUNT, charges)
    handle = start_moto()
    try:
        s3 = boto3.client(
            "s3",
            endpoint_url=handle.endpoint_url,
            region_name="us-east-1",
            aws_access_key_id="testing",
            aws_secret_access_key="testing",
        )
        started = time.perf_counter()
        lines = billing.write_cur(s3, ACCOUNT, now)
        log(f"CUR written: {lines:,} lines in {time.perf_counter() - started:.1f} s")
        uri = f"s3://{billing.export_bucket(ACCOUNT)}/{billing.EXPORT_PREFIX}"
        findings = [
            Resource("aws", "aws.ec2.volume", c.resource_id, "us-east-1")
            for c in charges[:: max(1, args.resources // args.findings)]
        ][: args.findings]
        start, end = aws_billing.window(now)

        def cur():
            return aws_billing.read_cur(s3, uri, findings, start, end)

        def objects():
            bucket, _, prefix = uri[5:].partition("/")
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}/data/"):
                for o in page.get("Contents", []):
                    yield s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()

        def decode():
            rows = 0
            for body in objects():
                f = pq.ParquetFile(io.BytesIO(body))
                columns = [c for c in aws_billing.CUR_COLUMNS if c in f.schema_arrow.names]
                rows += f.read(columns=columns).num_rows
            return rows

        wanted = [r.resource_id for r in findings]

        def with_duckdb():
            out: dict = {}
            db = duckdb.connect()
            db.execute("SET TimeZone = 'UTC'")
            db.register("wanted", pa.table({"id": wanted}))  # zero-copy, not row by row
            with tempfile.TemporaryDirectory() as tmp:
                for n, body in enumerate(objects()):
                    path = Path(tmp) / f"{n}.parquet"
                    path.write_bytes(body)
                    rows = db.execute(
                        """
                        SELECT line_item_resource_id, CAST(line_item_usage_start_date AS DATE),
                               sum(CASE line_item_line_item_type
                                   WHEN 'SavingsPlanCoveredUsage' THEN savings_plan_savings_plan_effective_cost
                                   ELSE line_item_unblended_cost END)
                        FROM read_parquet(?) WHERE line_item_usage_start_date >= ? AND line_item_usage_start_date < ?
                          AND line_item_line_item_type IN ('Usage', 'SavingsPlanCoveredUsage', 'EdpDiscount')
                          AND line_item_resource_id IN (SELECT id FROM wanted)
                        GROUP BY 1, 2
                        """,
                        [
                            str(path),
                            dt.datetime.combine(start, dt.time(), dt.UTC),
                            dt.datetime.combine(end, dt.time(), dt.UTC),
                        ],
                    ).fetchall()
                    for rid, day, cost in rows:
                        days = out.setdefault(rid, {})
                        days[day] = days.get(day, 0.0) + cost
            db.close()
            return out

        timings: dict[str, list[float]] = {"cur": [], "duckdb": [], "decode": []}
        answers: dict = {}
        for _ in range(args.repeat):
            for name, fn in (("decode", decode), ("duckdb", with_duckdb), ("cur", cur)):
                t = time.perf_counter()
                answers[name] = fn()
                timings[name].append(time.perf_counter() - t)
        found, theirs = answers["cur"], answers["duckdb"]
        assert len(found) == len(findings) and found.keys() == theirs.keys()  # the same answer
        assert all(abs(found[r][d] - theirs[r][d]) < 1e-6 for r in found for d in found[r])
        return {
            "lines": lines,
            "findings": len(findings),
            "cur_s": min(timings["cur"]),
            "duckdb_s": min(timings["duckdb"]),
            "decode_s": min(timings["decode"]),
        }
    finally:
        handle.stop()


def report(r: dict) -> list[Target]:
    ratio = r["cur_s"] / r["duckdb_s"]
    log(
        f"{r['lines']:,} CUR lines, {r['findings']:,} findings: product {r['cur_s']:.3f} s "
        f"({r['lines'] / r['cur_s']:,.0f} lines/s), DuckDB {r['duckdb_s']:.3f} s, "
        f"decoding only {r['decode_s']:.3f} s ({r['lines'] / r['decode_s']:,.0f} lines/s)"
    )
    return [
        Target(
            f"daily cost of {r['findings']:,} findings from a {r['lines']:,}-line CUR <= {OVER_DUCKDB}x DuckDB",
            f"{r['cur_s']:.3f} s",
            f"{r['duckdb_s']:.3f} s",
            ratio,
            ratio <= OVER_DUCKDB,
        )
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--resources", type=int, default=10000)
    parser.add_argument("--findings", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", default="")
    args = parser.parse_args(argv)
    log(f"cost bench: a CUR of {args.resources:,} resources, {args.findings:,} findings")
    result = run_in_tempdir("cloudwaste-cost-bench-", lambda _tmp: run(args), lambda _tmp: [])
    return finish(result, report, args.json)


if __name__ == "__main__":
    sys.exit(main())
