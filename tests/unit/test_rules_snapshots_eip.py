"""The snapshot and Elastic IP rules: boundaries just below and above each
threshold, missing attributes, parameter overrides, no dollar counted twice, the price basis in
every finding's evidence, and the listings that feed them (over stubbed clients)."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import boto3
import pytest
from botocore.stub import Stubber
from cloudwaste.scanner import catalog, providers
from cloudwaste.scanner.domain import Detection, FindingRef, Resource
from cloudwaste.scanner.engine import evaluate
from cloudwaste.scanner.kinds import load_all as load_kinds
from cloudwaste.scanner.pricing import AwsPrices
from cloudwaste.scanner.providers import aws
from cloudwaste.scanner.rules import Context, load_all

REGISTRY = load_all()
KINDS = load_kinds()
RULES = {r.key: r for r in REGISTRY}
NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
REGION = "us-east-1"
US = AwsPrices(REGION)

NEW = (
    "snapshot-error-state",
    "snapshots-per-volume-excess",
    "eip-on-stopped-instance",
    "eip-on-detached-eni",
)
# every rule of the ebs, snapshots and eip modules
MODULE_RULES = (
    *NEW,
    "snapshot-orphaned",
    "eip-unassociated",
    "snapshot-of-deregistered-ami",
)


def _ago(days: float) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


def _res(kind: str, created_days: float | None = 100, rid: str = "r-1", tags=None, **attributes) -> Resource:
    created = None if created_days is None else _ago(created_days)
    return Resource("aws", kind, rid, REGION, created_at=created, tags=tags or {}, attributes=attributes)


def _params(key: str, **overrides) -> dict:
    return {k: v for k, v in RULES[key].resolve_params(overrides).items() if k != "enabled"}


def _lookup(related):
    index = {(r.kind, r.resource_id): r for r in related}
    return lambda kind, rid: index.get((kind, rid))


def _run(key: str, resource: Resource, related=(), region=None, **overrides) -> Detection | None:
    prices = AwsPrices(region or resource.region)
    ctx = Context(now=NOW, prices=prices, lookup=_lookup(related))
    return RULES[key].evaluate(resource, _params(key, **overrides), ctx)


def _all_rules() -> dict:
    return {r.key: (r, _params(r.key)) for r in REGISTRY}


def _scan(resources, related=()) -> dict[tuple[str, str], Detection]:
    """Every registered rule over `resources` (as the engine runs them): (resource id, rule) -> detection."""
    ctx = Context(now=NOW, prices=US, lookup=_lookup([*resources, *related]))
    drafts, errors = evaluate(list(resources), _all_rules(), ctx)
    assert errors == {}
    return {(d.resource.resource_id, d.detection.scenario): d.detection for d in drafts}


def _instance(rid="i-1", stopped_days: float | None = None, state=None) -> Resource:
    state = state or ("stopped" if stopped_days is not None else "running")
    since = _ago(stopped_days) if stopped_days is not None else None
    return _res(
        "aws.ec2.instance",
        400,
        rid=rid,
        state=state,
        stopped_since=since,
        instance_type="m5.large",
        attached_volumes=[],
    )


RUNNING = _instance("i-1")


# --- the registry: the new rules are complete, and every rule here says its price basis ---------


@pytest.mark.parametrize("key", NEW)
def test_new_rules_are_registered_with_docs_params_and_fixtures(key):
    rule = RULES[key]
    assert rule.doc and rule.confidence_doc and rule.title and rule.fixtures is not None
    assert set(catalog.rule_permissions(rule, KINDS)) <= set(rule.permissions)
    for spec in rule.params.values():
        assert spec.doc and isinstance(spec.default, spec.type) and spec.minimum is not None


def test_default_parameters_are_the_documented_ones():
    assert RULES["snapshots-per-volume-excess"].resolve_params()["max_per_volume"] == 30
    assert RULES["eip-on-stopped-instance"].resolve_params()["min_stopped_days"] == 7.0
    assert RULES["snapshot-error-state"].resolve_params()["min_age_days"] == 1.0
    assert set(RULES["eip-on-detached-eni"].resolve_params()) == {"enabled"}
    for key in NEW:  # each says where its default comes from (or that it has none)
        assert "Default" in RULES[key].doc or "No parameter" in RULES[key].doc


def test_needs_and_the_permissions_they_bring():
    assert RULES["eip-on-stopped-instance"].needs == ("aws.ec2.instance",)
    assert "ec2:DescribeNetworkInterfaces" in KINDS.get("aws.ec2.elastic_ip").operations
    assert "ec2:DescribeNetworkInterfaces" in catalog.iam_policy("aws")["Statement"][0]["Action"]


@pytest.mark.parametrize("key", MODULE_RULES)
def test_every_finding_says_its_price_basis(key):
    fx = RULES[key].fixtures
    prices = AwsPrices(fx.fires.region)
    det = RULES[key].evaluate(fx.fires, _params(key), fx.context(prices))
    assert det is not None
    assert det.evidence["price_date"] == prices.price_date
    assert det.evidence["price_region"] == fx.fires.region == "eu-west-1"
    assert det.evidence["price_method"] == prices.method


# --- snapshot-error-state ----------------------------------------------------------------------


def _snap(age: float | None = 10, rid="snap-1", tags=None, **attributes) -> Resource:
    attrs = {"state": "error", "size_gb": 100, "volume_id": "vol-a", "source_volume_exists": True}
    attrs.update(attributes)
    return _res("aws.ec2.snapshot", age, rid=rid, tags=tags, **attrs)


@pytest.mark.parametrize(
    ("age", "fires"), [(0.0, False), (0.99, False), (1.0, True), (400, True), (None, True)]
)
def test_error_snapshot_age_boundary(age, fires):
    det = _run("snapshot-error-state", _snap(age))
    assert (det is not None) == fires
    if fires:
        assert det.confidence == "HIGH"
        assert det.monthly_cost == US.ebs_snapshot(100) == Decimal("5.0000")
        assert det.evidence["cost_basis"] == "upper bound"


def test_error_snapshot_min_age_override():
    assert _run("snapshot-error-state", _snap(2), min_age_days=3.0) is None
    assert _run("snapshot-error-state", _snap(0.1), min_age_days=0) is not None


@pytest.mark.parametrize("state", ["completed", "pending", "recoverable", "recovering", None])
def test_snapshot_not_in_error_does_not_fire(state):
    assert _run("snapshot-error-state", _snap(state=state)) is None


def test_error_snapshot_priced_by_the_gb_written_when_aws_says():
    gib = 1024**3
    det = _run("snapshot-error-state", _snap(full_size_bytes=10 * gib + 1))  # 11 GiB, rounded up
    assert det.monthly_cost == US.ebs_snapshot(11) and det.evidence["priced_gb"] == 11
    det = _run("snapshot-error-state", _snap(full_size_bytes=500 * gib))  # never above the volume
    assert det.monthly_cost == US.ebs_snapshot(100)


@pytest.mark.parametrize("size", [None, 0])
def test_error_snapshot_of_unknown_size_fires_unpriced(size):
    det = _run("snapshot-error-state", _snap(size_gb=size))
    assert det.monthly_cost == Decimal(0) and det.evidence["priced_gb"] is None
    assert det.evidence["cost_basis"].startswith("size unknown")


def test_an_orphaned_error_snapshot_is_only_an_error():
    r = _snap(400, source_volume_exists=False)
    assert set(_scan([r])) == {("snap-1", "snapshot-error-state")}
    assert _run("snapshot-orphaned", r) is None
    assert _run("snapshot-orphaned", _snap(400, state="completed", source_volume_exists=False)) is not None


# --- snapshots-per-volume-excess ---------------------------------------------------------------


def _kept(rank: int, count: int = 40, age: float | None = None, **extra) -> Resource:
    attrs = {
        "state": "completed",
        "source_volume_exists": True,
        "volume_snapshot_rank": rank,
        "volume_snapshot_count": count,
    }
    attrs.update(extra)
    return _snap(rank if age is None else age, rid=f"snap-{rank}", **attrs)


@pytest.mark.parametrize(
    ("rank", "count", "fires"),
    [(30, 30, False), (30, 31, False), (31, 31, True), (1, 31, False), (40, 40, True), (29, 29, False)],
)
def test_excess_snapshot_boundaries(rank, count, fires):
    det = _run("snapshots-per-volume-excess", _kept(rank, count))
    assert (det is not None) == fires
    if fires:
        assert det.monthly_cost == US.ebs_snapshot(100)
        assert det.evidence["volume_snapshot_rank"] == rank and det.evidence["max_per_volume"] == 30
        assert det.evidence["cost_basis"].startswith("upper bound")


def test_excess_max_per_volume_override():
    assert _run("snapshots-per-volume-excess", _kept(11, 20), max_per_volume=10) is not None
    assert _run("snapshots-per-volume-excess", _kept(10, 20), max_per_volume=10) is None
    assert _run("snapshots-per-volume-excess", _kept(40, 40), max_per_volume=40) is None


@pytest.mark.parametrize(
    "change",
    [
        {"source_volume_exists": False},  # snapshot-orphaned's
        {"state": "error"},
        {"state": "pending"},
        {"volume_snapshot_rank": None},
        {"volume_snapshot_count": None},
    ],
)
def test_excess_needs_a_completed_ranked_snapshot_of_a_live_volume(change):
    assert _run("snapshots-per-volume-excess", _kept(35, **change)) is None


def test_excess_missing_rank_attributes_do_not_fire():
    r = _kept(35)
    del r.attributes["volume_snapshot_rank"]
    assert _run("snapshots-per-volume-excess", r) is None


@pytest.mark.parametrize(
    ("age", "tags", "confidence"),
    [
        (364.9, {}, "MEDIUM"),
        (365, {}, "HIGH"),
        (None, {}, "MEDIUM"),
        (400, {"aws:dlm:lifecycle-policy-id": "policy-1"}, "LOW"),
        (400, {"aws:backup:source-resource": "vol-a"}, "LOW"),
    ],
)
def test_excess_confidence(age, tags, confidence):
    r = _kept(35)
    r = Resource(
        r.provider,
        r.kind,
        r.resource_id,
        r.region,
        created_at=None if age is None else _ago(age),
        tags=tags,
        attributes=r.attributes,
    )
    det = _run("snapshots-per-volume-excess", r)
    assert det.confidence == confidence
    assert det.evidence["managed_by"] == (next(iter(tags)) if tags else None)


def test_excess_priced_by_the_gb_written_when_aws_says():
    det = _run("snapshots-per-volume-excess", _kept(35, full_size_bytes=3 * 1024**3))
    assert det.monthly_cost == US.ebs_snapshot(3)


# --- eip-on-stopped-instance -------------------------------------------------------------------


def _eip(rid="eipalloc-1", **attributes) -> Resource:
    attrs = {
        "association_id": None,
        "instance_id": None,
        "network_interface_id": None,
        "domain": "vpc",
        "service_managed": None,
        "network_interface_status": None,
        "network_interface_type": None,
        "network_interface_requester_managed": None,
        "network_interface_attached_instance_id": None,
    }
    attrs.update(attributes)
    return _res("aws.ec2.elastic_ip", None, rid=rid, **attrs)


def _on(instance_id="i-1") -> Resource:
    return _eip(association_id="eipassoc-1", instance_id=instance_id, network_interface_id="eni-1")


@pytest.mark.parametrize(
    ("days", "confidence", "parent"),
    [
        (6.9, None, False),
        (7.0, "MEDIUM", False),
        (29.9, "MEDIUM", False),
        (30.0, "HIGH", True),
        (400, "HIGH", True),
    ],
)
def test_eip_on_stopped_instance_boundaries(days, confidence, parent):
    det = _run("eip-on-stopped-instance", _on(), related=[_instance("i-1", stopped_days=days)])
    if confidence is None:
        assert det is None
        return
    assert det.confidence == confidence
    assert det.monthly_cost == US.idle_elastic_ip() == Decimal("3.6500")
    expected = FindingRef("aws.ec2.instance", "i-1", "ec2-instance-stopped") if parent else None
    assert det.parent == expected
    assert det.evidence["instance_stopped_days"] == round(days, 1)


def test_eip_on_stopped_instance_min_stopped_days_override():
    host = [_instance("i-1", stopped_days=5)]
    assert _run("eip-on-stopped-instance", _on(), related=host, min_stopped_days=3.0) is not None
    assert _run("eip-on-stopped-instance", _on(), related=host, min_stopped_days=6.0) is None


@pytest.mark.parametrize("state", ["running", "stopping", "pending", "shutting-down"])
def test_eip_on_instance_not_stopped_does_not_fire(state):
    host = _instance("i-1", state=state)
    assert _run("eip-on-stopped-instance", _on(), related=[host]) is None


def test_eip_on_stopped_instance_needs_the_instance_and_its_stop_time():
    assert _run("eip-on-stopped-instance", _on(), related=[]) is None  # not listed
    no_time = _instance("i-1", state="stopped")
    assert _run("eip-on-stopped-instance", _on(), related=[no_time]) is None
    assert _run("eip-on-stopped-instance", _on("i-2"), related=[_instance("i-1", 400)]) is None
    assert _run("eip-on-stopped-instance", _eip(), related=[_instance("i-1", 400)]) is None


def test_eip_of_a_long_stopped_machine_is_a_part_of_its_finding():
    host = _instance("i-1", stopped_days=45)
    found = _scan([host, _on()])
    assert set(found) == {("i-1", "ec2-instance-stopped"), ("eipalloc-1", "eip-on-stopped-instance")}
    assert found[("eipalloc-1", "eip-on-stopped-instance")].parent.resource_id == "i-1"


# --- eip-on-detached-eni, and eip-unassociated stays exact ---------------------------------------


def _on_eni(status="available", **extra) -> Resource:
    attrs = {
        "association_id": "eipassoc-2",
        "network_interface_id": "eni-2",
        "network_interface_status": status,
        "network_interface_type": "interface",
        "network_interface_requester_managed": False,
    }
    attrs.update(extra)
    return _eip(rid="eipalloc-2", **attrs)


def test_eip_on_detached_eni_fires():
    det = _run("eip-on-detached-eni", _on_eni())
    assert det.confidence == "MEDIUM" and det.monthly_cost == Decimal("3.6500")
    assert det.evidence["network_interface_id"] == "eni-2"


@pytest.mark.parametrize("status", ["in-use", "attaching", "detaching", "associated", None])
def test_eip_on_eni_in_use_or_of_unknown_status_does_not_fire(status):
    assert _run("eip-on-detached-eni", _on_eni(status)) is None


@pytest.mark.parametrize(
    "change",
    [
        {"network_interface_requester_managed": True},  # a NAT gateway's, a load balancer's...
        {"service_managed": "alb"},
        {"instance_id": "i-1"},
        {"network_interface_id": None},
        {"network_interface_attached_instance_id": "i-9"},
    ],
)
def test_eip_on_detached_eni_near_misses(change):
    assert _run("eip-on-detached-eni", _on_eni(**change)) is None


def test_eip_on_detached_eni_with_missing_attributes_does_not_fire():
    r = Resource(
        "aws", "aws.ec2.elastic_ip", "eipalloc-3", REGION, attributes={"network_interface_id": "eni-3"}
    )
    assert _run("eip-on-detached-eni", r) is None


@pytest.mark.parametrize(
    ("address", "expected"),
    [
        (_eip(), {"eip-unassociated"}),
        (_on_eni("available"), {"eip-on-detached-eni"}),
        (_on_eni("in-use"), set()),
        # an address on an interface is associated, even without an association id
        (_on_eni("in-use", association_id=None), set()),
        (_on_eni("available", association_id=None), {"eip-on-detached-eni"}),
        (_on(), set()),  # on a running instance
    ],
)
def test_each_address_is_at_most_one_finding(address, expected):
    found = _scan([address], related=[RUNNING])
    assert {rule for _, rule in found} == expected


# --- the listings feeding these rules, over stubbed clients --------------------------------------


def _stubbed():
    session = boto3.Session(aws_access_key_id="a", aws_secret_access_key="b", region_name="eu-west-1")
    session.events.register("before-call.*.*", aws._record_call)
    ec2 = session.client("ec2", region_name="eu-west-1")

    class Conn:
        def client(self, service, region):
            assert (service, region) == ("ec2", "eu-west-1")
            return ec2

    return ec2, Conn()


def _list(kind_key, conn, deps=None):
    seen = []
    with providers.observe_calls(lambda p, caller, op: seen.append((caller, op))):
        out = aws.PROVIDER.list_kind(conn, KINDS.get(kind_key), "eu-west-1", NOW, deps or {})
    for caller, op in seen:
        assert op in KINDS.get(caller).operations, (caller, op)
    return out, seen


def _eni(eni_id, status, requester_managed=False, kind="interface", attachment=None):
    out = {
        "NetworkInterfaceId": eni_id,
        "Status": status,
        "InterfaceType": kind,
        "RequesterManaged": requester_managed,
    }
    if attachment:
        out["Attachment"] = attachment
    return out


def test_elastic_ip_listing_reads_the_status_of_interfaces_without_instance():
    ec2, conn = _stubbed()
    addresses = [
        {"AllocationId": "eipalloc-free", "PublicIp": "1.1.1.1", "Domain": "vpc"},
        {
            "AllocationId": "eipalloc-inst",
            "PublicIp": "1.1.1.2",
            "AssociationId": "eipassoc-1",
            "InstanceId": "i-1",
            "NetworkInterfaceId": "eni-inst",
        },
        {
            "AllocationId": "eipalloc-det",
            "PublicIp": "1.1.1.3",
            "AssociationId": "a2",
            "NetworkInterfaceId": "eni-b",
        },
        {
            "AllocationId": "eipalloc-nat",
            "PublicIp": "1.1.1.4",
            "AssociationId": "a3",
            "NetworkInterfaceId": "eni-a",
        },
        # moto's way of saying "no instance"; and an interface deleted since DescribeAddresses
        {
            "AllocationId": "eipalloc-gone",
            "PublicIp": "1.1.1.5",
            "AssociationId": "a4",
            "NetworkInterfaceId": "eni-c",
            "InstanceId": "",
        },
    ]
    with Stubber(ec2) as stub:
        stub.add_response("describe_addresses", {"Addresses": addresses})
        stub.add_response(
            "describe_network_interfaces",
            {
                "NetworkInterfaces": [
                    _eni("eni-a", "in-use", True, "nat_gateway", {"InstanceOwnerId": "amazon-aws"}),
                    _eni("eni-b", "available"),
                ]
            },
            {"Filters": [{"Name": "network-interface-id", "Values": ["eni-a", "eni-b", "eni-c"]}]},
        )
        out, seen = _list("aws.ec2.elastic_ip", conn)
        stub.assert_no_pending_responses()
    assert seen == [
        ("aws.ec2.elastic_ip", "ec2:DescribeAddresses"),
        ("aws.ec2.elastic_ip", "ec2:DescribeNetworkInterfaces"),
    ]
    by_id = {r.resource_id: r.attributes for r in out}
    assert by_id["eipalloc-det"]["network_interface_status"] == "available"
    assert by_id["eipalloc-nat"]["network_interface_status"] == "in-use"
    assert by_id["eipalloc-nat"]["network_interface_requester_managed"] is True
    assert by_id["eipalloc-gone"]["network_interface_status"] is None
    assert by_id["eipalloc-gone"]["instance_id"] is None
    assert by_id["eipalloc-inst"]["network_interface_status"] is None  # not looked up
    assert by_id["eipalloc-free"]["network_interface_id"] is None
    prices = AwsPrices("eu-west-1")
    ctx = Context(now=NOW, prices=prices)
    drafts, _ = evaluate(out, _all_rules(), ctx)
    assert {(d.resource.resource_id, d.detection.scenario) for d in drafts} == {
        ("eipalloc-free", "eip-unassociated"),
        ("eipalloc-det", "eip-on-detached-eni"),
    }


def test_elastic_ip_listing_without_interface_only_addresses_makes_one_call():
    ec2, conn = _stubbed()
    with Stubber(ec2) as stub:
        stub.add_response(
            "describe_addresses", {"Addresses": [{"AllocationId": "eipalloc-1", "PublicIp": "1.1.1.1"}]}
        )
        _, seen = _list("aws.ec2.elastic_ip", conn)
    assert seen == [("aws.ec2.elastic_ip", "ec2:DescribeAddresses")]


def test_elastic_ip_listing_batches_interface_ids():
    ec2, conn = _stubbed()
    ids = [f"eni-{n:03d}" for n in range(150)]
    addresses = [
        {"AllocationId": f"eipalloc-{n}", "PublicIp": f"1.1.{n // 250}.{n % 250}", "NetworkInterfaceId": eni}
        for n, eni in enumerate(ids)
    ]
    with Stubber(ec2) as stub:
        stub.add_response("describe_addresses", {"Addresses": addresses})
        for batch in (ids[:100], ids[100:]):
            stub.add_response(
                "describe_network_interfaces",
                {"NetworkInterfaces": [_eni(e, "available") for e in batch]},
                {"Filters": [{"Name": "network-interface-id", "Values": batch}]},
            )
        out, seen = _list("aws.ec2.elastic_ip", conn)
        stub.assert_no_pending_responses()
    assert [op for _, op in seen].count("ec2:DescribeNetworkInterfaces") == 2
    assert all(r.attributes["network_interface_status"] == "available" for r in out)


def test_volume_listing_gives_throughput_and_multi_attach():
    ec2, conn = _stubbed()
    vols = [
        {
            "VolumeId": "vol-1",
            "Size": 100,
            "VolumeType": "gp3",
            "Iops": 3000,
            "Throughput": 250,
            "State": "available",
        },
        {
            "VolumeId": "vol-2",
            "Size": 100,
            "VolumeType": "io2",
            "Iops": 5000,
            "MultiAttachEnabled": True,
            "State": "in-use",
        },
    ]
    with Stubber(ec2) as stub:
        stub.add_response("describe_volumes", {"Volumes": vols})
        out, _ = _list("aws.ec2.volume", conn)
    a = {r.resource_id: r.attributes for r in out}
    assert (a["vol-1"]["throughput"], a["vol-1"]["multi_attach"]) == (250, False)
    assert (a["vol-2"]["throughput"], a["vol-2"]["multi_attach"]) == (None, True)


def test_snapshot_listing_ranks_the_completed_snapshots_of_each_volume():
    ec2, conn = _stubbed()
    day = dt.timedelta(days=1)

    def snap(sid, vol, days, state="completed", **extra):
        return {
            "SnapshotId": sid,
            "VolumeId": vol,
            "VolumeSize": 8,
            "State": state,
            "StartTime": NOW - days * day,
            **extra,
        }

    snapshots = [
        snap("snap-a3", "vol-a", 3),
        snap("snap-a1", "vol-a", 1),
        snap("snap-a2x", "vol-a", 2),  # same start time as snap-a2y: the id breaks the tie
        snap("snap-a2y", "vol-a", 2),
        snap("snap-aerr", "vol-a", 0.5, state="error"),  # not ranked, not counted
        snap("snap-b1", "vol-b", 9, FullSnapshotSizeInBytes=5 * 1024**3),
    ]
    volumes = [Resource("aws", "aws.ec2.volume", "vol-a", "eu-west-1")]
    with Stubber(ec2) as stub:
        stub.add_response("describe_snapshots", {"Snapshots": snapshots}, {"OwnerIds": ["self"]})
        out, seen = _list("aws.ec2.snapshot", conn, {"aws.ec2.volume": volumes, "aws.ec2.image": []})
    assert seen == [("aws.ec2.snapshot", "ec2:DescribeSnapshots")]
    a = {r.resource_id: r.attributes for r in out}
    ranks = {sid: (a[sid]["volume_snapshot_rank"], a[sid]["volume_snapshot_count"]) for sid in a}
    assert ranks == {
        "snap-a1": (1, 4),
        "snap-a2y": (2, 4),
        "snap-a2x": (3, 4),
        "snap-a3": (4, 4),
        "snap-aerr": (None, None),
        "snap-b1": (1, 1),
    }
    assert a["snap-b1"]["full_size_bytes"] == 5 * 1024**3 and a["snap-b1"]["source_volume_exists"] is False
    assert a["snap-a1"]["full_size_bytes"] is None and a["snap-a1"]["storage_tier"] == "standard"
    # with max_per_volume 2 the two oldest completed snapshots of the live volume are reported
    ctx = Context(now=NOW, prices=AwsPrices("eu-west-1"))
    rule = RULES["snapshots-per-volume-excess"]
    fired = {r.resource_id for r in out if rule.evaluate(r, _params(rule.key, max_per_volume=2), ctx)}
    assert fired == {"snap-a2x", "snap-a3"}


# --- snapshots AWS made for an image: never orphaned, never ranked -----------------------------------


def test_an_image_snapshot_of_a_deleted_volume_is_not_orphaned():
    r = _snap(400, state="completed", source_volume_exists=False, image_id="ami-0123456789abcdef0")
    assert _run("snapshot-orphaned", r) is None
    # its image is gone (not listed): it is the deregistered image's leftover, and only that
    assert set(_scan([r])) == {("snap-1", "snapshot-of-deregistered-ami")}
    assert _run("snapshot-orphaned", _snap(400, state="completed", source_volume_exists=False)) is not None


def test_snapshot_listing_reads_the_image_and_does_not_rank_image_snapshots():
    ec2, conn = _stubbed()
    day = dt.timedelta(days=1)

    def snap(sid, days, description=""):
        return {
            "SnapshotId": sid,
            "VolumeId": "vol-a",
            "VolumeSize": 8,
            "State": "completed",
            "StartTime": NOW - days * day,
            "Description": description,
        }

    snapshots = [
        snap("snap-1", 1),
        snap(
            "snap-ami", 2, "Created by CreateImage(i-0123456789abcdef0) for ami-0abcdef1234567890 from vol-a"
        ),
        snap(
            "snap-copy",
            3,
            "Copied for DestinationAmi ami-0fedcba9876543210 from SourceAmi ami-0abcdef1234567890",
        ),
        snap("snap-2", 4, "before ami-0abcdef1234567890 upgrade"),  # a user's text: a plain snapshot
    ]
    volumes = [Resource("aws", "aws.ec2.volume", "vol-a", "eu-west-1")]
    with Stubber(ec2) as stub:
        stub.add_response("describe_snapshots", {"Snapshots": snapshots}, {"OwnerIds": ["self"]})
        out, _ = _list("aws.ec2.snapshot", conn, {"aws.ec2.volume": volumes, "aws.ec2.image": []})
    a = {r.resource_id: r.attributes for r in out}
    assert {sid: a[sid]["image_id"] for sid in a} == {
        "snap-1": None,
        "snap-ami": "ami-0abcdef1234567890",
        "snap-copy": "ami-0fedcba9876543210",
        "snap-2": None,
    }
    ranks = {sid: (a[sid]["volume_snapshot_rank"], a[sid]["volume_snapshot_count"]) for sid in a}
    assert ranks == {"snap-1": (1, 2), "snap-2": (2, 2), "snap-ami": (None, None), "snap-copy": (None, None)}
    assert "image_id" not in KINDS.get("aws.ec2.snapshot").ml_config


def test_a_snapshot_a_registered_image_uses_is_the_images_whatever_its_description():
    """RegisterImage from a user snapshot, VM Import, AWS Backup: no CreateImage description, yet the
    image's block device mapping names the snapshot (AWS refuses to delete it: InvalidSnapshot.InUse)."""
    ec2, conn = _stubbed()
    old = NOW - dt.timedelta(days=400)

    def snap(sid, description="", **extra):
        return {
            "SnapshotId": sid,
            "VolumeId": "vol-gone",
            "VolumeSize": 8,
            "State": "completed",
            "StartTime": old,
            "Description": description,
            **extra,
        }

    snapshots = [
        snap("snap-registered", "golden root"),  # RegisterImage from this snapshot
        snap("snap-import", "Created by AWS-VMImport service for import-ami-0123456789abcdef0"),
        snap("snap-plain", "nightly"),
    ]
    image = Resource(
        "aws",
        "aws.ec2.image",
        "ami-0aaaaaaaaaaaaaaaa",
        "eu-west-1",
        attributes={"state": "available", "snapshot_ids": ["snap-registered", "snap-import"]},
    )
    with Stubber(ec2) as stub:
        stub.add_response("describe_snapshots", {"Snapshots": snapshots}, {"OwnerIds": ["self"]})
        out, _ = _list("aws.ec2.snapshot", conn, {"aws.ec2.volume": [], "aws.ec2.image": [image]})
    a = {r.resource_id: r.attributes for r in out}
    assert {sid: (a[sid]["image_id"], a[sid]["image_registered"]) for sid in a} == {
        "snap-registered": ("ami-0aaaaaaaaaaaaaaaa", True),
        "snap-import": ("ami-0aaaaaaaaaaaaaaaa", True),
        "snap-plain": (None, False),
    }
    # only the plain one is orphaned; the image's are neither orphaned nor a deregistered AMI's
    assert {k for k in _scan(out, related=[image]) if k[0].startswith("snap-")} == {
        ("snap-plain", "snapshot-orphaned")
    }


