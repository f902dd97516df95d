"""The simulated AWS estate's bill: a CUR 2.0 export in moto's S3, and Cost Explorer answering from it.

Seeding records a `Charge` for every billed resource of the EC2 core (instances while running,
volumes, Elastic IPs, snapshots, NAT gateways, load balancers) at list price. The bill is not the
list price, so that a real cost can differ from the scanner's estimate the way it does in a real
account:

- every line gets the account's enterprise discount (`EDP_DISCOUNT`, an ``EdpDiscount`` line of its own);
- half of the running instances are covered by a Savings Plan (``SavingsPlanCoveredUsage``, whose
  effective cost is `SAVINGS_PLAN_RATE` of on-demand);
- a snapshot is billed for the blocks it stores (`SNAPSHOT_STORED_SHARE` of its volume's size), not
  its volume's size;
- a resource created during a day is billed from that hour (partial days and months);
- each day also has a ``Tax`` line without a resource, which is not any resource's cost.

`write_cur` writes the lines of the current and previous billing periods, one file a period, as
AWS Data Exports lays out a CUR 2.0 export: ``s3://BUCKET/PREFIX/data/BILLING_PERIOD=YYYY-MM/``.
`install` gives moto's Cost Explorer ``GetCostAndUsageWithResources`` (moto has none: the request and
response shapes of the API reference, daily, grouped by ``RESOURCE_ID``, paginated) and a
``GetCostAndUsage`` answering from the same ledger (by ``SERVICE`` or in total), so the two billing
paths of the scanner read the same bill.
"""

from __future__ import annotations

import io
import json
import threading
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

EDP_DISCOUNT = 0.06
SAVINGS_PLAN_RATE = 0.72
SNAPSHOT_STORED_SHARE = 0.6
TAX_RATE = 0.08  # of the net usage, on a Tax line a day
PAGE_GROUPS = 2000  # GetCostAndUsageWithResources groups per page
EXPORT_PREFIX = "cur/cloudwaste"
SERVICE_NAMES = {  # Cost Explorer's SERVICE dimension values
    "AmazonEC2": "Amazon Elastic Compute Cloud - Compute",
    "AWSELB": "Amazon Elastic Load Balancing",
}


def export_bucket(account_id: str) -> str:
    return f"cloudwaste-cur-{account_id}"


def export_uri(account_id: str) -> str:
    """Where the estate's CUR export is: an account's `cost_export_uri`."""
    return f"s3://{export_bucket(account_id)}/{EXPORT_PREFIX}"


@dataclass(frozen=True)
class Charge:
    """One resource billed by the hour from `start` until `end` (None: still billed)."""

    resource_id: str  # as the CUR names it: an id (i-..., vol-...) or an ARN
    product: str  # line_item_product_code
    usage_type: str
    region: str
    hourly: float  # list price, $/hour
    start: datetime
    end: datetime | None = None
    savings_plan: bool = False


_LEDGER: dict[str, list[Charge]] = {}
_LOCK = threading.Lock()


def record(account_id: str, charges: Sequence[Charge]) -> None:
    with _LOCK:
        _LEDGER.setdefault(account_id, []).extend(charges)


def ledger(account_id: str) -> list[Charge]:
    with _LOCK:
        return list(_LEDGER.get(account_id, ()))


def _days(first: date, end: date) -> Iterator[date]:
    d = first
    while d < end:
        yield d
        d += timedelta(days=1)


def lines(account_id: str, charges: Sequence[Charge], first: date, end: date) -> list[dict[str, Any]]:
    """The CUR lines of `charges` for the days [first, end): usage, its discount, a daily tax."""
    out: list[dict[str, Any]] = []
    for day in _days(first, end):
        lo = datetime.combine(day, time(), UTC)
        hi = lo + timedelta(days=1)
        taxable = 0.0
        for c in charges:
            start, stop = max(lo, c.start), min(hi, c.end or hi)
            hours = (stop - start).total_seconds() / 3600
            if hours <= 0:
                continue
            on_demand = round(c.hourly * hours, 8)
            effective = round(on_demand * SAVINGS_PLAN_RATE, 8) if c.savings_plan else on_demand
            base = {
                "bill_billing_period_start_date": datetime(day.year, day.month, 1, tzinfo=UTC),
                "line_item_usage_account_id": account_id,
                "line_item_usage_start_date": lo,
                "line_item_usage_end_date": hi,
                "line_item_resource_id": c.resource_id,
                "line_item_product_code": c.product,
                "line_item_usage_type": c.usage_type,
                "product_region_code": c.region,
                "line_item_currency_code": "USD",
            }
            out.append(
                base
                | {
                    "line_item_line_item_type": "SavingsPlanCoveredUsage" if c.savings_plan else "Usage",
                    "line_item_unblended_cost": on_demand,
                    "savings_plan_savings_plan_effective_cost": effective if c.savings_plan else None,
                }
            )
            out.append(
                base
                | {
                    "line_item_line_item_type": "EdpDiscount",
                    "line_item_unblended_cost": -round(effective * EDP_DISCOUNT, 8),
                    "savings_plan_savings_plan_effective_cost": None,
                }
            )
            taxable += effective * (1 - EDP_DISCOUNT)
        if taxable:
            out.append(
                {
                    "bill_billing_period_start_date": datetime(day.year, day.month, 1, tzinfo=UTC),
                    "line_item_usage_account_id": account_id,
                    "line_item_usage_start_date": lo,
                    "line_item_usage_end_date": hi,
                    "line_item_resource_id": "",
                    "line_item_product_code": "AmazonEC2",
                    "line_item_usage_type": "Tax",
                    "product_region_code": "",
                    "line_item_currency_code": "USD",
                    "line_item_line_item_type": "Tax",
                    "line_item_unblended_cost": round(taxable * TAX_RATE, 8),
                    "savings_plan_savings_plan_effective_cost": None,
                }
            )
    return out


