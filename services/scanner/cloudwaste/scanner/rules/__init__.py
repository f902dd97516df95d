"""The one registry of detection rules.

A rule registers under a kebab-case scenario key with the resource kind it evaluates (and the
other kinds it looks up), its parameters (typed, with defaults; unknown keys are rejected; every
rule also takes `enabled`), the read-only permissions it needs, its documentation and a pair of
fixtures (one that fires, one near miss that must not). The engine lists each kind an enabled
rule needs once per scope and runs every enabled rule of that kind over the same listing.
Accounts override parameters per rule: `Registry.effective_params`.

A metric rule also declares the daily series it reads (`Metric`), its window parameter and which
resources are candidates (`candidate`): the engine fetches those series for the candidates only,
for every metric rule of a scope together (AWS: GetMetricData, 500 queries a call), and the rule
reads them with `Context.metric`. A series says how many days it covers: missing data is never
read as zero.
"""

from __future__ import annotations

import datetime as dt
import inspect
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

from cloudwaste.core.errors import InvalidArgument
from cloudwaste.scanner.domain import Detection, Resource

_KEY = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)+$")


@dataclass(frozen=True)
class Param:
    type: type
    default: Any
    doc: str
    minimum: float | None = None


ENABLED = Param(
    bool, True, "Evaluate this rule (false: never, and list its kinds only if another rule needs them)."
)


@dataclass(frozen=True)
class Metric:
    """A daily series a metric rule reads for each candidate resource. For AWS: the CloudWatch
    metric `namespace`/`metric` with dimension `dimension` = the resource's id (or the attribute
    `dimension_attribute`), aggregated per day with `stat` (Sum, Average, Maximum, Minimum).

    A metric with more than one dimension adds `extra_dimensions`: (name, value) pairs whose value
    is a constant, or the resource's attribute named after an "@" (("StorageType",
    "StandardStorage"), ("TransitGateway", "@transit_gateway_id"))."""

    name: str  # how the rule refers to it, e.g. "cpu_average"
    namespace: str
    metric: str
    dimension: str
    stat: str
    dimension_attribute: str | None = None
    extra_dimensions: tuple[tuple[str, str], ...] = ()

    def dimension_value(self, resource: Resource) -> str:
        if self.dimension_attribute is None:
            return resource.resource_id
        return str(resource.attributes.get(self.dimension_attribute, ""))

    def dimensions(self, resource: Resource) -> tuple[tuple[str, str], ...]:
        """Every (dimension name, value) of this metric for `resource`, the main one first."""
        extra = tuple(
            (name, str(resource.attributes.get(value[1:], "")) if value.startswith("@") else value)
            for name, value in self.extra_dimensions
        )
        return ((self.dimension, self.dimension_value(resource)), *extra)


@dataclass(frozen=True)
class Series:
    """A metric's daily values over a window, oldest first, for the days that have data."""

    values: tuple[float, ...]
    days: int  # the window: how many daily values a complete series has

    @property
    def got(self) -> int:
        return len(self.values)

    @property
    def coverage(self) -> float:
        return min(1.0, self.got / self.days) if self.days else 0.0

    @property
    def total(self) -> float:
        return float(sum(self.values))

    @property
    def peak(self) -> float | None:
        return max(self.values) if self.values else None

    @property
    def mean(self) -> float | None:
        return self.total / self.got if self.values else None

    def evidence(self, unit: str = "") -> dict:
        """What a finding shows about the series: datapoints needed and got, and its values."""
        out = {"days": self.days, "datapoints": self.got, "total": round(self.total, 3)}
        if self.values:
            out |= {"peak": round(self.peak, 3), "mean": round(self.mean, 3)}
        if unit:
            out["unit"] = unit
        return out


# (resource id, metric name, window days) -> the series the engine fetched
SeriesKey = tuple[str, str, int]


