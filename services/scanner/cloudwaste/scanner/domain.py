"""Scanner domain values: what a provider lists and what a rule decides. No gRPC, no SQL."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any


@dataclass(frozen=True)
class Resource:
    """One cloud resource as listed once per region; every rule evaluates these."""

    provider: str  # "aws"
    kind: str  # e.g. "aws.ec2.volume"
    resource_id: str
    region: str
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
class Detection:
    """A rule's verdict that a resource is waste."""

    scenario: str
    confidence: str  # LOW | MEDIUM | HIGH
    monthly_cost: Decimal
    evidence: dict[str, Any]


@dataclass(frozen=True)
class FindingDraft:
    resource: Resource
    detection: Detection
    severity: str


@dataclass
class RegionOutcome:
    region: str
    succeeded: bool
    error_message: str = ""
    resources_scanned: int = 0
    findings: list[FindingDraft] = field(default_factory=list)


def severity_for(monthly_cost: Decimal) -> str:
    """Severity grows with the money at stake per month."""
    if monthly_cost >= 500:
        return "CRITICAL"
    if monthly_cost >= 100:
        return "HIGH"
    if monthly_cost >= 10:
        return "MEDIUM"
    return "LOW"
