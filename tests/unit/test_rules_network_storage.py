"""S3, VPN, transit gateway, Route 53, EFS, VPC endpoint and Kinesis rules: boundaries, missing data,
prices and evidence; and their kinds' listings against moto (one listing per kind and region,
global kinds in us-east-1 only, only declared operations)."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter
from decimal import Decimal

import boto3
import pytest
from cloudwaste.scanner import providers
from cloudwaste.scanner.domain import Resource
from cloudwaste.scanner.kinds import load_all as load_kinds
from cloudwaste.scanner.pricing import AwsPrices
from cloudwaste.scanner.providers import aws
from cloudwaste.scanner.rules import Context, Series, load_all

RULES = {r.key: r for r in load_all()}
KINDS = load_kinds()
NOW = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)
GB = 1024**3


def _ago(days: float) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


def _res(kind: str, created_days: float | None = 100, rid: str = "r-1", region="eu-west-1", **attributes):
    created = None if created_days is None else _ago(created_days)
    return Resource("aws", kind, rid, region, created_at=created, attributes=attributes)


def _run(key: str, r: Resource, series: dict | None = None, **overrides):
    rule = RULES[key]
    params = {k: v for k, v in rule.resolve_params(overrides).items() if k != "enabled"}
    series = series or {}
    ctx = Context(
        now=NOW,
        prices=AwsPrices(r.region),
        metric=lambda res, name, days: series.get(name),
    )
    if rule.candidate is not None and not rule.candidate(r, params, ctx):
        assert rule.evaluate(r, params, ctx) is None
        return None
    return rule.evaluate(r, params, ctx)


def _zeros(n: int, days: int = 30) -> Series:
    return Series((0.0,) * n, days)


# --- s3-bucket-incomplete-multipart-uploads ------------------------------------------------------

MPU = "s3-bucket-incomplete-multipart-uploads"
BUCKET = "aws.s3.bucket"


def _bucket(**attrs) -> Resource:
    base = {
        "versioning": "Disabled",
        "uploads": [],
        "noncurrent_bytes": None,
        "noncurrent_standard_bytes": None,
        "noncurrent_rule_whole_bucket": False,
        "noncurrent_truncated": False,
        "lifecycle_rule_count": 0,
    }
    return _res(BUCKET, 400, "bucket-1", **(base | attrs))


@pytest.mark.parametrize(("age", "fires"), [(6.9, False), (7.0, True), (400, True)])
def test_mpu_age_boundary(age, fires):
    r = _bucket(uploads=[{"initiated": _ago(age), "size_bytes": 2 * GB}])
    det = _run(MPU, r)
    assert (det is not None) is fires
    if det:
        assert det.monthly_cost == AwsPrices("eu-west-1").s3_standard(2.0)
        assert det.confidence == "HIGH" and det.evidence["stale_uploads"] == 1


def test_mpu_size_threshold_and_unsized_uploads():
    tiny = _bucket(uploads=[{"initiated": _ago(30), "size_bytes": 1024}])
    assert _run(MPU, tiny) is None
    assert _run(MPU, tiny, min_size_mb=0.0) is not None
    # an upload beyond the listing's sizing cap: a lower bound, MEDIUM
    capped = _bucket(
        uploads=[{"initiated": _ago(30), "size_bytes": None}, {"initiated": _ago(40), "size_bytes": 0}]
    )
    det = _run(MPU, capped)
    assert det.confidence == "MEDIUM" and "lower bound" in det.evidence["size"]
    assert det.monthly_cost == Decimal("0.0000")


def test_mpu_only_counts_stale_uploads_in_the_size():
    r = _bucket(
        uploads=[{"initiated": _ago(30), "size_bytes": 1 * GB}, {"initiated": _ago(2), "size_bytes": 50 * GB}]
    )
    det = _run(MPU, r)
    assert det.evidence["stale_uploads"] == 1 and det.evidence["stale_gb"] == 1.0


# --- s3-bucket-noncurrent-versions-without-lifecycle ---------------------------------------------

NONCURRENT = "s3-bucket-noncurrent-versions-without-lifecycle"


@pytest.mark.parametrize(
    ("attrs", "fires"),
    [
        ({"versioning": "Enabled", "noncurrent_bytes": 10 * GB}, True),
        ({"versioning": "Suspended", "noncurrent_bytes": 50 * GB}, True),
        ({"versioning": "Enabled", "noncurrent_bytes": 10 * GB - 1}, False),
        ({"versioning": "Disabled", "noncurrent_bytes": 50 * GB}, False),
        ({"versioning": "Enabled", "noncurrent_bytes": 50 * GB, "noncurrent_rule_whole_bucket": True}, False),
        ({"versioning": "Enabled", "noncurrent_bytes": None}, False),
    ],
)
def test_noncurrent_boundaries(attrs, fires):
    assert (_run(NONCURRENT, _bucket(**attrs)) is not None) is fires


def test_noncurrent_prices_standard_bytes_and_flags_truncation():
    r = _bucket(
        versioning="Enabled",
        noncurrent_bytes=40 * GB,
        noncurrent_standard_bytes=30 * GB,
        noncurrent_truncated=True,
    )
    det = _run(NONCURRENT, r)
    assert det.monthly_cost == AwsPrices("eu-west-1").s3_standard(30.0)
    assert det.confidence == "MEDIUM"
    assert "lower bound" in det.evidence["size"] and det.evidence["price_scope"]
    assert det.evidence["measured_with"] == "ListObjectVersions"


# --- vpn-connection-idle ---------------------------------------------------------------------------

VPN = "vpn-connection-idle"


def _vpn(**attrs) -> Resource:
    return _res("aws.ec2.vpn_connection", None, "vpn-1", **({"state": "available", "tunnels_up": 0} | attrs))


@pytest.mark.parametrize(("days", "fires"), [(26, False), (27, True), (30, True)])
def test_vpn_history_stands_for_age(days, fires):
    det = _run(VPN, _vpn(), {"tunnel_in": _zeros(days), "tunnel_out": _zeros(days)})
    assert (det is not None) is fires
    if det:
        assert det.confidence == ("HIGH" if days == 30 else "MEDIUM")
        assert det.monthly_cost == AwsPrices("eu-west-1").vpn_connection()
        assert det.evidence["tunnel_data_in"]["datapoints"] == days


def test_vpn_traffic_state_and_missing_series():
    busy = Series((0.0,) * 29 + (10.0,), 30)
    assert _run(VPN, _vpn(), {"tunnel_in": _zeros(30), "tunnel_out": busy}) is None
    assert _run(VPN, _vpn(), {"tunnel_in": _zeros(30)}) is None  # a series not fetched
    assert _run(VPN, _vpn(state="pending"), {"tunnel_in": _zeros(30), "tunnel_out": _zeros(30)}) is None
    det = _run(VPN, _vpn(tunnels_up=1), {"tunnel_in": _zeros(30), "tunnel_out": _zeros(30)})
    assert det.confidence == "MEDIUM"


# --- transit-gateway-attachment-idle ------------------------------------------------------------

TGW = "transit-gateway-attachment-idle"


def _att(age: float) -> Resource:
    return _res(
        "aws.ec2.transit_gateway_attachment",
        age,
        "tgw-attach-1",
        state="available",
        transit_gateway_id="tgw-1",
        resource_type="vpc",
    )


@pytest.mark.parametrize(("age", "fires"), [(29.9, False), (30.0, True)])
def test_tgw_age_boundary(age, fires):
    assert (_run(TGW, _att(age), {"bytes_in": _zeros(30), "bytes_out": _zeros(30)}) is not None) is fires


def test_tgw_no_datapoints_is_medium_and_dimensions():
    det = _run(TGW, _att(90), {"bytes_in": _zeros(0), "bytes_out": _zeros(0)})
    assert det.confidence == "MEDIUM" and "missing_data" in det.evidence
    assert det.monthly_cost == AwsPrices("eu-west-1").transit_gateway_attachment()
    metric = RULES[TGW].metrics[0]
    assert metric.dimensions(_att(90)) == (
        ("TransitGatewayAttachment", "tgw-attach-1"),
        ("TransitGateway", "tgw-1"),
    )
    one_byte = Series((0.0,) * 29 + (1.0,), 30)
    assert _run(TGW, _att(90), {"bytes_in": one_byte, "bytes_out": _zeros(30)}) is None


# --- route53-zone-no-queries -----------------------------------------------------------------------

ZONE = "route53-zone-no-queries"


def _zone(**attrs) -> Resource:
    base = {"private": False, "record_set_count": 2, "linked_service": None}
    return _res("aws.route53.hosted_zone", None, "Z1", region="us-east-1", **(base | attrs))


def test_zone_fires_when_empty_and_unqueried():
    det = _run(ZONE, _zone(), {"dns_queries": _zeros(0)})
    assert det.confidence == "MEDIUM" and det.monthly_cost == AwsPrices("us-east-1").route53_hosted_zone()
    assert "unknown" in det.evidence["age"]
    assert _run(ZONE, _zone(), {"dns_queries": _zeros(30)}).confidence == "HIGH"


@pytest.mark.parametrize(
    "attrs",
    [{"record_set_count": 3}, {"private": True}, {"linked_service": "servicediscovery.amazonaws.com"}],
)
def test_zone_near_misses(attrs):
    assert _run(ZONE, _zone(**attrs), {"dns_queries": _zeros(0)}) is None


def test_zone_with_queries_or_without_series_is_silent():
    assert _run(ZONE, _zone(), {"dns_queries": Series((1.0,), 30)}) is None
    assert _run(ZONE, _zone(), {}) is None
    assert _run(ZONE, _zone(record_set_count=5), {"dns_queries": _zeros(0)}, max_record_sets=5) is not None


# --- route53-health-check-orphaned ---------------------------------------------------------------

HC = "route53-health-check-orphaned"


def _check(**attrs) -> Resource:
    base = {
        "type": "HTTPS",
        "disabled": False,
        "zones_read": 3,
        "referenced_by_record": False,
        "child_of_calculated": False,
        "alarmed": False,
        "linked_service": None,
    }
    return _res("aws.route53.health_check", None, "hc-1", region="us-east-1", **(base | attrs))


@pytest.mark.parametrize(
    "attrs",
    [
        {"referenced_by_record": True},
        {"child_of_calculated": True},
        {"alarmed": True},
        {"linked_service": "servicediscovery.amazonaws.com"},
    ],
)
def test_health_check_in_use_is_silent(attrs):
    assert _run(HC, _check(**attrs)) is None


def test_health_check_orphaned_price_and_confidence():
    det = _run(HC, _check())
    assert det.confidence == "MEDIUM"
    assert det.monthly_cost == AwsPrices("us-east-1").monthly("route53", "health_check_month")
    assert _run(HC, _check(disabled=True)).confidence == "HIGH"


# --- efs-filesystem-idle ---------------------------------------------------------------------------

EFS = "efs-filesystem-idle"


def _fs(age=100, **attrs) -> Resource:
    base = {
        "state": "available",
        "size_bytes": 100 * GB,
        "standard_bytes": 100 * GB,
        "ia_bytes": 0,
        "mount_targets": 1,
    }
    return _res("aws.efs.file_system", age, "fs-1", **(base | attrs))


@pytest.mark.parametrize(("age", "fires"), [(29.5, False), (30.0, True)])
def test_efs_age_boundary(age, fires):
    assert (_run(EFS, _fs(age), {"client_connections": _zeros(30)}) is not None) is fires


def test_efs_price_confidence_and_mount_targets():
    det = _run(EFS, _fs(standard_bytes=60 * GB, ia_bytes=40 * GB), {"client_connections": _zeros(0)})
    assert det.monthly_cost == AwsPrices("eu-west-1").monthly("efs", "standard_gb_month", quantity=60)
    assert det.confidence == "MEDIUM" and det.evidence["price_scope"]
    det = _run(EFS, _fs(mount_targets=0), {"client_connections": _zeros(0)})
    assert det.confidence == "HIGH" and det.evidence["no_mount_targets"] is True
    assert _run(EFS, _fs(), {"client_connections": Series((0.0, 2.0), 30)}) is None
    assert _run(EFS, _fs(state="creating"), {"client_connections": _zeros(30)}) is None


def test_efs_replication_destination_is_not_judged_and_one_zone_is_an_upper_bound():
    # a replication destination is read-only: no client by design
    replica = _fs(mount_targets=0, replication_overwrite_protection="REPLICATING")
    assert _run(EFS, replica, {"client_connections": _zeros(0)}) is None
    assert not RULES[EFS].candidate(
        replica, RULES[EFS].resolve_params(), Context(NOW, AwsPrices("eu-west-1"))
    )
    assert _run(EFS, _fs(replication_overwrite_protection="ENABLED"), {"client_connections": _zeros(30)})
    det = _run(EFS, _fs(availability_zone="eu-west-1a"), {"client_connections": _zeros(30)})
    assert det.evidence["one_zone"] == "eu-west-1a"
    assert "upper bound (One Zone storage costs about half)" in det.evidence["price_basis"]
    assert "price_basis" not in _run(EFS, _fs(), {"client_connections": _zeros(30)}).evidence


# --- vpc-interface-endpoint-idle -------------------------------------------------------------------

VPCE = "vpc-interface-endpoint-idle"


def _ep(age=100, **attrs) -> Resource:
    base = {
        "state": "available",
        "endpoint_type": "Interface",
        "vpc_id": "vpc-1",
        "service_name": "com.amazonaws.eu-west-1.ssm",
        "subnet_count": 3,
        "requester_managed": False,
    }
    return _res("aws.ec2.vpc_endpoint", age, "vpce-1", **(base | attrs))


def test_endpoint_priced_per_zone_with_all_dimensions():
    det = _run(VPCE, _ep(), {"bytes_processed": _zeros(30)})
    assert det.confidence == "HIGH"
    assert det.monthly_cost == AwsPrices("eu-west-1").monthly_from_hourly(
        "vpc", "interface_endpoint_hour", quantity=3
    )
    assert dict(RULES[VPCE].metrics[0].dimensions(_ep())) == {
        "VPC Endpoint Id": "vpce-1",
        "VPC Id": "vpc-1",
        "Endpoint Type": "Interface",
        "Service Name": "com.amazonaws.eu-west-1.ssm",
    }


@pytest.mark.parametrize(
    "attrs",
    [
        {"endpoint_type": "Gateway"},
        {"endpoint_type": "GatewayLoadBalancer"},
        {"requester_managed": True},
        {"state": "pendingacceptance"},
    ],
)
def test_endpoint_near_misses(attrs):
    assert _run(VPCE, _ep(**attrs), {"bytes_processed": _zeros(30)}) is None


def test_endpoint_young_or_busy():
    assert _run(VPCE, _ep(age=29), {"bytes_processed": _zeros(29)}) is None
    assert _run(VPCE, _ep(), {"bytes_processed": Series((0.0,) * 29 + (1.0,), 30)}) is None


# --- kinesis-stream-idle ---------------------------------------------------------------------------

KINESIS = "kinesis-stream-idle"


def _stream(age=100, **attrs) -> Resource:
    base = {"status": "ACTIVE", "stream_mode": "PROVISIONED", "open_shard_count": 4}
    return _res("aws.kinesis.stream", age, "orders", **(base | attrs))


def test_stream_priced_by_shards():
    det = _run(KINESIS, _stream(), {"incoming_records": _zeros(0)})
    assert det.confidence == "MEDIUM"
    assert det.monthly_cost == AwsPrices("eu-west-1").monthly_from_hourly("kinesis", "shard_hour", quantity=4)
    det = _run(KINESIS, _stream(open_shard_count=None), {"incoming_records": _zeros(30)})
    assert det.monthly_cost == 0 and "unknown" in det.evidence["price"]


@pytest.mark.parametrize(
    ("stream", "series"),
    [
        (_stream(stream_mode="ON_DEMAND"), _zeros(30)),
        (_stream(age=29.9), _zeros(30)),
        (_stream(status="CREATING"), _zeros(30)),
        (_stream(), Series((0.0,) * 29 + (1.0,), 30)),
    ],
)
def test_stream_near_misses(stream, series):
    assert _run(KINESIS, stream, {"incoming_records": series}) is None


# --- listings against moto --------------------------------------------------------------------------


class _Conn:
    """Clients whose calls go through the provider's recording hook."""

    def __init__(self) -> None:
        self.session = boto3.Session(
            aws_access_key_id="a", aws_secret_access_key="b", region_name="us-east-1"
        )
        self.session.events.register("before-call.*.*", aws._record_call)
        self.clients: dict = {}

    def client(self, service, region):
        key = (service, region)
        if key not in self.clients:
            self.clients[key] = self.session.client(service, region_name=region)
        return self.clients[key]


