"""erasure_runs: the audit record of each GDPR erasure of a tenant's ML rows

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30 08:00:00
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "erasure_runs",
        sa.Column("id", sa.UUID(), nullable=False),
        sa.Column("tenant_hashes", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("ml_rows_deleted", sa.BigInteger(), nullable=False),
        sa.Column("exports_to_rewrite", postgresql.JSONB(astext_type=sa.Text()), nullable=False),
        sa.Column("create_time", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_erasure_runs_create_time", "erasure_runs", ["create_time", "id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_erasure_runs_create_time", table_name="erasure_runs")
    op.drop_table("erasure_runs")
