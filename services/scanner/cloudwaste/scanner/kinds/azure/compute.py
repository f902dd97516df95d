"""Azure compute kinds (Microsoft.Compute): managed disks, virtual machines (with their power
state), snapshots, managed images and availability sets."""

from __future__ import annotations

import datetime as dt
from typing import Any

from azure.mgmt.compute import ComputeManagementClient
from cloudwaste.scanner.domain import Resource
from cloudwaste.scanner.kinds import kind, parent_at
from cloudwaste.scanner.kinds.azure._common import (
    PROVIDER,
    Deps,
    arm_id,
    aware,
    enum,
    parent_by_type,
    resource,
)

DISK = "azure.compute.disk"
VIRTUAL_MACHINE = "azure.compute.virtual_machine"
SNAPSHOT = "azure.compute.snapshot"
IMAGE = "azure.compute.image"
AVAILABILITY_SET = "azure.compute.availability_set"


def _ref(value: Any) -> str | None:
    """The lower-case ARM id of a sub-resource reference ({"id": ...}), None when absent."""
    if value is None:
        return None
    rid = value.get("id") if isinstance(value, dict) else getattr(value, "id", None)
    return _normal_id(rid)


def _normal_id(value: str | None) -> str | None:
    """An ARM id in lower case with its leading "/" (some APIs send
    "subscriptions/..." without it, e.g. a snapshot's creationData.sourceResourceId)."""
    if not value:
        return None
    value = value.lower()
    return value if value.startswith("/") else "/" + value


def _created(model: Any) -> dt.datetime | None:
    """ARM's systemData.createdAt, for the types whose own properties give no creation time."""
    system = getattr(model, "system_data", None)
    return aware(getattr(system, "created_at", None)) if system is not None else None


@kind(
    key=DISK,
    parent=parent_at("managed_by", VIRTUAL_MACHINE),
    provider=PROVIDER,
    title="Managed disk",
    operations=("Microsoft.Compute/disks/read",),
    id_field="id",
    name_field="name",
    created_field="time_created",
    ml_config={"sku": str, "size_gb": int, "os_disk": bool},
)
def list_disks(conn, subscription: str, now: dt.datetime, deps: Deps) -> list[Resource]:
    """Managed disks of the subscription (Disks_List), with their state (Unattached, Attached,
    Reserved: attached to a deallocated VM), SKU, size and tier, the VM using them (`managedBy`)
    and when that ownership last changed (attached, detached, or its VM deallocated)."""
    out = []
    for d in conn.client(ComputeManagementClient, subscription).disks.list():
        sku = enum(d.sku.name) if d.sku else None
        size = int(d.disk_size_gb or 0)
        out.append(
            resource(
                DISK,
                d,
                created_at=aware(d.time_created),
                attributes={
                    "disk_state": enum(d.disk_state),
                    "managed_by": arm_id(d.managed_by),
                    "sku": sku,
                    "size_gb": size,
                    "tier": d.tier,
                    "os_type": enum(d.os_type),
                    "last_ownership_update": aware(d.last_ownership_update_time),
                    "creation_option": enum(d.creation_data.create_option) if d.creation_data else None,
                },
                config={"sku": sku, "size_gb": size, "os_disk": d.os_type is not None},
            )
        )
    return out


# --- virtual machines ----------------------------------------------------------------------------


def _statuses(vm: Any) -> list[Any]:
    view = getattr(vm, "instance_view", None)
    return list(getattr(view, "statuses", None) or []) if view is not None else []


def power_state(statuses: list[Any]) -> tuple[str | None, str | None, dt.datetime | None]:
    """(power state, provisioning state, time of the provisioning status) from an instance view's
    statuses: "PowerState/deallocated" -> "deallocated"; the "ProvisioningState/..." status carries
    the time of the VM's last operation (its start, stop or deallocation)."""
    power = provisioning = None
    since = None
    for s in statuses:
        code = (getattr(s, "code", None) or "").strip()
        head, _, tail = code.partition("/")
        if head.lower() == "powerstate" and tail:
            power = tail.lower()
        elif head.lower() == "provisioningstate" and tail:
            provisioning = tail.lower()
            since = aware(getattr(s, "time", None))
    return power, provisioning, since


