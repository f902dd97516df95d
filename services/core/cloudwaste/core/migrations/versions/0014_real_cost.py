"""Real cost: what the account's bill says travels in the hand-off (scan_handoffs: where it was
read from, or why it could not be, and the account's monthly spend; enrichment_inputs.cost_daily:
the resource's cost per day), and each ML row says where its real cost came from, or why it has
none (cost_real_source / cost_real_missing: a reason, never a zero)

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30 17:50:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0014"
down_revision = "0013"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("scan_handoffs", sa.Column("cost_source", sa.String(length=32), nullable=True))
    op.add_column("scan_handoffs", sa.Column("cost_missing", sa.String(length=32), nullable=True))
    op.add_column("scan_handoffs", sa.Column("cost_note", sa.Text(), nullable=True))
    op.add_column("scan_handoffs", sa.Column("cost_window_start", sa.Date(), nullable=True))
    op.add_column("scan_handoffs", sa.Column("cost_window_end", sa.Date(), nullable=True))
    op.add_column(
        "scan_handoffs", sa.Column("account_spend", postgresql.JSONB(astext_type=sa.Text()), nullable=True)
    )
    op.add_column(
        "enrichment_inputs", sa.Column("cost_daily", postgresql.JSONB(astext_type=sa.Text()), nullable=True)
    )
    op.add_column(
        "enrichment_inputs",
        sa.Column("cost_unread", sa.Boolean(), server_default=sa.text("false"), nullable=False),
    )
    op.add_column("ml_training_data", sa.Column("cost_real_source", sa.String(length=32), nullable=True))
    op.add_column("ml_training_data", sa.Column("cost_real_missing", sa.String(length=32), nullable=True))


def downgrade() -> None:
    op.drop_column("ml_training_data", "cost_real_missing")
    op.drop_column("ml_training_data", "cost_real_source")
    op.drop_column("enrichment_inputs", "cost_unread")
    op.drop_column("enrichment_inputs", "cost_daily")
    for column in ("account_spend", "cost_window_end", "cost_window_start", "cost_note", "cost_missing", "cost_source"):
        op.drop_column("scan_handoffs", column)
