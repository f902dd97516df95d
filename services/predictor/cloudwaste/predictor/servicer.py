"""PredictorService: a thin adapter. Validates raw features and answers from the active ONNX model;
training is the Trainer's (training.py)."""

from __future__ import annotations

import calendar
import datetime as dt
import logging
import math
import re
import threading

import numpy as np
from cloudwaste.core import names, pagination
from cloudwaste.core.errors import FailedPrecondition, InvalidArgument, NotFound, ResourceExhausted
from cloudwaste.core.features import waste_row_from_raw
from cloudwaste.core.protoconv import confidence_key, provider_key, run_error, timestamp
from cloudwaste.predictor import forecast, kinds
from cloudwaste.predictor.kinds.waste import held_out_metrics
from cloudwaste.predictor.metrics import INFERENCE, PREDICTIONS
from cloudwaste.predictor.serving import ServedModels
from cloudwaste.predictor.shadow import ShadowRecorder, evaluate
from cloudwaste.predictor.store import PredictorStore, parse_version_name, version_name
from cloudwaste.predictor.training import Trainer
from cloudwaste.predictor.v1 import (
    model_version_pb2,
    prediction_pb2,
    predictor_service_pb2,
    predictor_service_pb2_grpc,
    training_run_pb2,
)

log = logging.getLogger(__name__)

MAX_BATCH = 1000
MAX_SERIES_POINTS = 100_000
MAX_STREAM_SERIES = 10_000  # series one stream may hold state for
_WASTE_PREDICTIONS = PREDICTIONS.labels("waste")
_WASTE_INFERENCE = INFERENCE.labels("waste")
_ANOMALY_POINTS = PREDICTIONS.labels("anomaly")
_ANOMALY_INFERENCE = INFERENCE.labels("anomaly")
_FORECASTS = PREDICTIONS.labels("forecast")
_FORECAST_INFERENCE = INFERENCE.labels("forecast")
MAX_HISTORY_MONTHS = 240
_MONTH = re.compile(r"(\d{4})-(\d{2})")
_HASH = re.compile(r"[0-9a-f]{64}")



def features_row(f: prediction_pb2.WasteFeatures, field: str) -> dict:
    """Validates one WasteFeatures message; errors name the field, e.g. features[3].cost_monthly."""
    provider, confidence = provider_key(f.provider), confidence_key(f.confidence_level)
    if not provider:
        raise InvalidArgument(f"{field}.provider", "is required (PROVIDER_AWS, _AZURE, _GCP or _M365)")
    if not f.resource_type or len(f.resource_type) > 64:
        raise InvalidArgument(f"{field}.resource_type", 'is required, e.g. "aws.ec2.volume"')
    if not f.detection_scenario or len(f.detection_scenario) > 64:
        raise InvalidArgument(f"{field}.detection_scenario", 'is required, e.g. "ebs-volume-unattached"')
    if not confidence:
        raise InvalidArgument(
            f"{field}.confidence_level", "is required (CONFIDENCE_LEVEL_LOW, _MEDIUM or _HIGH)"
        )
    if not math.isfinite(f.cost_monthly) or f.cost_monthly < 0:
        raise InvalidArgument(f"{field}.cost_monthly", f"must be a finite amount >= 0 (got {f.cost_monthly})")
    age = f.resource_age_days if f.HasField("resource_age_days") else None
    if age is not None and (not math.isfinite(age) or age < 0):
        raise InvalidArgument(f"{field}.resource_age_days", f"must be finite and >= 0, or unset (got {age})")
    return waste_row_from_raw(
        provider=provider,
        resource_type=f.resource_type,
        region=f.region,
        detection_scenario=f.detection_scenario,
        confidence_level=confidence,
        resource_age_days=age,
        cost_monthly=f.cost_monthly,
        tags=f.tags,
    )


