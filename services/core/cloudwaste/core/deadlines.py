"""The deadline of the RPC being handled, for the work below it.

The server's interceptor sets it from the caller's gRPC deadline; `Database.transaction()` turns
what is left of it into PostgreSQL's `statement_timeout` for that transaction, so a query whose
caller has given up is cancelled by the database instead of running on for nobody (DEADLINE_EXCEEDED).
Work a call hands to a worker (a scan, an export, a training run) runs in the worker's threads,
where there is no deadline: the run the call created goes on, and the call has returned it.
"""

from __future__ import annotations

import contextvars
import time

_deadline: contextvars.ContextVar[float | None] = contextvars.ContextVar("cloudwaste_deadline", default=None)


def remaining() -> float | None:
    """Seconds left before the current call's deadline; None outside a call or without one."""
    deadline = _deadline.get()
    return None if deadline is None else deadline - time.monotonic()


NONE_BEYOND = 7 * 86_400.0  # a call without a deadline reports one centuries away: none


def start(seconds_left: float | None) -> contextvars.Token:
    """The current call's deadline, from grpc's `time_remaining()` (None, or huge, for none)."""
    if seconds_left is None or seconds_left > NONE_BEYOND:
        return _deadline.set(None)
    return _deadline.set(time.monotonic() + seconds_left)


def done(token: contextvars.Token) -> None:
    try:
        _deadline.reset(token)
    except ValueError:  # a stream closed from another thread: every call sets its own anyway
        pass
