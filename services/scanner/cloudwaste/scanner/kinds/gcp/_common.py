"""What the GCP kind modules share: kind keys, resource paths, locations, aggregated listings and
the Resource builder.

A listing gets the provider's `GcpConnection` and the scope, a project id:
`conn.compute(compute_v1.DisksClient)` is a google-cloud-compute client (REST) whose requests the
provider records and retries; `conn.pages("sqladmin", ...)` pages a REST API the SDK lacks.

Resource ids are resource paths, "projects/p/zones/us-central1-a/disks/d1": the selfLink without
its host, which is also how one resource refers to another (a disk's `users`, an instance's
`disks[].source`), so lookups between kinds match whatever host the API wrote. A resource's
location is its zone, its region or "global".
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

from cloudwaste.scanner.domain import Resource

PROVIDER = "gcp"
GLOBAL = "global"
Deps = Mapping[str, Sequence[Resource]]


def path_of(link: str | None) -> str | None:
    """A selfLink (or a partial URL) as a resource path from "projects/" on; None for None."""
    if not link:
        return None
    at = link.find("projects/")
    return link[at:] if at >= 0 else link


def last(link: str | None) -> str | None:
    """The last segment of a URL ("…/diskTypes/pd-ssd" -> "pd-ssd")."""
    return link.rstrip("/").rsplit("/", 1)[-1] if link else None


def location_of(item: Any) -> str:
    """Where a compute resource is: its zone, else its region, else "global"."""
    return last(getattr(item, "zone", None) or None) or last(getattr(item, "region", None) or None) or GLOBAL


def region_of(place: str) -> str:
    """The region of a zone ("us-central1-a" -> "us-central1"); a region or "global" as is."""
    head, _, tail = place.rpartition("-")
    return head if head and len(tail) <= 2 and not tail.isdigit() else place


def gcp_time(value: str | None) -> dt.datetime | None:
    """An RFC 3339 timestamp as Compute writes it ("2026-01-01T00:00:00.000-08:00") in UTC."""
    if not value:
        return None
    try:
        return dt.datetime.fromisoformat(value.replace("Z", "+00:00")).astimezone(dt.UTC)
    except ValueError:
        return None


def aggregated(client: Any, method: str, request: Any, field: str) -> tuple[list[Any], dict[str, str]]:
    """Every item of an aggregated list across zones and regions (the pager follows
    nextPageToken), and the scopes that did not answer: {zone or region: why}. A scope with an
    UNREACHABLE warning leaves the others standing; the caller returns a `kinds.Listing`."""
    items: list[Any] = []
    unreached: dict[str, str] = {}
    for page in getattr(client, method)(request=request).pages:
        for scope, scoped in page.items.items():
            warning = getattr(scoped, "warning", None)
            if warning is not None and getattr(warning, "code", "") == "UNREACHABLE":
                unreached[last(scope) or scope] = "unreachable"
                continue
            items.extend(getattr(scoped, field))
        for scope in getattr(page, "unreachables", ()) or ():
            unreached[last(scope) or scope] = "unreachable"
    return items, unreached


def labels(item: Any) -> dict[str, str]:
    return {str(k): str(v) for k, v in (getattr(item, "labels", None) or {}).items()}


def resource(kind_key: str, item: Any, **fields: Any) -> Resource:
    """A Resource from a google-cloud-compute message: id (its path), name, location, labels and
    creation time from the item; attributes, config and parent fields from the caller."""
    fields.setdefault("created_at", gcp_time(getattr(item, "creation_timestamp", None)))
    return Resource(
        provider=PROVIDER,
        kind=kind_key,
        resource_id=path_of(item.self_link) or item.name,
        region=location_of(item),
        name=item.name or "",
        tags=labels(item),
        **fields,
    )


def iter_pages(conn: Any, api: str, path: str, key: str, params: Mapping[str, Any] | None = None) -> Iterator[dict]:
    """Every item under `key` of a REST listing the SDK does not cover (Cloud SQL...)."""
    for page in conn.pages(api, path, params):
        yield from page.get(key, [])