@kind(
    key=VIRTUAL_MACHINE,
    provider=PROVIDER,
    title="Virtual machine",
    operations=("Microsoft.Compute/virtualMachines/read",),
    id_field="id",
    name_field="name",
    created_field="time_created",
    ml_config={"vm_size": str, "power_state": str, "os_type": str, "data_disk_count": int, "spot": bool},
    requires=(DISK,),
)
def list_virtual_machines(conn, subscription: str, now: dt.datetime, deps: Deps) -> list[Resource]:
    """Virtual machines of the subscription with their run-time status, in one listing
    (VirtualMachines_ListAll with statusOnly=true: each VM with its instance view). The power
    state comes from the "PowerState/..." status ("running", "stopped": the OS is off but the
    compute is still billed, "deallocated", "starting", ...), `power_state_since` from the time of
    the "ProvisioningState/..." status (the VM's last operation, e.g. its stop).

    A deallocated VM's `deallocated_since` is its OS disk's `LastOwnershipUpdateTime` (Azure sets
    it when the VM owning the disk is deallocated; the instance view says nothing of when), read
    from the disk listing of the same subscription, else `power_state_since`. Disk, NIC and image
    ids are lower case, as every kind gives ARM ids."""
    disks = {d.resource_id: d for d in deps.get(DISK, ())}
    out = []
    for vm in conn.client(ComputeManagementClient, subscription).virtual_machines.list_all(status_only="true"):
        power, provisioning, since = power_state(_statuses(vm))
        storage = getattr(vm, "storage_profile", None)
        os_disk = getattr(storage, "os_disk", None) if storage is not None else None
        os_disk_id = _ref(getattr(os_disk, "managed_disk", None)) if os_disk is not None else None
        data_disk_ids = [
            rid
            for rid in (_ref(getattr(d, "managed_disk", None)) for d in (getattr(storage, "data_disks", None) or []))
            if rid
        ]
        image = getattr(storage, "image_reference", None) if storage is not None else None
        network = getattr(vm, "network_profile", None)
        nic_ids = [
            rid for rid in (_ref(n) for n in (getattr(network, "network_interfaces", None) or [])) if rid
        ]
        size = enum(vm.hardware_profile.vm_size) if getattr(vm, "hardware_profile", None) else None
        os_type = enum(getattr(os_disk, "os_type", None)) if os_disk is not None else None
        priority = enum(getattr(vm, "priority", None))
        attached = [disks[i] for i in ([os_disk_id] if os_disk_id else []) + data_disk_ids if i in disks]
        deallocated_since = None
        if power == "deallocated":
            os_listed = disks.get(os_disk_id) if os_disk_id else None
            deallocated_since = (os_listed.attributes.get("last_ownership_update") if os_listed else None) or since
        out.append(
            resource(
                VIRTUAL_MACHINE,
                vm,
                created_at=aware(getattr(vm, "time_created", None)),
                attributes={
                    "power_state": power,
                    "provisioning_state": provisioning,
                    "power_state_since": since,
                    "deallocated_since": deallocated_since,
                    "vm_size": size,
                    "os_type": os_type,
                    "priority": priority,
                    "os_disk_id": os_disk_id,
                    "data_disk_ids": data_disk_ids,
                    "nic_ids": nic_ids,
                    "image_id": _normal_id(getattr(image, "id", None)) if image is not None else None,
                    "availability_set_id": _ref(getattr(vm, "availability_set", None)),
                    "scale_set_id": _ref(getattr(vm, "virtual_machine_scale_set", None)),
                    "disks": [
                        {"id": d.resource_id, "sku": d.attributes.get("sku"), "size_gb": d.attributes.get("size_gb")}
                        for d in attached
                    ],
                },
                config={
                    "vm_size": size,
                    "power_state": power,
                    "os_type": os_type,
                    "data_disk_count": len(data_disk_ids),
                    "spot": (priority or "").lower() in ("spot", "low"),
                },
            )
        )
    return out


# --- snapshots -----------------------------------------------------------------------------------


@kind(
    key=SNAPSHOT,
    parent=parent_by_type(("source_resource_id",), {"disks": DISK, "snapshots": SNAPSHOT}),
    provider=PROVIDER,
    title="Managed disk snapshot",
    operations=("Microsoft.Compute/snapshots/read",),
    id_field="id",
    name_field="name",
    created_field="time_created",
    ml_config={"sku": str, "size_gb": int, "incremental": bool, "os_snapshot": bool},
)
def list_snapshots(conn, subscription: str, now: dt.datetime, deps: Deps) -> list[Resource]:
    """Snapshots of the subscription (Snapshots_List): the resource they were taken from
    (`creationData.sourceResourceId`, lower case with its leading "/"; none for an import from a
    blob), how (`createOption`: Copy, CopyStart, Import, ...), size, whether incremental, SKU
    (Standard_LRS, Standard_ZRS, Premium_LRS; absent means Standard_LRS) and creation time."""
    out = []
    for s in conn.client(ComputeManagementClient, subscription).snapshots.list():
        sku = enum(s.sku.name) if getattr(s, "sku", None) else None
        size = int(s.disk_size_gb or 0)
        creation = getattr(s, "creation_data", None)
        out.append(
            resource(
                SNAPSHOT,
                s,
                created_at=aware(s.time_created),
                attributes={
                    "source_resource_id": _normal_id(getattr(creation, "source_resource_id", None)) if creation else None,
                    "create_option": enum(getattr(creation, "create_option", None)) if creation else None,
                    "size_gb": size,
                    "incremental": bool(s.incremental),
                    "sku": sku,
                    "os_type": enum(s.os_type),
                    "time_created": aware(s.time_created),
                },
                config={"sku": sku, "size_gb": size, "incremental": bool(s.incremental), "os_snapshot": s.os_type is not None},
            )
        )
    return out


