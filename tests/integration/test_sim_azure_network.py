"""The Azure network, App Service and resource group catalogue end to end: the simulated estate's
network, web and resource group modules, scanned through the real azure-mgmt clients against the
local ARM endpoint; detection exact against the ground truth, one listing per kind and
subscription, and a rescan after the simulated user deletes some waste."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
from cloudwaste.sim import azure_estate

from tests.integration.cloudscan import exact, findings, scan

pytestmark = pytest.mark.integration

NOW = dt.datetime.now(dt.UTC)
SERVICES = ("compute", "network", "web", "zz_resource_groups")  # compute: the VMs behind NICs
RULES = (
    "azure-public-ip-unassociated",
    "azure-nic-unattached",
    "azure-nsg-unattached",
    "azure-lb-no-backends",
    "azure-app-gateway-no-backends",
    "azure-nat-gateway-no-subnets",
    "azure-nat-gateway-idle",
    "azure-app-service-plan-no-apps",
    "azure-resource-group-empty",
    "azure-public-ip-on-deallocated-vm",
)
ZERO_COST = {"azure-nic-unattached", "azure-nsg-unattached", "azure-resource-group-empty"}
KINDS = (
    "azure.network.public_ip",
    "azure.network.network_interface",
    "azure.network.security_group",
    "azure.network.load_balancer",
    "azure.network.application_gateway",
    "azure.network.nat_gateway",
    "azure.web.app_service_plan",
    "azure.resources.resource_group",
)
# listed too, for azure-public-ip-on-deallocated-vm (the VM listing reads the disks')
NEEDED = ("azure.compute.virtual_machine", "azure.compute.disk")


@pytest.fixture(scope="module")
def estate(tmp_path_factory):
    estate = azure_estate.start(
        tmp_path_factory.mktemp("azure-net-creds"),
        size=250,
        seed=11,
        now=NOW,
        services=SERVICES,
        page_size=25,
    )
    yield estate
    estate.api.stop()


def test_estate_is_about_200_resources_with_every_rule(estate):
    ours = [t for t in estate.truth if t.resource_type in KINDS]
    assert 150 <= len(ours) <= 320
    scenarios = Counter(t.scenario for t in ours if t.scenario)
    assert set(scenarios) == set(RULES)
    assert {t.resource_type for t in ours} == set(KINDS)


def test_detection_is_exact(estate):
    calls: Counter = Counter()
    outcomes = scan("azure", estate, only_rules=RULES, calls=calls)
    exact(outcomes, estate.truth, RULES)
    listed = [t for t in estate.truth if t.resource_type in KINDS + NEEDED]
    assert sum(o.resources_scanned for o in outcomes) == len(listed)
    for d in findings(outcomes).values():
        evidence = d.detection.evidence
        if d.detection.scenario in ZERO_COST:
            assert d.detection.monthly_cost == 0 and "cost" in evidence
        else:
            assert d.detection.monthly_cost > 0 and evidence["price_date"] and "cost_unknown" not in evidence
        if d.detection.scenario == "azure-public-ip-on-deallocated-vm":
            assert d.detection.parent.scenario == "azure-vm-deallocated-long"
    # every kind is one listing a subscription (pages of 25), the resource groups two; the NAT
    # metrics one call per (subscription, location) with candidates
    subs = len(azure_estate.SUBSCRIPTIONS)
    per_kind = Counter()
    for (caller, _operation), n in calls.items():
        per_kind[caller] += n
    for kind in KINDS:
        listed = [t for t in estate.truth if t.resource_type == kind]
        pages = sum(
            -(-sum(1 for t in listed if s in t.resource_id) // 25) for s in azure_estate.SUBSCRIPTIONS
        )
        if kind == "azure.resources.resource_group":
            assert calls[(kind, "Microsoft.Resources/subscriptions/resourceGroups/read")] == pages
            assert 0 < calls[(kind, "Microsoft.Resources/subscriptions/resources/read")]
        else:
            assert per_kind[kind] == pages, kind
    metric_calls = sum(n for (caller, op), n in calls.items() if op == "Microsoft.Insights/metrics/read")
    assert 0 < metric_calls <= subs * len(azure_estate.LOCATIONS)


def test_rescan_after_deletions_no_longer_reports_them(estate):
    waste = [t for t in estate.truth if t.scenario and t.resource_type != "azure.resources.resource_group"]
    deleted = {}
    for rule in RULES:
        for t in waste:
            if t.scenario == rule and rule not in deleted:
                assert estate.api.delete(t.resource_id)
                deleted[rule] = t.resource_id
    empty_groups = [t for t in estate.truth if t.scenario == "azure-resource-group-empty"]
    group = empty_groups[0].resource_id
    sub, name = group.split("/")[2], group.split("/")[4]
    del estate.api.subscription(sub).resource_groups[name]
    gone = {*deleted.values(), group}
    outcomes = scan("azure", estate, only_rules=RULES)
    exact(outcomes, [t for t in estate.truth if t.resource_id not in gone], RULES)
