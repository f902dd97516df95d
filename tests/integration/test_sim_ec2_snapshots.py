"""The simulated estate's snapshots, AMIs and Elastic IPs (cloudwaste.sim.services.ec2_snapshots),
seeded with the EC2 core in their own moto server and account, scanned with every rule: the
findings are exactly the ground truth's waste, every rule of the module fires, and deleting a
finding's resource makes it go away at the next scan."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.integration.simscan import findings, scan

ACCOUNT = "480000000042"
MODULE_RULES = {
    "snapshot-error-state",
    "snapshots-per-volume-excess",
    "eip-on-stopped-instance",
    "eip-on-detached-eni",
    "ami-unused",
    "snapshot-of-deregistered-ami",
}


# the core estate's scenarios: its resources are exact for these (other rules are other modules')
CORE_RULES = {
    "ebs-volume-unattached",
    "eip-unassociated",
    "ec2-instance-stopped",
    "ebs-volume-on-stopped-instance",
    "snapshot-orphaned",
    "nat-gateway-idle",
    "load-balancer-no-targets",
    "ec2-instance-idle",
}


@pytest.fixture(scope="module")
def estate():
    import dataclasses

    from cloudwaste.sim.aws import seed_estate, start_moto
    from cloudwaste.sim.services import ec2_snapshots

    mine: list = []
    original = ec2_snapshots.SERVICE

    def capture(ctx):
        out = original.seed(ctx)
        mine.extend(out)
        return out

    ec2_snapshots.SERVICE = dataclasses.replace(original, seed=capture)
    handle = start_moto()
    try:
        truth = seed_estate(
            handle.endpoint_url, size=300, seed=11, account_id=ACCOUNT, services=("ec2_snapshots",)
        )
    finally:
        ec2_snapshots.SERVICE = original
    yield handle.endpoint_url, truth, {t.resource_id for t in mine}
    handle.stop()


def _judged(pairs, mine: set[str]) -> set[tuple[str, str]]:
    """What this test holds exact: every finding on this module's resources (any rule), and the
    core's and this module's rules on every resource."""
    return {(rid, s) for rid, s in pairs if rid in mine or s in CORE_RULES | MODULE_RULES}


def test_scan_finds_exactly_the_truth_and_every_rule_fires(estate):
    endpoint, truth, mine = estate
    outcomes = scan(endpoint, ACCOUNT, truth.regions)
    found = _judged(set(findings(outcomes)), mine)
    expected = _judged({(t.resource_id, t.scenario) for t in truth.waste()}, mine)
    by_rule = Counter(s for rid, s in expected if rid in mine)
    assert MODULE_RULES <= set(by_rule), by_rule
    assert found - expected == set(), "false positives"
    assert expected - found == set(), "misses"
    images = [t for t in truth.resources if t.resource_type == "aws.ec2.image"]
    assert images and {t.scenario for t in images} == {None, "ami-unused"}
    assert len(mine) <= 0.5 * 300  # small estates hold at least one of each variant
    for f in findings(outcomes).values():
        if f.detection.scenario in {"ami-unused", "snapshot-of-deregistered-ami"}:
            assert f.detection.monthly_cost > 0
            assert "price_date" in f.detection.evidence


ACTED = ("ami-unused", "snapshot-of-deregistered-ami", "snapshot-error-state", "eip-on-detached-eni")


def test_deleting_findings_makes_them_go_away(estate):
    from cloudwaste.sim.aws import act_on

    endpoint, truth, mine = estate
    waste = {(t.resource_id, t.scenario): t for t in truth.waste() if t.resource_id in mine}
    picks = {}
    for (_, scenario), t in sorted(waste.items()):
        if scenario in ACTED:
            picks.setdefault(scenario, t)
    assert set(picks) == set(ACTED)
    for t in picks.values():
        act_on(endpoint, t, "delete", account_id=ACCOUNT)
    rules = MODULE_RULES | {s for _, s in waste}
    found = {p for p in findings(scan(endpoint, ACCOUNT, truth.regions, only_rules=rules)) if p[0] in mine}
    gone = {(t.resource_id, t.scenario) for t in picks.values()}
    # the deleted ones are gone, the image's snapshot with it (nothing new appears), the rest stay
    assert found == set(waste) - gone