# --- managed images ------------------------------------------------------------------------------


@kind(
    key=IMAGE,
    parent=parent_at("source_vm_id", VIRTUAL_MACHINE),
    provider=PROVIDER,
    title="Managed image",
    operations=("Microsoft.Compute/images/read", "Microsoft.Compute/virtualMachineScaleSets/read"),
    id_field="id",
    name_field="name",
    created_field="systemData.createdAt",
    ml_config={"size_gb": int, "data_disk_count": int, "os_type": str},
    requires=(VIRTUAL_MACHINE,),
)
def list_images(conn, subscription: str, now: dt.datetime, deps: Deps) -> list[Resource]:
    """Managed images of the subscription (Images_List): their disks' sizes and storage types,
    how many VMs of the subscription were created from them (`used_by_vms`, from the VM listing:
    a VM's `storageProfile.imageReference.id`) and whether a scale set deploys them
    (VirtualMachineScaleSets_ListAll, one listing: a scale set's model names its image,
    `used_by_scale_set`). An image gives no creation time of its own: ARM's
    `systemData.createdAt` when present, else unknown."""
    client = conn.client(ComputeManagementClient, subscription)
    by_vms: dict[str, int] = {}
    for vm in deps.get(VIRTUAL_MACHINE, ()):
        image_id = vm.attributes.get("image_id")
        if image_id:
            by_vms[image_id] = by_vms.get(image_id, 0) + 1
    in_scale_sets = set()
    for ss in client.virtual_machine_scale_sets.list_all():
        profile = getattr(ss, "virtual_machine_profile", None)
        storage = getattr(profile, "storage_profile", None) if profile is not None else None
        image = getattr(storage, "image_reference", None) if storage is not None else None
        if image is not None and getattr(image, "id", None):
            in_scale_sets.add(_normal_id(image.id))
    out = []
    for image in client.images.list():
        storage = getattr(image, "storage_profile", None)
        os_disk = getattr(storage, "os_disk", None) if storage is not None else None
        data = list(getattr(storage, "data_disks", None) or []) if storage is not None else []
        disks = [d for d in [os_disk, *data] if d is not None]
        sizes = [getattr(d, "disk_size_gb", None) for d in disks]
        known = all(isinstance(s, int) and s > 0 for s in sizes) and bool(sizes)
        size = int(sum(sizes)) if known else 0
        os_type = enum(getattr(os_disk, "os_type", None)) if os_disk is not None else None
        rid = arm_id(image.id) or ""
        out.append(
            resource(
                IMAGE,
                image,
                created_at=_created(image),
                attributes={
                    "size_gb": size,
                    "size_known": known,
                    "disk_count": len(disks),
                    "storage_account_type": enum(getattr(os_disk, "storage_account_type", None)) if os_disk else None,
                    "os_type": os_type,
                    "source_vm_id": _ref(getattr(image, "source_virtual_machine", None)),
                    "used_by_vms": by_vms.get(rid, 0),
                    "used_by_scale_set": rid in in_scale_sets,
                },
                config={"size_gb": size, "data_disk_count": len(data), "os_type": os_type},
            )
        )
    return out


# --- availability sets ---------------------------------------------------------------------------


@kind(
    key=AVAILABILITY_SET,
    provider=PROVIDER,
    title="Availability set",
    operations=("Microsoft.Compute/availabilitySets/read",),
    id_field="id",
    name_field="name",
    created_field="systemData.createdAt",
    ml_config={"vm_count": int, "fault_domains": int, "sku": str},
)
def list_availability_sets(conn, subscription: str, now: dt.datetime, deps: Deps) -> list[Resource]:
    """Availability sets of the subscription (AvailabilitySets_ListBySubscription) with the VMs
    in them (`virtualMachines`, lower-case ids). Creation time: ARM's `systemData.createdAt` when
    present, else unknown."""
    out = []
    for a in conn.client(ComputeManagementClient, subscription).availability_sets.list_by_subscription():
        vms = [rid for rid in (_ref(v) for v in (a.virtual_machines or [])) if rid]
        sku = enum(a.sku.name) if getattr(a, "sku", None) else None
        out.append(
            resource(
                AVAILABILITY_SET,
                a,
                created_at=_created(a),
                attributes={"vm_ids": vms, "sku": sku},
                config={"vm_count": len(vms), "fault_domains": int(a.platform_fault_domain_count or 0), "sku": sku},
            )
        )
    return out
