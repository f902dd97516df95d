"""export_runs.lease_expire_time: a running export's lease, renewed by its worker; an export whose
lease lapsed lost its exporter and ends FAILED (its files withdrawn, its temporary files swept)
within minutes, not hours later

Revision ID: 0023
Revises: 0022
"""

import sqlalchemy as sa
from alembic import op

revision = "0023"
down_revision = "0022"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("export_runs", sa.Column("lease_expire_time", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("export_runs", "lease_expire_time")
