"""Nothing identifying may reach an ML row: canaries, keyed hashes, config allow-list, tag vocabulary."""

from __future__ import annotations

import datetime as dt
import json
import random
import re
import string
from decimal import Decimal

import pytest
from cloudwaste.core.privacy import (
    KEY_ALIASES,
    TAG_VOCABULARY,
    VALUE_SYNONYMS,
    allow_listed,
    anonymize_tags,
    keyed_hash,
)
from cloudwaste.core.regions import REGION_GROUPS
from cloudwaste.core.settings import HashKey
from cloudwaste.scanner.domain import Detection, FindingDraft, Resource, severity_for
from cloudwaste.scanner.mlrows import ML_CONFIG_ALLOWLIST, base_row

KEY = HashKey(b"k" * 32, "k1")
ROTATED = HashKey(b"r" * 32, "k2")
HEX64 = re.compile(r"^[0-9a-f]{64}$")
NOW = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)

EMAIL = "canary.person@example.com"
IP = "203.0.113.77"
ACCOUNT = "123456789012"
RESOURCE_ID = "vol-0canary0000000001"
ARN = "arn:aws:iam::123456789012:role/Canary"
FREE_TEXT = "CANARY-FREE-TEXT"
ENV = "CANARY-ENV"
TENANT = "canary-tenant"
CANARIES = (EMAIL, IP, ACCOUNT, RESOURCE_ID, ARN, FREE_TEXT, ENV, TENANT, "canary")


def _canary_resource() -> Resource:
    return Resource(
        provider="aws",
        kind="aws.ec2.volume",
        resource_id=RESOURCE_ID,
        region="eu-west-1",
        name=f"{FREE_TEXT} owned by {EMAIL}",
        tags={
            "Name": FREE_TEXT,
            "owner": EMAIL,
            "environment": ENV,
            "role": ARN,
            "ip": IP,
            "account": ACCOUNT,
            "notes": f"{FREE_TEXT} {EMAIL} {IP}",
        },
        created_at=NOW - dt.timedelta(days=40),
        attributes={
            "state": "available",
            "size_gb": 100,
            "volume_type": "gp3",
            "iops": 3000,
            "attached_instance_id": None,
            "owner": EMAIL,
            "public_ip": IP,
            "role_arn": ARN,
        },
        config={
            "volume_type": "gp3",
            "size_gb": 100,
            "iops": 3000,
            "encrypted": True,
            # none of these may survive the allow-list
            "name": FREE_TEXT,
            "owner": EMAIL,
            "kms_key_id": ARN,
            "account_id": ACCOUNT,
            "public_ip": IP,
            "volume_id": RESOURCE_ID,
            "tags": {"environment": ENV, "owner": EMAIL},
            "addresses": [IP, EMAIL],
        },
        parent_id=f"i-0canary {ARN}",
        parent_kind="aws.ec2.instance",
        parent_state="in-use",
    )


def _draft(resource: Resource | None = None) -> FindingDraft:
    resource = resource or _canary_resource()
    detection = Detection(
        scenario="ebs-volume-unattached",
        confidence="HIGH",
        monthly_cost=Decimal("8.8000"),
        evidence={"owner": EMAIL, "ip": IP, "arn": ARN, "note": FREE_TEXT, "resource_id": RESOURCE_ID},
    )
    return FindingDraft(resource, detection, severity_for(detection.monthly_cost))


def _row(key: HashKey = KEY, resource: Resource | None = None, tenant: str = TENANT) -> dict:
    return base_row(_draft(resource), key=key, tenant_id=tenant, account_ref=ACCOUNT, detected_at=NOW)


# --- canaries ------------------------------------------------------------------------------


@pytest.mark.parametrize("canary", CANARIES)
def test_no_canary_in_base_row(canary):
    blob = json.dumps(_row(), default=str).lower()
    assert canary.lower() not in blob


def test_no_canary_in_any_row_value():
    row = _row()
    for field, value in row.items():
        text = json.dumps(value, default=str).lower()
        for canary in CANARIES:
            assert canary.lower() not in text, f"{field} leaks {canary!r}"


def test_base_row_carries_no_raw_region_or_name():
    row = _row()
    blob = json.dumps(row, default=str)
    assert "eu-west-1" not in blob
    assert row["region_group"] == "europe"
    assert row["region_group"] in REGION_GROUPS


