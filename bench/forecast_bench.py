#!/usr/bin/env python
"""The cost forecast's rolling-origin backtest on simulated accounts, against seasonal naive and
simple exponential smoothing in the same run.

Usage:  python bench/forecast_bench.py [--accounts 400] [--months 36] [--seeds 0,1,2] [--json PATH]

Accounts come from `cloudwaste.sim.spend` (monthly bills with growth, yearly patterns, noise and
unforeseeable shifts), seeds other than the one the interval was calibrated on
(`forecast.CALIBRATION`). Origins roll from month 24 to the last: each forecast uses only the months
before its origin, 1 to 6 months ahead. Printed: MAPE per horizon for the three methods and the
coverage of the model's 80% interval, per seed and pooled.
Targets, at 3 months ahead, pooled over the seeds:
  MAPE <= 10%; MAPE <= 0.8x seasonal naive's; the 80% interval's coverage within 5 points of 80%.

Exit status: 0 when every target passes, 1 when one fails, 2 when the bench could not run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

from _harness import Target, finish, log, run_in_tempdir  # noqa: E402

HORIZON = 6
TARGET_H = 3
MAX_MAPE = 10.0
MAX_RATIO_TO_SEASONAL_NAIVE = 0.8
COVERAGE_SLACK = 5.0


def run(args) -> dict:
    from cloudwaste.predictor import forecast
    from cloudwaste.sim import spend

    seeds = [int(s) for s in args.seeds.split(",")]
    if forecast.CALIBRATION["seed"] in seeds:
        raise SystemExit(f"seed {forecast.CALIBRATION['seed']} calibrated the interval: score other seeds")
    pooled = forecast.Backtest(
        HORIZON, {m: [[] for _ in range(HORIZON)] for m in forecast.METHODS}, [[] for _ in range(HORIZON)]
    )
    per_seed = {}
    started = time.perf_counter()
    for seed in seeds:
        accounts = spend.simulate(args.accounts, args.months, seed=seed)
        result = forecast.backtest([a.monthly for a in accounts], HORIZON, first_origin=24)
        per_seed[seed] = result.table()
        pooled.origins += result.origins
        for h in range(HORIZON):
            pooled.inside[h] += result.inside[h]
            for m in forecast.METHODS:
                pooled.errors[m][h] += result.errors[m][h]
    elapsed = time.perf_counter() - started
    return {
        "accounts": args.accounts,
        "months": args.months,
        "seeds": seeds,
        "origins": pooled.origins,
        "seconds": elapsed,
        "per_seed": per_seed,
        "pooled": pooled.table(),
    }


def _row(r: dict) -> str:
    return (
        f"  {r['horizon']}  {r['forecasts']:>6,}  {r['mape_model']:6.2f}%  {r['mape_seasonal_naive']:6.2f}%  "
        f"{r['mape_simple_smoothing']:6.2f}%  {r['coverage']:5.1f}%"
    )


def report(r: dict) -> list[Target]:
    header = "  h  forecasts   model  seas.naive  smoothing  coverage(80%)"
    for seed, table in r["per_seed"].items():
        log(f"seed {seed}:\n{header}\n" + "\n".join(_row(x) for x in table))
    log(f"pooled, {len(r['seeds'])} seeds x {r['accounts']} accounts x {r['months']} months:\n{header}")
    log("\n".join(_row(x) for x in r["pooled"]))
    log(
        f"{r['origins']:,} origins, each fitted and forecast by all three, in {r['seconds']:.1f} s "
        f"({1000 * r['seconds'] / r['origins']:.2f} ms an origin)"
    )
    at = r["pooled"][TARGET_H - 1]
    model, naive, smooth = at["mape_model"], at["mape_seasonal_naive"], at["mape_simple_smoothing"]
    return [
        Target(
            f"MAPE at {TARGET_H} months <= {MAX_MAPE:.0f}%",
            f"{model:.2f}%",
            f"{smooth:.2f}% (simple exponential smoothing)",
            model / smooth,
            model <= MAX_MAPE,
        ),
        Target(
            f"MAPE at {TARGET_H} months <= {MAX_RATIO_TO_SEASONAL_NAIVE}x seasonal naive's",
            f"{model:.2f}%",
            f"{naive:.2f}% (seasonal naive)",
            model / naive,
            model <= MAX_RATIO_TO_SEASONAL_NAIVE * naive,
        ),
        Target(
            f"80% interval's coverage at {TARGET_H} months within {COVERAGE_SLACK:.0f} points of 80%",
            f"{at['coverage']:.1f}%",
            "80%",
            at["coverage"] / 80.0,
            abs(at["coverage"] - 80.0) <= COVERAGE_SLACK,
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--accounts", type=int, default=400)
    parser.add_argument("--months", type=int, default=36)
    parser.add_argument("--seeds", default="0,1,2")
    parser.add_argument("--json", default="")
    args = parser.parse_args(argv)
    log(f"forecast bench: {args.accounts} simulated accounts x {args.months} months, seeds {args.seeds}")
    result = run_in_tempdir("cloudwaste-forecast-bench-", lambda _tmp: run(args), lambda _tmp: [])
    return finish(result, report, args.json)


if __name__ == "__main__":
    sys.exit(main())
