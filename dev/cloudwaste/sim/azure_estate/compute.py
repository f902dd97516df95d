"""Azure compute: managed disks, virtual machines (with their instance view), snapshots, managed
images and availability sets; the waste every compute rule must flag and its near misses.

Disks: unattached ones to flag; Site Recovery replicas and recently detached ones as near misses;
every VM's OS and data disks carry `managedBy` = the VM and `diskState` Attached (Reserved when
the VM is deallocated) with `LastOwnershipUpdateTime` = when it was attached (or the VM
deallocated). VMs: running busy, running idle (Azure Monitor series), previous-generation sizes,
stopped without deallocation, deallocated for a long time (their disks are parts of the VM's
finding), deallocated for 7-30 days with Premium disks, and near misses of every rule.
Snapshots: orphaned, old, imported, recent. Images: unused, used by a VM or by a scale set,
young. Availability sets: empty, used, young.

Shapes: the published x-ms-examples (see /work/shared/datasets/provider-api-examples): disks as
Disk_Get (`managedBy`, `properties.LastOwnershipUpdateTime` with its capital L), VMs as
VirtualMachine_ListBySubscription_ByLocation, snapshots as Snapshot_ListBySubscription (a
`sourceResourceId` sometimes without its leading "/", as published), availability sets, images
and scale sets by the azure-mgmt-compute models' field names.
"""

from __future__ import annotations

import hashlib

from ..cloud_estate import EstateContext
from ..truth import TruthResource

DISK = "azure.compute.disk"
VM = "azure.compute.virtual_machine"
SNAPSHOT = "azure.compute.snapshot"
IMAGE = "azure.compute.image"
AVAILABILITY_SET = "azure.compute.availability_set"
_SKUS = (("Premium_LRS", 128), ("StandardSSD_LRS", 256), ("Standard_LRS", 512), ("Premium_LRS", 1024))
_COMPUTE = "/providers/Microsoft.Compute"
# rough monthly prices the simulated user weighs its decisions with (not the scanner's)
_VM_MONTH = {"Standard_D2s_v5": 70.0, "Standard_D4s_v5": 140.0, "Standard_E2s_v5": 92.0, "Standard_B2s": 30.0}
_BUSY_SIZES = ("Standard_D2s_v5", "Standard_D4s_v5", "Standard_E2s_v5", "Standard_B2s")
# previous-generation sizes that a current size replaces for less (the rule's table)
_PREVIOUS = ("Standard_D2", "Standard_DS3", "Standard_A2", "Basic_A2", "Standard_D11", "Standard_G1", "Standard_F2")
# previous-generation sizes whose current equivalent costs more: near misses
_PREVIOUS_NO_SAVING = ("Standard_D1", "Standard_F1")


def _rid(sub: str, group: str, type_name: str, name: str) -> str:
    return f"/subscriptions/{sub}/resourceGroups/{group}{_COMPUTE}/{type_name}/{name}"


def _guid(text: str) -> str:
    h = hashlib.sha256(text.encode()).hexdigest()
    return f"{h[:8]}-{h[8:12]}-4{h[13:16]}-8{h[17:20]}-{h[20:32]}"


def _disk(ctx: EstateContext, sub: str, group: str, name: str, location: str, sku: str, size: int,
          state: str, created_days: float, ownership_days: float | None, tags: dict, managed_by: str | None = None,
          os_type: str | None = None) -> dict:
    body = {
        "id": _rid(sub, group, "disks", name),
        "location": location,
        "tags": tags,
        "sku": {"name": sku, "tier": sku.split("_")[0]},
        "properties": {
            "creationData": {"createOption": "FromImage" if os_type else "Empty"},
            "diskSizeGB": size,
            "diskState": state,
            "timeCreated": ctx.stamp(created_days),
            "provisioningState": "Succeeded",
        },
    }
    if os_type:
        body["properties"]["osType"] = os_type
    if ownership_days is not None:
        body["properties"]["LastOwnershipUpdateTime"] = ctx.stamp(ownership_days)
    if managed_by:
        body["managedBy"] = managed_by
    return ctx.api.put(body)


