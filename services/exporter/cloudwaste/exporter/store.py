"""Exporter's bookkeeping table: export_runs."""

from __future__ import annotations

import datetime as dt
import uuid

from cloudwaste.core.db import Database
from cloudwaste.core.errors import NotFound
from cloudwaste.core.models import ExportRun


class ExporterStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create(self, destination_uri: str, fmt: str, labeled_only: bool) -> ExportRun:
        with self.db.transaction() as s:
            run = ExportRun(
                state="RUNNING", format=fmt, destination_uri=destination_uri, labeled_only=labeled_only
            )
            s.add(run)
            s.flush()
            s.refresh(run)
            return run

    def finish(self, run_id: uuid.UUID, **values) -> ExportRun:
        with self.db.transaction() as s:
            run = s.get(ExportRun, run_id)
            for k, v in values.items():
                setattr(run, k, v)
            run.end_time = dt.datetime.now(dt.UTC)
            s.flush()
            return run

    def get(self, run_id: uuid.UUID) -> ExportRun:
        with self.db.transaction() as s:
            run = s.get(ExportRun, run_id)
            if run is None:
                raise NotFound(f"exportRuns/{run_id} does not exist")
            return run
