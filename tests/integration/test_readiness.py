"""Readiness follows the database: a service process whose PostgreSQL stops reports NOT_SERVING on
grpc.health.v1 (liveness stays SERVING, so the kubelet does not restart it), says so once in its log
without a traceback, and is SERVING again when PostgreSQL is back, without a restart. The
predictor is ready per model kind."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import grpc
import pytest
from cloudwaste.core.migrate import upgrade
from cloudwaste.core.pg import EmbeddedPostgres, free_port
from cloudwaste.core.server import create_server
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.integration.conftest import start_predictor

SERVING, NOT_SERVING = health_pb2.HealthCheckResponse.SERVING, health_pb2.HealthCheckResponse.NOT_SERVING
ENRICHER = "cloudwaste.enricher.v1.EnricherService"


@pytest.fixture
def own_postgres():
    """A PostgreSQL cluster of this test's own, which it may stop (the shared one serves others)."""
    root = Path(tempfile.mkdtemp(prefix="cloudwaste-readiness-"))
    os.chmod(root, 0o755)
    pg = EmbeddedPostgres(root).start()
    try:
        upgrade(pg.url)
        yield pg
    finally:
        pg.stop()
        shutil.rmtree(root, ignore_errors=True)


def status(stub, service: str) -> int:
    return stub.Check(health_pb2.HealthCheckRequest(service=service), timeout=5).status


def wait_status(stub, service: str, want: int, timeout: float = 20.0) -> float:
    t0 = time.monotonic()
    while status(stub, service) != want:
        assert time.monotonic() - t0 < timeout, f"{service!r} did not become {want} in {timeout} s"
        time.sleep(0.05)
    return time.monotonic() - t0


def database_up(metrics_port: int) -> str:
    text = urllib.request.urlopen(f"http://127.0.0.1:{metrics_port}/metrics", timeout=5).read().decode()
    return next(line.split()[1] for line in text.splitlines() if line.startswith("cloudwaste_database_up "))


def test_a_service_is_not_ready_while_its_database_is_down_and_ready_again_after(own_postgres, tmp_path):
    port, metrics = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDWASTE_")} | {
        "CLOUDWASTE_DATABASE_URL": own_postgres.url,
        "CLOUDWASTE_GRPC_HOST": "127.0.0.1",
        "CLOUDWASTE_GRPC_PORT": str(port),
        "CLOUDWASTE_METRICS_PORT": str(metrics),
        "CLOUDWASTE_READINESS_SECONDS": "0.2",
        "CLOUDWASTE_ENRICHER_POLL_SECONDS": "0.2",
        "CLOUDWASTE_SHUTDOWN_GRACE_SECONDS": "2",
        "CLOUDWASTE_AUTH_MODE": "none",
    }
    log = (tmp_path / "enricher.log").open("w+")
    proc = subprocess.Popen(
        [sys.executable, "-m", "cloudwaste.core.cli", "serve", "enricher"], env=env, stdout=log, stderr=log
    )
    channel = grpc.insecure_channel(f"127.0.0.1:{port}")
    try:
        grpc.channel_ready_future(channel).result(timeout=30)
        health = health_pb2_grpc.HealthStub(channel)
        wait_status(health, "", SERVING)
        assert status(health, ENRICHER) == SERVING and status(health, "liveness") == SERVING
        assert database_up(metrics) == "1.0"

        own_postgres.stop()
        took = wait_status(health, "", NOT_SERVING, timeout=15)
        assert took < 5, "readiness follows the database within a few checks"
        assert status(health, ENRICHER) == NOT_SERVING
        assert status(health, "liveness") == SERVING, "a database outage must not get the process restarted"
        assert database_up(metrics) == "0.0"
        time.sleep(2)  # ten readiness checks and ten worker polls against a database that is down

        own_postgres.start()
        wait_status(health, "", SERVING, timeout=20)
        assert status(health, ENRICHER) == SERVING and database_up(metrics) == "1.0"
        # the worker finds the database on its own next poll, a moment after readiness does
        deadline = time.monotonic() + 15
        while "enrichment-worker resumed" not in (tmp_path / "enricher.log").read_text():
            assert time.monotonic() < deadline, "the enrichment worker did not resume"
            time.sleep(0.1)
    finally:
        channel.close()
        proc.send_signal(signal.SIGTERM)
        proc.wait(30)
        log.close()
    text = (tmp_path / "enricher.log").read_text()
    # said once each way, in one line; no traceback however many probes and polls failed
    assert text.count("database unreachable") == 1 and text.count("database reachable again") == 1, text
    assert text.count("enrichment-worker paused") == 1 and text.count("enrichment-worker resumed") == 1, text
    assert "Traceback" not in text, text
    assert proc.returncode == 0


def test_the_predictor_is_ready_per_model_kind(database_url):
    """No waste model trained yet: the predictor is ready for anomalies and forecasts (built in),
    not for waste; the server itself is ready (its database answers)."""
    running = start_predictor(database_url)
    try:
        with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            health = health_pb2_grpc.HealthStub(channel)
            assert status(health, "") == SERVING and status(health, "liveness") == SERVING
            assert status(health, "models/anomaly") == SERVING
            assert status(health, "models/forecast") == SERVING
            assert status(health, "models/waste") == NOT_SERVING
            with pytest.raises(grpc.RpcError) as err:
                status(health, "models/nonsense")
            assert err.value.code() == grpc.StatusCode.NOT_FOUND
    finally:
        running.stop(0)


def test_connections_are_recycled_so_clients_spread_over_new_replicas():
    """A server closes each connection after CLOUDWASTE_MAX_CONNECTION_AGE_SECONDS (GOAWAY, calls in
    flight given the grace): a client calling all along reconnects, so a replica added later gets
    its share, and no call fails on the way."""
    from cloudwaste.core.server import App
    from cloudwaste.core.settings import ServerSettings

    def who(request: bytes, context) -> bytes:
        return context.peer().encode()  # the client's address: one per connection

    def register(server) -> None:
        handler = grpc.unary_unary_rpc_method_handler(who)
        server.add_generic_rpc_handlers(
            (grpc.method_handlers_generic_handler("test.Peer", {"Who": handler}),)
        )

    settings = ServerSettings(
        database_url="unused", grpc_port=0, metrics_port=-1, max_connection_age_seconds=0.5
    )
    running = create_server(settings, App(name="test", service_names=["test.Peer"], register=register))
    try:
        with grpc.insecure_channel(f"127.0.0.1:{running.port}") as channel:
            call = channel.unary_unary("/test.Peer/Who")
            peers, calls, t0 = set(), 0, time.monotonic()
            while time.monotonic() - t0 < 3:
                peers.add(call(b"", timeout=5).decode())
                calls += 1
                time.sleep(0.01)
        assert calls > 100 and len(peers) >= 3, (calls, peers)
    finally:
        running.stop(0)
