"""EC2 kind: the machine images (AMIs) this account owns, with what still launches from them."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

from cloudwaste.scanner.domain import Resource
from cloudwaste.scanner.kinds import kind
from cloudwaste.scanner.kinds.aws._common import INSTANCE, PROVIDER, Deps, paginate, resource, tags, utc

IMAGE = "aws.ec2.image"

# DescribeLaunchTemplateVersions' largest page (moto ignores NextToken and stops at MaxResults).
_TEMPLATE_PAGE = 200
_SSM = "resolve:ssm:"

# The descriptions AWS gives the snapshots it makes for an image: CreateImage's ("Created by
# CreateImage(i-...) for ami-... from vol-...") and CopyImage's ("Copied for DestinationAmi ami-...
# from SourceAmi ami-... for SourceSnapshot snap-..."). Free text of a user's is never read.
_IMAGE_SNAPSHOT = (
    re.compile(r"^Created by CreateImage\([^)]*\) for (ami-[0-9a-f]{8,17})\b"),
    re.compile(r"^Copied for DestinationAmi (ami-[0-9a-f]{8,17})\b"),
)


def image_of_snapshot(description: str | None) -> str | None:
    """The id of the image AWS made this snapshot for, from the description AWS gave it; None for
    any other snapshot (a user's description is not read for ids)."""
    for pattern in _IMAGE_SNAPSHOT:
        m = pattern.match(description or "")
        if m:
            return m.group(1)
    return None


def _ebs_snapshots(image: dict) -> list[tuple[str, int]]:
    """(snapshot id, GiB) of each EBS block device mapping backed by a snapshot."""
    out = []
    for m in image.get("BlockDeviceMappings") or []:
        ebs = m.get("Ebs") or {}
        if ebs.get("SnapshotId"):
            out.append((ebs["SnapshotId"], int(ebs.get("VolumeSize") or 0)))
    return out


def _instances_using(instances: Iterable[Resource]) -> dict[str, list[str]]:
    """Image id -> the ids of the listed instances (any state but terminated) launched from it."""
    out: dict[str, list[str]] = {}
    for i in instances:
        if i.attributes.get("image_id"):
            out.setdefault(i.attributes["image_id"], []).append(i.resource_id)
    return out


def _templates_using(client) -> tuple[dict[str, list[str]], int]:
    """Image id -> "<template id>:<version>" of every launch template whose latest or default
    version names it (ONE paginated call for all templates: no template id, Versions $Latest and
    $Default), and how many of those versions resolve their image from an SSM parameter (unknown
    here)."""
    out: dict[str, list[str]] = {}
    ssm = 0
    versions = paginate(
        client,
        "describe_launch_template_versions",
        "LaunchTemplateVersions",
        Versions=["$Latest", "$Default"],
        PaginationConfig={"PageSize": _TEMPLATE_PAGE},
    )
    seen: set[str] = set()
    for v in versions:
        # a template whose latest version is its default comes once per value asked for
        ref = f"{v.get('LaunchTemplateId')}:{v.get('VersionNumber')}"
        image_id = (v.get("LaunchTemplateData") or {}).get("ImageId")
        if not image_id or ref in seen:
            continue
        seen.add(ref)
        if image_id.startswith(_SSM):
            ssm += 1
        else:
            out.setdefault(image_id, []).append(ref)
    return out, ssm


def _launch_configurations_using(client) -> dict[str, list[str]]:
    """Image id -> the names of the Auto Scaling launch configurations that name it."""
    out: dict[str, list[str]] = {}
    for lc in paginate(client, "describe_launch_configurations", "LaunchConfigurations"):
        if lc.get("ImageId"):
            out.setdefault(lc["ImageId"], []).append(lc["LaunchConfigurationName"])
    return out


@kind(
    key=IMAGE,
    provider=PROVIDER,
    title="EC2 machine image (AMI)",
    operations=(
        "ec2:DescribeImages",
        "ec2:DescribeLaunchTemplateVersions",
        "autoscaling:DescribeLaunchConfigurations",
    ),
    id_field="ImageId",
    name_field="Name",
    created_field="CreationDate",
    requires=(INSTANCE,),
    ml_config={
        "architecture": str,
        "platform": str,
        "root_device_type": str,
        "state": str,
        "public": bool,
        "snapshot_count": int,
        "snapshot_gb": int,
    },
)
def list_images(conn, region: str, now: dt.datetime, deps: Deps) -> list[Resource]:
    """AMIs this account owns (DescribeImages Owners=self, paginated; IncludeDisabled, since AWS
    leaves disabled AMIs out by default and they still keep their snapshots), each with its EBS snapshots
    and their total size, and what still launches from it: the instances (any state but
    terminated) launched from it, the launch templates whose latest or default version names it,
    and the Auto Scaling launch configurations that name it.

    The instances come from the instance kind's listing of the same region (no second
    DescribeInstances); the two other lookups are one paginated listing each per region, made only
    when the account owns an image there: DescribeLaunchTemplateVersions for every template at once
    (no template id, Versions `$Latest` and `$Default`), DescribeLaunchConfigurations. Not seen:
    launch template versions other than the latest and default (an Auto Scaling group or a fleet
    can pin one), images resolved through SSM parameters (counted), and other accounts the image is
    shared with (DescribeImageAttribute would be one call per image)."""
    ec2 = conn.client("ec2", region)
    images = list(paginate(ec2, "describe_images", "Images", Owners=["self"], IncludeDisabled=True))
    if not images:
        return []
    by_instance = _instances_using(deps[INSTANCE])
    by_template, ssm_templates = _templates_using(ec2)
    by_launch_config = _launch_configurations_using(conn.client("autoscaling", region))
    out = []
    for image in images:
        image_id = image["ImageId"]
        snapshots = _ebs_snapshots(image)
        snapshot_gb = sum(gb for _, gb in snapshots)
        platform = image.get("PlatformDetails") or image.get("Platform") or "Linux/UNIX"
        out.append(
            resource(
                IMAGE,
                image,
                region,
                tags(image.get("Tags")),
                created_at=utc(image.get("CreationDate")),
                attributes={
                    "state": image.get("State"),
                    "public": bool(image.get("Public")),
                    "root_device_type": image.get("RootDeviceType"),
                    "snapshot_ids": [sid for sid, _ in snapshots],
                    "snapshot_gb": snapshot_gb,
                    "deprecation_time": utc(image.get("DeprecationTime")),
                    "used_by_instances": by_instance.get(image_id, []),
                    "used_by_launch_templates": by_template.get(image_id, []),
                    "used_by_launch_configurations": by_launch_config.get(image_id, []),
                    # launch template versions whose image is an SSM parameter (could be this one)
                    "ssm_resolved_templates": ssm_templates,
                },
                config={
                    "architecture": image.get("Architecture"),
                    "platform": platform,
                    "root_device_type": image.get("RootDeviceType"),
                    "state": image.get("State"),
                    "public": bool(image.get("Public")),
                    "snapshot_count": len(snapshots),
                    "snapshot_gb": snapshot_gb,
                },
            )
        )
    return out
