"""The text check every request passes in the server's interceptor: length and characters, with the
field named the way a client reads it."""

from __future__ import annotations

import pytest
from cloudwaste.core.errors import InvalidArgument
from cloudwaste.core.textcheck import MAX_CHARS, check
from cloudwaste.predictor.v1 import open_inference_pb2, predictor_service_pb2
from cloudwaste.scanner.v1 import cloud_account_pb2, scanner_service_pb2


def _account(**aws) -> scanner_service_pb2.CreateCloudAccountRequest:
    access = {"role_arn": "arn:aws:iam::123456789012:role/ro", "external_id": "ext-1234"} | aws
    return scanner_service_pb2.CreateCloudAccountRequest(
        cloud_account=cloud_account_pb2.CloudAccount(
            display_name="Prod — café ☁️\twith a tab\nand a line", aws=cloud_account_pb2.AwsAccess(**access)
        )
    )


def test_ordinary_text_passes_whatever_its_script():
    check(_account())
    check(scanner_service_pb2.GetCloudAccountRequest(name="x" * MAX_CHARS))


@pytest.mark.parametrize(
    ("request_", "field", "says"),
    [
        (_account(external_id="a\x00b"), "cloud_account.aws.external_id", "U+0000"),
        (_account(role_arn="\u202eevil"), "cloud_account.aws.role_arn", "U+202E"),
        (_account(external_id="\x1b[31m"), "cloud_account.aws.external_id", "U+001B"),
        (
            scanner_service_pb2.GetCloudAccountRequest(name="x" * (MAX_CHARS + 1)),
            "name",
            f"is {MAX_CHARS + 1:,} characters long",
        ),
        (
            scanner_service_pb2.StartScanRequest(
                cloud_account="cloudAccounts/x", regions=["eu-west-1", "\x00"]
            ),
            "regions[1]",
            "U+0000",
        ),
        (
            predictor_service_pb2.PredictWasteBatchRequest(
                features=[{"resource_type": "aws.ec2.volume"}, {"region": "eu\x07"}]
            ),
            "features[1].region",
            "U+0007",
        ),
        (
            open_inference_pb2.ModelInferRequest(
                model_name="waste",
                parameters={"note": open_inference_pb2.InferParameter(string_param="\x00")},
            ),
            "parameters['note'].string_param",
            "U+0000",
        ),
        (
            open_inference_pb2.ModelInferRequest(
                parameters={"k\x00": open_inference_pb2.InferParameter(bool_param=True)}
            ),
            "parameters (a key)",
            "U+0000",
        ),
    ],
    ids=["nul", "bidi-override", "escape", "too-long", "repeated", "nested-list", "map-value", "map-key"],
)
def test_bad_text_is_invalid_argument_naming_the_field(request_, field, says):
    with pytest.raises(InvalidArgument) as raised:
        check(request_)
    assert raised.value.field == field and says in raised.value.problem


def test_a_request_without_text_is_not_walked():
    values = predictor_service_pb2.ScoreAnomaliesRequest(values=[float(i) for i in range(100_000)])
    check(values)  # no string field anywhere in the type: returns at once


def test_clean_makes_forwarded_text_pass():
    from cloudwaste.core.textcheck import clean, problem

    for raw in ("team\x1b[31m", "a\x00b", "\u202eevil", "é" * (MAX_CHARS + 10), "plain"):
        assert problem(clean(raw)) is None
    assert clean("team\x00-a") == "team-a" and clean("plain") == "plain"


def test_a_request_that_is_not_a_message_is_left_alone():
    check(b"raw bytes of a handler registered without a deserializer")
