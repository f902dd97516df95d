"""Azure prices from the Azure Retail Prices API (no authentication):

    GET https://prices.azure.com/api/retail/prices?api-version=2023-01-01-preview&$filter=<OData>

answers ``{"BillingCurrency", "CustomerEntityId", "CustomerEntityType", "Items": [...],
"NextPageLink", "Count"}``, an item being one meter's price in one region (``armRegionName``,
``serviceName``, ``productName``, ``skuName``, ``meterName``, ``armSkuName``, ``unitOfMeasure``,
``type``, ``retailPrice``, ``tierMinimumUnits``, ``effectiveStartDate``, ``isPrimaryMeterRegion``,
...). Pages follow ``NextPageLink`` until it is null.

Each component kind below names the filters that return its meters and a classifier that
recognises an item as one component (or not). Filters carry ``priceType eq 'Consumption'`` (no
reservations, no savings plans) and the asked regions; the classifiers keep pay-as-you-go Linux
meters only (no Windows, Spot or Low Priority VM meters), the first tier (``tierMinimumUnits`` 0),
the primary meter region, and the newest ``effectiveStartDate`` when a meter is listed twice.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from decimal import Decimal
from typing import Any

from cloudwaste.scanner.cloud_price_refresh import (
    Component,
    FetchError,
    FetchStats,
    MalformedItem,
    NotRefreshable,
    Path,
    PathMapping,
    Recipe,
    get_json,
    one,
    price_decimal,
    record,
)

API_URL = "https://prices.azure.com"
API_PATH = "/api/retail/prices"
API_VERSION = "2023-01-01-preview"
MAX_PAGES = 2000
VM_BATCH = 10  # armSkuName clauses per request

# --- what each path costs -------------------------------------------------------------------------

_DISK_PRODUCTS = {
    "Premium": "Premium SSD Managed Disks",
    "StandardSSD": "Standard SSD Managed Disks",
    "Standard": "Standard HDD Managed Disks",
}
_PRODUCT_FAMILY = {v: k for k, v in _DISK_PRODUCTS.items()}
_DISK_SKU = re.compile(r"^(Premium|StandardSSD|Standard)_(LRS|ZRS)$")
_DISK_TIER = re.compile(r"^[PES]\d+$")


def _disk(path: Path) -> Recipe | None:
    _, sku, tier = path
    if not _DISK_SKU.match(sku) or not _DISK_TIER.match(tier):
        return None
    return one(("disk", sku, tier))


def _snapshot(path: Path) -> Recipe | None:
    _, sku = path
    return one(("snapshot", sku)) if _DISK_SKU.match(sku) else None


_VM_SIZE = re.compile(r"^(Standard|Basic)_[A-Za-z0-9_]+$")


def _vm(path: Path) -> Recipe | None:
    return one(("vm", path[1])) if _VM_SIZE.match(path[1]) else None


_IP_TIERS = {"Standard": "Standard", "Standard_Global": "Global", "Basic": "Basic"}


def _public_ip(path: Path) -> Recipe | None:
    _, tier, allocation = path
    if tier not in _IP_TIERS or allocation not in ("Static", "Dynamic"):
        return None
    return one(("public_ip", _IP_TIERS[tier], allocation))


_LB_METERS = {
    "first_5_rules": "Standard Included LB Rules and Outbound Rules",
    "additional_rule": "Standard Overage LB Rules and Outbound Rules",
}


def _load_balancer(path: Path) -> Recipe | None:
    _, tier, which = path
    return one(("lb", which)) if tier == "Standard" and which in _LB_METERS else None


_APPGW = re.compile(r"^(Standard|WAF)_(v2|Small|Medium|Large)$")


def _app_gateway(path: Path) -> Recipe | None:
    return one(("appgw", path[1])) if _APPGW.match(path[1]) else None


def _nat(path: Path) -> Recipe | None:
    return one(("nat", "Standard")) if path[1] == "Standard" else None


_PLAN_SKU = re.compile(r"^(B[1-3]|S[1-3]|P[1-3]v2|P[0-3]v3|P[1-5]mv3)$")
_PLAN_PRODUCTS = {"B": "Basic", "S": "Standard", "v2": "Premium v2", "v3": "Premium v3"}
# Elastic Premium (Functions) plans bill per vCPU-hour and GiB-hour of their instance size
_EP_SIZE = {"EP1": (1, Decimal("3.5")), "EP2": (2, Decimal(7)), "EP3": (4, Decimal(14))}


def _plan(path: Path) -> Recipe | None:
    _, os_name, sku = path
    if os_name not in ("windows", "linux"):
        return None
    if sku in _EP_SIZE:
        vcpu, gib = _EP_SIZE[sku]
        return ((("functions", "vcpu"), Decimal(vcpu)), (("functions", "memory"), gib))
    return one(("plan", os_name, sku)) if _PLAN_SKU.match(sku) else None


def _plan_product(sku: str) -> str:
    tier = "v3" if sku.endswith("v3") else "v2" if sku.endswith("v2") else sku[0]
    return f"Azure App Service {_PLAN_PRODUCTS[tier]} Plan"


MAPPINGS: tuple[PathMapping, ...] = (
    PathMapping(
        ("disks", "disk_month", "*", "*"),
        "serviceName eq 'Storage' and productName eq '<Premium SSD|Standard SSD|Standard HDD> Managed Disks': "
        "meterName '<tier> <LRS|ZRS> Disk', unitOfMeasure '1/Month'",
        _disk,
    ),
    PathMapping(
        ("disks", "snapshot_gb_month", "*"),
        "serviceName eq 'Storage' and productName eq '<Standard HDD|Premium SSD> Managed Disks': "
        "meterName '<LRS|ZRS> Snapshots', unitOfMeasure '1 GB/Month'",
        _snapshot,
    ),
    PathMapping(
        ("vms", "vm_hour", "*"),
        "serviceName eq 'Virtual Machines' and armSkuName eq '<size>': the Linux meter (productName without "
        "'Windows', skuName/meterName without 'Spot' or 'Low Priority'), unitOfMeasure '1 Hour'",
        _vm,
    ),
    PathMapping(
        ("network", "public_ip_hour", "*", "*"),
        "serviceName eq 'Virtual Network' and productName eq 'IP Addresses': meterName "
        "'<Standard|Global|Basic> IPv4 <Static|Dynamic> Public IP', unitOfMeasure '1 Hour'",
        _public_ip,
    ),
    PathMapping(
        ("network", "load_balancer_hour", "*", "*"),
        "serviceName eq 'Load Balancer': meterName 'Standard Included LB Rules and Outbound Rules' "
        "(first 5 rules) / 'Standard Overage LB Rules and Outbound Rules', unitOfMeasure '1 Hour'",
        _load_balancer,
    ),
    PathMapping(
        ("network", "application_gateway_hour", "*"),
        "serviceName eq 'Application Gateway': v2 'Application Gateway <Standard|WAF> v2' meterName "
        "'Standard Fixed Cost'; v1 'Application Gateway <Standard|WAF>' meterName '<size> Gateway'",
        _app_gateway,
    ),
    PathMapping(
        ("network", "nat_gateway_hour", "*"),
        "serviceName eq 'NAT Gateway': meterName 'Standard Gateway', unitOfMeasure '1 Hour'",
        _nat,
    ),
    PathMapping(
        ("web", "plan_hour", "*", "*"),
        "serviceName eq 'Azure App Service' and productName eq 'Azure App Service <tier> Plan[ - Linux]': "
        "skuName '<sku>' (e.g. 'P1 v3'); EP1-3: serviceName eq 'Functions' 'Premium vCPU Duration' x vCPUs "
        "+ 'Premium Memory Duration' x GiB",
        _plan,
    ),
)
NOT_REFRESHABLE: tuple[NotRefreshable, ...] = ()


# --- which requests, and which item is which component ---------------------------------------------


def _q(value: str) -> str:
    return "'" + value.replace("'", "''") + "'"


def filters_for(components: Iterable[Component]) -> list[str]:
    """The OData filters (without the region clause) whose items price `components`."""
    out: dict[str, None] = {}
    vms: list[str] = []
    for c in sorted(set(components)):
        kind = c[0]
        if kind in ("disk", "snapshot"):
            family = _DISK_SKU.match(c[1]).group(1)
            out[
                f"serviceName eq 'Storage' and priceType eq 'Consumption' and productName eq {_q(_DISK_PRODUCTS[family])}"
            ] = None
        elif kind == "vm":
            vms.append(c[1])
        elif kind == "public_ip":
            out[
                "serviceName eq 'Virtual Network' and priceType eq 'Consumption' and productName eq 'IP Addresses'"
            ] = None
        elif kind == "lb":
            out["serviceName eq 'Load Balancer' and priceType eq 'Consumption'"] = None
        elif kind == "appgw":
            out["serviceName eq 'Application Gateway' and priceType eq 'Consumption'"] = None
        elif kind == "nat":
            out["serviceName eq 'NAT Gateway' and priceType eq 'Consumption'"] = None
        elif kind == "plan":
            product = _plan_product(c[2]) + (" - Linux" if c[1] == "linux" else "")
            out[
                f"serviceName eq 'Azure App Service' and priceType eq 'Consumption' and productName eq {_q(product)}"
            ] = None
        elif kind == "functions":
            out["serviceName eq 'Functions' and priceType eq 'Consumption'"] = None
    for i in range(0, len(vms), VM_BATCH):
        sizes = " or ".join(f"armSkuName eq {_q(s)}" for s in vms[i : i + VM_BATCH])
        out[f"serviceName eq 'Virtual Machines' and priceType eq 'Consumption' and ({sizes})"] = None
    return list(out)


def region_clause(regions: Sequence[str]) -> str:
    return "(" + " or ".join(f"armRegionName eq {_q(r)}" for r in regions) + ")"


_DISK_METER = re.compile(r"^([PES]\d+) (LRS|ZRS) Disks?$")
_SNAPSHOT_METER = re.compile(r"^(LRS|ZRS) Snapshots?$")
_IP_METER = re.compile(r"^(Standard|Global|Basic) IPv4 (Static|Dynamic) Public IP$")
_APPGW_V2 = {"Application Gateway Standard v2": "Standard_v2", "Application Gateway WAF v2": "WAF_v2"}
_APPGW_V1 = {"Application Gateway Standard": "Standard", "Application Gateway WAF": "WAF"}
_APPGW_V1_METER = re.compile(r"^(Small|Medium|Large) Gateway$")
_PLAN_PRODUCT = re.compile(r"^Azure App Service (Basic|Standard|Premium v2|Premium v3) Plan( - Linux)?$")
_HOUR = ("1 Hour", "1/Hour")
_LB_BY_METER = {v: k for k, v in _LB_METERS.items()}


def classify(item: Mapping[str, Any]) -> Component | None:
    """The component one Retail Prices item prices, or None."""
    service = item.get("serviceName")
    product = str(item.get("productName", ""))
    meter = str(item.get("meterName", ""))
    sku = str(item.get("skuName", ""))
    unit = item.get("unitOfMeasure")
    if service == "Storage" and product in _PRODUCT_FAMILY:
        family = _PRODUCT_FAMILY[product]
        if (m := _DISK_METER.match(meter)) and unit == "1/Month" and sku == f"{m.group(1)} {m.group(2)}":
            return ("disk", f"{family}_{m.group(2)}", m.group(1))
        if (m := _SNAPSHOT_METER.match(meter)) and unit == "1 GB/Month":
            return ("snapshot", f"{family}_{m.group(1)}")
        return None
    if service == "Virtual Machines":
        size = item.get("armSkuName")
        text = f"{sku} {meter}"
        if (
            size
            and unit in _HOUR
            and "Windows" not in product
            and "Spot" not in text
            and "Low Priority" not in text
        ):
            return ("vm", str(size))
        return None
    if service == "Virtual Network" and product == "IP Addresses" and unit in _HOUR:
        if m := _IP_METER.match(meter):
            return ("public_ip", m.group(1), m.group(2))
        return None
    if service == "Load Balancer" and unit in _HOUR and meter in _LB_BY_METER:
        return ("lb", _LB_BY_METER[meter])
    if service == "Application Gateway" and unit in _HOUR:
        if product in _APPGW_V2 and meter == "Standard Fixed Cost":
            return ("appgw", _APPGW_V2[product])
        if product in _APPGW_V1 and (m := _APPGW_V1_METER.match(meter)):
            return ("appgw", f"{_APPGW_V1[product]}_{m.group(1)}")
        return None
    if service == "NAT Gateway" and meter == "Standard Gateway" and unit in _HOUR:
        return ("nat", "Standard")
    if service == "Azure App Service" and unit in _HOUR and (m := _PLAN_PRODUCT.match(product)):
        name = sku.replace(" ", "")
        if meter in (sku, f"{sku} App", name):
            return ("plan", "linux" if m.group(2) else "windows", name)
        return None
    if service == "Functions":
        if meter == "Premium vCPU Duration" and unit in _HOUR:
            return ("functions", "vcpu")
        if meter == "Premium Memory Duration" and unit == "1 GiB Hour":
            return ("functions", "memory")
    return None


def read_item(item: Any) -> tuple[str, Decimal, str] | None:
    """(region, price, effective date) of one item; MalformedItem when it cannot be read, None when
    it is not a first-tier primary USD consumption price."""
    if not isinstance(item, Mapping):
        raise MalformedItem("not an object")
    region = item.get("armRegionName")
    if not isinstance(region, str):
        raise MalformedItem("no armRegionName")
    price = price_decimal(item.get("retailPrice"), "retailPrice")
    if item.get("currencyCode", "USD") != "USD":
        raise MalformedItem("not USD")
    if item.get("type", "Consumption") != "Consumption" or item.get("isPrimaryMeterRegion") is False:
        return None
    if price_decimal(item.get("tierMinimumUnits", 0), "tierMinimumUnits") != 0:
        return None
    return region, price, str(item.get("effectiveStartDate", ""))


class Fetcher:
    def __init__(self, endpoint_url: str | None = None, session=None, api_key: str | None = None) -> None:
        import requests

        self.base = (endpoint_url or API_URL).rstrip("/")
        self.session = session or requests.Session()

    def pages(self, odata: str, stats: FetchStats) -> Iterable[list[Any]]:
        url: str | None = self.base + API_PATH
        params: dict[str, str] | None = {"api-version": API_VERSION, "$filter": odata}
        seen: set[str] = set()
        while url:
            body = get_json(self.session, url, params, stats, f"Retail Prices API {odata!r}")
            if not isinstance(body, Mapping) or not isinstance(body.get("Items"), list):
                raise FetchError(f"Retail Prices API {odata!r}: an answer without Items")
            yield body["Items"]
            link = body.get("NextPageLink")
            if not link or link in seen or len(seen) >= MAX_PAGES:
                return
            seen.add(link)
            url, params = link, None

    def fetch(
        self, components: set[Component], regions: Sequence[str], stats: FetchStats
    ) -> tuple[dict[str, dict[Component, Decimal]], str]:
        found: dict[str, dict[Component, tuple[str, Decimal]]] = {}
        wanted_regions = set(regions)
        filters = filters_for(components)
        for odata in filters:
            full = f"{odata} and {region_clause(sorted(wanted_regions))}"
            for items in self.pages(full, stats):
                for item in items:
                    try:
                        read = read_item(item)
                    except MalformedItem as exc:
                        stats.bad(str(exc))
                        continue
                    stats.items += 1
                    if read is None:
                        continue
                    region, price, stamp = read
                    component = classify(item)
                    if component in components and region in wanted_regions:
                        record(found, region, component, price, stamp, stats)
        priced = {r: {c: p for c, (_, p) in prices.items()} for r, prices in found.items()}
        source = (
            f"Azure Retail Prices API ({API_URL}{API_PATH}, api-version {API_VERSION}), pay-as-you-go "
            "(priceType 'Consumption') USD list prices of the primary meter region, first tier; Linux VM meters "
            "(no Windows, Spot or Low Priority). $filter clauses asked, each with the regions: "
            + "; ".join(_dedupe(_short(f) for f in filters))
            + "."
        )
        return priced, source


def _short(odata: str) -> str:
    if "armSkuName eq" in odata:
        return (
            "serviceName eq 'Virtual Machines' and priceType eq 'Consumption' and armSkuName eq '<each size>'"
        )
    return odata


def _dedupe(values: Iterable[str]) -> list[str]:
    return list(dict.fromkeys(values))
