"""Region-aware AWS prices and the severity derived from them."""

from __future__ import annotations

import json
from decimal import Decimal
from importlib import resources

import pytest
from cloudwaste.core.regions import known_regions
from cloudwaste.scanner.domain import severity_for
from cloudwaste.scanner.pricing import AwsPrices, money

Q = Decimal("0.0001")


@pytest.fixture(scope="module")
def table() -> dict:
    with (resources.files("cloudwaste.scanner") / "data" / "aws_prices.json").open() as fh:
        return json.load(fh, parse_float=Decimal)


def test_gp3_100_gib_us_east_1_is_8_dollars():
    p = AwsPrices("us-east-1")
    assert p.ebs_volume("gp3", 100) == Decimal("8.00")
    assert p.ebs_volume("gp3", 100, 3000) == Decimal("8.00")
    assert p.currency == "USD"


def test_region_multiplier_applies():
    us, eu = AwsPrices("us-east-1"), AwsPrices("eu-west-1")
    assert eu.ebs_volume("gp3", 100) > us.ebs_volume("gp3", 100)
    assert eu.ebs_volume("gp3", 100) == Decimal("8.8000")
    assert eu.nat_gateway() > us.nat_gateway()


def test_unknown_region_uses_default_multiplier(table):
    p = AwsPrices("xx-nowhere-9")
    assert p.multiplier == table["default_region_multiplier"]
    assert p.ebs_volume("gp3", 100) == money(Decimal("8") * table["default_region_multiplier"])
    assert p.ebs_volume("gp3", 100) == Decimal("9.2000")


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


def test_gp2_reported_iops_are_not_billed():
    assert AwsPrices("us-east-1").ebs_volume("gp2", 100, 300) == Decimal("10.0000")


def test_unknown_volume_type_priced_as_gp2():
    p = AwsPrices("us-east-1")
    assert p.ebs_volume("mystery", 10) == p.ebs_volume("gp2", 10) == Decimal("1.0000")


def test_nat_gateway_is_hourly_times_730():
    assert AwsPrices("us-east-1").nat_gateway() == Decimal("0.045") * 730 == Decimal("32.8500")


def test_idle_eip_snapshot_and_lb_prices():
    p = AwsPrices("us-east-1")
    assert p.idle_elastic_ip() == Decimal("3.6500")
    assert p.ebs_snapshot(200) == Decimal("10.0000")
    assert p.load_balancer("application") == Decimal("16.4250")
    assert p.load_balancer("gateway") == Decimal("9.1250")
    assert p.load_balancer("nonsense") == p.load_balancer("application")


def test_every_priced_region_is_a_known_aws_region(table):
    known = known_regions("aws")
    unknown = sorted(set(table["region_multipliers"]) - known)
    assert not unknown, f"aws_prices.json prices regions the region table does not know: {unknown}"


def test_multipliers_are_positive_decimals_and_us_east_1_is_base(table):
    for region, m in table["region_multipliers"].items():
        assert isinstance(m, Decimal | int), region
        assert Decimal(m) > 0, region
    assert Decimal(table["region_multipliers"]["us-east-1"]) == 1
    assert Decimal(table["default_region_multiplier"]) >= 1


def _all_prices(p: AwsPrices) -> list[Decimal]:
    return [
        p.ebs_volume("gp3", 7, 3333),
        p.ebs_volume("io1", 13, 777),
        p.ebs_volume("sc1", 1),
        p.ebs_snapshot(3),
        p.idle_elastic_ip(),
        p.nat_gateway(),
        p.load_balancer("network"),
        p.load_balancer("classic"),
    ]


@pytest.mark.parametrize("region", ["us-east-1", "eu-west-1", "ap-east-1", "sa-east-1", "unknown-1"])
def test_results_are_decimal_quantized_to_4_places(region):
    for value in _all_prices(AwsPrices(region)):
        assert isinstance(value, Decimal)
        assert value.as_tuple().exponent == -4, value
        assert value == value.quantize(Q)


def test_every_priced_region_gives_quantized_positive_prices(table):
    for region in table["region_multipliers"]:
        for value in _all_prices(AwsPrices(region)):
            assert isinstance(value, Decimal) and value > 0
            assert value.as_tuple().exponent == -4


def test_money_rounds_half_up():
    assert money(Decimal("0.00005")) == Decimal("0.0001")
    assert money(Decimal("0.00004999")) == Decimal("0.0000")
    assert money(Decimal("1.23455")) == Decimal("1.2346")


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
