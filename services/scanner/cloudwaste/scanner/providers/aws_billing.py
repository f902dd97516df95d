"""What an AWS account's bill says: each finding's real daily cost, and the account's monthly spend.

- **The Cost and Usage Report** (CUR 2.0, an AWS Data Exports export), when the account names it
  (`cost_export_uri`, s3://BUCKET/PREFIX/EXPORT_NAME): the Parquet files of the billing periods
  the window touches (`data/BILLING_PERIOD=YYYY-MM/`), read with pyarrow, only the columns needed,
  batch by batch, keeping the lines of the findings' resources. Every service is in it and reading
  it costs nothing per query.
- **Cost Explorer's resource-level data** otherwise (`GetCostAndUsageWithResources`: daily, the
  last 14 days at most, opt-in in the account's Cost Explorer settings, $0.01 a request): one
  query for the whole account, grouped by resource id, paginated, kept for the day so that
  another scan of the account that day asks nothing.
- **The account's spend**: `GetCostAndUsage`, monthly, grouped by service, this month (to date)
  and the twelve before (one request: enough for a forecast from the first scan); kept for the day too.

A line's cost is what the account pays for it: the net amortized cost, i.e. the effective cost of
usage covered by a Savings Plan or a reservation, the on-demand cost of the rest, and the
discounts (EDP, bundled, private rates) given on it. Tax, credits, refunds and the plans' own fees
are not a resource's cost and are left out. Every call goes through the session's clients, so it
is recorded (`providers.record_call`): the calls to Cost Explorer are counted in
`cloudwaste_scanner_provider_api_calls_total`.
"""

from __future__ import annotations

import datetime as dt
import re
import shutil
import tempfile
import threading
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
from botocore.exceptions import BotoCoreError, ClientError
from cloudwaste.core.errors import InvalidArgument
from cloudwaste.scanner.domain import BILLING_UNAVAILABLE, CostReport, Resource
from cloudwaste.scanner.metrics import BILLING_READS

COST_DAYS = 14  # the window of daily costs: Cost Explorer's resource-level data goes back 14 days
SPEND_MONTHS = 13  # this month and the twelve before: what Cost Explorer keeps by default
CUR = "aws_cur"
COST_EXPLORER = "aws_cost_explorer"
OPERATIONS = ("ce:GetCostAndUsage", "ce:GetCostAndUsageWithResources", "s3:GetObject", "s3:ListBucket")
EXPORT_URI = re.compile(r"^s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/((?:[\w!.*'()-]+/)*[\w!.*'()-]+)/?$")

# CUR line item types that are part of a resource's cost, and the column holding their cost.
_EFFECTIVE_COST = {
    "Usage": "line_item_unblended_cost",
    "SavingsPlanCoveredUsage": "savings_plan_savings_plan_effective_cost",
    "DiscountedUsage": "reservation_effective_cost",
    "EdpDiscount": "line_item_unblended_cost",
    "BundledDiscount": "line_item_unblended_cost",
    "PrivateRateDiscount": "line_item_unblended_cost",
    "DistributorDiscount": "line_item_unblended_cost",
    "Discount": "line_item_unblended_cost",
}
CUR_COLUMNS = (
    "line_item_resource_id",
    "line_item_line_item_type",
    "line_item_usage_start_date",
    *sorted(set(_EFFECTIVE_COST.values())),
)
_BATCH_ROWS = 65536


def validate_export_uri(value: str, field: str) -> str:
    """An account's CUR export location, normalized (no trailing slash); "" stays ""."""
    if not value:
        return ""
    if not EXPORT_URI.match(value):
        raise InvalidArgument(
            field, "must look like s3://BUCKET/PREFIX/EXPORT_NAME (the CUR 2.0 export's path)"
        )
    return value.rstrip("/")


def window(now: dt.datetime) -> tuple[dt.date, dt.date]:
    """The COST_DAYS whole days before today (UTC): [start, end)."""
    end = now.astimezone(dt.UTC).date()
    return end - dt.timedelta(days=COST_DAYS), end


