"""Managed disk rules: unattached, attached to a long-deallocated VM (a part of the VM's finding),
and Premium SSD on a recently deallocated VM. Exclusive: an Unattached disk is only judged by
`azure-disk-unattached`; a disk of a deallocated VM by the other two, split at
`min_deallocated_days` of `azure-disk-of-deallocated-vm` (30 days by default)."""

from __future__ import annotations

from decimal import Decimal

from cloudwaste.scanner.domain import Detection, FindingRef, Resource
from cloudwaste.scanner.rules import Context, Fixtures, Param, age_days, attach_fixtures, rule
from cloudwaste.scanner.rules.azure._common import NOW, arm, days_ago, disk_monthly, disk_tier, res, rounded
from cloudwaste.scanner.rules.azure.vms import deallocated_days

DISK = "azure.compute.disk"
VM = "azure.compute.virtual_machine"

# --- azure-disk-unattached ----------------------------------------------------------------------


def _site_recovery_replica(r: Resource) -> bool:
    """Azure Site Recovery keeps its replica and seed disks unattached until a failover: they
    are its working state, not waste. It names them "asrseeddisk-…" and "…-ASRReplica"."""
    name = r.name.lower()
    return name.startswith("asrseeddisk-") or name.endswith("-asrreplica")


@rule(
    key="azure-disk-unattached",
    provider="azure",
    resource_kind=DISK,
    title="Managed disk attached to nothing",
    permissions=("Microsoft.Compute/disks/read",),
    params={
        "min_age_days": Param(float, 7.0, "The disk has been unattached at least this long.", 0),
    },
    confidence_doc=(
        "HIGH after 30 days unattached; MEDIUM before (a disk detached for a migration or a "
        "rebuild comes back within days)."
    ),
)
def disk_unattached(r: Resource, p, ctx: Context) -> Detection | None:
    """A managed disk in state Unattached bills its full tier every month for nothing. Azure
    Site Recovery's replica and seed disks are skipped (they are unattached by design).

    How long it has been unattached is `LastOwnershipUpdateTime` (when it was last detached),
    else its creation time. Default `min_age_days` 7, as Steampipe's Thrifty mod for Azure and
    Azure Advisor's own "unattached disk" recommendation wait a week."""
    if r.attributes.get("disk_state") != "Unattached" or _site_recovery_replica(r):
        return None
    since = r.attributes.get("last_ownership_update") or r.created_at
    days = age_days(since, ctx.now)
    if days is None or days < p["min_age_days"]:
        return None
    sku, size = r.attributes.get("sku"), int(r.attributes.get("size_gb") or 0)
    cost = disk_monthly(ctx.prices, r.region, sku, size)
    return Detection(
        scenario="azure-disk-unattached",
        confidence="HIGH" if days >= 30 else "MEDIUM",
        monthly_cost=cost if cost is not None else Decimal(0),
        evidence={
            "disk_state": "Unattached",
            "unattached_days": rounded(days),
            "sku": sku,
            "size_gb": size,
            "tier": disk_tier(sku, size),
            **({} if cost is not None else {"cost_unknown": f"no list price for {sku}"}),
            **ctx.prices.evidence(r.region, "disks"),
        },
    )


attach_fixtures(
    "azure-disk-unattached",
    Fixtures(
        fires=res(
            DISK, arm("Microsoft.Compute/disks", "data-old"), 90, disk_state="Unattached",
            sku="Premium_LRS", size_gb=128, last_ownership_update=days_ago(40),
        ),
        silent=res(
            DISK, arm("Microsoft.Compute/disks", "asrseeddisk-vm1-0a1b"), 90, disk_state="Unattached",
            sku="Premium_LRS", size_gb=128, last_ownership_update=days_ago(40),
        ),
        now=NOW,
    ),
)


# --- disks of deallocated VMs ---------------------------------------------------------------------


