"""The export worker: threads of the exporter process that claim PENDING purge and export runs
(SKIP LOCKED, so replicas share the work) and execute them, never on the RPC threads. A purge is
taken first (they are rare, and one runs at a time). On shutdown the export in hand stops between
batches and ends FAILED with the reason. A running export holds a lease its worker renews every
third of `lease`: an exporter that died (kill -9, an evicted pod) stops renewing, and any export
worker fails the run, withdraws its files and sweeps the temporary files its writes left, about a
lease later (and any run older than `stale_after`, 2 hours, whatever its lease says)."""

from __future__ import annotations

import datetime as dt
import logging
import time

from cloudwaste.core.workers import ClaimingWorker, Lease
from cloudwaste.exporter.purge import Purger
from cloudwaste.exporter.runs import Exports
from cloudwaste.exporter.store import ExporterStore

log = logging.getLogger(__name__)

STALE_AFTER = dt.timedelta(hours=2)
REAP_EVERY = 60.0  # seconds between looks for stale runs


class ExportWorker(ClaimingWorker):
    name = "export-worker"

    def __init__(
        self,
        exports: Exports,
        store: ExporterStore,
        purger: Purger,
        threads: int = 1,
        poll_seconds: float = 2.0,
        stale_after: dt.timedelta = STALE_AFTER,
        lease: dt.timedelta = dt.timedelta(seconds=60),
    ) -> None:
        super().__init__(threads, poll_seconds)
        self.exports, self.store, self.purger, self.stale_after = exports, store, purger, stale_after
        self.lease = lease
        # a lapsed lease is noticed within half a lease; a dead write's temporary file, untouched
        # for two (a live one is written continuously while it is published)
        self.reap_every = min(REAP_EVERY, lease.total_seconds() / 2)
        self.temporary_after = max(2 * lease, dt.timedelta(seconds=10))
        self._last_reap = 0.0

    def on_start(self) -> None:
        self._reap()

    def _reap(self) -> None:
        self._last_reap = time.monotonic()
        self.exports.reap_stale(dt.datetime.now(dt.UTC) - self.stale_after)
        swept = self.exports.storage.sweep_temporary(self.temporary_after)
        if swept:
            log.warning("removed temporary files left by writes that died", extra={"count": len(swept)})
        self.store.fail_stale_purge_runs(dt.datetime.now(dt.UTC) - self.stale_after)

    def iterate(self) -> bool:
        if time.monotonic() - self._last_reap > self.reap_every:
            self._reap()
        purge = self.store.claim_next_purge(self.worker_id)
        if purge is not None:
            self.purger.execute(purge)
            return True
        run = self.store.claim_next(self.worker_id, self.lease)
        if run is None:
            return False
        renew = lambda: self.store.renew_lease(run.id, self.worker_id, self.lease)  # noqa: E731
        with Lease(renew, self.lease.total_seconds() / 3, f"exportRuns/{run.id}"):
            self.exports.execute(run, self.stopping)
        return True
