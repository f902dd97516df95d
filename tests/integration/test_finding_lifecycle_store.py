"""The store's lifecycle rules against a real PostgreSQL, fed with hand-made scope outcomes: what
may resolve a finding, what may not, and what two overlapping scans of one account do."""

from __future__ import annotations

import datetime as dt
import threading
import uuid
from dataclasses import replace
from decimal import Decimal

import pytest
import sqlalchemy as sa
from cloudwaste.core.db import Database
from cloudwaste.core.errors import FailedPrecondition
from cloudwaste.scanner.domain import Detection, FindingDraft, FindingRef, Resource, ScopeOutcome
from cloudwaste.scanner.rendering import finding_pb
from cloudwaste.scanner.store import FindingFilter, ScannerStore
from cloudwaste.scanner.v1 import finding_pb2

from tests.integration.conftest import HASH_KEY

SCOPE, RULE, OTHER, KIND = "eu-west-1", "disk-idle", "ip-idle", "aws.ec2.volume"
T0 = dt.datetime.now(dt.UTC) - dt.timedelta(days=1)


@pytest.fixture
def store(database_url):
    s = ScannerStore(Database(database_url), HASH_KEY)
    yield s
    s.db.dispose()


def new_account(store, **kw):
    return store.create_account(
        tenant_id="t",
        provider="aws",
        display_name="d",
        regions=[SCOPE, "us-east-1"],
        access={"account_id": "123456789012"},
        ml_collection_enabled=True,
        **kw,
    )


def draft(rid: str, rule: str = RULE, cost: str = "10") -> FindingDraft:
    res = Resource("aws", KIND, rid, SCOPE, created_at=T0 - dt.timedelta(days=30))
    return FindingDraft(res, Detection(rule, "HIGH", Decimal(cost), {"rid": rid}), "MEDIUM")


def outcome(drafts, listed, rules=(RULE, OTHER), **kw) -> ScopeOutcome:
    return ScopeOutcome(
        SCOPE,
        True,
        resources_scanned=len(listed),
        findings=list(drafts),
        kinds_listed=frozenset({KIND}),
        rule_params={r: {"min_days": 1} for r in rules},
        listed=frozenset((KIND, rid) for rid in listed),
        **kw,
    )


def scan(store, account, out: ScopeOutcome, at: dt.datetime):
    run = store.create_scan_run(account.id, [])
    claimed = store.claim_next_run("w")
    assert claimed and claimed[0].id == run.id
    store.save_scope(run.id, account, out, at)
    store.finish_run(run.id, [out])
    return run


def listed(store, account) -> list[finding_pb2.Finding]:
    """The account's findings as ListFindings shows them: the renderings their writes stored,
    each checked against the finding rendered from its columns as GetFinding reads them."""
    rows, _, _ = store.list_findings(FindingFilter(cloud_account_id=account.id, all_states=True), 1000, "")
    shown = [finding_pb2.Finding.FromString(r.pb) for r in rows]
    for r, pb in zip(rows, shown, strict=True):
        assert pb == finding_pb(store.get_finding(r.id)), pb.resource_name
    return shown


def unrendered(store, account) -> set[str]:
    with store.db.transaction() as s:
        return set(
            s.scalars(
                sa.text("SELECT resource_id FROM findings WHERE cloud_account_id = :a AND listed_pb IS NULL"),
                {"a": account.id},
            )
        )


def states(store, account) -> dict[str, tuple[str, str | None]]:
    return {
        f.resource_name: (
            finding_pb2.FindingState.Name(f.state).removeprefix("FINDING_STATE_"),
            finding_pb2.ResolveReason.Name(f.resolve_reason).removeprefix("RESOLVE_REASON_")
            if f.resolve_reason
            else None,
        )
        for f in listed(store, account)
    }


def by_rid(store, account, rid):
    """The finding of resource `rid`, as GetFinding reads it."""
    return next(
        store.get_finding(uuid.UUID(f.name.removeprefix("findings/")))
        for f in listed(store, account)
        if f.resource_name == rid
    )


def test_only_complete_evidence_resolves(store):
    acc = new_account(store)
    scan(store, acc, outcome([draft("a"), draft("b"), draft("c", OTHER)], ["a", "b", "c"]), T0)
    # a failed scope, a rule that did not run (its kind or itself failed): nothing resolves
    scan(store, acc, ScopeOutcome(SCOPE, False, "unreachable"), T0 + dt.timedelta(hours=1))
    scan(
        store,
        acc,
        outcome([], ["a", "b", "c"], rules=(), rule_errors={RULE: "x"}),
        T0 + dt.timedelta(hours=2),
    )
    assert set(states(store, acc).values()) == {("OPEN", None)}
    # the rules ran: "a" is gone, "b" still exists but no longer fires, "c" (other rule) still fires
    scan(store, acc, outcome([draft("c", OTHER)], ["b", "c"]), T0 + dt.timedelta(hours=3))
    assert states(store, acc) == {
        "a": ("RESOLVED", "RESOURCE_GONE"),
        "b": ("RESOLVED", "RESOURCE_CHANGED"),
        "c": ("OPEN", None),
    }


