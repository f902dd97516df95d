"""GCP networking: forwarding rules of pass-through load balancers whose target pool or backend
service is empty (to flag) and ones that serve (near misses: instances or backends present, a
rule being set up, a proxy load balancer, an empty pool backed by a full backup pool); Cloud
Routers whose NAT gateway sent nothing or translates no subnetwork while holding static IPs (to
flag) and near misses (traffic, a day of traffic, too few days of data, a young router, a
gateway with automatic IPs and no subnetwork, routers without NAT).

Target pools list instance URLs the compute estate need not create: a pool's instances are only
counted. Every target pool, backend service and router listed is in the truth (not waste itself).
"""

from __future__ import annotations

import re

from ..cloud_estate import EstateContext
from ..gcp_api import SELF_LINK_BASE
from ..truth import TruthResource

FORWARDING_RULE = "gcp.compute.forwarding_rule"
TARGET_POOL = "gcp.compute.target_pool"
BACKEND_SERVICE = "gcp.compute.backend_service"
ROUTER = "gcp.compute.router"
NAT_SENT = "router.googleapis.com/nat/sent_bytes_count"
MIB = 1024**2


def _region(zone: str) -> str:
    return zone.rpartition("-")[0]


def _url(project: str, scope: str, collection: str, name: str) -> str:
    return f"{SELF_LINK_BASE}/projects/{project}/{scope}/{collection}/{name}"


def _rid(body: dict) -> str:
    return body["selfLink"].split("/compute/v1/")[1]


def _labels(ctx: EstateContext, rng, kind: str) -> dict:
    """GCP labels: lower-case keys and values of letters, digits, _ and -, at most 63 characters."""
    clean = lambda s: re.sub(r"[^a-z0-9_-]", "_", s.lower())[:63]  # noqa: E731
    return {clean(k): clean(v) for k, v in ctx.tags(rng, kind).items()}


def _ip(rng) -> str:
    return f"34.{rng.randint(64, 127)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


