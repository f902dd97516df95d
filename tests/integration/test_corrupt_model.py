"""A model version corrupted in the database (bit rot, a bad manual fix) and made active behind
SetModelVersionRole's back: a predictor serving keeps the model it has and says which; one that
starts after it is not ready for that kind and says which version does not load, until an operator
makes a loadable version active again."""

from __future__ import annotations

import time

import grpc
import pytest
import sqlalchemy as sa
from cloudwaste.core.db import Database
from cloudwaste.predictor.kinds.base import TrainedModel
from cloudwaste.predictor.store import PredictorStore
from cloudwaste.predictor.v1 import predictor_service_pb2, predictor_service_pb2_grpc
from google.protobuf import json_format
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.integration.conftest import start_predictor
from tests.unit.test_serving import synthetic_rows, train

FEATURES = {
    "provider": "PROVIDER_AWS",
    "resource_type": "aws.ec2.volume",
    "detection_scenario": "ebs-volume-unattached",
    "confidence_level": "CONFIDENCE_LEVEL_HIGH",
    "cost_monthly": 40.0,
}


def _good_onnx() -> bytes:
    rows, y = synthetic_rows(200, 1)
    return train.to_onnx(train.build_pipeline(1).fit(train.features_frame(rows), y))


def _register(store: PredictorStore, onnx: bytes, activate: bool) -> int:
    run = store.create_training_run("file:///datasets/x", activate=activate)
    model = TrainedModel(
        onnx=onnx, metrics={}, baseline_metrics={}, training_rows=200, test_rows=50, feature_spec={}
    )
    return store.register(run.id, "waste", model, activate)[1].version


def _predict(channel) -> str:
    stub = predictor_service_pb2_grpc.PredictorServiceStub(channel)
    request = json_format.ParseDict({"features": FEATURES}, predictor_service_pb2.PredictWasteRequest())
    return stub.PredictWaste(request, timeout=10).prediction.model_version


def _ready(channel) -> int:
    request = health_pb2.HealthCheckRequest(service="models/waste")
    return health_pb2_grpc.HealthStub(channel).Check(request, timeout=5).status


def test_a_corrupt_active_version_is_never_served_and_says_so(database_url):
    store = PredictorStore(Database(database_url))
    good = _register(store, _good_onnx(), activate=True)
    second = _register(store, _good_onnx(), activate=False)
    running = start_predictor(database_url, model_poll_seconds=0.2)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{running.port}") as ch:
            assert _predict(ch) == f"models/waste/versions/{good}"
            # the second version's bytes rot, and it is made active in SQL, not through the API
            with store.db.transaction() as s:
                s.execute(
                    sa.text(
                        "UPDATE model_versions SET onnx = CASE WHEN version = :v THEN '\\x0807deadbeef'::bytea "
                        "ELSE onnx END, active = (version = :v) WHERE model_kind = 'waste'"
                    ),
                    {"v": second},
                )
            time.sleep(1.0)  # several polls
            assert _predict(ch) == f"models/waste/versions/{good}"  # kept, and the answer says which
            assert _ready(ch) == health_pb2.HealthCheckResponse.SERVING
    finally:
        running.stop(0)

    running = start_predictor(database_url, model_poll_seconds=0.2)  # a restart: nothing loaded yet
    try:
        with grpc.insecure_channel(f"127.0.0.1:{running.port}") as ch:
            assert _ready(ch) == health_pb2.HealthCheckResponse.NOT_SERVING
            with pytest.raises(grpc.RpcError) as refused:
                _predict(ch)
            assert refused.value.code() == grpc.StatusCode.FAILED_PRECONDITION
            assert f"models/waste/versions/{second} is the active waste model but does not load" in (
                refused.value.details()
            )
            stub = predictor_service_pb2_grpc.PredictorServiceStub(ch)
            role = predictor_service_pb2.SetModelVersionRoleRequest
            with pytest.raises(grpc.RpcError) as again:  # the API checks what it activates
                stub.SetModelVersionRole(
                    role(
                        name=f"models/waste/versions/{second}", role=predictor_service_pb2.MODEL_ROLE_ACTIVE
                    ),
                    timeout=10,
                )
            assert again.value.code() == grpc.StatusCode.FAILED_PRECONDITION
            stub.SetModelVersionRole(
                role(name=f"models/waste/versions/{good}", role=predictor_service_pb2.MODEL_ROLE_ACTIVE),
                timeout=10,
            )
            deadline = time.monotonic() + 10
            while _ready(ch) != health_pb2.HealthCheckResponse.SERVING:
                assert time.monotonic() < deadline, "the loadable version was not served again"
                time.sleep(0.1)
            assert _predict(ch) == f"models/waste/versions/{good}"
    finally:
        running.stop(0)
        store.db.dispose()
