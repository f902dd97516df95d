"""DynamoDB rules: over-provisioned and unused tables."""

from __future__ import annotations

import math
from decimal import Decimal

from cloudwaste.scanner.domain import Detection, Resource
from cloudwaste.scanner.rules import Context, Fixtures, Metric, Param, Series, age_days, attach_fixtures, rule
from cloudwaste.scanner.rules.aws._common import NOW as _NOW
from cloudwaste.scanner.rules.aws._common import res, rounded

KIND = "aws.dynamodb.table"
PERMISSIONS = ("dynamodb:ListTables", "dynamodb:DescribeTable", "cloudwatch:GetMetricData")
SECONDS_A_DAY = 86400.0
SECONDS_A_MINUTE = 60.0

# Daily sums of the capacity consumed by the table itself (dimension TableName alone: what its
# global secondary indexes consume is published under TableName + GlobalSecondaryIndexName).
READS = Metric("consumed_read", "AWS/DynamoDB", "ConsumedReadCapacityUnits", "TableName", "Sum")
WRITES = Metric("consumed_write", "AWS/DynamoDB", "ConsumedWriteCapacityUnits", "TableName", "Sum")


def _old_enough(r: Resource, window: float, ctx: Context) -> bool:
    age = age_days(r.created_at, ctx.now)
    return r.attributes.get("state") == "ACTIVE" and age is not None and age >= window


# --- dynamodb-table-overprovisioned ---------------------------------------------------------------


def _overprovisioned_candidate(r: Resource, p, ctx: Context) -> bool:
    """A provisioned-mode table with capacity, at least a window old."""
    a = r.attributes
    provisioned = a.get("billing_mode") == "PROVISIONED"
    has_capacity = int(a.get("read_capacity_units") or 0) + int(a.get("write_capacity_units") or 0) > 0
    return provisioned and has_capacity and _old_enough(r, p["window_days"], ctx)


def _peak_minute_bound(series: Series) -> float:
    """Capacity units per second no minute of the window can have exceeded: the busiest day's sum
    over 60 s (as if the whole day's consumption had come in one minute).

    CloudWatch keeps no per-minute sum at a daily period: the Maximum statistic of the consumed
    metrics is the largest single request's consumption (DynamoDB publishes them as per-request
    statistic sets), not the busiest minute, so it cannot bound a burst. The busiest day's
    average (Sum / 86,400) would call a job that runs flat out one hour a night 4% used."""
    return (series.peak or 0.0) / SECONDS_A_MINUTE


def _needed(peak_per_second: float, target: float) -> int:
    """Units that serve `peak_per_second` at `target` utilization (at least 1, DynamoDB's minimum)."""
    return max(1, math.ceil(peak_per_second / target))


