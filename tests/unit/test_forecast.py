"""The cost forecaster: what it must get right on series whose future is known, its baselines, and
its rolling-origin backtest on simulated accounts (the targets themselves are `make bench`'s)."""

from __future__ import annotations

import math

import numpy as np
import pytest
from cloudwaste.predictor import forecast
from cloudwaste.sim import spend


def test_steady_growth_continues_and_the_interval_holds_the_truth():
    months = np.arange(30)
    trend = 10_000 * 1.02**months  # 2% a month
    bill = trend * np.random.default_rng(1).lognormal(0, 0.02, 30)
    got = forecast.forecast(bill[:24], 6)
    np.testing.assert_allclose(got.amount, trend[24:], rtol=0.04)  # a damped trend: a little under
    assert np.all(got.lower <= trend[24:]) and np.all(trend[24:] <= got.upper)
    assert got.method == "damped_trend"  # no season to find


def test_a_yearly_season_is_found_from_two_years_and_used():
    rng = np.random.default_rng(3)
    months = np.arange(48)
    bill = 50_000 * (1 + 0.25 * np.sin(2 * np.pi * months / 12)) * rng.lognormal(0, 0.01, 48)
    seasonal = forecast.forecast(bill[:36], 6)
    assert seasonal.method == "damped_trend_seasonal"
    error = np.abs(seasonal.amount - bill[36:42]) / bill[36:42]
    assert error.max() < 0.05
    flat = forecast.forecast(bill[:20], 6)  # under two years: no season is fitted
    assert flat.method == "damped_trend"


def test_the_interval_widens_with_the_horizon_and_brackets_the_median():
    bill = spend.simulate(1, 36, seed=4)[0].monthly
    got = forecast.forecast(bill, 6)
    width = np.log(got.upper) - np.log(got.lower)
    assert np.all(np.diff(width) > 0)
    assert np.all(got.lower < got.amount) and np.all(got.amount < got.upper)


def test_an_unknown_month_is_skipped_not_read_as_zero():
    bill = 1000 * 1.01 ** np.arange(12)
    holed = bill.copy()
    holed[5] = math.nan
    np.testing.assert_allclose(
        forecast.forecast(holed, 3).amount, forecast.forecast(bill, 3).amount, rtol=0.02
    )


def test_too_short_a_history_is_refused():
    with pytest.raises(ValueError, match="at least 3"):
        forecast.forecast([100.0, math.nan, 120.0], 3)
    assert forecast.forecast([100.0, 110.0, 120.0], 1).amount[0] == pytest.approx(130, rel=0.1)


def test_seasonal_naive_repeats_last_year_and_falls_back_to_the_last_month():
    year = np.arange(1.0, 25.0)  # months 1..24
    assert forecast.seasonal_naive(year, 3).tolist() == [13.0, 14.0, 15.0]
    assert forecast.seasonal_naive(year, 14)[12:].tolist() == [13.0, 14.0]  # beyond a year: again
    assert forecast.seasonal_naive([5.0, 6.0, 7.0], 2).tolist() == [7.0, 7.0]
    holed = year.copy()
    holed[12] = math.nan
    assert forecast.seasonal_naive(holed, 1).tolist() == [24.0]


def test_simple_smoothing_is_flat_at_the_level():
    got = forecast.simple_smoothing([100.0, 100.0, 100.0, 100.0], 3)
    assert got.tolist() == [100.0, 100.0, 100.0]


def test_a_month_from_its_first_days():
    assert forecast.month_estimate([10.0] * 10, 2026, 2) == 280.0
    assert forecast.month_estimate([10.0, 20.0], 2026, 1) == 465.0


def test_the_backtest_beats_seasonal_naive_and_its_interval_holds_about_80_percent():
    accounts = spend.simulate(60, 36, seed=11)
    result = forecast.backtest([a.monthly for a in accounts], horizon=3, first_origin=24)
    assert result.origins > 500
    assert result.mape("model", 3) < 0.8 * result.mape("seasonal_naive", 3)
    assert result.mape("model", 3) < result.mape("simple_smoothing", 3)
    assert 70 < result.coverage(3) < 90
    rows = result.table()
    assert [r["horizon"] for r in rows] == [1, 2, 3] and rows[0]["forecasts"] > rows[2]["forecasts"]


def test_the_interval_calibration_in_the_config_still_holds():
    """DEFAULT.interval_scale was measured with calibrate_interval on forecast.CALIBRATION's
    accounts; re-measured on part of them it must not have drifted (a change to the model that
    narrows or widens its own interval must re-measure it)."""
    accounts = spend.simulate(120, 36, seed=forecast.CALIBRATION["seed"])
    again = forecast.calibrate_interval([a.monthly for a in accounts], horizon=3)
    np.testing.assert_allclose(again, forecast.DEFAULT.interval_scale[:3], atol=0.1)


def test_the_simulated_accounts_are_reproducible_and_positive():
    a, b = spend.simulate(5, 36, seed=2), spend.simulate(5, 36, seed=2)
    for x, y in zip(a, b, strict=True):
        np.testing.assert_array_equal(x.monthly, y.monthly)
        assert np.nanmin(x.monthly) > 0 and not math.isnan(x.monthly[-1])
    assert a[0].month(35).isoformat() == "2026-11-01"
    days = spend.daily(3100.0, a[0].month(0), np.random.default_rng(0))
    assert len(days) == 31 and days.sum() == pytest.approx(3100.0)
