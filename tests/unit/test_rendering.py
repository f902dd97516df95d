"""A finding's stored rendering (findings.listed_pb) is what scanner.rendering made when the finding
was last written. A change to what it makes leaves every stored rendering stale, and nothing in the
database would notice: this digest of a fixed finding's rendering changes with it, and says what
else the change needs."""

from __future__ import annotations

import datetime as dt
import hashlib
import uuid
from decimal import Decimal

from cloudwaste.scanner import rendering
from cloudwaste.scanner.v1 import finding_pb2

AT = dt.datetime(2026, 11, 30, 12, 34, 56, 789012, tzinfo=dt.UTC)
ROW = {
    "id": uuid.UUID("00000000-0000-4000-8000-000000000001"),
    "resource_id": "vol-0123456789abcdef0",
    "resource_type": "aws.ec2.volume",
    "provider": "aws",
    "region": "eu-west-1",
    "location": "eu-west-1",
    "scenario": "ebs-volume-unattached",
    "severity": "MEDIUM",
    "confidence": "HIGH",
    "state": "IGNORED",
    "monthly_cost": Decimal("12.3457"),
    "currency": "USD",
    "evidence": {"days_unattached": 41, "size_gib": 100.5, "volume_type": "gp3"},
    "event_time": AT,
    "create_time": AT - dt.timedelta(days=3),
    "last_scan_run_id": uuid.UUID("00000000-0000-4000-8000-000000000002"),
    "cloud_account_id": uuid.UUID("00000000-0000-4000-8000-000000000003"),
    "resource_display_name": "old-backup",
    "state_change_time": AT - dt.timedelta(days=1),
    "resource_create_time": AT - dt.timedelta(days=90),
    "tags": {"team": "data", "env": "prod"},
    "version": 3,
    "resolve_reason": None,
    "resolve_scan_run_id": None,
    "ignore_expire_time": AT + dt.timedelta(days=30),
    "parent_finding_id": uuid.UUID("00000000-0000-4000-8000-000000000004"),
    "observation_count": 7,
    "waste_probability": 0.8125,
    "expected_monthly_saving": Decimal("10.0309"),
    "prediction": {
        "model_version": "models/waste/versions/2",
        "predict_time": AT.isoformat(),
        "top_features": [["days_unattached", "41", 0.31]],
    },
}
DIGEST = "5109ac5f5f457d8ca59146f8e4272ce888cbe4a6e2557d0b4c4521a53a5a0c84"


def test_the_stored_rendering_of_a_finding_has_not_changed():
    stored = rendering.listed_pb(rendering.written(ROW))
    digest = hashlib.sha256(
        finding_pb2.Finding.FromString(stored).SerializeToString(deterministic=True)
    ).hexdigest()
    assert digest == DIGEST, (
        f"what scanner.rendering makes of a finding changed (digest {digest}): every stored "
        "rendering is now stale. Add a migration that sets findings.listed_pb to NULL (pages render "
        "those findings from their columns, and idle scanners store them again), then set DIGEST."
    )


def test_the_parts_cost_appended_to_a_stored_rendering_is_the_one_field_it_sets():
    stored = rendering.listed_pb(rendering.written(ROW))
    shown = finding_pb2.Finding.FromString(rendering.with_parts(stored, Decimal("4.5"), "USD"))
    assert shown.parts_monthly_cost.units == 4 and shown.parts_monthly_cost.nanos == 500_000_000
    shown.ClearField("parts_monthly_cost")
    assert shown == finding_pb2.Finding.FromString(stored)
    assert rendering.with_parts(stored, None, "USD") is stored
