"""Model kinds and serving: one holder per kind loads the active model, swaps in a new one live, and
keeps the old one if the new one is broken."""

from __future__ import annotations

import random

import numpy as np
import pytest
from cloudwaste.core.errors import FailedPrecondition, InvalidArgument
from cloudwaste.core.features import waste_row
from cloudwaste.predictor import kinds
from cloudwaste.predictor.kinds import waste as train
from cloudwaste.predictor.kinds.waste import WasteModel
from cloudwaste.predictor.metrics import ACTIVE_VERSION, MODEL_READY
from cloudwaste.predictor.serving import ModelHolder, ServedModels


def synthetic_rows(n: int, seed: int) -> tuple[list[dict], np.ndarray]:
    rng = random.Random(seed)
    rows, labels = [], []
    for _ in range(n):
        env = rng.choice(["prod", "dev", "test", "staging"])
        rows.append(
            waste_row(
                provider="aws",
                resource_type="aws.ec2.volume",
                region_group_name="europe",
                detection_scenario="ebs-volume-unattached",
                confidence_level=rng.choice(["LOW", "HIGH"]),
                resource_age_days=rng.uniform(1, 400),
                cost_monthly=rng.uniform(1, 200),
                tags_anonymized={"environment": env},
            )
        )
        labels.append(int(env != "prod" if rng.random() > 0.1 else env == "prod"))
    return rows, np.array(labels)


@pytest.fixture(scope="module")
def onnx_models():
    out = []
    for seed in (1, 2):
        rows, y = synthetic_rows(200, seed)
        model = train.build_pipeline(seed).fit(train.features_frame(rows), y)
        out.append(train.to_onnx(model))
    return out


def test_no_model_is_failed_precondition_with_instructions():
    holder = ModelHolder(kinds.get("waste"), lambda kind: None, lambda kind: None)
    holder.refresh()
    with pytest.raises(FailedPrecondition, match="TrainModels"):
        _ = holder.model


def test_new_version_is_swapped_in_and_a_broken_one_is_not(onnx_models):
    registry = {"active": ("models/waste/versions/1", onnx_models[0])}
    holder = ModelHolder(kinds.get("waste"), lambda kind: registry["active"], lambda kind: registry["active"][0])
    assert holder.refresh() and holder.model.name == "models/waste/versions/1"
    assert not holder.refresh()  # unchanged: nothing reloaded

    registry["active"] = ("models/waste/versions/2", onnx_models[1])
    assert holder.refresh() and holder.model.name == "models/waste/versions/2"

    registry["active"] = ("models/waste/versions/3", b"not an onnx graph")
    assert not holder.refresh()
    assert holder.model.name == "models/waste/versions/2"  # still serving the last good one
    rows, _ = synthetic_rows(5, 9)
    assert all(0 <= p <= 1 for p in holder.model.predict(rows))


def test_onnx_matches_scikit_learn(onnx_models):
    rows, y = synthetic_rows(300, 4)
    model = train.build_pipeline(4).fit(train.features_frame(rows), y)
    served = WasteModel.from_bytes(train.to_onnx(model), "x")
    expected = model.predict_proba(train.features_frame(rows[:50]))[:, 1]
    assert np.max(np.abs(np.array(served.predict(rows[:50])) - expected)) < 1e-4


def test_every_registered_kind_declares_what_the_predictor_needs():
    for name, kind in kinds.KINDS.items():
        assert kind.name == name and name.isidentifier()
        assert kind.feature_spec and kind.no_model
        assert callable(kind.train) and callable(kind.load)
    with pytest.raises(InvalidArgument, match=r"one of: .*waste"):
        kinds.get("wastee")


def test_served_models_hold_one_live_model_per_kind_with_readiness_and_version_in_metrics(onnx_models):
    asked: list[str] = []
    registry = {"waste": ("models/waste/versions/7", onnx_models[0])}

    def fetch_name(kind):
        asked.append(kind)
        return registry[kind][0] if kind in registry else None

    models = ServedModels(lambda kind: registry.get(kind), fetch_name)
    assert set(models.holders) == set(kinds.KINDS)
    assert models.model("anomaly").name == "models/anomaly/versions/0"  # built in: ready from the start
    models.refresh()
    assert set(asked) == {k for k, kind in kinds.KINDS.items() if kind.trainable}  # polled by kind
    assert models.model("waste").name == "models/waste/versions/7"
    samples = {(s.name, s.labels["model_kind"]): s.value for m in MODEL_READY.collect() for s in m.samples}
    assert samples[("cloudwaste_predictor_model_ready", "waste")] == 1.0
    assert ACTIVE_VERSION.labels("waste")._value.get() == 7


def test_a_shadow_is_loaded_beside_the_active_model_and_removed_with_its_role(onnx_models):
    active = ("models/waste/versions/1", onnx_models[0])
    registry: dict = {"shadow": ("models/waste/versions/2", onnx_models[1])}
    holder = ModelHolder(
        kinds.get("waste"),
        lambda kind: active,
        lambda kind: active[0],
        fetch_shadow=lambda kind: registry["shadow"],
        fetch_shadow_name=lambda kind: registry["shadow"][0] if registry["shadow"] else None,
    )
    holder.refresh()
    assert holder.model.name == "models/waste/versions/1" and holder.shadow.name == "models/waste/versions/2"
    rows, _ = synthetic_rows(5, 3)
    assert holder.shadow.predict(rows) != holder.model.predict(rows)  # a different model answers
    registry["shadow"] = ("models/waste/versions/3", b"not onnx")
    holder.refresh()  # a shadow that does not load: no shadow, the active one untouched
    assert holder.shadow is None and holder.model.name == "models/waste/versions/1"
    registry["shadow"] = None
    holder.refresh()
    assert holder.shadow is None