_DISPLAY = {"running": "VM running", "stopped": "VM stopped", "deallocated": "VM deallocated"}


def _vm(ctx: EstateContext, sub: str, group: str, name: str, location: str, size: str, power: str, *,
        created_days: float, op_days: float, disks: list[tuple[str, int]], tags: dict,
        image_id: str | None = None, avset_id: str | None = None) -> tuple[dict, list[dict]]:
    """A VM with its managed disks (the first is the OS disk). `op_days`: when its last operation
    (start, stop, deallocation) happened; a deallocated VM's disks are Reserved with their
    LastOwnershipUpdateTime at that time (Azure sets it on deallocation), other VMs' disks are
    Attached since the VM's creation."""
    vm_id = _rid(sub, group, "virtualMachines", name)
    state = "Reserved" if power == "deallocated" else "Attached"
    ownership = op_days if power == "deallocated" else created_days
    bodies = []
    for n, (sku, gb) in enumerate(disks):
        disk_name = f"{name}_OsDisk_1" if n == 0 else f"{name}_DataDisk_{n - 1}"
        bodies.append(_disk(ctx, sub, group, disk_name, location, sku, gb, state, created_days, ownership, tags,
                            vm_id, "Linux" if n == 0 else None))
    os_sku, os_gb = disks[0]
    image = {"id": image_id} if image_id else {
        "publisher": "Canonical", "offer": "ubuntu-24_04-lts", "sku": "server", "version": "latest",
    }
    properties = {
        "vmId": _guid(vm_id),
        "hardwareProfile": {"vmSize": size},
        "storageProfile": {
            "imageReference": image,
            "osDisk": {
                "osType": "Linux", "name": bodies[0]["name"], "createOption": "FromImage", "caching": "ReadWrite",
                "managedDisk": {"storageAccountType": os_sku, "id": bodies[0]["id"]},
                "diskSizeGB": os_gb, "deleteOption": "Delete",
            },
            "dataDisks": [
                {"lun": n, "name": b["name"], "createOption": "Attach", "caching": "None",
                 "managedDisk": {"storageAccountType": b["sku"]["name"], "id": b["id"]},
                 "diskSizeGB": b["properties"]["diskSizeGB"]}
                for n, b in enumerate(bodies[1:])
            ],
        },
        "networkProfile": {"networkInterfaces": [
            {"id": f"/subscriptions/{sub}/resourceGroups/{group}/providers/Microsoft.Network/networkInterfaces/{name}-nic"}
        ]},
        "provisioningState": "Succeeded",
        "timeCreated": ctx.stamp(created_days),
        # an edited copy of the published instance view (VirtualMachine_Get_InstanceView:
        # "ProvisioningState/succeeded" with its time, then "PowerState/running"): its time is the
        # last operation's, its power state this VM's
        "instanceView": {"statuses": [
            {"code": "ProvisioningState/succeeded", "level": "Info", "displayStatus": "Provisioning succeeded",
             "time": ctx.stamp(op_days)},
            {"code": f"PowerState/{power}", "level": "Info", "displayStatus": _DISPLAY.get(power, power)},
        ]},
    }
    if avset_id:
        properties["availabilitySet"] = {"id": avset_id}
    body = ctx.api.put({
        "id": vm_id, "type": "Microsoft.Compute/virtualMachines", "location": location, "tags": tags,
        "properties": properties,
    })
    return body, bodies


def _metrics(ctx: EstateContext, vm_id: str, cpu: list[float], net: list[float]) -> None:
    """Azure Monitor daily series, newest first ending yesterday: "Percentage CPU" (the local
    endpoint serves the same value for Average and Maximum), "Network In Total" and "Network Out
    Total" (bytes a day, split in and out)."""
    ctx.api.put_metric(vm_id, "Percentage CPU", ctx.daily(cpu))
    ctx.api.put_metric(vm_id, "Network In Total", ctx.daily([v * 0.6 for v in net]))
    ctx.api.put_metric(vm_id, "Network Out Total", ctx.daily([v * 0.4 for v in net]))


