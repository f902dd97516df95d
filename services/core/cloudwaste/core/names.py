"""Resource names ("scanRuns/{uuid}") in and out; a malformed one names the field."""

from __future__ import annotations

import uuid

from cloudwaste.core.errors import InvalidArgument


def parse(field: str, value: str, collection: str) -> uuid.UUID:
    """`collection/{uuid}` -> uuid, or InvalidArgument naming `field`."""
    if not value:
        raise InvalidArgument(field, f'is required (expected "{collection}/{{uuid}}")')
    prefix = collection + "/"
    if not value.startswith(prefix):
        raise InvalidArgument(
            field, f'"{value[:80]}" is not a {collection} name (expected "{prefix}{{uuid}}")'
        )
    try:
        return uuid.UUID(value[len(prefix) :])
    except ValueError:
        raise InvalidArgument(field, f'"{value[:80]}" does not end in a valid uuid') from None


def request_id(value: str, field: str = "request_id") -> str:
    """An AIP-155 request id as given ("" for none), or InvalidArgument naming `field`."""
    if len(value) > 128:
        raise InvalidArgument(field, f"is {len(value)} characters long; at most 128 (e.g. a UUID)")
    return value


def format(collection: str, ident: uuid.UUID | str) -> str:
    return f"{collection}/{ident}"
