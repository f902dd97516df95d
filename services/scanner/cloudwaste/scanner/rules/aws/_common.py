"""What the AWS rule modules share: the fixtures' clock and builders, rounding, stop times."""

from __future__ import annotations

import datetime as dt

from cloudwaste.scanner.domain import Resource
from cloudwaste.scanner.rules import Context, age_days

UTC = dt.UTC
NOW = dt.datetime(2026, 6, 1, tzinfo=UTC)  # the fixtures' "now"


def days_ago(days: float) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


def rounded(x: float | None) -> float | None:
    return None if x is None else round(x, 1)


def res(kind: str, rid: str, created_days: float, **attributes) -> Resource:
    """A fixture resource in eu-west-1 created `created_days` before NOW."""
    return Resource("aws", kind, rid, "eu-west-1", created_at=days_ago(created_days), attributes=attributes)


def stopped_days(instance: Resource, ctx: Context) -> float | None:
    """Days since a stopped instance stopped; None when it is not stopped or the time is unknown."""
    if instance.attributes.get("state") != "stopped":
        return None
    return age_days(instance.attributes.get("stopped_since"), ctx.now)
