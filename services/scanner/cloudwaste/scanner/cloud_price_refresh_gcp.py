"""GCP prices from the Cloud Billing Catalog API:

    GET https://cloudbilling.googleapis.com/v1/services/{serviceId}/skus?key=API_KEY&currencyCode=USD

(or with OAuth: Application Default Credentials through google-auth's AuthorizedSession) answers
``{"skus": [{name, skuId, description, category{serviceDisplayName, resourceFamily,
resourceGroup, usageType}, serviceRegions[], pricingInfo[{effectiveTime, pricingExpression{
usageUnit, baseUnit, baseUnitConversionFactor, tieredRates[{startUsageAmount, unitPrice{
currencyCode, units, nanos}}]}}], serviceProviderName}], "nextPageToken"}``; pages follow
``pageToken`` until the token is empty. The catalog cannot be filtered: a service's SKUs are read
once per run (Compute Engine 6F81-5844-456A for the compute, disks and network groups, Cloud SQL
9662-B51E-5089 for sql) and shared by the groups.

A SKU prices a component when its ``category.usageType`` is ``OnDemand`` (no Preemptible/Spot, no
commitments), its description matches the component's pattern and its ``usageUnit`` is the one
expected; its price is the first non-zero tier (``units`` + ``nanos``/1e9, USD) of its newest
``pricingInfo``, for every region in ``serviceRegions``. A machine type is its series' vCPU-hour x
vCPUs + GiB-hour x GiB of memory (predefined types only; e2 shared-core types at their fractional
vCPU: e2-micro 0.25, e2-small 0.5, e2-medium 1).
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping, Sequence
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

API_URL = "https://cloudbilling.googleapis.com"
COMPUTE = "6F81-5844-456A"
CLOUD_SQL = "9662-B51E-5089"
SERVICE_NAMES = {COMPUTE: "Compute Engine", CLOUD_SQL: "Cloud SQL"}
API_KEY_ENV = "CLOUDWASTE_GCP_API_KEY"
SCOPES = ("https://www.googleapis.com/auth/cloud-billing.readonly",)
PAGE_SIZE = 5000
MAX_PAGES = 500

# --- machine types ----------------------------------------------------------------------------------

# series -> (the description prefix of its "<prefix> Core|Ram running in <location>" SKUs,
#            GiB of memory per vCPU by predefined class)
SERIES: dict[str, tuple[str, dict[str, Decimal]]] = {
    "e2": ("E2 Instance", {"standard": Decimal(4), "highmem": Decimal(8), "highcpu": Decimal(1)}),
    "n1": (
        "N1 Predefined Instance",
        {"standard": Decimal("3.75"), "highmem": Decimal("6.5"), "highcpu": Decimal("0.9")},
    ),
    "n2": ("N2 Instance", {"standard": Decimal(4), "highmem": Decimal(8), "highcpu": Decimal(1)}),
    "n2d": ("N2D AMD Instance", {"standard": Decimal(4), "highmem": Decimal(8), "highcpu": Decimal(1)}),
    "c2": ("Compute optimized", {"standard": Decimal(4)}),
    "c2d": ("C2D AMD Instance", {"standard": Decimal(4), "highmem": Decimal(8), "highcpu": Decimal(2)}),
    "c3": ("C3 Instance", {"standard": Decimal(4), "highmem": Decimal(8), "highcpu": Decimal(2)}),
    "n4": ("N4 Instance", {"standard": Decimal(4), "highmem": Decimal(8), "highcpu": Decimal(2)}),
    "t2d": ("T2D AMD Instance", {"standard": Decimal(4)}),
}
SHARED_CORE = {  # (series, vCPUs billed, GiB)
    "e2-micro": ("e2", Decimal("0.25"), Decimal(1)),
    "e2-small": ("e2", Decimal("0.5"), Decimal(2)),
    "e2-medium": ("e2", Decimal(1), Decimal(4)),
}
_MACHINE = re.compile(r"^([a-z0-9]+)-(standard|highmem|highcpu)-(\d+)$")


def machine_spec(name: str) -> tuple[str, Decimal, Decimal] | None:
    """(series, vCPUs, GiB) of a predefined machine type, or None."""
    if name in SHARED_CORE:
        return SHARED_CORE[name]
    m = _MACHINE.match(name)
    if not m or m.group(1) not in SERIES or m.group(2) not in SERIES[m.group(1)][1]:
        return None
    vcpus = Decimal(m.group(3))
    return m.group(1), vcpus, vcpus * SERIES[m.group(1)][1][m.group(2)]


def _machine(path: Path) -> Recipe | None:
    if path[1] in ("f1-micro", "g1-small"):
        return one(("shared_core", path[1]))
    spec = machine_spec(path[1])
    if spec is None:
        return None
    series, vcpus, gib = spec
    return ((("core", series), vcpus), (("ram", series), gib))


def _static_ip(path: Path) -> Recipe | None:
    # a static address unused or on a stopped VM bills the "Static Ip Charge"; in use by a running
    # VM, the "External IP Charge on a Standard VM"
    return {
        "unused": one(("static_ip",)),
        "on_stopped_vm": one(("static_ip",)),
        "in_use": one(("ip_in_use",)),
    }.get(path[1])


def _keyed(kind: str, keys: Sequence[str]):
    def recipe(path: Path) -> Recipe | None:
        return one((kind, path[-1])) if path[-1] in keys else None

    return recipe


def _fixed(component: Component):
    return lambda path: one(component)


MAPPINGS: tuple[PathMapping, ...] = (
    PathMapping(
        ("compute", "machine_hour", "*"),
        "Compute Engine '<series> Core running in <location>' (h) x vCPUs + '<series> Ram running in <location>' "
        "(GiBy.h) x GiB, e.g. 'N2 Instance Core', 'E2 Instance Ram', 'Compute optimized Core'; f1-micro/g1-small "
        "their own 'Micro Instance with burstable CPU' / 'Small Instance with 1 VCPU' SKUs",
        _machine,
    ),
    PathMapping(
        ("compute", "static_ip_hour", "*"),
        "Compute Engine 'Static Ip Charge' (unused, on a stopped VM) / 'External IP Charge on a Standard VM' "
        "(in use), h",
        _static_ip,
    ),
    PathMapping(
        ("disks", "disk_gb_month", "*"),
        "Compute Engine '<Storage|Balanced|SSD backed|Extreme> PD Capacity', GiBy.mo",
        _keyed("pd", ("pd-standard", "pd-balanced", "pd-ssd", "pd-extreme")),
    ),
    PathMapping(
        ("disks", "regional_disk_gb_month", "*"),
        "Compute Engine 'Regional <Storage|Balanced|SSD backed> PD Capacity', GiBy.mo",
        _keyed("regional_pd", ("pd-standard", "pd-balanced", "pd-ssd")),
    ),
    PathMapping(
        ("disks", "snapshot_gb_month", "*"),
        "Compute Engine 'Storage PD Snapshot' (standard) / 'Archive Snapshot' (archive), GiBy.mo, in the "
        "snapshot's region or multi-region (us, eu, asia)",
        _keyed("snapshot", ("standard", "archive")),
    ),
    PathMapping(("disks", "image_gb_month"), "Compute Engine 'Storage Image', GiBy.mo", _fixed(("image",))),
    PathMapping(
        ("network", "forwarding_rule_hour", "*"),
        "Compute Engine 'Network Load Balancing: Forwarding Rule Minimum Service Charge' (first five) / "
        "'... Additional Service Charge', h",
        lambda path: {"first_five": one(("fr", "minimum")), "additional": one(("fr", "additional"))}.get(
            path[1]
        ),
    ),
    PathMapping(
        ("network", "nat_gateway_vm_hour"),
        "Compute Engine 'NAT Gateway: Uptime charge', h",
        _fixed(("nat_vm",)),
    ),
    PathMapping(
        ("network", "nat_data_gb"),
        "Compute Engine 'NAT Gateway: Data processing charge', GiBy",
        _fixed(("nat_gb",)),
    ),
    PathMapping(
        ("network", "external_ip_in_use_hour"),
        "Compute Engine 'External IP Charge on a Standard VM', h",
        _fixed(("ip_in_use",)),
    ),
    PathMapping(
        ("network", "static_ip_unused_hour"), "Compute Engine 'Static Ip Charge', h", _fixed(("static_ip",))
    ),
    PathMapping(
        ("sql", "vcpu_hour"), "Cloud SQL 'Cloud SQL for MySQL: Zonal - vCPU', h", _fixed(("sql", "vcpu"))
    ),
    PathMapping(
        ("sql", "memory_gb_hour"),
        "Cloud SQL 'Cloud SQL for MySQL: Zonal - RAM', GiBy.h",
        _fixed(("sql", "ram")),
    ),
    PathMapping(
        ("sql", "shared_core_hour", "*"),
        "Cloud SQL 'Cloud SQL for MySQL: Zonal - Micro instance' (db-f1-micro) / '... Small instance' (db-g1-small), h",
        lambda path: {"db-f1-micro": one(("sql", "micro")), "db-g1-small": one(("sql", "small"))}.get(
            path[1]
        ),
    ),
    PathMapping(
        ("sql", "storage_gb_month", "*"),
        "Cloud SQL 'Cloud SQL for MySQL: Zonal - Standard storage' (PD_SSD) / '... Low cost storage' (PD_HDD), GiBy.mo",
        lambda path: {"PD_SSD": one(("sql", "ssd")), "PD_HDD": one(("sql", "hdd"))}.get(path[1]),
    ),
    PathMapping(
        ("sql", "ip_address_idle_hour"), "Cloud SQL 'IP address idling' (h)", _fixed(("sql", "ip_idle"))
    ),
)
NOT_REFRESHABLE: tuple[NotRefreshable, ...] = (
    NotRefreshable(
        ("network", "nat_gateway_max_hour"),
        "the $0.044/h cap from 32 VMs on is stated on cloud.google.com/nat/pricing only; the catalog lists "
        "the per-VM uptime SKU, not the cap",
    ),
)


# --- which SKU is which component --------------------------------------------------------------------

_IN = r"(?: (?:running )?in .+)?$"
_SERIES_BY_PREFIX = {prefix: series for series, (prefix, _) in SERIES.items()}
_CORE_RAM = re.compile(
    r"^(" + "|".join(re.escape(p) for p in _SERIES_BY_PREFIX) + r") (Core|Ram) running in .+$"
)
_PD_KINDS = {
    "Storage": "pd-standard",
    "Balanced": "pd-balanced",
    "SSD backed": "pd-ssd",
    "Extreme": "pd-extreme",
}
# (pattern, usageUnit, service, component or a function of the match)
_PATTERNS: tuple[tuple[re.Pattern[str], str, str, Any], ...] = (
    (re.compile(r"^Micro Instance with burstable CPU" + _IN), "h", COMPUTE, ("shared_core", "f1-micro")),
    (re.compile(r"^Small Instance with 1 VCPU" + _IN), "h", COMPUTE, ("shared_core", "g1-small")),
    (
        re.compile(r"^(Regional )?(Storage|Balanced|SSD backed|Extreme) PD Capacity" + _IN),
        "GiBy.mo",
        COMPUTE,
        lambda m: ("regional_pd" if m.group(1) else "pd", _PD_KINDS[m.group(2)]),
    ),
    (
        re.compile(r"^(?:Multi-regional |Regional )?Storage PD Snapshot" + _IN, re.I),
        "GiBy.mo",
        COMPUTE,
        ("snapshot", "standard"),
    ),
    (
        re.compile(r"^(?:Multi-regional |Regional )?Archive Snapshot" + _IN, re.I),
        "GiBy.mo",
        COMPUTE,
        ("snapshot", "archive"),
    ),
    (re.compile(r"^Storage Image" + _IN), "GiBy.mo", COMPUTE, ("image",)),
    (re.compile(r"^Static Ip Charge" + _IN, re.I), "h", COMPUTE, ("static_ip",)),
    (re.compile(r"^External IP Charge on a Standard VM" + _IN, re.I), "h", COMPUTE, ("ip_in_use",)),
    (
        re.compile(r"^Network Load Balancing: Forwarding Rule (Minimum|Additional) Service Charge" + _IN),
        "h",
        COMPUTE,
        lambda m: ("fr", m.group(1).lower()),
    ),
    (re.compile(r"^(?:Cloud )?NAT Gateway: Uptime charge" + _IN, re.I), "h", COMPUTE, ("nat_vm",)),
    (
        re.compile(r"^(?:Cloud )?NAT Gateway: Data processing charge" + _IN, re.I),
        "GiBy",
        COMPUTE,
        ("nat_gb",),
    ),
    (re.compile(r"^Cloud SQL for MySQL: Zonal - vCPU" + _IN), "h", CLOUD_SQL, ("sql", "vcpu")),
    (re.compile(r"^Cloud SQL for MySQL: Zonal - RAM" + _IN), "GiBy.h", CLOUD_SQL, ("sql", "ram")),
    (re.compile(r"^Cloud SQL for MySQL: Zonal - Micro instance" + _IN), "h", CLOUD_SQL, ("sql", "micro")),
    (re.compile(r"^Cloud SQL for MySQL: Zonal - Small instance" + _IN), "h", CLOUD_SQL, ("sql", "small")),
    (
        re.compile(r"^Cloud SQL for MySQL: Zonal - Standard storage" + _IN),
        "GiBy.mo",
        CLOUD_SQL,
        ("sql", "ssd"),
    ),
    (
        re.compile(r"^Cloud SQL for MySQL: Zonal - Low cost storage" + _IN),
        "GiBy.mo",
        CLOUD_SQL,
        ("sql", "hdd"),
    ),
    (
        re.compile(r"^(?:Cloud SQL: )?IP address idling(?: - hour)?" + _IN, re.I),
        "h",
        CLOUD_SQL,
        ("sql", "ip_idle"),
    ),
)


def service_of(component: Component) -> str:
    return CLOUD_SQL if component[0] == "sql" else COMPUTE


def classify(sku: Mapping[str, Any], service: str, unit: str) -> Component | None:
    """The component an OnDemand SKU of `service` with usage unit `unit` prices, or None."""
    description = str(sku.get("description", ""))
    if service == COMPUTE and (m := _CORE_RAM.match(description)):
        kind = "core" if m.group(2) == "Core" else "ram"
        if unit == ("h" if kind == "core" else "GiBy.h"):
            return (kind, _SERIES_BY_PREFIX[m.group(1)])
        return None
    for pattern, expected_unit, svc, component in _PATTERNS:
        if svc == service and (m := pattern.match(description)):
            if unit != expected_unit:
                return None
            return component(m) if callable(component) else component
    return None


def read_sku(sku: Any) -> tuple[list[str], Decimal, str, str] | None:
    """(regions, price, unit, effective time) of one SKU; MalformedItem when unreadable, None when it
    is not an OnDemand SKU."""
    if not isinstance(sku, Mapping):
        raise MalformedItem("not an object")
    category = sku.get("category")
    if not isinstance(category, Mapping) or not isinstance(sku.get("description"), str):
        raise MalformedItem("no category or description")
    if category.get("usageType") != "OnDemand":
        return None
    regions = sku.get("serviceRegions")
    if not isinstance(regions, list) or not all(isinstance(r, str) for r in regions):
        raise MalformedItem("no serviceRegions")
    infos = sku.get("pricingInfo")
    if not isinstance(infos, list) or not infos or not all(isinstance(i, Mapping) for i in infos):
        raise MalformedItem("no pricingInfo")
    info = max(infos, key=lambda i: str(i.get("effectiveTime", "")))
    expression = info.get("pricingExpression")
    if not isinstance(expression, Mapping) or not isinstance(expression.get("tieredRates"), list):
        raise MalformedItem("no pricingExpression.tieredRates")
    rates = []
    for rate in expression["tieredRates"]:
        if not isinstance(rate, Mapping) or not isinstance(rate.get("unitPrice"), Mapping):
            raise MalformedItem("a tier without unitPrice")
        money = rate["unitPrice"]
        if money.get("currencyCode", "USD") != "USD":
            raise MalformedItem("not USD")
        units = price_decimal(money.get("units", "0"), "unitPrice.units")
        nanos = price_decimal(money.get("nanos", 0), "unitPrice.nanos")
        start = price_decimal(rate.get("startUsageAmount", 0), "startUsageAmount")
        rates.append((start, units + nanos / Decimal(1_000_000_000)))
    if not rates:
        raise MalformedItem("no tieredRates")
    rates.sort()
    price = next((p for _, p in rates if p > 0), rates[0][1])
    return (
        regions,
        price.normalize(),
        str(expression.get("usageUnit", "")),
        str(info.get("effectiveTime", "")),
    )


class Fetcher:
    def __init__(self, endpoint_url: str | None = None, session=None, api_key: str | None = None) -> None:
        self.base = (endpoint_url or API_URL).rstrip("/")
        self.api_key = api_key or os.environ.get(API_KEY_ENV) or None
        self._session = session
        self._skus: dict[str, list[Any] | FetchError] = {}

    @property
    def session(self):
        if self._session is None:
            if self.api_key:
                import requests

                self._session = requests.Session()
            else:
                self._session = _adc_session()
        return self._session

    def skus(self, service: str, stats: FetchStats) -> list[Any]:
        """Every SKU of `service` (read once per run; a failure is remembered)."""
        cached = self._skus.get(service)
        if isinstance(cached, FetchError):
            raise cached
        if cached is not None:
            return cached
        out: list[Any] = []
        token = ""
        url = f"{self.base}/v1/services/{service}/skus"
        try:
            for _ in range(MAX_PAGES):
                params = {"currencyCode": "USD", "pageSize": str(PAGE_SIZE)}
                if token:
                    params["pageToken"] = token
                if self.api_key:
                    params["key"] = self.api_key
                body = get_json(
                    self.session, url, params, stats, f"Cloud Billing Catalog {SERVICE_NAMES[service]} SKUs"
                )
                if not isinstance(body, Mapping):
                    raise FetchError(
                        f"Cloud Billing Catalog {SERVICE_NAMES[service]}: the answer is not an object"
                    )
                page = body.get("skus", [])
                if not isinstance(page, list):
                    raise FetchError(f"Cloud Billing Catalog {SERVICE_NAMES[service]}: skus is not a list")
                out.extend(page)
                token = body.get("nextPageToken") or ""
                if not token:
                    break
        except FetchError as exc:
            self._skus[service] = exc
            raise
        self._skus[service] = out
        return out

    def fetch(
        self, components: set[Component], regions: Sequence[str], stats: FetchStats
    ) -> tuple[dict[str, dict[Component, Decimal]], str]:
        wanted = set(regions)
        services = sorted({service_of(c) for c in components})
        found: dict[str, dict[Component, tuple[str, Decimal]]] = {}
        for service in services:
            for sku in self.skus(service, stats):
                try:
                    read = read_sku(sku)
                except MalformedItem as exc:
                    stats.bad(str(exc))
                    continue
                stats.items += 1
                if read is None:
                    continue
                sku_regions, price, unit, stamp = read
                component = classify(sku, service, unit)
                if component not in components:
                    continue
                for region in sku_regions:
                    if region in wanted:
                        record(found, region, component, price, stamp, stats)
        priced = {r: {c: p for c, (_, p) in prices.items()} for r, prices in found.items()}
        names = ", ".join(f"{SERVICE_NAMES[s]} ({s})" for s in services)
        source = (
            f"Cloud Billing Catalog API ({API_URL}/v1/services/{{serviceId}}/skus, currencyCode USD) SKUs of "
            f"{names}: OnDemand usage type only (no Preemptible/Spot, no commitments), the first non-zero tier "
            "of each SKU's newest pricingInfo, per serviceRegions entry; machine types are vCPU + RAM SKUs of "
            "their series by vCPUs and GiB."
        )
        return priced, source


def _adc_session():
    try:
        import google.auth
        from google.auth import exceptions as auth_exc
        from google.auth.transport.requests import AuthorizedSession
    except ImportError as exc:  # pragma: no cover - google-auth ships with the scanner
        raise FetchError(f"google-auth is needed without an API key: {exc}") from None
    try:
        credentials, _ = google.auth.default(scopes=list(SCOPES))
    except auth_exc.DefaultCredentialsError as exc:
        raise FetchError(
            f"no API key (--api-key or {API_KEY_ENV}) and no Application Default Credentials: {exc}"
        ) from None
    return AuthorizedSession(credentials)
