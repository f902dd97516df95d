"""Enricher's PostgreSQL access: reads the scanner's hand-off of a scan run (scan_handoffs, and the
run's ML rows with their raw inputs in enrichment_inputs; no other table of the scanner's), writes
the enrichment columns of those ML rows, the cost trends and its own enrichment_runs bookkeeping.
Idempotent: enriching twice gives the same rows.

An enrichment run is claimed by a worker: EnrichScanRun queues it (PENDING), the enrichment worker
(worker.py) claims it (RUNNING, SKIP LOCKED so replicas share the work) and ends it SUCCEEDED or
FAILED. Every end is conditional on the claim still being the worker's: a run taken back from a
worker thought dead is never ended twice."""

from __future__ import annotations

import datetime as dt
import json
import logging
import uuid
from collections.abc import Callable

from cloudwaste.core import pagination
from cloudwaste.core.billing import BILLING_UNAVAILABLE, NOT_BILLED
from cloudwaste.core.db import NOW, Database, claim_oldest_pending, renew_lease
from cloudwaste.core.errors import WORKER_LOST, FailedPrecondition, NotFound
from cloudwaste.core.models import (
    EnrichmentInput,
    EnrichmentRun,
    MlTrainingData,
    ScanHandoff,
)
from cloudwaste.enricher import metrics, trends
from cloudwaste.enricher.features import (
    anonymize_tags,
    metric_summary,
    real_monthly_cost,
    temporal_features,
    variance_pct,
)
from sqlalchemy import func, or_, select, text, update
from sqlalchemy.dialects.postgresql import insert as pg_insert

log = logging.getLogger(__name__)

TERMINAL = ("SUCCEEDED", "PARTIALLY_SUCCEEDED", "FAILED")  # of a scan run
ACTIVE = ("PENDING", "RUNNING")  # of an enrichment run
BATCH = 1000
# A run queued again after a failure (it still carries the error) waits this long before a worker
# takes it: a database blip or a deploy passes instead of burning the attempts at once.
RETRY_DELAY = dt.timedelta(seconds=30)
DEFAULT_LEASE = dt.timedelta(seconds=60)  # CLOUDWASTE_ENRICHER_LEASE_SECONDS


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


class ClaimLost(Exception):
    """The run is no longer this worker's (taken back as stale, then claimed again): its work is
    rolled back and left to the new claimer."""


class Interrupted(Exception):
    """The worker is stopping: the run's work is rolled back and the run queued again."""


class EnricherStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    # --- the RPC path -----------------------------------------------------------------------------
    def queue(self, scan_run_id: uuid.UUID) -> EnrichmentRun:
        """Queues the enrichment of an ended scan run (PENDING, attempts + 1). A run already PENDING
        or RUNNING is returned unchanged: the scan run is the natural request id."""
        with self.db.transaction() as s:
            handoff = s.get(ScanHandoff, scan_run_id)
            if handoff is None:
                raise NotFound(f"scanRuns/{scan_run_id} does not exist")
            if handoff.scan_state not in TERMINAL:
                raise FailedPrecondition(f"scanRuns/{scan_run_id} has not ended; enrich it once it has")
            now = utcnow()
            s.execute(
                pg_insert(EnrichmentRun)
                .values(scan_run_id=scan_run_id, state="PENDING", attempts=1, rows_enriched=0)
                .on_conflict_do_update(
                    index_elements=[EnrichmentRun.scan_run_id],
                    set_={
                        "state": "PENDING",
                        "attempts": EnrichmentRun.attempts + 1,
                        "rows_enriched": 0,
                        "error_message": None,
                        "error_code": None,
                        "claimed_by": None,
                        "start_time": None,
                        "end_time": None,
                        "update_time": now,
                    },
                    where=EnrichmentRun.state.not_in(ACTIVE),
                )
            )
            return s.get(EnrichmentRun, scan_run_id, populate_existing=True)

    def get(self, scan_run_id: uuid.UUID) -> EnrichmentRun:
        with self.db.transaction() as s:
            er = s.get(EnrichmentRun, scan_run_id)
            if er is None:
                raise NotFound(f"scanRuns/{scan_run_id} has not been enriched")
            return er

    def list_runs(
        self, page_size: int, page_token: str, state: str | None = None
    ) -> tuple[list[EnrichmentRun], str]:
        """Newest first, keyset-paginated on (create_time, scan run id); optionally in one state."""
        query = select(EnrichmentRun)
        if state:
            query = query.where(EnrichmentRun.state == state)
        with self.db.transaction() as s:
            return pagination.newest_first(
                s, query, EnrichmentRun, page_size, page_token, {"state": state}, EnrichmentRun.scan_run_id
            )

    # --- the worker -------------------------------------------------------------------------------
    def claim_next(self, worker: str, lease: dt.timedelta = DEFAULT_LEASE) -> EnrichmentRun | None:
        """Takes the oldest PENDING run, its lease running for `lease`; workers (replicas) never
        take the same (SKIP LOCKED)."""
        with self.db.transaction() as s:
            retry_due = or_(
                EnrichmentRun.error_message.is_(None), EnrichmentRun.update_time < utcnow() - RETRY_DELAY
            )
            return claim_oldest_pending(
                s, EnrichmentRun, worker, retry_due, update_time=NOW, lease_expire_time=utcnow() + lease
            )

    def renew_lease(self, scan_run_id: uuid.UUID, worker: str, lease: dt.timedelta) -> bool:
        """Extends the lease of a run `worker` enriches; False once it is no longer its own."""
        with self.db.transaction() as s:
            return renew_lease(s, EnrichmentRun, scan_run_id, worker, lease)

    def enrich_rows(
        self, scan_run_id: uuid.UUID, worker: str, should_stop: Callable[[], bool] = lambda: False
    ) -> EnrichmentRun:
        """Writes the enrichment columns of the scan run's ML rows and ends the run SUCCEEDED, in one
        transaction: if the claim was lost (ClaimLost) or the worker stops (Interrupted), nothing is
        written."""
        now = utcnow()
        enriched = with_history = with_real_cost = 0
        with self.db.transaction() as s:
            handoff = s.get(ScanHandoff, scan_run_id)
            bill = _Bill.of(handoff)
            rows = s.execute(
                select(
                    EnrichmentInput.ml_row_id,
                    EnrichmentInput.ml_row_detected_at,
                    EnrichmentInput.tags,
                    EnrichmentInput.resource_create_time,
                    EnrichmentInput.metric_history,
                    EnrichmentInput.cost_daily,
                    EnrichmentInput.cost_unread,
                    MlTrainingData.resource_hash,
                    MlTrainingData.tenant_hash,
                    MlTrainingData.cost_monthly,
                )
                .join(
                    MlTrainingData,
                    (MlTrainingData.id == EnrichmentInput.ml_row_id)
                    & (MlTrainingData.detected_at == EnrichmentInput.ml_row_detected_at),
                )
                .where(EnrichmentInput.scan_run_id == scan_run_id)
                .execution_options(yield_per=BATCH)
            )
            batch, series = [], []
            for (
                ml_id,
                detected_at,
                tags,
                created,
                history,
                daily,
                unread,
                resource_hash,
                tenant_hash,
                estimated,
            ) in rows:
                summary = None
                if history:
                    summary = {}
                    for name, h in history.items():
                        summary[name] = metric_summary(h["values"], h["period"])
                        series.append(_history_row(resource_hash, tenant_hash, h, summary[name], now))
                cost = bill.columns(daily, estimated, unread)
                with_history += summary is not None
                with_real_cost += cost["cost_real_monthly"] is not None
                batch.append(
                    {
                        "id": ml_id,
                        "detected_at": detected_at,
                        "tags_anonymized": anonymize_tags(tags or {}),
                        "temporal_features": temporal_features(created),
                        "metrics_summary": summary,
                        **cost,
                        "enriched_at": now,
                    }
                )
                if len(batch) >= BATCH:
                    if should_stop():
                        raise Interrupted()
                    enriched += _write(s, batch, series)
                    batch, series = [], []
            if batch:
                enriched += _write(s, batch, series)
            trends.update_for_scan(
                s,
                scan_run_id,
                complete=handoff is not None and handoff.scan_state == "SUCCEEDED",
                spend=bill.spend,
            )
            ended = utcnow()
            done = s.execute(
                update(EnrichmentRun)
                .where(*_claimed(scan_run_id, worker))
                .values(
                    state="SUCCEEDED",
                    rows_enriched=enriched,
                    error_message=None,
                    end_time=ended,
                    update_time=ended,
                )
            ).rowcount
            if not done:
                raise ClaimLost()
        # committed: counted once
        metrics.ROWS.inc(enriched)
        metrics.ROWS_WITH_HISTORY.inc(with_history)
        metrics.ROWS_WITH_REAL_COST.inc(with_real_cost)
        return self.get(scan_run_id)

    def backlog(self) -> tuple[int, float]:
        """(runs PENDING or RUNNING, age in seconds of the oldest of them; 0 when none)."""
        with self.db.transaction() as s:
            count, oldest = s.execute(
                select(func.count(), func.min(EnrichmentRun.create_time)).where(
                    EnrichmentRun.state.in_(("PENDING", "RUNNING"))
                )
            ).one()
        return count, (utcnow() - oldest).total_seconds() if oldest is not None else 0.0

    def fail(self, scan_run_id: uuid.UUID, worker: str, code: int, message: str, retry: bool = False) -> bool:
        """Ends a claimed run FAILED with a message safe to show, or with `retry` queues it again
        (attempts + 1) to be taken after RETRY_DELAY, the message kept; False if the claim was lost."""
        now = utcnow()
        values = (
            {
                "state": "PENDING",
                "attempts": EnrichmentRun.attempts + 1,
                "claimed_by": None,
                "start_time": None,
            }
            if retry
            else {"state": "FAILED", "end_time": now}
        )
        with self.db.transaction() as s:
            return bool(
                s.execute(
                    update(EnrichmentRun)
                    .where(*_claimed(scan_run_id, worker))
                    .values(**values, error_code=code, error_message=message[:1000], update_time=now)
                ).rowcount
            )

    def release(self, scan_run_id: uuid.UUID, worker: str) -> bool:
        """Puts a claimed run back to PENDING (the worker is stopping) for another worker."""
        with self.db.transaction() as s:
            return bool(
                s.execute(
                    update(EnrichmentRun)
                    .where(*_claimed(scan_run_id, worker))
                    .values(state="PENDING", claimed_by=None, start_time=None, update_time=utcnow())
                ).rowcount
            )

    def recover_stale(self, started_before: dt.datetime, max_attempts: int) -> tuple[int, int]:
        """Runs left RUNNING by a worker that died (its lease lapsed, or claimed before
        `started_before`) are queued again (attempts + 1), or end FAILED once they had
        `max_attempts`. Returns (queued, failed)."""
        queued = failed = 0
        now = utcnow()
        with self.db.transaction() as s:
            stale = s.execute(
                select(EnrichmentRun)
                .where(
                    EnrichmentRun.state == "RUNNING",
                    or_(EnrichmentRun.start_time < started_before, EnrichmentRun.lease_expire_time < now),
                )
                .with_for_update(skip_locked=True)
            ).scalars()
            for er in stale:
                er.claimed_by, er.update_time, er.lease_expire_time = None, now, None
                if er.attempts >= max_attempts:
                    er.state, er.end_time, er.error_code = "FAILED", now, WORKER_LOST
                    er.error_message = (
                        f"the enricher running it stopped {er.attempts} times; enrich the scan run again"
                    )
                    failed += 1
                else:
                    er.state, er.start_time, er.attempts = "PENDING", None, er.attempts + 1
                    queued += 1
        return queued, failed