def test_decisions_come_back_with_the_waste_and_expired_ignores_are_open(store):
    acc = new_account(store)
    scan(store, acc, outcome([draft("k"), draft("i"), draft("o")], ["k", "i", "o"]), T0)
    store.set_finding_state(by_rid(store, acc, "k").id, "KEPT")
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    store.set_finding_state(by_rid(store, acc, "i").id, "IGNORED", ignore_expire_time=soon)
    # the machine was started for a day: no longer waste, resolved
    scan(store, acc, outcome([], ["k", "i", "o"]), T0 + dt.timedelta(hours=1))
    assert {v[0] for v in states(store, acc).values()} == {"RESOLVED"}
    while dt.datetime.now(dt.UTC) <= soon:
        pass
    # waste again: KEPT stands again; the ignore has expired meanwhile, so OPEN; the open one reopens
    run = scan(
        store, acc, outcome([draft("k"), draft("i"), draft("o")], ["k", "i", "o"]), dt.datetime.now(dt.UTC)
    )
    assert states(store, acc) == {"k": ("KEPT", None), "i": ("OPEN", None), "o": ("OPEN", None)}
    assert store.get_scan_run(run.id).reopened_findings_count == 3
    engine = sa.create_engine(store.db.engine.url)
    with engine.connect() as c:
        labels = dict(
            c.execute(
                sa.text(
                    "SELECT f.resource_id, array_agg(coalesce(m.user_action, '-') ORDER BY m.detected_at) "
                    "FROM findings f JOIN finding_observations o ON o.finding_id = f.id "
                    "JOIN ml_training_data m ON m.id = o.ml_row_id AND m.detected_at = o.ml_row_detected_at "
                    "GROUP BY f.resource_id"
                )
            ).all()
        )
    engine.dispose()
    assert labels == {"k": ["kept", "kept"], "i": ["ignored", "-"], "o": ["-", "-"]}


def test_an_older_scan_saved_late_does_not_undo_a_newer_one(store):
    acc = new_account(store)
    scan(store, acc, outcome([draft("a")], ["a"]), T0)
    newer = scan(store, acc, outcome([], []), T0 + dt.timedelta(hours=2))  # "a" is gone
    scan(store, acc, outcome([draft("a")], ["a"]), T0 + dt.timedelta(hours=1))  # older, saved late
    a = by_rid(store, acc, "a")
    assert (a.state, a.resolve_reason, a.resolve_scan_run_id) == ("RESOLVED", "RESOURCE_GONE", newer.id)


