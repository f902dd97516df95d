"""Scanner's PostgreSQL access: accounts, scan runs, findings and their lifecycle, user actions,
base ML rows.

A finding is stable: one per (cloud account, scope, resource, rule). A scope's save is one
transaction: its findings are created or updated, each gets one observation (and one ML row) for
this scan, what the scope no longer shows is resolved, and resolved findings that came back reopen.
"""

from __future__ import annotations

import datetime as dt
import functools
import hashlib
import json
import secrets
import time
import uuid
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from types import SimpleNamespace
from typing import NamedTuple

from cloudwaste.core import pagination, partitions
from cloudwaste.core.db import Database, renew_lease
from cloudwaste.core.errors import (
    CODES,
    WORKER_LOST,
    Aborted,
    FailedPrecondition,
    InvalidArgument,
    NotFound,
    PermissionDenied,
    Unavailable,
)
from cloudwaste.core.models import (
    CloudAccount,
    CloudwatchMetricsHistory,
    CostTrendData,
    EnrichmentInput,
    ErasureRun,
    ExportRun,
    Finding,
    FindingObservation,
    MlTrainingData,
    ScanHandoff,
    ScanRun,
    Tenant,
    UserAction,
)
from cloudwaste.core.privacy import keyed_hash
from cloudwaste.core.settings import HashKey
from cloudwaste.scanner import metrics, rendering
from cloudwaste.scanner.domain import (
    BILLING_UNAVAILABLE,
    CostReport,
    FindingDraft,
    ScopeOutcome,
    severity_for,
)
from cloudwaste.scanner.mlrows import base_row
from cloudwaste.scanner.rendering import etag
from sqlalchemy import (
    DateTime,
    Numeric,
    and_,
    bindparam,
    case,
    cast,
    delete,
    exists,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    tuple_,
    update,
)
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.orm import Session, aliased

TERMINAL = ("SUCCEEDED", "PARTIALLY_SUCCEEDED", "FAILED")
ACTIVE = ("PENDING", "RUNNING")
DECISIONS = ("DELETED", "KEPT", "IGNORED")
USER_STATES = ("OPEN", *DECISIONS)
GONE, CHANGED, PARAMS_CHANGED = "RESOURCE_GONE", "RESOURCE_CHANGED", "RULE_PARAMETERS_CHANGED"


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


@dataclass(frozen=True)
class FindingFilter:
    scan_run_id: uuid.UUID | None = None
    cloud_account_id: uuid.UUID | None = None
    state: str | None = None  # None with all_states=False means OPEN
    category: str | None = None
    all_states: bool = False
    order_by: str = "create_time"  # or "expected_monthly_saving" (largest first, unscored last)
    tenant: str | None = None  # only this tenant's findings (None: every tenant's)

    def as_dict(self) -> dict:
        return {k: str(v) if v is not None else None for k, v in self.__dict__.items()}


@dataclass(frozen=True)
class Erasure:
    scan_runs: int
    findings: int
    user_actions: int
    ml_rows: int


