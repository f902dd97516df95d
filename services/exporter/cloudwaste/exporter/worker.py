"""The export worker: threads of the exporter process that claim PENDING export runs (SKIP LOCKED,
so replicas share the work) and execute them, never on the RPC threads. On shutdown the export in
hand stops between batches and ends FAILED with the reason; runs left RUNNING by an exporter that
died are failed by the monthly purge (or at this worker's start) after 6 hours."""

from __future__ import annotations

import datetime as dt
import logging
import socket
import threading
import uuid

from cloudwaste.exporter.runs import Exports
from cloudwaste.exporter.store import ExporterStore

log = logging.getLogger(__name__)

STALE_AFTER = dt.timedelta(hours=6)


class ExportWorker:
    def __init__(
        self, exports: Exports, store: ExporterStore, threads: int = 1, poll_seconds: float = 2.0
    ) -> None:
        self.exports, self.store, self.threads, self.poll_seconds = exports, store, threads, poll_seconds
        self.worker_id = f"{socket.gethostname()}-export-{uuid.uuid4().hex[:8]}"
        self._wake, self._stop = threading.Event(), threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> None:
        try:
            self.store.fail_stale_export_runs(dt.datetime.now(dt.UTC) - STALE_AFTER)
        except Exception:
            log.exception("could not fail stale export runs")
        for n in range(self.threads):
            t = threading.Thread(target=self._loop, name=f"export-worker-{n}", daemon=True)
            t.start()
            self._threads.append(t)

    def wake(self) -> None:
        self._wake.set()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        for t in self._threads:
            t.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                run = self.store.claim_next(self.worker_id)
                if run is not None:
                    self.exports.execute(run, self._stop.is_set)
                    continue
            except Exception:
                log.exception("export worker iteration failed")
            self._wake.wait(self.poll_seconds)
            self._wake.clear()