def net_cost(line: dict[str, Any]) -> float:
    """What the account pays for a line (net amortized); 0 for tax."""
    kind = line["line_item_line_item_type"]
    if kind == "Tax":
        return 0.0
    if kind == "SavingsPlanCoveredUsage":
        return line["savings_plan_savings_plan_effective_cost"]
    return line["line_item_unblended_cost"]


def write_cur(s3: Any, account_id: str, now: datetime, region: str = "us-east-1") -> int:
    """Writes the account's CUR 2.0 export (the current and previous billing periods, up to the
    start of today) into a bucket of `region`, with `s3` a client of the account; returns the
    number of lines."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    today = now.astimezone(UTC).date()
    this_month = today.replace(day=1)
    previous = (this_month - timedelta(days=1)).replace(day=1)
    bucket = export_bucket(account_id)
    if region == "us-east-1":
        s3.create_bucket(Bucket=bucket)
    else:
        s3.create_bucket(Bucket=bucket, CreateBucketConfiguration={"LocationConstraint": region})
    charges = ledger(account_id)
    written = 0
    for period, end in ((previous, this_month), (this_month, today)):
        rows = lines(account_id, charges, period, end)
        if not rows:
            continue
        table = pa.Table.from_pylist(rows, schema=_schema())
        sink = io.BytesIO()
        pq.write_table(table, sink, compression="snappy", row_group_size=50_000)
        key = f"{EXPORT_PREFIX}/data/BILLING_PERIOD={period:%Y-%m}/cloudwaste-00001.snappy.parquet"
        s3.put_object(Bucket=bucket, Key=key, Body=sink.getvalue())
        written += len(rows)
    return written


def _schema():
    import pyarrow as pa

    ts = pa.timestamp("ms", tz="UTC")
    return pa.schema(
        [
            ("bill_billing_period_start_date", ts),
            ("line_item_usage_account_id", pa.string()),
            ("line_item_line_item_type", pa.string()),
            ("line_item_usage_start_date", ts),
            ("line_item_usage_end_date", ts),
            ("line_item_resource_id", pa.string()),
            ("line_item_product_code", pa.string()),
            ("line_item_usage_type", pa.string()),
            ("product_region_code", pa.string()),
            ("line_item_currency_code", pa.string()),
            ("line_item_unblended_cost", pa.float64()),
            ("savings_plan_savings_plan_effective_cost", pa.float64()),
        ]
    )


# --- Cost Explorer ---------------------------------------------------------------------------------
def _amount(value: float) -> dict[str, str]:
    return {"Amount": f"{value:.10f}", "Unit": "USD"}


def _period(request: dict[str, Any]) -> tuple[date, date]:
    tp = request.get("TimePeriod") or {}
    return date.fromisoformat(tp["Start"]), date.fromisoformat(tp["End"])


def _error(code: str, message: str) -> tuple[int, dict[str, str], str]:
    return 400, {"x-amzn-ErrorType": code}, json.dumps({"__type": code, "message": message})


def cost_and_usage_with_resources(account_id: str, request: dict[str, Any], today: date) -> Any:
    """GetCostAndUsageWithResources over the ledger: daily NetAmortizedCost (or UnblendedCost) by
    RESOURCE_ID; the window must lie within the last 14 days, as AWS requires."""
    if not request.get("Filter"):
        return _error("ValidationException", "Filter is required")
    if [g.get("Key") for g in request.get("GroupBy") or []] != ["RESOURCE_ID"]:
        return _error("ValidationException", "group by RESOURCE_ID (this simulator serves nothing else)")
    start, end = _period(request)
    if start < today - timedelta(days=14) or end > today + timedelta(days=1) or start >= end:
        return _error("ValidationException", "the time period must be within the last 14 days")
    accounts = ((request["Filter"].get("Dimensions") or {}).get("Values")) or [account_id]
    metric = (request.get("Metrics") or ["NetAmortizedCost"])[0]
    flat: list[tuple[date, str, float]] = []
    for account in accounts:
        per: dict[tuple[date, str], float] = {}
        for line in lines(account, ledger(account), start, end):
            if not line["line_item_resource_id"]:
                continue
            day = line["line_item_usage_start_date"].date()
            cost = net_cost(line) if metric.startswith("Net") else max(line["line_item_unblended_cost"], 0.0)
            per[(day, line["line_item_resource_id"])] = (
                per.get((day, line["line_item_resource_id"]), 0.0) + cost
            )
        flat.extend((d, rid, v) for (d, rid), v in per.items())
    flat.sort()
    offset = int(request.get("NextPageToken") or 0)
    page = flat[offset : offset + PAGE_GROUPS]
    by_day: dict[date, list[dict[str, Any]]] = {}
    for day, rid, value in page:
        by_day.setdefault(day, []).append({"Keys": [rid], "Metrics": {metric: _amount(value)}})
    body: dict[str, Any] = {
        "GroupDefinitions": [{"Type": "DIMENSION", "Key": "RESOURCE_ID"}],
        "ResultsByTime": [
            {
                "TimePeriod": {"Start": day.isoformat(), "End": (day + timedelta(days=1)).isoformat()},
                "Total": {},
                "Groups": groups,
                "Estimated": day >= today - timedelta(days=1),
            }
            for day, groups in sorted(by_day.items())
        ],
        "DimensionValueAttributes": [],
    }
    if offset + PAGE_GROUPS < len(flat):
        body["NextPageToken"] = str(offset + PAGE_GROUPS)
    return body


def _periods(first: date, end: date, monthly: bool) -> Iterator[tuple[date, date]]:
    """[start, stop) of each month (or day) from `first` to `end`, clipped to them."""
    key = first.replace(day=1) if monthly else first
    while key < end:
        stop = (
            (key.replace(day=28) + timedelta(days=4)).replace(day=1) if monthly else key + timedelta(days=1)
        )
        yield max(key, first), min(stop, end)
        key = stop


def _costs(charges: Sequence[Charge], first: date, end: date, monthly: bool) -> dict[date, dict[str, float]]:
    """{period start: {service: net amortized cost}} of `charges` over [first, end), the sums of the
    CUR lines `lines` writes (usage net of the enterprise discount, tax apart), computed per period
    from each charge's billed hours: 13 months of a large estate without building its daily lines."""
    out: dict[date, dict[str, float]] = {}
    for lo_day, hi_day in _periods(first, end, monthly):
        lo, hi = datetime.combine(lo_day, time(), UTC), datetime.combine(hi_day, time(), UTC)
        by_service: dict[str, float] = {}
        for c in charges:
            hours = (min(hi, c.end or hi) - max(lo, c.start)).total_seconds() / 3600
            if hours <= 0:
                continue
            effective = c.hourly * hours * (SAVINGS_PLAN_RATE if c.savings_plan else 1.0)
            service = SERVICE_NAMES.get(c.product, c.product)
            by_service[service] = by_service.get(service, 0.0) + effective * (1 - EDP_DISCOUNT)
            by_service["Tax"] = by_service.get("Tax", 0.0) + effective * (1 - EDP_DISCOUNT) * TAX_RATE
        if by_service:
            out[lo_day.replace(day=1) if monthly else lo_day] = by_service
    return out


