"""EC2 kinds: volumes, instances, Elastic IPs, snapshots, NAT gateways."""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable

from cloudwaste.scanner.domain import ORPHAN, Resource
from cloudwaste.scanner.kinds import kind
from cloudwaste.scanner.kinds.aws._common import (
    ELASTIC_IP,
    INSTANCE,
    NAT_GATEWAY,
    PROVIDER,
    SNAPSHOT,
    VOLUME,
    Deps,
    paginate,
    resource,
    stopped_since,
    tags,
)

# --- aws.ec2.volume -------------------------------------------------------------------------------


def _volume_spec(v: dict) -> dict:
    return {
        "volume_id": v["VolumeId"],
        "size_gb": int(v["Size"]),
        "volume_type": v.get("VolumeType", "gp2"),
        "iops": v.get("Iops"),
    }


def _volume_extras(v: dict) -> dict:
    """What the volume-type and volume-usage rules read besides the spec: gp3's provisioned
    throughput (MiB/s; AWS gives it for gp3 only), Multi-Attach (io1/io2 only; gp3 cannot be
    multi-attached) and when the volume was attached (the earliest attachment; None when not
    attached)."""
    times = [a["AttachTime"] for a in v.get("Attachments") or [] if a.get("AttachTime")]
    return {
        "throughput": v.get("Throughput"),
        "multi_attach": bool(v.get("MultiAttachEnabled")),
        "attach_time": min(times) if times else None,
    }


@kind(
    key=VOLUME,
    provider=PROVIDER,
    title="EBS volume",
    operations=("ec2:DescribeVolumes",),
    id_field="VolumeId",
    name_field="tag:Name",
    created_field="CreateTime",
    ml_config={"volume_type": str, "size_gb": int, "iops": int, "encrypted": bool},
)
def list_volumes(conn, region: str, now: dt.datetime, deps: Deps) -> list[Resource]:
    """EBS volumes, attached or not, with size, type, provisioned IOPS and throughput, Multi-Attach
    and the instances using them."""
    out = []
    for v in paginate(conn.client("ec2", region), "describe_volumes", "Volumes"):
        attached = [a["InstanceId"] for a in v.get("Attachments") or [] if a.get("InstanceId")]
        instance_id = attached[0] if attached else None
        spec = _volume_spec(v)
        out.append(
            resource(
                VOLUME,
                v,
                region,
                tags(v.get("Tags")),
                attributes={
                    **spec,
                    **_volume_extras(v),
                    "state": v.get("State"),
                    "attached_instance_id": instance_id,
                    "attached_instance_ids": attached,
                },
                config={
                    "volume_type": spec["volume_type"],
                    "size_gb": spec["size_gb"],
                    "iops": spec["iops"],
                    "encrypted": bool(v.get("Encrypted")),
                },
                parent_id=instance_id,
                parent_kind=INSTANCE if instance_id else None,
            )
        )
    return out


# --- aws.ec2.instance -----------------------------------------------------------------------------


def _autoscaling_group(r: Resource) -> tuple[str, str] | None:
    """An instance's parent: its Auto Scaling group (the tag AWS sets), named in its region.
    Groups are not a kind CloudWaste lists: the parent's state stays unknown."""
    group = r.tags.get("aws:autoscaling:groupName")
    return ("aws.autoscaling.group", f"{r.region}/{group}") if group else None


@kind(
    key=INSTANCE,
    parent=_autoscaling_group,
    provider=PROVIDER,
    title="EC2 instance",
    operations=("ec2:DescribeInstances",),
    id_field="InstanceId",
    name_field="tag:Name",
    created_field="LaunchTime",
    ml_config={"instance_type": str, "architecture": str, "platform": str, "state": str},
    requires=(VOLUME,),
)
def list_instances(conn, region: str, now: dt.datetime, deps: Deps) -> list[Resource]:
    """EC2 instances that are not terminated, with their stop time and the volumes attached to them."""
    by_instance: dict[str, list[dict]] = {}
    for vol in deps[VOLUME]:
        a = vol.attributes
        spec = {k: a.get(k) for k in ("volume_id", "size_gb", "volume_type", "iops")}
        for iid in a.get("attached_instance_ids") or []:
            by_instance.setdefault(iid, []).append(spec)
    out = []
    for reservation in paginate(conn.client("ec2", region), "describe_instances", "Reservations"):
        for i in reservation.get("Instances", []):
            state = i.get("State", {}).get("Name")
            if state == "terminated":
                continue
            out.append(
                resource(
                    INSTANCE,
                    i,
                    region,
                    tags(i.get("Tags")),
                    attributes={
                        "state": state,
                        "instance_type": i.get("InstanceType"),
                        "stopped_since": stopped_since(i.get("StateTransitionReason"))
                        if state == "stopped"
                        else None,
                        "attached_volumes": by_instance.get(i["InstanceId"], []),
                        "image_id": i.get("ImageId"),  # what the AMIs' listing reads
                    },
                    config={
                        "instance_type": i.get("InstanceType"),
                        "architecture": i.get("Architecture"),
                        "platform": i.get("PlatformDetails") or i.get("Platform") or "Linux/UNIX",
                        "state": state,
                    },
                )
            )
    return out