def _busy(ctx: EstateContext, rng, vm_id: str) -> None:
    _metrics(ctx, vm_id, [rng.uniform(25, 70) for _ in range(30)], [rng.uniform(2e9, 8e9) for _ in range(30)])


def _idle(ctx: EstateContext, rng, vm_id: str, days: int = 30) -> None:
    _metrics(ctx, vm_id, [rng.uniform(0.2, 3.0) for _ in range(days)], [rng.uniform(1e5, 2e6) for _ in range(days)])


class _Seeder:
    def __init__(self, ctx: EstateContext) -> None:
        self.ctx = ctx
        self.truth: list[TruthResource] = []
        self.live_disks: dict[str, list[str]] = {}  # subscription -> ids of disks that are not waste
        self.used_images: dict[str, list[str]] = {}  # subscription -> image ids a VM may use
        self.avsets: dict[str, list[str]] = {}  # subscription -> availability sets VMs join

    def add(self, body: dict, kind: str, location: str, tags: dict, scenario: str | None = None,
            decision: str | None = None) -> None:
        self.truth.append(self.ctx.truth(body["id"].lower(), kind, location, tags, scenario, decision))

    def decide(self, rng, tags: dict, scenario: str, age: float, cost: float) -> str:
        return self.ctx.decide(rng, tags=tags, scenario=scenario, age_days=age, monthly_cost=cost)

    def vm(self, rng, sub, group, name, location, size, power, *, created_days, op_days, disks,
           scenario=None, disk_scenario=None, premium_scenario=None, cost=0.0, age=0.0, image_id=None,
           avset_id=None) -> dict:
        tags = self.ctx.tags(rng, "instance")
        body, disk_bodies = _vm(self.ctx, sub, group, name, location, size, power, created_days=created_days,
                                op_days=op_days, disks=disks, tags=tags, image_id=image_id, avset_id=avset_id)
        decision = self.decide(rng, tags, scenario, age, cost) if scenario else None
        self.add(body, VM, location, tags, scenario, decision)
        for d in disk_bodies:
            flagged = disk_scenario or (premium_scenario if d["sku"]["name"].startswith("Premium") else None)
            self.add(d, DISK, location, tags, flagged,
                     self.decide(rng, tags, flagged, op_days, 20.0) if flagged else None)
            if not scenario and not flagged:  # snapshots' sources: disks no user decision deletes
                self.live_disks.setdefault(sub, []).append(d["id"])
        return body


