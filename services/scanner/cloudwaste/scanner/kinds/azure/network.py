"""Azure network kinds (Microsoft.Network): public IP addresses, network interfaces, network
security groups, load balancers, application gateways and NAT gateways.

Each is one `list_all` of the subscription (NetworkManagementClient, every page followed). ARM
gives none of them a creation time (`created_field` None): the network rules judge what a
resource is attached to, not how old it is. Every reference to another resource (an IP's
ipConfiguration, a NIC's virtualMachine) is kept as a lower-case ARM id.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from typing import Any

from azure.mgmt.network import NetworkManagementClient
from cloudwaste.scanner.domain import Resource
from cloudwaste.scanner.kinds import kind, parent_at
from cloudwaste.scanner.kinds.azure._common import PROVIDER, Deps, arm_id, enum, parent_by_type, resource

PUBLIC_IP = "azure.network.public_ip"
NETWORK_INTERFACE = "azure.network.network_interface"
SECURITY_GROUP = "azure.network.security_group"
LOAD_BALANCER = "azure.network.load_balancer"
APPLICATION_GATEWAY = "azure.network.application_gateway"
NAT_GATEWAY = "azure.network.nat_gateway"
# what a public IP can be attached to, by ARM type
_IP_HOLDERS = {
    "networkinterfaces": NETWORK_INTERFACE,
    "loadbalancers": LOAD_BALANCER,
    "applicationgateways": APPLICATION_GATEWAY,
    "natgateways": NAT_GATEWAY,
}


def _network(conn, subscription: str) -> Any:
    return conn.client(NetworkManagementClient, subscription)


def _ref(value: Any) -> str | None:
    """The lower-case id of a SubResource-like reference ({"id": ...}), None when absent."""
    if value is None:
        return None
    rid = getattr(value, "id", None)
    if rid is None and isinstance(value, dict):
        rid = value.get("id")
    return arm_id(rid)


def _refs(values: Iterable[Any] | None) -> list[str]:
    return [r for r in (_ref(v) for v in values or ()) if r]


def _props(model: Any) -> Any:
    """A sub-resource's properties bag (pools, IP configurations), or an empty one."""
    return getattr(model, "properties", None) or _Empty()


class _Empty:
    def __getattr__(self, name: str) -> None:
        return None


# --- public IP addresses ---------------------------------------------------------------------


@kind(
    key=PUBLIC_IP,
    parent=parent_by_type(("ip_configuration", "nat_gateway"), _IP_HOLDERS),
    provider=PROVIDER,
    title="Public IP address",
    operations=("Microsoft.Network/publicIPAddresses/read",),
    id_field="id",
    name_field="name",
    created_field=None,
    ml_config={"sku": str, "tier": str, "allocation": str, "ip_version": str, "from_prefix": bool},
)
def list_public_ips(conn, subscription: str, now: dt.datetime, deps: Deps) -> list[Resource]:
    """Public IP addresses of the subscription (PublicIPAddresses_ListAll): SKU (Basic, Standard)
    and tier (Regional, Global), allocation (Static, Dynamic), whether an address is allocated,
    what uses it (`ipConfiguration`: a NIC's, a load balancer's or a gateway's IP configuration;
    `natGateway`) and the public IP prefix it was taken from."""
    out = []
    for ip in _network(conn, subscription).public_ip_addresses.list_all():
        sku = enum(ip.sku.name) if ip.sku else None
        tier = enum(ip.sku.tier) if ip.sku else None
        allocation = enum(ip.public_ip_allocation_method)
        version = enum(ip.public_ip_address_version)
        prefix = _ref(ip.public_ip_prefix)
        out.append(
            resource(
                PUBLIC_IP,
                ip,
                attributes={
                    "sku": sku,
                    "tier": tier,
                    "allocation": allocation,
                    "ip_version": version,
                    "has_address": bool(ip.ip_address),
                    "ip_configuration": _ref(ip.ip_configuration),
                    "nat_gateway": _ref(ip.nat_gateway),
                    "public_ip_prefix": prefix,
                    "provisioning_state": enum(ip.provisioning_state),
                },
                config={
                    "sku": sku or "",
                    "tier": tier or "",
                    "allocation": allocation or "",
                    "ip_version": version or "",
                    "from_prefix": prefix is not None,
                },
            )
        )
    return out


# --- network interfaces ------------------------------------------------------------------------