def billing_keys(resources: Iterable[Resource]) -> tuple[dict[str, str], dict[str, str]]:
    """How bill lines name the resources: ({full id or ARN: resource id}, {id as the last segment
    of an ARN: resource id}). The CUR names an instance `i-...` but a NAT gateway or a snapshot by
    its ARN, whose last segment is the id the scanner lists."""
    full: dict[str, str] = {}
    short: dict[str, str] = {}
    for r in resources:
        full[r.resource_id] = r.resource_id
        arn = r.attributes.get("arn")
        if isinstance(arn, str) and arn:
            full[arn] = r.resource_id
        if not r.resource_id.startswith("arn:"):
            short[r.resource_id] = r.resource_id
    return full, short


def _add(out: dict[str, dict[dt.date, float]], rid: str, day: dt.date, cost: float) -> None:
    days = out.setdefault(rid, {})
    days[day] = days.get(day, 0.0) + cost


# --- CUR 2.0 -----------------------------------------------------------------------------------------
def _months(start: dt.date, end: dt.date) -> list[dt.date]:
    months, m = [], start.replace(day=1)
    while m < end:
        months.append(m)
        m = (m.replace(day=28) + dt.timedelta(days=4)).replace(day=1)
    return months


def read_cur(
    s3: Any, uri: str, resources: Sequence[Resource], start: dt.date, end: dt.date
) -> dict[str, dict[dt.date, float]]:
    """{resource id: {day: cost}} of `resources` from the CUR export at `uri`, days in [start, end)."""
    bucket, _, prefix = uri[len("s3://") :].partition("/")
    full, short = billing_keys(resources)
    out: dict[str, dict[dt.date, float]] = {}
    if not full:
        return out
    files = 0
    for month in _months(start, end):
        period = f"{prefix}/data/BILLING_PERIOD={month:%Y-%m}/"
        keys = [
            o["Key"]
            for page in s3.get_paginator("list_objects_v2").paginate(Bucket=bucket, Prefix=period)
            for o in page.get("Contents", [])
            if o["Key"].endswith(".parquet")
        ]
        for key in sorted(keys):
            with tempfile.TemporaryDirectory(prefix="cloudwaste-cur-") as folder:  # on disk, not in memory
                path = f"{folder}/part.parquet"
                with open(path, "wb") as tmp:
                    shutil.copyfileobj(s3.get_object(Bucket=bucket, Key=key)["Body"], tmp, 1 << 20)
                _read_cur_file(path, full, short, start, end, out)
            files += 1
    if not files:  # a wrong prefix, or an export not delivered yet: unknown, not "no charge"
        raise ValueError(f"no CUR file under {uri}/data/ for {', '.join(f'{m:%Y-%m}' for m in _months(start, end))}")
    return out


def _cost_column(batch: pa.RecordBatch, name: str) -> pa.Array:
    """A cost column as float64; nulls when the export has no such column (no Savings Plans...)."""
    if name in batch.schema.names:
        return pc.cast(batch.column(name), pa.float64())
    return pa.nulls(batch.num_rows, pa.float64())


