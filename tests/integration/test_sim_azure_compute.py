"""The Azure compute catalogue end to end: the simulated compute estate (VMs with their instance
views and Azure Monitor series, disks, snapshots, images, availability sets) scanned through the
real azure-mgmt-compute client; detection exact against the ground truth, and a rescan after the
simulated user deletes some of the waste."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
from cloudwaste.sim import azure_estate

from tests.integration.cloudscan import exact, findings, scan

NOW = dt.datetime.now(dt.UTC)
RULES = (
    "azure-disk-unattached",
    "azure-disk-of-deallocated-vm",
    "azure-disk-premium-on-deallocated-vm",
    "azure-vm-stopped-not-deallocated",
    "azure-vm-deallocated-long",
    "azure-vm-idle",
    "azure-vm-previous-generation",
    "azure-snapshot-orphaned",
    "azure-snapshot-old",
    "azure-image-unused",
    "azure-availability-set-unused",
)
KINDS = {
    "azure.compute.disk",
    "azure.compute.virtual_machine",
    "azure.compute.snapshot",
    "azure.compute.image",
    "azure.compute.availability_set",
}


@pytest.fixture(scope="module")
def estate(tmp_path_factory):
    started = azure_estate.start(
        tmp_path_factory.mktemp("azure-compute-creds"), size=200, seed=5, now=NOW, services=("compute",), page_size=20
    )
    yield started
    started.api.stop()


def test_every_rule_has_waste_and_near_misses(estate):
    by_rule = Counter(t.scenario for t in estate.truth if t.scenario)
    assert set(by_rule) == set(RULES)
    assert {t.resource_type for t in estate.truth} == KINDS
    assert sum(1 for t in estate.truth if not t.scenario) >= 40
    assert len(estate.truth) >= 150


def test_detection_is_exact_with_one_listing_per_kind(estate):
    calls: Counter = Counter()
    outcomes = scan("azure", estate, only_rules=RULES, calls=calls)
    exact(outcomes, estate.truth)
    assert sum(o.resources_scanned for o in outcomes) == len(estate.truth)
    found = findings(outcomes)
    # the parts of a long-deallocated VM point at its finding, which costs nothing itself
    for (rid, scenario), draft in found.items():
        if scenario == "azure-disk-of-deallocated-vm":
            parent = draft.detection.parent
            assert parent is not None and (parent.resource_id, parent.scenario) in found
            assert draft.detection.monthly_cost > 0
        if scenario in ("azure-vm-deallocated-long", "azure-availability-set-unused"):
            assert draft.detection.monthly_cost == 0
        elif scenario != "azure-image-unused" or "age_unknown" not in draft.detection.evidence:
            assert draft.detection.monthly_cost > 0, (rid, scenario)
    # VMs are listed once per subscription with their instance views (statusOnly=true), not one
    # instance-view call per VM; metrics one batch per (location, aggregation)
    vm_pages = calls[("azure.compute.virtual_machine", "Microsoft.Compute/virtualMachines/read")]
    vms = [t for t in estate.truth if t.resource_type == "azure.compute.virtual_machine"]
    assert vm_pages == sum(
        -(-sum(1 for t in vms if sub in t.resource_id) // 20) for sub in azure_estate.SUBSCRIPTIONS
    )
    metric_calls = sum(n for (caller, op), n in calls.items() if op == "Microsoft.Insights/metrics/read")
    assert 0 < metric_calls <= len(azure_estate.SUBSCRIPTIONS) * len(azure_estate.LOCATIONS) * 3


def test_a_rescan_after_deletions_reports_them_no_more(estate):
    deleted = [t for t in estate.truth if t.decision == "deleted"]
    # a VM the user deletes goes with its disks (deleteOption Delete), as in Azure
    gone_vms = {t.resource_id for t in deleted if t.resource_type == "azure.compute.virtual_machine"}
    assert deleted and gone_vms
    removed = set()
    for t in deleted:
        assert estate.api.delete(t.resource_id)
        removed.add(t.resource_id)
    for t in estate.truth:
        if t.resource_type == "azure.compute.disk" and t.resource_id not in removed:
            body = estate.api.get(t.resource_id)
            if body and (body.get("managedBy") or "").lower() in gone_vms:
                estate.api.delete(t.resource_id)
                removed.add(t.resource_id)
    remaining = [t for t in estate.truth if t.resource_id not in removed]
    outcomes = scan("azure", estate, only_rules=RULES)
    found = findings(outcomes)
    assert not {rid for rid, _ in found} & removed
    exact(outcomes, remaining)
