"""purge_runs.shadow_predictions_removed, and the index the monthly purge deletes old shadow
predictions by (they are kept as long as scan runs: the evaluation of a pair reads recent traffic)

Revision ID: 0019
Revises: 0018
"""

import sqlalchemy as sa
from alembic import op

revision = "0019"
down_revision = "0018"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "purge_runs",
        sa.Column("shadow_predictions_removed", sa.BigInteger(), nullable=False, server_default="0"),
    )
    op.create_index("ix_shadow_predictions_create_time", "shadow_predictions", ["create_time"])


def downgrade() -> None:
    op.drop_index("ix_shadow_predictions_create_time", table_name="shadow_predictions")
    op.drop_column("purge_runs", "shadow_predictions_removed")