@dataclass(frozen=True)
class Fixtures:
    fires: Resource
    silent: Resource  # a near miss: must not fire
    now: dt.datetime
    # Other resources of the same scope the rule may look up (e.g. the instance a volume is on).
    related: tuple[Resource, ...] = ()
    # The metric series of the fixtures, for metric rules.
    series: Mapping[SeriesKey, Series] = field(default_factory=dict)

    def lookup(self) -> Lookup:
        index = {(r.kind, r.resource_id): r for r in (self.fires, self.silent, *self.related)}
        return lambda kind, resource_id: index.get((kind, resource_id))

    def metrics(self) -> MetricSource:
        return lambda resource, name, days: self.series.get((resource.resource_id, name, math.ceil(days)))

    def context(self, prices: Any) -> Context:
        return Context(now=self.now, prices=prices, lookup=self.lookup(), metric=self.metrics())


# lookup(kind, resource id) -> that resource as listed in the same scope, or None
Lookup = Callable[[str, str], Resource | None]


def _nothing(kind: str, resource_id: str) -> Resource | None:
    return None


# metric(resource, metric name, window days) -> its series, or None when it was not fetched
MetricSource = Callable[[Resource, str, int], "Series | None"]


def _no_metrics(resource: Resource, name: str, days: int) -> Series | None:
    return None


@dataclass(frozen=True)
class Context:
    """What a rule may know besides the resource: the time, its scope's prices, and the other
    resources listed in the same scope (only kinds the rule declares in `needs` are sure to be)."""

    now: dt.datetime
    prices: Any  # the provider's prices for the resource's scope (pricing.AwsPrices for AWS)
    lookup: Lookup = _nothing
    # metric(resource, name, days): the series the engine fetched for a metric rule's candidate
    # (days as the rule's window parameter; a fraction reads the whole days fetched for it)
    metric: MetricSource = _no_metrics


Evaluate = Callable[[Resource, Mapping[str, Any], Context], Detection | None]


