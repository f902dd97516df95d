"""Serving the waste model with ONNX Runtime, and swapping in a newly activated version live.

`ModelHolder` loads the active version at start and polls the registry; a new version is loaded
beside the old one and swapped in with one reference assignment, so no request is dropped. If the
new version fails to load, the old one keeps serving.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
import onnxruntime as ort
from cloudwaste.core.errors import FailedPrecondition
from cloudwaste.core.features import WASTE_FEATURES

log = logging.getLogger(__name__)

NO_MODEL = (
    "no active waste model yet: export a dataset (ExporterService/ExportDataset) and train one with "
    'PredictorService/TrainModels {"dataset_uri": "file:///.../ml_training_data-....parquet"}'
)


@dataclass(frozen=True)
class WasteModel:
    session: ort.InferenceSession
    name: str  # "models/waste/versions/N"

    @classmethod
    def from_bytes(cls, onnx: bytes, name: str) -> WasteModel:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        session = ort.InferenceSession(onnx, opts, providers=["CPUExecutionProvider"])
        expected = set(WASTE_FEATURES.names)
        got = {i.name for i in session.get_inputs()}
        if got != expected:
            raise ValueError(f"model inputs {sorted(got)} do not match the feature spec {sorted(expected)}")
        return cls(session, name)

    def predict(self, rows: Sequence[dict]) -> list[float]:
        n = len(rows)
        feed = {}
        for c in WASTE_FEATURES.categorical:
            feed[c] = np.array([r[c] for r in rows], dtype=object).reshape(n, 1)
        for c in WASTE_FEATURES.numeric:
            feed[c] = np.array([r[c] for r in rows], dtype=np.float32).reshape(n, 1)
        _, probabilities = self.session.run(None, feed)
        return probabilities[:, 1].astype(float).tolist()


# fetch_active() -> (name, onnx bytes) of the active version, or None; fetch_name() -> its name only
FetchActive = Callable[[], tuple[str, bytes] | None]
FetchName = Callable[[], str | None]


class ModelHolder:
    def __init__(self, fetch_active: FetchActive, fetch_name: FetchName, poll_seconds: float = 30.0) -> None:
        self._fetch_active, self._fetch_name = fetch_active, fetch_name
        self.poll_seconds = poll_seconds
        self._model: WasteModel | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def model(self) -> WasteModel:
        model = self._model
        if model is None:
            raise FailedPrecondition(NO_MODEL)
        return model

    @property
    def ready(self) -> bool:
        return self._model is not None

    def refresh(self) -> bool:
        """Loads the active version if it changed. Returns whether a new model was swapped in."""
        with self._lock:
            name = self._fetch_name()
            current = self._model.name if self._model else None
            if name is None or name == current:
                return False
            fetched = self._fetch_active()
            if fetched is None:
                return False
            name, onnx = fetched
            try:
                model = WasteModel.from_bytes(onnx, name)
            except Exception:
                log.exception(
                    "new model failed to load; keeping the current one",
                    extra={"model": name, "current": current},
                )
                return False
            self._model = model
            log.info("model activated", extra={"model": name, "previous": current})
            return True

    def start(self) -> None:
        try:
            self.refresh()
        except Exception:
            log.exception("could not load the active model at start; will retry")
        self._thread = threading.Thread(target=self._poll, name="model-poller", daemon=True)
        self._thread.start()

    def _poll(self) -> None:
        while not self._stop.wait(self.poll_seconds):
            try:
                self.refresh()
            except Exception:
                log.exception("model poll failed")

    def stop(self) -> None:
        self._stop.set()
