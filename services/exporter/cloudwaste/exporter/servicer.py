"""ExporterService: a thin adapter, proto -> the export run logic (runs.py) -> proto."""

from __future__ import annotations

from cloudwaste.core import names
from cloudwaste.core.errors import InvalidArgument
from cloudwaste.core.protoconv import timestamp
from cloudwaste.exporter.runs import Exports
from cloudwaste.exporter.store import ExporterStore
from cloudwaste.exporter.v1 import export_run_pb2, exporter_service_pb2, exporter_service_pb2_grpc


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
    def __init__(self, exports: Exports, store: ExporterStore) -> None:
        self.exports, self.store = exports, store

    def ExportDataset(self, request, context):
        if request.format not in (
            export_run_pb2.DATASET_FORMAT_UNSPECIFIED,
            export_run_pb2.DATASET_FORMAT_PARQUET,
        ):
            raise InvalidArgument("format", "only DATASET_FORMAT_PARQUET is supported")
        for p in self.exports.run(request.destination_uri, request.labeled_only, context.is_active):
            yield exporter_service_pb2.ExportDatasetResponse(
                export_run=export_run_pb(p.run), rows_written=p.rows_written, rows_total=p.rows_total
            )

    def GetExportRun(self, request, context):
        run = self.store.get(names.parse("name", request.name, "exportRuns"))
        return exporter_service_pb2.GetExportRunResponse(export_run=export_run_pb(run))