class ScannerStore:
    def __init__(self, db: Database, hash_key: HashKey) -> None:
        self.db = db
        self.hash_key = hash_key

    def account_hash(self, account: CloudAccount) -> str:
        """How ML rows, exports and cost trends name the account."""
        return _account_hash(self.hash_key, account)

    # --- accounts ---------------------------------------------------------------------------
    def create_account(
        self,
        *,
        tenant_id: str,
        provider: str,
        display_name: str,
        regions: list[str],
        access: dict,
        ml_collection_enabled: bool,
        rule_parameters: dict | None = None,
        request_id: str = "",
    ) -> CloudAccount:
        """Registers an account. With a request id, a retry returns the account the first call
        registered (AIP-155); the id reused for a different account is an error."""
        wanted = {
            "tenant_id": tenant_id,
            "provider": provider,
            "display_name": display_name,
            "regions": regions,
            "access": access,
            "ml_collection_enabled": ml_collection_enabled,
            "rule_parameters": rule_parameters or {},
        }
        key = _request_key(tenant_id, request_id)
        with self.db.transaction() as s:
            if request_id:
                same = _by_request_id(s, CloudAccount, key)
                if same is not None:
                    if {k: getattr(same, k) for k in wanted} != wanted:
                        raise InvalidArgument(
                            "request_id", "was already used to register a different account"
                        )
                    return same
            _refuse_role_of_another_tenant(s, tenant_id, access)
            account = CloudAccount(**wanted, request_id=key)
            s.add(account)
            s.flush()
            s.refresh(account)
            return account

    def tenant_external_id(self, tenant_id: str) -> str:
        """The AWS external id of the tenant, generated at its first call: random, never chosen
        by a caller (so a tenant cannot use another's, the confused deputy)."""
        with self.db.transaction() as s:
            s.execute(
                pg_insert(Tenant)
                .values(tenant_id=tenant_id, aws_external_id="cw-" + secrets.token_urlsafe(24))
                .on_conflict_do_nothing(index_elements=[Tenant.tenant_id])
            )
            return s.execute(select(Tenant.aws_external_id).where(Tenant.tenant_id == tenant_id)).scalar_one()

    def get_account(self, account_id: uuid.UUID, tenant: str | None = None) -> CloudAccount:
        with self.db.transaction() as s:
            return _account(s, account_id, tenant=tenant)

    def list_accounts(
        self, tenant_id: str | None, page_size: int, page_token: str
    ) -> tuple[list[CloudAccount], str]:
        """Oldest first, keyset-paginated on (create_time, id)."""
        filters = {"tenant_id": tenant_id}
        position = pagination.decode_keyset(page_token, filters)
        query = select(CloudAccount)
        if tenant_id:
            query = query.where(CloudAccount.tenant_id == tenant_id)
        if position:
            ts, last = position
            query = query.where(
                or_(
                    CloudAccount.create_time > ts,
                    and_(CloudAccount.create_time == ts, CloudAccount.id > last),
                )
            )
        with self.db.transaction() as s:
            rows = list(
                s.execute(
                    query.order_by(CloudAccount.create_time, CloudAccount.id).limit(page_size + 1)
                ).scalars()
            )
        return _page(rows, page_size, filters)

    def update_account(self, account_id: uuid.UUID, changes: dict, tenant: str | None = None) -> CloudAccount:
        """Applies already-validated changes (display_name, regions, rule_parameters, ml_collection_enabled)."""
        with self.db.transaction() as s:
            account = _account(s, account_id, lock=True, tenant=tenant)
            now = utcnow()
            if changes.get("regions"):  # scopes no longer scanned: their findings would never resolve
                _resolve_scope_removed(
                    s, account_id, _scope_region(Finding.region).not_in(changes["regions"]), now
                )
            for name, value in changes.items():
                setattr(account, name, value)
            account.update_time = now
            s.flush()
            s.refresh(account)
            return account

    def resolve_departed_members(self, account_id: uuid.UUID, members: set[str]) -> int:
        """An organization's scan listed these member accounts: the findings of scopes of any other
        member ("<account>/<region>") are resolved (SCOPE_REMOVED), since no scan will see them
        again. Returns how many were resolved."""
        with self.db.transaction() as s:
            _account(s, account_id, share=True)
            gone = and_(Finding.region.contains("/"), func.split_part(Finding.region, "/", 1).not_in(members))
            return _resolve_scope_removed(s, account_id, gone, utcnow())

    def delete_account(self, account_id: uuid.UUID, erase_ml_data: bool, tenant: str | None = None) -> Erasure:
        """Erases the account's operational data and, on request, every ML row it produced; run
        again when a concurrent writer (the enricher on the same ML rows) deadlocked it."""
        return self.db.retrying(lambda: self._delete_account(account_id, erase_ml_data, tenant))

    def _delete_account(self, account_id: uuid.UUID, erase_ml_data: bool, tenant: str | None) -> Erasure:
        with self.db.transaction() as s:
            account = _account(s, account_id, lock=True, tenant=tenant)
            active = s.execute(
                select(ScanRun.id).where(ScanRun.cloud_account_id == account_id, ScanRun.state.in_(ACTIVE))
            ).first()
            if active:
                raise FailedPrecondition(
                    f"scanRuns/{active[0]} of this account has not ended yet; delete the account once it has"
                )
            ml_rows = 0
            if erase_ml_data:
                observed = (
                    select(FindingObservation.ml_row_id, FindingObservation.ml_row_detected_at)
                    .join(Finding, Finding.id == FindingObservation.finding_id)
                    .where(Finding.cloud_account_id == account_id, FindingObservation.ml_row_id.is_not(None))
                )
                ml_rows = s.execute(
                    delete(MlTrainingData).where(
                        tuple_(MlTrainingData.id, MlTrainingData.detected_at).in_(observed)
                    )
                ).rowcount
                # Rows whose observation is gone still carry the account's keyed hash.
                ml_rows += s.execute(
                    delete(MlTrainingData).where(
                        MlTrainingData.account_hash == _account_hash(self.hash_key, account),
                        MlTrainingData.hash_key_id == self.hash_key.key_id,
                    )
                ).rowcount
                s.execute(
                    delete(CostTrendData).where(
                        CostTrendData.account_hash == _account_hash(self.hash_key, account)
                    )
                )
            finding_ids = select(Finding.id).where(Finding.cloud_account_id == account_id)
            actions = s.execute(delete(UserAction).where(UserAction.finding_id.in_(finding_ids))).rowcount
            s.execute(delete(FindingObservation).where(FindingObservation.finding_id.in_(finding_ids)))
            s.execute(
                update(Finding).where(Finding.cloud_account_id == account_id).values(parent_finding_id=None)
            )
            findings = s.execute(delete(Finding).where(Finding.cloud_account_id == account_id)).rowcount
            runs = s.execute(delete(ScanRun).where(ScanRun.cloud_account_id == account_id)).rowcount
            s.delete(account)
            return Erasure(runs, findings, actions, ml_rows)

    def erase_tenant(self, tenant_id: str) -> ErasureRun:
        """Deletes every ML row of the tenant (by its keyed hash, and through the observations of
        its accounts' findings for rows hashed with an older key), and stops collecting more (its
        accounts are opted out). Returns the erasure's audit record, written in the same
        transaction: the rows removed, the keyed hashes they carried (with the current key's hash
        of the tenant; never the tenant id) and every dataset an export still kept wrote, finished or
        running, each once: any of them may hold the tenant's rows, so each is to be rewritten
        without those hashes (the same list on a retry). Run again when the database aborts it on a
        deadlock with the enricher, which updates the same rows."""
        return self.db.retrying(lambda: self._erase_tenant(tenant_id))

    def _erase_tenant(self, tenant_id: str) -> ErasureRun:
        tenant_hash = keyed_hash(self.hash_key, "tenant", tenant_id)
        with self.db.transaction() as s:
            s.execute(
                update(CloudAccount)
                .where(CloudAccount.tenant_id == tenant_id)
                .values(ml_collection_enabled=False, update_time=utcnow())
            )
            observed = (
                select(FindingObservation.ml_row_id, FindingObservation.ml_row_detected_at)
                .join(Finding, Finding.id == FindingObservation.finding_id)
                .join(CloudAccount, CloudAccount.id == Finding.cloud_account_id)
                .where(CloudAccount.tenant_id == tenant_id, FindingObservation.ml_row_id.is_not(None))
            )
            mine = or_(
                MlTrainingData.tenant_hash == tenant_hash,
                tuple_(MlTrainingData.id, MlTrainingData.detected_at).in_(observed),
            )
            # One statement: PostgreSQL counts the deleted rows and their distinct hashes (a
            # tenant's millions of rows never come back to Python).
            gone = delete(MlTrainingData).where(mine).returning(MlTrainingData.tenant_hash).cte("gone")
            deleted, hashes = s.execute(
                select(func.count(), func.array_agg(gone.c.tenant_hash.distinct()))
            ).one()
            dataset = func.coalesce(ExportRun.dataset_uri, ExportRun.destination_uri)
            exports = list(
                s.execute(
                    select(dataset)
                    .where(ExportRun.state.in_(("SUCCEEDED", "RUNNING")))
                    .group_by(dataset)
                    .order_by(func.min(ExportRun.create_time), dataset)
                ).scalars()
            )
            tenant_hashes = sorted({h for h in hashes or () if h} | {tenant_hash})
            # the tenant's other ML tables: its accounts' cost trends and metric series
            for table in (CostTrendData, CloudwatchMetricsHistory):
                s.execute(delete(table).where(table.tenant_hash.in_(tenant_hashes)))
            record = ErasureRun(
                tenant_hashes=tenant_hashes,
                ml_rows_deleted=deleted,
                exports_to_rewrite=exports,
            )
            s.add(record)
            s.flush()
            s.refresh(record)
            return record

    def get_erasure(self, erasure_id: uuid.UUID) -> ErasureRun:
        with self.db.transaction() as s:
            record = s.get(ErasureRun, erasure_id)
            if record is None:
                raise NotFound(f"erasures/{erasure_id} does not exist")
            return record

    def list_erasures(self, page_size: int, page_token: str) -> tuple[list[ErasureRun], str]:
        """The erasure audit records, newest first."""
        with self.db.transaction() as s:
            return pagination.newest_first(s, select(ErasureRun), ErasureRun, page_size, page_token, {})

    # --- scan runs --------------------------------------------------------------------------
    def create_scan_run(
        self, account_id: uuid.UUID, regions: list[str], request_id: str = "", tenant: str | None = None
    ) -> ScanRun:
        """Queues a scan of the account. With a request id, a retry returns the run the first call
        queued, whatever its state now (AIP-155); the id reused for another scan is an error."""
        with self.db.transaction() as s:
            account = _account(s, account_id, share=True, tenant=tenant)
            key = _request_key(account.tenant_id, request_id)
            if request_id:
                same = _by_request_id(s, ScanRun, key)
                if same is not None:
                    if same.cloud_account_id != account_id or (
                        regions and sorted(regions) != sorted(same.regions)
                    ):
                        raise InvalidArgument("request_id", "was already used for a different scan")
                    return same
            if account.regions:
                unknown = sorted(set(regions) - set(account.regions))
                if unknown:
                    raise InvalidArgument(
                        "regions", f"{unknown} are not regions of this account {account.regions}"
                    )
            run = ScanRun(
                cloud_account_id=account_id,
                regions=regions or list(account.regions),
                state="PENDING",
                region_results=[],
                request_id=key,
            )
            s.add(run)
            s.flush()
            s.add(ScanHandoff(scan_run_id=run.id))  # the enricher learns of it here, and how it ended below
            s.flush()
            s.refresh(run)
            return run

    def get_scan_run(self, run_id: uuid.UUID, tenant: str | None = None) -> ScanRun:
        with self.db.transaction() as s:
            run = s.get(ScanRun, run_id)
            if run is None or (tenant is not None and _account_tenant(s, run.cloud_account_id) != tenant):
                raise NotFound(f"scanRuns/{run_id} does not exist")
            return run

    def list_scan_runs(
        self, account_id: uuid.UUID | None, page_size: int, page_token: str, tenant: str | None = None
    ) -> tuple[list[ScanRun], str]:
        """Newest first, keyset-paginated on (create_time, id)."""
        filters = {"cloud_account": str(account_id) if account_id else None, "tenant": tenant}
        position = pagination.decode_keyset(page_token, filters)
        query = select(ScanRun)
        if account_id:
            query = query.where(ScanRun.cloud_account_id == account_id)
        if tenant is not None:
            query = query.where(_of_tenant(ScanRun.cloud_account_id, tenant))
        if position:
            ts, last = position
            query = query.where(
                or_(ScanRun.create_time < ts, and_(ScanRun.create_time == ts, ScanRun.id < last))
            )
        with self.db.transaction() as s:
            if account_id:
                _account(s, account_id, tenant=tenant)
            rows = list(
                s.execute(
                    query.order_by(ScanRun.create_time.desc(), ScanRun.id.desc()).limit(page_size + 1)
                ).scalars()
            )
        return _page(rows, page_size, filters)

    def claim_next_run(
        self, worker: str, lease: dt.timedelta = dt.timedelta(seconds=60)
    ) -> tuple[ScanRun, CloudAccount] | None:
        """Takes the oldest pending run of an account with no run in progress; replicas never take
        the same one (SKIP LOCKED). Two runs of one account that still overlap (claimed at the same
        instant) are safe: scope saves are serialized and an older outcome never overwrites a newer."""
        with self.db.transaction() as s:
            other = aliased(ScanRun)
            busy = exists().where(
                other.cloud_account_id == ScanRun.cloud_account_id, other.state == "RUNNING"
            )
            run = s.execute(
                select(ScanRun)
                .where(ScanRun.state == "PENDING", ~busy)
                .order_by(ScanRun.create_time)
                .limit(1)
                .with_for_update(skip_locked=True)
            ).scalar_one_or_none()
            if run is None:
                return None
            run.state, run.claimed_by, run.start_time = "RUNNING", worker, utcnow()
            run.lease_expire_time = run.start_time + lease
            account = s.get(CloudAccount, run.cloud_account_id)
            s.flush()
            return run, account

    def renew_lease(self, run_id: uuid.UUID, worker: str, lease: dt.timedelta) -> bool:
        """Extends the lease of a run this worker holds; False once it is no longer running here."""
        with self.db.transaction() as s:
            return renew_lease(s, ScanRun, run_id, worker, lease)

    def set_run_regions(self, run_id: uuid.UUID, regions: list[str]) -> None:
        with self.db.transaction() as s:
            s.execute(update(ScanRun).where(ScanRun.id == run_id).values(regions=regions))

    def save_scope(
        self, run_id: uuid.UUID, account: CloudAccount, outcome: ScopeOutcome, detected_at: dt.datetime
    ) -> None:
        """One scope of a run, in one transaction: findings created or updated (decisions kept,
        resolved ones reopened), one observation and one ML row each, what is gone resolved, and the
        scope's result on the run."""
        for attempt in range(3):  # a deadlock or serialization failure: the whole save again
            try:
                return self._save_scope(run_id, account, outcome, detected_at)
            except Aborted:
                if attempt == 2:
                    raise
                time.sleep(0.2 * 2**attempt)

    def _save_scope(
        self, run_id: uuid.UUID, account: CloudAccount, outcome: ScopeOutcome, detected_at: dt.datetime
    ) -> None:
        with self.db.transaction() as s:
            counts = _ScopeWriter(s, self.hash_key, run_id, account, outcome, detected_at).write()
            result = {
                "region": outcome.scope,
                "succeeded": outcome.succeeded,
                "error_message": outcome.error_message,
                "resources_scanned": outcome.resources_scanned,
                "findings_count": len(outcome.findings),
                "failed_kinds": dict(outcome.kind_errors),
                "failed_rules": dict(outcome.rule_errors),
                "resolved_findings_count": counts["resolved"],
            }
            # fenced: a run that ended meanwhile (reaped when its lease lapsed) takes no more
            # findings. This row lock orders the scope and the reaper: a run the reaper ended
            # first matches no row here, and the whole scope rolls back.
            saved = s.execute(
                update(ScanRun)
                .where(ScanRun.id == run_id, ScanRun.state == "RUNNING")
                .values(
                    region_results=ScanRun.region_results.op("||")(
                        bindparam("region_result", [result], type_=JSONB)
                    ),
                    resources_scanned=ScanRun.resources_scanned + outcome.resources_scanned,
                    findings_count=ScanRun.findings_count + len(outcome.findings),
                    total_monthly_waste=ScanRun.total_monthly_waste + counts["cost"],
                    new_findings_count=ScanRun.new_findings_count + counts["new"],
                    resolved_findings_count=ScanRun.resolved_findings_count + counts["resolved"],
                    reopened_findings_count=ScanRun.reopened_findings_count + counts["reopened"],
                )
            )
            if saved.rowcount != 1:
                raise FailedPrecondition(f"scanRuns/{run_id} ended before its scope {outcome.scope} was saved")
        metrics.ML_ROWS.inc(counts["ml_rows"])  # committed: counted once, whatever the retries
        metrics.IMPLICIT_LABELS.inc(counts["implicit"])

    def finish_run(
        self, run_id: uuid.UUID, outcomes: list[ScopeOutcome], error: tuple[int, str] | None = None
    ) -> ScanRun:
        """Ends a RUNNING run from its scopes' outcomes; `error` is (google.rpc.Code, message) of
        a failure of the whole scan."""
        ok = [o for o in outcomes if o.succeeded]
        if error or not outcomes or not ok:
            state = "FAILED"
        elif len(ok) < len(outcomes) or any(o.kind_errors or o.rule_errors for o in outcomes):
            state = "PARTIALLY_SUCCEEDED"
        else:
            state = "SUCCEEDED"
        with self.db.transaction() as s:
            run = s.get(ScanRun, run_id, with_for_update=True)
            if run.state != "RUNNING":  # already ended, e.g. failed as stale: that verdict stands
                return run
            run.state, run.end_time = state, utcnow()
            _release_ml_rows(s, [run_id])
            if error:
                run.error_code, run.error_message = error
            elif not ok and outcomes:
                run.error_code = CODES["UNAVAILABLE"]
                run.error_message = "every region failed; see region_results"
            elif not outcomes:
                run.error_code = CODES["INTERNAL"]
                run.error_message = "the scan ended without scanning a region; see the scanner log"
            s.flush()
            return run

    def fail_stale_runs(self, older_than: dt.timedelta) -> int:
        """Runs left RUNNING by a replica that died end FAILED, so they never hang: those whose
        lease lapsed (their worker stopped renewing it), and any running longer than `older_than`."""
        cutoff, now = utcnow() - older_than, utcnow()
        with self.db.transaction() as s:
            failed = list(
                s.execute(
                    update(ScanRun)
                    .where(
                        ScanRun.state == "RUNNING",
                        or_(ScanRun.lease_expire_time < now, ScanRun.start_time < cutoff),
                    )
                    .values(
                        state="FAILED",
                        end_time=now,
                        error_code=WORKER_LOST,
                        error_message="the scanner running this scan stopped; start a new scan",
                    )
                    .returning(ScanRun.id)
                ).scalars()
            )
            if failed:
                s.execute(
                    update(ScanHandoff)
                    .where(ScanHandoff.scan_run_id.in_(failed))
                    .values(scan_state="FAILED", end_time=now)
                )
                _release_ml_rows(s, failed)
            return len(failed)

    def complete_handoff(
        self,
        run_id: uuid.UUID,
        history: Mapping[tuple[str, str], Mapping],
        costs: CostReport | None = None,
    ) -> None:
        """Hands an ended run to the enricher: the metric history collected after it ended
        ({(kind, resource id): {metric name: domain.HistorySeries}}) and each resource's daily cost
        (`costs`, what the bill says) onto its ML rows' inputs, the bill's source (or why there is
        none) and the account's spend onto the hand-off, then the run's end state (from then on the
        enricher may take it). One transaction; the series travel as one JSON parameter a batch."""
        rows = [
            {"kind": kind, "id": rid, "history": _history_json(series)}
            for (kind, rid), series in history.items()
        ]
        costs = costs or CostReport.unavailable(BILLING_UNAVAILABLE, "the bill was not read for this run")
        cost_rows = [
            {"id": rid, "cost": {day.isoformat(): round(v, 6) for day, v in sorted(days.items())}}
            for rid, days in costs.daily.items()
        ] + [{"id": rid, "cost": None, "unread": True} for rid in sorted(costs.unread)]
        with self.db.transaction() as s:
            for first in range(0, len(rows), HISTORY_BATCH):
                s.execute(
                    _SET_HISTORY, {"run": run_id, "rows": json.dumps(rows[first : first + HISTORY_BATCH])}
                )
            for first in range(0, len(cost_rows), HISTORY_BATCH):
                s.execute(
                    _SET_COST, {"run": run_id, "rows": json.dumps(cost_rows[first : first + HISTORY_BATCH])}
                )
            s.execute(
                update(ScanHandoff)
                .where(
                    ScanHandoff.scan_run_id == ScanRun.id, ScanRun.id == run_id, ScanRun.state.in_(TERMINAL)
                )
                .values(
                    scan_state=ScanRun.state,
                    end_time=ScanRun.end_time,
                    cost_source=costs.source or None,
                    cost_missing=costs.missing or None,
                    cost_note=costs.note or None,
                    cost_window_start=costs.window_start,
                    cost_window_end=costs.window_end,
                    account_spend={m.isoformat(): v for m, v in sorted(costs.monthly_spend.items())},
                )
            )

    def complete_stale_handoffs(self, ended_before: dt.timedelta) -> int:
        """Runs that ended longer ago than `ended_before` and were never handed over (their scanner
        stopped while collecting their history or their costs): handed over without them."""
        cutoff = utcnow() - ended_before
        with self.db.transaction() as s:
            return s.execute(
                update(ScanHandoff)
                .where(
                    ScanHandoff.scan_state.is_(None),
                    ScanHandoff.scan_run_id == ScanRun.id,
                    ScanRun.state.in_(TERMINAL),
                    ScanRun.end_time < cutoff,
                )
                .values(
                    scan_state=ScanRun.state,
                    end_time=ScanRun.end_time,
                    cost_missing=BILLING_UNAVAILABLE,
                    cost_note="the scanner stopped before it read the bill",
                )
            ).rowcount

    def runs_awaiting_enrichment(self, limit: int = 10, max_attempts: int = 20) -> list[uuid.UUID]:
        with self.db.transaction() as s:
            return list(
                s.execute(
                    select(ScanRun.id)
                    .join(ScanHandoff, ScanHandoff.scan_run_id == ScanRun.id)
                    .where(
                        ScanHandoff.scan_state.is_not(None),  # handed over (its history collected)
                        ScanRun.enrichment_notified_time.is_(None),
                        ScanRun.enrichment_attempts < max_attempts,
                    )
                    .order_by(ScanRun.end_time)
                    .limit(limit)
                ).scalars()
            )

    def record_enrichment_attempt(self, run_id: uuid.UUID, ok: bool) -> None:
        with self.db.transaction() as s:
            values = {"enrichment_attempts": ScanRun.enrichment_attempts + 1}
            if ok:
                values["enrichment_notified_time"] = utcnow()
            s.execute(update(ScanRun).where(ScanRun.id == run_id).values(**values))

    # --- findings ---------------------------------------------------------------------------
    def get_finding(self, finding_id: uuid.UUID, tenant: str | None = None) -> Finding:
        with self.db.transaction() as s:
            finding = s.get(Finding, finding_id)
            if finding is None or (tenant is not None and _account_tenant(s, finding.cloud_account_id) != tenant):
                raise NotFound(f"findings/{finding_id} does not exist")
            _attach_parts(s, [finding])
        return _shown([finding])[0]

    def list_findings(
        self, flt: FindingFilter, page_size: int, page_token: str
    ) -> tuple[list[ListedFinding], str, int]:
        """One page of findings, each with its serialized Finding message (the rendering its last
        write stored, with its parts' cost appended), the next page's token and the total (an
        estimate above EXACT_TOTAL_UP_TO). Reads no JSON and builds no message (scanner.rendering)."""
        by_saving = flt.order_by == "expected_monthly_saving"
        position, total = _finding_position(page_token, flt.as_dict(), by_saving)
        state = flt.state or (None if flt.all_states else "OPEN")
        shape = _PageShape(
            scan_run=flt.scan_run_id is not None,
            account=flt.cloud_account_id is not None,
            state=state if state in (None, "OPEN", "IGNORED") else "*",
            category=flt.category is not None,
            tenant=flt.tenant is not None,
            by_saving=by_saving,
        )
        params = {
            "scan_run": flt.scan_run_id,
            "account": flt.cloud_account_id,
            "state": state,
            "category": flt.category,
            "tenant": flt.tenant,
            "after_key": position[0] if position else None,
            "after_id": position[1] if position else None,
            "limit": page_size + 1,
            "count_limit": EXACT_TOTAL_UP_TO + 1,
        }
        # A page whose findings all have a stored rendering is one statement. One with findings
        # to render from their columns reads them by a second statement: then the whole page is
        # read again in one snapshot, so that the second sees what the first found (a finding
        # deleted or decided in between would fail the call, or show on a page of another state).
        read = self._page(flt, shape, params, position, total, page_size, snapshot=False)
        if read is None:
            read = self._page(flt, shape, params, position, total, page_size, snapshot=True)
        rows, stale, token, total = read
        page = []
        for r in rows:
            listed = r.listed_pb
            if listed is None:
                (f,) = _shown([SimpleNamespace(**stale[r.id]._mapping)])
                listed = rendering.listed_pb(f)
            page.append(
                ListedFinding(
                    r.id,
                    r.create_time,
                    r.expected_monthly_saving,
                    rendering.with_parts(listed, r.parts_monthly_cost, r.currency),
                )
            )
        return page, token, total

    def _page(self, flt, shape, params, position, total, page_size: int, snapshot: bool):
        """(page rows, the unrendered ones' columns by id, next token, total); None when, outside
        a snapshot, some rows have no stored rendering (see list_findings)."""
        by_saving = shape.by_saving
        with self.db.transaction(snapshot=snapshot) as s:
            run = s.get(ScanRun, flt.scan_run_id) if flt.scan_run_id else None
            if flt.scan_run_id and (
                run is None or (flt.tenant is not None and _account_tenant(s, run.cloud_account_id) != flt.tenant)
            ):
                raise NotFound(f"scanRuns/{flt.scan_run_id} does not exist")
            # the first page counts (in the same statement); the next ones carry its count in
            # their token. A statement built once per shape, run on the session's connection:
            # building and compiling one per call took 2 of a page's 3 ms.
            counting = total is None
            rows = s.connection().execute(_page_query(shape, position is not None, counting), params).all()
            if counting:
                counted = rows[0].counted if rows else None if position else 0
                total = _total(s, _matching(shape), params, counted)
            if not rows and flt.cloud_account_id:  # none: is there such an account (of this tenant)?
                _account(s, flt.cloud_account_id, tenant=flt.tenant)
            token = ""
            if len(rows) > page_size:
                rows = rows[:page_size]
                token = _finding_token(rows[-1], by_saving, flt.as_dict(), total)
            unrendered, stale = [r.id for r in rows if r.listed_pb is None], {}
            if unrendered:  # written without a rendering, or an ignore expired since: from the columns
                if not snapshot:
                    return None
                stale = {
                    r.id: r for r in s.execute(select(*_LISTED_COLUMNS).where(Finding.id.in_(unrendered)))
                }
        return rows, stale, token, total

    @staticmethod
    def token_after(flt: FindingFilter, finding, total: int) -> str:
        """The page token that continues a ListFindings page cut after `finding` (by size)."""
        return _finding_token(finding, flt.order_by == "expected_monthly_saving", flt.as_dict(), total)

    def findings_to_score(self, scan_run_id: uuid.UUID) -> list[tuple[uuid.UUID, dict]]:
        """The findings a run observed, each with the raw features the waste model takes."""
        with self.db.transaction() as s:
            run = s.get(ScanRun, scan_run_id)
            if run is None:
                return []
            seen = select(FindingObservation.finding_id).where(FindingObservation.scan_run_id == scan_run_id)
            rows = s.execute(select(Finding).where(Finding.id.in_(seen)).order_by(Finding.id)).scalars()
            at = run.end_time or utcnow()
            return [(f.id, _features(f, at)) for f in rows]

    def save_predictions(self, predictions: Sequence[tuple[uuid.UUID, float, float, dict]]) -> None:
        """Stores (finding id, p, expected saving, {"model_version", "predict_time", "top_features"})
        on each finding, in one transaction."""
        if not predictions:
            return
        with self.db.transaction() as s:
            # locked, in id order as scans lock them: the rendering is of the row as it stays
            rows = s.execute(
                select(*_LISTED_COLUMNS)
                .where(Finding.id.in_([fid for fid, *_ in predictions]))
                .order_by(Finding.id)
                .with_for_update()
            ).all()
            before = {r.id: r._mapping for r in rows}
            changes = []
            for fid, p, saving, said in predictions:
                if fid not in before:
                    continue  # erased since it was scored
                values = {
                    "id": fid,
                    "waste_probability": p,
                    "expected_monthly_saving": rendering.stored_cost(saving),
                    "prediction": said,
                }
                values["listed_pb"] = rendering.listed_pb(rendering.written(values, before[fid]))
                changes.append(values)
            if changes:
                s.execute(update(Finding), changes)

    def render_unrendered(self, limit: int = 500) -> int:
        """Stores the rendering of up to `limit` findings that have none: written before migration
        0028, or changed by a write that did not render them (the trigger cleared theirs). Returns
        how many. An idle scanner calls it, so that pages come to read stored renderings only.
        Background work: it waits for no lock (a table locked by a migration or an operator), it
        answers 0 and tries again at the next poll."""
        try:
            return self._render_unrendered(limit)
        except Unavailable:  # lock_not_available, or the database away: the next poll tries again
            return 0

    def _render_unrendered(self, limit: int) -> int:
        with self.db.transaction() as s:
            s.connection().exec_driver_sql("SET LOCAL lock_timeout = '50ms'")
            rows = s.execute(
                select(*_LISTED_COLUMNS)
                .where(Finding.listed_pb.is_(None))
                .order_by(Finding.id)
                .limit(limit)
                .with_for_update(skip_locked=True)  # a scan writing them renders them itself
            ).all()
            if rows:
                s.execute(
                    update(Finding), [{"id": r.id, "listed_pb": rendering.listed_pb(r._mapping)} for r in rows]
                )
            return len(rows)

    def set_finding_state(
        self,
        finding_id: uuid.UUID,
        state: str,
        *,
        expected_etag: str = "",
        ignore_expire_time: dt.datetime | None = None,
        tenant: str | None = None,
    ) -> Finding:
        """Records the decision and labels the ML rows of the finding's current open cycle."""
        now = utcnow()
        with self.db.transaction() as s:
            query = select(Finding).where(Finding.id == finding_id)
            if tenant is not None:
                query = query.where(_of_tenant(Finding.cloud_account_id, tenant))
            finding = s.execute(query.with_for_update()).scalar_one_or_none()
            if finding is None:
                raise NotFound(f"findings/{finding_id} does not exist")
            if expected_etag and expected_etag != etag(finding):
                raise Aborted(
                    f"findings/{finding_id} changed since it was read (etag {etag(finding)}, not "
                    f"{expected_etag[:32]}); read it again and decide on what it says now"
                )
            if finding.state == "RESOLVED":
                raise FailedPrecondition(
                    f"findings/{finding_id} is RESOLVED ({finding.resolve_reason}): there is nothing left to decide"
                )
            if effective_state(finding, now) != finding.state:  # an expired ignore: OPEN, as it was shown
                finding.state, finding.ignore_expire_time = "OPEN", None
                _render(finding)
            expiry = ignore_expire_time if state == "IGNORED" else None
            if state == finding.state and expiry == finding.ignore_expire_time:
                _attach_parts(s, [finding])
                s.flush()
                return finding
            s.add(UserAction(finding_id=finding.id, action=state, previous_state=finding.state))
            finding.state, finding.state_change_time, finding.ignore_expire_time = state, now, expiry
            finding.version += 1
            _render(finding)
            _label(s, finding, state, now)
            s.flush()
            _attach_parts(s, [finding])
        metrics.DECISIONS.labels(state.lower()).inc()
        return _shown([finding])[0]


