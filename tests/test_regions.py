"""The region table and the lookup that keeps raw regions out of ML tables."""

import importlib.resources
import json

import pytest
from cloudwaste.core import regions
from cloudwaste.core.regions import REGION_GROUPS, known_regions, region_group

TABLE_GROUPS = (
    "north-america",
    "south-america",
    "europe",
    "middle-east",
    "africa",
    "asia-pacific",
    "china",
    "government",
)


@pytest.fixture(scope="module")
def raw_table():
    resource = importlib.resources.files("cloudwaste.core") / "data" / "region_groups.json"
    return json.loads(resource.read_text(encoding="utf-8"))


def test_json_schema_and_groups(raw_table):
    assert raw_table["schema_version"] == 1
    assert tuple(raw_table["groups"]) == TABLE_GROUPS
    assert set(raw_table["regions"]) == {"aws", "azure", "gcp"}
    for provider, entries in raw_table["regions"].items():
        for name, group in entries.items():
            assert group in TABLE_GROUPS, (provider, name, group)
            assert name == name.strip().lower() and " " not in name, (provider, name)


def test_region_groups_constant():
    assert REGION_GROUPS == (*TABLE_GROUPS, "global", "unknown")
    assert len(set(REGION_GROUPS)) == len(REGION_GROUPS)


@pytest.mark.parametrize(("provider", "minimum"), [("aws", 34), ("azure", 60), ("gcp", 40)])
def test_counts_are_plausible(provider, minimum):
    assert len(known_regions(provider)) >= minimum
    assert known_regions(provider.upper()) == known_regions(provider)


def test_known_regions_for_providers_without_a_table():
    assert known_regions("m365") == frozenset()
    assert known_regions("oci") == frozenset()


def test_every_group_is_used(raw_table):
    used = {group for entries in raw_table["regions"].values() for group in entries.values()}
    assert used == set(TABLE_GROUPS)


@pytest.mark.parametrize(
    ("provider", "region", "group"),
    [
        # north-america
        ("aws", "us-east-1", "north-america"),
        ("aws", "ca-west-1", "north-america"),
        ("aws", "mx-central-1", "north-america"),
        ("azure", "eastus", "north-america"),
        ("azure", "mexicocentral", "north-america"),
        ("gcp", "us-central1", "north-america"),
        ("gcp", "northamerica-south1", "north-america"),
        # south-america
        ("aws", "sa-east-1", "south-america"),
        ("azure", "chilecentral", "south-america"),
        ("gcp", "southamerica-west1", "south-america"),
        # europe
        ("aws", "eu-central-2", "europe"),
        ("aws", "eu-south-2", "europe"),
        ("azure", "westeurope", "europe"),
        ("azure", "swedencentral", "europe"),
        ("azure", "italynorth", "europe"),
        ("azure", "polandcentral", "europe"),
        ("azure", "spaincentral", "europe"),
        ("gcp", "europe-west1", "europe"),
        ("gcp", "europe-west12", "europe"),
        # middle-east
        ("aws", "il-central-1", "middle-east"),
        ("aws", "me-central-1", "middle-east"),
        ("azure", "israelcentral", "middle-east"),
        ("azure", "qatarcentral", "middle-east"),
        ("gcp", "me-central1", "middle-east"),
        ("gcp", "me-central2", "middle-east"),
        ("gcp", "me-west1", "middle-east"),
        # africa
        ("aws", "af-south-1", "africa"),
        ("azure", "southafricanorth", "africa"),
        ("gcp", "africa-south1", "africa"),
        # asia-pacific
        ("aws", "ap-southeast-5", "asia-pacific"),
        ("aws", "ap-southeast-6", "asia-pacific"),
        ("aws", "ap-southeast-7", "asia-pacific"),
        ("aws", "ap-south-2", "asia-pacific"),
        ("aws", "ap-east-2", "asia-pacific"),
        ("aws", "ap-southeast-4", "asia-pacific"),
        ("azure", "newzealandnorth", "asia-pacific"),
        ("azure", "indonesiacentral", "asia-pacific"),
        ("azure", "malaysiawest", "asia-pacific"),
        ("gcp", "asia-southeast3", "asia-pacific"),
        ("gcp", "australia-southeast2", "asia-pacific"),
        # china
        ("aws", "cn-north-1", "china"),
        ("aws", "cn-northwest-1", "china"),
        ("azure", "chinaeast", "china"),
        ("azure", "chinaeast2", "china"),
        ("azure", "chinaeast3", "china"),
        ("azure", "chinanorth", "china"),
        ("azure", "chinanorth2", "china"),
        ("azure", "chinanorth3", "china"),
        # government
        ("aws", "us-gov-east-1", "government"),
        ("aws", "us-gov-west-1", "government"),
        ("azure", "usgovvirginia", "government"),
        ("azure", "usgovarizona", "government"),
        ("azure", "usdodeast", "government"),
    ],
)
def test_spot_checks(provider, region, group):
    assert region_group(provider, region) == group


