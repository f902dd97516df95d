"""Month partitions of ml_training_data (range-partitioned on detected_at), named
`ml_training_data_yYYYYmMM`, owned by the role cloudwaste_ml_owner. Shared by the scanner (a row's
month must exist when it is written) and the exporter's retention purge (creates the coming months
ahead, drops expired ones: it is a member of the owner role)."""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass

from sqlalchemy import text
from sqlalchemy.orm import Session

PARENT = "ml_training_data"
_NAME = re.compile(rf"^{PARENT}_y(\d{{4}})m(\d{{2}})$")


@dataclass(frozen=True)
class MonthPartition:
    name: str
    start: dt.datetime  # inclusive
    end: dt.datetime  # exclusive: the first instant of the next month


def month_of(when: dt.datetime) -> MonthPartition:
    when = when.astimezone(dt.UTC)
    start = dt.datetime(when.year, when.month, 1, tzinfo=dt.UTC)
    end = dt.datetime(start.year + (start.month == 12), start.month % 12 + 1, 1, tzinfo=dt.UTC)
    return MonthPartition(f"{PARENT}_y{start.year}m{start.month:02d}", start, end)


def months_ahead(now: dt.datetime, count: int) -> list[MonthPartition]:
    """The month of `now` and the `count - 1` after it."""
    out, month = [], month_of(now)
    for _ in range(count):
        out.append(month)
        month = month_of(month.end)
    return out


# The names of the partitions of ml_training_data (for a driver without SQLAlchemy: no parameters).
LIST_SQL = (
    "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
    f"JOIN pg_class p ON p.oid = i.inhparent WHERE p.relname = '{PARENT}'"
)


def from_names(names) -> list[MonthPartition]:
    """The month partitions among table names, oldest first (other names are ignored)."""
    out = []
    for name in names:
        m = _NAME.match(name)
        if m:
            out.append(month_of(dt.datetime(int(m.group(1)), int(m.group(2)), 1, tzinfo=dt.UTC)))
    return sorted(out, key=lambda p: p.start)


def existing(session: Session) -> list[MonthPartition]:
    """The month partitions that exist, oldest first (tables not named by this scheme are ignored)."""
    return from_names(session.execute(text(LIST_SQL)).scalars())


def ensure(session: Session, month: MonthPartition) -> bool:
    """Creates the partition if it is missing; returns whether it did. The DDL runs in
    cloudwaste_ensure_month() (migration 0027) as the table's owner, so a service that may only
    insert rows can still open a month, and every partition has the same owner. Its lock is only
    taken to create (once a month), so writers do not queue behind each other."""
    if session.execute(text("SELECT to_regclass(:n)"), {"n": month.name}).scalar() is not None:
        return False
    return bool(session.execute(text("SELECT cloudwaste_ensure_month(:at)"), {"at": month.start}).scalar())


def ensure_for(session: Session, when: dt.datetime) -> None:
    """The partition that `when` falls in exists (created if missing)."""
    ensure(session, month_of(when))


def drop_concurrently(engine, month: MonthPartition, lock_timeout: str = "10s") -> None:
    """Detaches the month without blocking writers to the other months (DETACH ... CONCURRENTLY
    takes no lock that stops inserts into the parent), then drops it. Runs outside a transaction.
    A detach left pending by an interrupted purge is finalized first."""
    with engine.connect() as conn:
        conn = conn.execution_options(isolation_level="AUTOCOMMIT")
        conn.execute(text(f"SET lock_timeout = '{lock_timeout}'"))
        pending = conn.execute(
            text(
                "SELECT i.inhdetachpending FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid "
                "WHERE c.relname = :n"
            ),
            {"n": month.name},
        ).scalar()
        if pending is not None:  # still attached
            how = "FINALIZE" if pending else "CONCURRENTLY"
            conn.execute(text(f"ALTER TABLE {PARENT} DETACH PARTITION {month.name} {how}"))
        conn.execute(text(f"DROP TABLE IF EXISTS {month.name}"))
