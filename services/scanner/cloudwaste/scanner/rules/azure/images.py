"""Managed image and availability set rules: images nothing deploys, availability sets with no VM."""

from __future__ import annotations

from decimal import Decimal

from cloudwaste.scanner.domain import Detection, Resource
from cloudwaste.scanner.rules import Context, Fixtures, Param, age_days, attach_fixtures, rule
from cloudwaste.scanner.rules.azure._common import NOW, arm, res, rounded
from cloudwaste.scanner.rules.azure.snapshots import snapshot_monthly

IMAGE = "azure.compute.image"
AVAILABILITY_SET = "azure.compute.availability_set"
IMAGE_READ = (
    "Microsoft.Compute/images/read",
    "Microsoft.Compute/virtualMachineScaleSets/read",
    "Microsoft.Compute/virtualMachines/read",
    "Microsoft.Compute/disks/read",
)

# --- azure-image-unused --------------------------------------------------------------------------


@rule(
    key="azure-image-unused",
    provider="azure",
    resource_kind=IMAGE,
    title="Managed image no VM or scale set uses",
    permissions=IMAGE_READ,
    params={"min_age_days": Param(float, 90.0, "The image was created at least this long ago.", 0)},
    confidence_doc="HIGH when the image is known to be 180 days old or more; MEDIUM otherwise "
    "(ARM gives an image's creation time only in systemData, often absent: an image of unknown "
    "age that nothing uses is reported at MEDIUM).",
)
def image_unused(r: Resource, p, ctx: Context) -> Detection | None:
    """A managed image that no VM of the subscription was created from (no VM's
    `storageProfile.imageReference.id` names it) and no scale set deploys, 90 days after it was
    made, is a template nobody uses: its disks' snapshots bill every month. `monthly_cost` is its
    disks' size at the Standard_LRS snapshot GB-month price (an upper bound: Azure bills the
    images' used size). Images in Azure Compute Gallery versions are separate resources: a
    managed image a gallery version was made from is no longer needed by it.

    Default 90 days, as `ami-unused` for AWS (Steampipe Thrifty's snapshot age, 90 days): a new
    image is often built before the VMs or scale sets that will use it. ARM gives an image's
    creation time only as `systemData.createdAt`; an image of unknown age is judged."""
    if r.attributes.get("used_by_scale_set") or int(r.attributes.get("used_by_vms") or 0) > 0:
        return None
    days = age_days(r.created_at, ctx.now)
    if days is not None and days < p["min_age_days"]:
        return None
    size = int(r.attributes.get("size_gb") or 0)
    cost = snapshot_monthly(ctx.prices, r.region, "Standard_LRS", size) if r.attributes.get("size_known") else None
    return Detection(
        scenario="azure-image-unused",
        confidence="HIGH" if days is not None and days >= 180 else "MEDIUM",
        monthly_cost=cost if cost is not None and cost > 0 else Decimal(0),
        evidence={
            "age_days": rounded(days),
            **({} if days is not None else {"age_unknown": "ARM gave no systemData.createdAt"}),
            "used_by_vms": 0,
            "used_by_scale_set": False,
            "size_gb": size,
            "disk_count": r.attributes.get("disk_count"),
            "price_basis": "Standard_LRS snapshot storage of the image's disks (provisioned size: an upper bound)",
            **({} if cost else {"cost_unknown": "the image does not give its disks' sizes"}),
            **ctx.prices.evidence(r.region, "disks"),
        },
    )


attach_fixtures(
    "azure-image-unused",
    Fixtures(
        fires=res(
            IMAGE, arm("Microsoft.Compute/images", "img-golden-2024"), 200, size_gb=30, size_known=True,
            disk_count=1, used_by_vms=0, used_by_scale_set=False,
        ),
        silent=res(
            IMAGE, arm("Microsoft.Compute/images", "img-web"), 200, size_gb=30, size_known=True,
            disk_count=1, used_by_vms=0, used_by_scale_set=True,
        ),
        now=NOW,
    ),
)


# --- azure-availability-set-unused ---------------------------------------------------------------


@rule(
    key="azure-availability-set-unused",
    provider="azure",
    resource_kind=AVAILABILITY_SET,
    title="Availability set with no VM in it",
    permissions=("Microsoft.Compute/availabilitySets/read",),
    params={"min_age_days": Param(float, 7.0, "Created at least this long ago (when ARM says).", 0)},
    confidence_doc="HIGH when it is known to be 30 days old or more; MEDIUM otherwise (ARM often "
    "gives no creation time: an empty set made for VMs about to be deployed looks the same).",
)
def availability_set_unused(r: Resource, p, ctx: Context) -> Detection | None:
    """Hygiene, not spend: an availability set with no VM (`virtualMachines` empty) costs nothing
    (Azure bills only the VMs in it) but clutters the subscription and its quota (2,500 per region
    per subscription), and a VM can only join a set when it is created, so an empty set is left
    from deleted VMs. `monthly_cost` is 0. Default `min_age_days` 7 when ARM gives its creation
    time (`systemData.createdAt`): a set is created just before its VMs."""
    if r.attributes.get("vm_ids"):
        return None
    days = age_days(r.created_at, ctx.now)
    if days is not None and days < p["min_age_days"]:
        return None
    return Detection(
        scenario="azure-availability-set-unused",
        confidence="HIGH" if days is not None and days >= 30 else "MEDIUM",
        monthly_cost=Decimal(0),
        evidence={
            "vm_count": 0,
            "age_days": rounded(days),
            "sku": r.attributes.get("sku"),
            "zero_cost": "an availability set itself is free: hygiene (its quota, its clutter)",
        },
    )


attach_fixtures(
    "azure-availability-set-unused",
    Fixtures(
        fires=res(AVAILABILITY_SET, arm("Microsoft.Compute/availabilitySets", "avset-old"), 100, vm_ids=[], sku="Aligned"),
        silent=res(
            AVAILABILITY_SET, arm("Microsoft.Compute/availabilitySets", "avset-web"), 100,
            vm_ids=[arm("Microsoft.Compute/virtualMachines", "vm-web-1")], sku="Aligned",
        ),
        now=NOW,
    ),
)
