"""The aggregates of a metric series with gaps (enricher.features.metric_summary)."""

from __future__ import annotations

import pytest
from cloudwaste.enricher.features import metric_summary


def test_aggregates_use_the_points_present_and_count_the_gaps():
    values = [None] * 720
    for day in range(30):
        values[day * 24] = float(day)  # one point a day, rising by 1 a day
    s = metric_summary(values, 3600)
    assert s["points"] == 720 and s["missing_share"] == pytest.approx(690 / 720, abs=1e-6)
    assert (s["avg"], s["p50"], s["max"]) == (14.5, 14.5, 29.0)
    assert s["p95"] == pytest.approx(27.55) and s["p99"] == pytest.approx(28.71)
    assert s["trend_per_day"] == pytest.approx(1.0)


def test_a_series_without_any_point_is_all_missing_never_zero():
    s = metric_summary([None] * 720, 3600)
    assert s["missing_share"] == 1.0 and s["avg"] is None and s["max"] is None and s["trend_per_day"] is None


def test_a_flat_series_has_no_trend_and_one_point_is_its_own_percentiles():
    assert metric_summary([2.0] * 24, 3600)["trend_per_day"] == 0.0
    one = metric_summary([None, 7.0, None], 3600)
    assert one["p50"] == one["p99"] == one["max"] == 7.0 and one["trend_per_day"] == 0.0
