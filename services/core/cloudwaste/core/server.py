"""gRPC server bootstrap shared by the four services.

`create_server(settings, app)` returns `(server, port)` with health, reflection, the Prometheus
endpoint and the one interceptor that maps domain errors to status codes and records the standard
`grpc_server_*` metrics. `serve(settings, app)` runs it until SIGTERM/SIGINT: health goes
NOT_SERVING first, then in-flight calls get `shutdown_grace_seconds` to finish.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
import time
from collections.abc import Callable, Mapping
from concurrent import futures
from dataclasses import dataclass, field

import grpc
from cloudwaste.core import auth, deadlines
from cloudwaste.core.db import Database
from cloudwaste.core.errors import CloudWasteError, InvalidArgument
from cloudwaste.core.readiness import ReadinessWatcher
from cloudwaste.core.settings import ServerSettings, SettingsError, unknown_variables
from cloudwaste.core.textcheck import check as check_text
from google.protobuf import any_pb2
from google.rpc import code_pb2, error_details_pb2, status_pb2
from grpc_health.v1 import health, health_pb2_grpc
from grpc_reflection.v1alpha import reflection
from grpc_status import rpc_status
from prometheus_client import Counter, Histogram, start_http_server

log = logging.getLogger(__name__)

STARTED = Counter("grpc_server_started_total", "RPCs started.", ["grpc_type", "grpc_service", "grpc_method"])
HANDLED = Counter(
    "grpc_server_handled_total", "RPCs completed.", ["grpc_type", "grpc_service", "grpc_method", "grpc_code"]
)
LATENCY = Histogram(
    "grpc_server_handling_seconds",
    "Time to handle an RPC.",
    ["grpc_type", "grpc_service", "grpc_method"],
    buckets=(
        0.0005,
        0.001,
        0.002,
        0.0025,
        0.005,
        0.01,
        0.025,
        0.05,
        0.1,
        0.25,
        0.5,
        1,
        2.5,
        5,
        10,
        30,
        60,
        300,
    ),
)


class StartupError(RuntimeError):
    """A service cannot start, for a reason its operator can fix (said in one line, no traceback)."""


@dataclass
class App:
    """What a service contributes to the shared server: its servicers and its background work."""

    name: str  # short name for logs, e.g. "scanner"
    service_names: list[str]  # full gRPC service names, for health and reflection
    register: Callable[[grpc.Server], None]
    on_start: list[Callable[[], None]] = field(default_factory=list)
    on_stop: list[Callable[[], None]] = field(default_factory=list)
    # what readiness follows (cloudwaste.core.readiness): the database, and extra health names
    # with their own check (e.g. the predictor's "models/waste")
    database: Database | None = None
    readiness: Mapping[str, Callable[[], bool]] = field(default_factory=dict)


def _status(code_name: str) -> grpc.StatusCode:
    return getattr(grpc.StatusCode, code_name, grpc.StatusCode.INTERNAL)


MAX_MESSAGE = 1000  # characters: status and details travel in headers, which clients cap at 8-16 KB


def _shorten(text: str) -> str:
    return text if len(text) <= MAX_MESSAGE else text[: MAX_MESSAGE - 1] + "…"


def _abort(context, code: str, message: str, exc: Exception) -> None:
    """Ends the call with `code` and `message`; bad input also carries a google.rpc.BadRequest
    naming the field, for clients that read structured details. Both are shortened so that a
    message quoting a long input still reaches the client."""
    message = _shorten(message)
    if not isinstance(exc, InvalidArgument):
        context.abort(_status(code), message)
    violation = error_details_pb2.BadRequest.FieldViolation(
        field=_shorten(exc.field), description=_shorten(exc.problem)
    )
    detail = any_pb2.Any()
    detail.Pack(error_details_pb2.BadRequest(field_violations=[violation]))
    context.abort_with_status(
        rpc_status.to_status(
            status_pb2.Status(code=code_pb2.INVALID_ARGUMENT, message=message, details=[detail])
        )
    )


class ErrorAndMetricsInterceptor(grpc.ServerInterceptor):
    """The one place where domain errors become status codes. Never UNKNOWN, never a stack trace.
    Every call is authenticated and authorized here first (core.auth: the caller is `auth.current()`
    while the servicer runs), then its request's text checked (core.textcheck: length, control
    characters)."""

    def __init__(self, authenticator: auth.Authenticator | None = None) -> None:
        self.authenticator = authenticator or auth.Authenticator(auth.AuthSettings())
        # method -> (handler, wrapped handler): wrapping is done once per method, not per call
        self._cache: dict[str, tuple[grpc.RpcMethodHandler, grpc.RpcMethodHandler]] = {}

    def intercept_service(self, continuation, handler_call_details):
        handler = continuation(handler_call_details)
        if handler is None:
            return None
        cached = self._cache.get(handler_call_details.method)
        if cached is None or cached[0] is not handler:
            cached = (handler, self._wrap(handler, handler_call_details))
            self._cache[handler_call_details.method] = cached
        return cached[1]

    def _wrap(self, handler, handler_call_details):
        _, service, method = handler_call_details.method.split("/", 2)
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                self._wrap_unary(handler.unary_unary, service, method, "unary"),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                self._wrap_stream(handler.unary_stream, service, method, "server_stream"),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_stream:
            return grpc.stream_stream_rpc_method_handler(
                self._wrap_stream(handler.stream_stream, service, method, "bidi_stream"),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_unary:  # client streaming: none yet, but never unauthenticated
            return grpc.stream_unary_rpc_method_handler(
                self._wrap_unary(handler.stream_unary, service, method, "client_stream"),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return handler

    @staticmethod
    def _classify(exc: Exception, service: str, method: str) -> tuple[str, str]:
        """(status code name, message safe for the wire) for an exception raised by a servicer."""
        if isinstance(exc, CloudWasteError):
            if exc.code in ("INTERNAL", "UNAVAILABLE"):
                log.warning(
                    "rpc failed", extra={"rpc": f"{service}/{method}", "code": exc.code, "error": str(exc)}
                )
            return exc.code, str(exc)
        log.exception("unexpected error", extra={"rpc": f"{service}/{method}"})
        return "INTERNAL", "internal error; see the service log"

    def _wrap_unary(self, fn, service, method, kind):
        started, latency = STARTED.labels(kind, service, method), LATENCY.labels(kind, service, method)
        authenticate, full = self.authenticator.authenticate, f"{service}/{method}"

        def wrapper(request, context):
            started.inc()
            start = time.perf_counter()
            code = "OK"
            caller, deadline = None, deadlines.start(context.time_remaining())
            try:
                caller = auth.acting_as(authenticate(full, context.invocation_metadata()))
                if kind == "client_stream":
                    request = _checked(request)
                else:
                    check_text(request)
                return fn(request, context)
            except Exception as exc:
                code, message = self._classify(exc, service, method)
                _abort(context, code, message, exc)
            finally:
                deadlines.done(deadline)
                if caller is not None:
                    auth.done(caller)
                latency.observe(time.perf_counter() - start)
                HANDLED.labels(kind, service, method, code).inc()

        return wrapper

    def _wrap_stream(self, fn, service, method, kind):
        started, latency = STARTED.labels(kind, service, method), LATENCY.labels(kind, service, method)
        authenticate, full = self.authenticator.authenticate, f"{service}/{method}"

        def wrapper(request, context):
            started.inc()
            start = time.perf_counter()
            code = "OK"
            caller, deadline = None, deadlines.start(context.time_remaining())
            try:
                caller = auth.acting_as(authenticate(full, context.invocation_metadata()))
                if kind == "bidi_stream":
                    request = _checked(request)
                else:
                    check_text(request)
                yield from fn(request, context)
            except Exception as exc:
                code, message = self._classify(exc, service, method)
                _abort(context, code, message, exc)
            finally:
                deadlines.done(deadline)
                if caller is not None:
                    auth.done(caller)
                latency.observe(time.perf_counter() - start)
                HANDLED.labels(kind, service, method, code).inc()

        return wrapper


def _checked(requests):
    """A stream's requests, each checked as it arrives."""
    for request in requests:
        check_text(request)
        yield request