class _Bill:
    """What the hand-off says of the run's bill, turned into each ML row's real-cost columns."""

    def __init__(self, source: str | None, missing: str | None, start, end, spend: dict) -> None:
        self.source, self.missing, self.start, self.end, self.spend = source, missing, start, end, spend

    @classmethod
    def of(cls, handoff: ScanHandoff | None) -> _Bill:
        if handoff is None:
            return cls(None, None, None, None, {})
        spend = {dt.date.fromisoformat(m): float(v) for m, v in (handoff.account_spend or {}).items()}
        return cls(
            handoff.cost_source,
            handoff.cost_missing,
            handoff.cost_window_start,
            handoff.cost_window_end,
            spend,
        )

    def columns(self, daily: dict | None, estimated: float | None, unread: bool = False) -> dict:
        real = None
        if self.source and daily and self.start and self.end:
            real = real_monthly_cost(daily, self.start, self.end)
        if real is not None:
            missing = None
        elif unread:
            missing = BILLING_UNAVAILABLE  # its part of the bill failed (a subscription): unknown
        elif self.source:
            missing = NOT_BILLED  # the bill was read: no charge of the resource in the window
        else:
            missing = self.missing  # None for a run handed over before bills were read
        return {
            "cost_real_monthly": real,
            "cost_variance_pct": variance_pct(real, estimated),
            "cost_real_source": self.source if real is not None else None,
            "cost_real_missing": missing,
        }


