"""Region-aware prices for the providers whose resources of one scope span regions (an Azure
subscription, a GCP project): every price is looked up for the resource's own region.

A provider's prices are a folder of tables, one per service group (``data/azure_prices/*.json``,
``data/gcp_prices/*.json``); the file name is the group, the first element of a price's path::

    {"schema_version": 1, "provider": "azure", "group": "compute", "currency": "USD",
     "hours_per_month": 730, "price_date": "2025-11-01",
     "method": "hand-compiled" | "azure-retail-prices-api" | "gcp-cloud-billing-catalog",
     "source": "where the numbers come from, in words",
     "unlisted_regions": {"derived_from": "eastus", "factor": 1.15},
     "regions": {"eastus": {"vm_hour": {"Standard_D2s_v3": 0.096}, ...},
                 "westeurope": {"derived_from": "eastus", "factor": 1.1, "vm_hour": {...}}}}

Derivation works as for AWS (`pricing.resolve_price`): a region lists a price or derives it from
the region named by ``derived_from`` times the innermost ``factor`` on the way down the path.
Each group has its own date and method: a refresh rewrites one group at a time, and a finding's
evidence says which table priced it. Amounts are quantized to 4 places; an unknown price is None
(the rule then reports cost 0 and says so), never an exception.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from functools import cache
from importlib import resources
from typing import Any

from cloudwaste.scanner.pricing import money, resolve_price

SCHEMA_VERSION = 1
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_META = ("schema_version", "provider", "group", "currency", "hours_per_month", "price_date", "method", "source")


class PriceTableError(ValueError):
    pass


def validate_group(table: Any, provider: str, group: str) -> list[str]:
    """Every problem of one group's table (empty when it is valid)."""
    if not isinstance(table, Mapping):
        return [f"{provider}/{group}: not a JSON object"]
    problems = [f"{provider}/{group}: missing {k}" for k in (*_META, "regions") if k not in table]
    if problems:
        return problems
    if table["schema_version"] != SCHEMA_VERSION:
        problems.append(f"{provider}/{group}: schema_version must be {SCHEMA_VERSION}")
    if table["provider"] != provider or table["group"] != group:
        problems.append(f"{provider}/{group}: provider/group say {table['provider']}/{table['group']}")
    if not _DATE.match(str(table["price_date"])):
        problems.append(f"{provider}/{group}: price_date must be YYYY-MM-DD")
    regions = table["regions"]
    if not isinstance(regions, Mapping) or not regions:
        return [*problems, f"{provider}/{group}: regions must be a non-empty object"]
    for name, entry in {**regions, "(unlisted)": table.get("unlisted_regions") or {}}.items():
        base = entry.get("derived_from") if isinstance(entry, Mapping) else None
        if base is not None and (base not in regions or "derived_from" in regions[base]):
            problems.append(f"{provider}/{group}: {name} derives from {base}, which lists no prices")
        if base is not None and "factor" not in entry:
            problems.append(f"{provider}/{group}: {name} derives from {base} without a factor")
    return problems


def load_group(path: Any, provider: str, group: str) -> dict[str, Any]:
    with open(path, encoding="utf-8") if isinstance(path, str) else path.open(encoding="utf-8") as fh:
        table = json.load(fh, parse_float=Decimal)
    problems = validate_group(table, provider, group)
    if problems:
        raise PriceTableError("; ".join(problems[:5]))
    return table


@cache
def shipped_tables(provider: str) -> dict[str, dict[str, Any]]:
    """{group: table} of the provider's shipped price folder (validated)."""
    folder = resources.files("cloudwaste.scanner") / "data" / f"{provider}_prices"
    out = {}
    for entry in sorted(folder.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".json"):
            group = entry.name.removesuffix(".json")
            out[group] = load_group(entry, provider, group)
    return out


class CloudPrices:
    """Every price of one provider. `price(region, group, *path)` is the unit price (per hour,
    GB-month, ...) or None; `evidence(region, group)` what a finding says about its price."""

    def __init__(
        self,
        provider: str,
        tables: Mapping[str, Mapping[str, Any]] | None = None,
        normalize: Callable[[str], str] = lambda region: region,
    ) -> None:
        self.provider = provider
        self.tables = shipped_tables(provider) if tables is None else tables
        # a resource's location as the tables name regions (a GCP zone -> its region)
        self.normalize = normalize

    def _found(self, region: str, group: str, path: tuple[str, ...]) -> tuple[Decimal, bool] | None:
        table = self.tables.get(group)
        if table is None:
            return None
        entry = table["regions"].get(self.normalize(region))
        if entry is None:
            entry = table.get("unlisted_regions") or {}
        return resolve_price(table, entry, path)

    def price(self, region: str, group: str, *path: str) -> Decimal | None:
        found = self._found(region, group, path)
        return None if found is None else found[0]

    def monthly_from_hourly(
        self, region: str, group: str, *path: str, quantity: float | Decimal = 1
    ) -> Decimal | None:
        """`quantity` x the hourly price at `path` x hours_per_month."""
        hourly = self.price(region, group, *path)
        if hourly is None:
            return None
        hours = Decimal(str(self.tables[group]["hours_per_month"]))
        return money(hourly * Decimal(str(quantity)) * hours)

    def monthly(self, region: str, group: str, *path: str, quantity: float | Decimal = 1) -> Decimal | None:
        """`quantity` x the monthly price at `path` (per GB-month, per disk-month, ...)."""
        unit = self.price(region, group, *path)
        return None if unit is None else money(unit * Decimal(str(quantity)))

    def evidence(self, region: str, group: str) -> dict[str, Any]:
        table = self.tables.get(group) or {}
        region = self.normalize(region)
        listed = region in (table.get("regions") or {})
        return {
            "price_date": table.get("price_date"),
            "price_region": region if listed else f"{region} (unlisted: derived)",
            "price_method": table.get("method"),
        }
