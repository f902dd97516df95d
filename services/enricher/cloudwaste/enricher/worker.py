"""The enrichment worker: threads of the enricher process that claim PENDING enrichment runs (SKIP
LOCKED, so replicas share the work) and execute them, never on the RPC threads.

A run ends SUCCEEDED with its rows enriched, or FAILED with a message safe to show once it has
failed MAX_ATTEMPTS times (each failure before that queues it again, taken after a delay;
EnrichScanRun queues a FAILED run again). On shutdown the run in hand is rolled back and queued
again for another worker. The worker renews the run's lease (a third of it at a time) while it
enriches; a run left RUNNING by an enricher that died (its lease lapsed, or claimed longer ago than
the run timeout) is taken back by any replica: queued again, or FAILED once it had MAX_ATTEMPTS;
checked at start and every `recover_every` seconds (half a lease by default)."""

from __future__ import annotations

import datetime as dt
import logging
import time

from cloudwaste.core.errors import failure
from cloudwaste.core.models import EnrichmentRun
from cloudwaste.core.workers import ClaimingWorker, Lease
from cloudwaste.enricher import metrics
from cloudwaste.enricher.store import DEFAULT_LEASE, ClaimLost, EnricherStore, Interrupted

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 3
BACKLOG_EVERY = 15.0  # seconds between two looks at the queue (cloudwaste_enricher_queued_runs)


class EnrichmentWorker(ClaimingWorker):
    name = "enrichment-worker"

    def __init__(
        self,
        store: EnricherStore,
        threads: int = 2,
        poll_seconds: float = 2.0,
        run_timeout: dt.timedelta = dt.timedelta(minutes=15),
        lease: dt.timedelta = DEFAULT_LEASE,
        recover_every: float | None = None,  # seconds between two looks for runs of a dead worker
    ) -> None:
        super().__init__(threads, poll_seconds)
        self.store, self.run_timeout, self.lease = store, run_timeout, lease
        self.recover_every = lease.total_seconds() / 2 if recover_every is None else recover_every
        self._next_recovery = self._next_backlog = 0.0

    def on_start(self) -> None:
        self.recover()

    def iterate(self) -> bool:
        if time.monotonic() >= self._next_recovery:
            self.recover()
        if time.monotonic() >= self._next_backlog:
            self._next_backlog = time.monotonic() + BACKLOG_EVERY
            queued, oldest = self.store.backlog()
            metrics.QUEUED.set(queued)
            metrics.OLDEST_QUEUED_AGE.set(oldest)
        run = self.store.claim_next(self.worker_id, self.lease)
        if run is None:
            return False
        self.execute(run)
        return True

    def recover(self) -> None:
        """Takes back the runs of workers that died (see the module docstring)."""
        self._next_recovery = time.monotonic() + self.recover_every
        queued, failed = self.store.recover_stale(dt.datetime.now(dt.UTC) - self.run_timeout, MAX_ATTEMPTS)
        if queued or failed:
            log.warning(
                "took back enrichment runs left running by a stopped enricher",
                extra={"queued_again": queued, "failed": failed},
            )

    def execute(self, run: EnrichmentRun) -> None:
        scan_run = f"scanRuns/{run.scan_run_id}"
        renew = lambda: self.store.renew_lease(run.scan_run_id, self.worker_id, self.lease)  # noqa: E731
        try:
            with Lease(renew, self.lease.total_seconds() / 3, scan_run):
                done = self.store.enrich_rows(run.scan_run_id, self.worker_id, self.stopping)
            metrics.RUNS.labels("succeeded").inc()
            metrics.LAG.observe(max(0.0, (done.end_time - done.create_time).total_seconds()))
            metrics.LAST_SUCCESS.set(done.end_time.timestamp())
            log.info("enrichment finished", extra={"scan_run": scan_run, "rows": done.rows_enriched})
        except ClaimLost:
            log.warning(
                "enrichment run taken back by another worker; its work was discarded",
                extra={"scan_run": scan_run},
            )
        except Interrupted:
            self.store.release(run.scan_run_id, self.worker_id)
            metrics.RUNS.labels("released").inc()
            log.info("enricher stopping: enrichment run queued again", extra={"scan_run": scan_run})
        except Exception as exc:  # the run ends FAILED, never RUNNING for ever
            code, message = failure(exc, "enrichment failed; see the enricher log")
            log.exception("enrichment failed", extra={"scan_run": scan_run})
            # a failure is retried (after store.RETRY_DELAY) until the run has had MAX_ATTEMPTS
            retry = run.attempts < MAX_ATTEMPTS
            if self.store.fail(run.scan_run_id, self.worker_id, code, message, retry=retry):
                metrics.RUNS.labels("retried" if retry else "failed").inc()
