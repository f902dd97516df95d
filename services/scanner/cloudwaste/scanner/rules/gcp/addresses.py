"""Static IP address rules. Google bills a static external IPv4 address that is reserved but
assigned to nothing, or assigned to a VM that is not running, at the unused rate ($0.01 an hour
in 2025), more than one in use; an internal address is free. One finding per address: the first
rule judges RESERVED addresses, the second IN_USE ones whose instance is stopped."""

from __future__ import annotations

from decimal import Decimal

from cloudwaste.scanner.domain import Detection, FindingRef, Resource
from cloudwaste.scanner.rules import Context, Fixtures, Param, age_days, attach_fixtures, rule
from cloudwaste.scanner.rules.gcp._common import NOW, days_ago, path, res, rounded
from cloudwaste.scanner.rules.gcp._compute import (
    ADDRESS,
    INSTANCE,
    INSTANCE_FINDING_DAYS,
    static_ip_monthly,
    stopped_days,
)


def _cost(r: Resource, ctx: Context, state: str) -> tuple[Decimal, dict]:
    cost = static_ip_monthly(ctx, r.region, state)
    if cost is None:
        return Decimal(0), {"cost_unknown": f"no static IP price ({state}) for {r.region}"}
    return cost, {}


# --- gcp-address-unused ----------------------------------------------------------------------------


@rule(
    key="gcp-address-unused",
    provider="gcp",
    resource_kind=ADDRESS,
    title="Static external IP address reserved but assigned to nothing",
    permissions=("compute.addresses.list", "compute.globalAddresses.list"),
    params={"min_age_days": Param(float, 1.0, "Reserved at least this long ago (not one being set up).", 0)},
    confidence_doc="HIGH once reserved for 7 days or more; MEDIUM before (it may be about to be assigned).",
)
def address_unused(r: Resource, p, ctx: Context) -> Detection | None:
    """A static EXTERNAL address with status RESERVED and no `users` (no VM, forwarding rule or
    Cloud NAT holds it) bills the unused static IP price every hour for nothing. Internal
    addresses are free and never reported. Steampipe's Thrifty mod for GCP flags every RESERVED
    external address (compute_address_unattached); the default `min_age_days` 1 only leaves out
    one reserved in the last day, on its way to be assigned. How long: since it was reserved
    (`creationTimestamp`; Google gives no release time)."""
    a = r.attributes
    if a.get("address_type") != "EXTERNAL" or a.get("status") != "RESERVED" or a.get("users"):
        return None
    age = age_days(r.created_at, ctx.now)
    if age is None or age < p["min_age_days"]:
        return None
    cost, unknown = _cost(r, ctx, "unused")
    return Detection(
        scenario="gcp-address-unused",
        confidence="HIGH" if age >= 7 else "MEDIUM",
        monthly_cost=cost,
        evidence={
            "status": "RESERVED",
            "address_type": "EXTERNAL",
            "users": [],
            "global": bool(a.get("global")),
            "network_tier": a.get("network_tier"),
            "reserved_days": rounded(age),
            "billed": "hourly, as a static external IP assigned to nothing",
            **unknown,
            **ctx.prices.evidence(r.region, "compute"),
        },
    )


# --- gcp-address-on-stopped-instance ---------------------------------------------------------------


@rule(
    key="gcp-address-on-stopped-instance",
    provider="gcp",
    resource_kind=ADDRESS,
    needs=(INSTANCE,),
    title="Static external IP address of an instance stopped for days",
    permissions=("compute.addresses.list", "compute.globalAddresses.list", "compute.instances.list"),
    params={
        "min_stopped_days": Param(
            float, 7.0, "The instance has been stopped (TERMINATED) at least this long.", 1
        )
    },
    confidence_doc="HIGH after 30 days stopped (the machine is then a finding of its own), else MEDIUM.",
)
def address_on_stopped_instance(r: Resource, p, ctx: Context) -> Detection | None:
    """A static EXTERNAL address IN_USE by an instance that has been stopped (TERMINATED) for
    days bills the unused static IP price every hour (Google bills an address on a VM that is
    not running as unused) while the machine serves nothing. Release it, or keep it on purpose.

    From 30 days stopped the machine is a `gcp-instance-terminated-long` finding, and this one
    is a part of it (`parent`), like its disks. How long: since the instance's
    `lastStopTimestamp`. Default `min_stopped_days` 7: longer than a weekend or a maintenance
    window; the address bills from the first hour, so it comes before the machine's own 30 days."""
    a = r.attributes
    if a.get("address_type") != "EXTERNAL" or a.get("status") != "IN_USE":
        return None
    instances = [u for u in a.get("users") or [] if u and "/instances/" in u]
    if len(instances) != 1 or len(a.get("users") or []) != 1:
        return None
    instance = instances[0]
    days = stopped_days(ctx.lookup(INSTANCE, instance), ctx)
    if days is None or days < p["min_stopped_days"]:
        return None
    part_of_machine = days >= INSTANCE_FINDING_DAYS
    cost, unknown = _cost(r, ctx, "on_stopped_vm")
    return Detection(
        scenario="gcp-address-on-stopped-instance",
        confidence="HIGH" if part_of_machine else "MEDIUM",
        monthly_cost=cost,
        evidence={
            "status": "IN_USE",
            "address_type": "EXTERNAL",
            "instance": instance,
            "instance_status": "TERMINATED",
            "instance_stopped_days": rounded(days),
            "billed": "hourly, as a static external IP of a VM that is not running",
            **unknown,
            **ctx.prices.evidence(r.region, "compute"),
        },
        parent=FindingRef(INSTANCE, instance, "gcp-instance-terminated-long") if part_of_machine else None,
    )


# --- fixtures ----------------------------------------------------------------------------------------

_R = "regions/europe-west1"
_Z = "zones/europe-west1-b"


def _address(name: str, status: str, users: list[str], address_type: str = "EXTERNAL") -> Resource:
    return res(
        ADDRESS,
        path(_R, "addresses", name),
        30,
        "europe-west1",
        status=status,
        address_type=address_type,
        users=users,
        network_tier="PREMIUM",
        **{"global": False},
    )


attach_fixtures(
    "gcp-address-unused",
    Fixtures(
        fires=_address("spare-ip", "RESERVED", []),
        # the near miss: an internal address reserved for nothing is free
        silent=_address("internal-ip", "RESERVED", [], "INTERNAL"),
        now=NOW,
    ),
)


def _vm(name: str, stopped: float) -> Resource:
    return res(
        INSTANCE,
        path(_Z, "instances", name),
        400,
        status="TERMINATED",
        machine_type="e2-medium",
        instance_id=name,
        last_stop=days_ago(stopped),
    )


attach_fixtures(
    "gcp-address-on-stopped-instance",
    Fixtures(
        fires=_address("ip-of-stopped-vm", "IN_USE", [path(_Z, "instances", "stopped-vm")]),
        # the near miss: its instance stopped 6 days ago
        silent=_address("ip-of-paused-vm", "IN_USE", [path(_Z, "instances", "paused-vm")]),
        related=(_vm("stopped-vm", 10), _vm("paused-vm", 6)),
        now=NOW,
    ),
)
