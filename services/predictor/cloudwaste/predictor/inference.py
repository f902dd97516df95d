"""The Open Inference Protocol v2 (KServe / Triton `inference.GRPCInferenceService`) over the same
models: a protocol adapter, nothing else.

A model is a model kind and its version the kind's live version ("0": the built-in one). Each
kind's tensors map onto the PredictorService request it already answers, so validation, limits,
metrics and answers are those of PredictWasteBatch, ScoreAnomalies and ForecastCost:

| model | inputs | outputs |
|---|---|---|
| waste | provider, resource_type, region, detection_scenario, confidence_level (BYTES [n]); cost_monthly (FP64 [n]); optional resource_age_days (FP64 [n], NaN: unknown), tags (BYTES [n], a JSON object each) | waste_probability, expected_monthly_saving (FP64 [n]) |
| anomaly | values (FP64 [n], NaN: missing) | scores (FP64 [n]), overall_score (FP64 [1]) |
| forecast | monthly_spend (FP64 [n], NaN: unknown); parameter horizon_months (1-6, default 3) | amount, lower, upper (FP64 [h]) |

Numeric inputs may come as FP32, FP64, INT32 or INT64, in `contents` or `raw_input_contents`;
outputs are sent as `raw_output_contents`, as Triton does.
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from cloudwaste.core.errors import InvalidArgument, NotFound
from cloudwaste.core.protoconv import confidence_enum, provider_enum
from cloudwaste.predictor import kinds
from cloudwaste.predictor.servicer import PredictorServicer
from cloudwaste.predictor.serving import ServedModels
from cloudwaste.predictor.v1 import open_inference_pb2 as oip
from cloudwaste.predictor.v1 import open_inference_pb2_grpc, prediction_pb2
from cloudwaste.predictor.v1 import predictor_service_pb2 as pb

PLATFORM = {"waste": "onnxruntime_onnx"}  # the others: "cloudwaste_builtin"
MAX_WASTE_BATCH = 1000  # PredictWasteBatch's limit; larger inputs go in several calls

_NUMERIC = {"FP64": "<f8", "FP32": "<f4", "INT64": "<i8", "INT32": "<i4"}
_CONTENTS = {
    "FP64": "fp64_contents",
    "FP32": "fp32_contents",
    "INT64": "int64_contents",
    "INT32": "int_contents",
}


@dataclass(frozen=True)
class Tensor:
    name: str
    datatype: str  # "FP64" (any numeric type accepted as input) or "BYTES"
    required: bool = True

    def metadata(self) -> oip.ModelMetadataResponse.TensorMetadata:
        return oip.ModelMetadataResponse.TensorMetadata(name=self.name, datatype=self.datatype, shape=[-1])


WASTE_TEXT = ("provider", "resource_type", "region", "detection_scenario", "confidence_level")
INPUTS = {
    "waste": (
        *(Tensor(n, "BYTES") for n in WASTE_TEXT),
        Tensor("cost_monthly", "FP64"),
        Tensor("resource_age_days", "FP64", required=False),
        Tensor("tags", "BYTES", required=False),
    ),
    "anomaly": (Tensor("values", "FP64"),),
    "forecast": (Tensor("monthly_spend", "FP64"),),
}
OUTPUTS = {
    "waste": (Tensor("waste_probability", "FP64"), Tensor("expected_monthly_saving", "FP64")),
    "anomaly": (Tensor("scores", "FP64"), Tensor("overall_score", "FP64")),
    "forecast": (Tensor("amount", "FP64"), Tensor("lower", "FP64"), Tensor("upper", "FP64")),
}


def _bytes_elements(raw: bytes, field: str) -> list[bytes]:
    """BYTES tensor data: each element a 4-byte little-endian length, then its bytes."""
    out, at = [], 0
    while at < len(raw):
        if at + 4 > len(raw):
            raise InvalidArgument(field, "is not BYTES tensor data (a truncated length)")
        (size,) = struct.unpack_from("<I", raw, at)
        at += 4
        if at + size > len(raw):
            raise InvalidArgument(field, "is not BYTES tensor data (an element runs past the end)")
        out.append(raw[at : at + size])
        at += size
    return out


def decode_inputs(request: oip.ModelInferRequest, expected: tuple[Tensor, ...]) -> dict[str, object]:
    """{name: float64 array or list of str} of the request's inputs, checked against `expected`."""
    known = {t.name: t for t in expected}
    raw = list(request.raw_input_contents)
    if raw and len(raw) != len(request.inputs):
        raise InvalidArgument(
            "raw_input_contents", f"holds {len(raw)} tensors for {len(request.inputs)} inputs"
        )
    out: dict[str, object] = {}
    for i, tensor in enumerate(request.inputs):
        field = f"inputs.{tensor.name}"
        spec = known.get(tensor.name)
        if spec is None:
            raise InvalidArgument(
                f"inputs[{i}].name", f"{tensor.name!r} is not an input; one of: {', '.join(known)}"
            )
        if len(tensor.shape) != 1 or tensor.shape[0] < 0:
            raise InvalidArgument(f"{field}.shape", f"must be one dimension [n] (got {list(tensor.shape)})")
        n = tensor.shape[0]
        if spec.datatype == "BYTES":
            if tensor.datatype != "BYTES":
                raise InvalidArgument(f"{field}.datatype", f"must be BYTES (got {tensor.datatype!r})")
            elements = _bytes_elements(raw[i], field) if raw else list(tensor.contents.bytes_contents)
            try:
                value: object = [e.decode() for e in elements]
            except UnicodeDecodeError:
                raise InvalidArgument(field, "must be UTF-8 text") from None
            count = len(elements)
        else:
            dtype = _NUMERIC.get(tensor.datatype)
            if dtype is None:
                raise InvalidArgument(
                    f"{field}.datatype", f"must be one of {', '.join(_NUMERIC)} (got {tensor.datatype!r})"
                )
            if raw:
                if len(raw[i]) % np.dtype(dtype).itemsize:
                    raise InvalidArgument(
                        field, f"raw data is not a whole number of {tensor.datatype} values"
                    )
                array = np.frombuffer(raw[i], dtype=dtype)
            else:
                array = np.asarray(getattr(tensor.contents, _CONTENTS[tensor.datatype]), dtype=dtype)
            value = array.astype(np.float64)
            count = array.size
        if count != n:
            raise InvalidArgument(field, f"holds {count} elements for shape [{n}]")
        out[tensor.name] = value
    for spec in expected:
        if spec.required and spec.name not in out:
            raise InvalidArgument("inputs", f"{spec.name!r} ({spec.datatype}) is required")
    lengths = {name: len(v) for name, v in out.items()}  # type: ignore[arg-type]
    if len(set(lengths.values())) > 1:
        raise InvalidArgument("inputs", f"must all have the same length (got {lengths})")
    return out