def _history_row(resource_hash: str, tenant_hash: str, h: dict, summary: dict, now: dt.datetime) -> dict:
    return {
        "resource_hash": resource_hash,
        "tenant_hash": tenant_hash,
        "namespace": h["namespace"][:64],
        "metric_name": h["metric"][:64],
        "stat": h["stat"][:32],
        "period_seconds": h["period"],
        "start_time": h["start"],
        "point_values": h["values"],
        "avg": summary["avg"],
        "p50": summary["p50"],
        "p95": summary["p95"],
        "p99": summary["p99"],
        "max": summary["max"],
        "trend": summary["trend_per_day"],
        "missing_share": summary["missing_share"],
        "collected_at": now.isoformat(),
    }


# One statement a batch, its rows one JSON parameter unpacked by PostgreSQL: adapting hundreds of
# 720-value lists parameter by parameter costs more than the rest of the enrichment. One row per
# resource, metric and statistic: a later window replaces an earlier one, never the other way round.
_SERIES_UPSERT = text(
    """
    INSERT INTO cloudwatch_metrics_history (resource_hash, tenant_hash, namespace, metric_name, stat,
        period_seconds, start_time, point_values, avg, p50, p95, p99, max, trend, missing_share, collected_at)
    SELECT r.resource_hash, r.tenant_hash, r.namespace, r.metric_name, r.stat, r.period_seconds, r.start_time,
        ARRAY(SELECT v.value::float8 FROM jsonb_array_elements_text(r.point_values) WITH ORDINALITY AS v(value, i)
              ORDER BY v.i),
        r.avg, r.p50, r.p95, r.p99, r.max, r.trend, r.missing_share, r.collected_at
    FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(resource_hash text, tenant_hash text, namespace text,
        metric_name text, stat text, period_seconds int, start_time timestamptz, point_values jsonb, avg float8,
        p50 float8, p95 float8, p99 float8, max float8, trend float8, missing_share float8, collected_at timestamptz)
    ON CONFLICT ON CONSTRAINT uq_cloudwatch_metrics_history_resource_metric DO UPDATE SET
        tenant_hash = EXCLUDED.tenant_hash, period_seconds = EXCLUDED.period_seconds,
        start_time = EXCLUDED.start_time, point_values = EXCLUDED.point_values, avg = EXCLUDED.avg,
        p50 = EXCLUDED.p50, p95 = EXCLUDED.p95, p99 = EXCLUDED.p99, max = EXCLUDED.max, trend = EXCLUDED.trend,
        missing_share = EXCLUDED.missing_share, collected_at = EXCLUDED.collected_at
    WHERE cloudwatch_metrics_history.start_time <= EXCLUDED.start_time
    """
)


def _write(s, batch: list[dict], series: list[dict]) -> int:
    """One batch: the ML rows' enrichment columns, and each resource's metric series."""
    s.execute(update(MlTrainingData), batch)
    if series:
        # a resource flagged by two rules in one scan has its series twice: keep one
        unique = {(r["resource_hash"], r["namespace"], r["metric_name"], r["stat"]): r for r in series}
        s.execute(_SERIES_UPSERT, {"rows": json.dumps(list(unique.values()))})
    return len(batch)


def _claimed(scan_run_id: uuid.UUID, worker: str) -> tuple:
    return (
        EnrichmentRun.scan_run_id == scan_run_id,
        EnrichmentRun.state == "RUNNING",
        EnrichmentRun.claimed_by == worker,
    )