def _vms(s: _Seeder) -> None:
    ctx = s.ctx
    rng = ctx.rng("compute-vms")
    # avsets VMs join (near misses of azure-availability-set-unused), one per subscription
    for sub in ctx.scopes:
        avset = _rid(sub, "rg-web", "availabilitySets", "avset-web")
        s.avsets[sub] = [avset]
    members: dict[str, list[str]] = {}

    for i in range(ctx.count(0.04)):  # running and busy: near misses of every VM rule
        sub, loc = ctx.pick(rng)
        size = _BUSY_SIZES[i % len(_BUSY_SIZES)]
        avset = s.avsets[sub][0] if i % 4 == 0 else None
        body = s.vm(rng, sub, "rg-web" if avset else "rg-app", f"vm-app-{i}", loc, size, "running",
                    created_days=rng.uniform(60, 500), op_days=rng.uniform(1, 50),
                    disks=[("Premium_LRS", 128), ("Premium_LRS", 256)], avset_id=avset)
        if avset:
            members.setdefault(avset, []).append(body["id"])
        _busy(ctx, rng, body["id"])
    if not members:
        raise AssertionError("the estate needs a VM in an availability set")

    for i in range(ctx.count(0.03)):  # running idle: azure-vm-idle
        sub, loc = ctx.pick(rng)
        size = _BUSY_SIZES[i % len(_BUSY_SIZES)]
        body = s.vm(rng, sub, "rg-app", f"vm-idle-{i}", loc, size, "running", created_days=rng.uniform(40, 400),
                    op_days=rng.uniform(20, 40), disks=[("StandardSSD_LRS", 64)], scenario="azure-vm-idle",
                    cost=_VM_MONTH[size], age=30)
        _idle(ctx, rng, body["id"])
    # an idle previous-generation VM is azure-vm-idle, never azure-vm-previous-generation
    sub, loc = ctx.pick(rng)
    body = s.vm(rng, sub, "rg-legacy", "vm-idle-legacy", loc, "Standard_D3", "running", created_days=700,
                op_days=90, disks=[("Standard_LRS", 128)], scenario="azure-vm-idle", cost=225.0, age=30)
    _idle(ctx, rng, body["id"])

    for i in range(ctx.count(0.02, minimum=4)):  # near misses of azure-vm-idle
        sub, loc = ctx.pick(rng)
        variant = i % 4
        created = 5.0 if variant == 2 else rng.uniform(60, 300)
        body = s.vm(rng, sub, "rg-app", f"vm-quiet-{i}", loc, "Standard_D2s_v5", "running", created_days=created,
                    op_days=min(created, 3), disks=[("StandardSSD_LRS", 64)])
        if variant == 0:  # CPU low, but gigabytes of traffic: a proxy at work
            _metrics(ctx, body["id"], [rng.uniform(0.5, 2) for _ in range(30)], [rng.uniform(3e8, 9e8) for _ in range(30)])
        elif variant == 1:  # too few days of data (8 of 14): not judged
            _idle(ctx, rng, body["id"], days=8)
        elif variant == 2:  # idle, but created 5 days ago
            _idle(ctx, rng, body["id"], days=5)
        else:  # CPU averages 8-12% a day: above 5%
            _metrics(ctx, body["id"], [rng.uniform(8, 12) for _ in range(30)], [rng.uniform(1e5, 1e6) for _ in range(30)])

    for i, size in enumerate(_PREVIOUS * max(1, ctx.count(0.01))):  # azure-vm-previous-generation
        sub, loc = ctx.pick(rng)
        body = s.vm(rng, sub, "rg-legacy", f"vm-legacy-{i}", loc, size, "running", created_days=rng.uniform(400, 2000),
                    op_days=rng.uniform(1, 90), disks=[("Standard_LRS", 128)], scenario="azure-vm-previous-generation",
                    cost=40.0, age=900)
        _busy(ctx, rng, body["id"])
    for i, size in enumerate(_PREVIOUS_NO_SAVING):  # near misses: the current size costs more
        sub, loc = ctx.pick(rng)
        body = s.vm(rng, sub, "rg-legacy", f"vm-legacy-small-{i}", loc, size, "running", created_days=900,
                    op_days=30, disks=[("Standard_LRS", 32)])
        _busy(ctx, rng, body["id"])

    for i in range(ctx.count(0.02)):  # stopped, not deallocated: azure-vm-stopped-not-deallocated
        sub, loc = ctx.pick(rng)
        size = _BUSY_SIZES[i % len(_BUSY_SIZES)]
        days = rng.uniform(2, 60)
        s.vm(rng, sub, "rg-app", f"vm-stopped-{i}", loc, size, "stopped", created_days=days + 100, op_days=days,
             disks=[("Premium_LRS", 128)], scenario="azure-vm-stopped-not-deallocated", cost=_VM_MONTH[size], age=days)
    sub, loc = ctx.pick(rng)  # near miss: stopped two hours ago (a reboot from the OS)
    s.vm(rng, sub, "rg-app", "vm-rebooting", loc, "Standard_D2s_v5", "stopped", created_days=90, op_days=0.08,
         disks=[("Premium_LRS", 128)])

    for i in range(ctx.count(0.02)):  # deallocated for long: the VM and each of its disks
        sub, loc = ctx.pick(rng)
        days = rng.uniform(35, 300)
        disks = [("Premium_LRS", 128), ("Standard_LRS", 512)] if i % 2 else [("StandardSSD_LRS", 64)]
        s.vm(rng, sub, "rg-parked", f"vm-parked-{i}", loc, "Standard_D4s_v5", "deallocated", created_days=days + 200,
             op_days=days, disks=disks, scenario="azure-vm-deallocated-long",
             disk_scenario="azure-disk-of-deallocated-vm", age=days)
    for i in range(ctx.count(0.02)):  # deallocated 8-28 days: its Premium disks only
        sub, loc = ctx.pick(rng)
        days = rng.uniform(8, 28)
        s.vm(rng, sub, "rg-parked", f"vm-resting-{i}", loc, "Standard_D2s_v5", "deallocated", created_days=days + 100,
             op_days=days, disks=[("Premium_LRS", 128), ("StandardSSD_LRS", 256)],
             premium_scenario="azure-disk-premium-on-deallocated-vm")
    sub, loc = ctx.pick(rng)  # near miss: deallocated for the weekend, Premium disk
    s.vm(rng, sub, "rg-parked", "vm-weekend", loc, "Standard_D2s_v5", "deallocated", created_days=120, op_days=2,
         disks=[("Premium_LRS", 256)])

    # VMs made from the subscriptions' used images (near misses of azure-image-unused)
    for sub in ctx.scopes:
        loc = ctx.places[0]
        image = _rid(sub, "rg-images", "images", "img-web-golden")
        s.used_images.setdefault(sub, []).append(image)
        body = s.vm(rng, sub, "rg-app", "vm-from-image", loc, "Standard_D2s_v5", "running", created_days=80,
                    op_days=10, disks=[("Premium_LRS", 64)], image_id=image)
        _busy(ctx, rng, body["id"])

    s.members = members  # type: ignore[attr-defined]