# --- helpers ---------------------------------------------------------------------------------


def _resolve_scope_removed(s: Session, account_id: uuid.UUID, where, now: dt.datetime) -> int:
    """Resolves (SCOPE_REMOVED) the account's unresolved findings matching `where`."""
    removed = s.execute(
        select(Finding)
        .where(Finding.cloud_account_id == account_id, Finding.state != "RESOLVED", where)
        .order_by(Finding.id)
        .with_for_update()
    ).scalars()
    n = 0
    for f in removed:
        f.resolved_from_state, f.state, f.resolve_reason = (
            effective_state(f, now),
            "RESOLVED",
            "SCOPE_REMOVED",
        )
        f.state_change_time, f.resolve_scan_run_id, f.version = now, None, f.version + 1
        _render(f)
        n += 1
    return n


def _render(finding: Finding) -> None:
    """Writes the finding's rendering with the changes an ORM write is about to flush."""
    finding.listed_pb = rendering.listed_pb(finding)


def _scope_region(column):
    """The region of a finding's scope: "eu-west-1", or for an organization's member account
    "111122223333/eu-west-1" -> "eu-west-1"."""
    return case((column.contains("/"), func.split_part(column, "/", 2)), else_=column)


def _account(
    s: Session, account_id: uuid.UUID, lock: bool = False, share: bool = False, tenant: str | None = None
) -> CloudAccount:
    """The account; NotFound when it does not exist or, with `tenant`, is another tenant's (the
    same answer: a caller learns nothing of other tenants' accounts)."""
    query = select(CloudAccount).where(CloudAccount.id == account_id)
    if tenant is not None:
        query = query.where(CloudAccount.tenant_id == tenant)
    if lock or share:
        query = query.with_for_update(read=share and not lock)
    account = s.execute(query).scalar_one_or_none()
    if account is None:
        raise NotFound(f"cloudAccounts/{account_id} does not exist")
    return account


