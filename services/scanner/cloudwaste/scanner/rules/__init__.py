"""The one registry of detection rules.

A rule registers under a kebab-case scenario key with the resource kind it evaluates, its
parameters (typed, with defaults; unknown keys are rejected), the read-only permissions it needs,
its documentation and a pair of fixtures (one that fires, one near miss that must not). The
engine lists each resource kind once per region and runs every rule registered for that kind.
"""

from __future__ import annotations

import datetime as dt
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


@dataclass(frozen=True)
class Fixtures:
    fires: Resource
    silent: Resource  # a near miss: must not fire
    now: dt.datetime


@dataclass(frozen=True)
class Context:
    """What a rule may know besides the resource: the time and its region's prices."""

    now: dt.datetime
    prices: Any  # pricing.AwsPrices for the resource's region


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

    def resolve_params(self, overrides: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Defaults merged with overrides; an unknown key or a bad value names the parameter."""
        values = {name: p.default for name, p in self.params.items()}
        for name, value in (overrides or {}).items():
            spec = self.params.get(name)
            if spec is None:
                raise InvalidArgument(
                    f"rules.{self.key}.{name}", f"unknown parameter (known: {sorted(self.params)})"
                )
            accepted = (int, float) if spec.type is float else spec.type
            if not isinstance(value, accepted) or isinstance(value, bool) != (spec.type is bool):
                raise InvalidArgument(f"rules.{self.key}.{name}", f"must be {spec.type.__name__}")
            if isinstance(value, float) and not math.isfinite(value):
                raise InvalidArgument(f"rules.{self.key}.{name}", "must be a finite number")
            if spec.minimum is not None and value < spec.minimum:
                raise InvalidArgument(f"rules.{self.key}.{name}", f"must be >= {spec.minimum}")
            values[name] = value
        return values


@dataclass
class Registry:
    rules: dict[str, Rule] = field(default_factory=dict)

    def register(self, rule: Rule) -> Rule:
        if not _KEY.match(rule.key):
            raise ValueError(f"rule key {rule.key!r} must be kebab-case")
        if rule.key in self.rules:
            raise ValueError(f"rule {rule.key!r} registered twice")
        self.rules[rule.key] = rule
        return rule

    def for_kind(self, kind: str) -> list[Rule]:
        return [r for r in self.rules.values() if r.resource_kind == kind]

    def kinds(self, provider: str) -> set[str]:
        return {r.resource_kind for r in self.rules.values() if r.provider == provider}

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
) -> Callable[[Evaluate], Evaluate]:
    """Decorator: registers the function as the rule's evaluation; its docstring is the rule's doc."""

    def wrap(fn: Evaluate) -> Evaluate:
        REGISTRY.register(
            Rule(
                key=key,
                provider=provider,
                resource_kind=resource_kind,
                title=title,
                doc=(fn.__doc__ or "").strip(),
                permissions=permissions,
                params=dict(params or {}),
                evaluate=fn,
                confidence_doc=confidence_doc,
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
    from cloudwaste.scanner.rules import aws  # noqa: F401

    return REGISTRY
