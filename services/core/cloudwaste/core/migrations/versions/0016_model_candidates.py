"""model_versions.candidates and .algorithm: every candidate a training compared (its held-out
metrics, whether it was chosen) is stored with the version it produced, and the chosen one named

Revision ID: 0016
Revises: 0015
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0016"
down_revision = "0015"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "model_versions",
        sa.Column("candidates", postgresql.JSONB(), nullable=False, server_default=sa.text("'[]'::jsonb")),
    )
    op.add_column("model_versions", sa.Column("algorithm", sa.String(64), nullable=False, server_default=""))


def downgrade() -> None:
    op.drop_column("model_versions", "algorithm")
    op.drop_column("model_versions", "candidates")
