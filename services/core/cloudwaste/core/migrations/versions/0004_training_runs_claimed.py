"""training runs are claimed by a training worker: pending state, activation, request id

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-30 05:30:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "training_runs", sa.Column("activate", sa.Boolean(), server_default=sa.text("true"), nullable=False)
    )
    op.add_column("training_runs", sa.Column("request_id", sa.String(length=128), nullable=True))
    op.add_column("training_runs", sa.Column("claimed_by", sa.String(length=128), nullable=True))
    op.add_column("training_runs", sa.Column("start_time", sa.DateTime(timezone=True), nullable=True))
    op.create_unique_constraint("training_runs_request_id_key", "training_runs", ["request_id"])
    op.create_index(
        "ix_training_runs_state_create_time", "training_runs", ["state", "create_time"], unique=False
    )


def downgrade() -> None:
    op.drop_index("ix_training_runs_state_create_time", table_name="training_runs")
    op.drop_constraint("training_runs_request_id_key", "training_runs", type_="unique")
    for column in ("start_time", "claimed_by", "request_id", "activate"):
        op.drop_column("training_runs", column)
