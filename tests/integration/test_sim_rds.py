"""RDS and Aurora against the simulated estate: a small estate seeded with the RDS module only (its
own moto server and account), scanned with every rule, finds exactly the ground truth's RDS
waste; deleting or fixing a finding's resource makes it go away on the next scan."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.integration.simscan import findings, scan

ACCOUNT = "310000000003"
RDS_RULES = {
    "rds-instance-idle",
    "rds-instance-stopped",
    "rds-instance-low-cpu",
    "rds-instance-previous-generation",
    "rds-snapshot-orphaned",
    "rds-cluster-idle",
    "rds-cluster-snapshot-orphaned",
}
RDS_KINDS = (
    "aws.rds.db_instance",
    "aws.rds.db_snapshot",
    "aws.rds.db_cluster",
    "aws.rds.db_cluster_snapshot",
)


@pytest.fixture(scope="module")
def estate():
    from cloudwaste.sim.aws import seed_estate, start_moto

    handle = start_moto()
    truth = seed_estate(handle.endpoint_url, size=600, seed=31, account_id=ACCOUNT, services=("rds",))
    yield handle.endpoint_url, truth
    handle.stop()


def test_rds_rules_are_exact_and_actions_resolve_findings(estate):
    from cloudwaste.sim.aws import act_on

    endpoint, truth = estate
    outcomes = scan(endpoint, ACCOUNT, truth.regions, external_id="ext-rds")
    found = findings(outcomes, RDS_KINDS)
    rds_truth = [t for t in truth.resources if t.resource_type in RDS_KINDS]
    expected = {(t.resource_id, t.scenario) for t in rds_truth if t.scenario}
    assert set(found) - expected == set(), "false positives"
    assert expected - set(found) == set(), "misses"
    assert {s for _, s in expected} == RDS_RULES  # every rule fired at least once
    # every resource of these kinds in the estate was listed (nothing missed by the listings)
    listed = {rid for o in outcomes for kind, rid in o.listed if kind in RDS_KINDS}
    assert {t.resource_id for t in rds_truth} <= listed
    # priced findings carry their price's provenance
    for (rid, scenario), f in found.items():
        assert f.detection.evidence.get("price_date"), (rid, scenario)
    assert Counter(s for _, s in expected)["rds-instance-idle"] >= 1

    # one delete and one fix per rule where the simulator has that action, then a rescan
    by_scenario: dict[str, list] = {}
    for t in rds_truth:
        if t.scenario:
            by_scenario.setdefault(t.scenario, []).append(t)
    acted = []
    for scenario, items in sorted(by_scenario.items()):
        act_on(endpoint, items[0], "delete", account_id=ACCOUNT)
        acted.append(items[0])
        if len(items) > 1 and scenario in {
            "rds-instance-idle",
            "rds-instance-stopped",
            "rds-instance-low-cpu",
            "rds-instance-previous-generation",
            "rds-cluster-idle",
        }:
            act_on(endpoint, items[1], "fix", account_id=ACCOUNT)
            acted.append(items[1])
    after = findings(scan(endpoint, ACCOUNT, truth.regions, external_id="ext-rds"), RDS_KINDS)
    for t in acted:
        assert (t.resource_id, t.scenario) not in after, (
            f"{t.scenario} on {t.resource_id} survived its action"
        )
    untouched = expected - {(t.resource_id, t.scenario) for t in acted}
    assert untouched <= set(after)
