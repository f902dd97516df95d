"""Licences: users holding them (active, inactive, never signed in, disabled, holding overlapping
licences, active through non-interactive sign-ins only) and the SKUs bought (with and without
unassigned seats). User resources follow Graph's published `user` shape (with `signInActivity`),
SKUs the published `subscribedSku` shape (tests/fixtures/msgraph)."""

from __future__ import annotations

import uuid

from ..cloud_estate import EstateContext
from ..truth import TruthResource

LICENSE, SKU = "m365.graph.user_license", "m365.graph.subscribed_sku"
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
    truth: list[TruthResource] = []
    assigned: dict[str, int] = {p: 0 for p in SKUS}

    def user(variant: str, i: int, parts: list[str], *, enabled: bool = True, user_type: str = "Member",
             created: float = 400, interactive: float | None = 3, background: float | None = 3,
             scenario_of: dict[str, str] | None = None) -> None:
        uid = str(uuid.UUID(int=rng.getrandbits(128)))
        first, last = rng.choice(_FIRST), rng.choice(_LAST)
        upn = f"{first}.{last}.{variant}{i}@contoso-sim.example"
        tenant.users.append(
            {
                "id": uid,
                "displayName": f"{first.title()} {last.title()}",
                "userPrincipalName": upn if user_type == "Member" else f"{first}_{last}_ext#EXT#@contoso-sim.example",
                "mail": upn,
                "accountEnabled": enabled,
                "userType": user_type,
                "createdDateTime": ctx.stamp(created),
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
        for p in parts:
            assigned[p] += 1
            scenario = (scenario_of or {}).get(p)
            decision = None
            if scenario:
                decision = ctx.decide(rng, tags={}, scenario=scenario, age_days=created, monthly_cost=20.0)
            truth.append(ctx.truth(f"{uid}:{SKUS[p]}", LICENSE, "global", tags, scenario, decision))

    n = ctx.count(0.03)
    for i in range(n):  # waste
        user("gone", i, ["ENTERPRISEPACK"], interactive=rng.uniform(100, 400), background=rng.uniform(100, 400),
             scenario_of={"ENTERPRISEPACK": "m365-license-user-inactive"})
        user("never", i, ["SPE_E3"], created=rng.uniform(120, 300), interactive=None, background=None,
             scenario_of={"SPE_E3": "m365-license-user-inactive"})
        user("leaver", i, ["SPE_E3", "POWER_BI_PRO"], enabled=False,
             scenario_of={"SPE_E3": "m365-license-disabled-user", "POWER_BI_PRO": "m365-license-disabled-user"})
        user("double", i, ["SPE_E3", "EXCHANGESTANDARD"], scenario_of={"EXCHANGESTANDARD": "m365-license-overlap"})
    for i in range(ctx.count(0.08)):  # near misses and the ordinary
        user("active", i, ["SPE_E3"], interactive=rng.uniform(0, 20), background=rng.uniform(0, 2))
        # interactive long ago, but its mail client signed in yesterday: active
        user("phone", i, ["ENTERPRISEPACK"], interactive=200, background=1)
        user("newhire", i, ["SPE_E3"], created=10, interactive=None, background=None)
        user("exo", i, ["EXCHANGESTANDARD"], interactive=5, background=1)
        user("visio", i, ["SPE_E3", "VISIOCLIENT"], interactive=2, background=1)  # on an expiring subscription
        user("freeflow", i, ["FLOW_FREE"], enabled=False)  # a free licence costs nothing to keep
        user("disabled-nolicence", i, [], enabled=False)
        user("guest", i, [], user_type="Guest", interactive=300, background=None)
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
