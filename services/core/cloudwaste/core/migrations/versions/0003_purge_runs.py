"""purge_runs: the retention audit record; the data quality report of each export

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-30 05:00:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0003"
down_revision = "0002"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "purge_runs",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("state", sa.String(length=16), nullable=False),
        sa.Column("dry_run", sa.Boolean(), nullable=False),
        sa.Column("ml_retention_days", sa.Integer(), nullable=False),
        sa.Column("export_retention_days", sa.Integer(), nullable=False),
        sa.Column("ml_cutoff_time", sa.DateTime(timezone=True), nullable=False),
        sa.Column("ml_partitions_dropped", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("ml_rows_removed", sa.BigInteger(), nullable=False),
        sa.Column("ml_partitions_created", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("export_runs_removed", sa.BigInteger(), nullable=False),
        sa.Column("export_files_removed", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("error_message", sa.Text(), nullable=True),
        sa.Column("create_time", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.Column("end_time", sa.DateTime(timezone=True), nullable=True),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_purge_runs_create_time", "purge_runs", ["create_time", "id"], unique=False)
    op.add_column("export_runs", sa.Column("quality", postgresql.JSONB(astext_type=sa.Text()), nullable=True))


def downgrade() -> None:
    op.drop_column("export_runs", "quality")
    op.drop_index("ix_purge_runs_create_time", table_name="purge_runs")
    op.drop_table("purge_runs")
