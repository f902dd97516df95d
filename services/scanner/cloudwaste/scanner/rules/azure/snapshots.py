"""Managed disk snapshot rules: orphaned (the disk it was taken from is gone) and old. Exclusive:
a snapshot whose source disk no longer exists is only ever `azure-snapshot-orphaned`."""

from __future__ import annotations

from decimal import Decimal

from cloudwaste.scanner.domain import Detection, Resource
from cloudwaste.scanner.rules import Context, Fixtures, Param, age_days, attach_fixtures, rule
from cloudwaste.scanner.rules.azure._common import NOW, SUB, arm, res, rounded

SNAPSHOT = "azure.compute.snapshot"
DISK = "azure.compute.disk"
_DISKS_TYPE = "/providers/microsoft.compute/disks/"


def snapshot_monthly(prices, region: str, sku: str | None, size_gb: int, incremental: bool = False) -> Decimal | None:
    """A snapshot's monthly list price for `size_gb` GB (None when the SKU is unknown).
    Snapshots without a SKU are Standard_LRS; incremental ones are always on standard storage
    (a Premium_LRS incremental snapshot bills as Standard_LRS)."""
    sku = sku or "Standard_LRS"
    if incremental and sku.startswith("Premium"):
        sku = "Standard_LRS"
    return prices.monthly(region, "disks", "snapshot_gb_month", sku, quantity=size_gb)


def _subscription(resource_id: str) -> str:
    parts = resource_id.strip("/").split("/")
    return parts[1] if len(parts) > 1 and parts[0] == "subscriptions" else ""


def source_disk_gone(r: Resource, ctx: Context) -> bool:
    """The snapshot was taken from a managed disk of this subscription that is no longer listed
    (a source in another subscription, a blob or another snapshot is never judged gone)."""
    src = r.attributes.get("source_resource_id") or ""
    if _DISKS_TYPE not in src or _subscription(src) != _subscription(r.resource_id):
        return False
    return ctx.lookup(DISK, src) is None


def _evidence(r: Resource, ctx: Context, days: float, cost: Decimal | None) -> dict:
    sku, size = r.attributes.get("sku"), int(r.attributes.get("size_gb") or 0)
    out = {
        "age_days": rounded(days),
        "size_gb": size,
        "sku": sku or "Standard_LRS",
        "incremental": bool(r.attributes.get("incremental")),
        "source_resource_id": r.attributes.get("source_resource_id"),
        **ctx.prices.evidence(r.region, "disks"),
    }
    if r.attributes.get("incremental"):
        out["price_basis"] = (
            "incremental: Azure bills the data changed since the previous snapshot of the disk; "
            "priced at the full size (an upper bound)"
        )
    if cost is None:
        out["cost_unknown"] = f"no list price for snapshot SKU {sku}"
    return out


def _priced(r: Resource, ctx: Context) -> Decimal | None:
    return snapshot_monthly(
        ctx.prices, r.region, r.attributes.get("sku"), int(r.attributes.get("size_gb") or 0),
        bool(r.attributes.get("incremental")),
    )


# --- azure-snapshot-orphaned --------------------------------------------------------------------


@rule(
    key="azure-snapshot-orphaned",
    provider="azure",
    resource_kind=SNAPSHOT,
    needs=(DISK,),
    title="Snapshot of a managed disk that no longer exists",
    permissions=("Microsoft.Compute/snapshots/read", "Microsoft.Compute/disks/read"),
    params={"min_age_days": Param(float, 30.0, "The snapshot is at least this old.", 0)},
    confidence_doc="HIGH from 90 days old; MEDIUM before (a snapshot kept when its disk was deleted "
    "may be a deliberate last backup, reviewed within weeks). The cost of an incremental snapshot "
    "is an upper bound (its full size).",
)
def snapshot_orphaned(r: Resource, p, ctx: Context) -> Detection | None:
    """A snapshot taken from a managed disk of the same subscription that no longer exists
    (its `creationData.sourceResourceId` is not in the disk listing) backs up nothing that runs:
    it bills per GB-month for a disk nobody has anymore. Snapshots of disks in other
    subscriptions, imports from blobs and copies of snapshots are never judged orphaned.

    `monthly_cost`: the snapshot's size x its SKU's GB-month price (Standard_LRS when absent).
    Default `min_age_days` 30: a final snapshot taken before deleting a disk is often kept for a
    few weeks on purpose; Steampipe Thrifty's `compute_snapshot_max_age` reviews any snapshot at
    90 days (see `azure-snapshot-old`), an orphan deserves it sooner."""
    if not source_disk_gone(r, ctx):
        return None
    days = age_days(r.created_at, ctx.now)
    if days is None or days < p["min_age_days"]:
        return None
    cost = _priced(r, ctx)
    return Detection(
        scenario="azure-snapshot-orphaned",
        confidence="HIGH" if days >= 90 else "MEDIUM",
        monthly_cost=cost if cost is not None else Decimal(0),
        evidence={"source_disk_exists": False, **_evidence(r, ctx, days, cost)},
    )


