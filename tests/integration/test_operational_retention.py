"""Retention of the scanner's operational data (exporter/operational.py) against a real PostgreSQL,
with findings and scans made by the real ScannerStore from hand-made scope outcomes and backdated
with SQL: exactly which findings, observations, scan runs and enrichment runs go, what a dry run
reports, that ML rows are untouched, and that a finding a scan reopens meanwhile survives."""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid
from decimal import Decimal

import pytest
import sqlalchemy as sa
from cloudwaste.core.db import Database
from cloudwaste.core.errors import InvalidArgument
from cloudwaste.exporter.operational import (
    FINDING_REFERENCES,
    SCAN_RUN_CASCADES,
    SCAN_RUN_REFERENCES,
    OperationalRemoved,
    purge_operational,
)
from cloudwaste.scanner.domain import Detection, FindingDraft, Resource, ScopeOutcome
from cloudwaste.scanner.store import ScannerStore

from tests.integration.conftest import HASH_KEY

SCOPE, RULE, KIND = "eu-west-1", "disk-idle", "aws.ec2.volume"
NOW = dt.datetime.now(dt.UTC)


def days_ago(n: float) -> dt.datetime:
    return NOW - dt.timedelta(days=n)


RESOLVED_BEFORE, SCAN_RUNS_BEFORE = days_ago(365), days_ago(180)

# Account 1: groups of findings by what happens to them (the letter is the resource id prefix).
GROUPS = {
    "a": 1200,  # open, gone at 400 days: RESOLVED long ago -> deleted
    "b": 300,  # KEPT at 480 days, still seen: stays
    "c": 300,  # DELETED by the user, gone at 400 days: RESOLVED long ago -> deleted
    "d": 100,  # KEPT, no longer waste at 400 days: RESOLVED from KEPT -> stays (KEPT would come back)
    "e": 400,  # gone yesterday: RESOLVED recently -> stays
    "f": 400,  # OPEN all along: stays
    "g": 50,  # IGNORED for good, no longer waste at 400 days: RESOLVED from IGNORED -> stays
    "h": 50,  # IGNORED until 200 days ago, no longer waste at 400 days -> deleted (the ignore expired)
    "i": 50,  # DELETED by the user at 480 days, still seen (not deleted in the cloud): stays
}
N_J, N_K = 200, 20  # account 2: all gone at 410 days (deleted); account 3: KEPT, resolved at 410 days


@pytest.fixture
def store(database_url):
    s = ScannerStore(Database(database_url), HASH_KEY)
    yield s
    s.db.dispose()


@pytest.fixture
def engine(database_url):
    e = sa.create_engine(database_url)
    yield e
    e.dispose()


def new_account(store, name: str):
    return store.create_account(
        tenant_id="t",
        provider="aws",
        display_name=name,
        regions=[SCOPE],
        access={"account_id": "123456789012"},
        ml_collection_enabled=True,
    )


def rids(*groups: str) -> list[str]:
    return [f"{g}{i}" for g in groups for i in range(GROUPS[g])]


def draft(rid: str) -> FindingDraft:
    res = Resource("aws", KIND, rid, SCOPE, created_at=days_ago(900))
    return FindingDraft(res, Detection(RULE, "HIGH", Decimal("10"), {"rid": rid}), "MEDIUM")


def outcome(seen: list[str], listed: list[str]) -> ScopeOutcome:
    return ScopeOutcome(
        SCOPE,
        True,
        resources_scanned=len(listed),
        findings=[draft(r) for r in seen],
        kinds_listed=frozenset({KIND}),
        rule_params={RULE: {"min_days": 1}},
        listed=frozenset((KIND, r) for r in listed),
    )


def scan(store, engine, account, out: ScopeOutcome, age_days: float):
    """A whole scan run of one scope, `age_days` ago (the run's times backdated to match)."""
    at = days_ago(age_days)
    run = store.create_scan_run(account.id, [])
    claimed = store.claim_next_run("w")
    assert claimed and claimed[0].id == run.id
    store.save_scope(run.id, account, out, at)
    store.finish_run(run.id, [out])
    with engine.begin() as c:
        c.execute(
            sa.text("UPDATE scan_runs SET create_time = :t, start_time = :t, end_time = :e WHERE id = :id"),
            {"t": at, "e": at + dt.timedelta(minutes=5), "id": run.id},
        )
    return run.id