class _Net:
    """Puts networking resources of the estate and keeps their truth."""

    def __init__(self, ctx: EstateContext) -> None:
        self.ctx, self.api = ctx, ctx.api
        self.rng = ctx.rng("network")
        self.truth: list[TruthResource] = []
        self.n = 0

    def name(self, prefix: str) -> str:
        self.n += 1
        return f"{prefix}-{self.n}"

    def place(self) -> tuple[str, str]:
        project, zone = self.ctx.pick(self.rng)
        return project, _region(zone)

    # -- backends -------------------------------------------------------------------------------

    def pool(self, project: str, region: str, instances: int, backup: str | None = None) -> dict:
        zone = f"{region}-b"
        body = {
            "name": self.name("pool"),
            "instances": [_url(project, f"zones/{zone}", "instances", f"web-{self.n}-{i}") for i in range(instances)],
            "healthChecks": [_url(project, "global", "httpHealthChecks", "basic-check")],
            "sessionAffinity": "NONE",
            "creationTimestamp": self.ctx.stamp(self.rng.uniform(40, 300)),
        }
        if backup:
            body["backupPool"], body["failoverRatio"] = backup, 0.1
        body = self.api.put(project, "targetPools", f"regions/{region}", body)
        self.truth.append(self.ctx.truth(_rid(body), TARGET_POOL, region, {}))
        return body

    def service(self, project: str, scope: str, backends: int, scheme: str) -> dict:
        region = scope.partition("/")[2] or "global"
        zone = f"{region}-b" if region != "global" else "us-central1-a"
        body = {
            "name": self.name("svc"),
            "backends": [
                {"group": _url(project, f"zones/{zone}", "instanceGroups", f"ig-{self.n}-{i}"),
                 "balancingMode": "CONNECTION" if scheme == "INTERNAL" else "UTILIZATION"}
                for i in range(backends)
            ],
            "loadBalancingScheme": scheme,
            "protocol": "TCP" if scheme == "INTERNAL" else "HTTP",
            "healthChecks": [_url(project, "global", "healthChecks", "tcp-check")],
            "sessionAffinity": "NONE",
            "creationTimestamp": self.ctx.stamp(self.rng.uniform(40, 300)),
        }
        body = self.api.put(project, "backendServices", scope, body)
        self.truth.append(self.ctx.truth(_rid(body), BACKEND_SERVICE, region, {}))
        return body

    # -- forwarding rules -------------------------------------------------------------------------

    def forwarding_rule(
        self, project: str, scope: str, age: float, scheme: str, *, target: str | None = None,
        backend_service: str | None = None, scenario: str | None = None, cost: float = 7.3,
    ) -> None:
        region = scope.partition("/")[2] or "global"
        labels = _labels(self.ctx, self.rng, "load-balancer")
        body = {
            "name": self.name("fr"),
            "IPAddress": _ip(self.rng) if scheme.startswith("EXTERNAL") else f"10.0.{self.rng.randint(0, 255)}.10",
            "IPProtocol": "TCP",
            "loadBalancingScheme": scheme,
            "creationTimestamp": self.ctx.stamp(age),
            "labels": labels,
        }
        if scheme.startswith("EXTERNAL"):
            body["networkTier"] = "PREMIUM"
            body["portRange"] = "80-80"
        else:
            body["ports"] = ["5432"]
            body["network"] = _url(project, "global", "networks", "default")
            body["subnetwork"] = _url(project, f"regions/{region}", "subnetworks", "default")
        if target:
            body["target"] = target
        if backend_service:
            body["backendService"] = backend_service
        body = self.api.put(project, "forwardingRules", scope, body)
        decision = None
        if scenario:
            decision = self.ctx.decide(self.rng, tags=labels, scenario=scenario, age_days=age, monthly_cost=cost)
        self.truth.append(self.ctx.truth(_rid(body), FORWARDING_RULE, region, labels, scenario, decision))

    # -- routers ----------------------------------------------------------------------------------

    def router(
        self, project: str, region: str, age: float, nats: list[dict], *, sent: list[float] | None = None,
        scenario: str | None = None, cost: float = 4.7,
    ) -> dict:
        body = {
            "name": self.name("router"),
            "network": _url(project, "global", "networks", "default"),
            "bgp": {"asn": 64514, "advertiseMode": "DEFAULT"},
            "creationTimestamp": self.ctx.stamp(age),
        }
        if nats:
            body["nats"] = nats
        body = self.api.put(project, "routers", f"regions/{region}", body)
        if sent is not None:
            for nat in nats:
                labels = {"project_id": project, "region": region, "router_id": body["id"], "gateway_name": nat["name"]}
                self.api.put_metric(project, NAT_SENT, "nat_gateway", labels, self.ctx.daily(sent))
        decision = None
        if scenario:
            decision = self.ctx.decide(self.rng, tags={}, scenario=scenario, age_days=age, monthly_cost=cost)
        self.truth.append(self.ctx.truth(_rid(body), ROUTER, region, {}, scenario, decision))
        return body

    def nat(self, project: str, region: str, *, subnetworks: list[str] | None = None, ips: int = 0) -> dict:
        body = {
            "name": self.name("nat"),
            "type": "PUBLIC",
            "natIpAllocateOption": "MANUAL_ONLY" if ips else "AUTO_ONLY",
            "sourceSubnetworkIpRangesToNat": (
                "ALL_SUBNETWORKS_ALL_IP_RANGES" if subnetworks is None else "LIST_OF_SUBNETWORKS"
            ),
            "enableEndpointIndependentMapping": False,
            "logConfig": {"enable": False, "filter": "ALL"},
        }
        if subnetworks is not None:
            body["subnetworks"] = [
                {"name": _url(project, f"regions/{region}", "subnetworks", s), "sourceIpRangesToNat": ["ALL_IP_RANGES"]}
                for s in subnetworks
            ]
        if ips:
            body["natIps"] = [_url(project, f"regions/{region}", "addresses", f"{body['name']}-ip-{i}") for i in range(ips)]
        return body


