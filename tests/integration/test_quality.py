"""The quality report measured in PostgreSQL over the rows an export contains."""

from __future__ import annotations

import datetime as dt
import uuid

import sqlalchemy as sa
from cloudwaste.core import partitions
from cloudwaste.core.db import Database
from cloudwaste.exporter.quality import measure

NOW = dt.datetime.now(dt.UTC)


def test_report_counts_nulls_duplicates_labels_enrichment_freshness_and_drift(database_url):
    engine = sa.create_engine(database_url)
    at = NOW - dt.timedelta(days=2)
    month = partitions.month_of(at)
    rows = [  # (resource, action, enriched, tags)
        ("r1", "deleted", True, "{}"),
        ("r2", "kept", True, "{}"),
        ("r3", None, False, None),
        ("r3", None, False, None),  # the same resource, rule and time again: a duplicate
    ]
    with engine.begin() as c:
        c.execute(
            sa.text(
                f"CREATE TABLE IF NOT EXISTS {month.name} PARTITION OF ml_training_data "
                f"FOR VALUES FROM ('{month.start.isoformat()}') TO ('{month.end.isoformat()}')"
            )
        )
        for rid, action, enriched, tags in rows:
            c.execute(
                sa.text(
                    "INSERT INTO ml_training_data (id, detected_at, schema_version, hash_key_id, resource_hash, "
                    "account_hash, tenant_hash, provider, resource_type, region_group, detection_scenario, "
                    "confidence_level, cost_monthly, resource_config, tags_anonymized, user_action, enriched_at) "
                    "VALUES (:id, :at, 2, 'k', :rid, 'a', 't', 'aws', 'aws.ec2.volume', 'eu', 'ebs-volume-unattached', "
                    "'HIGH', 1, '{}', CAST(:tags AS jsonb), :action, :enriched)"
                ),
                {
                    "id": uuid.uuid4(),
                    "at": at,
                    "rid": rid,
                    "tags": tags,
                    "action": action,
                    "enriched": NOW if enriched else None,
                },
            )
    engine.dispose()
    db = Database(database_url)
    with db.transaction() as s:
        everything = measure(s, where="TRUE", columns=["a", "b"], previous_columns=["a", "c"], now=NOW)
        labeled = measure(
            s, where="user_action IS NOT NULL", columns=["a", "b"], previous_columns=None, now=NOW
        )
    db.dispose()
    assert everything.row_count == 4 and labeled.row_count == 2
    assert (
        everything.null_share["tags_anonymized"] == 0.5 and everything.null_share["temporal_features"] == 1.0
    )
    assert everything.duplicate_share == 0.25 and labeled.duplicate_share == 0.0
    assert everything.labeled_share == 0.5 and everything.deleted_share_of_labeled == 0.5
    assert everything.enriched_share == 0.5 and labeled.enriched_share == 1.0
    assert 1.99 < everything.freshness_days < 2.01
    assert everything.schema_changes == ["+b", "-c"] and labeled.schema_changes == []
    assert 0 < everything.score < labeled.score <= 100
