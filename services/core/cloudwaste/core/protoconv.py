"""Small conversions between domain values and shared proto types (no gRPC here)."""

from __future__ import annotations

import datetime as dt
from decimal import ROUND_HALF_EVEN, Decimal

from cloudwaste.common.v1 import confidence_pb2, money_pb2, provider_pb2
from google.protobuf.timestamp_pb2 import Timestamp
from google.rpc import status_pb2


def money(amount: Decimal | float | int, currency: str = "USD") -> money_pb2.Money:
    d = Decimal(str(amount)).quantize(Decimal("0.000000001"), rounding=ROUND_HALF_EVEN)
    units = int(d)
    nanos = int(((d - units) * 1_000_000_000).to_integral_value())
    return money_pb2.Money(currency_code=currency, units=units, nanos=nanos)


def money_amount(m: money_pb2.Money) -> Decimal:
    return Decimal(m.units) + Decimal(m.nanos) / Decimal(1_000_000_000)


_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)


def timestamp(value: dt.datetime | None) -> Timestamp | None:
    """A Timestamp of `value` (a naive value is local time, as datetime.astimezone reads it).
    Computed from the difference to the epoch: a fifth of Timestamp.FromDatetime's time, which
    counts for ListFindings (six per finding)."""
    if value is None:
        return None
    if value.tzinfo is None:
        value = value.astimezone(dt.UTC)
    delta = value - _EPOCH
    return Timestamp(seconds=delta.days * 86_400 + delta.seconds, nanos=delta.microseconds * 1000)


def run_error(run) -> status_pb2.Status | None:
    """The google.rpc.Status of a failed run (its error_code and error_message), None otherwise.
    A run that failed before codes were recorded reads as UNKNOWN with its message."""
    if not getattr(run, "error_message", None) and not getattr(run, "error_code", None):
        return None
    return status_pb2.Status(code=run.error_code or 2, message=run.error_message or "")


def provider_key(value: int) -> str:
    """PROVIDER_AWS -> "aws"; "" for an unknown or unspecified value."""
    if value == provider_pb2.PROVIDER_UNSPECIFIED or value not in provider_pb2.Provider.values():
        return ""
    return provider_pb2.Provider.Name(value).removeprefix("PROVIDER_").lower()


def provider_enum(key: str) -> int:
    """ "aws" (any case) -> PROVIDER_AWS; PROVIDER_UNSPECIFIED for an unknown key."""
    try:
        return provider_pb2.Provider.Value(f"PROVIDER_{key.upper()}")
    except ValueError:
        return provider_pb2.PROVIDER_UNSPECIFIED


def confidence_key(value: int) -> str:
    """CONFIDENCE_LEVEL_HIGH -> "HIGH"; "" for an unknown or unspecified value."""
    if (
        value == confidence_pb2.CONFIDENCE_LEVEL_UNSPECIFIED
        or value not in confidence_pb2.ConfidenceLevel.values()
    ):
        return ""
    return confidence_pb2.ConfidenceLevel.Name(value).removeprefix("CONFIDENCE_LEVEL_")


def confidence_enum(key: str) -> int:
    """ "high" (any case) -> CONFIDENCE_LEVEL_HIGH; CONFIDENCE_LEVEL_UNSPECIFIED for an unknown key."""
    try:
        return confidence_pb2.ConfidenceLevel.Value(f"CONFIDENCE_LEVEL_{key.upper()}")
    except ValueError:
        return confidence_pb2.CONFIDENCE_LEVEL_UNSPECIFIED
