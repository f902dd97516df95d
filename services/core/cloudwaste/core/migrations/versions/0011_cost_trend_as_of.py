"""cost_trend_data.as_of: the time of the scan its waste level comes from (a later scan's wins)

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30 15:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("cost_trend_data", sa.Column("as_of", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("cost_trend_data", "as_of")
