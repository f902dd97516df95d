"""Region-aware AWS prices (schema-2 table), the table's validation, and the severity derived from prices."""

from __future__ import annotations

import copy
import datetime as dt
import json
from decimal import Decimal
from importlib import resources

import pytest
from cloudwaste.core.regions import known_regions
from cloudwaste.scanner.domain import severity_for
from cloudwaste.scanner.price_refresh import commercial_regions
from cloudwaste.scanner.pricing import (
    REQUIRED,
    SHAPE,
    AwsPrices,
    PriceTableError,
    check_table,
    leaf_paths,
    load_table,
    money,
    validate_table,
)

Q = Decimal("0.0001")


@pytest.fixture(scope="module")
def table() -> dict:
    with (resources.files("cloudwaste.scanner") / "data" / "aws_prices.json").open() as fh:
        return json.load(fh, parse_float=Decimal)


def _get(tree, path):
    for key in path:
        tree = tree[key]
    return tree


# --- us-east-1: the same results as the schema-1 table ------------------------------------------------


def test_gp3_100_gib_us_east_1_is_8_dollars():
    p = AwsPrices("us-east-1")
    assert p.ebs_volume("gp3", 100) == Decimal("8.00")
    assert p.ebs_volume("gp3", 100, 3000) == Decimal("8.00")
    assert p.currency == "USD"


def test_io1_iops_add_cost():
    p = AwsPrices("us-east-1")
    base = p.ebs_volume("io1", 100)
    assert base == Decimal("12.5000")
    assert p.ebs_volume("io1", 100, 1000) == base + Decimal("0.065") * 1000
    assert p.ebs_volume("io2", 100, 1000) > p.ebs_volume("io2", 100)


@pytest.mark.parametrize("iops", [None, 0, 1, 2999, 3000])
def test_gp3_iops_up_to_3000_are_free(iops):
    assert AwsPrices("us-east-1").ebs_volume("gp3", 100, iops) == Decimal("8.0000")


def test_gp3_iops_above_3000_are_billed():
    assert AwsPrices("us-east-1").ebs_volume("gp3", 100, 4000) == Decimal("13.0000")


@pytest.mark.parametrize(("throughput", "extra"), [(None, "0"), (125, "0"), (126, "0.04"), (250, "5.00")])
def test_gp3_throughput_above_125_mibps_is_billed(throughput, extra):
    p = AwsPrices("us-east-1")
    assert p.ebs_volume("gp3", 100, 3000, throughput) == Decimal("8") + Decimal(extra)
    assert p.ebs_volume("gp2", 100, None, 500) == Decimal("10.0000")  # only gp3 bills throughput


def test_gp2_reported_iops_are_not_billed():
    assert AwsPrices("us-east-1").ebs_volume("gp2", 100, 300) == Decimal("10.0000")


def test_unknown_volume_type_priced_as_gp2():
    p = AwsPrices("us-east-1")
    assert p.ebs_volume("mystery", 10) == p.ebs_volume("gp2", 10) == Decimal("1.0000")


def test_nat_gateway_is_hourly_times_730_plus_processed_gb():
    p = AwsPrices("us-east-1")
    assert p.nat_gateway() == Decimal("0.045") * 730 == Decimal("32.8500")
    assert p.nat_gateway(100) == Decimal("32.85") + Decimal("4.5")
    assert p.nat_gateway_gb() == Decimal("0.045")


def test_idle_eip_snapshot_and_lb_prices():
    p = AwsPrices("us-east-1")
    assert p.idle_elastic_ip() == Decimal("3.6500")
    assert p.ebs_snapshot(200) == Decimal("10.0000")
    assert p.load_balancer("application") == Decimal("16.4250")
    assert p.load_balancer("network") == Decimal("16.4250")
    assert p.load_balancer("classic") == Decimal("18.2500")
    assert p.load_balancer("gateway") == Decimal("9.1250")
    assert p.load_balancer("nonsense") == p.load_balancer("application")


