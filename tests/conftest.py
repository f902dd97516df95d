"""Session fixtures: one real local PostgreSQL cluster (a fresh database per test, cloned from a
migrated template) and one in-process moto server seeded with a known estate."""

from __future__ import annotations

import contextlib
import os
import shutil
import tempfile
import time
import uuid
from pathlib import Path

import pytest

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

TEMPLATE = "cloudwaste_template"
PG_PREFIX = "cloudwaste-test-pg-"



def _remove_abandoned_clusters(older_than_s: float = 3600) -> None:
    """Clusters left by a run that was killed before its teardown: no live postmaster, not new."""
    for root in Path(tempfile.gettempdir()).glob(f"{PG_PREFIX}*"):
        pid_file = root / "data" / "postmaster.pid"
        try:
            if time.time() - root.stat().st_mtime < older_than_s:
                continue
            if pid_file.exists():
                os.kill(int(pid_file.read_text().split()[0]), 0)
                continue  # its server still runs: another test run owns it
        except ProcessLookupError:
            pass
        except (OSError, ValueError):
            continue
        shutil.rmtree(root, ignore_errors=True)


@pytest.fixture(scope="session")
def pg_cluster():
    from cloudwaste.core.migrate import upgrade
    from cloudwaste.core.pg import EmbeddedPostgres

    _remove_abandoned_clusters()
    root = Path(tempfile.mkdtemp(prefix=PG_PREFIX))
    os.chmod(root, 0o755)
    pg = EmbeddedPostgres(root, database=TEMPLATE).start()
    try:
        upgrade(pg.url)
        yield pg
    finally:
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)


@contextlib.contextmanager
def fresh_database(pg_cluster):
    """A fresh, migrated database (a copy of the migrated template), dropped at the end."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"

    def admin(sql: str) -> None:
        with psycopg.connect(
            host="127.0.0.1", port=pg_cluster.port, user=pg_cluster.user, dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(sql)

    admin(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"')
    try:
        yield f"postgresql+psycopg://{pg_cluster.user}@127.0.0.1:{pg_cluster.port}/{name}"
    finally:
        admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@pytest.fixture
def database_url(pg_cluster):
    """A fresh, migrated database for this test, dropped after it (a run makes hundreds)."""
    with fresh_database(pg_cluster) as url:
        yield url


@pytest.fixture(scope="session")
def moto_estate():
    """(endpoint_url, GroundTruth) of a small seeded estate in 3 regions."""
    from cloudwaste.sim.aws import seed_estate, start_moto

    handle = start_moto()
    # its own account: moto state is per process, and tests/test_sim.py seeds the default one
    truth = seed_estate(handle.endpoint_url, size=150, seed=7, account_id="210987654321", cost_export=True)
    yield handle.endpoint_url, truth
    handle.stop()
