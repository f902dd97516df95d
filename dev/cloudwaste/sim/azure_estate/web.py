"""Azure App Service: plans. Empty paid plans to flag; near misses: a plan hosting apps, an
empty Free plan, an empty Functions consumption plan, an empty plan created two days ago.
Shapes follow the published AppServicePlans_List example (web_app_service_plans_list.json),
locations as display names ("West Europe") as that API gives them."""

from __future__ import annotations

from ..cloud_estate import EstateContext
from ..truth import TruthResource

PLAN = "azure.web.app_service_plan"
_DISPLAY = {"westeurope": "West Europe", "eastus": "East US", "northeurope": "North Europe"}
# (sku, tier, family, linux, instances, East US hourly per instance)
_PAID = (
    ("B1", "Basic", "B", False, 1, 0.075),
    ("P1v3", "PremiumV3", "Pv3", True, 2, 0.155),
    ("S1", "Standard", "S", False, 1, 0.1),
    ("P1v2", "PremiumV2", "Pv2", True, 1, 0.111),
)


def _plan(
    ctx: EstateContext,
    sub: str,
    group: str,
    name: str,
    location: str,
    tags: dict,
    sku: str,
    tier: str,
    family: str,
    linux: bool,
    instances: int,
    sites: int,
    created_days: float | None,
) -> dict:
    body = {
        "id": f"/subscriptions/{sub}/resourceGroups/{group}/providers/Microsoft.Web/serverfarms/{name}",
        "name": name,
        "type": "Microsoft.Web/serverfarms",
        "kind": "linux" if linux else "app",
        "location": _DISPLAY.get(location, location),
        "tags": tags,
        "properties": {
            "status": "Ready",
            "maximumNumberOfWorkers": 30,
            "numberOfWorkers": instances,
            "geoRegion": _DISPLAY.get(location, location),
            "numberOfSites": sites,
            "isSpot": False,
            "reserved": linux,
            "targetWorkerCount": 0,
            "targetWorkerSizeId": 0,
            "provisioningState": "Succeeded",
        },
        "sku": {"name": sku, "tier": tier, "size": sku, "family": family, "capacity": instances},
    }
    if created_days is not None:
        body["systemData"] = {"createdAt": ctx.stamp(created_days), "createdByType": "User"}
    return ctx.api.put(body)


def seed(ctx: EstateContext) -> list[TruthResource]:
    rng = ctx.rng("web")
    truth = []
    for i in range(ctx.count(0.02)):  # waste: a paid plan hosting no app
        sub, loc = ctx.pick(rng)
        tags = ctx.tags(rng, "app_service_plan")
        sku, tier, family, linux, instances, hourly = _PAID[i % len(_PAID)]
        created = rng.uniform(20, 400) if i % 2 == 0 else None  # systemData is not always served
        body = _plan(
            ctx, sub, "rg-web", f"plan-empty-{i}", loc, tags, sku, tier, family, linux, instances, 0, created
        )
        decision = ctx.decide(
            rng,
            tags=tags,
            scenario="azure-app-service-plan-no-apps",
            age_days=created,
            monthly_cost=round(hourly * instances * 730, 2),
        )
        truth.append(
            ctx.truth(body["id"].lower(), PLAN, loc, tags, "azure-app-service-plan-no-apps", decision)
        )
    for i in range(ctx.count(0.02)):  # near misses
        sub, loc = ctx.pick(rng)
        tags = ctx.tags(rng, "app_service_plan")
        variant = i % 4
        if variant == 0:
            body = _plan(
                ctx, sub, "rg-web", f"plan-apps-{i}", loc, tags, "P1v3", "PremiumV3", "Pv3", True, 2, 3, 200
            )
        elif variant == 1:
            body = _plan(ctx, sub, "rg-web", f"plan-free-{i}", loc, tags, "F1", "Free", "F", False, 1, 0, 90)
        elif variant == 2:
            body = _plan(
                ctx, sub, "rg-func", f"plan-consumption-{i}", loc, tags, "Y1", "Dynamic", "Y", True, 0, 0, 90
            )
        else:
            body = _plan(
                ctx, sub, "rg-web", f"plan-new-{i}", loc, tags, "S1", "Standard", "S", False, 1, 0, 2
            )
        truth.append(ctx.truth(body["id"].lower(), PLAN, loc, tags))
    return truth
