"""Resource group rules."""

from __future__ import annotations

from decimal import Decimal

from cloudwaste.scanner.domain import Detection, Resource
from cloudwaste.scanner.rules import Context, Fixtures, attach_fixtures, rule
from cloudwaste.scanner.rules.azure._common import NOW, SUB, res

RESOURCE_GROUP = "azure.resources.resource_group"


def _group(name: str) -> str:
    return f"/subscriptions/{SUB}/resourcegroups/{name}"


@rule(
    key="azure-resource-group-empty",
    provider="azure",
    resource_kind=RESOURCE_GROUP,
    title="Resource group holding no resource",
    permissions=(
        "Microsoft.Resources/subscriptions/resourceGroups/read",
        "Microsoft.Resources/subscriptions/resources/read",
    ),
    confidence_doc=(
        "MEDIUM: the subscription's resource listing holds nothing in the group, but ARM gives "
        "no creation time, so a group created for a deployment still running looks the same."
    ),
)
def resource_group_empty(r: Resource, p, ctx: Context) -> Detection | None:
    """A resource group that holds no resource (none of the subscription's resources has an id
    in it). Zero cost: resource groups are free; hygiene (clutter, and role assignments or
    policies scoped to it that nobody reviews). Not flagged: a group a service manages
    (`managedBy`: AKS node groups, Databricks, managed applications) and one being deleted.
    Same test as the Azure Orphaned Resources workbook's resource groups query."""
    a = r.attributes
    if int(a.get("resource_count") or 0) > 0 or a.get("managed_by"):
        return None
    if a.get("provisioning_state") == "Deleting":
        return None
    return Detection(
        scenario="azure-resource-group-empty",
        confidence="MEDIUM",
        monthly_cost=Decimal(0),
        evidence={
            "resource_count": 0,
            "managed_by": None,
            "cost": "none: resource groups are free (hygiene)",
        },
    )


attach_fixtures(
    "azure-resource-group-empty",
    Fixtures(
        fires=res(
            RESOURCE_GROUP,
            _group("rg-old-poc"),
            0,
            resource_count=0,
            managed_by=None,
            provisioning_state="Succeeded",
        ),
        silent=res(
            RESOURCE_GROUP,
            _group("mc_rg-aks_aks1_westeurope"),
            0,
            resource_count=0,
            managed_by=f"/subscriptions/{SUB}/resourcegroups/rg-aks/providers/microsoft.containerservice/managedclusters/aks1",
            provisioning_state="Succeeded",
        ),
        now=NOW,
    ),
)