def test_snapshot_price_follows_its_storage_tier(table):
    p = AwsPrices("us-east-1")
    assert p.ebs_snapshot(200, "standard") == p.ebs_snapshot(200) == Decimal("10.0000")
    assert p.ebs_snapshot(200, "archive") == Decimal("2.5000")  # $0.0125/GB-month, 4x less
    assert p.ebs_snapshot(200, None) == p.ebs_snapshot(200, "anything") == Decimal("10.0000")
    # a table without the archive price prices an archived snapshot at the standard rate
    bare = copy.deepcopy(table)
    for entry in (*bare["regions"].values(), bare["unlisted_regions"]):
        entry.get("ebs", {}).pop("snapshot_archive_gb_month", None)
    assert AwsPrices("us-east-1", bare).ebs_snapshot(200, "archive") == Decimal("10.0000")


def test_us_east_1_lists_every_price_and_methods_read_the_table(table):
    p, us = AwsPrices("us-east-1"), table["regions"]["us-east-1"]
    assert "derived_from" not in us and "factor" not in json.dumps(us, default=str)
    paths = list(leaf_paths(us))
    assert len(paths) > 500
    for path in paths:
        assert p.price(*path) == _get(us, path), path
        assert p.derived(*path) is False, path
    hours = table["hours_per_month"]
    assert hours == 730
    for itype, hourly in us["ec2"]["instance_hour"].items():
        assert p.ec2_instance(itype) == money(Decimal(hourly) * hours), itype
    for engine, classes in us["rds"]["instance_hour"].items():
        for db_class, hourly in classes.items():
            assert p.rds_instance(db_class, engine) == money(Decimal(hourly) * hours), (engine, db_class)
    for node, hourly in us["elasticache"]["node_hour"].items():
        assert p.elasticache_node(node) == money(Decimal(hourly) * hours), node
    for node, hourly in us["redshift"]["node_hour"].items():
        assert p.redshift_node(node) == money(Decimal(hourly) * hours), node


def test_us_east_1_list_prices_of_the_new_kinds():
    p = AwsPrices("us-east-1")
    assert p.ec2_instance("m5.large") == Decimal("70.0800")  # 0.096 x 730
    assert p.ec2_instance("t3.micro") == Decimal("7.5920")
    assert p.ec2_instance("t2.nano") == Decimal("4.2340")
    assert p.ec2_instance("m1.small") == Decimal("32.1200")
    assert p.rds_instance("db.t3.micro", "mysql") == Decimal("12.4100")
    assert p.rds_instance("db.t3.micro", "postgres") == Decimal("13.1400")
    assert p.rds_instance("db.t3.micro", "PostgreSQL") == p.rds_instance("db.t3.micro", "postgres")
    assert p.rds_instance("db.m5.large", "mysql", multi_az=True) == 2 * p.rds_instance("db.m5.large", "mysql")
    assert p.rds_storage("gp3", 100) == Decimal("11.5000")
    assert p.rds_storage("gp2", 100, multi_az=True) == Decimal("23.0000")
    assert p.rds_storage("io1", 100, iops=1000) == Decimal("12.5") + Decimal("100")
    assert p.elasticache_node("cache.t3.micro") == Decimal("12.4100")
    assert p.redshift_node("dc2.large") == Decimal("182.5000")
    assert p.dynamodb_provisioned(rcu=10, wcu=5) == money(
        (Decimal("0.00013") * 10 + Decimal("0.00065") * 5) * 730
    )
    assert p.log_storage(100) == Decimal("3.0000")
    assert p.secret() == Decimal("0.4000")
    assert p.kms_key() == Decimal("1.0000")
    assert p.vpn_connection() == Decimal("36.5000")
    assert p.transit_gateway_attachment() == Decimal("36.5000")
    assert p.route53_hosted_zone() == Decimal("0.5000")
    assert p.eks_cluster() == Decimal("73.0000")
    assert p.ecr_storage(10) == Decimal("1.0000")
    assert p.s3_standard(1000) == Decimal("23.0000")


