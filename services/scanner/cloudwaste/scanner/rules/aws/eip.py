"""Elastic IP rules. Since February 2024 AWS bills every public IPv4 address by the hour, in use or
not, so an address that serves nothing costs the idle price."""

from __future__ import annotations

from cloudwaste.scanner.domain import Detection, FindingRef, Resource
from cloudwaste.scanner.rules import Context, Fixtures, Param, attach_fixtures, rule
from cloudwaste.scanner.rules.aws._common import NOW as _NOW
from cloudwaste.scanner.rules.aws._common import days_ago, res, rounded, stopped_days

# --- eip-unassociated -------------------------------------------------------------------------------


@rule(
    key="eip-unassociated",
    provider="aws",
    resource_kind="aws.ec2.elastic_ip",
    title="Elastic IP not associated with anything",
    permissions=("ec2:DescribeAddresses", "ec2:DescribeNetworkInterfaces"),
    confidence_doc="Always HIGH: an unassociated address does nothing and bills hourly.",
)
def eip_unassociated(r: Resource, p, ctx: Context) -> Detection | None:
    """An allocated Elastic IP with no association bills by the hour for nothing. An address on a
    network interface is associated (`eip-on-detached-eni` covers an interface nothing uses)."""
    if r.attributes.get("association_id") or r.attributes.get("network_interface_id"):
        return None
    return Detection(
        scenario="eip-unassociated",
        confidence="HIGH",
        monthly_cost=ctx.prices.idle_elastic_ip(),
        evidence={
            "association_id": None,
            "domain": r.attributes.get("domain", "vpc"),
            **ctx.prices.evidence(),
        },
    )


# --- eip-on-stopped-instance ------------------------------------------------------------------------

# From this many days stopped the instance has its own finding (`ec2-instance-stopped`'s default),
# which this one then is a part of.
_INSTANCE_FINDING_DAYS = 30


@rule(
    key="eip-on-stopped-instance",
    provider="aws",
    resource_kind="aws.ec2.elastic_ip",
    needs=("aws.ec2.instance",),
    title="Elastic IP on a stopped instance",
    permissions=(
        "ec2:DescribeAddresses",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeInstances",
        "ec2:DescribeVolumes",  # the instance listing reads the volumes attached
    ),
    params={"min_stopped_days": Param(float, 7.0, "The instance has been stopped at least this long.", 1)},
    confidence_doc="HIGH after 30 days stopped (the machine is then a finding of its own), else MEDIUM.",
)
def eip_on_stopped_instance(r: Resource, p, ctx: Context) -> Detection | None:
    """An Elastic IP associated with an instance that has been stopped for days bills the idle
    public IPv4 price every hour (since February 2024 every public IPv4 bills, used or not) while
    the machine serves nothing. Release it, or keep it on purpose (an allow-listed address).

    From 30 days stopped the machine is an `ec2-instance-stopped` finding, and this one is a part of
    it (`parent`), like its disks: the machine's finding shows the total without counting twice.

    Default `min_stopped_days` 7: longer than a weekend or a maintenance window, so a machine
    stopped for a while and started again is not reported; the address bills from the first hour,
    so it comes well before the machine's own 30 days."""
    instance_id = r.attributes.get("instance_id")
    if not instance_id:
        return None
    instance = ctx.lookup("aws.ec2.instance", instance_id)
    if instance is None:
        return None
    days_stopped = stopped_days(instance, ctx)
    if days_stopped is None or days_stopped < p["min_stopped_days"]:
        return None
    part_of_machine = days_stopped >= _INSTANCE_FINDING_DAYS
    return Detection(
        scenario="eip-on-stopped-instance",
        confidence="HIGH" if part_of_machine else "MEDIUM",
        monthly_cost=ctx.prices.idle_elastic_ip(),
        evidence={
            "instance_id": instance_id,
            "instance_state": "stopped",
            "instance_stopped_days": rounded(days_stopped),
            "public_ip_billed": "hourly, as an idle public IPv4 address",
            **ctx.prices.evidence(),
        },
        parent=FindingRef("aws.ec2.instance", instance_id, "ec2-instance-stopped")
        if part_of_machine
        else None,
    )


# --- eip-on-detached-eni ----------------------------------------------------------------------------


@rule(
    key="eip-on-detached-eni",
    provider="aws",
    resource_kind="aws.ec2.elastic_ip",
    title="Elastic IP on a network interface attached to nothing",
    permissions=("ec2:DescribeAddresses", "ec2:DescribeNetworkInterfaces"),
    confidence_doc=(
        "MEDIUM: the address serves nothing while its interface is detached, but an interface is "
        "sometimes kept detached on purpose as a standby to move onto another instance (failover), "
        "and AWS does not say since when it has been detached."
    ),
)
def eip_on_detached_eni(r: Resource, p, ctx: Context) -> Detection | None:
    """An Elastic IP associated with a network interface (and no instance) whose status is
    `available`, i.e. attached to nothing, bills the idle public IPv4 price every hour for nothing.
    Interfaces that AWS services manage (requester-managed: NAT gateways, load balancers, VPC
    endpoints...) and addresses a service manages are never reported: their lifecycle is the
    service's. No parameter: the interface's status is the whole test (AWS gives no detach time)."""
    if r.attributes.get("instance_id") or not r.attributes.get("network_interface_id"):
        return None
    if r.attributes.get("service_managed") or r.attributes.get("network_interface_requester_managed"):
        return None
    if r.attributes.get("network_interface_status") != "available":
        return None
    if r.attributes.get("network_interface_attached_instance_id"):
        return None
    return Detection(
        scenario="eip-on-detached-eni",
        confidence="MEDIUM",
        monthly_cost=ctx.prices.idle_elastic_ip(),
        evidence={
            "network_interface_id": r.attributes["network_interface_id"],
            "network_interface_status": "available",
            "network_interface_type": r.attributes.get("network_interface_type"),
            "association_id": r.attributes.get("association_id"),
            **ctx.prices.evidence(),
        },
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


def _stopped(rid: str, days: float) -> Resource:
    return res(
        "aws.ec2.instance", rid, 400, state="stopped", stopped_since=days_ago(days), instance_type="m5.large"
    )


attach_fixtures(
    "eip-on-stopped-instance",
    Fixtures(
        fires=res(
            "aws.ec2.elastic_ip", "eipalloc-on-10", 10, association_id="eipassoc-10", instance_id="i-10"
        ),
        # the near miss: its instance has been stopped for 6 days only
        silent=res("aws.ec2.elastic_ip", "eipalloc-on-6", 10, association_id="eipassoc-6", instance_id="i-6"),
        related=(_stopped("i-10", 10), _stopped("i-6", 6)),
        now=_NOW,
    ),
)
attach_fixtures(
    "eip-on-detached-eni",
    Fixtures(
        fires=res(
            "aws.ec2.elastic_ip",
            "eipalloc-eni-free",
            10,
            association_id="eipassoc-20",
            instance_id=None,
            network_interface_id="eni-free",
            network_interface_status="available",
            network_interface_type="interface",
            network_interface_requester_managed=False,
        ),
        # the near miss: the same, on an interface that is in use
        silent=res(
            "aws.ec2.elastic_ip",
            "eipalloc-eni-used",
            10,
            association_id="eipassoc-21",
            instance_id=None,
            network_interface_id="eni-used",
            network_interface_status="in-use",
            network_interface_type="interface",
            network_interface_requester_managed=False,
        ),
        now=_NOW,
    ),
)
