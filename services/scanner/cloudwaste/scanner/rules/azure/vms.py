"""Virtual machine rules: stopped but not deallocated (compute still billed), deallocated for a
long time (the parent of its disks' findings), running idle, and of a previous generation that a
current size replaces for less. Exclusive: a VM is flagged by at most one of them (by power state:
stopped, deallocated, running; and a running VM that is idle is never reported as previous
generation)."""

from __future__ import annotations

import math
from decimal import Decimal

from cloudwaste.scanner.domain import Detection, Resource
from cloudwaste.scanner.rules import Context, Fixtures, Metric, Param, Series, age_days, attach_fixtures, rule
from cloudwaste.scanner.rules.azure._common import NOW, arm, days_ago, res, rounded

VM = "azure.compute.virtual_machine"
VM_READ = ("Microsoft.Compute/virtualMachines/read", "Microsoft.Compute/disks/read")
GROUP = "vms"
PRICE_NOTE = "Linux pay-as-you-go compute price (a Windows or SQL licence costs more: a lower bound)"


# --- prices and states shared with the disk rules ------------------------------------------------


def _sizes(prices) -> dict[str, str]:
    """{size in lower case: the table's spelling}: ARM keeps the case a VM was created with
    ("standard_d2s_v3" and "Standard_D2s_v3" are the same size)."""
    table = (getattr(prices, "tables", None) or {}).get(GROUP) or {}
    out: dict[str, str] = {}
    for entry in (table.get("regions") or {}).values():
        for size in (entry.get("vm_hour") or {}) if isinstance(entry, dict) else ():
            out.setdefault(size.lower(), size)
    return out


def vm_monthly(prices, region: str, size: str | None) -> Decimal | None:
    """A VM size's monthly compute list price (hourly x 730, Linux), None when unknown."""
    if not size:
        return None
    name = _sizes(prices).get(size.lower(), size)
    return prices.monthly_from_hourly(region, GROUP, "vm_hour", name)


def canonical_size(prices, size: str | None) -> str | None:
    return _sizes(prices).get((size or "").lower(), size) if size else size


def is_spot(vm: Resource) -> bool:
    return (vm.attributes.get("priority") or "").lower() in ("spot", "low")


def deallocated_days(vm: Resource, ctx: Context) -> float | None:
    """Days since a deallocated VM was deallocated (its OS disk's LastOwnershipUpdateTime, else the
    time of its last operation); None when it is not deallocated or the time is unknown."""
    if vm.attributes.get("power_state") != "deallocated":
        return None
    return age_days(vm.attributes.get("deallocated_since") or vm.attributes.get("power_state_since"), ctx.now)


def _disk_summary(vm: Resource) -> dict:
    disks = vm.attributes.get("disks") or []
    return {
        "disk_count": len([vm.attributes.get("os_disk_id")] if vm.attributes.get("os_disk_id") else [])
        + len(vm.attributes.get("data_disk_ids") or []),
        "disk_gb": sum(int(d.get("size_gb") or 0) for d in disks),
    }


# --- azure-vm-stopped-not-deallocated -----------------------------------------------------------