def test_the_common_instance_families_are_priced(table):
    types = table["regions"]["us-east-1"]["ec2"]["instance_hour"]
    families = {t.split(".")[0] for t in types}
    wanted = "t2 t3 t3a t4g m4 m5 m5a m6i m6g m7i m7g c4 c5 c6i c6g c7i r4 r5 r6i r6g r7i m1 m3 c1 c3 r3 t1"
    assert set(wanted.split()) <= families
    assert {"m5.large", "m5.24xlarge", "c6i.32xlarge", "m7i.48xlarge", "t3.nano", "t4g.2xlarge"} <= set(types)


# --- unknown types: None, never an exception ------------------------------------------------------


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1", "xx-nowhere-9"])
def test_unknown_types_give_none(region):
    p = AwsPrices(region)
    assert p.ec2_instance("zz9.huge") is None
    assert p.ec2_instance("") is None
    assert p.rds_instance("db.zz9.huge", "mysql") is None
    assert p.rds_instance("db.m5.large", "oracle-ee") is None
    assert p.rds_storage("magnetic", 100) is None
    assert p.elasticache_node("cache.zz9.huge") is None
    assert p.redshift_node("zz.huge") is None
    assert p.price("ec2", "instance_hour", "zz9.huge") is None
    assert p.price("nonsense") is None
    assert p.derived("ebs", "gb_month", "gp9") is None


# --- other regions: per-service prices, listed or derived ---------------------------------------------


def test_regional_prices_are_per_service_not_one_multiplier():
    us, eu = AwsPrices("us-east-1"), AwsPrices("eu-west-1")
    assert eu.ebs_volume("gp3", 100) == Decimal("8.8000")  # listed: 0.088
    assert eu.nat_gateway() == Decimal("35.0400")  # listed: 0.048
    assert eu.load_balancer("application") == Decimal("18.3960")  # listed: 0.0252
    assert eu.ec2_instance("m5.large") == Decimal("78.1100")  # listed: 0.107
    assert eu.idle_elastic_ip() == us.idle_elastic_ip()  # the same everywhere
    ratios = {
        eu.ebs_volume("gp3", 100) / us.ebs_volume("gp3", 100),
        eu.nat_gateway() / us.nat_gateway(),
        eu.ec2_instance("m5.large") / us.ec2_instance("m5.large"),
    }
    assert len(ratios) == 3


def test_listed_and_derived_prices_are_told_apart(table):
    eu, us, entry = AwsPrices("eu-west-1"), AwsPrices("us-east-1"), table["regions"]["eu-west-1"]
    assert entry["derived_from"] == "us-east-1"
    assert eu.derived("ebs", "gb_month", "gp3") is False
    assert eu.derived("ebs", "gb_month", "io1") is True
    # a section's factor overrides the region's
    assert eu.price("ebs", "gb_month", "io1") == us.price("ebs", "gb_month", "io1") * entry["ebs"]["factor"]
    assert eu.price("ec2", "instance_hour", "m5.xlarge") == (
        us.price("ec2", "instance_hour", "m5.xlarge") * entry["ec2"]["factor"]
    )
    assert eu.price("dynamodb", "rcu_hour") == us.price("dynamodb", "rcu_hour") * entry["factor"]


def test_section_factor_overrides_region_factor_in_a_small_table(table):
    small = copy.deepcopy(table)
    small["regions"] = {
        "us-east-1": table["regions"]["us-east-1"],
        "eu-west-1": {"derived_from": "us-east-1", "factor": Decimal("2"), "ebs": {"factor": Decimal("3")}},
    }
    check_table(small)
    p = AwsPrices("eu-west-1", table=small)
    assert p.ebs_volume("gp3", 100) == Decimal("24.0000")
    assert p.nat_gateway() == Decimal("65.7000")
    assert p.price_date == small["price_date"]


def test_unlisted_region_is_derived_with_the_table_wide_factor(table):
    p = AwsPrices("xx-nowhere-9")
    assert p.listed is False
    assert table["unlisted_regions"] == {"derived_from": "us-east-1", "factor": Decimal("1.15")}
    assert p.ebs_volume("gp3", 100) == Decimal("9.2000")
    assert p.derived("ebs", "gb_month", "gp3") is True
    assert p.ec2_instance("m5.large") == money(Decimal("0.096") * Decimal("1.15") * 730)


