"""Streaming anomaly scores for metric series (no gRPC here).

Every point gets a score in [0, 1] from itself and the points before it only (causal), so a batch
of history and a live series give the same scores. Three kinds of evidence, each a recurrence that
numpy/scipy run over a whole series at once and a live detector updates point by point:

1. novelty: the value leaves the range of the last week (`range_span` points), or its hourly level
   (an exponentially weighted mean, `level_span`) leaves that level's range of the last week. Cloud
   metrics are bursty, so "large against the recent spread" alarms all day, while "never seen this
   week" is rare (about once a week for noise) and is what an operator calls an incident: a new peak,
   a drop to zero, a shift to a new level. Score: 0.5 for a new extreme, rising toward 1 with the
   exceedance in units of the week's range (`exceed_scale`), times the weight of the history it
   beats, log(1 + n) / log(1 + range_span): an extreme of 50 points happens every 25 points, one of
   a week once a week.
2. anomaly likelihood (after Numenta's): a raw surprise per point (the distance from the recent
   level and the size of the step, each in units of its recent mean absolute deviation, squashed to
   [0, 1)); its short-term average is compared with that average's long-term distribution (an
   exponentially weighted mean and variance). A noisy series learns that surprises are normal; a
   change in how surprising the series is, is the anomaly. The Gaussian tail probability is scored
   by its number of nines: -log10(tail) / `nines` (0.5 = 1 in 100,000 at the default).
3. repeats: an alert stays true for a while and only its first detection is useful, so a score is
   kept only when it beats every score of the last `refractory` points (else 0).

The final score is the larger of 1 and 2, after 3. NaN and infinite values are missing points:
they score 0 and leave the state unchanged. The streaming state is a few floats plus fixed-size
windows (the last week's values and levels for the ranges, the last `refractory` scores).
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import pandas as pd
from scipy.signal import lfilter
from scipy.special import ndtr


@dataclass(frozen=True)
class DetectorConfig:
    """One configuration for every series (NAB's rule: never adapted to a file or to its labels).
    Spans are in points; at 5-minute points 12 is an hour, 288 a day, 2016 a week."""

    range_span: int = 2016  # novelty: the values (and levels) seen in the last week
    level_span: float = 12.0  # the hourly level (smooths single spikes out of level shifts)
    exceed_scale: float = 0.02  # novelty score = 0.5 + 0.5 (1 - exp(-exceedance / this)), range units
    scale_span: float = 288.0  # likelihood: how long deviations are remembered as normal
    floor: float = 1e-3  # the smallest range or scale, relative to the series' magnitude
    squash: float = 3.0  # raw surprise = 1 - exp(-z / squash)
    short_span: float = 10.0  # the short-term average of raw surprises
    long_span: float = 2016.0  # their long-term distribution
    min_std: float = 0.02  # the long-term spread never looks narrower than this
    nines: float = 10.0  # likelihood score 1 = a tail probability of 10^-nines
    refractory: int = 72  # 6 hours during which only a new high alerts (0: off)
    warmup: int = 50  # the first points score 0 while the statistics start
    threshold: float = 0.5  # the alert threshold fixed in advance: a new weekly extreme (NAB "fixed")


DEFAULT = DetectorConfig()

_NOVEL = 1e-9  # exceedances below this (in range units) are rounding, not novelty


def _alpha(span: float) -> float:
    return 2.0 / (span + 1.0)


def _ew_mean(x: np.ndarray, alpha: float) -> np.ndarray:
    """The exponentially weighted mean of x[:t+1], normalized by the sum of the weights so that the
    first points are not biased toward 0 (the live detector runs the same two recurrences)."""
    a = [1.0, -(1.0 - alpha)]
    return lfilter([1.0], a, x) / lfilter([1.0], a, np.ones_like(x))


def _before(x: np.ndarray, first: float) -> np.ndarray:
    """x[t-1] at t: what was known before point t."""
    return np.concatenate(([first], x[:-1]))


def _novelty_score(x: np.ndarray, c: DetectorConfig) -> np.ndarray:
    """0 inside the range of the previous `range_span` points, else 0.5 rising to 1."""
    roll = pd.Series(x).rolling(c.range_span, min_periods=1)
    hi = _before(roll.max().to_numpy(), x[0])
    lo = _before(roll.min().to_numpy(), x[0])
    return _novelty(x, hi, lo, np.arange(len(x)), c)


def _novelty(x, hi, lo, seen, c: DetectorConfig):
    """The novelty score of x against a range [lo, hi] made of `seen` earlier points."""
    width = hi - lo + c.floor * np.maximum(np.abs(hi), np.abs(lo)) + 1e-12
    e = np.maximum(x - hi, lo - x) / width
    weight = np.minimum(1.0, np.log1p(seen) / math.log1p(c.range_span))
    return np.where(e > _NOVEL, weight * (1.0 - 0.5 * np.exp(-e / c.exceed_scale)), 0.0)


def _likelihood_score(x: np.ndarray, c: DetectorConfig) -> np.ndarray:
    a_level, a_scale = _alpha(c.level_span), _alpha(c.scale_span)
    level_before = _before(_ew_mean(x, a_level), x[0])
    dev = np.abs(x - level_before)
    step = np.abs(np.diff(x, prepend=x[0]))
    floor = c.floor * _before(_ew_mean(np.abs(x), a_scale), abs(x[0])) + 1e-12
    z = np.maximum(
        dev / (_before(_ew_mean(dev, a_scale), 0.0) + floor),
        step / (_before(_ew_mean(step, a_scale), 0.0) + floor),
    )
    raw = -np.expm1(-z / c.squash)
    short = _ew_mean(raw, _alpha(c.short_span))
    a_long = _alpha(c.long_span)
    mean = _before(_ew_mean(short, a_long), 0.0)
    sq = _before(_ew_mean(short * short, a_long), 0.0)
    return _nines(short, mean, sq, c)


def _nines(short, mean, sq, c: DetectorConfig):
    std = np.sqrt(np.maximum(sq - mean * mean, 0.0)) + c.min_std
    tail = ndtr(-(short - mean) / std)
    return np.clip(-np.log10(np.maximum(tail, 1e-300)) / c.nines, 0.0, 1.0)


def _new_highs(score: np.ndarray, k: int) -> np.ndarray:
    """score_t where it beats the k scores before it, else 0."""
    if k <= 0:
        return score
    padded = np.concatenate((np.zeros(k), score))
    before = np.lib.stride_tricks.sliding_window_view(padded[:-1], k).max(axis=1)
    return np.where(score > before, score, 0.0)


def _score_valid(x: np.ndarray, c: DetectorConfig) -> np.ndarray:
    if len(x) == 0:
        return np.zeros(0)
    level = _ew_mean(x, _alpha(c.level_span))
    score = np.maximum.reduce([_novelty_score(x, c), _novelty_score(level, c), _likelihood_score(x, c)])
    score[: c.warmup] = 0.0
    return _new_highs(score, c.refractory)


def score_series(values: np.ndarray | Sequence[float], config: DetectorConfig = DEFAULT) -> np.ndarray:
    """One causal score in [0, 1] per point; missing points (NaN, inf) score 0 and are skipped."""
    x = np.asarray(values, dtype=np.float64).reshape(-1)
    ok = np.isfinite(x)
    out = np.zeros(len(x))
    out[ok] = _score_valid(x[ok], config)
    return out


def overall_score(scores: np.ndarray | Sequence[float]) -> float:
    """One 0..1 summary for a resource: the highest of its recent scores. An anomaly is a moment, so
    a mean or a median would hide it; the refractory rule already keeps one alert from repeating."""
    s = np.asarray(scores, dtype=np.float64)
    s = s[np.isfinite(s)]
    return float(s.max()) if s.size else 0.0


class StreamingDetector:
    """`score_series` one point at a time (equal to it to rounding), for one series."""

    _FLOATS = tuple(
        "last level weight_level mag dev step weight_scale short weight_short mean sq weight_long".split()
    )

    def __init__(self, config: DetectorConfig = DEFAULT) -> None:
        self.config = config
        self.n = 0
        for name in self._FLOATS:
            setattr(self, name, 0.0)
        self.values = _Range(config.range_span)  # the last `range_span` values
        self.levels = _Range(config.range_span)  # and hourly levels
        self.recent: deque[float] = deque(maxlen=max(config.refractory, 1))  # scores before the repeat rule

    def update(self, value: float) -> float:
        """The score of the next point; a missing point (NaN, inf) scores 0 and changes nothing."""
        x = float(value)
        if not math.isfinite(x):
            return 0.0
        c = self.config
        first = self.n == 0
        # what was known before this point
        level_before = x if first else self.level / self.weight_level
        mag_before = abs(x) if first else self.mag / self.weight_scale
        dev_before = 0.0 if first else self.dev / self.weight_scale
        step_before = 0.0 if first else self.step / self.weight_scale
        mean_before = 0.0 if first else self.mean / self.weight_long
        sq_before = 0.0 if first else self.sq / self.weight_long
        dev, step = abs(x - level_before), 0.0 if first else abs(x - self.last)
        floor = c.floor * mag_before + 1e-12
        z = max(dev / (dev_before + floor), step / (step_before + floor))
        raw = -math.expm1(-z / c.squash)
        # the state after it
        a_level, a_scale = 1.0 - _alpha(c.level_span), 1.0 - _alpha(c.scale_span)
        a_short, a_long = 1.0 - _alpha(c.short_span), 1.0 - _alpha(c.long_span)
        self.level = a_level * self.level + x
        self.weight_level = a_level * self.weight_level + 1.0
        self.mag = a_scale * self.mag + abs(x)
        self.dev = a_scale * self.dev + dev
        self.step = a_scale * self.step + step
        self.weight_scale = a_scale * self.weight_scale + 1.0
        self.short = a_short * self.short + raw
        self.weight_short = a_short * self.weight_short + 1.0
        short = self.short / self.weight_short
        self.mean = a_long * self.mean + short
        self.sq = a_long * self.sq + short * short
        self.weight_long = a_long * self.weight_long + 1.0
        self.last = x
        level = self.level / self.weight_level
        score = max(
            self._novel(x, self.values),
            self._novel(level, self.levels),
            self._nines(short, mean_before, sq_before),
        )
        self.values.push(x)
        self.levels.push(level)
        self.n += 1
        if self.n <= c.warmup:
            score = 0.0
        if c.refractory > 0:
            high = max(self.recent, default=0.0)
            self.recent.append(score)
            score = score if score > high else 0.0
        return score

    # _novelty and _nines on one float, in plain Python: numpy's per-call cost on scalars would be
    # most of a point's time (same formulas; equal to the batch's to rounding)
    def _novel(self, x: float, window: _Range) -> float:
        if not window.values:
            return 0.0
        c, hi, lo = self.config, window.max(), window.min()
        width = hi - lo + c.floor * max(abs(hi), abs(lo)) + 1e-12
        e = max(x - hi, lo - x) / width
        if e <= _NOVEL:
            return 0.0
        weight = min(1.0, math.log1p(self.n) / math.log1p(c.range_span))
        return weight * (1.0 - 0.5 * math.exp(-e / c.exceed_scale))

    def _nines(self, short: float, mean: float, sq: float) -> float:
        c = self.config
        std = math.sqrt(max(sq - mean * mean, 0.0)) + c.min_std
        tail = 0.5 * math.erfc((short - mean) / std / math.sqrt(2.0))  # the normal tail, as ndtr(-z)
        return min(max(-math.log10(max(tail, 1e-300)) / c.nines, 0.0), 1.0)

    def to_state(self) -> dict:
        """Plain floats and lists (what the server keeps per series), config included."""
        state: dict = {"config": asdict(self.config), "n": self.n}
        state.update({k: float(getattr(self, k)) for k in self._FLOATS})
        state.update({"values": list(self.values.values), "levels": list(self.levels.values)})
        state["recent"] = list(self.recent)
        return state

    @classmethod
    def from_state(cls, d: dict) -> StreamingDetector:
        det = cls(DetectorConfig(**d["config"]))
        det.n = int(d["n"])
        for k in cls._FLOATS:
            setattr(det, k, float(d[k]))
        det.values = _Range(det.config.range_span, (float(v) for v in d["values"]))
        det.levels = _Range(det.config.range_span, (float(v) for v in d["levels"]))
        det.recent.extend(float(v) for v in d["recent"])
        return det


class _Range:
    """The last `size` values, with their max and min in O(1) amortized: monotonic queues of
    (position, value) in which a value is dropped once a later one is at least as extreme."""

    def __init__(self, size: int, values: Iterable[float] = ()) -> None:
        self.size, self.pos = size, 0
        self.values: deque[float] = deque(maxlen=size)  # the window itself (to_state)
        self._hi: deque[tuple[int, float]] = deque()
        self._lo: deque[tuple[int, float]] = deque()
        for v in values:
            self.push(v)

    def push(self, v: float) -> None:
        self.values.append(v)
        hi, lo = self._hi, self._lo
        while hi and hi[-1][1] <= v:
            hi.pop()
        hi.append((self.pos, v))
        while lo and lo[-1][1] >= v:
            lo.pop()
        lo.append((self.pos, v))
        self.pos += 1
        oldest = self.pos - self.size  # one point leaves the window per push, at most
        if hi[0][0] < oldest:
            hi.popleft()
        if lo[0][0] < oldest:
            lo.popleft()

    def max(self) -> float:
        return self._hi[0][1]

    def min(self) -> float:
        return self._lo[0][1]
