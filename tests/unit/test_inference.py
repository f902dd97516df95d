"""Open Inference Protocol tensors in: raw little-endian bytes or typed contents, BYTES elements
with their 4-byte lengths; each mistake names its input. (tritonclient end to end: test_processes.)"""

from __future__ import annotations

import struct

import numpy as np
import pytest
from cloudwaste.core.errors import InvalidArgument
from cloudwaste.predictor.inference import INPUTS, _int_parameter, decode_inputs
from cloudwaste.predictor.v1 import open_inference_pb2 as oip

Tensor = oip.ModelInferRequest.InferInputTensor


def _bytes(*items: str) -> bytes:
    return b"".join(struct.pack("<I", len(x.encode())) + x.encode() for x in items)


def test_raw_contents_of_every_numeric_type_and_bytes():
    request = oip.ModelInferRequest(
        inputs=[
            Tensor(name="provider", datatype="BYTES", shape=[2]),
            Tensor(name="resource_type", datatype="BYTES", shape=[2]),
            Tensor(name="region", datatype="BYTES", shape=[2]),
            Tensor(name="detection_scenario", datatype="BYTES", shape=[2]),
            Tensor(name="confidence_level", datatype="BYTES", shape=[2]),
            Tensor(name="cost_monthly", datatype="INT32", shape=[2]),
            Tensor(name="resource_age_days", datatype="FP32", shape=[2]),
        ],
        raw_input_contents=[
            _bytes("aws", "gcp"),
            _bytes("aws.ec2.volume", "gcp.compute.disk"),
            _bytes("eu-west-1", ""),
            _bytes("ebs-volume-unattached", "gcp-disk-unattached"),
            _bytes("HIGH", "LOW"),
            np.array([12, 7], "<i4").tobytes(),
            np.array([40.5, np.nan], "<f4").tobytes(),
        ],
    )
    got = decode_inputs(request, INPUTS["waste"])
    assert got["provider"] == ["aws", "gcp"] and got["region"] == ["eu-west-1", ""]
    assert got["cost_monthly"].tolist() == [12.0, 7.0] and got["cost_monthly"].dtype == np.float64
    assert got["resource_age_days"][0] == 40.5 and np.isnan(got["resource_age_days"][1])
    assert "tags" not in got  # optional


def test_typed_contents_without_raw():
    request = oip.ModelInferRequest(
        inputs=[
            Tensor(
                name="values",
                datatype="INT64",
                shape=[3],
                contents=oip.InferTensorContents(int64_contents=[1, 2, 3]),
            )
        ]
    )
    assert decode_inputs(request, INPUTS["anomaly"])["values"].tolist() == [1.0, 2.0, 3.0]


@pytest.mark.parametrize(
    ("tensors", "raw", "field"),
    [
        ([Tensor(name="nope", datatype="FP64", shape=[1])], [b"\0" * 8], "inputs[0].name"),
        ([Tensor(name="values", datatype="FP64", shape=[2, 1])], [b"\0" * 16], "inputs.values.shape"),
        ([Tensor(name="values", datatype="UINT8", shape=[1])], [b"\0"], "inputs.values.datatype"),
        ([Tensor(name="values", datatype="FP64", shape=[3])], [b"\0" * 16], "inputs.values"),
        ([Tensor(name="values", datatype="FP64", shape=[1])], [b"\0" * 7], "inputs.values"),
        ([Tensor(name="values", datatype="FP64", shape=[1])], [], "inputs.values"),
        ([], [], "inputs"),
        ([Tensor(name="values", datatype="FP64", shape=[1])], [b"\0" * 8, b""], "raw_input_contents"),
    ],
)
def test_each_mistake_names_its_input(tensors, raw, field):
    request = oip.ModelInferRequest(inputs=tensors, raw_input_contents=raw)
    with pytest.raises(InvalidArgument) as err:
        decode_inputs(request, INPUTS["anomaly"])
    assert err.value.field == field


def test_bytes_that_are_not_length_prefixed_or_not_utf8():
    spec = INPUTS["waste"]
    for raw, problem in [
        (b"\x05\0\0\0ab", "runs past"),
        (b"\x01\0", "truncated"),
        (_bytes("a")[:4] + b"\xff", "UTF-8"),
    ]:
        request = oip.ModelInferRequest(
            inputs=[Tensor(name="provider", datatype="BYTES", shape=[1])], raw_input_contents=[raw]
        )
        with pytest.raises(InvalidArgument, match=problem) as err:
            decode_inputs(request, spec)
        assert err.value.field == "inputs.provider"


def test_inputs_of_different_lengths_are_refused():
    request = oip.ModelInferRequest(
        inputs=[
            Tensor(name="cost_monthly", datatype="FP64", shape=[1]),
            Tensor(name="resource_age_days", datatype="FP64", shape=[2]),
        ],
        raw_input_contents=[b"\0" * 8, b"\0" * 16],
    )
    with pytest.raises(InvalidArgument, match="same length"):
        decode_inputs(request, (INPUTS["waste"][5], INPUTS["waste"][6]))


def test_integer_parameters_in_range():
    request = oip.ModelInferRequest()
    assert _int_parameter(request, "horizon_months", 3, 1, 6) == 3
    request.parameters["horizon_months"].int64_param = 5
    assert _int_parameter(request, "horizon_months", 3, 1, 6) == 5
    request.parameters["horizon_months"].string_param = "6"
    assert _int_parameter(request, "horizon_months", 3, 1, 6) == 6
    for bad in ("int64_param", "string_param", "bool_param"):
        request.parameters["horizon_months"].Clear()
        setattr(
            request.parameters["horizon_months"],
            bad,
            {"int64_param": 10**12, "string_param": "x"}.get(bad, True),
        )
        with pytest.raises(InvalidArgument) as err:
            _int_parameter(request, "horizon_months", 3, 1, 6)
        assert err.value.field == "parameters.horizon_months"
