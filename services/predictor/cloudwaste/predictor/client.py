"""What a client sends PredictWaste for a scanner finding: the one mapping from a `Finding` to
`WasteFeatures`, so that the web application, the demo and the tests build requests alike.

tests/unit/test_feature_parity.py sends one finding through this path and through the training
path (ML row -> export -> `waste_row`) and asserts the same feature row.
"""

from __future__ import annotations

from cloudwaste.core.protoconv import money_amount
from cloudwaste.predictor.v1 import prediction_pb2


def waste_features(finding) -> prediction_pb2.WasteFeatures:
    """`finding` is a cloudwaste.scanner.v1.Finding as ListFindings returns it."""
    features = prediction_pb2.WasteFeatures(
        provider=finding.provider,
        resource_type=finding.resource_type,
        region=finding.region,
        detection_scenario=finding.category,
        confidence_level=finding.confidence,
        cost_monthly=float(money_amount(finding.monthly_cost)),
        tags=dict(finding.resource_labels),
    )
    if finding.HasField("resource_create_time"):  # unknown age stays unset, never 0
        seen, created = finding.event_time.ToDatetime(), finding.resource_create_time.ToDatetime()
        features.resource_age_days = max(0.0, (seen - created).total_seconds() / 86400.0)
    return features


def wait_for_training(stub, run, timeout: float = 600.0, poll: float = 0.2):
    """Polls GetTrainingRun until the run has ended; returns it (SUCCEEDED or FAILED).
    Raises TimeoutError when it has not ended within `timeout` seconds."""
    import time

    from cloudwaste.predictor.v1 import predictor_service_pb2, training_run_pb2

    waiting = (training_run_pb2.TRAINING_RUN_STATE_PENDING, training_run_pb2.TRAINING_RUN_STATE_RUNNING)
    deadline = time.monotonic() + timeout
    while run.state in waiting:
        if time.monotonic() > deadline:
            raise TimeoutError(f"{run.name} has not ended after {timeout:.0f} s")
        time.sleep(poll)
        run = stub.GetTrainingRun(
            predictor_service_pb2.GetTrainingRunRequest(name=run.name), timeout=10
        ).training_run
    return run


def wait_for_serving(stub, model_version: str, features, timeout: float = 60.0, poll: float = 0.1):
    """Polls PredictWaste until the predictor answers with `model_version` (it picks up a newly
    activated model on its next poll); returns that prediction."""
    import time

    import grpc
    from cloudwaste.predictor.v1 import predictor_service_pb2

    deadline = time.monotonic() + timeout
    while True:
        try:
            p = stub.PredictWaste(
                predictor_service_pb2.PredictWasteRequest(features=features), timeout=10
            ).prediction
            if p.model_version == model_version:
                return p
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.FAILED_PRECONDITION:  # no model yet
                raise
        if time.monotonic() > deadline:
            raise TimeoutError(f"the predictor does not serve {model_version} after {timeout:.0f} s")
        time.sleep(poll)
