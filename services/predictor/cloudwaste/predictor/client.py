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
