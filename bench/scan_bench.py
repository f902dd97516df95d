#!/usr/bin/env python
"""Scanner throughput on a simulated AWS estate, against the raw listing floor of the same estate.

Usage:  python bench/scan_bench.py [--sizes 1000,5000] [--json PATH]

For each size, one LocalDeployment (embedded PostgreSQL, the estate in moto, the four services):
  scan   CreateCloudAccount + StartScan over gRPC, GetScanRun polled until the run ends (as the
         demo does): wall time, resources per second, findings; the scanner's API calls per
         operation, read from its Prometheus counter cloudwaste_scanner_provider_api_calls_total.
  floor  the same estate listed in-process by the product's own kind listings and metric fetch
         (every AWS kind, the metric series of every candidate), the regions concurrently as the
         scanner does (one thread each), without rules, store, worker or gRPC: what any scanner
         of this catalogue must spend talking to the API. Its calls are counted per kind and
         operation in each region. Measured before and after the scan; the faster is the floor.

Exit status: 0 when every target passes, 1 when one fails, 2 when the bench could not run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import sys
import threading
import time
from collections import Counter
from pathlib import Path

from _harness import Target, log, report_targets, run_in_tempdir, sample_values, scrape

SCAN_OVER_FLOOR = 3.0  # scan wall / raw listing floor, at most, at every size
# Time per resource from the smallest to the largest size may grow at most this much faster than
# the raw listing floor's does: the scanner adds nothing super-linear of its own (the simulated API
# itself slows down with size, which is not the scanner's doing).
PER_RESOURCE_GROWTH = 1.5
API_CALLS = "cloudwaste_scanner_provider_api_calls_total"
ABSOLUTE_S = 15.0  # the catalogue issue's target for 5,000 resources in 3 regions, every rule


def listing_floor(endpoint: str, regions: tuple[str, ...], account_id: str) -> dict:
    """The floor: every AWS kind listed and every metric fetched, by the product's own listing
    functions and metric fetch, the regions concurrently as the scanner does (one thread each),
    without rules, store, worker or gRPC. The API calls are counted per (kind, operation) per
    region with the provider's own call hook."""
    from cloudwaste.scanner import providers
    from cloudwaste.scanner.engine import Engine, ScanTarget, metric_queries
    from cloudwaste.scanner.rules import Context
    from cloudwaste.scanner.rules import load_all as load_rules

    for name in ("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"):  # the scanner's own identity, for moto
        os.environ.setdefault(name, "testing")
    engine = Engine(load_rules(), {"aws": {"endpoint_url": endpoint}}, len(regions))
    plan = engine.resolve_scopes(
        ScanTarget(
            "aws",
            {
                "role_arn": f"arn:aws:iam::{account_id}:role/CloudWasteBenchFloor",
                "external_id": "bench-floor",
            },
            list(regions),
        )
    )
    provider, conn = plan.provider, plan.connection
    for region in regions:  # clients made before the clock starts, as the scanner's are by then
        for service in ("ec2", "cloudwatch"):
            conn.client(service, region)
    calls = {r: Counter() for r in regions}
    region_of = threading.local()
    seconds, listed, metric_bound = {}, {}, {}

    def observe(_provider, caller, operation):
        region = getattr(region_of, "name", None)
        if region is not None:
            calls[region][(caller, operation)] += 1

    def one(region: str) -> None:
        region_of.name = region
        t0 = time.perf_counter()
        now = dt.datetime.now(dt.UTC)
        listings: dict = {}
        for kind in plan.kinds:
            listings[kind.key] = provider.list_kind(
                conn, kind, region, now, {d: listings[d] for d in kind.requires}
            )
        resources = [r for rs in listings.values() for r in rs]
        index = {(r.kind, r.resource_id): r for r in resources}
        ctx = Context(now=now, prices=provider.prices(region), lookup=lambda k, rid: index.get((k, rid)))
        queries, _ = metric_queries(resources, plan.rules, ctx)
        if queries:
            provider.metrics(conn, region, queries, now)
        per_window = Counter(q.days for q in queries)
        metric_bound[region] = sum(-(-n // 500) for n in per_window.values())
        listed[region] = len(resources)
        seconds[region] = time.perf_counter() - t0

    with providers.observe_calls(observe):
        t0 = time.perf_counter()
        threads = [threading.Thread(target=one, args=(r,)) for r in regions]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - t0
    if set(listed) != set(regions):
        raise RuntimeError("the raw listing failed in a region (see the traceback above)")
    return {
        "wall_s": wall,
        "region_s": seconds,
        "resources": sum(listed.values()),
        "calls": calls,  # {region: Counter((kind, operation))}; --json writes "kind operation" keys
        "metric_bound": metric_bound,
        "metrics_caller": provider.METRICS_CALLER,
    }


def api_calls(port: int) -> dict[str, float] | None:
    """{operation: calls} from the scanner's counter, or None when the scanner does not expose it."""
    values = sample_values(scrape(port), API_CALLS)
    if not values:
        return None
    out: Counter = Counter()
    for labels, v in values.items():
        out[dict(labels).get("operation", "?")] += v
    return dict(out)


def scan_once(deploy, truth) -> dict:
    """Register the estate's account and scan it over gRPC, as dev/cloudwaste/sim/demo.py does."""
    import grpc
    from cloudwaste.common.v1 import provider_pb2
    from cloudwaste.scanner.v1 import (
        cloud_account_pb2,
        scan_run_pb2,
        scanner_service_pb2,
        scanner_service_pb2_grpc,
    )

    running = (scan_run_pb2.SCAN_RUN_STATE_PENDING, scan_run_pb2.SCAN_RUN_STATE_RUNNING)
    with grpc.insecure_channel(deploy.addresses["scanner"], options=[("grpc.enable_http_proxy", 0)]) as ch:
        stub = scanner_service_pb2_grpc.ScannerServiceStub(ch)
        account = stub.CreateCloudAccount(
            scanner_service_pb2.CreateCloudAccountRequest(
                cloud_account=cloud_account_pb2.CloudAccount(
                    provider=provider_pb2.PROVIDER_AWS,
                    tenant_id="bench-tenant",
                    display_name="Bench estate",
                    regions=list(truth.regions),
                    aws=cloud_account_pb2.AwsAccess(
                        role_arn=f"arn:aws:iam::{truth.account_id}:role/CloudWasteReadOnly",
                        external_id="cloudwaste-bench-external-id",
                    ),
                )
            ),
            timeout=10,
        ).cloud_account
        t0 = time.perf_counter()
        run = stub.StartScan(
            scanner_service_pb2.StartScanRequest(cloud_account=account.name), timeout=10
        ).scan_run
        while run.state in running:
            time.sleep(0.05)
            run = stub.GetScanRun(scanner_service_pb2.GetScanRunRequest(name=run.name), timeout=10).scan_run
        wall = time.perf_counter() - t0
    if run.state != scan_run_pb2.SCAN_RUN_STATE_SUCCEEDED:
        raise RuntimeError(
            f"scan ended {scan_run_pb2.ScanRunState.Name(run.state)}: {run.error_message or run}"
        )
    server = (run.end_time.ToDatetime() - run.start_time.ToDatetime()).total_seconds()
    return {
        "wall_s": wall,
        "server_s": server,
        "resources": run.resources_scanned,
        "findings": run.findings_count,
    }


def measure(size: int, tmp: Path) -> dict:
    from cloudwaste.sim.local import LocalDeployment
    from cloudwaste.sim.truth import GroundTruth

    deploy = LocalDeployment(tmp / f"deploy-{size}", size=size)
    try:
        t0 = time.perf_counter()
        deploy.start()
        truth = GroundTruth.from_json(deploy.truth_path.read_text())
        log(
            f"size {size:,}: {len(truth.resources):,} resources in {len(truth.regions)} regions, up in "
            f"{time.perf_counter() - t0:.0f} s"
        )
        before = listing_floor(deploy.moto_endpoint, truth.regions, truth.account_id)
        calls0 = api_calls(deploy.metrics["scanner"])
        scan = scan_once(deploy, truth)
        calls1 = api_calls(deploy.metrics["scanner"])
        after = listing_floor(deploy.moto_endpoint, truth.regions, truth.account_id)
    finally:
        deploy.stop()
    floor = min(before, after, key=lambda f: f["wall_s"])
    scanner_calls = None
    if calls1 is not None:
        scanner_calls = {op: v - (calls0 or {}).get(op, 0.0) for op, v in calls1.items()}
    log(
        f"size {size:,}: scan {scan['wall_s']:.2f} s, floor {before['wall_s']:.2f} s / {after['wall_s']:.2f} s"
    )
    return {
        "size": size,
        "truth_resources": len(truth.resources),
        "regions": list(truth.regions),
        "scan": scan,
        "floor": floor,
        "floors_s": [before["wall_s"], after["wall_s"]],
        "scanner_calls": scanner_calls,
    }


def report(results: list[dict]) -> list[Target]:
    targets = []
    for r in results:
        s, f, n_regions = r["scan"], r["floor"], len(r["regions"])
        print(
            f"\n== estate of {r['size']:,} (ground truth {r['truth_resources']:,} resources, {n_regions} regions)"
        )
        print(
            f"scan: wall {s['wall_s']:.2f} s (server start->end {s['server_s']:.2f} s), {s['resources']:,} resources, "
            f"{s['resources'] / s['wall_s']:,.0f} resources/s, {s['findings']:,} findings"
        )
        print(
            f"raw listing floor: {f['wall_s']:.2f} s for {f['resources']:,} resources (regions: "
            + ", ".join(f"{k} {v:.2f} s" for k, v in f["region_s"].items())
            + f"; the two floor runs {r['floors_s'][0]:.2f} s / {r['floors_s'][1]:.2f} s)"
        )
        scanner, regions = r["scanner_calls"], list(f["calls"])
        rows = sorted({key for c in f["calls"].values() for key in c})
        print("API calls per kind and operation in each region (the floor's, counted by the provider's")
        print("call hook), and the scanner's total per operation over the regions (its counter has no")
        print("kind or region label; an operation two kinds make shows the same total on both rows)")
        print(
            f"  {'kind':<34}{'operation':<52}" + "".join(f"{reg:>15}" for reg in regions) + f"{'scanner':>9}"
        )
        for caller, op in rows:
            sc = "n/a" if scanner is None else f"{scanner.get(op, 0):.0f}"
            print(
                f"  {caller:<34}{op:<52}"
                + "".join(f"{f['calls'][reg].get((caller, op), 0):>15}" for reg in regions)
                + f"{sc:>9}"
            )
        if scanner is None:
            print(f"  (scanner n/a: the scanner does not expose {API_CALLS} yet)")
        metric_calls = {
            reg: sum(n for (caller, _op), n in f["calls"][reg].items() if caller == f["metrics_caller"])
            for reg in regions
        }
        worst = max(metric_calls[reg] / max(1, f["metric_bound"][reg]) for reg in regions)
        targets.append(
            Target(
                f"metric calls per region at {r['size']:,} <= ceil(queries / 500) per window",
                ", ".join(f"{metric_calls[reg]}" for reg in regions),
                ", ".join(f"{f['metric_bound'][reg]}" for reg in regions),
                worst,
                worst <= 1.0,
            )
        )
        if r["size"] >= 5000:
            targets.append(
                Target(
                    f"scan of {r['size']:,} resources in {n_regions} regions, every rule, < {ABSOLUTE_S:g} s",
                    f"{s['wall_s']:.2f} s",
                    f"{ABSOLUTE_S:g} s",
                    s["wall_s"] / ABSOLUTE_S,
                    s["wall_s"] < ABSOLUTE_S,
                )
            )
        ratio = s["wall_s"] / f["wall_s"]
        targets.append(
            Target(
                f"scan wall at {r['size']:,} resources <= {SCAN_OVER_FLOOR:g}x raw listing floor",
                f"{s['wall_s']:.2f} s",
                f"floor {f['wall_s']:.2f} s",
                ratio,
                ratio <= SCAN_OVER_FLOOR,
            )
        )
    if len(results) > 1:
        small, big = results[0], results[-1]
        per = [x["scan"]["wall_s"] / x["scan"]["resources"] * 1000 for x in (small, big)]
        floor = [x["floor"]["wall_s"] / x["floor"]["resources"] * 1000 for x in (small, big)]
        print(
            f"\ntime per resource {small['size']:,} -> {big['size']:,}: scan {per[0]:.2f} -> {per[1]:.2f} ms "
            f"({per[1] / per[0]:.2f}x); raw listing floor {floor[0]:.2f} -> {floor[1]:.2f} ms "
            f"({floor[1] / floor[0]:.2f}x: what the simulated API itself adds)"
        )
        growth = (per[1] / per[0]) / (floor[1] / floor[0])
        targets.append(
            Target(
                f"scan time per resource {small['size']:,} -> {big['size']:,} grows <= "
                f"{PER_RESOURCE_GROWTH:g}x the raw listing floor's growth",
                f"scan {per[1] / per[0]:.2f}x",
                f"floor {floor[1] / floor[0]:.2f}x",
                growth,
                growth <= PER_RESOURCE_GROWTH,
            )
        )
    return targets


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--sizes", default="1000,5000", help="estate sizes, smallest first")
    ap.add_argument("--json", type=Path, help="also write the numbers here")
    args = ap.parse_args(argv)
    sizes = sorted(int(s) for s in args.sizes.split(","))

    def run(tmp: Path) -> dict:
        return {"results": [measure(size, tmp) for size in sizes]}

    r = run_in_tempdir("cloudwaste-scan-bench-", run, lambda tmp: sorted(tmp.glob("deploy-*/logs/*.log")))
    if r is None:
        return 2
    targets = report(r["results"])
    if args.json:
        for result in r["results"]:  # JSON keys are strings: "kind operation"
            result["floor"]["calls"] = {
                region: {f"{kind} {op}": n for (kind, op), n in c.items()}
                for region, c in result["floor"]["calls"].items()
            }
        args.json.write_text(
            json.dumps({**r, "targets": [t.__dict__ for t in targets]}, indent=2, default=str)
        )
    return report_targets(targets)


if __name__ == "__main__":
    sys.exit(main())
