"""The exporter's settings, built once from CLOUDWASTE_* variables at start and passed down."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass

from cloudwaste.core.settings import ServerSettings, env_int, env_str


@dataclass(frozen=True)
class ExporterSettings(ServerSettings):
    export_root: str = "/exports"  # file:// destinations must lie under this folder
    batch_rows: int = 10_000

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ExporterSettings:
        env = os.environ if env is None else env
        return cls(
            **cls.common(env),
            export_root=env_str(env, "EXPORT_ROOT", "/exports"),
            batch_rows=env_int(env, "EXPORT_BATCH_ROWS", 10_000, 1, 1_000_000),
        )
