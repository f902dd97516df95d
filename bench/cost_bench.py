#!/usr/bin/env python
"""Reading the real cost of a scan's findings from a Cost and Usage Report, against only decoding it.

Usage:  python bench/cost_bench.py [--resources 10000] [--findings 5000] [--json PATH]

An account of `--resources` billed resources whose bill (the simulated estate's, cloudwaste.sim.billing:
a usage and a discount line per resource and day, a tax line a day) is a CUR 2.0 export of two
billing periods in moto's S3 (in this process).
  cur    `aws_billing.read_cur` (the product): the daily cost of `--findings` of those resources over
         the scanner's 14-day window: both periods' files fetched, the needed columns read batch by
         batch, the findings' lines kept and summed per resource and day.
  floor  the same files fetched and the same columns decoded whole (`pyarrow.parquet.read_table`),
         nothing filtered or summed: what any reader of the export pays.
Reported: CUR lines per second of each, and the product over the floor.

Exit status: 0 when every target passes, 1 when one fails, 2 when the bench could not run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import io
import json
import sys
import time
from pathlib import Path

from _harness import Target, log, report_targets

CUR_OVER_FLOOR = 2.5  # reading the findings' costs: at most this many times decoding the export
ACCOUNT = "313131313131"


def run(args) -> dict:
    import boto3
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

        def floor():
            bucket, _, prefix = uri[5:].partition("/")
            rows = 0
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=f"{prefix}/data/"):
                for o in page.get("Contents", []):
                    body = s3.get_object(Bucket=bucket, Key=o["Key"])["Body"].read()
                    f = pq.ParquetFile(io.BytesIO(body))
                    columns = [c for c in aws_billing.CUR_COLUMNS if c in f.schema_arrow.names]
                    rows += f.read(columns=columns).num_rows
            return rows

        timings: dict[str, list[float]] = {"cur": [], "floor": []}
        found = None
        for _ in range(args.repeat):
            for name, fn in (("floor", floor), ("cur", cur)):
                t = time.perf_counter()
                out = fn()
                timings[name].append(time.perf_counter() - t)
                if name == "cur":
                    found = out
        assert found is not None and len(found) == len(findings), (len(found or {}), len(findings))
        return {
            "lines": lines,
            "findings": len(findings),
            "cur_s": min(timings["cur"]),
            "floor_s": min(timings["floor"]),
        }
    finally:
        handle.stop()


def report(r: dict) -> list[Target]:
    ratio = r["cur_s"] / r["floor_s"]
    log(
        f"{r['lines']:,} CUR lines, {r['findings']:,} findings: product {r['cur_s']:.2f} s "
        f"({r['lines'] / r['cur_s']:,.0f} lines/s), decoding only {r['floor_s']:.2f} s "
        f"({r['lines'] / r['floor_s']:,.0f} lines/s)"
    )
    return [
        Target(
            f"daily cost of {r['findings']:,} findings from a {r['lines']:,}-line CUR <= {CUR_OVER_FLOOR}x decoding it",
            f"{r['cur_s']:.2f} s",
            f"{r['floor_s']:.2f} s",
            ratio,
            ratio <= CUR_OVER_FLOOR,
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
    try:
        result = run(args)
    except Exception:
        import traceback

        traceback.print_exc()
        return 2
    targets = report(result)
    if args.json:
        Path(args.json).write_text(json.dumps(result, indent=2, default=str))
    return report_targets(targets)


if __name__ == "__main__":
    sys.exit(main())
