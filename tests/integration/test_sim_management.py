"""Lambda provisioned concurrency, CloudWatch Logs, ECR, Secrets Manager, KMS and CloudTrail against
the simulated estate: a small estate seeded with the management module only (its own moto server
and account), scanned with every rule, finds exactly the ground truth's waste of these kinds;
deleting or fixing a finding's resource makes it go away on the next scan."""

from __future__ import annotations

from collections import Counter

import pytest

from tests.integration.simscan import findings, scan

ACCOUNT = "310000000006"
RULES = {
    "lambda-provisioned-concurrency-unused",
    "lambda-provisioned-concurrency-underused",
    "logs-group-no-ingestion",
    "logs-group-no-retention",
    "ecr-repository-images-not-pulled",
    "secretsmanager-secret-unused",
    "kms-key-disabled",
    "cloudtrail-trail-duplicate",
}
KINDS = (
    "aws.lambda.provisioned_concurrency",
    "aws.logs.log_group",
    "aws.ecr.repository",
    "aws.secretsmanager.secret",
    "aws.kms.key",
    "aws.cloudtrail.trail",
)
# scenarios whose resources have a "fix" action (their second resource gets it; the simulator
# makes at least two of each firing variant)
FIXABLE = {
    "lambda-provisioned-concurrency-unused",
    "lambda-provisioned-concurrency-underused",
    "logs-group-no-ingestion",
    "logs-group-no-retention",
    "ecr-repository-images-not-pulled",
    "cloudtrail-trail-duplicate",
}


@pytest.fixture(scope="module")
def estate():
    from cloudwaste.sim.aws import seed_estate, start_moto

    handle = start_moto()
    truth = seed_estate(handle.endpoint_url, size=600, seed=37, account_id=ACCOUNT, services=("management",))
    yield handle.endpoint_url, truth
    handle.stop()


def test_management_rules_are_exact_and_actions_resolve_findings(estate):
    from cloudwaste.sim.aws import act_on

    endpoint, truth = estate
    calls: Counter = Counter()
    outcomes = scan(endpoint, ACCOUNT, truth.regions, external_id="ext-mgmt", calls=calls)
    found = findings(outcomes, KINDS)
    mine = [t for t in truth.resources if t.resource_type in KINDS]
    expected = {(t.resource_id, t.scenario) for t in mine if t.scenario}
    assert set(found) - expected == set(), "false positives"
    assert expected - set(found) == set(), "misses"
    assert {s for _, s in expected} == RULES  # every rule fired at least once
    # every resource of these kinds was listed, and nothing else of these kinds exists
    listed = {rid for o in outcomes for kind, rid in o.listed if kind in KINDS}
    assert listed == {t.resource_id for t in mine}
    assert len(mine) <= 0.1 * truth.size  # a small part of the estate
    for (rid, scenario), f in found.items():
        assert f.detection.evidence.get("price_date"), (rid, scenario)
        if scenario != "cloudtrail-trail-duplicate":  # event volume unknown: priced at 0
            assert f.detection.monthly_cost > 0, (rid, scenario)
    # one listing per kind per region (plus the per-resource calls the APIs force)
    n = len(truth.regions)
    for kind, op in [
        ("aws.lambda.provisioned_concurrency", "lambda:ListFunctions"),
        ("aws.logs.log_group", "logs:DescribeLogGroups"),
        ("aws.ecr.repository", "ecr:DescribeRepositories"),
        ("aws.secretsmanager.secret", "secretsmanager:ListSecrets"),
        ("aws.kms.key", "kms:ListKeys"),
        ("aws.cloudtrail.trail", "cloudtrail:DescribeTrails"),
    ]:
        assert calls[(kind, op)] == n, (kind, op)
    functions = len([t for t in mine if t.resource_type == "aws.lambda.provisioned_concurrency"])
    assert (
        calls[("aws.lambda.provisioned_concurrency", "lambda:ListProvisionedConcurrencyConfigs")] == functions
    )

    # a delete (and a fix where the simulator has one) per rule, then a rescan
    by_scenario: dict[str, list] = {}
    for t in mine:
        if t.scenario:
            by_scenario.setdefault(t.scenario, []).append(t)
    acted = []
    for scenario, items in sorted(by_scenario.items()):
        act_on(endpoint, items[0], "delete", account_id=ACCOUNT)
        acted.append(items[0])
        if scenario in FIXABLE and len(items) > 1:
            act_on(endpoint, items[1], "fix", account_id=ACCOUNT)
            acted.append(items[1])
    after = findings(scan(endpoint, ACCOUNT, truth.regions, external_id="ext-mgmt"), KINDS)
    for t in acted:
        assert (t.resource_id, t.scenario) not in after, (
            f"{t.scenario} on {t.resource_id} survived its action"
        )
    untouched = expected - {(t.resource_id, t.scenario) for t in acted}
    assert untouched <= set(after)
    # no near miss turned into a finding because a neighbour was deleted or fixed
    assert set(after) <= expected
