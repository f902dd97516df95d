"""Request ids (AIP-155) on the scanner's creates: cloud_accounts.request_id and
scan_runs.request_id, unique, so that a retried CreateCloudAccount or StartScan returns what the
first call made

Revision ID: 0020
Revises: 0019
"""

import sqlalchemy as sa
from alembic import op

revision = "0020"
down_revision = "0019"
branch_labels = None
depends_on = None


def upgrade() -> None:
    for table in ("cloud_accounts", "scan_runs"):
        op.add_column(table, sa.Column("request_id", sa.String(128), nullable=True))
        op.create_unique_constraint(f"{table}_request_id_key", table, ["request_id"])


def downgrade() -> None:
    for table in ("cloud_accounts", "scan_runs"):
        op.drop_constraint(f"{table}_request_id_key", table, type_="unique")
        op.drop_column(table, "request_id")
