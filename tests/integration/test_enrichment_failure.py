"""A failed enrichment ends FAILED with a reason (never RUNNING for ever); asking again succeeds."""

from __future__ import annotations

import grpc
import pytest
from cloudwaste.enricher.v1 import enricher_service_pb2, enrichment_run_pb2


def test_a_failed_enrichment_is_failed_and_a_retry_succeeds(stack, monkeypatch):
    from cloudwaste.enricher import store as enricher_store

    run = stack.scan(stack.create_account().name)
    stack.wait_enriched(run.name)  # the scanner's own hand-off succeeded

    def broken(tags):
        raise RuntimeError("tag vocabulary unavailable")

    monkeypatch.setattr(enricher_store, "anonymize_tags", broken)
    request = enricher_service_pb2.EnrichScanRunRequest(scan_run=run.name)
    with pytest.raises(grpc.RpcError) as err:
        stack.enricher.EnrichScanRun(request)
    assert err.value.code() == grpc.StatusCode.INTERNAL and "RuntimeError" not in err.value.details()
    failed = stack.enricher.GetEnrichmentRun(
        enricher_service_pb2.GetEnrichmentRunRequest(scan_run=run.name)
    ).enrichment_run
    assert failed.state == enrichment_run_pb2.ENRICHMENT_RUN_STATE_FAILED and failed.error_message
    monkeypatch.undo()
    again = stack.enricher.EnrichScanRun(request).enrichment_run
    assert (
        again.state == enrichment_run_pb2.ENRICHMENT_RUN_STATE_SUCCEEDED
        and again.rows_enriched == run.findings_count
    )
