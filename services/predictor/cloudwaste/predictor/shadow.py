"""Shadow evaluation: a candidate version scored on live requests beside the active one.

The active version answers; the request's rows are then handed to a `ShadowRecorder`, whose thread
scores them with the shadow version and stores both probabilities (and the finding each row is
about, when the caller named it) in `shadow_predictions`. The caller never waits for the shadow:
when the recorder falls behind, rows are dropped and counted, never queued without bound.

`evaluate` compares the two versions on what was recorded: how often they agree (the same side of
0.5) and by how much they differ, and, on the findings users have decided since (one example per
finding, its latest prediction; deleted is 1, kept or ignored 0), each version's metrics, the same
metrics a training reports. A promotion is then decided on live traffic (SetModelVersionRole).
"""

from __future__ import annotations

import logging
import queue
import threading
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

import numpy as np
from cloudwaste.predictor.metrics import SHADOW_DROPPED, SHADOW_PREDICTIONS

log = logging.getLogger(__name__)

# save(kind, active name, shadow name, [(active p, shadow p, finding id or None)])
Save = Callable[[str, str, str, list[tuple[float, float, uuid.UUID | None]]], None]


@dataclass
class _Work:
    kind: str
    active: str
    shadow: object  # the shadow's served model (predict(rows) -> probabilities, name)
    rows: list[dict]
    probabilities: list[float]
    findings: list[uuid.UUID | None]


class ShadowRecorder:
    def __init__(self, save: Save, max_pending: int = 256) -> None:
        self._save = save
        self._queue: queue.Queue[_Work | None] = queue.Queue(maxsize=max_pending)
        self._thread: threading.Thread | None = None

    def submit(
        self,
        kind: str,
        active: str,
        shadow,
        rows: Sequence[dict],
        probabilities: Sequence[float],
        findings: Sequence[uuid.UUID | None],
    ) -> None:
        """Hands one answered request to the shadow; never blocks the caller."""
        try:
            self._queue.put_nowait(
                _Work(kind, active, shadow, list(rows), list(probabilities), list(findings))
            )
        except queue.Full:
            SHADOW_DROPPED.labels(kind).inc(len(rows))

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name="shadow-recorder", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 5.0) -> None:
        if self._thread is None:
            return
        self._queue.put(None)
        self._thread.join(timeout)

    def drain(self, timeout: float = 10.0) -> None:
        """Waits until every submitted request is recorded (tests, shutdown)."""
        done = threading.Event()
        threading.Thread(target=lambda: (self._queue.join(), done.set()), daemon=True).start()
        done.wait(timeout)

    def _run(self) -> None:
        while True:
            work = self._queue.get()
            try:
                if work is None:
                    return
                shadow_p = work.shadow.predict(work.rows)
                rows = list(zip(work.probabilities, shadow_p, work.findings, strict=True))
                self._save(work.kind, work.active, work.shadow.name, rows)
                SHADOW_PREDICTIONS.labels(work.kind).inc(len(rows))
            except Exception:
                log.exception("shadow scoring failed", extra={"kind": work.kind if work else ""})
                if work is not None:
                    SHADOW_DROPPED.labels(work.kind).inc(len(work.rows))
            finally:
                self._queue.task_done()


@dataclass
class Evaluation:
    predictions: int = 0
    agreement: float = 0.0  # share of predictions on the same side of 0.5
    mean_abs_difference: float = 0.0
    labeled: int = 0
    active_metrics: dict[str, float] = field(default_factory=dict)
    shadow_metrics: dict[str, float] = field(default_factory=dict)


def evaluate(
    pairs: np.ndarray,
    labeled: Sequence[tuple[float, float, int]],
    metrics: Callable[[np.ndarray, np.ndarray], dict],
) -> Evaluation:
    """`pairs`: (active p, shadow p) of every recorded prediction; `labeled`: (active p, shadow p,
    label) of each decided finding's latest prediction; `metrics(y, p)`: the training's metrics."""
    out = Evaluation(predictions=len(pairs), labeled=len(labeled))
    if len(pairs):
        a, s = pairs[:, 0], pairs[:, 1]
        out.agreement = float(np.mean((a >= 0.5) == (s >= 0.5)))
        out.mean_abs_difference = float(np.mean(np.abs(a - s)))
    if labeled:
        arr = np.asarray(labeled, dtype=np.float64)
        y = arr[:, 2].astype(int)
        if 0 < y.sum() < len(y):  # ROC-AUC needs both outcomes
            out.active_metrics = metrics(y, arr[:, 0])
            out.shadow_metrics = metrics(y, arr[:, 1])
    return out
