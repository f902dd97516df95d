"""Files that are not what they should be give a status a user can act on, never INTERNAL: a dataset
holding a file that is not Parquet fails its training run FAILED_PRECONDITION, naming what to fix
(tests/unit/test_storage.py: a folder storage may not write is FAILED_PRECONDITION too)."""

from __future__ import annotations

import pytest
from cloudwaste.core.db import Database
from cloudwaste.core.errors import CODES, FailedPrecondition
from cloudwaste.predictor.settings import PredictorSettings
from cloudwaste.predictor.store import PredictorStore
from cloudwaste.predictor.training import Trainer


def test_a_dataset_file_that_is_not_parquet_fails_the_run_failed_precondition(database_url, tmp_path):
    junk = tmp_path / "exports" / "junk"
    junk.mkdir(parents=True)
    bad = junk / "ml_training_data-0001.parquet"
    bad.write_bytes(b"PAR1 but not really, just text\n" * 10)
    settings = PredictorSettings(database_url=database_url, dataset_root=str(tmp_path / "exports"))
    store = PredictorStore(Database(database_url))
    trainer = Trainer(store, None, settings)
    with pytest.raises(FailedPrecondition, match="not a Parquet export"):
        trainer.train_now(bad.as_uri(), activate=False)
    (run,) = [r for r, _ in store.list_training_runs(10, "")[0] if r.dataset_uri == bad.as_uri()]
    assert run.state == "FAILED" and run.error_code == CODES["FAILED_PRECONDITION"]
    assert "not a Parquet export" in run.error_message and "Arrow" not in run.error_message
    store.db.dispose()


def test_a_trained_model_that_does_not_load_is_never_registered(database_url, tmp_path, monkeypatch):
    """As the predictor would load it, before it becomes a version: a model ONNX Runtime refuses
    fails its run and leaves the active version as it was."""
    from cloudwaste.predictor import kinds
    from cloudwaste.predictor.kinds.base import TrainedModel

    data = tmp_path / "exports" / "ok"
    data.mkdir(parents=True)
    (data / "ml_training_data-0001.parquet").write_bytes(b"never read: training is replaced below")
    broken = TrainedModel(
        onnx=b"\x08\x07 not an ONNX graph",
        metrics={},
        baseline_metrics={},
        training_rows=1,
        test_rows=1,
        feature_spec={},
    )
    monkeypatch.setattr(kinds.get("waste"), "train", lambda sources: broken)
    settings = PredictorSettings(database_url=database_url, dataset_root=str(tmp_path / "exports"))
    store = PredictorStore(Database(database_url))
    before = [v.id for v in store.list_versions("waste", 1000, "")[0]]
    with pytest.raises(FailedPrecondition, match="does not load in ONNX Runtime"):
        Trainer(store, None, settings).train_now((data / "ml_training_data-0001.parquet").as_uri())
    uri = (data / "ml_training_data-0001.parquet").as_uri()
    (run,) = [r for r, mv in store.list_training_runs(10, "")[0] if r.dataset_uri == uri]
    assert run.state == "FAILED" and run.error_code == CODES["FAILED_PRECONDITION"]
    assert [v.id for v in store.list_versions("waste", 1000, "")[0]] == before  # nothing registered
    store.db.dispose()
