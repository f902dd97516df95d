"""`cloudwaste prices refresh` against recorded GetProducts responses served by botocore's Stubber.

The responses in tests/fixtures/aws_pricing/<region>/<query>.json are in the documented GetProducts
shape (PriceList entries are JSON strings); `<query>.2.json` is the page its NextToken leads to.
A query without a fixture file gets an empty page.
"""

from __future__ import annotations

import datetime as dt
import json
import os
from decimal import Decimal
from pathlib import Path

import boto3
import pytest
from botocore.exceptions import NoCredentialsError
from botocore.stub import Stubber
from cloudwaste.core import cli
from cloudwaste.scanner import price_refresh as pr
from cloudwaste.scanner.pricing import AwsPrices, leaf_paths, load_table, validate_table

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures" / "aws_pricing"
REGIONS = ["us-east-1", "eu-west-1"]
NOW = dt.datetime(2025, 3, 20, 8, 30, tzinfo=dt.UTC)
EMPTY = {"FormatVersion": "aws_v1", "PriceList": []}


def _pages(query: pr.Query, region: str | None, overrides: dict) -> list[dict]:
    key = (region or "global", query.key)
    if key in overrides:
        return overrides[key]
    folder = FIXTURES / (region or "global")
    first = folder / f"{query.key}.json"
    if not first.exists():
        return [EMPTY]
    pages, n = [json.loads(first.read_text())], 2
    while pages[-1].get("NextToken"):
        pages.append(json.loads((folder / f"{query.key}.{n}.json").read_text()))
        n += 1
    return pages


def stubbed_client(regions=REGIONS, overrides=None, fail_at: int | None = None):
    """A pricing client answering the refresh's calls in plan order from the fixtures; call number
    `fail_at` (0-based) answers with a service error instead."""
    client = boto3.client(
        "pricing", region_name="us-east-1", aws_access_key_id="k", aws_secret_access_key="s"
    )
    stubber = Stubber(client)
    calls = 0
    wanted = sorted(set(regions) | {"us-east-1"})
    for query, region in pr.plan(wanted):
        token = None
        for page in _pages(query, region, overrides or {}):
            if calls == fail_at:
                stubber.add_client_error(
                    "get_products",
                    service_error_code="ThrottlingException",
                    service_message="Rate exceeded",
                    http_status_code=400,
                    expected_params=query.params(region, token),
                )
                stubber.activate()
                return client, stubber, calls + 1
            stubber.add_response("get_products", page, query.params(region, token))
            token = page.get("NextToken")
            calls += 1
    stubber.activate()
    return client, stubber, calls


@pytest.fixture(scope="module")
def refreshed() -> pr.RefreshResult:
    client, stubber, _ = stubbed_client()
    result = pr.refresh(client, REGIONS, now=NOW)
    stubber.assert_no_pending_responses()
    return result


def test_the_plan_asks_every_regional_query_per_region_then_the_global_ones_once():
    steps = list(pr.plan(["eu-west-1", "us-east-1"]))
    regional = [q for q in pr.QUERIES if q.regional]
    global_ = [q for q in pr.QUERIES if not q.regional]
    assert [r for _, r in steps] == (
        ["eu-west-1"] * len(regional) + ["us-east-1"] * len(regional) + [None] * len(global_)
    )
    assert [q.key for q in global_] == ["route53", "route53-health-checks"]  # Route 53 prices are global
    assert [q for q, _ in steps[-len(global_) :]] == global_
    codes = {q.service_code for q in pr.QUERIES}
    assert {"AmazonEC2", "AmazonRDS", "AmazonElastiCache", "AWSELB", "AmazonVPC", "AmazonDynamoDB"} <= codes
    assert {
        "AmazonES",
        "AWSLambda",
        "AmazonEFS",
        "AmazonKinesis",
        "AmazonCloudWatch",
        "AWSCloudTrail",
    } <= codes
    assert len({q.key for q in pr.QUERIES}) == len(pr.QUERIES)  # a key names one fixture file
    params = pr.QUERIES[0].params("eu-west-1", "tok")
    assert params["ServiceCode"] == "AmazonEC2" and params["NextToken"] == "tok"
    assert params["FormatVersion"] == "aws_v1" and params["MaxResults"] == 100
    assert params["Filters"][0] == {"Type": "TERM_MATCH", "Field": "regionCode", "Value": "eu-west-1"}


