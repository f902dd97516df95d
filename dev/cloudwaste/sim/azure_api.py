"""A local Azure Resource Manager endpoint: the REST shapes of the management APIs the scanner
reads (published in Azure/azure-rest-api-specs; see tests/fixtures/azure/README.md), served from an
in-memory estate of subscriptions, for the real azure-mgmt-* clients.

What it does like ARM: `api-version` is required; lists page by `nextLink` (an absolute URL with a
`$skiptoken`); errors are `{"error": {"code", "message"}}`; an unknown subscription is 404
SubscriptionNotFound; `statusOnly=true` on a VM listing adds each VM's instance view; Azure Monitor
answers `Metrics_List` (one resource) and `Metrics_ListAtSubscriptionScope` (every resource of a
namespace in a region, a series per resource tagged with `Microsoft.ResourceId`). Tokens come from
the client-credentials grant at `/<directory>/oauth2/v2.0/token`, checked against registered
service principals. Faults (429 with Retry-After, a failing subscription) are injected per path.
"""

from __future__ import annotations

import copy
import datetime as dt
import json
import re
import urllib.parse
from dataclasses import dataclass, field
from typing import Any

from .httpapi import ApiError, Fault, LocalApi, Response, paged

__all__ = ["AzureApi", "Fault", "Subscription", "arm_type"]

PAGE_SIZE = 100
_TOKEN_PATH = re.compile(r"^/([0-9a-f-]{36})/oauth2/v2\.0/token$")
_METRICS = "/providers/microsoft.insights/metrics"
_COST_QUERY = "providers/microsoft.costmanagement/query"


@dataclass
class Subscription:
    subscription_id: str
    display_name: str = "Simulated subscription"
    state: str = "Enabled"
    # ARM type, lower case ("microsoft.compute/disks") -> resource id, lower case -> body
    resources: dict[str, dict[str, dict]] = field(default_factory=dict)
    # resource group name, lower case -> body
    resource_groups: dict[str, dict] = field(default_factory=dict)


def arm_type(resource_id: str) -> str:
    """The ARM type of a resource id, lower case: .../providers/Microsoft.Compute/disks/d1 ->
    microsoft.compute/disks (nested types joined: microsoft.network/loadbalancers/...)."""
    parts = resource_id.strip("/").split("/")
    lowered = [p.lower() for p in parts]
    at = len(lowered) - 1 - lowered[::-1].index("providers")
    rest = parts[at + 1 :]
    return "/".join([rest[0], *rest[1::2]]).lower()