def _list(conn, kind_key: str, region: str, deps=None, calls: Counter | None = None):
    kind = KINDS.get(kind_key)
    seen: Counter = Counter() if calls is None else calls
    with providers.observe_calls(lambda p, caller, op: seen.update([(caller, op)])):
        out = aws.PROVIDER.list_kind(conn, kind, region, dt.datetime.now(dt.UTC), deps or {})
    for caller, op in seen:
        assert op in KINDS.get(caller).operations, (caller, op)
    return out


@pytest.fixture
def moto_env(monkeypatch):
    from moto import mock_aws

    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "a")
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "b")
    with mock_aws():
        yield _Conn()


def test_s3_listing_keeps_its_region_and_reads_lifecycle(moto_env):
    conn = moto_env
    s3 = boto3.client("s3", region_name="eu-west-1")
    s3.create_bucket(Bucket="bucket-eu", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    boto3.client("s3", region_name="us-east-1").create_bucket(Bucket="bucket-us")
    s3.create_bucket(Bucket="bucket-covered", CreateBucketConfiguration={"LocationConstraint": "eu-west-1"})
    s3.put_bucket_lifecycle_configuration(
        Bucket="bucket-covered",
        LifecycleConfiguration={
            "Rules": [
                {
                    "ID": "abort",
                    "Status": "Enabled",
                    "Filter": {"Prefix": "tmp/"},
                    "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
                }
            ]
        },
    )
    for bucket, key in (("bucket-eu", "a.bin"), ("bucket-covered", "tmp/a.bin"), ("bucket-covered", "b.bin")):
        upload = s3.create_multipart_upload(Bucket=bucket, Key=key)["UploadId"]
        s3.upload_part(Bucket=bucket, Key=key, UploadId=upload, PartNumber=1, Body=b"x" * 2048)
    s3.put_bucket_versioning(Bucket="bucket-eu", VersioningConfiguration={"Status": "Enabled"})
    s3.put_object(Bucket="bucket-eu", Key="o", Body=b"a" * 500)
    s3.put_object(Bucket="bucket-eu", Key="o", Body=b"b" * 300)
    calls: Counter = Counter()
    buckets = {b.resource_id: b for b in _list(conn, BUCKET, "eu-west-1", calls=calls)}
    assert set(buckets) == {"bucket-eu", "bucket-covered"}
    eu = buckets["bucket-eu"].attributes
    assert eu["versioning"] == "Enabled" and eu["noncurrent_bytes"] == 500 and eu["noncurrent_versions"] == 1
    assert [u["size_bytes"] for u in eu["uploads"]] == [2048]  # moto: every upload started in 2010
    covered = buckets["bucket-covered"].attributes
    assert covered["uploads_aborted_by_lifecycle"] == 1 and len(covered["uploads"]) == 1
    assert covered["noncurrent_bytes"] is None and covered["lifecycle_rule_count"] == 1
    assert calls[(BUCKET, "s3:ListAllMyBuckets")] == 1
    assert calls[(BUCKET, "s3:ListMultipartUploadParts")] == 2
    assert set(buckets["bucket-eu"].config) == set(KINDS.get(BUCKET).ml_config)
    us = _list(conn, BUCKET, "us-east-1")
    assert [b.resource_id for b in us] == ["bucket-us"]


def test_s3_listing_uses_bucket_region_and_survives_a_denying_bucket_policy():
    from botocore.stub import Stubber

    conn = _Conn()
    s3 = conn.client("s3", "eu-west-1")
    created = dt.datetime(2025, 1, 1, tzinfo=dt.UTC)
    calls: Counter = Counter()
    with Stubber(s3) as stub:
        stub.add_response(
            "list_buckets",
            {
                "Buckets": [
                    {"Name": "locked", "CreationDate": created, "BucketRegion": "eu-west-1"},
                    {"Name": "elsewhere", "CreationDate": created, "BucketRegion": "us-west-2"},
                ]
            },
            {"BucketRegion": "eu-west-1"},
        )
        stub.add_client_error("get_bucket_versioning", "AccessDenied", http_status_code=403)
        buckets = _list(conn, BUCKET, "eu-west-1", calls=calls)
        stub.assert_no_pending_responses()
    assert [(b.resource_id, b.attributes["access_denied"]) for b in buckets] == [("locked", True)]
    assert _run(MPU, buckets[0]) is None and _run(NONCURRENT, buckets[0]) is None
    assert (BUCKET, "s3:GetBucketLocation") not in calls  # BucketRegion said where each one is


def test_network_listings(moto_env):
    conn = moto_env
    ec2 = boto3.client("ec2", region_name="eu-west-1")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24", AvailabilityZone="eu-west-1a")["Subnet"][
        "SubnetId"
    ]
    cgw = ec2.create_customer_gateway(Type="ipsec.1", PublicIp="198.51.100.1", BgpAsn=65000)[
        "CustomerGateway"
    ]
    vgw = ec2.create_vpn_gateway(Type="ipsec.1")["VpnGateway"]["VpnGatewayId"]
    vpn = ec2.create_vpn_connection(
        Type="ipsec.1", CustomerGatewayId=cgw["CustomerGatewayId"], VpnGatewayId=vgw
    )
    gone = ec2.create_vpn_connection(
        Type="ipsec.1", CustomerGatewayId=cgw["CustomerGatewayId"], VpnGatewayId=vgw
    )
    ec2.delete_vpn_connection(VpnConnectionId=gone["VpnConnection"]["VpnConnectionId"])
    tgw = ec2.create_transit_gateway()["TransitGateway"]["TransitGatewayId"]
    att = ec2.create_transit_gateway_vpc_attachment(TransitGatewayId=tgw, VpcId=vpc, SubnetIds=[subnet])
    ep = ec2.create_vpc_endpoint(
        VpcId=vpc, ServiceName="com.amazonaws.eu-west-1.ssm", VpcEndpointType="Interface", SubnetIds=[subnet]
    )["VpcEndpoint"]["VpcEndpointId"]
    ec2.create_vpc_endpoint(VpcId=vpc, ServiceName="com.amazonaws.eu-west-1.s3", VpcEndpointType="Gateway")
    calls: Counter = Counter()
    vpns = _list(conn, "aws.ec2.vpn_connection", "eu-west-1", calls=calls)
    assert [v.resource_id for v in vpns] == [vpn["VpnConnection"]["VpnConnectionId"]]
    assert vpns[0].created_at is None and vpns[0].attributes["state"] == "available"
    atts = _list(conn, "aws.ec2.transit_gateway_attachment", "eu-west-1", calls=calls)
    assert [a.resource_id for a in atts] == [att["TransitGatewayVpcAttachment"]["TransitGatewayAttachmentId"]]
    assert atts[0].attributes["transit_gateway_id"] == tgw and atts[0].created_at is not None
    eps = {e.resource_id: e for e in _list(conn, "aws.ec2.vpc_endpoint", "eu-west-1", calls=calls)}
    assert eps[ep].attributes | {"service_name": None} == {
        "state": "available",
        "endpoint_type": "Interface",
        "vpc_id": vpc,
        "service_name": None,
        "subnet_count": 1,
        "requester_managed": False,
    }
    assert len(eps) == 2
    assert sum(calls.values()) == 3  # one call per kind