def test_two_runs_saving_one_scope_at_once_do_not_collide(store, database_url):
    acc = new_account(store)
    other = ScannerStore(Database(database_url), HASH_KEY)
    runs = []
    for _ in range(2):
        runs.append(store.create_scan_run(acc.id, []))
    with store.db.transaction() as s:  # both RUNNING (claims take one run per account at a time)
        s.execute(sa.text("UPDATE scan_runs SET state = 'RUNNING'"))
    out = outcome([draft(f"r{i}") for i in range(300)], [f"r{i}" for i in range(300)])
    errors = []

    def save(s, run, at):
        try:
            s.save_scope(run.id, acc, out, at)
        except Exception as exc:  # pragma: no cover - the failure this test is about
            errors.append(exc)

    threads = [
        threading.Thread(target=save, args=(store, runs[0], T0)),
        threading.Thread(target=save, args=(other, runs[1], T0 + dt.timedelta(minutes=1))),
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    other.db.dispose()
    assert errors == []
    assert len(states(store, acc)) == 300


def test_a_scope_removed_from_the_account_resolves_its_findings(store):
    acc = new_account(store)
    scan(store, acc, outcome([draft("a")], ["a"]), T0)
    store.update_account(acc.id, {"regions": ["us-east-1"]})
    assert states(store, acc) == {"a": ("RESOLVED", "SCOPE_REMOVED")}


def test_an_organization_member_scope_is_judged_by_its_region(store):
    """An organization's findings live in scopes "<member account>/<region>": changing the
    account's regions resolves those of the regions removed, not every member's finding."""
    acc = new_account(store)
    for scope, rid in ((f"111122223333/{SCOPE}", "m1"), ("111122223333/us-east-1", "m2")):
        scan(store, acc, replace(outcome([draft(rid)], [rid]), scope=scope), T0)
    store.update_account(acc.id, {"regions": [SCOPE]})
    assert states(store, acc) == {"m1": ("OPEN", None), "m2": ("RESOLVED", "SCOPE_REMOVED")}


def test_a_run_that_ended_takes_no_more_findings(store):
    """Fenced: a run reaped while its scanner was away (its lease lapsed) is not written to when
    the scanner comes back with a scope; the findings stay as the last finished scan left them."""
    acc = new_account(store)
    run = store.create_scan_run(acc.id, [])
    assert store.claim_next_run("w")[0].id == run.id
    store.finish_run(run.id, [], error=(10, "the scanner running this scan stopped; start a new scan"))
    with pytest.raises(FailedPrecondition, match="ended"):
        store.save_scope(run.id, acc, outcome([draft("late")], ["late"]), T0)
    assert states(store, acc) == {}


def test_a_page_shows_what_the_columns_say_after_every_kind_of_write(store):
    """ListFindings serves the rendering each write stored (scanner.rendering). After scans that
    link parts to a parent, a score, decisions, an ignore that expires, a resolve and a reopening,
    every finding on the page equals the one rendered from its columns (listed() checks each).
    A write that skips the rendering (plain SQL here) does not leave a stale one behind."""
    acc = new_account(store)
    machine = FindingRef("aws.ec2.instance", "vm", "stopped-vm")
    res = Resource("aws", "aws.ec2.instance", "vm", SCOPE, name="web", tags={"team": "a"}, created_at=T0)
    parent = FindingDraft(res, Detection("stopped-vm", "HIGH", Decimal("3.33335"), {"days": 40}), "LOW")
    parts = [replace(draft(f"d{i}"), detection=replace(draft(f"d{i}").detection, parent=machine)) for i in range(2)]
    drafts = [parent, *parts, draft("x")]
    rules = ("stopped-vm", RULE, OTHER)
    run = scan(store, acc, outcome(drafts, ["vm", "d0", "d1", "x"], rules=rules), T0)
    shown = {f.resource_name: f for f in listed(store, acc)}
    assert shown["vm"].parts_monthly_cost.units == 20 and shown["d0"].parent_finding == shown["vm"].name
    assert shown["vm"].monthly_cost.nanos == 333_400_000  # as Numeric(14, 4) keeps it: 3.3334

    ids = {rid: uuid.UUID(f.name.removeprefix("findings/")) for rid, f in shown.items()}
    said = {"model_version": "models/waste/versions/1", "predict_time": T0.isoformat(), "top_features": []}
    store.save_predictions([(ids["vm"], 0.8, 2.66668, said), (ids["x"], 0.1, 1.0, said)])
    store.set_finding_state(ids["d0"], "KEPT")
    soon = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=1)
    store.set_finding_state(ids["x"], "IGNORED", ignore_expire_time=soon)
    shown = {f.resource_name: f for f in listed(store, acc)}
    assert shown["vm"].prediction.waste_probability == 0.8 and shown["d0"].etag == "v2"
    while dt.datetime.now(dt.UTC) <= soon:
        pass
    assert states(store, acc)["x"] == ("OPEN", None)  # expired since its rendering was stored

    # the parts are gone, the machine and x stay; then everything comes back
    scan(store, acc, outcome([parent, draft("x")], ["vm", "x"], rules=rules), T0 + dt.timedelta(hours=1))
    assert states(store, acc)["d1"] == ("RESOLVED", "RESOURCE_GONE")
    shown = {f.resource_name: f for f in listed(store, acc)}
    assert not shown["vm"].HasField("parts_monthly_cost")  # no unresolved parts left
    scan(store, acc, outcome(drafts, ["vm", "d0", "d1", "x"], rules=rules), T0 + dt.timedelta(hours=2))
    assert states(store, acc)["d0"] == ("KEPT", None)

    assert unrendered(store, acc) == set()  # every write above stored its rendering
    with store.db.transaction() as s:  # a write the scanner did not make
        s.execute(sa.text("UPDATE findings SET resource_display_name = 'renamed' WHERE id = :i"), {"i": ids["vm"]})
    assert unrendered(store, acc) == {"vm"}
    assert {f.resource_name: f for f in listed(store, acc)}["vm"].resource_display_name == "renamed"
    assert store.render_unrendered() == 1 and unrendered(store, acc) == set()  # an idle scanner's work
    assert {f.resource_name: f for f in listed(store, acc)}["vm"].resource_display_name == "renamed"
    assert store.get_scan_run(run.id).findings_count == 4
