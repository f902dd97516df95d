"""Enricher calendar features and the waste model's raw feature row."""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal

import pytest
from cloudwaste.core.features import MISSING, WASTE_FEATURES, waste_row, waste_row_from_raw
from cloudwaste.core.privacy import TAG_VOCABULARY
from cloudwaste.core.regions import REGION_GROUPS
from cloudwaste.enricher.features import temporal_features

UTC = dt.UTC
EMAIL = "canary.person@example.com"


# --- temporal_features ---------------------------------------------------------------------


def test_saturday_late_evening_is_weekend_outside_business_hours():
    f = temporal_features(dt.datetime(2026, 6, 6, 23, 0, tzinfo=UTC))  # a Saturday
    assert f == {
        "created_hour_of_day": 23,
        "created_day_of_week": 5,
        "created_day_of_month": 6,
        "created_on_weekend": True,
        "created_in_business_hours": False,
    }


def test_tuesday_morning_is_business_hours():
    f = temporal_features(dt.datetime(2026, 6, 2, 10, 0, tzinfo=UTC))  # a Tuesday
    assert f["created_day_of_week"] == 1
    assert f["created_on_weekend"] is False
    assert f["created_in_business_hours"] is True


@pytest.mark.parametrize(
    ("hour", "minute", "business"),
    [(8, 59, False), (9, 0, True), (17, 59, True), (18, 0, False), (0, 0, False)],
)
def test_business_hours_edges(hour, minute, business):
    f = temporal_features(dt.datetime(2026, 6, 3, hour, minute, tzinfo=UTC))  # a Wednesday
    assert f["created_in_business_hours"] is business


def test_sunday_midday_is_weekend_not_business():
    f = temporal_features(dt.datetime(2026, 6, 7, 12, 0, tzinfo=UTC))
    assert f["created_day_of_week"] == 6
    assert f["created_on_weekend"] is True
    assert f["created_in_business_hours"] is False


def test_non_utc_input_is_converted_to_utc():
    est = dt.timezone(dt.timedelta(hours=-5))
    # Tuesday 05:00 at UTC-5 is Tuesday 10:00 UTC.
    f = temporal_features(dt.datetime(2026, 6, 2, 5, 0, tzinfo=est))
    assert f["created_hour_of_day"] == 10
    assert f["created_in_business_hours"] is True
    # Friday 20:00 at UTC-5 is Saturday 01:00 UTC: weekend, and the day of month moves too.
    f = temporal_features(dt.datetime(2026, 6, 5, 20, 0, tzinfo=est))
    assert (f["created_day_of_week"], f["created_hour_of_day"], f["created_day_of_month"]) == (5, 1, 6)
    assert f["created_on_weekend"] is True


def test_positive_offset_crosses_day_backwards():
    cet = dt.timezone(dt.timedelta(hours=2))
    # Monday 01:00 at UTC+2 is Sunday 23:00 UTC.
    f = temporal_features(dt.datetime(2026, 6, 8, 1, 0, tzinfo=cet))
    assert (f["created_day_of_week"], f["created_hour_of_day"]) == (6, 23)
    assert f["created_on_weekend"] is True


def test_none_gives_none():
    assert temporal_features(None) is None


def test_temporal_features_are_json_serializable():
    json.dumps(temporal_features(dt.datetime(2026, 1, 1, tzinfo=UTC)))


# --- waste_row ---------------------------------------------------------------------------------


def _row(**overrides) -> dict:
    args = dict(
        provider="aws",
        resource_type="aws.ec2.volume",
        region_group_name="europe",
        detection_scenario="ebs-volume-unattached",
        confidence_level="HIGH",
        resource_age_days=40,
        cost_monthly=Decimal("8.8000"),
        tags_anonymized={"environment": "prod"},
    )
    args.update(overrides)
    return waste_row(**args)


def _raw(**overrides) -> dict:
    args = dict(
        provider="aws",
        resource_type="aws.ec2.volume",
        region="eu-west-1a",
        detection_scenario="ebs-volume-unattached",
        confidence_level="MEDIUM",
        resource_age_days=12.5,
        cost_monthly=3.65,
        tags={"Env": "Production", "owner": EMAIL},
    )
    args.update(overrides)
    return waste_row_from_raw(**args)


