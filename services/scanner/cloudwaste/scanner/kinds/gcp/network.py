"""GCP networking kinds: forwarding rules (regional and global), target pools, backend services
(global and regional) and Cloud Routers with their Cloud NAT gateways.

A forwarding rule refers to what it sends traffic to by URL (`target`: a target pool, a target
proxy, a target instance...; `backendService` for pass-through load balancers); those references
are kept as resource paths, the ids of the target pool and backend service kinds, so a rule looks
them up in the same scope's listing.
"""

from __future__ import annotations

import datetime as dt

from cloudwaste.scanner.kinds import LazyModule, Listing, kind
from cloudwaste.scanner.kinds.gcp._common import GLOBAL, PROVIDER, Deps, aggregated, path_of, resource

compute_v1 = LazyModule("google.cloud.compute_v1")  # imported when a listing runs

FORWARDING_RULE = "gcp.compute.forwarding_rule"
TARGET_POOL = "gcp.compute.target_pool"
BACKEND_SERVICE = "gcp.compute.backend_service"
ROUTER = "gcp.compute.router"


def _collection(link: str | None) -> str | None:
    """The collection a resource URL names ("…/regions/r/targetPools/p" -> "targetPools")."""
    parts = (link or "").rstrip("/").split("/")
    return parts[-2] if len(parts) >= 2 else None


@kind(
    key=FORWARDING_RULE,
    provider=PROVIDER,
    title="Forwarding rule",
    operations=("compute.forwardingRules.list", "compute.globalForwardingRules.list"),
    id_field="selfLink",
    name_field="name",
    created_field="creationTimestamp",
    ml_config={
        "load_balancing_scheme": str,
        "ip_protocol": str,
        "network_tier": str,
        "target_type": str,
        "has_backend_service": bool,
        "global": bool,
    },
)
def list_forwarding_rules(conn, project: str, now: dt.datetime, deps: Deps) -> Listing:
    """Regional forwarding rules of every region (forwardingRules.aggregatedList) and global ones
    (globalForwardingRules.list; an aggregated list may hold them too, under "global": each rule
    is kept once), with their IP, scheme, `target` and `backendService` as resource paths."""
    items, unreached = aggregated(
        conn.compute(compute_v1.ForwardingRulesClient),
        "aggregated_list",
        compute_v1.AggregatedListForwardingRulesRequest(
            project=project, max_results=500
        ),
        "forwarding_rules",
    )
    items = list(items)
    items.extend(
        conn.compute(compute_v1.GlobalForwardingRulesClient).list(
            request=compute_v1.ListGlobalForwardingRulesRequest(project=project, max_results=500)
        )
    )
    out, seen = [], set()
    for f in items:
        r = resource(FORWARDING_RULE, f)
        if r.resource_id in seen:
            continue
        seen.add(r.resource_id)
        target, backend = path_of(f.target) or None, path_of(f.backend_service) or None
        scheme = f.load_balancing_scheme or "EXTERNAL"
        target_type = _collection(target) or ("backendServices" if backend else "")
        r.attributes.update(
            {
                "ip_address": f.I_p_address,
                "ip_protocol": f.I_p_protocol,
                "load_balancing_scheme": scheme,
                "network_tier": f.network_tier,
                "target": target,
                "target_type": target_type,
                "backend_service": backend,
                "global": r.region == GLOBAL,
            }
        )
        r.config.update(
            {
                "load_balancing_scheme": scheme,
                "ip_protocol": f.I_p_protocol or "",
                "network_tier": f.network_tier or "",
                "target_type": target_type,
                "has_backend_service": backend is not None,
                "global": r.region == GLOBAL,
            }
        )
        out.append(r)
    return Listing(out, unreached)


