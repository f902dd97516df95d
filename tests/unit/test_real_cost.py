"""The real monthly cost of a resource from its bill's daily costs, and its variance from the
scanner's estimate (pure functions of the enricher)."""

from __future__ import annotations

import datetime as dt

import pytest
from cloudwaste.enricher.features import DAYS_PER_MONTH, real_monthly_cost, variance_pct

START, END = dt.date(2026, 11, 16), dt.date(2026, 11, 30)


def _days(first: dt.date, values: list[float]) -> dict[str, float]:
    return {(first + dt.timedelta(days=i)).isoformat(): v for i, v in enumerate(values)}


def test_a_resource_billed_every_day_costs_its_daily_mean_times_the_month():
    assert real_monthly_cost(_days(START, [2.0] * 14), START, END) == pytest.approx(2.0 * DAYS_PER_MONTH)


def test_a_resource_created_in_the_window_counts_from_its_first_whole_day():
    # created at noon on the 20th: half a day, then whole days
    daily = _days(dt.date(2026, 11, 20), [1.0] + [2.0] * 9)
    assert real_monthly_cost(daily, START, END) == pytest.approx(2.0 * DAYS_PER_MONTH)


def test_days_without_a_charge_inside_its_span_cost_nothing():
    # charged every other day (intermittent usage): half the daily rate
    daily = {k: v for i, (k, v) in enumerate(_days(START, [2.0] * 14).items()) if i % 2 == 0}
    assert real_monthly_cost(daily, START, END) == pytest.approx(1.0 * DAYS_PER_MONTH, rel=0.08)


def test_no_charge_in_the_window_is_unknown_not_zero():
    assert real_monthly_cost({}, START, END) is None
    assert real_monthly_cost(_days(dt.date(2026, 10, 1), [3.0]), START, END) is None  # before the window


def test_a_credit_larger_than_the_charge_is_kept_negative():
    assert real_monthly_cost(_days(START, [-0.5] * 14), START, END) < 0


def test_variance_is_relative_to_the_estimate_in_percent():
    assert variance_pct(94.0, 100.0) == pytest.approx(-6.0)
    assert variance_pct(150.0, 100.0) == pytest.approx(50.0)
    assert variance_pct(None, 100.0) is None
    assert variance_pct(10.0, 0.0) is None  # a zero estimate has no relative variance


def test_each_row_says_where_its_real_cost_came_from_or_why_it_has_none():
    from cloudwaste.enricher.store import _Bill

    read = _Bill("aws_cur", None, START, END, {})
    filled = read.columns(_days(START, [2.0] * 14), 50.0)
    assert filled["cost_real_source"] == "aws_cur" and filled["cost_real_missing"] is None
    assert filled["cost_variance_pct"] == pytest.approx((2.0 * DAYS_PER_MONTH - 50.0) / 50.0 * 100, abs=0.01)
    assert read.columns(None, 50.0)["cost_real_missing"] == "not_in_billing_data"  # read, no charge
    assert read.columns(None, 50.0, unread=True)["cost_real_missing"] == "billing_unavailable"  # its part failed
    none = _Bill(None, "no_billing_source", None, None, {}).columns(None, 50.0)
    assert none == {"cost_real_monthly": None, "cost_variance_pct": None, "cost_real_source": None,
                    "cost_real_missing": "no_billing_source"}