def model_version_pb(mv) -> model_version_pb2.ModelVersion:
    return model_version_pb2.ModelVersion(
        name=version_name(mv.model_kind, mv.version),
        model_kind=mv.model_kind,
        version=mv.version,
        metrics={k: float(v) for k, v in (mv.metrics or {}).items()},
        baseline_metrics={k: float(v) for k, v in (mv.baseline_metrics or {}).items()},
        active=mv.active,
        training_rows=mv.training_rows,
        test_rows=mv.test_rows,
        create_time=timestamp(mv.create_time),
        shadow=bool(getattr(mv, "shadow", False)),
        algorithm=mv.algorithm or "",
        candidates=[
            model_version_pb2.ModelCandidate(
                name=c["name"],
                chosen=bool(c.get("chosen")),
                calibration_log_loss=float(c.get("calibration_log_loss", 0.0)),
                metrics={k: float(v) for k, v in c.get("metrics", {}).items()},
            )
            for c in mv.candidates or []
        ],
    )


def training_run_pb(run, mv) -> training_run_pb2.TrainingRun:
    return training_run_pb2.TrainingRun(
        name=names.format("trainingRuns", run.id),
        state=training_run_pb2.TrainingRunState.Value(f"TRAINING_RUN_STATE_{run.state}"),
        dataset_uri=run.dataset_uri,
        model_version=model_version_pb(mv) if mv is not None else None,
        error_message=run.error_message or "",
        error=run_error(run),
        create_time=timestamp(run.create_time),
        start_time=timestamp(run.start_time),
        end_time=timestamp(run.end_time),
        activate=run.activate,
        request_id=run.request_id or "",
        model_kind=run.model_kind,
    )


def _finding(f: prediction_pb2.WasteFeatures, field: str):
    """The finding a row is about (optional): its id, or None."""
    return names.parse(f"{field}.finding", f.finding, "findings") if f.finding else None


_ROLES = {
    predictor_service_pb2.MODEL_ROLE_ACTIVE: "ACTIVE",
    predictor_service_pb2.MODEL_ROLE_SHADOW: "SHADOW",
    predictor_service_pb2.MODEL_ROLE_NONE: "NONE",
}


def series_key(key: str, field: str) -> str:
    if not key or len(key) > 128 or "\x00" in key:
        raise InvalidArgument(field, "is required: 1 to 128 characters, without NUL")
    return key


