"""The engine with a fake provider (no cloud SDK): each needed kind listed once per scope, only the
needed kinds listed, a failing kind fails alone, disabled rules skip their kinds, overrides apply."""

from __future__ import annotations

import datetime as dt
import threading
from collections import Counter
from decimal import Decimal

import pytest
from cloudwaste.core.errors import FailedPrecondition, InvalidArgument
from cloudwaste.scanner.domain import Detection, FindingRef, Resource, ScopeOutcome
from cloudwaste.scanner.engine import Engine, ScanTarget
from cloudwaste.scanner.kinds import Kind, KindRegistry
from cloudwaste.scanner.providers import Provider, ProviderRegistry, api_caller, current_caller
from cloudwaste.scanner.rules import Param, Registry, Rule
from prometheus_client import REGISTRY as PROM

NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)
DISK, MACHINE, ADDRESS = "fake.compute.disk", "fake.compute.machine", "fake.network.address"


class FakeConnection:
    def __init__(self, estate: dict[str, dict[str, list[dict]]], fail: dict[tuple[str, str], Exception]):
        self.estate, self.fail = estate, fail
        self.calls: Counter[tuple[str, str]] = Counter()
        self.callers: list[str] = []
        self.lock = threading.Lock()

    def records(self, scope: str, kind: str) -> list[dict]:
        with self.lock:
            self.calls[(scope, kind)] += 1
            self.callers.append(current_caller())
        if (scope, kind) in self.fail:
            raise self.fail[(scope, kind)]
        if scope == "unreachable":
            raise ConnectionError("endpoint unreachable")
        return self.estate.get(scope, {}).get(kind, [])


class FakePrices:
    def __init__(self, scope: str) -> None:
        self.scope = scope

    def disk(self, gb: int) -> Decimal:
        return Decimal("0.1") * gb


class FakeProvider(Provider):
    key = "fake"
    display_name = "Fake"
    scope_noun = "zone"
    scope_description = "a Fake zone"
    scope_operations = ("fake:ListZones",)

    def __init__(self, conn: FakeConnection) -> None:
        self.conn = conn
        self.connected_with: list = []

    def validate_access(self, access, field):
        if not access.get("token"):
            raise InvalidArgument(f"{field}.token", "is required")
        return {"token": access["token"]}

    def valid_scopes(self):
        return frozenset({"zone-a", "zone-b", "zone-c", "unreachable"})

    def options_from_settings(self, settings):
        return {}

    def connect(self, access, options):
        if access.get("token") == "refused":
            raise FailedPrecondition("access refused")
        self.connected_with.append((dict(access), dict(options)))
        return self.conn

    def _list_scopes(self, conn):
        conn.callers.append(current_caller())
        return ["zone-a", "zone-b"]

    def prices(self, scope):
        return FakePrices(scope)

    def describe_error(self, exc):
        return f"{exc.__class__.__name__}: {exc}"[:200]


def _lister(kind_key: str):
    def list_kind(conn, scope, now, deps):
        disks = {r.resource_id for r in deps.get(DISK, [])}
        out = []
        for rec in conn.records(scope, kind_key):
            attrs = dict(rec)
            if kind_key == MACHINE:
                attrs["disks"] = sorted(d for d in disks if d.startswith(rec["id"] + "/"))
            out.append(Resource("fake", kind_key, rec["id"], scope, attributes=attrs))
        return out

    return list_kind


def _kinds() -> KindRegistry:
    reg = KindRegistry()
    for key, requires in ((DISK, ()), (MACHINE, (DISK,)), (ADDRESS, ())):
        reg.register(
            Kind(
                key=key,
                provider="fake",
                title=key,
                operations=(f"fake:List{key.rsplit('.', 1)[1].title()}s",),
                id_field="id",
                name_field="name",
                created_field=None,
                ml_config={"size": int},
                list=_lister(key),
                requires=requires,
                doc="d",
            )
        )
    return reg


def _rule(key, kind, fn, needs=(), params=None) -> Rule:
    return Rule(
        key=key,
        provider="fake",
        resource_kind=kind,
        title="t",
        doc="d",
        permissions=(),
        params=params or {},
        evaluate=fn,
        confidence_doc="c",
        needs=needs,
    )


def _disk_unused(r, p, ctx):
    if r.attributes.get("attached_to") or r.attributes["size"] < p["min_size"]:
        return None
    return Detection(
        "disk-unused", "HIGH", ctx.prices.disk(r.attributes["size"]), {"scope": ctx.prices.scope}
    )


