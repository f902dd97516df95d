"""GCP networking rules: forwarding rules that send traffic nowhere, Cloud NAT gateways that
translate nothing.

A Cloud Router (the kind that carries the NAT gateways, `nats`) is flagged by at most one rule,
in this order:

1. `gcp-nat-no-subnets`: a NAT gateway configured for a list of subnetworks that lists none, and
   holding static NAT IPs (exact, from the configuration);
2. `gcp-nat-idle`: every NAT gateway of the router sent (next to) nothing over the window (Cloud
   Monitoring), unless (1) holds.
"""

from __future__ import annotations

import math
from decimal import Decimal

from cloudwaste.scanner.domain import Detection, Resource
from cloudwaste.scanner.kinds.gcp.network import BACKEND_SERVICE, FORWARDING_RULE, ROUTER, TARGET_POOL
from cloudwaste.scanner.rules import Context, Fixtures, Metric, Param, Series, age_days, attach_fixtures, rule
from cloudwaste.scanner.rules.gcp._common import NOW, PROJECT, path, res, rounded

_MONITORING = "monitoring.timeSeries.list"
_LIST_FORWARDING = ("compute.forwardingRules.list", "compute.globalForwardingRules.list")
_LIST_ROUTERS = ("compute.routers.list",)
MIB = 1024**2


def _money(x: Decimal | None) -> Decimal:
    return x if x is not None else Decimal(0)


# --- gcp-forwarding-rule-no-backends ------------------------------------------------------------

# Schemes of the load balancers whose forwarding rule names its backends directly (a target pool
# or a backend service): the pass-through network load balancers, external and internal. Proxy
# load balancers (EXTERNAL_MANAGED, INTERNAL_MANAGED) reach theirs through a target proxy and a
# URL map, which the scanner does not list: they are not judged.
_PASS_THROUGH = ("EXTERNAL", "INTERNAL")


def _empty_backends(r: Resource, ctx: Context) -> dict | None:
    """What the forwarding rule sends traffic to, when that has nothing to send it to; else None
    (backends present, a target of another type, or a target the same scan did not list)."""
    a = r.attributes
    if a.get("target_type") == "targetPools" and a.get("target"):
        pool = ctx.lookup(TARGET_POOL, a["target"])
        if pool is None or pool.attributes.get("instances"):
            return None
        backup_id = pool.attributes.get("backup_pool")
        if backup_id:
            backup = ctx.lookup(TARGET_POOL, backup_id)
            if backup is None or backup.attributes.get("instances"):
                return None
        return {"target_pool": pool.resource_id, "instances": 0, "backup_pool": backup_id}
    if a.get("backend_service") and not a.get("target"):
        service = ctx.lookup(BACKEND_SERVICE, a["backend_service"])
        if service is None or service.attributes.get("backends"):
            return None
        return {"backend_service": service.resource_id, "backends": 0}
    return None


