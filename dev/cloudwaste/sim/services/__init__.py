"""The simulated estate's services beyond its EC2 core: one module per service family.

A module here defines ``SERVICE = ServiceEstate(name=..., seed=..., actions=...)``. After the
core estate (:func:`cloudwaste.sim.aws.seed_estate`) is created, ``seed(ctx)`` of every module, in
name order, creates that service's resources in every region of ``ctx.regions`` (the ones a rule
must flag and the near misses it must not) and returns their ground truth. ``actions`` maps
``(resource_type, "delete" | "fix")`` to what a user does between two scans
(:func:`cloudwaste.sim.aws.act_on` dispatches to it).

Rules of the game, so that the estate stays deterministic and exact:

* Draw everything from ``ctx.rng(name)`` (a stream of this module's own): adding a module or a
  variant to one must not change any other resource of the estate.
* Size counts with ``ctx.count(share)`` (at least one of each variant, so small estates exercise
  every rule), spread over regions with ``ctx.pick_region(rng)`` (the regions in turn: a variant
  of at least as many resources as regions is in every region).
* Every resource the scanner lists gets a truth entry: its scenario when a rule must flag it
  (with ``ctx.decide(...)``), ``None`` otherwise. A resource is flagged by at most one rule.
* Times AWS does not let a client set (creation, last use) are written into moto's backend
  directly (moto runs in this process; see :mod:`cloudwaste.sim.estate_moto`), metric history
  with ``ctx.put_metrics``.
"""

from __future__ import annotations

import importlib
import pkgutil
import random
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from ..profile import DecisionModel, draw_tags
from ..truth import TruthResource

# (clients of the resource's region, resource id, now) -> None; see cloudwaste.sim.aws.act_on
Action = Callable[[Any, str, datetime], None]


@dataclass(frozen=True)
class Network:
    """The network the core estate made in one region: one VPC, two subnets in two zones."""

    vpc_id: str
    subnet_ids: tuple[str, ...]
    zones: tuple[str, ...]


@dataclass
class SeedContext:
    endpoint_url: str
    regions: tuple[str, ...]
    size: int
    seed: int
    now: datetime
    account_id: str
    networks: Mapping[str, Network]
    decisions: DecisionModel = field(default_factory=DecisionModel)
    _turns: dict[int, tuple[random.Random, int]] = field(default_factory=dict, repr=False)
    _clients: dict[tuple[str, str], Any] = field(default_factory=dict, repr=False)
    _clients_lock: threading.Lock = field(default_factory=threading.Lock, repr=False)

    def client(self, service: str, region: str) -> Any:
        """The boto3 client of the estate's account for moto (HTTP; ~8 ms a call), one per
        service and region: building one costs ~18 ms, and seeding asks for one per resource
        group (boto3 clients are safe to share between threads)."""
        from ..aws import boto3_client

        with self._clients_lock:
            found = self._clients.get((service, region))
            if found is None:
                found = boto3_client(service, self.endpoint_url, region, account_id=self.account_id)
                self._clients[(service, region)] = found
            return found

    def backend(self, service: str, region: str) -> Any:
        """moto's in-process backend of `service` for the estate's account and `region`."""
        from moto.backends import get_backend
        from moto.core import DEFAULT_ACCOUNT_ID  # noqa: F401  (moto is importable)

        return get_backend(service)[self.account_id][region]

    def rng(self, name: str) -> random.Random:
        return random.Random(f"cloudwaste.sim.aws.{name}:{self.seed}")

    def count(self, share: float, minimum: int = 1) -> int:
        return max(minimum, round(self.size * share))

    def pick_region(self, rng: random.Random) -> str:
        """The next region for a resource drawn from `rng`: the regions in turn, so that any run of
        as many picks as there are regions (a variant of at least that count) lands in every
        region, fires and near misses alike."""
        held, n = self._turns.get(id(rng), (rng, 0))
        self._turns[id(rng)] = (held, n + 1)  # holding rng keeps its id from being reused
        return self.regions[n % len(self.regions)]

    def ago(self, days: float) -> datetime:
        return self.now - timedelta(days=days)

    def tags(self, rng: random.Random, kind: str) -> dict[str, str]:
        return draw_tags(rng, kind)

    def decide(
        self,
        rng: random.Random,
        *,
        tags: dict[str, str],
        scenario: str,
        age_days: float | None,
        monthly_cost: float,
    ) -> str:
        return self.decisions.draw(
            rng, tags=tags, scenario=scenario, age_days=age_days, monthly_cost=monthly_cost
        )

    def truth(
        self,
        resource_id: str,
        resource_type: str,
        region: str,
        tags: dict[str, str],
        scenario: str | None = None,
        decision: str | None = None,
    ) -> TruthResource:
        return TruthResource(resource_id, resource_type, region, scenario, decision, dict(tags))

    def put_metrics(self, region: str, namespace: str, data: Sequence[dict[str, Any]]) -> None:
        """PutMetricData straight into moto's backend (any number of datapoints)."""
        if data:
            self.backend("cloudwatch", region).put_metric_data(namespace, list(data))

    def daily_points(
        self,
        metric: str,
        dimensions: Mapping[str, str],
        values: Sequence[float],
        unit: str = "None",
        *,
        newest_hours_ago: float = 1,
    ) -> list[dict[str, Any]]:
        """One datapoint a day for `values` (newest first), the newest `newest_hours_ago` before now;
        naive UTC timestamps, as moto stores them."""
        out = []
        for day, value in enumerate(values):
            stamp = (self.now - timedelta(days=day, hours=newest_hours_ago)).replace(tzinfo=None)
            out.append(
                {
                    "MetricName": metric,
                    "Dimensions": [{"Name": k, "Value": v} for k, v in dimensions.items()],
                    "Timestamp": stamp,
                    "Value": float(value),
                    "Unit": unit,
                }
            )
        return out


@dataclass(frozen=True)
class ServiceEstate:
    name: str
    seed: Callable[[SeedContext], list[TruthResource]]
    actions: Mapping[tuple[str, str], Action] = field(default_factory=dict)
    doc: str = ""


def load_all() -> list[ServiceEstate]:
    """Every service module's SERVICE, in name order."""
    out = []
    for name in sorted(m.name for m in pkgutil.iter_modules(__path__) if not m.name.startswith("_")):
        module = importlib.import_module(f"{__name__}.{name}")
        out.append(module.SERVICE)
    return out


def actions() -> dict[tuple[str, str], Action]:
    out: dict[tuple[str, str], Action] = {}
    for service in load_all():
        out.update(service.actions)
    return out