def test_refresh_produces_the_expected_table_entries(refreshed):
    t = refreshed.table
    assert validate_table(t) == []
    assert list(t["regions"]) == ["us-east-1", "eu-west-1"]
    us, eu = t["regions"]["us-east-1"], t["regions"]["eu-west-1"]
    assert "derived_from" not in us and "derived_from" not in eu  # both listed in full
    assert us["location"] == "US East (N. Virginia)" and eu["location"] == "EU (Ireland)"
    d = Decimal
    assert us["ec2"]["instance_hour"] == {
        "m5.large": d("0.096"),
        "m5.metal": d("4.608"),
        "t3.micro": d("0.0104"),
    }
    assert eu["ec2"]["instance_hour"] == {
        "m5.large": d("0.107"),
        "m5.metal": d("5.136"),
        "t3.micro": d("0.0114"),
    }
    assert us["ebs"] == {
        "gb_month": {
            "gp2": d("0.1"), "gp3": d("0.08"), "io1": d("0.125"), "io2": d("0.125"),
            "st1": d("0.045"), "sc1": d("0.015"), "standard": d("0.05"),
        },
        "iops_month": {"io1": d("0.065"), "io2": d("0.065"), "gp3": d("0.005")},
        "gp3_throughput_mibps_month": d("0.04"),  # 40.96 per GiBps-month
        "snapshot_gb_month": d("0.05"),
        "snapshot_archive_gb_month": d("0.0125"),
    }  # fmt: skip
    assert eu["ebs"]["gb_month"]["sc1"] == d("0.0168") and eu["ebs"]["gp3_throughput_mibps_month"] == d(
        "0.044"
    )
    assert eu["ebs"]["iops_month"] == {"io1": d("0.072"), "io2": d("0.072"), "gp3": d("0.0055")}
    assert us["vpc"] == {
        "nat_gateway_hour": d("0.045"), "nat_gateway_gb": d("0.045"), "public_ipv4_idle_hour": d("0.005"),
        "vpn_connection_hour": d("0.05"), "transit_gateway_attachment_hour": d("0.05"),
        "interface_endpoint_hour": d("0.01"),
    }  # fmt: skip
    assert eu["vpc"]["nat_gateway_hour"] == d("0.048") and eu["vpc"]["interface_endpoint_hour"] == d("0.011")
    assert us["elb"]["hour"] == {
        "application": d("0.0225"),
        "network": d("0.0225"),
        "gateway": d("0.0125"),
        "classic": d("0.025"),
    }
    assert eu["elb"]["hour"] == {
        "application": d("0.0252"),
        "network": d("0.0252"),
        "gateway": d("0.014"),
        "classic": d("0.028"),
    }
    assert us["rds"]["instance_hour"] == {
        "mysql": {"db.t3.micro": d("0.017")},  # not the Outposts one
        "aurora-mysql": {"db.t4g.medium": d("0.073"), "db.r6g.large": d("0.26")},  # not I/O-Optimized
        "aurora-postgresql": {"db.t3.medium": d("0.082"), "db.r6g.large": d("0.26")},
    }
    assert us["rds"]["snapshot_gb_month"] == d("0.095") and us["rds"]["aurora_snapshot_gb_month"] == d(
        "0.021"
    )
    assert us["dynamodb"] == {  # past the free tiers
        "rcu_hour": d("0.00013"), "wcu_hour": d("0.00065"), "storage_gb_month": d("0.25"),
    }  # fmt: skip
    assert us["redshift"] == {"managed_storage_gb_month": d("0.024")}
    assert us["route53"] == eu["route53"] == {  # global: the first paid tier
        "hosted_zone_month": d("0.5"), "health_check_month": d("0.5"),
    }  # fmt: skip
    assert t["price_date"] == "2025-03-14"  # the newest publicationDate read
    assert t["fetched_at"] == "2025-03-20T08:30:00+00:00"
    assert t["method"] == "aws-price-list-api" and "Price List" in t["source"]