@rule(
    key="azure-vm-stopped-not-deallocated",
    provider="azure",
    resource_kind=VM,
    title="VM stopped from the OS but not deallocated: its compute is still billed",
    permissions=VM_READ,
    params={"min_stopped_days": Param(float, 1.0, "Stopped (not deallocated) at least this long.", 0)},
    confidence_doc="HIGH after 7 days stopped; MEDIUM before (a VM stopped for maintenance may be "
    "started again within days). The cost is the Linux list price: a lower bound for Windows.",
)
def vm_stopped_not_deallocated(r: Resource, p, ctx: Context) -> Detection | None:
    """A VM in power state "stopped" (shut down from inside the guest OS, or `az vm stop`
    without deallocation) keeps its host reserved and is billed for its compute exactly as if it
    ran (Azure docs, "States and billing status of Azure Virtual Machines": only "deallocated"
    stops the compute charge). Deallocating it (or deleting it) saves the size's hourly price x 730
    a month. Its disks bill either way and are not counted here.

    Since when: the time of the VM's "ProvisioningState/..." status (its last operation: the
    stop). Default `min_stopped_days` 1: every stopped hour is billed, so one day is enough to
    tell a forgotten stop from a reboot; Azure Advisor has no such check, the portal warns at
    once."""
    if r.attributes.get("power_state") != "stopped":
        return None
    days = age_days(r.attributes.get("power_state_since"), ctx.now)
    if days is None or days < p["min_stopped_days"]:
        return None
    size = r.attributes.get("vm_size")
    cost = vm_monthly(ctx.prices, r.region, size)
    return Detection(
        scenario="azure-vm-stopped-not-deallocated",
        confidence="HIGH" if days >= 7 else "MEDIUM",
        monthly_cost=cost if cost is not None else Decimal(0),
        evidence={
            "power_state": "stopped",
            "stopped_days": rounded(days),
            "vm_size": size,
            "os_type": r.attributes.get("os_type"),
            "price_basis": PRICE_NOTE,
            **({} if cost is not None else {"cost_unknown": f"no list price for {size}"}),
            **ctx.prices.evidence(r.region, GROUP),
        },
    )


attach_fixtures(
    "azure-vm-stopped-not-deallocated",
    Fixtures(
        fires=res(
            VM, arm("Microsoft.Compute/virtualMachines", "vm-stopped"), 200, power_state="stopped",
            power_state_since=days_ago(12), vm_size="Standard_D4s_v5", os_type="Linux",
        ),
        silent=res(
            VM, arm("Microsoft.Compute/virtualMachines", "vm-rebooting"), 200, power_state="stopped",
            power_state_since=days_ago(0.1), vm_size="Standard_D4s_v5", os_type="Linux",
        ),
        now=NOW,
    ),
)


# --- azure-vm-deallocated-long ------------------------------------------------------------------


@rule(
    key="azure-vm-deallocated-long",
    provider="azure",
    resource_kind=VM,
    title="VM deallocated for a long time (its disks still bill)",
    permissions=VM_READ,
    params={"min_deallocated_days": Param(float, 30.0, "Deallocated at least this long.", 1)},
    confidence_doc="HIGH after 90 days deallocated, else MEDIUM.",
)
def vm_deallocated_long(r: Resource, p, ctx: Context) -> Detection | None:
    """A VM deallocated for 30 days or more is likely abandoned. Its compute costs nothing while
    deallocated; its managed disks still bill, each a finding of its own
    (`azure-disk-of-deallocated-vm`) whose parent is this one, so this finding costs $0 and the
    machine's total is the sum of its parts (as `ec2-instance-stopped` for AWS).

    Since when: its OS disk's `LastOwnershipUpdateTime` (Azure sets it when the VM owning the
    disk is deallocated), else the time of its last operation. Default 30 days, as for a stopped
    EC2 instance: Steampipe's Thrifty mod for Azure flags disks of stopped VMs at once, but a VM
    deallocated for a holiday or a monthly job comes back within a month."""
    days = deallocated_days(r, ctx)
    if days is None or days < p["min_deallocated_days"]:
        return None
    return Detection(
        scenario="azure-vm-deallocated-long",
        confidence="HIGH" if days >= 90 else "MEDIUM",
        monthly_cost=Decimal(0),
        evidence={
            "power_state": "deallocated",
            "deallocated_days": rounded(days),
            "vm_size": r.attributes.get("vm_size"),
            **_disk_summary(r),
            "zero_cost": "a deallocated VM bills no compute; its disks bill, each reported as a "
            "part of this finding (azure-disk-of-deallocated-vm)",
            **ctx.prices.evidence(r.region, GROUP),
        },
    )


