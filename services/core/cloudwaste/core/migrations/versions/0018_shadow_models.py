"""model_versions.shadow and shadow_predictions: a version scored beside the active one on live
requests (at most one per kind), and what both said of each row

Revision ID: 0018
Revises: 0017
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0018"
down_revision = "0017"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column(
        "model_versions", sa.Column("shadow", sa.Boolean(), nullable=False, server_default=sa.false())
    )
    op.create_index(
        "ux_model_versions_one_shadow",
        "model_versions",
        ["model_kind"],
        unique=True,
        postgresql_where=sa.text("shadow"),
    )
    op.create_table(
        "shadow_predictions",
        sa.Column("id", sa.BigInteger(), primary_key=True, autoincrement=True),
        sa.Column("model_kind", sa.String(32), nullable=False),
        sa.Column("active_version", sa.Integer(), nullable=False),
        sa.Column("shadow_version", sa.Integer(), nullable=False),
        sa.Column("active_probability", sa.Double(), nullable=False),
        sa.Column("shadow_probability", sa.Double(), nullable=False),
        sa.Column("finding_id", postgresql.UUID(as_uuid=True), nullable=True),
        sa.Column("create_time", sa.DateTime(timezone=True), nullable=False, server_default=sa.func.now()),
    )
    op.create_index(
        "ix_shadow_predictions_pair", "shadow_predictions", ["model_kind", "shadow_version", "active_version"]
    )


def downgrade() -> None:
    op.drop_index("ix_shadow_predictions_pair", table_name="shadow_predictions")
    op.drop_table("shadow_predictions")
    op.drop_index("ux_model_versions_one_shadow", table_name="model_versions")
    op.drop_column("model_versions", "shadow")
