"""Public IPs of long-deallocated VMs: a part of the VM's `azure-vm-deallocated-long` finding."""

from __future__ import annotations

from decimal import Decimal

from cloudwaste.scanner.domain import Detection, FindingRef, Resource
from cloudwaste.scanner.rules import Context, Fixtures, Param, attach_fixtures, rule
from cloudwaste.scanner.rules.azure._common import NOW, arm, days_ago, res, rounded
from cloudwaste.scanner.rules.azure.network import GROUP, PUBLIC_IP, public_ip_price_key
from cloudwaste.scanner.rules.azure.vms import deallocated_days

NETWORK_INTERFACE = "azure.network.network_interface"
VM = "azure.compute.virtual_machine"
_NIC_SEGMENT = "/providers/microsoft.network/networkinterfaces/"


def nic_of(ip_configuration: str | None) -> str | None:
    """The NIC id of a NIC's IP configuration id (.../networkinterfaces/n/ipconfigurations/c ->
    .../networkinterfaces/n); None for another owner's (a load balancer frontend, a gateway)."""
    if not ip_configuration or _NIC_SEGMENT not in ip_configuration:
        return None
    head, _, tail = ip_configuration.partition(_NIC_SEGMENT)
    return f"{head}{_NIC_SEGMENT}{tail.split('/', 1)[0]}"


@rule(
    key="azure-public-ip-on-deallocated-vm",
    provider="azure",
    resource_kind=PUBLIC_IP,
    needs=(NETWORK_INTERFACE, VM),
    title="Public IP address of a VM deallocated for a long time",
    permissions=(
        "Microsoft.Network/publicIPAddresses/read",
        "Microsoft.Network/networkInterfaces/read",
        "Microsoft.Compute/virtualMachines/read",
        "Microsoft.Compute/disks/read",
    ),
    params={
        "min_deallocated_days": Param(
            float, 30.0, "The VM has been deallocated at least this long (as azure-vm-deallocated-long's).", 1
        )
    },
    confidence_doc="HIGH after 90 days deallocated, else MEDIUM (as for the VM itself).",
)
def public_ip_on_deallocated_vm(r: Resource, p, ctx: Context) -> Detection | None:
    """A public IP address held by a NIC of a VM deallocated for `min_deallocated_days` or
    more: deallocation stops the VM's compute charge, not its static address's ($0.005/h for a
    Standard one in East US). The IP is resolved to its VM through its `ipConfiguration` (a
    NIC's IP configuration), that NIC's `virtualMachine`, and the VM listing of the same
    subscription. It is a part of the VM's `azure-vm-deallocated-long` finding, like the VM's
    disks; keep `min_deallocated_days` equal to that rule's (default 30, see there). A Basic
    dynamic address is released on deallocation and costs nothing: not flagged."""
    a = r.attributes
    nic_id = nic_of(a.get("ip_configuration"))
    if nic_id is None or a.get("public_ip_prefix"):
        return None
    sku, allocation = a.get("sku") or "Basic", a.get("allocation") or "Dynamic"
    if allocation == "Dynamic" and not a.get("has_address"):
        return None
    nic = ctx.lookup(NETWORK_INTERFACE, nic_id)
    vm_id = nic.attributes.get("virtual_machine") if nic is not None else None
    vm = ctx.lookup(VM, vm_id) if vm_id else None
    days = deallocated_days(vm, ctx) if vm is not None else None
    if days is None or days < p["min_deallocated_days"]:
        return None
    key = public_ip_price_key(sku, a.get("tier"))
    cost = ctx.prices.monthly_from_hourly(r.region, GROUP, "public_ip_hour", key, allocation)
    return Detection(
        scenario="azure-public-ip-on-deallocated-vm",
        confidence="HIGH" if days >= 90 else "MEDIUM",
        monthly_cost=cost if cost is not None else Decimal(0),
        evidence={
            "sku": sku,
            "allocation": allocation,
            "network_interface": nic_id,
            "vm_power_state": "deallocated",
            "vm_deallocated_days": rounded(days),
            **({} if cost is not None else {"cost_unknown": f"no list price for {key} {allocation}"}),
            **ctx.prices.evidence(r.region, GROUP),
        },
        parent=FindingRef(VM, vm.resource_id, "azure-vm-deallocated-long"),
    )


def _vm(name: str, days: float) -> Resource:
    return res(
        VM,
        arm("Microsoft.Compute/virtualMachines", name),
        300,
        power_state="deallocated",
        deallocated_since=days_ago(days),
        power_state_since=days_ago(days),
    )


def _nic(name: str, vm: Resource) -> Resource:
    return res(
        NETWORK_INTERFACE,
        arm("Microsoft.Network/networkInterfaces", name),
        300,
        virtual_machine=vm.resource_id,
    )


def _ip(name: str, nic: Resource) -> Resource:
    return res(
        PUBLIC_IP,
        arm("Microsoft.Network/publicIPAddresses", name),
        0,
        sku="Standard",
        tier="Regional",
        allocation="Static",
        has_address=True,
        ip_configuration=f"{nic.resource_id}/ipconfigurations/ipconfig1",
    )


_PARKED, _WEEKEND = _vm("vm-parked", 60), _vm("vm-weekend", 2)
_PARKED_NIC, _WEEKEND_NIC = _nic("vm-parked-nic", _PARKED), _nic("vm-weekend-nic", _WEEKEND)
attach_fixtures(
    "azure-public-ip-on-deallocated-vm",
    Fixtures(
        fires=_ip("vm-parked-ip", _PARKED_NIC),
        silent=_ip("vm-weekend-ip", _WEEKEND_NIC),
        now=NOW,
        related=(_PARKED, _WEEKEND, _PARKED_NIC, _WEEKEND_NIC),
    ),
)