def test_refresh_keeps_only_the_products_it_prices(refreshed):
    us = refreshed.table["regions"]["us-east-1"]
    # the Local Zone m5.large (a higher price), the Capacity Block p5, io2's second IOPS tier, snapshot
    # archive retrieval, LCUs, in-use IPv4 addresses and standard volumes' I/O requests are all left out
    assert us["ec2"]["instance_hour"]["m5.large"] == Decimal("0.096")
    assert "p5.48xlarge" not in us["ec2"]["instance_hour"]
    assert us["ebs"]["iops_month"]["io2"] == Decimal("0.065")
    assert us["ebs"]["snapshot_gb_month"] == Decimal("0.05")
    assert us["ebs"]["snapshot_archive_gb_month"] == Decimal("0.0125")  # storage, not the 0.03 retrieval
    assert not refreshed.conflicts  # the duplicate listings (RMS per node type, ...) agree


# The products each new query's recorded response holds that its pick must leave out: usage types
# (region prefix removed) that share the query's filters and often its unit, or even its price.
DECOYS = {
    "vpc": {"VpcEndpoint-Bytes", "PublicIPv4:InUseAddress"},
    "ebs-snapshot": {"EBS:SnapshotArchiveRetrieval"},
    "rds-instances-aurora-mysql": {"InstanceUsageIOOptimized:db.r6g.large"},
    "rds-instances-aurora-postgresql": {"InstanceUsageIOOptimized:db.r6g.large"},
    "rds-backup": {"RDSCustom:ChargedBackupUsage"},
    "dynamodb-storage": {"IA-TimedStorage-ByteHrs", "TimedPITRStorage-ByteHrs"},
    "opensearch-instances": {"DirectQueryOCU"},
    "opensearch-storage": {"ES:GP3-Storage", "ES:Magnetic-Storage"},
    "lambda": {"Lambda-Provisioned-Concurrency-ARM", "Lambda-Provisioned-GB-Second", "Request"},
    "efs": {"IATimedStorage-ByteHrs", "TimedStorage-Z-ByteHrs"},
    "kinesis": {"Extended-ShardHour", "OnDemand-StreamHour"},
    "cloudwatch-alarms": {"CW:HighResAlarmMonitorUsage"},
    "cloudtrail": {"FreeEventsRecorded", "DataEventsRecorded"},
    "route53-health-checks": {"Health-Check-Non-AWS", "Health-Check-Option-AWS"},
}


def _fixture_products(folder: str, key: str) -> list[pr.Product]:
    page = json.loads((FIXTURES / folder / f"{key}.json").read_text())
    return [pr.parse_product(doc) for doc in page["PriceList"]]


@pytest.mark.parametrize("key", sorted(DECOYS))
def test_each_query_skips_its_decoys_and_prices_the_rest(key):
    query = next(q for q in pr.QUERIES if q.key == key)
    folders = (
        ["global"] if not query.regional else [r for r in REGIONS if (FIXTURES / r / f"{key}.json").exists()]
    )
    seen = set()
    for folder in folders:
        for product in _fixture_products(folder, key):
            picked = [(path, value) for path, value in query.pick(product) if value is not None]
            if product.usage in DECOYS[key]:
                seen.add(product.usage)
                assert picked == [], f"{folder}/{key}: {product.usage} must be skipped, got {picked}"
            else:
                assert picked, f"{folder}/{key}: {product.usage} should be priced"
    assert seen == DECOYS[key]  # every decoy is in a recorded response


NEWER_PATHS = [
    ("opensearch", "instance_hour", "m5.large.search"),
    ("opensearch", "storage_gb_month"),
    ("lambda", "provisioned_concurrency_gb_second"),
    ("efs", "standard_gb_month"),
    ("kinesis", "shard_hour"),
    ("cloudwatch", "alarm_month"),
    ("cloudtrail", "management_events_100k"),
    ("route53", "health_check_month"),
    ("vpc", "interface_endpoint_hour"),
    ("rds", "instance_hour", "aurora-mysql", "db.r6g.large"),
    ("rds", "instance_hour", "aurora-postgresql", "db.r6g.large"),
    ("rds", "snapshot_gb_month"),
    ("rds", "aurora_snapshot_gb_month"),
    ("redshift", "managed_storage_gb_month"),
    ("dynamodb", "storage_gb_month"),
    ("ebs", "snapshot_archive_gb_month"),
]


def _kind(path: tuple) -> tuple:
    """A price path up to its open map (instance types and classes are examples, not kinds)."""
    if path[:2] == ("rds", "instance_hour"):
        return path[:3]  # per engine
    if path[1] == "instance_hour":
        return path[:2]
    return path


