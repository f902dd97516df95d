"""Azure compute rules' edge cases (VMs, disks of deallocated VMs, snapshots, images,
availability sets) and the VM listing's reading of instance views and disks."""

from __future__ import annotations

from decimal import Decimal

import pytest
from azure.mgmt.compute import models
from cloudwaste.scanner.kinds.azure import compute as kinds
from cloudwaste.scanner.providers import load_all as load_providers
from cloudwaste.scanner.rules import Context, Series, load_all
from cloudwaste.scanner.rules.azure._common import NOW, SUB, arm, days_ago, res

RULES = {r.key: r for r in load_all()}
PRICES = load_providers().get("azure").prices(SUB)
VM, DISK, SNAPSHOT, IMAGE, AVSET = (
    "azure.compute.virtual_machine", "azure.compute.disk", "azure.compute.snapshot", "azure.compute.image",
    "azure.compute.availability_set",
)


def run(key, resource, related=(), series=None, **overrides):
    index = {(r.kind, r.resource_id): r for r in related}
    series = series or {}
    ctx = Context(
        now=NOW, prices=PRICES, lookup=lambda k, rid: index.get((k, rid)),
        metric=lambda r, name, days: series.get((r.resource_id, name, days)),
    )
    params = {k: v for k, v in RULES[key].resolve_params(overrides).items() if k != "enabled"}
    return RULES[key].evaluate(resource, params, ctx)


def vm(name="vm1", created=200, location="eastus", **attrs):
    return res(VM, arm("Microsoft.Compute/virtualMachines", name), created, location, **attrs)


# --- the VM listing ---------------------------------------------------------------------------------


class _Pager:
    def __init__(self, items):
        self.items = items

    def list_all(self, **kwargs):
        assert kwargs == {"status_only": "true"}
        return self.items


class _Conn:
    def __init__(self, vms):
        self.vms = vms

    def client(self, cls, sub):
        return type("C", (), {"virtual_machines": _Pager(self.vms)})()


def _vm_model(power: str, op_time: str) -> models.VirtualMachine:
    rid = "/subscriptions/S/resourceGroups/RG/providers/Microsoft.Compute/virtualMachines/VM1"
    return models.VirtualMachine({
        "id": rid, "name": "VM1", "location": "West Europe",
        "properties": {
            "hardwareProfile": {"vmSize": "Standard_D2s_v5"},
            "storageProfile": {
                "imageReference": {"id": "/subscriptions/S/resourceGroups/RG/providers/Microsoft.Compute/images/IMG"},
                "osDisk": {"osType": "Linux", "managedDisk": {"id": "/subscriptions/S/resourceGroups/RG/providers/Microsoft.Compute/disks/OS"}},
                "dataDisks": [{"lun": 0, "managedDisk": {"id": "/subscriptions/S/resourceGroups/RG/providers/Microsoft.Compute/disks/DATA"}}],
            },
            "networkProfile": {"networkInterfaces": [{"id": "/subscriptions/S/resourceGroups/RG/providers/Microsoft.Network/networkInterfaces/NIC"}]},
            "timeCreated": "2026-01-01T00:00:00Z",
            "instanceView": {"statuses": [
                {"code": "ProvisioningState/succeeded", "time": op_time},
                {"code": f"PowerState/{power}"},
            ]},
        },
    })


def test_vm_listing_reads_power_state_disks_and_deallocation_time():
    os_id = "/subscriptions/s/resourcegroups/rg/providers/microsoft.compute/disks/os"
    os_disk = res(DISK, os_id, 300, disk_state="Reserved", sku="Premium_LRS", size_gb=128,
                  last_ownership_update=days_ago(45))
    [listed] = kinds.list_virtual_machines(_Conn([_vm_model("deallocated", "2026-05-20T00:00:00Z")]), "s", NOW,
                                           {DISK: [os_disk]})
    a = listed.attributes
    assert listed.resource_id.endswith("/virtualmachines/vm1") and listed.region == "westeurope"
    assert a["power_state"] == "deallocated" and a["vm_size"] == "Standard_D2s_v5"
    assert a["os_disk_id"] == os_id and a["data_disk_ids"] == [os_id.replace("/os", "/data")]
    assert a["nic_ids"] == ["/subscriptions/s/resourcegroups/rg/providers/microsoft.network/networkinterfaces/nic"]
    assert a["image_id"].endswith("/images/img")
    assert a["deallocated_since"] == days_ago(45)  # the OS disk's LastOwnershipUpdateTime
    assert a["disks"] == [{"id": os_id, "sku": "Premium_LRS", "size_gb": 128}]