attach_fixtures(
    "azure-vm-deallocated-long",
    Fixtures(
        fires=res(
            VM, arm("Microsoft.Compute/virtualMachines", "vm-parked"), 300, power_state="deallocated",
            deallocated_since=days_ago(120), power_state_since=days_ago(120), vm_size="Standard_D2s_v5",
            os_disk_id=arm("Microsoft.Compute/disks", "vm-parked-os"), data_disk_ids=[],
            disks=[{"id": arm("Microsoft.Compute/disks", "vm-parked-os"), "sku": "Premium_LRS", "size_gb": 128}],
        ),
        silent=res(
            VM, arm("Microsoft.Compute/virtualMachines", "vm-weekend"), 300, power_state="deallocated",
            deallocated_since=days_ago(3), power_state_since=days_ago(3), vm_size="Standard_D2s_v5",
        ),
        now=NOW,
    ),
)


# --- azure-vm-idle -------------------------------------------------------------------------------

NAMESPACE = "Microsoft.Compute/virtualMachines"
CPU = Metric("cpu_average", NAMESPACE, "Percentage CPU", "Microsoft.ResourceId", "Average")
CPU_MAX = Metric("cpu_maximum", NAMESPACE, "Percentage CPU", "Microsoft.ResourceId", "Maximum")
NET_IN = Metric("network_in", NAMESPACE, "Network In Total", "Microsoft.ResourceId", "Total")
NET_OUT = Metric("network_out", NAMESPACE, "Network Out Total", "Microsoft.ResourceId", "Total")
MB = 1024 * 1024

IDLE_PARAMS = {
    "window_days": Param(float, 14.0, "Days of Azure Monitor history judged (the VM must be that old).", 2),
    "max_cpu_percent": Param(float, 5.0, "Every day's average CPU at most this (percent).", 0),
    "max_cpu_peak_percent": Param(
        float, 20.0, "The window's mean of the daily CPU maxima below this (percent): spikes are work.", 0
    ),
    "max_network_mb_per_day": Param(float, 7.0, "Every day's network in + out at most this many MiB.", 0),
    "min_coverage": Param(
        float, 0.85, "Share of the window's days that must have datapoints (else: not judged).", 0.1
    ),
}


def _running_for_the_window(r: Resource, p, ctx: Context) -> bool:
    """A running VM (not Spot: priced and evicted otherwise) created at least a window ago (its
    `timeCreated`); a younger one, or one whose age is unknown, is never called idle."""
    if r.attributes.get("power_state") != "running" or is_spot(r):
        return False
    age = age_days(r.created_at, ctx.now)
    return age is not None and age >= p["window_days"]


def _daily_network_mb(net_in: Series, net_out: Series) -> list[float]:
    """In + out per day, in MiB, aligned from the newest day (a day present in one only counts it)."""
    days = max(net_in.got, net_out.got)
    pad = lambda s: (0.0,) * (days - s.got) + s.values  # noqa: E731
    return [(a + b) / MB for a, b in zip(pad(net_in), pad(net_out), strict=True)]


def idle_verdict(r: Resource, p, ctx: Context) -> tuple[Series, Series, Series, Series, list[float], bool] | None:
    """The idle test of `azure-vm-idle` with parameters `p`: (cpu average, cpu maximum, network
    in, network out, daily MiB, complete) when the VM is idle, else None (not running for the
    window, a series missing or too sparse, or busy)."""
    if not _running_for_the_window(r, p, ctx):
        return None
    days = math.ceil(p["window_days"])
    series = [ctx.metric(r, m.name, days) for m in (CPU, CPU_MAX, NET_IN, NET_OUT)]
    if any(s is None for s in series):
        return None
    cpu, cpu_max, net_in, net_out = series
    if min(s.coverage for s in series) < p["min_coverage"]:
        return None
    if (cpu.peak or 0.0) > p["max_cpu_percent"]:
        return None
    if (cpu_max.mean or 0.0) >= p["max_cpu_peak_percent"]:
        return None
    daily_net = _daily_network_mb(net_in, net_out)
    if max(daily_net, default=0.0) > p["max_network_mb_per_day"]:
        return None
    complete = min(s.got for s in series) >= days
    return cpu, cpu_max, net_in, net_out, daily_net, complete


