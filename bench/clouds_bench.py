#!/usr/bin/env python
"""Azure and GCP scans of a simulated estate, against the raw listing floor of the same estate.

Usage:  python bench/clouds_bench.py [--size 1000] [--json PATH]

For each provider, one simulated estate (two subscriptions / two projects behind the local vendor
endpoint, seeded by every service module of dev/cloudwaste/sim/<provider>_estate) and:
  scan   the product's engine, every rule of the provider, the scopes concurrently (in-process:
         the scanner service adds its store, which the AWS scan bench measures).
  floor  the same estate listed by the product's own kind listings and metric fetch (every kind
         the rules need, the series of every candidate), the scopes concurrently, without rules:
         what any scanner of this catalogue must spend talking to the API. Measured before and
         after the scan; the faster is the floor.
The API calls of the floor are counted per kind and operation with the provider's own call hook,
and held to what paging allows: ceil(resources of the kind / page size) per scope (plus one for a
kind that lists two collections), never one call per resource.

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

from _harness import Target, log, report_targets, run_in_tempdir

SCAN_OVER_FLOOR = 1.5  # the rules' share of a scan: at most half again the listing's time
PAGE = {"azure": 100, "gcp": 500}  # the endpoints' page sizes (ARM's and Compute's defaults)
# Operations that page through every resource of the scope, whatever the kind (the resource group
# kind counts each group's resources with the subscription's generic listing).
EVERY_RESOURCE = {"Microsoft.Resources/subscriptions/resources/read"}


def _target(provider: str, estate):
    """Every scope of the estate, every rule of the provider with its defaults."""
    from cloudwaste.scanner.engine import ScanTarget

    return ScanTarget(provider, estate.access, [])


def floor(provider: str, estate) -> dict:
    """Every kind the provider's rules need, listed once per scope, and every metric series of
    the candidates fetched, scopes concurrently; no rule runs."""
    from cloudwaste.scanner import providers
    from cloudwaste.scanner.engine import Engine, metric_queries
    from cloudwaste.scanner.rules import Context
    from cloudwaste.scanner.rules import load_all as load_rules

    engine = Engine(load_rules(), {provider: estate.options}, 2)
    plan = engine.resolve_scopes(_target(provider, estate))
    calls: dict[str, Counter] = {scope: Counter() for scope in plan.scopes}
    sizes: dict[str, Counter] = {scope: Counter() for scope in plan.scopes}
    lock = threading.Lock()
    scope_of = threading.local()

    def observe(_provider, caller, operation):
        with lock:
            calls[scope_of.name][(caller, operation)] += 1

    def one(scope: str) -> None:
        scope_of.name = scope
        now = dt.datetime.now(dt.UTC)
        listed: dict = {}
        for kind in plan.kinds:
            listed[kind.key] = plan.provider.list_kind(
                plan.connection, kind, scope, now, {d: listed[d] for d in kind.requires}
            )
            sizes[scope][kind.key] = len(listed[kind.key])
        resources = [r for rs in listed.values() for r in rs]
        index = {(r.kind, r.resource_id): r for r in resources}
        ctx = Context(now=now, prices=plan.provider.prices(scope), lookup=lambda k, i: index.get((k, i)))
        queries, _ = metric_queries(resources, plan.rules, ctx)
        if queries:
            plan.provider.metrics(plan.connection, scope, queries, now)

    t0 = time.perf_counter()
    with providers.observe_calls(observe):
        threads = [threading.Thread(target=one, args=(s,)) for s in plan.scopes]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    return {
        "wall_s": time.perf_counter() - t0,
        "calls": calls,
        "sizes": sizes,
        "resources": sum(sum(c.values()) for c in sizes.values()),
        "metrics_caller": plan.provider.METRICS_CALLER,
    }


def scan(provider: str, estate) -> dict:
    from cloudwaste.scanner.engine import Engine
    from cloudwaste.scanner.rules import load_all as load_rules

    engine = Engine(load_rules(), {provider: estate.options}, 2)
    t0 = time.perf_counter()
    outcomes = engine.scan(_target(provider, estate))
    wall = time.perf_counter() - t0
    bad = [o.scope for o in outcomes if not o.succeeded or o.kind_errors or o.rule_errors]
    if bad:
        raise RuntimeError(f"{provider} scan had errors in {bad}")
    return {
        "wall_s": wall,
        "resources": sum(o.resources_scanned for o in outcomes),
        "findings": sum(len(o.findings) for o in outcomes),
        "truth_waste": sum(1 for t in estate.truth if t.scenario),
    }


def measure(provider: str, size: int, tmp: Path) -> dict:
    from cloudwaste.sim import azure_estate, gcp_estate

    module = {"azure": azure_estate, "gcp": gcp_estate}[provider]
    log(f"{provider}: seeding an estate of {size:,}")
    estate = module.start(tmp / f"{provider}-credentials", size=size, seed=7, page_size=PAGE[provider])
    try:
        floors = [floor(provider, estate)]
        result = scan(provider, estate)
        floors.append(floor(provider, estate))
    finally:
        estate.api.stop()
    best = min(floors, key=lambda f: f["wall_s"])
    return {"provider": provider, "size": size, "truth": len(estate.truth), "scan": result, "floor": best,
            "floors_s": [f["wall_s"] for f in floors]}


def report(results: list[dict]) -> list[Target]:
    targets = []
    for r in results:
        s, f, p = r["scan"], r["floor"], r["provider"]
        print(f"\n== {p}: estate of {r['size']:,} ({r['truth']:,} resources in {len(f['calls'])} scopes)")
        print(
            f"scan: {s['wall_s']:.2f} s, {s['resources']:,} resources ({s['resources'] / s['wall_s']:,.0f}/s), "
            f"{s['findings']:,} findings (ground truth: {s['truth_waste']:,} waste)"
        )
        print(f"raw listing floor: {f['wall_s']:.2f} s (runs {', '.join(f'{x:.2f}' for x in r['floors_s'])} s)")
        print(f"  {'kind':<36}{'operation':<52}" + "".join(f"{sc[:12]:>14}" for sc in f["calls"]))
        rows = sorted({k for c in f["calls"].values() for k in c})
        worst = 0.0
        for caller, op in rows:
            print(f"  {caller:<36}{op:<52}" + "".join(f"{f['calls'][sc].get((caller, op), 0):>14}" for sc in f["calls"]))
        for sc, calls in f["calls"].items():
            everything = sum(f["sizes"][sc].values())
            for (caller, op), n in calls.items():
                if caller == f["metrics_caller"]:
                    continue
                listed = everything if op in EVERY_RESOURCE else f["sizes"][sc].get(caller, 0)
                bound = max(1, -(-listed // PAGE[p])) + 1  # its pages; +1: a last page may be empty
                worst = max(worst, n / bound)
        targets.append(
            Target(
                f"{p}: API calls per kind per scope <= its pages (never one per resource)",
                f"{worst:.2f} of the bound at worst",
                "ceil(resources / page) + 1 per operation",
                worst,
                worst <= 1.0,
            )
        )
        ratio = s["wall_s"] / f["wall_s"]
        targets.append(
            Target(
                f"{p}: scan of {s['resources']:,} resources, every rule, <= {SCAN_OVER_FLOOR:g}x the listing floor",
                f"{s['wall_s']:.2f} s",
                f"floor {f['wall_s']:.2f} s",
                ratio,
                ratio <= SCAN_OVER_FLOOR,
            )
        )
        exact = s["findings"] == s["truth_waste"]
        targets.append(
            Target(f"{p}: findings == known waste", f"{s['findings']}", f"{s['truth_waste']}", 1.0, exact)
        )
    return targets


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--size", type=int, default=1000, help="estate size per provider")
    ap.add_argument("--json", type=Path, help="also write the numbers here")
    args = ap.parse_args(argv)

    def run(tmp: Path) -> dict:
        return {"results": [measure(p, args.size, tmp) for p in ("azure", "gcp")]}

    r = run_in_tempdir("cloudwaste-clouds-bench-", run, lambda tmp: [])
    if r is None:
        return 2
    targets = report(r["results"])
    if args.json:
        for result in r["results"]:
            result["floor"]["calls"] = {
                sc: {f"{k} {o}": n for (k, o), n in c.items()} for sc, c in result["floor"]["calls"].items()
            }
            result["floor"]["sizes"] = {sc: dict(c) for sc, c in result["floor"]["sizes"].items()}
        args.json.write_text(json.dumps({**r, "targets": [t.__dict__ for t in targets]}, indent=2, default=str))
    return report_targets(targets)


if __name__ == "__main__":
    sys.exit(main())
