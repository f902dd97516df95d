"""EnricherService: a thin adapter over EnricherStore. EnrichScanRun only queues the run; the
enrichment worker (worker.py) executes it."""

from __future__ import annotations

from collections.abc import Callable

from cloudwaste.core import names, pagination
from cloudwaste.core.errors import InvalidArgument
from cloudwaste.core.protoconv import run_error, timestamp
from cloudwaste.enricher.store import EnricherStore
from cloudwaste.enricher.v1 import enricher_service_pb2, enricher_service_pb2_grpc, enrichment_run_pb2

_STATE_PREFIX = "ENRICHMENT_RUN_STATE_"


def _pb(er) -> enrichment_run_pb2.EnrichmentRun:
    return enrichment_run_pb2.EnrichmentRun(
        scan_run=names.format("scanRuns", er.scan_run_id),
        state=enrichment_run_pb2.EnrichmentRunState.Value(f"{_STATE_PREFIX}{er.state}"),
        rows_enriched=er.rows_enriched,
        attempts=er.attempts,
        create_time=timestamp(er.create_time),
        update_time=timestamp(er.update_time),
        start_time=timestamp(er.start_time),
        end_time=timestamp(er.end_time),
        error_message=er.error_message or "",
        error=run_error(er),
    )


def _state(value: int) -> str | None:
    if value == enrichment_run_pb2.ENRICHMENT_RUN_STATE_UNSPECIFIED:
        return None
    try:
        return enrichment_run_pb2.EnrichmentRunState.Name(value).removeprefix(_STATE_PREFIX)
    except ValueError:
        raise InvalidArgument("state", f"is not an enrichment run state (got {value})") from None


class EnricherServicer(enricher_service_pb2_grpc.EnricherServiceServicer):
    def __init__(self, store: EnricherStore, on_queued: Callable[[], None] = lambda: None) -> None:
        self.store, self.on_queued = store, on_queued

    def EnrichScanRun(self, request, context):
        er = self.store.queue(names.parse("scan_run", request.scan_run, "scanRuns"))
        self.on_queued()
        return enricher_service_pb2.EnrichScanRunResponse(enrichment_run=_pb(er))

    def GetEnrichmentRun(self, request, context):
        er = self.store.get(names.parse("scan_run", request.scan_run, "scanRuns"))
        return enricher_service_pb2.GetEnrichmentRunResponse(enrichment_run=_pb(er))

    def ListEnrichmentRuns(self, request, context):
        size = pagination.page_size(request.page_size, default=50, maximum=500)
        rows, token = self.store.list_runs(size, request.page_token, _state(request.state))
        return enricher_service_pb2.ListEnrichmentRunsResponse(
            enrichment_runs=[_pb(r) for r in rows], next_page_token=token
        )
