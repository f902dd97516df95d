"""What every model kind gives the predictor: a trained model to register, a served model to call."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol


@dataclass(frozen=True)
class TrainedModel:
    """A trained, evaluated and exported model, ready for the registry (model_versions)."""

    onnx: bytes
    metrics: dict[str, float]  # held out
    baseline_metrics: dict[str, float]  # the baseline it must beat, on the same held-out rows
    training_rows: int
    test_rows: int
    feature_spec: dict
    # every candidate compared on the same split: name, chosen, its held-out metrics, ...
    candidates: list[dict] = field(default_factory=list)
    algorithm: str = ""  # the chosen candidate


class ServedModel(Protocol):
    name: str  # "models/{kind}/versions/{n}"


class ModelKind(Protocol):
    """One kind of model: its feature spec, its trainer (with the held-out evaluation and the ONNX
    export) and its serving adapter. The trainer, the registry and serving know kinds only by this."""

    name: str  # "waste": the kind in model_versions, metrics and "models/{kind}/versions/{n}"
    feature_spec: dict
    no_model: str  # what to do when no version of this kind is active (FAILED_PRECONDITION)
    trainable: bool  # False: the kind serves only its built-in model (TrainModels refuses it)

    def builtin(self) -> ServedModel | None:
        """What serves before any version is trained (version 0), or None: not ready until trained."""
        ...

    def train(self, sources: Sequence) -> TrainedModel:
        """Trains from an exported dataset (Parquet sources, oldest export first)."""
        ...

    def load(self, onnx: bytes, name: str) -> ServedModel:
        """Loads a stored version for serving; raises if it is not a model of this kind."""
        ...
