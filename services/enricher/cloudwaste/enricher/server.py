"""Enricher bootstrap: `cloudwaste serve enricher`."""

from __future__ import annotations

from cloudwaste.core import logs
from cloudwaste.core.db import Database
from cloudwaste.core.server import App, serve
from cloudwaste.enricher.servicer import EnricherServicer
from cloudwaste.enricher.settings import EnricherSettings
from cloudwaste.enricher.store import EnricherStore
from cloudwaste.enricher.v1 import enricher_service_pb2, enricher_service_pb2_grpc


def build_app(settings: EnricherSettings) -> App:
    db = Database(settings.database_url)
    servicer = EnricherServicer(EnricherStore(db))
    name = enricher_service_pb2.DESCRIPTOR.services_by_name["EnricherService"].full_name
    return App(
        name="enricher",
        service_names=[name],
        register=lambda server: enricher_service_pb2_grpc.add_EnricherServiceServicer_to_server(
            servicer, server
        ),
        on_stop=[db.dispose],
    )


def main() -> None:
    settings = EnricherSettings.from_env()
    logs.configure("enricher", settings.log_level)
    serve(settings, build_app(settings))
