"""Everything on one machine, for real: embedded PostgreSQL, a simulated AWS estate (moto in its own
process), simulated Azure and GCP estates (local vendor endpoints in another process), and the
four services as separate processes on loopback ports.

Used by `make demo`, the black-box tests and the benchmarks. Nothing is mocked inside the services:
they read their settings from the environment exactly as they do on Kubernetes.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import grpc
from cloudwaste.core import roles
from cloudwaste.core.migrate import upgrade
from cloudwaste.core.pg import EmbeddedPostgres, free_port
from grpc_health.v1 import health_pb2, health_pb2_grpc

SERVICES = ("enricher", "scanner", "exporter", "predictor")


class StartupError(RuntimeError):
    pass


@dataclass
class LocalDeployment:
    workdir: Path
    size: int = 400
    seed: int = 42
    regions: tuple[str, ...] = ("us-east-1", "eu-west-1", "ap-southeast-2")
    with_estate: bool = True
    # An AWS-compatible endpoint (moto, LocalStack...) for the scanner to scan instead of the
    # simulated estate. When set, start() does not start the estate.
    aws_endpoint_url: str = ""
    model_poll_seconds: float = 2.0
    # The simulated Azure subscriptions, GCP projects and M365 tenant (cloudwaste.sim.clouds), each of about
    # `cloud_size` resources (0: a quarter of `size`, at least 60).
    with_clouds: bool = True
    cloud_size: int = 0
    cloud_endpoints: dict[str, str] = field(default_factory=dict)
    # extra CLOUDWASTE_* settings per service, e.g. {"scanner": {"CLOUDWASTE_SCAN_LEASE_SECONDS": "3"}}
    extra_env: dict[str, dict[str, str]] = field(default_factory=dict)
    pg: EmbeddedPostgres | None = None
    addresses: dict[str, str] = field(default_factory=dict)
    metrics: dict[str, int] = field(default_factory=dict)
    moto_endpoint: str = ""
    database_urls: dict[str, str] = field(default_factory=dict)  # each service's, as its own role
    _procs: dict[str, subprocess.Popen] = field(default_factory=dict)

    @property
    def export_root(self) -> Path:
        return self.workdir / "exports"

    @property
    def truth_path(self) -> Path:
        return self.workdir / "ground_truth.json"

    @property
    def credentials_dir(self) -> Path:
        """What the chart mounts from the credentials Secret: the Azure and GCP credential files."""
        return self.workdir / "credentials"

    def cloud_truth_path(self, provider: str) -> Path:
        return self.workdir / "truth" / f"{provider}.json"

    @property
    def log_dir(self) -> Path:
        return self.workdir / "logs"

    @property
    def scanner_aws_endpoint(self) -> str:
        """The endpoint the scanner talks to: aws_endpoint_url, else the simulated estate's."""
        return self.aws_endpoint_url or self.moto_endpoint

    def log_path(self, name: str) -> Path:
        return self.log_dir / f"{name}.log"

    def pids(self) -> dict[str, int]:
        """The pid of every process started here and not stopped yet."""
        return {name: p.pid for name, p in self._procs.items()}

    def exited(self) -> dict[str, int]:
        """Processes started here that have exited since, with their exit codes."""
        return {name: p.returncode for name, p in self._procs.items() if p.poll() is not None}

    def start_database(self) -> None:
        self.workdir.mkdir(parents=True, exist_ok=True)
        os.chmod(self.workdir, 0o755)
        self.pg = EmbeddedPostgres(self.workdir / "pg").start()
        upgrade(self.pg.url)
        # each service connects as its own role, with only its grants (migration 0027)
        self.database_urls = roles.local_urls(self.pg.url)

    def start_estate(self, timeout: float = 180.0) -> None:
        ready = self.workdir / "moto.ready"
        ready.unlink(missing_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        cmd = [
            sys.executable,
            "-m",
            "cloudwaste.sim.aws",
            "serve",
            "--port",
            "0",
            "--size",
            str(self.size),
            "--seed",
            str(self.seed),
            "--regions",
            ",".join(self.regions),
            "--truth",
            str(self.truth_path),
            "--ready-file",
            str(ready),
        ]
        self._spawn("moto", cmd, os.environ.copy())
        deadline = time.monotonic() + timeout
        while not ready.exists():
            if self._procs["moto"].poll() is not None:
                raise StartupError(f"the simulated estate exited; see {self.log_dir / 'moto.log'}")
            if time.monotonic() > deadline:
                raise StartupError("the simulated estate was not ready in time")
            time.sleep(0.1)
        self.moto_endpoint = ready.read_text().strip()

    def spawn_clouds(self) -> None:
        """Starts the Azure and GCP estates' process; `wait_clouds` waits until it is seeded."""
        ready = self.workdir / "clouds.ready"
        ready.unlink(missing_ok=True)
        size = self.cloud_size or max(60, self.size // 4)
        cmd = [
            sys.executable, "-m", "cloudwaste.sim.clouds", "serve",
            "--size", str(size), "--seed", str(self.seed),
            "--credentials-dir", str(self.credentials_dir),
            "--truth-dir", str(self.workdir / "truth"),
            "--ready-file", str(ready),
        ]
        self._spawn("clouds", cmd, os.environ.copy())

    def wait_clouds(self, timeout: float = 120.0) -> None:
        ready = self.workdir / "clouds.ready"
        deadline = time.monotonic() + timeout
        while not ready.exists():
            if self._procs["clouds"].poll() is not None:
                raise StartupError(f"the simulated Azure/GCP estates exited; see {self.log_dir / 'clouds.log'}")
            if time.monotonic() > deadline:
                raise StartupError("the simulated Azure/GCP estates were not ready in time")
            time.sleep(0.1)
        self.cloud_endpoints = json.loads(ready.read_text())

    def service_env(self, service: str) -> dict[str, str]:
        assert self.pg is not None
        env = {k: v for k, v in os.environ.items() if not k.startswith("CLOUDWASTE_")}
        env.update(
            {
                "CLOUDWASTE_DATABASE_URL": self.database_urls[service],
                "CLOUDWASTE_GRPC_HOST": "127.0.0.1",
                "CLOUDWASTE_GRPC_PORT": self.addresses[service].rsplit(":", 1)[1],
                "CLOUDWASTE_METRICS_PORT": str(self.metrics[service]),
                "CLOUDWASTE_LOG_LEVEL": "INFO",
                "CLOUDWASTE_SHUTDOWN_GRACE_SECONDS": "5",
                "CLOUDWASTE_AUTH_MODE": "none",  # the local demo: every caller is the operator
            }
        )
        if service == "scanner":
            env.update(
                {
                    "CLOUDWASTE_HASH_KEY": self._hash_key,
                    "CLOUDWASTE_HASH_KEY_ID": "local-1",
                    "CLOUDWASTE_ENRICHER_ADDRESS": self.addresses["enricher"],
                    "CLOUDWASTE_PREDICTOR_ADDRESS": self.addresses["predictor"],
                    "CLOUDWASTE_AWS_ENDPOINT_URL": self.scanner_aws_endpoint,
                    "CLOUDWASTE_POLL_SECONDS": "0.5",
                }
            )
            if self.cloud_endpoints:
                env.update(
                    {
                        "CLOUDWASTE_AZURE_ENDPOINT_URL": self.cloud_endpoints["azure"],
                        "CLOUDWASTE_GCP_ENDPOINT_URL": self.cloud_endpoints["gcp"],
                        "CLOUDWASTE_M365_ENDPOINT_URL": self.cloud_endpoints["m365"],
                        "CLOUDWASTE_CREDENTIALS_DIR": str(self.credentials_dir),
                    }
                )
            # the scanner's own identity; it assumes each account's role with it. moto and
            # LocalStack accept any keys; an external endpoint keeps the caller's if it has some.
            identity = {
                "AWS_ACCESS_KEY_ID": "testing",
                "AWS_SECRET_ACCESS_KEY": "testing",
                "AWS_DEFAULT_REGION": "us-east-1",
            }
            if self.aws_endpoint_url and os.environ.get("AWS_ACCESS_KEY_ID"):
                identity = {k: os.environ.get(k, v) for k, v in identity.items()}
            env.update(identity)
        if service == "exporter":
            env["CLOUDWASTE_EXPORT_ROOT"] = str(self.export_root)
        if service == "predictor":
            env["CLOUDWASTE_DATASET_ROOT"] = str(self.export_root)
            env["CLOUDWASTE_MODEL_POLL_SECONDS"] = str(self.model_poll_seconds)
        env.update(self.extra_env.get(service, {}))
        return env

    def start_services(self, timeout: float = 60.0, attempts: int = 3) -> None:
        """Starts the four services on free loopback ports. A port found free can be taken by
        another process before the service binds it (an outgoing connection's ephemeral port):
        then every service starts again on new ports, up to `attempts` times."""
        self._hash_key = secrets.token_hex(32)
        self.export_root.mkdir(parents=True, exist_ok=True)
        for attempt in range(1, attempts + 1):
            for s in SERVICES:
                self.addresses[s] = f"127.0.0.1:{free_port()}"
                self.metrics[s] = free_port()
            for s in SERVICES:
                self._spawn(s, [sys.executable, "-m", "cloudwaste.core.cli", "serve", s], self.service_env(s))
            try:
                for s in SERVICES:
                    self.wait_serving(s, timeout)
                return
            except StartupError:
                if attempt == attempts or not self._port_taken():
                    raise
                for s in SERVICES:
                    self.stop_service(s)

    def _port_taken(self) -> bool:
        """Whether a service that exited lost the race for its port."""
        for s in SERVICES:
            log = self.log_dir / f"{s}.log"
            text = log.read_text(errors="replace")[-20_000:] if log.exists() else ""
            if "could not bind" in text or "Address already in use" in text:
                return True
        return False

    def wait_serving(self, service: str, timeout: float) -> None:
        deadline = time.monotonic() + timeout
        with grpc.insecure_channel(self.addresses[service]) as channel:
            stub = health_pb2_grpc.HealthStub(channel)
            while True:
                if self._procs[service].poll() is not None:
                    log = self.log_dir / f"{service}.log"
                    tail = log.read_text(errors="replace").strip().splitlines()[-5:] if log.exists() else []
                    last = ("; last lines: " + " | ".join(line[-300:] for line in tail)) if tail else ""
                    raise StartupError(f"{service} exited at start; see {log}{last}")
                try:
                    if stub.Check(health_pb2.HealthCheckRequest(), timeout=1).status == 1:
                        return
                except grpc.RpcError:
                    pass
                if time.monotonic() > deadline:
                    raise StartupError(f"{service} did not become SERVING in {timeout} s")
                time.sleep(0.1)

    def _spawn(self, name: str, cmd: list[str], env: dict[str, str]) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = (self.log_dir / f"{name}.log").open("ab")
        self._procs[name] = subprocess.Popen(
            cmd,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,
        )
        log.close()

    def start(self) -> LocalDeployment:
        try:
            self.start_database()
            clouds = self.with_estate and self.with_clouds
            if clouds:  # seeded while moto seeds
                self.workdir.mkdir(parents=True, exist_ok=True)
                self.spawn_clouds()
            if self.with_estate and not self.aws_endpoint_url:
                self.start_estate()
            if clouds:
                self.wait_clouds()
            self.start_services()
        except BaseException:
            self.stop()
            raise
        return self

    def start_service(self, name: str, timeout: float = 60.0) -> None:
        """Starts one service again (after stop_service or a kill), on its address."""
        self._spawn(name, [sys.executable, "-m", "cloudwaste.core.cli", "serve", name], self.service_env(name))
        self.wait_serving(name, timeout)

    def kill_service(self, name: str) -> None:
        """SIGKILL, as the OOM killer or a node failure would: no drain, nothing said."""
        proc = self._procs.pop(name)
        proc.kill()
        proc.wait()

    def stop_service(self, name: str, timeout: float = 15.0) -> int | None:
        proc = self._procs.pop(name, None)
        if proc is None:
            return None
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(timeout)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        return proc.returncode

    def stop(self) -> dict[str, int | None]:
        """SIGTERM to every process (services first), then PostgreSQL. Returns the exit codes."""
        codes = {}
        for name in [*SERVICES, "moto", "clouds"]:
            codes[name] = self.stop_service(name)
        if self.pg is not None:
            self.pg.stop()
            self.pg = None
        return codes

    def __enter__(self) -> LocalDeployment:
        return self.start()

    def __exit__(self, *exc) -> None:
        self.stop()
