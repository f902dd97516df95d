"""The waste model kind: p(the user deletes a finding's resource), trained from exported decisions.

Training reads an exported Parquet dataset and converts the model to ONNX; serving runs that graph
with ONNX Runtime (`WasteModel`).

Labels come from user actions: deleted = waste (1); kept or ignored = not waste (0). The split is
by time (older decisions train, the newest quarter is held out). The served graph contains its
preprocessing (one-hot encoding, scaling) and the classifier. The baseline to beat is
the rule's confidence level alone, mapped to the deletion rate seen in training for that level.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from cloudwaste.core.errors import FailedPrecondition
from cloudwaste.core.features import WASTE_FEATURES, waste_row
from cloudwaste.predictor.kinds.base import TrainedModel

MIN_LABELED_ROWS = 40
TEST_FRACTION = 0.25


@dataclass(frozen=True)
class Examples:
    """One example per decided finding, oldest detection first."""

    rows: list[dict]  # raw feature rows (WASTE_FEATURES)
    labels: np.ndarray  # 1: deleted
    implicit: np.ndarray  # True: deleted outside CloudWaste while open (label_source "implicit")
    keys: list[tuple[str, str]]  # (resource_hash, detection_scenario): which finding, never a feature

    def take(self, index) -> Examples:
        index = np.asarray(index, dtype=np.int64)
        return Examples(
            [self.rows[i] for i in index],
            self.labels[index],
            self.implicit[index],
            [self.keys[i] for i in index],
        )

    def __len__(self) -> int:
        return len(self.rows)


def load_examples(sources) -> Examples:
    """Feature rows and labels from decisions, explicit and implicit, oldest detection first.

    `sources` is one Parquet source or a sequence of them, oldest export first: local paths or open
    random-access files (what `Storage.open_input` returns for file:// and s3:// alike).

    Incremental exports repeat a row that changed (a label given after it was exported): the
    version with the latest changed_at is the row (`cloudwaste.core.datasets`); older versions,
    even labeled ones, are dropped.

    A finding seen by several scans has one ML row per scan, all carrying its decision; a kept
    finding is seen again and again, a deleted one is not. One example per finding (its first
    row: what was known when it was first detected) keeps that from weighting the labels and
    from putting the same finding on both sides of the time split.
    """
    if isinstance(sources, str | Path | pa.NativeFile):
        sources = [sources]
    latest: dict[str, dict] = {}  # key -> the newest labeled version seen
    for source in sources:
        for labeled, cleared in _versions(source, latest):
            for r in labeled:
                seen = latest.get(r["key"])
                if seen is None or _version(r) >= _version(seen):
                    latest[r["key"]] = r
            for key, changed_at in cleared:  # a newer version without a label: the label was withdrawn
                seen = latest.get(key)
                if seen is not None and (changed_at or _EPOCH) > _version(seen):
                    del latest[key]
    records = [r for r in latest.values() if r["user_action"] in LABELS]
    records.sort(key=lambda r: (r["detected_at"], r["labeled_at"]))
    first: dict[tuple[str, str], dict] = {}
    for r in records:
        first.setdefault((r["resource_hash"], r["detection_scenario"]), r)
    records = list(first.values())
    return Examples(
        [feature_row(r) for r in records],
        np.array([1 if r["user_action"] == "deleted" else 0 for r in records], dtype=np.int64),
        np.array([r.get("label_source") == "implicit" for r in records], dtype=bool),
        list(first),
    )


def feature_row(record: dict) -> dict:
    """The model's raw feature row from an exported ML row (tags_anonymized as JSON text)."""
    tags = record["tags_anonymized"]
    return waste_row(
        provider=record["provider"],
        resource_type=record["resource_type"],
        region_group_name=record["region_group"],
        detection_scenario=record["detection_scenario"],
        confidence_level=record["confidence_level"],
        resource_age_days=record["resource_age_days"],
        cost_monthly=record["cost_monthly"],
        tags_anonymized=json.loads(tags) if tags else None,
    )


def load_labeled_rows(sources) -> tuple[list[dict], np.ndarray]:
    """The explicit decisions' feature rows and labels, oldest detection first."""
    ex = load_examples(sources)
    explicit = ex.take(np.flatnonzero(~ex.implicit))
    return explicit.rows, explicit.labels


LABELS = ("deleted", "kept", "ignored")
_EPOCH = dt.datetime.min.replace(tzinfo=dt.UTC)


def _version(row: dict) -> dt.datetime:
    return row.get("changed_at") or _EPOCH


def _versions(source, labeled_keys: dict) -> Iterator[tuple[list[dict], list[tuple]]]:
    """Per batch of one Parquet source: its labeled rows (dicts with a "key"), and (key, changed_at)
    of its unlabeled rows whose key is among `labeled_keys`. Memory follows the labels, not the
    export: most rows of a large export carry no decision and never become Python objects."""
    with pq.ParquetFile(source) as parquet:  # closes only what it opened itself
        names = set(parquet.schema_arrow.names)
        optional = [c for c in ("label_source", "changed_at") if c in names]
        columns = [*optional, *FEATURE_SOURCE_COLUMNS]
        for batch in parquet.iter_batches(batch_size=65_536, columns=columns):
            key = pc.binary_join_element_wise(
                batch.column("resource_hash"),
                batch.column("detection_scenario"),
                pc.cast(batch.column("detected_at"), pa.string()),
                "|",
            )
            batch = batch.append_column("key", key)
            has_label = pc.is_valid(batch.column("user_action"))
            labeled = batch.filter(has_label).to_pylist()
            cleared: list[tuple] = []
            if labeled_keys and "changed_at" in names:
                candidates = batch.filter(
                    pc.and_(pc.invert(has_label), pc.is_in(key, value_set=pa.array(list(labeled_keys))))
                )
                cleared = list(
                    zip(
                        candidates.column("key").to_pylist(),
                        candidates.column("changed_at").to_pylist(),
                        strict=True,
                    )
                )
            yield labeled, cleared


FEATURE_SOURCE_COLUMNS = (
    "resource_hash",
    "detected_at",
    "labeled_at",
    "provider",
    "resource_type",
    "region_group",
    "detection_scenario",
    "confidence_level",
    "resource_age_days",
    "cost_monthly",
    "tags_anonymized",
    "user_action",
)


def features_frame(rows: list[dict]) -> pd.DataFrame:
    df = pd.DataFrame(rows, columns=list(WASTE_FEATURES.names))
    for c in WASTE_FEATURES.numeric:
        df[c] = df[c].astype(np.float32)
    return df


def held_out_metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    """What a training reports for a version and a shadow evaluation for each version: ROC-AUC,
    average precision, Brier, log loss, accuracy at 0.5."""
    from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

    p = np.clip(p, 1e-6, 1 - 1e-6)
    return {
        "roc_auc": float(roc_auc_score(y, p)),
        "average_precision": float(average_precision_score(y, p)),
        "brier": float(brier_score_loss(y, p)),
        "log_loss": float(log_loss(y, p, labels=[0, 1])),
        "accuracy": float(((p >= 0.5).astype(int) == y).mean()),
    }


def _preprocess(binned: bool = False, scaled: bool = True):
    """One-hot categoricals; numerics scaled (linear models) or as they are (trees); with `binned`,
    age and cost also as quantile bins, so that a linear model can bend where users do (a finding
    of a few days is kept, a year-old one deleted; cheap things go without a second thought)."""
    from sklearn.compose import ColumnTransformer
    from sklearn.preprocessing import KBinsDiscretizer, OneHotEncoder, StandardScaler

    parts = [("cat", OneHotEncoder(handle_unknown="ignore"), list(WASTE_FEATURES.categorical))]
    parts.append(("num", StandardScaler() if scaled else "passthrough", list(WASTE_FEATURES.numeric)))
    if binned:
        bins = KBinsDiscretizer(n_bins=8, encode="onehot-dense", strategy="quantile", subsample=None)
        parts.append(("bins", bins, ["resource_age_days", "cost_monthly"]))
    return ColumnTransformer(parts)


def build_pipeline(seed: int = 0, candidate: str = "logistic"):
    """A candidate's scikit-learn pipeline: preprocessing in the graph, then the classifier.

    - logistic: one-hot + scaled numerics, L2-regularized logistic regression (small, smooth);
    - logistic_binned: the same plus quantile bins of age and cost (bends without trees);
    - gradient_boosting: shallow boosted trees (interactions, e.g. environment x criticality);
    - random_forest: bagged deep trees (robust, rarely the best calibrated).
    """
    from sklearn.ensemble import GradientBoostingClassifier, RandomForestClassifier
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline

    if candidate == "logistic":
        pre, clf = _preprocess(), LogisticRegression(C=0.5, max_iter=2000, random_state=seed)
    elif candidate == "logistic_binned":
        pre, clf = _preprocess(binned=True), LogisticRegression(C=0.3, max_iter=3000, random_state=seed)
    elif candidate == "gradient_boosting":
        pre = _preprocess(scaled=False)
        clf = GradientBoostingClassifier(
            n_estimators=150,
            learning_rate=0.05,
            max_depth=3,
            subsample=0.8,
            min_samples_leaf=20,
            random_state=seed,
        )
    elif candidate == "random_forest":
        pre = _preprocess(scaled=False)
        clf = RandomForestClassifier(n_estimators=150, min_samples_leaf=10, random_state=seed, n_jobs=1)
    else:
        raise ValueError(f"unknown candidate {candidate!r}")
    return Pipeline([("pre", pre), ("clf", clf)])


CANDIDATES = ("logistic", "logistic_binned", "gradient_boosting", "random_forest")
IMPLICIT_WEIGHT = 0.3  # an implicit label counts this much of an explicit one in training


@dataclass(frozen=True)
class Platt:
    """p -> sigmoid(a * logit(p) + b), fitted on the calibration fold (two parameters: stable on a
    few hundred decisions, where isotonic steps would follow the noise)."""

    a: float = 1.0
    b: float = 0.0

    @classmethod
    def fit(cls, p: np.ndarray, y: np.ndarray) -> Platt:
        from sklearn.linear_model import LogisticRegression

        lr = LogisticRegression(C=1e4, max_iter=1000).fit(_logit(p).reshape(-1, 1), y)
        return cls(float(lr.coef_[0, 0]), float(lr.intercept_[0]))

    def __call__(self, p: np.ndarray) -> np.ndarray:
        return 1.0 / (1.0 + np.exp(-(self.a * _logit(p) + self.b)))


_EPS = 1e-6


def _logit(p: np.ndarray) -> np.ndarray:
    p = np.clip(np.asarray(p, dtype=np.float64), _EPS, 1 - _EPS)
    return np.log(p / (1 - p))


def time_split(n: int) -> tuple[slice, slice, slice]:
    """Train on the oldest 60% of the explicit examples, calibrate on the next 15%, test on the
    newest 25%: the model is judged on decisions made after everything it learned from."""
    train_end = math.floor(n * (1 - TEST_FRACTION - CALIBRATION_FRACTION))
    cal_end = math.floor(n * (1 - TEST_FRACTION))
    return slice(0, train_end), slice(train_end, cal_end), slice(cal_end, n)


CALIBRATION_FRACTION = 0.15


def held_out(sources) -> Examples:
    """The test examples a training on `sources` holds out (for evaluations outside the trainer)."""
    ex = load_examples(sources)
    explicit = ex.take(np.flatnonzero(~ex.implicit))
    return explicit.take(np.arange(len(explicit))[time_split(len(explicit))[2]])


def to_onnx(
    model,
    platt: Platt | None = None,
    reference: dict | None = None,
    trained_at: float | None = None,
    algorithm: str = "",
) -> bytes:
    """The pipeline as one ONNX graph (preprocessing included) whose `probabilities` output is
    [N, 2] float; with `platt`, the calibration is appended to the graph, and with `reference` (the
    typical feature row, see `reference_row`) it is stored in the model's metadata for the
    explanations: serving needs nothing beside the graph. When it was trained (Unix time) and the
    candidate chosen go in the metadata too (the predictor's model metrics)."""
    from skl2onnx import convert_sklearn
    from skl2onnx.common.data_types import FloatTensorType, StringTensorType

    inputs = [(c, StringTensorType([None, 1])) for c in WASTE_FEATURES.categorical]
    inputs += [(c, FloatTensorType([None, 1])) for c in WASTE_FEATURES.numeric]
    onx = convert_sklearn(
        model,
        initial_types=inputs,
        options={id(model): {"zipmap": False}},
        target_opset={"": 17, "ai.onnx.ml": 3},
    )
    if platt is not None:
        _append_platt(onx.graph, platt)
    for key, value in (
        (REFERENCE_KEY, json.dumps(reference) if reference is not None else None),
        (TRAINED_AT_KEY, f"{trained_at:.3f}" if trained_at is not None else None),
        (ALGORITHM_KEY, algorithm or None),
    ):
        if value is not None:
            entry = onx.metadata_props.add()
            entry.key, entry.value = key, value
    return onx.SerializeToString()


REFERENCE_KEY = "cloudwaste.reference_row"
TRAINED_AT_KEY = "cloudwaste.trained_at"
ALGORITHM_KEY = "cloudwaste.algorithm"


def reference_row(x: pd.DataFrame) -> dict:
    """The typical finding of the training data: each categorical's most frequent value, each
    numeric's median. A feature's contribution is measured against it."""
    ref: dict[str, object] = {c: str(x[c].mode().iloc[0]) for c in WASTE_FEATURES.categorical}
    ref.update({c: float(x[c].median()) for c in WASTE_FEATURES.numeric})
    return ref


def _append_platt(graph, platt: Platt) -> None:
    """probabilities <- [1 - q, q] with q = sigmoid(a * logit(clip(p1)) + b), p1 the model's
    probability of class 1; the uncalibrated label output is dropped (the service reads only the
    probabilities)."""
    from onnx import TensorProto, helper

    for node in graph.node:
        node.output[:] = ["raw_probabilities" if o == "probabilities" else o for o in node.output]
    consts = {
        "platt_start": ([1], TensorProto.INT64),
        "platt_end": ([2], TensorProto.INT64),
        "platt_axis": ([1], TensorProto.INT64),
        "platt_lo": (_EPS, TensorProto.FLOAT),
        "platt_hi": (1 - _EPS, TensorProto.FLOAT),
        "platt_one": (1.0, TensorProto.FLOAT),
        "platt_a": (platt.a, TensorProto.FLOAT),
        "platt_b": (platt.b, TensorProto.FLOAT),
    }
    for name, (value, dtype) in consts.items():
        dims = [len(value)] if isinstance(value, list) else []
        graph.initializer.append(helper.make_tensor(name, dtype, dims, value if dims else [value]))
    graph.node.extend(
        [
            helper.make_node(
                "Slice", ["raw_probabilities", "platt_start", "platt_end", "platt_axis"], ["p1"]
            ),
            helper.make_node("Clip", ["p1", "platt_lo", "platt_hi"], ["p1c"]),
            helper.make_node("Sub", ["platt_one", "p1c"], ["p0c"]),
            helper.make_node("Div", ["p1c", "p0c"], ["odds"]),
            helper.make_node("Log", ["odds"], ["logit"]),
            helper.make_node("Mul", ["logit", "platt_a"], ["scaled"]),
            helper.make_node("Add", ["scaled", "platt_b"], ["shifted"]),
            helper.make_node("Sigmoid", ["shifted"], ["q1"]),
            helper.make_node("Sub", ["platt_one", "q1"], ["q0"]),
            helper.make_node("Concat", ["q0", "q1"], ["probabilities"], axis=1),
        ]
    )
    outputs = [o for o in graph.output if o.name == "probabilities"]
    del graph.output[:]
    graph.output.extend(outputs)


def train_waste_model(source, seed: int = 0, candidates: tuple[str, ...] = CANDIDATES) -> TrainedModel:
    """Trains every candidate on the same time split, with and without the implicit labels,
    calibrates each on the calibration fold, and keeps the one with the lowest calibration-fold log
    loss; every candidate's held-out metrics are stored with the version (`candidates`).

    `source`: one Parquet source or a sequence of them, oldest export first (load_examples).
    """
    ex = load_examples(source)
    explicit = ex.take(np.flatnonzero(~ex.implicit))
    if len(explicit) < MIN_LABELED_ROWS:
        raise FailedPrecondition(
            f"the dataset has {len(explicit)} explicitly labeled findings; at least {MIN_LABELED_ROWS} are "
            "needed (label findings with ScannerService/SetFindingState, then export again)"
        )
    fit, cal, test = (explicit.take(np.arange(len(explicit))[part]) for part in time_split(len(explicit)))
    if any(len(set(part.labels)) < 2 for part in (fit, cal, test)):
        raise FailedPrecondition(
            "the training, calibration and held-out parts each need deleted and kept/ignored findings"
        )
    # implicit labels from before the calibration fold begins: later ones would leak the future
    cal_start = cal.keys[0]
    first_cal = next(i for i, k in enumerate(ex.keys) if k == cal_start)
    implicit = ex.take([i for i in range(first_cal) if ex.implicit[i]])

    x_fit, x_cal, x_test = (features_frame(part.rows) for part in (fit, cal, test))
    results = []
    for name in candidates:
        for with_implicit in (False, True) if len(implicit) else (False,):
            if with_implicit:
                x = pd.concat([x_fit, features_frame(implicit.rows)], ignore_index=True)
                y = np.concatenate([fit.labels, implicit.labels])
                w = np.concatenate([np.ones(len(fit)), np.full(len(implicit), IMPLICIT_WEIGHT)])
            else:
                x, y, w = x_fit, fit.labels, np.ones(len(fit))
            model = build_pipeline(seed, name).fit(x, y, clf__sample_weight=w)
            platt = Platt.fit(model.predict_proba(x_cal)[:, 1], cal.labels)
            p_cal = platt(model.predict_proba(x_cal)[:, 1])
            p_test = platt(model.predict_proba(x_test)[:, 1])
            results.append(
                {
                    "name": name + ("+implicit" if with_implicit else ""),
                    "model": model,
                    "platt": platt,
                    "calibration_log_loss": held_out_metrics(cal.labels, p_cal)["log_loss"],
                    "metrics": held_out_metrics(test.labels, p_test),
                    "p_test": p_test,
                }
            )
    best = min(results, key=lambda r: r["calibration_log_loss"])

    # Baseline: the rule's confidence level alone, as the deletion rate of that level in training.
    conf_fit = x_fit["confidence_level"].to_numpy()
    prior = float(fit.labels.mean())
    rate = {lvl: float(fit.labels[conf_fit == lvl].mean()) for lvl in set(conf_fit)}
    p_base = np.array([rate.get(lvl, prior) for lvl in x_test["confidence_level"]])

    onnx_bytes = to_onnx(best["model"], best["platt"], reference_row(x_fit), time.time(), best["name"])
    served = WasteModel.from_bytes(onnx_bytes, "candidate")
    p_onnx = np.array(served.predict(test.rows))
    metrics = dict(best["metrics"])
    metrics["onnx_max_abs_diff"] = float(np.max(np.abs(p_onnx - best["p_test"])))
    metrics["positive_rate_test"] = float(test.labels.mean())
    metrics["implicit_examples"] = float(len(implicit) if best["name"].endswith("+implicit") else 0)
    return TrainedModel(
        onnx=onnx_bytes,
        metrics=metrics,
        baseline_metrics=held_out_metrics(test.labels, p_base),
        training_rows=len(fit) + len(cal),  # fitted on, then calibrated on
        test_rows=len(test),
        feature_spec=WASTE_FEATURES.to_json(),
        candidates=[
            {
                "name": r["name"],
                "chosen": r is best,
                "calibration_log_loss": r["calibration_log_loss"],
                "metrics": r["metrics"],
            }
            for r in results
        ],
        algorithm=best["name"],
    )


@dataclass(frozen=True)
class WasteModel:
    """The served waste model: an ONNX Runtime session on one thread (requests run in parallel on
    the server's threads; one intra-op thread each keeps latency flat under load)."""

    session: ort.InferenceSession
    name: str  # "models/waste/versions/N"
    reference: dict | None = None  # the typical feature row (None: a version trained before it)
    trained_at: float | None = None  # Unix time (None: a version trained before it was recorded)
    algorithm: str = ""

    @classmethod
    def from_bytes(cls, onnx: bytes, name: str) -> WasteModel:
        opts = ort.SessionOptions()
        opts.intra_op_num_threads = 1
        opts.inter_op_num_threads = 1
        opts.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
        session = ort.InferenceSession(onnx, opts, providers=["CPUExecutionProvider"])
        expected = set(WASTE_FEATURES.names)
        got = {i.name for i in session.get_inputs()}
        if got != expected:
            raise ValueError(f"model inputs {sorted(got)} do not match the feature spec {sorted(expected)}")
        meta = session.get_modelmeta().custom_metadata_map
        stored, trained_at = meta.get(REFERENCE_KEY), meta.get(TRAINED_AT_KEY)
        return cls(
            session,
            name,
            json.loads(stored) if stored else None,
            float(trained_at) if trained_at else None,
            meta.get(ALGORITHM_KEY, ""),
        )

    def predict(self, rows: Sequence[dict]) -> list[float]:
        n = len(rows)
        feed = {}
        for c in WASTE_FEATURES.categorical:
            feed[c] = np.array([r[c] for r in rows], dtype=object).reshape(n, 1)
        for c in WASTE_FEATURES.numeric:
            feed[c] = np.array([r[c] for r in rows], dtype=np.float32).reshape(n, 1)
        (probabilities,) = self.session.run(["probabilities"], feed)
        return probabilities[:, 1].astype(float).tolist()

    def explain(self, rows: Sequence[dict], top: int = 3) -> tuple[list[float], list[list[tuple]]]:
        """Probabilities and, per row, the `top` features that moved it most as (feature, value,
        contribution): the probability minus the probability with that feature at the reference
        row's value. One ONNX call scores every row and every variant of it; a feature already at
        the reference value contributes nothing and costs nothing."""
        if self.reference is None:
            return self.predict(rows), [[] for _ in rows]
        variants, owners = list(rows), []
        for i, row in enumerate(rows):
            for name, typical in self.reference.items():
                if row[name] != typical:
                    variants.append({**row, name: typical})
                    owners.append((i, name))
        p = self.predict(variants)
        n = len(rows)
        moved: list[list[tuple]] = [[] for _ in rows]
        for (i, name), p_variant in zip(owners, p[n:], strict=True):
            delta = p[i] - p_variant
            if abs(delta) > 1e-6:
                value = rows[i][name]
                moved[i].append((name, value if isinstance(value, str) else f"{value:g}", delta))
        return p[:n], [sorted(m, key=lambda t: -abs(t[2]))[:top] for m in moved]


class WasteKind:
    name = "waste"
    trainable = True
    feature_spec = WASTE_FEATURES.to_json()
    no_model = (
        "no active waste model yet: export a dataset (ExporterService/ExportDataset) and train one with "
        'PredictorService/TrainModels {"dataset_uri": "file:///.../ml_training_data-....parquet"}'
    )

    def builtin(self) -> None:
        return None  # no model until one is trained: the predictor is not ready for this kind

    def train(self, sources) -> TrainedModel:
        return train_waste_model(sources)

    def load(self, onnx: bytes, name: str) -> WasteModel:
        return WasteModel.from_bytes(onnx, name)


KIND = WasteKind()
