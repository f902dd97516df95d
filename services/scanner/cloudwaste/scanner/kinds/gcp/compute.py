"""GCP Compute Engine kinds: persistent disks (zonal and regional), VM instances, static IP
addresses (regional and global), snapshots and the project's own images (both global)."""

from __future__ import annotations

import datetime as dt

from cloudwaste.scanner.domain import Resource
from cloudwaste.scanner.kinds import LazyModule, Listing, kind, parent_at
from cloudwaste.scanner.kinds.gcp._common import PROVIDER, Deps, aggregated, gcp_time, last, path_of, resource

compute_v1 = LazyModule("google.cloud.compute_v1")  # imported when a listing runs

DISK = "gcp.compute.disk"
INSTANCE = "gcp.compute.instance"
ADDRESS = "gcp.compute.address"
_ADDRESS_USERS = {"instances": INSTANCE, "forwardingRules": "gcp.compute.forwarding_rule"}


def _address_user(r: Resource) -> tuple[str, str] | None:
    """An address's parent: the instance or forwarding rule using it (the first of `users`)."""
    users = r.attributes.get("users") or []
    parts = users[0].split("/") if users else []
    return (_ADDRESS_USERS[parts[-2]], users[0]) if len(parts) >= 2 and parts[-2] in _ADDRESS_USERS else None
SNAPSHOT = "gcp.compute.snapshot"
IMAGE = "gcp.compute.image"
GIB = 1024**3


def _gb(value) -> int:
    try:
        return int(value or 0)
    except (TypeError, ValueError):
        return 0


@kind(
    key=DISK,
    parent=parent_at("users", INSTANCE),
    provider=PROVIDER,
    title="Persistent disk",
    operations=("compute.disks.list",),
    id_field="selfLink",
    name_field="name",
    created_field="creationTimestamp",
    ml_config={"disk_type": str, "size_gb": int, "regional": bool},
)
def list_disks(conn, project: str, now: dt.datetime, deps: Deps) -> Listing:
    """Persistent disks of every zone and region (disks.aggregatedList), with type, size, the
    instances using them (`users`), when they were last attached and detached, and the image
    they were created from (`sourceImage`, which an instance's own record does not carry)."""
    items, unreached = aggregated(
        conn.compute(compute_v1.DisksClient),
        "aggregated_list",
        compute_v1.AggregatedListDisksRequest(project=project, max_results=500),
        "disks",
    )
    out = []
    for d in items:
        disk_type = last(d.type_) or "pd-standard"
        size = _gb(d.size_gb)
        out.append(
            resource(
                DISK,
                d,
                attributes={
                    "status": d.status,
                    "disk_type": disk_type,
                    "size_gb": size,
                    "users": [path_of(u) for u in d.users],
                    "last_attach": gcp_time(d.last_attach_timestamp),
                    "last_detach": gcp_time(d.last_detach_timestamp),
                    "regional": bool(d.region),
                    "source_image": path_of(d.source_image) if d.source_image else None,
                    "source_image_id": str(d.source_image_id) if d.source_image_id else None,
                    "source_snapshot": path_of(d.source_snapshot) if d.source_snapshot else None,
                },
                config={"disk_type": disk_type, "size_gb": size, "regional": bool(d.region)},
            )
        )
    return Listing(out, unreached)


