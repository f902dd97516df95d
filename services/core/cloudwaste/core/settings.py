"""Typed settings, built once from the environment at start and passed down.

Every variable is prefixed CLOUDWASTE_. A bad value fails at start with the variable's name.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass, field


class SettingsError(ValueError):
    pass


def _get(env: Mapping[str, str], name: str, default: str | None = None) -> str:
    value = env.get(f"CLOUDWASTE_{name}")
    if value is None or value == "":
        if default is None:
            raise SettingsError(f"CLOUDWASTE_{name} is required")
        return default
    return value


def _int(env: Mapping[str, str], name: str, default: int, lo: int = 0, hi: int = 1 << 31) -> int:
    raw = _get(env, name, str(default))
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"CLOUDWASTE_{name}={raw!r} is not an integer") from None
    if not lo <= value <= hi:
        raise SettingsError(f"CLOUDWASTE_{name}={value} must be between {lo} and {hi}")
    return value


def _float(env: Mapping[str, str], name: str, default: float) -> float:
    raw = _get(env, name, str(default))
    try:
        return float(raw)
    except ValueError:
        raise SettingsError(f"CLOUDWASTE_{name}={raw!r} is not a number") from None


@dataclass(frozen=True)
class ServerSettings:
    """What every service needs: where to listen, the database, logging."""

    database_url: str = field(repr=False)  # may hold a password
    grpc_host: str = "127.0.0.1"
    grpc_port: int = 50051
    metrics_port: int = 9090  # 0 picks a free port, -1 disables the endpoint
    log_level: str = "INFO"
    shutdown_grace_seconds: float = 10.0
    max_workers: int = 16

    @classmethod
    def common(cls, env: Mapping[str, str]) -> dict:
        return dict(
            database_url=_get(env, "DATABASE_URL"),
            grpc_host=_get(env, "GRPC_HOST", "0.0.0.0"),
            grpc_port=_int(env, "GRPC_PORT", 50051, 0, 65535),
            metrics_port=_int(env, "METRICS_PORT", 9090, -1, 65535),
            log_level=_get(env, "LOG_LEVEL", "INFO").upper(),
            shutdown_grace_seconds=_float(env, "SHUTDOWN_GRACE_SECONDS", 10.0),
            max_workers=_int(env, "MAX_WORKERS", 16, 1, 1024),
        )


@dataclass(frozen=True)
class HashKey:
    """The secret used only to pseudonymize identifiers in ML tables, and its id for rotation."""

    key: bytes = field(repr=False)
    key_id: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> HashKey:
        key = _get(env, "HASH_KEY")
        if len(key) < 32:
            raise SettingsError("CLOUDWASTE_HASH_KEY must be at least 32 characters")
        return cls(key=key.encode(), key_id=_get(env, "HASH_KEY_ID", "k1"))


@dataclass(frozen=True)
class ScannerSettings(ServerSettings):
    hash_key: HashKey = field(default_factory=lambda: HashKey(b"x" * 32, "test"), repr=False)
    enricher_address: str = ""  # empty: do not notify an enricher
    aws_endpoint_url: str = ""  # set for moto / local endpoints; empty means real AWS
    scan_workers: int = 2  # scan runs executed at once by this replica
    region_concurrency: int = 4  # regions scanned at once within a run
    poll_seconds: float = 2.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ScannerSettings:
        env = os.environ if env is None else env
        return cls(
            **cls.common(env),
            hash_key=HashKey.from_env(env),
            enricher_address=_get(env, "ENRICHER_ADDRESS", ""),
            aws_endpoint_url=_get(env, "AWS_ENDPOINT_URL", ""),
            scan_workers=_int(env, "SCAN_WORKERS", 2, 1, 64),
            region_concurrency=_int(env, "REGION_CONCURRENCY", 4, 1, 64),
            poll_seconds=_float(env, "POLL_SECONDS", 2.0),
        )


@dataclass(frozen=True)
class EnricherSettings(ServerSettings):
    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> EnricherSettings:
        env = os.environ if env is None else env
        return cls(**cls.common(env))


@dataclass(frozen=True)
class ExporterSettings(ServerSettings):
    export_root: str = "/exports"  # file:// destinations must lie under this folder
    batch_rows: int = 10_000

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> ExporterSettings:
        env = os.environ if env is None else env
        return cls(
            **cls.common(env),
            export_root=_get(env, "EXPORT_ROOT", "/exports"),
            batch_rows=_int(env, "EXPORT_BATCH_ROWS", 10_000, 1, 1_000_000),
        )


@dataclass(frozen=True)
class PredictorSettings(ServerSettings):
    model_poll_seconds: float = 30.0
    dataset_root: str = "/exports"  # TrainModels reads datasets only from under this folder

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None) -> PredictorSettings:
        env = os.environ if env is None else env
        return cls(
            **cls.common(env),
            model_poll_seconds=_float(env, "MODEL_POLL_SECONDS", 30.0),
            dataset_root=_get(env, "DATASET_ROOT", _get(env, "EXPORT_ROOT", "/exports")),
        )


def replace(settings, **changes):
    """A copy of a settings object with some fields changed (tests bind port 0 this way)."""
    return dataclasses.replace(settings, **changes)
