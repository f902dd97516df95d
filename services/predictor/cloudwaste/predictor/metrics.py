"""The predictor's Prometheus metrics (names: cloudwaste_predictor_<what>_<unit>; bounded labels)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

PREDICTIONS = Counter("cloudwaste_predictor_predictions_total", "Rows scored.", ["model_kind"])
INFERENCE = Histogram(
    "cloudwaste_predictor_inference_seconds",
    "Model time per call (ONNX Runtime; the anomaly detector and the cost forecaster for theirs).",
    ["model_kind"],
    buckets=(0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.05),
)
TRAININGS = Counter(
    "cloudwaste_predictor_training_runs_total",
    "Training runs, by kind and final state.",
    ["model_kind", "state"],
)
MODEL_READY = Gauge(
    "cloudwaste_predictor_model_ready", "1 when a model of this kind is loaded and serving.", ["model_kind"]
)
ACTIVE_VERSION = Gauge(
    "cloudwaste_predictor_active_model_version",
    "Version number of the model serving this kind (0: none yet).",
    ["model_kind"],
)