def test_the_newer_paths_are_what_the_shipped_table_lists_beyond_the_first_refresh():
    before = {  # what the refresh fetched when it was written
        ("ebs", "gb_month"), ("ebs", "iops_month"), ("ebs", "gp3_throughput_mibps_month"),
        ("ebs", "snapshot_gb_month"), ("ec2", "instance_hour"), ("vpc", "public_ipv4_idle_hour"),
        ("vpc", "nat_gateway_hour"), ("vpc", "nat_gateway_gb"), ("vpc", "vpn_connection_hour"),
        ("vpc", "transit_gateway_attachment_hour"), ("elb", "hour"), ("rds", "instance_hour", "mysql"),
        ("rds", "instance_hour", "postgres"), ("rds", "storage_gb_month"), ("rds", "iops_month"),
        ("elasticache", "node_hour"), ("redshift", "node_hour"), ("dynamodb", "rcu_hour"),
        ("dynamodb", "wcu_hour"), ("logs", "storage_gb_month"), ("secretsmanager", "secret_month"),
        ("kms", "key_month"), ("route53", "hosted_zone_month"), ("eks", "cluster_hour"),
        ("ecr", "storage_gb_month"), ("s3", "standard_gb_month"),
    }  # fmt: skip
    shipped = load_table()["regions"]["us-east-1"]
    newer = {_kind(p) for p in leaf_paths(shipped) if not any(p[: len(b)] == b for b in before)}
    assert newer == {_kind(p) for p in NEWER_PATHS}


def test_refresh_fetches_the_newer_price_paths_in_both_regions(refreshed):
    d = Decimal
    us, eu = refreshed.table["regions"]["us-east-1"], refreshed.table["regions"]["eu-west-1"]
    assert us["opensearch"] == {
        "instance_hour": {"m5.large.search": d("0.142"), "t3.small.search": d("0.036")},
        "storage_gb_month": d("0.135"),  # gp2, not gp3 (0.122) nor magnetic
    }
    assert eu["opensearch"] == {
        "instance_hour": {"m5.large.search": d("0.158"), "t3.small.search": d("0.04")},
        "storage_gb_month": d("0.149"),
    }
    for entry in (us, eu):  # the same list price in both regions
        assert entry["lambda"] == {"provisioned_concurrency_gb_second": d("0.0000041667")}  # x86, not ARM
        assert entry["cloudwatch"] == {"alarm_month": d("0.1")}  # standard, not high resolution
        assert entry["cloudtrail"] == {"management_events_100k": d("2")}  # 0.00002 per event x 100,000
    assert us["efs"] == {"standard_gb_month": d("0.3")} and eu["efs"] == {"standard_gb_month": d("0.33")}
    assert us["kinesis"] == {"shard_hour": d("0.015")} and eu["kinesis"] == {"shard_hour": d("0.017")}
    assert eu["ebs"]["snapshot_archive_gb_month"] == d("0.0125")
    # every price path the table gained after the refresh was written is fetched now
    p = AwsPrices("us-east-1", table=refreshed.table)
    assert [path for path in NEWER_PATHS if p.price(*path) is None or p.derived(*path)] == []
    assert p.monthly("cloudwatch", "alarm_month", quantity=3) == d("0.3000")
    assert p.monthly_from_hourly("vpc", "interface_endpoint_hour", quantity=2) == d("14.6000")
    assert p.rds_instance("db.r6g.large", "aurora-postgresql") == d("189.8000")


def test_cloudtrail_prices_events_per_100k_and_only_per_event():
    per_event = pr.parse_product(_doc("USE2-PaidEventsRecorded", "Events", ("0", "0.0000200000")))
    assert list(pr._cloudtrail(per_event)) == [(("cloudtrail", "management_events_100k"), Decimal("2"))]
    other_unit = pr.parse_product(_doc("PaidEventsRecorded", "GB", ("0", "0.5")))
    assert list(pr._cloudtrail(other_unit)) == [(("cloudtrail", "management_events_100k"), None)]


