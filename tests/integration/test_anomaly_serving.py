"""Anomaly scores over real gRPC: a series in, scores out, and the streaming variant that keeps one
detector per series. Both answer the same scores, causally, and bad input names its field."""

from __future__ import annotations

import math
import threading

import grpc
import numpy as np
import pytest
from cloudwaste.predictor.v1 import predictor_service_pb2 as pb

from tests.conftest import fresh_database
from tests.integration.conftest import serve_predictor


@pytest.fixture(scope="module")
def predictor(pg_cluster):
    with fresh_database(pg_cluster) as url:
        yield from serve_predictor(url, max_workers=4)  # two anomaly streams at most


def cpu_series(n: int, seed: int, spike_at: int | None = None, shift_at: int | None = None) -> np.ndarray:
    """A CPU-like series at 5-minute points: a daily cycle and noise, optionally a spike or a new level."""
    rng = np.random.default_rng(seed)
    t = np.arange(n)
    x = 30 + 10 * np.sin(2 * np.pi * t / 288) + rng.normal(0, 2, n)
    if spike_at is not None:
        x[spike_at] += 60
    if shift_at is not None:
        x[shift_at:] += 40
    return np.clip(x, 0, 100)


def test_a_series_in_scores_out_causal_with_the_anomaly_scored_highest(predictor):
    x = cpu_series(3000, seed=1, shift_at=2400)
    x[100] = math.nan  # a missing point
    got = predictor.ScoreAnomalies(pb.ScoreAnomaliesRequest(values=x.tolist()), timeout=10)
    scores = np.array(got.scores)
    assert len(scores) == len(x) and got.model_version == "models/anomaly/versions/0"
    assert scores.min() >= 0 and scores.max() <= 100 and scores[100] == 0
    assert 2400 <= int(np.argmax(scores)) < 2420  # the shift, found within 100 minutes
    assert scores[2000:2400].max() < scores[2400:2420].max()
    assert got.overall_score == pytest.approx(scores.max())

    prefix = predictor.ScoreAnomalies(pb.ScoreAnomaliesRequest(values=x[:2405].tolist()), timeout=10)
    assert np.allclose(prefix.scores, scores[:2405])  # later points never change earlier scores


def test_the_stream_scores_each_series_as_the_batch_does_and_never_mixes_them(predictor):
    a, b = cpu_series(600, seed=2, spike_at=500), cpu_series(600, seed=3) * 3
    requests = []
    for va, vb in zip(a, b, strict=True):  # interleaved, as live points arrive
        requests += [
            pb.StreamAnomalyScoresRequest(series_key="i-a", value=va),
            pb.StreamAnomalyScoresRequest(series_key="i-b", value=vb),
        ]
    answers = list(predictor.StreamAnomalyScores(iter(requests), timeout=30))
    assert len(answers) == len(requests)
    for key, series in (("i-a", a), ("i-b", b)):
        mine = [r for r in answers if r.series_key == key]
        assert [r.index for r in mine] == list(range(len(series)))
        batch = predictor.ScoreAnomalies(pb.ScoreAnomaliesRequest(values=series.tolist()), timeout=10)
        assert np.allclose([r.score for r in mine], batch.scores, atol=1e-6)


def test_bad_input_names_the_field(predictor):
    cases = [
        (pb.ScoreAnomaliesRequest(values=[]), "values"),
        (pb.ScoreAnomaliesRequest(values=[1.0, math.inf, 2.0]), "values[1]"),
        (pb.ScoreAnomaliesRequest(values=[0.0] * 100_001), "values"),
    ]
    for request, field in cases:
        with pytest.raises(grpc.RpcError) as err:
            predictor.ScoreAnomalies(request, timeout=10)
        assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and field in err.value.details()

    bad = [
        pb.StreamAnomalyScoresRequest(series_key="ok", value=1.0),
        pb.StreamAnomalyScoresRequest(series_key="", value=1.0),
    ]
    stream = predictor.StreamAnomalyScores(iter(bad), timeout=10)
    assert next(stream).index == 0  # the good point was answered before the bad one ended the stream
    with pytest.raises(grpc.RpcError) as err:
        next(stream)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "series_key" in err.value.details()

    with pytest.raises(grpc.RpcError) as err:
        predictor.TrainModels(
            pb.TrainModelsRequest(dataset_uri="file:///x", model_kind="anomaly"), timeout=10
        )
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "not trained" in err.value.details()
    with pytest.raises(grpc.RpcError) as err:
        predictor.ListModelVersions(pb.ListModelVersionsRequest(model_kind="forecastt"), timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "model_kind" in err.value.details()


def test_open_streams_are_capped_so_unary_calls_keep_a_thread(predictor):
    release = threading.Event()

    def held():
        yield pb.StreamAnomalyScoresRequest(series_key="s", value=1.0)
        release.wait(20)

    open_streams = [predictor.StreamAnomalyScores(held(), timeout=30) for _ in range(2)]
    for s in open_streams:
        assert next(s).index == 0  # both streams are open and holding a server thread
    try:
        with pytest.raises(grpc.RpcError) as err:
            next(predictor.StreamAnomalyScores(held(), timeout=10))
        assert err.value.code() == grpc.StatusCode.RESOURCE_EXHAUSTED
        # a unary call still has a thread
        assert predictor.ScoreAnomalies(pb.ScoreAnomaliesRequest(values=[1.0, 2.0]), timeout=5).scores
    finally:
        release.set()
    for s in open_streams:
        assert list(s) == []
    # closed streams give their slots back
    assert next(
        predictor.StreamAnomalyScores(iter([pb.StreamAnomalyScoresRequest(series_key="s")]), timeout=10)
    )
