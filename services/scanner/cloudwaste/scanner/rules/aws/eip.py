"""Elastic IP rules."""

from __future__ import annotations

from cloudwaste.scanner.domain import Detection, Resource
from cloudwaste.scanner.rules import Context, Fixtures, attach_fixtures, rule
from cloudwaste.scanner.rules.aws._common import NOW as _NOW
from cloudwaste.scanner.rules.aws._common import res

# --- eip-unassociated -------------------------------------------------------------------------------


@rule(
    key="eip-unassociated",
    provider="aws",
    resource_kind="aws.ec2.elastic_ip",
    title="Elastic IP not associated with anything",
    permissions=("ec2:DescribeAddresses",),
    confidence_doc="Always HIGH: an unassociated address does nothing and bills hourly.",
)
def eip_unassociated(r: Resource, p, ctx: Context) -> Detection | None:
    """An allocated Elastic IP with no association bills by the hour for nothing."""
    if r.attributes.get("association_id") or r.attributes.get("network_interface_id"):
        return None
    return Detection(
        scenario="eip-unassociated",
        confidence="HIGH",
        monthly_cost=ctx.prices.idle_elastic_ip(),
        evidence={"association_id": None, "domain": r.attributes.get("domain", "vpc")},
    )


# --- fixtures: one resource that fires and one near miss per rule ---------------------------------

attach_fixtures(
    "eip-unassociated",
    Fixtures(
        fires=res("aws.ec2.elastic_ip", "eipalloc-1", 10, association_id=None),
        silent=res("aws.ec2.elastic_ip", "eipalloc-2", 10, association_id="eipassoc-1", instance_id="i-1"),
        now=_NOW,
    ),
)
