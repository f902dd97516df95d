"""The data quality report of an export: measured in PostgreSQL over the same rows the export
writes (one aggregate query, bounded memory), summarised as a score from 0 to 100.

score = 100 x (0.35 completeness + 0.15 uniqueness + 0.20 enrichment + 0.15 freshness + 0.15 balance)
- completeness: 1 - the mean empty share of the feature columns (`resource_age_days` is left out:
  an Elastic IP has no age, and "unknown" is a legitimate value there)
- uniqueness: 1 - the share of rows repeating another's (resource, rule, detection time)
- enrichment: the share of rows the enricher has completed
- freshness: 1 when the newest row is at most 7 days old, falling linearly to 0 at 30 days
- balance: how far the labels are from all one class: min(1, 2 x the minority label's share of the
  labeled rows); 0 without labels
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass, field

from sqlalchemy import text
from sqlalchemy.orm import Session

FEATURE_COLUMNS = (
    "provider",
    "resource_type",
    "region_group",
    "detection_scenario",
    "confidence_level",
    "cost_monthly",
    "resource_config",
    "tags_anonymized",
    "temporal_features",
)
WEIGHTS = {"completeness": 0.35, "uniqueness": 0.15, "enrichment": 0.20, "freshness": 0.15, "balance": 0.15}
FRESH_DAYS, STALE_DAYS = 7.0, 30.0


@dataclass(frozen=True)
class QualityReport:
    score: float
    row_count: int
    null_share: dict[str, float]
    duplicate_share: float
    labeled_share: float
    deleted_share_of_labeled: float
    enriched_share: float
    freshness_days: float
    schema_changes: list[str] = field(default_factory=list)
    columns: list[str] = field(default_factory=list)

    def to_json(self) -> dict:
        return asdict(self)


def score(
    *,
    null_share: dict[str, float],
    duplicate_share: float,
    enriched_share: float,
    freshness_days: float,
    labeled: int,
    deleted: int,
) -> float:
    completeness = 1.0 - (sum(null_share.values()) / len(null_share) if null_share else 0.0)
    freshness = min(1.0, max(0.0, (STALE_DAYS - freshness_days) / (STALE_DAYS - FRESH_DAYS)))
    balance = min(1.0, 2.0 * min(deleted, labeled - deleted) / labeled) if labeled else 0.0
    parts = {
        "completeness": completeness,
        "uniqueness": 1.0 - duplicate_share,
        "enrichment": enriched_share,
        "freshness": freshness,
        "balance": balance,
    }
    return round(100.0 * sum(WEIGHTS[k] * v for k, v in parts.items()), 1)


def measure(
    session: Session,
    *,
    where: str,
    columns: list[str],
    previous_columns: list[str] | None,
    now: dt.datetime,
) -> QualityReport:
    """The report for the rows of `ml_training_data` an export takes: those matching `where`, SQL
    the exporter builds itself (export.rows_where), never request text."""
    nulls = ", ".join(f"count(*) FILTER (WHERE {c} IS NULL) AS null_{c}" for c in FEATURE_COLUMNS)
    row = (
        session.execute(
            text(
                f"SELECT count(*) AS n, {nulls}, "
                "count(*) - count(DISTINCT (resource_hash, detection_scenario, detected_at)) AS dupes, "
                "count(*) FILTER (WHERE user_action IS NOT NULL) AS labeled, "
                "count(*) FILTER (WHERE user_action = 'deleted') AS deleted, "
                "count(*) FILTER (WHERE enriched_at IS NOT NULL) AS enriched, "
                f"max(detected_at) AS newest FROM ml_training_data WHERE {where}"
            )
        )
        .mappings()
        .one()
    )
    n = row["n"]
    share = (lambda k: row[k] / n) if n else (lambda k: 0.0)
    null_share = {c: round(share(f"null_{c}"), 6) for c in FEATURE_COLUMNS}
    freshness = (now - row["newest"]).total_seconds() / 86400.0 if row["newest"] else float("inf")
    changes = []
    if previous_columns is not None:
        changes = [f"+{c}" for c in columns if c not in previous_columns]
        changes += [f"-{c}" for c in previous_columns if c not in columns]
    values = {
        "null_share": null_share,
        "duplicate_share": round(share("dupes"), 6),
        "enriched_share": round(share("enriched"), 6),
        "freshness_days": round(freshness, 3) if freshness != float("inf") else -1.0,
    }
    return QualityReport(
        score=score(
            **{**values, "freshness_days": freshness},
            labeled=row["labeled"],
            deleted=row["deleted"],
        ),
        row_count=n,
        labeled_share=round(share("labeled"), 6),
        deleted_share_of_labeled=round(row["deleted"] / row["labeled"], 6) if row["labeled"] else 0.0,
        schema_changes=changes,
        columns=list(columns),
        **values,
    )
