"""enrichment_runs.lease_expire_time: a running enrichment's lease, renewed by its worker; a run
whose lease lapsed lost its enricher and is queued again within a minute or two, not 15 minutes

Revision ID: 0026
Revises: 0025
"""

import sqlalchemy as sa
from alembic import op

revision = "0026"
down_revision = "0025"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("enrichment_runs", sa.Column("lease_expire_time", sa.DateTime(timezone=True), nullable=True))


def downgrade() -> None:
    op.drop_column("enrichment_runs", "lease_expire_time")
