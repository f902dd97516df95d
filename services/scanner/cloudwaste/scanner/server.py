"""Scanner bootstrap: `cloudwaste serve scanner`."""

from __future__ import annotations

import grpc
from cloudwaste.core import logs
from cloudwaste.core.db import Database
from cloudwaste.core.server import App, serve
from cloudwaste.scanner import providers
from cloudwaste.scanner.engine import Engine
from cloudwaste.scanner.rules import load_all
from cloudwaste.scanner.servicer import ScannerServicer
from cloudwaste.scanner.settings import ScannerSettings
from cloudwaste.scanner.store import ScannerStore
from cloudwaste.scanner.v1 import scanner_service_pb2, scanner_service_pb2_grpc
from cloudwaste.scanner.worker import ScanWorker


def enricher_notifier(address: str):
    """EnrichScanRun over gRPC with a deadline; raises when the enricher does not answer OK. OK means
    the enrichment is queued (the enricher's worker runs it), so the call is quick."""
    if not address:
        return None
    from cloudwaste.enricher.v1 import enricher_service_pb2, enricher_service_pb2_grpc

    channel = grpc.insecure_channel(address)
    stub = enricher_service_pb2_grpc.EnricherServiceStub(channel)

    def notify(scan_run: str) -> None:
        stub.EnrichScanRun(enricher_service_pb2.EnrichScanRunRequest(scan_run=scan_run), timeout=30)

    return notify


def build_app(settings: ScannerSettings) -> App:
    db = Database(settings.database_url)
    store = ScannerStore(db, settings.hash_key)
    engine = Engine(load_all(), providers.options_from_settings(settings), settings.region_concurrency)
    worker = ScanWorker(
        store,
        engine,
        enricher_notifier(settings.enricher_address),
        settings.scan_workers,
        settings.poll_seconds,
    )
    servicer = ScannerServicer(store, on_scan_queued=worker.wake)
    name = scanner_service_pb2.DESCRIPTOR.services_by_name["ScannerService"].full_name
    return App(
        name="scanner",
        service_names=[name],
        register=lambda server: scanner_service_pb2_grpc.add_ScannerServiceServicer_to_server(
            servicer, server
        ),
        on_start=[worker.start],
        on_stop=[lambda: worker.stop(settings.shutdown_grace_seconds), db.dispose],
    )


def main() -> None:
    settings = ScannerSettings.from_env()
    logs.configure("scanner", settings.log_level)
    serve(settings, build_app(settings))
