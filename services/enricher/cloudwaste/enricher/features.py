"""Enrichment features computed from a finding's raw data. Pure functions, no I/O."""

from __future__ import annotations

import datetime as dt

from cloudwaste.core.privacy import anonymize_tags

__all__ = ["anonymize_tags", "metric_summary", "real_monthly_cost", "temporal_features", "variance_pct"]


def temporal_features(created: dt.datetime | None) -> dict[str, object] | None:
    """When the resource was created, coarsened to calendar features (UTC)."""
    if created is None:
        return None
    c = created.replace(tzinfo=dt.UTC) if created.tzinfo is None else created.astimezone(dt.UTC)
    weekend = c.weekday() >= 5
    return {
        "created_hour_of_day": c.hour,
        "created_day_of_week": c.weekday(),  # Monday = 0
        "created_day_of_month": c.day,
        "created_on_weekend": weekend,
        "created_in_business_hours": (not weekend) and 9 <= c.hour < 18,
    }


def _percentile(ordered: list[float], q: float) -> float:
    """The q-th percentile (0..100) of sorted values, interpolated linearly between ranks."""
    at = (len(ordered) - 1) * q / 100.0
    low = int(at)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (at - low)


def metric_summary(values: list[float | None], period_seconds: int) -> dict[str, float | int | None]:
    """The aggregates of a metric series with gaps (None): avg, p50, p95, p99, max over the points
    present, the least-squares trend slope per day, the share of missing points and the count."""
    present = [(i, v) for i, v in enumerate(values) if v is not None]
    out: dict[str, float | int | None] = {
        "points": len(values),
        "missing_share": round(1 - len(present) / len(values), 6) if values else 1.0,
    }
    if not present:
        return out | {k: None for k in ("avg", "p50", "p95", "p99", "max", "trend_per_day")}
    ordered = sorted(v for _, v in present)
    n = len(present)
    xs = [i * period_seconds / 86400.0 for i, _ in present]  # days since the window's start
    mean_x, mean_y = sum(xs) / n, sum(v for _, v in present) / n
    spread = sum((x - mean_x) ** 2 for x in xs)
    slope = sum((x - mean_x) * (v - mean_y) for x, (_, v) in zip(xs, present, strict=True)) / spread if spread else 0.0
    return out | {
        "avg": round(mean_y, 6),
        "p50": round(_percentile(ordered, 50), 6),
        "p95": round(_percentile(ordered, 95), 6),
        "p99": round(_percentile(ordered, 99), 6),
        "max": round(ordered[-1], 6),
        "trend_per_day": round(slope, 6),
    }


DAYS_PER_MONTH = 730 / 24  # the month list prices are quoted for (730 hours)


def real_monthly_cost(daily: dict[str, float], window_start: dt.date, window_end: dt.date) -> float | None:
    """A resource's monthly run rate from its bill: the cost per day from its first whole day in
    the window [start, end) to the window's end, x 730/24. A first charge after the window's start
    means the resource appeared that day (a partial day): counted from the next one, when there is
    one. A day without a charge inside that span costs 0 (intermittent charges); days before it
    are not the resource's. None when no day is left."""
    days = sorted(
        (d, v) for d, v in ((dt.date.fromisoformat(k), float(v)) for k, v in daily.items()) if window_start <= d < window_end
    )
    if not days:
        return None
    first = days[0][0]
    if first > window_start and len(days) > 1:
        days, first = days[1:], days[1][0]
    span = (window_end - first).days
    if span <= 0:
        return None
    return round(sum(v for _, v in days) / span * DAYS_PER_MONTH, 4)


def variance_pct(real: float | None, estimated: float | None) -> float | None:
    """(real - estimated) / estimated, in percent; None without both or for a zero estimate."""
    if real is None or not estimated:
        return None
    return round((real - estimated) / estimated * 100.0, 2)
