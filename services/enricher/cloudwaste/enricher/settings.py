"""The enricher's settings, built once from CLOUDWASTE_* variables at start and passed down."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from cloudwaste.core.settings import ServerSettings


@dataclass(frozen=True)
class EnricherSettings(ServerSettings):
    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> EnricherSettings:
        env = os.environ if env is None else env
        return cls(**cls.common(env))