@rule(
    key="gcp-forwarding-rule-no-backends",
    provider="gcp",
    resource_kind=FORWARDING_RULE,
    title="Forwarding rule whose target pool or backend service has no backends",
    permissions=(*_LIST_FORWARDING, "compute.targetPools.list", "compute.backendServices.list"),
    params={
        "min_age_days": Param(
            float, 7.0, "The forwarding rule was created at least this long ago (a load balancer being set up is spared).", 0
        )
    },
    confidence_doc="HIGH for a forwarding rule at least 30 days old; MEDIUM before (how long its "
    "backends have been gone is unknown: the APIs give no time for it).",
    needs=(TARGET_POOL, BACKEND_SERVICE),
)
def forwarding_rule_no_backends(r: Resource, p, ctx: Context) -> Detection | None:
    """A pass-through load balancer's forwarding rule (scheme EXTERNAL or INTERNAL) whose target
    pool lists no instance (nor does its backup pool), or whose backend service has no backend,
    answers every packet with nothing, yet bills by the hour like any forwarding rule. After
    Steampipe's Thrifty mod for GCP (unused load balancers / forwarding rules) and Google's
    network load balancer docs (a target pool without instances serves nothing). Proxy load
    balancers (target proxies behind URL maps) are not judged, nor is a target the scan did not
    list (an unreachable region). How long: since the rule was created (the APIs give no time at
    which the backends were removed); default `min_age_days` 7. Priced at the per-rule charge of
    a project's forwarding rules beyond its first five ($0.01/hour in us-central1): deleting one
    of a project's first five saves less, deleting its only one saves the $0.025/hour minimum."""
    if r.attributes.get("load_balancing_scheme") not in _PASS_THROUGH:
        return None
    age = age_days(r.created_at, ctx.now)
    if age is None or age < p["min_age_days"]:
        return None
    empty = _empty_backends(r, ctx)
    if empty is None:
        return None
    cost = ctx.prices.monthly_from_hourly(r.region, "network", "forwarding_rule_hour", "additional")
    evidence = {
        **empty,
        "load_balancing_scheme": r.attributes.get("load_balancing_scheme"),
        "ip_protocol": r.attributes.get("ip_protocol"),
        "age_days": rounded(age),
        "price_basis": "one forwarding rule beyond a project's first five (the first five bill "
        "$0.025/hour together)",
        **ctx.prices.evidence(r.region, "network"),
    }
    if cost is None:
        evidence["cost_unknown"] = "no forwarding rule price for this region"
    return Detection(
        scenario="gcp-forwarding-rule-no-backends",
        confidence="HIGH" if age >= 30 else "MEDIUM",
        monthly_cost=_money(cost),
        evidence=evidence,
    )


# --- Cloud NAT: what the two router rules share -----------------------------------------------------


def _public_nats(r: Resource) -> list[dict]:
    return [n for n in r.attributes.get("nats") or [] if (n.get("type") or "PUBLIC") == "PUBLIC"]


def _stranded(r: Resource) -> list[dict]:
    """The router's NAT gateways set to translate a list of subnetworks that lists none, and
    holding static NAT IPs (what they bill)."""
    return [
        n
        for n in _public_nats(r)
        if n.get("source_subnetwork_ip_ranges_to_nat") == "LIST_OF_SUBNETWORKS"
        and not n.get("subnetworks")
        and n.get("nat_ips")
    ]


def _ip_monthly(r: Resource, ctx: Context, count: int) -> Decimal | None:
    return ctx.prices.monthly_from_hourly(r.region, "network", "external_ip_in_use_hour", quantity=count)


# --- gcp-nat-no-subnets ---------------------------------------------------------------------------------


@rule(
    key="gcp-nat-no-subnets",
    provider="gcp",
    resource_kind=ROUTER,
    title="Cloud NAT gateway set to a list of subnetworks that lists none, holding static IPs",
    permissions=_LIST_ROUTERS,
    params={
        "min_age_days": Param(
            float, 7.0, "The router was created at least this long ago (a gateway being set up is spared).", 0
        )
    },
    confidence_doc="HIGH for a router at least 30 days old: the configuration says the gateway "
    "translates nothing; MEDIUM before.",
)
def nat_no_subnets(r: Resource, p, ctx: Context) -> Detection | None:
    """A Cloud NAT gateway whose sourceSubnetworkIpRangesToNat is LIST_OF_SUBNETWORKS with an empty
    `subnetworks` list translates no VM's traffic (what remains after its subnetworks were
    deleted or moved to another gateway), yet its static NAT IPs (MANUAL_ONLY `natIps`) stay
    assigned and billed. A gateway that allocates its IPs automatically (AUTO_ONLY) holds none
    when no VM uses it and bills nothing: not flagged. After Google's Cloud NAT docs (NAT
    applies only to the subnetworks listed) and Steampipe's Thrifty mod for GCP (unused NAT
    gateways). How long: since the router was created (the API gives no time for the last
    change); default `min_age_days` 7. Priced as the stranded gateways' static NAT IPs at the
    in-use external IPv4 price ($0.005/hour each in us-central1)."""
    stranded = _stranded(r)
    if not stranded:
        return None
    age = age_days(r.created_at, ctx.now)
    if age is None or age < p["min_age_days"]:
        return None
    ips = sum(len(n["nat_ips"]) for n in stranded)
    cost = _ip_monthly(r, ctx, ips)
    evidence = {
        "nats": [n["name"] for n in stranded],
        "source_subnetwork_ip_ranges_to_nat": "LIST_OF_SUBNETWORKS",
        "subnetworks": [],
        "static_nat_ips": ips,
        "age_days": rounded(age),
        **ctx.prices.evidence(r.region, "network"),
    }
    if cost is None:
        evidence["cost_unknown"] = "no external IP price for this region"
    return Detection(
        scenario="gcp-nat-no-subnets",
        confidence="HIGH" if age >= 30 else "MEDIUM",
        monthly_cost=_money(cost),
        evidence=evidence,
    )


