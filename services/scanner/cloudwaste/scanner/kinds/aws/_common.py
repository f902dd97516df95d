"""What the AWS kind modules share: kind keys, tag and pagination helpers, the Resource builder."""

import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from cloudwaste.scanner.domain import Resource
from cloudwaste.scanner.kinds import KINDS

PROVIDER = "aws"
VOLUME = "aws.ec2.volume"
INSTANCE = "aws.ec2.instance"
ELASTIC_IP = "aws.ec2.elastic_ip"
SNAPSHOT = "aws.ec2.snapshot"
NAT_GATEWAY = "aws.ec2.nat_gateway"
LOAD_BALANCER = "aws.elbv2.load_balancer"
# Where the kinds of global services (Route 53, CloudFront, IAM) are listed: in this region's
# scope only, so that each global resource is reported once per scan, not once per region.
GLOBAL_REGION = "us-east-1"

_STOP_TIME = re.compile(r"\((\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) GMT\)")

Deps = Mapping[str, Sequence[Resource]]


def tags(items: Iterable[dict] | None) -> dict[str, str]:
    return {t["Key"]: t.get("Value", "") for t in items or []}


def paginate(client, op: str, key: str, **kwargs) -> Iterable[dict]:
    for page in client.get_paginator(op).paginate(**kwargs):
        yield from page.get(key, [])


def resource(kind_key: str, record: dict, region: str, tags: dict[str, str], **fields: Any) -> Resource:
    """A Resource whose id, name and creation time come from the fields the kind declares."""
    k = KINDS.get(kind_key)
    name = tags.get(k.name_field[4:], "") if k.name_field.startswith("tag:") else record.get(k.name_field, "")
    if "resource_id" not in fields:
        fields["resource_id"] = record[k.id_field]
    fields.setdefault("name", name or "")
    fields.setdefault("created_at", record.get(k.created_field) if k.created_field else None)
    return Resource(provider=PROVIDER, kind=kind_key, region=region, tags=tags, **fields)


def utc(value) -> dt.datetime | None:
    """An AWS timestamp as an aware UTC datetime: a datetime (naive ones are UTC), or an ISO 8601
    string as the APIs that return strings write it ("2026-01-02T03:04:05.000Z", Lambda's
    "...000+0000", fractions of any length); None when absent or unreadable."""
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC) if value.tzinfo else value.replace(tzinfo=dt.UTC)
    if not isinstance(value, str) or not value.strip():
        return None
    text = value.strip().replace("Z", "+00:00")
    if len(text) > 5 and text[-5] in "+-" and text[-3] != ":":  # +0000 -> +00:00
        text = f"{text[:-2]}:{text[-2:]}"
    if "." in text:  # fractions of any length (Lambda writes 3 digits, moto 9)
        head, _, rest = text.partition(".")
        digits = "".join(c for c in rest if c.isdigit())
        text = f"{head}.{digits[:6].ljust(6, '0')}{rest[len(digits) :]}"
    try:
        parsed = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return parsed.astimezone(dt.UTC) if parsed.tzinfo else parsed.replace(tzinfo=dt.UTC)


def stopped_since(reason: str | None) -> dt.datetime | None:
    """Stop time from StateTransitionReason, e.g. 'User initiated (2026-01-02 03:04:05 GMT)'."""
    m = _STOP_TIME.search(reason or "")
    if not m:
        return None
    return dt.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=dt.UTC)