@kind(
    key=NETWORK_INTERFACE,
    parent=parent_at("virtual_machine", "azure.compute.virtual_machine"),
    provider=PROVIDER,
    title="Network interface",
    operations=("Microsoft.Network/networkInterfaces/read",),
    id_field="id",
    name_field="name",
    created_field=None,
    ml_config={"ip_configurations": int, "accelerated_networking": bool, "ip_forwarding": bool},
)
def list_network_interfaces(conn, subscription: str, now: dt.datetime, deps: Deps) -> list[Resource]:
    """Network interfaces of the subscription (NetworkInterfaces_ListAll): the VM using it
    (`virtualMachine`), the private endpoint or private link service that owns it, the service
    workloads hosted on it (`hostedWorkloads`: Azure NetApp Files volumes...), its IP
    configurations (ids) and the public IPs they hold. Scale-set NICs are not in this listing."""
    out = []
    for nic in _network(conn, subscription).network_interfaces.list_all():
        configs = list(nic.ip_configurations or [])
        public_ips = [p for p in (_ref(_props(c).public_ip_address) for c in configs) if p]
        out.append(
            resource(
                NETWORK_INTERFACE,
                nic,
                attributes={
                    "virtual_machine": _ref(nic.virtual_machine),
                    "private_endpoint": _ref(nic.private_endpoint),
                    "private_link_service": _ref(nic.private_link_service),
                    "hosted_workloads": len(nic.hosted_workloads or []),
                    "nic_type": enum(nic.nic_type),
                    "ip_configuration_ids": [arm_id(c.id) for c in configs if c.id],
                    "public_ip_ids": public_ips,
                    "network_security_group": _ref(nic.network_security_group),
                    "provisioning_state": enum(nic.provisioning_state),
                },
                config={
                    "ip_configurations": len(configs),
                    "accelerated_networking": bool(nic.enable_accelerated_networking),
                    "ip_forwarding": bool(nic.enable_ip_forwarding),
                },
            )
        )
    return out


# --- network security groups -------------------------------------------------------------------


@kind(
    key=SECURITY_GROUP,
    provider=PROVIDER,
    title="Network security group",
    operations=("Microsoft.Network/networkSecurityGroups/read",),
    id_field="id",
    name_field="name",
    created_field=None,
    ml_config={"security_rules": int, "network_interfaces": int, "subnets": int},
)
def list_security_groups(conn, subscription: str, now: dt.datetime, deps: Deps) -> list[Resource]:
    """Network security groups of the subscription (NetworkSecurityGroups_ListAll): how many
    custom rules they hold and the NICs and subnets they are associated with."""
    out = []
    for nsg in _network(conn, subscription).network_security_groups.list_all():
        rules, nics, subnets = (
            len(nsg.security_rules or []),
            _refs(nsg.network_interfaces),
            _refs(nsg.subnets),
        )
        out.append(
            resource(
                SECURITY_GROUP,
                nsg,
                attributes={
                    "security_rules": rules,
                    "network_interfaces": nics,
                    "subnets": subnets,
                    "provisioning_state": enum(nsg.provisioning_state),
                },
                config={"security_rules": rules, "network_interfaces": len(nics), "subnets": len(subnets)},
            )
        )
    return out


# --- load balancers ---------------------------------------------------------------------------


@kind(
    key=LOAD_BALANCER,
    provider=PROVIDER,
    title="Load balancer",
    operations=("Microsoft.Network/loadBalancers/read",),
    id_field="id",
    name_field="name",
    created_field=None,
    ml_config={
        "sku": str,
        "tier": str,
        "frontends": int,
        "backend_pools": int,
        "backends": int,
        "load_balancing_rules": int,
        "outbound_rules": int,
    },
)
def list_load_balancers(conn, subscription: str, now: dt.datetime, deps: Deps) -> list[Resource]:
    """Load balancers of the subscription (LoadBalancers_ListAll): SKU (Basic, Standard,
    Gateway) and tier, frontends, backend pools with how many members each holds (NIC IP
    configurations `backendIPConfigurations` plus IP-based `loadBalancerBackendAddresses`), and
    the rules that bill (load-balancing and outbound rules; inbound NAT rules are free), and how
    many inbound NAT rules reach a VM directly (`backendIPConfiguration`: port forwarding that
    uses no backend pool)."""
    out = []
    for lb in _network(conn, subscription).load_balancers.list_all():
        sku = enum(lb.sku.name) if lb.sku else None
        tier = enum(lb.sku.tier) if lb.sku else None
        pools = [
            len(_props(p).backend_ip_configurations or [])
            + len(_props(p).load_balancer_backend_addresses or [])
            for p in lb.backend_address_pools or []
        ]
        lb_rules, outbound = len(lb.load_balancing_rules or []), len(lb.outbound_rules or [])
        nat_rules = list(lb.inbound_nat_rules or [])
        nat_targets = sum(1 for n in nat_rules if _props(n).backend_ip_configuration is not None)
        frontends = len(lb.frontend_ip_configurations or [])
        out.append(
            resource(
                LOAD_BALANCER,
                lb,
                attributes={
                    "sku": sku,
                    "tier": tier,
                    "frontends": frontends,
                    "backend_pool_sizes": pools,
                    "load_balancing_rules": lb_rules,
                    "outbound_rules": outbound,
                    "inbound_nat_rules": len(nat_rules),
                    "inbound_nat_targets": nat_targets,
                    "provisioning_state": enum(lb.provisioning_state),
                },
                config={
                    "sku": sku or "",
                    "tier": tier or "",
                    "frontends": frontends,
                    "backend_pools": len(pools),
                    "backends": sum(pools),
                    "load_balancing_rules": lb_rules,
                    "outbound_rules": outbound,
                },
            )
        )
    return out