def _disk_on_stopped(r, p, ctx):
    host = r.attributes.get("attached_to")
    machine = ctx.lookup(MACHINE, host) if host else None
    if machine is None or machine.attributes.get("state") != "stopped":
        return None
    return Detection(
        "disk-on-stopped-machine",
        "MEDIUM",
        ctx.prices.disk(r.attributes["size"]),
        {},
        parent=FindingRef(MACHINE, host, "machine-stopped"),
    )


def _machine_stopped(r, p, ctx):
    if r.attributes.get("state") != "stopped":
        return None
    return Detection("machine-stopped", "MEDIUM", Decimal(0), {"disks": len(r.attributes["disks"])})


def _address_idle(r, p, ctx):
    return Detection("address-idle", "HIGH", Decimal("3.65"), {}) if not r.attributes.get("used") else None


def _rules() -> Registry:
    reg = Registry()
    reg.register(
        _rule("disk-unused", DISK, _disk_unused, params={"min_size": Param(int, 1, "smallest size", 0)})
    )
    reg.register(_rule("disk-on-stopped-machine", DISK, _disk_on_stopped, needs=(MACHINE,)))
    reg.register(_rule("machine-stopped", MACHINE, _machine_stopped))
    reg.register(_rule("address-idle", ADDRESS, _address_idle))
    return reg


def _estate() -> dict:
    zone = {
        DISK: [
            {"id": "m1/d1", "size": 10, "attached_to": "m1"},
            {"id": "m1/d2", "size": 20, "attached_to": "m1"},
            {"id": "loose", "size": 5, "attached_to": None},
        ],
        MACHINE: [{"id": "m1", "state": "stopped"}, {"id": "m2", "state": "running"}],
        ADDRESS: [{"id": "ip1", "used": False}, {"id": "ip2", "used": True}],
    }
    return {"zone-a": zone, "zone-b": zone, "zone-c": zone}


def _engine(fail=None, concurrency=2):
    conn = FakeConnection(_estate(), fail or {})
    provider = FakeProvider(conn)
    providers = ProviderRegistry()
    providers.register(provider)
    engine = Engine(
        _rules(),
        {"fake": {"endpoint_url": "local"}},
        concurrency,
        lambda: NOW,
        providers=providers,
        kinds=_kinds(),
    )
    return engine, conn, provider


def _scan(engine, scopes=("zone-a", "zone-b"), overrides=None):
    saved: list[ScopeOutcome] = []
    outcomes = engine.scan(ScanTarget("fake", {"token": "t"}, list(scopes), overrides), saved.append)
    assert sorted(o.scope for o in saved) == sorted(o.scope for o in outcomes)
    return {o.scope: o for o in outcomes}


def _scenarios(outcome: ScopeOutcome) -> set[tuple[str, str]]:
    return {(f.detection.scenario, f.resource.resource_id) for f in outcome.findings}


ALL_FINDINGS = {
    ("disk-unused", "loose"),
    ("disk-on-stopped-machine", "m1/d1"),
    ("disk-on-stopped-machine", "m1/d2"),
    ("machine-stopped", "m1"),
    ("address-idle", "ip1"),
}


def test_each_kind_listed_once_per_scope_and_feeds_every_rule():
    engine, conn, provider = _engine()
    out = _scan(engine)
    assert set(out) == {"zone-a", "zone-b"}
    for scope in ("zone-a", "zone-b"):
        o = out[scope]
        assert o.succeeded and o.error_message == "" and o.kind_errors == {}
        assert _scenarios(o) == ALL_FINDINGS
        assert o.kinds_listed == {DISK, MACHINE, ADDRESS}
        assert o.resources_scanned == 7
        assert ("fake.compute.disk", "m1/d1") in o.listed and len(o.listed) == 7
        assert o.rule_params == {
            "disk-unused": {"min_size": 1},
            "disk-on-stopped-machine": {},
            "machine-stopped": {},
            "address-idle": {},
        }
        for kind in (DISK, MACHINE, ADDRESS):
            assert conn.calls[(scope, kind)] == 1
    assert provider.connected_with == [({"token": "t"}, {"endpoint_url": "local"})]


def test_calls_are_attributed_to_the_kind_listing_them_and_scopes_to_scopes():
    engine, conn, _ = _engine()
    _scan(engine, scopes=())  # no scope requested: every enabled one
    assert conn.callers[0] == "scopes"
    assert set(conn.callers[1:]) == {DISK, MACHINE, ADDRESS}
    assert current_caller() == ""
    with api_caller("x"):
        assert current_caller() == "x"


