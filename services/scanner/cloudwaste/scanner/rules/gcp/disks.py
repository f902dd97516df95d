"""Persistent disk rules: a disk attached to nothing, a disk of an instance stopped for a long
time (a part of the instance's finding), an SSD-class disk of an instance stopped for days. One
finding per disk: the first judges disks without `users`, the others disks whose every user is a
stopped instance, by how long it has been stopped."""

from __future__ import annotations

from decimal import Decimal

from cloudwaste.scanner.domain import Detection, FindingRef, Resource
from cloudwaste.scanner.rules import Context, Fixtures, Param, age_days, attach_fixtures, rule
from cloudwaste.scanner.rules.gcp._common import NOW, days_ago, disk_monthly, path, res, rounded
from cloudwaste.scanner.rules.gcp._compute import DISK, INSTANCE, INSTANCE_FINDING_DAYS, stopped_days

# --- gcp-disk-unattached ------------------------------------------------------------------------


@rule(
    key="gcp-disk-unattached",
    provider="gcp",
    resource_kind=DISK,
    title="Persistent disk attached to no instance",
    permissions=("compute.disks.list",),
    params={"min_age_days": Param(float, 7.0, "The disk has been detached (or unused) at least this long.", 0)},
    confidence_doc="HIGH after 30 days without an instance; MEDIUM before.",
)
def disk_unattached(r: Resource, p, ctx: Context) -> Detection | None:
    """A persistent disk with no `users` (no instance has it attached) bills its provisioned size
    every month. How long: since `lastDetachTimestamp`, else since it was created (never
    attached). Default `min_age_days` 7, as Steampipe's Thrifty mod for GCP and Google's own
    idle-disk recommender wait a week or more before calling a disk unused."""
    if r.attributes.get("users") or r.attributes.get("status") not in (None, "READY"):
        return None
    since = r.attributes.get("last_detach") or r.created_at
    days = age_days(since, ctx.now)
    if days is None or days < p["min_age_days"]:
        return None
    disk_type, size = r.attributes.get("disk_type") or "pd-standard", int(r.attributes.get("size_gb") or 0)
    regional = bool(r.attributes.get("regional"))
    cost = disk_monthly(ctx.prices, r.region, disk_type, size, regional)
    return Detection(
        scenario="gcp-disk-unattached",
        confidence="HIGH" if days >= 30 else "MEDIUM",
        monthly_cost=cost if cost is not None else Decimal(0),
        evidence={
            "users": [],
            "unattached_days": rounded(days),
            "disk_type": disk_type,
            "size_gb": size,
            "regional": regional,
            **({} if cost is not None else {"cost_unknown": f"no list price for {disk_type}"}),
            **ctx.prices.evidence(r.region, "disks"),
        },
    )


attach_fixtures(
    "gcp-disk-unattached",
    Fixtures(
        fires=res(
            DISK, path("zones/europe-west1-b", "disks", "old-data"), 60, status="READY", users=[],
            disk_type="pd-ssd", size_gb=200, last_detach=days_ago(45),
        ),
        silent=res(
            DISK, path("zones/europe-west1-b", "disks", "fresh"), 60, status="READY", users=[],
            disk_type="pd-ssd", size_gb=200, last_detach=days_ago(2),
        ),
        now=NOW,
    ),
)


# --- disks of stopped instances --------------------------------------------------------------------


def stopped_users(r: Resource, ctx: Context) -> tuple[str, float] | None:
    """(the first user's path, days stopped) when the disk is attached and every instance using
    it is listed and TERMINATED with a stop time; the days are the most recent stop's (a disk
    shared read-only by several machines is idle only since the last one stopped). None when a
    user runs, was not listed or its stop time is unknown."""
    users = sorted(u for u in r.attributes.get("users") or [] if u)
    if not users:
        return None
    days = [stopped_days(ctx.lookup(INSTANCE, u), ctx) for u in users]
    if any(d is None for d in days):
        return None
    return users[0], min(days)


def _disk_fields(r: Resource) -> tuple[str, int, bool]:
    return (
        r.attributes.get("disk_type") or "pd-standard",
        int(r.attributes.get("size_gb") or 0),
        bool(r.attributes.get("regional")),
    )


# --- gcp-disk-of-terminated-instance ---------------------------------------------------------------


@rule(
    key="gcp-disk-of-terminated-instance",
    provider="gcp",
    resource_kind=DISK,
    needs=(INSTANCE,),
    title="Persistent disk of an instance stopped for a long time",
    permissions=("compute.disks.list", "compute.instances.list"),
    params={
        "min_stopped_days": Param(
            float, INSTANCE_FINDING_DAYS, "The instance has been stopped (TERMINATED) at least this long.", 1
        )
    },
    confidence_doc="HIGH after 90 days stopped, else MEDIUM (as for the instance itself).",
)
def disk_of_terminated_instance(r: Resource, p, ctx: Context) -> Detection | None:
    """A persistent disk attached to an instance stopped (TERMINATED) for 30 days or more bills
    its provisioned size every month while nothing runs. It is a part of the instance's
    `gcp-instance-terminated-long` finding (`parent`), which shows the machine's total without
    counting a dollar twice. How long: since the instance's `lastStopTimestamp` (the latest of
    them when several instances share the disk). Default `min_stopped_days` 30, the instance
    rule's default (Steampipe's Thrifty mod for GCP: instances stopped for more than 30 days)."""
    found = stopped_users(r, ctx)
    if found is None or found[1] < p["min_stopped_days"]:
        return None
    instance, days = found
    disk_type, size, regional = _disk_fields(r)
    cost = disk_monthly(ctx.prices, r.region, disk_type, size, regional)
    return Detection(
        scenario="gcp-disk-of-terminated-instance",
        confidence="HIGH" if days >= 90 else "MEDIUM",
        monthly_cost=cost if cost is not None else Decimal(0),
        evidence={
            "instance": instance,
            "instance_status": "TERMINATED",
            "instance_stopped_days": rounded(days),
            "disk_type": disk_type,
            "size_gb": size,
            "regional": regional,
            **({} if cost is not None else {"cost_unknown": f"no list price for {disk_type}"}),
            **ctx.prices.evidence(r.region, "disks"),
        },
        parent=FindingRef(INSTANCE, instance, "gcp-instance-terminated-long"),
    )