def _read_cur_file(path: str, full, short, start: dt.date, end: dt.date, out) -> None:
    """Adds one CUR file's costs of the wanted resources to `out`, in Arrow: the file streamed
    through a dataset scan that skips row groups outside the window by their statistics and keeps
    the window's usage lines; each line's resource found by its id (or its ARN's last segment), its
    effective cost chosen by its type, summed per resource and day batch by batch. Memory holds a
    batch and the sums; Python only sees the sums."""
    data = ds.dataset(path, format="parquet")
    present = set(data.schema.names)
    for needed in ("line_item_resource_id", "line_item_line_item_type", "line_item_usage_start_date"):
        if needed not in present:
            raise ValueError(f"not a CUR 2.0 file: no {needed} column")
    rids = sorted(set(full.values()))
    rid_index = {rid: n for n, rid in enumerate(rids)}
    full_keys, short_keys = pa.array(list(full), pa.string()), pa.array(list(short), pa.string())
    # index of a matched key -> index of its resource (full keys first, then the short ones)
    resource_of = pa.array([rid_index[r] for r in (*full.values(), *short.values())], pa.int32())
    # the bounds in the column's own type: exports write it with or without a time zone (UTC)
    stamp = data.schema.field("line_item_usage_start_date").type
    if not pa.types.is_timestamp(stamp):
        raise ValueError("not a CUR 2.0 file: line_item_usage_start_date is not a timestamp")
    lo, hi = (
        pa.scalar(dt.datetime.combine(d, dt.time(), dt.UTC if stamp.tz else None), pa.timestamp(stamp.unit, stamp.tz))
        for d in (start, end)
    )
    when = pc.field("line_item_usage_start_date")
    usage = pc.field("line_item_line_item_type").isin(pa.array(list(_EFFECTIVE_COST), pa.string()))
    sums: list[pa.Table] = []
    for batch in data.to_batches(
        columns=[c for c in CUR_COLUMNS if c in present], filter=(when >= lo) & (when < hi) & usage, batch_size=_BATCH_ROWS
    ):
        if not batch.num_rows:
            continue
        ids = batch.column("line_item_resource_id")
        found = pc.index_in(ids, value_set=full_keys)
        if len(short_keys) and pc.any(pc.starts_with(ids, "arn:")).as_py():
            tail = pc.replace_substring_regex(ids, pattern=r"^arn:.*/", replacement="")
            found = pc.coalesce(found, pc.add(pc.index_in(tail, value_set=short_keys), len(full_keys)))
        kind = batch.column("line_item_line_item_type")
        cost = _cost_column(batch, "line_item_unblended_cost")
        for line_type, name in _EFFECTIVE_COST.items():
            if name != "line_item_unblended_cost":
                cost = pc.if_else(pc.equal(kind, line_type), _cost_column(batch, name), cost)
        day = pc.cast(pc.cast(batch.column("line_item_usage_start_date"), pa.timestamp("us", "UTC")), pa.date32())
        part = pa.table({"r": pc.take(resource_of, found), "d": day, "c": cost}).filter(
            pc.and_(pc.is_valid(found), pc.is_valid(cost))
        )
        if part.num_rows:
            sums.append(part.group_by(["r", "d"]).aggregate([("c", "sum")]))
    if not sums:
        return
    total = pa.concat_tables(sums).group_by(["r", "d"]).aggregate([("c_sum", "sum")])
    epoch, dates = dt.date(1970, 1, 1), {}
    for r, d, c in zip(
        total.column("r").to_pylist(),
        pc.cast(total.column("d"), pa.int32()).to_pylist(),  # days since 1970: ints convert faster than dates
        total.column("c_sum_sum").to_pylist(),
        strict=True,
    ):
        day = dates.get(d) or dates.setdefault(d, epoch + dt.timedelta(days=d))
        per = out.setdefault(rids[r], {})
        per[day] = per.get(day, 0.0) + c


# --- Cost Explorer -----------------------------------------------------------------------------------
def _amount(metrics: Mapping[str, Any]) -> float:
    return float((metrics.get("NetAmortizedCost") or {}).get("Amount") or 0.0)


def cost_explorer_daily(
    ce: Any, accounts: Sequence[str], start: dt.date, end: dt.date
) -> dict[str, dict[dt.date, float]]:
    """{billing resource id: {day: cost}} of every resource of `accounts`, from one paginated
    GetCostAndUsageWithResources query (daily, grouped by resource id)."""
    request: dict[str, Any] = {
        "TimePeriod": {"Start": start.isoformat(), "End": end.isoformat()},
        "Granularity": "DAILY",
        "Metrics": ["NetAmortizedCost"],
        "Filter": {"Dimensions": {"Key": "LINKED_ACCOUNT", "Values": list(accounts)}},
        "GroupBy": [{"Type": "DIMENSION", "Key": "RESOURCE_ID"}],
    }
    out: dict[str, dict[dt.date, float]] = {}
    while True:
        page = ce.get_cost_and_usage_with_resources(**request)
        for period in page.get("ResultsByTime", []):
            day = dt.date.fromisoformat(period["TimePeriod"]["Start"])
            for group in period.get("Groups", []):
                _add(out, group["Keys"][0], day, _amount(group.get("Metrics", {})))
        token = page.get("NextPageToken")
        if not token:
            return out
        request["NextPageToken"] = token


