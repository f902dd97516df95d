"""The registry of cloud providers (`aws`, `azure`, `gcp`, `m365`).

A provider validates an account's access settings, resolves them into a connection, lists the
account's scopes (AWS regions, Azure subscriptions, GCP projects, an M365 tenant), lists one
resource kind in one scope and gives the prices of a scope. The engine and the worker know no
provider by name: they ask this registry for the account's `provider` key.

Every API call a provider's clients make is reported, with the kind (or "scopes") that made it,
to `record_call`: it feeds a Prometheus counter and any observer (the permission contract test).
"""

from __future__ import annotations

import contextlib
import contextvars
import datetime as dt
import threading
from abc import ABC, abstractmethod
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from cloudwaste.core.errors import FailedPrecondition, InvalidArgument
from cloudwaste.scanner.domain import Resource
from cloudwaste.scanner.kinds import Kind
from cloudwaste.scanner.metrics import PROVIDER_API_CALLS

# Who is calling the provider's API right now: a kind key while a kind is listed, SCOPES while
# the account's scopes are listed. A context variable, so concurrent scopes do not mix.
SCOPES = "scopes"
# how an error message sends its reader to the log, where the traceback is
SEE_THE_LOG = "(see the scanner log)"


def unexpected_error(service: str) -> str:
    """`describe_error`'s message for an exception it does not know; the engine logs its traceback."""
    return f"unexpected error while calling {service} {SEE_THE_LOG}"


_CALLER: contextvars.ContextVar[str] = contextvars.ContextVar("cloudwaste_api_caller", default="")

# observer(provider key, caller, operation as an IAM action)
CallObserver = Callable[[str, str, str], None]
_observers: list[CallObserver] = []
_observers_lock = threading.Lock()


@contextlib.contextmanager
def api_caller(name: str) -> Iterator[None]:
    token = _CALLER.set(name)
    try:
        yield
    finally:
        _CALLER.reset(token)


def current_caller() -> str:
    return _CALLER.get()


def record_call(provider: str, operation: str) -> None:
    """Called by a provider's client hook for every API call, before it is sent."""
    PROVIDER_API_CALLS.labels(provider, operation).inc()
    caller = _CALLER.get()
    for observe in list(_observers):
        observe(provider, caller, operation)


@contextlib.contextmanager
def observe_calls(observer: CallObserver) -> Iterator[None]:
    """Calls `observer(provider, caller, operation)` for every API call made inside the block
    (by any thread)."""
    with _observers_lock:
        _observers.append(observer)
    try:
        yield
    finally:
        with _observers_lock:
            _observers.remove(observer)


def string_settings(access: Any, field: str, known: Sequence[str]) -> dict[str, str]:
    """An account's access settings as strings ("" when absent), every key one of `known`: the
    common check of every provider's validate_access; a problem raises InvalidArgument naming the
    field ("cloud_account.azure.client_id")."""
    if not isinstance(access, Mapping):
        raise InvalidArgument(field, "is required")
    for name in access:
        if name not in known:
            raise InvalidArgument(f"{field}.{name}", f"unknown setting (known: {', '.join(known)})")
    values = {}
    for name in known:
        value = access.get(name) or ""
        if not isinstance(value, str):
            raise InvalidArgument(f"{field}.{name}", "must be a string")
        values[name] = value
    return values