# --- application gateways ---------------------------------------------------------------------


@kind(
    key=APPLICATION_GATEWAY,
    provider=PROVIDER,
    title="Application gateway",
    operations=("Microsoft.Network/applicationGateways/read",),
    id_field="id",
    name_field="name",
    created_field=None,
    ml_config={
        "sku": str,
        "tier": str,
        "capacity": int,
        "backend_pools": int,
        "backends": int,
        "autoscale": bool,
    },
)
def list_application_gateways(conn, subscription: str, now: dt.datetime, deps: Deps) -> list[Resource]:
    """Application gateways of the subscription (ApplicationGateways_ListAll): SKU name and
    tier (Standard_v2, WAF_v2; v1 sizes), instance count or autoscale bounds, operational state
    (Running, Stopped: a stopped gateway is not billed) and the members of its backend pools
    (`backendAddresses` by FQDN or IP, `backendIPConfigurations` of NICs)."""
    out = []
    for gw in _network(conn, subscription).application_gateways.list_all():
        sku = gw.sku
        name, tier = (enum(sku.name), enum(sku.tier)) if sku else (None, None)
        capacity = int(sku.capacity or 0) if sku else 0
        scale = gw.autoscale_configuration
        pools = [
            len(_props(p).backend_addresses or []) + len(_props(p).backend_ip_configurations or [])
            for p in gw.backend_address_pools or []
        ]
        out.append(
            resource(
                APPLICATION_GATEWAY,
                gw,
                attributes={
                    "sku": name,
                    "tier": tier,
                    "capacity": capacity,
                    "autoscale_min": int(scale.min_capacity)
                    if scale and scale.min_capacity is not None
                    else None,
                    "autoscale_max": int(scale.max_capacity)
                    if scale and scale.max_capacity is not None
                    else None,
                    "operational_state": enum(gw.operational_state),
                    "backend_pool_sizes": pools,
                    "request_routing_rules": len(gw.request_routing_rules or []),
                    "provisioning_state": enum(gw.provisioning_state),
                },
                config={
                    "sku": name or "",
                    "tier": tier or "",
                    "capacity": capacity,
                    "backend_pools": len(pools),
                    "backends": sum(pools),
                    "autoscale": scale is not None,
                },
            )
        )
    return out


# --- NAT gateways -------------------------------------------------------------------------------


@kind(
    key=NAT_GATEWAY,
    provider=PROVIDER,
    title="NAT gateway",
    operations=("Microsoft.Network/natGateways/read",),
    id_field="id",
    name_field="name",
    created_field=None,
    ml_config={"sku": str, "subnets": int, "public_ips": int, "public_ip_prefixes": int},
)
def list_nat_gateways(conn, subscription: str, now: dt.datetime, deps: Deps) -> list[Resource]:
    """NAT gateways of the subscription (NatGateways_ListAll): SKU (Standard, StandardV2), the
    subnets using it and its public IPs and prefixes (IPv4 and IPv6)."""
    out = []
    for gw in _network(conn, subscription).nat_gateways.list_all():
        sku = enum(gw.sku.name) if gw.sku else None
        subnets = _refs(gw.subnets)
        ips = _refs(gw.public_ip_addresses) + _refs(gw.public_ip_addresses_v6)
        prefixes = _refs(gw.public_ip_prefixes) + _refs(gw.public_ip_prefixes_v6)
        out.append(
            resource(
                NAT_GATEWAY,
                gw,
                attributes={
                    "sku": sku,
                    "subnets": subnets,
                    "public_ips": ips,
                    "public_ip_prefixes": prefixes,
                    "provisioning_state": enum(gw.provisioning_state),
                },
                config={
                    "sku": sku or "",
                    "subnets": len(subnets),
                    "public_ips": len(ips),
                    "public_ip_prefixes": len(prefixes),
                },
            )
        )
    return out
