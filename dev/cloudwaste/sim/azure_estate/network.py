"""Azure network: public IPs, network interfaces, network security groups, load balancers,
application gateways and NAT gateways. Each rule gets waste to flag and near misses it must
not: an IP on a NIC, on a NAT gateway, from a prefix or Basic dynamic without an address; a NIC
on a VM, of a private endpoint or hosting a NetApp volume; an NSG on a subnet or a NIC; a load
balancer with backends, a Basic one, one forwarding NAT rules to VMs; a gateway with targets or
stopped; a NAT gateway with subnets that is busy, lacks data, or carried a little traffic.

Shapes follow the published ARM examples (provider-api-examples/azure/network_*.json); the
application gateway has no published list example and follows azure-mgmt-network's model.
Referenced VMs, subnets and private endpoints are ids only (no kind here lists them)."""

from __future__ import annotations

import datetime as dt
import random

from ..cloud_estate import EstateContext
from ..truth import TruthResource

PUBLIC_IP = "azure.network.public_ip"
NIC = "azure.network.network_interface"
NSG = "azure.network.security_group"
LB = "azure.network.load_balancer"
APP_GW = "azure.network.application_gateway"
NAT_GW = "azure.network.nat_gateway"

NET = "Microsoft.Network"
# hourly list prices (East US) of what fires, for the simulated user's decision
_HOURLY = {
    "ip_standard": 0.005,
    "ip_basic": 0.0036,
    "lb": 0.025,
    "agw_v2": 0.246,
    "agw_waf": 0.443,
    "nat": 0.045,
}


