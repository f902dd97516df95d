"""findings.location: where the resource is within its scope (an Azure location, a GCP zone...)

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30 12:00:00
"""

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # nullable, no default: adding it rewrites nothing; findings saved before stay NULL until seen
    op.add_column("findings", sa.Column("location", sa.String(length=64), nullable=True))


def downgrade() -> None:
    op.drop_column("findings", "location")
