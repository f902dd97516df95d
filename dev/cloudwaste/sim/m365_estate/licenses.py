"""The directory: users holding licences (active, inactive, never signed in, disabled, holding
overlapping licences, active through non-interactive sign-ins only), shared mailboxes, guests, and
the SKUs bought (with and without unassigned seats); and what the usage reports say of each user's
mailbox and OneDrive. User resources follow Graph's published `user` shape (with
`signInActivity`), SKUs the published `subscribedSku` shape (tests/fixtures/msgraph), report rows
the reports' columns (`graph_api.REPORT_COLUMNS`)."""

from __future__ import annotations

import uuid

from ..cloud_estate import EstateContext
from ..truth import TruthResource

LICENSE, SKU, GUEST = "m365.graph.user_license", "m365.graph.subscribed_sku", "m365.graph.guest_user"
MAILBOX, ONEDRIVE = "m365.reports.mailbox", "m365.reports.onedrive"
GB = 1024**3
# skuPartNumber -> skuId (Microsoft's catalogue ids, the same in every tenant)
SKUS = {
    "SPE_E3": "05e9a617-0261-4cee-bb44-138d3ef5d965",
    "ENTERPRISEPACK": "6fd2c87f-b296-42f0-b197-1e91e994b900",
    "EXCHANGESTANDARD": "4b9405b0-7788-4568-add1-99614e613b69",
    "POWER_BI_PRO": "f8a1db68-be16-40ed-86d5-cb42ce701560",
    "FLOW_FREE": "f30db892-07e9-47e9-837c-80727f46fd3d",
    "VISIOCLIENT": "c5928f49-12ba-48f7-ada3-0d743a3601d5",
    "POWER_BI_PREMIUM_PER_USER": "c1d032e0-5619-4761-9b5c-75b6831e1711",
}
_FIRST = ("ada", "bruno", "chloe", "dmitri", "elena", "farid", "grace", "hiro", "ines", "jonas", "kemal", "lucia")
_LAST = ("martin", "okafor", "nguyen", "schmidt", "rossi", "tanaka", "silva", "novak", "haddad", "larsen")


def _stamp_or_never(ctx: EstateContext, days: float | None) -> str:
    return "0001-01-01T00:00:00Z" if days is None else ctx.stamp(days)



