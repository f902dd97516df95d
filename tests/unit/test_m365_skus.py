"""Microsoft 365 SKU knowledge: the shipped licence price table and the pure `m365_skus` module."""

from __future__ import annotations

import json
from decimal import Decimal
from importlib import resources

import pytest
from cloudwaste.scanner import cloud_prices, m365_skus
from cloudwaste.scanner.m365_skus import FAMILY, INCLUDES, family, is_free, redundant


@pytest.fixture(scope="module")
def raw_table():
    path = resources.files("cloudwaste.scanner") / "data" / "m365_prices" / "licenses.json"
    return json.loads(path.read_text(encoding="utf-8"), parse_float=Decimal)


@pytest.fixture(scope="module")
def prices():
    return cloud_prices.CloudPrices("m365")


@pytest.fixture(scope="module")
def listed(raw_table):
    return raw_table["regions"]["global"]["license_month"]


# --- the price table ------------------------------------------------------------------------------------


def test_price_table_validates(raw_table):
    assert cloud_prices.validate_group(raw_table, "m365", "licenses") == []
    assert raw_table["currency"] == "USD"
    assert raw_table["method"] == "hand-compiled"
    assert raw_table["price_date"] == "2025-11-01"
    assert list(raw_table["regions"]) == ["global"]


def test_price_table_loads_through_cloud_prices(prices):
    assert set(cloud_prices.shipped_tables("m365")) == {"licenses", "storage"}
    assert prices.monthly("global", "storage", "gb_month", "onedrive_unlicensed", quantity=100) == Decimal("5.0000")
    assert prices.monthly("global", "storage", "gb_month", "sharepoint_extra", quantity=10) == Decimal("2.0000")
    assert prices.monthly("global", "licenses", "license_month", "SPE_E3") == Decimal("36.0000")
    assert prices.monthly("global", "licenses", "license_month", "SPE_E5", quantity=10) == Decimal("570.0000")
    assert prices.evidence("global", "licenses")["price_method"] == "hand-compiled"


def test_a_tenant_anywhere_gets_the_global_price(prices):
    assert prices.monthly("westeurope", "licenses", "license_month", "ENTERPRISEPACK") == Decimal("23.0000")
    assert "unlisted" in prices.evidence("westeurope", "licenses")["price_region"]


def test_unknown_sku_has_no_price(prices):
    assert prices.monthly("global", "licenses", "license_month", "NOT_A_SKU") is None


@pytest.mark.parametrize(
    ("sku", "usd"),
    [
        ("SPE_E3", "36"),
        ("SPE_E5", "57"),
        ("ENTERPRISEPACK", "23"),
        ("STANDARDPACK", "10"),
        ("EXCHANGESTANDARD", "4"),
        ("EXCHANGEENTERPRISE", "8"),
        ("O365_BUSINESS_ESSENTIALS", "6"),
        ("SPB", "22"),
        ("POWER_BI_PRO", "14"),
        ("EMS", "10.6"),
        ("AAD_PREMIUM", "6"),
        ("AAD_PREMIUM_P2", "9"),
        ("VISIOCLIENT", "15"),
        ("PROJECTPROFESSIONAL", "30"),
        ("TEAMS_EXPLORATORY", "0"),
        ("FLOW_FREE", "0"),
        ("POWER_BI_STANDARD", "0"),
    ],
)
def test_known_list_prices(prices, sku, usd):
    assert prices.price("global", "licenses", "license_month", sku) == Decimal(usd)


REQUIRED = """SPE_E3 SPE_E5 SPE_F1 ENTERPRISEPACK ENTERPRISEPREMIUM STANDARDPACK DESKLESSPACK
O365_BUSINESS_ESSENTIALS O365_BUSINESS_PREMIUM SPB SMB_BUSINESS O365_BUSINESS OFFICESUBSCRIPTION
EXCHANGESTANDARD EXCHANGEENTERPRISE EXCHANGEDESKLESS EMS EMSPREMIUM AAD_PREMIUM AAD_PREMIUM_P2
POWER_BI_PRO POWER_BI_PREMIUM_PER_USER VISIOCLIENT PROJECTPROFESSIONAL PROJECTPREMIUM TEAMS_EXPLORATORY
FLOW_FREE POWER_BI_STANDARD MCOEV MCOMEETADV WIN_DEF_ATP IDENTITY_THREAT_PROTECTION ATP_ENTERPRISE
M365_F1""".split()


