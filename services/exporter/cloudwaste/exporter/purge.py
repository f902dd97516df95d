"""Retention (the monthly purge): no gRPC here.

Drops the month partitions of ML rows whose every day is older than the ML retention, and the
export files of those same months (an export file is a copy of ML rows: it lives as long as they
do); rewrites the manifests that listed them (a manifest left with no file goes too); deletes the
records of export runs that hold no file any more once past their own retention; creates the coming
months' partitions ahead (so no request path has to); and records what it did (or, on a dry run,
what it would do) in purge_runs.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
from dataclasses import dataclass

from cloudwaste.core import partitions
from cloudwaste.core.datasets import MANIFESTS, under
from cloudwaste.core.db import Database
from cloudwaste.core.errors import CODES, FailedPrecondition, InvalidArgument, failure
from cloudwaste.core.models import ExportRun, PurgeRun
from cloudwaste.core.storage import Storage
from cloudwaste.exporter.metrics import PURGE_LAST_SUCCESS, PURGED_ML_ROWS, PURGES
from cloudwaste.exporter.operational import purge_operational
from cloudwaste.exporter.store import ExporterStore
from sqlalchemy import text

log = logging.getLogger(__name__)

# An export RUNNING this long lost its exporter (a crash, an OOM kill): it ends FAILED.
STALE_EXPORT = dt.timedelta(hours=6)


@dataclass(frozen=True)
class RetentionPolicy:
    ml_retention_days: int = 1095  # three years
    export_retention_days: int = 365
    partitions_ahead: int = 3
    dry_run: bool = False
    finding_retention_days: int = 365  # RESOLVED findings (operational.py)
    scan_run_retention_days: int = 365

    def __post_init__(self) -> None:
        if not 31 <= self.ml_retention_days <= 36500:
            raise InvalidArgument(
                "ml_retention_days", f"must be 31 to 36500 days (got {self.ml_retention_days})"
            )
        if not 1 <= self.export_retention_days <= 36500:
            raise InvalidArgument(
                "export_retention_days", f"must be 1 to 36500 days (got {self.export_retention_days})"
            )
        for name in ("finding_retention_days", "scan_run_retention_days"):
            days = getattr(self, name)
            if not 30 <= days <= 36500:
                raise InvalidArgument(name, f"must be 30 to 36500 days (got {days})")
        if not 1 <= self.partitions_ahead <= 24:
            raise InvalidArgument("partitions_ahead", f"must be 1 to 24 months (got {self.partitions_ahead})")


class Purger:
    def __init__(self, db: Database, store: ExporterStore, storage: Storage) -> None:
        """`storage` holds the export files (the exporter's, file:// or s3://)."""
        self.db, self.store, self.storage = db, store, storage

    def queue(
        self, policy: RetentionPolicy, request_id: str = "", now: dt.datetime | None = None
    ) -> PurgeRun:
        """A PENDING purge for the exporter's worker (the RPC path); the policy is already valid."""
        now = now or dt.datetime.now(dt.UTC)
        return self.store.create_purge_run(
            policy, now - dt.timedelta(days=policy.ml_retention_days), request_id
        )

    def execute(self, record: PurgeRun, now: dt.datetime | None = None) -> PurgeRun:
        """Applies a claimed purge run's policy and ends it SUCCEEDED, or FAILED with what went
        wrong (what could be removed was, and is recorded)."""
        now = now or dt.datetime.now(dt.UTC)
        policy = RetentionPolicy(
            ml_retention_days=record.ml_retention_days,
            export_retention_days=record.export_retention_days,
            partitions_ahead=record.partitions_ahead,
            dry_run=record.dry_run,
            finding_retention_days=record.finding_retention_days or RetentionPolicy.finding_retention_days,
            scan_run_retention_days=record.scan_run_retention_days or RetentionPolicy.scan_run_retention_days,
        )
        ml_cutoff = record.ml_cutoff_time
        done: dict = {"ml_partitions_dropped": [], "ml_rows_removed": 0, "ml_partitions_created": []}
        problems: list[str] = []
        try:
            with self._only_purge():
                self._ml_rows(policy, ml_cutoff, now, done, problems)
                self._exports(policy, ml_cutoff, now, done, problems)
                self._operational(policy, now, done)
        except Exception as exc:
            code, message = failure(exc, "purge failed unexpectedly; see the exporter log")
            log.exception("purge failed", extra={"purge_run": str(record.id)})
            PURGES.labels("FAILED").inc()
            return self.store.finish_purge_run(
                record.id, "FAILED", error_code=code, error_message=message, **done
            )
        state = "FAILED" if problems else "SUCCEEDED"
        PURGES.labels(state).inc()
        if not policy.dry_run:
            PURGED_ML_ROWS.inc(done["ml_rows_removed"])
            if state == "SUCCEEDED":
                PURGE_LAST_SUCCESS.set_to_current_time()
        log.info("purge finished", extra={"purge_run": str(record.id), "ml_rows": done["ml_rows_removed"]})
        message = "; ".join(problems)[:1000] or None
        return self.store.finish_purge_run(
            record.id,
            state,
            error_message=message,
            error_code=CODES["UNAVAILABLE"] if problems else None,
            **done,
        )

    def run_now(self, policy: RetentionPolicy, now: dt.datetime | None = None) -> PurgeRun:
        """Queues, claims and executes one purge in this process (tests, a one-off)."""
        queued = self.queue(policy, now=now)
        record = self.store.claim_next_purge("inline")
        if record is None or record.id != queued.id:
            raise FailedPrecondition("another purge is queued or running; this one waits for the worker")
        return self.execute(record, now)

    @contextlib.contextmanager
    def _only_purge(self):
        """One purge at a time, whoever runs it: a session lock (claims already serialize them)."""
        with self.db.engine.connect() as conn:
            if not conn.execute(text("SELECT pg_try_advisory_lock(hashtext('cloudwaste.purge'))")).scalar():
                raise FailedPrecondition("another purge is running; this one did nothing")
            try:
                yield
            finally:
                conn.execute(text("SELECT pg_advisory_unlock(hashtext('cloudwaste.purge'))"))
                conn.commit()

    def _ml_rows(self, policy, ml_cutoff, now, done: dict, problems: list[str]) -> None:
        with self.db.transaction() as s:
            existing = partitions.existing(s)
            expired = [m for m in existing if m.end <= ml_cutoff]  # every day of it past the retention
            counts = {m.name: s.execute(text(f"SELECT count(*) FROM {m.name}")).scalar_one() for m in expired}
        for month in expired:
            if not policy.dry_run:
                try:
                    partitions.drop_concurrently(self.db.engine, month)
                except Exception:
                    log.exception("could not drop a partition", extra={"partition": month.name})
                    problems.append(f"{month.name} was busy or could not be dropped; the next purge retries")
                    continue
            done["ml_partitions_dropped"].append(month.name)
            done["ml_rows_removed"] += counts[month.name]
        have = {m.name for m in existing}
        wanted = [m for m in partitions.months_ahead(now, policy.partitions_ahead) if m.name not in have]
        if wanted and not policy.dry_run:
            with self.db.transaction() as s:
                for month in wanted:
                    partitions.ensure(s, month)
        done["ml_partitions_created"] = [m.name for m in wanted]

    def _operational(self, policy, now, done: dict) -> None:
        removed = purge_operational(
            self.db,
            resolved_before=now - dt.timedelta(days=policy.finding_retention_days),
            scan_runs_before=now - dt.timedelta(days=policy.scan_run_retention_days),
            dry_run=policy.dry_run,
        )
        done |= {
            "findings_removed": removed.findings,
            "observations_removed": removed.observations,
            "scan_runs_removed": removed.scan_runs,
            "enrichment_runs_removed": removed.enrichment_runs,
            "shadow_predictions_removed": removed.shadow_predictions,
        }

    def _exports(self, policy, ml_cutoff, now, done: dict, problems: list[str]) -> None:
        removed: list[str] = []
        if not policy.dry_run:
            for run in self.store.fail_stale_export_runs(now - STALE_EXPORT, ("PENDING", "RUNNING")):
                left = [f for f in run.files or [] if not self._delete(f["uri"], run, removed, problems)]
                self.store.finish(run.id, files=left)
        for run in self.store.export_runs_with_files():
            self._expire_files(run, ml_cutoff, policy.dry_run, removed, problems)
        records = self.store.export_runs_without_files(now - dt.timedelta(days=policy.export_retention_days))
        if not policy.dry_run:
            self.store.delete_export_runs([run.id for run in records])
        done |= {"export_runs_removed": len(records), "export_files_removed": removed}

    def _expire_files(self, run: ExportRun, ml_cutoff, dry_run: bool, removed, problems) -> None:
        """Deletes the run's files of months past the ML retention and rewrites its manifest."""
        expired = [f for f in run.files if f.get("month") and _month_end(f["month"]) <= ml_cutoff]
        if not expired:
            return
        if dry_run:
            removed.extend(f["uri"] for f in expired)
            if len(expired) == len(run.files) and run.manifest_uri:
                removed.append(run.manifest_uri)
            return
        gone = {f["uri"] for f in expired if self._delete(f["uri"], run, removed, problems)}
        keep = [f for f in run.files if f["uri"] not in gone]
        manifest_uri = run.manifest_uri
        if manifest_uri and not keep:
            if self._delete(manifest_uri, run, removed, problems):
                manifest_uri = None
        elif manifest_uri:
            try:
                self._rewrite_manifest(manifest_uri, gone)
            except Exception:
                log.exception("could not rewrite a manifest", extra={"export_run": str(run.id)})
                problems.append(f"exportRuns/{run.id}: its manifest still lists purged files")
        self.store.finish(run.id, files=keep, manifest_uri=manifest_uri, end_time=run.end_time)

    def _rewrite_manifest(self, uri: str, gone: set[str]) -> None:
        with self.storage.open_input(uri) as fh:
            manifest = json.loads(fh.read())
        dataset = uri.rsplit(f"/{MANIFESTS}/", 1)[0]
        kept, purged = [], list(manifest.get("purged_files", []))
        for f in manifest.get("files", []):
            (purged if under(self.storage, dataset, f["path"]) in gone else kept).append(f)
        manifest["files"], manifest["purged_files"] = kept, purged
        manifest["row_count"] = sum(f["row_count"] for f in kept)
        manifest["size_bytes"] = sum(f["size_bytes"] for f in kept)
        self.storage.write_bytes(uri, json.dumps(manifest, indent=2).encode(), overwrite=True)

    def _delete(self, uri: str, run: ExportRun, removed: list[str], problems: list[str]) -> bool:
        try:
            self.storage.delete(uri)  # one already gone is not an error
        except Exception:  # e.g. a file under a root this exporter no longer uses
            log.exception("could not delete an export file", extra={"export_run": str(run.id)})
            problems.append(f"exportRuns/{run.id}: a file could not be deleted; the next purge retries")
            return False
        removed.append(uri)
        return True


def _month_end(month: str) -> dt.datetime:
    year, number = (int(part) for part in month.split("-"))
    return partitions.month_of(dt.datetime(year, number, 1, tzinfo=dt.UTC)).end