def _add_months(month: dt.date, n: int) -> dt.date:
    index = month.year * 12 + month.month - 1 + n
    return dt.date(index // 12, index % 12 + 1, 1)


def _month_text(month: dt.date) -> str:
    return f"{month.year:04d}-{month.month:02d}"


def _from_first_spend(first: dt.date, amounts: np.ndarray) -> tuple[dt.date, np.ndarray]:
    """Drops the months before the first with spend (unknown, or zero: the account did not exist)."""
    start = int(np.argmax(amounts > 0)) if (amounts > 0).any() else len(amounts)
    return _add_months(first, start), amounts[start:]


def spend_history(spend: prediction_pb2.MonthlySpend, field: str) -> tuple[dt.date, np.ndarray]:
    """Validates a MonthlySpend: (its first month, the amounts with the current month's estimate
    from daily_amounts appended)."""
    m = _MONTH.fullmatch(spend.first_month)
    if not m or not 1 <= int(m[2]) <= 12 or int(m[1]) < 1900:
        raise InvalidArgument(
            f"{field}.first_month", f'must be a month "YYYY-MM" (got {spend.first_month!r})'
        )
    first = dt.date(int(m[1]), int(m[2]), 1)
    n = len(spend.amounts)
    if not forecast.DEFAULT.min_months <= n <= MAX_HISTORY_MONTHS:
        raise InvalidArgument(
            f"{field}.amounts",
            f"must hold {forecast.DEFAULT.min_months} to {MAX_HISTORY_MONTHS} months (got {n})",
        )
    amounts = np.fromiter(spend.amounts, dtype=np.float64, count=n)
    bad = np.flatnonzero(np.isinf(amounts) | (amounts < 0))
    if bad.size:
        raise InvalidArgument(
            f"{field}.amounts[{bad[0]}]", f"must be >= 0 and finite, or NaN (got {amounts[bad[0]]})"
        )
    if spend.daily_amounts:
        current = _add_months(first, n)
        days = calendar.monthrange(current.year, current.month)[1]
        daily = np.fromiter(spend.daily_amounts, dtype=np.float64, count=len(spend.daily_amounts))
        if len(daily) > days:
            raise InvalidArgument(
                f"{field}.daily_amounts", f"{_month_text(current)} has {days} days (got {len(daily)} values)"
            )
        bad = np.flatnonzero(~np.isfinite(daily) | (daily < 0))
        if bad.size:
            raise InvalidArgument(
                f"{field}.daily_amounts[{bad[0]}]", f"must be finite and >= 0 (got {daily[bad[0]]})"
            )
        amounts = np.append(amounts, forecast.month_estimate(daily, current.year, current.month))
    if math.isnan(amounts[-1]):
        raise InvalidArgument(f"{field}.amounts[{n - 1}]", "is NaN: the last month must be known")
    first, amounts = _from_first_spend(first, amounts)
    known = forecast.known_months(amounts)
    if known < forecast.DEFAULT.min_months:
        raise InvalidArgument(
            f"{field}.amounts", f"has {known} known months; a forecast needs {forecast.DEFAULT.min_months}"
        )
    return first, amounts


class PredictorServicer(predictor_service_pb2_grpc.PredictorServiceServicer):
    def __init__(
        self,
        store: PredictorStore,
        models: ServedModels,
        trainer: Trainer,
        max_streams: int = 8,
        recorder: ShadowRecorder | None = None,
    ) -> None:
        self.store, self.models, self.trainer, self.recorder = store, models, trainer, recorder
        # An open stream holds a server thread for its life: cap them so unary calls always get one.
        self.max_streams = max_streams
        self._streams = threading.BoundedSemaphore(max_streams)

    def PredictWaste(self, request, context):
        if not request.HasField("features"):
            raise InvalidArgument("features", "is required")
        row = features_row(request.features, "features")
        (prediction,) = self._predict_waste([row], [_finding(request.features, "features")])
        return predictor_service_pb2.PredictWasteResponse(prediction=prediction)

    def PredictWasteBatch(self, request, context):
        n = len(request.features)
        if n == 0 or n > MAX_BATCH:
            raise InvalidArgument("features", f"must hold 1 to {MAX_BATCH} items (got {n})")
        rows = [features_row(f, f"features[{i}]") for i, f in enumerate(request.features)]
        findings = [_finding(f, f"features[{i}]") for i, f in enumerate(request.features)]
        return predictor_service_pb2.PredictWasteBatchResponse(
            predictions=self._predict_waste(rows, findings)
        )

    def _predict_waste(self, rows: list[dict], findings: list) -> list[prediction_pb2.WastePrediction]:
        holder = self.models.holders["waste"]
        model, shadow = holder.model, holder.shadow
        with _WASTE_INFERENCE.time():
            probabilities, moved = model.explain(rows)
        _WASTE_PREDICTIONS.inc(len(rows))
        if shadow is not None and self.recorder is not None:  # scored after, on its own thread
            self.recorder.submit("waste", model.name, shadow, rows, probabilities, findings)
        return [
            prediction_pb2.WastePrediction(
                waste_probability=p,
                model_version=model.name,
                expected_monthly_saving=p * row["cost_monthly"],
                top_features=[
                    prediction_pb2.FeatureContribution(feature=f, value=v, contribution=c) for f, v, c in top
                ],
            )
            for p, row, top in zip(probabilities, rows, moved, strict=True)
        ]

    def TrainModels(self, request, context):
        request_id = names.request_id(request.request_id)
        kind = request.model_kind or kinds.DEFAULT
        run = self.trainer.queue(request.dataset_uri, not request.skip_activation, request_id, kind)
        return predictor_service_pb2.TrainModelsResponse(training_run=training_run_pb(run, None))

    def GetTrainingRun(self, request, context):
        run, mv = self.store.get_training_run(names.parse("name", request.name, "trainingRuns"))
        return predictor_service_pb2.GetTrainingRunResponse(training_run=training_run_pb(run, mv))

    def ListTrainingRuns(self, request, context):
        size = pagination.page_size(request.page_size, default=50, maximum=500)
        rows, token = self.store.list_training_runs(size, request.page_token)
        return predictor_service_pb2.ListTrainingRunsResponse(
            training_runs=[training_run_pb(run, mv) for run, mv in rows], next_page_token=token
        )

    def ListModelVersions(self, request, context):
        size = pagination.page_size(request.page_size, default=50, maximum=500)
        if request.model_kind:
            kinds.get(request.model_kind)
        rows, token = self.store.list_versions(request.model_kind or None, size, request.page_token)
        return predictor_service_pb2.ListModelVersionsResponse(
            model_versions=[model_version_pb(mv) for mv in rows], next_page_token=token
        )

    def ScoreAnomalies(self, request, context):
        n = len(request.values)
        if n == 0 or n > MAX_SERIES_POINTS:
            raise InvalidArgument("values", f"must hold 1 to {MAX_SERIES_POINTS} values (got {n})")
        values = np.fromiter(request.values, dtype=np.float64, count=n)
        infinite = np.flatnonzero(np.isinf(values))
        if infinite.size:
            raise InvalidArgument(f"values[{infinite[0]}]", "is infinite; send NaN for a missing point")
        model = self.models.model("anomaly")
        with _ANOMALY_INFERENCE.time():
            scores, overall = model.score(values)
        _ANOMALY_POINTS.inc(n)
        return predictor_service_pb2.ScoreAnomaliesResponse(
            scores=scores.tolist(), overall_score=overall, model_version=model.name
        )

    def StreamAnomalyScores(self, request_iterator, context):
        if not self._streams.acquire(blocking=False):
            raise ResourceExhausted(
                f"{self.max_streams} anomaly streams are open on this server; retry later or use ScoreAnomalies"
            )
        try:
            model = self.models.model("anomaly")
            detectors: dict = {}  # series key -> its StreamingDetector
            seen: dict[str, int] = {}  # series key -> points scored so far
            for request in request_iterator:
                key = series_key(request.series_key, "series_key")
                if math.isinf(request.value):
                    raise InvalidArgument(
                        "value", f"of series {key!r} is infinite; send NaN for a missing point"
                    )
                if key not in detectors:
                    if len(detectors) >= MAX_STREAM_SERIES:
                        raise ResourceExhausted(
                            f"one stream holds at most {MAX_STREAM_SERIES} series; open another stream"
                        )
                    detectors[key], seen[key] = model.stream(), 0
                score = detectors[key].update(request.value) * 100.0
                _ANOMALY_POINTS.inc()
                yield predictor_service_pb2.StreamAnomalyScoresResponse(
                    series_key=key, index=seen[key], score=score, model_version=model.name
                )
                seen[key] += 1
        finally:
            self._streams.release()

    def ForecastCost(self, request, context):
        horizon = request.horizon_months or 3
        if not 1 <= horizon <= forecast.DEFAULT.max_horizon:
            raise InvalidArgument(
                "horizon_months",
                f"must be 1 to {forecast.DEFAULT.max_horizon} (got {request.horizon_months})",
            )
        which = request.WhichOneof("history")
        if which == "spend":
            first, amounts = spend_history(request.spend, "spend")
        elif which == "account_hash":
            first, amounts = self._account_spend(request.account_hash)
        else:
            raise InvalidArgument("history", "is required: account_hash or spend")
        model = self.models.model("forecast")
        with _FORECAST_INFERENCE.time():
            result = model.forecast(amounts, horizon)
        _FORECASTS.inc()
        after = _add_months(first, len(amounts))
        return predictor_service_pb2.ForecastCostResponse(
            months=[
                prediction_pb2.MonthForecast(
                    month=_month_text(_add_months(after, i)),
                    amount=float(result.amount[i]),
                    lower=float(result.lower[i]),
                    upper=float(result.upper[i]),
                )
                for i in range(horizon)
            ],
            model_version=model.name,
            method=result.method,
            history_months=forecast.known_months(amounts),
            history_first_month=_month_text(first),
        )

    def _account_spend(self, account_hash: str) -> tuple[dt.date, np.ndarray]:
        """The account's complete months, from its first known to its last known month."""
        if not _HASH.fullmatch(account_hash):
            raise InvalidArgument(
                "account_hash", "must be 64 lowercase hex characters (CloudAccount.account_hash)"
            )
        today = dt.datetime.now(dt.UTC).date()
        rows = [
            (m, v) for m, v in self.store.monthly_spend(account_hash, today.replace(day=1)) if v is not None
        ]
        if not rows:
            raise NotFound(f"no monthly spend is recorded for account_hash {account_hash} before this month")
        first, last = rows[0][0], rows[-1][0]
        span = (last.year - first.year) * 12 + last.month - first.month + 1
        if span > MAX_HISTORY_MONTHS:
            first, span = _add_months(last, 1 - MAX_HISTORY_MONTHS), MAX_HISTORY_MONTHS
        amounts = np.full(span, np.nan)
        for month, value in rows:
            i = (month.year - first.year) * 12 + month.month - first.month
            if i >= 0:
                amounts[i] = value
        first, amounts = _from_first_spend(first, amounts)
        known = forecast.known_months(amounts)
        if known < forecast.DEFAULT.min_months:
            raise FailedPrecondition(
                f"the account has {known} complete month(s) of spend on record; a forecast needs "
                f"{forecast.DEFAULT.min_months} (each scan records the bill of the month and the two before)"
            )
        return first, amounts

    def SetModelVersionRole(self, request, context):
        kind, version = parse_version_name(request.name)
        kinds.get(kind, "name")
        role = _ROLES.get(request.role)
        if role is None:
            raise InvalidArgument(
                "role", "is required: MODEL_ROLE_ACTIVE, MODEL_ROLE_SHADOW or MODEL_ROLE_NONE"
            )
        model_kind = kinds.KINDS[kind]
        if not model_kind.trainable:
            raise FailedPrecondition(f"the {kind} kind serves its built-in model only")

        def check(onnx: bytes, name: str) -> None:
            try:
                model_kind.load(onnx, name)
            except Exception:
                log.exception("a model version does not load", extra={"model": name})
                raise FailedPrecondition(
                    f"{name} does not load as a {kind} model (the predictor's log says why), so it takes no role"
                ) from None

        mv = self.store.set_role(kind, version, role, check)
        self.models.refresh(kind)  # this replica at once; the others on their next poll
        return predictor_service_pb2.SetModelVersionRoleResponse(model_version=model_version_pb(mv))

    def GetShadowEvaluation(self, request, context):
        kind = kinds.get(request.model_kind or kinds.DEFAULT).name
        active, shadow = self.store.active_name(kind), self.store.shadow_name(kind)
        if active is None or shadow is None:
            return predictor_service_pb2.GetShadowEvaluationResponse(
                active_version=active or "", shadow_version=shadow or ""
            )
        pairs, labeled = self.store.shadow_records(
            kind, parse_version_name(active)[1], parse_version_name(shadow)[1]
        )
        result = evaluate(np.asarray(pairs, dtype=np.float64).reshape(-1, 2), labeled, held_out_metrics)
        return predictor_service_pb2.GetShadowEvaluationResponse(
            active_version=active,
            shadow_version=shadow,
            predictions=result.predictions,
            agreement=result.agreement,
            mean_abs_difference=result.mean_abs_difference,
            labeled=result.labeled,
            active_metrics=result.active_metrics,
            shadow_metrics=result.shadow_metrics,
        )
