"""The pool pings a connection only when it sat idle (core.db.PING_AFTER_IDLE_SECONDS): one that the
database dropped meanwhile is replaced before use, and one in use a moment ago costs no round trip."""

from __future__ import annotations

import time

import sqlalchemy as sa
from cloudwaste.core import db as dbmod
from cloudwaste.core.db import Database


def _backend_pid(database: Database) -> int:
    with database.transaction() as s:
        return s.execute(sa.text("SELECT pg_backend_pid()")).scalar_one()


def test_a_connection_dropped_while_idle_is_replaced_before_use(database_url, monkeypatch):
    monkeypatch.setattr(dbmod, "PING_AFTER_IDLE_SECONDS", 0.2)
    database = Database(database_url, pool_size=1)
    other = sa.create_engine(database_url)
    try:
        pid = _backend_pid(database)
        with other.connect() as c:  # the database drops the pooled connection (a restart, a failover)
            assert c.execute(sa.text("SELECT pg_terminate_backend(:p)"), {"p": pid}).scalar_one()
        time.sleep(0.3)
        assert _backend_pid(database) != pid  # pinged, found dead, replaced: the call succeeded
    finally:
        other.dispose()
        database.dispose()


def test_a_connection_in_use_a_moment_ago_is_not_pinged(database_url):
    database = Database(database_url, pool_size=1)
    pings = []
    original = database.engine.dialect.do_ping
    database.engine.dialect.do_ping = lambda conn: pings.append(1) or original(conn)
    try:
        pids = {_backend_pid(database) for _ in range(20)}
        assert len(pids) == 1 and pings == []
    finally:
        database.dispose()
