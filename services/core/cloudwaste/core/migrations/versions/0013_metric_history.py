"""Metric history: the series read for each ML row once its scan ended travel in its hand-off
(enrichment_inputs.metric_history, found by resource_kind and resource_id), and cloudwatch_metrics_history keeps one row per resource hash,
metric and statistic (the latest window) with its max and share of missing points

Revision ID: 0013
Revises: 0012
Create Date: 2026-11-30 15:40:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0013"
down_revision = "0012"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("enrichment_inputs", sa.Column("resource_kind", sa.String(length=64), nullable=True))
    op.add_column("enrichment_inputs", sa.Column("resource_id", sa.Text(), nullable=True))
    op.add_column(
        "enrichment_inputs", sa.Column("metric_history", postgresql.JSONB(astext_type=sa.Text()), nullable=True)
    )
    op.add_column("cloudwatch_metrics_history", sa.Column("stat", sa.String(length=32), nullable=True))
    op.add_column("cloudwatch_metrics_history", sa.Column("max", sa.Double(), nullable=True))
    op.add_column("cloudwatch_metrics_history", sa.Column("missing_share", sa.Double(), nullable=True))
    # nothing wrote the table before: no duplicates to fold
    op.create_unique_constraint(
        "uq_cloudwatch_metrics_history_resource_metric",
        "cloudwatch_metrics_history",
        ["resource_hash", "namespace", "metric_name", "stat"],
    )


def downgrade() -> None:
    op.drop_constraint("uq_cloudwatch_metrics_history_resource_metric", "cloudwatch_metrics_history", type_="unique")
    op.drop_column("cloudwatch_metrics_history", "missing_share")
    op.drop_column("cloudwatch_metrics_history", "max")
    op.drop_column("cloudwatch_metrics_history", "stat")
    op.drop_column("enrichment_inputs", "metric_history")
    op.drop_column("enrichment_inputs", "resource_id")
    op.drop_column("enrichment_inputs", "resource_kind")
