"""EC2 kinds: volumes, instances, Elastic IPs, snapshots, NAT gateways."""

from __future__ import annotations

import datetime as dt

from cloudwaste.scanner.domain import Resource
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
    """EBS volumes, attached or not, with size, type, provisioned IOPS and the instances using them."""
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


@kind(
    key=INSTANCE,
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


@kind(
    key=ELASTIC_IP,
    provider=PROVIDER,
    title="Elastic IP address",
    operations=("ec2:DescribeAddresses",),
    id_field="AllocationId",
    name_field="tag:Name",
    created_field=None,  # AWS does not say when an address was allocated
    ml_config={"domain": str, "associated": bool},
)
def list_elastic_ips(conn, region: str, now: dt.datetime, deps: Deps) -> list[Resource]:
    """Elastic IP addresses with their association (DescribeAddresses is not paginated)."""
    out = []
    for a in conn.client("ec2", region).describe_addresses().get("Addresses", []):
        out.append(
            resource(
                ELASTIC_IP,
                a,
                region,
                tags(a.get("Tags")),
                resource_id=a.get("AllocationId") or a["PublicIp"],
                attributes={
                    "association_id": a.get("AssociationId"),
                    "instance_id": a.get("InstanceId"),
                    "network_interface_id": a.get("NetworkInterfaceId"),
                    "domain": a.get("Domain", "vpc"),
                    "public_ip": a.get("PublicIp"),
                },
                config={"domain": a.get("Domain", "vpc"), "associated": bool(a.get("AssociationId"))},
                parent_id=a.get("InstanceId"),
                parent_kind=INSTANCE if a.get("InstanceId") else None,
            )
        )
    return out


# --- aws.ec2.snapshot -----------------------------------------------------------------------------


@kind(
    key=SNAPSHOT,
    provider=PROVIDER,
    title="EBS snapshot",
    operations=("ec2:DescribeSnapshots",),
    id_field="SnapshotId",
    name_field="tag:Name",
    created_field="StartTime",
    ml_config={"size_gb": int, "encrypted": bool, "storage_tier": str},
    requires=(VOLUME,),
)
def list_snapshots(conn, region: str, now: dt.datetime, deps: Deps) -> list[Resource]:
    """Snapshots this account owns, with whether their source volume still exists in the region."""
    volume_ids = {v.resource_id for v in deps[VOLUME]}
    out = []
    for s in paginate(conn.client("ec2", region), "describe_snapshots", "Snapshots", OwnerIds=["self"]):
        source = s.get("VolumeId")
        exists = bool(source) and source in volume_ids
        size = int(s.get("VolumeSize", 0))
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
                },
                config={
                    "size_gb": size,
                    "encrypted": bool(s.get("Encrypted")),
                    "storage_tier": s.get("StorageTier", "standard"),
                },
                parent_id=source,
                parent_kind=VOLUME if source else None,
                parent_state=("exists" if exists else "deleted") if source else None,
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
