"""Enricher bootstrap: `cloudwaste serve enricher`."""

from __future__ import annotations

import datetime as dt

from cloudwaste.core import logs
from cloudwaste.core.db import Database
from cloudwaste.core.server import App, serve
from cloudwaste.enricher.servicer import EnricherServicer
from cloudwaste.enricher.settings import EnricherSettings
from cloudwaste.enricher.store import EnricherStore
from cloudwaste.enricher.v1 import enricher_service_pb2, enricher_service_pb2_grpc
from cloudwaste.enricher.worker import EnrichmentWorker


def build_app(settings: EnricherSettings) -> App:
    db = Database(settings.database_url)
    store = EnricherStore(db)
    worker = EnrichmentWorker(  # enrichment runs here, never on the RPC threads
        store,
        settings.worker_threads,
        settings.poll_seconds,
        dt.timedelta(seconds=settings.run_timeout_seconds),
        dt.timedelta(seconds=settings.lease_seconds),
    )
    servicer = EnricherServicer(store, on_queued=worker.wake)
    name = enricher_service_pb2.DESCRIPTOR.services_by_name["EnricherService"].full_name
    return App(
        name="enricher",
        service_names=[name],
        register=lambda server: enricher_service_pb2_grpc.add_EnricherServiceServicer_to_server(
            servicer, server
        ),
        on_start=[worker.start],
        on_stop=[lambda: worker.stop(settings.shutdown_grace_seconds), db.dispose],
        database=db,
    )


def main() -> None:
    settings = EnricherSettings.from_env()
    logs.configure("enricher", settings.log_level)
    serve(settings, build_app(settings))