@kind(
    key=INSTANCE,
    provider=PROVIDER,
    title="VM instance",
    operations=("compute.instances.list",),
    id_field="selfLink",
    name_field="name",
    created_field="creationTimestamp",
    ml_config={"machine_type": str, "status": str, "disk_count": int, "disk_gb": int, "external_ip_count": int},
)
def list_instances(conn, project: str, now: dt.datetime, deps: Deps) -> Listing:
    """VM instances of every zone (instances.aggregatedList): status (RUNNING, TERMINATED for a
    stopped machine, STOPPING, SUSPENDED...), machine type, the persistent disks attached (their
    paths and sizes), the external IPs of its interfaces (`natIP`), when it last started and
    stopped, and its numeric `id` (`instance_id`: Cloud Monitoring's gce_instance label)."""
    items, unreached = aggregated(
        conn.compute(compute_v1.InstancesClient),
        "aggregated_list",
        compute_v1.AggregatedListInstancesRequest(project=project, max_results=500),
        "instances",
    )
    out = []
    for i in items:
        machine_type = last(i.machine_type) or ""
        disks = [
            {"source": path_of(d.source), "size_gb": _gb(d.disk_size_gb), "boot": bool(d.boot)}
            for d in i.disks
            if d.source
        ]
        nat_ips = [a.nat_i_p for n in i.network_interfaces for a in n.access_configs if a.nat_i_p]
        disk_gb = sum(d["size_gb"] for d in disks)
        out.append(
            resource(
                INSTANCE,
                i,
                attributes={
                    "status": i.status,
                    "machine_type": machine_type,
                    "instance_id": str(i.id) if i.id else "",
                    "disks": disks,
                    "nat_ips": nat_ips,
                    "last_start": gcp_time(i.last_start_timestamp),
                    "last_stop": gcp_time(i.last_stop_timestamp),
                },
                config={
                    "machine_type": machine_type,
                    "status": i.status,
                    "disk_count": len(disks),
                    "disk_gb": disk_gb,
                    "external_ip_count": len(nat_ips),
                },
            )
        )
    return Listing(out, unreached)


def _address(a) -> dict:
    return {
        "status": a.status,
        "address_type": a.address_type or "EXTERNAL",  # Google's default when absent
        "users": [path_of(u) for u in a.users],
        "address": a.address,
        "network_tier": a.network_tier or None,
        "purpose": a.purpose or None,
        "ip_version": a.ip_version or None,
    }


@kind(
    key=ADDRESS,
    parent=_address_user,
    provider=PROVIDER,
    title="Static IP address",
    operations=("compute.addresses.list", "compute.globalAddresses.list"),
    id_field="selfLink",
    name_field="name",
    created_field="creationTimestamp",
    ml_config={"address_type": str, "network_tier": str, "status": str, "global": bool, "user_count": int},
)
def list_addresses(conn, project: str, now: dt.datetime, deps: Deps) -> Listing:
    """Reserved static IP addresses: regional ones of every region (addresses.aggregatedList)
    and global ones (globalAddresses.list; an address the aggregated list also holds, under its
    "global" scope, is listed once), with status (RESERVED: assigned to nothing; IN_USE),
    type (EXTERNAL, INTERNAL) and the resources using them (`users`: an instance, a forwarding
    rule...)."""
    items, unreached = aggregated(
        conn.compute(compute_v1.AddressesClient),
        "aggregated_list",
        compute_v1.AggregatedListAddressesRequest(project=project, max_results=500),
        "addresses",
    )
    glob = list(
        conn.compute(compute_v1.GlobalAddressesClient).list(
            request=compute_v1.ListGlobalAddressesRequest(project=project, max_results=500)
        )
    )
    # the aggregated list may hold the global addresses too (scope "global"): each once
    seen = {a.self_link for a in items}
    out = []
    for a in [*items, *(g for g in glob if g.self_link not in seen)]:
        is_global = not a.region
        attributes = _address(a) | {"global": is_global}
        out.append(
            resource(
                ADDRESS,
                a,
                attributes=attributes,
                config={
                    "address_type": attributes["address_type"],
                    "network_tier": attributes["network_tier"] or "",
                    "status": a.status,
                    "global": is_global,
                    "user_count": len(attributes["users"]),
                },
            )
        )
    return Listing(out, unreached)