def test_vm_listing_falls_back_to_the_last_operation_time():
    [listed] = kinds.list_virtual_machines(_Conn([_vm_model("deallocated", "2026-05-20T00:00:00Z")]), "s", NOW, {DISK: []})
    assert listed.attributes["deallocated_since"] == listed.attributes["power_state_since"]
    [running] = kinds.list_virtual_machines(_Conn([_vm_model("running", "2026-05-20T00:00:00Z")]), "s", NOW, {DISK: []})
    assert running.attributes["power_state"] == "running" and running.attributes["deallocated_since"] is None


def test_snapshot_source_ids_get_their_leading_slash():
    assert kinds._normal_id("subscriptions/S/resourceGroups/R/providers/Microsoft.Compute/disks/D") == (
        "/subscriptions/s/resourcegroups/r/providers/microsoft.compute/disks/d"
    )


# --- azure-vm-stopped-not-deallocated -----------------------------------------------------------


def test_stopped_vm_costs_its_compute_case_insensitively_and_by_region():
    eastus = run("azure-vm-stopped-not-deallocated", vm(power_state="stopped", power_state_since=days_ago(3),
                                                          vm_size="standard_d2s_v5"))
    assert eastus.monthly_cost == Decimal("70.08") and eastus.confidence == "MEDIUM"
    weu = run("azure-vm-stopped-not-deallocated", vm(location="westeurope", power_state="stopped",
                                                       power_state_since=days_ago(30), vm_size="Standard_D2s_v5"))
    assert weu.monthly_cost == Decimal("77.088") and weu.confidence == "HIGH"


def test_stopped_vm_of_unknown_size_is_reported_at_zero():
    det = run("azure-vm-stopped-not-deallocated", vm(power_state="stopped", power_state_since=days_ago(3),
                                                       vm_size="Standard_Imaginary"))
    assert det.monthly_cost == 0 and "cost_unknown" in det.evidence


def test_stopped_rule_ignores_other_states_and_unknown_times():
    assert run("azure-vm-stopped-not-deallocated", vm(power_state="deallocated", power_state_since=days_ago(30),
                                                        vm_size="Standard_D2s_v5")) is None
    assert run("azure-vm-stopped-not-deallocated", vm(power_state="stopped", vm_size="Standard_D2s_v5")) is None


# --- azure-vm-deallocated-long ------------------------------------------------------------------


def test_deallocated_long_reads_the_deallocation_time_not_the_creation():
    old_vm_recent_stop = vm(created=900, power_state="deallocated", deallocated_since=days_ago(10))
    assert run("azure-vm-deallocated-long", old_vm_recent_stop) is None
    det = run("azure-vm-deallocated-long", vm(power_state="deallocated", deallocated_since=days_ago(100),
                                               os_disk_id="d1", data_disk_ids=["d2"],
                                               disks=[{"id": "d1", "size_gb": 30}, {"id": "d2", "size_gb": 100}]))
    assert det.monthly_cost == 0 and det.confidence == "HIGH"
    assert det.evidence["disk_count"] == 2 and det.evidence["disk_gb"] == 130


# --- azure-vm-idle and azure-vm-previous-generation -----------------------------------------------


def series(rid, cpu=1.0, cpu_max=3.0, net=100_000.0, days=14, got=14):
    return {
        (rid, "cpu_average", days): Series((cpu,) * got, days),
        (rid, "cpu_maximum", days): Series((cpu_max,) * got, days),
        (rid, "network_in", days): Series((net,) * got, days),
        (rid, "network_out", days): Series((net,) * got, days),
    }


def running(size="Standard_D4s_v5", created=200, **attrs):
    return vm(power_state="running", vm_size=size, created=created, **attrs)


