"""Background workers that claim runs from PostgreSQL: the shared thread loop.

A subclass implements `iterate()` (claim one run and execute it; return whether there was one).
Idle threads sleep `poll_seconds` unless `wake()` is called (a run was just queued); `stop()` asks
them to finish what they hold and joins them. Used by the scanner's, the enricher's and the
exporter's workers. While the database is unavailable the threads keep polling and say so once (one
line, no traceback), and once more when it answers again.
"""

from __future__ import annotations

import logging
import socket
import threading
import uuid

from cloudwaste.core.errors import Unavailable

log = logging.getLogger(__name__)


class ClaimingWorker:
    name = "worker"  # thread names and the worker id: "<host>-<name>-<random>"

    def __init__(self, threads: int = 1, poll_seconds: float = 2.0) -> None:
        self.threads, self.poll_seconds = threads, poll_seconds
        self.worker_id = f"{socket.gethostname()}-{self.name}-{uuid.uuid4().hex[:8]}"
        self._wake, self._stop = threading.Event(), threading.Event()
        self._threads: list[threading.Thread] = []
        self._database_down = False  # shared by the threads: each change is said once
        self._database_lock = threading.Lock()

    def iterate(self) -> bool:
        raise NotImplementedError

    def on_start(self) -> None:
        """Runs once before the threads start (e.g. fail runs a dead worker left behind)."""

    def start(self) -> None:
        try:
            self.on_start()
        except Unavailable as exc:  # the loop retries it (and says so once)
            log.warning("%s start-up step skipped: %s", self.name, exc)
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

    def _database_state(self, down: bool) -> bool:
        """Records whether the database is down; True when that is a change."""
        with self._database_lock:
            changed, self._database_down = self._database_down != down, down
            return changed

    def _loop(self) -> None:
        while not self._stop.is_set():
            try:
                did = self.iterate()
            except Unavailable as exc:
                if self._database_state(down=True):
                    log.warning("%s paused: %s", self.name, exc)
                did = False
            except Exception:
                log.exception("%s iteration failed", self.name)
                did = False
            else:
                if self._database_down and self._database_state(down=False):
                    log.info("%s resumed: the database answers again", self.name)
            if not did:
                self._wake.wait(self.poll_seconds)
                self._wake.clear()


class Lease:
    """Renews a claimed run's lease from a thread of its own while the work goes on (use as a
    context manager around the work). A worker that dies (kill -9, an evicted pod) stops renewing,
    so its run's lease lapses within one lease and any replica's reaper ends the run. `renew()`
    returns False once the run is no longer this worker's (it was reaped): renewing stops."""

    def __init__(self, renew, every: float, what: str) -> None:
        self.renew, self.every, self.what = renew, every, what
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name=f"lease-{what}", daemon=True)

    def __enter__(self) -> Lease:
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    def stop(self) -> None:
        """Stops renewing (the run is about to end); idempotent."""
        self._stop.set()
        if self._thread.is_alive() and self._thread is not threading.current_thread():
            self._thread.join(timeout=self.every + 5)

    def _loop(self) -> None:
        failing = False
        while not self._stop.wait(self.every):
            try:
                if not self.renew():
                    log.warning("lease lost: the run was ended by another worker", extra={"run": self.what})
                    return
                failing = False
            except Exception as exc:  # the database is away: try again next time; the run may lapse
                if not failing:
                    log.warning("could not renew a run's lease", extra={"run": self.what, "error": str(exc)})
                failing = True
