#!/usr/bin/env python
"""PredictWaste latency: gRPC end to end vs a Health/Check baseline, ONNX vs a naive scikit-learn service.

Usage:  python bench/predict_bench.py [--requests N] [--json PATH]

One run, every target judged against a baseline measured in the same run:
  setup    a labeled Parquet dataset of product-built ML rows (see _harness.ml_rows) written with the
           exporter's EXPORT_SCHEMA; the product trainer (train_waste_model -> ONNX); a LocalDeployment
           without an estate; the model registered and activated through PredictorStore.
  grpc     PredictWaste over a loopback channel at concurrency 1, interleaved in blocks with
           grpc.health.v1.Health/Check on the same server and channel (what gRPC costs alone).
  clients  8 threads, each on its own channel, calling PredictWaste as fast as answers come for
           --seconds, then the same for Health/Check: calls per second of each.
  onnx     WasteModel.predict([row]) in-process, one row per call, on the rows the server builds.
  sklearn  the same pipeline fitted the same way, pickled and unpickled, predict_proba on a one-row
           DataFrame per call (what a naive service does).

Exit status: 0 when every target passes, 1 when one fails, 2 when the bench could not run.
"""

from __future__ import annotations

import argparse
import gc
import json
import pickle
import sys
import threading
import time
import warnings
from pathlib import Path

from _harness import (  # bench/ is on sys.path when run as a script
    Target,
    concurrent_calls,
    log,
    ml_rows,
    report_targets,
    run_in_tempdir,
    sample_values,
    scrape,
    stats_ms,
    time_calls,
)

P50_MS, P99_MS = 1.0, 2.0  # PredictWaste over gRPC, absolute
P50_OVER_HEALTH_MS, P99_OVER_HEALTH_MS = 0.5, 1.0  # PredictWaste minus Health/Check, same run
SKLEARN_OVER_ONNX = 50.0
P50_OVER_HEALTH_RATIO = 1.2  # the models issue: PredictWaste p50 within 1.2x Health/Check p50
CLIENTS, THROUGHPUT_SHARE = 8, 0.8  # 8 concurrent clients reach >= 80% of Health/Check's calls/s


