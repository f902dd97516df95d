"""Coarse region groups, so that no ML table ever holds a raw cloud region.

A raw region ("eu-central-2", "swedencentral", "me-central2") narrows a customer down
to a country, sometimes to a city. Everything that leaves for training therefore carries
only a region *group* from a small closed vocabulary, looked up in an explicit table
(``data/region_groups.json``) that lists every public AWS, Azure and GCP region.

The lookup never raises and never returns its input: anything it cannot place is
``"unknown"``, and global (region-less) resources are ``"global"``.
"""

from __future__ import annotations

import functools
import importlib.resources
import json
import re
from collections.abc import Mapping

__all__ = ["GLOBAL", "PROVIDERS", "REGION_GROUPS", "UNKNOWN", "known_regions", "region_group"]

GLOBAL = "global"
UNKNOWN = "unknown"

#: The groups the table may assign, in the order the JSON file lists them.
_TABLE_GROUPS: tuple[str, ...] = (
    "north-america",
    "south-america",
    "europe",
    "middle-east",
    "africa",
    "asia-pacific",
    "china",
    "government",
)

#: Every value :func:`region_group` can return.
REGION_GROUPS: tuple[str, ...] = (*_TABLE_GROUPS, GLOBAL, UNKNOWN)

#: Providers with a region table; ``m365`` is tenant-wide and always ``"global"``.
PROVIDERS: tuple[str, ...] = ("aws", "azure", "gcp", "m365")

_TABLE_PROVIDERS = ("aws", "azure", "gcp")

# Region spellings that mean "not tied to a region".
_GLOBAL_ALIASES = frozenset({"", "global", "aws-global"})

# Longer strings are not regions; refuse them before any pattern work.
_MAX_REGION_LEN = 64

# AWS availability zone ("eu-west-1a"), Local Zone ("us-east-1-bos-1a") or Wavelength
# zone ("us-east-1-wl1-bos-wlz-1"): the parent region is the leading "<prefix>-...-<n>".
_AWS_ZONE = re.compile(r"(?P<region>[a-z]{2,4}(?:-[a-z]+)+-\d+)(?:[a-z]|(?:-[a-z0-9]+)+)?")
# GCP zone: "<region>-<zone>", e.g. "europe-west1-b" or "us-central1-ai1a".
_GCP_ZONE = re.compile(r"(?P<region>[a-z]+(?:-[a-z]+)*\d+)-[a-z0-9]+")
# Azure location as ARM spells it, optionally with a physical zone ("westus-az1").
_AZURE_LOCATION = re.compile(r"(?P<region>[a-z]+\d*)(?:-az\d+)?")
# Azure regional display names carry a geography prefix: "(Europe) West Europe".
_AZURE_GEO_PREFIX = re.compile(r"^\([^)]*\)")


@functools.cache
def _table() -> Mapping[str, Mapping[str, str]]:
    """Load and validate ``data/region_groups.json`` (once per process)."""
    resource = importlib.resources.files("cloudwaste.core") / "data" / "region_groups.json"
    raw = json.loads(resource.read_text(encoding="utf-8"))
    if raw.get("schema_version") != 1:
        raise ValueError(f"region_groups.json: unsupported schema_version {raw.get('schema_version')!r}")
    if tuple(raw.get("groups", ())) != _TABLE_GROUPS:
        raise ValueError("region_groups.json: 'groups' differs from the groups this module knows")
    regions = raw.get("regions", {})
    table: dict[str, dict[str, str]] = {}
    for provider in _TABLE_PROVIDERS:
        entries = regions.get(provider)
        if not isinstance(entries, dict) or not entries:
            raise ValueError(f"region_groups.json: no regions for provider {provider!r}")
        for name, group in entries.items():
            if group not in _TABLE_GROUPS:
                raise ValueError(f"region_groups.json: {provider}/{name} maps to unknown group {group!r}")
            if name != name.strip().lower() or name in _GLOBAL_ALIASES:
                raise ValueError(f"region_groups.json: {provider} region {name!r} is not a normalized name")
        table[provider] = dict(entries)
    return table


def _lookup_aws(region: str, table: Mapping[str, str]) -> str | None:
    if region in table:
        return table[region]
    match = _AWS_ZONE.fullmatch(region)
    return table.get(match["region"]) if match else None


def _lookup_azure(region: str, table: Mapping[str, str]) -> str | None:
    # Accept the display name ("West Europe") and the regional display name
    # ("(Europe) West Europe") as well as the ARM name ("westeurope").
    region = "".join(_AZURE_GEO_PREFIX.sub("", region).split())
    if region in table:
        return table[region]
    match = _AZURE_LOCATION.fullmatch(region)
    return table.get(match["region"]) if match else None


def _lookup_gcp(region: str, table: Mapping[str, str]) -> str | None:
    if region in table:
        return table[region]
    match = _GCP_ZONE.fullmatch(region)
    return table.get(match["region"]) if match else None


_LOOKUPS = {"aws": _lookup_aws, "azure": _lookup_azure, "gcp": _lookup_gcp}


def region_group(provider: str, region: str) -> str:
    """Return the coarse group of ``region`` at ``provider``; one of :data:`REGION_GROUPS`.

    ``provider`` is ``"aws"``, ``"azure"``, ``"gcp"`` or ``"m365"`` (any case). The region
    is stripped and lower-cased; Azure display names lose their spaces ("West Europe" is
    "westeurope"), AWS availability/Local zones and GCP zones resolve through their parent
    region ("eu-west-1a" is "eu-west-1", "europe-west1-b" is "europe-west1").

    An empty region, ``"global"`` and any Microsoft 365 resource give ``"global"``; an
    unrecognised provider or region gives ``"unknown"``. The function never raises and
    never returns any part of its input.
    """
    if not isinstance(provider, str) or not isinstance(region, str):
        return UNKNOWN
    provider = provider.strip().lower()
    if provider == "m365":
        return GLOBAL
    lookup = _LOOKUPS.get(provider)
    if lookup is None:
        return UNKNOWN
    if len(region) > _MAX_REGION_LEN:
        return UNKNOWN
    normalized = region.strip().lower()
    if normalized in _GLOBAL_ALIASES:
        return GLOBAL
    group = lookup(normalized, _table()[provider])
    # Only ever hand back a member of the closed vocabulary.
    return group if group in _TABLE_GROUPS else UNKNOWN


def known_regions(provider: str) -> frozenset[str]:
    """Return the normalized region names the table lists for ``provider``.

    Empty for ``"m365"`` (which has no regions) and for providers without a table.
    """
    if not isinstance(provider, str):
        return frozenset()
    table = _table().get(provider.strip().lower())
    return frozenset(table) if table else frozenset()