@rule(
    key="dynamodb-table-overprovisioned",
    provider="aws",
    resource_kind=KIND,
    title="DynamoDB table with far more provisioned capacity than it uses",
    permissions=PERMISSIONS,
    params={
        "window_days": Param(
            float,
            14.0,
            "Days of CloudWatch history judged (the table must be that old; keep it at most "
            "dynamodb-table-unused's window_days).",
            2,
        ),
        "max_utilization": Param(
            float,
            0.3,
            "Flag a capacity (read or write) whose peak rate (busiest day's sum / 60 s: an upper "
            "bound of any minute's) is below this share.",
            0.01,
        ),
        "target_utilization": Param(
            float,
            0.7,
            "Utilization the recommended capacity is sized for (DynamoDB auto scaling's default target).",
            0.1,
        ),
        "min_coverage": Param(
            float, 0.85, "Share of the window's days that must have datapoints (else: not judged).", 0.1
        ),
    },
    confidence_doc="HIGH when every day of the window has data and the peak bound stays under a "
    "tenth of what is provisioned; MEDIUM otherwise. The peak is an upper bound (a day's whole "
    "consumption in one minute), so a burst cannot hide behind it; bursts under a minute can.",
    metrics=(READS, WRITES),
    candidate=_overprovisioned_candidate,
)
def dynamodb_table_overprovisioned(r: Resource, p, ctx: Context) -> Detection | None:
    """A provisioned-mode table, at least 14 days old, that over the last 14 days cannot have used
    30% of its provisioned read or write capacity in any minute pays for capacity it does not
    use. The peak rate is bounded from above: the busiest day's Sum of ConsumedRead/
    WriteCapacityUnits (table-level, dimension TableName) divided by 60 s, as if all of that day's
    consumption had come in one minute. CloudWatch keeps no per-minute sum at a daily period
    (the Maximum statistic of these metrics is the largest single request's consumption, not the
    busiest minute's), and a daily average (Sum / 86,400) would call a job that runs flat out one
    hour a night 4% used and size it to throttle; so this rule only flags tables whose whole
    day's consumption would fit in a minute under 30% of the capacity (nearly idle tables with
    capacity to spare), and the recommended capacity serves that bound. The saving is the
    capacity above what the bound needs at 70% utilization (DynamoDB auto scaling's default
    target, AWS docs), priced per RCU/WCU-hour; the 30% threshold is common FinOps practice (AWS Compute
    Optimizer-style right-sizing with headroom). Auto scaling is not read (it needs the
    application-autoscaling permission): a table that auto scales tracks its 70% target and rarely
    sits under 30%, except at its minimum capacity, which is then what is over-provisioned. A
    table that consumed nothing at all is `dynamodb-table-unused`'s (exclusive: this rule needs
    some consumption). DynamoDB publishes the consumed metrics only for minutes with requests;
    below `min_coverage` of the window's days with data the table is not judged. Global secondary
    indexes are not judged here."""
    if not _overprovisioned_candidate(r, p, ctx):
        return None
    days = math.ceil(p["window_days"])
    reads, writes = ctx.metric(r, READS.name, days), ctx.metric(r, WRITES.name, days)
    if reads is None or writes is None or reads.total + writes.total <= 0:
        return None
    if max(reads.coverage, writes.coverage) < p["min_coverage"]:
        return None
    a = r.attributes
    found: dict[str, dict] = {}
    unused = {"read": 0, "write": 0}
    for label, series, provisioned in (
        ("read", reads, int(a.get("read_capacity_units") or 0)),
        ("write", writes, int(a.get("write_capacity_units") or 0)),
    ):
        peak = _peak_minute_bound(series)
        if provisioned <= 0 or peak >= p["max_utilization"] * provisioned:
            continue
        needed = _needed(peak, p["target_utilization"])
        if needed >= provisioned:
            continue
        unused[label] = provisioned - needed
        found[label] = {
            "provisioned_units": provisioned,
            "peak_units_per_second_bound": round(peak, 4),
            "peak_basis": "busiest day's consumption / 60 s (upper bound of any minute's rate)",
            "peak_utilization": round(peak / provisioned, 4),
            "recommended_units": needed,
            "consumed": series.evidence("capacity units"),
        }
    if not found:
        return None
    price = ctx.prices.dynamodb_provisioned(unused["read"], unused["write"])
    evidence = {
        "billing_mode": "PROVISIONED",
        "window_days": days,
        **{f"{label}_capacity": v for label, v in found.items()},
        "age_days": rounded(age_days(r.created_at, ctx.now)),
        **ctx.prices.evidence(),
    }
    if price is None:
        evidence["price"] = "no DynamoDB capacity price for this region: priced at 0"
    complete = min(reads.got, writes.got) >= days
    low = all(v["peak_utilization"] < 0.1 for v in found.values())
    return Detection(
        scenario="dynamodb-table-overprovisioned",
        confidence="HIGH" if complete and low else "MEDIUM",
        monthly_cost=price if price is not None else Decimal(0),
        evidence=evidence,
    )


# --- dynamodb-table-unused ------------------------------------------------------------------------


def _unused_candidate(r: Resource, p, ctx: Context) -> bool:
    """An active table at least a window old without global secondary indexes (reads through an
    index are not in the table-level metrics this rule reads)."""
    return int(r.attributes.get("gsi_count") or 0) == 0 and _old_enough(r, p["window_days"], ctx)