def write_dataset(path: Path, n_rows: int, seed: int) -> dict:
    """n product-built ML rows as the exporter would write them (EXPORT_SCHEMA, JSON as text)."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from cloudwaste.exporter.export import EXPORT_SCHEMA

    records = []
    for row, _ in ml_rows(n_rows, seed):
        for name, value in row.items():
            if isinstance(value, dict):
                row[name] = json.dumps(value)
        records.append(row)
    pq.write_table(pa.Table.from_pylist(records, schema=EXPORT_SCHEMA), path, compression="zstd")
    actions: dict[str, int] = {}
    for r in records:
        actions[str(r.get("user_action"))] = actions.get(str(r.get("user_action")), 0) + 1
    return {"rows": n_rows, "user_action": actions}


def make_requests(n: int, seed: int) -> list:
    """PredictWasteRequests carrying what a caller sends: raw region and raw (unanonymized) tags."""
    from cloudwaste.common.v1 import confidence_pb2, provider_pb2
    from cloudwaste.predictor.v1 import prediction_pb2, predictor_service_pb2

    out = []
    for row, draft in ml_rows(n, seed):
        res, det = draft.resource, draft.detection
        features = prediction_pb2.WasteFeatures(
            provider=provider_pb2.Provider.Value(f"PROVIDER_{res.provider.upper()}"),
            resource_type=res.kind,
            region=res.region,
            detection_scenario=det.scenario,
            confidence_level=confidence_pb2.ConfidenceLevel.Value(f"CONFIDENCE_LEVEL_{det.confidence}"),
            resource_age_days=row["resource_age_days"] or 0.0,
            cost_monthly=float(det.monthly_cost),
            tags=res.tags,
        )
        out.append(predictor_service_pb2.PredictWasteRequest(features=features))
    return out


def refit_pipeline(dataset: Path, algorithm: str, seed: int = 0):
    """The scikit-learn pipeline of the candidate the trainer chose, fitted on the same rows (the
    trainer returns only ONNX bytes): what a service calling `predict_proba` would run."""
    from cloudwaste.predictor.kinds import waste

    rows, y = waste.load_labeled_rows(dataset)
    fit, _, test = waste.time_split(len(rows))
    candidate = algorithm.split("+")[0]  # the implicit labels change the data, not the model's cost
    model = waste.build_pipeline(seed, candidate).fit(waste.features_frame(rows[fit]), y[fit])
    return model, rows[test]


def wait_model_loaded(stub, request, timeout: float) -> float:
    import grpc

    t0 = time.monotonic()
    while True:
        try:
            stub.PredictWaste(request, timeout=5)
            return time.monotonic() - t0
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.FAILED_PRECONDITION or time.monotonic() - t0 > timeout:
                raise
        time.sleep(0.05)


def server_side(before: list, after: list) -> dict:
    """Mean server-side ms per call between two scrapes: handler (inside the interceptor) and ONNX."""
    out = {}
    for key, name, label in (
        ("PredictWaste handler", "grpc_server_handling_seconds", ("grpc_method", "PredictWaste")),
        ("Health/Check handler", "grpc_server_handling_seconds", ("grpc_method", "Check")),
        ("ONNX inference", "cloudwaste_predictor_inference_seconds", None),
    ):
        sums = [
            sum(v for k, v in sample_values(f, name + suffix).items() if label is None or label in k)
            for f in (before, after)
            for suffix in ("_sum", "_count")
        ]
        if sums[3] > sums[1]:
            out[key] = (sums[2] - sums[0]) / (sums[3] - sums[1]) * 1000.0
    return out


def bench_grpc(
    address: str, metrics_port: int, requests: list, n: int, warmup: int, block: int = 100
) -> dict:
    """PredictWaste and Health/Check on one channel at concurrency 1, in alternating blocks."""
    import grpc
    from cloudwaste.predictor.v1 import predictor_service_pb2_grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(address, options=[("grpc.enable_http_proxy", 0)]) as channel:
        predict = predictor_service_pb2_grpc.PredictorServiceStub(channel).PredictWaste
        check = health_pb2_grpc.HealthStub(channel).Check
        health = [health_pb2.HealthCheckRequest(service="")]
        time_calls(lambda r: (predict(r, timeout=5), check(health[0], timeout=5)), requests, 0, warmup)
        before = scrape(metrics_port)
        gc.collect()
        p, h = [], []
        for done in range(0, n, block):
            k = min(block, n - done)
            p += time_calls(lambda r: predict(r, timeout=5), requests[done % len(requests) :] + requests, k)
            h += time_calls(lambda r: check(r, timeout=5), health, k)
        return {
            "predict": stats_ms(p),
            "health": stats_ms(h),
            "server_ms": server_side(before, scrape(metrics_port)),
        }


def bench_concurrent(address: str, requests: list, clients: int, seconds: float) -> dict:
    """Calls per second of `clients` threads, each on its own channel, calling PredictWaste as
    fast as answers come for `seconds`; then the same for Health/Check."""
    from cloudwaste.predictor.v1 import predictor_service_pb2_grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    predict = concurrent_calls(
        address, lambda ch: predictor_service_pb2_grpc.PredictorServiceStub(ch).PredictWaste, requests, clients, seconds
    )
    health = concurrent_calls(
        address, lambda ch: health_pb2_grpc.HealthStub(ch).Check, [health_pb2.HealthCheckRequest(service="")], clients, seconds
    )
    if predict["errors"] or health["errors"]:
        raise RuntimeError(f"calls failed: {predict['first_errors'] or health['first_errors']}")
    return {"clients": clients, "predict_per_s": predict["per_s"], "health_per_s": health["per_s"]}


def bench_sklearn(model, rows: list[dict], n: int) -> dict:
    """The naive service: the unpickled pipeline, a one-row DataFrame and predict_proba per call."""
    from cloudwaste.predictor.kinds.waste import features_frame

    naive = pickle.loads(pickle.dumps(model, protocol=pickle.HIGHEST_PROTOCOL))
    gc.collect()
    return stats_ms(time_calls(lambda r: naive.predict_proba(features_frame([r]))[0, 1], rows, n, warmup=20))


def start_predictor(deploy) -> bool:
    """PostgreSQL and the predictor alone, as LocalDeployment runs it (the other services would only
    add noise); LocalDeployment has no way to start a subset, so this uses its _spawn."""
    from cloudwaste.core.pg import free_port

    deploy.start_database()
    deploy.addresses["predictor"], deploy.metrics["predictor"] = f"127.0.0.1:{free_port()}", free_port()
    deploy.export_root.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", "cloudwaste.core.cli", "serve", "predictor"]
    deploy._spawn("predictor", cmd, deploy.service_env("predictor"))
    deploy.wait_serving("predictor", 60)
    return True


def run(args: argparse.Namespace, tmp: Path) -> dict:
    import grpc
    from cloudwaste.core.db import Database
    from cloudwaste.predictor import servicer
    from cloudwaste.predictor.kinds.waste import WasteModel, train_waste_model
    from cloudwaste.predictor.store import PredictorStore
    from cloudwaste.predictor.v1 import predictor_service_pb2_grpc
    from cloudwaste.sim.local import LocalDeployment

    r: dict = {}
    dataset = tmp / "data" / "ml_training_data-bench.parquet"
    dataset.parent.mkdir(parents=True)
    r["dataset"] = write_dataset(dataset, args.dataset_rows, args.seed)
    log(f"dataset: {r['dataset']}")

    # PostgreSQL and the predictor start in a thread while this process trains.
    deploy = LocalDeployment(tmp / "deploy", with_estate=False, model_poll_seconds=0.5)
    started: dict = {}
    starter = threading.Thread(target=lambda: started.update(ok=start_predictor(deploy)), daemon=True)
    starter.start()
    try:
        trained = train_waste_model(dataset)
        sk_model, _ = refit_pipeline(dataset, trained.algorithm)
        r["algorithm"] = trained.algorithm
        r["max_abs_diff_onnx_vs_sklearn"] = trained.metrics["onnx_max_abs_diff"]  # the trainer's own check
        log(
            f"trained {trained.algorithm}: roc_auc {trained.metrics['roc_auc']:.3f} "
            f"(rule-only {trained.baseline_metrics['roc_auc']:.3f}); "
            f"ONNX vs scikit-learn + calibration max |dp| {r['max_abs_diff_onnx_vs_sklearn']:.1e}"
        )
        starter.join(180)
        if "ok" not in started:
            raise RuntimeError(f"the local deployment did not start; see {deploy.log_dir}")
        db = Database(deploy.pg.url, pool_size=1)
        try:
            store = PredictorStore(db)
            store.register(store.create_training_run(dataset.as_uri()).id, "waste", trained, activate=True)
        finally:
            db.dispose()
        requests = make_requests(512, args.seed + 1)
        with grpc.insecure_channel(
            deploy.addresses["predictor"], options=[("grpc.enable_http_proxy", 0)]
        ) as ch:
            wait_model_loaded(predictor_service_pb2_grpc.PredictorServiceStub(ch), requests[0], 30)

        r["grpc"] = bench_grpc(
            deploy.addresses["predictor"], deploy.metrics["predictor"], requests, args.requests, args.warmup
        )
        r["concurrent"] = bench_concurrent(deploy.addresses["predictor"], requests, CLIENTS, args.seconds)
        rows = [servicer.features_row(q.features, "features") for q in requests]  # what the server feeds ONNX
        model = WasteModel.from_bytes(trained.onnx, "bench")
        r["onnx"] = stats_ms(time_calls(lambda row: model.predict([row]), rows, args.requests, warmup=200))
        r["sklearn"] = bench_sklearn(sk_model, rows, args.sklearn_rows)
    finally:
        starter.join(180)
        deploy.stop()
    return r


def report(r: dict) -> list[Target]:
    p, h, o, s = r["grpc"]["predict"], r["grpc"]["health"], r["onnx"], r["sklearn"]
    print(f"\n{'per call, ms':<52}{'n':>6}{'p50':>9}{'p99':>9}{'mean':>9}")
    for name, st in (
        ("PredictWaste over gRPC (loopback, concurrency 1)", p),
        ("Health/Check over gRPC, same server (baseline)", h),
        ("ONNX Runtime, WasteModel.predict, 1 row", o),
        ("scikit-learn unpickled, 1-row DataFrame + proba", s),
    ):
        print(f"{name:<52}{st['n']:>6}{st['p50_ms']:>9.3f}{st['p99_ms']:>9.3f}{st['mean_ms']:>9.3f}")
    c = r["concurrent"]
    print(
        f"{c['clients']} concurrent clients, calls/s: PredictWaste {c['predict_per_s']:,.0f}, "
        f"Health/Check {c['health_per_s']:,.0f}"
    )
    srv = r["grpc"]["server_ms"]
    if srv:
        print(
            "server side, mean ms (predictor's Prometheus): "
            + ", ".join(f"{k} {v:.3f}" for k, v in srv.items())
        )

    def ms(x: float) -> str:
        return f"{x:.3f} ms"

    return [
        Target(
            f"PredictWaste p50 <= {P50_MS:g} ms",
            ms(p["p50_ms"]),
            f"Health/Check p50 {ms(h['p50_ms'])}",
            p["p50_ms"] / h["p50_ms"],
            p["p50_ms"] <= P50_MS,
        ),
        Target(
            f"PredictWaste p50 <= {P50_OVER_HEALTH_RATIO:g}x Health/Check p50",
            ms(p["p50_ms"]),
            f"Health/Check p50 {ms(h['p50_ms'])}",
            p["p50_ms"] / h["p50_ms"],
            p["p50_ms"] <= P50_OVER_HEALTH_RATIO * h["p50_ms"],
        ),
        Target(
            f"{c['clients']} concurrent clients: PredictWaste calls/s >= {THROUGHPUT_SHARE:g}x Health/Check's",
            f"{c['predict_per_s']:,.0f}/s",
            f"Health/Check {c['health_per_s']:,.0f}/s",
            c["predict_per_s"] / c["health_per_s"],
            c["predict_per_s"] >= THROUGHPUT_SHARE * c["health_per_s"],
        ),
        Target(
            f"PredictWaste p50 - Health/Check p50 <= {P50_OVER_HEALTH_MS:g} ms",
            ms(p["p50_ms"] - h["p50_ms"]),
            f"Health/Check p50 {ms(h['p50_ms'])}",
            p["p50_ms"] / h["p50_ms"],
            p["p50_ms"] - h["p50_ms"] <= P50_OVER_HEALTH_MS,
        ),
        Target(
            f"PredictWaste p99 <= {P99_MS:g} ms",
            ms(p["p99_ms"]),
            f"Health/Check p99 {ms(h['p99_ms'])}",
            p["p99_ms"] / h["p99_ms"],
            p["p99_ms"] <= P99_MS,
        ),
        Target(
            f"PredictWaste p99 - Health/Check p99 <= {P99_OVER_HEALTH_MS:g} ms",
            ms(p["p99_ms"] - h["p99_ms"]),
            f"Health/Check p99 {ms(h['p99_ms'])}",
            p["p99_ms"] / h["p99_ms"],
            p["p99_ms"] - h["p99_ms"] <= P99_OVER_HEALTH_MS,
        ),
        Target(
            f"scikit-learn per row >= {SKLEARN_OVER_ONNX:g}x ONNX per row (p50)",
            f"scikit-learn {ms(s['p50_ms'])}",
            f"ONNX {ms(o['p50_ms'])}",
            s["p50_ms"] / o["p50_ms"],
            s["p50_ms"] / o["p50_ms"] >= SKLEARN_OVER_ONNX,
        ),
    ]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=3000, help="timed PredictWaste calls (and ONNX rows)")
    ap.add_argument("--warmup", type=int, default=200, help="untimed calls first")
    ap.add_argument("--sklearn-rows", type=int, default=300, help="timed rows of the scikit-learn baseline")
    ap.add_argument("--dataset-rows", type=int, default=3000, help="rows of the training dataset")
    ap.add_argument("--seconds", type=float, default=3.0, help="each concurrent-clients measurement")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--json", type=Path, help="also write the numbers here")
    args = ap.parse_args(argv)
    if args.requests < 100:
        ap.error("--requests must be at least 100")
    warnings.filterwarnings("ignore")
    r = run_in_tempdir(
        "cloudwaste-bench-",
        lambda tmp: run(args, tmp),
        lambda tmp: sorted((tmp / "deploy" / "logs").glob("*.log")),
    )
    if r is None:
        return 2
    targets = report(r)
    if args.json:
        args.json.write_text(json.dumps({**r, "targets": [t.__dict__ for t in targets]}, indent=2))
    return report_targets(targets)


if __name__ == "__main__":
    sys.exit(main())
