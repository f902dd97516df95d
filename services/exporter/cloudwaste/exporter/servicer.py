"""ExporterService: validates, records the run, streams progress from the core export."""

from __future__ import annotations

import logging
import time

from cloudwaste.core import names
from cloudwaste.core.errors import CloudWasteError, InvalidArgument
from cloudwaste.core.protoconv import timestamp
from cloudwaste.exporter.errors import ExportFailed
from cloudwaste.exporter.export import Progress, export_ml_dataset, resolve_destination
from cloudwaste.exporter.metrics import BYTES, DURATION, EXPORTS, ROWS
from cloudwaste.exporter.settings import ExporterSettings
from cloudwaste.exporter.store import ExporterStore
from cloudwaste.exporter.v1 import export_run_pb2, exporter_service_pb2, exporter_service_pb2_grpc

log = logging.getLogger(__name__)


def export_run_pb(r) -> export_run_pb2.ExportRun:
    return export_run_pb2.ExportRun(
        name=names.format("exportRuns", r.id),
        state=export_run_pb2.ExportRunState.Value(f"EXPORT_RUN_STATE_{r.state}"),
        format=export_run_pb2.DatasetFormat.Value(f"DATASET_FORMAT_{r.format}"),
        destination_uri=r.destination_uri,
        dataset_uri=r.dataset_uri or "",
        manifest_uri=r.manifest_uri or "",
        row_count=r.row_count,
        size_bytes=r.size_bytes,
        sha256=r.sha256 or "",
        schema_version=r.schema_version,
        error_message=r.error_message or "",
        create_time=timestamp(r.create_time),
        end_time=timestamp(r.end_time),
    )


class ExporterServicer(exporter_service_pb2_grpc.ExporterServiceServicer):
    def __init__(self, store: ExporterStore, settings: ExporterSettings) -> None:
        self.store, self.settings = store, settings

    def ExportDataset(self, request, context):
        if request.format not in (
            export_run_pb2.DATASET_FORMAT_UNSPECIFIED,
            export_run_pb2.DATASET_FORMAT_PARQUET,
        ):
            raise InvalidArgument("format", "only DATASET_FORMAT_PARQUET is supported")
        folder = resolve_destination(request.destination_uri, self.settings.export_root)
        run = self.store.create(request.destination_uri, "PARQUET", request.labeled_only)
        started = time.perf_counter()
        try:
            for item in export_ml_dataset(
                self.settings.database_url,
                folder,
                run.id,
                labeled_only=request.labeled_only,
                batch_rows=self.settings.batch_rows,
            ):
                if isinstance(item, Progress):
                    if not context.is_active():
                        raise ExportFailed("client went away; export abandoned")
                    yield exporter_service_pb2.ExportDatasetResponse(
                        export_run=export_run_pb(run),
                        rows_written=item.rows_written,
                        rows_total=item.rows_total,
                    )
                else:
                    run = self.store.finish(
                        run.id,
                        state="SUCCEEDED",
                        dataset_uri=item.dataset_path.as_uri(),
                        manifest_uri=item.manifest_path.as_uri(),
                        row_count=item.row_count,
                        size_bytes=item.size_bytes,
                        sha256=item.sha256,
                    )
                    EXPORTS.labels("SUCCEEDED").inc()
                    ROWS.inc(item.row_count)
                    BYTES.inc(item.size_bytes)
                    DURATION.observe(time.perf_counter() - started)
                    yield exporter_service_pb2.ExportDatasetResponse(
                        export_run=export_run_pb(run), rows_written=item.row_count, rows_total=item.row_count
                    )
        except Exception as exc:
            message = (
                str(exc) if isinstance(exc, CloudWasteError) else f"export failed: {exc.__class__.__name__}"
            )
            log.exception("export failed", extra={"export_run": str(run.id)})
            self.store.finish(run.id, state="FAILED", error_message=message[:1000])
            EXPORTS.labels("FAILED").inc()
            if isinstance(exc, CloudWasteError):
                raise
            raise ExportFailed(message) from exc

    def GetExportRun(self, request, context):
        run = self.store.get(names.parse("name", request.name, "exportRuns"))
        return exporter_service_pb2.GetExportRunResponse(export_run=export_run_pb(run))
