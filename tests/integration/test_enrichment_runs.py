"""Enrichment runs are claimed by a worker: EnrichScanRun queues (PENDING), the enrichment worker
claims (RUNNING, SKIP LOCKED) and ends them (SUCCEEDED | FAILED); runs of a dead worker are taken back.

Most tests drive the worker by hand (`iterate()`, `on_start()`) against a real PostgreSQL, with no
other enricher running, so that every state can be seen."""

from __future__ import annotations

import datetime as dt
import threading
import time
import uuid

import grpc
import pytest
import sqlalchemy as sa
from cloudwaste.core.db import Database
from cloudwaste.core.errors import FailedPrecondition
from cloudwaste.core.models import EnrichmentRun
from cloudwaste.core.server import create_server
from cloudwaste.enricher.server import build_app
from cloudwaste.enricher.servicer import EnricherServicer
from cloudwaste.enricher.settings import EnricherSettings
from cloudwaste.enricher.store import ClaimLost, EnricherStore
from cloudwaste.enricher.v1 import enricher_service_pb2, enricher_service_pb2_grpc, enrichment_run_pb2
from cloudwaste.enricher.worker import MAX_ATTEMPTS, EnrichmentWorker

PENDING = enrichment_run_pb2.ENRICHMENT_RUN_STATE_PENDING
RUNNING = enrichment_run_pb2.ENRICHMENT_RUN_STATE_RUNNING
SUCCEEDED = enrichment_run_pb2.ENRICHMENT_RUN_STATE_SUCCEEDED
FAILED = enrichment_run_pb2.ENRICHMENT_RUN_STATE_FAILED


@pytest.fixture
def store(database_url):
    db = Database(database_url)
    yield EnricherStore(db)
    db.dispose()


@pytest.fixture
def scanned(stack, store):
    """(scan run, servicer, worker): a scanned run whose enrichment the scanner queued and the
    stack's enricher ran; then the scanner and the enricher are stopped, so that only this test's
    worker, driven by hand, touches enrichment runs."""
    run = stack.scan(stack.create_account().name)
    stack.wait_enriched(run.name)
    stack.running.pop("scanner").stop(0.5)  # no further hand-off
    stack.running.pop("enricher").stop(0.5)
    worker = EnrichmentWorker(store, threads=1)
    while worker.iterate():  # a duplicate hand-off still queued, if any
        pass
    return run, EnricherServicer(store), worker


def enrich(servicer, scan_run: str) -> enrichment_run_pb2.EnrichmentRun:
    return servicer.EnrichScanRun(
        enricher_service_pb2.EnrichScanRunRequest(scan_run=scan_run), None
    ).enrichment_run


def get(servicer, scan_run: str) -> enrichment_run_pb2.EnrichmentRun:
    return servicer.GetEnrichmentRun(
        enricher_service_pb2.GetEnrichmentRunRequest(scan_run=scan_run), None
    ).enrichment_run


def enriched_rows(database_url: str, scan_run: str) -> int:
    engine = sa.create_engine(database_url)
    try:
        with engine.connect() as c:
            return c.execute(
                sa.text(
                    "SELECT count(*) FROM ml_training_data m JOIN finding_observations o ON o.ml_row_id = m.id "
                    "WHERE o.scan_run_id = :run AND m.enriched_at IS NOT NULL"
                ),
                {"run": scan_run.split("/")[1]},
            ).scalar_one()
    finally:
        engine.dispose()


def forget_enrichment(database_url: str, scan_run: str) -> None:
    engine = sa.create_engine(database_url)
    try:
        with engine.begin() as c:
            c.execute(
                sa.text(
                    "UPDATE ml_training_data m SET enriched_at = NULL, tags_anonymized = NULL, "
                    "temporal_features = NULL FROM finding_observations o "
                    "WHERE o.ml_row_id = m.id AND o.scan_run_id = :run"
                ),
                {"run": scan_run.split("/")[1]},
            )
    finally:
        engine.dispose()


def add_runs(store: EnricherStore, *runs: dict) -> list[uuid.UUID]:
    """Enrichment runs written directly (of scan runs that need not exist: they have no rows)."""
    ids = []
    with store.db.transaction() as s:
        for values in runs:
            ids.append(values.pop("scan_run_id", None) or uuid.uuid4())
            s.add(EnrichmentRun(scan_run_id=ids[-1], rows_enriched=values.pop("rows_enriched", 0), **values))
    return ids


def store_run(store: EnricherStore, scan_run: str) -> EnrichmentRun:
    return store.get(uuid.UUID(scan_run.split("/")[1]))


