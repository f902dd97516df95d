"""EC2 usage against the simulated estate: the core estate plus the ec2_usage module only (its own
moto server and account), scanned with every rule, finds exactly the ground truth's waste (the
core estate's running instances carry no gp2 disk, so the volume-type rules fire only where seeded);
deleting or fixing a finding's resource makes it go away on the next scan."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.integration.simscan import findings, scan

ACCOUNT = "310000000011"
MY_RULES = {
    "ebs-volume-gp2-to-gp3",
    "ebs-volume-io-to-gp3",
    "ebs-volume-no-io",
    "ebs-volume-iops-overprovisioned",
    "ec2-instance-previous-generation",
    "ec2-capacity-reservation-unused",
}


@pytest.fixture(scope="module")
def estate():
    from cloudwaste.sim.aws import seed_estate, start_moto

    handle = start_moto()
    truth = seed_estate(handle.endpoint_url, size=400, seed=41, account_id=ACCOUNT, services=("ec2_usage",))
    yield handle.endpoint_url, truth
    handle.stop()


KINDS = ("aws.ec2.volume", "aws.ec2.instance", "aws.ec2.capacity_reservation")


def _found(outcomes) -> dict[tuple[str, str], object]:
    """Findings of the kinds this module and the core's instances and volumes (other modules'
    rules on the rest of the core estate are theirs to test)."""
    return {
        (rid, scenario): f
        for (rid, scenario), f in findings(outcomes).items()
        if f.resource.kind in KINDS or scenario in MY_RULES
    }


def test_the_estate_is_found_exactly_and_actions_clear_findings(estate):
    from cloudwaste.sim.aws import act_on

    endpoint, truth = estate
    outcomes = scan(endpoint, ACCOUNT, truth.regions, external_id="ext-ec2u")
    found = _found(outcomes)
    expected = {(t.resource_id, t.scenario) for t in truth.waste() if t.resource_type in KINDS}
    assert set(found) - expected == set(), "false positives"
    assert expected - set(found) == set(), "misses"
    per_rule = Counter(s for _, s in found)
    assert all(per_rule[k] >= 1 for k in MY_RULES), per_rule
    # each resource is flagged by one rule at most
    assert len({rid for rid, _ in found}) == len(found)

    # findings carry what was measured and a price basis
    for (_, scenario), f in found.items():
        if scenario in MY_RULES:
            assert f.detection.evidence["price_date"]
            if scenario in ("ebs-volume-no-io", "ebs-volume-iops-overprovisioned"):
                assert f.detection.evidence["read_ops"]["datapoints"] >= 26

    # one of each: delete (or fix) it, rescan, the finding is gone
    by_rule: dict[str, list] = {}
    for t in sorted(truth.waste(), key=lambda t: t.resource_id):
        by_rule.setdefault(t.scenario, []).append(t)
    acted: list[tuple[str, str]] = []
    for scenario, action in (
        ("ebs-volume-gp2-to-gp3", "fix"),
        ("ebs-volume-io-to-gp3", "fix"),
        ("ebs-volume-no-io", "fix"),
        ("ebs-volume-iops-overprovisioned", "fix"),
        ("ec2-capacity-reservation-unused", "delete"),
        ("ec2-capacity-reservation-unused", "fix"),
    ):
        t = next(t for t in by_rule[scenario] if (t.resource_id, scenario) not in acted)
        act_on(endpoint, t, action, account_id=ACCOUNT)
        acted.append((t.resource_id, scenario))
    # a previous-generation instance without data volumes (a young one), terminated
    young = [
        t
        for t in by_rule["ec2-instance-previous-generation"]
        if found[(t.resource_id, "ec2-instance-previous-generation")].resource.created_at
        and found[(t.resource_id, "ec2-instance-previous-generation")].detection.evidence["age_days"] < 14
    ]
    assert young
    act_on(endpoint, young[0], "delete", account_id=ACCOUNT)
    acted.append((young[0].resource_id, "ec2-instance-previous-generation"))

    after = _found(scan(endpoint, ACCOUNT, truth.regions, external_id="ext-ec2u"))
    for key in acted:
        assert key not in after, key
    # and nothing new: the fixed volumes are gp3 with the included IOPS, busy, on running instances
    assert set(after) - set(found) == set()