def test_aurora_instances_keep_the_standard_configuration_only():
    def aurora(usage, **attrs):
        attrs = {"databaseEngine": "Aurora MySQL", "instanceType": "db.r6g.large", **attrs}
        return pr.parse_product(_doc(usage, "Hrs", ("0", "0.26"), family="Database Instance", **attrs))

    path = ("rds", "instance_hour", "aurora-mysql", "db.r6g.large")
    assert list(pr._aurora_instance(aurora("InstanceUsage:db.r6g.large"))) == [(path, Decimal("0.26"))]
    assert list(pr._aurora_instance(aurora("EU-InstanceUsage:db.r6g.large", deploymentOption="Single-AZ")))
    assert not list(pr._aurora_instance(aurora("InstanceUsageIOOptimized:db.r6g.large")))
    assert not list(pr._aurora_instance(aurora("Multi-AZUsage:db.r6g.large", deploymentOption="Multi-AZ")))
    assert not list(pr._aurora_instance(aurora("InstanceUsage:db.r6g.large", databaseEngine="MySQL")))


def test_malformed_products_are_skipped_and_counted(refreshed):
    assert refreshed.malformed == 3
    assert refreshed.malformed_reasons == {
        "not JSON": 1,
        "pricePerUnit.USD is not a number": 1,
        "no product.attributes": 1,
    }
    assert "c5.large" not in refreshed.table["regions"]["us-east-1"]["ec2"]["instance_hour"]
    assert "c5.large" not in refreshed.table["regions"]["eu-west-1"]["ec2"]["instance_hour"]
    report = refreshed.report()
    assert any(line.startswith("skipped 3 malformed products") for line in report), report


def test_pagination_follows_next_token(refreshed):
    _, _, calls = stubbed_client()
    assert refreshed.calls == calls == len(list(pr.plan(REGIONS))) + 1  # ec2-instances in us-east-1: 2 pages
    assert "m5.metal" in refreshed.table["regions"]["us-east-1"]["ec2"]["instance_hour"]  # from page 2


def test_run_writes_a_table_the_scanner_reads(tmp_path):
    client, stubber, _ = stubbed_client()
    out = tmp_path / "aws_prices.json"
    result = pr.run(out, REGIONS, client=client, now=NOW)
    stubber.assert_no_pending_responses()
    assert os.listdir(tmp_path) == ["aws_prices.json"]
    table = load_table(out)
    assert table == json.loads(json.dumps(result.table, default=pr._json_default), parse_float=Decimal)
    us, eu = AwsPrices("us-east-1", table=table), AwsPrices("eu-west-1", table=table)
    assert us.ebs_volume("gp3", 100) == Decimal("8.0000") and eu.ebs_volume("gp3", 100) == Decimal("8.8000")
    assert us.ec2_instance("m5.large") == Decimal("70.0800") and eu.ec2_instance("m5.large") == Decimal(
        "78.1100"
    )
    assert eu.ec2_instance("c5.large") is None  # not in the API's answer: unknown, not invented
    assert us.price_date == "2025-03-14" and us.method == "aws-price-list-api"
    assert AwsPrices("ap-south-1", table=table).ebs_volume("gp3", 100) == Decimal("9.2000")  # unlisted
    assert result.report()[0].startswith(f"{out}: 2 regions, ")


@pytest.mark.parametrize("fail_at", [0, 5, 27, -1])
def test_a_failed_call_writes_nothing(tmp_path, fail_at):
    _, _, total = stubbed_client()
    fail_at = total - 1 if fail_at == -1 else fail_at  # -1: the very last call (route53)
    client, _, _ = stubbed_client(fail_at=fail_at)
    out = tmp_path / "aws_prices.json"
    out.write_text("the previous table\n")
    with pytest.raises(pr.RefreshError, match=r"GetProducts failed for .*ThrottlingException"):
        pr.run(out, REGIONS, client=client, now=NOW)
    assert out.read_text() == "the previous table\n"
    assert os.listdir(tmp_path) == ["aws_prices.json"]  # no temporary file left behind


def test_a_missing_base_region_price_fails_and_writes_nothing(tmp_path):
    client, _, _ = stubbed_client(overrides={("us-east-1", "elb"): [EMPTY]})
    out = tmp_path / "aws_prices.json"
    with pytest.raises(pr.RefreshError, match=r"no us-east-1 price for elb\.hour\.application"):
        pr.run(out, REGIONS, client=client, now=NOW)
    assert not out.exists() and os.listdir(tmp_path) == []


