"""The training worker against a database that does not answer: it says so once, with no
traceback per poll, and keeps polling (the readiness test shows the services do the same)."""

from __future__ import annotations

import logging
import socket
import threading

from cloudwaste.predictor import training  # noqa: F401  (imported here: seconds the polls must not wait for)
from cloudwaste.predictor.settings import PredictorSettings
from cloudwaste.predictor.worker import run_worker


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]  # nothing listens once it is closed


def test_a_database_outage_is_one_warning_not_a_traceback_per_poll(caplog, tmp_path):
    settings = PredictorSettings(
        database_url=f"postgresql+psycopg://cloudwaste@127.0.0.1:{_closed_port()}/cloudwaste?connect_timeout=1",
        dataset_root=str(tmp_path),
        training_poll_seconds=0.05,
    )
    stop = threading.Event()
    worker = threading.Thread(target=run_worker, args=(settings, stop))
    with caplog.at_level(logging.INFO, logger="cloudwaste.predictor.worker"):
        worker.start()
        stop.wait(1.0)  # some twenty polls, each refused
        stop.set()
        worker.join(10)
    assert not worker.is_alive()
    records = [r for r in caplog.records if r.name == "cloudwaste.predictor.worker"]
    paused = [r for r in records if r.getMessage().startswith("training worker paused")]
    assert len(paused) == 1 and paused[0].levelno == logging.WARNING
    assert not any(r.exc_info for r in records), [r.getMessage() for r in records]
