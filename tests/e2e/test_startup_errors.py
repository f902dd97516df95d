"""Common mistakes when starting a service get one clear line naming what to fix, and exit 2, never
a traceback: a bad database URL, a log level that is not one, a port in use (gRPC or metrics); a
misspelt CLOUDWASTE_* variable is warned about with the closest known name, and the service starts.
The Jobs' commands (migrate, train) say in one line that PostgreSQL is not there."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest
from cloudwaste.core.pg import free_port

UNREACHABLE_DB = "postgresql+psycopg://cloudwaste@127.0.0.1:1/cloudwaste"


def serve(env: dict[str, str], timeout: float = 30) -> subprocess.CompletedProcess:
    base = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDWASTE_")}
    base |= {
        "CLOUDWASTE_GRPC_HOST": "127.0.0.1",
        "CLOUDWASTE_GRPC_PORT": "0",
        "CLOUDWASTE_METRICS_PORT": "-1",
        "CLOUDWASTE_AUTH_MODE": "none",
    }
    return subprocess.run(
        [sys.executable, "-m", "cloudwaste.core.cli", "serve", "enricher"],
        env=base | env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


@pytest.fixture
def busy_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        yield s.getsockname()[1]


@pytest.mark.parametrize(
    ("env", "says"),
    [
        (
            {"CLOUDWASTE_DATABASE_URL": "localhost:5432/cloudwaste"},
            "CLOUDWASTE_DATABASE_URL is not a database URL",
        ),
        (
            {"CLOUDWASTE_DATABASE_URL": "mysql://cw:s3cret-password@db/cw"},
            "CLOUDWASTE_DATABASE_URL must be a PostgreSQL URL",
        ),
        (
            {"CLOUDWASTE_DATABASE_URL": UNREACHABLE_DB, "CLOUDWASTE_LOG_LEVEL": "LOUD"},
            "CLOUDWASTE_LOG_LEVEL='LOUD'",
        ),
        ({}, "CLOUDWASTE_DATABASE_URL is required"),
    ],
    ids=["not-a-url", "not-postgresql", "log-level", "missing-url"],
)
def test_bad_settings_are_one_line_and_exit_2(env, says):
    proc = serve(env)
    assert proc.returncode == 2, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith("cloudwaste serve enricher: ") and says in line, line
    assert "s3cret" not in proc.stderr  # a URL's password is never echoed


@pytest.mark.parametrize("which", ["GRPC", "METRICS"])
def test_a_port_in_use_is_one_line_and_exit_2(busy_port, which):
    proc = serve({"CLOUDWASTE_DATABASE_URL": UNREACHABLE_DB, f"CLOUDWASTE_{which}_PORT": str(busy_port)})
    assert proc.returncode == 2, proc.stderr
    assert "Traceback" not in proc.stderr
    line = proc.stderr.strip().splitlines()[-1]  # gRPC's core may log its own bind error first
    assert line.startswith("cloudwaste serve enricher: cannot ") and f"127.0.0.1:{busy_port}" in line
    assert f"CLOUDWASTE_{which}_PORT" in line


def test_a_misspelt_variable_is_warned_about_with_the_closest_name_and_the_service_starts(database_url):
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDWASTE_")} | {
        "CLOUDWASTE_DATABASE_URL": database_url,
        "CLOUDWASTE_GRPC_HOST": "127.0.0.1",
        "CLOUDWASTE_GRPC_PORT": str(port),
        "CLOUDWASTE_METRICS_PORT": "-1",
        "CLOUDWASTE_ENRICHER_POL_SECONDS": "5",  # ENRICHER_POLL_SECONDS
        "CLOUDWASTE_AUTH_MODE": "none",
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "cloudwaste.core.cli", "serve", "enricher"],
        env=env,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        deadline = time.monotonic() + 30
        lines = []
        while not any('"msg": "serving"' in line for line in lines):
            assert time.monotonic() < deadline and proc.poll() is None, "".join(lines)
            lines.append(proc.stderr.readline())
    finally:
        proc.terminate()
        _, rest = proc.communicate(timeout=30)
    text = "".join(lines) + rest
    assert (
        "CLOUDWASTE_ENRICHER_POL_SECONDS is not a CloudWaste setting "
        "(did you mean CLOUDWASTE_ENRICHER_POLL_SECONDS?); it is ignored"
    ) in text
    assert "Traceback" not in text and proc.returncode == 0


@pytest.mark.parametrize(
    ("command", "url", "status", "says"),
    [
        (
            "migrate",
            "postgresql+psycopg://cloudwaste:s3cret-password@127.0.0.1:1/cloudwaste",
            1,
            'cannot reach PostgreSQL: connection to server at "127.0.0.1", port 1 failed',
        ),
        ("migrate", "127.0.0.1:5432/cloudwaste", 2, "CLOUDWASTE_DATABASE_URL is not a database URL"),
        (
            "train",
            "postgresql+psycopg://cloudwaste:s3cret-password@127.0.0.1:1/cloudwaste",
            1,
            "the database is unavailable",
        ),
    ],
    ids=["migrate-unreachable", "migrate-not-a-url", "train-unreachable"],
)
def test_the_jobs_commands_say_in_one_line_that_the_database_is_not_there(command, url, status, says):
    """The migrate Job and the training CronJob, started before PostgreSQL answers or with a URL
    mistyped: one line saying so (never the password), and a failed exit the Job retries."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDWASTE_")}
    proc = subprocess.run(
        [sys.executable, "-m", "cloudwaste.core.cli", command],
        env=env | {"CLOUDWASTE_DATABASE_URL": url, "CLOUDWASTE_AUTH_MODE": "none"},
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert proc.returncode == status, proc.stderr
    (line,) = proc.stderr.strip().splitlines()
    assert line.startswith(f"cloudwaste {command}: ") and says in line, line
    assert "s3cret" not in proc.stderr
