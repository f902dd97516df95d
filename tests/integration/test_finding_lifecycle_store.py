"""The store's lifecycle rules against a real PostgreSQL, fed with hand-made scope outcomes: what
may resolve a finding, what may not, and what two overlapping scans of one account do."""

from __future__ import annotations

import datetime as dt
import threading
from dataclasses import replace
from decimal import Decimal

import pytest
import sqlalchemy as sa
from cloudwaste.core.db import Database
from cloudwaste.core.errors import FailedPrecondition
from cloudwaste.scanner.domain import Detection, FindingDraft, Resource, ScopeOutcome
from cloudwaste.scanner.store import FindingFilter, ScannerStore

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


def states(store, account) -> dict[str, tuple[str, str | None]]:
    rows, _, _ = store.list_findings(FindingFilter(cloud_account_id=account.id, all_states=True), 1000, "")
    return {f.resource_id: (f.state, f.resolve_reason) for f in rows}


def by_rid(store, account, rid):
    rows, _, _ = store.list_findings(FindingFilter(cloud_account_id=account.id, all_states=True), 1000, "")
    return next(f for f in rows if f.resource_id == rid)


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
