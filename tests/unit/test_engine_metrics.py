"""The engine's metric layer with a fake provider: series are fetched once per scope for every
metric rule together, only for the resources a rule could flag, and a fetch that fails fails the
metric rules of that scope (their findings are left as they were), never reads as zero."""

from __future__ import annotations

from decimal import Decimal

from cloudwaste.scanner.domain import Detection
from cloudwaste.scanner.engine import Engine, ScanTarget
from cloudwaste.scanner.providers import ProviderRegistry
from cloudwaste.scanner.rules import Metric, Param, Registry, Rule, Series

from tests.unit.test_engine import (
    ADDRESS,
    DISK,
    NOW,
    FakeConnection,
    FakeProvider,
    _address_idle,
    _estate,
    _kinds,
)

IO = Metric("io", "Fake/Disk", "IoOps", "DiskId", "Sum")
SIZE = Metric("size", "Fake/Disk", "Bytes", "DiskId", "Maximum")


class MetricProvider(FakeProvider):
    metric_operation = "fake:GetMetrics"

    def __init__(self, conn, series=None, fail=None):
        super().__init__(conn)
        self.series, self.fail, self.fetches = series or {}, fail, []

    def fetch_metrics(self, conn, scope, queries, now):
        self.fetches.append((scope, sorted(q.key for q in queries)))
        if self.fail:
            raise self.fail
        return {q.key: self.series.get(q.key, Series((), q.days)) for q in queries}


def _idle_disk(r, p, ctx):
    io = ctx.metric(r, "io", p["window_days"])
    if io is None or io.coverage < 0.9 or io.total > 0:
        return None
    return Detection("disk-idle", "HIGH", Decimal("1"), {"io": io.evidence()})


def _rules() -> Registry:
    reg = Registry()
    reg.register(
        Rule(
            key="disk-idle",
            provider="fake",
            resource_kind=DISK,
            title="t",
            doc="d",
            permissions=(),
            params={"window_days": Param(float, 7.0, "window", 1)},
            evaluate=_idle_disk,
            metrics=(IO, SIZE),
            candidate=lambda r, p, ctx: not r.attributes.get("attached_to"),
        )
    )
    reg.register(
        Rule(
            key="address-idle",
            provider="fake",
            resource_kind=ADDRESS,
            title="t",
            doc="d",
            permissions=(),
            params={},
            evaluate=_address_idle,
        )
    )
    return reg


def _engine(provider_factory):
    provider = provider_factory(FakeConnection(_estate(), {}))
    providers = ProviderRegistry()
    providers.register(provider)
    engine = Engine(_rules(), {}, 1, lambda: NOW, providers=providers, kinds=_kinds())
    return engine, provider


def test_series_are_fetched_once_per_scope_for_candidates_only():
    series = {("loose", "io", 7): Series((0.0,) * 7, 7)}
    engine, provider = _engine(lambda conn: MetricProvider(conn, series))
    outcomes = engine.scan(ScanTarget("fake", {"token": "t"}, ["zone-a", "zone-b"]))
    # one fetch per scope, for the one unattached disk, both metrics of the rule, its window
    assert sorted(provider.fetches) == [
        (zone, [("loose", "io", 7), ("loose", "size", 7)]) for zone in ("zone-a", "zone-b")
    ]
    for o in outcomes:
        found = {(f.resource.resource_id, f.detection.scenario) for f in o.findings}
        assert found == {("loose", "disk-idle"), ("ip1", "address-idle")} and not o.rule_errors
        (idle,) = [f for f in o.findings if f.detection.scenario == "disk-idle"]
        assert idle.detection.evidence["io"] == {
            "days": 7,
            "datapoints": 7,
            "total": 0.0,
            "peak": 0.0,
            "mean": 0.0,
        }


def test_missing_datapoints_are_not_zero():
    engine, _ = _engine(lambda conn: MetricProvider(conn, {("loose", "io", 7): Series((0.0,) * 3, 7)}))
    outcomes = engine.scan(ScanTarget("fake", {"token": "t"}, ["zone-a"]))
    assert [f.detection.scenario for f in outcomes[0].findings] == ["address-idle"]  # 3 of 7 days: not idle


def test_the_window_parameter_decides_the_series_asked_for():
    engine, provider = _engine(
        lambda conn: MetricProvider(conn, {("loose", "io", 14): Series((0.0,) * 14, 14)})
    )
    target = ScanTarget("fake", {"token": "t"}, ["zone-a"], {"disk-idle": {"window_days": 13.5}})
    outcomes = engine.scan(target)
    assert provider.fetches == [("zone-a", [("loose", "io", 14), ("loose", "size", 14)])]
    assert "disk-idle" in {f.detection.scenario for f in outcomes[0].findings}


def test_a_failing_fetch_fails_the_metric_rules_of_the_scope_only():
    engine, _ = _engine(lambda conn: MetricProvider(conn, fail=TimeoutError("throttled for too long")))
    (outcome,) = engine.scan(ScanTarget("fake", {"token": "t"}, ["zone-a"]))
    assert outcome.succeeded and set(outcome.rule_errors) == {"disk-idle"}
    assert (
        "metrics unavailable" in outcome.rule_errors["disk-idle"]
        and "throttled" in outcome.rule_errors["disk-idle"]
    )
    assert [f.detection.scenario for f in outcome.findings] == ["address-idle"]
    assert "disk-idle" not in outcome.rule_params  # so the store resolves none of its findings


def test_no_candidate_no_fetch():
    engine, provider = _engine(lambda conn: MetricProvider(conn))
    target = ScanTarget("fake", {"token": "t"}, ["zone-a"], {"disk-idle": {"enabled": False}})
    engine.scan(target)
    assert provider.fetches == []


def test_a_provider_without_metrics_fails_the_metric_rules_with_a_reason():
    engine, _ = _engine(FakeProvider)
    (outcome,) = engine.scan(ScanTarget("fake", {"token": "t"}, ["zone-a"]))
    assert "not supported" in outcome.rule_errors["disk-idle"]
    assert DISK in outcome.kinds_listed
