"""Retention (the monthly purge): no gRPC here.

Drops the month partitions of ML rows whose every day is older than the ML retention, deletes
export runs past theirs with their files, creates the coming months' partitions ahead (so no
request path has to), and records what it did (or, on a dry run, what it would do) in purge_runs.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from cloudwaste.core import partitions
from cloudwaste.core.db import Database
from cloudwaste.core.errors import CloudWasteError, FailedPrecondition, InvalidArgument
from cloudwaste.core.models import PurgeRun
from cloudwaste.exporter.metrics import PURGED_ML_ROWS, PURGES
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

    def __post_init__(self) -> None:
        if not 31 <= self.ml_retention_days <= 36500:
            raise InvalidArgument(
                "ml_retention_days", f"must be 31 to 36500 days (got {self.ml_retention_days})"
            )
        if not 1 <= self.export_retention_days <= 36500:
            raise InvalidArgument(
                "export_retention_days", f"must be 1 to 36500 days (got {self.export_retention_days})"
            )
        if not 1 <= self.partitions_ahead <= 24:
            raise InvalidArgument("partitions_ahead", f"must be 1 to 24 months (got {self.partitions_ahead})")


class Purger:
    def __init__(self, db: Database, store: ExporterStore, delete_file: Callable[[str], object]) -> None:
        """`delete_file(uri)` removes one export file (storage.Storage.delete); one already gone is
        not an error."""
        self.db, self.store, self.delete_file = db, store, delete_file

    def purge(self, policy: RetentionPolicy, now: dt.datetime | None = None) -> PurgeRun:
        now = now or dt.datetime.now(dt.UTC)
        ml_cutoff = now - dt.timedelta(days=policy.ml_retention_days)
        with self._only_purge():
            record = self.store.create_purge_run(policy, ml_cutoff)
            done: dict = {"ml_partitions_dropped": [], "ml_rows_removed": 0, "ml_partitions_created": []}
            problems: list[str] = []
            try:
                self._ml_rows(policy, ml_cutoff, now, done, problems)
                self._exports(policy, now, done, problems)
            except Exception as exc:
                message = (
                    str(exc)
                    if isinstance(exc, CloudWasteError)
                    else "purge failed unexpectedly; see the exporter log"
                )
                log.exception("purge failed", extra={"purge_run": str(record.id)})
                self.store.finish_purge_run(record.id, "FAILED", error_message=message, **done)
                PURGES.labels("FAILED").inc()
                raise
            state = "FAILED" if problems else "SUCCEEDED"
            PURGES.labels(state).inc()
            if not policy.dry_run:
                PURGED_ML_ROWS.inc(done["ml_rows_removed"])
            log.info(
                "purge finished", extra={"purge_run": str(record.id), "ml_rows": done["ml_rows_removed"]}
            )
            message = "; ".join(problems)[:1000] or None
            return self.store.finish_purge_run(record.id, state, error_message=message, **done)

    @contextlib.contextmanager
    def _only_purge(self):
        """One purge at a time (a CronJob retry while the first still runs): a session lock."""
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

    def _exports(self, policy, now, done: dict, problems: list[str]) -> None:
        if not policy.dry_run:
            self.store.fail_stale_export_runs(now - STALE_EXPORT)
        expired = self.store.export_runs_before(now - dt.timedelta(days=policy.export_retention_days))
        removed, kept_runs = [], set()
        for run in expired:
            for uri in (run.dataset_uri, run.manifest_uri):
                if not uri:
                    continue
                if policy.dry_run:
                    removed.append(uri)
                    continue
                try:
                    self.delete_file(uri)
                    removed.append(uri)
                except Exception:  # e.g. a file under a root this exporter no longer uses
                    log.exception("could not delete an export file", extra={"export_run": str(run.id)})
                    problems.append(f"exportRuns/{run.id}: a file could not be deleted; the run is kept")
                    kept_runs.add(run.id)
        if not policy.dry_run:
            self.store.delete_export_runs([run.id for run in expired if run.id not in kept_runs])
        done |= {"export_runs_removed": len(expired) - len(kept_runs), "export_files_removed": removed}