def _standalone_disks(s: _Seeder) -> None:
    ctx = s.ctx
    rng = ctx.rng("disks")
    for i in range(ctx.count(0.05)):
        sub, location = ctx.pick(rng)
        sku, size = _SKUS[i % len(_SKUS)]
        tags = ctx.tags(rng, "volume")
        days = rng.uniform(10, 200)
        body = _disk(ctx, sub, "rg-data", f"disk-orphan-{i}", location, sku, size, "Unattached", days + 30, days, tags)
        decision = ctx.decide(rng, tags=tags, scenario="azure-disk-unattached", age_days=days, monthly_cost=20.0)
        s.add(body, DISK, location, tags, "azure-disk-unattached", decision)
    for i in range(ctx.count(0.02, minimum=2)):  # near misses: a Site Recovery replica, detached yesterday
        sub, location = ctx.pick(rng)
        tags = ctx.tags(rng, "volume")
        if i % 2 == 0:
            body = _disk(ctx, sub, "rg-dr", f"asrseeddisk-vm{i}-0a1b2c", location, "Standard_LRS", 128, "Unattached", 90, 80, tags)
        else:
            body = _disk(ctx, sub, "rg-data", f"disk-detached-{i}", location, "StandardSSD_LRS", 64, "Unattached", 90, 1, tags)
        s.add(body, DISK, location, tags)


def _snapshot(ctx: EstateContext, sub: str, name: str, location: str, days: float, size: int, tags: dict,
              source: str | None, sku: str | None, incremental: bool) -> dict:
    creation = {"createOption": "Copy", "sourceResourceId": source} if source else {
        "createOption": "Import",
        "storageAccountId": f"subscriptions/{sub}/resourceGroups/rg-import/providers/Microsoft.Storage/storageAccounts/imports{sub[:4]}",
        "sourceUri": f"https://imports{sub[:4]}.blob.core.windows.net/osimages/{name}.vhd",
    }
    body = {
        "id": _rid(sub, "rg-snapshots", "snapshots", name),
        "type": "Microsoft.Compute/snapshots",
        "location": location,
        "tags": tags,
        "properties": {
            "osType": "Linux",
            "creationData": creation,
            "diskSizeGB": size,
            "encryption": {"type": "EncryptionAtRestWithPlatformKey"},
            "incremental": incremental,
            "timeCreated": ctx.stamp(days),
            "provisioningState": "Succeeded",
        },
    }
    if sku:
        body["sku"] = {"name": sku, "tier": "Standard" if sku.startswith("Standard") else "Premium"}
    return ctx.api.put(body)


