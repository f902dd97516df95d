#!/usr/bin/env python
"""Scanner throughput on a simulated AWS estate, against the raw listing floor of the same estate.

Usage:  python bench/scan_bench.py [--sizes 1000,5000] [--json PATH]

For each size, one LocalDeployment (embedded PostgreSQL, the estate in moto, the four services):
  scan   CreateCloudAccount + StartScan over gRPC, GetScanRun polled until the run ends (as the
         demo does): wall time, resources per second, findings; the scanner's API calls per
         operation, read from its Prometheus counter cloudwaste_scanner_provider_api_calls_total.
  floor  the same estate listed with plain boto3 paginators against the same moto, the regions
         concurrently as the scanner does (one thread each), API calls only and no rule logic:
         describe_volumes, describe_instances, describe_addresses, describe_snapshots(self),
         describe_nat_gateways, elbv2 describe_load_balancers + describe_target_groups +
         describe_target_health per group, cloudwatch get_metric_data for the NAT gateways.
         Measured before and after the scan; the faster of the two is the floor.

Exit status: 0 when every target passes, 1 when one fails, 2 when the bench could not run.
"""

from __future__ import annotations

import argparse
import datetime as dt
import json
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


def list_region(clients: dict) -> int:
    """Every listing the scanner's rules need, in one region; returns the resources listed."""
    ec2, elbv2, cloudwatch = clients["ec2"], clients["elbv2"], clients["cloudwatch"]

    def pages(client, op: str, key: str, **kwargs) -> list:
        return [x for page in client.get_paginator(op).paginate(**kwargs) for x in page.get(key, [])]

    listed = len(pages(ec2, "describe_volumes", "Volumes"))
    listed += sum(len(r["Instances"]) for r in pages(ec2, "describe_instances", "Reservations"))
    listed += len(ec2.describe_addresses().get("Addresses", []))
    listed += len(pages(ec2, "describe_snapshots", "Snapshots", OwnerIds=["self"]))
    nats = [n["NatGatewayId"] for n in pages(ec2, "describe_nat_gateways", "NatGateways")]
    listed += len(nats)
    listed += len(pages(elbv2, "describe_load_balancers", "LoadBalancers"))
    for group in pages(elbv2, "describe_target_groups", "TargetGroups"):
        elbv2.describe_target_health(TargetGroupArn=group["TargetGroupArn"])
    queries = [
        {
            "Id": f"q{i}_{m}",
            "MetricStat": {
                "Metric": {
                    "Namespace": "AWS/NATGateway",
                    "MetricName": metric,
                    "Dimensions": [{"Name": "NatGatewayId", "Value": nat}],
                },
                "Period": 86400,
                "Stat": "Sum",
            },
        }
        for i, nat in enumerate(nats)
        for m, metric in enumerate(("BytesOutToDestination", "BytesInFromSource"))
    ]
    now = dt.datetime.now(dt.UTC)
    for start in range(0, len(queries), 500):  # 500 queries per call: one call per region here
        cloudwatch.get_metric_data(
            MetricDataQueries=queries[start : start + 500], StartTime=now - dt.timedelta(days=30), EndTime=now
        )
    return listed


def listing_floor(endpoint: str, regions: tuple[str, ...], account_id: str) -> dict:
    """The regions listed concurrently with plain boto3 (clients made before the clock starts)."""
    from cloudwaste.scanner.providers.aws import iam_action
    from cloudwaste.sim.aws import boto3_client

    def counter(calls: Counter):  # labelled as the scanner labels its own calls
        return lambda model, **_: calls.update([iam_action(model.service_model.service_name, model.name)])

    clients, calls = {}, {r: Counter() for r in regions}
    for region in regions:
        clients[region] = {
            s: boto3_client(s, endpoint, region, account_id=account_id)
            for s in ("ec2", "elbv2", "cloudwatch")
        }
        for client in clients[region].values():
            client.meta.events.register("before-call.*.*", counter(calls[region]))
    seconds, listed = {}, {}

    def one(region: str) -> None:
        t0 = time.perf_counter()
        listed[region] = list_region(clients[region])
        seconds[region] = time.perf_counter() - t0

    t0 = time.perf_counter()
    threads = [threading.Thread(target=one, args=(r,)) for r in regions]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    wall = time.perf_counter() - t0
    if set(listed) != set(regions):
        raise RuntimeError("the raw listing failed in a region (see the traceback above)")
    return {"wall_s": wall, "region_s": seconds, "resources": sum(listed.values()), "calls": calls}


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
        ops = sorted({op for c in f["calls"].values() for op in c} | set(scanner or {}))
        print("API calls per operation: the floor's in each region; the scanner's counter has no region")
        print("label, so its total over the regions and that total / regions")
        print(
            f"  {'operation':<44}"
            + "".join(f"{reg:>16}" for reg in regions)
            + f"{'scanner':>10}{'/region':>9}"
        )
        for op in ops:
            sc = (
                ("n/a", "n/a")
                if scanner is None
                else (f"{scanner.get(op, 0):.0f}", f"{scanner.get(op, 0) / n_regions:.1f}")
            )
            print(
                f"  {op:<44}"
                + "".join(f"{f['calls'][reg].get(op, 0):>16}" for reg in regions)
                + f"{sc[0]:>10}{sc[1]:>9}"
            )
        if scanner is None:
            print(f"  (scanner n/a: the scanner does not expose {API_CALLS} yet)")
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
        args.json.write_text(
            json.dumps({**r, "targets": [t.__dict__ for t in targets]}, indent=2, default=str)
        )
    return report_targets(targets)


if __name__ == "__main__":
    sys.exit(main())
