"""Keyset pagination tokens: opaque, tied to the filter they were issued for."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import uuid

from cloudwaste.core.errors import InvalidArgument


def page_size(value: int, default: int = 50, maximum: int = 1000) -> int:
    if value < 0:
        raise InvalidArgument("page_size", f"must not be negative (got {value})")
    if value == 0:
        return default
    return min(value, maximum)


def _fingerprint(filters: dict) -> str:
    return hashlib.sha256(json.dumps(filters, sort_keys=True, default=str).encode()).hexdigest()[:16]


def encode(position: list, filters: dict) -> str:
    raw = json.dumps({"p": position, "f": _fingerprint(filters)}, default=str).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(token: str, filters: dict) -> list | None:
    if not token:
        return None
    try:
        padded = token + "=" * (-len(token) % 4)
        data = json.loads(base64.urlsafe_b64decode(padded.encode()))
        position, fingerprint = data["p"], data["f"]
    except Exception:
        raise InvalidArgument("page_token", "is not a token this service issued") from None
    if fingerprint != _fingerprint(filters):
        raise InvalidArgument("page_token", "was issued for a different filter; start again without it")
    if not isinstance(position, list) or not all(isinstance(x, str) for x in position):
        raise InvalidArgument("page_token", "is not a token this service issued")
    return position


def encode_keyset(create_time: dt.datetime, ident: uuid.UUID, filters: dict) -> str:
    """Token for keyset pagination ordered by (create_time, id) descending."""
    return encode([create_time.isoformat(), str(ident)], filters)


def decode_keyset(token: str, filters: dict) -> tuple[dt.datetime, uuid.UUID] | None:
    position = decode(token, filters)
    if position is None:
        return None
    try:
        when, ident = position
        return dt.datetime.fromisoformat(when), uuid.UUID(ident)
    except ValueError:
        raise InvalidArgument("page_token", "is not a token this service issued") from None
