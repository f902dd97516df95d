"""stable findings: one per (account, scope, resource, rule), observations per scan, lifecycle

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-30 04:00:00

Existing findings (one per resource per scan) are folded into one per identity: the survivor is the
newest one that carries a user decision, else the newest; the others become its observations, and
their user actions move to it.
"""

import sqlalchemy as sa
from alembic import op
from sqlalchemy.dialects import postgresql

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # accounts: rule parameters, update time
    op.add_column(
        "cloud_accounts",
        sa.Column(
            "rule_parameters",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
    )
    op.add_column(
        "cloud_accounts",
        sa.Column("update_time", sa.DateTime(timezone=True), server_default=sa.text("now()"), nullable=False),
    )
    op.create_index(
        "ix_cloud_accounts_tenant_create_time", "cloud_accounts", ["tenant_id", "create_time"], unique=False
    )

    # scan runs: lifecycle counters
    for column in ("new_findings_count", "resolved_findings_count", "reopened_findings_count"):
        op.add_column("scan_runs", sa.Column(column, sa.BigInteger(), server_default="0", nullable=False))
    op.create_index(
        "ix_scan_runs_account_create_time", "scan_runs", ["cloud_account_id", "create_time"], unique=False
    )

    # ML rows: where a label came from
    op.add_column("ml_training_data", sa.Column("label_source", sa.String(length=16), nullable=True))
    op.execute("UPDATE ml_training_data SET label_source = 'explicit' WHERE user_action IS NOT NULL")

    # observations: one per (scan run, finding), from the old per-scan findings
    op.create_table(
        "finding_observations",
        sa.Column("scan_run_id", sa.UUID(), nullable=False),
        sa.Column("finding_id", sa.UUID(), nullable=False),
        sa.Column("monthly_cost", sa.Numeric(precision=14, scale=4), nullable=False),
        sa.Column("confidence", sa.String(length=16), nullable=False),
        sa.Column("ml_row_id", sa.UUID(), nullable=True),
        sa.Column("ml_row_detected_at", sa.DateTime(timezone=True), nullable=True),
        sa.ForeignKeyConstraint(["finding_id"], ["findings.id"], ondelete="CASCADE"),
        sa.ForeignKeyConstraint(["scan_run_id"], ["scan_runs.id"]),
        sa.PrimaryKeyConstraint("scan_run_id", "finding_id"),
    )
    op.create_index(
        op.f("ix_finding_observations_finding_id"), "finding_observations", ["finding_id"], unique=False
    )
    op.execute(
        """
        CREATE TEMP TABLE finding_survivor ON COMMIT DROP AS
        SELECT id, first_value(id) OVER (
                   PARTITION BY cloud_account_id, region, resource_id, scenario
                   ORDER BY (state <> 'OPEN') DESC, create_time DESC, id DESC) AS survivor,
               min(create_time) OVER (
                   PARTITION BY cloud_account_id, region, resource_id, scenario) AS first_seen,
               count(*) OVER (
                   PARTITION BY cloud_account_id, region, resource_id, scenario) AS seen
        FROM findings
        """
    )
    op.execute(
        """
        INSERT INTO finding_observations
            (scan_run_id, finding_id, monthly_cost, confidence, ml_row_id, ml_row_detected_at)
        SELECT DISTINCT ON (f.scan_run_id, s.survivor)
               f.scan_run_id, s.survivor, f.monthly_cost, f.confidence, f.ml_row_id, f.ml_row_detected_at
        FROM findings f JOIN finding_survivor s ON s.id = f.id
        ORDER BY f.scan_run_id, s.survivor, f.create_time DESC
        """
    )
    op.execute(
        "UPDATE user_actions u SET finding_id = s.survivor FROM finding_survivor s "
        "WHERE s.id = u.finding_id AND s.survivor <> s.id"
    )

    # findings: identity, lifecycle, etag
    op.alter_column("findings", "scan_run_id", new_column_name="last_scan_run_id")
    op.drop_index("ix_findings_scan_run_id", table_name="findings")
    op.create_index(op.f("ix_findings_last_scan_run_id"), "findings", ["last_scan_run_id"], unique=False)
    op.add_column("findings", sa.Column("version", sa.Integer(), server_default="1", nullable=False))
    op.add_column(
        "findings",
        sa.Column(
            "rule_params",
            postgresql.JSONB(astext_type=sa.Text()),
            server_default=sa.text("'{}'::jsonb"),
            nullable=False,
        ),
    )
    op.add_column("findings", sa.Column("cycle_start_time", sa.DateTime(timezone=True), nullable=True))
    op.add_column("findings", sa.Column("ignore_expire_time", sa.DateTime(timezone=True), nullable=True))
    op.add_column("findings", sa.Column("resolve_reason", sa.String(length=32), nullable=True))
    op.add_column("findings", sa.Column("resolved_from_state", sa.String(length=16), nullable=True))
    op.add_column("findings", sa.Column("resolve_scan_run_id", sa.UUID(), nullable=True))
    op.add_column("findings", sa.Column("parent_finding_id", sa.UUID(), nullable=True))
    op.add_column(
        "findings", sa.Column("observation_count", sa.Integer(), server_default="1", nullable=False)
    )
    op.execute(
        "UPDATE findings f SET create_time = s.first_seen, cycle_start_time = s.first_seen, "
        "observation_count = s.seen FROM finding_survivor s WHERE s.id = f.id AND s.survivor = f.id"
    )
    # the survivor shows what the newest scan saw
    op.execute(
        """
        UPDATE findings f SET last_scan_run_id = n.scan_run_id, event_time = n.event_time
        FROM (SELECT DISTINCT ON (s.survivor) s.survivor, o.last_scan_run_id AS scan_run_id, o.event_time
              FROM finding_survivor s JOIN findings o ON o.id = s.id
              ORDER BY s.survivor, o.event_time DESC) n
        WHERE f.id = n.survivor
        """
    )
    op.execute("DELETE FROM findings f USING finding_survivor s WHERE s.id = f.id AND s.survivor <> f.id")
    # a decision labels every ML row of its finding, timed from the first detection
    op.execute(
        """
        UPDATE ml_training_data m
        SET user_action = lower(f.state), label_source = 'explicit', labeled_at = f.state_change_time,
            time_to_action_hours = round((extract(epoch FROM f.state_change_time - f.create_time) / 3600)::numeric, 4)
        FROM finding_observations o JOIN findings f ON f.id = o.finding_id
        WHERE m.id = o.ml_row_id AND m.detected_at = o.ml_row_detected_at
          AND f.state IN ('DELETED', 'KEPT', 'IGNORED') AND f.state_change_time IS NOT NULL
        """
    )
    op.alter_column("findings", "cycle_start_time", nullable=False)
    op.drop_column("findings", "ml_row_id")
    op.drop_column("findings", "ml_row_detected_at")
    op.create_index(
        "ux_findings_identity",
        "findings",
        ["cloud_account_id", "region", "resource_id", "scenario"],
        unique=True,
    )
    op.create_index("ix_findings_state_create_time", "findings", ["state", "create_time"], unique=False)
    op.create_index(op.f("ix_findings_parent_finding_id"), "findings", ["parent_finding_id"], unique=False)
    op.create_foreign_key(
        "findings_parent_finding_id_fkey",
        "findings",
        "findings",
        ["parent_finding_id"],
        ["id"],
        ondelete="SET NULL",
    )
    op.drop_constraint("user_actions_finding_id_fkey", "user_actions", type_="foreignkey")
    op.create_foreign_key(
        "user_actions_finding_id_fkey", "user_actions", "findings", ["finding_id"], ["id"], ondelete="CASCADE"
    )


def downgrade() -> None:
    op.drop_constraint("user_actions_finding_id_fkey", "user_actions", type_="foreignkey")
    op.create_foreign_key("user_actions_finding_id_fkey", "user_actions", "findings", ["finding_id"], ["id"])
    op.drop_constraint("findings_parent_finding_id_fkey", "findings", type_="foreignkey")
    op.drop_index(op.f("ix_findings_parent_finding_id"), table_name="findings")
    op.drop_index("ix_findings_state_create_time", table_name="findings")
    op.drop_index("ux_findings_identity", table_name="findings")
    op.add_column("findings", sa.Column("ml_row_detected_at", sa.DateTime(timezone=True), nullable=True))
    op.add_column("findings", sa.Column("ml_row_id", sa.UUID(), nullable=True))
    # Each finding keeps the ML row of its latest observation (the per-scan history is folded).
    op.execute(
        """
        UPDATE findings f SET ml_row_id = o.ml_row_id, ml_row_detected_at = o.ml_row_detected_at
        FROM finding_observations o
        WHERE o.finding_id = f.id AND o.scan_run_id = f.last_scan_run_id
        """
    )
    op.execute("UPDATE findings SET state = 'OPEN' WHERE state = 'RESOLVED'")
    for column in (
        "observation_count",
        "parent_finding_id",
        "resolve_scan_run_id",
        "resolved_from_state",
        "resolve_reason",
        "ignore_expire_time",
        "cycle_start_time",
        "rule_params",
        "version",
    ):
        op.drop_column("findings", column)
    op.drop_index(op.f("ix_findings_last_scan_run_id"), table_name="findings")
    op.alter_column("findings", "last_scan_run_id", new_column_name="scan_run_id")
    op.create_index(op.f("ix_findings_scan_run_id"), "findings", ["scan_run_id"], unique=False)
    op.drop_index(op.f("ix_finding_observations_finding_id"), table_name="finding_observations")
    op.drop_table("finding_observations")
    op.drop_column("ml_training_data", "label_source")
    op.drop_index("ix_scan_runs_account_create_time", table_name="scan_runs")
    for column in ("reopened_findings_count", "resolved_findings_count", "new_findings_count"):
        op.drop_column("scan_runs", column)
    op.drop_index("ix_cloud_accounts_tenant_create_time", table_name="cloud_accounts")
    op.drop_column("cloud_accounts", "update_time")
    op.drop_column("cloud_accounts", "rule_parameters")
