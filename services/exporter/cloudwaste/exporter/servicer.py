"""ExporterService: a thin adapter, proto -> the export run logic (runs.py) -> proto."""

from __future__ import annotations

from cloudwaste.core import names, pagination
from cloudwaste.core.errors import InvalidArgument
from cloudwaste.core.protoconv import run_error, timestamp
from cloudwaste.exporter.purge import Purger, RetentionPolicy
from cloudwaste.exporter.runs import Exports
from cloudwaste.exporter.store import ExporterStore
from cloudwaste.exporter.v1 import (
    export_run_pb2,
    exporter_service_pb2,
    exporter_service_pb2_grpc,
    purge_run_pb2,
)


def quality_pb(q: dict | None) -> export_run_pb2.DataQuality | None:
    if not q:
        return None
    fields = export_run_pb2.DataQuality.DESCRIPTOR.fields_by_name
    return export_run_pb2.DataQuality(**{k: v for k, v in q.items() if k in fields})


def export_run_pb(r) -> export_run_pb2.ExportRun:
    return export_run_pb2.ExportRun(
        quality=quality_pb(r.quality),
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
        start_time=timestamp(r.start_time),
        rows_written=r.rows_written,
        rows_total=r.rows_total,
        request_id=r.request_id or "",
        files=[
            export_run_pb2.ExportFile(
                uri=f["uri"],
                month=f.get("month", ""),
                row_count=f.get("row_count", 0),
                size_bytes=f.get("size_bytes", 0),
                sha256=f.get("sha256", ""),
            )
            for f in r.files or []
        ],
        changed_after=timestamp(r.changed_after),
        changed_before=timestamp(r.changed_before),
        full=r.full_export,
        previous_export=names.format("exportRuns", r.previous_export_id) if r.previous_export_id else "",
        error=run_error(r),
    )


FORMATS = {
    export_run_pb2.DATASET_FORMAT_UNSPECIFIED: "PARQUET",
    export_run_pb2.DATASET_FORMAT_PARQUET: "PARQUET",
    export_run_pb2.DATASET_FORMAT_JSONL_GZ: "JSONL_GZ",
}


def purge_run_pb(r) -> purge_run_pb2.PurgeRun:
    return purge_run_pb2.PurgeRun(
        name=names.format("purgeRuns", r.id),
        state=purge_run_pb2.PurgeRunState.Value(f"PURGE_RUN_STATE_{r.state}"),
        dry_run=r.dry_run,
        ml_retention_days=r.ml_retention_days,
        export_retention_days=r.export_retention_days,
        ml_cutoff_time=timestamp(r.ml_cutoff_time),
        ml_partitions_dropped=list(r.ml_partitions_dropped or []),
        ml_rows_removed=r.ml_rows_removed,
        ml_partitions_created=list(r.ml_partitions_created or []),
        export_runs_removed=r.export_runs_removed,
        export_files_removed=list(r.export_files_removed or []),
        finding_retention_days=r.finding_retention_days or 0,
        scan_run_retention_days=r.scan_run_retention_days or 0,
        findings_removed=r.findings_removed,
        observations_removed=r.observations_removed,
        scan_runs_removed=r.scan_runs_removed,
        enrichment_runs_removed=r.enrichment_runs_removed,
        shadow_predictions_removed=r.shadow_predictions_removed,
        error=run_error(r),
        partitions_ahead=r.partitions_ahead,
        request_id=r.request_id or "",
        start_time=timestamp(r.start_time),
        error_message=r.error_message or "",
        create_time=timestamp(r.create_time),
        end_time=timestamp(r.end_time),
    )


class ExporterServicer(exporter_service_pb2_grpc.ExporterServiceServicer):
    def __init__(
        self, exports: Exports, store: ExporterStore, purger: Purger, on_queued=lambda: None
    ) -> None:
        self.exports, self.store, self.purger, self.on_queued = exports, store, purger, on_queued

    def ExportDataset(self, request, context):
        if request.format not in FORMATS:
            raise InvalidArgument("format", "must be DATASET_FORMAT_PARQUET or DATASET_FORMAT_JSONL_GZ")
        names.request_id(request.request_id)
        run = self.exports.queue(
            request.destination_uri,
            request.labeled_only,
            request.request_id,
            fmt=FORMATS[request.format],
            full=request.full,
        )
        self.on_queued()
        for r in self.exports.watch(run.id, context.is_active):
            yield exporter_service_pb2.ExportDatasetResponse(
                export_run=export_run_pb(r), rows_written=r.rows_written, rows_total=r.rows_total
            )

    def GetExportRun(self, request, context):
        run = self.store.get(names.parse("name", request.name, "exportRuns"))
        return exporter_service_pb2.GetExportRunResponse(export_run=export_run_pb(run))

    def ListExportRuns(self, request, context):
        size = pagination.page_size(request.page_size, default=50, maximum=500)
        destination = ""
        if request.destination_uri:
            destination = self.exports.storage.resolve("destination_uri", request.destination_uri)
        rows, token = self.store.list_export_runs(size, request.page_token, destination)
        return exporter_service_pb2.ListExportRunsResponse(
            export_runs=[export_run_pb(r) for r in rows], next_page_token=token
        )

    def PurgeExpiredData(self, request, context):
        given = {
            field: getattr(request, field)
            for field in (
                "ml_retention_days",
                "export_retention_days",
                "partitions_ahead",
                "finding_retention_days",
                "scan_run_retention_days",
            )
            if request.HasField(field)
        }
        policy = RetentionPolicy(**given, dry_run=request.dry_run)
        names.request_id(request.request_id)
        run = self.purger.queue(policy, request.request_id)
        self.on_queued()
        return exporter_service_pb2.PurgeExpiredDataResponse(purge_run=purge_run_pb(run))

    def GetPurgeRun(self, request, context):
        run = self.store.get_purge_run(names.parse("name", request.name, "purgeRuns"))
        return exporter_service_pb2.GetPurgeRunResponse(purge_run=purge_run_pb(run))

    def ListPurgeRuns(self, request, context):
        size = pagination.page_size(request.page_size, default=50, maximum=500)
        rows, token = self.store.list_purge_runs(size, request.page_token)
        return exporter_service_pb2.ListPurgeRunsResponse(
            purge_runs=[purge_run_pb(r) for r in rows], next_page_token=token
        )
