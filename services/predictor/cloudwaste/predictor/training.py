"""Training runs: the predictor's logic around training one model (no gRPC here).

TrainModels only queues a PENDING run; a training worker (a process of its own: `cloudwaste train
--worker`, a Kubernetes Job running `cloudwaste train`, or the predictor's local worker process on
one machine, see worker.py) claims it and trains. The serving threads never train.

Checks the dataset (file:// or s3://, read through `cloudwaste.core.storage` under the configured
dataset root), records the run, trains the run's model kind (`cloudwaste.predictor.kinds`),
registers the ONNX model, and swaps it into serving when it is activated. A failure ends the run FAILED with a message safe to show.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging

import pyarrow as pa
from cloudwaste.core.datasets import parquet_files
from cloudwaste.core.errors import CloudWasteError, FailedPrecondition, InvalidArgument, failure
from cloudwaste.core.models import ModelVersion, TrainingRun
from cloudwaste.core.storage import Storage
from cloudwaste.core.workers import Lease
from cloudwaste.predictor import kinds
from cloudwaste.predictor.errors import TrainingFailed
from cloudwaste.predictor.metrics import TRAININGS
from cloudwaste.predictor.serving import ServedModels
from cloudwaste.predictor.settings import PredictorSettings
from cloudwaste.predictor.store import PredictorStore

log = logging.getLogger(__name__)

# A run RUNNING this long has lost its worker (training the demo's data takes seconds).
STALE_AFTER = dt.timedelta(hours=2)


class Trainer:
    def __init__(
        self,
        store: PredictorStore,
        models: ServedModels | None,
        settings: PredictorSettings,
        storage: Storage | None = None,
    ) -> None:
        self.store, self.models, self.settings = store, models, settings
        self.lease = dt.timedelta(seconds=settings.training_lease_seconds)  # renewed every third
        self.storage = storage or settings.storage()  # file:// or s3://, confined to the dataset root

    def dataset(self, uri: str) -> list[str]:
        """The Parquet files an existing dataset under the dataset root stands for: an export
        folder (all of it), one of its manifests (the dataset as of that export) or one file
        (`cloudwaste.core.datasets.parquet_files`)."""
        example = "file:///exports, s3://bucket/exports or .../exports/_manifests/<export>.json"
        resolved = self.storage.resolve("dataset_uri", uri, example)
        files = parquet_files(self.storage, "dataset_uri", resolved)
        if not files:
            raise InvalidArgument("dataset_uri", f"{uri} holds no Parquet export")
        return files

    def queue(
        self, dataset_uri: str, activate: bool = True, request_id: str = "", model_kind: str = kinds.DEFAULT
    ) -> TrainingRun:
        """Checks the kind and the dataset and queues a PENDING run for a training worker (the RPC path)."""
        if not kinds.get(model_kind).trainable:
            raise InvalidArgument("model_kind", f"{model_kind!r} is not trained: it serves its built-in model")
        self.dataset(dataset_uri)
        return self.store.create_training_run(dataset_uri, activate, request_id, model_kind)

    def execute(self, run: TrainingRun) -> tuple[TrainingRun, ModelVersion]:
        """Trains a claimed run: the model is registered, and activated if the run says so."""
        kind = run.model_kind
        try:
            with contextlib.ExitStack() as stack:
                sources = [
                    stack.enter_context(self.storage.open_input(f)) for f in self.dataset(run.dataset_uri)
                ]
                try:
                    trained = kinds.get(kind).train(sources)
                except (pa.ArrowInvalid, pa.ArrowTypeError, pa.ArrowNotImplementedError) as exc:
                    log.warning("unreadable dataset", extra={"training_run": str(run.id), "error": str(exc)})
                    raise FailedPrecondition(
                        f"dataset_uri: {run.dataset_uri} holds a file that is not a Parquet export of "
                        "CloudWaste's (ExportDataset writes them)"
                    ) from None
            self._loads(kind, trained.onnx, run)
            run, mv = self.store.register(run.id, kind, trained, activate=run.activate)
        except Exception as exc:
            code, message = failure(exc, "training failed unexpectedly; see the training worker's log")
            log.exception("training failed", extra={"training_run": str(run.id)})
            self.store.fail_training_run(run.id, code, message)
            TRAININGS.labels(kind, "FAILED").inc()
            if isinstance(exc, CloudWasteError):
                raise
            raise TrainingFailed(message) from exc
        TRAININGS.labels(kind, "SUCCEEDED").inc()
        if mv.active and self.models is not None:
            self.models.refresh(kind)
        log.info("training finished", extra={"training_run": str(run.id), "model_version": mv.version})
        return run, mv

    @staticmethod
    def _loads(kind: str, onnx: bytes, run: TrainingRun) -> None:
        """A model is registered (and maybe activated) only once ONNX Runtime has loaded it, as the
        predictor will: one that does not load never becomes a version, let alone the active one."""
        try:
            kinds.get(kind).load(onnx, f"trainingRuns/{run.id}")
        except Exception:
            log.exception("the trained model does not load", extra={"training_run": str(run.id)})
            raise FailedPrecondition(
                "the trained model does not load in ONNX Runtime, so it was not registered; the "
                "training worker's log says why"
            ) from None

    def train_now(
        self, dataset_uri: str, activate: bool = True, worker: str = "cli", model_kind: str = kinds.DEFAULT
    ) -> tuple[TrainingRun, ModelVersion]:
        """Queues, claims and executes one run in this process (`cloudwaste train`, a Kubernetes Job)."""
        queued = self.queue(dataset_uri, activate, model_kind=model_kind)
        run = self.store.claim_training_run(worker, queued.id, self.lease)
        if run is None:  # another worker took it first
            raise FailedPrecondition(f"trainingRuns/{queued.id} was claimed by another training worker")
        with self._lease(run, worker):
            return self.execute(run)

    def run_pending(self, worker: str) -> bool:
        """Executes the oldest pending run, if any; returns whether there was one."""
        self.store.fail_stale_training_runs(STALE_AFTER)
        run = self.store.claim_training_run(worker, lease=self.lease)
        if run is None:
            return False
        try:
            with self._lease(run, worker):
                self.execute(run)
        except CloudWasteError:
            pass  # recorded on the run
        return True

    def _lease(self, run: TrainingRun, worker: str) -> Lease:
        """Renews the run's lease while it trains: a worker that dies (kill -9, an evicted pod)
        stops renewing, and the next worker's look for stale runs fails it a lease later."""
        renew = lambda: self.store.renew_training_lease(run.id, worker, self.lease)  # noqa: E731
        return Lease(renew, self.lease.total_seconds() / 3, f"trainingRuns/{run.id}")