def finding_ids(engine, account_id, prefixes: str) -> list[uuid.UUID]:
    with engine.connect() as c:
        return list(
            c.execute(
                sa.text(
                    "SELECT id FROM findings WHERE cloud_account_id = :a AND left(resource_id, 1) = ANY(:p)"
                ),
                {"a": account_id, "p": list(prefixes)},
            ).scalars()
        )


def decide(store, engine, ids, state: str, age_days: float, **kw) -> None:
    for fid in ids:
        store.set_finding_state(fid, state, **kw)
    with engine.begin() as c:  # decided long ago
        c.execute(
            sa.text("UPDATE findings SET state_change_time = :t WHERE id = ANY(:ids)"),
            {"t": days_ago(age_days), "ids": list(ids)},
        )


def add_run(store, engine, account_id, state: str, age_days: float) -> uuid.UUID:
    run = store.create_scan_run(account_id, [])
    ended = None if state in ("PENDING", "RUNNING") else days_ago(age_days)
    with engine.begin() as c:
        c.execute(
            sa.text("UPDATE scan_runs SET state = :s, create_time = :t, end_time = :e WHERE id = :id"),
            {"s": state, "t": days_ago(age_days), "e": ended, "id": run.id},
        )
    return run.id


def add_enrichment(engine, scan_run_id, state: str, age_days: float) -> None:
    with engine.begin() as c:
        c.execute(
            sa.text(
                "INSERT INTO enrichment_runs (scan_run_id, state, rows_enriched, attempts, create_time, "
                "update_time) VALUES (:id, :s, 0, 1, :t, :t)"
            ),
            {"id": scan_run_id, "s": state, "t": days_ago(age_days)},
        )


def build_estate(store, engine) -> dict:
    """Three accounts, eleven scans over 520 days, 3,070 findings; returns what should go."""
    acc = new_account(store, "one")
    everything = rids(*GROUPS)
    s1 = scan(store, engine, acc, outcome(everything, everything), 500)
    decide(store, engine, finding_ids(engine, acc.id, "bd"), "KEPT", 480)
    decide(store, engine, finding_ids(engine, acc.id, "ci"), "DELETED", 480)
    decide(store, engine, finding_ids(engine, acc.id, "g"), "IGNORED", 480)
    h = finding_ids(engine, acc.id, "h")
    decide(store, engine, h, "IGNORED", 480, ignore_expire_time=NOW + dt.timedelta(days=1))
    with engine.begin() as c:  # an ignore that ran out 200 days ago, after the findings resolved
        c.execute(
            sa.text("UPDATE findings SET ignore_expire_time = :t WHERE id = ANY(:ids)"),
            {"t": days_ago(200), "ids": h},
        )
    s2 = scan(store, engine, acc, outcome(everything, everything), 450)
    # "a" and "c" are gone; "d", "g", "h" still exist but are no longer waste
    s3 = scan(
        store, engine, acc, outcome(rids("b", "e", "f", "i"), rids("b", "d", "e", "f", "g", "h", "i")), 400
    )
    s4 = scan(store, engine, acc, outcome(rids("b", "e", "f", "i"), rids("b", "e", "f", "i")), 30)
    s5 = scan(store, engine, acc, outcome(rids("b", "f", "i"), rids("b", "f", "i")), 1)

    # account 2: everything gone long ago; its runs are referenced only by findings that go
    acc2 = new_account(store, "two")
    j = [f"j{i}" for i in range(N_J)]
    x1 = scan(store, engine, acc2, outcome(j, j), 520)
    x2 = scan(store, engine, acc2, outcome([], []), 410)  # resolves every "j": resolve_scan_run_id
    x3 = scan(store, engine, acc2, ScopeOutcome(SCOPE, False, "unreachable"), 405)  # FAILED, unreferenced

    # account 3: KEPT, then no longer waste: y2 is referenced only by their resolve_scan_run_id
    acc3 = new_account(store, "three")
    k = [f"k{i}" for i in range(N_K)]
    y1 = scan(store, engine, acc3, outcome(k, k), 520)
    decide(store, engine, finding_ids(engine, acc3.id, "k"), "KEPT", 500)
    y2 = scan(store, engine, acc3, outcome([], k), 410)

    # runs no scan made (created last: the claims above take the oldest PENDING run of any account)
    pending = add_run(store, engine, acc2.id, "PENDING", 300)
    running = add_run(store, engine, acc2.id, "RUNNING", 300)
    enriching = add_run(store, engine, acc2.id, "FAILED", 300)  # its enrichment has not ended
    young = add_run(store, engine, acc2.id, "FAILED", 100)  # ended and unreferenced, but not old enough
    add_enrichment(engine, x1, "SUCCEEDED", 519)
    add_enrichment(engine, x2, "FAILED", 409)
    add_enrichment(engine, s1, "SUCCEEDED", 499)
    add_enrichment(engine, enriching, "RUNNING", 299)
    old_orphan, new_orphan, running_orphan = uuid.uuid4(), uuid.uuid4(), uuid.uuid4()
    add_enrichment(engine, old_orphan, "SUCCEEDED", 300)  # its account was deleted
    add_enrichment(engine, new_orphan, "SUCCEEDED", 10)
    add_enrichment(engine, running_orphan, "RUNNING", 300)
    # the predictor's shadow predictions: 7 older than the scan run retention, 3 younger
    a_finding = finding_ids(engine, acc.id, "f")[0]
    with engine.begin() as c:
        for age in (400, 300, 200, 190, 181, 181, 180.5, 179, 30, 0):
            c.execute(
                sa.text(
                    "INSERT INTO shadow_predictions (model_kind, active_version, shadow_version, "
                    "active_probability, shadow_probability, finding_id, create_time) "
                    "VALUES ('waste', 2, 1, 0.4, 0.5, :f, :t)"
                ),
                {"f": a_finding, "t": days_ago(age)},
            )
    return {
        "deleted_prefixes": {"a", "c", "h", "j"},
        "findings": GROUPS["a"] + GROUPS["c"] + GROUPS["h"] + N_J,
        # each of a, c, h was observed by s1 and s2; each j by x1
        "observations": 2 * (GROUPS["a"] + GROUPS["c"] + GROUPS["h"]) + N_J,
        "runs_deleted": {x1, x2, x3},
        "runs_kept": {s1, s2, s3, s4, s5, y1, y2, pending, running, enriching, young},
        "enrichment_deleted": {x1, x2, old_orphan},
        "enrichment_kept": {s1, enriching, new_orphan, running_orphan},
        "shadow_predictions": 7,
    }


