"""What the Azure and GCP simulated estates share: a seeding context with deterministic random
streams, counts, places in turn, backdating, tags, decisions and ground truth, and the loader of
a package of service modules.

A service module of an estate package defines ``seed(ctx) -> list[TruthResource]``: it creates
its resources through the local endpoint's estate API (``ctx.api``), the ones a rule must flag
and the near misses it must not, and returns their ground truth. The same rules as the AWS estate
(:mod:`cloudwaste.sim.services`) hold: every draw from ``ctx.rng(name)``, sizes from
``ctx.count(share)`` (at least one of each variant), places in turn with ``ctx.pick(rng)``, a
truth entry for every resource the scanner lists, at most one rule per resource.
"""

from __future__ import annotations

import importlib
import pkgutil
import random
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from .profile import DecisionModel, draw_tags
from .truth import TruthResource


@dataclass
class EstateContext:
    provider: str  # "azure" | "gcp"
    api: Any  # the local endpoint (AzureApi | GcpApi): its estate API
    scopes: tuple[str, ...]  # subscription ids | project ids
    places: tuple[str, ...]  # Azure locations | GCP zones, taken in turn
    size: int
    seed: int
    now: datetime
    decisions: DecisionModel = field(default_factory=DecisionModel)
    _turns: dict[int, tuple[random.Random, int]] = field(default_factory=dict, repr=False)

    def rng(self, name: str) -> random.Random:
        return random.Random(f"cloudwaste.sim.{self.provider}.{name}:{self.seed}")

    def count(self, share: float, minimum: int = 1) -> int:
        return max(minimum, round(self.size * share))

    def pick(self, rng: random.Random) -> tuple[str, str]:
        """(scope, place) for the next resource drawn from `rng`: scopes and places in turn."""
        held, n = self._turns.get(id(rng), (rng, 0))
        self._turns[id(rng)] = (held, n + 1)
        return self.scopes[n % len(self.scopes)], self.places[n % len(self.places)]

    def ago(self, days: float) -> datetime:
        return self.now - timedelta(days=days)

    def day(self, days_ago: float | None) -> str:
        """The date `days_ago` before now as a usage report writes it (YYYY-MM-DD; None: "")."""
        return "" if days_ago is None else self.ago(days_ago).strftime("%Y-%m-%d")

    def stamp(self, days_ago: float) -> str:
        """An RFC 3339 UTC timestamp `days_ago` before now."""
        return self.ago(days_ago).strftime("%Y-%m-%dT%H:%M:%S.%f")[:-3] + "Z"

    def tags(self, rng: random.Random, kind: str) -> dict[str, str]:
        return draw_tags(rng, kind)

    def decide(
        self, rng: random.Random, *, tags: dict[str, str], scenario: str, age_days: float | None,
        monthly_cost: float,
    ) -> str:
        return self.decisions.draw(rng, tags=tags, scenario=scenario, age_days=age_days, monthly_cost=monthly_cost)

    def truth(
        self, resource_id: str, resource_type: str, place: str, tags: dict[str, str],
        scenario: str | None = None, decision: str | None = None,
    ) -> TruthResource:
        return TruthResource(resource_id, resource_type, place, scenario, decision, dict(tags))

    def daily(self, values: Sequence[float]) -> dict:
        """{day: value} for `values`, newest first, ending yesterday (UTC days)."""
        today = self.now.date()
        return {today - timedelta(days=i + 1): float(v) for i, v in enumerate(values)}


Seed = Callable[[EstateContext], list[TruthResource]]


def service_modules(package: str, path: Sequence[str]) -> list[tuple[str, Seed]]:
    """(name, seed) of every module of an estate package, in name order."""
    out = []
    for name in sorted(m.name for m in pkgutil.iter_modules(path) if not m.name.startswith("_")):
        module = importlib.import_module(f"{package}.{name}")
        out.append((name, module.seed))
    return out


def seed_all(ctx: EstateContext, package: str, path: Sequence[str], services: Sequence[str] | None) -> list[TruthResource]:
    truth: list[TruthResource] = []
    for name, seed in service_modules(package, path):
        if services is None or name in services:
            truth.extend(seed(ctx))
    ids = [t.resource_id for t in truth]
    duplicates = {i for i in ids if ids.count(i) > 1} if len(set(ids)) != len(ids) else set()
    if duplicates:
        raise ValueError(f"{ctx.provider} estate: resources seeded twice: {sorted(duplicates)[:5]}")
    return truth


@dataclass
class RunningEstate:
    """A simulated estate behind its local vendor endpoint: the endpoint (`api`), the ground
    truth, where the credential file the scanner reads was written, and the account's access
    settings; `options` are the scanner's provider options that reach it."""

    api: Any
    truth: list[TruthResource]
    credentials_dir: str
    access: dict[str, str]

    @property
    def options(self) -> dict[str, str]:
        return {"endpoint_url": self.api.url, "credentials_dir": self.credentials_dir}