# --- gcp-disk-ssd-on-stopped-instance --------------------------------------------------------------

SSD_CLASS = ("pd-ssd", "pd-balanced")
CHEAPEST = "pd-standard"


@rule(
    key="gcp-disk-ssd-on-stopped-instance",
    provider="gcp",
    resource_kind=DISK,
    needs=(INSTANCE,),
    title="SSD persistent disk of an instance stopped for days",
    permissions=("compute.disks.list", "compute.instances.list"),
    params={
        "min_stopped_days": Param(float, 7.0, "The instance has been stopped (TERMINATED) at least this long.", 1),
        "max_stopped_days": Param(
            float,
            INSTANCE_FINDING_DAYS,
            "Below this many days stopped; from there on the whole disk is a finding of "
            "`gcp-disk-of-terminated-instance` (keep the two equal).",
            1,
        ),
    },
    confidence_doc="MEDIUM after 14 days stopped, else LOW: the machine may be started again, "
    "and pd-standard is slower (the move suits a machine kept as a spare, not one in use).",
)
def disk_ssd_on_stopped_instance(r: Resource, p, ctx: Context) -> Detection | None:
    """An optimization finding: a pd-ssd or pd-balanced disk of an instance stopped for 7 to 30
    days bills the SSD-class price for storage nothing reads. Kept as pd-standard (a snapshot
    restored to a new disk of that type) it would bill the HDD price: `monthly_cost` is the
    difference. From 30 days stopped (`max_stopped_days`, which must equal
    `gcp-disk-of-terminated-instance`'s `min_stopped_days`) the whole disk is that rule's
    finding instead; a disk is flagged once. How long: since the instance's `lastStopTimestamp`.
    Default `min_stopped_days` 7: longer than a weekend or a maintenance window, as Google's
    idle resource recommenders observe a week or more before calling a resource unused."""
    disk_type, size, regional = _disk_fields(r)
    if disk_type not in SSD_CLASS:
        return None
    found = stopped_users(r, ctx)
    if found is None or not p["min_stopped_days"] <= found[1] < p["max_stopped_days"]:
        return None
    instance, days = found
    now_cost = disk_monthly(ctx.prices, r.region, disk_type, size, regional)
    hdd_cost = disk_monthly(ctx.prices, r.region, CHEAPEST, size, regional)
    if now_cost is None or hdd_cost is None:
        saving, unknown = Decimal(0), {"cost_unknown": f"no list price for {disk_type} or {CHEAPEST}"}
    else:
        saving, unknown = now_cost - hdd_cost, {}
        if saving <= 0:
            return None
    return Detection(
        scenario="gcp-disk-ssd-on-stopped-instance",
        confidence="MEDIUM" if days >= 14 else "LOW",
        monthly_cost=saving,
        evidence={
            "instance": instance,
            "instance_status": "TERMINATED",
            "instance_stopped_days": rounded(days),
            "disk_type": disk_type,
            "suggested_disk_type": CHEAPEST,
            "size_gb": size,
            "regional": regional,
            "monthly_price": str(now_cost) if now_cost is not None else None,
            "monthly_price_as_pd_standard": str(hdd_cost) if hdd_cost is not None else None,
            **unknown,
            **ctx.prices.evidence(r.region, "disks"),
        },
    )


_Z = "zones/europe-west1-b"


def _vm(name: str, stopped: float | None) -> Resource:
    status = "RUNNING" if stopped is None else "TERMINATED"
    return res(
        INSTANCE, path(_Z, "instances", name), 400, status=status, machine_type="n2-standard-4",
        instance_id=name, last_stop=None if stopped is None else days_ago(stopped),
    )


def _attached(name: str, vm: str, disk_type: str = "pd-ssd") -> Resource:
    return res(
        DISK, path(_Z, "disks", name), 400, status="READY", users=[path(_Z, "instances", vm)],
        disk_type=disk_type, size_gb=200,
    )


attach_fixtures(
    "gcp-disk-of-terminated-instance",
    Fixtures(
        fires=_attached("data-of-old-vm", "old-vm", "pd-standard"),
        # the near miss: its instance stopped 29 days ago
        silent=_attached("data-of-recent-vm", "recent-vm", "pd-standard"),
        related=(_vm("old-vm", 45), _vm("recent-vm", 29)),
        now=NOW,
    ),
)
attach_fixtures(
    "gcp-disk-ssd-on-stopped-instance",
    Fixtures(
        fires=_attached("ssd-of-stopped-vm", "stopped-vm"),
        # the near miss: the same disk on a machine stopped for 5 days
        silent=_attached("ssd-of-paused-vm", "paused-vm"),
        related=(_vm("stopped-vm", 10), _vm("paused-vm", 5)),
        now=NOW,
    ),
)
