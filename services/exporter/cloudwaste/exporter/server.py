"""Exporter bootstrap: `cloudwaste serve exporter`."""

from __future__ import annotations

import datetime as dt
import logging

from cloudwaste.core import logs
from cloudwaste.core.db import Database
from cloudwaste.core.server import App, serve
from cloudwaste.exporter import metrics
from cloudwaste.exporter.purge import Purger
from cloudwaste.exporter.runs import Exports
from cloudwaste.exporter.servicer import ExporterServicer
from cloudwaste.exporter.settings import ExporterSettings
from cloudwaste.exporter.store import ExporterStore
from cloudwaste.exporter.v1 import exporter_service_pb2, exporter_service_pb2_grpc
from cloudwaste.exporter.worker import ExportWorker

log = logging.getLogger(__name__)


def build_app(settings: ExporterSettings) -> App:
    db = Database(settings.database_url)
    store = ExporterStore(db)
    exports = Exports(store, settings)
    purger = Purger(db, store, exports.storage)  # file:// or s3://, like the exports
    # exports and purges run here, not on RPC threads
    worker = ExportWorker(exports, store, purger, lease=dt.timedelta(seconds=settings.export_lease_seconds))
    servicer = ExporterServicer(exports, store, purger, on_queued=worker.wake)
    name = exporter_service_pb2.DESCRIPTOR.services_by_name["ExporterService"].full_name
    return App(
        name="exporter",
        service_names=[name],
        register=lambda server: exporter_service_pb2_grpc.add_ExporterServiceServicer_to_server(
            servicer, server
        ),
        on_start=[lambda: _restore_metrics(store), worker.start],
        on_stop=[lambda: worker.stop(settings.shutdown_grace_seconds), db.dispose],
        database=db,
    )


def _restore_metrics(store: ExporterStore) -> None:
    try:
        metrics.restore(store)
    except Exception as exc:  # the database may be down at start: readiness says so; gauges stay unset
        log.warning("could not restore the last-success metrics", extra={"error": str(exc)})


def main() -> None:
    settings = ExporterSettings.from_env()
    logs.configure("exporter", settings.log_level)
    serve(settings, build_app(settings))
