"""The simulated AWS estate: its ground truth must hold as a scanner sees it through boto3."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from cloudwaste.sim import aws as sim
from cloudwaste.sim.aws import GroundTruth, TruthResource, seed_estate, start_moto
from cloudwaste.sim.profile import environment_class

REGIONS = ("us-east-1", "eu-west-1", "ap-southeast-2")
SIZE = 120
SEED = 7
REASON = re.compile(r"^User initiated \((\d{4}-\d\d-\d\d \d\d:\d\d:\d\d) GMT\)$")


@pytest.fixture(scope="module")
def moto():
    handle = start_moto()
    yield handle
    handle.stop()


@pytest.fixture(scope="module")
def truth(moto) -> GroundTruth:
    return seed_estate(moto.endpoint_url, size=SIZE, seed=SEED, regions=REGIONS, services=())


def client(moto, service: str, region: str):
    return boto3.client(
        service,
        endpoint_url=moto.endpoint_url,
        region_name=region,
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
        config=Config(retries={"max_attempts": 1}),
    )


def of(truth: GroundTruth, resource_type: str, region: str) -> dict[str, TruthResource]:
    return {
        r.resource_id: r for r in truth.resources if r.resource_type == resource_type and r.region == region
    }


def tag_dict(tags: list[dict[str, str]] | None) -> dict[str, str]:
    return {t["Key"]: t["Value"] for t in tags or []}


def test_size_share_and_every_scenario(truth):
    assert len(truth.resources) >= SIZE
    assert set(truth.by_scenario()) == set(sim.SCENARIOS)
    assert all(n >= 1 for n in truth.by_scenario().values())
    assert 0.25 <= len(truth.waste()) / len(truth.resources) <= 0.45
    assert set(truth.by_type()) == set(sim.RESOURCE_TYPES)
    assert {r.region for r in truth.resources} == set(REGIONS)
    assert len({r.resource_id for r in truth.resources}) == len(truth.resources)


def test_decisions_only_for_waste(truth):
    for r in truth.resources:
        if r.scenario is None:
            assert r.decision is None
        else:
            assert r.decision in ("deleted", "kept", "ignored")
    with pytest.raises(ValueError):
        TruthResource("vol-1", sim.VOLUME, "us-east-1", None, "kept", {})


def test_tags_are_realistic_and_match_moto(moto, truth):
    required = {"Name", "environment", "owner", "team", "cost-center", "criticality", "backup"}
    for r in truth.resources:
        assert required <= set(r.tags), r
        assert "@" in r.tags["owner"]
        assert r.tags["criticality"] in ("high", "medium", "low")
        assert r.tags["backup"] in ("required", "none")
    names = [r.tags["Name"] for r in truth.resources]
    assert any("@" in n for n in names) or any("@" in r.tags.get("notes", "") for r in truth.resources)
    assert any(re.search(r"\b\d+\.\d+\.\d+\.\d+\b", n) for n in names)
    for region in REGIONS:
        volumes = client(moto, "ec2", region).describe_volumes()["Volumes"]
        for v in volumes:
            assert tag_dict(v.get("Tags")) == of(truth, sim.VOLUME, region)[v["VolumeId"]].tags


def test_volumes(moto, truth):
    types = set()
    for region in REGIONS:
        volumes = {v["VolumeId"]: v for v in client(moto, "ec2", region).describe_volumes()["Volumes"]}
        expected = of(truth, sim.VOLUME, region)
        assert set(volumes) == set(expected)  # the scanner sees exactly the truth, nothing more
        for vid, r in expected.items():
            v = volumes[vid]
            types.add(v["VolumeType"])
            assert 8 <= v["Size"] <= 2000
            if r.scenario == sim.EBS_UNATTACHED:
                assert v["State"] == "available" and not v.get("Attachments")
            else:
                assert r.scenario in (None, sim.EBS_ON_STOPPED)
                assert v["State"] == "in-use" and v["Attachments"][0]["InstanceId"].startswith("i-")
            assert v["CreateTime"] < datetime.now(UTC) - timedelta(hours=12)
    assert {"gp2", "gp3"} <= types


def test_volumes_on_stopped_instances(moto, truth):
    """Waste exactly when attached to an instance stopped >= 30 days; its instance is waste too."""
    now = datetime.now(UTC)
    seen = Counter()
    for region in REGIONS:
        ec2 = client(moto, "ec2", region)
        instances = {
            i["InstanceId"]: i for res in ec2.describe_instances()["Reservations"] for i in res["Instances"]
        }
        instance_truth = of(truth, sim.INSTANCE, region)
        for v in ec2.describe_volumes()["Volumes"]:
            r = of(truth, sim.VOLUME, region)[v["VolumeId"]]
            if not v.get("Attachments"):
                assert r.scenario == sim.EBS_UNATTACHED
                continue
            inst = instances[v["Attachments"][0]["InstanceId"]]
            stopped_days = None
            if inst["State"]["Name"] == "stopped":
                stamp = REASON.match(inst["StateTransitionReason"]).group(1)
                stopped_at = datetime.strptime(stamp, "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
                stopped_days = (now - stopped_at).total_seconds() / 86400
            if r.scenario == sim.EBS_ON_STOPPED:
                assert stopped_days is not None and stopped_days >= sim.STOPPED_DAYS
                assert instance_truth[inst["InstanceId"]].scenario == sim.EC2_STOPPED
                assert r.decision in ("deleted", "kept", "ignored")
                assert r.tags == instance_truth[inst["InstanceId"]].tags
                seen["waste"] += 1
            else:
                assert r.scenario is None and r.decision is None
                assert stopped_days is None or stopped_days < sim.STOPPED_DAYS
                seen["near_miss" if stopped_days is not None else "running"] += 1
    assert seen["waste"] and seen["near_miss"] and seen["running"]
    # every volume of every long-stopped instance, and only those
    stopped_long = {r.resource_id for r in truth.resources if r.scenario == sim.EC2_STOPPED}
    assert truth.by_scenario()[sim.EBS_ON_STOPPED] >= len(stopped_long)


def test_elastic_ips(moto, truth):
    for region in REGIONS:
        addresses = {
            a["AllocationId"]: a for a in client(moto, "ec2", region).describe_addresses()["Addresses"]
        }
        expected = of(truth, sim.ELASTIC_IP, region)
        assert set(addresses) == set(expected)
        for alloc, r in expected.items():
            if r.scenario == sim.EIP_UNASSOCIATED:
                assert "AssociationId" not in addresses[alloc]
            else:
                assert addresses[alloc].get("AssociationId")
            assert tag_dict(addresses[alloc].get("Tags")) == r.tags


def test_instances_stopped_long_and_near_misses(moto, truth):
    now = datetime.now(UTC)
    seen = Counter()
    for region in REGIONS:
        ec2 = client(moto, "ec2", region)
        reservations = ec2.describe_instances()["Reservations"]
        instances = {i["InstanceId"]: i for res in reservations for i in res["Instances"]}
        expected = of(truth, sim.INSTANCE, region)
        assert set(instances) == set(expected)
        for iid, r in expected.items():
            inst = instances[iid]
            state = inst["State"]["Name"]
            if state == "running":
                assert r.scenario in (None, sim.EC2_IDLE) and inst.get("StateTransitionReason", "") == ""
                seen["idle" if r.scenario else "running"] += 1
                continue
            assert state == "stopped"
            match = REASON.match(inst["StateTransitionReason"])
            assert match, inst["StateTransitionReason"]
            stopped_at = datetime.strptime(match.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=UTC)
            assert inst["LaunchTime"] < stopped_at
            if r.scenario == sim.EC2_STOPPED:
                assert stopped_at < now - timedelta(days=30)
                seen["stopped_long"] += 1
            else:
                assert r.scenario is None
                assert now - timedelta(days=30) < stopped_at < now - timedelta(days=4)
                seen["near_miss"] += 1
            # Its volumes are still attached (and still bill).
            assert inst["BlockDeviceMappings"]
    assert seen["running"] and seen["stopped_long"] and seen["near_miss"] and seen["idle"]


def test_running_instances_have_cloudwatch_history_idle_ones_low_on_both_signals(moto, truth):
    """What ec2-instance-idle reads: every running instance has daily CPU and network datapoints
    since its launch (at most 16 days); the idle ones stay low on both, every day."""
    now = datetime.now(UTC)
    region = REGIONS[0]
    ec2, cloudwatch = client(moto, "ec2", region), client(moto, "cloudwatch", region)
    running = {
        i["InstanceId"]: i
        for res in ec2.describe_instances()["Reservations"]
        for i in res["Instances"]
        if i["State"]["Name"] == "running"
    }
    expected = of(truth, sim.INSTANCE, region)
    ids = sorted(running)
    queries = [
        {
            "Id": f"q{n}_{m}",
            "MetricStat": {
                "Metric": {
                    "Namespace": "AWS/EC2",
                    "MetricName": metric,
                    "Dimensions": [{"Name": "InstanceId", "Value": iid}],
                },
                "Period": 86400,
                "Stat": "Average" if metric == "CPUUtilization" else "Sum",
            },
        }
        for n, iid in enumerate(ids)
        for m, metric in enumerate(("CPUUtilization", "NetworkIn", "NetworkOut"))
    ]
    values = {}
    for first in range(0, len(queries), 500):
        result = cloudwatch.get_metric_data(
            MetricDataQueries=queries[first : first + 500], StartTime=now - timedelta(days=14), EndTime=now
        )
        values.update({r["Id"]: r["Values"] for r in result["MetricDataResults"]})
    idle = 0
    for n, iid in enumerate(ids):
        age = (now - running[iid]["LaunchTime"]).total_seconds() / 86400
        cpu, net_in, net_out = (values[f"q{n}_{m}"] for m in range(3))
        assert len(cpu) == len(net_in) == min(14, max(1, int(age))), iid
        if expected[iid].scenario == sim.EC2_IDLE:
            idle += 1
            assert (
                age > 14
                and max(cpu) <= 3.5
                and max(a + b for a, b in zip(net_in, net_out, strict=True)) < 5 * 2**20
            )
    assert idle


def test_snapshots_orphaned_and_near_misses(moto, truth):
    now = datetime.now(UTC)
    seen = Counter()
    for region in REGIONS:
        ec2 = client(moto, "ec2", region)
        snapshots = {s["SnapshotId"]: s for s in ec2.describe_snapshots(OwnerIds=["self"])["Snapshots"]}
        expected = of(truth, sim.SNAPSHOT, region)
        assert set(snapshots) == set(expected)
        for sid, r in expected.items():
            snap = snapshots[sid]
            try:
                ec2.describe_volumes(VolumeIds=[snap["VolumeId"]])
                volume_exists = True
            except ClientError as exc:
                assert exc.response["Error"]["Code"] == "InvalidVolume.NotFound"
                volume_exists = False
            old = snap["StartTime"] < now - timedelta(days=90)
            if r.scenario == sim.SNAPSHOT_ORPHANED:
                assert not volume_exists and old
                seen["orphaned"] += 1
            elif not volume_exists:
                assert r.scenario is None and not old
                assert snap["StartTime"] < now - timedelta(days=4)
                seen["near_miss"] += 1
            else:
                assert r.scenario is None
                seen["live"] += 1
    assert seen["orphaned"] and seen["near_miss"] and seen["live"]


def test_nat_gateways_traffic_and_age(moto, truth):
    now = datetime.now(UTC)
    seen = Counter()
    for region in REGIONS:
        ec2 = client(moto, "ec2", region)
        cloudwatch = client(moto, "cloudwatch", region)
        gateways = {g["NatGatewayId"]: g for g in ec2.describe_nat_gateways()["NatGateways"]}
        expected = of(truth, sim.NAT_GATEWAY, region)
        assert set(gateways) == set(expected)
        for nat_id, r in expected.items():
            totals = []
            for metric in sim.NAT_METRICS:
                points = cloudwatch.get_metric_statistics(
                    Namespace="AWS/NATGateway",
                    MetricName=metric,
                    Dimensions=[{"Name": "NatGatewayId", "Value": nat_id}],
                    StartTime=now - timedelta(days=30),
                    EndTime=now,
                    Period=86400,
                    Statistics=["Sum"],
                )["Datapoints"]
                assert points, (nat_id, metric)
                totals.append(sum(p["Sum"] for p in points))
            created = gateways[nat_id]["CreateTime"]
            if r.scenario == sim.NAT_IDLE:
                assert totals == [0.0, 0.0] and created < now - timedelta(days=30)
                seen["idle"] += 1
            elif created > now - timedelta(days=30):
                assert r.scenario is None and totals == [0.0, 0.0]
                seen["young"] += 1
            else:
                assert r.scenario is None and all(t > 0 for t in totals)
                seen["active"] += 1
        # get_metric_data sees the same thing.
        idle = [n for n, r in expected.items() if r.scenario == sim.NAT_IDLE]
        if idle:
            result = cloudwatch.get_metric_data(
                MetricDataQueries=[
                    {
                        "Id": "out",
                        "MetricStat": {
                            "Metric": {
                                "Namespace": "AWS/NATGateway",
                                "MetricName": "BytesOutToDestination",
                                "Dimensions": [{"Name": "NatGatewayId", "Value": idle[0]}],
                            },
                            "Period": 86400,
                            "Stat": "Sum",
                        },
                    }
                ],
                StartTime=now - timedelta(days=30),
                EndTime=now,
            )["MetricDataResults"][0]
            assert result["Values"] and not any(result["Values"])
    assert seen["idle"] and seen["young"] and seen["active"]


def test_load_balancers_targets(moto, truth):
    seen = Counter()
    for region in REGIONS:
        elbv2 = client(moto, "elbv2", region)
        lbs = {lb["LoadBalancerArn"]: lb for lb in elbv2.describe_load_balancers()["LoadBalancers"]}
        expected = of(truth, sim.LOAD_BALANCER, region)
        assert set(lbs) == set(expected)
        for arn, r in expected.items():
            assert lbs[arn]["Type"] == "application"
            try:
                groups = elbv2.describe_target_groups(LoadBalancerArn=arn)["TargetGroups"]
            except ClientError as exc:  # moto's answer for a load balancer without target groups
                assert exc.response["Error"]["Code"] == "TargetGroupNotFound"
                groups = []
            targets = sum(
                len(
                    elbv2.describe_target_health(TargetGroupArn=g["TargetGroupArn"])[
                        "TargetHealthDescriptions"
                    ]
                )
                for g in groups
            )
            if r.scenario == sim.LB_NO_TARGETS:
                assert targets == 0
                seen["waste"] += 1
            else:
                assert r.scenario is None and targets > 0
                seen["ok"] += 1
            tags = elbv2.describe_tags(ResourceArns=[arn])["TagDescriptions"][0]["Tags"]
            assert tag_dict(tags) == r.tags
    assert seen["waste"] and seen["ok"]


def test_json_round_trip_and_atomic_write(truth, tmp_path):
    assert GroundTruth.from_json(truth.to_json()) == truth
    path = truth.write(tmp_path / "sub" / "truth.json")
    assert GroundTruth.read(path) == truth
    assert json.loads(path.read_text())["schema_version"] == 1
    assert [p.name for p in path.parent.iterdir()] == ["truth.json"]  # no temp file left behind


def _shape(truth: GroundTruth) -> list[tuple]:
    return [
        (r.resource_type, r.region, r.scenario, r.decision, tuple(sorted(r.tags.items())))
        for r in truth.resources
    ]


def test_deterministic_across_servers(moto, truth):
    # A second server, same seed. moto's state is per process, so another account keeps the two
    # estates apart (a scanner reaches it by assuming a role in that account).
    other = start_moto()
    try:
        assert other.endpoint_url != moto.endpoint_url
        again = seed_estate(
            other.endpoint_url, size=SIZE, seed=SEED, regions=REGIONS, account_id="111111111111", services=()
        )
        sts = client(other, "sts", "us-east-1")
        creds = sts.assume_role(RoleArn="arn:aws:iam::111111111111:role/scan", RoleSessionName="test")[
            "Credentials"
        ]
        ec2 = boto3.client(
            "ec2",
            endpoint_url=other.endpoint_url,
            region_name=REGIONS[0],
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
        )
        volumes = {v["VolumeId"] for v in ec2.describe_volumes()["Volumes"]}
    finally:
        other.stop()
    assert again.by_scenario() == truth.by_scenario()
    assert _shape(again) == _shape(truth)
    decisions = Counter((r.resource_type, r.decision) for r in again.waste())
    assert decisions == Counter((r.resource_type, r.decision) for r in truth.waste())
    assert {r.resource_id for r in again.resources}.isdisjoint(r.resource_id for r in truth.resources)
    assert volumes == set(of(again, sim.VOLUME, REGIONS[0]))
    assert again.account_id == "111111111111"


def test_other_seed_differs():
    # The plan is the deterministic part; drawing it needs no moto.
    a = sim._plan(SIZE, 1, REGIONS)
    b = sim._plan(SIZE, 2, REGIONS)
    assert [i.tags for i in a] != [i.tags for i in b]
    assert [(i.key, i.tags, i.decision) for i in sim._plan(SIZE, 1, REGIONS)] == [
        (i.key, i.tags, i.decision) for i in a
    ]


def _waste_decisions(size: int, seed: int) -> list[tuple[dict[str, str], str, str]]:
    """(tags, scenario, decision) of every waste resource of a plan, volumes of stopped instances too."""
    out = []
    for i in sim._plan(size, seed, REGIONS):
        if i.scenario is not None:
            out.append((i.tags, i.scenario, i.decision))
        out.extend((i.tags, sim.EBS_ON_STOPPED, d) for d in i.disk_decisions)
    return out


def test_decisions_follow_tags_more_than_scenario():
    items = [sim._Item(key="x.y", region="", tags=t, decision=d) for t, _, d in _waste_decisions(4000, 3)]
    scenario_of = [s for _, s, _ in _waste_decisions(4000, 3)]
    decisions = Counter(i.decision for i in items)
    assert all(decisions[d] > 0.05 * len(items) for d in ("deleted", "kept", "ignored"))

    def delete_rate(group) -> float:
        group = list(group)
        return sum(i.decision == "deleted" for i in group) / len(group)

    dev = delete_rate(i for i in items if environment_class(i.tags["environment"]) == "dev")
    prod_high = delete_rate(
        i
        for i in items
        if environment_class(i.tags["environment"]) == "prod"
        and (i.tags["criticality"] == "high" or i.tags["backup"] == "required")
    )
    assert dev > 0.6 and prod_high < 0.3
    by_env = [
        delete_rate(i for i in items if environment_class(i.tags["environment"]) == e)
        for e in ("dev", "prod")
    ]
    by_scenario = [
        delete_rate(i for i, s in zip(items, scenario_of, strict=True) if s == scenario)
        for scenario in sim.SCENARIOS
    ]
    assert max(by_env) - min(by_env) > 2 * (max(by_scenario) - min(by_scenario))


def test_backend_writes_need_moto_in_process():
    from cloudwaste.sim.estate_moto import BackendWriter

    with pytest.raises(RuntimeError, match="same process"):
        BackendWriter("999999999999", "us-east-1", probe_vpc_id="vpc-0000000notlocal")


def test_cli_serve(tmp_path):
    truth_path = tmp_path / "truth.json"
    ready = tmp_path / "ready"
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [
            *(
                sys.executable,
                "-m",
                "cloudwaste.sim.aws",
                "serve",
                "--port",
                "0",
                "--size",
                "30",
                "--seed",
                "5",
            ),
            *("--truth", str(truth_path), "--regions", "eu-west-1", "--ready-file", str(ready)),
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        deadline = time.monotonic() + 60
        while not ready.exists():
            assert proc.poll() is None, proc.communicate()
            assert time.monotonic() < deadline
            time.sleep(0.1)
        url = ready.read_text().strip()
        line = proc.stdout.readline().strip()
        truth = GroundTruth.read(truth_path)
        assert line == f"moto ready at {url}: {len(truth.resources)} resources, {len(truth.waste())} waste"
        ec2 = boto3.client(
            "ec2", endpoint_url=url, region_name="eu-west-1", aws_access_key_id="t", aws_secret_access_key="t"
        )
        assert len(ec2.describe_volumes()["Volumes"]) == truth.by_type()[sim.VOLUME]
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0
        assert not ready.exists()
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        proc.stdout.close()
        proc.stderr.close()


def test_start_moto_on_busy_port_fails(moto):
    with pytest.raises(OSError):
        start_moto(moto.port)


def test_the_estates_indexed_get_metric_data_answers_as_motos_own():
    """The simulated estate's moto answers GetMetricData from an index (moto scans every datapoint
    per query and period); for the queries the scanner sends, the answers are moto's."""
    import datetime as dt

    from cloudwaste.sim import moto_cloudwatch
    from moto.cloudwatch.models import CloudWatchBackend

    moto_cloudwatch.install()
    backend = CloudWatchBackend("eu-west-1", "111122223333")
    now = dt.datetime(2026, 11, 30, 0, 0, tzinfo=dt.UTC)
    for i, instance in enumerate(("i-1", "i-2", "i-3")):
        for day in range(1, 15):
            for hour in (3, 15):
                backend.put_metric_data(
                    "AWS/EC2",
                    [
                        {
                            "MetricName": name,
                            "Dimensions": [{"Name": "InstanceId", "Value": instance}],
                            "Timestamp": now - dt.timedelta(days=day, hours=hour),
                            "Value": float(i * 10 + day + hour / 10 + (k * 1000)),
                        }
                        for k, name in enumerate(("CPUUtilization", "NetworkIn"))
                    ],
                )
    queries = [
        {
            "Id": f"q{n}",
            "MetricStat": {
                "Metric": {
                    "Namespace": "AWS/EC2",
                    "MetricName": name,
                    "Dimensions": [{"Name": "InstanceId", "Value": instance}],
                },
                "Period": 86400,
                "Stat": stat,
            },
        }
        for n, (instance, name, stat) in enumerate(
            (i, m, s)
            for i in ("i-1", "i-2", "i-3", "i-none")
            for m in ("CPUUtilization", "NetworkIn")
            for s in ("Average", "Maximum", "Sum", "Minimum", "SampleCount")
        )
    ]
    start, end = now - dt.timedelta(days=10), now
    for scan_by in ("TimestampAscending", "TimestampDescending"):
        ours = backend.get_metric_data(queries, start, end, scan_by)
        theirs = moto_cloudwatch.ORIGINAL(backend, queries, start, end, scan_by)
        assert ours == theirs
        assert [len(r["values"]) for r in ours][:5] == [9] * 5 and ours[-1]["values"] == []
