"""The scanner's hand-off to the enricher: scan_handoffs (a scan run exists, and how it ended) and
enrichment_inputs (each ML row a scan wrote, with its raw tags and creation time), so that the
enricher reads no other table of the scanner's. Filled from the scan runs and observations already
there.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30 15:20:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scan_handoffs",
        sa.Column("scan_run_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("scan_state", sa.String(length=32), nullable=True),
        sa.Column("end_time", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["scan_run_id"], ["scan_runs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("scan_run_id"),
    )
    op.create_table(
        "enrichment_inputs",
        sa.Column("id", sa.BigInteger(), autoincrement=True, nullable=False),
        sa.Column("scan_run_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("ml_row_id", postgresql.UUID(as_uuid=True), nullable=False),
        sa.Column("ml_row_detected_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("tags", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("resource_create_time", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["scan_run_id"], ["scan_runs.id"], ondelete="CASCADE"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index(op.f("ix_enrichment_inputs_scan_run_id"), "enrichment_inputs", ["scan_run_id"], unique=False)
    op.execute(
        """
        INSERT INTO scan_handoffs (scan_run_id, scan_state, end_time)
        SELECT id, CASE WHEN state IN ('SUCCEEDED', 'PARTIALLY_SUCCEEDED', 'FAILED') THEN state END,
               CASE WHEN state IN ('SUCCEEDED', 'PARTIALLY_SUCCEEDED', 'FAILED') THEN end_time END
        FROM scan_runs
        """
    )
    op.execute(
        """
        INSERT INTO enrichment_inputs (scan_run_id, ml_row_id, ml_row_detected_at, tags, resource_create_time)
        SELECT o.scan_run_id, o.ml_row_id, o.ml_row_detected_at, COALESCE(f.tags, '{}'::jsonb), f.resource_create_time
        FROM finding_observations o JOIN findings f ON f.id = o.finding_id
        WHERE o.ml_row_id IS NOT NULL
        """
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_enrichment_inputs_scan_run_id"), table_name="enrichment_inputs")
    op.drop_table("enrichment_inputs")
    op.drop_table("scan_handoffs")
