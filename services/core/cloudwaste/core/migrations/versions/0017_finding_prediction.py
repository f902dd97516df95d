"""findings.waste_probability, .expected_monthly_saving and .prediction: what the waste model said of
a finding when its last scan ended (null: not scored), and the index ListFindings pages by when it
orders by expected saving (unscored findings last)

Revision ID: 0017
Revises: 0016
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0017"
down_revision = "0016"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("findings", sa.Column("waste_probability", sa.Double(), nullable=True))
    op.add_column("findings", sa.Column("expected_monthly_saving", sa.Numeric(14, 4), nullable=True))
    op.add_column("findings", sa.Column("prediction", postgresql.JSONB(), nullable=True))
    op.create_index(
        "ix_findings_saving",
        "findings",
        [sa.text("coalesce(expected_monthly_saving, -1) DESC"), sa.text("id DESC")],
    )


def downgrade() -> None:
    op.drop_index("ix_findings_saving", table_name="findings")
    op.drop_column("findings", "prediction")
    op.drop_column("findings", "expected_monthly_saving")
    op.drop_column("findings", "waste_probability")
