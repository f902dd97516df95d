"""Training is long work that a training worker claims, never the serving threads: runs are
queued by TrainModels, claimed once (SKIP LOCKED), failed when their worker is gone, trained by
`cloudwaste train` as a process of its own, and the predictor's local worker survives a kill."""

from __future__ import annotations

import datetime as dt
import os
import signal
import subprocess
import sys
import threading
import time
from contextlib import contextmanager

import sqlalchemy as sa
from cloudwaste.core import roles
from cloudwaste.core.db import Database
from cloudwaste.exporter.v1 import exporter_service_pb2
from cloudwaste.predictor.store import PredictorStore

from tests.integration.test_storage import labeled_estate


def test_two_workers_never_claim_the_same_run_and_stale_runs_fail(database_url):
    a, b = PredictorStore(Database(database_url)), PredictorStore(Database(database_url))
    first, second = a.create_training_run("file:///x/1.parquet"), a.create_training_run("file:///x/2.parquet")
    real, holding, release = a.db.transaction, threading.Event(), threading.Event()

    @contextmanager
    def slow_commit():
        with real() as s:
            yield s
            holding.set()
            assert release.wait(30)

    a.db.transaction = slow_commit
    got = {}
    t = threading.Thread(target=lambda: got.setdefault("a", a.claim_training_run("worker-a")))
    t.start()
    assert holding.wait(30)
    got["b"] = b.claim_training_run("worker-b")
    release.set()
    t.join(30)
    a.db.transaction = real
    assert got["a"].id == first.id and got["b"].id == second.id
    engine = sa.create_engine(database_url)
    with engine.begin() as c:
        c.execute(
            sa.text("UPDATE training_runs SET start_time = now() - interval '3 hours' WHERE id = :id"),
            {"id": first.id},
        )
    engine.dispose()
    assert b.fail_stale_training_runs(dt.timedelta(hours=2)) == 1
    stale = b.get_training_run(first.id)[0]
    assert stale.state == "FAILED" and stale.error_code == 10  # ABORTED: train again
    assert b.get_training_run(second.id)[0].state == "RUNNING"
    a.db.dispose()
    b.db.dispose()


def _env(stack) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDWASTE_")}
    return env | {
        # as the training CronJob: the predictor's role, with only its grants
        "CLOUDWASTE_DATABASE_URL": roles.local_urls(stack.database_url)["predictor"],
        "CLOUDWASTE_DATASET_ROOT": str(stack.export_root),
        "CLOUDWASTE_AUTH_MODE": "none",
    }


def test_cloudwaste_train_is_a_process_of_its_own(stack):
    labeled_estate(stack)
    cmd = [sys.executable, "-m", "cloudwaste.core.cli", "train"]
    none = subprocess.run(cmd, env=_env(stack), capture_output=True, text=True, timeout=120)
    assert none.returncode == 1 and "no successful export yet" in none.stderr
    export = list(
        stack.exporter.ExportDataset(
            exporter_service_pb2.ExportDatasetRequest(destination_uri=stack.export_root.as_uri())
        )
    )[-1].export_run
    done = subprocess.run(
        cmd, env=_env(stack), capture_output=True, text=True, timeout=300
    )  # the newest export
    assert done.returncode == 0, done.stderr
    assert "SUCCEEDED, models/waste/versions/1 (active)" in done.stdout and "held-out roc_auc" in done.stdout
    bad = subprocess.run(
        [*cmd, "--dataset-uri", "file:///etc/passwd"],
        env=_env(stack),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert bad.returncode == 1 and "dataset_uri" in bad.stderr
    assert export.dataset_uri


def test_the_predictors_local_worker_comes_back_after_a_kill(stack):
    from cloudwaste.predictor.worker import LocalTrainingWorker

    worker = LocalTrainingWorker(stack.settings["predictor"])
    worker.start()
    try:
        first = worker._proc
        deadline = time.monotonic() + 30
        while not first.is_alive():
            assert time.monotonic() < deadline
            time.sleep(0.05)
        os.kill(first.pid, signal.SIGKILL)
        deadline = time.monotonic() + 30
        while worker._proc is first or not worker._proc.is_alive():
            assert time.monotonic() < deadline, "the training worker was not restarted"
            time.sleep(0.1)
        assert worker._proc.pid != first.pid
    finally:
        worker.stop(5)
    assert not worker._proc.is_alive()


def test_a_training_whose_worker_died_ends_failed_a_lease_later_not_hours(database_url):
    """A training worker renews its run's lease while it trains; one killed stops renewing, and
    the next look for stale runs (any worker's) fails the run once the lease lapsed."""
    from cloudwaste.core.errors import WORKER_LOST

    store = PredictorStore(Database(database_url))
    hours = dt.timedelta(hours=2)  # the age limit: far away
    dead = store.create_training_run("file:///datasets/dead")
    assert store.claim_training_run("dead-worker", dead.id, lease=dt.timedelta(seconds=1)).id == dead.id
    live = store.create_training_run("file:///datasets/live")
    assert store.claim_training_run("live-worker", live.id, lease=dt.timedelta(seconds=1)).id == live.id
    assert store.fail_stale_training_runs(hours) == 0  # both leases hold
    time.sleep(0.6)
    assert store.renew_training_lease(live.id, "live-worker", dt.timedelta(seconds=1))
    time.sleep(0.6)
    assert store.fail_stale_training_runs(hours) == 1  # the dead one only
    run, _ = store.get_training_run(dead.id)
    assert run.state == "FAILED" and run.error_code == WORKER_LOST and "train again" in run.error_message
    assert store.get_training_run(live.id)[0].state == "RUNNING"
    assert not store.renew_training_lease(dead.id, "dead-worker", dt.timedelta(seconds=1))  # reaped: no
    store.db.dispose()