def test_route53_listings_are_global_and_find_references(moto_env):
    conn = moto_env
    r53 = boto3.client("route53", region_name="us-east-1")
    zone = r53.create_hosted_zone(Name="example.com", CallerReference="z")["HostedZone"]["Id"]
    config = {"Type": "HTTP", "FullyQualifiedDomainName": "a.example.com", "Port": 80, "ResourcePath": "/"}
    used = r53.create_health_check(CallerReference="h1", HealthCheckConfig=config)["HealthCheck"]["Id"]
    orphan = r53.create_health_check(CallerReference="h2", HealthCheckConfig=config)["HealthCheck"]["Id"]
    alarmed = r53.create_health_check(CallerReference="h3", HealthCheckConfig=config)["HealthCheck"]["Id"]
    rrs = {
        "Name": "a.example.com",
        "Type": "A",
        "SetIdentifier": "p",
        "Failover": "PRIMARY",
        "TTL": 60,
        "HealthCheckId": used,
        "ResourceRecords": [{"Value": "192.0.2.1"}],
    }
    r53.change_resource_record_sets(
        HostedZoneId=zone, ChangeBatch={"Changes": [{"Action": "CREATE", "ResourceRecordSet": rrs}]}
    )
    boto3.client("cloudwatch", region_name="us-east-1").put_metric_alarm(
        AlarmName="down",
        Namespace="AWS/Route53",
        MetricName="HealthCheckStatus",
        Dimensions=[{"Name": "HealthCheckId", "Value": alarmed}],
        Statistic="Minimum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="LessThanThreshold",
    )
    calls: Counter = Counter()
    assert _list(conn, "aws.route53.hosted_zone", "eu-west-1", calls=calls) == []
    assert _list(conn, "aws.route53.health_check", "eu-west-1", {"aws.route53.hosted_zone": []}, calls) == []
    assert not calls  # no call outside us-east-1
    zones = _list(conn, "aws.route53.hosted_zone", "us-east-1")
    assert [(z.resource_id, z.attributes["record_set_count"]) for z in zones] == [
        (zone.rsplit("/", 1)[-1], 3)
    ]
    checks = {
        c.resource_id: c.attributes
        for c in _list(conn, "aws.route53.health_check", "us-east-1", {"aws.route53.hosted_zone": zones})
    }
    assert checks[used]["referenced_by_record"] and not checks[orphan]["referenced_by_record"]
    assert checks[alarmed]["alarmed"] and not checks[orphan]["alarmed"]
    key = "route53-health-check-orphaned"
    fired = [hid for hid in checks if _run(key, _res("aws.route53.health_check", None, hid, **checks[hid]))]
    assert fired == [orphan]


