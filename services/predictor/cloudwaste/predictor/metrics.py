"""The predictor's Prometheus metrics (names: cloudwaste_predictor_<what>_<unit>; bounded labels)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram, Info

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
SHADOW_VERSION = Gauge(
    "cloudwaste_predictor_shadow_model_version",
    "Version number of the model scored as this kind's shadow (0: none).",
    ["model_kind"],
)
SHADOW_PREDICTIONS = Counter(
    "cloudwaste_predictor_shadow_predictions_total",
    "Live rows scored by the shadow version beside the active one, and recorded.",
    ["model_kind"],
)
SHADOW_DROPPED = Counter(
    "cloudwaste_predictor_shadow_dropped_total",
    "Live rows the shadow version did not score: it had fallen behind, or failed.",
    ["model_kind"],
)
MODEL_INFO = Info(
    "cloudwaste_predictor_model",
    "The model serving each kind: its version number and algorithm (the built-in ones: version 0).",
    ["model_kind"],
)
MODEL_TRAINED = Gauge(
    "cloudwaste_predictor_model_trained_timestamp_seconds",
    "When the model serving this kind was trained (Unix time); trained kinds only.",
    ["model_kind"],
)
TRAINING_RUNS = Gauge(
    "cloudwaste_predictor_recorded_training_runs",
    "Training runs on record, by kind and state (read from the registry at each model poll: "
    "training runs in a process of its own or a Job, whose counters nobody scrapes).",
    ["model_kind", "state"],
)