def seed(ctx: EstateContext) -> list[TruthResource]:
    rng = ctx.rng("licenses")
    tenant = ctx.api.tenant(ctx.scopes[0])
    mailboxes = tenant.report_rows("getMailboxUsageDetail")
    onedrives = tenant.report_rows("getOneDriveUsageAccountDetail")
    today = ctx.day(0)
    truth: list[TruthResource] = []
    assigned: dict[str, int] = {p: 0 for p in SKUS}

    def user(variant: str, i: int, parts: list[str], *, enabled: bool = True, user_type: str = "Member",
             created: float = 400, interactive: float | None = 3, background: float | None = 3,
             scenario_of: dict[str, str] | None = None, mailbox: str | None = "User",
             mail_idle: float | None = -1, mailbox_gb: float = 2.0, archive: bool = False,
             mailbox_scenario: str | None = None, onedrive: tuple[float, float] | None = None,
             onedrive_scenario: str | None = None, invitation: str = "Accepted",
             guest_scenario: str | None = None) -> None:
        """One user; a Member with licences gets a mailbox (`mailbox`: its Recipient Type, None for
        none) whose last activity is `mail_idle` days ago (-1: as recent as the user's sign-ins),
        and a OneDrive when `onedrive` = (days idle, GB)."""
        uid = str(uuid.UUID(int=rng.getrandbits(128)))
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        upn = f"{first}.{last}.{variant}{i}@contoso-sim.example"
        guest = user_type == "Guest"
        tenant.users.append(
            {
                "id": uid,
                "displayName": f"{first.title()} {last.title()}",
                "userPrincipalName": f"{first}_{last}.{variant}{i}_fabrikam.example#EXT#@contoso-sim.example"
                if guest else upn,
                "mail": f"{first}.{last}.{variant}{i}@fabrikam.example" if guest else upn,
                "accountEnabled": enabled,
                "userType": user_type,
                "createdDateTime": ctx.stamp(created),
                "externalUserState": invitation if guest else None,
                "assignedLicenses": [{"disabledPlans": [], "skuId": SKUS[p]} for p in parts],
                "signInActivity": {
                    "lastSignInDateTime": None if interactive is None else ctx.stamp(interactive),
                    "lastSignInRequestId": str(uuid.UUID(int=rng.getrandbits(128))),
                    "lastNonInteractiveSignInDateTime": _stamp_or_never(ctx, background),
                    "lastNonInteractiveSignInRequestId": str(uuid.UUID(int=rng.getrandbits(128))),
                },
            }
        )
        tags = {"upn": upn, "display_name": f"{first} {last}"}  # canaries: must never reach ML rows
        if guest:
            decision = ctx.decide(rng, tags={}, scenario=guest_scenario, age_days=created, monthly_cost=0.0) \
                if guest_scenario else None
            truth.append(ctx.truth(f"guest:{uid}", GUEST, "global", tags, guest_scenario, decision))
            return
        for p in parts:
            assigned[p] += 1
            scenario = (scenario_of or {}).get(p)
            decision = None
            if scenario:
                decision = ctx.decide(rng, tags={}, scenario=scenario, age_days=created, monthly_cost=20.0)
            truth.append(ctx.truth(f"{uid}:{SKUS[p]}", LICENSE, "global", tags, scenario, decision))
        if mailbox and parts:
            if mail_idle == -1:
                seen = [d for d in (interactive, background) if d is not None]
                mail_idle = min(seen) if seen else None
            mailboxes.append({
                "Report Refresh Date": today, "User Principal Name": upn, "Display Name": f"{first} {last}",
                "Is Deleted": "False", "Deleted Date": "", "Created Date": ctx.day(created),
                "Last Activity Date": ctx.day(mail_idle), "Item Count": str(rng.randint(50, 90000)),
                "Storage Used (Byte)": str(int(mailbox_gb * GB)), "Issue Warning Quota (Byte)": str(98 * GB),
                "Prohibit Send Quota (Byte)": str(99 * GB), "Prohibit Send/Receive Quota (Byte)": str(100 * GB),
                "Deleted Item Count": "0", "Deleted Item Size (Byte)": "0", "Deleted Item Quota (Byte)": str(30 * GB),
                "Has Archive": str(archive), "Recipient Type": mailbox,
            })
            decision = ctx.decide(rng, tags={}, scenario=mailbox_scenario, age_days=created, monthly_cost=4.0) \
                if mailbox_scenario else None
            truth.append(ctx.truth(f"mailbox:{upn}", MAILBOX, "global", tags, mailbox_scenario, decision))
        if onedrive is not None:
            site_id = str(uuid.UUID(int=rng.getrandbits(128)))
            idle, gb = onedrive
            onedrives.append({
                "Report Refresh Date": today, "Site Id": site_id,
                "Site URL": f"https://contoso-sim-my.sharepoint.com/personal/{upn.split('@')[0].replace('.', '_')}",
                "Owner Display Name": f"{first} {last}", "Is Deleted": "False", "Last Activity Date": ctx.day(idle),
                "File Count": str(rng.randint(10, 5000)), "Active File Count": "0",
                "Storage Used (Byte)": str(int(gb * GB)), "Storage Allocated (Byte)": str(1024 * GB),
                "Owner Principal Name": upn,
            })
            decision = ctx.decide(rng, tags={}, scenario=onedrive_scenario, age_days=idle, monthly_cost=0.0) \
                if onedrive_scenario else None
            truth.append(ctx.truth(f"onedrive:{site_id}", ONEDRIVE, "global", tags, onedrive_scenario, decision))

    n = ctx.count(0.03)
    for i in range(n):  # waste
        user("gone", i, ["ENTERPRISEPACK"], interactive=rng.uniform(100, 400), background=rng.uniform(100, 400),
             scenario_of={"ENTERPRISEPACK": "m365-license-user-inactive"})
        user("never", i, ["SPE_E3"], created=rng.uniform(120, 300), interactive=None, background=None,
             scenario_of={"SPE_E3": "m365-license-user-inactive"})
        user("leaver", i, ["SPE_E3", "POWER_BI_PRO"], enabled=False,
             scenario_of={"SPE_E3": "m365-license-disabled-user", "POWER_BI_PRO": "m365-license-disabled-user"})
        user("double", i, ["SPE_E3", "EXCHANGESTANDARD"], scenario_of={"EXCHANGESTANDARD": "m365-license-overlap"})
        # a converted mailbox that kept its licence (its account is disabled, as Exchange makes it)
        user("shared", i, ["EXCHANGESTANDARD"], enabled=False, interactive=None, background=None, mailbox="Shared",
             mail_idle=rng.uniform(0, 5), scenario_of={"EXCHANGESTANDARD": "m365-license-shared-mailbox"})
        # signs in (Teams), never opens mail: the suite's mailbox is unused (priced 0: not sold apart)
        user("teamsonly", i, ["SPE_E3"], interactive=rng.uniform(0, 10), background=rng.uniform(0, 3),
             mail_idle=rng.uniform(120, 400), mailbox_scenario="m365-mailbox-inactive")
        # an Exchange-only licence whose mailbox nobody reads: priced at Exchange Online Plan 1
        user("mailidle", i, ["EXCHANGESTANDARD", "POWER_BI_PRO"], interactive=rng.uniform(0, 10), background=None,
             mail_idle=rng.uniform(100, 300), mailbox_scenario="m365-mailbox-inactive")
        # a licensed user who stopped using OneDrive long ago, with files left in it (priced 0)
        user("odidle", i, ["SPE_E3"], onedrive=(rng.uniform(200, 500), rng.uniform(2, 40)),
             onedrive_scenario="m365-onedrive-inactive")
        user("guestgone", i, [], user_type="Guest", interactive=rng.uniform(100, 400), background=None,
             guest_scenario="m365-guest-inactive")
        user("guestpending", i, [], user_type="Guest", created=rng.uniform(100, 300), interactive=None,
             background=None, invitation="PendingAcceptance", guest_scenario="m365-guest-inactive")
    for i in range(ctx.count(0.08)):  # near misses and the ordinary
        user("active", i, ["SPE_E3"], interactive=rng.uniform(0, 20), background=rng.uniform(0, 2),
             onedrive=(rng.uniform(0, 30), rng.uniform(0.5, 80)))
        # interactive long ago, but its mail client signed in yesterday: active
        user("phone", i, ["ENTERPRISEPACK"], interactive=200, background=1)
        user("newhire", i, ["SPE_E3"], created=10, interactive=None, background=None)
        user("exo", i, ["EXCHANGESTANDARD"], interactive=5, background=1)
        user("visio", i, ["SPE_E3", "VISIOCLIENT"], interactive=2, background=1)  # on an expiring subscription
        user("freeflow", i, ["FLOW_FREE"], enabled=False, mailbox=None)  # a free licence costs nothing to keep
        user("disabled-nolicence", i, [], enabled=False)
        # shared mailboxes that need their licence: above 50 GB, or with an archive
        user("sharedbig", i, ["EXCHANGESTANDARD"], enabled=False, interactive=None, background=None,
             mailbox="Shared", mailbox_gb=rng.uniform(55, 90))
        user("sharedarchive", i, ["EXCHANGESTANDARD"], enabled=False, interactive=None, background=None,
             mailbox="Shared", archive=True)
        # mail read 60 days ago: under the 90-day threshold; a OneDrive idle as long but nearly empty
        user("mailrecent", i, ["SPE_E3"], interactive=1, mail_idle=60, onedrive=(400, 0.2))
        # a guest who signed in yesterday through an app (non-interactive); one invited last week
        user("guestapp", i, [], user_type="Guest", interactive=200, background=1)
        user("guestnew", i, [], user_type="Guest", created=7, interactive=None, background=None,
             invitation="PendingAcceptance")
        user("guestoff", i, [], user_type="Guest", enabled=False, interactive=300, background=None)
    # SKUs: seats bought vs assigned
    spare = {"SPE_E3": ctx.count(0.02), "ENTERPRISEPACK": 0, "EXCHANGESTANDARD": 0, "POWER_BI_PRO": 3,
             "FLOW_FREE": 10000 - assigned["FLOW_FREE"], "VISIOCLIENT": 2, "POWER_BI_PREMIUM_PER_USER": 25}
    # expiring: Visio with users on it (a warning); a Power BI trial nobody took up (let it expire)
    expiring = {"VISIOCLIENT", "POWER_BI_PREMIUM_PER_USER"}
    for part, sku_id in SKUS.items():
        status = "Warning" if part in expiring else "Enabled"  # not judged as spare seats
        tenant.skus.append(
            {
                "capabilityStatus": status,
                "consumedUnits": assigned[part],
                "id": f"{ctx.scopes[0]}_{sku_id}",
                "prepaidUnits": {"enabled": assigned[part] + spare[part], "suspended": 0, "warning": 0, "lockedOut": 0},
                "servicePlans": [],
                "skuId": sku_id,
                "skuPartNumber": part,
                "appliesTo": "User",
            }
        )
        waste = spare[part] > 0 and status == "Enabled" and part != "FLOW_FREE"
        scenario = "m365-sku-unassigned-seats" if waste else None
        if status == "Warning" and assigned[part] > 0:
            scenario = "m365-subscription-expiring"
        decision = ctx.decide(rng, tags={}, scenario=scenario, age_days=365, monthly_cost=100.0) if scenario else None
        truth.append(ctx.truth(f"sku:{sku_id}", SKU, "global", {}, scenario, decision))
    return truth