def _refuse_role_of_another_tenant(s: Session, tenant_id: str, access: dict) -> None:
    """An AWS role registered by one tenant cannot be registered by another: the confused deputy
    (a tenant scanning an account it learnt the role and external id of). The lock makes two
    tenants racing for one role take turns."""
    role_arn = (access or {}).get("role_arn")
    if not role_arn:
        return
    s.execute(select(func.pg_advisory_xact_lock(func.hashtext(f"role_arn:{role_arn}"))))
    taken = s.execute(
        select(CloudAccount.id)
        .where(CloudAccount.access["role_arn"].astext == role_arn, CloudAccount.tenant_id != tenant_id)
        .limit(1)
    ).first()
    if taken:
        raise PermissionDenied(
            "cloud_account.aws.role_arn: this role is registered by another tenant; "
            "each AWS role can serve one tenant only"
        )


def _account_tenant(s: Session, account_id: uuid.UUID) -> str | None:
    return s.execute(select(CloudAccount.tenant_id).where(CloudAccount.id == account_id)).scalar_one_or_none()


def _of_tenant(account_id_column, tenant: str):
    """Rows (scan runs, findings) of the tenant's accounts."""
    return account_id_column.in_(select(CloudAccount.id).where(CloudAccount.tenant_id == tenant))


