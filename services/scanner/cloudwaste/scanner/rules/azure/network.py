"""Azure network rules: public IPs, network interfaces, network security groups, load balancers,
application gateways and NAT gateways attached to nothing (or carrying nothing).

Most of these follow the Azure Orphaned Resources workbook's Resource Graph queries
(github.com/dolevshor/azure-orphan-resources, Queries/orphan-resources-queries.md), which
Microsoft's FinOps guidance points to for orphaned resources, and Steampipe's Thrifty mod for
Azure (network_public_ip_unattached). ARM gives network resources no creation or detach time,
so none of these rules can wait a number of days: a resource is judged by what references it.
"""

from __future__ import annotations

import math
from decimal import Decimal

from cloudwaste.scanner.domain import Detection, Resource
from cloudwaste.scanner.rules import Context, Fixtures, Metric, Param, Series, attach_fixtures, rule
from cloudwaste.scanner.rules.azure._common import NOW, arm, res

PUBLIC_IP = "azure.network.public_ip"
NETWORK_INTERFACE = "azure.network.network_interface"
SECURITY_GROUP = "azure.network.security_group"
LOAD_BALANCER = "azure.network.load_balancer"
APPLICATION_GATEWAY = "azure.network.application_gateway"
NAT_GATEWAY = "azure.network.nat_gateway"
GROUP = "network"  # the price table (data/azure_prices/network.json)


def _priced(cost: Decimal | None, what: str) -> tuple[Decimal, dict]:
    """(monthly cost, evidence) for a price that may be unknown: cost 0 and `cost_unknown` then."""
    if cost is None:
        return Decimal(0), {"cost_unknown": f"no list price for {what}"}
    return cost, {}


# --- azure-public-ip-unassociated ----------------------------------------------------------------


def public_ip_price_key(sku: str | None, tier: str | None) -> str:
    """The price table's SKU key: "Standard", "Standard_Global" (cross-region tier), "Basic"."""
    return f"{sku}_Global" if tier == "Global" else str(sku)


@rule(
    key="azure-public-ip-unassociated",
    provider="azure",
    resource_kind=PUBLIC_IP,
    title="Public IP address associated with nothing",
    permissions=("Microsoft.Network/publicIPAddresses/read",),
    confidence_doc=(
        "HIGH for a Standard address (always static, billed every hour it exists); MEDIUM for a "
        "Basic static one (Basic addresses are retired since 30 September 2025: it may be kept "
        "for a migration). ARM gives no detach time, so an address freed minutes ago for a swap "
        "looks the same as a forgotten one."
    ),
)
def public_ip_unassociated(r: Resource, p, ctx: Context) -> Detection | None:
    """A public IP address with no `ipConfiguration` (no NIC, load balancer frontend, VPN or
    application gateway uses it) and no `natGateway`. Azure bills a Standard address ($0.005/h
    in East US) and a Basic static one by the hour whether or not it is used.

    Not flagged: an address taken from a public IP prefix (the prefix bills for its whole range
    whether or not the address exists: deleting it saves nothing; the workbook excludes them
    too), and a Basic dynamic address with no address allocated (a dynamic address is released
    when dissociated and then costs nothing). Same test as the Azure Orphaned Resources
    workbook and Steampipe Thrifty's network_public_ip_unattached; no age threshold, since ARM
    gives none."""
    a = r.attributes
    if a.get("ip_configuration") or a.get("nat_gateway") or a.get("public_ip_prefix"):
        return None
    sku, allocation = a.get("sku") or "Basic", a.get("allocation") or "Dynamic"
    if allocation == "Dynamic" and not a.get("has_address"):
        return None
    key = public_ip_price_key(sku, a.get("tier"))
    cost, unknown = _priced(
        ctx.prices.monthly_from_hourly(r.region, GROUP, "public_ip_hour", key, allocation),
        f"{key} {allocation}",
    )
    return Detection(
        scenario="azure-public-ip-unassociated",
        confidence="HIGH" if sku == "Standard" else "MEDIUM",
        monthly_cost=cost,
        evidence={
            "ip_configuration": None,
            "nat_gateway": None,
            "sku": sku,
            "tier": a.get("tier"),
            "allocation": allocation,
            "ip_version": a.get("ip_version"),
            **unknown,
            **ctx.prices.evidence(r.region, GROUP),
        },
    )


