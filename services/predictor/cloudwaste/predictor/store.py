"""Predictor's tables: the model registry (model_versions) and training_runs."""

from __future__ import annotations

import datetime as dt
import re
import uuid
from collections.abc import Callable

from cloudwaste.core import pagination
from cloudwaste.core.db import Database, claim_oldest_pending, renew_lease
from cloudwaste.core.errors import WORKER_LOST, FailedPrecondition, InvalidArgument, NotFound
from cloudwaste.core.models import (
    CostTrendData,
    ExportRun,
    Finding,
    ModelVersion,
    ShadowPrediction,
    TrainingRun,
)
from cloudwaste.predictor.kinds import TrainedModel
from sqlalchemy import case, func, insert, or_, select, update


def version_name(kind: str, version: int) -> str:
    return f"models/{kind}/versions/{version}"


_VERSION_NAME = re.compile(r"models/([a-z][a-z0-9_]{0,31})/versions/([0-9]{1,9})")


def parse_version_name(name: str, field: str = "name") -> tuple[str, int]:
    m = _VERSION_NAME.fullmatch(name)
    if m is None:
        raise InvalidArgument(field, f'must be "models/{{kind}}/versions/{{n}}" (got {name[:80]!r})')
    return m[1], int(m[2])


# A decided finding's label for a shadow evaluation: deleted is waste, kept or ignored is not (a
# resolved finding keeps the decision it was resolved from).
_DECISION = case(
    (or_(Finding.state == "DELETED", Finding.resolved_from_state == "DELETED"), 1),
    (or_(Finding.state.in_(("KEPT", "IGNORED")), Finding.resolved_from_state.in_(("KEPT", "IGNORED"))), 0),
    else_=None,
)


class PredictorStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create_training_run(
        self, dataset_uri: str, activate: bool = True, request_id: str = "", model_kind: str = "waste"
    ) -> TrainingRun:
        """A PENDING run for a training worker. With a request id, a repeated call returns the run
        the first one created (AIP-155); the id reused for another dataset is an error."""
        with self.db.transaction() as s:
            if request_id:
                s.execute(select(func.pg_advisory_xact_lock(func.hashtext(f"training_runs:{request_id}"))))
                same = s.execute(
                    select(TrainingRun).where(TrainingRun.request_id == request_id)
                ).scalar_one_or_none()
                if same is not None:
                    if (same.dataset_uri, same.activate, same.model_kind) != (
                        dataset_uri,
                        activate,
                        model_kind,
                    ):
                        raise InvalidArgument(
                            "request_id", "was already used for a different training request"
                        )
                    return same
            run = TrainingRun(
                state="PENDING",
                model_kind=model_kind,
                dataset_uri=dataset_uri,
                activate=activate,
                request_id=request_id or None,
            )
            s.add(run)
            s.flush()
            s.refresh(run)
            return run

    def latest_export_uri(self) -> str | None:
        """The dataset as of the newest successful Parquet export that wrote something: its
        manifest (a read of the exporter's table)."""
        with self.db.transaction() as s:
            return s.execute(
                select(ExportRun.manifest_uri)
                .where(
                    ExportRun.state == "SUCCEEDED",
                    ExportRun.format == "PARQUET",
                    ExportRun.manifest_uri.is_not(None),
                )
                .order_by(ExportRun.create_time.desc())
                .limit(1)
            ).scalar_one_or_none()

    def monthly_spend(self, account_hash: str, before: dt.date) -> list[tuple[dt.date, float | None]]:
        """The account's real spend per month before `before` (the first of the current month), as
        the enricher keeps it (a read of its cost_trend_data), oldest first; None where unknown."""
        with self.db.transaction() as s:
            return [
                (month, spend)
                for month, spend in s.execute(
                    select(CostTrendData.month, CostTrendData.real_spend)
                    .where(CostTrendData.account_hash == account_hash, CostTrendData.month < before)
                    .order_by(CostTrendData.month)
                )
            ]

    def claim_training_run(
        self, worker: str, run_id: uuid.UUID | None = None, lease: dt.timedelta = dt.timedelta(seconds=60)
    ) -> TrainingRun | None:
        """Takes the oldest PENDING run (or this one); workers never take the same (SKIP LOCKED).
        The run holds a lease its worker renews (renew_training_lease)."""
        with self.db.transaction() as s:
            only = [TrainingRun.id == run_id] if run_id is not None else []
            expires = dt.datetime.now(dt.UTC) + lease
            return claim_oldest_pending(s, TrainingRun, worker, *only, lease_expire_time=expires)

    def renew_training_lease(self, run_id: uuid.UUID, worker: str, lease: dt.timedelta) -> bool:
        """Extends a running training's lease; False when it is no longer this worker's (reaped)."""
        with self.db.transaction() as s:
            return renew_lease(s, TrainingRun, run_id, worker, lease)

    def fail_stale_training_runs(self, older_than: dt.timedelta) -> int:
        """Runs left RUNNING by a worker that died (its lease lapsed, or older than `older_than`)
        end FAILED: no run stays RUNNING for ever."""
        now = dt.datetime.now(dt.UTC)
        with self.db.transaction() as s:
            return s.execute(
                update(TrainingRun)
                .where(
                    TrainingRun.state == "RUNNING",
                    or_(TrainingRun.start_time < now - older_than, TrainingRun.lease_expire_time < now),
                )
                .values(
                    state="FAILED",
                    end_time=now,
                    error_code=WORKER_LOST,
                    error_message="the training worker running this stopped; train again",
                )
            ).rowcount

    def get_training_run(self, run_id: uuid.UUID) -> tuple[TrainingRun, ModelVersion | None]:
        with self.db.transaction() as s:
            run = s.get(TrainingRun, run_id)
            if run is None:
                raise NotFound(f"trainingRuns/{run_id} does not exist")
            mv = s.get(ModelVersion, run.model_version_id) if run.model_version_id else None
            return run, mv

    def list_training_runs(
        self, page_size: int, page_token: str
    ) -> tuple[list[tuple[TrainingRun, ModelVersion | None]], str]:
        """Newest first, keyset-paginated on (create_time, id)."""
        query = select(TrainingRun, ModelVersion).outerjoin(
            ModelVersion, ModelVersion.id == TrainingRun.model_version_id
        )
        with self.db.transaction() as s:
            return pagination.newest_first(s, query, TrainingRun, page_size, page_token, {})

    def fail_training_run(self, run_id: uuid.UUID, code: int, message: str) -> None:
        """Ends the run FAILED with (google.rpc.Code, message safe to show)."""
        with self.db.transaction() as s:
            s.execute(
                update(TrainingRun)
                .where(TrainingRun.id == run_id)
                .values(
                    state="FAILED",
                    error_code=code,
                    error_message=message[:1000],
                    end_time=dt.datetime.now(dt.UTC),
                )
            )

    def register(
        self, run_id: uuid.UUID, kind: str, trained: TrainedModel, activate: bool
    ) -> tuple[TrainingRun, ModelVersion]:
        """Stores the model, (optionally) makes it the one active version, and closes the run: one transaction."""
        with self.db.transaction() as s:
            s.execute(select(func.pg_advisory_xact_lock(func.hashtext(f"model_versions:{kind}"))))
            latest = s.execute(
                select(func.max(ModelVersion.version)).where(ModelVersion.model_kind == kind)
            ).scalar()
            if activate:
                s.execute(
                    update(ModelVersion)
                    .where(ModelVersion.model_kind == kind, ModelVersion.active)
                    .values(active=False)
                )
            mv = ModelVersion(
                model_kind=kind,
                version=(latest or 0) + 1,
                onnx=trained.onnx,
                feature_spec=trained.feature_spec,
                metrics=trained.metrics,
                baseline_metrics=trained.baseline_metrics,
                candidates=trained.candidates,
                algorithm=trained.algorithm,
                training_rows=trained.training_rows,
                test_rows=trained.test_rows,
                active=activate,
                training_run_id=run_id,
            )
            s.add(mv)
            s.flush()
            run = s.get(TrainingRun, run_id)
            run.state, run.model_version_id, run.end_time = "SUCCEEDED", mv.id, dt.datetime.now(dt.UTC)
            s.flush()
            return run, mv

    def set_role(
        self, kind: str, version: int, role: str, check: Callable[[bytes, str], None]
    ) -> ModelVersion:
        """Gives a version the role "ACTIVE", "SHADOW" or "NONE", in one transaction; `check(onnx,
        name)` loads it first and raises if it cannot serve (then nothing changes)."""
        name = version_name(kind, version)
        with self.db.transaction() as s:
            s.execute(select(func.pg_advisory_xact_lock(func.hashtext(f"model_versions:{kind}"))))
            mv = s.execute(
                select(ModelVersion).where(ModelVersion.model_kind == kind, ModelVersion.version == version)
            ).scalar_one_or_none()
            if mv is None:
                raise NotFound(f"{name} does not exist")
            if role == "NONE":
                if mv.active:
                    raise FailedPrecondition(f"{name} is active: make another version active instead")
                mv.shadow = False
                s.flush()
                return mv
            if mv.active and role == "SHADOW":
                raise FailedPrecondition(f"{name} is the active version; a shadow is compared with it")
            check(mv.onnx, name)
            flag = ModelVersion.active if role == "ACTIVE" else ModelVersion.shadow
            s.execute(
                update(ModelVersion)
                .where(ModelVersion.model_kind == kind, flag, ModelVersion.id != mv.id)
                .values({flag.key: False})
            )
            s.flush()
            if role == "ACTIVE":
                mv.active, mv.shadow = True, False
            else:
                mv.shadow = True
            s.flush()
            return mv

    def shadow_name(self, kind: str) -> str | None:
        return self._role_name(kind, ModelVersion.shadow)

    def shadow_model(self, kind: str) -> tuple[str, bytes] | None:
        return self._role_model(kind, ModelVersion.shadow)

    def save_shadow(self, kind: str, active: str, shadow: str, rows) -> None:
        """Records live rows both versions scored: (active p, shadow p, finding id or None)."""
        if not rows:
            return
        a, b = parse_version_name(active)[1], parse_version_name(shadow)[1]
        with self.db.transaction() as s:
            s.execute(
                insert(ShadowPrediction),
                [
                    {
                        "model_kind": kind,
                        "active_version": a,
                        "shadow_version": b,
                        "active_probability": pa,
                        "shadow_probability": pb,
                        "finding_id": finding,
                    }
                    for pa, pb, finding in rows
                ],
            )

    def shadow_records(self, kind: str, active: int, shadow: int) -> tuple[list[tuple], list[tuple]]:
        """(every (active p, shadow p) recorded for this pair, and (active p, shadow p, label) of
        each decided finding's latest prediction; a read of the scanner's findings for labels)."""
        pair = (
            ShadowPrediction.model_kind == kind,
            ShadowPrediction.active_version == active,
            ShadowPrediction.shadow_version == shadow,
        )
        with self.db.transaction() as s:
            pairs = s.execute(
                select(ShadowPrediction.active_probability, ShadowPrediction.shadow_probability).where(*pair)
            ).all()
            # each finding's latest prediction
            latest_ids = (
                select(func.max(ShadowPrediction.id))
                .where(*pair, ShadowPrediction.finding_id.is_not(None))
                .group_by(ShadowPrediction.finding_id)
            )
            latest = select(ShadowPrediction).where(ShadowPrediction.id.in_(latest_ids)).subquery()
            labeled = s.execute(
                select(latest.c.active_probability, latest.c.shadow_probability, _DECISION)
                .join(Finding, Finding.id == latest.c.finding_id)
                .where(_DECISION.is_not(None))
            ).all()
        return [tuple(r) for r in pairs], [tuple(r) for r in labeled]

    def training_run_counts(self, kind: str) -> dict[str, int]:
        """{state: runs} of the kind's training runs."""
        with self.db.transaction() as s:
            rows = s.execute(
                select(TrainingRun.state, func.count())
                .where(TrainingRun.model_kind == kind)
                .group_by(TrainingRun.state)
            ).all()
        return {state: n for state, n in rows}

    def active_name(self, kind: str) -> str | None:
        return self._role_name(kind, ModelVersion.active)

    def active_model(self, kind: str) -> tuple[str, bytes] | None:
        return self._role_model(kind, ModelVersion.active)

    def _role_name(self, kind: str, role) -> str | None:
        """The name of the kind's version with this role (the cheap poll)."""
        with self.db.transaction() as s:
            v = s.execute(
                select(ModelVersion.version).where(ModelVersion.model_kind == kind, role)
            ).scalar_one_or_none()
            return version_name(kind, v) if v is not None else None

    def _role_model(self, kind: str, role) -> tuple[str, bytes] | None:
        with self.db.transaction() as s:
            row = s.execute(
                select(ModelVersion.version, ModelVersion.onnx).where(ModelVersion.model_kind == kind, role)
            ).one_or_none()
            return (version_name(kind, row[0]), row[1]) if row else None

    def list_versions(
        self, kind: str | None, page_size: int, page_token: str
    ) -> tuple[list[ModelVersion], str]:
        """Newest first, keyset-paginated on (create_time, id)."""
        q = select(ModelVersion)
        if kind:
            q = q.where(ModelVersion.model_kind == kind)
        with self.db.transaction() as s:
            return pagination.newest_first(s, q, ModelVersion, page_size, page_token, {"kind": kind or ""})