def test_a_region_missing_a_required_price_derives_it_from_us_east_1():
    client, stubber, _ = stubbed_client(overrides={("eu-west-1", "elb"): [EMPTY]})
    result = pr.refresh(client, REGIONS, now=NOW)
    stubber.assert_no_pending_responses()
    eu = result.table["regions"]["eu-west-1"]
    assert "elb" not in eu
    assert eu["derived_from"] == "us-east-1"
    assert Decimal("1.05") < eu["factor"] < Decimal("1.15")  # the median eu-west-1 / us-east-1 ratio
    assert result.derived == {
        "eu-west-1": [f"elb.hour.{t}" for t in ("application", "network", "gateway", "classic")]
    }
    p = AwsPrices("eu-west-1", table=result.table)
    assert p.derived("elb", "hour", "application") is True and p.derived("ebs", "gb_month", "gp3") is False
    assert p.load_balancer("application") == (Decimal("0.0225") * eu["factor"] * 730).quantize(
        Decimal("0.0001")
    )
    assert any("eu-west-1: no elb.hour.application" in line for line in result.report())


def test_a_region_the_api_gives_nothing_for_is_left_out():
    client, stubber, _ = stubbed_client(regions=[*REGIONS, "ap-south-1"])
    result = pr.refresh(client, [*REGIONS, "ap-south-1"], now=NOW)
    stubber.assert_no_pending_responses()
    assert result.dropped == ["ap-south-1"] and "ap-south-1" not in result.table["regions"]
    assert AwsPrices("ap-south-1", table=result.table).listed is False


def test_conflicting_prices_keep_the_first_and_are_reported():
    page = json.loads((FIXTURES / "eu-west-1" / "nat-gateway.json").read_text())
    twice = dict(
        page, PriceList=[*page["PriceList"], page["PriceList"][0].replace("0.0480000000", "0.0490000000")]
    )
    client, _, _ = stubbed_client(overrides={("eu-west-1", "nat-gateway"): [twice]})
    result = pr.refresh(client, REGIONS, now=NOW)
    assert result.table["regions"]["eu-west-1"]["vpc"]["nat_gateway_hour"] == Decimal("0.048")
    assert result.conflicts == ["eu-west-1 vpc.nat_gateway_hour: 0.048 vs 0.049"]


def test_write_table_refuses_an_invalid_table(tmp_path, refreshed):
    broken = dict(refreshed.table, schema_version=1)
    with pytest.raises(pr.RefreshError, match="schema_version"):
        pr.write_table(broken, tmp_path / "out.json")
    assert os.listdir(tmp_path) == []


def test_commercial_regions_are_the_known_aws_partition_regions():
    regions = pr.commercial_regions()
    assert {"us-east-1", "eu-west-1", "ap-southeast-2", "sa-east-1", "il-central-1", "mx-central-1"} <= set(
        regions
    )
    assert not {"us-gov-west-1", "cn-north-1", "us-iso-east-1", "eusc-de-east-1", "eu-isoe-west-1"} & set(
        regions
    )


# --- product documents ------------------------------------------------------------------------------------


def _doc(usage, unit, *tiers, family="X", **attrs):
    dims = {
        f"D{i}": {"unit": unit, "beginRange": begin, "endRange": "Inf", "pricePerUnit": {"USD": usd}}
        for i, (begin, usd) in enumerate(tiers)
    }
    return json.dumps(
        {
            "product": {"productFamily": family, "attributes": {"usagetype": usage, **attrs}},
            "terms": {"OnDemand": {"T": {"priceDimensions": dims}}},
        }
    )


def test_usage_types_lose_their_region_prefix_only():
    assert pr.parse_product(_doc("EUW2-NatGateway-Hours", "Hrs", ("0", "0.05"))).usage == "NatGateway-Hours"
    assert pr.parse_product(_doc("EU-BoxUsage:m5.large", "Hrs")).usage == "BoxUsage:m5.large"
    assert pr.parse_product(_doc("APN1-EBS:SnapshotUsage", "GB-Mo")).usage == "EBS:SnapshotUsage"
    assert pr.parse_product(_doc("IA-ReadCapacityUnit-Hrs", "Hrs")).usage == "IA-ReadCapacityUnit-Hrs"
    assert pr.parse_product(_doc("TS-LoadBalancerUsage", "Hrs")).usage == "TS-LoadBalancerUsage"
    assert pr.parse_product(_doc("USE2-TS-LoadBalancerUsage", "Hrs")).usage == "TS-LoadBalancerUsage"