def test_efs_and_kinesis_listings(moto_env):
    conn = moto_env
    ec2 = boto3.client("ec2", region_name="eu-west-1")
    vpc = ec2.create_vpc(CidrBlock="10.0.0.0/16")["Vpc"]["VpcId"]
    subnet = ec2.create_subnet(VpcId=vpc, CidrBlock="10.0.1.0/24")["Subnet"]["SubnetId"]
    efs = boto3.client("efs", region_name="eu-west-1")
    fs = efs.create_file_system(CreationToken="t")["FileSystemId"]
    efs.create_mount_target(FileSystemId=fs, SubnetId=subnet)
    one_zone = efs.create_file_system(CreationToken="oz", AvailabilityZoneName="eu-west-1a")["FileSystemId"]
    kinesis = boto3.client("kinesis", region_name="eu-west-1")
    for i in range(12):  # more than one ListStreams page
        kinesis.create_stream(StreamName=f"p{i:02d}", ShardCount=2)
    kinesis.create_stream(StreamName="od", StreamModeDetails={"StreamMode": "ON_DEMAND"})
    calls: Counter = Counter()
    systems = _list(conn, "aws.efs.file_system", "eu-west-1", calls=calls)
    assert sorted((f.resource_id, f.attributes["mount_targets"]) for f in systems) == sorted(
        [(fs, 1), (one_zone, 0)]
    )
    zones = {f.resource_id: f.attributes["availability_zone"] for f in systems}
    assert zones == {fs: None, one_zone: "eu-west-1a"}
    streams = {s.resource_id: s for s in _list(conn, "aws.kinesis.stream", "eu-west-1", calls=calls)}
    assert len(streams) == 13
    assert streams["p00"].attributes["open_shard_count"] == 2 and streams["p00"].created_at is not None
    assert streams["od"].attributes["stream_mode"] == "ON_DEMAND"
    assert streams["od"].attributes["open_shard_count"] is None
    assert calls[("aws.kinesis.stream", "kinesis:DescribeStreamSummary")] == 12  # provisioned only
    assert calls[("aws.efs.file_system", "elasticfilesystem:DescribeFileSystems")] == 1


def test_fixtures_of_resources_without_creation_time():
    for key in ("vpn-connection-idle", "route53-zone-no-queries", "route53-health-check-orphaned"):
        fx = RULES[key].fixtures
        assert fx.fires.created_at is None and dataclasses.replace(fx.fires).created_at is None
