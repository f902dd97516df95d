"""Azure network, App Service and resource group rules: edge cases, prices, and the kinds'
listings over the vendor's published response shapes served by the local ARM endpoint."""

from __future__ import annotations

import dataclasses
import json
from decimal import Decimal
from pathlib import Path

import pytest
from cloudwaste.scanner.cloud_prices import CloudPrices
from cloudwaste.scanner.kinds import load_all as load_kinds
from cloudwaste.scanner.rules import Context, Series, load_all
from cloudwaste.scanner.rules.azure._common import NOW, SUB, arm, days_ago, res
from cloudwaste.scanner.rules.azure.network_vm import nic_of

RULES = {r.key: r for r in load_all()}
KINDS = load_kinds()
PRICES = CloudPrices("azure")
EXAMPLES = Path("/work/shared/datasets/provider-api-examples/azure")


def run(key, resource, related=(), series=None, **overrides):
    index = {(r.kind, r.resource_id): r for r in related}
    ctx = Context(
        now=NOW,
        prices=PRICES,
        lookup=lambda k, i: index.get((k, i)),
        metric=lambda r, name, days: (series or {}).get((r.resource_id, name, days)),
    )
    params = {k: v for k, v in RULES[key].resolve_params(overrides).items() if k != "enabled"}
    return RULES[key].evaluate(resource, params, ctx)


IP = "azure.network.public_ip"


def ip(**a):
    base = {"sku": "Standard", "tier": "Regional", "allocation": "Static", "has_address": True}
    return res(IP, arm("Microsoft.Network/publicIPAddresses", "ip"), 0, location="eastus", **{**base, **a})


def test_public_ip_prices_and_exceptions():
    d = run("azure-public-ip-unassociated", ip())
    assert d.monthly_cost == Decimal("3.65") and d.confidence == "HIGH"
    basic = run("azure-public-ip-unassociated", ip(sku="Basic"))
    assert basic.monthly_cost == Decimal("2.628") and basic.confidence == "MEDIUM"
    assert (
        run(
            "azure-public-ip-unassociated", ip(sku="Basic", allocation="Dynamic", has_address=True)
        ).monthly_cost
        > 0
    )
    assert run("azure-public-ip-unassociated", ip(tier="Global")).monthly_cost == Decimal("7.3")
    for attached in (
        {"ip_configuration": "/x/ipconfigurations/c"},
        {"nat_gateway": "/ng"},
        {"public_ip_prefix": "/p"},
    ):
        assert run("azure-public-ip-unassociated", ip(**attached)) is None
    unknown = run("azure-public-ip-unassociated", ip(sku="Premium"))
    assert unknown.monthly_cost == 0 and "cost_unknown" in unknown.evidence


def test_nic_owned_by_a_service_is_not_flagged():
    nic = "azure.network.network_interface"
    rid = arm("Microsoft.Network/networkInterfaces", "n")
    assert run("azure-nic-unattached", res(nic, rid, 0, hosted_workloads=1)) is None
    assert run("azure-nic-unattached", res(nic, rid, 0, private_link_service="/pls")) is None
    assert run("azure-nic-unattached", res(nic, rid, 0, virtual_machine="/vm")) is None
    d = run("azure-nic-unattached", res(nic, rid, 0, public_ip_ids=["/ip"]))
    assert d.monthly_cost == 0 and d.evidence["public_ips_held"] == ["/ip"]


def test_nsg_on_a_nic_is_not_flagged():
    nsg = res(
        "azure.network.security_group",
        arm("Microsoft.Network/networkSecurityGroups", "g"),
        0,
        network_interfaces=["/n"],
    )
    assert run("azure-nsg-unattached", nsg) is None


def lb(**a):
    base = {"sku": "Standard", "backend_pool_sizes": [0], "load_balancing_rules": 2, "outbound_rules": 0}
    return res(
        "azure.network.load_balancer",
        arm("Microsoft.Network/loadBalancers", "lb"),
        0,
        location="eastus",
        **{**base, **a},
    )


def test_load_balancer_rules_price_and_near_misses():
    assert run("azure-lb-no-backends", lb()).monthly_cost == Decimal("18.25")
    assert run("azure-lb-no-backends", lb(load_balancing_rules=6, outbound_rules=1)).monthly_cost == Decimal(
        "32.85"
    )
    none = run("azure-lb-no-backends", lb(load_balancing_rules=0, backend_pool_sizes=[]))
    assert none.monthly_cost == 0 and "cost" in none.evidence
    assert run("azure-lb-no-backends", lb(sku="Basic")) is None
    assert run("azure-lb-no-backends", lb(sku="Gateway")) is None
    assert run("azure-lb-no-backends", lb(backend_pool_sizes=[0, 1])) is None


