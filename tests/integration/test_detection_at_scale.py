"""Exact detection at the scale users live in: a 3,000-resource estate in 3 regions (its own moto
server and account; the EC2 core and every simulated service), scanned with every rule, metric
rules included, finds exactly the ground truth's waste, no more, no fewer, every rule firing; and
the metric calls stay at ceil(queries / 500) per window."""

from __future__ import annotations

import math
import threading
from collections import Counter

import pytest
from cloudwaste.scanner import providers
from cloudwaste.scanner.engine import Engine, ScanTarget
from cloudwaste.scanner.kinds import load_all as load_kinds
from cloudwaste.scanner.rules import load_all as load_rules

ACCOUNT = "333344445555"


@pytest.fixture(scope="module")
def large_estate():
    from cloudwaste.sim.aws import seed_estate, start_moto

    handle = start_moto()
    truth = seed_estate(handle.endpoint_url, size=3000, seed=23, account_id=ACCOUNT)
    yield handle.endpoint_url, truth
    handle.stop()


def test_every_rule_is_exact_on_3000_resources(large_estate, monkeypatch):
    endpoint, truth = large_estate
    engine = Engine(load_rules(), {"aws": {"endpoint_url": endpoint}}, 3)
    calls: Counter = Counter()
    lock = threading.Lock()

    def observe(provider, caller, operation):
        with lock:
            calls[(caller, operation)] += 1

    target = ScanTarget(
        "aws",
        {"role_arn": f"arn:aws:iam::{ACCOUNT}:role/CloudWasteScanner", "external_id": "ext-scale"},
        list(truth.regions),
    )
    # the metric queries of each scope and window, as the engine hands them to the provider
    provider = providers.get("aws")
    queries: Counter = Counter()
    fetch = provider.fetch_metrics

    def recording(conn, scope, batch, now):
        with lock:
            for q in batch:
                queries[(scope, q.days)] += 1
        return fetch(conn, scope, batch, now)

    monkeypatch.setattr(provider, "fetch_metrics", recording)
    # and the findings' metric history, fetched once the rules have run (30 days, hourly)
    history: Counter = Counter()
    fetch_history = provider.fetch_history

    def recording_history(conn, scope, batch, now, period):
        with lock:
            history[scope] += len(batch)
        return fetch_history(conn, scope, batch, now, period)

    monkeypatch.setattr(provider, "fetch_history", recording_history)
    with providers.observe_calls(observe):
        plan = engine.resolve_scopes(target)
        outcomes = engine.scan_scopes(plan, lambda outcome: None)
        collected = engine.collect_history(plan, outcomes)  # as the worker does once the run has ended
    assert all(o.succeeded and not o.kind_errors and not o.rule_errors for o in outcomes)
    found = {(f.resource.resource_id, f.detection.scenario) for o in outcomes for f in o.findings}
    expected = {(t.resource_id, t.scenario) for t in truth.waste()}
    assert len(expected) > 900
    assert found - expected == set(), "false positives"
    assert expected - found == set(), "misses"
    idle = [t for t in truth.waste() if t.scenario == "ec2-instance-idle"]
    assert len(idle) >= 50
    # the estate exercises the whole catalogue: every rule fires somewhere, and the truth names
    # only registered kinds and rules
    rules = {r.key for r in load_rules().for_provider("aws")}
    assert {scenario for _, scenario in found} == rules
    assert {t.resource_type for t in truth.resources} <= {k.key for k in load_kinds().for_provider("aws")}
    # each metric window of each region (NAT and EBS volumes 30 days, instances 14, ...) costs
    # ceil(candidates x metrics / 500) calls: a handful, never one per resource
    metric_calls = calls[(providers.get("aws").METRICS_CALLER, "cloudwatch:GetMetricData")]
    assert {days for _, days in queries} >= {14, 30}
    assert history and sum(history.values()) >= 3 * len(idle)  # CPU, network in and out of each idle instance
    idle_ids = {t.resource_id for t in idle}
    series = [s for (kind, rid), s in collected.items() if rid in idle_ids]
    assert len(series) == len(idle) and all(len(s["cpu_average"].values) == 720 for s in series)
    assert metric_calls == sum(math.ceil(n / 500) for n in queries.values()) + sum(
        math.ceil(n / 500) for n in history.values()
    )
