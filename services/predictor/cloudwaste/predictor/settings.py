"""The predictor's settings, built once from CLOUDWASTE_* variables at start and passed down."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from cloudwaste.core.settings import ServerSettings, env_float, env_str


@dataclass(frozen=True)
class PredictorSettings(ServerSettings):
    model_poll_seconds: float = 30.0
    dataset_root: str = "/exports"  # TrainModels reads datasets only from under this folder

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> PredictorSettings:
        env = os.environ if env is None else env
        return cls(
            **cls.common(env),
            model_poll_seconds=env_float(env, "MODEL_POLL_SECONDS", 30.0),
            dataset_root=env_str(env, "DATASET_ROOT", env_str(env, "EXPORT_ROOT", "/exports")),
        )
