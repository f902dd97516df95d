"""purge runs are claimed by the exporter's worker; runs record a google.rpc.Code with their error

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30 07:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

RUN_TABLES = ("scan_runs", "enrichment_runs", "export_runs", "purge_runs", "training_runs")


def upgrade() -> None:
    op.add_column(
        "purge_runs", sa.Column("partitions_ahead", sa.Integer(), server_default="3", nullable=False)
    )
    op.add_column("purge_runs", sa.Column("request_id", sa.String(length=128), nullable=True))
    op.add_column("purge_runs", sa.Column("claimed_by", sa.String(length=128), nullable=True))
    op.add_column("purge_runs", sa.Column("start_time", sa.DateTime(timezone=True), nullable=True))
    op.create_unique_constraint("purge_runs_request_id_key", "purge_runs", ["request_id"])
    op.create_index("ix_purge_runs_state_create_time", "purge_runs", ["state", "create_time"], unique=False)
    for table in RUN_TABLES:
        # the google.rpc.Code of a FAILED run (error_message is its message)
        op.add_column(table, sa.Column("error_code", sa.Integer(), nullable=True))


def downgrade() -> None:
    for table in RUN_TABLES:
        op.drop_column(table, "error_code")
    op.drop_index("ix_purge_runs_state_create_time", table_name="purge_runs")
    op.drop_constraint("purge_runs_request_id_key", "purge_runs", type_="unique")
    for column in ("start_time", "claimed_by", "request_id", "partitions_ahead"):
        op.drop_column("purge_runs", column)