def snapshot(engine) -> dict:
    """Every row of the tables the purge may touch (and of ml_training_data), as comparable sets."""
    queries = {
        "findings": "SELECT id, md5(f::text) FROM findings f",
        "observations": "SELECT scan_run_id, finding_id, md5(o::text) FROM finding_observations o",
        "scan_runs": "SELECT id, md5(r::text) FROM scan_runs r",
        "enrichment_runs": "SELECT scan_run_id, md5(e::text) FROM enrichment_runs e",
        "user_actions": "SELECT id, finding_id FROM user_actions",
        "shadow": "SELECT id, create_time FROM shadow_predictions",
        "ml": "SELECT id, detected_at, md5(m::text) FROM ml_training_data m",
    }
    with engine.connect() as c:
        return {name: set(c.execute(sa.text(q)).all()) for name, q in queries.items()}


def purge(database_url, dry_run: bool, batch: int = 5000) -> OperationalRemoved:
    db = Database(database_url)
    try:
        return purge_operational(
            db,
            resolved_before=RESOLVED_BEFORE,
            scan_runs_before=SCAN_RUNS_BEFORE,
            dry_run=dry_run,
            batch=batch,
        )
    finally:
        db.dispose()


@pytest.mark.parametrize("batch", [2, 5000])
def test_purge_removes_exactly_what_expired_and_a_dry_run_only_counts_it(store, engine, database_url, batch):
    expected = build_estate(store, engine)
    before = snapshot(engine)
    assert len(before["findings"]) == sum(GROUPS.values()) + N_J + N_K
    with engine.connect() as c:
        doomed = set(
            c.execute(
                sa.text("SELECT id FROM findings WHERE left(resource_id, 1) = ANY(:p)"),
                {"p": sorted(expected["deleted_prefixes"])},
            ).scalars()
        )
    # one ML row per observation: 2,850 x 2 (s1, s2), 1,150 x 2 (s3, s4), 750 (s5), 200 (x1), 20 (y1)
    assert len(before["ml"]) == len(before["observations"]) == 8970

    dry = purge(database_url, dry_run=True, batch=batch)
    assert snapshot(engine) == before, "a dry run deletes nothing"
    want = OperationalRemoved(
        findings=expected["findings"],
        observations=expected["observations"],
        scan_runs=len(expected["runs_deleted"]),
        enrichment_runs=len(expected["enrichment_deleted"]),
        shadow_predictions=expected["shadow_predictions"],
    )
    assert dry == want

    removed = purge(database_url, dry_run=False, batch=batch)
    assert removed == want == dry
    after = snapshot(engine)

    with engine.connect() as c:
        survivors = dict(
            c.execute(sa.text("SELECT left(resource_id, 1), count(*) FROM findings GROUP BY 1")).all()
        )
        states = set(
            c.execute(sa.text("SELECT left(resource_id, 1), state, resolved_from_state FROM findings")).all()
        )
        orphan_observations = c.execute(
            sa.text(
                "SELECT count(*) FROM finding_observations o "
                "WHERE NOT EXISTS (SELECT 1 FROM findings f WHERE f.id = o.finding_id)"
            )
        ).scalar_one()
        actions = dict(
            c.execute(
                sa.text(
                    "SELECT left(f.resource_id, 1), count(*) FROM user_actions u "
                    "JOIN findings f ON f.id = u.finding_id GROUP BY 1"
                )
            ).all()
        )
    # exactly the expired findings went, every other one stayed
    kept_counts = {g: n for g, n in GROUPS.items() if g not in expected["deleted_prefixes"]} | {"k": N_K}
    assert survivors == kept_counts
    assert states == {
        ("b", "KEPT", None),
        ("d", "RESOLVED", "KEPT"),
        ("e", "RESOLVED", "OPEN"),
        ("f", "OPEN", None),
        ("g", "RESOLVED", "IGNORED"),
        ("i", "DELETED", None),
        ("k", "RESOLVED", "KEPT"),
    }
    remaining_findings = {row[0] for row in after["findings"]}
    assert {row[0] for row in before["findings"]} - remaining_findings == doomed
    assert len(doomed) == expected["findings"]
    assert after["findings"] <= before["findings"], "the findings that stay are unchanged"
    # their observations went with them (cascade); those of findings that stay did not
    assert len(before["observations"] - after["observations"]) == expected["observations"]
    assert after["observations"] <= before["observations"] and orphan_observations == 0
    assert all(o[1] in remaining_findings for o in after["observations"])
    assert {o for o in before["observations"] if o[1] in remaining_findings} == after["observations"]
    # user actions: the deleted findings' went (cascade), the others' stayed
    assert actions == {"b": GROUPS["b"], "d": GROUPS["d"], "g": GROUPS["g"], "i": GROUPS["i"], "k": N_K}
    # scan runs: the unreferenced old ended ones went, with their enrichment runs
    runs_after = {r[0] for r in after["scan_runs"]}
    assert {r[0] for r in before["scan_runs"]} - runs_after == expected["runs_deleted"]
    assert expected["runs_kept"] <= runs_after
    enrichment_after = {e[0] for e in after["enrichment_runs"]}
    assert {e[0] for e in before["enrichment_runs"]} - enrichment_after == expected["enrichment_deleted"]
    assert enrichment_after == expected["enrichment_kept"]
    # shadow predictions: those older than the scan run retention went, the others stayed
    assert len(after["shadow"]) == len(before["shadow"]) - expected["shadow_predictions"] == 3
    assert all(t >= SCAN_RUNS_BEFORE for _, t in after["shadow"])
    # ML rows: every one of them, untouched (their own retention is the partitions')
    assert after["ml"] == before["ml"]

    again = purge(database_url, dry_run=False, batch=batch)
    assert again == OperationalRemoved(0, 0, 0, 0, 0)
    assert purge(database_url, dry_run=True, batch=batch) == again