@dataclass
class Running:
    server: grpc.Server
    port: int
    metrics_port: int
    health: health.HealthServicer
    app: App
    _metrics_server: object = None
    readiness: ReadinessWatcher | None = None

    def stop(self, grace: float | None = None) -> None:
        if self.readiness is not None:
            self.readiness.stop()
        self.health.enter_graceful_shutdown()
        self.server.stop(grace).wait()
        for fn in self.app.on_stop:
            try:
                fn()
            except Exception:
                log.exception("error while stopping")
        if self._metrics_server is not None:
            self._metrics_server.shutdown()


def server_options(settings: ServerSettings) -> list[tuple[str, int]]:
    """gRPC server options: no port sharing, and a maximum connection age (see ServerSettings)."""
    options = [("grpc.so_reuseport", 0)]
    if settings.max_connection_age_seconds > 0:
        options += [
            ("grpc.max_connection_age_ms", int(settings.max_connection_age_seconds * 1000)),
            ("grpc.max_connection_age_grace_ms", int(settings.max_connection_age_grace_seconds * 1000)),
        ]
    return options


def create_server(settings: ServerSettings, app: App) -> Running:
    """Builds and starts the server; binds port 0 to a free port (tests), returns what it bound."""
    server = grpc.server(
        futures.ThreadPoolExecutor(max_workers=settings.max_workers, thread_name_prefix=f"{app.name}-rpc"),
        interceptors=[ErrorAndMetricsInterceptor(auth.Authenticator(settings.auth))],
        options=server_options(settings),
    )
    app.register(server)
    health_servicer = health.HealthServicer(experimental_non_blocking=True)
    health_pb2_grpc.add_HealthServicer_to_server(health_servicer, server)
    reflection.enable_server_reflection(
        [*app.service_names, health.SERVICE_NAME, reflection.SERVICE_NAME], server
    )
    address = f"{settings.grpc_host}:{settings.grpc_port}"
    credentials = None
    if settings.tls.enabled:  # with a CA, clients must show a certificate it signed (mutual TLS)
        from cloudwaste.core.tls import ServerCertificates  # renewed files are served without a restart

        try:
            credentials = ServerCertificates(settings.tls).credentials()
        except SettingsError as exc:
            raise StartupError(str(exc)) from None
    try:
        if credentials is not None:
            port = server.add_secure_port(address, credentials)
        else:
            port = server.add_insecure_port(address)
    except RuntimeError:
        port = 0
    if port == 0:
        raise StartupError(
            f"cannot listen on {address} (CLOUDWASTE_GRPC_HOST, CLOUDWASTE_GRPC_PORT): "
            "the port is in use or the address is not this machine's"
        )
    metrics_server, metrics_port = None, -1
    if settings.metrics_port >= 0:
        try:
            metrics_server, _thread = start_http_server(settings.metrics_port, addr=settings.grpc_host)
        except OSError as exc:
            server.stop(0)
            raise StartupError(
                f"cannot serve metrics on {settings.grpc_host}:{settings.metrics_port} "
                f"(CLOUDWASTE_METRICS_PORT): {exc.strerror or exc}"
            ) from None
        metrics_port = metrics_server.server_port
    for fn in app.on_start:
        fn()
    server.start()
    readiness = ReadinessWatcher(
        health_servicer,
        app.service_names,
        app.database.ping if app.database is not None else None,
        app.readiness,
        settings.readiness_seconds,
    )
    readiness.start()
    log.info(
        "serving",
        extra={"grpc_port": port, "metrics_port": metrics_port, "services": ",".join(app.service_names)},
    )
    return Running(server, port, metrics_port, health_servicer, app, metrics_server, readiness)