def test_enrich_scan_run_queues_at_once_and_the_worker_enriches_the_rows(stack, scanned):
    run, servicer, worker = scanned
    before = get(servicer, run.name)
    forget_enrichment(stack.database_url, run.name)

    queued = enrich(servicer, run.name)
    assert queued.state == PENDING and queued.attempts == before.attempts + 1
    assert queued.rows_enriched == 0 and not queued.HasField("start_time") and not queued.HasField("end_time")
    # the RPC did not do the work: nothing ran it since
    assert get(servicer, run.name).state == PENDING
    assert enriched_rows(stack.database_url, run.name) == 0

    assert worker.iterate() is True
    assert worker.iterate() is False  # nothing else queued
    done = get(servicer, run.name)
    assert done.state == SUCCEEDED and done.rows_enriched == run.findings_count and not done.error_message
    assert done.HasField("start_time") and done.HasField("end_time")
    assert done.end_time.ToDatetime() >= done.start_time.ToDatetime()
    assert enriched_rows(stack.database_url, run.name) == run.findings_count
    assert store_run(worker.store, run.name).claimed_by == worker.worker_id


def test_enrich_scan_run_again_while_pending_or_running_returns_the_same_run(scanned):
    run, servicer, worker = scanned
    queued = enrich(servicer, run.name)
    assert queued.state == PENDING
    assert enrich(servicer, run.name) == queued  # the scan run is the request id: unchanged

    claimed = worker.store.claim_next("another-worker")
    assert claimed is not None and claimed.state == "RUNNING"
    running = enrich(servicer, run.name)
    assert running.state == RUNNING and running.attempts == queued.attempts
    assert store_run(worker.store, run.name).claimed_by == "another-worker"  # not taken from it

    worker.store.enrich_rows(claimed.scan_run_id, "another-worker")
    assert get(servicer, run.name).state == SUCCEEDED
    again = enrich(servicer, run.name)  # once ended, it is queued again
    assert again.state == PENDING and again.attempts == queued.attempts + 1


def test_enrich_scan_run_of_a_scan_still_running_is_a_failed_precondition(stack):
    account = stack.create_account()
    engine = sa.create_engine(stack.database_url)
    run_id = uuid.uuid4()
    with engine.begin() as c:
        c.execute(
            sa.text(
                "INSERT INTO scan_runs (id, cloud_account_id, state, regions, region_results, resources_scanned, "
                "findings_count, total_monthly_waste, enrichment_attempts) "
                "VALUES (:id, :account, 'RUNNING', '{}', '[]', 0, 0, 0, 0)"
            ),
            {"id": run_id, "account": account.name.split("/")[1]},
        )
        # what the scanner hands the enricher with a run it creates: not ended yet
        c.execute(sa.text("INSERT INTO scan_handoffs (scan_run_id) VALUES (:id)"), {"id": run_id})
    engine.dispose()
    with pytest.raises(grpc.RpcError) as err:
        stack.enricher.EnrichScanRun(enricher_service_pb2.EnrichScanRunRequest(scan_run=f"scanRuns/{run_id}"))
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION


