"""The forecast kind: an account's monthly spend 1 to 6 months ahead, with an 80% interval.

Like the anomaly kind it is not trained: each account's series is fitted when it is asked for
(`cloudwaste.predictor.forecast`, a few milliseconds), with one configuration versioned with the
code, version 0. The rolling-origin backtest against seasonal naive and simple exponential
smoothing is `bench/forecast_bench.py`. There is no ONNX graph for the same reason as the anomaly
detector: the model is a recurrence fitted per series, not a function of features.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np
from cloudwaste.core.errors import InvalidArgument
from cloudwaste.predictor import forecast

NAME = "models/forecast/versions/0"


@dataclasses.dataclass(frozen=True)
class CostForecastModel:
    name: str
    config: forecast.ForecastConfig

    def forecast(self, monthly: Sequence[float] | np.ndarray, horizon: int) -> forecast.Forecast:
        return forecast.forecast(monthly, horizon, self.config)


class ForecastKind:
    name = "forecast"
    trainable = False
    feature_spec = {
        "version": 1,
        "input": "an account's spend per month in $, oldest first, NaN for an unknown month",
        "forecaster": forecast.config_dict(),
    }
    no_model = "the cost forecaster is built in and always ready"

    def builtin(self) -> CostForecastModel:
        return CostForecastModel(NAME, forecast.DEFAULT)

    def train(self, sources) -> None:
        raise InvalidArgument(
            "model_kind", "'forecast' is not trained: it fits each account's series when asked"
        )

    def load(self, onnx: bytes, name: str) -> None:
        raise ValueError("the forecast kind has no stored versions")


KIND = ForecastKind()
