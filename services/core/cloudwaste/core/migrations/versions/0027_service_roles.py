"""One PostgreSQL role per service, with only the grants its tables need, so that DESIGN's table
ownership ("a service never writes another service's tables") is enforced by the database.

- cloudwaste_scanner, cloudwaste_enricher, cloudwaste_exporter, cloudwaste_predictor: NOLOGIN
  group roles (created unless they exist; roles belong to the cluster, so databases on one cluster
  share them). An operator grants each to the login user of that service, or, on a trusted local
  cluster, lets it log in (`core.roles`).
- cloudwaste_ml_owner owns ml_training_data and its month partitions: creating, detaching or
  dropping a partition needs the parent's owner. The exporter (retention) is a member; the
  scanner creates a missing month through cloudwaste_ensure_month(), which runs as the owner,
  so every partition has that one owner.
- cloudwaste_oldest_transaction_start() gives the exporter the one number its watermark needs
  from pg_stat_activity (other roles' transactions are hidden from a plain role): it runs as the
  migrating role, which must therefore be a superuser or have pg_read_all_stats.

Revision ID: 0027
Revises: 0026
"""

from alembic import op

revision = "0027"
down_revision = "0026"
branch_labels = None
depends_on = None

SERVICES = ("scanner", "enricher", "exporter", "predictor")
ROLES = (*(f"cloudwaste_{s}" for s in SERVICES), "cloudwaste_ml_owner")

GRANTS = """
GRANT USAGE ON SCHEMA public TO cloudwaste_scanner, cloudwaste_enricher, cloudwaste_exporter, cloudwaste_predictor;

-- scanner: accounts, scans, findings, decisions, base ML rows, erasures
GRANT SELECT, INSERT, UPDATE, DELETE ON cloud_accounts, scan_runs, findings TO cloudwaste_scanner;
GRANT SELECT, INSERT ON tenants, erasure_runs TO cloudwaste_scanner;
GRANT SELECT, INSERT, UPDATE ON scan_handoffs TO cloudwaste_scanner;
GRANT SELECT, INSERT, DELETE ON finding_observations, user_actions, ml_training_data TO cloudwaste_scanner;
GRANT UPDATE (user_action, label_source, labeled_at, time_to_action_hours, changed_at)
    ON ml_training_data TO cloudwaste_scanner;
GRANT SELECT (id, scan_run_id, resource_kind, resource_id), INSERT ON enrichment_inputs TO cloudwaste_scanner;
GRANT UPDATE (metric_history, cost_daily, cost_unread) ON enrichment_inputs TO cloudwaste_scanner;
GRANT USAGE ON SEQUENCE enrichment_inputs_id_seq TO cloudwaste_scanner;
GRANT SELECT (account_hash, tenant_hash), DELETE ON cost_trend_data TO cloudwaste_scanner;
GRANT SELECT (tenant_hash), DELETE ON cloudwatch_metrics_history TO cloudwaste_scanner;
GRANT SELECT (state, dataset_uri, destination_uri, create_time) ON export_runs TO cloudwaste_scanner;

-- enricher: the enrichment columns of ML rows, metric history, cost trends, its runs
GRANT SELECT ON scan_handoffs, enrichment_inputs, ml_training_data TO cloudwaste_enricher;
GRANT UPDATE (tags_anonymized, temporal_features, metrics_summary, cost_real_monthly, cost_variance_pct,
              cost_real_source, cost_real_missing, enriched_at) ON ml_training_data TO cloudwaste_enricher;
GRANT SELECT, INSERT, UPDATE ON enrichment_runs, cost_trend_data, cloudwatch_metrics_history TO cloudwaste_enricher;
GRANT USAGE ON SEQUENCE cloudwatch_metrics_history_id_seq TO cloudwaste_enricher;

-- exporter: export and purge runs; reads the ML tables; the purge deletes expired operational rows
GRANT SELECT, INSERT, UPDATE, DELETE ON export_runs TO cloudwaste_exporter;
GRANT SELECT, INSERT, UPDATE ON purge_runs TO cloudwaste_exporter;
GRANT SELECT ON finding_observations TO cloudwaste_exporter;
GRANT SELECT, DELETE ON findings, scan_runs, enrichment_runs, shadow_predictions TO cloudwaste_exporter;
-- only so that the purge may lock the runs it deletes (FOR UPDATE needs UPDATE on some column)
GRANT UPDATE (error_message) ON scan_runs TO cloudwaste_exporter;

-- predictor (and `cloudwaste train`): the model registry, training runs, shadow predictions
GRANT SELECT, INSERT, UPDATE ON training_runs, model_versions TO cloudwaste_predictor;
GRANT SELECT, INSERT ON shadow_predictions TO cloudwaste_predictor;
GRANT USAGE ON SEQUENCE shadow_predictions_id_seq TO cloudwaste_predictor;
GRANT SELECT (id, state, resolved_from_state) ON findings TO cloudwaste_predictor;
GRANT SELECT (account_hash, month, real_spend) ON cost_trend_data TO cloudwaste_predictor;
GRANT SELECT (state, format, manifest_uri, create_time) ON export_runs TO cloudwaste_predictor;
"""