def test_a_finding_a_scan_reopens_during_the_purge_is_not_deleted(store, engine, database_url):
    """The scan has reopened the finding (its transaction holds the row) when the purge selects it
    as RESOLVED long ago; the purge's DELETE waits for the row, then re-checks it and leaves it."""
    acc = new_account(store, "concurrent")
    seen = ["x0", "y0", "y1"]
    first = scan(store, engine, acc, outcome(seen, seen), 400)
    scan(store, engine, acc, outcome([], []), 390)  # all three gone: RESOLVED 390 days ago
    back = store.create_scan_run(acc.id, [])
    assert store.claim_next_run("w")[0].id == back.id
    x0 = finding_ids(engine, acc.id, "x")[0]

    holder = engine.connect()  # holds the scan run: the scan pauses on its foreign key check...
    holder.execute(sa.text("SELECT 1 FROM scan_runs WHERE id = :id FOR UPDATE"), {"id": back.id})
    results: dict = {}

    def rescan():
        try:
            store.save_scope(back.id, acc, outcome(["x0"], ["x0"]), dt.datetime.now(dt.UTC))
            results["scan"] = store.finish_run(back.id, [outcome(["x0"], ["x0"])])
        except Exception as exc:  # pragma: no cover - the failure this test is about
            results["scan_error"] = exc

    def run_purge():
        try:
            results["purge"] = purge(database_url, dry_run=False)
        except Exception as exc:  # pragma: no cover
            results["purge_error"] = exc

    scanner = threading.Thread(target=rescan)
    scanner.start()
    _wait_for_lock_wait(engine, "UPDATE findings")  # ...after it updated x0 (OPEN again), uncommitted
    purger = threading.Thread(target=run_purge)
    purger.start()
    _wait_for_lock_wait(engine, "DELETE FROM findings")  # the purge selected x0 and waits for its row
    holder.rollback()  # the scan goes on and commits; then the purge's DELETE re-checks x0
    holder.close()
    scanner.join(60)
    purger.join(60)
    assert "scan_error" not in results and "purge_error" not in results, results
    assert results["purge"].findings == 2, "y0 and y1 went, x0 did not"
    with engine.connect() as c:
        rows = c.execute(sa.text("SELECT resource_id, state FROM findings")).all()
        observed = set(
            c.execute(
                sa.text("SELECT scan_run_id FROM finding_observations WHERE finding_id = :f"), {"f": x0}
            ).scalars()
        )
    assert rows == [("x0", "OPEN")]
    assert observed == {first, back.id}, "x0 keeps its observations, the new one included"
    assert results["purge"].observations == 2