def rid(sub: str, group: str, type_path: str, name: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{group}/providers/{type_path}/{name}"


def subnet_id(sub: str, name: str) -> str:
    return rid(sub, "rg-network", f"{NET}/virtualNetworks", f"vnet-hub/subnets/{name}")


def _address(rng: random.Random) -> str:
    return f"20.{rng.randint(0, 255)}.{rng.randint(0, 255)}.{rng.randint(1, 254)}"


class Network:
    """The network resources of one estate, with their truth."""

    def __init__(self, ctx: EstateContext) -> None:
        self.ctx, self.api = ctx, ctx.api
        self.rng = ctx.rng("network")
        self.truth: list[TruthResource] = []

    def record(
        self, body: dict, kind: str, tags: dict, scenario: str | None = None, hourly: float = 0.0
    ) -> None:
        decision = None
        if scenario is not None:
            decision = self.ctx.decide(
                self.rng, tags=tags, scenario=scenario, age_days=None, monthly_cost=round(hourly * 730, 2)
            )
        self.truth.append(
            self.ctx.truth(body["id"].lower(), kind, body["location"], tags, scenario, decision)
        )

    # -- builders (ARM JSON) -------------------------------------------------------------------

    def public_ip(
        self,
        sub: str,
        group: str,
        name: str,
        location: str,
        tags: dict,
        *,
        sku: str = "Standard",
        allocation: str = "Static",
        address: bool = True,
        ip_configuration: str | None = None,
        nat_gateway: str | None = None,
        prefix: str | None = None,
    ) -> dict:
        props: dict = {
            "provisioningState": "Succeeded",
            "publicIPAddressVersion": "IPv4",
            "publicIPAllocationMethod": allocation,
            "idleTimeoutInMinutes": 4,
            "ddosSettings": {"protectionMode": "VirtualNetworkInherited"},
        }
        if address:
            props["ipAddress"] = _address(self.rng)
        if ip_configuration:
            props["ipConfiguration"] = {"id": ip_configuration}
        if nat_gateway:
            props["natGateway"] = {"id": nat_gateway}
        if prefix:
            props["publicIPPrefix"] = {"id": prefix}
        return self.api.put(
            {
                "id": rid(sub, group, f"{NET}/publicIPAddresses", name),
                "location": location,
                "tags": tags,
                "type": f"{NET}/publicIPAddresses",
                "sku": {"name": sku, "tier": "Regional"},
                "properties": props,
            }
        )

    def nic(
        self,
        sub: str,
        group: str,
        name: str,
        location: str,
        tags: dict,
        *,
        vm: str | None = None,
        private_endpoint: str | None = None,
        hosted: list[str] | None = None,
        public_ip: str | None = None,
        nsg: str | None = None,
    ) -> dict:
        nic_id = rid(sub, group, f"{NET}/networkInterfaces", name)
        config: dict = {
            "provisioningState": "Succeeded",
            "privateIPAddress": f"10.0.{self.rng.randint(0, 255)}.{self.rng.randint(4, 254)}",
            "privateIPAllocationMethod": "Dynamic",
            "subnet": {"id": subnet_id(sub, "default")},
            "primary": True,
            "privateIPAddressVersion": "IPv4",
        }
        if public_ip:
            config["publicIPAddress"] = {"id": public_ip}
        props: dict = {
            "provisioningState": "Succeeded",
            "ipConfigurations": [
                {"name": "ipconfig1", "id": f"{nic_id}/ipConfigurations/ipconfig1", "properties": config}
            ],
            "dnsSettings": {"dnsServers": [], "appliedDnsServers": []},
            "enableAcceleratedNetworking": self.rng.random() < 0.5,
            "enableIPForwarding": False,
            "vnetEncryptionSupported": False,
        }
        if vm:
            props["virtualMachine"] = {"id": vm}
            props["primary"] = True
        if private_endpoint:
            props["privateEndpoint"] = {"id": private_endpoint}
        if hosted:
            props["hostedWorkloads"] = hosted
        if nsg:
            props["networkSecurityGroup"] = {"id": nsg}
        return self.api.put(
            {
                "id": nic_id,
                "location": location,
                "tags": tags,
                "type": f"{NET}/networkInterfaces",
                "properties": props,
            }
        )

    def nsg(
        self,
        sub: str,
        group: str,
        name: str,
        location: str,
        tags: dict,
        *,
        nics: list[str] = (),
        subnets: list[str] = (),
    ) -> dict:
        nsg_id = rid(sub, group, f"{NET}/networkSecurityGroups", name)
        props: dict = {
            "provisioningState": "Succeeded",
            "securityRules": [
                {
                    "name": "allow-https",
                    "id": f"{nsg_id}/securityRules/allow-https",
                    "properties": {
                        "provisioningState": "Succeeded",
                        "protocol": "Tcp",
                        "sourcePortRange": "*",
                        "destinationPortRange": "443",
                        "sourceAddressPrefix": "*",
                        "destinationAddressPrefix": "*",
                        "access": "Allow",
                        "priority": 100,
                        "direction": "Inbound",
                    },
                }
            ],
        }
        if nics:
            props["networkInterfaces"] = [{"id": n} for n in nics]
        if subnets:
            props["subnets"] = [{"id": s} for s in subnets]
        return self.api.put(
            {
                "id": nsg_id,
                "location": location,
                "tags": tags,
                "type": f"{NET}/networkSecurityGroups",
                "properties": props,
            }
        )

    def load_balancer(
        self,
        sub: str,
        group: str,
        name: str,
        location: str,
        tags: dict,
        *,
        sku: str = "Standard",
        backends: list[str] = (),
        rules: int = 2,
        nat_targets: list[str] = (),
    ) -> dict:
        lb_id = rid(sub, group, f"{NET}/loadBalancers", name)
        fe, pool, probe = (
            f"{lb_id}/frontendIPConfigurations/fe",
            f"{lb_id}/backendAddressPools/pool",
            f"{lb_id}/probes/http",
        )
        rule_ids = [f"{lb_id}/loadBalancingRules/rule{i}" for i in range(rules)]
        props: dict = {
            "provisioningState": "Succeeded",
            "frontendIPConfigurations": [
                {
                    "name": "fe",
                    "id": fe,
                    "type": f"{NET}/loadBalancers/frontendIPConfigurations",
                    "properties": {
                        "provisioningState": "Succeeded",
                        "privateIPAllocationMethod": "Dynamic",
                        "privateIPAddress": "10.0.1.4",
                        "subnet": {"id": subnet_id(sub, "lb")},
                        "loadBalancingRules": [{"id": r} for r in rule_ids],
                    },
                }
            ],
            "backendAddressPools": [
                {
                    "name": "pool",
                    "id": pool,
                    "type": f"{NET}/loadBalancers/backendAddressPools",
                    "properties": {
                        "provisioningState": "Succeeded",
                        "loadBalancingRules": [{"id": r} for r in rule_ids],
                        **({"backendIPConfigurations": [{"id": b} for b in backends]} if backends else {}),
                    },
                }
            ],
            "loadBalancingRules": [
                {
                    "name": r.rsplit("/", 1)[1],
                    "id": r,
                    "type": f"{NET}/loadBalancers/loadBalancingRules",
                    "properties": {
                        "provisioningState": "Succeeded",
                        "frontendIPConfiguration": {"id": fe},
                        "frontendPort": 80 + i,
                        "backendPort": 80 + i,
                        "protocol": "Tcp",
                        "backendAddressPool": {"id": pool},
                        "probe": {"id": probe},
                    },
                }
                for i, r in enumerate(rule_ids)
            ],
            "probes": [
                {
                    "name": "http",
                    "id": probe,
                    "properties": {"protocol": "Http", "port": 80, "requestPath": "/"},
                }
            ],
            "inboundNatRules": [
                {
                    "name": f"rdp{i}",
                    "id": f"{lb_id}/inboundNatRules/rdp{i}",
                    "properties": {
                        "provisioningState": "Succeeded",
                        "frontendIPConfiguration": {"id": fe},
                        "frontendPort": 50000 + i,
                        "backendPort": 3389,
                        "protocol": "Tcp",
                        "backendIPConfiguration": {"id": t},
                    },
                }
                for i, t in enumerate(nat_targets)
            ],
            "inboundNatPools": [],
        }
        return self.api.put(
            {
                "id": lb_id,
                "location": location,
                "tags": tags,
                "type": f"{NET}/loadBalancers",
                "sku": {"name": sku, "tier": "Regional"},
                "properties": props,
            }
        )

    def app_gateway(
        self,
        sub: str,
        group: str,
        name: str,
        location: str,
        tags: dict,
        *,
        sku: str = "Standard_v2",
        targets: list[str] = (),
        state: str = "Running",
    ) -> dict:
        gw_id = rid(sub, group, f"{NET}/applicationGateways", name)
        props = {
            "provisioningState": "Succeeded",
            "operationalState": state,
            "sku": {"name": sku, "tier": sku},
            "autoscaleConfiguration": {"minCapacity": 0, "maxCapacity": 10},
            "gatewayIPConfigurations": [
                {
                    "name": "gwip",
                    "id": f"{gw_id}/gatewayIPConfigurations/gwip",
                    "properties": {"subnet": {"id": subnet_id(sub, "appgw")}},
                }
            ],
            "backendAddressPools": [
                {
                    "name": "backend",
                    "id": f"{gw_id}/backendAddressPools/backend",
                    "properties": {
                        "provisioningState": "Succeeded",
                        "backendAddresses": [{"fqdn": t} for t in targets],
                    },
                }
            ],
            "requestRoutingRules": [
                {
                    "name": "rule1",
                    "id": f"{gw_id}/requestRoutingRules/rule1",
                    "properties": {"ruleType": "Basic", "priority": 100},
                }
            ],
        }
        return self.api.put(
            {
                "id": gw_id,
                "location": location,
                "tags": tags,
                "type": f"{NET}/applicationGateways",
                "properties": props,
            }
        )

    def nat_gateway(
        self, sub: str, group: str, name: str, location: str, tags: dict, *, subnets: list[str] = ()
    ) -> dict:
        gw_id = rid(sub, group, f"{NET}/natGateways", name)
        ip = self.public_ip(sub, group, f"{name}-ip", location, tags, nat_gateway=gw_id)
        self.record(ip, PUBLIC_IP, tags)  # on the gateway: a near miss of the unassociated-IP rule
        props: dict = {
            "idleTimeoutInMinutes": 4,
            "provisioningState": "Succeeded",
            "publicIpAddresses": [{"id": ip["id"]}],
        }
        if subnets:
            props["subnets"] = [{"id": s} for s in subnets]
        return self.api.put(
            {
                "id": gw_id,
                "location": location,
                "tags": tags,
                "type": f"{NET}/natGateways",
                "sku": {"name": "Standard"},
                "properties": props,
            }
        )

    # -- the estate --------------------------------------------------------------------------------

    def seed(self) -> list[TruthResource]:
        self.public_ips()
        self.nics()
        self.nsgs()
        self.load_balancers()
        self.app_gateways()
        self.nat_gateways()
        self.vm_nics()
        return self.truth

    def public_ips(self) -> None:
        ctx, rng = self.ctx, self.rng
        for i in range(ctx.count(0.03)):  # waste: Standard (and some Basic static) attached to nothing
            sub, loc = ctx.pick(rng)
            tags = ctx.tags(rng, "elastic_ip")
            basic = i % 3 == 2
            body = self.public_ip(
                sub, "rg-network", f"pip-orphan-{i}", loc, tags, sku="Basic" if basic else "Standard"
            )
            self.record(
                body,
                PUBLIC_IP,
                tags,
                "azure-public-ip-unassociated",
                _HOURLY["ip_basic" if basic else "ip_standard"],
            )
        for i in range(ctx.count(0.015)):  # near misses: from a prefix; Basic dynamic without an address
            sub, loc = ctx.pick(rng)
            tags = ctx.tags(rng, "elastic_ip")
            if i % 2 == 0:
                prefix = rid(sub, "rg-network", f"{NET}/publicIPPrefixes", "prefix-egress")
                body = self.public_ip(sub, "rg-network", f"pip-prefix-{i}", loc, tags, prefix=prefix)
            else:
                body = self.public_ip(
                    sub,
                    "rg-network",
                    f"pip-dynamic-{i}",
                    loc,
                    tags,
                    sku="Basic",
                    allocation="Dynamic",
                    address=False,
                )
            self.record(body, PUBLIC_IP, tags)

    def nics(self) -> None:
        ctx, rng = self.ctx, self.rng
        for i in range(ctx.count(0.03)):  # waste: left behind by a deleted VM (some still holding an IP)
            sub, loc = ctx.pick(rng)
            tags = ctx.tags(rng, "nic")
            ip = None
            if i % 3 == 0:
                nic_id = rid(sub, "rg-app", f"{NET}/networkInterfaces", f"vm-gone-{i}-nic")
                pip = self.public_ip(
                    sub,
                    "rg-app",
                    f"vm-gone-{i}-ip",
                    loc,
                    tags,
                    ip_configuration=f"{nic_id}/ipConfigurations/ipconfig1",
                )
                self.record(pip, PUBLIC_IP, tags)  # held by the NIC: not unassociated
                ip = pip["id"]
            body = self.nic(sub, "rg-app", f"vm-gone-{i}-nic", loc, tags, public_ip=ip)
            self.record(body, NIC, tags, "azure-nic-unattached")
        for i in range(ctx.count(0.04)):  # near misses: on a VM (with its IP), a private endpoint's, NetApp's
            sub, loc = ctx.pick(rng)
            tags = ctx.tags(rng, "nic")
            variant = i % 4
            if variant in (0, 1):
                vm = rid(sub, "rg-app", "Microsoft.Compute/virtualMachines", f"vm-app-{i}")
                nic_id = rid(sub, "rg-app", f"{NET}/networkInterfaces", f"vm-app-{i}-nic")
                pip = self.public_ip(
                    sub,
                    "rg-app",
                    f"vm-app-{i}-ip",
                    loc,
                    tags,
                    ip_configuration=f"{nic_id}/ipConfigurations/ipconfig1",
                )
                self.record(pip, PUBLIC_IP, tags)
                body = self.nic(sub, "rg-app", f"vm-app-{i}-nic", loc, tags, vm=vm, public_ip=pip["id"])
            elif variant == 2:
                pe = rid(sub, "rg-app", f"{NET}/privateEndpoints", f"pe-storage-{i}")
                body = self.nic(
                    sub,
                    "rg-app",
                    f"pe-storage-{i}.nic.{rng.randrange(16**8):08x}",
                    loc,
                    tags,
                    private_endpoint=pe,
                )
            else:
                volume = rid(
                    sub,
                    "rg-data",
                    "Microsoft.NetApp/netAppAccounts",
                    f"anf/capacityPools/pool/volumes/vol{i}",
                )
                body = self.nic(sub, "rg-data", f"anf-{loc}-nic-{i}", loc, tags, hosted=[volume])
            self.record(body, NIC, tags)

    def nsgs(self) -> None:
        ctx, rng = self.ctx, self.rng
        for i in range(ctx.count(0.02)):  # waste: associated with nothing
            sub, loc = ctx.pick(rng)
            tags = ctx.tags(rng, "security_group")
            body = self.nsg(sub, "rg-network", f"nsg-unused-{i}", loc, tags)
            self.record(body, NSG, tags, "azure-nsg-unattached")
        for i in range(ctx.count(0.02)):  # near misses: on a subnet, on a NIC
            sub, loc = ctx.pick(rng)
            tags = ctx.tags(rng, "security_group")
            if i % 2 == 0:
                body = self.nsg(
                    sub, "rg-network", f"nsg-subnet-{i}", loc, tags, subnets=[subnet_id(sub, f"app{i}")]
                )
            else:
                nic = rid(sub, "rg-app", f"{NET}/networkInterfaces", f"vm-app-{i}-nic")
                body = self.nsg(sub, "rg-network", f"nsg-nic-{i}", loc, tags, nics=[nic])
            self.record(body, NSG, tags)

    def load_balancers(self) -> None:
        ctx, rng = self.ctx, self.rng
        for i in range(ctx.count(0.015)):  # waste: Standard, empty pool, 2 rules (every third: 7 rules)
            sub, loc = ctx.pick(rng)
            tags = ctx.tags(rng, "load_balancer")
            rules = 7 if i % 3 == 2 else 2
            body = self.load_balancer(sub, "rg-network", f"lb-empty-{i}", loc, tags, rules=rules)
            self.record(body, LB, tags, "azure-lb-no-backends", _HOURLY["lb"] + 0.01 * max(0, rules - 5))
        for i in range(ctx.count(0.015)):  # near misses: with backends, Basic and empty, NAT rules to VMs
            sub, loc = ctx.pick(rng)
            tags = ctx.tags(rng, "load_balancer")
            configs = [
                rid(sub, "rg-app", f"{NET}/networkInterfaces", f"vm-web-{i}-{n}-nic")
                + "/ipConfigurations/ipconfig1"
                for n in range(2)
            ]
            variant = i % 3
            if variant == 0:
                body = self.load_balancer(sub, "rg-network", f"lb-web-{i}", loc, tags, backends=configs)
            elif variant == 1:
                body = self.load_balancer(sub, "rg-network", f"lb-basic-{i}", loc, tags, sku="Basic")
            else:
                body = self.load_balancer(
                    sub, "rg-network", f"lb-jump-{i}", loc, tags, rules=0, nat_targets=configs
                )
            self.record(body, LB, tags)

    def app_gateways(self) -> None:
        ctx, rng = self.ctx, self.rng
        for i in range(ctx.count(0.01)):  # waste: running, no backend target
            sub, loc = ctx.pick(rng)
            tags = ctx.tags(rng, "load_balancer")
            waf = i % 2 == 1
            body = self.app_gateway(
                sub, "rg-edge", f"agw-empty-{i}", loc, tags, sku="WAF_v2" if waf else "Standard_v2"
            )
            self.record(
                body, APP_GW, tags, "azure-app-gateway-no-backends", _HOURLY["agw_waf" if waf else "agw_v2"]
            )
        for i in range(ctx.count(0.01)):  # near misses: with targets; stopped and empty
            sub, loc = ctx.pick(rng)
            tags = ctx.tags(rng, "load_balancer")
            if i % 2 == 0:
                body = self.app_gateway(
                    sub, "rg-edge", f"agw-web-{i}", loc, tags, targets=[f"app{i}.azurewebsites.net"]
                )
            else:
                body = self.app_gateway(sub, "rg-edge", f"agw-stopped-{i}", loc, tags, state="Stopped")
            self.record(body, APP_GW, tags)

    def nat_gateways(self) -> None:
        ctx, rng = self.ctx, self.rng
        for i in range(ctx.count(0.01)):  # waste: attached to no subnet
            sub, loc = ctx.pick(rng)
            tags = ctx.tags(rng, "nat_gateway")
            body = self.nat_gateway(sub, "rg-network", f"ng-detached-{i}", loc, tags)
            self.record(body, NAT_GW, tags, "azure-nat-gateway-no-subnets", _HOURLY["nat"])
        for i in range(ctx.count(0.01)):  # waste: subnets, but no byte in 14 days
            sub, loc = ctx.pick(rng)
            tags = ctx.tags(rng, "nat_gateway")
            body = self.nat_gateway(
                sub, "rg-network", f"ng-idle-{i}", loc, tags, subnets=[subnet_id(sub, f"batch{i}")]
            )
            self.api.put_metric(body["id"], "ByteCount", ctx.daily([0.0] * 30))
            self.record(body, NAT_GW, tags, "azure-nat-gateway-idle", _HOURLY["nat"])
        for i in range(ctx.count(0.02)):  # near misses: busy; 5 days of data only; 2 MB on one day
            sub, loc = ctx.pick(rng)
            tags = ctx.tags(rng, "nat_gateway")
            body = self.nat_gateway(
                sub, "rg-network", f"ng-egress-{i}", loc, tags, subnets=[subnet_id(sub, f"app{i}")]
            )
            variant = i % 3
            if variant == 0:
                values = [rng.uniform(1e8, 5e9) for _ in range(30)]
            elif variant == 1:
                values = [0.0] * 5  # created 5 days ago: not enough data to judge
            else:
                values = [0.0] * 6 + [2e6] + [0.0] * 23
            self.api.put_metric(body["id"], "ByteCount", ctx.daily(values))
            self.record(body, NAT_GW, tags)

    def vm_nics(self) -> None:
        """The NICs the estate's VMs (seeded before, by the compute module) reference, each with
        a Standard static IP: the IP of a VM deallocated for 30 days or more is waste (a part of
        the VM's finding), the others near misses (running, or deallocated for days). The
        deallocation time is read as the scanner does: the OS disk's LastOwnershipUpdateTime,
        else the time of the VM's provisioning status."""
        ctx = self.ctx
        for sub_id in ctx.scopes:
            vms = self.api.subscription(sub_id).resources.get("microsoft.compute/virtualmachines", {})
            for vm in sorted(vms.values(), key=lambda v: v["id"].lower()):
                props = vm.get("properties", {})
                for ref in props.get("networkProfile", {}).get("networkInterfaces", []):
                    if self.api.get(ref["id"]) is not None:
                        continue
                    parts = ref["id"].split("/")
                    sub, group, name, loc = parts[2], parts[4], parts[-1], vm["location"]
                    tags = dict(vm.get("tags") or {})
                    nic_id = rid(sub, group, f"{NET}/networkInterfaces", name)
                    pip = self.public_ip(
                        sub,
                        group,
                        f"{name}-ip",
                        loc,
                        tags,
                        ip_configuration=f"{nic_id}/ipConfigurations/ipconfig1",
                    )
                    days = _deallocated_days(self.api, vm, ctx)
                    waste = days is not None and days >= 30
                    self.record(
                        pip,
                        PUBLIC_IP,
                        tags,
                        "azure-public-ip-on-deallocated-vm" if waste else None,
                        _HOURLY["ip_standard"],
                    )
                    self.record(
                        self.nic(sub, group, name, loc, tags, vm=vm["id"], public_ip=pip["id"]), NIC, tags
                    )


def _deallocated_days(api, vm: dict, ctx: EstateContext) -> float | None:
    props = vm.get("properties", {})
    statuses = props.get("instanceView", {}).get("statuses", [])
    if not any(s.get("code", "").lower() == "powerstate/deallocated" for s in statuses):
        return None
    os_disk = api.get(
        props.get("storageProfile", {}).get("osDisk", {}).get("managedDisk", {}).get("id") or "/x/y"
    )
    stamp = (os_disk or {}).get("properties", {}).get("LastOwnershipUpdateTime") or next(
        (s.get("time") for s in statuses if s.get("code", "").lower().startswith("provisioningstate/")), None
    )
    if stamp is None:
        return None
    then = dt.datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    return (ctx.now - then).total_seconds() / 86400


def seed(ctx: EstateContext) -> list[TruthResource]:
    return Network(ctx).seed()
