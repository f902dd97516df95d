"""findings.listed_pb: each finding's Finding message as ListFindings shows it, serialized at
write time by the scanner; a trigger clears it when an UPDATE changes the finding without writing
a new one, so that a page renders that finding from its columns instead of showing a stale one;
ix_findings_account_state includes ignore_expire_time, so that counting an account's OPEN findings
(expired ignores count as OPEN) reads the index alone

Revision ID: 0028
Revises: 0027
"""

import sqlalchemy as sa
from alembic import op

revision = "0028"
down_revision = "0027"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.add_column("findings", sa.Column("listed_pb", sa.LargeBinary(), nullable=True))
    # the findings an idle scanner renders (ScannerStore.render_unrendered): every one at first
    op.create_index(
        "ix_findings_unrendered", "findings", ["id"], postgresql_where=sa.text("listed_pb IS NULL")
    )
    op.drop_index("ix_findings_account_state", table_name="findings")
    op.create_index(
        "ix_findings_account_state",
        "findings",
        ["cloud_account_id", "state"],
        postgresql_include=["ignore_expire_time"],
    )
    op.execute(
        """
CREATE FUNCTION cloudwaste_findings_listed_pb_stale() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    -- a write that changed the finding but kept its old rendering: that rendering is stale
    IF NEW.listed_pb IS NOT DISTINCT FROM OLD.listed_pb AND NEW IS DISTINCT FROM OLD THEN
        NEW.listed_pb := NULL;
    END IF;
    RETURN NEW;
END $$;
CREATE TRIGGER findings_listed_pb_stale BEFORE UPDATE ON findings
    FOR EACH ROW EXECUTE FUNCTION cloudwaste_findings_listed_pb_stale();
"""
    )


def downgrade() -> None:
    op.drop_index("ix_findings_unrendered", table_name="findings")
    op.drop_index("ix_findings_account_state", table_name="findings")
    op.create_index("ix_findings_account_state", "findings", ["cloud_account_id", "state"])
    op.execute("DROP TRIGGER findings_listed_pb_stale ON findings")
    op.execute("DROP FUNCTION cloudwaste_findings_listed_pb_stale()")
    op.drop_column("findings", "listed_pb")
