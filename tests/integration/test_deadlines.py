"""A caller's deadline stops the server's work: the query of a call whose caller gave up is
cancelled by PostgreSQL (statement_timeout from the deadline), not left waiting or running for
nobody; work outside a call (workers, runs) has no deadline."""

from __future__ import annotations

import time

import grpc
import pytest
import sqlalchemy as sa
from cloudwaste.core import deadlines
from cloudwaste.core.db import Database
from cloudwaste.core.errors import DeadlineExceeded
from cloudwaste.scanner.v1 import scanner_service_pb2


def _waiting(engine, text: str) -> int:
    with engine.connect() as c:
        return c.execute(
            sa.text(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                "AND state = 'active' AND position(:q in query) > 0 AND pid <> pg_backend_pid()"
            ),
            {"q": text},
        ).scalar_one()


def test_a_query_stops_when_the_calls_deadline_passes(database_url):
    db = Database(database_url)
    token = deadlines.start(0.3)
    started = time.monotonic()
    try:
        with pytest.raises(DeadlineExceeded, match="cancelled"), db.transaction() as s:
            s.execute(sa.text("SELECT pg_sleep(5)"))
    finally:
        deadlines.done(token)
    assert time.monotonic() - started < 2
    assert _waiting(db.engine, "pg_sleep(5)") == 0
    with db.transaction() as s:  # outside a call: no deadline
        assert s.execute(sa.text("SHOW statement_timeout")).scalar_one() == "0"
    token = deadlines.start(-1)
    try:
        with pytest.raises(DeadlineExceeded, match="before the database was asked"), db.transaction():
            pass
    finally:
        deadlines.done(token)
    db.dispose()


def test_a_call_whose_caller_gave_up_does_not_keep_the_server_waiting(stack):
    """ListFindings waits for a table another transaction holds; its caller gives up after 1 s,
    and the server's query is cancelled then, not when the lock goes (maybe never)."""
    engine = sa.create_engine(stack.database_url)
    holder = engine.connect()
    holder.execute(sa.text("LOCK TABLE findings IN ACCESS EXCLUSIVE MODE"))
    try:
        with pytest.raises(grpc.RpcError) as gave_up:
            stack.scanner.ListFindings(scanner_service_pb2.ListFindingsRequest(), timeout=1.0)
        assert gave_up.value.code() == grpc.StatusCode.DEADLINE_EXCEEDED
        deadline = time.monotonic() + 5
        while _waiting(engine, "FROM findings") > 0:
            assert time.monotonic() < deadline, "the server still waits for a caller that left"
            time.sleep(0.05)
    finally:
        holder.rollback()
        holder.close()
        engine.dispose()
    # and the service answers as before, to a caller with a deadline and to one without
    assert stack.scanner.ListFindings(scanner_service_pb2.ListFindingsRequest(), timeout=10).total_size == 0
    assert stack.scanner.ListFindings(scanner_service_pb2.ListFindingsRequest()).total_size == 0
