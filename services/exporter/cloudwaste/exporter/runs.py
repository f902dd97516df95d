"""Export runs: the exporter's logic around one export (no gRPC here).

Records the run, streams the dataset through `export.export_ml_dataset` to the configured storage
(file:// or s3://, `cloudwaste.core.storage`), and ends the run
SUCCEEDED with its files or FAILED with a message safe to show. The servicer only maps it to protos.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass

from cloudwaste.core.errors import CloudWasteError
from cloudwaste.core.models import ExportRun
from cloudwaste.core.storage import Storage
from cloudwaste.exporter.errors import ExportFailed
from cloudwaste.exporter.export import EXPORT_SCHEMA, Progress, export_ml_dataset, resolve_destination
from cloudwaste.exporter.metrics import BYTES, DURATION, EXPORTS, LAST_SUCCESS, QUALITY_SCORE, ROWS
from cloudwaste.exporter.quality import QualityReport, measure
from cloudwaste.exporter.settings import ExporterSettings
from cloudwaste.exporter.store import ExporterStore

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExportProgress:
    run: ExportRun
    rows_written: int
    rows_total: int


class Exports:
    def __init__(
        self, store: ExporterStore, settings: ExporterSettings, storage: Storage | None = None
    ) -> None:
        self.store, self.settings = store, settings
        self.storage = storage or settings.storage()  # file:// or s3://, confined to the export root

    def run(
        self, destination_uri: str, labeled_only: bool, still_wanted: Callable[[], bool] = lambda: True
    ) -> Iterator[ExportProgress]:
        """Exports the ML table to `destination_uri`, yielding progress; the last item carries the
        finished run. Stops (and fails the run) when `still_wanted()` turns false."""
        folder = resolve_destination(destination_uri, self.storage)
        run = self.store.create(destination_uri, "PARQUET", labeled_only)
        started = time.perf_counter()
        published: list[str] = []
        try:
            # Measured first: once the files are published, only the run's record can still fail.
            quality = self._quality(labeled_only)
            for item in export_ml_dataset(
                self.settings.database_url,
                folder,
                run.id,
                storage=self.storage,
                labeled_only=labeled_only,
                batch_rows=self.settings.batch_rows,
            ):
                if isinstance(item, Progress):
                    if not still_wanted():
                        raise ExportFailed("client went away; export abandoned")
                    yield ExportProgress(run, item.rows_written, item.rows_total)
                    continue
                published = [item.dataset_uri, item.manifest_uri]
                run = self.store.finish(
                    run.id,
                    state="SUCCEEDED",
                    quality=quality.to_json(),
                    dataset_uri=item.dataset_uri,
                    manifest_uri=item.manifest_uri,
                    row_count=item.row_count,
                    size_bytes=item.size_bytes,
                    sha256=item.sha256,
                )
                published = []
                EXPORTS.labels("SUCCEEDED").inc()
                ROWS.inc(item.row_count)
                BYTES.inc(item.size_bytes)
                DURATION.observe(time.perf_counter() - started)
                QUALITY_SCORE.set(quality.score)
                LAST_SUCCESS.set_to_current_time()
                yield ExportProgress(run, item.row_count, item.row_count)
        except GeneratorExit:  # the client went away while a progress message was on its way
            self._fail(run.id, "client went away; export abandoned", published)
            raise
        except Exception as exc:
            message = (
                str(exc)
                if isinstance(exc, CloudWasteError)
                else "export failed unexpectedly; see the exporter log"
            )
            log.exception("export failed", extra={"export_run": str(run.id)})
            self._fail(run.id, message, published)
            if isinstance(exc, CloudWasteError):
                raise
            raise ExportFailed(message) from exc

    def _fail(self, run_id, message: str, published: list[str]) -> None:
        """Ends the run FAILED; files already published for it are withdrawn, so nothing escapes
        retention and erasure by belonging to no run."""
        for uri in published:
            try:
                self.storage.delete(uri)
            except Exception:
                log.exception("could not withdraw an export file", extra={"export_run": str(run_id)})
        self.store.finish(run_id, state="FAILED", error_message=message[:1000])
        EXPORTS.labels("FAILED").inc()

    def _quality(self, labeled_only: bool) -> QualityReport:
        """The data quality report of the rows about to be exported (measured as they stand when
        the export starts)."""
        previous = self.store.previous_columns()
        with self.store.db.transaction() as s:
            return measure(
                s,
                labeled_only=labeled_only,
                columns=[f.name for f in EXPORT_SCHEMA],
                previous_columns=previous,
                now=dt.datetime.now(dt.UTC),
            )