def monthly_spend(ce: Any, today: dt.date) -> dict[dt.date, float]:
    """{first day of the month: spend} for this month (to date) and the SPEND_MONTHS - 1 before,
    from GetCostAndUsage (monthly, by service, summed), paginated."""
    first = today.replace(day=1)
    for _ in range(SPEND_MONTHS - 1):
        first = (first - dt.timedelta(days=1)).replace(day=1)
    request: dict[str, Any] = {
        "TimePeriod": {"Start": first.isoformat(), "End": (today + dt.timedelta(days=1)).isoformat()},
        "Granularity": "MONTHLY",
        "Metrics": ["NetAmortizedCost"],
        "GroupBy": [{"Type": "DIMENSION", "Key": "SERVICE"}],
    }
    out: dict[dt.date, float] = {}
    while True:
        page = ce.get_cost_and_usage(**request)
        for period in page.get("ResultsByTime", []):
            month = dt.date.fromisoformat(period["TimePeriod"]["Start"]).replace(day=1)
            groups = period.get("Groups") or []
            total = (
                sum(_amount(g.get("Metrics", {})) for g in groups)
                if groups
                else _amount(period.get("Total", {}))
            )
            out[month] = round(out.get(month, 0.0) + total, 4)
        token = page.get("NextPageToken")
        if not token:
            return out
        request["NextPageToken"] = token


class DailyCache:
    """Answers kept for the day they were read ({(account, what): value}), so that Cost Explorer
    is asked once a day per account and query, however many scans run (each request is charged).
    Per scanner process; yesterday's answers are dropped."""

    def __init__(self) -> None:
        self._day: dt.date | None = None
        self._values: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def get(self, day: dt.date, key: tuple[str, str], read) -> Any:
        with self._lock:
            if self._day != day:
                self._day, self._values = day, {}
            if key in self._values:
                BILLING_READS.labels("aws", key[1], "cached").inc()
                return self._values[key]
        value = read()
        BILLING_READS.labels("aws", key[1], "read").inc()
        with self._lock:
            if self._day == day:
                self._values[key] = value
        return value

    def clear(self) -> None:
        with self._lock:
            self._day, self._values = None, {}


CACHE = DailyCache()


def _describe(exc: BaseException) -> str:
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        return f"{err.get('Code', 'ClientError')}: {err.get('Message', '')}"[:300]
    return str(exc)[:300]


def read_costs(
    session: Any, accounts: Sequence[str], resources: Sequence[Resource], now: dt.datetime
) -> CostReport:
    """The CostReport of an account (its management account's session for an organization,
    `accounts` the accounts whose resources are in `resources`)."""
    start, end = window(now)
    ce = session.client("ce", "us-east-1")
    notes: list[str] = []
    source, missing, daily = "", "", {}
    try:
        if session.cost_export_uri:
            daily = read_cur(
                session.client("s3", "us-east-1"), session.cost_export_uri, resources, start, end
            )
            source = CUR
        elif resources:
            every = CACHE.get(
                end,
                (",".join(sorted(accounts)), "resources"),
                lambda: cost_explorer_daily(ce, accounts, start, end),
            )
            full, short = billing_keys(resources)
            for line_id, days in every.items():
                rid = full.get(line_id) or short.get(line_id.rsplit("/", 1)[-1])
                if rid is not None:
                    for day, cost in days.items():
                        _add(daily, rid, day, cost)
            source = COST_EXPLORER
    except (ClientError, BotoCoreError, pa.ArrowException, ValueError, OSError) as exc:
        what = "the CUR export" if session.cost_export_uri else "Cost Explorer's resource-level data"
        missing, daily = BILLING_UNAVAILABLE, {}
        notes.append(f"{what} could not be read: {_describe(exc)}")
    spend: dict[dt.date, float] = {}
    try:
        spend = CACHE.get(end, (session.account_id, "spend"), lambda: monthly_spend(ce, end))
    except (ClientError, BotoCoreError) as exc:
        notes.append(f"the account's spend could not be read (GetCostAndUsage): {_describe(exc)}")
    return CostReport(
        source=source,
        window_start=start,
        window_end=end,
        daily=daily,
        monthly_spend=spend,
        spend_source=COST_EXPLORER if spend else "",
        missing=missing,
        note="; ".join(notes)[:500],
    )