def test_price_takes_the_first_non_zero_tier_in_the_unit():
    p = pr.parse_product(_doc("x", "Hrs", ("18600", "0.00013"), ("0", "0"), ("50000", "0.0001")))
    assert p.price() == p.price("hrs") == Decimal("0.00013")
    assert p.price("GB-Mo") is None
    assert pr.parse_product(_doc("x", "Hrs", ("0", "0"))).price() is None


def test_gp3_throughput_is_converted_to_mibps():
    doc = _doc("APN1-EBS:VolumeP-Throughput.gp3", "GiBps-mo", ("0", "49.152"), volumeApiName="gp3")
    assert list(pr._ebs_throughput(pr.parse_product(doc))) == [
        (("ebs", "gp3_throughput_mibps_month"), Decimal("0.048"))
    ]


@pytest.mark.parametrize(
    "doc",
    [
        "{not json",
        "[]",
        json.dumps({"terms": {}}),
        json.dumps({"product": {"attributes": {}}, "terms": {"OnDemand": []}}),
        json.dumps({"product": {"attributes": {}}, "terms": {"OnDemand": {"T": {}}}}),
        json.dumps(
            {
                "product": {"attributes": {}},
                "terms": {"OnDemand": {"T": {"priceDimensions": {"D": {"pricePerUnit": {"EUR": "1"}}}}}},
            }
        ),
        _doc("x", "Hrs", ("0", "-1")),
        _doc("x", "Hrs", ("0", "NaN")),
        _doc("x", "Hrs", ("zero", "1")),
    ],
)
def test_unreadable_documents_are_malformed(doc):
    with pytest.raises(pr.MalformedProduct):
        pr.parse_product(doc)


def test_a_product_without_on_demand_terms_is_not_malformed_but_has_no_price():
    p = pr.parse_product(
        json.dumps({"product": {"attributes": {"usagetype": "x"}}, "terms": {"Reserved": {}}})
    )
    assert p.price() is None


def test_types_sort_by_family_then_size():
    names = [
        "t3.2xlarge",
        "t3.micro",
        "m5.metal",
        "m5.12xlarge",
        "m5.large",
        "t3.nano",
        "m5.2xlarge",
        "m5.xlarge",
    ]
    assert sorted(names, key=pr.type_sort_key) == [
        "m5.large", "m5.xlarge", "m5.2xlarge", "m5.12xlarge", "m5.metal",
        "t3.nano", "t3.micro", "t3.2xlarge",
    ]  # fmt: skip


# --- the command ----------------------------------------------------------------------------------------


def test_cli_prices_refresh_writes_the_table(tmp_path, monkeypatch, capsys):
    client, stubber, _ = stubbed_client()
    seen = {}

    def make_client(endpoint_url=None):
        seen["endpoint_url"] = endpoint_url
        return client

    monkeypatch.setattr(pr, "make_client", make_client)
    out = tmp_path / "prices.json"
    argv = ["prices", "refresh", "--output", str(out), "--regions", "eu-west-1,us-east-1"]
    assert cli.main([*argv, "--endpoint-url", "http://127.0.0.1:1"]) == 0
    stubber.assert_no_pending_responses()
    assert seen == {"endpoint_url": "http://127.0.0.1:1"}
    printed = capsys.readouterr().out
    assert f"{out}: 2 regions" in printed and "skipped 3 malformed products" in printed
    assert load_table(out)["regions"]["eu-west-1"]["vpc"]["nat_gateway_hour"] == Decimal("0.048")


def test_cli_prices_refresh_failure_is_one_line_and_writes_nothing(tmp_path, monkeypatch, capsys):
    class NoCredentials:
        def get_products(self, **_):
            raise NoCredentialsError()

    monkeypatch.setattr(pr, "make_client", lambda endpoint_url=None: NoCredentials())
    out = tmp_path / "prices.json"
    assert cli.main(["prices", "refresh", "--output", str(out), "--regions", "eu-west-1"]) == 1
    err = capsys.readouterr().err.strip()
    assert err.startswith("cloudwaste prices: nothing written: GetProducts failed") and "credentials" in err
    assert len(err.splitlines()) == 1
    assert os.listdir(tmp_path) == []


def test_cli_prices_refresh_usage_errors(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["prices", "refresh", "--regions", "eu-west-1"])
    assert exc.value.code == 2
    with pytest.raises(SystemExit) as exc:
        cli.main(["prices", "refresh", "--output", "x.json", "--regions", "Not a region"])
    assert exc.value.code == 2
    assert "not a region name" in capsys.readouterr().err