# --- every region the product knows --------------------------------------------------------------------


def test_every_commercial_region_is_listed_with_every_price(table):
    regions = commercial_regions()
    assert len(regions) >= 30 and "us-east-1" in regions and "us-gov-west-1" not in regions
    us = table["regions"]["us-east-1"]
    paths = list(leaf_paths(us))
    for region in regions:
        p = AwsPrices(region)
        assert p.listed, region
        for path in paths:
            value = p.price(*path)
            assert value is not None and value > 0, (region, path)


def test_every_listed_region_is_a_known_aws_region(table):
    unknown = sorted(set(table["regions"]) - known_regions("aws"))
    assert not unknown, f"aws_prices.json prices regions the region table does not know: {unknown}"


def test_regions_that_list_less_than_us_east_1_say_what_they_derive_from(table):
    us_paths = set(leaf_paths(table["regions"]["us-east-1"]))
    for region, entry in table["regions"].items():
        if region == "us-east-1":
            continue
        assert set(leaf_paths(entry)) < us_paths, region
        assert entry["derived_from"] == "us-east-1" and Decimal(entry["factor"]) > 0, region


def _all_prices(p: AwsPrices) -> list[Decimal]:
    return [
        p.ebs_volume("gp3", 7, 3333, 200),
        p.ebs_volume("io1", 13, 777),
        p.ebs_volume("sc1", 1),
        p.ebs_snapshot(3),
        p.idle_elastic_ip(),
        p.nat_gateway(),
        p.nat_gateway(1.5),
        p.load_balancer("network"),
        p.load_balancer("classic"),
        p.ec2_instance("m5.large"),
        p.rds_instance("db.t3.micro", "postgres", multi_az=True),
        p.rds_storage("gp3", 20),
        p.elasticache_node("cache.t3.micro"),
        p.redshift_node("dc2.large"),
        p.dynamodb_provisioned(5, 5),
        p.log_storage(1),
        p.secret(),
        p.kms_key(),
        p.vpn_connection(),
        p.transit_gateway_attachment(),
        p.route53_hosted_zone(),
        p.eks_cluster(),
        p.ecr_storage(1),
        p.s3_standard(1),
    ]


@pytest.mark.parametrize("region", [*sorted(known_regions("aws")), "unknown-1"])
def test_every_known_region_of_any_partition_gets_quantized_positive_prices(region):
    for value in _all_prices(AwsPrices(region)):
        assert isinstance(value, Decimal) and value > 0, region
        assert value.as_tuple().exponent == -4, value
        assert value == value.quantize(Q)


def test_money_rounds_half_up():
    assert money(Decimal("0.00005")) == Decimal("0.0001")
    assert money(Decimal("0.00004999")) == Decimal("0.0000")
    assert money(Decimal("1.23455")) == Decimal("1.2346")


# --- price date and provenance ---------------------------------------------------------------------------


def test_price_date_and_provenance_are_exposed(table):
    p = AwsPrices("eu-west-1")
    assert p.price_date == table["price_date"]
    assert dt.date.fromisoformat(p.price_date) <= dt.date.today()
    assert p.region == "eu-west-1"
    assert p.method == "hand-compiled"
    assert "list prices" in p.source and "refresh" in p.source
    assert p.evidence() == {
        "price_date": p.price_date,
        "price_region": "eu-west-1",
        "price_method": "hand-compiled",
    }
    json.dumps(p.evidence())  # evidence is JSON


# --- the table validates; broken tables do not ---------------------------------------------------------


def test_the_shipped_table_validates(table):
    assert validate_table(table) == []
    assert table["schema_version"] == 2
    assert set(SHAPE) >= {s for entry in table["regions"].values() for s in entry} - {
        "derived_from",
        "factor",
    }


def _break(table, fn):
    t = copy.deepcopy(table)
    fn(t)
    return validate_table(t)


