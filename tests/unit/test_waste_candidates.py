"""The waste model's training: candidates compared on one time split, calibrated on their own fold,
implicit labels as a weighted second source that never leaks the future, and a served graph that
answers what scikit-learn plus the calibration answers."""

from __future__ import annotations

import datetime as dt
import json
import math
import random

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from cloudwaste.core.errors import FailedPrecondition
from cloudwaste.predictor.kinds import waste

T0 = dt.datetime(2026, 1, 5, tzinfo=dt.UTC)


def decisions(n: int, seed: int, implicit_share: float = 0.0) -> list[dict]:
    """Export-shaped rows of n decided findings, one a couple of hours apart: dev and old and cheap
    things get deleted, prod and critical ones kept (with noise)."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        env = rng.choice(["prod", "dev", "test", "staging"])
        crit = rng.choice(["high", "low", "unset"])
        age, cost = rng.uniform(0, 500), rng.lognormvariate(3, 1)
        s = (1.5 if env != "prod" else -1.5) + (-1.0 if crit == "high" else 0.5) + math.tanh((age - 90) / 120)
        s -= 0.4 * math.log10(cost / 20)
        deleted = rng.random() < 1 / (1 + math.exp(-s))
        implicit = rng.random() < implicit_share
        if implicit and not deleted:
            continue  # what disappears outside CloudWaste is recorded as deleted
        tags = {"environment": env} | ({"criticality": crit} if crit != "unset" else {})
        detected = T0 + dt.timedelta(hours=2 * i)
        out.append(
            {
                "resource_hash": f"h{i:06d}",
                "detected_at": detected,
                "labeled_at": detected + dt.timedelta(hours=30),
                "provider": "aws",
                "resource_type": "aws.ec2.volume",
                "region_group": "europe",
                "detection_scenario": rng.choice(["ebs-volume-unattached", "snapshot-orphaned"]),
                "confidence_level": rng.choice(["LOW", "MEDIUM", "HIGH"]),
                "resource_age_days": age,
                "cost_monthly": cost,
                "tags_anonymized": json.dumps(tags),
                "user_action": "deleted" if deleted else rng.choice(["kept", "kept", "ignored"]),
                "label_source": "implicit" if implicit else "explicit",
            }
        )
    return out


def write(path, rows: list[dict]):
    pq.write_table(pa.Table.from_pylist(rows), path)
    return path


def test_every_candidate_is_compared_on_the_same_split_and_the_best_calibrated_is_served(tmp_path):
    source = write(tmp_path / "d.parquet", decisions(1400, seed=1, implicit_share=0.15))
    trained = waste.train_waste_model([source])
    names = {c["name"] for c in trained.candidates}
    assert names == {n + s for n in waste.CANDIDATES for s in ("", "+implicit")}
    chosen = [c for c in trained.candidates if c["chosen"]]
    assert len(chosen) == 1 and chosen[0]["name"] == trained.algorithm
    assert chosen[0]["calibration_log_loss"] == min(c["calibration_log_loss"] for c in trained.candidates)
    assert all(
        c["metrics"]["roc_auc"] > trained.baseline_metrics["roc_auc"] + 0.1 for c in trained.candidates
    )
    assert trained.metrics["roc_auc"] == chosen[0]["metrics"]["roc_auc"]
    assert trained.metrics["onnx_max_abs_diff"] < 1e-4  # the graph answers what was evaluated

    explicit = sum(1 for r in decisions(1400, seed=1, implicit_share=0.15) if r["label_source"] == "explicit")
    _, cal, test = waste.time_split(explicit)
    assert (trained.training_rows, trained.test_rows) == (cal.stop, test.stop - test.start)
    held = waste.held_out([source])
    assert len(held) == trained.test_rows and not held.implicit.any()


def test_implicit_labels_train_only_from_before_the_calibration_fold(tmp_path, monkeypatch):
    rows = decisions(900, seed=2, implicit_share=0.2)
    source = write(tmp_path / "d.parquet", rows)
    seen = []
    real = waste.build_pipeline

    def spy(seed=0, candidate="logistic"):
        pipe = real(seed, candidate)
        fit = pipe.fit

        def recording_fit(x, y, **kw):
            seen.append(len(x))
            return fit(x, y, **kw)

        pipe.fit = recording_fit
        return pipe

    monkeypatch.setattr(waste, "build_pipeline", spy)
    trained = waste.train_waste_model([source], candidates=("logistic",))
    explicit = [r for r in rows if r["label_source"] == "explicit"]
    fit, cal, _ = waste.time_split(len(explicit))
    cal_start = explicit[cal.start]["detected_at"]
    early_implicit = sum(1 for r in rows if r["label_source"] == "implicit" and r["detected_at"] < cal_start)
    assert 0 < early_implicit < sum(1 for r in rows if r["label_source"] == "implicit")
    assert seen == [fit.stop, fit.stop + early_implicit]
    assert trained.algorithm in ("logistic", "logistic+implicit")


@pytest.mark.parametrize("candidate", waste.CANDIDATES)
def test_the_served_graph_with_its_calibration_matches_scikit_learn(candidate):
    rows = decisions(600, seed=3)
    feature_rows = [waste.feature_row(r) for r in rows]
    y = np.array([r["user_action"] == "deleted" for r in rows], dtype=int)
    x = waste.features_frame(feature_rows)
    model = waste.build_pipeline(0, candidate).fit(x[:400], y[:400])
    platt = waste.Platt.fit(model.predict_proba(x[400:500])[:, 1], y[400:500])
    assert platt.a > 0  # a calibration never turns the ranking over
    expected = platt(model.predict_proba(x[500:])[:, 1])
    served = waste.WasteModel.from_bytes(waste.to_onnx(model, platt), "t")
    assert np.max(np.abs(np.array(served.predict(feature_rows[500:])) - expected)) < 1e-4


def test_too_few_or_one_sided_decisions_are_a_clear_precondition(tmp_path):
    with pytest.raises(FailedPrecondition, match="at least 40"):
        waste.train_waste_model([write(tmp_path / "few.parquet", decisions(30, seed=4))])
    one_sided = [r | {"user_action": "kept"} for r in decisions(300, seed=5)]
    with pytest.raises(FailedPrecondition, match="deleted and kept"):
        waste.train_waste_model([write(tmp_path / "kept.parquet", one_sided)])


def test_each_prediction_says_which_three_features_moved_it_and_which_way(tmp_path):
    trained = waste.train_waste_model([write(tmp_path / "d.parquet", decisions(1400, seed=6))])
    served = waste.WasteModel.from_bytes(trained.onnx, "t")
    assert served.reference is not None and set(served.reference) == set(waste.WASTE_FEATURES.names)
    base = dict(served.reference)
    prod = base | {"tag_environment": "prod"}
    dev = base | {"tag_environment": "dev"}
    p, moved = served.explain([base, prod, dev])
    assert p == pytest.approx(served.predict([base, prod, dev]))
    assert moved[0] == []  # the typical finding: nothing moved it
    if base["tag_environment"] != "prod":  # prod is kept: its environment pulls the probability down
        assert moved[1] == [("tag_environment", "prod", pytest.approx(p[1] - p[0]))] and p[1] < p[0]
    if base["tag_environment"] not in ("dev", "test", "staging"):
        assert moved[2][0][:2] == ("tag_environment", "dev") and moved[2][0][2] > 0
    several = base | {"tag_environment": "prod", "tag_criticality": "high", "resource_age_days": 900.0}
    several |= {"cost_monthly": 900.0, "detection_scenario": "snapshot-orphaned"}
    _, (top,) = served.explain([several])
    assert len(top) == 3 and [abs(c) for _, _, c in top] == sorted((abs(c) for _, _, c in top), reverse=True)

    legacy = waste.WasteModel.from_bytes(
        waste.to_onnx(
            waste.build_pipeline().fit(waste.features_frame([base, prod, dev, base]), [1, 0, 1, 0])
        ),
        "old",
    )
    assert legacy.reference is None and legacy.explain([prod])[1] == [[]]
