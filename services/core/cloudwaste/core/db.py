"""Engine and transaction helpers. Every write happens inside one `transaction()`."""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import TypeVar

from cloudwaste.core import deadlines
from cloudwaste.core.errors import Aborted, DeadlineExceeded, Unavailable
from sqlalchemy import Engine, create_engine, event, select, text, update
from sqlalchemy import inspect as sa_inspect
from sqlalchemy.exc import DisconnectionError, OperationalError
from sqlalchemy.orm import Session, sessionmaker

log = logging.getLogger(__name__)

T = TypeVar("T")


CONNECT_TIMEOUT_SECONDS = 10  # a database that does not answer fails a connection, never hangs it


# A pooled connection idle this long is pinged before use (one round trip); one used more recently
# is not: every RPC would otherwise pay a round trip, a sixth of a ListFindings page. A database
# restarted within that second fails the next call once (UNAVAILABLE), and SQLAlchemy then
# replaces every pooled connection.
PING_AFTER_IDLE_SECONDS = 1.0


def make_engine(url: str, pool_size: int = 10) -> Engine:
    engine = create_engine(
        url,
        pool_size=pool_size,
        max_overflow=10,
        future=True,
        connect_args={"connect_timeout": CONNECT_TIMEOUT_SECONDS},
    )
    dialect = engine.dialect

    @event.listens_for(engine.pool, "checkin")
    def _checked_in(dbapi_connection, record) -> None:
        record.info["idle_since"] = time.monotonic()

    @event.listens_for(engine.pool, "checkout")
    def _ping_if_idle(dbapi_connection, record, proxy) -> None:
        idle_since = record.info.get("idle_since")
        if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE_SECONDS:
            return  # new (it just connected), or in use a moment ago
        try:
            dialect.do_ping(dbapi_connection)
        except Exception as exc:  # the pool drops it and checks out another (or connects anew)
            raise DisconnectionError(f"pooled connection lost: {type(exc).__name__}") from exc

    return engine


class Database:
    def __init__(self, url: str, pool_size: int = 10) -> None:
        self.engine = make_engine(url, pool_size)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def transaction(self, snapshot: bool = False) -> Iterator[Session]:
        """A session whose work commits on success and rolls back on any error. With `snapshot`,
        every statement sees the database as the first one did (REPEATABLE READ): for reads of
        several statements that must agree."""
        left = deadlines.remaining()
        if left is not None and left <= 0:
            raise DeadlineExceeded("the caller's deadline passed before the database was asked")
        session = self._sessions()
        try:
            with session.begin():
                if snapshot:  # psycopg opens the transaction with it: no extra round trip
                    session.connection(execution_options={"isolation_level": "REPEATABLE READ"})
                if left is not None:  # the database stops when the caller has given up
                    session.connection().exec_driver_sql(
                        f"SET LOCAL statement_timeout = {max(1, int(left * 1000))}"
                    )
                yield session
        except OperationalError as exc:
            if str(getattr(exc.orig, "sqlstate", "") or "") == "57014":  # query_canceled
                raise DeadlineExceeded("the caller's deadline passed; the query was cancelled") from None
            # SQLSTATE class 40, transaction rollback: a deadlock (40P01), a serialization failure (40001)
            if str(getattr(exc.orig, "sqlstate", "") or "").startswith("40"):
                raise Aborted(
                    "the database aborted the transaction (a conflict with another one); retry"
                ) from exc
            raise Unavailable("the database is unavailable; retry later") from exc
        finally:
            session.close()

    def retrying(self, work: Callable[[], T], attempts: int = 3) -> T:
        """`work()` (which opens its own transactions), run again when the database aborted it
        (a deadlock with a concurrent writer, e.g. the enricher updating the same rows)."""
        for attempt in range(1, attempts + 1):
            try:
                return work()
            except Aborted:
                if attempt == attempts:
                    raise
                time.sleep(0.05 * attempt)
        raise AssertionError("unreachable")

    def ping(self) -> None:
        """Raises when PostgreSQL does not answer a trivial query (readiness)."""
        with self.engine.connect() as c:
            c.execute(text("SELECT 1"))

    def dispose(self) -> None:
        self.engine.dispose()


def claim_oldest_pending(session: Session, run_type, worker: str, *where, **also):
    """In `session`, takes the oldest PENDING run of `run_type` (a table with state, create_time,
    claimed_by and start_time) matching `where`, skipping rows another worker has locked (SKIP
    LOCKED: replicas never take the same run), and marks it RUNNING for `worker` (plus `also`,
    e.g. update_time). Returns it, or None."""
    run = session.execute(
        select(run_type)
        .where(run_type.state == "PENDING", *where)
        .order_by(run_type.create_time)
        .limit(1)
        .with_for_update(skip_locked=True)
    ).scalar_one_or_none()
    if run is None:
        return None
    now = dt.datetime.now(dt.UTC)
    run.state, run.claimed_by, run.start_time = "RUNNING", worker, now
    for key, value in also.items():
        setattr(run, key, now if value is NOW else value)
    session.flush()
    return run


NOW = object()  # claim_oldest_pending(..., update_time=NOW): the claim's time


def renew_lease(session: Session, run_type, run_id, worker: str, lease: dt.timedelta) -> bool:
    """In `session`, extends the lease (lease_expire_time) of a RUNNING run `worker` holds; False
    once it is no longer running there (it ended, or a reaper failed it when the lease lapsed)."""
    (key,) = sa_inspect(run_type).primary_key
    renewed = session.execute(
        update(run_type)
        .where(key == run_id, run_type.state == "RUNNING", run_type.claimed_by == worker)
        .values(lease_expire_time=dt.datetime.now(dt.UTC) + lease)
    )
    return renewed.rowcount == 1


def patiently(
    work: Callable[[], T], patience: float, stopping: Callable[[], bool] = lambda: False
) -> T:
    """`work()`, again while the database is unavailable (a restart, a failover), for up to
    `patience` seconds, backing off from 0.5 s to 5 s: what a worker computed (a scanned
    region's findings) waits in memory for PostgreSQL instead of being lost. Raises the last
    Unavailable after that, or at once when `stopping()`."""
    deadline, delay, warned = time.monotonic() + patience, 0.5, False
    while True:
        try:
            return work()
        except Unavailable:
            if stopping() or time.monotonic() + delay > deadline:
                raise
            if not warned:
                log.warning("the database is unavailable; writing again until it answers")
                warned = True
            time.sleep(delay)
            delay = min(delay * 2, 5.0)
