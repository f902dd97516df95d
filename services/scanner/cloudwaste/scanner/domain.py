"""Scanner domain values: what a provider lists and what a rule decides. No gRPC, no SQL."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from cloudwaste.core.billing import BILLING_UNAVAILABLE, NO_BILLING_SOURCE, NOT_BILLED  # noqa: F401

# The state of a resource's parent when the parent is gone (a snapshot whose volume was deleted).
ORPHAN = "orphan"


@dataclass(frozen=True)
class Resource:
    """One cloud resource as listed once per region; every rule evaluates these."""

    provider: str  # "aws"
    kind: str  # e.g. "aws.ec2.volume"
    resource_id: str
    region: str  # where it is: an AWS region, an Azure location, a GCP region or zone
    name: str = ""
    tags: dict[str, str] = field(default_factory=dict)
    created_at: dt.datetime | None = None
    # Values rules read (state, sizes, timestamps, metric sums...). Raw: never copied to ML tables.
    attributes: dict[str, Any] = field(default_factory=dict)
    # Typed configuration fields; only the allow-listed ones reach an ML row.
    config: dict[str, Any] = field(default_factory=dict)
    parent_id: str | None = None
    parent_kind: str | None = None
    parent_state: str | None = None


@dataclass(frozen=True)
class FindingRef:
    """Points at another finding of the same account and scope: (resource kind, resource id, rule key)."""

    kind: str
    resource_id: str
    scenario: str


@dataclass(frozen=True)
class Detection:
    """A rule's verdict that a resource is waste."""

    scenario: str
    confidence: str  # LOW | MEDIUM | HIGH
    monthly_cost: Decimal
    evidence: dict[str, Any]
    # Set when this finding is a part of another one (a disk of a long-stopped machine): the store
    # links the two, and the parent shows the total of its parts without counting a dollar twice.
    parent: FindingRef | None = None


@dataclass(frozen=True)
class HistorySeries:
    """A metric's full series over the history window (30 days of hourly points, oldest first):
    one slot per period from `start`, None where the cloud has no datapoint (a gap stays a gap)."""

    namespace: str
    metric: str  # the cloud's metric name ("CPUUtilization")
    stat: str
    start: dt.datetime
    period_seconds: int
    values: tuple[float | None, ...]


# Why a finding has no real cost (ML rows' cost_real_missing): a code, never a zero.


@dataclass(frozen=True)
class CostReport:
    """What an account's bill says, read once per scan for its findings (the enricher turns it
    into cost_real_monthly and the cost trends' real spend).

    `daily`: per resource id (as the scanner lists it), its cost on each day of the window that
    has a charge ({date: amount}); a day without a line is absent, not 0. `monthly_spend`: the
    account's spend per calendar month ({first day of the month: amount}; the current month is
    month to date). `source` names where it was read ("aws_cur", "aws_cost_explorer",
    "azure_cost_management"); when nothing could be read, `source` is "" and `missing` says why
    (NO_BILLING_SOURCE, BILLING_UNAVAILABLE) with `note`, a sentence safe to show."""

    source: str = ""
    window_start: dt.date | None = None
    window_end: dt.date | None = None  # exclusive
    daily: dict[str, dict[dt.date, float]] = field(default_factory=dict)
    # resources whose part of the bill could not be read (a subscription that failed): unknown,
    # not "no charge"
    unread: frozenset[str] = frozenset()
    monthly_spend: dict[dt.date, float] = field(default_factory=dict)
    spend_source: str = ""
    currency: str = "USD"
    missing: str = ""
    note: str = ""

    @classmethod
    def unavailable(cls, missing: str, note: str) -> CostReport:
        return cls(missing=missing, note=note[:500])


@dataclass(frozen=True)
class FindingDraft:
    resource: Resource
    detection: Detection
    severity: str


@dataclass
class ScopeOutcome:
    """What scanning one scope (an AWS region, an Azure subscription, a GCP project, an M365 tenant)
    produced. The store turns it into findings in one transaction and resolves what is gone."""

    scope: str
    succeeded: bool  # False when nothing in the scope could be listed (e.g. the region is unreachable)
    error_message: str = ""
    resources_scanned: int = 0
    findings: list[FindingDraft] = field(default_factory=list)
    # Resource kinds listed completely in this scope, and the ones that failed, with why.
    kinds_listed: frozenset[str] = frozenset()
    kind_errors: dict[str, str] = field(default_factory=dict)
    # Rules that raised while evaluating this scope: their findings here are left as they were.
    rule_errors: dict[str, str] = field(default_factory=dict)
    # Rules that ran over complete listings here, with the parameters they ran with. Only a finding
    # of one of these rules may be resolved by this scan; a failed kind never resolves anything.
    rule_params: dict[str, dict[str, Any]] = field(default_factory=dict)
    # (kind, resource id) of every resource listed in this scope: tells "gone" from "changed".
    listed: frozenset[tuple[str, str]] = frozenset()
    # Kinds whose listing could not reach some regions (kind -> those regions): their findings in
    # those regions are left as they were.
    unreached: dict[str, frozenset[str]] = field(default_factory=dict)


def severity_for(monthly_cost: Decimal) -> str:
    """Severity grows with the money at stake per month."""
    if monthly_cost >= 500:
        return "CRITICAL"
    if monthly_cost >= 100:
        return "HIGH"
    if monthly_cost >= 10:
        return "MEDIUM"
    return "LOW"