def _account_hash(key: HashKey, account: CloudAccount) -> str:
    return keyed_hash(key, "account", f"{account.provider}:{_account_ref(account)}")


def _account_ref(account: CloudAccount) -> str:
    return (account.access or {}).get("account_id") or str(account.id)


EXACT_TOTAL_UP_TO = 1000


# The columns a ListFindings page reads: all but the resource's raw configuration and the rule
# parameters, which are the scanner's own bookkeeping.
_LISTED_COLUMNS = [
    c for c in Finding.__table__.c if c.key not in ("resource_config", "rule_params", "listed_pb")
]
# ... and what its unresolved parts cost (None: it has none), in the same query
_PART = aliased(Finding)
_PARTS_COST = (
    select(func.sum(_PART.monthly_cost))
    .where(_PART.parent_finding_id == Finding.id, _PART.state != "RESOLVED")
    .scalar_subquery()
    .label("parts_monthly_cost")
)


# ... and what a page reads: the stored rendering, unless an ignore expired since it was written
# (the finding shows OPEN: rendered from its columns then)
_PAGE_COLUMNS = (
    Finding.id,
    Finding.create_time,
    Finding.expected_monthly_saving,
    Finding.currency,
    case(
        (and_(Finding.state == "IGNORED", Finding.ignore_expire_time <= func.now()), None),
        else_=Finding.listed_pb,
    ).label("listed_pb"),
    _PARTS_COST,
)


