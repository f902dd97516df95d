"""Disk snapshot rules: a snapshot whose disk is gone, a snapshot kept for a long time. One
finding per snapshot: the first judges snapshots whose source disk was not listed, the second
those whose source disk still exists."""

from __future__ import annotations

from decimal import Decimal

from cloudwaste.scanner.domain import Detection, Resource
from cloudwaste.scanner.rules import Context, Fixtures, Param, age_days, attach_fixtures, rule
from cloudwaste.scanner.rules.gcp._common import NOW, path, res, rounded
from cloudwaste.scanner.rules.gcp._compute import DISK, SNAPSHOT, project_of, storage_location


def _cost(r: Resource, ctx: Context) -> tuple[Decimal, dict, str]:
    """The snapshot's monthly price: the bytes it stores (`storageBytes`) at its type's price
    where it is stored; with evidence and the price location."""
    where = storage_location(r)
    kind = r.attributes.get("snapshot_type") or "standard"
    gb = float(r.attributes.get("storage_gb") or 0)
    cost = ctx.prices.monthly(where, "disks", "snapshot_gb_month", kind, quantity=gb)
    if cost is None or cost <= 0:
        why = f"no list price for {kind} snapshots in {where}" if cost is None else "storageBytes is 0"
        return Decimal(0), {"cost_unknown": why}, where
    return cost, {}, where


def _source(r: Resource) -> str | None:
    """The snapshot's source disk when it is in the snapshot's own project (one in another
    project is not listed here: whether it exists is unknown)."""
    source = r.attributes.get("source_disk")
    return source if source and project_of(source) == project_of(r.resource_id) else None


def _evidence(r: Resource, age: float, where: str, ctx: Context) -> dict:
    return {
        "source_disk": r.attributes.get("source_disk"),
        "age_days": rounded(age),
        "storage_gb": r.attributes.get("storage_gb"),
        "disk_size_gb": r.attributes.get("disk_size_gb"),
        "snapshot_type": r.attributes.get("snapshot_type") or "standard",
        "storage_location": where,
        "auto_created": bool(r.attributes.get("auto_created")),
        **ctx.prices.evidence(where, "disks"),
    }


# --- gcp-snapshot-orphaned -------------------------------------------------------------------------


@rule(
    key="gcp-snapshot-orphaned",
    provider="gcp",
    resource_kind=SNAPSHOT,
    needs=(DISK,),
    title="Snapshot of a disk that no longer exists",
    permissions=("compute.snapshots.list", "compute.disks.list"),
    params={"min_age_days": Param(float, 30.0, "The snapshot is at least this old.", 0)},
    confidence_doc="MEDIUM: the disk is gone, but a snapshot is sometimes the one copy kept on "
    "purpose (a final backup); HIGH after 180 days.",
)
def snapshot_orphaned(r: Resource, p, ctx: Context) -> Detection | None:
    """A READY snapshot whose source disk (`sourceDisk`, in the same project) is no longer listed
    keeps billing its stored bytes every month for a disk nobody runs. Snapshots of one disk are
    incremental: deleting one moves the blocks the next needs into it, so the saving of deleting
    one of a chain is at most its `storageBytes`. Default `min_age_days` 30: a snapshot taken
    just before deleting a disk is a deliberate last copy for a while; after a month it is more
    likely forgotten (Steampipe's Thrifty mod for GCP flags snapshots from 90 days whatever
    their source, `gcp-snapshot-old`). How long: since the snapshot was taken."""
    source = _source(r)
    if r.attributes.get("status") not in (None, "READY") or source is None:
        return None
    if ctx.lookup(DISK, source) is not None:
        return None
    age = age_days(r.created_at, ctx.now)
    if age is None or age < p["min_age_days"]:
        return None
    cost, unknown, where = _cost(r, ctx)
    return Detection(
        scenario="gcp-snapshot-orphaned",
        confidence="HIGH" if age >= 180 else "MEDIUM",
        monthly_cost=cost,
        evidence={"source_disk_exists": False, **_evidence(r, age, where, ctx), **unknown},
    )


# --- gcp-snapshot-old ------------------------------------------------------------------------------


@rule(
    key="gcp-snapshot-old",
    provider="gcp",
    resource_kind=SNAPSHOT,
    needs=(DISK,),
    title="Snapshot kept for a long time",
    permissions=("compute.snapshots.list", "compute.disks.list"),
    params={"min_age_days": Param(float, 90.0, "The snapshot is at least this old.", 1)},
    confidence_doc="LOW: an old snapshot of a disk that still exists is often a backup kept on "
    "purpose; MEDIUM after 365 days.",
)
def snapshot_old(r: Resource, p, ctx: Context) -> Detection | None:
    """A manual snapshot older than 90 days of a disk that still exists: the disk holds newer
    data, so the old snapshot is rarely what a restore would use, and it bills its stored bytes
    every month. Default `min_age_days` 90, as Steampipe's Thrifty mod for GCP
    (compute_snapshot_max_age). Snapshots made by a snapshot schedule (`autoCreated`) are left
    out: the schedule's retention policy deletes them. How long: since the snapshot was taken."""
    source = _source(r)
    if (
        r.attributes.get("status") not in (None, "READY")
        or r.attributes.get("auto_created")
        or source is None
    ):
        return None
    if ctx.lookup(DISK, source) is None:
        return None
    age = age_days(r.created_at, ctx.now)
    if age is None or age < p["min_age_days"]:
        return None
    cost, unknown, where = _cost(r, ctx)
    return Detection(
        scenario="gcp-snapshot-old",
        confidence="MEDIUM" if age >= 365 else "LOW",
        monthly_cost=cost,
        evidence={"source_disk_exists": True, **_evidence(r, age, where, ctx), **unknown},
    )


# --- fixtures ----------------------------------------------------------------------------------------

_Z = "zones/europe-west1-b"


def _snapshot(name: str, age: float, disk: str, auto: bool = False) -> Resource:
    return res(
        SNAPSHOT,
        path("global", "snapshots", name),
        age,
        "global",
        status="READY",
        source_disk=path(_Z, "disks", disk),
        storage_gb=40.0,
        disk_size_gb=100,
        storage_locations=["eu"],
        snapshot_type="standard",
        auto_created=auto,
    )


_DISK = res(
    DISK, path(_Z, "disks", "live-disk"), 400, status="READY", users=[], disk_type="pd-standard", size_gb=100
)

attach_fixtures(
    "gcp-snapshot-orphaned",
    Fixtures(
        fires=_snapshot("snap-of-gone", 60, "gone-disk"),
        # the near miss: its disk still exists
        silent=_snapshot("snap-of-live", 60, "live-disk"),
        related=(_DISK,),
        now=NOW,
    ),
)
attach_fixtures(
    "gcp-snapshot-old",
    Fixtures(
        fires=_snapshot("snap-old", 200, "live-disk"),
        # the near miss: made by a snapshot schedule, whose retention policy deletes it
        silent=_snapshot("snap-scheduled", 200, "live-disk", auto=True),
        related=(_DISK,),
        now=NOW,
    ),
)
