"""act_on: each action on each kind of resource, as the next scan's describe calls see it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from botocore.exceptions import ClientError
from cloudwaste.sim import aws as sim
from cloudwaste.sim.aws import GroundTruth, TruthResource, act_on, boto3_client, seed_estate, start_moto

ACCOUNT = "444444444444"
REGION = "us-east-1"


@pytest.fixture(scope="module")
def estate():
    handle = start_moto()
    truth = seed_estate(handle.endpoint_url, size=300, seed=3, regions=(REGION,), account_id=ACCOUNT)
    yield handle.endpoint_url, truth
    handle.stop()


@pytest.fixture(scope="module")
def ec2(estate):
    return boto3_client("ec2", estate[0], REGION, account_id=ACCOUNT, max_attempts=1)


@pytest.fixture(scope="module")
def elbv2(estate):
    return boto3_client("elbv2", estate[0], REGION, account_id=ACCOUNT, max_attempts=1)


class Picker:
    """Hands out distinct truth resources, so that no two tests act on the same one."""

    def __init__(self, truth: GroundTruth) -> None:
        self.truth = truth
        self.used: set[str] = set()

    def __call__(self, rtype: str, scenario: str | None, *, where=lambda r: True) -> TruthResource:
        for r in self.truth.resources:
            if r.resource_type == rtype and r.scenario == scenario and r.resource_id not in self.used:
                if where(r):
                    self.used.add(r.resource_id)
                    return r
        raise LookupError((rtype, scenario))


@pytest.fixture(scope="module")
def pick(estate) -> Picker:
    return Picker(estate[1])


def act(estate, resource: TruthResource, action: str) -> None:
    act_on(estate[0], resource, action, account_id=ACCOUNT)


def volume(ec2, vid: str) -> dict | None:
    try:
        return ec2.describe_volumes(VolumeIds=[vid])["Volumes"][0]
    except ClientError as exc:
        assert exc.response["Error"]["Code"] == "InvalidVolume.NotFound"
        return None


def instance(ec2, iid: str) -> dict:
    return ec2.describe_instances(InstanceIds=[iid])["Reservations"][0]["Instances"][0]


def address(ec2, alloc: str) -> dict | None:
    found = [a for a in ec2.describe_addresses()["Addresses"] if a["AllocationId"] == alloc]
    return found[0] if found else None


def targets_behind(elbv2, arn: str) -> int:
    groups = [
        g for g in elbv2.describe_target_groups()["TargetGroups"] if arn in g.get("LoadBalancerArns", [])
    ]
    return sum(
        len(elbv2.describe_target_health(TargetGroupArn=g["TargetGroupArn"])["TargetHealthDescriptions"])
        for g in groups
    )


def nat_bytes(estate, nat_id: str) -> float:
    cloudwatch = boto3_client("cloudwatch", estate[0], REGION, account_id=ACCOUNT)
    now = datetime.now(UTC)
    total = 0.0
    for metric in sim.NAT_METRICS:
        result = cloudwatch.get_metric_data(
            MetricDataQueries=[
                {
                    "Id": "q",
                    "MetricStat": {
                        "Metric": {
                            "Namespace": sim.NAT_NAMESPACE,
                            "MetricName": metric,
                            "Dimensions": [{"Name": "NatGatewayId", "Value": nat_id}],
                        },
                        "Period": 86400,
                        "Stat": "Sum",
                    },
                }
            ],
            StartTime=now - timedelta(days=30),
            EndTime=now,
        )["MetricDataResults"][0]
        total += sum(result["Values"])
    return total


# volumes ------------------------------------------------------------------------------------


def test_delete_unattached_volume(estate, ec2, pick):
    r = pick(sim.VOLUME, sim.EBS_UNATTACHED)
    act(estate, r, "delete")
    assert volume(ec2, r.resource_id) is None


def test_delete_volume_on_stopped_instance_detaches_it_first(estate, ec2, pick):
    r = pick(sim.VOLUME, sim.EBS_ON_STOPPED)
    owner = volume(ec2, r.resource_id)["Attachments"][0]["InstanceId"]
    act(estate, r, "delete")
    assert volume(ec2, r.resource_id) is None
    devices = [m["Ebs"]["VolumeId"] for m in instance(ec2, owner).get("BlockDeviceMappings", [])]
    assert r.resource_id not in devices


def test_fix_unattached_volume_attaches_it_to_a_running_instance_in_its_zone(estate, ec2, pick):
    r = pick(sim.VOLUME, sim.EBS_UNATTACHED)
    act(estate, r, "fix")
    v = volume(ec2, r.resource_id)
    assert v["State"] == "in-use"
    target = instance(ec2, v["Attachments"][0]["InstanceId"])
    assert target["State"]["Name"] == "running"
    assert target["Placement"]["AvailabilityZone"] == v["AvailabilityZone"]


def test_fix_volume_on_stopped_instance_moves_it_to_a_running_one(estate, ec2, pick):
    r = pick(sim.VOLUME, sim.EBS_ON_STOPPED)
    act(estate, r, "fix")
    v = volume(ec2, r.resource_id)
    assert v["State"] == "in-use"
    assert instance(ec2, v["Attachments"][0]["InstanceId"])["State"]["Name"] == "running"


# Elastic IPs --------------------------------------------------------------------------------


def test_release_elastic_ip(estate, ec2, pick):
    r = pick(sim.ELASTIC_IP, sim.EIP_UNASSOCIATED)
    act(estate, r, "delete")
    assert address(ec2, r.resource_id) is None


def test_release_associated_elastic_ip_disassociates_it_first(estate, ec2, pick):
    r = pick(sim.ELASTIC_IP, None, where=lambda r: (address(ec2, r.resource_id) or {}).get("InstanceId"))
    act(estate, r, "delete")
    assert address(ec2, r.resource_id) is None


def test_fix_elastic_ip_associates_it_with_a_running_instance(estate, ec2, pick):
    r = pick(sim.ELASTIC_IP, sim.EIP_UNASSOCIATED)
    act(estate, r, "fix")
    a = address(ec2, r.resource_id)
    assert a.get("AssociationId")
    assert instance(ec2, a["InstanceId"])["State"]["Name"] == "running"


# instances ----------------------------------------------------------------------------------


def test_terminate_stopped_instance_deletes_its_root_volume_and_frees_the_others(estate, ec2, pick):
    r = pick(
        sim.INSTANCE,
        sim.EC2_STOPPED,
        where=lambda r: len(instance(ec2, r.resource_id)["BlockDeviceMappings"]) > 1,
    )
    mappings = {
        m["DeviceName"]: m["Ebs"]["VolumeId"] for m in instance(ec2, r.resource_id)["BlockDeviceMappings"]
    }
    act(estate, r, "delete")
    assert instance(ec2, r.resource_id)["State"]["Name"] == "terminated"
    assert volume(ec2, mappings.pop(sim._ROOT_DEVICE)) is None  # DeleteOnTermination
    for vid in mappings.values():  # data volumes stay, now unattached
        assert volume(ec2, vid)["State"] == "available"


def test_fix_stopped_instance_starts_it(estate, ec2, pick):
    r = pick(sim.INSTANCE, sim.EC2_STOPPED)
    act(estate, r, "fix")
    assert instance(ec2, r.resource_id)["State"]["Name"] == "running"


# snapshots ----------------------------------------------------------------------------------


def test_delete_snapshot(estate, ec2, pick):
    r = pick(sim.SNAPSHOT, sim.SNAPSHOT_ORPHANED)
    act(estate, r, "delete")
    ids = {s["SnapshotId"] for s in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]}
    assert r.resource_id not in ids


def test_fix_snapshot_is_not_supported(estate, ec2, pick):
    r = pick(sim.SNAPSHOT, sim.SNAPSHOT_ORPHANED)
    with pytest.raises(ValueError, match="snapshot"):
        act(estate, r, "fix")
    ids = {s["SnapshotId"] for s in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]}
    assert r.resource_id in ids


# NAT gateways -------------------------------------------------------------------------------


def test_delete_nat_gateway(estate, ec2, pick):
    r = pick(sim.NAT_GATEWAY, sim.NAT_IDLE)
    act(estate, r, "delete")
    states = {g["NatGatewayId"]: g["State"] for g in ec2.describe_nat_gateways()["NatGateways"]}
    assert states.get(r.resource_id, "deleted") == "deleted"


def test_fix_nat_gateway_gives_it_traffic(estate, pick):
    r = pick(sim.NAT_GATEWAY, sim.NAT_IDLE)
    assert nat_bytes(estate, r.resource_id) == 0
    act(estate, r, "fix")
    assert nat_bytes(estate, r.resource_id) > 0


# load balancers -----------------------------------------------------------------------------


def test_delete_load_balancer(estate, elbv2, pick):
    r = pick(sim.LOAD_BALANCER, sim.LB_NO_TARGETS)
    act(estate, r, "delete")
    arns = {lb["LoadBalancerArn"] for lb in elbv2.describe_load_balancers()["LoadBalancers"]}
    assert r.resource_id not in arns


@pytest.mark.parametrize("has_group", [True, False], ids=["empty-target-group", "no-target-group"])
def test_fix_load_balancer_registers_a_running_instance(estate, elbv2, pick, has_group):
    def shape(r: TruthResource) -> bool:
        groups = [
            g
            for g in elbv2.describe_target_groups()["TargetGroups"]
            if r.resource_id in g["LoadBalancerArns"]
        ]
        return bool(groups) == has_group

    r = pick(sim.LOAD_BALANCER, sim.LB_NO_TARGETS, where=shape)
    assert targets_behind(elbv2, r.resource_id) == 0
    act(estate, r, "fix")
    assert targets_behind(elbv2, r.resource_id) == 1


# errors -------------------------------------------------------------------------------------


def test_unknown_action_or_type(estate, pick):
    r = pick(sim.VOLUME, sim.EBS_UNATTACHED)
    with pytest.raises(ValueError, match="action"):
        act(estate, r, "archive")
    with pytest.raises(ValueError, match="resource type"):
        act(estate, TruthResource("x-1", "aws.nothing.thing", REGION, None, None), "delete")


def test_acting_on_a_resource_already_gone_is_an_api_error(estate, pick):
    r = pick(sim.SNAPSHOT, sim.SNAPSHOT_ORPHANED)
    act(estate, r, "delete")
    with pytest.raises(ClientError):
        act(estate, r, "delete")
