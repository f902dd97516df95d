"""EBS snapshot rules."""

from __future__ import annotations

from decimal import Decimal

from cloudwaste.scanner.domain import Detection, Resource
from cloudwaste.scanner.rules import Context, Fixtures, Param, age_days, attach_fixtures, rule
from cloudwaste.scanner.rules.aws._common import NOW as _NOW
from cloudwaste.scanner.rules.aws._common import res, rounded

_GIB = 1024**3

# Tags AWS puts on the snapshots its backup services make: their retention is a policy of its own.
_POLICY_TAGS = ("aws:dlm:lifecycle-policy-id", "aws:backup:source-resource")
# What listing snapshots takes: the snapshots, the volumes, and the image listing (a snapshot an
# image uses is the image's), with what it reads to say whether an image is used.
_PERMISSIONS = (
    "ec2:DescribeSnapshots",
    "ec2:DescribeVolumes",
    "ec2:DescribeImages",
    "ec2:DescribeInstances",
    "ec2:DescribeLaunchTemplateVersions",
    "autoscaling:DescribeLaunchConfigurations",
)


def _upper_bound_gb(r: Resource) -> int | None:
    """The most GB a snapshot can bill on its own: the blocks written to its volume when it was taken
    (`full_size_bytes`, when AWS says) and never more than the volume's size. Snapshots are
    incremental, so what it bills alone (the blocks no other snapshot keeps) is usually far less."""
    size = r.attributes.get("size_gb")
    size = size if isinstance(size, int) and size > 0 else None
    full = r.attributes.get("full_size_bytes")
    if isinstance(full, int) and full >= 0:
        full_gb = -(-full // _GIB)  # whole GiB, rounded up
        return full_gb if size is None else min(size, full_gb)
    return size


def _managed_by(r: Resource) -> str | None:
    """The policy tag AWS Backup or Data Lifecycle Manager put on the snapshot, or "aws-backup"
    for one whose description says AWS Backup made it; None for any other snapshot."""
    tag = next((t for t in _POLICY_TAGS if t in r.tags), None)
    return tag or ("aws-backup" if r.attributes.get("aws_backup") else None)


def _price(ctx: Context, r: Resource, gb: int) -> Decimal:
    """The snapshot price of `gb` in the snapshot's storage tier (archive is cheaper)."""
    return ctx.prices.ebs_snapshot(gb, r.attributes.get("storage_tier") or "standard")


# --- snapshot-orphaned ------------------------------------------------------------------------------


@rule(
    key="snapshot-orphaned",
    provider="aws",
    resource_kind="aws.ec2.snapshot",
    title="EBS snapshot whose source volume is gone",
    permissions=_PERMISSIONS,
    params={"min_age_days": Param(float, 90.0, "Snapshot at least this old.", 0)},
    confidence_doc="HIGH after a year, else MEDIUM; LOW when AWS Backup or Data Lifecycle Manager "
    "made it (its retention is a policy's: change the policy). Cost is an upper bound (full volume "
    "size, at its storage tier's price).",
)
def snapshot_orphaned(r: Resource, p, ctx: Context) -> Detection | None:
    """A snapshot of a deleted volume that nobody restored for months is usually forgotten backup.
    A failed one (state `error`) is `snapshot-error-state`'s, so it is not counted twice. A
    snapshot that belongs to an image is the image's business whatever became of its volume: one
    a registered AMI of the region uses (however the AMI was made: CreateImage, RegisterImage from
    a snapshot, VM Import, AWS Backup; AWS refuses to delete it while the AMI exists) is that
    image's `ami-unused`, and one CreateImage or CopyImage made for an image that is gone is
    `snapshot-of-deregistered-ami`'s. One AWS Backup or Data Lifecycle Manager made (their tags,
    or AWS Backup's description) is reported at LOW: its retention is the policy's to change.
    Priced at the snapshot's storage tier (standard or archive).

    Default `min_age_days` 90: common FinOps practice for snapshots of deleted volumes."""
    if r.attributes.get("source_volume_exists", True) or r.attributes.get("state") == "error":
        return None
    if r.attributes.get("image_id"):
        return None
    age = age_days(r.created_at, ctx.now)
    if age is None or age < p["min_age_days"]:
        return None
    size = r.attributes["size_gb"]
    managed = _managed_by(r)
    return Detection(
        scenario="snapshot-orphaned",
        confidence="LOW" if managed else ("HIGH" if age >= 365 else "MEDIUM"),
        monthly_cost=_price(ctx, r, size),
        evidence={
            "source_volume_exists": False,
            "size_gb": size,
            "age_days": rounded(age),
            "storage_tier": r.attributes.get("storage_tier", "standard"),
            "managed_by": managed,
            **ctx.prices.evidence(),
        },
    )


# --- snapshot-error-state ---------------------------------------------------------------------------


@rule(
    key="snapshot-error-state",
    provider="aws",
    resource_kind="aws.ec2.snapshot",
    title="EBS snapshot that failed (state error)",
    permissions=_PERMISSIONS,
    params={
        "min_age_days": Param(
            float,
            1.0,
            "Started at least this long ago (leaves a day to the job that made it to clean up).",
            0,
        )
    },
    confidence_doc=(
        "Always HIGH: a snapshot in state `error` cannot be restored, copied or shared, so it holds "
        "nothing anyone can use. Its cost is an upper bound (see the doc)."
    ),
)
def snapshot_error_state(r: Resource, p, ctx: Context) -> Detection | None:
    """A snapshot whose creation failed (state `error`) can never be restored; whatever it still
    bills buys nothing. Delete it (and take a new one if the volume needs a backup).

    `monthly_cost` is an upper bound: the snapshot price of the GB written to the volume when the
    snapshot started (AWS's `FullSnapshotSizeInBytes`, when given), never more than the volume's
    size; a failed snapshot may hold fewer stored blocks, or none. Without a known size the
    finding still stands, priced $0 (the evidence says the size is unknown).

    Default `min_age_days` 1: the same one-day grace as `ebs-volume-unattached`, so that the backup
    job or the person who started the snapshot can see the failure and clean up first."""
    if r.attributes.get("state") != "error":
        return None
    age = age_days(r.created_at, ctx.now)
    if age is not None and age < p["min_age_days"]:
        return None
    gb = _upper_bound_gb(r)
    return Detection(
        scenario="snapshot-error-state",
        confidence="HIGH",
        monthly_cost=_price(ctx, r, gb) if gb is not None else Decimal(0),
        evidence={
            "state": "error",
            "size_gb": r.attributes.get("size_gb"),
            "priced_gb": gb,
            "cost_basis": "upper bound" if gb is not None else "size unknown: not priced",
            "volume_id": r.attributes.get("volume_id"),
            "age_days": rounded(age),
            **ctx.prices.evidence(),
        },
    )


# --- snapshots-per-volume-excess --------------------------------------------------------------------


@rule(
    key="snapshots-per-volume-excess",
    provider="aws",
    resource_kind="aws.ec2.snapshot",
    title="EBS snapshot beyond the newest N of its volume",
    permissions=_PERMISSIONS,
    params={
        "max_per_volume": Param(
            int, 30, "Keep this many completed snapshots per volume (the newest); report the older ones.", 1
        )
    },
    confidence_doc=(
        "MEDIUM; HIGH once the snapshot is a year old; LOW when AWS Backup or Data Lifecycle Manager "
        "made it (their retention is a policy someone chose: change the policy, not the snapshot). "
        "The cost is a loose upper bound (see the doc)."
    ),
)
def snapshots_per_volume_excess(r: Resource, p, ctx: Context) -> Detection | None:
    """A volume that still exists with more than `max_per_volume` completed snapshots: each snapshot
    older than the newest `max_per_volume` (by start time) is reported, the usual sign of a backup
    script that never prunes. Snapshots of deleted volumes are `snapshot-orphaned`'s, and the
    snapshots an image uses or AWS made for one are neither ranked nor reported (the image holds
    them). Priced at the snapshot's storage tier (standard or archive).

    `monthly_cost` is an upper bound of what deleting this one snapshot saves: snapshots are
    incremental, and deleting one frees only the blocks no other snapshot of the chain keeps,
    which for a daily series is usually a small fraction of the priced size (the GB written to the
    volume when it was taken, AWS's `FullSnapshotSizeInBytes`, else the volume's size).

    Default `max_per_volume` 30: a month of daily snapshots, the common retention of a daily
    backup; any deeper history of a live volume is worth a decision."""
    if r.attributes.get("state") != "completed" or not r.attributes.get("source_volume_exists"):
        return None
    if r.attributes.get("image_id"):  # an image's snapshot (the listing does not rank those)
        return None
    rank, count = r.attributes.get("volume_snapshot_rank"), r.attributes.get("volume_snapshot_count")
    if not isinstance(rank, int) or not isinstance(count, int):
        return None
    if count <= p["max_per_volume"] or rank <= p["max_per_volume"]:
        return None
    age = age_days(r.created_at, ctx.now)
    managed = _managed_by(r)
    confidence = "LOW" if managed else ("HIGH" if age is not None and age >= 365 else "MEDIUM")
    gb = _upper_bound_gb(r)
    return Detection(
        scenario="snapshots-per-volume-excess",
        confidence=confidence,
        monthly_cost=_price(ctx, r, gb) if gb is not None else Decimal(0),
        evidence={
            "volume_id": r.attributes.get("volume_id"),
            "volume_snapshot_rank": rank,
            "volume_snapshot_count": count,
            "max_per_volume": p["max_per_volume"],
            "size_gb": r.attributes.get("size_gb"),
            "priced_gb": gb,
            "cost_basis": "upper bound (incremental)" if gb is not None else "size unknown: not priced",
            "storage_tier": r.attributes.get("storage_tier", "standard"),
            "managed_by": managed,
            "age_days": rounded(age),
            **ctx.prices.evidence(),
        },
    )


# --- snapshot-of-deregistered-ami -------------------------------------------------------------------

_IMAGE = "aws.ec2.image"


@rule(
    key="snapshot-of-deregistered-ami",
    provider="aws",
    resource_kind="aws.ec2.snapshot",
    needs=(_IMAGE,),
    title="EBS snapshot left behind by a deregistered AMI",
    permissions=_PERMISSIONS,
    params={
        "min_age_days": Param(float, 30.0, "The snapshot (made with its image) is at least this old.", 0)
    },
    confidence_doc=(
        "HIGH from 90 days old, else MEDIUM (someone may still register an image from it again). "
        "The cost is an upper bound (see the doc)."
    ),
)
def snapshot_of_deregistered_ami(r: Resource, p, ctx: Context) -> Detection | None:
    """A completed snapshot that AWS made for an image (CreateImage's or CopyImage's description
    names the image) whose image this account no longer has: DeregisterImage leaves the image's
    snapshots behind, billed, and nothing launches from them any more. Delete them (or register an
    image from them again if it is still wanted). Only the descriptions AWS writes are read; a
    snapshot whose image still exists, or that another registered image of the region uses, is
    that image's (`ami-unused`), and `snapshot-orphaned` never reports a snapshot of an image, so
    each such snapshot is at most one finding.

    `monthly_cost` is an upper bound: the snapshot price (at its storage tier) of the GB written to
    the volume when it was taken (`FullSnapshotSizeInBytes`, when given), never more than the
    volume's size; blocks other snapshots of the same volume keep are not freed by deleting this
    one.

    Default `min_age_days` 30: a month after the image was made, common FinOps practice for
    leftovers (the snapshot's own time is all AWS gives: it does not say when the image was
    deregistered)."""
    if r.attributes.get("state") != "completed":
        return None
    image_id = r.attributes.get("image_id")
    if not image_id or ctx.lookup(_IMAGE, image_id) is not None:
        return None
    age = age_days(r.created_at, ctx.now)
    if age is None or age < p["min_age_days"]:
        return None
    gb = _upper_bound_gb(r)
    return Detection(
        scenario="snapshot-of-deregistered-ami",
        confidence="HIGH" if age >= 90 else "MEDIUM",
        monthly_cost=_price(ctx, r, gb) if gb is not None else Decimal(0),
        evidence={
            "image_id": image_id,
            "image_exists": False,
            "size_gb": r.attributes.get("size_gb"),
            "priced_gb": gb,
            "cost_basis": "upper bound (incremental)" if gb is not None else "size unknown: not priced",
            "storage_tier": r.attributes.get("storage_tier", "standard"),
            "age_days": rounded(age),
            **ctx.prices.evidence(),
        },
    )


# --- fixtures: one resource that fires and one near miss per rule ---------------------------------

attach_fixtures(
    "snapshot-orphaned",
    Fixtures(
        fires=res(
            "aws.ec2.snapshot", "snap-1", 120, source_volume_exists=False, size_gb=200, volume_id="vol-x"
        ),
        silent=res(
            "aws.ec2.snapshot", "snap-2", 60, source_volume_exists=False, size_gb=200, volume_id="vol-x"
        ),
        now=_NOW,
    ),
)
attach_fixtures(
    "snapshot-error-state",
    Fixtures(
        fires=res(
            "aws.ec2.snapshot",
            "snap-err",
            3,
            state="error",
            source_volume_exists=True,
            size_gb=100,
            volume_id="vol-a",
        ),
        # the near miss: still being taken
        silent=res(
            "aws.ec2.snapshot",
            "snap-pend",
            3,
            state="pending",
            source_volume_exists=True,
            size_gb=100,
            volume_id="vol-a",
        ),
        now=_NOW,
    ),
)


def _daily(rid: str, rank: int, count: int = 31) -> Resource:
    """The rank-th newest of `count` daily snapshots of live volume vol-d (newest: 1 day old)."""
    return res(
        "aws.ec2.snapshot",
        rid,
        rank,
        state="completed",
        source_volume_exists=True,
        size_gb=100,
        volume_id="vol-d",
        volume_snapshot_rank=rank,
        volume_snapshot_count=count,
    )


attach_fixtures(
    "snapshots-per-volume-excess",
    Fixtures(
        fires=_daily("snap-31st", 31),  # the oldest of 31: one beyond the newest 30
        silent=_daily("snap-30th", 30),  # the near miss: the 30th newest is kept
        now=_NOW,
    ),
)


def _of_image(rid: str, days: float, image_id: str) -> Resource:
    return res(
        "aws.ec2.snapshot",
        rid,
        days,
        state="completed",
        source_volume_exists=False,
        size_gb=30,
        volume_id="vol-gone",
        image_id=image_id,
    )


attach_fixtures(
    "snapshot-of-deregistered-ami",
    Fixtures(
        fires=_of_image("snap-of-gone-ami", 120, "ami-0000000000000dead"),
        # the near miss: its image is still registered
        silent=_of_image("snap-of-live-ami", 120, "ami-00000000000000a1e"),
        related=(res(_IMAGE, "ami-00000000000000a1e", 120, state="available", snapshot_gb=30),),
        now=_NOW,
    ),
)