def _int_parameter(request: oip.ModelInferRequest, name: str, default: int, low: int, high: int) -> int:
    if name not in request.parameters:
        return default
    p = request.parameters[name]
    kind = p.WhichOneof("parameter_choice")
    value = None
    if kind in ("int64_param", "uint64_param"):
        value = int(getattr(p, kind))
    elif kind == "string_param" and re.fullmatch(r"-?\d{1,9}", p.string_param):
        value = int(p.string_param)
    if value is None or not low <= value <= high:
        raise InvalidArgument(f"parameters.{name}", f"must be an integer from {low} to {high}")
    return value


_FEATURES_FIELD = re.compile(r"features\[(\d+)\]\.(\w+)")


def _waste(servicer: PredictorServicer, inputs: dict, request) -> dict[str, np.ndarray]:
    n = len(inputs["cost_monthly"])
    age = inputs.get("resource_age_days")
    tags = inputs.get("tags")
    probabilities, savings = np.empty(n), np.empty(n)
    for start in range(0, n, MAX_WASTE_BATCH):
        features = []
        for i in range(start, min(n, start + MAX_WASTE_BATCH)):
            f = prediction_pb2.WasteFeatures(
                provider=provider_enum(inputs["provider"][i]),
                resource_type=inputs["resource_type"][i],
                region=inputs["region"][i],
                detection_scenario=inputs["detection_scenario"][i],
                confidence_level=confidence_enum(inputs["confidence_level"][i]),
                cost_monthly=inputs["cost_monthly"][i],
            )
            if age is not None and not np.isnan(age[i]):
                f.resource_age_days = age[i]
            if tags is not None and tags[i]:
                try:
                    parsed = json.loads(tags[i])
                except ValueError:
                    parsed = None
                if not isinstance(parsed, dict):
                    raise InvalidArgument(f"inputs.tags[{i}]", "must be a JSON object of tag keys and values")
                f.tags.update({str(k): str(v) for k, v in parsed.items()})
            features.append(f)
        try:
            answer = servicer.PredictWasteBatch(pb.PredictWasteBatchRequest(features=features), None)
        except InvalidArgument as exc:  # features[i].field -> inputs.field[start + i]
            m = _FEATURES_FIELD.fullmatch(exc.field)
            if m is None:
                raise
            raise InvalidArgument(f"inputs.{m[2]}[{start + int(m[1])}]", exc.problem) from None
        for j, p in enumerate(answer.predictions):
            probabilities[start + j], savings[start + j] = p.waste_probability, p.expected_monthly_saving
    return {"waste_probability": probabilities, "expected_monthly_saving": savings}


