"""Retention of the scanner's operational data: no gRPC here.

The monthly purge (purge.py) drops expired ML partitions and export files; this removes what the
scanner's tables would otherwise keep for ever: findings resolved long ago with their observations,
and old scan runs that nothing needs any more with their enrichment runs.

`purge_operational(db, resolved_before=..., scan_runs_before=..., dry_run=..., batch=5000)`:

- **Findings.** A finding in state RESOLVED whose resolve time (`state_change_time`, set by the
  scan that resolved it) is before `resolved_before` is deleted, unless resolving it kept a user
  decision that would come back if the waste did: one resolved from KEPT, or from IGNORED with no
  expiry or one still in the future, stays (the scanner restores those states when it reopens a
  finding; deleting it would turn the user's decision into a new OPEN finding). A RESOLVED finding
  with no resolve time stays too. Findings in any other state (OPEN, KEPT, IGNORED, DELETED) are
  never deleted, whatever their age. Deleting a finding deletes, through its foreign keys, its
  observations (`finding_observations`, ON DELETE CASCADE) and its user actions (CASCADE), and
  clears `parent_finding_id` on its parts (SET NULL).
- **Scan runs.** A scan run created before `scan_runs_before` that has ended (SUCCEEDED,
  PARTIALLY_SUCCEEDED or FAILED; never a PENDING or RUNNING one) is deleted when nothing references
  it any more: no finding's `last_scan_run_id` (a foreign key) or `resolve_scan_run_id` (not a
  foreign key, but the API shows it as the finding's `resolve_scan_run`), no observation's
  `scan_run_id` (a foreign key), and its enrichment, if any, has ended (SUCCEEDED or FAILED). Its
  `enrichment_runs` row is deleted with it. Runs are checked after the findings above are gone, so
  a run referenced only by them goes too. The observations of findings that stay are kept, whatever
  their age (they link a finding's ML rows to its decision), so an old scan run that observed a
  finding still OPEN, KEPT, IGNORED, DELETED or recently resolved stays: expected, not a leak.
- **Orphaned enrichment runs.** An ended `enrichment_runs` row created before `scan_runs_before`
  whose scan run no longer exists (DeleteCloudAccount deletes scan runs, not their enrichment runs)
  is deleted; it is counted in `enrichment_runs`.
- **Shadow predictions.** The predictor's `shadow_predictions` (what an active and a shadow
  version said of each live row, SetModelVersionRole) created before `scan_runs_before` are
  deleted: a promotion is decided on recent traffic, and the rows would otherwise grow with every
  prediction for as long as a shadow is set.
- **ML rows are not touched**: `ml_training_data` has its own retention (month partitions, purge.py).
  Deleting observations only unlinks the ML rows of findings that no longer exist. Such rows can
  then be erased by their keyed hashes (tenant, account) only, no longer through their findings.
- **Batches.** Each kind is deleted in batches of `batch` rows (`DELETE ... WHERE id IN (SELECT ...
  LIMIT batch)`), each in its own short transaction, so a large purge never holds locks for long;
  a batch that loses a deadlock to a scan is retried. A dry run deletes nothing and counts, in one
  snapshot, what a purge would remove at that moment (the same counts, unless a scan changes
  findings in between).
- **Concurrent scans.** The DELETE re-checks every condition in its own WHERE clause, so a finding
  that a scan reopens between the selection and the delete (the DELETE waits for the scan's row
  lock, then sees the new state) is not deleted. Scan runs are locked first (FOR UPDATE SKIP
  LOCKED: a run a writer is referencing right now is skipped) and then deleted by a statement that
  checks the references again with a fresh snapshot, so a reference committed in between keeps the
  run instead of failing the purge on a foreign key.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from cloudwaste.core.db import Database
from cloudwaste.core.errors import Aborted, InvalidArgument
from sqlalchemy import text

log = logging.getLogger(__name__)

SCAN_RUN_ENDED = ("SUCCEEDED", "PARTIALLY_SUCCEEDED", "FAILED")
ENRICHMENT_ENDED = ("SUCCEEDED", "FAILED")
# Every column that names a scan run (foreign key or not) and every foreign key to findings: the
# integration tests compare these with the database's catalog, so a new reference fails a test
# before it can fail a purge.
SCAN_RUN_REFERENCES = (
    ("findings", "last_scan_run_id"),
    ("findings", "resolve_scan_run_id"),
    ("finding_observations", "scan_run_id"),
)
SCAN_RUN_CASCADES = (  # the scanner's hand-off to the enricher: deleted with the scan run (ON DELETE CASCADE)
    ("scan_handoffs", "scan_run_id"),
    ("enrichment_inputs", "scan_run_id"),
)
FINDING_REFERENCES = (  # (table, column, ON DELETE action): deleted or cleared with the finding
    ("finding_observations", "finding_id", "CASCADE"),
    ("user_actions", "finding_id", "CASCADE"),
    ("findings", "parent_finding_id", "SET NULL"),
)
_ATTEMPTS = 3


@dataclass(frozen=True)
class OperationalRemoved:
    findings: int
    observations: int
    scan_runs: int
    enrichment_runs: int
    shadow_predictions: int = 0


def _in(values: tuple[str, ...]) -> str:
    return ", ".join(f"'{v}'" for v in values)


def _expired_finding(f: str) -> str:
    """Whether finding `f` goes (NULL, e.g. no resolve time, means it stays: negate it with IS NOT
    TRUE). The first two terms are plain so that an index on (state_change_time) WHERE state =
    'RESOLVED' can serve them; the decision a reopening would restore is checked on the rows."""
    return f"""(
        {f}.state = 'RESOLVED'
        AND {f}.state_change_time < :resolved_before
        AND (COALESCE({f}.resolved_from_state, '') NOT IN ('KEPT', 'IGNORED')
             OR ({f}.resolved_from_state = 'IGNORED' AND {f}.ignore_expire_time <= now())) IS TRUE
    )"""


def _scan_run_goes(r: str, *, after_findings: bool) -> str:
    """Whether scan run `r` goes. `after_findings`: as if the expired findings were already gone
    (what a dry run counts); otherwise with the references as they are."""
    alive = f"AND {_expired_finding('f')} IS NOT TRUE" if after_findings else ""
    return f"""
        {r}.create_time < :scan_runs_before
        AND {r}.state IN ({_in(SCAN_RUN_ENDED)})
        AND NOT EXISTS (SELECT 1 FROM findings f WHERE f.last_scan_run_id = {r}.id {alive})
        AND NOT EXISTS (SELECT 1 FROM findings f WHERE f.resolve_scan_run_id = {r}.id {alive})
        AND NOT EXISTS (
            SELECT 1 FROM finding_observations o JOIN findings f ON f.id = o.finding_id
            WHERE o.scan_run_id = {r}.id {alive})
        AND NOT EXISTS (
            SELECT 1 FROM enrichment_runs e
            WHERE e.scan_run_id = {r}.id AND e.state NOT IN ({_in(ENRICHMENT_ENDED)}))"""


def _orphaned_enrichment(e: str) -> str:
    return f"""
        {e}.create_time < :scan_runs_before
        AND {e}.state IN ({_in(ENRICHMENT_ENDED)})
        AND NOT EXISTS (SELECT 1 FROM scan_runs r WHERE r.id = {e}.scan_run_id)"""


# One batch of findings: candidates from the statement's snapshot, then a DELETE that checks them
# again (a finding reopened meanwhile is skipped: the DELETE waits for the scan's row lock and
# re-evaluates its WHERE on the new row). The observations are counted before the cascade runs.
_FINDINGS_BATCH = f"""
WITH candidates AS MATERIALIZED (
    SELECT c.id FROM findings c
    WHERE {_expired_finding("c")}
    ORDER BY c.state_change_time, c.id
    LIMIT :batch
), gone AS (
    DELETE FROM findings f
    WHERE f.id IN (SELECT id FROM candidates) AND {_expired_finding("f")}
    RETURNING f.id
)
SELECT (SELECT count(*) FROM candidates),
       (SELECT count(*) FROM gone),
       (SELECT count(*) FROM finding_observations o WHERE o.finding_id IN (SELECT id FROM gone))