def _snapshots(s: _Seeder) -> None:
    ctx = s.ctx
    rng = ctx.rng("compute-snapshots")
    skus = ("Standard_LRS", None, "Standard_ZRS", "Premium_LRS")

    def gone(sub: str, i: int) -> str:
        rid = _rid(sub, "rg-data", "disks", f"deleted-disk-{i}")
        return rid.lstrip("/") if i % 2 else rid  # published examples drop the leading "/" at times

    for i in range(ctx.count(0.03)):  # the disk is gone: azure-snapshot-orphaned
        sub, loc = ctx.pick(rng)
        tags = ctx.tags(rng, "snapshot")
        days = rng.uniform(40, 400)
        body = _snapshot(ctx, sub, f"snap-orphan-{i}", loc, days, 128, tags, gone(sub, i), skus[i % 4], i % 3 == 0)
        s.add(body, SNAPSHOT, loc, tags, "azure-snapshot-orphaned",
              s.decide(rng, tags, "azure-snapshot-orphaned", days, 6.0))
    sub, loc = ctx.pick(rng)  # near miss: the disk was deleted, the snapshot is 10 days old
    tags = ctx.tags(rng, "snapshot")
    s.add(_snapshot(ctx, sub, "snap-final-backup", loc, 10, 128, tags, gone(sub, 999), "Standard_LRS", False), SNAPSHOT, loc, tags)

    for i in range(ctx.count(0.03)):  # the disk still exists, the snapshot is old: azure-snapshot-old
        sub, loc = ctx.pick(rng)
        tags = ctx.tags(rng, "snapshot")
        days = rng.uniform(100, 600)
        source = s.live_disks[sub][i % len(s.live_disks[sub])]
        body = _snapshot(ctx, sub, f"snap-old-{i}", loc, days, 256, tags, source, skus[i % 4], i % 2 == 0)
        s.add(body, SNAPSHOT, loc, tags, "azure-snapshot-old", s.decide(rng, tags, "azure-snapshot-old", days, 12.0))
    sub, loc = ctx.pick(rng)  # an old import from a blob: azure-snapshot-old too
    tags = ctx.tags(rng, "snapshot")
    body = _snapshot(ctx, sub, "snap-imported", loc, 200, 30, tags, None, "Standard_LRS", False)
    s.add(body, SNAPSHOT, loc, tags, "azure-snapshot-old", s.decide(rng, tags, "azure-snapshot-old", 200, 1.5))
    for i in range(ctx.count(0.02)):  # near misses: recent snapshots of live disks
        sub, loc = ctx.pick(rng)
        tags = ctx.tags(rng, "snapshot")
        source = s.live_disks[sub][-1 - i % len(s.live_disks[sub])]
        s.add(_snapshot(ctx, sub, f"snap-recent-{i}", loc, rng.uniform(1, 25), 128, tags, source, "Standard_LRS", True),
              SNAPSHOT, loc, tags)


def _image(ctx: EstateContext, rid: str, location: str, tags: dict, created_days: float | None, size: int) -> dict:
    body = {
        "id": rid,
        "type": "Microsoft.Compute/images",
        "location": location,
        "tags": tags,
        "properties": {
            "storageProfile": {
                "osDisk": {"osType": "Linux", "osState": "Generalized", "diskSizeGB": size,
                           "storageAccountType": "Standard_LRS", "caching": "ReadWrite"},
                "dataDisks": [],
                "zoneResilient": False,
            },
            "provisioningState": "Succeeded",
            "hyperVGeneration": "V2",
        },
    }
    if created_days is not None:
        body["systemData"] = {"createdByType": "User", "createdAt": ctx.stamp(created_days),
                              "lastModifiedByType": "User", "lastModifiedAt": ctx.stamp(created_days)}
    return ctx.api.put(body)