def test_the_common_skus_are_priced_and_every_price_is_a_sane_number(listed):
    assert not set(REQUIRED) - set(listed)
    for sku, usd in listed.items():
        assert isinstance(usd, (int, Decimal)), sku
        assert 0 <= usd <= 100, sku


def test_every_priced_sku_has_a_family_and_back(listed):
    assert set(listed) == set(FAMILY)


def test_price_order_follows_the_suites(listed):
    # a suite never costs less than any single SKU it contains, except the frontline suites, which are
    # discounted (and restricted to frontline workers): Microsoft 365 F1 at 2.25 carries Intune Plan 1
    for suite, inner in INCLUDES.items():
        if family(suite) == "frontline":
            continue
        for sku in inner:
            assert listed[suite] >= listed[sku], (suite, sku)


# --- INCLUDES ---------------------------------------------------------------------------------------------


def test_every_includes_key_and_value_has_a_price(listed):
    for suite, inner in INCLUDES.items():
        assert suite in listed
        assert inner and inner <= set(listed), (suite, inner - set(listed))


def test_includes_is_transitively_closed_and_acyclic():
    for suite, inner in INCLUDES.items():
        assert suite not in inner
        for sku in inner:
            assert INCLUDES.get(sku, frozenset()) <= inner, (suite, sku)


def test_includes_contains_the_documented_overlaps():
    assert {
        "ENTERPRISEPACK",
        "EXCHANGEENTERPRISE",
        "EXCHANGESTANDARD",
        "EMS",
        "AAD_PREMIUM",
        "OFFICESUBSCRIPTION",
    } <= INCLUDES["SPE_E3"]
    assert (
        INCLUDES["SPE_E3"]
        | {
            "SPE_E3",
            "ENTERPRISEPREMIUM",
            "EMSPREMIUM",
            "AAD_PREMIUM_P2",
            "POWER_BI_PRO",
            "MCOMEETADV",
            "MCOEV",
            "ATP_ENTERPRISE",
            "WIN_DEF_ATP",
            "IDENTITY_THREAT_PROTECTION",
        }
        <= INCLUDES["SPE_E5"]
    )
    assert {"EXCHANGEENTERPRISE", "EXCHANGESTANDARD", "OFFICESUBSCRIPTION"} <= INCLUDES["ENTERPRISEPACK"]
    assert {"O365_BUSINESS_PREMIUM", "EXCHANGESTANDARD", "O365_BUSINESS", "AAD_PREMIUM"} <= INCLUDES["SPB"]


def test_includes_stays_conservative():
    # Office 365 suites carry no Entra ID P1/Intune; Business Premium no Apps for enterprise;
    # no suite here contains Visio, Project, Copilot or Power BI Premium Per User
    assert "AAD_PREMIUM" not in INCLUDES["ENTERPRISEPREMIUM"]
    assert "EMS" not in INCLUDES["ENTERPRISEPREMIUM"]
    assert "OFFICESUBSCRIPTION" not in INCLUDES["SPB"]
    assert "SPE_E3" not in INCLUDES["SPB"]
    for suite, inner in INCLUDES.items():
        if family(suite) in ("project", "visio", "power_bi"):
            continue
        assert not inner & {
            "VISIOCLIENT",
            "PROJECTPROFESSIONAL",
            "Microsoft_365_Copilot",
            "POWER_BI_PREMIUM_PER_USER",
        }


def test_a_cycle_in_the_containment_map_is_refused():
    with pytest.raises(ValueError, match="cycle"):
        m365_skus._closure({"A": frozenset({"B"}), "B": frozenset({"A"})})


# --- redundant --------------------------------------------------------------------------------------------


def test_e3_plus_standalone_exchange():
    assert redundant(["SPE_E3", "EXCHANGESTANDARD"]) == [("EXCHANGESTANDARD", "SPE_E3")]


def test_e5_plus_e3_makes_e3_redundant():
    assert redundant(["SPE_E3", "SPE_E5"]) == [("SPE_E3", "SPE_E5")]