"""

_SCAN_RUNS_LOCK = f"""
SELECT r.id FROM scan_runs r
WHERE {_scan_run_goes("r", after_findings=False)}
ORDER BY r.create_time, r.id
LIMIT :batch
FOR UPDATE OF r SKIP LOCKED
"""

# A new statement, so a new snapshot: references committed before the lock was taken are seen.
_SCAN_RUNS_DELETE = f"""
WITH gone AS (
    DELETE FROM scan_runs r
    WHERE r.id = ANY(:ids) AND {_scan_run_goes("r", after_findings=False)}
    RETURNING r.id
), enrichment AS (
    DELETE FROM enrichment_runs e WHERE e.scan_run_id IN (SELECT id FROM gone)
    RETURNING 1
)
SELECT (SELECT count(*) FROM gone), (SELECT count(*) FROM enrichment)
"""

_ORPHANS_BATCH = f"""
WITH candidates AS MATERIALIZED (
    SELECT c.scan_run_id FROM enrichment_runs c
    WHERE {_orphaned_enrichment("c")}
    ORDER BY c.create_time, c.scan_run_id
    LIMIT :batch
), gone AS (
    DELETE FROM enrichment_runs e
    WHERE e.scan_run_id IN (SELECT scan_run_id FROM candidates) AND {_orphaned_enrichment("e")}
    RETURNING 1
)
SELECT (SELECT count(*) FROM candidates), (SELECT count(*) FROM gone)
"""

_SHADOW_BATCH = """
WITH gone AS (
    DELETE FROM shadow_predictions WHERE id IN (
        SELECT id FROM shadow_predictions WHERE create_time < :scan_runs_before ORDER BY create_time LIMIT :batch
    )
    RETURNING 1
)
SELECT count(*) FROM gone
"""

# What a purge would remove now, in one snapshot.
_DRY_RUN = f"""
WITH expired AS MATERIALIZED (
    SELECT f.id FROM findings f WHERE {_expired_finding("f")}
), runs AS MATERIALIZED (
    SELECT r.id FROM scan_runs r WHERE {_scan_run_goes("r", after_findings=True)}
)
SELECT (SELECT count(*) FROM expired),
       (SELECT count(*) FROM finding_observations o WHERE o.finding_id IN (SELECT id FROM expired)),
       (SELECT count(*) FROM runs),
       (SELECT count(*) FROM enrichment_runs e WHERE e.scan_run_id IN (SELECT id FROM runs))
         + (SELECT count(*) FROM enrichment_runs e WHERE {_orphaned_enrichment("e")}),
       (SELECT count(*) FROM shadow_predictions p WHERE p.create_time < :scan_runs_before)
