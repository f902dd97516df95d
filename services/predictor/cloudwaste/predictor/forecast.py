"""Monthly cost forecast of one account: damped-trend exponential smoothing of the log of spend,
with a yearly season once two years are known, and an 80% interval.

The model is the additive ETS(A,Ad,A) of Hyndman et al. ("Forecasting with Exponential Smoothing",
2008) on log(1 + spend), so trend and season act as percentages of the bill:

    forecast  f_t = l + phi*b + s[t mod 12]         e_t = y_t - f_t
    level     l  <- l + phi*b + alpha*e_t
    trend     b  <- phi*b + beta*e_t
    season    s[t mod 12] <- s[t mod 12] + gamma*e_t

Each series is fitted on its own: every (alpha, beta, phi, gamma) of a small grid runs at once as
numpy vectors, and the one with the least one-step squared error wins; with two years or more the
seasonal and the plain model compete on AICc. A missing month (NaN) advances the state without an
update. The interval is the model's own h-step variance, sigma^2 (1 + sum_{j<h} c_j^2) with
c_j = alpha + beta*(phi + ... + phi^j) + gamma*[j mod 12 = 0], and Student's t for the estimated
sigma; the point forecast is the median, which is what a percentage error rewards.

The baselines a forecast must beat (`backtest` compares all three on rolling origins): seasonal
naive (the same month a year before; the last month while there is no year) and simple exponential
smoothing (a flat line at the smoothed level).

No gRPC here: the predictor's servicer validates requests and calls `forecast`.
"""

from __future__ import annotations

import calendar
import dataclasses
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.stats import t as student_t

SEASON = 12


@dataclass(frozen=True)
class ForecastConfig:
    min_months: int = 3  # fewer known months than this: no forecast
    seasonal_min_months: int = 24  # a season is fitted only with two years of history
    interval: float = 0.8  # central interval of the forecast: 10th to 90th percentile
    max_horizon: int = 6
    alphas: tuple[float, ...] = (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.99)
    beta_shares: tuple[float, ...] = (0.0, 0.05, 0.1, 0.2, 0.4)  # beta = share * alpha
    phis: tuple[float, ...] = (0.8, 0.9, 0.95, 0.98)
    gammas: tuple[float, ...] = (0.05, 0.1, 0.2, 0.3)
    # The model's own interval assumes the model is right; bills also shift in ways no model of the
    # past foresees, so each horizon's interval is widened by a factor measured out of sample:
    # `calibrate_interval` on rolling origins of simulated accounts of seeds other than the
    # benchmark's (see CALIBRATION below; `make bench` reports the coverage on other seeds).
    interval_scale: tuple[float, ...] = (0.948, 0.994, 1.073, 1.13, 1.174, 1.159)  # CALIBRATION


DEFAULT = ForecastConfig()

# How DEFAULT.interval_scale was measured (tests/unit/test_forecast.py checks that it still holds):
#   calibrate_interval([a.monthly for a in cloudwaste.sim.spend.simulate(600, 36, seed=100)])
CALIBRATION = {"accounts": 600, "months": 36, "seed": 100}


@dataclass(frozen=True)
class Forecast:
    """`horizon` months after the history: the median and the interval's ends, in $ per month."""

    amount: np.ndarray
    lower: np.ndarray
    upper: np.ndarray
    log_center: np.ndarray  # log(1 + amount)
    log_halfwidth: np.ndarray  # the interval is exp(log_center -/+ log_halfwidth) - 1
    method: str  # "damped_trend" or "damped_trend_seasonal"
    params: dict = field(default_factory=dict)


@dataclass
class _Fit:
    seasonal: bool
    alpha: float
    beta: float
    phi: float
    gamma: float
    level: float
    trend: float
    season: np.ndarray  # by position t mod 12 (zeros when not seasonal)
    n: int  # months the model ran over (the next forecast is for month n)
    sigma2: float
    aicc: float


def _grid(config: ForecastConfig, seasonal: bool) -> tuple[np.ndarray, ...]:
    gammas = config.gammas if seasonal else (0.0,)
    a, share, p, g = np.meshgrid(config.alphas, config.beta_shares, config.phis, gammas, indexing="ij")
    a, p, g = a.ravel(), p.ravel(), g.ravel()
    return a, share.ravel() * a, p, np.minimum(g, 1.0 - a)


def _initial(y: np.ndarray, seasonal: bool) -> tuple[float, float, np.ndarray]:
    """Level, trend and season, placed one month before the first so that the first forecast is the
    first month's fitted value. Without a season: a line through the first year. With one: the
    classical start, the trend from the first two years' means (a line fitted through a wave is
    tilted by it) and the season from each month's distance to that trend."""
    season = np.zeros(SEASON)
    if not seasonal:
        head = y[: min(len(y), SEASON)]
        t = np.flatnonzero(~np.isnan(head)).astype(np.float64)
        if t.size >= 2:
            slope, intercept = np.polyfit(t, head[~np.isnan(head)], 1)
        else:
            slope, intercept = 0.0, float(head[~np.isnan(head)][0])
        return float(intercept - slope), float(slope), season
    first, second = np.nanmean(y[:SEASON]), np.nanmean(y[SEASON : 2 * SEASON])
    slope = (second - first) / SEASON
    intercept = first - slope * (SEASON - 1) / 2
    residual = y[: 2 * SEASON] - (intercept + slope * np.arange(2 * SEASON))
    for pos in range(SEASON):
        values = residual[pos::SEASON]
        values = values[~np.isnan(values)]
        season[pos] = values.mean() if values.size else 0.0
    season -= season.mean()
    return float(intercept - slope), float(slope), season