@rule(
    key="azure-vm-idle",
    provider="azure",
    resource_kind=VM,
    title="VM running but idle (CPU and network both low)",
    permissions=(*VM_READ, "Microsoft.Insights/metrics/read"),
    params=IDLE_PARAMS,
    confidence_doc="HIGH when every day of the window has data and CPU never averaged above 2% a "
    "day; MEDIUM otherwise (a few days missing, or CPU up to the threshold).",
    metrics=(CPU, CPU_MAX, NET_IN, NET_OUT),
    candidate=_running_for_the_window,
)
def vm_idle(r: Resource, p, ctx: Context) -> Detection | None:
    """A running VM whose Azure Monitor "Percentage CPU" averaged at most 5% every day of the
    last 14 days, whose daily CPU maxima averaged below 20% over them, and whose "Network In
    Total" + "Network Out Total" stayed at most 7 MiB a day, does no work but bills its compute:
    `monthly_cost` is its size's hourly price x 730 (Linux list price).

    Defaults: Azure Advisor's classic low-usage test (CPU 5% or less and network 7 MB or less,
    over its 7-day look-back; here 14 days, as AWS Trusted Advisor, so a weekly job is seen
    twice) and Steampipe Thrifty's `compute_virtual_machine_low_utilization` (the mean of the
    daily maxima below 20% is its "alarm"). The daily Maximum is the busiest minute of the day:
    a VM that averages 2% but peaks every night is at work. Missing days are not zeros: below
    `min_coverage` of the window the VM is not judged. Only running VMs created a window ago or
    more (`timeCreated`); Spot VMs are not judged."""
    verdict = idle_verdict(r, p, ctx)
    if verdict is None:
        return None
    cpu, cpu_max, net_in, net_out, daily_net, complete = verdict
    size = r.attributes.get("vm_size")
    cost = vm_monthly(ctx.prices, r.region, size)
    return Detection(
        scenario="azure-vm-idle",
        confidence="HIGH" if complete and (cpu.peak or 0.0) <= 2.0 else "MEDIUM",
        monthly_cost=cost if cost is not None else Decimal(0),
        evidence={
            "power_state": "running",
            "vm_size": size,
            "os_type": r.attributes.get("os_type"),
            "window_days": math.ceil(p["window_days"]),
            "cpu_average_percent": cpu.evidence("percent"),
            "cpu_maximum_percent": cpu_max.evidence("percent"),
            "network_mb_per_day_peak": round(max(daily_net, default=0.0), 3),
            "network_in": net_in.evidence("bytes"),
            "network_out": net_out.evidence("bytes"),
            "age_days": rounded(age_days(r.created_at, ctx.now)),
            "price_basis": PRICE_NOTE,
            **({} if cost is not None else {"cost_unknown": f"no list price for {size}"}),
            **ctx.prices.evidence(r.region, GROUP),
        },
    )


def _idle_series(rid: str, days: int, cpu: float, cpu_max: float, net_bytes: float) -> dict:
    return {
        (rid, "cpu_average", days): Series((cpu,) * days, days),
        (rid, "cpu_maximum", days): Series((cpu_max,) * days, days),
        (rid, "network_in", days): Series((net_bytes,) * days, days),
        (rid, "network_out", days): Series((net_bytes,) * days, days),
    }


_IDLE = arm("Microsoft.Compute/virtualMachines", "vm-idle")
_BUSY_AT_NIGHT = arm("Microsoft.Compute/virtualMachines", "vm-nightly-batch")
attach_fixtures(
    "azure-vm-idle",
    Fixtures(
        fires=res(VM, _IDLE, 200, power_state="running", vm_size="Standard_D4s_v5", os_type="Linux"),
        # averages 2% a day but peaks at 95% every night: at work
        silent=res(VM, _BUSY_AT_NIGHT, 200, power_state="running", vm_size="Standard_D4s_v5", os_type="Linux"),
        now=NOW,
        series={
            **_idle_series(_IDLE, 14, 0.8, 3.0, 200_000.0),
            **_idle_series(_BUSY_AT_NIGHT, 14, 2.0, 95.0, 200_000.0),
        },
    ),
)