def test_two_workers_never_claim_the_same_run(database_url, store):
    ids = set(add_runs(store, *({"state": "PENDING", "attempts": 1} for _ in range(40))))
    replicas = [EnricherStore(Database(database_url)) for _ in range(2)]  # two enricher processes
    claims: dict[str, list[uuid.UUID]] = {}
    start = threading.Barrier(8)
    errors = []

    def claim_all(replica: EnricherStore, worker: str) -> None:
        mine = claims.setdefault(worker, [])
        try:
            start.wait()
            while (run := replica.claim_next(worker)) is not None:
                mine.append(run.scan_run_id)
        except Exception as exc:
            errors.append(exc)

    threads = [
        threading.Thread(target=claim_all, args=(replicas[n % 2], f"replica{n % 2}-thread{n}"))
        for n in range(8)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    for r in replicas:
        r.db.dispose()
    assert not errors
    claimed = [run_id for mine in claims.values() for run_id in mine]
    assert sorted(claimed) == sorted(ids)  # each exactly once
    for worker, mine in claims.items():
        for run_id in mine:
            er = store.get(run_id)
            assert er.state == "RUNNING" and er.claimed_by == worker and er.start_time is not None


def test_a_run_locked_by_another_claim_is_skipped_not_waited_for(store):
    (run_id,) = add_runs(store, {"state": "PENDING", "attempts": 1})
    with store.db.transaction() as s:  # another replica, between its SELECT ... FOR UPDATE and commit
        s.execute(sa.select(EnrichmentRun).where(EnrichmentRun.scan_run_id == run_id).with_for_update())
        assert store.claim_next("other") is None
    assert store.claim_next("other").scan_run_id == run_id


def test_a_running_run_of_a_dead_worker_is_taken_over(store):
    old = dt.datetime.now(dt.UTC) - dt.timedelta(hours=1)
    stale, exhausted, alive = add_runs(
        store,
        {"state": "RUNNING", "attempts": 1, "claimed_by": "dead-worker", "start_time": old},
        {"state": "RUNNING", "attempts": MAX_ATTEMPTS, "claimed_by": "dead-worker", "start_time": old},
        {
            "state": "RUNNING",
            "attempts": 1,
            "claimed_by": "alive-worker",
            "start_time": dt.datetime.now(dt.UTC),
        },
    )
    worker = EnrichmentWorker(store, threads=1, run_timeout=dt.timedelta(minutes=15))
    worker.on_start()
    taken = store.get(stale)
    assert taken.state == "PENDING" and taken.attempts == 2 and taken.claimed_by is None
    gave_up = store.get(exhausted)
    assert gave_up.state == "FAILED" and "stopped" in gave_up.error_message and gave_up.end_time is not None
    assert store.get(alive).state == "RUNNING" and store.get(alive).claimed_by == "alive-worker"

    assert worker.iterate() is True
    done = store.get(stale)
    assert done.state == "SUCCEEDED" and done.claimed_by == worker.worker_id
    # the dead worker, if it was only slow, cannot end the run again
    assert store.fail(stale, "dead-worker", 13, "late") is False
    with pytest.raises(ClaimLost):
        store.enrich_rows(stale, "dead-worker")
    assert store.get(stale).state == "SUCCEEDED"


def test_the_worker_also_takes_runs_back_periodically(store):
    worker = EnrichmentWorker(store, threads=1, run_timeout=dt.timedelta(minutes=15), recover_every=0)
    worker.on_start()
    (stale,) = add_runs(
        store,
        {
            "state": "RUNNING",
            "attempts": 1,
            "claimed_by": "dead-worker",
            "start_time": dt.datetime.now(dt.UTC) - dt.timedelta(minutes=16),
        },
    )
    assert worker.iterate() is True
    assert store.get(stale).state == "SUCCEEDED" and store.get(stale).attempts == 2


def test_a_run_whose_enricher_was_killed_is_taken_back_a_lease_later_not_after_the_timeout(store):
    """A worker renews its run's lease while it enriches; one killed (kill -9, an evicted pod)
    stops renewing, and any replica's next look takes the run back once the lease lapsed, long
    before the run timeout. A live worker's renewed run is left alone."""
    lease = dt.timedelta(seconds=1)
    dead, live = add_runs(store, {"state": "PENDING"}, {"state": "PENDING"})
    assert store.claim_next("dead-worker", lease).scan_run_id == dead
    assert store.claim_next("live-worker", lease).scan_run_id == live
    other = EnrichmentWorker(store, threads=1, run_timeout=dt.timedelta(minutes=15), lease=lease)
    other.recover()
    assert store.get(dead).state == store.get(live).state == "RUNNING"  # both leases hold
    time.sleep(0.6)
    assert store.renew_lease(live, "live-worker", lease)
    time.sleep(0.6)
    other.recover()
    taken = store.get(dead)
    assert taken.state == "PENDING" and taken.claimed_by is None and taken.attempts == 1
    assert store.get(live).state == "RUNNING" and store.get(live).claimed_by == "live-worker"
    assert not store.renew_lease(dead, "dead-worker", lease)  # taken back: its lease is gone
    assert other.recover_every == 0.5  # looks every half lease


def test_a_failing_enrichment_ends_failed_with_a_message_and_can_be_queued_again(stack, scanned, monkeypatch):
    from cloudwaste.enricher import store as enricher_store

    run, servicer, worker = scanned

    def broken(tags):
        raise RuntimeError("secret internals")

    monkeypatch.setattr(enricher_store, "anonymize_tags", broken)
    enrich(servicer, run.name)
    first_try = get(servicer, run.name).attempts
    assert worker.iterate() is True
    retried = get(servicer, run.name)  # queued again with its error, taken only after a delay
    assert retried.state == PENDING and retried.error_message == "enrichment failed; see the enricher log"
    assert retried.attempts == first_try + 1 and worker.iterate() is False
    while retried.state == PENDING:  # the delay passes (backdated), and it fails until the last attempt
        engine = sa.create_engine(stack.database_url)
        with engine.begin() as c:
            c.execute(sa.text("UPDATE enrichment_runs SET update_time = update_time - interval '1 minute'"))
        engine.dispose()
        assert worker.iterate() is True
        retried = get(servicer, run.name)
    failed = retried
    assert failed.state == FAILED and failed.error_message == "enrichment failed; see the enricher log"
    assert failed.HasField("end_time") and failed.rows_enriched == 0 and failed.attempts == 3

    def unavailable(tags):  # a domain error's message is safe to show: it is kept
        raise FailedPrecondition("the tag vocabulary is not loaded")

    monkeypatch.setattr(enricher_store, "anonymize_tags", unavailable)
    queued = enrich(servicer, run.name)
    assert queued.state == PENDING and not queued.error_message and queued.attempts == failed.attempts + 1
    worker.iterate()
    assert get(servicer, run.name).error_message == "the tag vocabulary is not loaded"

    monkeypatch.undo()
    forget_enrichment(stack.database_url, run.name)
    enrich(servicer, run.name)
    worker.iterate()
    done = get(servicer, run.name)
    assert done.state == SUCCEEDED and not done.error_message and done.rows_enriched == run.findings_count
    assert enriched_rows(stack.database_url, run.name) == run.findings_count


def test_a_stopping_worker_rolls_its_run_back_and_queues_it_again(stack, scanned, monkeypatch):
    from cloudwaste.enricher import store as enricher_store

    run, servicer, worker = scanned
    forget_enrichment(stack.database_url, run.name)
    queued = enrich(servicer, run.name)
    monkeypatch.setattr(enricher_store, "BATCH", 1)  # a batch boundary after every row
    monkeypatch.setattr(worker, "stopping", lambda: True)  # the enricher is shutting down
    assert worker.iterate() is True
    back = get(servicer, run.name)
    assert back.state == PENDING and back.attempts == queued.attempts and not back.HasField("start_time")
    assert store_run(worker.store, run.name).claimed_by is None
    assert enriched_rows(stack.database_url, run.name) == 0  # nothing half-written


@pytest.fixture
def enricher(database_url):
    settings = EnricherSettings(
        database_url=database_url,
        grpc_host="127.0.0.1",
        grpc_port=0,
        metrics_port=-1,
        shutdown_grace_seconds=1,
    )
    running = create_server(settings, build_app(settings))
    channel = grpc.insecure_channel(f"127.0.0.1:{running.port}")
    yield enricher_service_pb2_grpc.EnricherServiceStub(channel)
    channel.close()
    running.stop(0.5)


def list_all(enricher, page_size: int, state: int = 0) -> list[list[enrichment_run_pb2.EnrichmentRun]]:
    pages, token = [], ""
    while True:
        page = enricher.ListEnrichmentRuns(
            enricher_service_pb2.ListEnrichmentRunsRequest(
                page_size=page_size, page_token=token, state=state
            ),
            timeout=10,
        )
        pages.append(list(page.enrichment_runs))
        token = page.next_page_token
        if not token:
            return pages


def test_list_enrichment_runs_pages_newest_first_and_filters_by_state(enricher, store):
    base = dt.datetime(2026, 11, 1, tzinfo=dt.UTC)
    now = dt.datetime.now(dt.UTC)
    runs = [
        {
            "state": ("SUCCEEDED", "FAILED", "RUNNING")[n % 3],
            "attempts": 1,
            "create_time": base + dt.timedelta(minutes=n // 2),  # pairs share a create_time
            "start_time": now,  # a RUNNING one is fresh: not taken back by the server's worker
        }
        for n in range(7)
    ]
    add_runs(store, *runs)

    pages = list_all(enricher, page_size=3)
    assert [len(p) for p in pages] == [3, 3, 1]
    seen = [r for p in pages for r in p]
    assert len({r.scan_run for r in seen}) == 7
    keys = [(r.create_time.ToDatetime(), r.scan_run) for r in seen]
    assert keys == sorted(keys, reverse=True)  # newest first

    failed = [r for p in list_all(enricher, page_size=1, state=FAILED) for r in p]
    assert len(failed) == 2 and all(r.state == FAILED for r in failed)
    assert {r.scan_run for r in failed} == {r.scan_run for r in seen if r.state == FAILED}

    first = enricher.ListEnrichmentRuns(enricher_service_pb2.ListEnrichmentRunsRequest(page_size=1))
    for request in (
        enricher_service_pb2.ListEnrichmentRunsRequest(page_token=first.next_page_token, state=FAILED),
        enricher_service_pb2.ListEnrichmentRunsRequest(page_size=-1),
        enricher_service_pb2.ListEnrichmentRunsRequest(state=99),
    ):
        with pytest.raises(grpc.RpcError) as err:
            enricher.ListEnrichmentRuns(request)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
