"""What every benchmark script shares: a temp folder PostgreSQL can use, SIGTERM handled like Ctrl-C,
the tails of the relevant logs on failure, cleanup; timing statistics; Prometheus scrapes; synthetic
findings and ML rows built by the product itself; and the one PASS/FAIL line per target.

Synthetic data is never re-implemented here: every finding is a rule's own "fires" fixture with its
times stretched and its region and tags redrawn, judged by the rule itself (scenario, confidence,
price), turned into an ML row by the scanner's `base_row`, enriched with the enricher's functions,
and decided by the simulated user of the dev estate (`DecisionModel`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import random
import shutil
import signal
import sys
import tempfile
import threading
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path

import numpy as np


def run_in_tempdir(
    prefix: str, run: Callable[[Path], dict], logs: Callable[[Path], list[Path]]
) -> dict | None:
    """run(tmp) in a fresh folder that is always removed; None when it failed or was interrupted."""

    def on_term(*_):
        raise KeyboardInterrupt

    signal.signal(signal.SIGTERM, on_term)
    tmp = Path(tempfile.mkdtemp(prefix=prefix))
    os.chmod(tmp, 0o755)  # PostgreSQL runs as `postgres` when we are root
    try:
        return run(tmp)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return None
    except Exception:
        traceback.print_exc()
        for log in logs(tmp):
            if log.exists():
                tail = log.read_text(errors="replace").splitlines()[-15:]
                print(f"--- {log.name} (last lines)\n" + "\n".join(tail), file=sys.stderr)
        return None
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def log(msg: str) -> None:
    print(f"[{time.strftime('%H:%M:%S')}] {msg}", flush=True)


# --- timing ------------------------------------------------------------------------------------


def stats_ms(samples_s: Sequence[float]) -> dict:
    a = np.asarray(samples_s, dtype=np.float64) * 1000.0
    p50, p99 = np.percentile(a, [50, 99])
    return {"n": int(a.size), "p50_ms": float(p50), "p99_ms": float(p99), "mean_ms": float(a.mean())}


def time_calls(fn: Callable, args: Sequence, n: int, warmup: int = 0) -> list[float]:
    """fn(args[i % len(args)]) n times after `warmup` untimed calls; per-call durations in seconds."""
    for i in range(warmup):
        fn(args[i % len(args)])
    out, pc = [0.0] * n, time.perf_counter
    for i in range(n):
        a = args[i % len(args)]
        t0 = pc()
        fn(a)
        out[i] = pc() - t0
    return out


def concurrent_calls(address: str, make_call, payloads: list, clients: int, seconds: float) -> dict:
    """`clients` threads, each on its own channel (connection), calling as fast as answers come
    for `seconds` (connected before the clock starts): calls/s, latency and every error."""
    import grpc

    durations: list[list[float]] = [[] for _ in range(clients)]
    errors: list[str] = []
    start, stop = threading.Barrier(clients + 1), threading.Event()

    def client(i: int) -> None:
        with grpc.insecure_channel(address, options=[("grpc.enable_http_proxy", 0)]) as channel:
            call = make_call(channel)
            call(payloads[0], timeout=10)
            start.wait()
            k, pc = i, time.perf_counter
            while not stop.is_set():
                t0 = pc()
                try:
                    call(payloads[k % len(payloads)], timeout=10)
                except grpc.RpcError as exc:
                    errors.append(f"{exc.code().name}: {exc.details()}")
                durations[i].append(pc() - t0)
                k += clients

    threads = [threading.Thread(target=client, args=(i,), daemon=True) for i in range(clients)]
    for t in threads:
        t.start()
    start.wait()
    t0 = time.perf_counter()
    time.sleep(seconds)
    stop.set()
    elapsed = time.perf_counter() - t0
    for t in threads:
        t.join(30)
    flat = [d for ds in durations for d in ds]
    return {"per_s": len(flat) / elapsed, **stats_ms(flat), "errors": len(errors), "first_errors": errors[:3]}


# --- targets -----------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Target:
    """One target: `measured` must be <= (or >=) `limit`; `baseline` is the same-run reference and
    `ratio` the measured value relative to it (as the target's wording defines it)."""

    name: str
    measured: str
    baseline: str
    ratio: float
    ok: bool


def finish(result: dict | None, report: Callable[[dict], Sequence[Target]], json_path: str) -> int:
    """A bench's end: 2 when it could not run (`result` None), else its targets reported (and the
    result written to `json_path` when given); the exit status."""
    if result is None:
        return 2
    targets = report(result)
    if json_path:
        import json

        Path(json_path).write_text(json.dumps(result, indent=2, default=str))
    return report_targets(targets)


def report_targets(targets: Sequence[Target]) -> int:
    """One line per target; returns the exit status (0 when every target passed, else 1)."""
    print()
    for t in targets:
        print(
            f"{'PASS' if t.ok else 'FAIL'}  {t.name}  |  measured {t.measured}  |  "
            f"baseline {t.baseline}  |  ratio {t.ratio:.2f}x",
            flush=True,
        )
    return 0 if targets and all(t.ok for t in targets) else 1


# --- Prometheus --------------------------------------------------------------------------------


def scrape(port: int) -> list:
    """The metric families a service exposes on its Prometheus port (no proxy)."""
    import urllib.request

    from prometheus_client.parser import text_string_to_metric_families

    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))
    text = opener.open(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    return list(text_string_to_metric_families(text))


def sample_values(families: list, sample_name: str) -> dict[tuple, float]:
    """{sorted label items: value} of every sample with that exact name."""
    return {
        tuple(sorted(s.labels.items())): s.value for f in families for s in f.samples if s.name == sample_name
    }


# --- synthetic findings and ML rows, built by the product ---------------------------------------


def synthetic_findings(
    n: int, seed: int, regions: Sequence[str], start: dt.datetime, span_days: float
) -> Iterator[tuple]:
    """n (FindingDraft, detected_at) pairs; the rules decide what fires and how confidently."""
    from cloudwaste.scanner.domain import FindingDraft, severity_for
    from cloudwaste.scanner.pricing import AwsPrices
    from cloudwaste.scanner.rules import Context, load_all
    from cloudwaste.sim.history import rebase_fixture
    from cloudwaste.sim.profile import ROLES, draw_tags

    rules = [r for r in load_all() if r.fixtures is not None and r.provider == "aws"]
    params = {r.key: r.resolve_params() for r in rules}
    prices = {region: AwsPrices(region) for region in regions}
    rng = random.Random(seed)
    made = 0
    while made < n:
        rule = rng.choice(rules)
        fx = rule.fixtures
        now = start + dt.timedelta(days=rng.uniform(0, span_days), seconds=rng.randint(0, 86399))
        stretch = rng.lognormvariate(0.0, 1.0)  # every time of the fixture, `stretch` times as old
        region = rng.choice(list(regions))

        def rebase(r, fx=fx, now=now, stretch=stretch, region=region):
            return rebase_fixture(r, fx.now, now, stretch, region)

        related = {(r.kind, r.resource_id): rebase(r) for r in fx.related}
        kind = rule.resource_kind.rsplit(".", 1)[1]
        res = dataclasses.replace(
            rebase(fx.fires),
            resource_id=f"{fx.fires.resource_id}-{made}",
            tags=draw_tags(rng, kind if kind in ROLES else "instance"),
        )
        ctx = Context(
            now=now, prices=prices[region], lookup=lambda k, i, related=related: related.get((k, i))
        )
        detection = rule.evaluate(res, params[rule.key], ctx)
        if detection is None:  # the stretched fixture became a near miss: draw again
            continue
        made += 1
        yield FindingDraft(res, detection, severity_for(detection.monthly_cost)), now


def ml_rows(
    n: int,
    seed: int,
    regions: Sequence[str] | None = None,
    start: dt.datetime = dt.datetime(2026, 3, 1, tzinfo=dt.UTC),
    span_days: float = 90.0,
    decided_share: float = 0.8,
) -> Iterator[tuple]:
    """n (ml_training_data row, FindingDraft) pairs: the scanner's base row, the enricher's
    columns, and a simulated decision on `decided_share` of them. JSON columns are dicts. Regions:
    every AWS region the product knows by default."""
    from cloudwaste.core.regions import known_regions
    from cloudwaste.core.settings import HashKey
    from cloudwaste.enricher.features import anonymize_tags, temporal_features
    from cloudwaste.scanner.mlrows import base_row
    from cloudwaste.scanner.store import label_values
    from cloudwaste.sim.profile import DecisionModel

    rng = random.Random(seed + 1)
    key = HashKey(key=b"bench-hash-key-" + b"x" * 32, key_id="bench-1")
    tenants = [f"tenant-{i}" for i in range(8)]
    accounts = [(f"{100000000000 + i}", rng.choice(tenants)) for i in range(40)]
    users = DecisionModel()
    regions = regions or sorted(known_regions("aws"))
    for draft, detected in synthetic_findings(n, seed, regions, start, span_days):
        account, tenant = rng.choice(accounts)
        row = base_row(draft, key=key, tenant_id=tenant, account_ref=account, detected_at=detected)
        row["tags_anonymized"] = anonymize_tags(draft.resource.tags)
        row["temporal_features"] = temporal_features(draft.resource.created_at)
        row["enriched_at"] = detected + dt.timedelta(seconds=rng.randint(5, 600))
        if rng.random() < decided_share:
            decision = users.draw(
                rng,
                tags=draft.resource.tags,
                scenario=draft.detection.scenario,
                age_days=row["resource_age_days"],
                monthly_cost=row["cost_monthly"],
            )
            when = detected + dt.timedelta(hours=rng.expovariate(1 / 36.0))
            row.update(label_values(decision.upper(), when, detected))
        yield row, draft
