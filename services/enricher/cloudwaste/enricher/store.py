"""Enricher's PostgreSQL access: reads what a scan run observed, writes the enrichment columns of their
ML rows and its own enrichment_runs bookkeeping. Idempotent: running it twice gives the same rows."""

from __future__ import annotations

import datetime as dt
import logging
import uuid

from cloudwaste.core.db import Database
from cloudwaste.core.errors import CloudWasteError, FailedPrecondition, NotFound
from cloudwaste.core.models import EnrichmentRun, Finding, FindingObservation, MlTrainingData, ScanRun
from cloudwaste.enricher.features import anonymize_tags, temporal_features
from sqlalchemy import func, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

log = logging.getLogger(__name__)

TERMINAL = ("SUCCEEDED", "PARTIALLY_SUCCEEDED", "FAILED")
BATCH = 1000


class EnricherStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def enrich(self, scan_run_id: uuid.UUID) -> EnrichmentRun:
        with self.db.transaction() as s:
            run = s.get(ScanRun, scan_run_id)
            if run is None:
                raise NotFound(f"scanRuns/{scan_run_id} does not exist")
            if run.state not in TERMINAL:
                raise FailedPrecondition(
                    f"scanRuns/{scan_run_id} is {run.state}; enrich it once it has ended"
                )
            s.execute(
                pg_insert(EnrichmentRun)
                .values(scan_run_id=scan_run_id, state="RUNNING", attempts=1, rows_enriched=0)
                .on_conflict_do_update(
                    index_elements=[EnrichmentRun.scan_run_id],
                    set_={
                        "state": "RUNNING",
                        "attempts": EnrichmentRun.attempts + 1,
                        "update_time": func.now(),
                    },
                )
            )
        try:
            return self._enrich_rows(scan_run_id)
        except Exception as exc:  # the run ends FAILED, never RUNNING for ever; the scanner retries
            message = (
                str(exc) if isinstance(exc, CloudWasteError) else "enrichment failed; see the enricher log"
            )
            log.exception("enrichment failed", extra={"scan_run": str(scan_run_id)})
            with self.db.transaction() as s:
                s.execute(
                    update(EnrichmentRun)
                    .where(EnrichmentRun.scan_run_id == scan_run_id)
                    .values(state="FAILED", error_message=message[:1000], update_time=func.now())
                )
            raise

    def _enrich_rows(self, scan_run_id: uuid.UUID) -> EnrichmentRun:
        now = dt.datetime.now(dt.UTC)
        enriched = 0
        with self.db.transaction() as s:
            rows = s.execute(
                select(
                    FindingObservation.ml_row_id,
                    FindingObservation.ml_row_detected_at,
                    Finding.tags,
                    Finding.resource_create_time,
                )
                .join(Finding, Finding.id == FindingObservation.finding_id)
                .where(
                    FindingObservation.scan_run_id == scan_run_id, FindingObservation.ml_row_id.is_not(None)
                )
                .execution_options(yield_per=BATCH)
            )
            batch = []
            for ml_id, detected_at, tags, created in rows:
                batch.append(
                    {
                        "id": ml_id,
                        "detected_at": detected_at,
                        "tags_anonymized": anonymize_tags(tags or {}),
                        "temporal_features": temporal_features(created),
                        "enriched_at": now,
                    }
                )
                if len(batch) >= BATCH:
                    s.execute(update(MlTrainingData), batch)
                    enriched += len(batch)
                    batch = []
            if batch:
                s.execute(update(MlTrainingData), batch)
                enriched += len(batch)
            er = s.get(EnrichmentRun, scan_run_id)
            er.state, er.rows_enriched, er.update_time, er.error_message = "SUCCEEDED", enriched, now, None
            s.flush()
            return er

    def get(self, scan_run_id: uuid.UUID) -> EnrichmentRun:
        with self.db.transaction() as s:
            er = s.get(EnrichmentRun, scan_run_id)
            if er is None:
                raise NotFound(f"scanRuns/{scan_run_id} has not been enriched")
            return er