def history_series(q: Any, end: dt.datetime, period: int, points: Sequence[tuple[dt.datetime, float]]) -> Any:
    """A query's (engine.MetricQuery) timestamped points placed in the slots of its window ending
    at `end`, one per `period` seconds: a domain.HistorySeries, None where no point fell."""
    from cloudwaste.scanner.domain import HistorySeries

    start = end - dt.timedelta(days=q.days)
    slots = q.days * 86400 // period
    values: list[float | None] = [None] * slots
    for stamp, value in points:
        slot = int((stamp.astimezone(dt.UTC) - start).total_seconds() // period)
        if 0 <= slot < slots:
            values[slot] = float(value)
    return HistorySeries(q.metric.namespace, q.metric.metric, q.metric.stat, start, period, tuple(values))


class Provider(ABC):
    """One cloud provider. Subclasses are stateless; a connection holds an account's credentials."""

    key: str  # "aws"
    display_name: str  # "AWS"
    scope_noun: str  # the scope field's noun in messages: "region", "subscription", "project"
    scope_description: str  # for messages: '"x" is not an AWS region'
    # API operations (as IAM actions) listing the scopes makes, and the permissions they need.
    scope_operations: tuple[str, ...] = ()

    @abstractmethod
    def validate_access(self, access: Mapping[str, Any], field: str) -> dict[str, Any]:
        """Checks and normalizes an account's access settings (a plain dict). A problem raises
        `InvalidArgument(f"{field}.<setting>", ...)`; `field` is the caller's prefix, e.g.
        "cloud_account.aws". Returns the settings to store."""

    @abstractmethod
    def valid_scopes(self) -> frozenset[str]:
        """Every scope name the provider knows (empty when scopes are not a closed set)."""

    @abstractmethod
    def options_from_settings(self, settings: Any) -> dict[str, Any]:
        """This provider's options taken from the scanner's settings (endpoint URLs...)."""

    @abstractmethod
    def connect(self, access: Mapping[str, Any], options: Mapping[str, Any]) -> Any:
        """Resolves access into a connection (credentials, sessions). Raises a domain error
        (FailedPrecondition: access refused; Unavailable: the provider is unreachable)."""

    @abstractmethod
    def _list_scopes(self, conn: Any) -> list[str]:
        """Every scope enabled for the account."""

    @abstractmethod
    def prices(self, scope: str) -> Any:
        """The prices rules use for resources of this scope."""

    @abstractmethod
    def describe_error(self, exc: BaseException) -> str:
        """A short message safe to show the account's owner: no stack trace, no secret."""

    def policy_document(self, permissions: Sequence[str], organization: bool = False) -> dict:
        """The document a customer applies to grant `permissions` (read-only) to CloudWaste."""
        raise NotImplementedError

    @staticmethod
    def is_read_only(permission: str) -> bool:
        """Whether a permission (as the provider names them) only reads."""
        return False

    def validate_scopes(self, scopes: Sequence[str], field: str) -> list[str]:
        """The scopes without duplicates; an unknown one raises InvalidArgument(f"{field}[i]")."""
        valid = self.valid_scopes()
        for i, scope in enumerate(scopes):
            if not isinstance(scope, str) or (valid and scope not in valid):
                raise InvalidArgument(f"{field}[{i}]", f'"{str(scope)[:64]}" is not {self.scope_description}')
        return list(dict.fromkeys(scopes))

    def list_scopes(self, conn: Any, requested: Sequence[str]) -> list[str]:
        """The requested scopes (without duplicates), or every scope enabled for the account."""
        if requested:
            return list(dict.fromkeys(requested))
        with api_caller(SCOPES):
            return self._list_scopes(conn)

    # The API operation (as an IAM action) fetching metrics makes; what its calls are attributed to.
    metric_operation: str = ""
    METRICS_CALLER = "metrics"

    def fetch_metrics(self, conn: Any, scope: str, queries: Sequence[Any], now: dt.datetime) -> dict:
        """The daily series of `queries` (engine.MetricQuery) in one scope: {query.key: Series}.
        A query with no datapoint gets an empty series (0 of `days`), never zeros. Providers
        without metrics raise NotImplementedError; the metric rules then fail in that scope."""
        raise NotImplementedError(f"{self.display_name} metrics are not supported yet")

    def metrics(self, conn: Any, scope: str, queries: Sequence[Any], now: dt.datetime) -> dict:
        """fetch_metrics with its API calls attributed to the metric layer."""
        with api_caller(self.METRICS_CALLER):
            return self.fetch_metrics(conn, scope, queries, now)

    def fetch_history(
        self, conn: Any, scope: str, queries: Sequence[Any], now: dt.datetime, period_seconds: int
    ) -> dict:
        """The full series of `queries` (engine.MetricQuery; `days` is the window) at
        `period_seconds`: {(resource id, metric name): domain.HistorySeries}, every slot of the
        window present, None where there is no datapoint. Batched like fetch_metrics. Providers
        without it raise NotImplementedError: their findings then carry no history."""
        raise NotImplementedError(f"{self.display_name} metric history is not supported yet")

    def history(self, conn: Any, scope: str, queries: Sequence[Any], now: dt.datetime, period_seconds: int) -> dict:
        """fetch_history with its API calls attributed to the metric layer."""
        with api_caller(self.METRICS_CALLER):
            return self.fetch_history(conn, scope, queries, now, period_seconds)

    # The API operations (as the provider names permissions) reading the account's bill, and what
    # their calls are attributed to.
    billing_operations: tuple[str, ...] = ()
    BILLING_CALLER = "billing"

    def fetch_costs(self, conn: Any, scopes: Sequence[str], resources: Sequence[Resource], now: dt.datetime) -> Any:
        """What the account's bill says of `resources` (the scan's findings) and of the account
        (its `scopes`, as scanned): a domain.CostReport. A source that cannot be read returns CostReport.unavailable with the
        reason, never zeros. Providers without a per-resource bill raise NotImplementedError."""
        raise NotImplementedError(f"{self.display_name} has no per-resource billing source CloudWaste reads")

    def costs(self, conn: Any, scopes: Sequence[str], resources: Sequence[Resource], now: dt.datetime) -> Any:
        """fetch_costs with its API calls attributed to the billing layer."""
        with api_caller(self.BILLING_CALLER):
            return self.fetch_costs(conn, scopes, resources, now)

    def list_kind(
        self,
        conn: Any,
        kind: Kind,
        scope: str,
        now: dt.datetime,
        dependencies: Mapping[str, Sequence[Resource]],
    ) -> list[Resource]:
        """Lists ONE kind in ONE scope; its API calls are attributed to the kind."""
        if kind.provider != self.key:
            raise ValueError(f"kind {kind.key} belongs to provider {kind.provider}, not {self.key}")
        with api_caller(kind.key):
            return kind.list(conn, scope, now, dependencies)


@dataclass
class ProviderRegistry:
    providers: dict[str, Provider] = field(default_factory=dict)

    def register(self, provider: Provider) -> Provider:
        if provider.key in self.providers:
            raise ValueError(f"provider {provider.key!r} registered twice")
        self.providers[provider.key] = provider
        return provider

    def get(self, key: str, field: str | None = None) -> Provider:
        """The provider registered under `key`. Unknown: InvalidArgument naming `field` when
        given (bad input), else FailedPrecondition (e.g. a stored account of a provider this
        scanner does not support)."""
        provider = self.providers.get(key) if isinstance(key, str) else None
        if provider is None:
            known = ", ".join(sorted(self.providers)) or "none"
            if field is not None:
                raise InvalidArgument(
                    field, f"provider {str(key)[:32]!r} is not supported (supported: {known})"
                )
            raise FailedPrecondition(f"provider {str(key)[:32]!r} is not supported yet (supported: {known})")
        return provider

    def keys(self) -> list[str]:
        return sorted(self.providers)

    def __contains__(self, key: object) -> bool:
        return key in self.providers

    def __iter__(self) -> Iterator[Provider]:
        return iter(self.providers.values())

    def options_from_settings(self, settings: Any) -> dict[str, dict[str, Any]]:
        """{provider key: options} for every registered provider, from the scanner settings."""
        return {key: p.options_from_settings(settings) for key, p in self.providers.items()}


PROVIDERS = ProviderRegistry()


def load_all() -> ProviderRegistry:
    """Imports every provider module (and its kinds) so that the registry is complete."""
    from cloudwaste.scanner.kinds import load_all as load_kinds
    from cloudwaste.scanner.providers import aws, azure, gcp, m365  # noqa: F401

    load_kinds()
    return PROVIDERS


def get(key: str, field: str | None = None) -> Provider:
    """The registered provider for `key`; see ProviderRegistry.get for the errors."""
    return load_all().get(key, field)


def options_from_settings(settings: Any) -> dict[str, dict[str, Any]]:
    """What server.py passes to the Engine: every provider's options from ScannerSettings."""
    return load_all().options_from_settings(settings)