def test_each_redundant_sku_once_under_the_largest_suite():
    got = redundant(["EXCHANGESTANDARD", "SPE_E3", "ENTERPRISEPACK", "SPE_E5", "EMS"])
    assert got == [
        ("EMS", "SPE_E5"),
        ("ENTERPRISEPACK", "SPE_E5"),
        ("EXCHANGESTANDARD", "SPE_E5"),
        ("SPE_E3", "SPE_E5"),
    ]


def test_two_suites_side_by_side():
    got = redundant(["ENTERPRISEPACK", "EMS", "AAD_PREMIUM", "EXCHANGEENTERPRISE"])
    assert got == [("AAD_PREMIUM", "EMS"), ("EXCHANGEENTERPRISE", "ENTERPRISEPACK")]


def test_no_overlap():
    assert redundant(["SPE_E3", "VISIOCLIENT", "PROJECTPROFESSIONAL", "POWER_BI_PRO"]) == []
    assert redundant(["ENTERPRISEPACK", "EMS"]) == []
    assert redundant(["SPE_E3"]) == []
    assert redundant([]) == []


def test_unknown_skus_are_ignored_and_duplicates_count_once():
    assert redundant(["MYSTERY_SKU", "SPE_E3", "EXCHANGESTANDARD", "EXCHANGESTANDARD", "OTHER"]) == [
        ("EXCHANGESTANDARD", "SPE_E3")
    ]
    assert redundant(["MYSTERY_SKU", "OTHER"]) == []


def test_order_is_deterministic():
    skus = ["SPE_E5", "POWER_BI_PRO", "MCOEV", "AAD_PREMIUM_P2", "SPB", "O365_BUSINESS", "ATP_ENTERPRISE"]
    first = redundant(skus)
    assert first == redundant(reversed(skus)) == redundant(iter(sorted(skus)))
    assert [r for r, _ in first] == sorted(r for r, _ in first)
    # SPB and SPE_E5 both cover Apps for business and Defender for Office P1: SPE_E5 covers more
    assert ("O365_BUSINESS", "SPE_E5") in first
    assert ("ATP_ENTERPRISE", "SPE_E5") in first
    assert redundant(["SPB", "O365_BUSINESS", "ATP_ENTERPRISE"]) == [
        ("ATP_ENTERPRISE", "SPB"),
        ("O365_BUSINESS", "SPB"),
    ]


def test_the_covering_suite_is_never_itself_redundant():
    every = list(FAMILY)
    got = redundant(every)
    assert {s for _, s in got}.isdisjoint(r for r, _ in got)


# --- family / is_free -------------------------------------------------------------------------------------


def test_family():
    assert family("SPE_E3") == "microsoft365_enterprise"
    assert family("ENTERPRISEPACK") == "office365_enterprise"
    assert family("SPB") == "business"
    assert family("EXCHANGESTANDARD") == "exchange"
    assert family("EMS") == "security"
    assert family("POWER_BI_PRO") == "power_bi"
    assert family("FLOW_FREE") == "free"
    assert family("DESKLESSPACK") == "frontline"
    assert family("NOT_A_SKU") == "other"
    assert family("") == "other"


def test_free_skus_are_exactly_the_zero_priced_ones(listed):
    assert {sku for sku, usd in listed.items() if usd == 0} == m365_skus.FREE
    for sku, usd in listed.items():
        assert is_free(sku) == (usd == 0), sku


@pytest.mark.parametrize(
    "sku",
    [
        "FLOW_FREE",
        "POWER_BI_STANDARD",
        "TEAMS_EXPLORATORY",
        "POWERAPPS_VIRAL",
        "ENTERPRISEPREMIUM_TRIAL",
        "Microsoft_365_E5_FreeTrial",
        "SOME_NEW_FREE_SKU",
    ],
)
def test_is_free(sku):
    assert is_free(sku)


def test_is_free_by_price():
    assert is_free("UNKNOWN_SKU", price=0)
    assert is_free("UNKNOWN_SKU", price=Decimal("0.00"))
    assert not is_free("UNKNOWN_SKU", price=Decimal("4.00"))
    assert not is_free("UNKNOWN_SKU")
    assert not is_free("SPE_E3")
