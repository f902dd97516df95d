"""Readiness that follows the service's dependencies, on grpc.health.v1.

Health service names a service answers:

- `""` (the server): SERVING while PostgreSQL answers, NOT_SERVING while it does not. Kubernetes'
  readiness probe asks this one, so a replica that lost its database stops getting traffic.
- `"liveness"`: SERVING from start to shutdown. The liveness probe asks this one: a database outage
  must not make the kubelet restart every replica.
- the service's own names (e.g. `cloudwaste.scanner.v1.ScannerService`): as `""`.
- extra names a service adds, each with its own check (the predictor: `models/waste`,
  `models/anomaly`, `models/forecast`, SERVING while a model of that kind is loaded).

A `ReadinessWatcher` thread checks every `interval` seconds. A change is logged once, as one line
(never a traceback per probe), and the database's state is the gauge `cloudwaste_database_up`.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Iterable, Mapping

from grpc_health.v1 import health, health_pb2
from prometheus_client import Gauge

log = logging.getLogger(__name__)

LIVENESS = "liveness"
DATABASE_UP = Gauge(
    "cloudwaste_database_up", "1 while this service's last check of PostgreSQL succeeded, 0 while it fails."
)
_SERVING, _NOT_SERVING = health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING


def describe(exc: BaseException) -> str:
    """One line saying why the database did not answer, without the URL's password or a traceback."""
    text = str(getattr(exc, "orig", None) or exc).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:300]


class ReadinessWatcher:
    def __init__(
        self,
        servicer: health.HealthServicer,
        names: Iterable[str],
        database_check: Callable[[], None] | None,
        extra: Mapping[str, Callable[[], bool]] | None = None,
        interval: float = 5.0,
    ) -> None:
        self._health, self._names = servicer, ["", *names]
        self._database_check, self._extra = database_check, dict(extra or {})
        self.interval = interval
        self._state: dict[str, bool] = {}
        self._database_ok: bool | None = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def check(self) -> None:
        """One round: the database, then each extra name; sets what changed."""
        database_ok = True
        if self._database_check is not None:
            try:
                self._database_check()
            except Exception as exc:
                database_ok = False
                if self._database_ok is not False:
                    log.warning(
                        "database unreachable: not ready until it answers", extra={"error": describe(exc)}
                    )
            else:
                if self._database_ok is False:
                    log.info("database reachable again: ready")
        self._database_ok = database_ok
        DATABASE_UP.set(1 if database_ok else 0)
        for name in self._names:
            self._set(name, database_ok)
        for name, ready in self._extra.items():
            try:
                ok = bool(ready())
            except Exception:
                ok = False
            if self._state.get(name) is not None and self._state[name] != ok:
                log.info("readiness changed", extra={"health_service": name, "serving": ok})
            self._set(name, ok)

    def _set(self, name: str, ok: bool) -> None:
        if self._state.get(name) != ok:
            self._state[name] = ok
            self._health.set(name, _SERVING if ok else _NOT_SERVING)

    def start(self) -> None:
        self._health.set(LIVENESS, _SERVING)
        self.check()
        self._thread = threading.Thread(target=self._run, name="readiness", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                self.check()
            except Exception:  # never let the watcher die: readiness would freeze
                log.exception("readiness check failed")

    def stop(self) -> None:
        self._stop.set()
