"""Mutual TLS between the services: a service with a certificate and a CA (as cert-manager issues
them) answers only clients that show a certificate its CA signed, and a CloudWaste client (another
service, or the CLI of a CronJob from its environment) connects with its own."""

from __future__ import annotations

import logging
import os
import socket
import ssl
import subprocess
import sys
import time

import grpc
import pytest
from cloudwaste.core import channels
from cloudwaste.core.server import StartupError
from cloudwaste.core.settings import TlsSettings
from cloudwaste.predictor.v1 import predictor_service_pb2, predictor_service_pb2_grpc
from cloudwaste.sim.certs import LocalCA
from cryptography import x509
from cryptography.hazmat.primitives import serialization
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


def _served_certificate(port: int, client) -> bytes:
    """The certificate (DER) the server presents to a new TLS connection from `client`."""
    ctx = ssl.create_default_context(cafile=str(client.ca_file))
    ctx.load_cert_chain(str(client.cert_file), str(client.key_file))
    ctx.set_alpn_protocols(["h2"])
    with socket.create_connection(("127.0.0.1", port), timeout=10) as raw:
        with ctx.wrap_socket(raw, server_hostname="localhost") as tls:
            return tls.getpeercert(binary_form=True)


def _der(pem_file) -> bytes:
    return x509.load_pem_x509_certificate(pem_file.read_bytes()).public_bytes(serialization.Encoding.DER)


def test_a_renewed_certificate_is_served_to_new_connections_without_a_restart(database_url, tmp_path, caplog):
    """cert-manager renews the Secret in place: the next connection gets the new certificate. A set
    caught half-written (a key that is not the certificate's) is not served: the last good one
    stays, said once in the log, until the files hold together again."""
    ca = LocalCA(tmp_path / "ca")
    first = ca.issue("predictor")
    running = start_predictor(database_url, tls=_tls(first))
    client = ca.issue("scanner")
    try:
        first_der = _der(first.cert_file)
        assert _served_certificate(running.port, client) == first_der

        good_key = first.key_file.read_bytes()
        renewed = ca.issue("predictor")  # the same files, a new key and certificate
        assert renewed.cert_file == first.cert_file and _der(renewed.cert_file) != first_der
        new_key = renewed.key_file.read_bytes()
        renewed.key_file.write_bytes(good_key)  # caught between the two writes: the old key
        with caplog.at_level(logging.WARNING, logger="cloudwaste.core.tls"):
            for _ in range(3):
                assert _served_certificate(running.port, client) == first_der
        complaints = [r for r in caplog.records if r.name == "cloudwaste.core.tls"]
        assert len(complaints) == 1 and "the key is not the certificate's" in complaints[0].getMessage()

        renewed.key_file.write_bytes(new_key)
        assert _served_certificate(running.port, client) == _der(renewed.cert_file)
        with channels.channel(f"localhost:{running.port}", tls=_tls(client)) as ch:
            assert _models(ch) == 0  # gRPC over a new connection: the renewed certificate verifies
    finally:
        running.stop(0)


def test_a_client_follows_its_renewed_certificate_without_a_restart(database_url, tmp_path, monkeypatch):
    """The scanner's channels to the enricher and the predictor live as long as the scanner. When
    cert-manager renews the client's files (here: a new CA for everyone, so that the old
    certificate is refused), the next call uses them; a channel made once keeps the old ones and
    fails as soon as its connection is renewed."""
    monkeypatch.setattr(channels, "CHECK_FILES_SECONDS", 0.0)
    ca = LocalCA(tmp_path / "ca")
    server, client = ca.issue("predictor"), ca.issue("scanner")
    # connections last a second: each call after that makes a new handshake
    running = start_predictor(
        database_url, tls=_tls(server), max_connection_age_seconds=1.0, max_connection_age_grace_seconds=0.2
    )
    address = f"localhost:{running.port}"
    following = channels.channel(address, tls=_tls(client))
    cert, key, ca_pem = _tls(client).read()
    fixed = grpc.secure_channel(address, grpc.ssl_channel_credentials(ca_pem, key, cert))
    try:
        assert _models(following) == 0 and _models(fixed) == 0

        rotated = LocalCA(tmp_path / "ca2")
        for issued in (rotated.issue("predictor"), rotated.issue("scanner")):  # renewed in place
            old = server if issued.cert_file.name.startswith("predictor") else client
            old.key_file.write_bytes(issued.key_file.read_bytes())
            old.cert_file.write_bytes(issued.cert_file.read_bytes())
        ca.ca_file.write_bytes(rotated.ca_file.read_bytes())
        time.sleep(1.5)  # the connections made before are closed by now

        assert _models(following) == 0  # a new channel, the renewed files
        assert following.generation == 1
        with pytest.raises(grpc.RpcError) as refused:
            _models(fixed)
        assert refused.value.code() == grpc.StatusCode.UNAVAILABLE
    finally:
        fixed.close()
        following.close()
        running.stop(0)
