"""Sites: SharePoint sites (idle and large, idle but small, large but visited, never visited) and
the OneDrive accounts of people no longer in the directory (a leaver's account deleted, the
OneDrive kept), as the site and OneDrive usage reports list them."""

from __future__ import annotations

import uuid

from ..cloud_estate import EstateContext
from ..truth import TruthResource

ONEDRIVE, SITE = "m365.reports.onedrive", "m365.reports.sharepoint_site"
GB = 1024**3
_PROJECTS = ("apollo", "borealis", "cobalt", "delta", "ember", "fjord", "granite", "harbor", "iris", "juniper")
_TEMPLATES = ("Team Site", "Communication Site", "Group")



def seed(ctx: EstateContext) -> list[TruthResource]:
    rng = ctx.rng("sites")
    tenant = ctx.api.tenant(ctx.scopes[0])
    sites = tenant.report_rows("getSharePointSiteUsageDetail")
    onedrives = tenant.report_rows("getOneDriveUsageAccountDetail")
    today = ctx.day(0)
    truth: list[TruthResource] = []

    def site(variant: str, i: int, idle: float | None, gb: float, scenario: str | None = None,
             deleted: bool = False) -> None:
        site_id = str(uuid.UUID(int=rng.getrandbits(128)))
        name = f"{rng.choice(_PROJECTS)}-{variant}{i}"
        owner = f"owner.{variant}{i}@contoso-sim.example"
        sites.append({
            "Report Refresh Date": today, "Site Id": site_id,
            "Site URL": f"https://contoso-sim.sharepoint.com/sites/{name}", "Owner Display Name": f"Owner {name}",
            "Is Deleted": str(deleted), "Last Activity Date": ctx.day(idle),
            "File Count": str(rng.randint(1, 20000)), "Active File Count": "0",
            "Page View Count": "0", "Visited Page Count": "0", "Storage Used (Byte)": str(int(gb * GB)),
            "Storage Allocated (Byte)": str(25 * 1024 * GB), "Root Web Template": rng.choice(_TEMPLATES),
            "Owner Principal Name": owner,
        })
        if deleted:
            return  # the report still lists it a while; the scanner skips it
        tags = {"site_url": f"https://contoso-sim.sharepoint.com/sites/{name}", "owner": owner}  # canaries
        decision = ctx.decide(rng, tags={}, scenario=scenario, age_days=idle, monthly_cost=gb * 0.2) \
            if scenario else None
        truth.append(ctx.truth(f"site:{site_id}", SITE, "global", tags, scenario, decision))

    def orphan_onedrive(variant: str, i: int, idle: float, gb: float, scenario: str | None = None) -> None:
        """The OneDrive of someone whose account was deleted: kept, and billed once unlicensed."""
        site_id = str(uuid.UUID(int=rng.getrandbits(128)))
        upn = f"former.{variant}{i}@contoso-sim.example"
        onedrives.append({
            "Report Refresh Date": today, "Site Id": site_id,
            "Site URL": f"https://contoso-sim-my.sharepoint.com/personal/former_{variant}{i}",
            "Owner Display Name": f"Former {variant} {i}", "Is Deleted": "False",
            "Last Activity Date": ctx.day(idle), "File Count": str(rng.randint(10, 5000)),
            "Active File Count": "0", "Storage Used (Byte)": str(int(gb * GB)),
            "Storage Allocated (Byte)": str(1024 * GB), "Owner Principal Name": upn,
        })
        tags = {"upn": upn}  # canary
        decision = ctx.decide(rng, tags={}, scenario=scenario, age_days=idle, monthly_cost=gb * 0.05) \
            if scenario else None
        truth.append(ctx.truth(f"onedrive:{site_id}", ONEDRIVE, "global", tags, scenario, decision))

    for i in range(ctx.count(0.03)):  # waste
        site("idle", i, rng.uniform(200, 800), rng.uniform(5, 400), "m365-sharepoint-site-inactive")
        orphan_onedrive("leaver", i, rng.uniform(200, 600), rng.uniform(5, 300), "m365-onedrive-inactive")
    for i in range(ctx.count(0.05)):  # near misses
        site("busy", i, rng.uniform(0, 60), rng.uniform(5, 400))  # large, but visited
        site("tiny", i, rng.uniform(300, 800), rng.uniform(0.01, 0.5))  # idle, but nearly empty
        site("never", i, None, rng.uniform(5, 50))  # never visited: no date to judge from
        site("gone", i, rng.uniform(300, 800), rng.uniform(5, 50), deleted=True)
        orphan_onedrive("emptied", i, rng.uniform(300, 600), rng.uniform(0.01, 0.5))  # idle, nearly empty
        orphan_onedrive("recent", i, rng.uniform(0, 90), rng.uniform(5, 50))  # deleted account, files in use
    return truth
