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
