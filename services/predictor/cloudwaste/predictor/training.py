"""Training runs: the predictor's logic around training one model (no gRPC here).

Checks the dataset (file:// or s3://, read through `cloudwaste.core.storage` under the configured
dataset root), records the run, trains (train.py), registers the ONNX model, and swaps it into
serving when it is activated. A failure ends the run FAILED with a message safe to show.
"""

from __future__ import annotations

import logging

from cloudwaste.core.errors import CloudWasteError, InvalidArgument
from cloudwaste.core.models import ModelVersion, TrainingRun
from cloudwaste.core.storage import Storage
from cloudwaste.predictor.errors import TrainingFailed
from cloudwaste.predictor.metrics import TRAININGS
from cloudwaste.predictor.serving import ModelHolder
from cloudwaste.predictor.settings import PredictorSettings
from cloudwaste.predictor.store import PredictorStore

log = logging.getLogger(__name__)


class Trainer:
    def __init__(
        self,
        store: PredictorStore,
        holder: ModelHolder,
        settings: PredictorSettings,
        storage: Storage | None = None,
    ) -> None:
        self.store, self.holder, self.settings = store, holder, settings
        self.storage = storage or settings.storage()  # file:// or s3://, confined to the dataset root

    def dataset(self, uri: str) -> str:
        """The normalized URI of an existing dataset file under the dataset root."""
        example = (
            "file:///exports/ml_training_data-....parquet or s3://bucket/exports/ml_training_data-....parquet"
        )
        resolved = self.storage.resolve("dataset_uri", uri, example)
        if self.storage.info(resolved) is None:
            raise InvalidArgument("dataset_uri", f"{uri} does not exist")
        return resolved

    def train(self, dataset_uri: str, activate: bool = True) -> tuple[TrainingRun, ModelVersion]:
        """Trains the waste model on the export at `dataset_uri`; the new version serves at once
        when activated."""
        resolved = self.dataset(dataset_uri)
        from cloudwaste.predictor.train import train_waste_model  # the training stack loads lazily

        run = self.store.create_training_run(dataset_uri)
        try:
            with self.storage.open_input(resolved) as source:
                trained = train_waste_model(source)
            run, mv = self.store.register(run.id, "waste", trained, activate=activate)
        except Exception as exc:
            message = (
                str(exc)
                if isinstance(exc, CloudWasteError)
                else "training failed unexpectedly; see the predictor log"
            )
            log.exception("training failed", extra={"training_run": str(run.id)})
            self.store.fail_training_run(run.id, message)
            TRAININGS.labels("FAILED").inc()
            if isinstance(exc, CloudWasteError):
                raise
            raise TrainingFailed(message) from exc
        TRAININGS.labels("SUCCEEDED").inc()
        if mv.active:
            self.holder.refresh()
        return run, mv
