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
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnxruntime as ort
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq
from cloudwaste.core.errors import FailedPrecondition
from cloudwaste.core.features import WASTE_FEATURES, waste_row
from cloudwaste.predictor.kinds.base import TrainedModel

MIN_LABELED_ROWS = 40
TEST_FRACTION = 0.25


def load_labeled_rows(sources) -> tuple[list[dict], np.ndarray]:
    """Feature rows and labels from explicit decisions, oldest decision first.

    `sources` is one Parquet source or a sequence of them, oldest export first: local paths or open
    random-access files (what `Storage.open_input` returns for file:// and s3:// alike).

    Incremental exports repeat a row that changed (a label given after it was exported): the
    version with the latest changed_at is the row (`cloudwaste.core.datasets`); older versions,
    even labeled ones, are dropped.

    Implicit labels (a resource that disappeared while its finding was open, label_source
    "implicit") are not used yet: they are a weaker, differently biased signal.

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
    records = [
        r for r in latest.values() if r["user_action"] in LABELS and r.get("label_source") != "implicit"
    ]
    records.sort(key=lambda r: (r["detected_at"], r["labeled_at"]))
    first: dict[tuple[str, str], dict] = {}
    for r in records:
        first.setdefault((r["resource_hash"], r["detection_scenario"]), r)
    records = list(first.values())
    rows = [
        waste_row(
            provider=r["provider"],
            resource_type=r["resource_type"],
            region_group_name=r["region_group"],
            detection_scenario=r["detection_scenario"],
            confidence_level=r["confidence_level"],
            resource_age_days=r["resource_age_days"],
            cost_monthly=r["cost_monthly"],
            tags_anonymized=json.loads(r["tags_anonymized"]) if r["tags_anonymized"] else None,
        )
        for r in records
    ]
    labels = np.array([1 if r["user_action"] == "deleted" else 0 for r in records], dtype=np.int64)
    return rows, labels


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


def features_frame(rows: list[dict]):
    import pandas as pd

    df = pd.DataFrame(rows, columns=list(WASTE_FEATURES.names))
    for c in WASTE_FEATURES.numeric:
        df[c] = df[c].astype(np.float32)
    return df


def _metrics(y: np.ndarray, p: np.ndarray) -> dict[str, float]:
    from sklearn.metrics import average_precision_score, brier_score_loss, log_loss, roc_auc_score

    p = np.clip(p, 1e-6, 1 - 1e-6)
    return {
        "roc_auc": float(roc_auc_score(y, p)),
        "average_precision": float(average_precision_score(y, p)),
        "brier": float(brier_score_loss(y, p)),
        "log_loss": float(log_loss(y, p, labels=[0, 1])),
        "accuracy": float(((p >= 0.5).astype(int) == y).mean()),
    }


def build_pipeline(seed: int = 0):
    """One-hot categoricals + scaled numerics -> L2-regularized logistic regression.

    Chosen on simulated estates (4 seeds x 5 splits, 163 labeled findings each): it beat calibrated
    gradient boosting and random forests on held-out ROC AUC (0.78 vs 0.74-0.78) and Brier score
    (0.195 vs 0.203-0.211), and all of them beat the rule-only baseline (0.50 / 0.260). Fitted on log
    loss, its probabilities are calibrated without a separate step, and its ONNX graph is small.
    Revisit when real decisions number in the thousands.
    """
    from sklearn.compose import ColumnTransformer
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import Pipeline
    from sklearn.preprocessing import OneHotEncoder, StandardScaler

    pre = ColumnTransformer(
        [
            ("cat", OneHotEncoder(handle_unknown="ignore"), list(WASTE_FEATURES.categorical)),
            ("num", StandardScaler(), list(WASTE_FEATURES.numeric)),
        ]
    )
    return Pipeline([("pre", pre), ("clf", LogisticRegression(C=0.5, max_iter=2000, random_state=seed))])


def to_onnx(model) -> bytes:
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
    return onx.SerializeToString()


def train_waste_model(source, seed: int = 0) -> TrainedModel:
    """`source`: one Parquet source or a sequence of them, oldest export first (load_labeled_rows)."""
    rows, y = load_labeled_rows(source)
    if len(rows) < MIN_LABELED_ROWS:
        raise FailedPrecondition(
            f"the dataset has {len(rows)} labeled rows; at least {MIN_LABELED_ROWS} are needed "
            "(label findings with ScannerService/SetFindingState, then export again)"
        )
    split = math.floor(len(rows) * (1 - TEST_FRACTION))
    y_train, y_test = y[:split], y[split:]
    if len(set(y_train)) < 2 or len(set(y_test)) < 2:
        raise FailedPrecondition(
            "both the training and the held-out part need deleted and kept/ignored findings"
        )
    x_train, x_test = features_frame(rows[:split]), features_frame(rows[split:])
    model = build_pipeline(seed).fit(x_train, y_train)
    p_model = model.predict_proba(x_test)[:, 1]

    # Baseline: the rule's confidence level alone, as the deletion rate of that level in training.
    conf_train = x_train["confidence_level"].to_numpy()
    prior = float(y_train.mean())
    rate = {lvl: float(y_train[conf_train == lvl].mean()) for lvl in set(conf_train)}
    p_base = np.array([rate.get(lvl, prior) for lvl in x_test["confidence_level"]])

    onnx_bytes = to_onnx(model)
    served = WasteModel.from_bytes(onnx_bytes, "candidate")
    p_onnx = np.array(served.predict(rows[split:]))
    metrics = _metrics(y_test, p_model)
    metrics["onnx_max_abs_diff"] = float(np.max(np.abs(p_onnx - p_model)))
    metrics["positive_rate_test"] = float(y_test.mean())
    return TrainedModel(
        onnx=onnx_bytes,
        metrics=metrics,
        baseline_metrics=_metrics(y_test, p_base),
        training_rows=split,
        test_rows=len(rows) - split,
        feature_spec=WASTE_FEATURES.to_json(),
    )


@dataclass(frozen=True)
class WasteModel:
    """The served waste model: an ONNX Runtime session on one thread (requests run in parallel on
    the server's threads; one intra-op thread each keeps latency flat under load)."""

    session: ort.InferenceSession
    name: str  # "models/waste/versions/N"

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
        return cls(session, name)

    def predict(self, rows: Sequence[dict]) -> list[float]:
        n = len(rows)
        feed = {}
        for c in WASTE_FEATURES.categorical:
            feed[c] = np.array([r[c] for r in rows], dtype=object).reshape(n, 1)
        for c in WASTE_FEATURES.numeric:
            feed[c] = np.array([r[c] for r in rows], dtype=np.float32).reshape(n, 1)
        _, probabilities = self.session.run(None, feed)
        return probabilities[:, 1].astype(float).tolist()


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
