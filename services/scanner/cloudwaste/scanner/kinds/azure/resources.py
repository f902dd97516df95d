"""Azure Resource Manager kinds (Microsoft.Resources): resource groups, with how many resources
each holds."""

from __future__ import annotations

import datetime as dt
from collections import Counter

from azure.mgmt.resource.resources import ResourceManagementClient
from cloudwaste.scanner.domain import Resource
from cloudwaste.scanner.kinds import kind
from cloudwaste.scanner.kinds.azure._common import PROVIDER, Deps, arm_id, enum, resource, resource_group

RESOURCE_GROUP = "azure.resources.resource_group"


@kind(
    key=RESOURCE_GROUP,
    provider=PROVIDER,
    title="Resource group",
    operations=(
        "Microsoft.Resources/subscriptions/resourceGroups/read",
        "Microsoft.Resources/subscriptions/resources/read",
    ),
    id_field="id",
    name_field="name",
    created_field=None,
    ml_config={"resources": int, "managed": bool},
)
def list_resource_groups(conn, subscription: str, now: dt.datetime, deps: Deps) -> list[Resource]:
    """Resource groups of the subscription (ResourceGroups_List) with how many resources each
    holds, counted from one generic listing of the subscription's resources (Resources_List) by
    the resource group of each resource's id, without case (ARM's ids do not agree on it). Two
    listings for the subscription, never one per group. A group a service manages (`managedBy`:
    an AKS node group, a Databricks workspace's) says so."""
    client = conn.client(ResourceManagementClient, subscription)
    groups = list(client.resource_groups.list())
    held = Counter(resource_group(r.id or "") for r in client.resources.list())
    out = []
    for g in groups:
        count = held.get((g.name or "").lower(), 0)
        managed_by = arm_id(g.managed_by)
        out.append(
            resource(
                RESOURCE_GROUP,
                g,
                attributes={
                    "resource_count": count,
                    "managed_by": managed_by,
                    "provisioning_state": enum(g.properties.provisioning_state) if g.properties else None,
                },
                config={"resources": count, "managed": managed_by is not None},
            )
        )
    return out
