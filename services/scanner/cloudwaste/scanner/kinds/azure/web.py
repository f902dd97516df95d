"""Azure App Service kinds (Microsoft.Web): App Service plans."""

from __future__ import annotations

import datetime as dt

from azure.mgmt.web import WebSiteManagementClient
from cloudwaste.scanner.domain import Resource
from cloudwaste.scanner.kinds import kind
from cloudwaste.scanner.kinds.azure._common import PROVIDER, Deps, aware, enum, resource

APP_SERVICE_PLAN = "azure.web.app_service_plan"


@kind(
    key=APP_SERVICE_PLAN,
    provider=PROVIDER,
    title="App Service plan",
    operations=("Microsoft.Web/serverfarms/read",),
    id_field="id",
    name_field="name",
    created_field="system_data.created_at",
    ml_config={"sku": str, "tier": str, "instances": int, "sites": int, "linux": bool, "elastic": bool},
)
def list_app_service_plans(conn, subscription: str, now: dt.datetime, deps: Deps) -> list[Resource]:
    """App Service plans of the subscription (AppServicePlans_List): SKU (name, tier, size,
    instance count `capacity`), how many apps it hosts (`numberOfSites`), workers, OS (`reserved`:
    Linux), elastic scale (Functions Premium), status, and when it was created when ARM says so
    (`systemData.createdAt`; None otherwise)."""
    out = []
    for plan in conn.client(WebSiteManagementClient, subscription).app_service_plans.list():
        sku = plan.sku
        name, tier = (sku.name, sku.tier) if sku else (None, None)
        capacity = sku.capacity if sku and sku.capacity is not None else plan.number_of_workers
        instances = max(1, int(capacity or 1))
        sites = int(plan.number_of_sites or 0)
        linux = bool(plan.reserved)
        elastic = bool(plan.elastic_scale_enabled)
        system = plan.system_data
        out.append(
            resource(
                APP_SERVICE_PLAN,
                plan,
                created_at=aware(system.created_at) if system is not None else None,
                attributes={
                    "sku": name,
                    "tier": tier,
                    "size": sku.size if sku else None,
                    "family": sku.family if sku else None,
                    "instances": instances,
                    "number_of_sites": sites,
                    "number_of_workers": plan.number_of_workers,
                    "linux": linux,
                    "elastic": elastic,
                    "kind": plan.kind,
                    "status": enum(plan.status),
                    "hosting_environment": bool(plan.hosting_environment_profile),
                    "provisioning_state": enum(plan.provisioning_state),
                },
                config={
                    "sku": name or "",
                    "tier": tier or "",
                    "instances": instances,
                    "sites": sites,
                    "linux": linux,
                    "elastic": elastic,
                },
            )
        )
    return out