@kind(
    key=SNAPSHOT,
    parent=parent_at("source_disk", DISK),
    provider=PROVIDER,
    title="Disk snapshot",
    operations=("compute.snapshots.list",),
    id_field="selfLink",
    name_field="name",
    created_field="creationTimestamp",
    ml_config={"disk_size_gb": int, "storage_gb": float, "snapshot_type": str, "auto_created": bool},
)
def list_snapshots(conn, project: str, now: dt.datetime, deps: Deps) -> list:
    """Disk snapshots of the project (snapshots.list, global): the disk they were taken from
    (`sourceDisk`, which may no longer exist), the bytes they store (`storageBytes`: what is
    billed; snapshots of one disk are incremental), the source disk's size, where they are
    stored (`storageLocations`: a multi-region such as "us" or a region) and their type."""
    client = conn.compute(compute_v1.SnapshotsClient)
    out = []
    for s in client.list(request=compute_v1.ListSnapshotsRequest(project=project, max_results=500)):
        storage_gb = round(_gb(s.storage_bytes) / GIB, 3)
        snapshot_type = (s.snapshot_type or "STANDARD").lower()
        out.append(
            resource(
                SNAPSHOT,
                s,
                attributes={
                    "status": s.status,
                    "source_disk": path_of(s.source_disk) if s.source_disk else None,
                    "storage_bytes": _gb(s.storage_bytes),
                    "storage_gb": storage_gb,
                    "disk_size_gb": _gb(s.disk_size_gb),
                    "storage_locations": list(s.storage_locations),
                    "snapshot_type": snapshot_type,
                    "auto_created": bool(s.auto_created),
                },
                config={
                    "disk_size_gb": _gb(s.disk_size_gb),
                    "storage_gb": storage_gb,
                    "snapshot_type": snapshot_type,
                    "auto_created": bool(s.auto_created),
                },
            )
        )
    return out


def _disks_from_images(disks) -> tuple[dict[str, int], set[str]]:
    """{image path or image id: how many listed disks were created from it}, and the image
    families disks were created from by family name ("…/global/images/family/debian-ops")."""
    counts: dict[str, int] = {}
    families: set[str] = set()
    for d in disks:
        source, source_id = d.attributes.get("source_image"), d.attributes.get("source_image_id")
        if source and "/images/family/" in source:
            families.add(f"{source.split('/global/images/family/')[0]}|{last(source)}")
        for key in {source, source_id} - {None, ""}:
            counts[key] = counts.get(key, 0) + 1
    return counts, families


@kind(
    key=IMAGE,
    parent=parent_at("source_disk", DISK),
    provider=PROVIDER,
    title="Custom image",
    operations=("compute.images.list",),
    id_field="selfLink",
    name_field="name",
    created_field="creationTimestamp",
    requires=(DISK,),
    ml_config={
        "disk_size_gb": int, "archive_gb": float, "has_family": bool, "deprecated": bool, "disks_from_it": int,
    },
)
def list_images(conn, project: str, now: dt.datetime, deps: Deps) -> list:
    """The project's own (custom) images (images.list on the project, global; public images live
    in other projects and are not listed): the disk they were made from, their size
    (`diskSizeGb`), the bytes stored (`archiveSizeBytes`: what is billed), status, family,
    deprecation state, and how many disks of the project were created from each
    (`disks_from_it`). An instance's record names no image: the disks' `sourceImage` and
    `sourceImageId` do, read from the disk kind's listing of the same project (no second
    call); a disk created from an image family counts for every image of that family
    (`family_in_use`). Not seen: instance templates naming the image, and other projects it is
    shared with."""
    counts, families = _disks_from_images(deps[DISK])
    client = conn.compute(compute_v1.ImagesClient)
    out = []
    for i in client.list(request=compute_v1.ListImagesRequest(project=project, max_results=500)):
        archive_gb = round(_gb(i.archive_size_bytes) / GIB, 3)
        deprecated = (i.deprecated.state if i.deprecated else "") or None
        link = path_of(i.self_link) or i.name
        image_id = str(i.id) if i.id else None
        from_it = max(counts.get(link, 0), counts.get(image_id, 0) if image_id else 0)
        family_in_use = bool(i.family) and f"{link.split('/global/images/')[0]}|{i.family}" in families
        out.append(
            resource(
                IMAGE,
                i,
                attributes={
                    "status": i.status,
                    "image_id": image_id,
                    "source_disk": path_of(i.source_disk) if i.source_disk else None,
                    "disk_size_gb": _gb(i.disk_size_gb),
                    "archive_bytes": _gb(i.archive_size_bytes),
                    "archive_gb": archive_gb,
                    "family": i.family or None,
                    "family_in_use": family_in_use,
                    "deprecated": deprecated,
                    "storage_locations": list(i.storage_locations),
                    "disks_from_it": from_it,
                },
                config={
                    "disk_size_gb": _gb(i.disk_size_gb),
                    "archive_gb": archive_gb,
                    "has_family": bool(i.family),
                    "deprecated": deprecated is not None,
                    "disks_from_it": from_it,
                },
            )
        )
    return out