def test_base_row_shape_and_hashes():
    row = _row()
    for field in ("resource_hash", "account_hash", "tenant_hash", "parent_resource_hash"):
        assert HEX64.match(row[field]), field
    assert row["resource_hash"] == keyed_hash(KEY, "resource", f"aws:{RESOURCE_ID}")
    assert row["account_hash"] == keyed_hash(KEY, "account", f"aws:{ACCOUNT}")
    assert row["tenant_hash"] == keyed_hash(KEY, "tenant", TENANT)
    assert row["hash_key_id"] == "k1"
    assert row["resource_config"] == {"volume_type": "gp3", "size_gb": 100, "iops": 3000, "encrypted": True}
    assert row["detection_scenario"] == "ebs-volume-unattached"
    assert row["confidence_level"] == "HIGH"
    assert row["cost_monthly"] == pytest.approx(8.8)
    assert row["resource_age_days"] == pytest.approx(40.0)


def test_tag_environment_canary_becomes_other():
    tags = anonymize_tags(_canary_resource().tags)
    assert tags["environment"] == "other"
    assert set(tags) <= set(TAG_VOCABULARY)
    blob = json.dumps(tags).lower()
    for canary in CANARIES:
        assert canary.lower() not in blob


# --- keyed hashes ----------------------------------------------------------------------------


def test_hash_is_64_hex_and_stable():
    h = keyed_hash(KEY, "resource", "aws:vol-1")
    assert HEX64.match(h)
    assert h == keyed_hash(HashKey(b"k" * 32, "other-id"), "resource", "aws:vol-1")
    assert _row()["resource_hash"] == _row()["resource_hash"]
    assert _row()["account_hash"] == _row()["account_hash"]


def test_hash_changes_with_key_rotation():
    assert keyed_hash(KEY, "resource", "aws:vol-1") != keyed_hash(ROTATED, "resource", "aws:vol-1")
    a, b = _row(KEY), _row(ROTATED)
    for field in ("resource_hash", "account_hash", "tenant_hash", "parent_resource_hash"):
        assert a[field] != b[field], field
    assert b["hash_key_id"] == "k2"


def test_hash_kinds_are_separated():
    assert keyed_hash(KEY, "account", "x") != keyed_hash(KEY, "resource", "x")
    assert keyed_hash(KEY, "tenant", "x") != keyed_hash(KEY, "account", "x")


def test_hash_differs_for_different_values():
    assert keyed_hash(KEY, "resource", "aws:vol-1") != keyed_hash(KEY, "resource", "aws:vol-2")


def test_hash_is_not_a_plain_sha256():
    import hashlib

    assert keyed_hash(KEY, "account", ACCOUNT) != hashlib.sha256(f"account:{ACCOUNT}".encode()).hexdigest()
    assert keyed_hash(KEY, "account", ACCOUNT) != hashlib.sha256(ACCOUNT.encode()).hexdigest()


def test_no_parent_means_no_parent_hash():
    r = _canary_resource()
    r = Resource(r.provider, r.kind, r.resource_id, r.region, created_at=r.created_at, config=r.config)
    row = _row(resource=r)
    assert row["parent_resource_hash"] is None
    assert row["parent_resource_type"] is None


# --- config allow-list ---------------------------------------------------------------------


def test_allow_listed_drops_dicts_lists_and_unlisted_keys():
    allowed = {"volume_type": str, "size_gb": int, "encrypted": bool, "meta": (str, dict, list)}
    config = {
        "volume_type": "gp3",
        "size_gb": 100,
        "encrypted": False,
        "meta": {"owner": EMAIL},
        "name": FREE_TEXT,
        "owner": EMAIL,
    }
    assert allow_listed(config, allowed) == {"volume_type": "gp3", "size_gb": 100, "encrypted": False}
    assert allow_listed({**config, "meta": [IP]}, allowed) == {
        "volume_type": "gp3",
        "size_gb": 100,
        "encrypted": False,
    }


def test_allow_listed_drops_wrong_types_and_none():
    allowed = {"volume_type": str, "size_gb": int}
    assert allow_listed({"volume_type": ["gp3"], "size_gb": "100"}, allowed) == {}
    assert allow_listed({"volume_type": None, "size_gb": None}, allowed) == {}
    assert allow_listed({"volume_type": {"a": 1}}, allowed) == {}


