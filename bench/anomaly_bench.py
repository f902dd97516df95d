#!/usr/bin/env python
"""Anomaly scoring throughput: `score_series` on a batch of metric series, against a plain numpy
rolling z-score over the same data.

Usage:  python bench/anomaly_bench.py [--series 200] [--points 4032] [--json PATH]

Single-threaded (BLAS/OpenMP pools pinned to one thread before numpy loads). The data: `--series`
synthetic 5-minute series of `--points` points (4,032 = two weeks): a daily cycle, noise, a few
spikes and a level shift, some missing points, different magnitudes.
  product   anomaly.score_series on each series (the whole detector: novelty, likelihood, repeats).
  baseline  a plain numpy pass over the same series: a one-day rolling mean/std z-score from
            cumulative sums, the simplest vectorized anomaly score (what the target is judged by).
  streaming StreamingDetector.update point by point on a few series (informative: the live path).
Target: the product scores >= 100,000 points per second on one core.

Exit status: 0 when every target passes, 1 when one fails, 2 when the bench could not run.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

for _var in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS"):
    os.environ[_var] = "1"

import numpy as np  # noqa: E402
from _harness import Target, finish, log, run_in_tempdir  # noqa: E402

TARGET_POINTS_PER_S = 100_000


def synthetic(n_series: int, points: int, seed: int) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    t = np.arange(points)
    out = []
    for _ in range(n_series):
        scale = 10 ** rng.uniform(-1, 8)
        x = scale * (1 + 0.3 * np.sin(2 * np.pi * t / 288 + rng.uniform(0, 6)) + rng.normal(0, 0.1, points))
        x[rng.integers(0, points, 3)] *= rng.uniform(3, 10)
        x[rng.integers(points // 2, points) :] += scale * rng.uniform(-0.5, 0.5)
        x[rng.integers(0, points, 5)] = np.nan
        out.append(x)
    return out


def rolling_z(x: np.ndarray, w: int = 288) -> np.ndarray:
    """The baseline: |x - mean| / std over the previous w points, from cumulative sums."""
    v = np.nan_to_num(x)
    c1 = np.concatenate(([0.0], np.cumsum(v)))
    c2 = np.concatenate(([0.0], np.cumsum(v * v)))
    i = np.arange(len(v))
    lo = np.maximum(i - w, 0)
    n = np.maximum(i - lo, 1)
    mean = (c1[i] - c1[lo]) / n
    std = np.sqrt(np.maximum((c2[i] - c2[lo]) / n - mean * mean, 0.0)) + 1e-12
    return np.abs(v - mean) / std


def run(args) -> dict:
    from cloudwaste.predictor.anomaly import StreamingDetector, score_series

    data = synthetic(args.series, args.points, seed=7)
    total = sum(len(x) for x in data)
    times: dict[str, list[float]] = {"product": [], "baseline": []}
    for _ in range(args.repeat):  # interleaved, the best of each kept
        for name, fn in (("baseline", rolling_z), ("product", score_series)):
            t = time.perf_counter()
            for x in data:
                fn(x)
            times[name].append(time.perf_counter() - t)
    stream_points = data[: args.stream_series]
    t = time.perf_counter()
    for x in stream_points:
        det = StreamingDetector()
        for v in x:
            det.update(v)
    stream_s = time.perf_counter() - t
    return {
        "series": len(data),
        "points": total,
        "product_s": min(times["product"]),
        "baseline_s": min(times["baseline"]),
        "stream_points": int(sum(len(x) for x in stream_points)),
        "stream_s": stream_s,
    }


def report(r: dict) -> list[Target]:
    product = r["points"] / r["product_s"]
    baseline = r["points"] / r["baseline_s"]
    stream = r["stream_points"] / r["stream_s"]
    log(
        f"{r['series']} series, {r['points']:,} points: score_series {product:,.0f} points/s, "
        f"rolling z-score baseline {baseline:,.0f} points/s ({product / baseline:.2f}x of it); "
        f"StreamingDetector.update {stream:,.0f} points/s ({1e6 / stream:.1f} us a point, informative)"
    )
    return [
        Target(
            f"anomaly scoring >= {TARGET_POINTS_PER_S:,} points/s on one core (batch)",
            f"{product:,.0f} points/s",
            f"{baseline:,.0f} points/s (numpy rolling z-score)",
            product / baseline,
            product >= TARGET_POINTS_PER_S,
        )
    ]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--series", type=int, default=200)
    parser.add_argument("--points", type=int, default=4032)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--stream-series", type=int, default=3)
    parser.add_argument("--json", default="")
    args = parser.parse_args(argv)
    log(f"anomaly bench: {args.series} series of {args.points:,} points, one thread")
    result = run_in_tempdir("cloudwaste-anomaly-bench-", lambda _tmp: run(args), lambda _tmp: [])
    return finish(result, report, args.json)


if __name__ == "__main__":
    sys.exit(main())