# --- azure-vm-previous-generation ----------------------------------------------------------------

# Previous-generation sizes (Azure's "Previous generation sizes" and retirement pages: Basic A,
# Standard A0-A11, D/DS v1, F/Fs v1, G/GS) -> the current size of the same vCPUs and at least
# the memory (Av2, Bs for Basic A and A0, Dsv5, Esv5 for the memory-heavy D11-D14, A5-A7,
# A8-A11, G/GS, Fsv2 for F).
PREVIOUS_GENERATION: dict[str, str] = {
    "Basic_A0": "Standard_B1s", "Basic_A1": "Standard_B1ms", "Basic_A2": "Standard_B2s",
    "Basic_A3": "Standard_B4ms", "Basic_A4": "Standard_B8ms",
    "Standard_A0": "Standard_B1s", "Standard_A1": "Standard_A1_v2", "Standard_A2": "Standard_A2_v2",
    "Standard_A3": "Standard_A4_v2", "Standard_A4": "Standard_A8_v2", "Standard_A5": "Standard_A2m_v2",
    "Standard_A6": "Standard_A4m_v2", "Standard_A7": "Standard_A8m_v2",
    "Standard_A8": "Standard_E8s_v5", "Standard_A9": "Standard_E16s_v5",
    "Standard_A10": "Standard_E8s_v5", "Standard_A11": "Standard_E16s_v5",
    "Standard_D1": "Standard_D2s_v5", "Standard_D2": "Standard_D2s_v5", "Standard_D3": "Standard_D4s_v5",
    "Standard_D4": "Standard_D8s_v5", "Standard_D11": "Standard_E2s_v5", "Standard_D12": "Standard_E4s_v5",
    "Standard_D13": "Standard_E8s_v5", "Standard_D14": "Standard_E16s_v5",
    "Standard_DS1": "Standard_D2s_v5", "Standard_DS2": "Standard_D2s_v5", "Standard_DS3": "Standard_D4s_v5",
    "Standard_DS4": "Standard_D8s_v5", "Standard_DS11": "Standard_E2s_v5", "Standard_DS12": "Standard_E4s_v5",
    "Standard_DS13": "Standard_E8s_v5", "Standard_DS14": "Standard_E16s_v5",
    "Standard_F1": "Standard_F2s_v2", "Standard_F2": "Standard_F2s_v2", "Standard_F4": "Standard_F4s_v2",
    "Standard_F8": "Standard_F8s_v2", "Standard_F16": "Standard_F16s_v2",
    "Standard_F1s": "Standard_F2s_v2", "Standard_F2s": "Standard_F2s_v2", "Standard_F4s": "Standard_F4s_v2",
    "Standard_F8s": "Standard_F8s_v2", "Standard_F16s": "Standard_F16s_v2",
    "Standard_G1": "Standard_E4s_v5", "Standard_G2": "Standard_E8s_v5", "Standard_G3": "Standard_E16s_v5",
    "Standard_G4": "Standard_E32s_v5", "Standard_G5": "Standard_E64s_v5",
    "Standard_GS1": "Standard_E4s_v5", "Standard_GS2": "Standard_E8s_v5", "Standard_GS3": "Standard_E16s_v5",
    "Standard_GS4": "Standard_E32s_v5", "Standard_GS5": "Standard_E64s_v5",
}
_PREVIOUS = {k.lower(): (k, v) for k, v in PREVIOUS_GENERATION.items()}


def current_generation_of(size: str | None) -> tuple[str, str] | None:
    """(the previous-generation size as listed here, its current equivalent); None for any other
    size (case-insensitive)."""
    return _PREVIOUS.get((size or "").lower())


def _previous_generation_running(r: Resource) -> bool:
    return (
        r.attributes.get("power_state") == "running"
        and not is_spot(r)
        and current_generation_of(r.attributes.get("vm_size")) is not None
    )


