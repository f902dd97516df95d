"""The scanner scores each scan's findings with the waste model when the scan ends, and never lets
the predictor hold a scan back: with no predictor answering (or no model yet: test_pipeline) the
scan ends as it would have, its findings unscored and counted as such. Scored findings and the
order by expected saving: test_pipeline."""

from __future__ import annotations

import dataclasses
import uuid

import grpc
from cloudwaste.core.errors import Unavailable
from cloudwaste.core.server import create_server
from cloudwaste.scanner.v1 import scan_run_pb2, scanner_service_pb2_grpc
from cloudwaste.scanner.worker import PREDICT_BATCH, ScanWorker
from prometheus_client import REGISTRY


def _scored(result: str) -> float:
    return REGISTRY.get_sample_value("cloudwaste_scanner_findings_scored_total", {"result": result}) or 0.0


def test_a_predictor_that_does_not_answer_never_holds_a_scan_back(stack):
    from cloudwaste.scanner.server import build_app

    settings = dataclasses.replace(
        stack.settings["scanner"], predictor_address="127.0.0.1:9"
    )  # nothing there
    # the stack's own scanner (whose predictor answers) must not be the one that takes the run
    stack.running.pop("scanner").stop(0)
    running = create_server(settings, build_app(settings))
    channel = grpc.insecure_channel(f"127.0.0.1:{running.port}")
    try:
        scanner = scanner_service_pb2_grpc.ScannerServiceStub(channel)
        before = _scored("failed")
        stack_with_it = dataclasses.replace(stack, scanner=scanner)
        account = stack_with_it.create_account()
        run = stack_with_it.scan(account.name, timeout=60)
        assert run.state == scan_run_pb2.SCAN_RUN_STATE_SUCCEEDED
        assert _scored("failed") - before >= run.findings_count > 0
        assert not any(f.HasField("prediction") for f in stack_with_it.findings(scan_run=run.name))
    finally:
        channel.close()
        running.stop(0)


class _Store:
    def __init__(self, n: int) -> None:
        self.items = [(uuid.uuid4(), {"cost_monthly": 10.0}) for _ in range(n)]
        self.saved: list = []

    def findings_to_score(self, run_id):
        return self.items

    def save_predictions(self, predictions):
        self.saved += predictions


def test_a_batch_that_fails_keeps_the_batches_scored_before_it():
    calls = []

    def score(rows):
        calls.append(len(rows))
        if len(calls) == 3:
            raise Unavailable("the predictor went away")
        return [(0.5, 5.0, "models/waste/versions/1", [["tag_environment", "dev", 0.2]]) for _ in rows]

    store = _Store(2 * PREDICT_BATCH + 10)
    worker = ScanWorker(store, engine=None, notify=None, score=score)
    assert worker.score_findings(uuid.uuid4()) == 2 * PREDICT_BATCH
    assert calls == [PREDICT_BATCH, PREDICT_BATCH, 10]
    assert [s[0] for s in store.saved] == [fid for fid, _ in store.items[: 2 * PREDICT_BATCH]]
    _fid, p, saving, said = store.saved[0]
    assert (p, saving, said["model_version"], said["top_features"]) == (
        0.5,
        5.0,
        "models/waste/versions/1",
        [["tag_environment", "dev", 0.2]],
    )
    assert said["predict_time"].endswith("+00:00")


def test_no_predictor_configured_or_nothing_to_score_calls_nothing():
    calls = []
    assert ScanWorker(_Store(5), engine=None, notify=None, score=None).score_findings(uuid.uuid4()) == 0
    worker = ScanWorker(_Store(0), engine=None, notify=None, score=lambda rows: calls.append(rows) or [])
    assert worker.score_findings(uuid.uuid4()) == 0 and calls == []
