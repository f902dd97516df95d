"""incremental, month-partitioned exports: ml_training_data.changed_at (kept by a trigger) and the
export window and files on export_runs; retention of findings and scan runs recorded on purge_runs

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-30 07:00:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0007"
down_revision = "0006"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # now() as a default is evaluated once here: adding the column rewrites nothing. Rows that
    # exist become "changed at the migration": the first export after it takes them all.
    op.add_column(
        "ml_training_data",
        sa.Column("changed_at", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    )
    # now() is the writing transaction's start: the export's watermark (exporter/export.py) relies
    # on a row never being committed with a changed_at older than the oldest open transaction.
    op.execute(
        """
        CREATE FUNCTION cloudwaste_ml_row_changed() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            IF ROW(NEW.*) IS DISTINCT FROM ROW(OLD.*) THEN
                NEW.changed_at := now();
            END IF;
            RETURN NEW;
        END $$
        """
    )
    op.execute(
        "CREATE TRIGGER ml_row_changed BEFORE UPDATE ON ml_training_data "
        "FOR EACH ROW EXECUTE FUNCTION cloudwaste_ml_row_changed()"
    )
    op.add_column(
        "export_runs",
        sa.Column("files", postgresql.JSONB(), server_default=sa.text("'[]'::jsonb"), nullable=False),
    )
    op.add_column("export_runs", sa.Column("changed_after", sa.DateTime(timezone=True), nullable=True))
    op.add_column("export_runs", sa.Column("changed_before", sa.DateTime(timezone=True), nullable=True))
    op.add_column(
        "export_runs", sa.Column("full_export", sa.Boolean(), server_default=sa.text("false"), nullable=False)
    )
    op.add_column("export_runs", sa.Column("previous_export_id", sa.UUID(), nullable=True))
    # retention of the scanner's operational data, recorded by the purge
    op.create_index(
        "ix_findings_resolved_time",
        "findings",
        ["state_change_time"],
        postgresql_where=sa.text("state = 'RESOLVED'"),
    )
    op.add_column("purge_runs", sa.Column("finding_retention_days", sa.Integer(), nullable=True))
    op.add_column("purge_runs", sa.Column("scan_run_retention_days", sa.Integer(), nullable=True))
    for column in (
        "findings_removed",
        "observations_removed",
        "scan_runs_removed",
        "enrichment_runs_removed",
    ):
        op.add_column("purge_runs", sa.Column(column, sa.BigInteger(), server_default="0", nullable=False))


def downgrade() -> None:
    for column in (
        "enrichment_runs_removed",
        "scan_runs_removed",
        "observations_removed",
        "findings_removed",
        "scan_run_retention_days",
        "finding_retention_days",
    ):
        op.drop_column("purge_runs", column)
    op.drop_index("ix_findings_resolved_time", table_name="findings")
    for column in ("previous_export_id", "full_export", "changed_before", "changed_after", "files"):
        op.drop_column("export_runs", column)
    op.execute("DROP TRIGGER ml_row_changed ON ml_training_data")
    op.execute("DROP FUNCTION cloudwaste_ml_row_changed()")
    op.drop_column("ml_training_data", "changed_at")