# --- aws.ec2.elastic_ip ---------------------------------------------------------------------------

# Values per DescribeNetworkInterfaces filter (EC2 accepts up to 200 values in one filter).
_ENI_BATCH = 100


def _network_interfaces(client, eni_ids: Iterable[str]) -> dict[str, dict]:
    """The network interfaces with these ids, by id: batched `network-interface-id` filters (a
    filter omits an interface deleted since DescribeAddresses, where `NetworkInterfaceIds` would
    fail the whole call), each paginated."""
    ids = sorted(set(eni_ids))
    out: dict[str, dict] = {}
    for start in range(0, len(ids), _ENI_BATCH):
        batch = ids[start : start + _ENI_BATCH]
        filters = [{"Name": "network-interface-id", "Values": batch}]
        for eni in paginate(client, "describe_network_interfaces", "NetworkInterfaces", Filters=filters):
            out[eni["NetworkInterfaceId"]] = eni
    return out


@kind(
    key=ELASTIC_IP,
    provider=PROVIDER,
    title="Elastic IP address",
    operations=("ec2:DescribeAddresses", "ec2:DescribeNetworkInterfaces"),
    id_field="AllocationId",
    name_field="tag:Name",
    created_field=None,  # AWS does not say when an address was allocated
    ml_config={"domain": str, "associated": bool},
)
def list_elastic_ips(conn, region: str, now: dt.datetime, deps: Deps) -> list[Resource]:
    """Elastic IP addresses with their association (DescribeAddresses is not paginated). An address
    on a network interface but on no instance also carries that interface's status, type and
    whether AWS manages it (DescribeNetworkInterfaces, only for those interfaces, batched)."""
    client = conn.client("ec2", region)
    addresses = client.describe_addresses().get("Addresses", [])
    # moto answers "" for a missing InstanceId; AWS leaves the field out.
    on_eni_only = [
        a["NetworkInterfaceId"] for a in addresses if a.get("NetworkInterfaceId") and not a.get("InstanceId")
    ]
    enis = _network_interfaces(client, on_eni_only) if on_eni_only else {}
    out = []
    for a in addresses:
        instance_id = a.get("InstanceId") or None
        eni_id = a.get("NetworkInterfaceId") or None
        eni = enis.get(eni_id) if eni_id and not instance_id else None
        out.append(
            resource(
                ELASTIC_IP,
                a,
                region,
                tags(a.get("Tags")),
                resource_id=a.get("AllocationId") or a["PublicIp"],
                attributes={
                    "association_id": a.get("AssociationId") or None,
                    "instance_id": instance_id,
                    "network_interface_id": eni_id,
                    "domain": a.get("Domain", "vpc"),
                    "public_ip": a.get("PublicIp"),
                    # set by AWS for addresses a service manages (ALB, NLB, RDS...); None otherwise
                    "service_managed": a.get("ServiceManaged") or None,
                    # only for an address on an interface and no instance; None when not looked up
                    # or the interface is gone
                    "network_interface_status": eni.get("Status") if eni else None,
                    "network_interface_type": eni.get("InterfaceType") if eni else None,
                    "network_interface_requester_managed": bool(eni.get("RequesterManaged")) if eni else None,
                    "network_interface_attached_instance_id": (eni.get("Attachment") or {}).get("InstanceId")
                    if eni
                    else None,
                },
                config={"domain": a.get("Domain", "vpc"), "associated": bool(a.get("AssociationId"))},
                **_address_parent(instance_id, eni_id, eni),
            )
        )
    return out


NETWORK_INTERFACE = "aws.ec2.network_interface"  # not a kind CloudWaste lists: a parent only
_NAT_INTERFACE = re.compile(r"^Interface for NAT Gateway (nat-[0-9a-f]+)$")


def _address_parent(instance_id: str | None, eni_id: str | None, eni: dict | None) -> dict:
    """An address's parent: its instance; else the NAT gateway whose interface holds it (AWS names
    the gateway in the interface's description); else that interface, with its status."""
    if instance_id:
        return {"parent_id": instance_id, "parent_kind": INSTANCE}
    if eni is not None:
        nat = _NAT_INTERFACE.match(eni.get("Description") or "")
        if nat:
            return {"parent_id": nat.group(1), "parent_kind": NAT_GATEWAY}
        return {"parent_id": eni_id, "parent_kind": NETWORK_INTERFACE, "parent_state": eni.get("Status") or None}
    if eni_id:
        return {"parent_id": eni_id, "parent_kind": NETWORK_INTERFACE}
    return {}


# --- aws.ec2.snapshot -----------------------------------------------------------------------------

_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
_IMAGE = "aws.ec2.image"  # kinds.aws.ami.IMAGE (which requires nothing: no cycle)
# The description AWS Backup gives the EBS snapshots it makes (their retention is a backup plan's).
_AWS_BACKUP = "This snapshot is created by the AWS Backup service"


