"""The simulated estate above 1,000 resources: exact counts, shares, and what describe calls see."""

from __future__ import annotations

import time
from collections import Counter

import pytest
from cloudwaste.sim import aws as sim
from cloudwaste.sim.aws import GroundTruth, boto3_client, seed_estate, start_moto

REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2")
SIZE = 1500
SEED = 11
ACCOUNT = "222222222222"  # moto's state is per process: every estate of this process has its own


@pytest.fixture(scope="module")
def moto():
    handle = start_moto()
    yield handle
    handle.stop()


@pytest.fixture(scope="module")
def truth(moto) -> GroundTruth:
    # the EC2 core estate (the service modules are sized and checked by their own tests)
    return seed_estate(
        moto.endpoint_url, size=SIZE, seed=SEED, regions=REGIONS, account_id=ACCOUNT, services=()
    )


def _client(moto, service: str, region: str, account: str = ACCOUNT):
    return boto3_client(service, moto.endpoint_url, region, account_id=account, max_attempts=1)


def _tags(tags) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tags or []}


def _expected_by_scenario(size: int, seed: int) -> dict[str, int]:
    """What the plan promises: round(size x share) per planned waste kind, plus instance volumes."""
    expected: Counter[str] = Counter()
    for key, scenario in sim._SCENARIO_OF.items():
        expected[scenario] += max(1, round(size * {**sim._SHARES, **sim._USAGE_SHARES}[key]))
    expected[sim.EBS_ON_STOPPED] = sum(
        len(i.disks) for i in sim._plan(size, seed, REGIONS) if i.key == "instance.stopped_long"
    )
    return dict(sorted(expected.items()))


def test_count_and_shares(truth):
    assert SIZE <= len(truth.resources) <= SIZE + 3
    assert len({r.resource_id for r in truth.resources}) == len(truth.resources)
    assert truth.by_scenario() == _expected_by_scenario(SIZE, SEED)
    shares = {k: n / len(truth.resources) for k, n in truth.by_scenario().items()}
    assert 0.12 <= shares[sim.EBS_UNATTACHED] <= 0.14
    assert 0.04 <= shares[sim.EBS_ON_STOPPED] <= 0.08  # 4.5 % of instances, 1.3 volumes each
    assert 0.30 <= len(truth.waste()) / len(truth.resources) <= 0.45
    assert all(r.decision in ("deleted", "kept", "ignored") for r in truth.waste())
    per_region = Counter(r.region for r in truth.resources)
    assert per_region[REGIONS[0]] > per_region[REGIONS[1]] > per_region[REGIONS[2]] > 0


def _seen_by_describe(moto, account: str, regions=REGIONS) -> dict[str, dict[str, dict[str, str]]]:
    """resource type -> id -> tags, as a scanner lists them (paginators wherever AWS pages)."""
    seen: dict[str, dict[str, dict[str, str]]] = {t: {} for t in sim.RESOURCE_TYPES}

    def pages(client, op, key, **kw):
        return [x for page in client.get_paginator(op).paginate(**kw) for x in page[key]]

    for region in regions:
        ec2 = _client(moto, "ec2", region, account)
        elbv2 = _client(moto, "elbv2", region, account)
        for v in pages(ec2, "describe_volumes", "Volumes"):
            seen[sim.VOLUME][v["VolumeId"]] = _tags(v.get("Tags"))
        for res in pages(ec2, "describe_instances", "Reservations"):
            for i in res["Instances"]:
                seen[sim.INSTANCE][i["InstanceId"]] = _tags(i.get("Tags"))
        for a in ec2.describe_addresses()["Addresses"]:
            seen[sim.ELASTIC_IP][a["AllocationId"]] = _tags(a.get("Tags"))
        for s in pages(ec2, "describe_snapshots", "Snapshots", OwnerIds=["self"]):
            seen[sim.SNAPSHOT][s["SnapshotId"]] = _tags(s.get("Tags"))
        for n in pages(ec2, "describe_nat_gateways", "NatGateways"):
            seen[sim.NAT_GATEWAY][n["NatGatewayId"]] = _tags(n.get("Tags"))
        arns = [lb["LoadBalancerArn"] for lb in pages(elbv2, "describe_load_balancers", "LoadBalancers")]
        for start in range(0, len(arns), 20):
            for d in elbv2.describe_tags(ResourceArns=arns[start : start + 20])["TagDescriptions"]:
                seen[sim.LOAD_BALANCER][d["ResourceArn"]] = _tags(d.get("Tags"))
    return seen