def _anomaly(servicer: PredictorServicer, inputs: dict, request) -> dict[str, np.ndarray]:
    try:
        answer = servicer.ScoreAnomalies(pb.ScoreAnomaliesRequest(values=inputs["values"]), None)
    except InvalidArgument as exc:
        raise InvalidArgument(f"inputs.{exc.field}", exc.problem) from None
    return {"scores": np.asarray(answer.scores), "overall_score": np.asarray([answer.overall_score])}


def _forecast(servicer: PredictorServicer, inputs: dict, request) -> dict[str, np.ndarray]:
    horizon = _int_parameter(request, "horizon_months", 3, 1, 6)
    # the protocol's tensors carry amounts, not months, and the answer's months are not returned:
    # any first month serves (daily_amounts have no tensor here)
    spend = prediction_pb2.MonthlySpend(first_month="2000-01", amounts=inputs["monthly_spend"])
    try:
        answer = servicer.ForecastCost(pb.ForecastCostRequest(spend=spend, horizon_months=horizon), None)
    except InvalidArgument as exc:  # spend.amounts[i] -> inputs.monthly_spend[i]
        field = exc.field.replace("spend.amounts", "inputs.monthly_spend").replace(
            "horizon_months", "parameters.horizon_months"
        )
        raise InvalidArgument(field, exc.problem) from None
    return {
        "amount": np.asarray([m.amount for m in answer.months]),
        "lower": np.asarray([m.lower for m in answer.months]),
        "upper": np.asarray([m.upper for m in answer.months]),
    }


INFER: dict[str, Callable] = {"waste": _waste, "anomaly": _anomaly, "forecast": _forecast}


def _raw(values: np.ndarray) -> bytes:
    return np.ascontiguousarray(values, dtype="<f8").tobytes()


class InferenceServicer(open_inference_pb2_grpc.GRPCInferenceServiceServicer):
    def __init__(self, servicer: PredictorServicer, models: ServedModels, version: str) -> None:
        self.servicer, self.models, self.version = servicer, models, version

    def _kind(self, name: str, field: str = "model_name") -> str:
        if name not in INFER or name not in kinds.KINDS:
            raise NotFound(f"{field} {name[:64]!r} is not a model here; the models are: {', '.join(INFER)}")
        return name

    def _served_version(self, kind: str) -> str | None:
        holder = self.models.holders[kind]
        return holder.model.name.rsplit("/", 1)[-1] if holder.ready else None

    def ServerLive(self, request, context):
        return oip.ServerLiveResponse(live=True)

    def ServerReady(self, request, context):
        return oip.ServerReadyResponse(ready=all(self.models.holders[k].ready for k in INFER))

    def ModelReady(self, request, context):
        served = self._served_version(self._kind(request.name, "name"))
        return oip.ModelReadyResponse(ready=served is not None and request.version in ("", served))

    def ServerMetadata(self, request, context):
        return oip.ServerMetadataResponse(name="cloudwaste-predictor", version=self.version, extensions=[])

    def ModelMetadata(self, request, context):
        kind = self._kind(request.name, "name")
        served = self._served_version(kind)
        if request.version and request.version != served:
            raise NotFound(
                f"version {request.version[:16]!r} of model {kind!r} is not served (served: {served})"
            )
        return oip.ModelMetadataResponse(
            name=kind,
            versions=[served] if served is not None else [],
            platform=PLATFORM.get(kind, "cloudwaste_builtin"),
            inputs=[t.metadata() for t in INPUTS[kind]],
            outputs=[t.metadata() for t in OUTPUTS[kind]],
        )

    def ModelInfer(self, request, context):
        kind = self._kind(request.model_name)
        model = self.models.model(kind)  # FAILED_PRECONDITION when the kind has no model yet
        served = model.name.rsplit("/", 1)[-1]
        if request.model_version and request.model_version != served:
            raise NotFound(
                f"model_version {request.model_version[:16]!r} of {kind!r} is not served (served: {served})"
            )
        produced = INFER[kind](self.servicer, decode_inputs(request, INPUTS[kind]), request)
        names = [o.name for o in request.outputs] or [t.name for t in OUTPUTS[kind]]
        for i, name in enumerate(names):
            if name not in produced:
                raise InvalidArgument(
                    f"outputs[{i}].name", f"{name!r} is not an output; one of: {', '.join(produced)}"
                )
        return oip.ModelInferResponse(
            model_name=kind,
            model_version=served,
            id=request.id,
            outputs=[
                oip.ModelInferResponse.InferOutputTensor(name=n, datatype="FP64", shape=[len(produced[n])])
                for n in names
            ],
            raw_output_contents=[_raw(produced[n]) for n in names],
        )