def _volume_ranks(snapshots: list[dict], image_ids: dict[str, str | None]) -> dict[str, tuple[int, int]]:
    """Snapshot id -> (rank among the completed snapshots of its source volume, newest = 1, by
    StartTime then id; how many completed snapshots that volume has). Other states are not ranked,
    nor the snapshots AWS made for an image (`image_ids`: theirs are the image's business)."""
    by_volume: dict[str, list[dict]] = {}
    for s in snapshots:
        if s.get("State") == "completed" and s.get("VolumeId") and not image_ids.get(s["SnapshotId"]):
            by_volume.setdefault(s["VolumeId"], []).append(s)
    ranks = {}
    for group in by_volume.values():
        group.sort(key=lambda s: (s.get("StartTime") or _EPOCH, s["SnapshotId"]), reverse=True)
        for rank, s in enumerate(group, start=1):
            ranks[s["SnapshotId"]] = (rank, len(group))
    return ranks


@kind(
    key=SNAPSHOT,
    provider=PROVIDER,
    title="EBS snapshot",
    operations=("ec2:DescribeSnapshots",),
    id_field="SnapshotId",
    name_field="tag:Name",
    created_field="StartTime",
    ml_config={"size_gb": int, "encrypted": bool, "storage_tier": str},
    requires=(VOLUME, _IMAGE),
)
def list_snapshots(conn, region: str, now: dt.datetime, deps: Deps) -> list[Resource]:
    """Snapshots this account owns, with whether their source volume still exists in the region,
    the image the snapshot belongs to (an image of the region whose block device mappings use it,
    however it was registered: CreateImage, RegisterImage from a snapshot, VM Import, AWS Backup;
    else the image CreateImage's or CopyImage's description names, which may be deregistered
    since), whether AWS Backup made it (its description), and each completed snapshot's rank among
    the completed snapshots of its volume (newest = 1; an image's snapshots are not ranked)."""
    from cloudwaste.scanner.kinds.aws.ami import image_of_snapshot

    volume_ids = {v.resource_id for v in deps[VOLUME]}
    used_by_image = {
        sid: image.resource_id for image in deps[_IMAGE] for sid in image.attributes.get("snapshot_ids") or []
    }
    records = list(paginate(conn.client("ec2", region), "describe_snapshots", "Snapshots", OwnerIds=["self"]))
    image_ids = {
        s["SnapshotId"]: used_by_image.get(s["SnapshotId"]) or image_of_snapshot(s.get("Description"))
        for s in records
    }
    ranks = _volume_ranks(records, image_ids)
    out = []
    for s in records:
        source = s.get("VolumeId")
        exists = bool(source) and source in volume_ids
        size = int(s.get("VolumeSize", 0))
        rank, count = ranks.get(s["SnapshotId"], (None, None))
        full = s.get("FullSnapshotSizeInBytes")
        out.append(
            resource(
                SNAPSHOT,
                s,
                region,
                tags(s.get("Tags")),
                attributes={
                    "volume_id": source,
                    "source_volume_exists": exists,
                    "size_gb": size,
                    "state": s.get("State"),
                    "storage_tier": s.get("StorageTier", "standard"),
                    # the blocks written to the volume when the snapshot was taken (not the
                    # incremental size); AWS gives it for newer snapshots only
                    "full_size_bytes": int(full) if full is not None else None,
                    "volume_snapshot_rank": rank,
                    "volume_snapshot_count": count,
                    # the listed image that uses this snapshot, else the one AWS made it for
                    # (named in its description; it may be deregistered since)
                    "image_id": image_ids[s["SnapshotId"]],
                    "image_registered": s["SnapshotId"] in used_by_image,
                    "aws_backup": (s.get("Description") or "").startswith(_AWS_BACKUP),
                },
                config={
                    "size_gb": size,
                    "encrypted": bool(s.get("Encrypted")),
                    "storage_tier": s.get("StorageTier", "standard"),
                },
                parent_id=source,
                parent_kind=VOLUME if source else None,
                parent_state=ORPHAN if source and not exists else None,
            )
        )
    return out


# --- aws.ec2.nat_gateway --------------------------------------------------------------------------


@kind(
    key=NAT_GATEWAY,
    provider=PROVIDER,
    title="NAT gateway",
    operations=("ec2:DescribeNatGateways",),
    id_field="NatGatewayId",
    name_field="tag:Name",
    created_field="CreateTime",
    ml_config={"connectivity_type": str},
)
def list_nat_gateways(conn, region: str, now: dt.datetime, deps: Deps) -> list[Resource]:
    """NAT gateways that are not deleted. Their traffic is a metric the rules ask for."""
    return [
        resource(
            NAT_GATEWAY,
            n,
            region,
            tags(n.get("Tags")),
            attributes={"state": n.get("State")},
            config={"connectivity_type": n.get("ConnectivityType", "public")},
        )
        for n in paginate(conn.client("ec2", region), "describe_nat_gateways", "NatGateways")
        if n.get("State") != "deleted"
    ]
