"""The training worker: a process of its own that claims PENDING training runs and trains them.

`cloudwaste train --worker` runs `run_worker` until SIGTERM (a Kubernetes Deployment or Job). On
one machine the predictor starts it as a child process (`LocalTrainingWorker`, when
CLOUDWASTE_TRAINING_WORKER=process), restarts it if it dies, and stops it on shutdown; the
serving process only picks up the new active model by polling.
"""

from __future__ import annotations

import logging
import multiprocessing
import signal
import socket
import threading
import uuid

from cloudwaste.core.db import Database
from cloudwaste.core.errors import Unavailable
from cloudwaste.predictor.settings import PredictorSettings

log = logging.getLogger(__name__)


def worker_id() -> str:
    return f"{socket.gethostname()}-train-{uuid.uuid4().hex[:8]}"


def run_worker(settings: PredictorSettings, stop: threading.Event) -> None:
    """Claims and trains pending runs until `stop` is set."""
    from cloudwaste.predictor.store import PredictorStore
    from cloudwaste.predictor.training import Trainer

    db = Database(settings.database_url, pool_size=2)
    trainer = Trainer(PredictorStore(db), None, settings)
    me = worker_id()
    log.info("training worker started", extra={"worker": me})
    database_down = False  # an outage is said once each way, not a traceback per poll
    try:
        while not stop.is_set():
            try:
                did = trainer.run_pending(me)
            except Unavailable as exc:
                if not database_down:
                    log.warning("training worker paused: %s", exc)
                database_down, did = True, False
            except Exception:
                log.exception("training worker iteration failed")
                did = False
            else:
                if database_down:
                    log.info("training worker resumed: the database answers again")
                database_down = False
            if not did:
                stop.wait(settings.training_poll_seconds)
    finally:
        db.dispose()
        log.info("training worker stopped", extra={"worker": me})


def _child_main(settings: PredictorSettings) -> None:
    from cloudwaste.core import logs

    logs.configure("predictor-training", settings.log_level)
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    run_worker(settings, stop)


class LocalTrainingWorker:
    """The training worker as a child process of the predictor, kept alive until `stop()`."""

    def __init__(self, settings: PredictorSettings) -> None:
        self.settings = settings
        self._ctx = multiprocessing.get_context("spawn")  # a fresh interpreter: no inherited gRPC threads
        self._proc = None
        self._stopping = threading.Event()
        self._monitor: threading.Thread | None = None

    def start(self) -> None:
        self._spawn()
        self._monitor = threading.Thread(target=self._watch, name="training-worker-monitor", daemon=True)
        self._monitor.start()

    def _spawn(self) -> None:
        self._proc = self._ctx.Process(
            target=_child_main, args=(self.settings,), name="training-worker", daemon=True
        )
        self._proc.start()

    def _watch(self) -> None:
        delay = 1.0
        while not self._stopping.wait(delay):
            if self._proc is not None and not self._proc.is_alive():
                log.warning("training worker exited; restarting it", extra={"exitcode": self._proc.exitcode})
                self._spawn()
                delay = min(delay * 2, 60.0)

    def stop(self, timeout: float = 10.0) -> None:
        self._stopping.set()
        proc = self._proc
        if proc is not None and proc.is_alive():
            proc.terminate()  # SIGTERM: the worker finishes the run in hand, then exits
            proc.join(timeout)
            if proc.is_alive():
                proc.kill()
                proc.join(5)