"""


def purge_operational(
    db: Database,
    *,
    resolved_before: dt.datetime,
    scan_runs_before: dt.datetime,
    dry_run: bool,
    batch: int = 5000,
) -> OperationalRemoved:
    """Deletes (or, on a dry run, counts) findings resolved before `resolved_before` with their
    observations, then ended scan runs created before `scan_runs_before` that nothing references
    with their enrichment runs, then shadow predictions as old; see the module docstring for the
    exact rules."""
    for name, value in (("resolved_before", resolved_before), ("scan_runs_before", scan_runs_before)):
        if value.tzinfo is None or value.utcoffset() is None:
            raise InvalidArgument(name, "must be a timezone-aware datetime")
    if not 1 <= batch <= 100_000:
        raise InvalidArgument("batch", f"must be 1 to 100000 rows (got {batch})")
    params = {"resolved_before": resolved_before, "scan_runs_before": scan_runs_before, "batch": batch}

    if dry_run:
        with db.transaction() as s:
            row = s.execute(text(_DRY_RUN), params).one()
        removed = OperationalRemoved(*(int(v) for v in row))
        log.info("operational purge (dry run)", extra={"would_remove": removed.__dict__})
        return removed

    findings = observations = scan_runs = enrichment_runs = 0
    while True:
        candidates, deleted, observed = _batch(db, lambda s: s.execute(text(_FINDINGS_BATCH), params).one())
        findings, observations = findings + deleted, observations + observed
        if candidates < batch:
            break

    def scan_runs_batch(s) -> tuple[int, int, int]:
        ids: list[uuid.UUID] = list(s.execute(text(_SCAN_RUNS_LOCK), params).scalars())
        if not ids:
            return 0, 0, 0
        deleted, enriched = s.execute(text(_SCAN_RUNS_DELETE), params | {"ids": ids}).one()
        return len(ids), deleted, enriched

    while True:
        candidates, deleted, enriched = _batch(db, scan_runs_batch)
        scan_runs, enrichment_runs = scan_runs + deleted, enrichment_runs + enriched
        if candidates < batch:
            break
    while True:
        candidates, deleted = _batch(db, lambda s: s.execute(text(_ORPHANS_BATCH), params).one())
        enrichment_runs += deleted
        if candidates < batch:
            break

    shadow_predictions = 0
    while True:
        (deleted,) = _batch(db, lambda s: (s.execute(text(_SHADOW_BATCH), params).scalar_one(),))
        shadow_predictions += deleted
        if deleted < batch:
            break

    removed = OperationalRemoved(findings, observations, scan_runs, enrichment_runs, shadow_predictions)
    log.info("operational purge", extra={"removed": removed.__dict__})
    return removed


def _batch(db: Database, work: Callable) -> tuple[int, ...]:
    """One batch in its own transaction, again after a deadlock with a scan (its locks are taken
    in another order); the counts it returns."""
    for attempt in range(_ATTEMPTS):
        try:
            with db.transaction() as s:
                return tuple(int(v) for v in work(s))
        except Aborted:
            if attempt == _ATTEMPTS - 1:
                raise
            time.sleep(0.2 * 2**attempt)
    raise AssertionError("unreachable")  # pragma: no cover
