"""export runs are claimed by the export worker: pending state, progress, request id

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-30 06:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "export_runs", sa.Column("rows_written", sa.BigInteger(), server_default="0", nullable=False)
    )
    op.add_column("export_runs", sa.Column("rows_total", sa.BigInteger(), server_default="0", nullable=False))
    op.add_column("export_runs", sa.Column("request_id", sa.String(length=128), nullable=True))
    op.add_column("export_runs", sa.Column("claimed_by", sa.String(length=128), nullable=True))
    op.add_column("export_runs", sa.Column("start_time", sa.DateTime(timezone=True), nullable=True))
    op.create_unique_constraint("export_runs_request_id_key", "export_runs", ["request_id"])
    op.create_index("ix_export_runs_state_create_time", "export_runs", ["state", "create_time"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_export_runs_state_create_time", table_name="export_runs")
    op.drop_constraint("export_runs_request_id_key", "export_runs", type_="unique")
    for column in ("start_time", "claimed_by", "request_id", "rows_total", "rows_written"):
        op.drop_column("export_runs", column)
