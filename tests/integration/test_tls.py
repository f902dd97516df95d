"""Mutual TLS between the services: a service with a certificate and a CA (as cert-manager issues
them) answers only clients that show a certificate its CA signed, and a CloudWaste client (another
service, or the CLI of a CronJob from its environment) connects with its own."""

from __future__ import annotations

import os
import subprocess
import sys

import grpc
import pytest
from cloudwaste.core import channels
from cloudwaste.core.server import StartupError
from cloudwaste.core.settings import TlsSettings
from cloudwaste.predictor.v1 import predictor_service_pb2, predictor_service_pb2_grpc
from cloudwaste.sim.certs import LocalCA
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.integration.conftest import start_predictor


def _tls(issued) -> TlsSettings:
    return TlsSettings(str(issued.cert_file), str(issued.key_file), str(issued.ca_file))


def _models(channel) -> int:
    stub = predictor_service_pb2_grpc.PredictorServiceStub(channel)
    return len(
        stub.ListModelVersions(predictor_service_pb2.ListModelVersionsRequest(), timeout=10).model_versions
    )


def test_only_clients_with_a_certificate_of_the_ca_are_answered(database_url, tmp_path):
    ca = LocalCA(tmp_path / "ca")
    running = start_predictor(database_url, tls=_tls(ca.issue("predictor")))
    address = f"localhost:{running.port}"
    try:
        scanner = ca.issue("scanner")
        with channels.channel(address, tls=_tls(scanner)) as ch:
            assert (
                health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=10).status == 1
            )
            assert _models(ch) == 0  # answered: a fresh registry
        with channels.channel_from_env(address, env=ca.issue("export-cronjob").env()) as ch:
            assert _models(ch) == 0  # answered: a fresh registry

        # the exec probe of a pod serving mutual TLS (the kubelet's gRPC probe speaks no TLS)
        probe = [
            sys.executable,
            "-m",
            "cloudwaste.core.cli",
            "health",
            "--address",
            f"127.0.0.1:{running.port}",
        ]
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDWASTE_")}
        ok = subprocess.run(
            [*probe, "--server-name", "localhost"],
            env=env | ca.issue("probe").env(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert ok.returncode == 0, ok.stderr
        plain = subprocess.run(probe, env=env, capture_output=True, text=True, timeout=60)
        assert plain.returncode == 1 and "UNAVAILABLE" in plain.stderr

        rogue = LocalCA(tmp_path / "rogue").issue("scanner")
        refused = {
            "plaintext": grpc.insecure_channel(address),
            "no client certificate": channels.channel(address, tls=TlsSettings(ca_file=str(ca.ca_file))),
            "another CA's certificate": channels.channel(
                address, tls=TlsSettings(str(rogue.cert_file), str(rogue.key_file), str(ca.ca_file))
            ),
        }
        for why, ch in refused.items():
            with ch, pytest.raises(grpc.RpcError) as exc:
                _models(ch)
            assert exc.value.code() == grpc.StatusCode.UNAVAILABLE, why
    finally:
        running.stop(0)


def test_a_certificate_file_that_cannot_be_read_stops_the_start_with_its_variable(database_url, tmp_path):
    ca = LocalCA(tmp_path / "ca")
    issued = ca.issue("predictor")
    missing = TlsSettings(str(tmp_path / "nope.crt"), str(issued.key_file), str(issued.ca_file))
    with pytest.raises(StartupError, match="CLOUDWASTE_TLS_CERT_FILE: cannot read the file"):
        start_predictor(database_url, tls=missing)
