"""Cost forecasts over real gRPC: from an account's months as the enricher keeps them
(cost_trend_data), or from a series sent in; each month with its 80% interval; bad input names its
field."""

from __future__ import annotations

import datetime as dt
import math

import grpc
import numpy as np
import pytest
from cloudwaste.core.db import Database
from cloudwaste.core.models import CostTrendData
from cloudwaste.predictor import forecast
from cloudwaste.predictor.v1 import prediction_pb2
from cloudwaste.predictor.v1 import predictor_service_pb2 as pb
from cloudwaste.sim import spend

from tests.conftest import fresh_database
from tests.integration.conftest import serve_predictor

ACCOUNT = "a" * 64
YOUNG = "b" * 64


def _months_back(n: int) -> dt.date:
    """The first day of the month n months before this one."""
    today = dt.datetime.now(dt.UTC).date()
    index = today.year * 12 + today.month - 1 - n
    return dt.date(index // 12, index % 12 + 1, 1)


@pytest.fixture(scope="module")
def served(pg_cluster):
    with fresh_database(pg_cluster) as url:
        bill = spend.simulate(1, 30, seed=5)[0].monthly
        bill[np.isnan(bill)] = np.nanmean(bill)  # the one unknown month is the test's own
        db = Database(url)
        with db.transaction() as s:
            # 30 complete months up to last month, one of them unknown (null); this month to date;
            # and an account with two months only.
            for i, amount in enumerate(bill):
                s.add(
                    CostTrendData(
                        account_hash=ACCOUNT,
                        tenant_hash="t" * 64,
                        month=_months_back(30 - i),
                        real_spend=None if i == 10 else float(amount),
                        waste_detected=100.0,
                    )
                )
            s.add(
                CostTrendData(
                    account_hash=ACCOUNT, tenant_hash="t" * 64, month=_months_back(0), real_spend=1.0
                )
            )
            for n in (2, 1):
                s.add(
                    CostTrendData(
                        account_hash=YOUNG, tenant_hash="t" * 64, month=_months_back(n), real_spend=50.0
                    )
                )
        db.dispose()
        for stub in serve_predictor(url):
            yield stub, bill


def test_an_account_forecast_from_its_stored_months(served):
    stub, bill = served
    got = stub.ForecastCost(pb.ForecastCostRequest(account_hash=ACCOUNT, horizon_months=6), timeout=10)
    assert got.model_version == "models/forecast/versions/0"
    assert got.history_months == 29  # 30 complete months, one unknown; this month to date left out
    assert got.history_first_month == _months_back(30).strftime("%Y-%m")
    assert [m.month for m in got.months] == [_months_back(-i).strftime("%Y-%m") for i in range(6)]
    for m in got.months:
        assert 0 < m.lower < m.amount < m.upper
    # the same as the forecaster's own answer on the same months
    history = bill.copy()
    history[10] = math.nan
    expected = forecast.forecast(history, 6)
    np.testing.assert_allclose([m.amount for m in got.months], expected.amount, rtol=1e-9)
    np.testing.assert_allclose([m.upper for m in got.months], expected.upper, rtol=1e-9)
    assert got.method == expected.method
    assert stub.ForecastCost(pb.ForecastCostRequest(account_hash=ACCOUNT), timeout=10).months.__len__() == 3


def test_an_account_without_enough_months_or_unknown(served):
    stub, _ = served
    with pytest.raises(grpc.RpcError) as err:
        stub.ForecastCost(pb.ForecastCostRequest(account_hash=YOUNG), timeout=10)
    assert err.value.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert "2 complete month(s)" in err.value.details()
    with pytest.raises(grpc.RpcError) as err:
        stub.ForecastCost(pb.ForecastCostRequest(account_hash="c" * 64), timeout=10)
    assert err.value.code() == grpc.StatusCode.NOT_FOUND


def test_a_series_sent_in_with_the_current_month_from_its_days(served):
    stub, _ = served
    amounts = [1000.0 * 1.02**i for i in range(12)]
    plain = stub.ForecastCost(
        pb.ForecastCostRequest(spend=prediction_pb2.MonthlySpend(first_month="2025-01", amounts=amounts)),
        timeout=10,
    )
    assert [m.month for m in plain.months] == ["2026-01", "2026-02", "2026-03"]
    assert plain.method == "damped_trend" and plain.history_months == 12
    # 10 days of January 2026 at a rate far above the trend: January becomes history (31 x 50)
    daily = stub.ForecastCost(
        pb.ForecastCostRequest(
            spend=prediction_pb2.MonthlySpend(
                first_month="2025-01", amounts=amounts, daily_amounts=[50.0] * 10
            ),
            horizon_months=2,
        ),
        timeout=10,
    )
    assert [m.month for m in daily.months] == ["2026-02", "2026-03"]
    assert daily.history_months == 13 and daily.months[0].amount > plain.months[1].amount
    # months before the first spend are not history (the account did not exist)
    late = stub.ForecastCost(
        pb.ForecastCostRequest(
            spend=prediction_pb2.MonthlySpend(first_month="2024-11", amounts=[0.0, math.nan, *amounts])
        ),
        timeout=10,
    )
    assert late.history_first_month == "2025-01" and late.history_months == 12


@pytest.mark.parametrize(
    ("request_", "field"),
    [
        (pb.ForecastCostRequest(), "history"),
        (pb.ForecastCostRequest(account_hash="not-a-hash"), "account_hash"),
        (pb.ForecastCostRequest(account_hash=ACCOUNT, horizon_months=7), "horizon_months"),
        (pb.ForecastCostRequest(account_hash=ACCOUNT, horizon_months=-1), "horizon_months"),
        (pb.ForecastCostRequest(spend=prediction_pb2.MonthlySpend(amounts=[1, 2, 3])), "spend.first_month"),
        (
            pb.ForecastCostRequest(
                spend=prediction_pb2.MonthlySpend(first_month="2025-13", amounts=[1, 2, 3])
            ),
            "spend.first_month",
        ),
        (
            pb.ForecastCostRequest(spend=prediction_pb2.MonthlySpend(first_month="2025-01", amounts=[1, 2])),
            "spend.amounts",
        ),
        (
            pb.ForecastCostRequest(
                spend=prediction_pb2.MonthlySpend(first_month="2025-01", amounts=[1, math.inf, 3])
            ),
            "spend.amounts[1]",
        ),
        (
            pb.ForecastCostRequest(
                spend=prediction_pb2.MonthlySpend(first_month="2025-01", amounts=[1, -2, 3])
            ),
            "spend.amounts[1]",
        ),
        (
            pb.ForecastCostRequest(
                spend=prediction_pb2.MonthlySpend(first_month="2025-01", amounts=[1, 2, math.nan])
            ),
            "spend.amounts[2]",
        ),
        (
            pb.ForecastCostRequest(
                spend=prediction_pb2.MonthlySpend(first_month="2025-01", amounts=[1, math.nan, 3])
            ),
            "spend.amounts",
        ),
        (
            pb.ForecastCostRequest(
                spend=prediction_pb2.MonthlySpend(
                    first_month="2025-11", amounts=[1, 2, 3], daily_amounts=[1.0] * 29
                )
            ),
            "spend.daily_amounts",  # February 2026 has 28 days
        ),
        (
            pb.ForecastCostRequest(
                spend=prediction_pb2.MonthlySpend(
                    first_month="2025-01", amounts=[1, 2, 3], daily_amounts=[math.nan]
                )
            ),
            "spend.daily_amounts[0]",
        ),
    ],
)
def test_bad_input_names_its_field(served, request_, field):
    stub, _ = served
    with pytest.raises(grpc.RpcError) as err:
        stub.ForecastCost(request_, timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert err.value.details().startswith(f"{field}:") or f"{field} " in err.value.details(), (
        err.value.details()
    )
