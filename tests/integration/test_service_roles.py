"""Each service's PostgreSQL role (migration 0027) can do what its service does and nothing that
belongs to another service: table ownership enforced by the database, not only documented.

The end-to-end tests run the four services as these roles (LocalDeployment), so a grant a code
path needs and lacks fails there; this file checks the refusals and the two things that run with
the owner's rights: opening a month partition and the export watermark."""

from __future__ import annotations

import datetime as dt
import threading

import psycopg
import pytest
from cloudwaste.core import partitions, roles
from cloudwaste.core.db import Database
from cloudwaste.core.models import Base
from cloudwaste.exporter.export import watermark
from sqlalchemy.engine import make_url

from tests.conftest import fresh_database


@pytest.fixture(scope="module")
def urls(pg_cluster):
    """One database for the module: the checks only read, or undo what they do."""
    with fresh_database(pg_cluster) as url:
        yield {"owner": url, **roles.local_urls(url)}


def connect(url: str) -> psycopg.Connection:
    u = make_url(url)
    return psycopg.connect(host=u.host, port=u.port, user=u.username, dbname=u.database, autocommit=True)


def refused(url: str, sql: str) -> bool:
    with connect(url) as conn:
        try:
            conn.execute(sql)
        except psycopg.errors.InsufficientPrivilege:
            return True
    return False


# (service, statement it must be refused): another service's table, or a column it does not own
REFUSALS = [
    ("predictor", "SELECT * FROM cloud_accounts"),
    ("predictor", "SELECT tags FROM findings"),
    ("predictor", "UPDATE findings SET state = 'OPEN'"),
    ("predictor", "SELECT * FROM ml_training_data"),
    ("enricher", "DELETE FROM ml_training_data"),
    ("enricher", "UPDATE ml_training_data SET user_action = 'kept'"),
    ("enricher", "SELECT * FROM cloud_accounts"),
    ("enricher", "UPDATE model_versions SET active = true"),
    ("exporter", "UPDATE findings SET state = 'OPEN'"),
    ("exporter", "INSERT INTO scan_runs (id) VALUES (gen_random_uuid())"),
    ("exporter", "SELECT * FROM cloud_accounts"),
    ("exporter", "SELECT * FROM user_actions"),
    ("scanner", "SELECT * FROM model_versions"),
    ("scanner", "UPDATE ml_training_data SET tags_anonymized = '{}'"),
    ("scanner", "UPDATE export_runs SET state = 'FAILED'"),
    ("scanner", "DROP TABLE findings"),
    ("scanner", "CREATE TABLE stolen (x int)"),
]


@pytest.mark.parametrize(("service", "sql"), REFUSALS)
def test_a_service_is_refused_what_belongs_to_another(urls, service, sql):
    assert refused(urls[service], sql), f"{service} may run: {sql}"


def test_each_service_reads_and_writes_its_own_tables(urls):
    with connect(urls["scanner"]) as conn:
        conn.execute("SELECT count(*) FROM findings").fetchone()
        with conn.transaction(force_rollback=True):
            conn.execute("INSERT INTO tenants (tenant_id, aws_external_id) VALUES ('t-roles', 'x-roles')")
    with connect(urls["predictor"]) as conn:
        conn.execute("SELECT count(*) FROM model_versions").fetchone()
        conn.execute("SELECT id, state, resolved_from_state FROM findings").fetchall()
    with connect(urls["enricher"]) as conn:
        conn.execute("SELECT count(*) FROM enrichment_runs").fetchone()
        conn.execute("UPDATE ml_training_data SET enriched_at = now() WHERE false")
    with connect(urls["exporter"]) as conn:
        conn.execute("SELECT count(*) FROM ml_training_data").fetchone()
        conn.execute("DELETE FROM shadow_predictions WHERE false")


def test_every_table_is_granted_to_the_service_that_owns_it(urls):
    """A table a later migration adds without granting it to its service fails here."""
    with connect(urls["owner"]) as conn:
        granted = {
            table
            for (table,) in conn.execute(
                "SELECT DISTINCT table_name FROM information_schema.role_table_grants "
                "WHERE grantee LIKE 'cloudwaste\\_%' UNION "
                "SELECT DISTINCT table_name FROM information_schema.role_column_grants WHERE grantee LIKE 'cloudwaste\\_%'"
            )
        }
    assert set(Base.metadata.tables) - granted == set()


def test_a_service_opens_a_month_owned_by_the_ml_owner_and_the_exporter_drops_it(urls):
    month = partitions.month_of(dt.datetime(2031, 5, 17, tzinfo=dt.UTC))
    scanner = Database(urls["scanner"])
    try:
        with scanner.transaction() as s:
            assert partitions.ensure(s, month)
        with scanner.transaction() as s:
            assert not partitions.ensure(s, month)  # once
    finally:
        scanner.dispose()
    with connect(urls["owner"]) as conn:
        owner, bounds = conn.execute(
            "SELECT pg_get_userbyid(c.relowner), pg_get_expr(c.relpartbound, c.oid) FROM pg_class c WHERE relname = %s",
            (month.name,),
        ).fetchone()
    assert owner == "cloudwaste_ml_owner"
    assert "2031-05-01 00:00:00+00" in bounds and "2031-06-01 00:00:00+00" in bounds
    exporter = Database(urls["exporter"])
    try:
        partitions.drop_concurrently(exporter.engine, month)
        with exporter.transaction() as s:
            assert month.name not in {p.name for p in partitions.existing(s)}
    finally:
        exporter.dispose()


def test_the_exporters_watermark_sees_another_services_open_transaction(urls):
    """A plain role sees NULL for other roles' xact_start in pg_stat_activity; the watermark must
    still stop before the scanner's uncommitted rows, or an incremental export would skip them."""
    opened, release = threading.Event(), threading.Event()
    started: list[dt.datetime] = []

    def hold_open():
        with connect(urls["scanner"]) as conn, conn.transaction():
            started.append(conn.execute("SELECT now()").fetchone()[0])
            opened.set()
            release.wait(10)

    t = threading.Thread(target=hold_open)
    t.start()
    try:
        assert opened.wait(10)
        assert watermark(urls["exporter"]) <= started[0]
    finally:
        release.set()
        t.join()
    assert watermark(urls["exporter"]) > started[0]


def test_the_watermark_function_is_the_exporters_alone(urls):
    for service in ("scanner", "enricher", "predictor"):
        assert refused(urls[service], "SELECT cloudwaste_oldest_transaction_start()"), service
    assert refused(urls["enricher"], "SELECT cloudwaste_ensure_month(now())")
