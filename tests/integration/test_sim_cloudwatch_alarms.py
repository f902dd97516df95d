"""CloudWatch alarms stuck in INSUFFICIENT_DATA: the simulated alarms (stale ones and near misses)
scanned through the alarm kind's listing find exactly the ground truth; deleting one alarm and
fixing another (its metric is back) makes both findings go away on the next scan."""

from __future__ import annotations

import pytest

from tests.integration.simscan import findings, scan

ACCOUNT = "310000000021"
RULE = "cloudwatch-alarm-insufficient-data"


@pytest.fixture(scope="module")
def estate():
    from cloudwaste.sim.aws import seed_estate, start_moto

    handle = start_moto()
    truth = seed_estate(
        handle.endpoint_url,
        size=2000,
        seed=11,
        account_id=ACCOUNT,
        regions=("us-east-1", "eu-west-1"),
        services=("cloudwatch_alarms",),
    )
    yield handle.endpoint_url, truth
    handle.stop()


def _scan(endpoint, truth) -> set[tuple[str, str]]:
    outcomes = scan(
        endpoint, ACCOUNT, truth.regions, external_id="ext-alarms", concurrency=2, only_rules={RULE}
    )
    return set(findings(outcomes))


def test_stale_alarms_are_found_exactly_and_go_away_when_acted_on(estate):
    from cloudwaste.sim.aws import act_on

    endpoint, truth = estate
    alarms = [t for t in truth.resources if t.resource_type == "aws.cloudwatch.alarm"]
    expected = {(t.resource_id, t.scenario) for t in alarms if t.scenario}
    assert len(expected) >= 4 and len(alarms) > len(expected)  # fires and near misses
    assert _scan(endpoint, truth) == expected
    stale = sorted((t for t in alarms if t.scenario), key=lambda t: t.resource_id)
    act_on(endpoint, stale[0], "delete", account_id=ACCOUNT)
    act_on(endpoint, stale[1], "fix", account_id=ACCOUNT)
    assert _scan(endpoint, truth) == expected - {(stale[0].resource_id, RULE), (stale[1].resource_id, RULE)}
