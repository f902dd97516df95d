"""training_runs.model_kind: a run trains one registered model kind (the waste model so far).

Revision ID: 0015
Revises: 0014
"""

import sqlalchemy as sa
from alembic import op

revision = "0015"
down_revision = "0014"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "training_runs",
        sa.Column("model_kind", sa.String(32), nullable=False, server_default=sa.text("'waste'")),
    )


def downgrade() -> None:
    op.drop_column("training_runs", "model_kind")