def test_app_gateway_v1_priced_per_instance_and_unknown_sku():
    gw = "azure.network.application_gateway"
    rid = arm("Microsoft.Network/applicationGateways", "g")
    v1 = run(
        "azure-app-gateway-no-backends", res(gw, rid, 0, location="eastus", sku="Standard_Medium", capacity=2)
    )
    assert v1.monthly_cost == Decimal("102.2")
    v2 = run(
        "azure-app-gateway-no-backends", res(gw, rid, 0, location="eastus", sku="Standard_v2", capacity=4)
    )
    assert v2.monthly_cost == Decimal("179.58")
    basic = run("azure-app-gateway-no-backends", res(gw, rid, 0, sku="Basic"))
    assert basic.monthly_cost == 0 and "cost_unknown" in basic.evidence
    assert (
        run("azure-app-gateway-no-backends", res(gw, rid, 0, sku="WAF_v2", backend_pool_sizes=[0, 2])) is None
    )


NAT = "azure.network.nat_gateway"
NG = arm("Microsoft.Network/natGateways", "ng")


def nat(**a):
    return res(NAT, NG, 0, location="eastus", **{"sku": "Standard", "subnets": ["/s"], **a})


def test_nat_gateway_rules_are_exclusive():
    zero = {(NG, "bytes", 14): Series((0.0,) * 14, 14)}
    assert run("azure-nat-gateway-idle", nat(subnets=[]), series=zero) is None
    assert run("azure-nat-gateway-no-subnets", nat()) is None
    assert run("azure-nat-gateway-no-subnets", nat(subnets=[])).monthly_cost == Decimal("32.85")
    assert run("azure-nat-gateway-idle", nat(), series=zero).confidence == "HIGH"


def test_nat_gateway_idle_coverage_and_threshold():
    def idle(values):
        return run("azure-nat-gateway-idle", nat(), series={(NG, "bytes", 14): Series(tuple(values), 14)})

    assert idle([0.0] * 12).confidence == "MEDIUM"  # 12/14 >= 0.8
    assert idle([0.0] * 11) is None  # too few days: maybe a new gateway
    assert idle([0.0] * 13 + [1e6]) is not None  # 1 MB: at the threshold
    assert idle([0.0] * 13 + [1.1e6]) is None
    assert run("azure-nat-gateway-idle", nat()) is None  # no series fetched


PLAN = "azure.web.app_service_plan"


def plan(created_days=60, **a):
    base = {"sku": "B1", "tier": "Basic", "instances": 1, "number_of_sites": 0, "linux": False}
    return res(PLAN, arm("Microsoft.Web/serverfarms", "p"), created_days, location="eastus", **{**base, **a})


def test_app_service_plan_price_age_and_free_tiers():
    assert run("azure-app-service-plan-no-apps", plan()).monthly_cost == Decimal("54.75")
    assert run(
        "azure-app-service-plan-no-apps", plan(sku="P1v3", tier="PremiumV3", linux=True, instances=3)
    ).monthly_cost == Decimal("339.45")
    assert run("azure-app-service-plan-no-apps", plan(created_days=2)) is None
    for tier in ("Free", "Shared", "Dynamic", "FlexConsumption"):
        assert run("azure-app-service-plan-no-apps", plan(tier=tier)) is None
    assert run("azure-app-service-plan-no-apps", plan(number_of_sites=1)) is None
    unknown = run("azure-app-service-plan-no-apps", plan(sku="I1v2", tier="IsolatedV2"))
    assert unknown.monthly_cost == 0 and "cost_unknown" in unknown.evidence
    no_time = run("azure-app-service-plan-no-apps", dataclasses.replace(plan(), created_at=None))
    assert no_time.confidence == "MEDIUM"


def test_resource_group_rules():
    group = "azure.resources.resource_group"
    rid = f"/subscriptions/{SUB}/resourcegroups/rg"
    assert run("azure-resource-group-empty", res(group, rid, 0, resource_count=1)) is None
    assert run("azure-resource-group-empty", res(group, rid, 0, provisioning_state="Deleting")) is None
    assert run("azure-resource-group-empty", res(group, rid, 0, resource_count=0)).monthly_cost == 0


