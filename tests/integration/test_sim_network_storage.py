"""The network_storage service of the simulated estate (S3, VPN, transit gateway, Route 53, EFS, VPC
endpoints, Kinesis), scanned with every rule: exactly its ground truth, every one of its rules
fires, and deleting or fixing a finding's resource makes the finding go away on a rescan."""

from __future__ import annotations

from collections import Counter

import pytest
from cloudwaste.scanner.kinds import load_all as load_kinds

from tests.integration.simscan import findings, scan

ACCOUNT = "707070707070"
RULES = (
    "s3-bucket-incomplete-multipart-uploads",
    "s3-bucket-noncurrent-versions-without-lifecycle",
    "vpn-connection-idle",
    "transit-gateway-attachment-idle",
    "route53-zone-no-queries",
    "route53-health-check-orphaned",
    "efs-filesystem-idle",
    "vpc-interface-endpoint-idle",
    "kinesis-stream-idle",
)
KINDS = (
    "aws.s3.bucket",
    "aws.ec2.vpn_connection",
    "aws.ec2.transit_gateway_attachment",
    "aws.route53.hosted_zone",
    "aws.route53.health_check",
    "aws.efs.file_system",
    "aws.ec2.vpc_endpoint",
    "aws.kinesis.stream",
)


@pytest.fixture(scope="module")
def estate():
    from cloudwaste.sim.aws import seed_estate, start_moto

    handle = start_moto()
    truth = seed_estate(
        handle.endpoint_url,
        size=600,
        seed=7,
        regions=("us-east-1", "eu-west-1"),
        account_id=ACCOUNT,
        services=("network_storage",),
    )
    yield handle.endpoint_url, truth
    handle.stop()


def _scan(endpoint, truth, calls=None, only_rules=None):
    return scan(
        endpoint,
        ACCOUNT,
        truth.regions,
        only_rules=only_rules,
        calls=calls,
        errors_in_kinds=KINDS,
        errors_in_rules=RULES,
    )


def _mine(outcomes):
    return set(findings(outcomes, KINDS))


def test_scan_finds_exactly_the_ground_truth(estate):
    endpoint, truth = estate
    calls: Counter = Counter()
    outcomes = _scan(endpoint, truth, calls)
    ours = [t for t in truth.resources if t.resource_type in KINDS]
    expected = {(t.resource_id, t.scenario) for t in ours if t.scenario}
    found = _mine(outcomes)
    assert found - expected == set(), "false positives"
    assert expected - found == set(), "misses"
    assert {s for _, s in found} == set(RULES), "every rule fires at least once"
    # every resource of ours is listed, in its own region only
    listed = {(k, rid) for o in outcomes for k, rid in o.listed if k in KINDS}
    assert listed == {(t.resource_type, t.resource_id) for t in ours}
    # one listing per kind and region: the account-wide calls once per region, global ones once
    regions = len(truth.regions)
    assert calls[("aws.s3.bucket", "s3:ListAllMyBuckets")] == regions
    assert calls[("aws.ec2.vpn_connection", "ec2:DescribeVpnConnections")] == regions
    assert calls[("aws.route53.hosted_zone", "route53:ListHostedZones")] == 1
    assert calls[("aws.route53.health_check", "route53:ListHealthChecks")] == 1
    assert calls[("aws.efs.file_system", "elasticfilesystem:DescribeFileSystems")] == regions
    assert calls[("aws.kinesis.stream", "kinesis:ListStreams")] == regions
    for (caller, op), _n in calls.items():
        if caller in KINDS:
            assert op in load_kinds().get(caller).operations, (caller, op)


def test_delete_and_fix_make_findings_go_away(estate):
    from cloudwaste.sim.aws import act_on

    endpoint, truth = estate
    waste = [t for t in truth.resources if t.resource_type in KINDS and t.scenario]
    acted: dict[tuple[str, str], str] = {}
    for scenario in RULES:
        of_rule = [t for t in waste if t.scenario == scenario]
        for action, t in zip(("delete", "fix"), of_rule, strict=False):
            act_on(endpoint, t, action, account_id=ACCOUNT)
            acted[(t.resource_id, t.scenario)] = action
    if len({a for a in acted.values()}) < 2:
        pytest.skip("too few findings per rule to try both actions")
    found = _mine(_scan(endpoint, truth, only_rules=set(RULES)))  # the first test ran every rule
    assert set(acted) & found == set(), {k: acted[k] for k in set(acted) & found}
    expected = {(t.resource_id, t.scenario) for t in waste} - set(acted)
    assert found == expected
