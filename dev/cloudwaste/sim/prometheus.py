"""A real Prometheus for the one-machine deployment: it scrapes the four services' /metrics and
evaluates the chart's alert rules, so the dashboard's queries and the alerts can be run locally
(`make up`, tests/e2e/test_monitoring.py). The binary is Debian's `prometheus` package
(tools/ensure_prometheus.sh)."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from cloudwaste.core.pg import free_port

RULES = Path(__file__).resolve().parents[3] / "deploy/helm/cloudwaste/files/prometheus/alerts.yaml"


@dataclass
class Prometheus:
    url: str  # http://127.0.0.1:PORT
    process: subprocess.Popen
    log_path: Path

    def query(self, expr: str, timeout: float = 10.0) -> list[dict]:
        """The result of an instant query (a vector's samples); raises with Prometheus' error."""
        body = self._get("/api/v1/query?" + urllib.parse.urlencode({"query": expr}), timeout)
        return body["data"]["result"]

    def alerts(self) -> list[dict]:
        return self._get("/api/v1/alerts", 10.0)["data"]["alerts"]

    def targets_up(self) -> dict[str, str]:
        """{job: health} of the active targets."""
        active = self._get("/api/v1/targets", 10.0)["data"]["activeTargets"]
        return {t["labels"]["job"]: t["health"] for t in active}

    def _get(self, path: str, timeout: float) -> dict:
        try:
            with urllib.request.urlopen(self.url + path, timeout=timeout) as r:  # noqa: S310 (loopback)
                body = json.loads(r.read())
        except urllib.error.HTTPError as exc:  # a bad query: Prometheus says why in the body
            body = json.loads(exc.read() or b"{}")
        if body.get("status") != "success":
            raise RuntimeError(f"{path}: {body.get('errorType')}: {body.get('error')}")
        return body

    def stop(self) -> int | None:
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait(5)
        return self.process.returncode


def start(workdir: Path, targets: dict[str, str], scrape_seconds: float = 1.0, port: int = 0) -> Prometheus:
    """Starts Prometheus on 127.0.0.1 scraping `targets` ({job: "host:port"}) every `scrape_seconds`,
    with the chart's alert rules evaluated as often; returns once it answers."""
    binary = shutil.which("prometheus")
    if binary is None:
        raise RuntimeError("prometheus not found: run `make setup` (tools/ensure_prometheus.sh installs it)")
    workdir.mkdir(parents=True, exist_ok=True)
    interval = f"{scrape_seconds:g}s"
    config = {
        "global": {"scrape_interval": interval, "evaluation_interval": interval},
        "rule_files": [str(RULES)],
        "scrape_configs": [
            {"job_name": job, "static_configs": [{"targets": [address]}]} for job, address in targets.items()
        ],
    }
    (workdir / "prometheus.yml").write_text(json.dumps(config, indent=2))  # JSON is YAML
    port = port or free_port()
    log_path = workdir / "prometheus.log"
    process = subprocess.Popen(
        [
            binary,
            f"--config.file={workdir / 'prometheus.yml'}",
            f"--storage.tsdb.path={workdir / 'data'}",
            f"--web.listen-address=127.0.0.1:{port}",
            "--storage.tsdb.retention.time=2d",
        ],
        stdout=subprocess.DEVNULL,
        stderr=log_path.open("w"),
    )
    prom = Prometheus(f"http://127.0.0.1:{port}", process, log_path)
    deadline = time.monotonic() + 30
    while True:
        try:
            with urllib.request.urlopen(prom.url + "/-/ready", timeout=2) as r:  # noqa: S310 (loopback)
                if r.status == 200:
                    return prom
        except OSError:
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            prom.stop()
            raise RuntimeError(f"Prometheus did not start; see {log_path}")
        time.sleep(0.1)
