"""Exporter's bookkeeping tables: export_runs and purge_runs (the retention audit record)."""

from __future__ import annotations

import datetime as dt
import uuid

from cloudwaste.core import pagination
from cloudwaste.core.db import Database, claim_oldest_pending, renew_lease
from cloudwaste.core.errors import WORKER_LOST, InvalidArgument, NotFound
from cloudwaste.core.models import ExportRun, PurgeRun
from sqlalchemy import and_, delete, func, or_, select, text, update
from sqlalchemy.orm import aliased


class ExporterStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(
        self, destination_uri: str, fmt: str, labeled_only: bool, request_id: str = "", full: bool = False
    ) -> ExportRun:
        """A PENDING run for the export worker. With a request id, a repeated call returns the run
        the first one created (AIP-155); the id reused for another request is an error."""
        with self.db.transaction() as s:
            if request_id:
                s.execute(select(func.pg_advisory_xact_lock(func.hashtext(f"export_runs:{request_id}"))))
                same = s.execute(
                    select(ExportRun).where(ExportRun.request_id == request_id)
                ).scalar_one_or_none()
                if same is not None:
                    if (same.destination_uri, same.format, same.labeled_only, same.full_export) != (
                        destination_uri,
                        fmt,
                        labeled_only,
                        full,
                    ):
                        raise InvalidArgument("request_id", "was already used for a different export request")
                    return same
            run = ExportRun(
                state="PENDING",
                format=fmt,
                destination_uri=destination_uri,
                labeled_only=labeled_only,
                request_id=request_id or None,
                full_export=full,
                files=[],
            )
            s.add(run)
            s.flush()
            s.refresh(run)
            return run

    def claim_next(self, worker: str, lease: dt.timedelta = dt.timedelta(seconds=60)) -> ExportRun | None:
        """Takes the oldest PENDING export whose destination has none RUNNING: exports to one
        destination run one after the other (each continues the previous one's window); workers
        (replicas) never take the same. Claims are serialized by a transaction lock (they are
        short), so two workers cannot both see a destination free."""
        other = aliased(ExportRun)
        busy = select(other.id).where(
            other.state == "RUNNING", other.destination_uri == ExportRun.destination_uri
        )
        with self.db.transaction() as s:
            s.execute(select(func.pg_advisory_xact_lock(func.hashtext("export_runs:claim"))))
            return claim_oldest_pending(
                s, ExportRun, worker, ~busy.exists(), lease_expire_time=dt.datetime.now(dt.UTC) + lease
            )

    def renew_lease(self, run_id, worker: str, lease: dt.timedelta) -> bool:
        """Extends a running export's lease; False when it is no longer this worker's (reaped)."""
        with self.db.transaction() as s:
            return renew_lease(s, ExportRun, run_id, worker, lease)

    def previous_export(self, destination_uri: str, fmt: str, labeled_only: bool) -> ExportRun | None:
        """The newest successful export of the same stream (destination, format, labeled_only)."""
        with self.db.transaction() as s:
            return s.execute(
                select(ExportRun)
                .where(
                    ExportRun.state == "SUCCEEDED",
                    ExportRun.destination_uri == destination_uri,
                    ExportRun.format == fmt,
                    ExportRun.labeled_only == labeled_only,
                    ExportRun.changed_before.is_not(None),
                )
                .order_by(ExportRun.changed_before.desc())
                .limit(1)
            ).scalar_one_or_none()

    def started(self, run_id: uuid.UUID, **values) -> None:
        """Records what the worker decided when it started (the window, the previous export)."""
        with self.db.transaction() as s:
            s.execute(update(ExportRun).where(ExportRun.id == run_id).values(**values))

    def record_file(self, run_id: uuid.UUID, uri: str) -> None:
        """Notes a file about to be published, before it is: a failed or abandoned run's files
        can then be withdrawn, and none escapes retention by belonging to no run."""
        with self.db.transaction() as s:
            s.execute(
                update(ExportRun)
                .where(ExportRun.id == run_id)
                .values(
                    files=ExportRun.files.op("||")(
                        func.jsonb_build_array(func.jsonb_build_object("uri", uri))
                    )
                )
            )

    def progress(self, run_id: uuid.UUID, written: int, total: int) -> None:
        with self.db.transaction() as s:
            s.execute(
                update(ExportRun).where(ExportRun.id == run_id).values(rows_written=written, rows_total=total)
            )

    def finish(self, run_id: uuid.UUID, **values) -> ExportRun:
        with self.db.transaction() as s:
            run = s.get(ExportRun, run_id)
            values.setdefault("end_time", dt.datetime.now(dt.UTC))
            for k, v in values.items():
                setattr(run, k, v)
            s.flush()
            return run

    def get(self, run_id: uuid.UUID) -> ExportRun:
        with self.db.transaction() as s:
            run = s.get(ExportRun, run_id)
            if run is None:
                raise NotFound(f"exportRuns/{run_id} does not exist")
            return run

    # --- retention -------------------------------------------------------------------------------
    def export_runs_with_files(self) -> list[ExportRun]:
        """Ended export runs that still hold files (a running one is never touched)."""
        with self.db.transaction() as s:
            return list(
                s.execute(
                    select(ExportRun)
                    .where(
                        ExportRun.state.in_(("SUCCEEDED", "FAILED")), ExportRun.files != text("'[]'::jsonb")
                    )
                    .order_by(ExportRun.create_time)
                ).scalars()
            )

    def export_runs_without_files(self, created_before: dt.datetime) -> list[ExportRun]:
        """Ended export runs created before `created_before` that hold no file and no manifest."""
        with self.db.transaction() as s:
            return list(
                s.execute(
                    select(ExportRun)
                    .where(
                        ExportRun.create_time < created_before,
                        ExportRun.state.in_(("SUCCEEDED", "FAILED")),
                        ExportRun.files == text("'[]'::jsonb"),
                        ExportRun.manifest_uri.is_(None),
                    )
                    .order_by(ExportRun.create_time)
                ).scalars()
            )

    def delete_export_runs(self, ids: list[uuid.UUID]) -> None:
        if ids:
            with self.db.transaction() as s:
                s.execute(delete(ExportRun).where(ExportRun.id.in_(ids)))

    def last_successes(self) -> tuple[ExportRun | None, ExportRun | None, PurgeRun | None]:
        """The export that succeeded last, the last one that succeeded with rows (whose quality
        report is the one to judge), and the purge (not a dry run) that succeeded last."""
        with self.db.transaction() as s:
            succeeded = select(ExportRun).where(
                ExportRun.state == "SUCCEEDED", ExportRun.end_time.is_not(None)
            )
            export = s.execute(succeeded.order_by(ExportRun.end_time.desc()).limit(1)).scalar_one_or_none()
            measured = s.execute(
                succeeded.where(ExportRun.row_count > 0).order_by(ExportRun.end_time.desc()).limit(1)
            ).scalar_one_or_none()
            purge = s.execute(
                select(PurgeRun)
                .where(PurgeRun.state == "SUCCEEDED", PurgeRun.end_time.is_not(None), ~PurgeRun.dry_run)
                .order_by(PurgeRun.end_time.desc())
                .limit(1)
            ).scalar_one_or_none()
            return export, measured, purge

    def create_purge_run(self, policy, ml_cutoff: dt.datetime, request_id: str = "") -> PurgeRun:
        """A PENDING purge for the worker; with a request id, a repeated call returns the first one's
        run (AIP-155), and the id reused for another policy is an error."""
        wanted = {
            "dry_run": policy.dry_run,
            "ml_retention_days": policy.ml_retention_days,
            "export_retention_days": policy.export_retention_days,
            "finding_retention_days": policy.finding_retention_days,
            "scan_run_retention_days": policy.scan_run_retention_days,
            "partitions_ahead": policy.partitions_ahead,
        }
        with self.db.transaction() as s:
            if request_id:
                s.execute(select(func.pg_advisory_xact_lock(func.hashtext(f"purge_runs:{request_id}"))))
                same = s.execute(
                    select(PurgeRun).where(PurgeRun.request_id == request_id)
                ).scalar_one_or_none()
                if same is not None:
                    if any(getattr(same, k) != v for k, v in wanted.items()):
                        raise InvalidArgument("request_id", "was already used for a different purge request")
                    return same
            run = PurgeRun(
                state="PENDING",
                request_id=request_id or None,
                partitions_ahead=policy.partitions_ahead,
                dry_run=policy.dry_run,
                ml_retention_days=policy.ml_retention_days,
                export_retention_days=policy.export_retention_days,
                ml_cutoff_time=ml_cutoff,
                ml_partitions_dropped=[],
                ml_rows_removed=0,
                ml_partitions_created=[],
                export_runs_removed=0,
                export_files_removed=[],
                finding_retention_days=policy.finding_retention_days,
                scan_run_retention_days=policy.scan_run_retention_days,
            )
            s.add(run)
            s.flush()
            s.refresh(run)
            return run

    def claim_next_purge(self, worker: str) -> PurgeRun | None:
        """Takes the oldest PENDING purge when none is RUNNING (one purge at a time; claims are
        serialized by a transaction lock)."""
        with self.db.transaction() as s:
            s.execute(select(func.pg_advisory_xact_lock(func.hashtext("purge_runs:claim"))))
            if s.execute(select(PurgeRun.id).where(PurgeRun.state == "RUNNING").limit(1)).first():
                return None
            return claim_oldest_pending(s, PurgeRun, worker)

    def get_purge_run(self, run_id: uuid.UUID) -> PurgeRun:
        with self.db.transaction() as s:
            run = s.get(PurgeRun, run_id)
            if run is None:
                raise NotFound(f"purgeRuns/{run_id} does not exist")
            return run

    def fail_stale_purge_runs(self, started_before: dt.datetime) -> int:
        """Purges left RUNNING by an exporter that died end FAILED (ABORTED: ask again)."""
        with self.db.transaction() as s:
            return s.execute(
                update(PurgeRun)
                .where(PurgeRun.state == "RUNNING", PurgeRun.start_time < started_before)
                .values(
                    state="FAILED",
                    end_time=dt.datetime.now(dt.UTC),
                    error_code=WORKER_LOST,
                    error_message="the exporter running this purge stopped; purge again",
                )
            ).rowcount

    def finish_purge_run(self, run_id: uuid.UUID, state: str, **values) -> PurgeRun:
        with self.db.transaction() as s:
            run = s.get(PurgeRun, run_id)
            run.state, run.end_time = state, dt.datetime.now(dt.UTC)
            for k, v in values.items():
                setattr(run, k, v)
            s.flush()
            return run

    def list_export_runs(
        self, page_size: int, page_token: str, destination_uri: str = ""
    ) -> tuple[list[ExportRun], str]:
        """Newest first, keyset-paginated on (create_time, id); optionally of one destination."""
        query = select(ExportRun)
        if destination_uri:
            query = query.where(ExportRun.destination_uri == destination_uri)
        with self.db.transaction() as s:
            return pagination.newest_first(
                s, query, ExportRun, page_size, page_token, {"destination": destination_uri}
            )

    def list_purge_runs(self, page_size: int, page_token: str) -> tuple[list[PurgeRun], str]:
        """Newest first, keyset-paginated on (create_time, id)."""
        with self.db.transaction() as s:
            return pagination.newest_first(s, select(PurgeRun), PurgeRun, page_size, page_token, {})

    def previous_columns(self) -> list[str] | None:
        """The columns of the newest successful export that recorded them (for schema drift)."""
        with self.db.transaction() as s:
            quality = s.execute(
                select(ExportRun.quality)
                .where(ExportRun.state == "SUCCEEDED", ExportRun.quality.is_not(None))
                .order_by(ExportRun.create_time.desc())
                .limit(1)
            ).scalar_one_or_none()
        return list(quality["columns"]) if quality and "columns" in quality else None

    def fail_stale_export_runs(
        self, started_before: dt.datetime, states: tuple[str, ...] = ("RUNNING",)
    ) -> list[ExportRun]:
        """Exports left RUNNING by an exporter that died (its lease lapsed, or older than
        `started_before`; or PENDING with no exporter to take them) end FAILED: no run stays
        RUNNING for ever. Returns them, with the files they had recorded, for withdrawal."""
        now = dt.datetime.now(dt.UTC)
        with self.db.transaction() as s:
            return list(
                s.execute(
                    update(ExportRun)
                    .where(
                        ExportRun.state.in_(states),
                        or_(
                            func.coalesce(ExportRun.start_time, ExportRun.create_time) < started_before,
                            and_(ExportRun.state == "RUNNING", ExportRun.lease_expire_time < now),
                        ),
                    )
                    .values(
                        state="FAILED",
                        end_time=dt.datetime.now(dt.UTC),
                        error_code=WORKER_LOST,
                        error_message="the exporter running this export stopped or lost the database; export again",
                    )
                    .returning(ExportRun)
                ).scalars()
            )
