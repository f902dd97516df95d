"""Predictor's tables: the model registry (model_versions) and training_runs."""

from __future__ import annotations

import datetime as dt
import uuid

from cloudwaste.core import pagination
from cloudwaste.core.db import Database
from cloudwaste.core.models import ModelVersion, TrainingRun
from cloudwaste.predictor.train import TrainedModel
from sqlalchemy import func, select, tuple_, update


def version_name(kind: str, version: int) -> str:
    return f"models/{kind}/versions/{version}"


class PredictorStore:
    def __init__(self, db: Database) -> None:
        self.db = db

    def create_training_run(self, dataset_uri: str) -> TrainingRun:
        with self.db.transaction() as s:
            run = TrainingRun(state="RUNNING", dataset_uri=dataset_uri)
            s.add(run)
            s.flush()
            s.refresh(run)
            return run

    def fail_training_run(self, run_id: uuid.UUID, message: str) -> None:
        with self.db.transaction() as s:
            s.execute(
                update(TrainingRun)
                .where(TrainingRun.id == run_id)
                .values(state="FAILED", error_message=message[:1000], end_time=dt.datetime.now(dt.UTC))
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

    def active_name(self, kind: str = "waste") -> str | None:
        with self.db.transaction() as s:
            v = s.execute(
                select(ModelVersion.version).where(ModelVersion.model_kind == kind, ModelVersion.active)
            ).scalar_one_or_none()
            return version_name(kind, v) if v is not None else None

    def active_model(self, kind: str = "waste") -> tuple[str, bytes] | None:
        with self.db.transaction() as s:
            row = s.execute(
                select(ModelVersion.version, ModelVersion.onnx).where(
                    ModelVersion.model_kind == kind, ModelVersion.active
                )
            ).one_or_none()
            return (version_name(kind, row[0]), row[1]) if row else None

    def list_versions(
        self, kind: str | None, page_size: int, page_token: str
    ) -> tuple[list[ModelVersion], str]:
        """Newest first, keyset-paginated on (create_time, id)."""
        filters = {"kind": kind or ""}
        after = pagination.decode_keyset(page_token, filters)
        with self.db.transaction() as s:
            q = select(ModelVersion)
            if kind:
                q = q.where(ModelVersion.model_kind == kind)
            if after is not None:
                q = q.where(tuple_(ModelVersion.create_time, ModelVersion.id) < tuple_(*after))
            order = (ModelVersion.create_time.desc(), ModelVersion.id.desc())
            rows = list(s.execute(q.order_by(*order).limit(page_size + 1)).scalars())
        if len(rows) <= page_size:
            return rows, ""
        rows = rows[:page_size]
        return rows, pagination.encode_keyset(rows[-1].create_time, rows[-1].id, filters)
