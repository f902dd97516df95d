"""A failed enrichment is retried, then ends FAILED with a reason (never RUNNING for ever); queueing
it again succeeds."""

from __future__ import annotations

import time

from cloudwaste.enricher.v1 import enricher_service_pb2, enrichment_run_pb2

ENDED = (enrichment_run_pb2.ENRICHMENT_RUN_STATE_SUCCEEDED, enrichment_run_pb2.ENRICHMENT_RUN_STATE_FAILED)


def wait_ended(stack, scan_run: str, timeout: float = 30) -> enrichment_run_pb2.EnrichmentRun:
    """EnrichScanRun only queues the run: polls GetEnrichmentRun until the enricher's worker ended it."""
    deadline = time.monotonic() + timeout
    while True:
        er = stack.enricher.GetEnrichmentRun(
            enricher_service_pb2.GetEnrichmentRunRequest(scan_run=scan_run), timeout=5
        ).enrichment_run
        if er.state in ENDED:
            return er
        assert time.monotonic() < deadline, f"the enrichment of {scan_run} did not end: {er}"
        time.sleep(0.05)


def test_a_failed_enrichment_is_failed_and_queueing_it_again_succeeds(stack, monkeypatch):
    from cloudwaste.enricher import store as enricher_store

    run = stack.scan(stack.create_account().name)
    stack.wait_enriched(run.name)  # the scanner's own hand-off succeeded

    def broken(tags):
        raise RuntimeError("tag vocabulary unavailable")

    monkeypatch.setattr(enricher_store, "anonymize_tags", broken)
    monkeypatch.setattr(enricher_store, "RETRY_DELAY", enricher_store.dt.timedelta(0))
    request = enricher_service_pb2.EnrichScanRunRequest(scan_run=run.name)
    queued = stack.enricher.EnrichScanRun(request).enrichment_run  # OK: queued, not yet run
    assert queued.state == enrichment_run_pb2.ENRICHMENT_RUN_STATE_PENDING
    failed = wait_ended(stack, run.name)
    assert failed.state == enrichment_run_pb2.ENRICHMENT_RUN_STATE_FAILED and failed.error_message
    assert "RuntimeError" not in failed.error_message and "vocabulary" not in failed.error_message
    assert failed.HasField("end_time") and failed.attempts == 3  # retried until the last attempt
    monkeypatch.undo()
    again = stack.enricher.EnrichScanRun(request).enrichment_run
    assert again.state == enrichment_run_pb2.ENRICHMENT_RUN_STATE_PENDING and not again.error_message
    assert again.attempts == failed.attempts + 1
    done = wait_ended(stack, run.name)
    assert (
        done.state == enrichment_run_pb2.ENRICHMENT_RUN_STATE_SUCCEEDED
        and done.rows_enriched == run.findings_count
    )
