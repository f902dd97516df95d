"""Custom image rules."""

from __future__ import annotations

from decimal import Decimal

from cloudwaste.scanner.domain import Detection, Resource
from cloudwaste.scanner.rules import Context, Fixtures, Param, age_days, attach_fixtures, rule
from cloudwaste.scanner.rules.gcp._common import NOW, path, res, rounded
from cloudwaste.scanner.rules.gcp._compute import DISK, IMAGE, storage_location

GIB = 1024**3


@rule(
    key="gcp-image-unused",
    provider="gcp",
    resource_kind=IMAGE,
    needs=(DISK,),
    title="Custom image no existing disk was created from",
    permissions=("compute.images.list", "compute.disks.list"),
    params={"min_age_days": Param(float, 90.0, "The image was created at least this long ago.", 0)},
    confidence_doc="MEDIUM: no disk of the project comes from the image, but instance templates "
    "(a managed group scaled to zero) and other projects it is shared with are not seen; HIGH "
    "when its owner deprecated it.",
)
def image_unused(r: Resource, p, ctx: Context) -> Detection | None:
    """A READY custom image of the project, 90 days old or more, from which no existing disk of
    the project was created, bills its stored bytes (`archiveSizeBytes`, else `diskSizeGb`)
    every month. An instance's record names no image, so the image listing counts the disks
    whose `sourceImage` (or `sourceImageId`) is the image (`disks_from_it`); a disk created from
    the image's family keeps every image of that family (`family_in_use`). Default
    `min_age_days` 90, as for AWS (`ami-unused`) and Steampipe's Thrifty mod for GCP's age
    checks. How long: since the image was created (Google gives no last-use time)."""
    a = r.attributes
    if a.get("status") not in (None, "READY") or a.get("disks_from_it") or a.get("family_in_use"):
        return None
    if a.get("disks_from_it") is None:  # not counted: cannot tell
        return None
    age = age_days(r.created_at, ctx.now)
    if age is None or age < p["min_age_days"]:
        return None
    gb = round((a.get("archive_bytes") or 0) / GIB or float(a.get("disk_size_gb") or 0), 3)
    where = storage_location(r)
    cost = ctx.prices.monthly(where, "disks", "image_gb_month", quantity=gb)
    unknown = {} if cost else {"cost_unknown": f"no image price in {where}, or no size"}
    return Detection(
        scenario="gcp-image-unused",
        confidence="HIGH" if a.get("deprecated") else "MEDIUM",
        monthly_cost=cost if cost else Decimal(0),
        evidence={
            "disks_created_from_it": 0,
            "age_days": rounded(age),
            "billed_gb": gb,
            "archive_gb": a.get("archive_gb"),
            "disk_size_gb": a.get("disk_size_gb"),
            "family": a.get("family"),
            "deprecated": a.get("deprecated"),
            "storage_location": where,
            **unknown,
            **ctx.prices.evidence(where, "disks"),
        },
    )


def _image(name: str, disks_from_it: int) -> Resource:
    return res(
        IMAGE,
        path("global", "images", name),
        200,
        "global",
        status="READY",
        disk_size_gb=20,
        archive_bytes=3 * GIB,
        archive_gb=3.0,
        family=None,
        family_in_use=False,
        deprecated=None,
        storage_locations=["eu"],
        disks_from_it=disks_from_it,
    )


attach_fixtures(
    "gcp-image-unused",
    Fixtures(
        fires=_image("golden-2025-01", 0),
        # the near miss: a disk was created from it
        silent=_image("golden-2025-06", 1),
        now=NOW,
    ),
)