@rule(
    key="dynamodb-table-unused",
    provider="aws",
    resource_kind=KIND,
    title="DynamoDB table with no reads and no writes",
    permissions=PERMISSIONS,
    params={
        "window_days": Param(
            float, 30.0, "No capacity consumed over this many days (the table must be that old).", 2
        )
    },
    confidence_doc="HIGH when CloudWatch has datapoints over the window and they sum to zero; MEDIUM "
    "when it has none at all (DynamoDB publishes the consumed metrics only when there are requests).",
    metrics=(READS, WRITES),
    candidate=_unused_candidate,
)
def dynamodb_table_unused(r: Resource, p, ctx: Context) -> Detection | None:
    """An active table, at least 30 days old, that consumed no read and no write capacity over the
    last 30 days (daily sums of ConsumedReadCapacityUnits and ConsumedWriteCapacityUnits with the
    dimension TableName, 0 or absent) is not used by anything: back it up and delete it. Those
    table-level metrics do not include what the table's global secondary indexes consume (AWS
    publishes that under TableName + GlobalSecondaryIndexName), and a table read only through an
    index would look unused: a table with global secondary indexes is not judged. DynamoDB publishes these metrics only for minutes with requests, so "no
    datapoints at all" is itself the unused signal here (hence the age requirement). A
    provisioned-mode table saves all its provisioned capacity and its
    storage (TableSizeBytes, which AWS refreshes about every six hours; the 25 GB a region's tables
    get free are not deducted); an on-demand table saves its storage only. The 30-day window is common FinOps practice for "unused" (longer than a monthly
    batch job's period)."""
    if not _unused_candidate(r, p, ctx):
        return None
    days = math.ceil(p["window_days"])
    reads, writes = ctx.metric(r, READS.name, days), ctx.metric(r, WRITES.name, days)
    if reads is None or writes is None or reads.total + writes.total > 0:
        return None
    a = r.attributes
    mode = a.get("billing_mode")
    evidence = {
        "billing_mode": mode,
        "window_days": days,
        "consumed_read": reads.evidence("capacity units"),
        "consumed_write": writes.evidence("capacity units"),
        "size_bytes": a.get("size_bytes"),
        "age_days": rounded(age_days(r.created_at, ctx.now)),
        **ctx.prices.evidence(),
    }
    notes = []
    cost = Decimal(0)
    if mode == "PROVISIONED":
        rcu = int(a.get("read_capacity_units") or 0) + int(a.get("gsi_read_capacity_units") or 0)
        wcu = int(a.get("write_capacity_units") or 0) + int(a.get("gsi_write_capacity_units") or 0)
        evidence |= {"provisioned_read_units": rcu, "provisioned_write_units": wcu}
        capacity = ctx.prices.dynamodb_provisioned(rcu, wcu)
        if capacity is None:
            notes.append("no DynamoDB capacity price for this region: capacity priced at 0")
        else:
            cost += capacity
    gb = int(a.get("size_bytes") or 0) / 1e9
    storage = ctx.prices.monthly("dynamodb", "storage_gb_month", quantity=round(gb, 6))
    if storage is None:
        notes.append("no DynamoDB storage price for this region: storage priced at 0")
    else:
        cost += storage
        evidence["storage_monthly"] = float(storage)
    if cost == 0 and not notes:
        notes.append("an empty on-demand table: nothing bills, priced at 0 (delete it anyway)")
    if notes:
        evidence["price"] = "; ".join(notes)
    return Detection(
        scenario="dynamodb-table-unused",
        confidence="HIGH" if max(reads.got, writes.got) > 0 else "MEDIUM",
        monthly_cost=cost,
        evidence=evidence,
    )


# --- fixtures: one resource that fires and one near miss per rule ---------------------------------


def _table(rid: str, rcu: int, wcu: int) -> Resource:
    return res(
        KIND,
        rid,
        120,
        state="ACTIVE",
        billing_mode="PROVISIONED",
        read_capacity_units=rcu,
        write_capacity_units=wcu,
        gsi_count=0,
        gsi_read_capacity_units=0,
        gsi_write_capacity_units=0,
        size_bytes=10_000,
    )


def _daily(units_per_second: float, days: int) -> Series:
    """Daily sums whose whole day, in one minute, runs at `units_per_second`."""
    return Series((units_per_second * SECONDS_A_MINUTE,) * days, days)


attach_fixtures(
    "dynamodb-table-overprovisioned",
    Fixtures(
        fires=_table("ddb-over-1", 100, 50),
        silent=_table("ddb-sized-1", 100, 50),
        now=_NOW,
        series={
            ("ddb-over-1", "consumed_read", 14): _daily(5.0, 14),  # 5% of 100 RCU
            ("ddb-over-1", "consumed_write", 14): _daily(2.0, 14),  # 4% of 50 WCU
            ("ddb-sized-1", "consumed_read", 14): _daily(45.0, 14),  # 45%
            ("ddb-sized-1", "consumed_write", 14): _daily(20.0, 14),  # 40%
        },
    ),
)

attach_fixtures(
    "dynamodb-table-unused",
    Fixtures(
        fires=_table("ddb-unused-1", 20, 10),
        silent=_table("ddb-monthly-1", 20, 10),
        now=_NOW,
        series={
            ("ddb-unused-1", "consumed_read", 30): Series((), 30),
            ("ddb-unused-1", "consumed_write", 30): Series((), 30),
            ("ddb-monthly-1", "consumed_read", 30): Series((), 30),
            ("ddb-monthly-1", "consumed_write", 30): Series((9000.0,), 30),  # a monthly batch load
        },
    ),
)
