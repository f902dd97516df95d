"""The data services of the simulated estate (ElastiCache, Redshift, OpenSearch, DynamoDB, EKS),
scanned with every rule: exactly the ground truth's waste of these kinds is found (no false
positive, no miss), every rule of these kinds fires, and deleting or fixing a finding's resource
makes it go away at the next scan."""

from __future__ import annotations

from collections import Counter

import pytest
from cloudwaste.scanner.rules import load_all as load_rules

from tests.integration.simscan import findings, per_operation, scan

ACCOUNT = "515151515151"
KINDS = {
    "aws.elasticache.cluster",
    "aws.redshift.cluster",
    "aws.opensearch.domain",
    "aws.dynamodb.table",
    "aws.eks.cluster",
}
RULES = {r.key for r in load_rules() if r.resource_kind in KINDS}


@pytest.fixture(scope="module")
def estate():
    from cloudwaste.sim.aws import seed_estate, start_moto

    handle = start_moto()
    truth = seed_estate(
        handle.endpoint_url,
        size=300,
        seed=11,
        regions=("us-east-1", "eu-west-1"),
        account_id=ACCOUNT,
        services=("data_services",),
    )
    yield handle.endpoint_url, truth
    handle.stop()


def _scan(endpoint: str, truth, calls: Counter | None = None, only_rules: set[str] | None = None):
    return scan(
        endpoint,
        ACCOUNT,
        truth.regions,
        only_rules=only_rules,
        calls=calls,
        errors_in_kinds=KINDS,
        errors_in_rules=RULES,
    )


def _found(outcomes) -> set[tuple[str, str]]:
    return set(findings(outcomes, KINDS))


def test_detection_is_exact_and_every_rule_fires(estate):
    """Scanned with every rule of every kind (the EC2 core estate is in the same account)."""
    endpoint, truth = estate
    by_caller: Counter = Counter()
    outcomes = _scan(endpoint, truth, by_caller)
    calls = per_operation(by_caller)
    mine = [t for t in truth.resources if t.resource_type in KINDS]
    assert len(mine) < 0.05 * truth.size + 40  # a small share of the estate
    expected = {(t.resource_id, t.scenario) for t in mine if t.scenario}
    found = _found(outcomes)
    assert found - expected == set(), "false positives"
    assert expected - found == set(), "misses"
    assert {s for _, s in found} == RULES
    # every resource of these kinds was listed, once
    listed = {rid for o in outcomes for kind, rid in o.listed if kind in KINDS}
    assert listed == {t.resource_id for t in mine}
    # one listing per region for the kinds with a list API (DynamoDB and EKS describe per resource)
    regions = len(truth.regions)
    assert calls["elasticache:DescribeCacheClusters"] == regions
    assert calls["redshift:DescribeClusters"] == regions
    assert calls["es:ListDomainNames"] == regions
    domains = Counter(t.region for t in mine if t.resource_type == "aws.opensearch.domain")
    assert calls["es:DescribeDomains"] == sum(-(-n // 5) for n in domains.values())
    tables = sum(t.resource_type == "aws.dynamodb.table" for t in mine)
    assert calls["dynamodb:ListTables"] == regions and calls["dynamodb:DescribeTable"] == tables


def test_delete_or_fix_makes_the_finding_go_away(estate):
    from cloudwaste.sim.aws import act_on

    endpoint, truth = estate
    waste: dict = {}
    for t in truth.resources:  # the first of each scenario (an idle cache on a current node type)
        if t.resource_type in KINDS and t.scenario:
            waste.setdefault(t.scenario, t)
    plan = [
        ("elasticache-cluster-idle", "fix"),
        ("elasticache-previous-generation", "delete"),
        ("redshift-cluster-idle", "delete"),
        ("redshift-cluster-paused-long", "fix"),
        ("opensearch-domain-idle", "fix"),
        ("dynamodb-table-overprovisioned", "fix"),
        ("dynamodb-table-unused", "delete"),
        ("eks-cluster-no-nodes", "fix"),
    ]
    for scenario, action in plan:
        act_on(endpoint, waste[scenario], action, account_id=ACCOUNT)
    # the rescan runs the rules of these kinds only (the others cannot flag them), to stay quick
    found = _found(_scan(endpoint, truth, only_rules=RULES))
    for scenario, _ in plan:
        assert (waste[scenario].resource_id, scenario) not in found, scenario
    # the rest of the waste is still there, and nothing new appeared
    acted = {waste[s].resource_id for s, _ in plan}
    expected = {
        (t.resource_id, t.scenario)
        for t in truth.resources
        if t.resource_type in KINDS and t.scenario and t.resource_id not in acted
    }
    assert found == expected