# --- gcp-nat-idle -----------------------------------------------------------------------------------

# nat_gateway series carry router_id (the router's numeric id) and gateway_name: the router's id
# names the series of all its gateways, which the rule judges together.
NAT_SENT = Metric(
    "nat_sent_bytes",
    "nat_gateway",
    "router.googleapis.com/nat/sent_bytes_count",
    "router_id",
    "ALIGN_SUM",
    dimension_attribute="router_id",
)


def _nat_idle_candidate(r: Resource, p, ctx: Context) -> bool:
    """A router with a public NAT gateway, none of them stranded (`gcp-nat-no-subnets`), as old
    as the window."""
    age = age_days(r.created_at, ctx.now)
    return (
        bool(_public_nats(r))
        and not _stranded(r)
        and bool(r.attributes.get("router_id"))
        and age is not None
        and age >= p["window_days"]
    )


@rule(
    key="gcp-nat-idle",
    provider="gcp",
    resource_kind=ROUTER,
    title="Cloud NAT gateway that sent no traffic",
    permissions=(*_LIST_ROUTERS, _MONITORING),
    params={
        "window_days": Param(float, 14.0, "Days of Cloud Monitoring history judged (the router must be that old).", 2),
        "max_sent_mib": Param(
            float, 1.0, "MiB sent through all the router's NAT gateways over the window at most this.", 0
        ),
        "min_coverage": Param(
            float, 0.8, "Share of the window's days (per gateway) that must have data (else: not judged).", 0.1
        ),
    },
    confidence_doc="HIGH when every day of the window has data for every gateway; MEDIUM when some "
    "days are missing (at least `min_coverage` of them).",
    metrics=(NAT_SENT,),
    candidate=_nat_idle_candidate,
)
def nat_idle(r: Resource, p, ctx: Context) -> Detection | None:
    """A Cloud Router whose public NAT gateways together sent at most `max_sent_mib` (default
    1 MiB, next to nothing) over the last 14 days (router.googleapis.com/nat/sent_bytes_count,
    daily sums of the nat_gateway series of the router's `router_id`) gives no VM a way out that
    it uses, yet the gateways bill per VM assigned and for their NAT IPs. After Google
    Recommender's idle-resource recommenders (14 days and more of no use) and Steampipe's Thrifty
    mod for GCP (unused Cloud NAT gateways). Missing days are not zeros: below `min_coverage`
    of the window (counted per gateway) the router is not judged, nor is one younger than the
    window. A gateway stranded with no subnetwork is `gcp-nat-no-subnets`'s. Priced as the
    gateways' hourly charge for one assigned VM each ($0.0014/hour in us-central1; the count of
    VMs is not known: up to $0.044/hour with 32 VMs or more) plus their NAT IPs ($0.005/hour
    each; a gateway allocating its IPs automatically is counted with one)."""
    if not _nat_idle_candidate(r, p, ctx):
        return None
    window = math.ceil(p["window_days"])
    sent = ctx.metric(r, NAT_SENT.name, window)
    nats = _public_nats(r)
    if sent is None or not sent.got:
        return None
    coverage = min(1.0, sent.got / (window * len(nats)))
    if coverage < p["min_coverage"] or sent.total > p["max_sent_mib"] * MIB:
        return None
    ips = sum(max(1, len(n.get("nat_ips") or [])) for n in nats)
    gateways = ctx.prices.monthly_from_hourly(r.region, "network", "nat_gateway_vm_hour", quantity=len(nats))
    ip_cost = _ip_monthly(r, ctx, ips)
    evidence = {
        "nats": [n["name"] for n in nats],
        "window_days": window,
        "sent_bytes": sent.evidence("bytes"),
        "coverage": round(coverage, 3),
        "nat_ips": ips,
        "gateway_monthly": str(gateways) if gateways is not None else None,
        "nat_ips_monthly": str(ip_cost) if ip_cost is not None else None,
        "price_basis": "one assigned VM per gateway (the number of VMs is not known) plus the NAT IPs",
        "age_days": rounded(age_days(r.created_at, ctx.now)),
        **ctx.prices.evidence(r.region, "network"),
    }
    if gateways is None or ip_cost is None:
        evidence["cost_unknown"] = "no Cloud NAT or IP price for this region: that part priced at 0"
    return Detection(
        scenario="gcp-nat-idle",
        confidence="HIGH" if coverage >= 1.0 else "MEDIUM",
        monthly_cost=_money(gateways) + _money(ip_cost),
        evidence=evidence,
    )


