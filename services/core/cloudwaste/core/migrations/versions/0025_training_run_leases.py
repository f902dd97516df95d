"""training_runs.lease_expire_time: a running training's lease, renewed by its worker; a training
whose lease lapsed lost its worker and ends FAILED within minutes, not hours later

Revision ID: 0025
Revises: 0024
"""

import sqlalchemy as sa
from alembic import op

revision = "0025"
down_revision = "0024"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("training_runs", sa.Column("lease_expire_time", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("training_runs", "lease_expire_time")
