"""Scanner's PostgreSQL access: accounts, scan runs, findings, user actions, base ML rows.

Every write is one transaction; a region's findings and their ML rows land together or not at all.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass
from decimal import Decimal

from cloudwaste.core import pagination
from cloudwaste.core.db import Database
from cloudwaste.core.errors import FailedPrecondition, InvalidArgument, NotFound
from cloudwaste.core.models import CloudAccount, Finding, MlTrainingData, ScanRun, UserAction
from cloudwaste.core.settings import HashKey
from cloudwaste.scanner.domain import RegionOutcome
from cloudwaste.scanner.mlrows import base_row
from sqlalchemy import and_, bindparam, func, insert, or_, select, text, update
from sqlalchemy.dialects.postgresql import JSONB
from sqlalchemy.orm import Session

TERMINAL = ("SUCCEEDED", "PARTIALLY_SUCCEEDED", "FAILED")
DECISIONS = ("DELETED", "KEPT", "IGNORED")


def utcnow() -> dt.datetime:
    return dt.datetime.now(dt.UTC)


def ensure_ml_partition(session: Session, when: dt.datetime) -> None:
    """Creates the month partition of ml_training_data that `when` falls in, if missing."""
    start = dt.datetime(when.year, when.month, 1, tzinfo=dt.UTC)
    end = dt.datetime(start.year + (start.month == 12), start.month % 12 + 1, 1, tzinfo=dt.UTC)
    name = f"ml_training_data_y{start.year}m{start.month:02d}"
    session.execute(text("SELECT pg_advisory_xact_lock(hashtext(:n))"), {"n": name})
    session.execute(
        text(
            f"CREATE TABLE IF NOT EXISTS {name} PARTITION OF ml_training_data "
            f"FOR VALUES FROM ('{start.isoformat()}') TO ('{end.isoformat()}')"
        )
    )


@dataclass(frozen=True)
class FindingFilter:
    scan_run_id: uuid.UUID | None = None
    cloud_account_id: uuid.UUID | None = None
    state: str | None = None
    category: str | None = None

    def as_dict(self) -> dict:
        return {k: str(v) if v is not None else None for k, v in self.__dict__.items()}


class ScannerStore:
    def __init__(self, db: Database, hash_key: HashKey) -> None:
        self.db = db
        self.hash_key = hash_key

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
    ) -> CloudAccount:
        with self.db.transaction() as s:
            account = CloudAccount(
                tenant_id=tenant_id,
                provider=provider,
                display_name=display_name,
                regions=regions,
                access=access,
                ml_collection_enabled=ml_collection_enabled,
            )
            s.add(account)
            s.flush()
            s.refresh(account)
            return account

    def get_account(self, account_id: uuid.UUID) -> CloudAccount:
        with self.db.transaction() as s:
            account = s.get(CloudAccount, account_id)
            if account is None:
                raise NotFound(f"cloudAccounts/{account_id} does not exist")
            return account

    # --- scan runs --------------------------------------------------------------------------
    def create_scan_run(self, account_id: uuid.UUID, regions: list[str]) -> ScanRun:
        with self.db.transaction() as s:
            account = s.get(CloudAccount, account_id)
            if account is None:
                raise NotFound(f"cloudAccounts/{account_id} does not exist")
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
            )
            s.add(run)
            s.flush()
            s.refresh(run)
            return run

    def get_scan_run(self, run_id: uuid.UUID) -> ScanRun:
        with self.db.transaction() as s:
            run = s.get(ScanRun, run_id)
            if run is None:
                raise NotFound(f"scanRuns/{run_id} does not exist")
            return run

    def claim_next_run(self, worker: str) -> tuple[ScanRun, CloudAccount] | None:
        """Takes the oldest pending run; replicas never take the same one (SKIP LOCKED)."""
        with self.db.transaction() as s:
            run = s.execute(
                select(ScanRun)
                .where(ScanRun.state == "PENDING")
                .order_by(ScanRun.create_time)
                .limit(1)
                .with_for_update(skip_locked=True)
            ).scalar_one_or_none()
            if run is None:
                return None
            run.state, run.claimed_by, run.start_time = "RUNNING", worker, utcnow()
            account = s.get(CloudAccount, run.cloud_account_id)
            s.flush()
            return run, account

    def set_run_regions(self, run_id: uuid.UUID, regions: list[str]) -> None:
        with self.db.transaction() as s:
            s.execute(update(ScanRun).where(ScanRun.id == run_id).values(regions=regions))

    def save_region(
        self, run_id: uuid.UUID, account: CloudAccount, outcome: RegionOutcome, detected_at: dt.datetime
    ) -> None:
        """The region's findings, their ML rows and its result on the run, in one transaction."""
        total = sum((f.detection.monthly_cost for f in outcome.findings), Decimal(0))
        result = {
            "region": outcome.region,
            "succeeded": outcome.succeeded,
            "error_message": outcome.error_message,
            "resources_scanned": outcome.resources_scanned,
            "findings_count": len(outcome.findings),
        }
        with self.db.transaction() as s:
            ml_enabled = account.ml_collection_enabled
            if outcome.findings and ml_enabled:
                ensure_ml_partition(s, detected_at)
            findings, ml_rows = [], []
            account_ref = account.access.get("account_id") or str(account.id)
            for draft in outcome.findings:
                row = (
                    base_row(
                        draft,
                        key=self.hash_key,
                        tenant_id=account.tenant_id,
                        account_ref=account_ref,
                        detected_at=detected_at,
                    )
                    if ml_enabled
                    else None
                )
                if row:
                    ml_rows.append(row)
                r, d = draft.resource, draft.detection
                findings.append(
                    {
                        "id": uuid.uuid4(),
                        "scan_run_id": run_id,
                        "cloud_account_id": account.id,
                        "provider": r.provider,
                        "resource_id": r.resource_id,
                        "resource_type": r.kind,
                        "resource_display_name": r.name,
                        "region": r.region,
                        "scenario": d.scenario,
                        "severity": draft.severity,
                        "confidence": d.confidence,
                        "state": "OPEN",
                        "monthly_cost": d.monthly_cost,
                        "currency": "USD",
                        "evidence": _jsonable(d.evidence),
                        "tags": r.tags,
                        "resource_config": _jsonable(r.config),
                        "resource_create_time": r.created_at,
                        "event_time": detected_at,
                        "ml_row_id": row["id"] if row else None,
                        "ml_row_detected_at": detected_at if row else None,
                    }
                )
            if ml_rows:
                s.execute(insert(MlTrainingData), ml_rows)
            if findings:
                s.execute(insert(Finding), findings)
            s.execute(
                update(ScanRun)
                .where(ScanRun.id == run_id)
                .values(
                    region_results=ScanRun.region_results.op("||")(
                        bindparam("region_result", [result], type_=JSONB)
                    ),
                    resources_scanned=ScanRun.resources_scanned + outcome.resources_scanned,
                    findings_count=ScanRun.findings_count + len(findings),
                    total_monthly_waste=ScanRun.total_monthly_waste + total,
                )
            )

    def finish_run(
        self, run_id: uuid.UUID, outcomes: list[RegionOutcome], error: str | None = None
    ) -> ScanRun:
        ok = sum(o.succeeded for o in outcomes)
        if error or not outcomes or ok == 0:
            state = "FAILED"
        elif ok < len(outcomes):
            state = "PARTIALLY_SUCCEEDED"
        else:
            state = "SUCCEEDED"
        with self.db.transaction() as s:
            run = s.get(ScanRun, run_id)
            run.state, run.end_time = state, utcnow()
            if error:
                run.error_message = error
            elif ok == 0 and outcomes:
                run.error_message = "every region failed; see region_results"
            s.flush()
            return run

    def fail_stale_runs(self, older_than: dt.timedelta) -> int:
        """Runs left RUNNING by a replica that died (no scan takes this long) end FAILED, so they never hang."""
        cutoff = utcnow() - older_than
        with self.db.transaction() as s:
            result = s.execute(
                update(ScanRun)
                .where(ScanRun.state == "RUNNING", ScanRun.start_time < cutoff)
                .values(
                    state="FAILED",
                    end_time=utcnow(),
                    error_message="the scanner running this scan stopped; start a new scan",
                )
            )
            return result.rowcount

    def runs_awaiting_enrichment(self, limit: int = 10, max_attempts: int = 20) -> list[uuid.UUID]:
        with self.db.transaction() as s:
            return list(
                s.execute(
                    select(ScanRun.id)
                    .where(
                        ScanRun.state.in_(TERMINAL),
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
    def list_findings(
        self, flt: FindingFilter, page_size: int, page_token: str
    ) -> tuple[list[Finding], str, int]:
        conds = []
        if flt.scan_run_id:
            conds.append(Finding.scan_run_id == flt.scan_run_id)
        if flt.cloud_account_id:
            conds.append(Finding.cloud_account_id == flt.cloud_account_id)
        if flt.state:
            conds.append(Finding.state == flt.state)
        if flt.category:
            conds.append(Finding.scenario == flt.category)
        position = pagination.decode_keyset(page_token, flt.as_dict())
        with self.db.transaction() as s:
            total = s.execute(select(func.count()).select_from(Finding).where(*conds)).scalar_one()
            query = select(Finding).where(*conds)
            if position:
                ts, last_id = position
                query = query.where(
                    or_(Finding.create_time < ts, and_(Finding.create_time == ts, Finding.id < last_id))
                )
            rows = list(
                s.execute(
                    query.order_by(Finding.create_time.desc(), Finding.id.desc()).limit(page_size + 1)
                ).scalars()
            )
        token = ""
        if len(rows) > page_size:
            rows = rows[:page_size]
            token = pagination.encode_keyset(rows[-1].create_time, rows[-1].id, flt.as_dict())
        return rows, token, total

    def set_finding_state(self, finding_id: uuid.UUID, state: str) -> Finding:
        """Records the decision and labels exactly this finding's ML row (by its id, nothing fuzzy)."""
        now = utcnow()
        with self.db.transaction() as s:
            finding = s.execute(
                select(Finding).where(Finding.id == finding_id).with_for_update()
            ).scalar_one_or_none()
            if finding is None:
                raise NotFound(f"findings/{finding_id} does not exist")
            if state == finding.state:
                return finding
            if state == "OPEN" and finding.state == "DELETED":
                raise FailedPrecondition(
                    "a deleted resource cannot be reopened; a new scan will find it if it exists"
                )
            s.add(UserAction(finding_id=finding.id, action=state, previous_state=finding.state))
            finding.state, finding.state_change_time = state, now
            if finding.ml_row_id is not None:
                labeled = state in DECISIONS
                hours = (now - finding.ml_row_detected_at).total_seconds() / 3600.0
                s.execute(
                    update(MlTrainingData)
                    .where(
                        MlTrainingData.id == finding.ml_row_id,
                        MlTrainingData.detected_at == finding.ml_row_detected_at,
                    )
                    .values(
                        user_action=state.lower() if labeled else None,
                        labeled_at=now if labeled else None,
                        time_to_action_hours=round(hours, 4) if labeled else None,
                    )
                )
            s.flush()
            return finding


def _jsonable(d: dict) -> dict:
    return json.loads(json.dumps(d, default=lambda o: o.isoformat() if hasattr(o, "isoformat") else str(o)))
