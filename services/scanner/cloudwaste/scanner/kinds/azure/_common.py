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


def parent_by_type(attributes: tuple[str, ...], kinds: dict[str, str]):
    """A kind's parent from the first ARM id found in `attributes` (the resource itself, or one
    of its sub-resources such as a NIC's IP configuration): the top-level resource of that id,
    whose type ("networkinterfaces", "disks"...) names the parent kind in `kinds`; None for a
    type not in `kinds`."""

    def parent(r: Resource) -> tuple[str, str] | None:
        for attribute in attributes:
            parts = str(r.attributes.get(attribute) or "").strip("/").lower().split("/")
            # subscriptions/<s>/resourcegroups/<g>/providers/<namespace>/<type>/<name>/...
            if len(parts) >= 8 and parts[4] == "providers" and parts[6] in kinds:
                return kinds[parts[6]], "/" + "/".join(parts[:8])
        return None

    return parent


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