def test_idle_vm_is_priced_high_when_complete_and_flat():
    r = running()
    det = run("azure-vm-idle", r, series=series(r.resource_id))
    assert det.monthly_cost == Decimal("140.16") and det.confidence == "HIGH"
    det = run("azure-vm-idle", r, series=series(r.resource_id, cpu=4.0, got=13))
    assert det.confidence == "MEDIUM"


@pytest.mark.parametrize(
    "kwargs",
    [
        {"cpu": 6.0},  # a day above 5%
        {"cpu_max": 40.0},  # daily peaks: at work
        {"net": 5 * 1024 * 1024},  # 10 MiB a day
        {"got": 10},  # 10 of 14 days: not judged
    ],
)
def test_busy_or_sparse_vms_are_not_idle(kwargs):
    r = running()
    assert run("azure-vm-idle", r, series=series(r.resource_id, **kwargs)) is None


def test_young_spot_or_stopped_vms_are_not_idle_candidates():
    rule = RULES["azure-vm-idle"]
    params = rule.resolve_params()
    ctx = Context(now=NOW, prices=PRICES)
    assert rule.candidate(running(), params, ctx)
    assert not rule.candidate(running(created=5), params, ctx)
    assert not rule.candidate(running(priority="Spot"), params, ctx)
    assert not rule.candidate(vm(power_state="stopped", vm_size="Standard_D4s_v5"), params, ctx)


def test_previous_generation_saving_and_exclusions():
    r = running("standard_d11")  # case as ARM may keep it
    det = run("azure-vm-previous-generation", r, series=series(r.resource_id, cpu=40, cpu_max=90, net=1e9))
    assert det.evidence["current_generation_size"] == "Standard_E2s_v5"
    assert det.monthly_cost == Decimal("48.91")  # (0.193 - 0.126) x 730
    # idle: left to azure-vm-idle
    assert run("azure-vm-previous-generation", r, series=series(r.resource_id)) is None
    assert run("azure-vm-idle", r, series=series(r.resource_id)) is not None
    # the current size costs more; a current size; not running
    assert run("azure-vm-previous-generation", running("Standard_F1")) is None
    assert run("azure-vm-previous-generation", running("Standard_D2s_v5")) is None
    assert run("azure-vm-previous-generation", vm(power_state="deallocated", vm_size="Standard_D2")) is None


# --- disks of deallocated VMs ---------------------------------------------------------------------


def disk_of(owner, sku="Premium_LRS", size=128, state="Reserved"):
    return res(DISK, arm("Microsoft.Compute/disks", f"{owner.name}-d"), 300, "eastus", disk_state=state, sku=sku,
               size_gb=size, managed_by=owner.resource_id)


def test_disk_of_long_deallocated_vm_is_a_part_of_its_finding():
    owner = vm("parked", power_state="deallocated", deallocated_since=days_ago(45))
    det = run("azure-disk-of-deallocated-vm", disk_of(owner), related=(owner,))
    assert det.monthly_cost == Decimal("19.71")  # P10 in eastus (the disk's own region)
    assert (det.parent.kind, det.parent.resource_id, det.parent.scenario) == (
        VM, owner.resource_id, "azure-vm-deallocated-long")
    assert run("azure-disk-premium-on-deallocated-vm", disk_of(owner), related=(owner,)) is None


def test_disks_of_running_unlisted_or_unattached_owners_are_not_parts():
    on = vm("on", power_state="running")
    assert run("azure-disk-of-deallocated-vm", disk_of(on, state="Attached"), related=(on,)) is None
    parked = vm("parked", power_state="deallocated", deallocated_since=days_ago(45))
    assert run("azure-disk-of-deallocated-vm", disk_of(parked)) is None  # VM not listed
    assert run("azure-disk-of-deallocated-vm", disk_of(parked, state="Unattached"), related=(parked,)) is None