def deallocated_owner(r: Resource, ctx: Context) -> tuple[Resource, float] | None:
    """(the deallocated VM a disk belongs to, days since its deallocation) as listed in the same
    subscription; None for an Unattached disk, a disk of a VM that is not deallocated (or not
    listed), or an unknown deallocation time."""
    vm_id = r.attributes.get("managed_by")
    if r.attributes.get("disk_state") == "Unattached" or not vm_id:
        return None
    vm = ctx.lookup(VM, vm_id)
    if vm is None:
        return None
    days = deallocated_days(vm, ctx)
    return None if days is None else (vm, days)


@rule(
    key="azure-disk-of-deallocated-vm",
    provider="azure",
    resource_kind=DISK,
    needs=(VM,),
    title="Managed disk of a VM deallocated for a long time",
    permissions=("Microsoft.Compute/disks/read", "Microsoft.Compute/virtualMachines/read"),
    params={
        "min_deallocated_days": Param(
            float, 30.0, "The VM has been deallocated at least this long (as azure-vm-deallocated-long's).", 1
        )
    },
    confidence_doc="HIGH after 90 days deallocated, else MEDIUM (as for the VM itself).",
)
def disk_of_deallocated_vm(r: Resource, p, ctx: Context) -> Detection | None:
    """A managed disk of a VM deallocated for 30 days or more bills its full tier every month
    while nothing runs: deallocation stops the compute charge, never the disks'. It is a part of
    the VM's `azure-vm-deallocated-long` finding (which costs $0 and shows the machine's total);
    `monthly_cost` is the disk's list price. Keep `min_deallocated_days` equal to the VM rule's.

    Deallocation time: the VM's OS disk `LastOwnershipUpdateTime` (Azure sets it on deallocation),
    else the time of the VM's last operation. Default 30 days, as the VM rule (after
    `ec2-instance-stopped`); Steampipe Thrifty's `compute_disk_attached_stopped_virtual_machine`
    flags such disks at any age."""
    owner = deallocated_owner(r, ctx)
    if owner is None or owner[1] < p["min_deallocated_days"]:
        return None
    vm, days = owner
    sku, size = r.attributes.get("sku"), int(r.attributes.get("size_gb") or 0)
    cost = disk_monthly(ctx.prices, r.region, sku, size)
    return Detection(
        scenario="azure-disk-of-deallocated-vm",
        confidence="HIGH" if days >= 90 else "MEDIUM",
        monthly_cost=cost if cost is not None else Decimal(0),
        evidence={
            "disk_state": r.attributes.get("disk_state"),
            "sku": sku,
            "size_gb": size,
            "tier": disk_tier(sku, size),
            "vm_power_state": "deallocated",
            "vm_deallocated_days": rounded(days),
            **({} if cost is not None else {"cost_unknown": f"no list price for {sku}"}),
            **ctx.prices.evidence(r.region, "disks"),
        },
        parent=FindingRef(VM, vm.resource_id, "azure-vm-deallocated-long"),
    )


def _deallocated_vm(name: str, days: float) -> Resource:
    return res(
        VM, arm("Microsoft.Compute/virtualMachines", name), 300, power_state="deallocated",
        deallocated_since=days_ago(days), power_state_since=days_ago(days),
    )


_PARKED, _WEEKEND = _deallocated_vm("vm-parked", 60), _deallocated_vm("vm-weekend", 2)
attach_fixtures(
    "azure-disk-of-deallocated-vm",
    Fixtures(
        fires=res(
            DISK, arm("Microsoft.Compute/disks", "vm-parked-data"), 300, disk_state="Reserved",
            sku="StandardSSD_LRS", size_gb=256, managed_by=_PARKED.resource_id,
        ),
        silent=res(
            DISK, arm("Microsoft.Compute/disks", "vm-weekend-data"), 300, disk_state="Reserved",
            sku="StandardSSD_LRS", size_gb=256, managed_by=_WEEKEND.resource_id,
        ),
        now=NOW,
        related=(_PARKED, _WEEKEND),
    ),
)


# --- azure-disk-premium-on-deallocated-vm ---------------------------------------------------------

# Premium SSD -> the Standard SSD of the same redundancy (same tier numbers: P10 -> E10)
_STANDARD_SSD = {"Premium_LRS": "StandardSSD_LRS", "Premium_ZRS": "StandardSSD_ZRS"}