def test_parent_points_at_the_machine_finding():
    engine, _, _ = _engine()
    o = _scan(engine)["zone-a"]
    parts = [f for f in o.findings if f.detection.scenario == "disk-on-stopped-machine"]
    assert {f.detection.parent for f in parts} == {FindingRef(MACHINE, "m1", "machine-stopped")}
    machine = next(f for f in o.findings if f.detection.scenario == "machine-stopped")
    assert machine.detection.evidence == {"disks": 2}  # the machine listing got the disks it requires


def test_only_kinds_needed_by_enabled_rules_are_listed():
    engine, conn, _ = _engine()
    out = _scan(
        engine,
        overrides={
            "disk-on-stopped-machine": {"enabled": False},
            "machine-stopped": {"enabled": False},
            "disk-unused": {"enabled": False},
        },
    )
    for o in out.values():
        assert o.kinds_listed == {ADDRESS}
        assert _scenarios(o) == {("address-idle", "ip1")}
        assert set(o.rule_params) == {"address-idle"}
    assert {kind for _, kind in conn.calls} == {ADDRESS}


def test_a_disabled_rule_does_not_run_but_its_kind_is_listed_when_another_rule_needs_it():
    engine, conn, _ = _engine()
    o = _scan(engine, overrides={"machine-stopped": {"enabled": False}})["zone-a"]
    assert MACHINE in o.kinds_listed  # disk-on-stopped-machine looks machines up
    assert "machine-stopped" not in o.rule_params
    assert _scenarios(o) == ALL_FINDINGS - {("machine-stopped", "m1")}
    assert conn.calls[("zone-a", MACHINE)] == 1


def test_dependencies_of_needed_kinds_are_listed():
    engine, _, _ = _engine()
    o = _scan(
        engine,
        overrides={"disk-on-stopped-machine": {"enabled": False}, "disk-unused": {"enabled": False}},
    )["zone-a"]
    assert o.kinds_listed == {DISK, MACHINE, ADDRESS}  # machines require disks
    assert set(o.rule_params) == {"machine-stopped", "address-idle"}


def test_overrides_reach_the_rules_and_the_outcome():
    engine, _, _ = _engine()
    o = _scan(engine, overrides={"disk-unused": {"min_size": 6}})["zone-a"]
    assert ("disk-unused", "loose") not in _scenarios(o)
    assert o.rule_params["disk-unused"] == {"min_size": 6}


def test_bad_overrides_fail_before_connecting():
    engine, conn, provider = _engine()
    with pytest.raises(InvalidArgument) as exc:
        engine.scan(ScanTarget("fake", {"token": "t"}, ["zone-a"], {"disk-unused": {"min_size": -1}}))
    assert exc.value.field == "rule_parameters.disk-unused.min_size"
    with pytest.raises(InvalidArgument) as exc:
        engine.scan(ScanTarget("fake", {"token": "t"}, ["zone-a"], {"nope": {}}))
    assert exc.value.field == "rule_parameters.nope"
    assert provider.connected_with == [] and not conn.calls


def _kind_failures(kind: str) -> float:
    return (
        PROM.get_sample_value("cloudwaste_scanner_kind_failures_total", {"provider": "fake", "kind": kind})
        or 0.0
    )


def test_a_failing_kind_fails_alone_and_is_reported():
    before = _kind_failures(ADDRESS)
    engine, conn, _ = _engine(fail={("zone-a", ADDRESS): PermissionError("AccessDenied: not authorized")})
    out = _scan(engine)
    a, b = out["zone-a"], out["zone-b"]
    assert a.succeeded and a.error_message == ""
    assert a.kind_errors == {ADDRESS: "PermissionError: AccessDenied: not authorized"}
    assert a.kinds_listed == {DISK, MACHINE}
    assert "address-idle" not in a.rule_params and set(a.rule_params) == {
        "disk-unused",
        "disk-on-stopped-machine",
        "machine-stopped",
    }
    assert _scenarios(a) == ALL_FINDINGS - {("address-idle", "ip1")}
    assert not any(kind == ADDRESS for kind, _ in a.listed)
    assert b.kind_errors == {} and _scenarios(b) == ALL_FINDINGS  # the other scope is untouched
    assert conn.calls[("zone-a", ADDRESS)] == 1
    assert _kind_failures(ADDRESS) == before + 1


