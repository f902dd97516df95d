"""The export worker: threads of the exporter process that claim PENDING export runs (SKIP LOCKED,
so replicas share the work) and execute them, never on the RPC threads. On shutdown the export in
hand stops between batches and ends FAILED with the reason; runs left RUNNING by an exporter that
died are failed by the monthly purge (or at this worker's start) after 6 hours."""

from __future__ import annotations

import datetime as dt
import logging

from cloudwaste.core.workers import ClaimingWorker
from cloudwaste.exporter.runs import Exports
from cloudwaste.exporter.store import ExporterStore

log = logging.getLogger(__name__)

STALE_AFTER = dt.timedelta(hours=6)


class ExportWorker(ClaimingWorker):
    name = "export-worker"

    def __init__(
        self, exports: Exports, store: ExporterStore, threads: int = 1, poll_seconds: float = 2.0
    ) -> None:
        super().__init__(threads, poll_seconds)
        self.exports, self.store = exports, store

    def on_start(self) -> None:
        self.store.fail_stale_export_runs(dt.datetime.now(dt.UTC) - STALE_AFTER)

    def iterate(self) -> bool:
        run = self.store.claim_next(self.worker_id)
        if run is None:
            return False
        self.exports.execute(run, self.stopping)
        return True