@pytest.mark.parametrize("build", [_row, _raw])
def test_row_has_exactly_the_feature_names(build):
    row = build()
    assert set(row) == set(WASTE_FEATURES.names)
    assert len(row) == len(WASTE_FEATURES.names)


@pytest.mark.parametrize("build", [_row, _raw])
def test_numeric_features_are_floats_and_categoricals_strings(build):
    row = build()
    for name in WASTE_FEATURES.numeric:
        assert type(row[name]) is float, name
    for name in WASTE_FEATURES.categorical:
        assert isinstance(row[name], str), name


def test_spec_names_are_unique_and_disjoint():
    assert len(set(WASTE_FEATURES.names)) == len(WASTE_FEATURES.names)
    assert not set(WASTE_FEATURES.categorical) & set(WASTE_FEATURES.numeric)
    spec = WASTE_FEATURES.to_json()
    assert spec["categorical"] + spec["numeric"] == list(WASTE_FEATURES.names)


def test_decimal_cost_and_int_age_become_floats():
    row = _row(cost_monthly=Decimal("8.8000"), resource_age_days=40)
    assert row["cost_monthly"] == 8.8
    assert row["resource_age_days"] == 40.0


def test_missing_values():
    row = _row(
        tags_anonymized=None,
        resource_age_days=None,
        cost_monthly=None,
        confidence_level="",
        provider="",
        resource_type="",
        detection_scenario="",
        region_group_name="",
    )
    for tag in ("tag_environment", "tag_criticality", "tag_backup", "tag_lifecycle"):
        assert row[tag] == MISSING == "unset"
    assert row["resource_age_days"] == -1.0
    assert row["cost_monthly"] == 0.0
    assert row["confidence_level"] == "unset"
    assert row["confidence_score"] == 0.0
    assert row["region_group"] == "unknown"
    for name in WASTE_FEATURES.numeric:
        assert type(row[name]) is float


def test_missing_tags_on_raw_path():
    row = _raw(tags={})
    assert (
        row["tag_environment"]
        == row["tag_criticality"]
        == row["tag_backup"]
        == row["tag_lifecycle"]
        == "unset"
    )


def test_a_missing_tag_differs_from_backup_none():
    assert _raw(tags={"backup": "none"})["tag_backup"] == "none"
    assert _raw(tags={})["tag_backup"] == "unset"


@pytest.mark.parametrize(("level", "score"), [("LOW", 1.0), ("medium", 2.0), ("High", 3.0), ("bogus", 0.0)])
def test_confidence_score(level, score):
    row = _row(confidence_level=level)
    assert row["confidence_score"] == score
    assert row["confidence_level"] == level.upper()


def test_raw_region_zone_maps_to_group():
    row = _raw(region="eu-west-1a")
    assert row["region_group"] == "europe"
    assert "eu-west-1" not in json.dumps(row)
    assert _raw(region="us-east-1")["region_group"] == "north-america"
    assert _raw(region="nowhere-9")["region_group"] == "unknown"
    assert _raw(region="")["region_group"] == "global"
    assert _raw(region="made-up-zone-1x")["region_group"] in REGION_GROUPS


def test_raw_tags_are_anonymized():
    row = _raw(
        tags={
            "Env": "Production",
            "Criticality": "critical",
            "Backup": "yes",
            "Lifecycle": "temp",
            "owner": EMAIL,
        }
    )
    assert (row["tag_environment"], row["tag_criticality"], row["tag_backup"], row["tag_lifecycle"]) == (
        "prod",
        "high",
        "required",
        "temporary",
    )


def test_raw_tag_email_values_never_appear_in_row():
    tags = {
        "Environment": EMAIL,
        "owner": EMAIL,
        "Criticality": f"ask {EMAIL}",
        EMAIL: EMAIL,
        "Backup": "203.0.113.77",
    }
    row = _raw(tags=tags)
    blob = json.dumps(row).lower()
    assert EMAIL not in blob
    assert "canary" not in blob
    assert "203.0.113.77" not in blob
    assert row["tag_environment"] == "other"
    assert row["tag_criticality"] == "other"
    assert row["tag_backup"] == "other"
    for key in ("environment", "criticality", "backup", "lifecycle"):
        assert row[f"tag_{key}"] in TAG_VOCABULARY[key] | {"other", "unset"}


def test_provider_is_lowercased():
    assert _row(provider="AWS")["provider"] == "aws"
