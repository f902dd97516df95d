"""Export runs: the exporter's logic around one export (no gRPC here).

ExportDataset queues a PENDING run; the export worker (worker.py, threads of the exporter process)
claims it and executes it, recording progress on the row; the RPC only watches the row. A client
that goes away stops watching, not the export.

An export continues its stream (same destination, format and labeled_only): it takes the rows
written or changed since the previous successful export's watermark up to a new one (export.py),
or every row when asked for a full export. Exports to one destination run one after the other.
The run streams those rows through `export.export_ml_dataset` to the configured storage (file:// or
s3://, `cloudwaste.core.storage`) and ends SUCCEEDED with its files or FAILED with a message safe
to show, its files withdrawn. The servicer only maps it to protos.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict

from cloudwaste.core.errors import Aborted, InvalidArgument, failure
from cloudwaste.core.models import ExportRun
from cloudwaste.core.storage import Storage
from cloudwaste.exporter.errors import ExportFailed
from cloudwaste.exporter.export import (
    EXPORT_SCHEMA,
    EXTENSIONS,
    Progress,
    Window,
    export_ml_dataset,
    resolve_destination,
    rows_where,
    watermark,
)
from cloudwaste.exporter.metrics import (
    BYTES,
    DURATION,
    EXPORTS,
    LAST_SUCCESS,
    ROWS,
    observe_quality,
)
from cloudwaste.exporter.quality import QualityReport, measure
from cloudwaste.exporter.settings import ExporterSettings
from cloudwaste.exporter.store import ExporterStore

log = logging.getLogger(__name__)


class Exports:
    def __init__(
        self, store: ExporterStore, settings: ExporterSettings, storage: Storage | None = None
    ) -> None:
        self.store, self.settings = store, settings
        self.storage = storage or settings.storage()  # file:// or s3://, confined to the export root

    def queue(
        self,
        destination_uri: str,
        labeled_only: bool,
        request_id: str = "",
        *,
        fmt: str = "PARQUET",
        full: bool = False,
    ) -> ExportRun:
        """Checks the destination and queues a PENDING export for the worker (the RPC path)."""
        if fmt not in EXTENSIONS:
            raise InvalidArgument("format", f"must be one of {', '.join(EXTENSIONS)}")
        folder = resolve_destination(destination_uri, self.storage)
        return self.store.create(folder, fmt, labeled_only, request_id, full)

    def watch(
        self, run_id, still_wanted: Callable[[], bool] = lambda: True, poll: float = 0.2
    ) -> Iterator[ExportRun]:
        """The run as the worker records it: yields when its progress or state changes, ends with
        it finished. Stops (the export goes on) when `still_wanted()` turns false."""
        last = None
        while still_wanted():
            run = self.store.get(run_id)
            seen = (run.state, run.rows_written, run.rows_total)
            if seen != last:
                last = seen
                yield run
            if run.state in ("SUCCEEDED", "FAILED"):
                return
            time.sleep(poll)

    def execute(self, run: ExportRun, should_stop: Callable[[], bool] = lambda: False) -> ExportRun:
        """Writes a claimed run's dataset and manifest, recording progress on the run; ends it
        SUCCEEDED with its files and quality report, or FAILED with a reason."""
        started = time.perf_counter()
        published: list[str] = []
        try:
            folder = resolve_destination(run.destination_uri, self.storage)
            previous = (
                None if run.full_export else self.store.previous_export(folder, run.format, run.labeled_only)
            )
            after = previous.changed_before if previous else None
            before = watermark(self.settings.database_url)
            window = Window(before=max(before, after) if after else before, after=after)
            self.store.started(
                run.id,
                changed_after=window.after,
                changed_before=window.before,
                previous_export_id=previous.id if previous else None,
            )
            # Measured first: once the files are published, only the run's record can still fail.
            quality = self._quality(window, run.labeled_only)
            last_note = 0.0

            def note_file(uri: str) -> None:
                self.store.record_file(run.id, uri)
                published.append(uri)

            for item in export_ml_dataset(
                self.settings.database_url,
                folder,
                run.id,
                storage=self.storage,
                window=window,
                fmt=run.format,
                labeled_only=run.labeled_only,
                batch_rows=self.settings.batch_rows,
                previous_export=f"exportRuns/{previous.id}" if previous else None,
                on_file=note_file,
            ):
                if isinstance(item, Progress):
                    if should_stop():
                        raise Aborted("the exporter was shutting down; export again")
                    if time.perf_counter() - last_note > 0.25 or item.rows_written == 0:
                        self.store.progress(run.id, item.rows_written, item.rows_total)
                        last_note = time.perf_counter()
                    continue
                finished = self.store.finish(
                    run.id,
                    state="SUCCEEDED",
                    quality=quality.to_json(),
                    dataset_uri=item.dataset_uri,
                    manifest_uri=item.manifest_uri or None,
                    row_count=item.row_count,
                    rows_written=item.row_count,
                    rows_total=item.row_count,
                    size_bytes=item.size_bytes,
                    sha256=item.sha256 or None,
                    files=[asdict(f) for f in item.files],
                )
                published = []
                EXPORTS.labels("SUCCEEDED").inc()
                ROWS.inc(item.row_count)
                BYTES.inc(item.size_bytes)
                DURATION.observe(time.perf_counter() - started)
                observe_quality(quality.score, quality.row_count)
                LAST_SUCCESS.set_to_current_time()
                return finished
            raise ExportFailed("the export ended without its files")
        except Exception as exc:
            code, message = failure(exc, "export failed unexpectedly; see the exporter log")
            log.exception("export failed", extra={"export_run": str(run.id)})
            self._fail(run.id, code, message, published)
            return self.store.get(run.id)

    def withdraw(self, run_id, uris: list[str]) -> list[str]:
        """Deletes the files a failed run published (or was about to); returns those that remain."""
        remaining = []
        for uri in uris:
            try:
                self.storage.delete(uri)
            except Exception:
                log.exception("could not withdraw an export file", extra={"export_run": str(run_id)})
                remaining.append(uri)
        return remaining

    def reap_stale(self, started_before: dt.datetime) -> int:
        """Fails runs an exporter that died left RUNNING, and withdraws their files."""
        stale = self.store.fail_stale_export_runs(started_before)
        for run in stale:
            left = self.withdraw(run.id, [f["uri"] for f in run.files or []])
            self.store.finish(run.id, files=[{"uri": uri} for uri in left])
            EXPORTS.labels("FAILED").inc()
        return len(stale)

    def _fail(self, run_id, code: int, message: str, published: list[str]) -> None:
        """Ends the run FAILED; files already published for it are withdrawn, so nothing escapes
        retention and erasure by belonging to no run (one that could not be is kept on the run)."""
        left = self.withdraw(run_id, published)
        self.store.finish(
            run_id,
            state="FAILED",
            error_code=code,
            error_message=message,
            files=[{"uri": uri} for uri in left],
        )
        EXPORTS.labels("FAILED").inc()

    def _quality(self, window: Window, labeled_only: bool) -> QualityReport:
        """The data quality report of the rows about to be exported (measured as they stand when
        the export starts)."""
        previous = self.store.previous_columns()
        with self.store.db.transaction() as s:
            return measure(
                s,
                where=rows_where(window, labeled_only),
                columns=[f.name for f in EXPORT_SCHEMA],
                previous_columns=previous,
                now=dt.datetime.now(dt.UTC),
            )