class AzureApi(LocalApi):
    name = "azure"

    def __init__(self, page_size: int = PAGE_SIZE) -> None:
        super().__init__()
        self.page_size = page_size
        self.subscriptions: dict[str, Subscription] = {}
        self.principals: dict[tuple[str, str], str] = {}  # (directory, client id) -> secret
        # (resource id lower, metric name, aggregation or None) -> {day (date): value}
        self.metrics: dict[tuple[str, str, str | None], dict[dt.date, float]] = {}
        self._cost_pages: dict[tuple[str, str], tuple[list, list]] = {}  # Cost Management answers being paged

    # -- the estate ----------------------------------------------------------------------------

    def add_principal(self, directory_id: str, client_id: str, secret: str) -> None:
        self.principals[(directory_id.lower(), client_id.lower())] = secret

    def subscription(self, subscription_id: str, display_name: str = "") -> Subscription:
        with self.lock:
            sub = self.subscriptions.get(subscription_id.lower())
            if sub is None:
                sub = Subscription(subscription_id.lower(), display_name or "Simulated subscription")
                self.subscriptions[sub.subscription_id] = sub
            return sub

    def put(self, body: dict) -> dict:
        """Adds (or replaces) a resource: `body` is its ARM JSON with at least `id`; `name` and
        `type` are derived from the id when absent. Its resource group is created if needed."""
        rid = body["id"]
        parts = rid.strip("/").split("/")
        sub = self.subscription(parts[1])
        body.setdefault("name", parts[-1])
        body.setdefault("type", "/".join(p for p in _type_parts(rid)))
        kind = body["type"].lower()  # what ARM lists it as (a published id may misspell its type)
        with self.lock:
            sub.resources.setdefault(kind, {})[rid.lower()] = body
            if len(parts) > 3 and parts[2].lower() == "resourcegroups":
                self.resource_group(sub.subscription_id, parts[3], body.get("location", "eastus"))
        return body

    def resource_group(self, subscription_id: str, name: str, location: str = "eastus") -> dict:
        sub = self.subscription(subscription_id)
        with self.lock:
            found = sub.resource_groups.get(name.lower())
            if found is None:
                found = {
                    "id": f"/subscriptions/{sub.subscription_id}/resourceGroups/{name}",
                    "name": name,
                    "type": "Microsoft.Resources/resourceGroups",
                    "location": location,
                    "properties": {"provisioningState": "Succeeded"},
                }
                sub.resource_groups[name.lower()] = found
            return found

    def delete(self, resource_id: str) -> bool:
        """Deletes a resource, or a resource group with everything in it (as ARM does)."""
        parts = resource_id.strip("/").lower().split("/")
        sub = self.subscriptions.get(parts[1]) if len(parts) > 1 else None
        if sub is None:
            return False
        if len(parts) == 4 and parts[2] == "resourcegroups":
            with self.lock:
                if sub.resource_groups.pop(parts[3], None) is None:
                    return False
                prefix = f"/subscriptions/{parts[1]}/resourcegroups/{parts[3]}/"
                for resources in sub.resources.values():
                    for rid in [r for r in resources if r.startswith(prefix)]:
                        del resources[rid]
                return True
        with self.lock:
            for resources in sub.resources.values():
                if resources.pop(resource_id.lower(), None) is not None:
                    return True
            return False

    def delete_resource(self, resource_id: str) -> bool:
        return self.delete(resource_id)

    def get(self, resource_id: str) -> dict | None:
        sub = self.subscriptions.get(resource_id.strip("/").split("/")[1].lower())
        if sub is None:
            return None
        found = sub.resources.get(arm_type(resource_id), {}).get(resource_id.lower())
        if found is None:
            found = next((r[resource_id.lower()] for r in sub.resources.values() if resource_id.lower() in r), None)
        return found

    def put_metric(
        self, resource_id: str, metric: str, daily: dict[dt.date, float], aggregation: str | None = None
    ) -> None:
        """A daily series; `aggregation` ("maximum"...): served only to that aggregation (a day's
        peak is not its average), None: to any."""
        key = (resource_id.lower(), metric, aggregation.lower() if aggregation else None)
        with self.lock:
            self.metrics.setdefault(key, {}).update(daily)

    # -- HTTP ----------------------------------------------------------------------------------

    def error_body(self, status: int, code: str, message: str) -> dict:
        return {"error": {"code": code, "message": message}}

    def token(self, path: str, raw: bytes) -> Response | None:
        m = _TOKEN_PATH.match(path)
        if m is None:
            return None
        form = {k: v[-1] for k, v in urllib.parse.parse_qs(raw.decode()).items()}
        key = (m.group(1).lower(), form.get("client_id", "").lower())
        if form.get("grant_type") != "client_credentials" or self.principals.get(key) != form.get(
            "client_secret"
        ):
            return Response(
                401,
                {"error": "invalid_client", "error_description": "AADSTS7000215: Invalid client secret provided."},
            )
        return Response(200, {"token_type": "Bearer", "expires_in": 3599, "access_token": self.issue_token()})

    def route(self, method: str, path: str, query: dict[str, str], body: Any) -> Response:
        if "api-version" not in query:
            raise ApiError(400, "MissingApiVersionParameter", "The api-version query parameter is required.")
        parts = [urllib.parse.unquote(p) for p in path.strip("/").split("/")]
        lowered = [p.lower() for p in parts]
        if lowered == ["subscriptions"]:
            subs = [
                {
                    "id": f"/subscriptions/{s.subscription_id}",
                    "subscriptionId": s.subscription_id,
                    "displayName": s.display_name,
                    "state": s.state,
                }
                for s in sorted(self.subscriptions.values(), key=lambda s: s.subscription_id)
            ]
            return self._page(path, query, subs)
        if lowered[0] != "subscriptions" or len(parts) < 2:
            raise ApiError(404, "NotFound", f"no route for {path}")
        sub = self.subscriptions.get(lowered[1])
        if sub is None:
            raise ApiError(404, "SubscriptionNotFound", f"The subscription '{parts[1]}' could not be found.")
        path_lower = "/".join(lowered)
        if path_lower.endswith(_COST_QUERY):
            if method != "POST":
                raise ApiError(405, "MethodNotAllowed", "the query is a POST")
            return self._cost_query(sub, path, query, body or {})
        if path_lower.endswith(_METRICS.strip("/")):
            return self._metrics(sub, parts, query)
        rest = lowered[2:]
        if rest == ["resourcegroups"]:
            return self._page(path, query, sorted(sub.resource_groups.values(), key=lambda g: g["name"]))
        if rest == ["resources"]:
            generic = [
                {k: r[k] for k in ("id", "name", "type", "location", "tags") if k in r}
                for kind in sorted(sub.resources)
                for r in sub.resources[kind].values()
            ]
            return self._page(path, query, generic)
        group = None
        if rest[:1] == ["resourcegroups"] and len(rest) >= 5 and rest[2] == "providers":
            group, rest = rest[1], rest[2:]
        if rest[:1] == ["providers"] and len(rest) == 3:
            kind = f"{rest[1]}/{rest[2]}"
            items = list(sub.resources.get(kind, {}).values())
            if group is not None:
                items = [r for r in items if f"/resourcegroups/{group}/" in r["id"].lower()]
            items = sorted(items, key=lambda r: r["id"].lower())
            if kind == "microsoft.compute/virtualmachines" and query.get("statusOnly", "").lower() != "true":
                items = [_without_instance_view(r) for r in items]
            return self._page(path, query, items)
        raise ApiError(404, "NotFound", f"no route for {path}")

    def _cost_query(self, sub: Subscription, path: str, query: dict[str, str], body: dict) -> Response:
        """Cost Management's Query_Usage on a subscription: Daily rows of the amortized cost
        (Cost, UsageDate as YYYYMMDD, [ResourceId,] Currency), grouped by ResourceId or not,
        filtered by `ResourceId In [...]`, paged by `nextLink` (a `$skiptoken`). The bill is
        `monthly_list_cost` less the negotiated discount, from each resource's creation."""
        key = (sub.subscription_id, json.dumps(body, sort_keys=True))
        start = int(query.get("$skiptoken") or 0)
        cached = self._cost_pages.get(key) if start else None  # the next pages of one query: computed once
        if cached is None:
            cached = self._cost_rows(sub, body)
            if len(self._cost_pages) > 32:
                self._cost_pages.clear()
            self._cost_pages[key] = cached
        columns, rows = cached
        page, nxt = paged(rows, start, self.page_size * 10)  # query pages are larger than listings'
        props: dict[str, Any] = {"columns": columns, "rows": page, "nextLink": None}
        if nxt is not None:
            props["nextLink"] = self.page_url(path, query, **{"$skiptoken": str(nxt)})
        return Response(
            200,
            {"id": f"/subscriptions/{sub.subscription_id}/query", "type": "Microsoft.CostManagement/query", "properties": props},
        )

    def _cost_rows(self, sub: Subscription, body: dict) -> tuple[list, list]:
        dataset = body.get("dataset") or {}
        if dataset.get("granularity") != "Daily":
            raise ApiError(400, "BadRequest", "the local endpoint serves Daily granularity only")
        period = body.get("timePeriod") or {}
        try:
            first = _parse_time(period["from"]).date()
            last = _parse_time(period["to"]).date()
        except (KeyError, ValueError):
            raise ApiError(400, "BadRequest", "timePeriod.from and timePeriod.to are required") from None
        grouped = [g.get("name") for g in dataset.get("grouping") or []] == ["ResourceId"]
        wanted = None
        dims = (dataset.get("filter") or {}).get("dimensions") or {}
        if dims.get("name") == "ResourceId":
            wanted = {v.lower() for v in dims.get("values") or []}
        now = dt.datetime.now(dt.UTC)
        totals: dict[tuple[dt.date, str], float] = {}
        with self.lock:
            bodies = [r for kind in sub.resources.values() for r in kind.values()]
        for resource in bodies:
            rid = resource["id"].lower()
            monthly = monthly_list_cost(resource)
            if monthly is None or (wanted is not None and rid not in wanted):
                continue
            created = _created(resource, now)
            day = max(first, created.date())
            while day <= min(last, now.date() - dt.timedelta(days=1)):
                lo = dt.datetime.combine(day, dt.time(), dt.UTC)
                hours = (lo + dt.timedelta(days=1) - max(lo, created)).total_seconds() / 3600
                key = (day, rid if grouped else "")
                totals[key] = totals.get(key, 0.0) + monthly / 730 * hours * (1 - NEGOTIATED_DISCOUNT)
                day += dt.timedelta(days=1)
        columns = [{"name": "Cost", "type": "Number"}, {"name": "UsageDate", "type": "Number"}]
        if grouped:
            columns.append({"name": "ResourceId", "type": "String"})
        columns.append({"name": "Currency", "type": "String"})
        rows = [
            [round(v, 8), int(d.strftime("%Y%m%d")), *([rid] if grouped else []), "USD"]
            for (d, rid), v in sorted(totals.items())
        ]
        return columns, rows

    def _page(self, path: str, query: dict[str, str], items: list) -> Response:
        start = int(query.get("$skiptoken") or 0)
        page, nxt = paged(items, start, self.page_size)
        body: dict[str, Any] = {"value": copy.deepcopy(page)}
        if nxt is not None:
            body["nextLink"] = self.page_url(path, query, **{"$skiptoken": str(nxt)})
        return Response(200, body)

    def _metrics(self, sub: Subscription, parts: list[str], query: dict[str, str]) -> Response:
        """Metrics_List (on one resource) or Metrics_ListAtSubscriptionScope (every resource of
        `metricnamespace` in `region`), daily (interval P1D) or hourly (PT1H) over `timespan`. The
        estate holds one value a day: hourly, it is the day's first hour, the other hours are
        points without a value (as Azure Monitor answers a time grain with no data)."""
        interval = query.get("interval", "P1D").upper()
        if interval not in ("P1D", "PT1H"):
            raise ApiError(400, "BadRequest", "the local endpoint serves daily (P1D) and hourly (PT1H) metrics only")
        start, end = (_parse_time(t) for t in query["timespan"].split("/"))
        names = [n for n in query.get("metricnames", "").split(",") if n]
        aggregation = (query.get("aggregation") or "average").split(",")[0].lower()
        if len(parts) == 5:  # /subscriptions/{s}/providers/microsoft.insights/metrics
            namespace = query.get("metricnamespace", "").lower()
            region = query.get("region", "").lower()
            if not namespace or not region:
                raise ApiError(400, "BadRequest", "region and metricnamespace are required at subscription scope")
            targets = [
                r["id"]
                for r in sub.resources.get(namespace, {}).values()
                if r.get("location", "").lower() == region
            ]
        else:
            targets = ["/" + "/".join(parts[:-3])]
        days = [start.date() + dt.timedelta(days=i) for i in range((end.date() - start.date()).days)]
        value = []
        for name in names:
            series = []
            for rid in sorted(targets, key=str.lower):
                points = self.metrics.get((rid.lower(), name, aggregation))
                if points is None:
                    points = self.metrics.get((rid.lower(), name, None))
                if points is None:
                    continue
                if interval == "PT1H":
                    hours = int((end - start).total_seconds() // 3600)
                    stamps = [start + dt.timedelta(hours=h) for h in range(hours)]
                    data = [
                        {"timeStamp": t.strftime("%Y-%m-%dT%H:%M:%SZ"), aggregation: points[t.date()]}
                        if t.hour == 0 and t.date() in points
                        else {"timeStamp": t.strftime("%Y-%m-%dT%H:%M:%SZ")}
                        for t in stamps
                    ]
                else:
                    data = [
                        {"timeStamp": f"{d.isoformat()}T00:00:00Z", aggregation: points[d]} if d in points
                        else {"timeStamp": f"{d.isoformat()}T00:00:00Z"}
                        for d in days
                    ]
                series.append(
                    {
                        "metadatavalues": [
                            {"name": {"value": "Microsoft.ResourceId", "localizedValue": "Microsoft.ResourceId"},
                             "value": rid}
                        ],
                        "data": data,
                    }
                )
            value.append(
                {
                    "id": f"/subscriptions/{sub.subscription_id}/providers/Microsoft.Insights/metrics/{name}",
                    "type": "Microsoft.Insights/metrics",
                    "name": {"value": name, "localizedValue": name},
                    "unit": "Unspecified",
                    "timeseries": series,
                }
            )
        return Response(
            200,
            {
                "cost": len(names) * max(1, len(targets)),
                "timespan": query["timespan"],
                "interval": interval,
                "value": value,
                "namespace": query.get("metricnamespace", ""),
                "resourceregion": query.get("region", ""),
            },
        )


# The simulated bill: list prices ($/month) of what the estate holds, less a negotiated discount.
NEGOTIATED_DISCOUNT = 0.10
_DISK_GB_MONTH = {
    "premium_lrs": 0.135,
    "premiumv2_lrs": 0.12,
    "standardssd_lrs": 0.075,
    "standard_lrs": 0.045,
}
_VM_MONTH = {
    "standard_b2s": 30.37,
    "standard_d2s_v5": 70.08,
    "standard_d4s_v5": 140.16,
    "standard_e4s_v5": 183.96,
}


def monthly_list_cost(resource: dict) -> float | None:
    """What a resource of the simulated estate costs a month at list price; None: not billed here
    (a deallocated VM's compute, and the types this bill does not cover)."""
    kind = arm_type(resource["id"])
    props = resource.get("properties") or {}
    sku = str((resource.get("sku") or {}).get("name", "")).lower()
    if kind == "microsoft.compute/disks":
        return float(props.get("diskSizeGB") or 0) * _DISK_GB_MONTH.get(sku, 0.075)
    if kind == "microsoft.compute/snapshots":
        return float(props.get("diskSizeGB") or 0) * 0.05
    if kind == "microsoft.network/publicipaddresses":
        return 3.65 if sku == "standard" else 2.63
    if kind == "microsoft.network/natgateways":
        return 0.045 * 730
    if kind == "microsoft.compute/virtualmachines":
        statuses = ((props.get("instanceView") or {}).get("statuses")) or []
        if not any(st.get("code") == "PowerState/running" for st in statuses):
            return None
        size = str((props.get("hardwareProfile") or {}).get("vmSize", "")).lower()
        return _VM_MONTH.get(size, 70.08)
    return None


def _created(resource: dict, now: dt.datetime) -> dt.datetime:
    stamp = (resource.get("properties") or {}).get("timeCreated")
    return _parse_time(stamp) if stamp else now - dt.timedelta(days=60)


def _type_parts(resource_id: str) -> list[str]:
    parts = resource_id.strip("/").split("/")
    lowered = [p.lower() for p in parts]
    at = len(lowered) - 1 - lowered[::-1].index("providers")
    rest = parts[at + 1 :]
    return [rest[0], *rest[1::2]]


def _without_instance_view(vm: dict) -> dict:
    vm = copy.deepcopy(vm)
    vm.get("properties", {}).pop("instanceView", None)
    return vm


def _parse_time(text: str) -> dt.datetime:
    value = dt.datetime.fromisoformat(text.replace("Z", "+00:00"))
    return value if value.tzinfo else value.replace(tzinfo=dt.UTC)