@rule(
    key="azure-disk-premium-on-deallocated-vm",
    provider="azure",
    resource_kind=DISK,
    needs=(VM,),
    title="Premium SSD of a deallocated VM that Standard SSD would keep for less",
    permissions=("Microsoft.Compute/disks/read", "Microsoft.Compute/virtualMachines/read"),
    params={
        "min_deallocated_days": Param(float, 7.0, "The VM has been deallocated at least this long.", 0),
        "max_deallocated_days": Param(
            float,
            30.0,
            "Below this many days deallocated (azure-disk-of-deallocated-vm's min_deallocated_days: "
            "from there the whole disk is reported by it; keep them equal).",
            1,
        ),
        "min_monthly_saving": Param(float, 1.0, "Report a disk only when the change saves at least this (USD).", 0),
    },
    confidence_doc="MEDIUM: the saving is exact for list prices, but a VM deallocated for a week or "
    "more may be started again, and the disk must then go back to Premium (a change Azure allows "
    "only while the VM is deallocated) if it needs Premium performance.",
)
def disk_premium_on_deallocated_vm(r: Resource, p, ctx: Context) -> Detection | None:
    """An optimization finding: a Premium SSD (Premium_LRS or Premium_ZRS) of a VM deallocated for
    7 to 30 days bills Premium prices for performance nobody uses. Converting it to Standard SSD
    of the same redundancy keeps its data at the same size for less (Azure converts a disk's type
    only while its VM is deallocated: now is the time); `monthly_cost` is the difference between
    the Premium tier and the Standard SSD tier of the same size (P10 -> E10). From 30 days
    deallocated the whole disk is `azure-disk-of-deallocated-vm` instead (one finding per disk).

    Defaults: 7 days (a VM deallocated overnight or for a weekend is coming back: Azure Advisor
    waits 7 days before any VM-usage advice), $1 a month at least."""
    target_sku = _STANDARD_SSD.get(r.attributes.get("sku") or "")
    if target_sku is None:
        return None
    owner = deallocated_owner(r, ctx)
    if owner is None:
        return None
    days = owner[1]
    if days < p["min_deallocated_days"] or days >= p["max_deallocated_days"]:
        return None
    sku, size = r.attributes["sku"], int(r.attributes.get("size_gb") or 0)
    premium, standard = disk_monthly(ctx.prices, r.region, sku, size), disk_monthly(ctx.prices, r.region, target_sku, size)
    if premium is None or standard is None:
        return None
    saving = premium - standard
    if saving <= 0 or saving < Decimal(str(p["min_monthly_saving"])):
        return None
    return Detection(
        scenario="azure-disk-premium-on-deallocated-vm",
        confidence="MEDIUM",
        monthly_cost=saving,
        evidence={
            "finding_type": "optimization",
            "disk_state": r.attributes.get("disk_state"),
            "sku": sku,
            "size_gb": size,
            "tier": disk_tier(sku, size),
            "vm_power_state": "deallocated",
            "vm_deallocated_days": rounded(days),
            "target_sku": target_sku,
            "target_tier": disk_tier(target_sku, size),
            "monthly_cost_now": float(premium),
            "monthly_cost_target": float(standard),
            "monthly_saving": float(saving),
            **ctx.prices.evidence(r.region, "disks"),
        },
    )


_RESTING = _deallocated_vm("vm-resting", 12)
attach_fixtures(
    "azure-disk-premium-on-deallocated-vm",
    Fixtures(
        fires=res(
            DISK, arm("Microsoft.Compute/disks", "vm-resting-os"), 300, disk_state="Reserved",
            sku="Premium_LRS", size_gb=128, managed_by=_RESTING.resource_id,
        ),
        silent=res(
            DISK, arm("Microsoft.Compute/disks", "vm-resting-data"), 300, disk_state="Reserved",
            sku="StandardSSD_LRS", size_gb=128, managed_by=_RESTING.resource_id,
        ),
        now=NOW,
        related=(_RESTING,),
    ),
)