class ListedFinding(NamedTuple):
    """A finding of a ListFindings page: its keys (for the page token) and its Finding message."""

    id: uuid.UUID
    create_time: dt.datetime
    expected_monthly_saving: Decimal | None
    pb: bytes


def _total(s: Session, matching, params: dict, counted: int | None) -> int:
    """ListFindings' total_size (AIP-158 allows an estimate): exact up to EXACT_TOTAL_UP_TO, found
    by counting at most one more row (`counted`, unless None); above, PostgreSQL's own estimate of
    the rows (EXPLAIN), never less than what was counted. Counting 100,000 findings exactly would
    cost each page 40-80 ms."""
    if counted is None:
        counted = s.connection().execute(_counting(matching), params).scalar_one()
    if counted <= EXACT_TOTAL_UP_TO:
        return counted
    # PostgreSQL's estimate changes when it analyzes the table, minutes apart: asked once a minute
    # per filter (a planning, half a millisecond of a first page)
    key = (matching, tuple(sorted((k, str(v)) for k, v in params.items() if k not in _POSITION)))
    now = time.monotonic()
    known = _ESTIMATES.get(key)
    if known is None or now - known[0] > ESTIMATE_SECONDS:
        compiled = _compiled(matching, s.get_bind().dialect)
        plan = s.connection().exec_driver_sql(
            "EXPLAIN (FORMAT JSON) " + compiled.string, compiled.construct_params(params)
        ).scalar_one()
        plan = json.loads(plan) if isinstance(plan, str) else plan
        if len(_ESTIMATES) >= 4096:
            _ESTIMATES.clear()
        known = _ESTIMATES[key] = (now, int(plan[0]["Plan"]["Plan Rows"]))
    return max(counted, known[1])


ESTIMATE_SECONDS = 60.0
_ESTIMATES: dict[tuple, tuple[float, int]] = {}  # (statement, filter values) -> (asked at, rows)
_POSITION = ("after_key", "after_id", "limit", "count_limit")


@functools.lru_cache(maxsize=256)
def _counting(matching):
    return select(func.count()).select_from(matching.limit(bindparam("count_limit")).subquery())


@functools.lru_cache(maxsize=256)
def _compiled(matching, dialect):
    return matching.compile(dialect=dialect)


class _PageShape(NamedTuple):
    """Which filters a ListFindings call sets (their values are parameters), and its order."""

    scan_run: bool
    account: bool
    state: str | None  # None: every state; "OPEN" and "IGNORED" count expiries; "*": the state given
    category: bool
    tenant: bool
    by_saving: bool


@functools.lru_cache(maxsize=256)
def _matching(shape: _PageShape):
    """The findings a filter shape matches, its values as parameters (see list_findings)."""
    conds = []
    if shape.scan_run:
        seen = select(FindingObservation.finding_id).where(FindingObservation.scan_run_id == bindparam("scan_run"))
        conds.append(Finding.id.in_(seen))
    if shape.account:
        conds.append(Finding.cloud_account_id == bindparam("account"))
    if shape.state in ("OPEN", "IGNORED"):
        conds.append(_state_condition(shape.state))
    elif shape.state == "*":
        conds.append(Finding.state == bindparam("state"))
    if shape.category:
        conds.append(Finding.scenario == bindparam("category"))
    if shape.tenant:
        conds.append(_of_tenant(Finding.cloud_account_id, bindparam("tenant")))
    return select(literal(1)).select_from(Finding).where(*conds)


@functools.lru_cache(maxsize=512)
def _page_query(shape: _PageShape, after: bool, counting: bool):
    """A page of the findings a shape matches, after a position (after_key, after_id) or from
    the start, newest first or (by_saving) largest expected saving first; `counting`, with a
    column `counted`: how many the shape matches, up to EXACT_TOTAL_UP_TO + 1."""
    # unscored findings sort after every scored one (a saving is never negative)
    key = func.coalesce(Finding.expected_monthly_saving, -1) if shape.by_saving else Finding.create_time
    columns = _PAGE_COLUMNS
    if counting:  # computed once for the statement (an uncorrelated subquery)
        columns = (*columns, _counting(_matching(shape)).scalar_subquery().label("counted"))
    query = _matching(shape).with_only_columns(*columns)
    if after:
        # a row comparison, which the index takes as a bound (an OR of the two would be a filter:
        # every row before the position read again, 10 ms 200 pages deep)
        query = query.where(tuple_(key, Finding.id) < tuple_(bindparam("after_key"), bindparam("after_id")))
    return query.order_by(key.desc(), Finding.id.desc()).limit(bindparam("limit"))


def _request_key(tenant_id: str, request_id: str) -> str | None:
    """How a request id is stored: within its tenant (another tenant's equal id is another
    request, and says nothing of this one), as a digest that fits the column."""
    if not request_id:
        return None
    return hashlib.sha256(f"{tenant_id}\x00{request_id}".encode()).hexdigest()


def _by_request_id(s: Session, entity, request_id: str):
    """The row a previous call with this request id created, if any; the transaction holds a lock
    on the id until it ends, so two retries racing create one row."""
    s.execute(select(func.pg_advisory_xact_lock(func.hashtext(f"{entity.__tablename__}:{request_id}"))))
    return s.execute(select(entity).where(entity.request_id == request_id)).scalar_one_or_none()


def _page(rows: list, page_size: int, filters: dict) -> tuple[list, str]:
    if len(rows) <= page_size:
        return rows, ""
    rows = rows[:page_size]
    return rows, pagination.encode_keyset(rows[-1].create_time, rows[-1].id, filters)


def _finding_token(row, by_saving: bool, filters: dict, total: int) -> str:
    """The ListFindings token of the findings after `row`, in the order the filters ask for, with
    the total the first page counted (AIP-158 allows an estimate: the next pages need not count)."""
    if by_saving:
        saving = row.expected_monthly_saving
        key = "-1" if saving is None else str(saving)
    else:
        key = row.create_time.isoformat()
    return pagination.encode([key, str(row.id), str(total)], filters)


def _finding_position(token: str, filters: dict, by_saving: bool) -> tuple[tuple | None, int | None]:
    """(the (key, id) a ListFindings page starts after, the total its first page counted) from a
    token; (None, None) without one. A token issued before totals were carried has no total."""
    position = pagination.decode(token, filters)
    if position is None:
        return None, None
    try:
        key, ident, *rest = position
        if len(rest) > 1:
            raise ValueError(position)
        after = (Decimal(key) if by_saving else dt.datetime.fromisoformat(key), uuid.UUID(ident))
        total = int(rest[0]) if rest else None
        if total is not None and total < 0:
            raise ValueError(total)
        return after, total
    except (ValueError, ArithmeticError):
        raise InvalidArgument("page_token", "is not a token this service issued") from None


def _features(f: Finding, at: dt.datetime) -> dict:
    """A finding's raw features as the predictor's WasteFeatures takes them (it anonymizes the tags
    itself: only allow-listed keys and their vocabulary are read)."""
    created = f.resource_create_time
    return {
        "finding": f"findings/{f.id}",  # lets a shadow evaluation match the prediction with the decision
        "provider": f.provider,
        "resource_type": f.resource_type,
        "region": f.location or f.region,
        "detection_scenario": f.scenario,
        "confidence_level": f.confidence,
        "resource_age_days": max((at - created).total_seconds() / 86400, 0.0) if created else None,
        "cost_monthly": float(f.monthly_cost),
        "tags": {str(k): str(v) for k, v in (f.tags or {}).items()},
    }


def effective_state(finding, now: dt.datetime | None = None) -> str:
    """The state a user sees: an IGNORED finding whose expiry has passed is OPEN. Scans write the
    transition when they next see the finding; reads never write."""
    expiry = finding.ignore_expire_time
    if finding.state == "IGNORED" and expiry is not None and expiry <= (now or utcnow()):
        return "OPEN"
    return finding.state


def _newer_than(finding: Finding, now: dt.datetime) -> bool:
    """Whether a scan that started after `now` already wrote this finding."""
    if finding.event_time is not None and finding.event_time > now:
        return True
    return (
        finding.state == "RESOLVED"
        and finding.state_change_time is not None
        and finding.state_change_time > now
    )