_GONE = f"/subscriptions/{SUB}/resourcegroups/rg-fixtures/providers/microsoft.compute/disks/deleted-disk"
_KEPT_DISK = res(DISK, arm("Microsoft.Compute/disks", "live-disk"), 400, disk_state="Attached", sku="Premium_LRS", size_gb=128)
attach_fixtures(
    "azure-snapshot-orphaned",
    Fixtures(
        fires=res(
            SNAPSHOT, arm("Microsoft.Compute/snapshots", "snap-of-deleted"), 120, source_resource_id=_GONE,
            size_gb=128, sku="Standard_LRS", incremental=False,
        ),
        silent=res(
            SNAPSHOT, arm("Microsoft.Compute/snapshots", "snap-of-deleted-recent"), 5, source_resource_id=_GONE,
            size_gb=128, sku="Standard_LRS", incremental=False,
        ),
        now=NOW,
        related=(_KEPT_DISK,),
    ),
)


# --- azure-snapshot-old -------------------------------------------------------------------------


@rule(
    key="azure-snapshot-old",
    provider="azure",
    resource_kind=SNAPSHOT,
    needs=(DISK,),
    title="Snapshot older than the retention a backup needs",
    permissions=("Microsoft.Compute/snapshots/read", "Microsoft.Compute/disks/read"),
    params={"min_age_days": Param(float, 90.0, "The snapshot is at least this old.", 1)},
    confidence_doc="MEDIUM: an old snapshot may be a kept restore point; HIGH from a year old. "
    "The cost of an incremental snapshot is an upper bound (its full size).",
)
def snapshot_old(r: Resource, p, ctx: Context) -> Detection | None:
    """A snapshot 90 days old or more whose source is still there (or is not a managed disk of
    this subscription: an import, a copy) is likely a forgotten manual backup: the disk has
    changed since, and Azure Backup, not manual snapshots, is the way to keep restore points.
    It bills its size x its SKU's GB-month price every month. Default 90 days: Steampipe
    Thrifty's `compute_snapshot_max_age` (`compute_snapshot_age_max_days` 90). Snapshots whose
    source disk is gone are `azure-snapshot-orphaned` (one finding per snapshot)."""
    if source_disk_gone(r, ctx):
        return None
    days = age_days(r.created_at, ctx.now)
    if days is None or days < p["min_age_days"]:
        return None
    cost = _priced(r, ctx)
    return Detection(
        scenario="azure-snapshot-old",
        confidence="HIGH" if days >= 365 else "MEDIUM",
        monthly_cost=cost if cost is not None else Decimal(0),
        evidence=_evidence(r, ctx, days, cost),
    )


attach_fixtures(
    "azure-snapshot-old",
    Fixtures(
        fires=res(
            SNAPSHOT, arm("Microsoft.Compute/snapshots", "snap-old"), 200, source_resource_id=_KEPT_DISK.resource_id,
            size_gb=128, sku="Standard_LRS", incremental=True,
        ),
        silent=res(
            SNAPSHOT, arm("Microsoft.Compute/snapshots", "snap-recent"), 40, source_resource_id=_KEPT_DISK.resource_id,
            size_gb=128, sku="Standard_LRS", incremental=True,
        ),
        now=NOW,
        related=(_KEPT_DISK,),
    ),
)
