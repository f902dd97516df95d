"""Background scan execution: claims pending runs (SKIP LOCKED), scans, then hands the run to the
enricher at least once (retried until EnrichScanRun answers OK, meaning the enricher queued it; its
enrichment worker runs it)."""

from __future__ import annotations

import datetime as dt
import logging
from collections import Counter
from collections.abc import Callable
from typing import TYPE_CHECKING

from cloudwaste.core.db import patiently
from cloudwaste.core.errors import CloudWasteError, FailedPrecondition, failure
from cloudwaste.core.workers import ClaimingWorker, Lease
from cloudwaste.scanner.domain import ScopeOutcome
from cloudwaste.scanner.engine import Engine, ScanTarget
from cloudwaste.scanner.metrics import (
    FINDINGS,
    FINDINGS_SCORED,
    RESOURCES,
    RUNNING,
    SCAN_SECONDS,
    SCANS,
    SCOPES,
)

if TYPE_CHECKING:
    from cloudwaste.scanner.store import ScannerStore

log = logging.getLogger(__name__)


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


# A run ended this long ago and still not handed over lost its scanner during the history
# collection: it is handed over without its history.
HANDOFF_GRACE = dt.timedelta(minutes=15)

# notify(scan_run_name) -> None, raises on failure
Notify = Callable[[str], None]
# score(features of up to PREDICT_BATCH findings) -> [(p, expected saving, model version, top
# features)] in order; raises FailedPrecondition when no model is trained yet, another error when
# the predictor does not answer
Score = Callable[[list[dict]], list[tuple[float, float, str, list]]]
PREDICT_BATCH = 1000  # PredictWasteBatch's limit