def test_snapshot_listing_reads_aws_backup_description():
    ec2, conn = _stubbed()
    backup = {
        "SnapshotId": "snap-bk",
        "VolumeId": "vol-gone",
        "VolumeSize": 8,
        "State": "completed",
        "StartTime": NOW - dt.timedelta(days=400),
        "Description": "This snapshot is created by the AWS Backup service.",
    }
    with Stubber(ec2) as stub:
        stub.add_response("describe_snapshots", {"Snapshots": [backup]}, {"OwnerIds": ["self"]})
        out, _ = _list("aws.ec2.snapshot", conn, {"aws.ec2.volume": [], "aws.ec2.image": []})
    assert out[0].attributes["aws_backup"] is True
    det = _run("snapshot-orphaned", out[0])
    assert det.confidence == "LOW" and det.evidence["managed_by"] == "aws-backup"


@pytest.mark.parametrize(
    ("tags", "attrs", "confidence", "managed"),
    [
        ({}, {}, "HIGH", None),
        ({"aws:dlm:lifecycle-policy-id": "policy-1"}, {}, "LOW", "aws:dlm:lifecycle-policy-id"),
        ({"aws:backup:source-resource": "arn:x"}, {}, "LOW", "aws:backup:source-resource"),
        ({}, {"aws_backup": True}, "LOW", "aws-backup"),
    ],
)
def test_orphaned_snapshot_of_a_backup_policy_is_low(tags, attrs, confidence, managed):
    r = _snap(400, tags=tags, state="completed", source_volume_exists=False, size_gb=100, **attrs)
    det = _run("snapshot-orphaned", r)
    assert det.confidence == confidence and det.evidence["managed_by"] == managed


@pytest.mark.parametrize(
    ("key", "attrs"),
    [
        ("snapshot-orphaned", {"state": "completed", "source_volume_exists": False}),
        ("snapshot-error-state", {}),
        (
            "snapshots-per-volume-excess",
            {"state": "completed", "volume_snapshot_rank": 31, "volume_snapshot_count": 31},
        ),
        (
            "snapshot-of-deregistered-ami",
            {"state": "completed", "source_volume_exists": False, "image_id": "ami-0123456789abcdef0"},
        ),
    ],
)
def test_archived_snapshots_are_priced_at_the_archive_rate(key, attrs):
    standard = _run(key, _snap(400, **attrs))
    archived = _run(key, _snap(400, storage_tier="archive", **attrs))
    assert standard.monthly_cost == US.ebs_snapshot(100) == Decimal("5.0000")
    assert archived.monthly_cost == US.ebs_snapshot(100, "archive") == Decimal("1.2500")
