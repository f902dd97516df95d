"""scan_runs.lease_expire_time: a running scan's lease, renewed by its worker; a run whose lease
lapsed lost its worker and ends FAILED within a lease, not hours later

Revision ID: 0021
Revises: 0020
"""

import sqlalchemy as sa
from alembic import op

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("scan_runs", sa.Column("lease_expire_time", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("scan_runs", "lease_expire_time")
