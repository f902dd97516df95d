"""Background scan execution: claims pending runs (SKIP LOCKED), scans, then hands the run to the
enricher at least once (retried until EnrichScanRun answers OK, meaning the enricher queued it; its
enrichment worker runs it)."""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from typing import TYPE_CHECKING

from cloudwaste.core.errors import CloudWasteError, failure
from cloudwaste.core.workers import ClaimingWorker
from cloudwaste.scanner.domain import ScopeOutcome
from cloudwaste.scanner.engine import Engine, ScanTarget
from cloudwaste.scanner.metrics import FINDINGS, REGIONS, RUNNING, SCAN_SECONDS, SCANS

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
    ) -> None:
        super().__init__(threads, poll_seconds)
        self.stale_after = stale_after
        self.store, self.engine, self.notify = store, engine, notify

    def iterate(self) -> bool:
        if self.store.fail_stale_runs(self.stale_after):
            log.warning("failed scan runs left running by a stopped scanner")
        if self.store.complete_stale_handoffs(HANDOFF_GRACE):
            log.warning("handed over runs whose scanner stopped while collecting their metric history")
        did = self.run_once()
        self.notify_pending()
        return did

    def run_once(self) -> bool:
        """Executes one pending run if there is one. Returns whether it did."""
        claimed = self.store.claim_next_run(self.worker_id)
        if claimed is None:
            return False
        run, account = claimed
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
                self.store.set_run_regions(run.id, plan.scopes)

            def save(outcome: ScopeOutcome) -> None:
                self.store.save_scope(run.id, account, outcome, started)
                REGIONS.labels("succeeded" if outcome.succeeded else "failed").inc()
                for f in outcome.findings:
                    FINDINGS.labels(f.detection.scenario).inc()

            outcomes = self.engine.scan_scopes(plan, save, self.stopping)
            # an organization's scopes are "<member>/<region>": a member no longer listed has left
            # it, and its findings would otherwise stay open for ever
            members = {scope.split("/", 1)[0] for scope in plan.scopes if "/" in scope}
            if members and not self.stopping():
                self.store.resolve_departed_members(account.id, members)
        except CloudWasteError as exc:
            error = failure(exc, "")
        except Exception as exc:
            log.exception("scan failed", extra={"scan_run": str(run.id)})
            error = failure(exc, "scan failed unexpectedly; see the scanner log")
        finally:
            RUNNING.dec()
        final = self.store.finish_run(run.id, outcomes, error)
        SCANS.labels(final.state).inc()
        SCAN_SECONDS.observe((utcnow() - started).total_seconds())
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
        self.store.complete_handoff(run.id, history, costs)
        self.notify_pending()
        return True

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