def _fit(y: np.ndarray, config: ForecastConfig, seasonal: bool) -> _Fit:
    alpha, beta, phi, gamma = _grid(config, seasonal)
    level0, trend0, season0 = _initial(y, seasonal)
    combos = alpha.size
    level = np.full(combos, level0)
    trend = np.full(combos, trend0)
    season = np.tile(season0, (combos, 1))
    sse = np.zeros(combos)
    known = 0
    for t, value in enumerate(y):
        pos = t % SEASON
        damped = phi * trend
        if math.isnan(value):
            level = level + damped
            trend = damped
            continue
        error = value - (level + damped + season[:, pos])
        sse += error * error
        known += 1
        level = level + damped + alpha * error
        trend = damped + beta * error
        if seasonal:
            season[:, pos] += gamma * error
    best = int(np.argmin(sse))
    # parameters: alpha, beta, phi, the initial level and trend (+ gamma and 11 free season states)
    k = 5 + (SEASON if seasonal else 0)
    sigma2 = float(sse[best]) / max(known - k, 1)
    mean_sq = max(float(sse[best]) / known, 1e-12)
    aicc = (
        known * math.log(mean_sq) + 2 * k + (2 * k * (k + 1) / (known - k - 1) if known > k + 1 else math.inf)
    )
    return _Fit(
        seasonal=seasonal,
        alpha=float(alpha[best]),
        beta=float(beta[best]),
        phi=float(phi[best]),
        gamma=float(gamma[best]),
        level=float(level[best]),
        trend=float(trend[best]),
        season=season[best].copy(),
        n=len(y),
        sigma2=sigma2,
        aicc=aicc,
    )


def known_months(values: np.ndarray) -> int:
    return int(np.count_nonzero(~np.isnan(values)))


def forecast(
    values: Sequence[float] | np.ndarray, horizon: int, config: ForecastConfig = DEFAULT
) -> Forecast:
    """Forecasts the `horizon` months after `values` (spend per month in $, oldest first, NaN for
    an unknown month; the last value must be known). The caller validates: finite or NaN, >= 0,
    at least `config.min_months` known, horizon 1 to `config.max_horizon`."""
    y = np.log1p(np.asarray(values, dtype=np.float64))
    known = known_months(y)
    if known < config.min_months:
        raise ValueError(f"{known} known months; a forecast needs at least {config.min_months}")
    fits = [_fit(y, config, seasonal=False)]
    if known >= config.seasonal_min_months:
        fits.append(_fit(y, config, seasonal=True))
    fit = min(fits, key=lambda f: f.aicc)
    h = np.arange(1, horizon + 1)
    damped_sum = np.cumsum(fit.phi**h)  # phi + phi^2 + ... + phi^h
    position = (fit.n + h - 1) % SEASON
    point = fit.level + damped_sum * fit.trend + fit.season[position]
    # c_j for j = 1..h-1, then the variance multiplier of each horizon
    c = fit.alpha + fit.beta * damped_sum[:-1] + fit.gamma * ((h[:-1] % SEASON) == 0)
    variance = fit.sigma2 * (1.0 + np.concatenate(([0.0], np.cumsum(c * c))))
    dof = max(known - (5 + (SEASON if fit.seasonal else 0)), 1)
    scale = np.asarray(config.interval_scale[:horizon])
    spread = student_t.ppf(0.5 + config.interval / 2, dof) * np.sqrt(variance) * scale
    return Forecast(
        log_center=point,
        log_halfwidth=spread,
        amount=np.maximum(np.expm1(point), 0.0),
        lower=np.maximum(np.expm1(point - spread), 0.0),
        upper=np.maximum(np.expm1(point + spread), 0.0),
        method="damped_trend_seasonal" if fit.seasonal else "damped_trend",
        params={"alpha": fit.alpha, "beta": fit.beta, "phi": fit.phi, "gamma": fit.gamma},
    )


def month_estimate(daily: Sequence[float], year: int, month: int) -> float:
    """A whole month's spend from its first days' (the month to date): their mean per day times the
    month's days."""
    return float(np.mean(daily)) * calendar.monthrange(year, month)[1]


# --- baselines ----------------------------------------------------------------------------------


def _last_known(y: np.ndarray) -> float:
    return float(y[~np.isnan(y)][-1])