attach_fixtures(
    "azure-public-ip-unassociated",
    Fixtures(
        fires=res(
            PUBLIC_IP,
            arm("Microsoft.Network/publicIPAddresses", "pip-orphan"),
            0,
            sku="Standard",
            tier="Regional",
            allocation="Static",
            has_address=True,
            ip_configuration=None,
            nat_gateway=None,
        ),
        silent=res(
            PUBLIC_IP,
            arm("Microsoft.Network/publicIPAddresses", "pip-basic-dynamic"),
            0,
            sku="Basic",
            tier="Regional",
            allocation="Dynamic",
            has_address=False,
            ip_configuration=None,
            nat_gateway=None,
        ),
        now=NOW,
    ),
)


# --- azure-nic-unattached ------------------------------------------------------------------------


@rule(
    key="azure-nic-unattached",
    provider="azure",
    resource_kind=NETWORK_INTERFACE,
    title="Network interface attached to nothing",
    permissions=("Microsoft.Network/networkInterfaces/read",),
    confidence_doc=(
        "HIGH: nothing references the interface (no VM, private endpoint, private link service or "
        "hosted workload) in the same listing."
    ),
)
def nic_unattached(r: Resource, p, ctx: Context) -> Detection | None:
    """A network interface no virtual machine uses (`virtualMachine` absent), not owned by a
    private endpoint or a private link service, and hosting no service workload
    (`hostedWorkloads`: Azure NetApp Files volumes put their NICs in customer subnets). Deleting
    a VM leaves its NICs behind unless their delete option says otherwise.

    Zero cost: Azure does not bill a NIC; it holds a private IP of its subnet and, through its IP
    configurations, may keep public IPs associated (those are billed and then escape the
    unassociated-IP rule: the evidence lists them). Hygiene finding. Same test as the Azure
    Orphaned Resources workbook's network interfaces query; no age threshold (ARM gives none)."""
    a = r.attributes
    if a.get("virtual_machine") or a.get("private_endpoint") or a.get("private_link_service"):
        return None
    if int(a.get("hosted_workloads") or 0) > 0:
        return None
    public_ips = list(a.get("public_ip_ids") or [])
    return Detection(
        scenario="azure-nic-unattached",
        confidence="HIGH",
        monthly_cost=Decimal(0),
        evidence={
            "virtual_machine": None,
            "private_endpoint": None,
            "public_ips_held": public_ips,
            "cost": "none: Azure does not bill network interfaces (hygiene: it holds a subnet "
            "address" + (" and the public IPs listed" if public_ips else "") + ")",
        },
    )


attach_fixtures(
    "azure-nic-unattached",
    Fixtures(
        fires=res(
            NETWORK_INTERFACE,
            arm("Microsoft.Network/networkInterfaces", "nic-left-behind"),
            0,
            virtual_machine=None,
            private_endpoint=None,
            private_link_service=None,
            hosted_workloads=0,
            public_ip_ids=[],
        ),
        silent=res(
            NETWORK_INTERFACE,
            arm("Microsoft.Network/networkInterfaces", "pe-storage.nic.0a1b"),
            0,
            virtual_machine=None,
            private_endpoint=arm("Microsoft.Network/privateEndpoints", "pe-storage"),
            private_link_service=None,
            hosted_workloads=0,
            public_ip_ids=[],
        ),
        now=NOW,
    ),
)


# --- azure-nsg-unattached ------------------------------------------------------------------------


@rule(
    key="azure-nsg-unattached",
    provider="azure",
    resource_kind=SECURITY_GROUP,
    title="Network security group associated with no subnet or interface",
    permissions=("Microsoft.Network/networkSecurityGroups/read",),
    confidence_doc="HIGH: the group lists no network interface and no subnet.",
)
def nsg_unattached(r: Resource, p, ctx: Context) -> Detection | None:
    """A network security group associated with no network interface and no subnet filters
    nothing. Zero cost (Azure does not bill NSGs): hygiene, and a risk (rules nobody reviews get
    attached again by mistake). Same test as the Azure Orphaned Resources workbook's NSG query."""
    a = r.attributes
    if a.get("network_interfaces") or a.get("subnets"):
        return None
    return Detection(
        scenario="azure-nsg-unattached",
        confidence="HIGH",
        monthly_cost=Decimal(0),
        evidence={
            "network_interfaces": 0,
            "subnets": 0,
            "security_rules": int(a.get("security_rules") or 0),
            "cost": "none: Azure does not bill network security groups (hygiene)",
        },
    )