def test_a_failing_dependency_fails_its_dependents_and_the_rules_needing_them():
    engine, conn, _ = _engine(fail={("zone-a", DISK): TimeoutError("throttled after retries")})
    a = _scan(engine)["zone-a"]
    assert a.succeeded
    assert a.kind_errors[DISK] == "TimeoutError: throttled after retries"
    assert DISK in a.kind_errors[MACHINE] and "not listed" in a.kind_errors[MACHINE]
    assert conn.calls[("zone-a", MACHINE)] == 0  # never listed without its disks
    assert a.kinds_listed == {ADDRESS}
    assert set(a.rule_params) == {"address-idle"}
    assert _scenarios(a) == {("address-idle", "ip1")}


def test_a_relationship_rule_is_skipped_when_the_kind_it_looks_up_failed():
    engine, _, _ = _engine(fail={("zone-a", MACHINE): RuntimeError("boom")})
    a = _scan(engine)["zone-a"]
    assert set(a.rule_params) == {"disk-unused", "address-idle"}
    assert _scenarios(a) == {("disk-unused", "loose"), ("address-idle", "ip1")}
    assert a.kind_errors == {MACHINE: "RuntimeError: boom"}


def test_a_scope_where_nothing_can_be_listed_fails_as_a_whole():
    engine, _, _ = _engine()
    out = _scan(engine, scopes=("zone-a", "unreachable"))
    bad = out["unreachable"]
    assert not bad.succeeded and "endpoint unreachable" in bad.error_message
    assert set(bad.kind_errors) == {DISK, MACHINE, ADDRESS}
    assert bad.findings == [] and bad.rule_params == {} and bad.listed == frozenset()
    assert out["zone-a"].succeeded and _scenarios(out["zone-a"]) == ALL_FINDINGS


def test_a_rule_that_raises_is_reported_and_resolves_nothing():
    engine, _, _ = _engine()

    def boom(r, p, ctx):
        if r.resource_id.endswith("2"):
            raise ValueError("bad rule")
        return Detection("exploding-rule", "LOW", Decimal(1), {})

    engine.registry.register(_rule("exploding-rule", DISK, boom))
    o = _scan(engine)["zone-a"]
    assert o.succeeded and _scenarios(o) == ALL_FINDINGS  # its verdicts on the other disks are dropped too
    assert "exploding-rule" in o.rule_errors and "exploding-rule" not in o.rule_params


def test_a_scope_that_cannot_be_saved_is_reported_failed_and_the_others_go_on():
    engine, _, _ = _engine()
    saved = []

    def save(outcome):
        if outcome.scope == "zone-b" and outcome.succeeded:
            raise OSError("database down")
        saved.append(outcome)

    outcomes = engine.scan(ScanTarget("fake", {"token": "t"}, ["zone-a", "zone-b"]), save)
    by_scope = {o.scope: o for o in outcomes}
    assert by_scope["zone-a"].succeeded
    assert not by_scope["zone-b"].succeeded and "could not save" in by_scope["zone-b"].error_message
    assert {o.scope for o in saved} == {"zone-a", "zone-b"}


def test_stopping_interrupts_scopes_not_yet_started():
    engine, conn, _ = _engine(concurrency=1)
    outcomes = engine.scan(ScanTarget("fake", {"token": "t"}, ["zone-a", "zone-b"]), should_stop=lambda: True)
    assert all(not o.succeeded and "interrupted" in o.error_message for o in outcomes)
    assert not conn.calls


def test_unknown_provider_and_refused_access_are_domain_errors():
    engine, _, _ = _engine()
    with pytest.raises(FailedPrecondition, match="not supported"):
        engine.scan(ScanTarget("nocloud", {}, []))
    with pytest.raises(FailedPrecondition, match="refused"):
        engine.scan(ScanTarget("fake", {"token": "refused"}, []))


def test_requested_scopes_are_deduplicated_and_validated_by_the_provider():
    engine, _, provider = _engine()
    out = _scan(engine, scopes=("zone-b", "zone-b", "zone-a"))
    assert sorted(out) == ["zone-a", "zone-b"]
    assert provider.validate_scopes(["zone-a", "zone-a"], "regions") == ["zone-a"]
    with pytest.raises(InvalidArgument) as exc:
        provider.validate_scopes(["zone-a", "mars-1"], "cloud_account.regions")
    assert exc.value.field == "cloud_account.regions[1]" and "is not a Fake zone" in str(exc.value)


