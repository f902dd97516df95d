"""Training and serving build the same feature row for one finding.

Training path: the scanner's base ML row (mlrows.base_row) + the enricher's anonymized tags, as the
export carries them -> features.waste_row. Serving path: the Finding the scanner returns
(servicer.finding_pb) -> predictor.client.waste_features -> PredictWaste's validation
(predictor.servicer.features_row). Both must give the same row, including an unknown age.
"""

from __future__ import annotations

import datetime as dt
import uuid
from decimal import Decimal
from types import SimpleNamespace

import pytest
from cloudwaste.core.features import waste_row
from cloudwaste.core.settings import HashKey
from cloudwaste.enricher.features import anonymize_tags
from cloudwaste.predictor.client import waste_features
from cloudwaste.predictor.servicer import features_row
from cloudwaste.scanner.domain import Detection, FindingDraft, Resource
from cloudwaste.scanner.mlrows import base_row
from cloudwaste.scanner.servicer import finding_pb

NOW = dt.datetime(2026, 6, 1, 12, tzinfo=dt.UTC)
TAGS = {"Name": "db-backup-jane@example.com", "env": "Production", "Criticality": "HIGH", "backup": "none"}


def _both_paths(resource: Resource, detection: Detection) -> tuple[dict, dict]:
    draft = FindingDraft(resource, detection, "MEDIUM")
    ml = base_row(
        draft, key=HashKey(b"k" * 32, "k1"), tenant_id="t", account_ref="123456789012", detected_at=NOW
    )
    training = waste_row(
        provider=ml["provider"],
        resource_type=ml["resource_type"],
        region_group_name=ml["region_group"],
        detection_scenario=ml["detection_scenario"],
        confidence_level=ml["confidence_level"],
        resource_age_days=ml["resource_age_days"],
        cost_monthly=ml["cost_monthly"],
        tags_anonymized=anonymize_tags(resource.tags),
    )
    stored = SimpleNamespace(  # the findings row as the scanner stores it after this scan
        id=uuid.uuid4(),
        cloud_account_id=uuid.uuid4(),
        last_scan_run_id=uuid.uuid4(),
        provider=resource.provider,
        resource_id=resource.resource_id,
        resource_type=resource.kind,
        resource_display_name=resource.name,
        region=resource.region,
        scenario=detection.scenario,
        severity="MEDIUM",
        confidence=detection.confidence,
        state="OPEN",
        version=1,
        monthly_cost=detection.monthly_cost,
        currency="USD",
        evidence=detection.evidence,
        tags=resource.tags,
        resource_create_time=resource.created_at,
        event_time=NOW,
        create_time=NOW,
        state_change_time=None,
        ignore_expire_time=None,
        resolve_reason=None,
        resolve_scan_run_id=None,
        parent_finding_id=None,
        observation_count=1,
    )
    serving = features_row(waste_features(finding_pb(stored)), "features")
    return training, serving


@pytest.mark.parametrize("created", [NOW - dt.timedelta(days=41, hours=3), None])
def test_one_finding_gives_the_same_row_for_training_and_serving(created):
    resource = Resource("aws", "aws.ec2.volume", "vol-0abc", "eu-west-1", "db-backup", TAGS, created)
    detection = Detection("ebs-volume-unattached", "HIGH", Decimal("12.3456"), {"size_gb": 100})
    training, serving = _both_paths(resource, detection)
    assert serving == pytest.approx(training)
    assert training["resource_age_days"] == (pytest.approx(41.125, abs=1e-3) if created else -1.0)