@pytest.mark.parametrize("days,fires", [(6.9, False), (7, True), (29.9, True), (30, False)])
def test_premium_disk_window_of_a_deallocated_vm(days, fires):
    owner = vm("resting", power_state="deallocated", deallocated_since=days_ago(days))
    det = run("azure-disk-premium-on-deallocated-vm", disk_of(owner), related=(owner,))
    assert (det is not None) == fires
    if det:
        assert det.monthly_cost == Decimal("10.11")  # P10 19.71 - E10 9.60
        assert det.evidence["target_tier"] == "E10"


def test_premium_zrs_goes_to_standard_ssd_zrs_and_standard_disks_are_left_alone():
    owner = vm("resting", power_state="deallocated", deallocated_since=days_ago(10))
    det = run("azure-disk-premium-on-deallocated-vm", disk_of(owner, sku="Premium_ZRS"), related=(owner,))
    assert det.evidence["target_sku"] == "StandardSSD_ZRS" and det.monthly_cost == Decimal("17.57")
    assert run("azure-disk-premium-on-deallocated-vm", disk_of(owner, sku="StandardSSD_LRS"), related=(owner,)) is None


# --- snapshots -------------------------------------------------------------------------------------


def snap(name, days, source, **attrs):
    return res(SNAPSHOT, arm("Microsoft.Compute/snapshots", name), days, source_resource_id=source,
               size_gb=100, incremental=False, sku=None, **attrs)


GONE = arm("Microsoft.Compute/disks", "gone")
OTHER_SUB = GONE.replace(SUB, "ffffffff-0000-0000-0000-000000000000")


def test_orphaned_snapshot_defaults_to_standard_lrs():
    det = run("azure-snapshot-orphaned", snap("s1", 40, GONE))
    assert det.monthly_cost == Decimal("5.5") and det.confidence == "MEDIUM"  # 100 GB x 0.05 x 1.1
    assert run("azure-snapshot-old", snap("s1", 400, GONE)) is None  # exclusive


def test_a_source_elsewhere_is_never_gone_and_ages_into_old():
    assert run("azure-snapshot-orphaned", snap("s2", 400, OTHER_SUB)) is None
    assert run("azure-snapshot-orphaned", snap("s3", 400, None)) is None
    assert run("azure-snapshot-old", snap("s2", 400, OTHER_SUB)).confidence == "HIGH"
    assert run("azure-snapshot-old", snap("s3", 100, None)) is not None


def test_incremental_premium_snapshot_bills_as_standard():
    s = res(SNAPSHOT, arm("Microsoft.Compute/snapshots", "inc"), 120, source_resource_id=None, size_gb=100,
            incremental=True, sku="Premium_LRS")
    det = run("azure-snapshot-old", s)
    assert det.monthly_cost == Decimal("5.5") and "price_basis" in det.evidence


# --- images and availability sets ------------------------------------------------------------------


def image(created=200, **attrs):
    base = {"size_gb": 30, "size_known": True, "disk_count": 1, "used_by_vms": 0, "used_by_scale_set": False}
    r = res(IMAGE, arm("Microsoft.Compute/images", "img"), created or 1, **{**base, **attrs})
    return r if created else type(r)(**{**r.__dict__, "created_at": None})


def test_image_unused_edges():
    assert run("azure-image-unused", image()).confidence == "HIGH"
    assert run("azure-image-unused", image(used_by_vms=2)) is None
    assert run("azure-image-unused", image(created=30)) is None
    unknown_age = run("azure-image-unused", image(created=None))
    assert unknown_age.confidence == "MEDIUM" and "age_unknown" in unknown_age.evidence
    unsized = run("azure-image-unused", image(size_known=False, size_gb=0))
    assert unsized.monthly_cost == 0 and "cost_unknown" in unsized.evidence


def test_availability_set_edges():
    empty = res(AVSET, arm("Microsoft.Compute/availabilitySets", "a"), 100, vm_ids=[], sku="Aligned")
    assert run("azure-availability-set-unused", empty).monthly_cost == 0
    young = res(AVSET, arm("Microsoft.Compute/availabilitySets", "b"), 2, vm_ids=[], sku="Aligned")
    assert run("azure-availability-set-unused", young) is None
    unknown = type(empty)(**{**empty.__dict__, "created_at": None})
    assert run("azure-availability-set-unused", unknown).confidence == "MEDIUM"
