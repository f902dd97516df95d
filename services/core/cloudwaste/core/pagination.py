"""Keyset pagination tokens: opaque, tied to the filter they were issued for."""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import uuid

from cloudwaste.core.errors import InvalidArgument
from sqlalchemy import tuple_


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


def newest_first(session, query, entity, page_size: int, page_token: str, filters: dict, id_column=None):
    """One page of `query` (a select whose first element is `entity`), newest first by
    (entity.create_time, id), after the position `page_token` holds; returns (rows, next token),
    the token empty on the last page. Rows are scalars when the select has one element, else tuples."""
    ident = id_column if id_column is not None else entity.id
    after = decode_keyset(page_token, filters)
    if after is not None:
        query = query.where(tuple_(entity.create_time, ident) < tuple_(*after))
    result = session.execute(query.order_by(entity.create_time.desc(), ident.desc()).limit(page_size + 1))
    rows = list(result.scalars()) if len(query.column_descriptions) == 1 else [tuple(r) for r in result.all()]
    if len(rows) <= page_size:
        return rows, ""
    rows = rows[:page_size]
    last = rows[-1][0] if isinstance(rows[-1], tuple) else rows[-1]
    return rows, encode_keyset(last.create_time, getattr(last, ident.key), filters)
