"""A finding as the API shows it (the Finding message), and its serialized form kept beside it.

Every write of a finding stores `listed_pb`: the Finding message as ListFindings returns it,
serialized, without what other rows decide (the cost of its parts). A page is then those bytes
with the parts' cost appended: no JSON to decode, no message to build per finding. A protobuf
message merges by concatenation, so appending an encoded field that the stored bytes lack sets it.

The database keeps it honest: an UPDATE that changes a finding without writing a new `listed_pb`
clears it (trigger `findings_listed_pb_stale`, migration 0028), and a page renders such a finding
from its columns, as it does one whose ignore expired since.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal
from types import SimpleNamespace

from cloudwaste.common.v1 import confidence_pb2
from cloudwaste.core import names
from cloudwaste.core.protoconv import money, provider_enum, timestamp
from cloudwaste.scanner.v1 import finding_pb2
from google.protobuf import struct_pb2

# What a write leaves to the columns' defaults, as the row then reads
INSERT_DEFAULTS = {
    "version": 1,
    "observation_count": 1,
    "state_change_time": None,
    "ignore_expire_time": None,
    "resolve_reason": None,
    "resolve_scan_run_id": None,
    "waste_probability": None,
    "expected_monthly_saving": None,
    "prediction": None,
}
_CENT_FRACTION = Decimal("0.0001")  # Numeric(14, 4): what PostgreSQL keeps of a cost


def stored_cost(amount) -> Decimal:
    """A cost as a Numeric(14, 4) column keeps it (PostgreSQL rounds halves away from zero)."""
    return Decimal(str(amount)).quantize(_CENT_FRACTION, rounding=ROUND_HALF_UP)


def etag(finding) -> str:
    return f"v{finding.version}"


def finding_pb(f) -> finding_pb2.Finding:
    """The Finding message of a finding (a row, an ORM instance or any object with its columns);
    with its parts' cost when it carries `parts_monthly_cost`."""
    evidence = struct_pb2.Struct()
    evidence.update(f.evidence or {})  # a quarter of ParseDict's time, the same message
    parts = getattr(f, "parts_monthly_cost", None)
    return finding_pb2.Finding(
        name=names.format("findings", f.id),
        resource_name=f.resource_id,
        resource_type=f.resource_type,
        provider=provider_enum(f.provider),
        region=f.region,
        location=getattr(f, "location", None) or "",
        category=f.scenario,
        severity=finding_pb2.Severity.Value(f"SEVERITY_{f.severity}"),
        confidence=confidence_pb2.ConfidenceLevel.Value(f"CONFIDENCE_LEVEL_{f.confidence}"),
        state=finding_pb2.FindingState.Value(f"FINDING_STATE_{f.state}"),
        monthly_cost=money(f.monthly_cost, f.currency),
        evidence=evidence,
        event_time=timestamp(f.event_time),
        create_time=timestamp(f.create_time),
        scan_run=names.format("scanRuns", f.last_scan_run_id),
        cloud_account=names.format("cloudAccounts", f.cloud_account_id),
        resource_display_name=f.resource_display_name or "",
        state_change_time=timestamp(f.state_change_time),
        resource_create_time=timestamp(f.resource_create_time),
        resource_labels={str(k): str(v) for k, v in (f.tags or {}).items()},
        etag=etag(f),
        resolve_reason=finding_pb2.ResolveReason.Value(f"RESOLVE_REASON_{f.resolve_reason}")
        if f.resolve_reason
        else finding_pb2.RESOLVE_REASON_UNSPECIFIED,
        resolve_scan_run=names.format("scanRuns", f.resolve_scan_run_id) if f.resolve_scan_run_id else "",
        ignore_expire_time=timestamp(f.ignore_expire_time),
        parent_finding=names.format("findings", f.parent_finding_id) if f.parent_finding_id else "",
        parts_monthly_cost=money(parts, f.currency) if parts is not None else None,
        observation_count=f.observation_count,
        prediction=_prediction_pb(f),
    )


def _prediction_pb(f) -> finding_pb2.FindingPrediction | None:
    said = getattr(f, "prediction", None)
    if getattr(f, "waste_probability", None) is None or not said:
        return None
    return finding_pb2.FindingPrediction(
        waste_probability=f.waste_probability,
        expected_monthly_saving=money(f.expected_monthly_saving, f.currency),
        model_version=said.get("model_version", ""),
        predict_time=timestamp(dt.datetime.fromisoformat(said["predict_time"]))
        if "predict_time" in said
        else None,
        top_features=[
            finding_pb2.FindingPrediction.Reason(feature=name, value=value, contribution=moved)
            for name, value, moved in said.get("top_features", [])
        ],
    )


def listed_pb(f) -> bytes:
    """`listed_pb` of a finding as stored: its Finding message, serialized, without its parts'
    cost (a write of one finding does not know its parts')."""
    return finding_pb(SimpleNamespace(**{**_columns(f), "parts_monthly_cost": None})).SerializeToString()


def written(values: dict, before=None) -> SimpleNamespace:
    """The finding a write leaves: the row `before` it (None for an insert) with `values` set."""
    base = _columns(before) if before is not None else dict(INSERT_DEFAULTS)
    return SimpleNamespace(**(base | values))


def with_parts(listed: bytes, parts_cost, currency: str) -> bytes:
    """The stored bytes with the parts' cost set (a field they never hold: appending sets it)."""
    if parts_cost is None:
        return listed
    return listed + finding_pb2.Finding(parts_monthly_cost=money(parts_cost, currency)).SerializeToString()


def _columns(f) -> dict:
    if isinstance(f, SimpleNamespace):
        return dict(vars(f))
    if isinstance(f, Mapping):
        return dict(f)
    return {c: getattr(f, c) for c in _SHOWN}


_SHOWN = (
    "id",
    "resource_id",
    "resource_type",
    "provider",
    "region",
    "location",
    "scenario",
    "severity",
    "confidence",
    "state",
    "monthly_cost",
    "currency",
    "evidence",
    "event_time",
    "create_time",
    "last_scan_run_id",
    "cloud_account_id",
    "resource_display_name",
    "state_change_time",
    "resource_create_time",
    "tags",
    "version",
    "resolve_reason",
    "resolve_scan_run_id",
    "ignore_expire_time",
    "parent_finding_id",
    "observation_count",
    "waste_probability",
    "expected_monthly_saving",
    "prediction",
)
