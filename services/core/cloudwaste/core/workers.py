"""Background workers that claim runs from PostgreSQL: the shared thread loop.

A subclass implements `iterate()` (claim one run and execute it; return whether there was one).
Idle threads sleep `poll_seconds` unless `wake()` is called (a run was just queued); `stop()` asks
them to finish what they hold and joins them. Used by the scanner's and the exporter's workers.
"""

from __future__ import annotations

import logging
import socket
import threading
import uuid

log = logging.getLogger(__name__)


class ClaimingWorker:
    name = "worker"  # thread names and the worker id: "<host>-<name>-<random>"

    def __init__(self, threads: int = 1, poll_seconds: float = 2.0) -> None:
        self.threads, self.poll_seconds = threads, poll_seconds
        self.worker_id = f"{socket.gethostname()}-{self.name}-{uuid.uuid4().hex[:8]}"
        self._wake, self._stop = threading.Event(), threading.Event()
        self._threads: list[threading.Thread] = []

    def iterate(self) -> bool:
        raise NotImplementedError

    def on_start(self) -> None:
        """Runs once before the threads start (e.g. fail runs a dead worker left behind)."""

    def start(self) -> None:
        try:
            self.on_start()
        except Exception:
            log.exception("%s start-up step failed", self.name)
        for n in range(self.threads):
            t = threading.Thread(target=self._loop, name=f"{self.name}-{n}", daemon=True)
            t.start()
            self._threads.append(t)

    def wake(self) -> None:
        self._wake.set()

    def stopping(self) -> bool:
        return self._stop.is_set()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        self._wake.set()
        for t in self._threads:
            t.join(timeout)

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                did = self.iterate()
            except Exception:
                log.exception("%s iteration failed", self.name)
                did = False
            if not did:
                self._wake.wait(self.poll_seconds)
                self._wake.clear()
