"""The model kinds the predictor trains and serves: one module each, registered here.

Adding a kind is one module (feature spec, trainer with its evaluation and ONNX export, serving
adapter; see base.ModelKind) plus its tests, and one line below. The trainer, the model registry
(model_versions) and the serving holders know kinds only through this table.
"""

from __future__ import annotations

from cloudwaste.core.errors import InvalidArgument
from cloudwaste.predictor.kinds import anomaly, forecast, waste
from cloudwaste.predictor.kinds.base import ModelKind, ServedModel, TrainedModel

KINDS: dict[str, ModelKind] = {k.name: k for k in (waste.KIND, anomaly.KIND, forecast.KIND)}
DEFAULT = waste.KIND.name

__all__ = ["DEFAULT", "KINDS", "ModelKind", "ServedModel", "TrainedModel", "get"]


def get(name: str, field: str = "model_kind") -> ModelKind:
    kind = KINDS.get(name)
    if kind is None:
        raise InvalidArgument(field, f"{name!r} is not a model kind; one of: {', '.join(sorted(KINDS))}")
    return kind
