"""Cost trends per account and month, written by the enricher from the ML rows: the waste level
of the last complete scan, the waste the users eliminated (findings marked deleted), and no real
spend until a billing source is read (null, never 0). Through the services, over two scans with
decisions between them; an older scan enriched again does not replace the newer level; a tenant's
erasure takes them."""

from __future__ import annotations

import pytest
from cloudwaste.core.privacy import keyed_hash
from cloudwaste.enricher.v1 import enricher_service_pb2
from cloudwaste.scanner.v1 import finding_pb2, scanner_service_pb2

from tests.integration.conftest import HASH_KEY, TENANT, sql_rows


def _usd(m) -> float:
    return m.units + m.nanos / 1e9


def _trends(url: str) -> list[tuple]:
    return sql_rows(
        url,
        "SELECT account_hash, tenant_hash, month, waste_detected, waste_eliminated, real_spend, as_of "
        "FROM cost_trend_data",
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
    assert eliminated == 0.0 and real is None  # nothing decided yet; no billing source read
    assert month == as_of.date().replace(day=1)

    # users delete some, keep others; the next scan's enrichment counts what was eliminated
    costly = sorted(found, key=lambda f: -_usd(f.monthly_cost))
    deleted, kept = costly[:5], costly[5:8]
    for f, state in [*((f, finding_pb2.FINDING_STATE_DELETED) for f in deleted),
                     *((f, finding_pb2.FINDING_STATE_KEPT) for f in kept)]:
        stack.scanner.SetFindingState(scanner_service_pb2.SetFindingStateRequest(name=f.name, state=state))
    second = stack.scan(account.name)
    stack.wait_enriched(second.name)
    ((_, _, month2, detected2, eliminated2, _, as_of2),) = _trends(stack.database_url)
    assert month2 == month and as_of2 > as_of
    assert detected2 == pytest.approx(_usd(second.total_monthly_waste), abs=0.01)
    assert eliminated2 == pytest.approx(sum(_usd(f.monthly_cost) for f in deleted), abs=0.01) and eliminated2 > 0

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
    assert _trends(stack.database_url) == []