attach_fixtures(
    "azure-nsg-unattached",
    Fixtures(
        fires=res(
            SECURITY_GROUP,
            arm("Microsoft.Network/networkSecurityGroups", "nsg-old"),
            0,
            network_interfaces=[],
            subnets=[],
            security_rules=3,
        ),
        silent=res(
            SECURITY_GROUP,
            arm("Microsoft.Network/networkSecurityGroups", "nsg-subnet"),
            0,
            network_interfaces=[],
            subnets=[arm("Microsoft.Network/virtualNetworks", "vnet/subnets/app")],
            security_rules=3,
        ),
        now=NOW,
    ),
)


# --- azure-lb-no-backends ------------------------------------------------------------------------


def load_balancer_monthly(prices, region: str, billed_rules: int) -> Decimal | None:
    """A Standard load balancer's monthly charge for its billed rules (load-balancing and
    outbound): the first 5 together, each further one apart; none when it has no rule."""
    if billed_rules <= 0:
        return Decimal(0)
    base = prices.monthly_from_hourly(region, GROUP, "load_balancer_hour", "Standard", "first_5_rules")
    extra = prices.monthly_from_hourly(
        region, GROUP, "load_balancer_hour", "Standard", "additional_rule", quantity=max(0, billed_rules - 5)
    )
    return None if base is None or extra is None else base + extra


@rule(
    key="azure-lb-no-backends",
    provider="azure",
    resource_kind=LOAD_BALANCER,
    title="Standard load balancer with empty backend pools",
    permissions=("Microsoft.Network/loadBalancers/read",),
    confidence_doc=(
        "HIGH: every backend pool is empty and no inbound NAT rule reaches a VM, in the same "
        "listing; ARM gives no time since the pools emptied."
    ),
)
def lb_no_backends(r: Resource, p, ctx: Context) -> Detection | None:
    """A Standard load balancer whose backend pools are all empty (no NIC IP configuration, no
    IP address) or that has none, and no inbound NAT rule pointing at a VM: it balances
    nothing. Azure bills a Standard load balancer by its configured load-balancing and outbound
    rules ($0.025/h for the first 5 in East US, $0.01/h each further one); one with no rule
    bills nothing and is reported at cost 0 (hygiene). Basic load balancers are free (and
    retired since 30 September 2025) and Gateway load balancers are chained to others: neither
    is flagged. Same test as the Azure Orphaned Resources workbook's load balancer query, plus
    the NAT-rule and SKU exceptions."""
    a = r.attributes
    if a.get("sku") != "Standard":
        return None
    pools = list(a.get("backend_pool_sizes") or [])
    if any(int(n) > 0 for n in pools) or int(a.get("inbound_nat_targets") or 0) > 0:
        return None
    billed = int(a.get("load_balancing_rules") or 0) + int(a.get("outbound_rules") or 0)
    cost, unknown = _priced(
        load_balancer_monthly(ctx.prices, r.region, billed), "Standard load balancer rules"
    )
    return Detection(
        scenario="azure-lb-no-backends",
        confidence="HIGH",
        monthly_cost=cost,
        evidence={
            "sku": "Standard",
            "backend_pools": len(pools),
            "backends": 0,
            "billed_rules": billed,
            **(
                {"cost": "none: a Standard load balancer with no rule bills nothing (hygiene)"}
                if billed == 0
                else {}
            ),
            **unknown,
            **ctx.prices.evidence(r.region, GROUP),
        },
    )


attach_fixtures(
    "azure-lb-no-backends",
    Fixtures(
        fires=res(
            LOAD_BALANCER,
            arm("Microsoft.Network/loadBalancers", "lb-empty"),
            0,
            sku="Standard",
            backend_pool_sizes=[0],
            load_balancing_rules=2,
            outbound_rules=0,
            inbound_nat_targets=0,
        ),
        silent=res(
            LOAD_BALANCER,
            arm("Microsoft.Network/loadBalancers", "lb-rdp-nat"),
            0,
            sku="Standard",
            backend_pool_sizes=[0],
            load_balancing_rules=0,
            outbound_rules=0,
            inbound_nat_targets=2,
        ),
        now=NOW,
    ),
)


# --- azure-app-gateway-no-backends ---------------------------------------------------------------


def application_gateway_monthly(prices, region: str, sku: str | None, capacity: int) -> Decimal | None:
    """An application gateway's monthly fixed charge: v2 SKUs per gateway (capacity units not
    counted), v1 sizes per instance."""
    if sku is None:
        return None
    per_instance = not sku.endswith("_v2")
    return prices.monthly_from_hourly(
        region, GROUP, "application_gateway_hour", sku, quantity=max(1, capacity) if per_instance else 1
    )


