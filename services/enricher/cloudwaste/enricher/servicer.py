"""EnricherService: a thin adapter over EnricherStore."""

from __future__ import annotations

from cloudwaste.core import names
from cloudwaste.core.protoconv import timestamp
from cloudwaste.enricher.store import EnricherStore
from cloudwaste.enricher.v1 import enricher_service_pb2, enricher_service_pb2_grpc, enrichment_run_pb2


def _pb(er) -> enrichment_run_pb2.EnrichmentRun:
    return enrichment_run_pb2.EnrichmentRun(
        scan_run=names.format("scanRuns", er.scan_run_id),
        state=enrichment_run_pb2.EnrichmentRunState.Value(f"ENRICHMENT_RUN_STATE_{er.state}"),
        rows_enriched=er.rows_enriched,
        attempts=er.attempts,
        create_time=timestamp(er.create_time),
        update_time=timestamp(er.update_time),
        error_message=er.error_message or "",
    )


class EnricherServicer(enricher_service_pb2_grpc.EnricherServiceServicer):
    def __init__(self, store: EnricherStore) -> None:
        self.store = store

    def EnrichScanRun(self, request, context):
        er = self.store.enrich(names.parse("scan_run", request.scan_run, "scanRuns"))
        return enricher_service_pb2.EnrichScanRunResponse(enrichment_run=_pb(er))

    def GetEnrichmentRun(self, request, context):
        er = self.store.get(names.parse("scan_run", request.scan_run, "scanRuns"))
        return enricher_service_pb2.GetEnrichmentRunResponse(enrichment_run=_pb(er))
