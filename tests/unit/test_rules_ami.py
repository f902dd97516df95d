"""The AMI rules (`ami-unused`, `snapshot-of-deregistered-ami`) and the image listing: boundaries,
what counts as a use, exclusivity with the other snapshot rules, prices and evidence; the listing
against moto, with one call per operation per region."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import boto3
import pytest
from cloudwaste.scanner import catalog, providers
from cloudwaste.scanner.domain import Detection, Resource
from cloudwaste.scanner.engine import evaluate
from cloudwaste.scanner.kinds import load_all as load_kinds
from cloudwaste.scanner.kinds.aws.ami import image_of_snapshot
from cloudwaste.scanner.pricing import AwsPrices
from cloudwaste.scanner.providers import aws
from cloudwaste.scanner.rules import Context, load_all

REGISTRY = load_all()
KINDS = load_kinds()
RULES = {r.key: r for r in REGISTRY}
NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
REGION = "us-east-1"
US = AwsPrices(REGION)
IMAGE = "aws.ec2.image"
NEW = ("ami-unused", "snapshot-of-deregistered-ami")


def _ago(days: float) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


def _res(kind: str, created_days: float | None, rid: str, **attributes) -> Resource:
    created = None if created_days is None else _ago(created_days)
    return Resource("aws", kind, rid, REGION, created_at=created, attributes=attributes)


def _params(key: str, **overrides) -> dict:
    return {k: v for k, v in RULES[key].resolve_params(overrides).items() if k != "enabled"}


def _lookup(related):
    index = {(r.kind, r.resource_id): r for r in related}
    return lambda kind, rid: index.get((kind, rid))


def _run(key: str, resource: Resource, related=(), **overrides) -> Detection | None:
    ctx = Context(now=NOW, prices=US, lookup=_lookup(related))
    return RULES[key].evaluate(resource, _params(key, **overrides), ctx)


def _scan(resources) -> set[tuple[str, str]]:
    rules = {r.key: (r, _params(r.key)) for r in REGISTRY}
    drafts, errors = evaluate(list(resources), rules, Context(now=NOW, prices=US, lookup=_lookup(resources)))
    assert errors == {}
    return {(d.resource.resource_id, d.detection.scenario) for d in drafts}


def _image(age: float | None = 200, rid="ami-0123456789abcdef0", **attributes) -> Resource:
    attrs = {
        "state": "available",
        "public": False,
        "snapshot_ids": ["snap-root", "snap-data"],
        "snapshot_gb": 80,
        "used_by_instances": [],
        "used_by_launch_templates": [],
        "used_by_launch_configurations": [],
        "ssm_resolved_templates": 0,
    }
    attrs.update(attributes)
    return _res(IMAGE, age, rid, **attrs)


def _snap(age: float | None = 200, rid="snap-1", **attributes) -> Resource:
    attrs = {
        "state": "completed",
        "size_gb": 30,
        "volume_id": "vol-gone",
        "source_volume_exists": False,
        "image_id": "ami-0123456789abcdef0",
        "volume_snapshot_rank": None,
        "volume_snapshot_count": None,
    }
    attrs.update(attributes)
    return _res("aws.ec2.snapshot", age, rid, **attrs)


# --- the registry ----------------------------------------------------------------------------------


@pytest.mark.parametrize("key", NEW)
def test_rules_are_registered_with_docs_params_fixtures_and_permissions(key):
    rule = RULES[key]
    assert rule.doc and rule.confidence_doc and rule.title and rule.fixtures is not None
    assert set(catalog.rule_permissions(rule, KINDS)) <= set(rule.permissions)
    assert "Default" in rule.doc
    for spec in rule.params.values():
        assert spec.doc and isinstance(spec.default, spec.type) and spec.minimum is not None


def test_defaults_and_needs():
    assert RULES["ami-unused"].resolve_params()["min_age_days"] == 90.0
    assert RULES["snapshot-of-deregistered-ami"].resolve_params()["min_age_days"] == 30.0
    assert RULES["snapshot-of-deregistered-ami"].needs == (IMAGE,)
    # a snapshot an image uses is the image's: the snapshot listing reads the images, which read
    # the instance listing (no DescribeInstances of their own; no cycle)
    assert KINDS.get("aws.ec2.snapshot").requires == ("aws.ec2.volume", IMAGE)
    assert KINDS.get(IMAGE).requires == ("aws.ec2.instance",)
    order = [k.key for k in KINDS.closure({"aws.ec2.snapshot", IMAGE})]
    assert order.index(IMAGE) < order.index("aws.ec2.snapshot")
    assert set(KINDS.get(IMAGE).ml_config) == {
        "architecture",
        "platform",
        "root_device_type",
        "state",
        "public",
        "snapshot_count",
        "snapshot_gb",
    }


# --- ami-unused ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(("age", "fires"), [(89.9, False), (90.0, True), (2000, True), (None, False)])
def test_ami_unused_age_boundary(age, fires):
    det = _run("ami-unused", _image(age))
    assert (det is not None) == fires
    if fires:
        assert det.confidence == "MEDIUM"
        assert det.monthly_cost == US.ebs_snapshot(80) == Decimal("4.0000")
        assert det.evidence["snapshot_gb"] == 80 and det.evidence["snapshot_ids"] == [
            "snap-root",
            "snap-data",
        ]
        assert det.evidence["cost_basis"].startswith("upper bound")
        assert det.evidence["price_region"] == REGION


def test_ami_unused_min_age_override():
    assert _run("ami-unused", _image(40), min_age_days=30.0) is not None
    assert _run("ami-unused", _image(40), min_age_days=60.0) is None


@pytest.mark.parametrize(
    "use",
    [
        {"used_by_instances": ["i-1"]},
        {"used_by_launch_templates": ["lt-1:4"]},
        {"used_by_launch_configurations": ["web-lc"]},
    ],
)
def test_an_image_anything_launches_from_does_not_fire(use):
    assert _run("ami-unused", _image(**use)) is None


@pytest.mark.parametrize("state", ["pending", "failed", "deregistered", "error", None])
def test_only_available_or_disabled_images_are_judged(state):
    assert _run("ami-unused", _image(state=state)) is None
    assert _run("ami-unused", _image(state="disabled")) is not None


@pytest.mark.parametrize(
    ("change", "confidence"), [({"public": True}, "LOW"), ({"ssm_resolved_templates": 2}, "LOW")]
)
def test_ami_unused_lower_confidence(change, confidence):
    det = _run("ami-unused", _image(**change))
    assert det.confidence == confidence
    assert det.evidence["ssm_resolved_templates"] == change.get("ssm_resolved_templates", 0)


@pytest.mark.parametrize("gb", [0, None])
def test_an_image_without_ebs_snapshots_fires_unpriced(gb):
    det = _run("ami-unused", _image(snapshot_gb=gb, snapshot_ids=[]))
    assert det.monthly_cost == Decimal(0) and det.evidence["cost_basis"].startswith("no EBS snapshot")


def test_missing_usage_attributes_count_as_unused():
    r = _res(IMAGE, 200, "ami-x", state="available")
    det = _run("ami-unused", r)
    assert det is not None and det.monthly_cost == Decimal(0)


# --- snapshot-of-deregistered-ami ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("age", "confidence"), [(29.9, None), (30.0, "MEDIUM"), (89.9, "MEDIUM"), (90.0, "HIGH"), (None, None)]
)
def test_deregistered_ami_snapshot_age_boundary(age, confidence):
    det = _run("snapshot-of-deregistered-ami", _snap(age))
    if confidence is None:
        assert det is None
        return
    assert det.confidence == confidence
    assert det.monthly_cost == US.ebs_snapshot(30) == Decimal("1.5000")
    assert det.evidence["image_id"] == "ami-0123456789abcdef0" and det.evidence["image_exists"] is False
    assert det.evidence["cost_basis"].startswith("upper bound")


def test_deregistered_ami_snapshot_near_misses():
    live = _image(10)
    assert _run("snapshot-of-deregistered-ami", _snap(), related=[live]) is None  # the image exists
    assert _run("snapshot-of-deregistered-ami", _snap(image_id=None)) is None  # a plain snapshot
    for state in ("error", "pending", None):
        assert _run("snapshot-of-deregistered-ami", _snap(state=state)) is None
    assert _run("snapshot-of-deregistered-ami", _snap(45), min_age_days=60.0) is None


def test_deregistered_ami_snapshot_priced_by_the_gb_written_when_aws_says():
    det = _run("snapshot-of-deregistered-ami", _snap(full_size_bytes=4 * 1024**3))
    assert det.monthly_cost == US.ebs_snapshot(4) and det.evidence["priced_gb"] == 4
    det = _run("snapshot-of-deregistered-ami", _snap(size_gb=None))
    assert det.monthly_cost == Decimal(0) and det.evidence["priced_gb"] is None


def test_image_snapshots_are_one_finding_at_most():
    """An image's snapshot whose volume is gone is never `snapshot-orphaned`: it is the image's
    (`ami-unused`) while the image exists, `snapshot-of-deregistered-ami` once it is gone."""
    image = _image(400)
    of_live = _snap(400, rid="snap-live")
    of_gone = _snap(400, rid="snap-gone", image_id="ami-00000000000000bad")
    plain = _snap(400, rid="snap-plain", image_id=None)
    assert _scan([image, of_live, of_gone, plain]) == {
        ("ami-0123456789abcdef0", "ami-unused"),
        ("snap-gone", "snapshot-of-deregistered-ami"),
        ("snap-plain", "snapshot-orphaned"),
    }
    # an error snapshot of a gone image is only an error
    assert _scan([_snap(400, rid="snap-err", state="error", image_id="ami-00000000000000bad")]) == {
        ("snap-err", "snapshot-error-state")
    }


def test_image_snapshots_of_live_volumes_are_not_excess():
    r = _snap(
        400,
        source_volume_exists=True,
        volume_id="vol-live",
        volume_snapshot_rank=40,
        volume_snapshot_count=40,
    )
    assert _run("snapshots-per-volume-excess", r) is None


@pytest.mark.parametrize(
    ("description", "image_id"),
    [
        (
            "Created by CreateImage(i-0123456789abcdef0) for ami-0abcdef1234567890 from vol-0aaa",
            "ami-0abcdef1234567890",
        ),
        ("Created by CreateImage(i-289c4c98a39506ddb) for ami-e2928da1129ad7686", "ami-e2928da1129ad7686"),
        (
            "Copied for DestinationAmi ami-0123456789abcdef0 from SourceAmi ami-0fff for SourceSnapshot snap-1",
            "ami-0123456789abcdef0",
        ),
        ("nightly backup before upgrading ami-0123456789abcdef0", None),  # a user's text is not read
        ("Created by CreateImage for ami-0123456789abcdef0", None),
        ("", None),
        (None, None),
    ],
)
def test_image_of_snapshot(description, image_id):
    assert image_of_snapshot(description) == image_id


# --- the image listing against moto -----------------------------------------------------------------


@pytest.fixture
def moto_region(monkeypatch):
    monkeypatch.setenv("MOTO_EC2_LOAD_DEFAULT_AMIS", "false")
    for var, value in (("AWS_ACCESS_KEY_ID", "testing"), ("AWS_SECRET_ACCESS_KEY", "testing")):
        monkeypatch.setenv(var, value)
    from moto import mock_aws

    with mock_aws():
        session = boto3.Session(region_name=REGION)
        session.events.register("before-call.*.*", aws._record_call)

        class Conn:
            def client(self, service, region):
                return session.client(service, region_name=region)

        yield Conn()


def _list(conn, kind_key=IMAGE, deps=None):
    """The kind's listing (its dependencies listed first, their calls not counted) and the calls
    the listing itself made."""
    if deps is None:
        deps = {}
        for k in KINDS.closure({kind_key})[:-1]:
            deps[k.key] = aws.PROVIDER.list_kind(conn, k, REGION, NOW, {d: deps[d] for d in k.requires})
    seen = []
    with providers.observe_calls(lambda p, caller, op: seen.append((caller, op))):
        out = aws.PROVIDER.list_kind(conn, KINDS.get(kind_key), REGION, NOW, deps)
    for caller, op in seen:
        assert op in KINDS.get(caller).operations, (caller, op)
    return out, seen


def test_no_image_no_usage_calls(moto_region):
    out, seen = _list(moto_region)
    assert out == [] and seen == [(IMAGE, "ec2:DescribeImages")]


def test_image_listing_reads_every_use_in_one_call_per_operation(moto_region):
    ec2 = moto_region.client("ec2", REGION)
    asg = moto_region.client("autoscaling", REGION)
    builder = ec2.run_instances(ImageId="ami-0c0ffee0000051a7e", MinCount=1, MaxCount=1)["Instances"][0]

    def image(name: str) -> str:
        return ec2.create_image(InstanceId=builder["InstanceId"], Name=name)["ImageId"]

    by_instance, by_latest, by_default, by_lc, unused, stopped_user = (
        image(n) for n in ("inst", "latest", "default", "lconf", "unused", "stopped")
    )
    ec2.run_instances(ImageId=by_instance, MinCount=1, MaxCount=1)
    gone = ec2.run_instances(ImageId=unused, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    ec2.terminate_instances(InstanceIds=[gone])  # a terminated instance is no use
    stopped = ec2.run_instances(ImageId=stopped_user, MinCount=1, MaxCount=1)["Instances"][0]["InstanceId"]
    ec2.stop_instances(InstanceIds=[stopped])
    ec2.create_launch_template(
        LaunchTemplateName="lt-a", LaunchTemplateData={"ImageId": "ami-00000000000000001"}
    )
    ec2.create_launch_template_version(LaunchTemplateName="lt-a", LaunchTemplateData={"ImageId": by_latest})
    ec2.create_launch_template(LaunchTemplateName="lt-b", LaunchTemplateData={"ImageId": by_default})
    ec2.create_launch_template_version(
        LaunchTemplateName="lt-b", LaunchTemplateData={"ImageId": "ami-00000000000000002"}
    )
    ec2.create_launch_template(
        LaunchTemplateName="lt-c", LaunchTemplateData={"ImageId": "resolve:ssm:/golden/ami"}
    )
    asg.create_launch_configuration(LaunchConfigurationName="lc", ImageId=by_lc, InstanceType="t3.micro")

    out, seen = _list(moto_region)
    assert sorted(seen) == sorted(
        [
            (IMAGE, "ec2:DescribeImages"),
            (IMAGE, "ec2:DescribeLaunchTemplateVersions"),
            (IMAGE, "autoscaling:DescribeLaunchConfigurations"),
        ]
    )
    a = {r.resource_id: r.attributes for r in out}
    assert set(a) == {by_instance, by_latest, by_default, by_lc, unused, stopped_user}
    assert len(a[by_instance]["used_by_instances"]) == 1
    assert a[stopped_user]["used_by_instances"] == [stopped]
    assert len(a[by_latest]["used_by_launch_templates"]) == 1
    assert len(a[by_default]["used_by_launch_templates"]) == 1
    assert a[by_lc]["used_by_launch_configurations"] == ["lc"]
    assert a[unused]["used_by_instances"] == [] and a[unused]["used_by_launch_templates"] == []
    assert all(x["ssm_resolved_templates"] == 1 for x in a.values())
    r = next(r for r in out if r.resource_id == unused)
    assert r.name == "unused" and r.created_at is not None and r.created_at.tzinfo is not None
    assert r.attributes["snapshot_gb"] > 0 and len(r.attributes["snapshot_ids"]) == 1
    assert set(r.config) == set(KINDS.get(IMAGE).ml_config)
    # only the unused image would fire, once it is old enough (ssm templates: LOW)
    later = Context(now=r.created_at + dt.timedelta(days=100), prices=US)
    fired = {x.resource_id for x in out if RULES["ami-unused"].evaluate(x, _params("ami-unused"), later)}
    assert fired == {unused}

    # the snapshot listing: the image's snapshot carries its image id and is not ranked
    snaps, _ = _list(moto_region, "aws.ec2.snapshot", {"aws.ec2.volume": [], IMAGE: out})
    s = next(x for x in snaps if x.resource_id == r.attributes["snapshot_ids"][0])
    assert s.attributes["image_id"] == unused and s.attributes["volume_snapshot_rank"] is None


def test_image_listing_parses_creation_dates():
    from cloudwaste.scanner.kinds.aws._common import utc as _parse_time

    assert _parse_time("2026-01-02T03:04:05.000Z") == dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert _parse_time(dt.datetime(2026, 1, 2)) == dt.datetime(2026, 1, 2, tzinfo=dt.UTC)
    assert _parse_time("yesterday") is None and _parse_time(None) is None


def test_image_listing_asks_for_disabled_images_too():
    """DescribeImages leaves disabled AMIs out unless IncludeDisabled (they keep their snapshots
    and can be re-enabled): without them `ami-unused` never sees one and its snapshots would look
    like a deregistered image's."""
    from botocore.stub import Stubber

    session = boto3.Session(aws_access_key_id="a", aws_secret_access_key="b", region_name=REGION)
    ec2, asg = session.client("ec2"), session.client("autoscaling")

    class Conn:
        def client(self, service, region):
            return {"ec2": ec2, "autoscaling": asg}[service]

    disabled = {
        "ImageId": "ami-0dddddddddddddddd",
        "State": "disabled",
        "CreationDate": "2025-01-02T03:04:05.000Z",
        "BlockDeviceMappings": [
            {"DeviceName": "/dev/sda1", "Ebs": {"SnapshotId": "snap-d", "VolumeSize": 8}}
        ],
    }
    with Stubber(ec2) as s1, Stubber(asg) as s2:
        s1.add_response(
            "describe_images", {"Images": [disabled]}, {"Owners": ["self"], "IncludeDisabled": True}
        )
        s1.add_response("describe_launch_template_versions", {"LaunchTemplateVersions": []}, None)
        s2.add_response("describe_launch_configurations", {"LaunchConfigurations": []}, None)
        out = KINDS.get(IMAGE).list(Conn(), REGION, NOW, {"aws.ec2.instance": []})
    assert [(r.resource_id, r.attributes["state"]) for r in out] == [("ami-0dddddddddddddddd", "disabled")]
    assert _run("ami-unused", out[0]) is not None