@pytest.mark.parametrize(
    ("provider", "region", "group"),
    [
        ("AWS", "  US-EAST-1 ", "north-america"),
        ("aws", "eu-west-1a", "europe"),
        ("aws", "us-gov-west-1b", "government"),
        ("aws", "us-east-1-bos-1a", "north-america"),
        ("aws", "us-east-1-wl1-bos-wlz-1", "north-america"),
        ("Azure", "West Europe", "europe"),
        ("azure", "  East US 2 ", "north-america"),
        ("azure", "(Europe) Sweden Central", "europe"),
        ("azure", "China North 3", "china"),
        ("azure", "westus-az1", "north-america"),
        ("gcp", "europe-west1-b", "europe"),
        ("GCP", "US-CENTRAL1-F", "north-america"),
        ("gcp", "us-central1-ai1a", "north-america"),
    ],
)
def test_normalization(provider, region, group):
    assert region_group(provider, region) == group


@pytest.mark.parametrize("provider", ["aws", "azure", "gcp", "AWS"])
@pytest.mark.parametrize("region", ["", "global", "GLOBAL", " Global "])
def test_global(provider, region):
    assert region_group(provider, region) == "global"


@pytest.mark.parametrize("region", ["", "eastus", "us-east-1", "whatever", "10.1.2.3"])
def test_m365_is_global(region):
    assert region_group("m365", region) == "global"
    assert region_group("M365", region) == "global"


WEIRD = [
    "not-a-region",
    "   ",
    "10.1.2.3",
    "alice@example.com",
    "eu-west-1a@example.com",
    "us-east-1;drop table",
    "europe-west99",
    "us-central9-a",
    "eu-west-1-",
    "westeurope2",
    "arn:aws:ec2:us-east-1:123456789012:instance/i-0abc",
    "x" * 1000,
    "eu-west-1" + " " * 100,
    "\x00",
    "🌍",
]


@pytest.mark.parametrize("provider", ["aws", "azure", "gcp", "oci", ""])
@pytest.mark.parametrize("region", WEIRD)
def test_weird_input_never_echoes(provider, region):
    result = region_group(provider, region)
    assert result in REGION_GROUPS
    assert result in ("unknown", "global")
    if region.strip():
        assert result != region


@pytest.mark.parametrize("region", ["not-a-region", "10.1.2.3", "alice@example.com", "europe-west99"])
def test_unknown_regions(region):
    for provider in ("aws", "azure", "gcp"):
        assert region_group(provider, region) == "unknown"


def test_whitespace_only_is_global():
    assert region_group("aws", "   ") == "global"


def test_unknown_provider():
    assert region_group("oci", "us-ashburn-1") == "unknown"
    assert region_group("", "us-east-1") == "unknown"


def test_non_string_input_does_not_raise():
    assert region_group(None, "us-east-1") == "unknown"  # type: ignore[arg-type]
    assert region_group("aws", None) == "unknown"  # type: ignore[arg-type]
    assert region_group("aws", 1) == "unknown"  # type: ignore[arg-type]


def test_regions_of_one_provider_do_not_leak_into_another():
    assert region_group("aws", "westeurope") == "unknown"
    assert region_group("azure", "eu-west-1") == "unknown"
    assert region_group("gcp", "us-east-1") == "unknown"


def test_every_known_region_resolves_to_its_table_group(raw_table):
    for provider, entries in raw_table["regions"].items():
        assert known_regions(provider) == frozenset(entries)
        for name, group in entries.items():
            assert region_group(provider, name) == group


def test_table_is_loaded_once():
    assert regions._table() is regions._table()


def test_module_does_not_import_grpc():
    source = (importlib.resources.files("cloudwaste.core") / "regions.py").read_text(encoding="utf-8")
    assert "grpc" not in source