def serve(settings: ServerSettings, app: App) -> None:
    """Runs until SIGTERM or SIGINT, then drains gracefully. The signal handlers are in place before
    the server starts, so a signal during start-up stops it cleanly once it has started."""
    for line in unknown_variables(os.environ):
        log.warning(line)
    stopping = threading.Event()

    def on_signal(signum, _frame):
        if not stopping.is_set():
            log.info("shutting down", extra={"signal": signal.Signals(signum).name})
            stopping.set()

    for sig in (signal.SIGTERM, signal.SIGINT):
        signal.signal(sig, on_signal)
    running = create_server(settings, app)
    while not stopping.wait(1.0):  # the main thread waits here; signal handlers run in it
        pass
    # drain on a thread of its own, so that a stuck on_stop step cannot hold the process for ever
    drain = threading.Thread(
        target=running.stop, args=(settings.shutdown_grace_seconds,), name="shutdown", daemon=True
    )
    drain.start()
    drain.join(settings.shutdown_grace_seconds + 10)
    log.info("stopped")


def channel_ready(address: str, timeout: float = 10.0) -> grpc.Channel:
    """A channel to `address` once it accepts connections (grpc.FutureTimeoutError after `timeout`)."""
    from cloudwaste.core.channels import channel_from_env as make_channel

    channel = make_channel(address)
    grpc.channel_ready_future(channel).result(timeout=timeout)
    return channel