def _forwarding_rules(net: _Net, ctx: EstateContext) -> None:
    rng = net.rng
    for i in range(ctx.count(0.05)):  # waste: an empty target pool, or a backend service with no backend
        project, region = net.place()
        age = rng.uniform(10, 250)
        if i % 2 == 0:
            pool = net.pool(project, region, 0)
            net.forwarding_rule(project, f"regions/{region}", age, "EXTERNAL", target=pool["selfLink"],
                                scenario="gcp-forwarding-rule-no-backends")
        else:
            svc = net.service(project, f"regions/{region}", 0, "INTERNAL")
            net.forwarding_rule(project, f"regions/{region}", age, "INTERNAL", backend_service=svc["selfLink"],
                                scenario="gcp-forwarding-rule-no-backends")
    for i in range(ctx.count(0.08)):  # near misses
        project, region = net.place()
        scope, variant = f"regions/{region}", i % 5
        if variant == 0:  # a pool with instances
            pool = net.pool(project, region, rng.randint(1, 4))
            net.forwarding_rule(project, scope, rng.uniform(10, 250), "EXTERNAL", target=pool["selfLink"])
        elif variant == 1:  # a backend service with backends
            svc = net.service(project, scope, rng.randint(1, 3), "INTERNAL")
            net.forwarding_rule(project, scope, rng.uniform(10, 250), "INTERNAL", backend_service=svc["selfLink"])
        elif variant == 2:  # being set up: empty pool, created 2 days ago
            pool = net.pool(project, region, 0)
            net.forwarding_rule(project, scope, 2, "EXTERNAL", target=pool["selfLink"])
        elif variant == 3:  # a proxy load balancer (global): not judged
            net.service(project, "global", 0, "EXTERNAL_MANAGED")
            proxy = _url(project, "global", "targetHttpProxies", f"proxy-{net.n}")
            net.forwarding_rule(project, "global", rng.uniform(10, 250), "EXTERNAL_MANAGED", target=proxy)
        else:  # an empty pool failing over to a backup pool with instances
            backup = net.pool(project, region, 2)
            pool = net.pool(project, region, 0, backup=backup["selfLink"])
            net.forwarding_rule(project, scope, rng.uniform(10, 250), "EXTERNAL", target=pool["selfLink"])


def _routers(net: _Net, ctx: EstateContext) -> None:
    rng = net.rng
    quiet = [0.0] * 20
    for _ in range(ctx.count(0.04)):  # waste: NAT gateways that sent nothing for 20 days
        project, region = net.place()
        nats = [net.nat(project, region, ips=rng.choice((0, 1, 2)))]
        net.router(project, region, rng.uniform(30, 300), nats, sent=quiet, scenario="gcp-nat-idle")
    for _ in range(ctx.count(0.03)):  # waste: a list of no subnetwork, static IPs held
        project, region = net.place()
        nats = [net.nat(project, region, subnetworks=[], ips=rng.choice((1, 2)))]
        net.router(project, region, rng.uniform(10, 300), nats, scenario="gcp-nat-no-subnets")
    for i in range(ctx.count(0.08)):  # near misses
        project, region = net.place()
        variant = i % 6
        age = rng.uniform(30, 300)
        if variant == 0:  # busy
            nats = [net.nat(project, region, subnetworks=["apps"])]
            net.router(project, region, age, nats, sent=[rng.uniform(50, 500) * MIB for _ in range(20)])
        elif variant == 1:  # quiet but one day of 3 MiB
            nats = [net.nat(project, region, ips=1)]
            net.router(project, region, age, nats, sent=[0.0] * 9 + [3 * MIB] + [0.0] * 10)
        elif variant == 2:  # too few days of data to judge
            net.router(project, region, age, [net.nat(project, region)], sent=[0.0] * 6)
        elif variant == 3:  # younger than the window
            net.router(project, region, 5, [net.nat(project, region)], sent=[0.0] * 5)
        elif variant == 4:  # an empty list with automatic IPs: holds nothing, publishes nothing
            net.router(project, region, age, [net.nat(project, region, subnetworks=[])])
        else:  # a router for BGP only (no NAT)
            net.router(project, region, age, [])


def seed(ctx: EstateContext) -> list[TruthResource]:
    net = _Net(ctx)
    _forwarding_rules(net, ctx)
    _routers(net, ctx)
    return net.truth