def _shown(findings: list[Finding]) -> list[Finding]:
    """Detached findings as users see them (effective state), after their session is closed."""
    now = utcnow()
    for f in findings:
        f.state = effective_state(f, now)
    return findings


def _state_condition(state: str):
    now = func.now()
    expired = and_(Finding.state == "IGNORED", Finding.ignore_expire_time <= now)
    if state == "OPEN":
        return or_(Finding.state == "OPEN", expired)
    if state == "IGNORED":
        return and_(
            Finding.state == "IGNORED",
            or_(Finding.ignore_expire_time.is_(None), Finding.ignore_expire_time > now),
        )
    return Finding.state == state


def _attach_parts(s: Session, findings: list[Finding]) -> None:
    """Sets `parts_monthly_cost` on each finding: the cost of its unresolved parts, or None."""
    ids = [f.id for f in findings]
    totals = dict(s.execute(select(Finding.id, _PARTS_COST).where(Finding.id.in_(ids))).all()) if ids else {}
    for f in findings:
        f.parts_monthly_cost = totals.get(f.id)


def _cycle_rows(finding: Finding):
    """(id, detected_at) of the ML rows observed in the finding's current open cycle."""
    return select(FindingObservation.ml_row_id, FindingObservation.ml_row_detected_at).where(
        FindingObservation.finding_id == finding.id,
        FindingObservation.ml_row_id.is_not(None),
        FindingObservation.ml_row_detected_at >= finding.cycle_start_time,
    )


HISTORY_BATCH = 500  # resources per statement
_SET_HISTORY = text(
    """
    UPDATE enrichment_inputs i SET metric_history = r.history
    FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(kind text, id text, history jsonb)
    WHERE i.scan_run_id = :run AND i.resource_kind = r.kind AND i.resource_id = r.id
    """
)


_SET_COST = text(
    """
    UPDATE enrichment_inputs i SET cost_daily = r.cost, cost_unread = COALESCE(r.unread, false)
    FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(id text, cost jsonb, unread boolean)
    WHERE i.scan_run_id = :run AND i.resource_id = r.id
    """
)


def _history_json(history) -> dict:
    """A finding's metric history as its hand-off carries it (JSON: gaps are nulls)."""
    return {
        name: {
            "namespace": h.namespace,
            "metric": h.metric,
            "stat": h.stat,
            "start": h.start.isoformat(),
            "period": h.period_seconds,
            "values": list(h.values),
        }
        for name, h in history.items()
    }


def label_values(state: str, when: dt.datetime, cycle_start: dt.datetime, source: str = "explicit") -> dict:
    if state not in DECISIONS:
        return {"user_action": None, "label_source": None, "labeled_at": None, "time_to_action_hours": None}
    return {
        "user_action": state.lower(),
        "label_source": source,
        "labeled_at": when,
        "time_to_action_hours": round(max((when - cycle_start).total_seconds(), 0.0) / 3600.0, 4),
    }


def _label_many(s: Session, finding_ids: list[uuid.UUID], state: str, when: dt.datetime, source: str) -> None:
    """Labels the current-cycle ML rows of many findings in one statement."""
    hours = func.round(
        cast(
            func.extract("epoch", literal(when, DateTime(timezone=True)) - Finding.cycle_start_time) / 3600,
            Numeric,
        ),
        4,
    )
    s.execute(
        update(MlTrainingData)
        .where(
            MlTrainingData.id == FindingObservation.ml_row_id,
            MlTrainingData.detected_at == FindingObservation.ml_row_detected_at,
            FindingObservation.finding_id == Finding.id,
            FindingObservation.ml_row_detected_at >= Finding.cycle_start_time,
            Finding.id.in_(finding_ids),
        )
        .values(user_action=state.lower(), label_source=source, labeled_at=when, time_to_action_hours=hours)
    )


def _label(s: Session, finding: Finding, state: str, when: dt.datetime, source: str = "explicit") -> None:
    s.execute(
        update(MlTrainingData)
        .where(tuple_(MlTrainingData.id, MlTrainingData.detected_at).in_(_cycle_rows(finding)))
        .values(**label_values(state, when, finding.cycle_start_time, source))
    )