def cost_and_usage(account_id: str, request: dict[str, Any], today: date) -> dict[str, Any]:
    """GetCostAndUsage over the ledger, MONTHLY (or DAILY), in total or grouped by SERVICE."""
    start, end = _period(request)
    end = min(end, today)
    metric = (request.get("Metrics") or ["NetAmortizedCost"])[0]
    monthly = request.get("Granularity", "MONTHLY") == "MONTHLY"
    grouped = [g.get("Key") for g in request.get("GroupBy") or []] == ["SERVICE"]
    periods = _costs(ledger(account_id), start, end, monthly) if start < end else {}
    results = []
    for key, by_service in sorted(periods.items()):
        stop = (
            (key.replace(day=28) + timedelta(days=4)).replace(day=1) if monthly else key + timedelta(days=1)
        )
        results.append(
            {
                "TimePeriod": {"Start": max(key, start).isoformat(), "End": min(stop, end).isoformat()},
                "Total": {} if grouped else {metric: _amount(sum(by_service.values()))},
                "Groups": [
                    {"Keys": [s], "Metrics": {metric: _amount(v)}} for s, v in sorted(by_service.items())
                ]
                if grouped
                else [],
                "Estimated": stop > today,
            }
        )
    return {
        "ResultsByTime": results,
        "DimensionValueAttributes": [],
        "GroupDefinitions": request.get("GroupBy", []),
    }


_installed = False


def install() -> None:
    """Gives moto's Cost Explorer the two calls above (idempotent; before moto serves a request)."""
    global _installed
    if _installed:
        return
    from moto.ce.responses import CostExplorerResponse

    def today() -> date:
        return datetime.now(UTC).date()

    def with_resources(self: Any) -> Any:
        return _respond(cost_and_usage_with_resources(self.current_account, json.loads(self.body), today()))

    def plain(self: Any) -> Any:
        return _respond(cost_and_usage(self.current_account, json.loads(self.body), today()))

    CostExplorerResponse.get_cost_and_usage_with_resources = with_resources
    CostExplorerResponse.get_cost_and_usage = plain
    _installed = True


def _respond(answer: Any) -> Any:
    if isinstance(answer, tuple):
        return answer
    return json.dumps(answer)
