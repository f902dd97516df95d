"""Cost trends per account and month, written by the enricher from the ML rows and the hand-off:
the waste level of the last complete scan, the waste the users eliminated (findings marked
deleted), and the account's real spend as its bill says (Cost Explorer's GetCostAndUsage; this
month to date and the twelve before). Through the services, over scans with decisions between them;
an older scan enriched again does not replace the newer level; a tenant's erasure takes them."""

from __future__ import annotations

import datetime as dt

import pytest
from cloudwaste.core.privacy import keyed_hash
from cloudwaste.enricher.v1 import enricher_service_pb2
from cloudwaste.predictor.v1 import predictor_service_pb2
from cloudwaste.scanner.providers import aws_billing
from cloudwaste.scanner.v1 import finding_pb2, scanner_service_pb2
from cloudwaste.sim import billing

from tests.integration.conftest import HASH_KEY, TENANT, months_billed, sql_rows


def _usd(m) -> float:
    return m.units + m.nanos / 1e9


def _trends(url: str, months: str = "as_of IS NOT NULL") -> list[tuple]:
    """The trend rows of the months a scan measured (by default), or of `months`."""
    return sql_rows(
        url,
        "SELECT account_hash, tenant_hash, month, waste_detected, waste_eliminated, real_spend, as_of "
        f"FROM cost_trend_data WHERE {months} ORDER BY month",
    )


def test_waste_detected_and_eliminated_per_account_and_month(stack):
    account = stack.create_account()
    first = stack.scan(account.name)
    stack.wait_enriched(first.name)
    found = stack.findings(scan_run=first.name)
    ((account_hash, tenant_hash, month, detected, eliminated, real, as_of),) = _trends(stack.database_url)
    assert tenant_hash == keyed_hash(HASH_KEY, "tenant", TENANT) and len(account_hash) == 64
    assert detected == pytest.approx(sum(_usd(f.monthly_cost) for f in found), abs=0.01)
    assert detected == pytest.approx(_usd(first.total_monthly_waste), abs=0.01)
    assert eliminated == 0.0  # nothing decided yet
    assert month == as_of.date().replace(day=1)
    # the real spend of this month to date and of the twelve before, as the simulated bill says
    spend = {m: r for _, _, m, _, _, r, _ in _trends(stack.database_url, "real_spend IS NOT NULL")}
    assert len(spend) == months_billed(as_of.date(), aws_billing.SPEND_MONTHS) and spend.get(month) == real
    bill = billing.cost_and_usage(
        stack.truth.account_id,
        {"TimePeriod": {"Start": min(spend).isoformat(), "End": as_of.date().isoformat()}},
        as_of.date(),
    )
    billed = {
        dt.date.fromisoformat(p["TimePeriod"]["Start"]).replace(day=1): float(
            p["Total"]["NetAmortizedCost"]["Amount"]
        )
        for p in bill["ResultsByTime"]
    }
    assert billed.keys() == spend.keys()
    assert all(spend[m] == pytest.approx(billed[m], rel=1e-6) and spend[m] > 0 for m in spend)
    # ... and the sum of the CUR lines of the same charges over a complete month (tax included)
    last = min(month - dt.timedelta(days=1), max(spend)).replace(day=1)
    lines = billing.lines(stack.truth.account_id, billing.ledger(stack.truth.account_id), last, month)
    paid = sum(
        x["line_item_unblended_cost"] if x["line_item_line_item_type"] == "Tax" else billing.net_cost(x)
        for x in lines
        if x["line_item_usage_start_date"].date() >= last
    )
    assert paid == pytest.approx(spend[last], rel=1e-6)

    # the account names its hash, and the predictor forecasts its spend from the first scan: the
    # complete months of its bill (this month is only to date)
    named = stack.scanner.GetCloudAccount(scanner_service_pb2.GetCloudAccountRequest(name=account.name))
    assert named.cloud_account.account_hash == account_hash
    complete = sorted(m for m in spend if m < month)
    forecast = stack.predictor.ForecastCost(
        predictor_service_pb2.ForecastCostRequest(account_hash=account_hash)
    )
    assert forecast.history_months == len(complete) >= 11
    assert forecast.history_first_month == f"{complete[0]:%Y-%m}"
    assert forecast.months[0].month == f"{month:%Y-%m}"  # this month first, then the next two
    assert len(forecast.months) == 3 and all(0 < m.lower < m.amount < m.upper for m in forecast.months)

    # users delete some, keep others; the next scan's enrichment counts what was eliminated
    costly = sorted(found, key=lambda f: -_usd(f.monthly_cost))
    deleted, kept = costly[:5], costly[5:8]
    for f, state in [
        *((f, finding_pb2.FINDING_STATE_DELETED) for f in deleted),
        *((f, finding_pb2.FINDING_STATE_KEPT) for f in kept),
    ]:
        stack.scanner.SetFindingState(scanner_service_pb2.SetFindingStateRequest(name=f.name, state=state))
    second = stack.scan(account.name)
    stack.wait_enriched(second.name)
    ((_, _, month2, detected2, eliminated2, _, as_of2),) = _trends(stack.database_url)
    assert month2 == month and as_of2 > as_of
    assert detected2 == pytest.approx(_usd(second.total_monthly_waste), abs=0.01)
    assert (
        eliminated2 == pytest.approx(sum(_usd(f.monthly_cost) for f in deleted), abs=0.01) and eliminated2 > 0
    )

    # the first scan enriched again (a retry, late): its older level does not come back
    stack.enricher.EnrichScanRun(enricher_service_pb2.EnrichScanRunRequest(scan_run=first.name))
    stack.wait_enriched(first.name)
    ((_, _, _, detected3, eliminated3, _, as_of3),) = _trends(stack.database_url)
    assert (detected3, eliminated3, as_of3) == (detected2, eliminated2, as_of2)

    # a decision taken back is no longer counted as eliminated at the next enrichment
    stack.scanner.SetFindingState(
        scanner_service_pb2.SetFindingStateRequest(name=deleted[0].name, state=finding_pb2.FINDING_STATE_KEPT)
    )
    third = stack.scan(account.name)
    stack.wait_enriched(third.name)
    ((_, _, _, _, eliminated4, _, _),) = _trends(stack.database_url)
    assert eliminated4 == pytest.approx(eliminated2 - _usd(deleted[0].monthly_cost), abs=0.01)

    # erasing the tenant removes its trends with its ML rows
    stack.scanner.EraseTenantData(scanner_service_pb2.EraseTenantDataRequest(tenant_id=TENANT))
    assert _trends(stack.database_url, "true") == []
