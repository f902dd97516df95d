"""The streaming anomaly detector: causal, equal point by point and in batch, robust to missing
points, high on planted anomalies and low on steady noise."""

from __future__ import annotations

import json

import numpy as np
import pytest
from cloudwaste.predictor.anomaly import (
    DEFAULT,
    DetectorConfig,
    StreamingDetector,
    overall_score,
    score_series,
)


def noisy(n: int, seed: int = 0) -> np.ndarray:
    """A steady metric: a daily cycle plus noise, 5-minute points."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    return 40 + 10 * np.sin(2 * np.pi * t / 288) + rng.normal(0, 2, n)


@pytest.fixture(scope="module")
def series() -> np.ndarray:
    x = noisy(3000, seed=1)
    x[1800] = 200.0  # a spike
    x[2400:] += 60.0  # a level shift
    x[[100, 1000, 1001]] = [np.nan, np.inf, -np.inf]
    return x


def test_scores_are_causal(series):
    full = score_series(series)
    for cut in (1, 2, 60, 777, 1801, 2405):
        np.testing.assert_array_equal(score_series(series[:cut]), full[:cut])


def test_streaming_equals_batch_across_a_saved_state(series):
    batch = score_series(series)
    det, out = StreamingDetector(), []
    for i, v in enumerate(series):
        out.append(det.update(v))
        if i in (500, 1900):  # the server stores the state between points: plain JSON
            det = StreamingDetector.from_state(json.loads(json.dumps(det.to_state())))
    np.testing.assert_allclose(out, batch, rtol=0, atol=1e-9)


def test_state_is_bounded_by_fixed_windows():
    config = DetectorConfig(range_span=100, refractory=10)
    det = StreamingDetector(config)
    for v in noisy(1000):
        det.update(v)
    state = det.to_state()
    assert len(state["values"]) == len(state["levels"]) == 100 and len(state["recent"]) == 10
    assert all(
        isinstance(v, (int, float))
        for k, v in state.items()
        if k not in ("values", "levels", "recent", "config")
    )


def test_missing_points_score_zero_and_leave_the_state_unchanged(series):
    scores = score_series(series)
    missing = ~np.isfinite(series)
    assert np.all(scores[missing] == 0.0)
    np.testing.assert_array_equal(scores[~missing], score_series(series[~missing]))
    det = StreamingDetector()
    for v in series[:50]:
        det.update(v)
    before = det.to_state()
    assert det.update(float("nan")) == 0.0 and det.update(float("inf")) == 0.0
    assert det.to_state() == before


def test_scores_are_in_0_1(series):
    scores = score_series(series)
    assert scores.shape == series.shape and scores.min() >= 0.0 and scores.max() <= 1.0


@pytest.mark.parametrize("values", [[], [5.0], [3.0] * 500, [0.0] * 500, [np.nan] * 10])
def test_degenerate_series_score_low(values):
    scores = score_series(values)
    assert len(scores) == len(values)
    assert np.all(scores < DEFAULT.threshold)


def test_a_spike_and_a_level_shift_score_high(series):
    scores = score_series(series)
    assert scores[1800] > 0.95 and scores[1800] > scores[1700:1800].max()
    assert scores[2400:2406].max() > 0.95  # the hourly level leaves its weekly range at once


def test_steady_noise_rarely_alerts():
    x = noisy(4032, seed=2)
    scores = score_series(x)
    spike = x.copy()
    spike[3000] += 100
    assert (scores >= DEFAULT.threshold).mean() < 0.005  # a few new weekly extremes at most
    assert scores[2000:].max() < score_series(spike)[3000]


def test_repeats_of_one_alert_are_suppressed(series):
    scores = score_series(series)
    assert np.count_nonzero(scores[2401 : 2400 + DEFAULT.refractory] >= DEFAULT.threshold) <= 3
    off = score_series(series, DetectorConfig(refractory=0))
    assert np.count_nonzero(off[2400:2500] >= DEFAULT.threshold) > np.count_nonzero(
        scores[2400:2500] >= DEFAULT.threshold
    )


def test_overall_score_is_the_highest_recent_score():
    assert overall_score(np.array([0.1, 0.7, 0.2])) == 0.7
    assert overall_score(np.array([])) == 0.0
    assert overall_score(np.array([np.nan, 0.3])) == 0.3
