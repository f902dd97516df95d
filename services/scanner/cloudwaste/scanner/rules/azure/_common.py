"""What the Azure rule modules share: the fixtures' clock and builder, disk tiers and prices."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

from cloudwaste.scanner.domain import Resource

UTC = dt.UTC
NOW = dt.datetime(2026, 6, 1, tzinfo=UTC)  # the fixtures' "now"
SUB = "00000000-0000-0000-0000-0000000000f1"  # the fixtures' subscription


def days_ago(days: float) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


def rounded(x: float | None) -> float | None:
    return None if x is None else round(x, 1)


def arm(type_path: str, name: str, group: str = "rg-fixtures") -> str:
    """A fixture's ARM id (lower case, as listings give them): arm("Microsoft.Compute/disks", "d1")."""
    return f"/subscriptions/{SUB}/resourcegroups/{group}/providers/{type_path}/{name}".lower()


def res(kind: str, rid: str, created_days: float, location: str = "westeurope", **attributes) -> Resource:
    """A fixture resource created `created_days` before NOW."""
    return Resource(
        "azure", kind, rid, location, name=rid.rsplit("/", 1)[-1], created_at=days_ago(created_days),
        attributes=attributes,
    )


# Managed disk performance tiers: (tier size in GiB, tier number); a disk bills as the smallest
# tier at least its size. Standard HDD starts at S4 (smaller disks bill as S4).
_TIERS = (
    (4, "1"), (8, "2"), (16, "3"), (32, "4"), (64, "6"), (128, "10"), (256, "15"), (512, "20"),
    (1024, "30"), (2048, "40"), (4096, "50"), (8192, "60"), (16384, "70"), (32767, "80"),
)
_TIER_LETTER = {"Premium": "P", "StandardSSD": "E", "Standard": "S"}


def disk_tier(sku: str | None, size_gb: int) -> str | None:
    """The billing tier of a managed disk ("P10" for a 100 GiB Premium_LRS), None when the SKU
    is not tiered (PremiumV2_LRS and UltraSSD_LRS bill per GiB, IOPS and throughput)."""
    family = (sku or "").split("_")[0]
    letter = _TIER_LETTER.get(family)
    if letter is None:
        return None
    for size, number in _TIERS:
        if size_gb <= size and not (letter == "S" and size < 32):
            return f"{letter}{number}"
    return f"{letter}80"


def disk_monthly(prices, region: str, sku: str | None, size_gb: int) -> Decimal | None:
    """A managed disk's monthly list price, None when the table does not know its SKU or tier."""
    tier = disk_tier(sku, size_gb)
    if tier is None or sku is None:
        return None
    return prices.monthly(region, "disks", "disk_month", sku, tier)