class ScanWorker(ClaimingWorker):
    name = "scan-worker"

    def __init__(
        self,
        store: ScannerStore,
        engine: Engine,
        notify: Notify | None,
        threads: int = 2,
        poll_seconds: float = 2.0,
        stale_after: dt.timedelta = dt.timedelta(hours=6),
        score: Score | None = None,
        lease: dt.timedelta = dt.timedelta(seconds=60),
        db_patience: dt.timedelta = dt.timedelta(minutes=2),
    ) -> None:
        super().__init__(threads, poll_seconds)
        self.stale_after, self.lease, self.db_patience = stale_after, lease, db_patience
        self.store, self.engine, self.notify, self.score = store, engine, notify, score

    def iterate(self) -> bool:
        if self.store.fail_stale_runs(self.stale_after):
            log.warning("failed scan runs left running by a stopped scanner")
        if self.store.complete_stale_handoffs(HANDOFF_GRACE):
            log.warning("handed over runs whose scanner stopped while collecting their metric history")
        did = self.run_once()
        self.notify_pending()
        if not did and self.store.render_unrendered():
            did = True  # more may be left: no pause before the next batch
        return did

    def run_once(self) -> bool:
        """Executes one pending run if there is one. Returns whether it did."""
        claimed = self.store.claim_next_run(self.worker_id, self.lease)
        if claimed is None:
            return False
        run, account = claimed
        renew = lambda: self.store.renew_lease(run.id, self.worker_id, self.lease)  # noqa: E731
        with Lease(renew, self.lease.total_seconds() / 3, f"scanRuns/{run.id}") as lease:
            return self._execute(run, account, lease)

    def _execute(self, run, account, lease: Lease) -> bool:
        RUNNING.inc()
        started = utcnow()
        outcomes: list[ScopeOutcome] = []
        error, plan = None, None
        try:
            requested = list(run.regions) or list(getattr(account, "regions", None) or [])
            plan = self.engine.resolve_scopes(
                ScanTarget(
                    account.provider,
                    account.access or {},
                    requested,
                    getattr(account, "rule_parameters", None) or {},
                )
            )
            if list(run.regions) != plan.scopes:
                self._patiently(lambda: self.store.set_run_regions(run.id, plan.scopes))

            def save(outcome: ScopeOutcome) -> None:
                # a database outage holds the region's findings in memory until it answers again
                self._patiently(lambda: self.store.save_scope(run.id, account, outcome, started))
                SCOPES.labels(account.provider, "succeeded" if outcome.succeeded else "failed").inc()
                for kind, n in Counter(kind for kind, _ in outcome.listed).items():
                    RESOURCES.labels(account.provider, kind).inc(n)
                for f in outcome.findings:
                    FINDINGS.labels(account.provider, f.resource.kind, f.detection.scenario).inc()

            outcomes = self.engine.scan_scopes(plan, save, self.stopping)
            # an organization's scopes are "<member>/<region>": a member no longer listed has left
            # it, and its findings would otherwise stay open for ever
            members = {scope.split("/", 1)[0] for scope in plan.scopes if "/" in scope}
            if members and not self.stopping():
                self._patiently(lambda: self.store.resolve_departed_members(account.id, members))
        except CloudWasteError as exc:
            error = failure(exc, "")
        except Exception as exc:
            log.exception("scan failed", extra={"scan_run": str(run.id)})
            error = failure(exc, "scan failed unexpectedly; see the scanner log")
        finally:
            RUNNING.dec()
        if outcomes and not self.stopping():
            # before the run ends, so that a client that sees it end sees its findings scored
            try:
                self.score_findings(run.id)
            except Exception:
                log.exception("scoring the findings failed", extra={"scan_run": str(run.id)})
        lease.stop()  # the run ends now: nothing to vouch for after
        final = self._patiently(lambda: self.store.finish_run(run.id, outcomes, error))
        SCANS.labels(account.provider, final.state).inc()
        SCAN_SECONDS.labels(account.provider).observe((utcnow() - started).total_seconds())
        log.info(
            "scan finished",
            extra={"scan_run": str(run.id), "state": final.state, "findings": final.findings_count},
        )
        # the findings are final and visible; their metric history and what the bill says of them
        # are read now, for the enricher, which takes the run once it is handed over with them
        history, costs = {}, None
        if plan is not None and outcomes and not self.stopping():
            try:
                history = self.engine.collect_history(plan, outcomes, self.stopping)
            except Exception:
                log.exception("metric history failed", extra={"scan_run": str(run.id)})
            if not self.stopping():
                costs = self.engine.collect_costs(plan, outcomes)
        self._patiently(lambda: self.store.complete_handoff(run.id, history, costs))
        self.notify_pending()
        return True

    def _patiently(self, write):
        return patiently(write, self.db_patience.total_seconds(), self.stopping)

    def score_findings(self, run_id) -> int:
        """Scores the findings the run observed with the waste model and stores each answer on its
        finding. Best effort: without a predictor, a model or an answer the scan stays as it is
        (findings keep their previous scores). Returns how many were scored."""
        if self.score is None:
            return 0
        items = self.store.findings_to_score(run_id)
        scored: list = []
        try:
            for at in range(0, len(items), PREDICT_BATCH):
                chunk = items[at : at + PREDICT_BATCH]
                answers = self.score([features for _, features in chunk])
                when = utcnow().isoformat()
                for (finding_id, _), (p, saving, version, top) in zip(chunk, answers, strict=True):
                    said = {"model_version": version, "predict_time": when, "top_features": top}
                    scored.append((finding_id, p, saving, said))
        except FailedPrecondition:
            FINDINGS_SCORED.labels("no_model").inc(len(items))
            log.info("no waste model yet: findings not scored", extra={"scan_run": str(run_id)})
            return 0
        except Exception as exc:
            FINDINGS_SCORED.labels("failed").inc(len(items) - len(scored))
            log.warning(
                "waste model not reached: findings not scored",
                extra={"scan_run": str(run_id), "error": str(exc)},
            )
        self.store.save_predictions(scored)
        FINDINGS_SCORED.labels("scored").inc(len(scored))
        return len(scored)

    def notify_pending(self) -> None:
        if self.notify is None:
            return
        for run_id in self.store.runs_awaiting_enrichment():
            try:
                self.notify(f"scanRuns/{run_id}")
                self.store.record_enrichment_attempt(run_id, True)
            except Exception as exc:
                log.warning(
                    "enricher not reached; will retry", extra={"scan_run": str(run_id), "error": str(exc)}
                )
                self.store.record_enrichment_attempt(run_id, False)
                return