def _assert_seen_exactly(seen, truth: GroundTruth, regions=REGIONS) -> None:
    for rtype in sim.RESOURCE_TYPES:
        expected = {
            r.resource_id: r.tags for r in truth.resources if r.resource_type == rtype and r.region in regions
        }
        assert seen[rtype] == expected, rtype


def test_describe_calls_see_every_resource_with_its_tags(moto, truth):
    _assert_seen_exactly(_seen_by_describe(moto, ACCOUNT), truth)


def test_the_default_account_does_not_see_it(moto, truth):
    ec2 = _client(moto, "ec2", REGIONS[0], account="123456789012")
    ids = {v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]}
    assert ids.isdisjoint(r.resource_id for r in truth.resources)


def test_20k_resources_in_3_regions_are_all_there(moto):
    """The simulator seeds 20,000 resources (about 4 s here; speed is `make bench`'s business, not
    a test's) in the planned shares; every volume of the largest region pages through, and every
    resource of the smallest is visible with its tags. (At 1,500 above every region is checked
    resource by resource; listing all 20,000 through moto would take 20 s.)"""
    started = time.perf_counter()
    big = seed_estate(
        moto.endpoint_url, size=20_000, seed=5, regions=REGIONS, account_id="333333333333", services=()
    )
    print(f"seeding 20,000 resources: {time.perf_counter() - started:.1f} s")
    assert 20_000 <= len(big.resources) <= 20_003
    by_scenario = big.by_scenario()
    for key, scenario in sim._SCENARIO_OF.items():
        if scenario not in (sim.LB_NO_TARGETS, sim.EBS_ON_STOPPED):  # two variants each / derived
            assert by_scenario[scenario] == round(20_000 * {**sim._SHARES, **sim._USAGE_SHARES}[key]), (
                scenario
            )
    assert by_scenario[sim.EC2_STOPPED] <= by_scenario[sim.EBS_ON_STOPPED] <= 2 * by_scenario[sim.EC2_STOPPED]
    # The scanner's largest listing stays linear: every volume of the biggest region.
    ec2 = _client(moto, "ec2", REGIONS[0], account="333333333333")
    volumes = [v for page in ec2.get_paginator("describe_volumes").paginate() for v in page["Volumes"]]
    assert len(volumes) == sum(
        1 for r in big.resources if r.region == REGIONS[0] and r.resource_type == sim.VOLUME
    )
    # And every resource of that region is there, with its tags.
    started = time.perf_counter()
    first = (REGIONS[-1],)
    _assert_seen_exactly(_seen_by_describe(moto, "333333333333", first), big, first)
    print(f"listing {REGIONS[-1]}: {time.perf_counter() - started:.1f} s")


def test_same_seed_same_shape_above_1000(moto, truth):
    again = seed_estate(
        moto.endpoint_url, size=SIZE, seed=SEED, regions=REGIONS, account_id="222222222223", services=()
    )

    def shape(t: GroundTruth) -> list[tuple]:
        return [
            (r.resource_type, r.region, r.scenario, r.decision, tuple(sorted(r.tags.items())))
            for r in t.resources
        ]

    assert shape(again) == shape(truth)
    assert {r.resource_id for r in again.resources}.isdisjoint(r.resource_id for r in truth.resources)


def test_fast_lookups_answer_as_moto_does(truth):
    from moto.backends import get_backend
    from moto.ec2.exceptions import InvalidInstanceIdError
    from moto.ec2.models.instances import InstanceBackend
    from moto.ec2.models.tags import TagBackend

    region = REGIONS[0]
    ec2 = get_backend("ec2")[ACCOUNT][region]
    original_tags = TagBackend.describe_tags._cloudwaste_original
    ids = [
        r.resource_id for r in truth.resources if r.region == region and not r.resource_id.startswith("arn:")
    ]
    for rid in [*ids[:40], "vol-0000000000unknown"]:
        query = {"resource-id": [rid]}
        assert ec2.describe_tags(filters=query) == original_tags(ec2, filters=query)
    for query in ({"resource-id": ids[5:9]}, {"resource-id": [ids[0][:4] + "*"]}, {"key": ["team"]}, None):
        assert ec2.describe_tags(filters=query) == original_tags(ec2, filters=query)

    original_get = InstanceBackend.get_instance._cloudwaste_original
    instance_ids = [
        r.resource_id for r in truth.resources if r.region == region and r.resource_type == sim.INSTANCE
    ]
    for iid in instance_ids[:20]:
        assert ec2.get_instance(iid) is original_get(ec2, iid)
        assert ec2.get_instance_by_id(iid) is original_get(ec2, iid)
    assert ec2.get_instance_by_id("i-00000000000unknown") is None
    with pytest.raises(InvalidInstanceIdError):
        ec2.get_instance("i-00000000000unknown")
