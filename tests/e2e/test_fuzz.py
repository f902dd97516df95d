"""Fuzzing every RPC of the four services, as processes, with requests generated from the protos.

Each RPC gets FUZZ_EXAMPLES requests: random messages from `protofuzz.messages`, and valid requests
over real resources (fuzz_seeds) with one to three fields replaced (NUL bytes, 1 MB strings, paths and
URIs pointing elsewhere, names of the wrong kind, extreme and non-finite numbers, unknown enum
values, out-of-range timestamps, mixed with random ones). Whatever a request holds, the answer is a
status a client can act on: never UNKNOWN or INTERNAL, and its message names no server folder, no
exception class, no traceback. Hypothesis shrinks a failure to the smallest request that shows it.
The examples are derandomized, so CI runs the same ones every time; FUZZ_EXAMPLES=3000 digs deeper.
"""

from __future__ import annotations

import collections
import importlib
import os
import re
import shutil
import sys
import tempfile
from pathlib import Path

import grpc
import pytest
from cloudwaste.sim.local import LocalDeployment
from google.protobuf import descriptor_pool, message_factory, text_format
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from . import protofuzz
from .fuzz_seeds import seed_requests

EXAMPLES = int(os.environ.get("FUZZ_EXAMPLES", "300"))
SERVICES = {
    "scanner": ["cloudwaste.scanner.v1.ScannerService"],
    "enricher": ["cloudwaste.enricher.v1.EnricherService"],
    "exporter": ["cloudwaste.exporter.v1.ExporterService"],
    "predictor": ["cloudwaste.predictor.v1.PredictorService", "inference.GRPCInferenceService"],
}
for module in (
    "cloudwaste.scanner.v1.scanner_service_pb2",
    "cloudwaste.enricher.v1.enricher_service_pb2",
    "cloudwaste.exporter.v1.exporter_service_pb2",
    "cloudwaste.predictor.v1.predictor_service_pb2",
    "cloudwaste.predictor.v1.open_inference_pb2",
):
    importlib.import_module(module)
POOL = descriptor_pool.Default()
METHODS = [
    (service, svc_name, method)
    for service, names in SERVICES.items()
    for svc_name in names
    for method in POOL.FindServiceByName(svc_name).methods
]
# What a client can act on. DEADLINE_EXCEEDED: work a valid-looking request started (an export
# streaming its progress) outlived the fuzz deadline.
ACCEPTABLE = {
    grpc.StatusCode.OK,
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.ABORTED,
    grpc.StatusCode.OUT_OF_RANGE,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.PERMISSION_DENIED,
    grpc.StatusCode.UNIMPLEMENTED,
    grpc.StatusCode.DEADLINE_EXCEEDED,
}
# Python exception classes and tracebacks; a server folder is checked against the deployment's.
LEAKS = re.compile(
    r"Traceback|File \"|\b[A-Z]\w*(Error|Exception)\b|site-packages|/usr/lib/python|psycopg|sqlalchemy|"
    r"pyarrow\.|onnxruntime\."
)
FOLDERS: set[str] = {os.getcwd(), sys.prefix}  # and the deployment's, once started
TALLY: dict[str, collections.Counter] = collections.defaultdict(collections.Counter)
MESSAGES: collections.Counter = collections.Counter()  # FUZZ_MESSAGES=path writes them, to review


@pytest.fixture(scope="module")
def deployment():
    workdir = Path(tempfile.mkdtemp(prefix="cloudwaste-fuzz-"))
    deploy = LocalDeployment(workdir, size=60, seed=5, with_clouds=False).start()
    FOLDERS.add(str(workdir))
    yield deploy
    codes = deploy.stop()
    shutil.rmtree(workdir, ignore_errors=True)
    total = collections.Counter()
    for counter in TALLY.values():
        total.update(counter)
    print(
        f"\nfuzz: {sum(total.values())} calls over {len(TALLY)} RPCs: "
        + ", ".join(f"{k} {v}" for k, v in total.most_common()),
        file=sys.stderr,
    )
    if os.environ.get("FUZZ_MESSAGES"):
        Path(os.environ["FUZZ_MESSAGES"]).write_text(
            "".join(f"{n:6d} {m}\n" for m, n in sorted(MESSAGES.items())), encoding="utf-8"
        )
    assert all(c == 0 for c in codes.values() if c is not None), f"unclean exits: {codes}"


@pytest.fixture(scope="module")
def seeds(deployment) -> dict[str, list]:
    def input_type(key: str):
        svc, method = key.split(".")
        (svc_name,) = [n for names in SERVICES.values() for n in names if n.endswith("." + svc)]
        return POOL.FindServiceByName(svc_name).methods_by_name[method].input_type

    return seed_requests(deployment, input_type)