@rule(
    key="azure-app-gateway-no-backends",
    provider="azure",
    resource_kind=APPLICATION_GATEWAY,
    title="Application gateway with no backend targets",
    permissions=("Microsoft.Network/applicationGateways/read",),
    confidence_doc="HIGH: no backend pool holds an address or an IP configuration, in the same listing.",
)
def app_gateway_no_backends(r: Resource, p, ctx: Context) -> Detection | None:
    """A running application gateway none of whose backend pools holds a target (no
    `backendAddresses`, no `backendIPConfigurations`): it routes requests nowhere. It bills its
    fixed hourly charge all the same ($0.246/h Standard_v2, $0.443/h WAF_v2 in East US; v1
    sizes per instance). The finding's cost is that fixed charge only (capacity units left out:
    an idle gateway uses its minimum). A stopped gateway (operationalState Stopped) is not
    billed and is not flagged. Same test as the Azure Orphaned Resources workbook's application
    gateway query."""
    a = r.attributes
    if a.get("operational_state") == "Stopped":
        return None
    pools = list(a.get("backend_pool_sizes") or [])
    if any(int(n) > 0 for n in pools):
        return None
    sku, capacity = a.get("sku"), int(a.get("capacity") or 0)
    cost, unknown = _priced(application_gateway_monthly(ctx.prices, r.region, sku, capacity), str(sku))
    return Detection(
        scenario="azure-app-gateway-no-backends",
        confidence="HIGH",
        monthly_cost=cost,
        evidence={
            "sku": sku,
            "tier": a.get("tier"),
            "capacity": capacity,
            "operational_state": a.get("operational_state"),
            "backend_pools": len(pools),
            "backends": 0,
            "cost_basis": "fixed gateway-hour charge only (capacity units not counted)",
            **unknown,
            **ctx.prices.evidence(r.region, GROUP),
        },
    )


attach_fixtures(
    "azure-app-gateway-no-backends",
    Fixtures(
        fires=res(
            APPLICATION_GATEWAY,
            arm("Microsoft.Network/applicationGateways", "agw-empty"),
            0,
            sku="WAF_v2",
            tier="WAF_v2",
            capacity=0,
            operational_state="Running",
            backend_pool_sizes=[0, 0],
        ),
        silent=res(
            APPLICATION_GATEWAY,
            arm("Microsoft.Network/applicationGateways", "agw-stopped"),
            0,
            sku="WAF_v2",
            tier="WAF_v2",
            capacity=0,
            operational_state="Stopped",
            backend_pool_sizes=[0],
        ),
        now=NOW,
    ),
)


# --- azure-nat-gateway-no-subnets ----------------------------------------------------------------


def nat_gateway_monthly(prices, region: str, sku: str | None) -> Decimal | None:
    return prices.monthly_from_hourly(region, GROUP, "nat_gateway_hour", str(sku or "Standard"))


@rule(
    key="azure-nat-gateway-no-subnets",
    provider="azure",
    resource_kind=NAT_GATEWAY,
    title="NAT gateway attached to no subnet",
    permissions=("Microsoft.Network/natGateways/read",),
    confidence_doc="HIGH: the gateway lists no subnet, so nothing can send traffic through it.",
)
def nat_gateway_no_subnets(r: Resource, p, ctx: Context) -> Detection | None:
    """A NAT gateway attached to no subnet carries no traffic but bills its hourly charge
    ($0.045/h in East US, about $33 a month). Its public IPs bill too (they stay associated
    with the gateway, so the unassociated-IP rule does not see them; the evidence counts them,
    the cost does not). Same test as the Azure Orphaned Resources workbook's NAT gateway
    query."""
    a = r.attributes
    if a.get("subnets"):
        return None
    sku = a.get("sku") or "Standard"
    cost, unknown = _priced(nat_gateway_monthly(ctx.prices, r.region, sku), f"NAT gateway {sku}")
    return Detection(
        scenario="azure-nat-gateway-no-subnets",
        confidence="HIGH",
        monthly_cost=cost,
        evidence={
            "subnets": 0,
            "sku": sku,
            "public_ips": len(a.get("public_ips") or []),
            "public_ip_prefixes": len(a.get("public_ip_prefixes") or []),
            **unknown,
            **ctx.prices.evidence(r.region, GROUP),
        },
    )