# --- fixtures: one resource that fires and one near miss per rule ---------------------------------

_REGION = "europe-west1"
_POOL_EMPTY = path(f"regions/{_REGION}", "targetPools", "pool-empty")
_POOL_FULL = path(f"regions/{_REGION}", "targetPools", "pool-full")


def _fr(name: str, **attributes) -> Resource:
    return res(FORWARDING_RULE, path(f"regions/{_REGION}", "forwardingRules", name), 60, _REGION, **attributes)


attach_fixtures(
    "gcp-forwarding-rule-no-backends",
    Fixtures(
        fires=_fr("fr-empty", load_balancing_scheme="EXTERNAL", target=_POOL_EMPTY, target_type="targetPools"),
        silent=_fr("fr-served", load_balancing_scheme="EXTERNAL", target=_POOL_FULL, target_type="targetPools"),
        now=NOW,
        related=(
            res(TARGET_POOL, _POOL_EMPTY, 60, _REGION, instances=[]),
            res(
                TARGET_POOL, _POOL_FULL, 60, _REGION,
                instances=[f"projects/{PROJECT}/zones/{_REGION}-b/instances/web-1"],
            ),
        ),
    ),
)


def _nat(name: str, subnetworks: list[str] | None = None, nat_ips: list[str] | None = None, **extra) -> dict:
    return {
        "name": name,
        "source_subnetwork_ip_ranges_to_nat": "LIST_OF_SUBNETWORKS" if subnetworks is not None else
        "ALL_SUBNETWORKS_ALL_IP_RANGES",
        "subnetworks": subnetworks or [],
        "nat_ip_allocate_option": "MANUAL_ONLY" if nat_ips else "AUTO_ONLY",
        "nat_ips": nat_ips or [],
        "type": "PUBLIC",
        **extra,
    }


def _router(name: str, nats: list[dict], router_id: str = "1") -> Resource:
    return res(ROUTER, path(f"regions/{_REGION}", "routers", name), 60, _REGION, router_id=router_id, nats=nats)


_IP = f"projects/{PROJECT}/regions/{_REGION}/addresses/nat-ip-1"
attach_fixtures(
    "gcp-nat-no-subnets",
    Fixtures(
        fires=_router("router-stranded", [_nat("nat-a", subnetworks=[], nat_ips=[_IP])]),
        # an empty list but automatic IPs: holds no IP, bills nothing
        silent=_router("router-auto", [_nat("nat-b", subnetworks=[])]),
        now=NOW,
    ),
)

_ROUTER_IDLE, _ROUTER_BUSY = _router("router-idle", [_nat("nat-c")], "11"), _router("router-busy", [_nat("nat-d")], "12")
attach_fixtures(
    "gcp-nat-idle",
    Fixtures(
        fires=_ROUTER_IDLE,
        silent=_ROUTER_BUSY,
        now=NOW,
        series={
            (_ROUTER_IDLE.resource_id, "nat_sent_bytes", 14): Series((0.0,) * 14, 14),
            (_ROUTER_BUSY.resource_id, "nat_sent_bytes", 14): Series((0.0,) * 13 + (2.0 * MIB,), 14),
        },
    ),
)