@pytest.mark.parametrize(
    ("breakage", "expected"),
    [
        (lambda t: t.update(schema_version=1), "schema_version"),
        (lambda t: t.update(currency="EUR"), "currency"),
        (lambda t: t.update(price_date="2025-13-40"), "price_date"),
        (lambda t: t.update(price_date=None), "price_date"),
        (lambda t: t.update(source=""), "source"),
        (lambda t: t.pop("gp3_included"), "gp3_included"),
        (lambda t: t.update(regions={}), "regions"),
        (lambda t: t["regions"]["us-east-1"]["ebs"]["gb_month"].update(gp3=Decimal("-0.08")), "positive"),
        (lambda t: t["regions"]["us-east-1"]["ebs"]["gb_month"].update(gp3="0.08"), "positive"),
        (lambda t: t["regions"]["us-east-1"]["ebs"]["gb_month"].update(gp3=float("nan")), "positive"),
        (lambda t: t["regions"]["us-east-1"]["ebs"]["gb_month"].update(gp3=True), "positive"),
        (lambda t: t["regions"]["us-east-1"]["ebs"]["gb_month"].update(gp9=Decimal("1")), "unknown key"),
        (lambda t: t["regions"]["us-east-1"].update(lambda_=Decimal("1")), "unknown section"),
        (lambda t: t["regions"]["us-east-1"]["ebs"]["gb_month"].pop("gp3"), "no price for ebs.gb_month.gp3"),
        (lambda t: t["regions"]["us-east-1"]["elb"].pop("hour"), "elb.hour.gateway"),
        (lambda t: t["regions"]["eu-west-1"].pop("derived_from"), "factor but no derived_from"),
        (lambda t: t["regions"]["eu-west-1"].update(derived_from="xx-nowhere-1"), "not a listed region"),
        (lambda t: t["regions"]["eu-west-1"].update(derived_from="eu-west-2"), "itself derived"),
        (lambda t: t["regions"]["eu-west-1"].update(factor=Decimal("0")), "factor"),
        (lambda t: t["regions"]["eu-west-1"]["ec2"].update(factor=Decimal("12")), "factor"),
        (lambda t: t["regions"].update({"Not A Region": {}}), "not a region name"),
        (lambda t: t.update(unlisted_regions={"derived_from": "us-east-1"}), "unlisted_regions"),
        (lambda t: t["unlisted_regions"].update(ebs={}), "unlisted_regions"),
    ],
)
def test_broken_tables_do_not_validate(table, breakage, expected):
    problems = _break(table, breakage)
    assert problems and any(expected in p for p in problems), problems
    t = copy.deepcopy(table)
    breakage(t)
    with pytest.raises(PriceTableError):
        check_table(t)


def test_required_prices_are_the_ones_the_rules_use():
    assert ("ebs", "gb_month", "gp3") in REQUIRED and ("elb", "hour", "classic") in REQUIRED
    assert ("vpc", "public_ipv4_idle_hour") in REQUIRED and ("ebs", "snapshot_gb_month") in REQUIRED


def test_load_table_reads_and_validates_a_file(table, tmp_path):
    good = tmp_path / "prices.json"
    good.write_text(json.dumps(table, default=float))
    assert load_table(good)["price_date"] == table["price_date"]
    bad = tmp_path / "bad.json"
    broken = copy.deepcopy(table)
    broken["schema_version"] = 1
    bad.write_text(json.dumps(broken, default=float))
    with pytest.raises(PriceTableError, match="schema_version"):
        load_table(bad)


@pytest.mark.parametrize(
    ("cost", "severity"),
    [
        ("0", "LOW"),
        ("9.9999", "LOW"),
        ("10", "MEDIUM"),
        ("99.9999", "MEDIUM"),
        ("100", "HIGH"),
        ("499.9999", "HIGH"),
        ("500", "CRITICAL"),
        ("100000", "CRITICAL"),
    ],
)
def test_severity_thresholds(cost, severity):
    assert severity_for(Decimal(cost)) == severity
