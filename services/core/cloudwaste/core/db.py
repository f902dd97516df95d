"""Engine and transaction helpers. Every write happens inside one `transaction()`."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import psycopg
from cloudwaste.core.errors import Aborted, Unavailable
from sqlalchemy import Engine, create_engine
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session, sessionmaker


def make_engine(url: str, pool_size: int = 10) -> Engine:
    return create_engine(url, pool_size=pool_size, max_overflow=10, pool_pre_ping=True, future=True)


class Database:
    def __init__(self, url: str, pool_size: int = 10) -> None:
        self.engine = make_engine(url, pool_size)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    @contextmanager
    def transaction(self) -> Iterator[Session]:
        """A session whose work commits on success and rolls back on any error."""
        session = self._sessions()
        try:
            with session.begin():
                yield session
        except OperationalError as exc:
            if isinstance(exc.orig, psycopg.errors.TransactionRollbackError):  # deadlock, serialization
                raise Aborted(
                    "the database aborted the transaction (a conflict with another one); retry"
                ) from exc
            raise Unavailable("the database is unavailable; retry later") from exc
        finally:
            session.close()

    def dispose(self) -> None:
        self.engine.dispose()
