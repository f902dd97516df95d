"""App Service rules."""

from __future__ import annotations

from decimal import Decimal

from cloudwaste.scanner.domain import Detection, Resource
from cloudwaste.scanner.rules import Context, Fixtures, Param, age_days, attach_fixtures, rule
from cloudwaste.scanner.rules.azure._common import NOW, arm, res, rounded

APP_SERVICE_PLAN = "azure.web.app_service_plan"
GROUP = "web"  # the price table (data/azure_prices/web.json)

# Plans that cost nothing while they host no app: Free, Shared, and the Functions consumption
# plans (billed per execution, not per instance).
FREE_TIERS = frozenset({"free", "shared", "dynamic", "flexconsumption"})


def plan_monthly(prices, region: str, sku: str | None, linux: bool, instances: int) -> Decimal | None:
    """An App Service plan's monthly list price: its SKU's instance-hour price (Linux or Windows)
    x its instances, None when the table does not know the SKU (Isolated plans among others)."""
    if not sku:
        return None
    return prices.monthly_from_hourly(
        region, GROUP, "plan_hour", "linux" if linux else "windows", sku, quantity=max(1, instances)
    )


@rule(
    key="azure-app-service-plan-no-apps",
    provider="azure",
    resource_kind=APP_SERVICE_PLAN,
    title="App Service plan hosting no app",
    permissions=("Microsoft.Web/serverfarms/read",),
    params={
        "min_age_days": Param(
            float, 7.0, "A plan ARM says was created less than this many days ago is not flagged.", 0
        ),
    },
    confidence_doc=(
        "HIGH when ARM gives the plan's creation time (systemData) and it is older than "
        "`min_age_days`; MEDIUM when it gives none (a plan deployed minutes before its apps "
        "looks the same)."
    ),
)
def app_service_plan_no_apps(r: Resource, p, ctx: Context) -> Detection | None:
    """An App Service plan hosting no app (`numberOfSites` 0) bills every instance it keeps
    (B1 Windows $0.075/h in East US; P1v3 Linux $0.155/h) for nothing. Free (F1), Shared (D1)
    and Functions consumption plans (Dynamic, FlexConsumption) cost nothing empty and are not
    flagged. Same test as the Azure Orphaned Resources workbook's App Service plans query;
    `min_age_days` (default 7, as the disk rule and Azure Advisor wait a week) spares a plan
    just deployed before its apps when ARM says when it was created."""
    a = r.attributes
    if int(a.get("number_of_sites") or 0) > 0:
        return None
    if str(a.get("tier") or "").lower() in FREE_TIERS:
        return None
    age = age_days(r.created_at, ctx.now)
    if age is not None and age < p["min_age_days"]:
        return None
    sku, linux, instances = a.get("sku"), bool(a.get("linux")), int(a.get("instances") or 1)
    cost = plan_monthly(ctx.prices, r.region, sku, linux, instances)
    return Detection(
        scenario="azure-app-service-plan-no-apps",
        confidence="HIGH" if age is not None else "MEDIUM",
        monthly_cost=cost if cost is not None else Decimal(0),
        evidence={
            "number_of_sites": 0,
            "sku": sku,
            "tier": a.get("tier"),
            "instances": instances,
            "os": "linux" if linux else "windows",
            "age_days": rounded(age),
            **({} if cost is not None else {"cost_unknown": f"no list price for {sku}"}),
            **ctx.prices.evidence(r.region, GROUP),
        },
    )


attach_fixtures(
    "azure-app-service-plan-no-apps",
    Fixtures(
        fires=res(
            APP_SERVICE_PLAN,
            arm("Microsoft.Web/serverfarms", "plan-empty"),
            60,
            sku="P1v3",
            tier="PremiumV3",
            instances=2,
            number_of_sites=0,
            linux=True,
        ),
        silent=res(
            APP_SERVICE_PLAN,
            arm("Microsoft.Web/serverfarms", "plan-free"),
            60,
            sku="F1",
            tier="Free",
            instances=1,
            number_of_sites=0,
            linux=False,
        ),
        now=NOW,
    ),
)