def _images(s: _Seeder) -> None:
    ctx = s.ctx
    rng = ctx.rng("compute-images")
    for i in range(ctx.count(0.02)):  # nothing uses them: azure-image-unused
        sub, loc = ctx.pick(rng)
        tags = ctx.tags(rng, "image")
        days = None if i == 0 else rng.uniform(100, 700)  # the first: ARM gave no systemData
        body = _image(ctx, _rid(sub, "rg-images", "images", f"img-old-{i}"), loc, tags, days, 30 + 10 * i)
        s.add(body, IMAGE, loc, tags, "azure-image-unused", s.decide(rng, tags, "azure-image-unused", days or 365, 2.0))
    for sub in ctx.scopes:  # near misses: used by a VM, by a scale set; a young one
        loc = ctx.places[0]
        for image in s.used_images.get(sub, []):
            tags = ctx.tags(rng, "image")
            s.add(_image(ctx, image, loc, tags, 300, 30), IMAGE, loc, tags)
        tags = ctx.tags(rng, "image")
        scale_image = _rid(sub, "rg-images", "images", "img-scale-set")
        s.add(_image(ctx, scale_image, loc, tags, 400, 64), IMAGE, loc, tags)
        ctx.api.put({  # a scale set deploying it (no kind of its own: no truth)
            "id": _rid(sub, "rg-scale", "virtualMachineScaleSets", "vmss-workers"),
            "type": "Microsoft.Compute/virtualMachineScaleSets",
            "location": loc,
            "sku": {"name": "Standard_D2s_v5", "tier": "Standard", "capacity": 3},
            "properties": {
                "upgradePolicy": {"mode": "Manual"},
                "virtualMachineProfile": {"storageProfile": {"imageReference": {"id": scale_image}}},
                "provisioningState": "Succeeded",
            },
        })
        tags = ctx.tags(rng, "image")
        s.add(_image(ctx, _rid(sub, "rg-images", "images", "img-new"), loc, tags, 10, 30), IMAGE, loc, tags)


def _avset(ctx: EstateContext, rid: str, location: str, tags: dict, vms: list[str], created_days: float | None) -> dict:
    body = {
        "id": rid,
        "type": "Microsoft.Compute/availabilitySets",
        "location": location,
        "tags": tags,
        "sku": {"name": "Aligned"},
        "properties": {"platformUpdateDomainCount": 5, "platformFaultDomainCount": 2,
                       "virtualMachines": [{"id": v} for v in vms]},
    }
    if created_days is not None:
        body["systemData"] = {"createdByType": "User", "createdAt": ctx.stamp(created_days)}
    return ctx.api.put(body)


def _availability_sets(s: _Seeder) -> None:
    ctx = s.ctx
    rng = ctx.rng("compute-avsets")
    members = s.members  # type: ignore[attr-defined]
    for sub in ctx.scopes:  # near misses: sets with VMs (the empty ones of a subscription without members too)
        rid = s.avsets[sub][0]
        tags = ctx.tags(rng, "instance")
        vms = members.get(rid, [])
        body = _avset(ctx, rid, ctx.places[0], tags, vms, 300)
        scenario = None if vms else "azure-availability-set-unused"
        s.add(body, AVAILABILITY_SET, ctx.places[0], tags, scenario,
              s.decide(rng, tags, scenario, 300, 0.0) if scenario else None)
    for i in range(ctx.count(0.015)):  # empty: azure-availability-set-unused
        sub, loc = ctx.pick(rng)
        tags = ctx.tags(rng, "instance")
        days = None if i == 0 else rng.uniform(20, 400)
        body = _avset(ctx, _rid(sub, "rg-old", "availabilitySets", f"avset-empty-{i}"), loc, tags, [], days)
        s.add(body, AVAILABILITY_SET, loc, tags, "azure-availability-set-unused",
              s.decide(rng, tags, "azure-availability-set-unused", days or 100, 0.0))
    sub, loc = ctx.pick(rng)  # near miss: empty, created two days ago
    tags = ctx.tags(rng, "instance")
    s.add(_avset(ctx, _rid(sub, "rg-new", "availabilitySets", "avset-new"), loc, tags, [], 2), AVAILABILITY_SET, loc, tags)


def seed(ctx: EstateContext) -> list[TruthResource]:
    s = _Seeder(ctx)
    _vms(s)
    _standalone_disks(s)
    _snapshots(s)
    _images(s)
    _availability_sets(s)
    return s.truth