@dataclass(frozen=True)
class Rule:
    key: str
    provider: str
    resource_kind: str
    title: str
    doc: str
    permissions: tuple[str, ...]
    params: Mapping[str, Param]
    evaluate: Evaluate
    fixtures: Fixtures | None = None
    confidence_doc: str = ""
    # Other kinds the rule looks up through `Context.lookup` (listed in the same scope).
    needs: tuple[str, ...] = ()
    # Metric rules: the series read, the parameter holding the window in days, and which
    # resources the series are fetched for (those the rule could flag; None: every one).
    metrics: tuple[Metric, ...] = ()
    window_param: str = "window_days"
    candidate: Callable[[Resource, Mapping[str, Any], Context], bool] | None = None

    def metric_window(self, params: Mapping[str, Any]) -> int:
        return math.ceil(params[self.window_param])

    @property
    def kinds(self) -> tuple[str, ...]:
        """Every kind that must be listed completely for this rule to run."""
        return (self.resource_kind, *self.needs)

    @property
    def all_params(self) -> dict[str, Param]:
        """The rule's own parameters plus `enabled`, which every rule accepts."""
        return {"enabled": ENABLED, **self.params}

    def resolve_params(self, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Defaults merged with overrides, `enabled` included; an unknown key or a bad value
        raises InvalidArgument naming `rule_parameters.<rule key>.<parameter>`."""
        specs = self.all_params
        values = {name: p.default for name, p in specs.items()}
        if overrides is None:
            return values
        if not isinstance(overrides, Mapping):
            raise InvalidArgument(f"rule_parameters.{self.key}", "must be an object of parameter values")
        for name, value in overrides.items():
            where = f"rule_parameters.{self.key}.{name}"
            spec = specs.get(name) if isinstance(name, str) else None
            if spec is None:
                raise InvalidArgument(where, f"unknown parameter (known: {sorted(specs)})")
            accepted = (int, float) if spec.type is float else spec.type
            if not isinstance(value, accepted) or isinstance(value, bool) != (spec.type is bool):
                raise InvalidArgument(
                    where, f"must be {'a number' if spec.type is float else spec.type.__name__}"
                )
            if isinstance(value, float) and not math.isfinite(value):
                raise InvalidArgument(where, "must be a finite number")
            if spec.minimum is not None and value < spec.minimum:
                raise InvalidArgument(where, f"must be >= {spec.minimum}")
            values[name] = float(value) if spec.type is float else value
        return values


@dataclass
class Registry:
    rules: dict[str, Rule] = field(default_factory=dict)

    def register(self, rule: Rule) -> Rule:
        if not _KEY.match(rule.key):
            raise ValueError(f"rule key {rule.key!r} must be kebab-case")
        if rule.key in self.rules:
            raise ValueError(f"rule {rule.key!r} registered twice")
        if rule.metrics and rule.window_param not in rule.params:
            raise ValueError(f"metric rule {rule.key!r} needs its window parameter {rule.window_param!r}")
        self.rules[rule.key] = rule
        return rule

    def for_kind(self, kind: str) -> list[Rule]:
        return [r for r in self.rules.values() if r.resource_kind == kind]

    def kinds(self, provider: str) -> set[str]:
        return {r.resource_kind for r in self.rules.values() if r.provider == provider}

    def for_provider(self, provider: str) -> list[Rule]:
        return [r for r in self.rules.values() if r.provider == provider]

    def effective_params(
        self, overrides: Mapping[str, Any] | None = None, provider: str | None = None
    ) -> dict[str, dict[str, Any]]:
        """An account's overrides `{rule key: {parameter: value}}` validated, and the effective
        parameters (`enabled` included) of every rule (of `provider`, when given).

        An unknown rule key raises InvalidArgument("rule_parameters.<rule key>"), an unknown
        parameter or a bad value InvalidArgument("rule_parameters.<rule key>.<parameter>").
        """
        overrides = {} if overrides is None else overrides
        if not isinstance(overrides, Mapping):
            raise InvalidArgument("rule_parameters", "must be an object keyed by rule key")
        for key in overrides:
            rule = self.rules.get(key) if isinstance(key, str) else None
            if rule is None or (provider is not None and rule.provider != provider):
                raise InvalidArgument(
                    f"rule_parameters.{str(key)[:64]}",
                    f"unknown rule (known: {', '.join(sorted(r.key for r in self.rules.values() if provider in (None, r.provider)))})",
                )
        return {
            r.key: r.resolve_params(overrides.get(r.key))
            for r in self.rules.values()
            if provider is None or r.provider == provider
        }

    def __iter__(self):
        return iter(self.rules.values())


REGISTRY = Registry()


def rule(
    *,
    key: str,
    provider: str,
    resource_kind: str,
    title: str,
    permissions: tuple[str, ...],
    params: Mapping[str, Param] | None = None,
    confidence_doc: str = "",
    needs: tuple[str, ...] = (),
    metrics: tuple[Metric, ...] = (),
    window_param: str = "window_days",
    candidate: Callable[[Resource, Mapping[str, Any], Context], bool] | None = None,
) -> Callable[[Evaluate], Evaluate]:
    """Decorator: registers the function as the rule's evaluation; its docstring is the rule's doc."""

    def wrap(fn: Evaluate) -> Evaluate:
        REGISTRY.register(
            Rule(
                key=key,
                provider=provider,
                resource_kind=resource_kind,
                title=title,
                doc=inspect.cleandoc(fn.__doc__ or ""),
                permissions=permissions,
                params=dict(params or {}),
                evaluate=fn,
                confidence_doc=confidence_doc,
                needs=needs,
                metrics=tuple(metrics),
                window_param=window_param,
                candidate=candidate,
            )
        )
        return fn

    return wrap


def attach_fixtures(key: str, fixtures: Fixtures) -> None:
    old = REGISTRY.rules[key]
    REGISTRY.rules[key] = Rule(**{**old.__dict__, "fixtures": fixtures})


def age_days(then: dt.datetime | None, now: dt.datetime) -> float | None:
    if then is None:
        return None
    return (now - then).total_seconds() / 86400.0


def load_all() -> Registry:
    """Imports every rule module so that the registry is complete."""
    from cloudwaste.scanner.rules import aws, azure, gcp, m365  # noqa: F401

    return REGISTRY
