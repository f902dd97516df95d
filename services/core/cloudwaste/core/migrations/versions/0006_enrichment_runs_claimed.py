"""enrichment runs are claimed by the enrichment worker: claimer, start and end times

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-01 06:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("enrichment_runs", sa.Column("claimed_by", sa.String(length=128), nullable=True))
    op.add_column("enrichment_runs", sa.Column("start_time", sa.DateTime(timezone=True), nullable=True))
    op.add_column("enrichment_runs", sa.Column("end_time", sa.DateTime(timezone=True), nullable=True))
    op.create_index(
        "ix_enrichment_runs_state_create_time", "enrichment_runs", ["state", "create_time"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_enrichment_runs_state_create_time", table_name="enrichment_runs")
    for column in ("end_time", "start_time", "claimed_by"):
        op.drop_column("enrichment_runs", column)
