"""Retention (the monthly purge): no gRPC here.

Drops the month partitions of ML rows whose every day is older than the ML retention, deletes
export runs past theirs with their files, creates the coming months' partitions ahead (so no
request path has to), and records what it did (or, on a dry run, what it would do) in purge_runs.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from dataclasses import dataclass

from cloudwaste.core import partitions
from cloudwaste.core.db import Database
from cloudwaste.core.errors import CloudWasteError, InvalidArgument
from cloudwaste.core.models import PurgeRun
from cloudwaste.exporter.metrics import PURGED_ML_ROWS, PURGES
from cloudwaste.exporter.store import ExporterStore
from sqlalchemy import text

log = logging.getLogger(__name__)


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
        record = self.store.create_purge_run(policy, ml_cutoff)
        done: dict = {"ml_partitions_dropped": [], "ml_rows_removed": 0, "ml_partitions_created": []}
        try:
            with self.db.transaction() as s:
                for month in partitions.existing(s):
                    if month.end > ml_cutoff:
                        continue  # some of its days are still within the retention
                    if policy.dry_run:
                        done["ml_rows_removed"] += s.execute(
                            text(f"SELECT count(*) FROM {month.name}")
                        ).scalar_one()
                    else:
                        done["ml_rows_removed"] += partitions.drop(s, month)
                    done["ml_partitions_dropped"].append(month.name)
                have = {m.name for m in partitions.existing(s)}
                for month in partitions.months_ahead(now, policy.partitions_ahead):
                    if month.name in have:
                        continue
                    if not policy.dry_run:
                        partitions.ensure(s, month)
                    done["ml_partitions_created"].append(month.name)
            expired = self.store.export_runs_before(now - dt.timedelta(days=policy.export_retention_days))
            files = [uri for run in expired for uri in (run.dataset_uri, run.manifest_uri) if uri]
            if not policy.dry_run:
                for uri in files:
                    self.delete_file(uri)
                self.store.delete_export_runs([run.id for run in expired])
            done |= {"export_runs_removed": len(expired), "export_files_removed": files}
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
        PURGES.labels("SUCCEEDED").inc()
        if not policy.dry_run:
            PURGED_ML_ROWS.inc(done["ml_rows_removed"])
        log.info("purge finished", extra={"purge_run": str(record.id), "ml_rows": done["ml_rows_removed"]})
        return self.store.finish_purge_run(record.id, "SUCCEEDED", **done)