def test_public_ip_on_deallocated_vm_resolution():
    nic_id = arm("Microsoft.Network/networkInterfaces", "n")
    assert nic_of(f"{nic_id}/ipconfigurations/ipconfig1") == nic_id
    assert nic_of(arm("Microsoft.Network/loadBalancers", "lb") + "/frontendipconfigurations/fe") is None
    vm = res(
        "azure.compute.virtual_machine",
        arm("Microsoft.Compute/virtualMachines", "v"),
        300,
        power_state="deallocated",
        deallocated_since=days_ago(100),
    )
    nic = res("azure.network.network_interface", nic_id, 0, virtual_machine=vm.resource_id)
    held = ip(ip_configuration=f"{nic_id}/ipconfigurations/ipconfig1")
    d = run("azure-public-ip-on-deallocated-vm", held, related=(vm, nic))
    assert (
        d.confidence == "HIGH"
        and d.parent.resource_id == vm.resource_id
        and d.monthly_cost == Decimal("3.65")
    )
    assert run("azure-public-ip-on-deallocated-vm", held, related=(nic,)) is None  # VM not listed
    dynamic = ip(
        sku="Basic",
        allocation="Dynamic",
        has_address=False,
        ip_configuration=held.attributes["ip_configuration"],
    )
    assert run("azure-public-ip-on-deallocated-vm", dynamic, related=(vm, nic)) is None
    assert run("azure-public-ip-unassociated", held) is None  # exclusive


# --- the kinds over the published example bodies ----------------------------------------------


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory):
    from cloudwaste.scanner.providers.azure import PROVIDER
    from cloudwaste.sim import azure_estate
    from cloudwaste.sim.azure_api import AzureApi

    api = AzureApi(page_size=2)
    api.start(0)
    api.add_principal(azure_estate.DIRECTORY_ID, azure_estate.CLIENT_ID, "s")
    folder = tmp_path_factory.mktemp("creds")
    (folder / azure_estate.SECRET_NAME).write_text("s")
    sub = azure_estate.SUBSCRIPTIONS[0]
    api.subscription(sub)
    for name in (
        "public_ip_addresses",
        "network_interfaces",
        "network_security_groups",
        "load_balancers",
        "nat_gateways",
    ):
        for body in json.loads((EXAMPLES / f"network_{name}_list_all.json").read_text())["responses"]["200"][
            "body"
        ]["value"]:
            body["id"] = (
                body["id"]
                .replace("/subid/", f"/{sub}/")
                .replace("/00000000-0000-0000-0000-000000000000/", f"/{sub}/")
            )
            body["id"] = body["id"].replace("/natGatewayes/", "/natGateways/")  # the published typo
            api.put(body)
    for body in json.loads((EXAMPLES / "web_app_service_plans_list.json").read_text())["responses"]["200"][
        "body"
    ]["value"]:
        body["id"] = body["id"].replace("34adfa4f-cedf-4dc0-ba29-b6d1a69ab345", sub)
        api.put(body)
    conn = PROVIDER.connect(
        {
            "directory_id": azure_estate.DIRECTORY_ID,
            "client_id": azure_estate.CLIENT_ID,
            "credential_secret": azure_estate.SECRET_NAME,
        },
        {"endpoint_url": api.url, "credentials_dir": str(folder)},
    )
    yield conn, sub
    api.stop()


def listing(endpoint, key):
    conn, sub = endpoint
    return {r.name: r for r in KINDS.get(key).list(conn, sub, NOW, {})}


def test_kinds_read_the_published_shapes(endpoint):
    nics = listing(endpoint, "azure.network.network_interface")
    assert nics["test-nic"].attributes["virtual_machine"].endswith("/virtualmachines/vm1")
    assert run("azure-nic-unattached", nics["test-nic2"]) is not None
    assert run("azure-nic-unattached", nics["test-nic"]) is None
    ips = listing(endpoint, "azure.network.public_ip")
    assert all(run("azure-public-ip-unassociated", r) is None for r in ips.values())  # all associated
    nsgs = listing(endpoint, "azure.network.security_group")
    assert run("azure-nsg-unattached", nsgs["nsg1"]) is not None
    lbs = listing(endpoint, "azure.network.load_balancer")
    assert lbs["lb"].attributes["sku"] == "Basic" and lbs["lb"].attributes["load_balancing_rules"] == 1
    assert all(run("azure-lb-no-backends", r) is None for r in lbs.values())  # Basic: free
    nats = listing(endpoint, "azure.network.nat_gateway")
    assert (
        nats["test-natGateway3"].attributes["sku"] == "StandardV2"
        and len(nats["test-natGateway3"].attributes["public_ips"]) == 2
    )
    assert all(run("azure-nat-gateway-no-subnets", r) is None for r in nats.values())
    plans = listing(endpoint, "azure.web.app_service_plan")
    assert plans["testsf6141"].region == "eastus" and plans["testsf6141"].attributes["number_of_sites"] == 4
    groups = listing(endpoint, "azure.resources.resource_group")
    assert groups["rg1"].attributes["resource_count"] > 0