@pytest.fixture(scope="module")
def channels(deployment):
    opened = {s: grpc.insecure_channel(a) for s, a in deployment.addresses.items()}
    yield opened
    for ch in opened.values():
        ch.close()


def _text(request) -> str:
    items = request if isinstance(request, list) else [request]
    return "\n".join(text_format.MessageToString(r, as_utf8=True) for r in items)


def assert_safe(message: str, request=None) -> None:
    """No exception class, traceback or server folder in `message`, unless the request itself
    carried it (a message may quote the bad input)."""
    sent = _text(request) if request is not None else ""
    for leak in LEAKS.finditer(message):
        assert leak.group() in sent, message
    for folder in FOLDERS:
        assert folder not in message or folder in sent, message
    assert len(message) <= 1000, message[:200]
    # a status the transport made up because the server's answer could not travel (a message too
    # long for the headers) hides the server's own
    assert "Stream removed" not in message and "metadata size" not in message, message[:200]


def _call(channel: grpc.Channel, svc_name: str, method, request) -> tuple[grpc.StatusCode, str]:
    path = f"/{svc_name}/{method.name}"
    out = message_factory.GetMessageClass(method.output_type)
    kwargs = {"request_serializer": lambda m: m.SerializeToString(), "response_deserializer": out.FromString}
    try:
        if method.client_streaming:
            call = channel.stream_stream(path, **kwargs)
            for _ in call(iter(request), timeout=10):
                pass
        elif method.server_streaming:
            call = channel.unary_stream(path, **kwargs)
            for _ in call(request, timeout=10):
                pass
        else:
            channel.unary_unary(path, **kwargs)(request, timeout=10)
    except grpc.RpcError as exc:
        return exc.code(), exc.details() or ""
    return grpc.StatusCode.OK, ""


@pytest.mark.parametrize(
    ("service", "svc_name", "method"), METHODS, ids=[f"{m[1].rsplit('.', 1)[1]}.{m[2].name}" for m in METHODS]
)
def test_every_rpc_answers_malformed_input_with_a_status_a_client_can_act_on(
    deployment, channels, seeds, service, svc_name, method
):
    # random messages, and valid ones (over real resources) with fields replaced
    key = f"{svc_name.rsplit('.', 1)[1]}.{method.name}"
    requests = st.one_of(protofuzz.messages(method.input_type), *map(protofuzz.mutants, seeds.get(key, [])))
    if method.client_streaming:
        requests = st.lists(requests, min_size=1, max_size=3)
    tally = TALLY[f"{svc_name}/{method.name}"]

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(requests)
    def check(request):
        code, message = _call(channels[service], svc_name, method, request)
        tally[code.name] += 1
        MESSAGES[f"{method.name} {code.name}: {re.sub(r'[0-9a-f-]{36}', '<uuid>', message)[:300]}"] += 1
        assert code in ACCEPTABLE, f"{code.name}: {message}"
        assert_safe(message, request)

    check()


def test_runs_the_fuzz_started_say_why_they_failed_without_server_details(deployment, channels):
    """Requests that passed validation started real runs (scans, exports, trainings, purges): the
    reasons recorded on those that failed are as safe to show as the RPCs' messages."""
    from cloudwaste.exporter.v1 import exporter_service_pb2, exporter_service_pb2_grpc
    from cloudwaste.predictor.v1 import predictor_service_pb2, predictor_service_pb2_grpc
    from cloudwaste.scanner.v1 import scanner_service_pb2, scanner_service_pb2_grpc

    scanner = scanner_service_pb2_grpc.ScannerServiceStub(channels["scanner"])
    exporter = exporter_service_pb2_grpc.ExporterServiceStub(channels["exporter"])
    predictor = predictor_service_pb2_grpc.PredictorServiceStub(channels["predictor"])
    listings = [
        (scanner.ListScanRuns, scanner_service_pb2.ListScanRunsRequest, "scan_runs"),
        (exporter.ListExportRuns, exporter_service_pb2.ListExportRunsRequest, "export_runs"),
        (exporter.ListPurgeRuns, exporter_service_pb2.ListPurgeRunsRequest, "purge_runs"),
        (predictor.ListTrainingRuns, predictor_service_pb2.ListTrainingRunsRequest, "training_runs"),
    ]
    reasons = []
    for call, request, field in listings:
        token = ""
        while True:
            page = call(request(page_size=100, page_token=token), timeout=10)
            reasons += [r.error_message for r in getattr(page, field) if r.error_message]
            token = page.next_page_token
            if not token:
                break
    for reason in reasons:
        assert_safe(reason)