def seasonal_naive(values: Sequence[float] | np.ndarray, horizon: int) -> np.ndarray:
    """Each month as it was a year before; the last known month when there is no year (or it is
    unknown)."""
    y = np.asarray(values, dtype=np.float64)
    n, last = len(y), _last_known(y)
    out = np.empty(horizon)
    for i in range(horizon):
        back = n + i - SEASON
        while back >= n:  # horizons beyond a year repeat the last year
            back -= SEASON
        out[i] = y[back] if back >= 0 and not math.isnan(y[back]) else last
    return out


def simple_smoothing(values: Sequence[float] | np.ndarray, horizon: int) -> np.ndarray:
    """Simple exponential smoothing of the spend, its alpha by least one-step squared error: a
    flat forecast at the smoothed level."""
    y = np.asarray(values, dtype=np.float64)
    alpha = np.linspace(0.05, 1.0, 20)
    first = ~np.isnan(y)
    level = np.full(alpha.size, y[np.argmax(first)])
    sse = np.zeros(alpha.size)
    for value in y[np.argmax(first) + 1 :]:
        if math.isnan(value):
            continue
        error = value - level
        sse += error * error
        level = level + alpha * error
    return np.full(horizon, level[int(np.argmin(sse))])


# --- rolling-origin backtest --------------------------------------------------------------------


@dataclass
class Backtest:
    """Absolute percentage errors per method and horizon, and whether the actual fell inside the
    model's interval, over every (series, origin) with an actual at that horizon."""

    horizon: int
    errors: dict[str, list[list[float]]]  # method -> [horizon-1] -> APEs
    inside: list[list[bool]]  # [horizon-1] -> actual within the interval
    origins: int = 0

    def mape(self, method: str, h: int) -> float:
        return 100.0 * float(np.mean(self.errors[method][h - 1]))

    def coverage(self, h: int) -> float:
        return 100.0 * float(np.mean(self.inside[h - 1]))

    def table(self) -> list[dict]:
        return [
            {
                "horizon": h,
                "forecasts": len(self.inside[h - 1]),
                **{f"mape_{m}": self.mape(m, h) for m in self.errors},
                "coverage": self.coverage(h),
            }
            for h in range(1, self.horizon + 1)
        ]


METHODS = ("model", "seasonal_naive", "simple_smoothing")


def backtest(
    series: Sequence[np.ndarray],
    horizon: int = 6,
    first_origin: int = 24,
    config: ForecastConfig = DEFAULT,
) -> Backtest:
    """Rolling origins: for each series and each month T from `first_origin` on, forecasts months
    T.. T+horizon-1 from months 0..T-1 with the model and both baselines, and scores each forecast
    whose month is known."""
    result = Backtest(
        horizon, {m: [[] for _ in range(horizon)] for m in METHODS}, [[] for _ in range(horizon)]
    )
    for y, origin, history, steps in _origins(series, horizon, first_origin, config):
        model = forecast(history, steps, config)
        answers = {
            "model": model.amount,
            "seasonal_naive": seasonal_naive(history, steps),
            "simple_smoothing": simple_smoothing(history, steps),
        }
        result.origins += 1
        for i in range(steps):
            actual = y[origin + i]
            if math.isnan(actual) or actual <= 0:
                continue
            for method, predicted in answers.items():
                result.errors[method][i].append(abs(predicted[i] - actual) / actual)
            result.inside[i].append(bool(model.lower[i] <= actual <= model.upper[i]))
    return result


def _origins(series: Sequence[np.ndarray], horizon: int, first_origin: int, config: ForecastConfig):
    """(series, origin T, its months before T, how many months after T it has, up to horizon) for
    every origin from first_origin on whose history can be forecast."""
    for y in series:
        y = np.asarray(y, dtype=np.float64)
        for origin in range(first_origin, len(y)):
            history = y[:origin]
            if known_months(history) >= config.min_months and not math.isnan(history[-1]):
                yield y, origin, history, min(horizon, len(y) - origin)


def calibrate_interval(
    series: Sequence[np.ndarray], horizon: int = 6, first_origin: int = 24, config: ForecastConfig = DEFAULT
) -> tuple[float, ...]:
    """Per horizon, the factor by which the model's own interval must be widened so that it holds
    `config.interval` of the actuals on rolling origins of `series`: the `config.interval` quantile
    of |log actual - log forecast| / the unwidened half-width."""
    unscaled = dataclasses.replace(config, interval_scale=(1.0,) * horizon)
    ratios: list[list[float]] = [[] for _ in range(horizon)]
    for y, origin, history, steps in _origins(series, horizon, first_origin, config):
        f = forecast(history, steps, unscaled)
        for i in range(steps):
            if not math.isnan(y[origin + i]):
                ratios[i].append(abs(math.log1p(y[origin + i]) - f.log_center[i]) / f.log_halfwidth[i])
    return tuple(round(float(np.quantile(r, config.interval)), 3) for r in ratios)


def config_dict(config: ForecastConfig = DEFAULT) -> dict:
    return {k: list(v) if isinstance(v, tuple) else v for k, v in dataclasses.asdict(config).items()}
