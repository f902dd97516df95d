"""What an Azure account's bill says: Cost Management's query API, per subscription.

- Each finding's daily cost: one query per subscription (`POST /subscriptions/{id}/providers/
  Microsoft.CostManagement/query`), amortized cost, daily, grouped by ResourceId and filtered to the
  findings' resources of that subscription, paged by `nextLink`.
- The account's spend: one query per subscription, daily, not grouped, over this month and the two
  before, summed per month.

Sent through the management clients' own pipeline (`AzureConnection.send`): the same credential, retries on
429 (Cost Management sends Retry-After) and 5xx, and every call recorded as its RBAC action
(`Microsoft.CostManagement/query/read`, which the built-in Cost Management Reader role grants). A
subscription whose query fails leaves the others' costs; only when every one fails is the bill
unavailable. The API answers in the billing currency; rows in another currency than USD are left out
(the estimates are in USD) and said so.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from typing import Any

from cloudwaste.scanner.domain import BILLING_UNAVAILABLE, CostReport, Resource

SOURCE = "azure_cost_management"
API_VERSION = "2023-11-01"
COST_DAYS = 14
SPEND_MONTHS = 13  # this month and the twelve before, as for AWS
IDS_PER_QUERY = 200  # resource ids in one query's filter


def _subscription_of(resource_id: str) -> str:
    parts = resource_id.strip("/").split("/")
    return parts[1].lower() if len(parts) > 1 and parts[0].lower() == "subscriptions" else ""


def _rows(conn: Any, url: str, body: dict) -> Iterator[dict[str, Any]]:
    """The rows of a query, every page, as {column name: value}."""
    while url:
        props = conn.send("POST", url, body=body).get("properties") or {}
        names = [c.get("name") for c in props.get("columns") or []]
        for row in props.get("rows") or []:
            yield dict(zip(names, row, strict=False))
        url = props.get("nextLink") or ""


def _usage_date(value: Any) -> dt.date:
    text = str(int(value)) if isinstance(value, int | float) else str(value)
    return (
        dt.date(int(text[:4]), int(text[4:6]), int(text[6:8]))
        if text.isdigit()
        else dt.date.fromisoformat(text[:10])
    )


def _query(start: dt.date, end: dt.date, grouping: list | None = None, filter_: dict | None = None) -> dict:
    dataset: dict[str, Any] = {
        "granularity": "Daily",
        "aggregation": {"totalCost": {"name": "Cost", "function": "Sum"}},
    }
    if grouping:
        dataset["grouping"] = grouping
    if filter_:
        dataset["filter"] = filter_
    return {
        "type": "AmortizedCost",
        "timeframe": "Custom",
        "timePeriod": {
            "from": f"{start.isoformat()}T00:00:00Z",
            "to": f"{(end - dt.timedelta(days=1)).isoformat()}T23:59:59Z",
        },
        "dataset": dataset,
    }


def read_costs(
    conn: Any, subscriptions: Sequence[str], resources: Sequence[Resource], now: dt.datetime
) -> CostReport:
    today = now.astimezone(dt.UTC).date()
    start, end = today - dt.timedelta(days=COST_DAYS), today
    first = today.replace(day=1)
    for _ in range(SPEND_MONTHS - 1):
        first = (first - dt.timedelta(days=1)).replace(day=1)
    by_sub: dict[str, dict[str, str]] = {}
    for r in resources:
        by_sub.setdefault(_subscription_of(r.resource_id), {})[r.resource_id.lower()] = r.resource_id
    daily: dict[str, dict[dt.date, float]] = {}
    spend: dict[dt.date, float] = {}
    failed: list[str] = []
    unread: set[str] = set()
    other_currency = False
    read = 0
    for sub in subscriptions:
        url = f"/subscriptions/{sub}/providers/Microsoft.CostManagement/query?api-version={API_VERSION}"
        try:
            ids = by_sub.get(sub.lower(), {})
            wanted = sorted(ids)
            mine: dict[str, dict[dt.date, float]] = {}  # merged only once the whole subscription is read
            for at in range(0, len(wanted), IDS_PER_QUERY):
                body = _query(
                    start,
                    end,
                    [{"type": "Dimension", "name": "ResourceId"}],
                    {
                        "dimensions": {
                            "name": "ResourceId",
                            "operator": "In",
                            "values": wanted[at : at + IDS_PER_QUERY],
                        }
                    },
                )
                for row in _rows(conn, url, body):
                    if (row.get("Currency") or "USD") != "USD":
                        other_currency = True
                        continue
                    rid = ids.get(str(row.get("ResourceId", "")).lower())
                    if rid is not None:
                        day = _usage_date(row.get("UsageDate"))
                        days = mine.setdefault(rid, {})
                        days[day] = days.get(day, 0.0) + float(row.get("Cost") or 0.0)
            months: dict[dt.date, float] = {}
            for row in _rows(conn, url, _query(first, today + dt.timedelta(days=1))):
                if (row.get("Currency") or "USD") == "USD":
                    month = _usage_date(row.get("UsageDate")).replace(day=1)
                    months[month] = months.get(month, 0.0) + float(row.get("Cost") or 0.0)
            daily.update(mine)
            for month, amount in months.items():
                spend[month] = round(spend.get(month, 0.0) + amount, 4)
            read += 1
        except Exception as exc:  # one subscription's bill: the others go on; its own is unread
            from cloudwaste.scanner.providers.azure import describe_error

            failed.append(f"subscription {sub}: {describe_error(exc)}")
            unread.update(by_sub.get(sub.lower(), {}).values())
    notes = [f"Cost Management could not be read for {'; '.join(failed)}"] if failed else []
    if other_currency:
        notes.append("rows billed in another currency than USD were left out")
    if not read:
        report = CostReport.unavailable(BILLING_UNAVAILABLE, "; ".join(notes) or "no subscription was read")
        return report
    return CostReport(
        source=SOURCE,
        window_start=start,
        window_end=end,
        daily=daily,
        unread=frozenset(unread),
        monthly_spend=spend if not failed else {},  # a partial sum would read as a lower spend
        spend_source=SOURCE if not failed else "",
        note="; ".join(notes)[:500],
    )