def _give_ml_rows_to(owner_sql: str) -> None:
    """ml_training_data and every month partition to the role `owner_sql` evaluates to."""
    op.execute(
        f"""
        DO $$
        DECLARE
            p text;
        BEGIN
            EXECUTE format('ALTER TABLE ml_training_data OWNER TO %I', {owner_sql});
            FOR p IN SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
                     WHERE i.inhparent = 'ml_training_data'::regclass LOOP
                EXECUTE format('ALTER TABLE %I OWNER TO %I', p, {owner_sql});
            END LOOP;
        END $$
        """
    )


def upgrade() -> None:
    roles = ", ".join(f"'{r}'" for r in ROLES)
    op.execute(
        f"""
        DO $$
        DECLARE
            r text;
        BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = current_user
                           AND (rolsuper OR pg_has_role(current_user, 'pg_read_all_stats', 'USAGE'))) THEN
                RAISE EXCEPTION 'the migrating role % needs pg_read_all_stats (GRANT pg_read_all_stats TO %): '
                    'exports must see the other services'' open transactions', current_user, current_user;
            END IF;
            FOREACH r IN ARRAY ARRAY[{roles}] LOOP
                IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = r) THEN
                    BEGIN
                        EXECUTE format('CREATE ROLE %I NOLOGIN', r);
                    EXCEPTION WHEN duplicate_object OR unique_violation THEN
                        NULL;  -- another database of the cluster migrating at the same moment
                    END;
                END IF;
            END LOOP;
            -- the exporter manages the month partitions; the migrating role alters the table later
            FOREACH r IN ARRAY ARRAY['cloudwaste_exporter', current_user::text] LOOP
                IF NOT pg_has_role(r, 'cloudwaste_ml_owner', 'USAGE') THEN
                    BEGIN
                        EXECUTE format('GRANT cloudwaste_ml_owner TO %I', r);
                    EXCEPTION WHEN unique_violation OR object_not_in_prerequisite_state THEN
                        NULL;
                    END;
                END IF;
            END LOOP;
        END $$
        """
    )
    op.execute("GRANT CREATE ON SCHEMA public TO cloudwaste_ml_owner")
    _give_ml_rows_to("'cloudwaste_ml_owner'")
    # The month of `instant` (UTC) as a partition, created when missing; true when it was.
    op.execute(
        """
        CREATE FUNCTION cloudwaste_ensure_month(instant timestamptz) RETURNS boolean
        LANGUAGE plpgsql SECURITY DEFINER SET search_path = public, pg_temp SET timezone = 'UTC' AS $$
        DECLARE
            month_start timestamp := date_trunc('month', instant AT TIME ZONE 'UTC');
            part text := 'ml_training_data_y' || to_char(month_start, 'YYYY') || 'm' || to_char(month_start, 'MM');
        BEGIN
            IF to_regclass(part) IS NOT NULL THEN
                RETURN false;
            END IF;
            PERFORM pg_advisory_xact_lock(hashtext(part));
            IF to_regclass(part) IS NOT NULL THEN
                RETURN false;
            END IF;
            EXECUTE format('CREATE TABLE %I PARTITION OF ml_training_data FOR VALUES FROM (%L) TO (%L)',
                           part, month_start AT TIME ZONE 'UTC', (month_start + interval '1 month') AT TIME ZONE 'UTC');
            RETURN true;
        END $$
        """
    )
    op.execute("ALTER FUNCTION cloudwaste_ensure_month(timestamptz) OWNER TO cloudwaste_ml_owner")
    op.execute("REVOKE ALL ON FUNCTION cloudwaste_ensure_month(timestamptz) FROM PUBLIC")
    op.execute(
        "GRANT EXECUTE ON FUNCTION cloudwaste_ensure_month(timestamptz) TO cloudwaste_scanner, cloudwaste_exporter"
    )
    op.execute(
        """
        CREATE FUNCTION cloudwaste_oldest_transaction_start() RETURNS timestamptz
        LANGUAGE sql STABLE SECURITY DEFINER SET search_path = pg_catalog, pg_temp AS $$
            SELECT min(xact_start) FROM pg_stat_activity
            WHERE datname = current_database() AND xact_start IS NOT NULL AND pid <> pg_backend_pid()
        $$
        """
    )
    op.execute("REVOKE ALL ON FUNCTION cloudwaste_oldest_transaction_start() FROM PUBLIC")
    op.execute("GRANT EXECUTE ON FUNCTION cloudwaste_oldest_transaction_start() TO cloudwaste_exporter")
    op.execute(GRANTS)


def downgrade() -> None:
    op.execute("DROP FUNCTION cloudwaste_oldest_transaction_start()")
    op.execute("DROP FUNCTION cloudwaste_ensure_month(timestamptz)")
    _give_ml_rows_to("current_user")
    # the roles belong to the cluster (other databases may use them): only this database's grants go
    for role in ROLES:
        op.execute(f"REVOKE ALL ON ALL TABLES IN SCHEMA public FROM {role}")
        op.execute(f"REVOKE ALL ON ALL SEQUENCES IN SCHEMA public FROM {role}")
        op.execute(f"REVOKE ALL ON SCHEMA public FROM {role}")