def test_provider_registry_errors():
    _, _, provider = _engine()
    reg = ProviderRegistry()
    reg.register(provider)
    with pytest.raises(ValueError, match="twice"):
        reg.register(provider)
    with pytest.raises(InvalidArgument) as exc:
        reg.get("gcp", field="cloud_account.provider")
    assert exc.value.field == "cloud_account.provider"
    with pytest.raises(FailedPrecondition):
        reg.get("gcp")
    assert reg.get("fake") is provider and reg.keys() == ["fake"]


def test_legacy_constructor_gives_the_endpoint_to_every_provider():
    _, _, provider = _engine()
    providers = ProviderRegistry()
    providers.register(provider)
    engine = Engine(_rules(), "http://127.0.0.1:5000", 2, providers=providers, kinds=_kinds())
    assert engine.options == {"fake": {"endpoint_url": "http://127.0.0.1:5000"}}


# --- the worker drives the engine and hands each scope to the store ---------------------------


class FakeStore:
    def __init__(self, run, account):
        self.claims = [(run, account)]
        self.saved, self.regions, self.finished, self.handed_over = [], [], [], []

    def fail_stale_runs(self, older_than):
        return 0

    def complete_stale_handoffs(self, ended_before):
        return 0

    def complete_handoff(self, run_id, history, costs=None):
        self.handed_over.append((run_id, dict(history)))
        self.costs = costs

    def claim_next_run(self, worker_id, lease=None):
        return self.claims.pop() if self.claims else None

    def renew_lease(self, run_id, worker_id, lease):
        return True

    def set_run_regions(self, run_id, scopes):
        self.regions.append((run_id, list(scopes)))

    def save_scope(self, run_id, account, outcome, detected_at):
        self.saved.append((run_id, outcome))

    def finish_run(self, run_id, outcomes, error):
        self.finished.append((run_id, list(outcomes), error))

        class Final:
            state = "FAILED" if error else "SUCCEEDED"
            findings_count = sum(len(o.findings) for o in outcomes)

        return Final()

    def runs_awaiting_enrichment(self):
        return []


def _run_and_account(regions=(), rule_parameters=None, access=None):
    from types import SimpleNamespace

    run = SimpleNamespace(id="run-1", regions=list(regions))
    account = SimpleNamespace(
        provider="fake", access=access or {"token": "t"}, regions=[], rule_parameters=rule_parameters
    )
    return run, account


def test_worker_scans_every_scope_and_saves_each():
    from cloudwaste.scanner.worker import ScanWorker

    engine, _, _ = _engine()
    store = FakeStore(*_run_and_account(rule_parameters={"address-idle": {"enabled": False}}))
    worker = ScanWorker(store, engine, notify=None)
    assert worker.run_once() is True
    assert store.regions == [("run-1", ["zone-a", "zone-b"])]  # resolved from the account
    assert sorted(o.scope for _, o in store.saved) == ["zone-a", "zone-b"]
    (run_id, outcomes, error) = store.finished[0]
    assert run_id == "run-1" and error is None and len(outcomes) == 2
    assert all("address-idle" not in o.rule_params for o in outcomes)
    # handed to the enricher once it has ended (this test provider has no metric history)
    assert store.handed_over == [("run-1", {})]
    assert worker.run_once() is False


def test_worker_records_bad_parameters_as_the_run_error():
    from cloudwaste.scanner.worker import ScanWorker

    engine, _, _ = _engine()
    store = FakeStore(*_run_and_account(["zone-a"], rule_parameters={"nope": {}}))
    ScanWorker(store, engine, notify=None).run_once()
    (_, outcomes, error) = store.finished[0]
    code, message = error
    assert outcomes == [] and code == 3 and message.startswith("rule_parameters.nope:")  # INVALID_ARGUMENT
    assert store.saved == [] and store.regions == []
    assert store.handed_over == [("run-1", {})]  # a failed run is handed over too (nothing to enrich)


def test_worker_with_requested_regions_and_no_overrides():
    from cloudwaste.scanner.worker import ScanWorker

    engine, _, _ = _engine()
    store = FakeStore(*_run_and_account(["zone-c"], rule_parameters=None))
    ScanWorker(store, engine, notify=None).run_once()
    assert store.regions == []  # unchanged
    assert [o.scope for _, o in store.saved] == ["zone-c"]
    assert store.finished[0][2] is None