attach_fixtures(
    "azure-nat-gateway-no-subnets",
    Fixtures(
        fires=res(
            NAT_GATEWAY,
            arm("Microsoft.Network/natGateways", "ng-detached"),
            0,
            sku="Standard",
            subnets=[],
            public_ips=[arm("Microsoft.Network/publicIPAddresses", "ng-ip")],
            public_ip_prefixes=[],
        ),
        silent=res(
            NAT_GATEWAY,
            arm("Microsoft.Network/natGateways", "ng-used"),
            0,
            sku="Standard",
            subnets=[arm("Microsoft.Network/virtualNetworks", "vnet/subnets/app")],
            public_ips=[],
            public_ip_prefixes=[],
        ),
        now=NOW,
    ),
)


# --- azure-nat-gateway-idle ----------------------------------------------------------------------

NAT_BYTES = Metric("bytes", "Microsoft.Network/natGateways", "ByteCount", "Microsoft.ResourceId", "Total")
MB = 1_000_000


def _nat_idle_candidate(r: Resource, p, ctx: Context) -> bool:
    """A gateway with subnets (one without is `azure-nat-gateway-no-subnets`)."""
    return bool(r.attributes.get("subnets"))


@rule(
    key="azure-nat-gateway-idle",
    provider="azure",
    resource_kind=NAT_GATEWAY,
    title="NAT gateway with subnets but no traffic",
    permissions=("Microsoft.Network/natGateways/read", "Microsoft.Insights/metrics/read"),
    params={
        "window_days": Param(float, 14.0, "Days of Azure Monitor ByteCount judged.", 2),
        "max_total_mb": Param(
            float, 1.0, "At most this many MB (10^6 bytes) in total over the window counts as idle.", 0
        ),
        "min_coverage": Param(
            float, 0.8, "Share of the window's days that must have datapoints (else: not judged).", 0.1
        ),
    },
    confidence_doc=(
        "HIGH when every day of the window has a datapoint; MEDIUM when some are missing (at "
        "least `min_coverage` of them)."
    ),
    metrics=(NAT_BYTES,),
    candidate=_nat_idle_candidate,
)
def nat_gateway_idle(r: Resource, p, ctx: Context) -> Detection | None:
    """A NAT gateway attached to subnets whose Azure Monitor `ByteCount` (bytes sent and
    received through it, daily Total) sums to at most `max_total_mb` over the last
    `window_days` days: the subnets never reach the internet through it, yet it bills $0.045/h.
    Default window 14 days (Azure Advisor's idle-resource look-back for network gateways is 7 to
    14 days; Steampipe Thrifty's idle rules use 14 to 30); 1 MB absorbs stray probes.

    Missing days are not zeros: below `min_coverage` of the window the gateway is not judged.
    ARM gives a NAT gateway no creation time, so a gateway younger than the window is told by
    its series: it has no datapoints for the days before it existed and falls below the
    coverage threshold."""
    if not _nat_idle_candidate(r, p, ctx):
        return None
    window = math.ceil(p["window_days"])
    series: Series | None = ctx.metric(r, "bytes", window)
    if series is None or series.coverage < p["min_coverage"]:
        return None
    if series.total > p["max_total_mb"] * MB:
        return None
    sku = r.attributes.get("sku") or "Standard"
    cost, unknown = _priced(nat_gateway_monthly(ctx.prices, r.region, sku), f"NAT gateway {sku}")
    return Detection(
        scenario="azure-nat-gateway-idle",
        confidence="HIGH" if series.got >= window else "MEDIUM",
        monthly_cost=cost,
        evidence={
            "window_days": window,
            "total_mb": round(series.total / MB, 3),
            "max_total_mb": p["max_total_mb"],
            "byte_count": series.evidence("bytes"),
            "subnets": len(r.attributes.get("subnets") or []),
            "sku": sku,
            **unknown,
            **ctx.prices.evidence(r.region, GROUP),
        },
    )


_IDLE = arm("Microsoft.Network/natGateways", "ng-idle")
_BUSY = arm("Microsoft.Network/natGateways", "ng-busy")
_SUBNET = arm("Microsoft.Network/virtualNetworks", "vnet/subnets/app")
attach_fixtures(
    "azure-nat-gateway-idle",
    Fixtures(
        fires=res(
            NAT_GATEWAY, _IDLE, 0, sku="Standard", subnets=[_SUBNET], public_ips=[], public_ip_prefixes=[]
        ),
        silent=res(
            NAT_GATEWAY, _BUSY, 0, sku="Standard", subnets=[_SUBNET], public_ips=[], public_ip_prefixes=[]
        ),
        now=NOW,
        series={
            (_IDLE, "bytes", 14): Series((0.0,) * 14, 14),
            (_BUSY, "bytes", 14): Series((0.0,) * 13 + (5e6,), 14),
        },
    ),
)