@pytest.mark.parametrize("kind", sorted(ML_CONFIG_ALLOWLIST))
def test_base_row_config_only_allow_listed_keys(kind):
    r = _canary_resource()
    junk = {"name": FREE_TEXT, "owner": EMAIL, "arn": ARN, "nested": {"x": IP}, "listy": [EMAIL]}
    r = Resource("aws", kind, r.resource_id, r.region, config={**junk})
    row = _row(resource=r)
    assert row["resource_config"] == {}
    assert set(row["resource_config"]) <= set(ML_CONFIG_ALLOWLIST[kind])


def test_base_row_unknown_kind_has_empty_config():
    r = Resource(
        "aws", "aws.unknown.thing", "x-1", "us-east-1", config={"volume_type": "gp3", "name": FREE_TEXT}
    )
    assert _row(resource=r)["resource_config"] == {}


# --- anonymize_tags --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("tags", "expected"),
    [
        ({"Env": "Production"}, {"environment": "prod"}),
        ({"Stage": "UAT"}, {"environment": "qa"}),
        ({"environment": "prd"}, {"environment": "prod"}),
        ({"ENV": " Staging "}, {"environment": "staging"}),
        ({"stage": "stg"}, {"environment": "staging"}),
        ({"Environment": "Disaster Recovery"}, {"environment": "dr"}),
        ({"Layer": "DB"}, {"tier": "db"}),
        ({"Role": "CI"}, {"purpose": "ci"}),
        ({"Priority": "Critical"}, {"criticality": "high"}),
        ({"Backup Policy": "Daily"}, {"backup": "required"}),
        ({"backup_policy": "no"}, {"backup": "none"}),
        ({"Lifecycle": "ephemeral"}, {"lifecycle": "temporary"}),
    ],
)
def test_anonymize_tags_synonyms(tags, expected):
    assert anonymize_tags(tags) == expected


def test_anonymize_tags_drops_unknown_keys():
    tags = {"owner": EMAIL, "Name": FREE_TEXT, "cost-center": "4711", "notes": "call me", "Env": "dev"}
    assert anonymize_tags(tags) == {"environment": "dev"}


@pytest.mark.parametrize("value", [ENV, EMAIL, IP, ARN, "prod-eu-1", "", "  ", "Prod!"])
def test_anonymize_tags_unknown_values_become_other(value):
    assert anonymize_tags({"environment": value}) == {"environment": "other"}


def test_anonymize_tags_empty():
    assert anonymize_tags({}) == {}


def test_synonyms_and_aliases_point_into_the_vocabulary():
    assert set(KEY_ALIASES.values()) <= set(TAG_VOCABULARY)
    all_values = set().union(*TAG_VOCABULARY.values())
    assert set(VALUE_SYNONYMS.values()) <= all_values


def _random_text(rng: random.Random) -> str:
    pool = [
        *KEY_ALIASES,
        *VALUE_SYNONYMS,
        *set().union(*TAG_VOCABULARY.values()),
        EMAIL,
        IP,
        ARN,
        FREE_TEXT,
        "Env",
        "ENVIRONMENT",
        "Stage",
        "Name",
        "owner",
    ]
    choice = rng.random()
    if choice < 0.3:
        word = rng.choice(pool)
        # random case and separators around a known word
        word = "".join(c.upper() if rng.random() < 0.5 else c for c in word)
        return rng.choice(["", " ", "_", ":"]) + word + rng.choice(["", " ", ".", "\t"])
    alphabet = string.printable + "éßü€\u200b\x00"
    return "".join(rng.choice(alphabet) for _ in range(rng.randint(0, 24)))


def test_anonymize_tags_fuzz_stays_in_vocabulary():
    rng = random.Random(20260601)
    for _ in range(3000):
        tags = {_random_text(rng): _random_text(rng) for _ in range(rng.randint(0, 6))}
        out = anonymize_tags(tags)
        assert set(out) <= set(TAG_VOCABULARY), tags
        for key, value in out.items():
            assert value in TAG_VOCABULARY[key] | {"other"}, (tags, out)
        assert list(out) == sorted(out)