@kind(
    key=TARGET_POOL,
    provider=PROVIDER,
    title="Target pool",
    operations=("compute.targetPools.list",),
    id_field="selfLink",
    name_field="name",
    created_field="creationTimestamp",
    ml_config={"instance_count": int, "health_check_count": int, "session_affinity": str},
)
def list_target_pools(conn, project: str, now: dt.datetime, deps: Deps) -> Listing:
    """Target pools of every region (targetPools.aggregatedList) with the instances they list
    (resource paths: an instance listed there need not exist any more) and their health checks."""
    items, unreached = aggregated(
        conn.compute(compute_v1.TargetPoolsClient),
        "aggregated_list",
        compute_v1.AggregatedListTargetPoolsRequest(project=project, max_results=500),
        "target_pools",
    )
    out = []
    for t in items:
        instances = [path_of(i) for i in t.instances]
        out.append(
            resource(
                TARGET_POOL,
                t,
                attributes={
                    "instances": instances,
                    "health_checks": [path_of(h) for h in t.health_checks],
                    "backup_pool": path_of(t.backup_pool) or None,
                },
                config={
                    "instance_count": len(instances),
                    "health_check_count": len(t.health_checks),
                    "session_affinity": t.session_affinity or "",
                },
            )
        )
    return Listing(out, unreached)


@kind(
    key=BACKEND_SERVICE,
    provider=PROVIDER,
    title="Backend service",
    operations=("compute.backendServices.list",),
    id_field="selfLink",
    name_field="name",
    created_field="creationTimestamp",
    ml_config={"backend_count": int, "load_balancing_scheme": str, "protocol": str, "global": bool},
)
def list_backend_services(conn, project: str, now: dt.datetime, deps: Deps) -> Listing:
    """Backend services, global and regional (backendServices.aggregatedList answers for both),
    with their backends' groups (instance groups or network endpoint groups, as resource paths)."""
    items, unreached = aggregated(
        conn.compute(compute_v1.BackendServicesClient),
        "aggregated_list",
        compute_v1.AggregatedListBackendServicesRequest(
            project=project, max_results=500
        ),
        "backend_services",
    )
    out = []
    for b in items:
        groups = [path_of(x.group) for x in b.backends if x.group]
        scheme = b.load_balancing_scheme or ""
        r = resource(
            BACKEND_SERVICE,
            b,
            attributes={"backends": groups, "load_balancing_scheme": scheme, "protocol": b.protocol},
            config={
                "backend_count": len(groups),
                "load_balancing_scheme": scheme,
                "protocol": b.protocol or "",
            },
        )
        r.config["global"] = r.region == GLOBAL
        out.append(r)
    return Listing(out, unreached)


def _nat(n) -> dict:
    return {
        "name": n.name,
        "source_subnetwork_ip_ranges_to_nat": n.source_subnetwork_ip_ranges_to_nat or "",
        "subnetworks": [path_of(s.name) for s in n.subnetworks],
        "nat_ip_allocate_option": n.nat_ip_allocate_option or "",
        "nat_ips": [path_of(i) for i in n.nat_ips],
        "type": n.type_ or "PUBLIC",
    }


@kind(
    key=ROUTER,
    provider=PROVIDER,
    title="Cloud Router (and its Cloud NAT gateways)",
    operations=("compute.routers.list",),
    id_field="selfLink",
    name_field="name",
    created_field="creationTimestamp",
    ml_config={"nat_count": int, "nat_ip_count": int, "bgp_peer_count": int, "interface_count": int},
)
def list_routers(conn, project: str, now: dt.datetime, deps: Deps) -> Listing:
    """Cloud Routers of every region (routers.aggregatedList) with their Cloud NAT gateways
    (`nats`: which subnetworks each translates, how its IPs are allocated, its static NAT IPs) and
    the router's numeric id (`router_id`, the label Cloud Monitoring's nat_gateway series carry)."""
    items, unreached = aggregated(
        conn.compute(compute_v1.RoutersClient),
        "aggregated_list",
        compute_v1.AggregatedListRoutersRequest(project=project, max_results=500),
        "routers",
    )
    out = []
    for rt in items:
        nats = [_nat(n) for n in rt.nats]
        out.append(
            resource(
                ROUTER,
                rt,
                attributes={
                    "router_id": str(rt.id) if rt.id else "",
                    "network": path_of(rt.network) or None,
                    "nats": nats,
                    "bgp_peers": len(rt.bgp_peers),
                    "interfaces": len(rt.interfaces),
                },
                config={
                    "nat_count": len(nats),
                    "nat_ip_count": sum(len(n["nat_ips"]) for n in nats),
                    "bgp_peer_count": len(rt.bgp_peers),
                    "interface_count": len(rt.interfaces),
                },
            )
        )
    return Listing(out, unreached)
