"""What the GCP rule modules share: the fixtures' clock and builder, disk prices."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from cloudwaste.scanner.domain import Resource

UTC = dt.UTC
NOW = dt.datetime(2026, 6, 1, tzinfo=UTC)  # the fixtures' "now"
PROJECT = "fixtures-project"


def days_ago(days: float) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


def rounded(x: float | None) -> float | None:
    return None if x is None else round(x, 1)


def path(where: str, collection: str, name: str) -> str:
    """A fixture's resource path: path("zones/europe-west1-b", "disks", "d1")."""
    return f"projects/{PROJECT}/{where}/{collection}/{name}"


def res(kind: str, rid: str, created_days: float, location: str = "europe-west1-b", **attributes) -> Resource:
    """A fixture resource created `created_days` before NOW."""
    return Resource(
        "gcp", kind, rid, location, name=rid.rsplit("/", 1)[-1], created_at=days_ago(created_days),
        attributes=attributes,
    )


def disk_monthly(prices, location: str, disk_type: str, size_gb: int, regional: bool = False) -> Decimal | None:
    """A persistent disk's monthly list price, None when the table does not know its type."""
    table = "regional_disk_gb_month" if regional else "disk_gb_month"
    return prices.monthly(location, "disks", table, disk_type, quantity=size_gb)
