"""Session fixtures: one real local PostgreSQL cluster (a fresh database per test, cloned from a
migrated template) and one in-process moto server seeded with a known estate."""

from __future__ import annotations

import os
import tempfile
import uuid
from pathlib import Path

import pytest

os.environ.setdefault("AWS_ACCESS_KEY_ID", "testing")
os.environ.setdefault("AWS_SECRET_ACCESS_KEY", "testing")
os.environ.setdefault("AWS_DEFAULT_REGION", "us-east-1")

TEMPLATE = "cloudwaste_template"


@pytest.fixture(scope="session")
def pg_cluster():
    from cloudwaste.core.migrate import upgrade
    from cloudwaste.core.pg import EmbeddedPostgres

    root = Path(tempfile.mkdtemp(prefix="cloudwaste-test-pg-"))
    os.chmod(root, 0o755)
    pg = EmbeddedPostgres(root, database=TEMPLATE).start()
    upgrade(pg.url)
    yield pg
    pg.stop()


@pytest.fixture
def database_url(pg_cluster) -> str:
    """A fresh, migrated database for this test."""
    import psycopg

    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(
        host="127.0.0.1", port=pg_cluster.port, user=pg_cluster.user, dbname="postgres", autocommit=True
    ) as conn:
        conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{TEMPLATE}"')
    return f"postgresql+psycopg://{pg_cluster.user}@127.0.0.1:{pg_cluster.port}/{name}"


@pytest.fixture(scope="session")
def moto_estate():
    """(endpoint_url, GroundTruth) of a small seeded estate in 3 regions."""
    from cloudwaste.sim.aws import seed_estate, start_moto

    handle = start_moto()
    # its own account: moto state is per process, and tests/test_sim.py seeds the default one
    truth = seed_estate(handle.endpoint_url, size=150, seed=7, account_id="210987654321")
    yield handle.endpoint_url, truth
    handle.stop()
