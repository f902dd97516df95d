"""Simulated monthly cloud spend of accounts: the series the cost forecast is backtested on until
enough real months are stored (`cost_trend_data.real_spend` grows by a month a month).

Each account's bill, on the log scale, is a level that grows by a slowly drifting monthly rate,
plus a yearly pattern (a smooth wave for most accounts, a year-end peak for some, none for others),
plus noise, plus shifts nobody can foresee: a migration or a new project (either way), a clean-up
after waste was removed (down). A few months are unknown (the bill could not be read), and each
month can be split into days with a weekly rhythm (`daily`).

The forecaster assumes trend and season too, so this is kinder to it than real bills may be: the
shifts and the drifting growth are what keep it honest, and the README says so.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class AccountSpend:
    first_month: dt.date  # the first day of the first month
    monthly: np.ndarray  # $ per month, NaN where the bill could not be read

    def month(self, i: int) -> dt.date:
        index = self.first_month.year * 12 + self.first_month.month - 1 + i
        return dt.date(index // 12, index % 12 + 1, 1)


def simulate(
    accounts: int, months: int = 36, seed: int = 0, last_month: dt.date = dt.date(2026, 11, 1)
) -> list[AccountSpend]:
    rng = np.random.default_rng(seed)
    index = last_month.year * 12 + last_month.month - 1 - (months - 1)
    first = dt.date(index // 12, index % 12 + 1, 1)
    calendar_month = (np.arange(months) + first.month - 1) % 12  # 0 = January
    out = []
    for _ in range(accounts):
        level = rng.normal(np.log(15_000), 1.3)
        growth = rng.normal(0.012, 0.012) + np.cumsum(rng.normal(0, 0.002, months))
        kind = rng.choice(["wave", "year_end", "none"], p=[0.5, 0.2, 0.3])
        if kind == "wave":
            season = rng.uniform(0.02, 0.10) * np.sin(2 * np.pi * (calendar_month + rng.uniform(0, 12)) / 12)
        elif kind == "year_end":
            season = rng.uniform(0.05, 0.15) * np.isin(calendar_month, (10, 11)) - 0.02
        else:
            season = np.zeros(months)
        shifts = np.where(rng.random(months) < 0.03, rng.normal(0, 0.12, months), 0.0)
        cleanups = np.where(rng.random(months) < 0.05, -rng.uniform(0.02, 0.10, months), 0.0)
        noise = rng.normal(0, rng.uniform(0.015, 0.05), months)
        log_spend = level + np.cumsum(growth) + season + np.cumsum(shifts + cleanups) + noise
        monthly = np.exp(log_spend)
        monthly[rng.random(months) < 0.02] = np.nan
        monthly[-1] = np.exp(log_spend[-1])  # the latest month is always read
        out.append(AccountSpend(first, monthly))
    return out


def daily(total: float, month: dt.date, rng: np.random.Generator) -> np.ndarray:
    """A month's spend split into its days: weekends 15% lower, 5% noise, summing to `total`."""
    days = calendar.monthrange(month.year, month.month)[1]
    weekday = np.array([(month.replace(day=d + 1)).weekday() for d in range(days)])
    weights = np.where(weekday >= 5, 0.85, 1.0) * rng.lognormal(0, 0.05, days)
    return total * weights / weights.sum()
