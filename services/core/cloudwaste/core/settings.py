"""Typed settings shared by every service, and the helpers each service's settings.py uses.

Each service has its own settings object (cloudwaste.<service>.settings), built once from the
environment at start and passed down.

Every variable is prefixed CLOUDWASTE_. A bad value fails at start with the variable's name.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass, field


class SettingsError(ValueError):
    pass


def env_str(env: Mapping[str, str], name: str, default: str | None = None) -> str:
    value = env.get(f"CLOUDWASTE_{name}")
    if value is None or value == "":
        if default is None:
            raise SettingsError(f"CLOUDWASTE_{name} is required")
        return default
    return value


def env_int(env: Mapping[str, str], name: str, default: int, lo: int = 0, hi: int = 1 << 31) -> int:
    raw = env_str(env, name, str(default))
    try:
        value = int(raw)
    except ValueError:
        raise SettingsError(f"CLOUDWASTE_{name}={raw!r} is not an integer") from None
    if not lo <= value <= hi:
        raise SettingsError(f"CLOUDWASTE_{name}={value} must be between {lo} and {hi}")
    return value


def env_float(
    env: Mapping[str, str], name: str, default: float, lo: float = 0.0, hi: float = 86_400.0
) -> float:
    """A finite number between `lo` and `hi` (a poll of 0 would spin, inf would never wake)."""
    raw = env_str(env, name, str(default))
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"CLOUDWASTE_{name}={raw!r} is not a number") from None
    if not lo <= value <= hi:  # also rejects nan and inf
        raise SettingsError(f"CLOUDWASTE_{name}={raw} must be between {lo:g} and {hi:g}")
    return value


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
    readiness_seconds: float = 5.0  # between two checks of the database (grpc.health.v1 readiness)
    # A client connection is closed (GOAWAY) after this long, its calls given the grace to end, so
    # that clients reconnect and spread over new replicas (Kubernetes Services balance connections,
    # not calls). 0: never.
    max_connection_age_seconds: float = 300.0
    max_connection_age_grace_seconds: float = 30.0

    @classmethod
    def common(cls, env: Mapping[str, str]) -> dict:
        return dict(
            database_url=env_str(env, "DATABASE_URL"),
            grpc_host=env_str(env, "GRPC_HOST", "0.0.0.0"),
            grpc_port=env_int(env, "GRPC_PORT", 50051, 0, 65535),
            metrics_port=env_int(env, "METRICS_PORT", 9090, -1, 65535),
            log_level=env_str(env, "LOG_LEVEL", "INFO").upper(),
            shutdown_grace_seconds=env_float(env, "SHUTDOWN_GRACE_SECONDS", 10.0),
            max_workers=env_int(env, "MAX_WORKERS", 16, 1, 1024),
            readiness_seconds=env_float(env, "READINESS_SECONDS", 5.0, 0.1, 300.0),
            max_connection_age_seconds=env_float(env, "MAX_CONNECTION_AGE_SECONDS", 300.0, 0.0, 86_400.0),
            max_connection_age_grace_seconds=env_float(
                env, "MAX_CONNECTION_AGE_GRACE_SECONDS", 30.0, 0.0, 3600.0
            ),
        )


@dataclass(frozen=True)
class HashKey:
    """The secret used only to pseudonymize identifiers in ML tables, and its id for rotation."""

    key: bytes = field(repr=False)
    key_id: str

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> HashKey:
        key = env_str(env, "HASH_KEY")
        if len(key) < 32:
            raise SettingsError("CLOUDWASTE_HASH_KEY must be at least 32 characters")
        return cls(key=key.encode(), key_id=env_str(env, "HASH_KEY_ID", "k1"))


def replace(settings, **changes):
    """A copy of a settings object with some fields changed (tests bind port 0 this way)."""
    return dataclasses.replace(settings, **changes)
