"""The shadow recorder never holds a caller up and records what the shadow said beside what was
answered; the evaluation's agreement and per-version metrics."""

from __future__ import annotations

import threading
import uuid

import numpy as np
import pytest
from cloudwaste.predictor.kinds.waste import held_out_metrics
from cloudwaste.predictor.shadow import ShadowRecorder, evaluate


class _Model:
    name = "models/waste/versions/2"

    def __init__(self, gate: threading.Event | None = None) -> None:
        self.gate = gate

    def predict(self, rows):
        if self.gate is not None:
            self.gate.wait(5)
        return [r["x"] for r in rows]


def test_the_shadow_scores_what_was_answered_and_records_both():
    saved = []
    recorder = ShadowRecorder(lambda *args: saved.append(args))
    recorder.start()
    finding = uuid.uuid4()
    recorder.submit(
        "waste", "models/waste/versions/1", _Model(), [{"x": 0.2}, {"x": 0.9}], [0.3, 0.4], [finding, None]
    )
    recorder.drain()
    recorder.stop()
    assert saved == [
        (
            "waste",
            "models/waste/versions/1",
            "models/waste/versions/2",
            [(0.3, 0.2, finding), (0.4, 0.9, None)],
        )
    ]


def test_a_shadow_that_falls_behind_drops_rows_and_never_blocks_the_caller():
    from prometheus_client import REGISTRY

    def dropped() -> float:
        return (
            REGISTRY.get_sample_value("cloudwaste_predictor_shadow_dropped_total", {"model_kind": "waste"})
            or 0.0
        )

    before = dropped()
    gate = threading.Event()
    recorder = ShadowRecorder(lambda *args: None, max_pending=2)
    recorder.start()
    slow = _Model(gate)
    for _ in range(5):  # one in the shadow's hands, two waiting, two dropped at once
        recorder.submit("waste", "a", slow, [{"x": 0.5}], [0.5], [None])
    assert dropped() - before >= 2
    gate.set()
    recorder.drain()
    recorder.stop()


def test_evaluate_agreement_and_each_versions_metrics():
    pairs = np.array([[0.9, 0.8], [0.2, 0.6], [0.4, 0.3], [0.7, 0.1]])
    labeled = [(0.9, 0.8, 1), (0.2, 0.6, 0), (0.4, 0.3, 0), (0.7, 0.1, 1)]
    got = evaluate(pairs, labeled, held_out_metrics)
    assert got.predictions == 4 and got.labeled == 4
    assert got.agreement == pytest.approx(0.5)  # rows 0 and 2 on the same side of 0.5
    assert got.mean_abs_difference == pytest.approx((0.1 + 0.4 + 0.1 + 0.6) / 4)
    assert got.active_metrics["roc_auc"] == 1.0 and got.shadow_metrics["roc_auc"] == 0.5
    assert got.active_metrics["brier"] < got.shadow_metrics["brier"]


def test_evaluate_without_both_outcomes_has_no_metrics():
    got = evaluate(np.empty((0, 2)), [(0.9, 0.8, 1)], held_out_metrics)
    assert got.predictions == 0 and got.labeled == 1 and got.active_metrics == {} and got.agreement == 0.0