class _ScopeWriter:
    """Writes one ScopeOutcome inside the caller's transaction."""

    def __init__(
        self,
        s: Session,
        key: HashKey,
        run_id: uuid.UUID,
        account: CloudAccount,
        outcome: ScopeOutcome,
        now: dt.datetime,
    ) -> None:
        self.s, self.key, self.run_id, self.account, self.outcome, self.now = (
            s,
            key,
            run_id,
            account,
            outcome,
            now,
        )
        self.ml = bool(account.ml_collection_enabled)
        self.ml_rows = self.implicit = 0

    def write(self) -> dict:
        counts = {"new": 0, "reopened": 0, "resolved": 0, "cost": Decimal(0), "ml_rows": 0, "implicit": 0}
        if not self.outcome.succeeded:
            return counts  # nothing was listed: nothing may change
        # One writer per (account, scope) at a time: two runs of one account never interleave here.
        self.s.execute(
            text("SELECT pg_advisory_xact_lock(hashtext(:k))"),
            {"k": f"cloudwaste.scope:{self.account.id}:{self.outcome.scope}"},
        )
        drafts = self._deduplicated(self.outcome.findings)
        existing = self._existing(
            {d.detection.scenario for d in drafts} | set(self.outcome.rule_params) | self._disabled()
        )
        # A newer scan already wrote these: this (older) outcome leaves them alone.
        newer = {k for k, f in existing.items() if _newer_than(f, self.now)}
        for k in newer:
            del existing[k]
        drafts = [d for d in drafts if (d.resource.resource_id, d.detection.scenario) not in newer]
        inserts, updates, ids, before = [], [], {}, {}
        for draft in drafts:
            k = (draft.resource.resource_id, draft.detection.scenario)
            old = existing.pop(k, None)
            row = self._finding_values(draft)
            if old is None:
                row |= {
                    "id": uuid.uuid4(),
                    "state": "OPEN",
                    "create_time": self.now,
                    "cycle_start_time": self.now,
                }
                inserts.append(row)
                counts["new"] += 1
                ids[k] = (row["id"], "OPEN", None, self.now)
                continue
            row |= {"id": old.id, "observation_count": old.observation_count + 1}
            before[old.id] = old
            state, changed_at, cycle = (
                effective_state(old, self.now),
                old.state_change_time,
                old.cycle_start_time,
            )
            if old.state == "RESOLVED":
                # back: the user's KEPT or IGNORED stands again; otherwise a new open cycle
                restored = effective_state(
                    SimpleNamespace(state=old.resolved_from_state, ignore_expire_time=old.ignore_expire_time),
                    self.now,
                )
                state, changed_at = (restored if restored in ("KEPT", "IGNORED") else "OPEN"), self.now
                if state == "OPEN":
                    cycle = self.now
                    row["ignore_expire_time"] = None
                row |= {
                    "resolve_reason": None,
                    "resolve_scan_run_id": None,
                    "resolved_from_state": None,
                    "cycle_start_time": cycle,
                }
                counts["reopened"] += 1
            elif state != old.state:  # an IGNORED whose expiry passed: OPEN, as reads already show it
                changed_at = old.ignore_expire_time
                row["ignore_expire_time"] = None
            if state != old.state:
                row["state"], row["state_change_time"] = state, changed_at
                if old.state == "RESOLVED":
                    row["version"] = old.version + 1
            updates.append(row)
            ids[k] = (old.id, state, changed_at, cycle)
        self._link_parents(drafts, inserts + updates, ids)
        for row in inserts + updates:
            row["listed_pb"] = rendering.listed_pb(rendering.written(row, before.get(row["id"])))
        if inserts:  # parents before their parts: the parent link is a foreign key
            inserts.sort(key=lambda row: row["parent_finding_id"] is not None)
            self.s.execute(insert(Finding), inserts)
        if updates:
            self.s.execute(update(Finding), updates)
        self._observe(drafts, ids)
        counts["ml_rows"] = self.ml_rows
        counts["resolved"] = self._resolve(existing)
        counts["implicit"] = self.implicit
        counts["cost"] = sum((d.detection.monthly_cost for d in drafts), Decimal(0))
        return counts

    @staticmethod
    def _deduplicated(drafts: Iterable[FindingDraft]) -> list[FindingDraft]:
        out: dict[tuple[str, str], FindingDraft] = {}
        for d in drafts:
            out[(d.resource.resource_id, d.detection.scenario)] = d
        return list(out.values())

    def _disabled(self) -> set[str]:
        params = self.account.rule_parameters or {}
        return {rule for rule, p in params.items() if isinstance(p, dict) and p.get("enabled") is False}

    def _existing(self, scenarios: set[str]) -> dict[tuple[str, str], Finding]:
        if not scenarios:
            return {}
        rows = self.s.execute(
            select(Finding)
            .where(
                Finding.cloud_account_id == self.account.id,
                Finding.region == self.outcome.scope,
                Finding.scenario.in_(sorted(scenarios)),
            )
            .order_by(Finding.id)
            .with_for_update()
        ).scalars()
        return {(f.resource_id, f.scenario): f for f in rows}

    def _finding_values(self, draft: FindingDraft) -> dict:
        r, d = draft.resource, draft.detection
        return {
            "cloud_account_id": self.account.id,
            "last_scan_run_id": self.run_id,
            "provider": r.provider,
            "resource_id": r.resource_id,
            "resource_type": r.kind,
            "resource_display_name": r.name,
            "region": self.outcome.scope,
            "location": r.region[:64],
            "scenario": d.scenario,
            "severity": draft.severity,
            "confidence": d.confidence,
            "monthly_cost": rendering.stored_cost(d.monthly_cost),
            "currency": "USD",
            "evidence": _jsonable(d.evidence),
            "tags": r.tags,
            "resource_config": _jsonable(r.config),
            "rule_params": _jsonable(self.outcome.rule_params.get(d.scenario, {})),
            "resource_create_time": r.created_at,
            "event_time": self.now,
            "parent_finding_id": None,
        }

    def _link_parents(self, drafts, rows, ids) -> None:
        """A part points to its parent's finding; a parent's severity counts its parts' cost."""
        by_key = {(r["resource_id"], r["scenario"]): r for r in rows}
        parts_cost: dict[tuple[str, str], Decimal] = {}
        for d in drafts:
            p = d.detection.parent
            if p is None:
                continue
            parent_key = (p.resource_id, p.scenario)
            parent = ids.get(parent_key)  # only a parent this scan saw too
            if parent is None:
                continue
            by_key[(d.resource.resource_id, d.detection.scenario)]["parent_finding_id"] = parent[0]
            parts_cost[parent_key] = parts_cost.get(parent_key, Decimal(0)) + d.detection.monthly_cost
        for parent_key, cost in parts_cost.items():
            row = by_key.get(parent_key)
            if row is not None:
                row["severity"] = severity_for(row["monthly_cost"] + cost)

    def _observe(self, drafts: list[FindingDraft], ids: dict) -> None:
        ml_rows, observations, inputs = [], [], []
        if self.ml and drafts:
            partitions.ensure_for(self.s, self.now)
        for d in drafts:
            finding_id, state, changed_at, cycle_start = ids[(d.resource.resource_id, d.detection.scenario)]
            row = None
            if self.ml:
                row = base_row(
                    d,
                    key=self.key,
                    tenant_id=self.account.tenant_id,
                    account_ref=_account_ref(self.account),
                    detected_at=self.now,
                )
                if state in DECISIONS:  # a decision stands for every scan of its cycle
                    row |= label_values(state, changed_at, cycle_start)
                ml_rows.append(row)
                inputs.append(
                    {
                        "scan_run_id": self.run_id,
                        "ml_row_id": row["id"],
                        "ml_row_detected_at": self.now,
                        "tags": d.resource.tags,
                        "resource_create_time": d.resource.created_at,
                        "resource_kind": d.resource.kind,
                        "resource_id": d.resource.resource_id,
                    }
                )
            observations.append(
                {
                    "scan_run_id": self.run_id,
                    "finding_id": finding_id,
                    "monthly_cost": d.detection.monthly_cost,
                    "confidence": d.detection.confidence,
                    "ml_row_id": row["id"] if row else None,
                    "ml_row_detected_at": self.now if row else None,
                }
            )
        if ml_rows:
            self.s.execute(insert(MlTrainingData), ml_rows)
            self.s.execute(insert(EnrichmentInput), inputs)  # the enricher's hand-off
        self.ml_rows = len(ml_rows)
        if observations:
            self.s.execute(pg_insert(FindingObservation).on_conflict_do_nothing(), observations)

    def _unreached(self, finding: Finding) -> bool:
        regions = self.outcome.unreached.get(finding.resource_type)
        if not regions:
            return False
        # a GCP zone is in its region; a finding saved before locations were kept could be anywhere
        location = finding.location
        return location is None or location in regions or any(location.startswith(f"{r}-") for r in regions)

    def _resolve(self, unseen: dict[tuple[str, str], Finding]) -> int:
        """Findings this scope no longer shows, among the rules that ran over complete listings.
        Two statements whatever their number: one for the findings, one for the implicit labels."""
        disabled = self._disabled()
        rows, implicit = [], []
        for finding in unseen.values():
            if finding.state == "RESOLVED":
                continue
            if finding.scenario in disabled:
                reason = PARAMS_CHANGED
            elif finding.scenario not in self.outcome.rule_params:
                continue  # its rule did not run here (a kind or the rule failed): leave it as it was
            elif self._unreached(finding):
                continue  # its region did not answer: absent there is not gone
            elif (finding.resource_type, finding.resource_id) not in self.outcome.listed:
                reason = GONE
            elif finding.rule_params and finding.rule_params != _jsonable(
                self.outcome.rule_params[finding.scenario]
            ):
                reason = PARAMS_CHANGED
            else:
                reason = CHANGED  # ({} parameters: recorded before they were kept; assume unchanged)
            state = effective_state(finding, self.now)
            if state == "OPEN" and reason == GONE:
                implicit.append(finding.id)  # deleted outside CloudWaste while open
            row = {
                "id": finding.id,
                "state": "RESOLVED",
                "resolve_reason": reason,
                "resolve_scan_run_id": self.run_id,
                "resolved_from_state": state,
                "state_change_time": self.now,
                "version": finding.version + 1,
            }
            row["listed_pb"] = rendering.listed_pb(rendering.written(row, finding))
            rows.append(row)
        self.implicit = len(implicit) if self.ml else 0
        if implicit and self.ml:
            _label_many(self.s, implicit, "DELETED", self.now, source="implicit")
        if rows:
            self.s.execute(update(Finding), rows)
        return len(rows)


def _jsonable(d: dict) -> dict:
    """`d` as a JSONB column gives it back (a finding's rendering is made from this): -0.0 is 0.0."""
    return json.loads(
        json.dumps(d, default=lambda o: o.isoformat() if hasattr(o, "isoformat") else str(o)),
        parse_float=lambda text: float(text) + 0.0,
    )


def _release_ml_rows(s: Session, run_ids: list[uuid.UUID]) -> None:
    """Exports leave out the ML rows of a scan still running (exporter: export.UNFINISHED_SCAN);
    when it ends, its rows are touched (changed_at, in the ending transaction) so that the next
    incremental export, whose window starts after them, takes them."""
    rows = s.execute(
        select(FindingObservation.ml_row_id, FindingObservation.ml_row_detected_at).where(
            FindingObservation.scan_run_id.in_(run_ids), FindingObservation.ml_row_id.is_not(None)
        )
    ).all()
    if not rows:
        return
    # by id, within the rows' months: PostgreSQL prunes the other partitions when planning (a join
    # against the partitioned table planned every month's and took a second a scan)
    s.execute(
        text(
            "UPDATE ml_training_data SET changed_at = now() WHERE id = ANY(:ids) "
            "AND detected_at BETWEEN :first AND :last"
        ),
        {
            "ids": [r[0] for r in rows],
            "first": min(r[1] for r in rows),
            "last": max(r[1] for r in rows),
        },
    )
