"""Scanner store against a real PostgreSQL: run claiming and stale runs."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from cloudwaste.core.db import Database
from cloudwaste.scanner.store import ScannerStore

from tests.integration.conftest import HASH_KEY


def make_store(url: str) -> ScannerStore:
    return ScannerStore(Database(url), HASH_KEY)


def account(store: ScannerStore):
    return store.create_account(
        tenant_id="t",
        provider="aws",
        display_name="d",
        regions=["eu-west-1"],
        access={"role_arn": "arn:aws:iam::123456789012:role/r"},
        ml_collection_enabled=True,
    )


def test_each_pending_run_is_claimed_once(database_url):
    store = make_store(database_url)
    runs = {store.create_scan_run(account(store).id, []).id for _ in range(3)}
    claimed = [store.claim_next_run("w1"), store.claim_next_run("w2"), store.claim_next_run("w1")]
    assert {c[0].id for c in claimed} == runs
    assert store.claim_next_run("w3") is None
    store.db.dispose()


def test_one_account_has_one_scan_running_at_a_time(database_url):
    store = make_store(database_url)
    acc = account(store)
    first, second = store.create_scan_run(acc.id, []), store.create_scan_run(acc.id, [])
    assert store.claim_next_run("w1")[0].id == first.id
    assert store.claim_next_run("w2") is None  # waits until the first one ends
    ended = store.finish_run(first.id, [], (10, "stopped"))
    assert (ended.state, ended.error_code, ended.error_message) == ("FAILED", 10, "stopped")
    assert store.claim_next_run("w2")[0].id == second.id
    store.db.dispose()


def test_runs_left_running_by_a_dead_scanner_end_failed(database_url):
    store = make_store(database_url)
    old, fresh = store.create_scan_run(account(store).id, []), store.create_scan_run(account(store).id, [])
    store.claim_next_run("w1")
    store.claim_next_run("w1")
    engine = sa.create_engine(database_url)
    with engine.begin() as c:
        c.execute(
            sa.text("UPDATE scan_runs SET start_time = now() - interval '7 hours' WHERE id = :id"),
            {"id": old.id},
        )
    engine.dispose()
    assert store.fail_stale_runs(dt.timedelta(hours=6)) == 1
    assert store.get_scan_run(old.id).state == "FAILED"
    assert "start a new scan" in store.get_scan_run(old.id).error_message
    assert store.get_scan_run(fresh.id).state == "RUNNING"
    store.db.dispose()


def test_two_replicas_racing_for_runs_never_take_the_same_one(database_url):
    """Replica A has claimed the oldest run but not committed yet; replica B, on its own connection,
    must skip that row (it is locked) and take the next run, not the same one."""
    import threading
    from contextlib import contextmanager

    a, b = make_store(database_url), make_store(database_url)
    first, second = a.create_scan_run(account(a).id, []), a.create_scan_run(account(a).id, [])
    real, holding, release = a.db.transaction, threading.Event(), threading.Event()

    @contextmanager
    def slow_commit():
        with real() as s:
            yield s
            holding.set()  # the claim's row is locked and updated, the commit waits
            assert release.wait(30)

    a.db.transaction = slow_commit
    got = {}
    t = threading.Thread(target=lambda: got.setdefault("a", a.claim_next_run("replica-a")))
    t.start()
    assert holding.wait(30)
    got["b"] = b.claim_next_run("replica-b")
    release.set()
    t.join(30)
    assert got["a"][0].id == first.id and got["b"][0].id == second.id
    assert b.get_scan_run(first.id).claimed_by == "replica-a"
    assert b.get_scan_run(second.id).claimed_by == "replica-b"
    a.db.dispose()
    b.db.dispose()


def test_a_run_whose_lease_lapsed_ends_failed_and_a_renewed_one_runs_on(database_url):
    """A scanner killed mid-scan stops renewing its run's lease: any replica's reaper ends the run
    FAILED (ABORTED: scan again) once the lease lapses, minutes later, not hours. A worker that
    renews keeps its run however long it takes."""
    store = make_store(database_url)
    lease = dt.timedelta(seconds=1)
    dead = store.create_scan_run(account(store).id, [])
    alive = store.create_scan_run(account(store).id, [])
    assert store.claim_next_run("killed", lease)[0].id == dead.id
    assert store.claim_next_run("working", lease)[0].id == alive.id
    deadline = dt.datetime.now(dt.UTC) + dt.timedelta(seconds=2.5)
    while dt.datetime.now(dt.UTC) < deadline:
        assert store.renew_lease(alive.id, "working", lease)
        assert not store.renew_lease(alive.id, "someone-else", lease)  # only its holder renews it
        __import__("time").sleep(0.3)
    assert store.fail_stale_runs(dt.timedelta(hours=6)) == 1
    reaped = store.get_scan_run(dead.id)
    assert reaped.state == "FAILED" and reaped.error_code == 10 and "start a new scan" in reaped.error_message
    assert store.get_scan_run(alive.id).state == "RUNNING"
    assert not store.renew_lease(dead.id, "killed", lease)  # a worker back from the dead learns it lost it
    store.db.dispose()
