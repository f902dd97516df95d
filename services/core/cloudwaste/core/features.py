"""The waste model's features, defined once for training and serving.

Both paths build the same raw feature row; the ONNX graph holds the encoding (one-hot, scaling),
so a caller of PredictWaste sends raw fields and never an encoded vector.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from cloudwaste.core.privacy import anonymize_tags
from cloudwaste.core.regions import region_group

FEATURE_SPEC_VERSION = 1


@dataclass(frozen=True)
class FeatureSpec:
    categorical: tuple[str, ...]
    numeric: tuple[str, ...]

    @property
    def names(self) -> tuple[str, ...]:
        return self.categorical + self.numeric

    def to_json(self) -> dict:
        return {
            "version": FEATURE_SPEC_VERSION,
            "categorical": list(self.categorical),
            "numeric": list(self.numeric),
        }


WASTE_FEATURES = FeatureSpec(
    categorical=(
        "provider",
        "resource_type",
        "region_group",
        "detection_scenario",
        "confidence_level",
        "tag_environment",
        "tag_criticality",
        "tag_backup",
        "tag_lifecycle",
    ),
    numeric=("resource_age_days", "cost_monthly", "confidence_score"),
)

CONFIDENCE_SCORE = {"LOW": 1.0, "MEDIUM": 2.0, "HIGH": 3.0}
MISSING = "unset"  # not "none": that is a real value of the backup tag


def waste_row(
    *,
    provider: str,
    resource_type: str,
    region_group_name: str,
    detection_scenario: str,
    confidence_level: str,
    resource_age_days: float | None,
    cost_monthly: float,
    tags_anonymized: Mapping[str, str] | None,
) -> dict[str, object]:
    """One raw feature row from already-anonymized values (what an ML table holds)."""
    tags = tags_anonymized or {}
    conf = (confidence_level or "").upper()
    return {
        "provider": (provider or MISSING).lower(),
        "resource_type": resource_type or MISSING,
        "region_group": region_group_name or "unknown",
        "detection_scenario": detection_scenario or MISSING,
        "confidence_level": conf or MISSING,
        "tag_environment": tags.get("environment", MISSING),
        "tag_criticality": tags.get("criticality", MISSING),
        "tag_backup": tags.get("backup", MISSING),
        "tag_lifecycle": tags.get("lifecycle", MISSING),
        "resource_age_days": float(resource_age_days) if resource_age_days is not None else -1.0,
        "cost_monthly": float(cost_monthly or 0.0),
        "confidence_score": CONFIDENCE_SCORE.get(conf, 0.0),
    }


def waste_row_from_raw(
    *,
    provider: str,
    resource_type: str,
    region: str,
    detection_scenario: str,
    confidence_level: str,
    resource_age_days: float | None,
    cost_monthly: float,
    tags: Mapping[str, str],
) -> dict[str, object]:
    """The serving path: raw fields from a caller, anonymized exactly as the ML tables are."""
    return waste_row(
        provider=provider,
        resource_type=resource_type,
        region_group_name=region_group(provider, region),
        detection_scenario=detection_scenario,
        confidence_level=confidence_level,
        resource_age_days=resource_age_days,
        cost_monthly=cost_monthly,
        tags_anonymized=anonymize_tags(tags),
    )
