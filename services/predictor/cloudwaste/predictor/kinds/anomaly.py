"""The anomaly kind: per-point anomaly scores of a metric series, 0-100, and one overall score.

It is not trained. The detector (`cloudwaste.predictor.anomaly`) learns each series from the
series' own past as it reads it, with one configuration for every series, as the Numenta Anomaly
Benchmark requires; `cloudwaste anomaly evaluate` measures that configuration on labeled series.
The served model is that built-in detector, version 0, and its configuration is versioned with the
code. It has no ONNX graph: a causal detector is a recurrence over the series, which numpy runs at
well over 100,000 points per second, and ONNX would add a loop operator without adding anything.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
from cloudwaste.core.errors import InvalidArgument
from cloudwaste.predictor import anomaly

NAME = "models/anomaly/versions/0"


@dataclasses.dataclass(frozen=True)
class AnomalyDetectorModel:
    name: str
    config: anomaly.DetectorConfig

    def score(self, values: Sequence[float] | np.ndarray) -> tuple[np.ndarray, float]:
        """(scores 0-100 per point, overall 0-100)."""
        scores = anomaly.score_series(np.asarray(values, dtype=np.float64), self.config)
        return scores * 100.0, float(anomaly.overall_score(scores)) * 100.0

    def stream(self) -> anomaly.StreamingDetector:
        """A fresh detector for one series; `update(value)` returns a 0-1 score."""
        return anomaly.StreamingDetector(self.config)


class AnomalyKind:
    name = "anomaly"
    trainable = False
    feature_spec = {
        "version": 1,
        "input": "one metric series: values in time order, evenly spaced, NaN for a missing point",
        "detector": dataclasses.asdict(anomaly.DEFAULT),
    }
    no_model = "the anomaly detector is built in and always ready"

    def builtin(self) -> AnomalyDetectorModel:
        return AnomalyDetectorModel(NAME, anomaly.DEFAULT)

    def train(self, sources) -> None:
        raise InvalidArgument("model_kind", "'anomaly' is not trained: it serves its built-in detector")

    def load(self, onnx: bytes, name: str) -> None:
        raise ValueError("the anomaly kind has no stored versions")


KIND = AnomalyKind()
