"""Azure resource groups, seeded last (modules seed in name order): the other modules create
groups implicitly as they put resources, so this one adds groups of its own (empty ones to flag;
near misses: an empty group a service manages, an empty group being deleted) and then gives
every group of every subscription its truth from what it holds at the end of seeding.

A group is waste when no resource's id is in it, no service manages it and it is not being
deleted: the same facts the scanner reads (ResourceGroups_List + Resources_List)."""

from __future__ import annotations

from collections import Counter

from ..azure_api import Subscription
from ..cloud_estate import EstateContext
from ..truth import TruthResource

GROUP = "azure.resources.resource_group"
SCENARIO = "azure-resource-group-empty"


def _held(sub: Subscription) -> Counter:
    """Resources per group (lower-case name), as counted from their ids."""
    out: Counter = Counter()
    for resources in sub.resources.values():
        for rid in resources:
            parts = rid.strip("/").split("/")
            if len(parts) > 3 and parts[2] == "resourcegroups":
                out[parts[3]] += 1
    return out


def seed(ctx: EstateContext) -> list[TruthResource]:
    rng = ctx.rng("resource_groups")
    api = ctx.api
    tags_of: dict[str, dict] = {}
    for i in range(ctx.count(0.02)):  # waste: emptied or never used
        sub, loc = ctx.pick(rng)
        tags = ctx.tags(rng, "resource_group")
        group = api.resource_group(sub, f"rg-poc-{i}", loc)
        group["tags"] = tags
        tags_of[group["id"].lower()] = tags
    for i in range(ctx.count(0.01)):  # near misses: managed by a service (AKS node group), being deleted
        sub, loc = ctx.pick(rng)
        tags = ctx.tags(rng, "resource_group")
        if i % 2 == 0:
            group = api.resource_group(sub, f"MC_rg-aks_aks{i}_{loc}", loc)
            group["managedBy"] = (
                f"/subscriptions/{sub}/resourceGroups/rg-aks/providers/Microsoft.ContainerService/managedClusters/aks{i}"
            )
        else:
            group = api.resource_group(sub, f"rg-teardown-{i}", loc)
            group["properties"] = {"provisioningState": "Deleting"}
        group["tags"] = tags
        tags_of[group["id"].lower()] = tags
    truth = []
    for sub_id in ctx.scopes:
        sub = api.subscription(sub_id)
        held = _held(sub)
        for name, group in sorted(sub.resource_groups.items()):
            tags = tags_of.get(group["id"].lower(), dict(group.get("tags") or {}))
            empty = (
                held.get(name, 0) == 0
                and not group.get("managedBy")
                and group.get("properties", {}).get("provisioningState") != "Deleting"
            )
            scenario = SCENARIO if empty else None
            decision = (
                ctx.decide(rng, tags=tags, scenario=SCENARIO, age_days=None, monthly_cost=0.0)
                if empty
                else None
            )
            truth.append(ctx.truth(group["id"].lower(), GROUP, group["location"], tags, scenario, decision))
    return truth
