"""The load_balancers service of the simulated estate, scanned with every rule: each load balancer
and NAT gateway rule finds exactly its ground truth (no false positive, no miss), every rule fires
at least once, and deleting or fixing a resource makes its finding go away on the next scan."""

from __future__ import annotations

import dataclasses
from collections import Counter

import pytest

from tests.integration.simscan import findings, scan

ACCOUNT = "414243444546"
MINE = (
    "load-balancer-unhealthy-targets",
    "load-balancer-no-requests",
    "load-balancer-no-flows",
    "elb-classic-no-instances",
    "elb-classic-out-of-service",
    "elb-classic-no-requests",
    "nat-gateway-low-traffic",
)
KINDS = ("aws.elbv2.load_balancer", "aws.elb.load_balancer", "aws.ec2.nat_gateway")


@pytest.fixture(scope="module")
def estate():
    from cloudwaste.sim.aws import seed_estate, start_moto
    from cloudwaste.sim.services import load_balancers

    handle = start_moto()
    service, seeded = load_balancers.SERVICE, []

    def capture(ctx):  # what this module created, apart from the core estate
        seeded.extend(service.seed(ctx))
        return seeded

    load_balancers.SERVICE = dataclasses.replace(service, seed=capture)
    try:
        truth = seed_estate(
            handle.endpoint_url,
            size=500,
            seed=7,
            regions=("us-east-1", "eu-west-1"),
            account_id=ACCOUNT,
            services=("load_balancers",),
        )
    finally:
        load_balancers.SERVICE = service
    yield handle.endpoint_url, truth, seeded
    handle.stop()


def test_exact_on_every_scenario_then_delete_and_fix(estate):
    endpoint, truth, seeded = estate
    from cloudwaste.sim.aws import act_on

    found = findings(scan(endpoint, ACCOUNT, truth.regions))
    ours = {t.resource_id for t in truth.resources if t.resource_type in KINDS}
    # every rule, on every resource of these kinds (the core's included): exactly the truth
    got = {k for k in found if k[0] in ours}
    expected = {(t.resource_id, t.scenario) for t in truth.waste() if t.resource_type in KINDS}
    assert got - expected == set(), "false positives"
    assert expected - got == set(), "misses"
    # these rules nowhere else; and no rule on what this module created (its target instances,
    # their volumes, the gateways' Elastic IPs) but its scenario
    assert {k for k in found if k[1] in MINE} <= expected
    created = {t.resource_id for t in seeded}
    assert {k for k in found if k[0] in created} == {
        (t.resource_id, t.scenario) for t in seeded if t.scenario
    }
    assert {t.resource_type for t in seeded} >= {*KINDS, "aws.ec2.instance", "aws.ec2.volume"}
    fired = Counter(s for _, s in got)
    assert all(fired[k] >= 1 for k in MINE), fired

    # evidence of a metric rule says what was measured
    quiet = next(f for (rid, s), f in found.items() if s == "load-balancer-no-requests")
    assert quiet.detection.evidence["datapoints"] == 0 and "no_datapoints" in quiet.detection.evidence
    low = next(f for (rid, s), f in found.items() if s == "nat-gateway-low-traffic")
    assert 0 < low.detection.evidence["gb_per_day"] <= 0.03
    assert low.detection.evidence["data_processing_monthly"] < low.detection.evidence["hourly_charge_monthly"]

    by_id = {t.resource_id: t for t in truth.resources}
    pick = {s: next(rid for (rid, sc) in expected if sc == s) for s in MINE}
    acted = [
        (pick["load-balancer-unhealthy-targets"], "delete"),
        (pick["load-balancer-no-flows"], "delete"),
        (pick["elb-classic-no-instances"], "fix"),
        (pick["elb-classic-out-of-service"], "fix"),
        (pick["elb-classic-no-requests"], "delete"),
        (pick["nat-gateway-low-traffic"], "fix"),
    ]
    for rid, action in acted:
        act_on(endpoint, by_id[rid], action, account_id=ACCOUNT)
    again = findings(scan(endpoint, ACCOUNT, truth.regions))
    for rid, _action in acted:
        assert not [k for k in again if k[0] == rid], rid
    # everything else stays as it was
    assert {k for k in again if k[0] in ours} == got - {k for k in got if k[0] in dict(acted)}
