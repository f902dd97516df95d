"""What the Azure kind modules share: kind keys, ARM ids, SDK enums and the Resource builder.

A listing gets the provider's `AzureConnection` and the scope, a subscription id:
`conn.client(ComputeManagementClient, subscription)` is an azure-mgmt client whose requests the
provider records and retries. Every list is the SDK's pager (it follows `nextLink`).

Resource ids are ARM ids in lower case: ARM compares them without case, and its APIs do not
agree on the case of the same id (a disk's `managedBy` vs the VM's own `id`), so lookups between
kinds only match in one case.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from cloudwaste.scanner.domain import Resource

PROVIDER = "azure"
Deps = Mapping[str, Sequence[Resource]]


def arm_id(value: str | None) -> str | None:
    """An ARM id in lower case (None stays None)."""
    return value.lower() if value else None


def resource_group(resource_id: str) -> str:
    """The resource group (lower case) of an ARM id, "" when it has none."""
    parts = resource_id.strip("/").lower().split("/")
    return parts[3] if len(parts) > 3 and parts[2] == "resourcegroups" else ""


def enum(value: Any) -> str | None:
    """An SDK enum (or a plain string) as the string ARM sends ("Unattached")."""
    if value is None:
        return None
    return str(getattr(value, "value", value))


def location(value: str | None) -> str:
    """An ARM location as its programmatic name ("West Europe" -> "westeurope")."""
    return (value or "").lower().replace(" ", "")


def aware(value: dt.datetime | None) -> dt.datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)


def resource(kind_key: str, model: Any, **fields: Any) -> Resource:
    """A Resource from an azure-mgmt model: id (lower case), name, location and tags from the
    model; `created_at`, `attributes`, `config` and the parent fields from the caller."""
    return Resource(
        provider=PROVIDER,
        kind=kind_key,
        resource_id=arm_id(model.id) or "",
        region=location(getattr(model, "location", None)),
        name=model.name or "",
        tags={str(k): str(v) for k, v in (getattr(model, "tags", None) or {}).items()},
        **fields,
    )