def _prev_gen_candidate(r: Resource, p, ctx: Context) -> bool:
    """A running previous-generation VM old enough for the idle test (its usage is read only to
    leave the idle ones to `azure-vm-idle`)."""
    return _previous_generation_running(r) and _running_for_the_window(r, p, ctx)


@rule(
    key="azure-vm-previous-generation",
    provider="azure",
    resource_kind=VM,
    title="VM of a previous-generation size that a current size replaces for less",
    permissions=(*VM_READ, "Microsoft.Insights/metrics/read"),
    params={
        "min_monthly_saving": Param(
            float, 1.0, "Report a VM only when the move saves at least this much per month (USD).", 0
        ),
        **{
            name: Param(spec.type, spec.default, f"As azure-vm-idle's (the idle test): {spec.doc}", spec.minimum)
            for name, spec in IDLE_PARAMS.items()
        },
    },
    confidence_doc="HIGH when both list prices are known (the saving is their difference; the "
    "current size is also faster); LOW when a price is unknown (reported at $0, the evidence says "
    "which).",
    metrics=(CPU, CPU_MAX, NET_IN, NET_OUT),
    candidate=_prev_gen_candidate,
)
def vm_previous_generation(r: Resource, p, ctx: Context) -> Detection | None:
    """An optimization finding: a running VM of a previous-generation size (Basic_A*,
    Standard_A0-A11, D1-D14 and DS1-DS14 v1, F/Fs v1, G/GS; Azure's "Previous generation sizes"
    page, most of them announced for retirement) costs more than the current size of the same
    vCPUs and at least its memory (D2 -> D2s_v5, D11 -> E2s_v5, A2 -> A2_v2, G1 -> E4s_v5, ...),
    which is also faster. `monthly_cost` is the list-price saving (730 hours, Linux). Not reported
    when the current size costs more (D1, F1: the smallest current size has twice the vCPUs) or
    saves less than `min_monthly_saving` (default $1, as for EC2: below it a resize, which
    restarts the VM, is not worth it).

    A VM `azure-vm-idle` flags is not reported here (its finding is its whole price): this rule
    applies the same idle test, with its own parameters equal to azure-vm-idle's by default (keep
    them equal when overriding either). Spot VMs are not judged."""
    if not _previous_generation_running(r):
        return None
    if idle_verdict(r, p, ctx) is not None:
        return None
    size, target = current_generation_of(r.attributes.get("vm_size"))
    now_price, target_price = vm_monthly(ctx.prices, r.region, size), vm_monthly(ctx.prices, r.region, target)
    evidence = {
        "finding_type": "optimization",
        "vm_size": r.attributes.get("vm_size"),
        "current_generation_size": target,
        "age_days": rounded(age_days(r.created_at, ctx.now)),
        "price_basis": PRICE_NOTE,
        **ctx.prices.evidence(r.region, GROUP),
    }
    if now_price is None or target_price is None:
        unknown = [s for s, price in ((size, now_price), (target, target_price)) if price is None]
        evidence["cost_unknown"] = f"no list price for {', '.join(unknown)}: priced at 0"
        return Detection("azure-vm-previous-generation", "LOW", Decimal(0), evidence)
    saving = now_price - target_price
    if saving <= 0 or saving < Decimal(str(p["min_monthly_saving"])):
        return None
    evidence |= {
        "monthly_cost_now": float(now_price),
        "monthly_cost_current_generation": float(target_price),
        "monthly_saving": float(saving),
    }
    return Detection("azure-vm-previous-generation", "HIGH", saving, evidence)


attach_fixtures(
    "azure-vm-previous-generation",
    Fixtures(
        fires=res(
            VM, arm("Microsoft.Compute/virtualMachines", "vm-legacy"), 900, power_state="running",
            vm_size="Standard_D2", os_type="Linux",
        ),
        # D1's current equivalent (D2s_v5) costs more: nothing to save
        silent=res(
            VM, arm("Microsoft.Compute/virtualMachines", "vm-tiny-legacy"), 900, power_state="running",
            vm_size="Standard_D1", os_type="Linux",
        ),
        now=NOW,
    ),
)