def _wait_for_lock_wait(engine, query_prefix: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    with engine.connect() as c:
        while True:
            waiting = c.execute(
                sa.text(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                    "AND wait_event_type = 'Lock' AND position(:q in query) > 0"
                ),
                {"q": query_prefix},
            ).scalar_one()
            c.rollback()
            if waiting:
                return
            assert time.monotonic() < deadline, f"nothing waited in {query_prefix!r}"
            time.sleep(0.02)


def test_the_module_knows_every_reference_to_scan_runs_and_findings(engine):
    """A foreign key added to scan_runs or findings must be taught to operational.py: otherwise a
    purge would fail on it (scan runs) or delete what it protects (findings)."""
    with engine.connect() as c:
        rows = c.execute(
            sa.text(
                """
                SELECT t.relname, a.attname, p.relname, c.confdeltype
                FROM pg_constraint c
                JOIN pg_class t ON t.oid = c.conrelid
                JOIN pg_class p ON p.oid = c.confrelid
                JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = ANY(c.conkey)
                WHERE c.contype = 'f' AND p.relname IN ('scan_runs', 'findings')
                """
            )
        ).all()
    actions = {"c": "CASCADE", "n": "SET NULL", "a": "NO ACTION", "r": "RESTRICT", "d": "SET DEFAULT"}
    to_runs = {(t, col, actions[d]) for t, col, parent, d in rows if parent == "scan_runs"}
    to_findings = {(t, col, actions[d]) for t, col, parent, d in rows if parent == "findings"}
    cascading = {(t, col) for t, col, action in to_runs if action == "CASCADE"}
    assert {(t, col) for t, col, _ in to_runs} - cascading <= set(SCAN_RUN_REFERENCES)
    assert cascading == set(SCAN_RUN_CASCADES)
    assert to_findings == set(FINDING_REFERENCES)


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [
        ({"resolved_before": dt.datetime(2020, 1, 1)}, "resolved_before"),
        ({"scan_runs_before": dt.datetime(2020, 1, 1)}, "scan_runs_before"),
        ({"batch": 0}, "batch"),
    ],
)
def test_bad_arguments_are_invalid_argument_naming_the_field(database_url, kwargs, field):
    db = Database(database_url)
    args = {"resolved_before": RESOLVED_BEFORE, "scan_runs_before": SCAN_RUNS_BEFORE, "dry_run": True}
    with pytest.raises(InvalidArgument) as err:
        purge_operational(db, **(args | kwargs))
    db.dispose()
    assert err.value.field == field
