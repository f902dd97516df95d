"""ix_findings_account_page: an account's findings in ListFindings' order, so that a page of one
account's findings reads that account's rows only, from the page token's position

Revision ID: 0024
Revises: 0023
"""

from alembic import op

revision = "0024"
down_revision = "0023"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_findings_account_page", "findings", ["cloud_account_id", "create_time", "id"])


def downgrade() -> None:
    op.drop_index("ix_findings_account_page", table_name="findings")
