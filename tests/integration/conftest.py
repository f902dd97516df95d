"""In-process servers (real gRPC over loopback sockets, port 0) for the four services."""

from __future__ import annotations

import time
from dataclasses import dataclass

import grpc
import pytest
from cloudwaste.common.v1 import provider_pb2
from cloudwaste.core.server import create_server
from cloudwaste.core.settings import HashKey
from cloudwaste.enricher.settings import EnricherSettings
from cloudwaste.enricher.v1 import enricher_service_pb2_grpc
from cloudwaste.exporter.settings import ExporterSettings
from cloudwaste.exporter.v1 import exporter_service_pb2_grpc
from cloudwaste.predictor.settings import PredictorSettings
from cloudwaste.predictor.v1 import predictor_service_pb2_grpc
from cloudwaste.scanner.settings import ScannerSettings
from cloudwaste.scanner.v1 import (
    cloud_account_pb2,
    scan_run_pb2,
    scanner_service_pb2,
    scanner_service_pb2_grpc,
)


def sql_rows(url: str, sql: str) -> list[tuple]:
    """The rows of one query, as tuples (an engine of its own, disposed)."""
    import sqlalchemy as sa

    engine = sa.create_engine(url)
    try:
        with engine.connect() as c:
            return [tuple(r) for r in c.execute(sa.text(sql))]
    finally:
        engine.dispose()


def months_billed(today, months: int) -> int:
    """How many months a bill asked for `months` months to date holds: on a month's first day it
    has no day of the new month yet (billing data comes a day late)."""
    return months if today.day > 1 else months - 1


def start_predictor(url: str, **settings):
    """A predictor alone on a loopback port (no training worker), started; returns it running."""
    from cloudwaste.predictor.server import build_app

    config = PredictorSettings(
        database_url=url,
        grpc_host="127.0.0.1",
        grpc_port=0,
        metrics_port=-1,
        shutdown_grace_seconds=1,
        training_worker="none",
        **settings,
    )
    return create_server(config, build_app(config))


def serve_predictor(url: str, **settings):
    """A predictor alone on a loopback port (no training worker): yields its stub."""
    running = start_predictor(url, **settings)
    channel = grpc.insecure_channel(f"127.0.0.1:{running.port}")
    try:
        yield predictor_service_pb2_grpc.PredictorServiceStub(channel)
    finally:
        channel.close()
        running.stop(0)


HASH_KEY = HashKey(b"integration-test-key-0123456789abcdef", "it-1")
TENANT = "tenant-canary-acme-corp"


def external_ids(database_url: str) -> set[str]:
    """The AWS external ids CloudWaste generated for the tenants (canaries: none may reach ML data)."""
    ids = {r[0] for r in sql_rows(database_url, "SELECT aws_external_id FROM tenants")}
    assert ids, "no tenant has an external id yet"
    return ids


@dataclass
class Stack:
    scanner: scanner_service_pb2_grpc.ScannerServiceStub
    enricher: enricher_service_pb2_grpc.EnricherServiceStub
    exporter: exporter_service_pb2_grpc.ExporterServiceStub
    predictor: predictor_service_pb2_grpc.PredictorServiceStub
    database_url: str
    export_root: object
    truth: object
    running: dict
    settings: dict

    def create_account(self, regions=None, ml=True, cost_export_uri=""):
        req = scanner_service_pb2.CreateCloudAccountRequest(
            cloud_account=cloud_account_pb2.CloudAccount(
                provider=provider_pb2.PROVIDER_AWS,
                tenant_id=TENANT,
                display_name="integration",
                regions=list(regions if regions is not None else self.truth.regions),
                ml_collection_enabled=ml,
                aws=cloud_account_pb2.AwsAccess(
                    role_arn=f"arn:aws:iam::{self.truth.account_id}:role/CloudWaste",
                    cost_export_uri=cost_export_uri,
                ),
            )
        )
        return self.scanner.CreateCloudAccount(req, timeout=10).cloud_account

    def scan(self, account_name: str, timeout: float = 120):
        run = self.scanner.StartScan(
            scanner_service_pb2.StartScanRequest(cloud_account=account_name), timeout=10
        ).scan_run
        deadline = time.monotonic() + timeout
        while run.state in (scan_run_pb2.SCAN_RUN_STATE_PENDING, scan_run_pb2.SCAN_RUN_STATE_RUNNING):
            assert time.monotonic() < deadline, "scan did not finish"
            time.sleep(0.1)
            run = self.scanner.GetScanRun(
                scanner_service_pb2.GetScanRunRequest(name=run.name), timeout=10
            ).scan_run
        return run

    def wait_enriched(self, scan_run: str, timeout: float = 30):
        """The scanner hands a finished run to the enricher asynchronously (at least once)."""
        from cloudwaste.enricher.v1 import enricher_service_pb2, enrichment_run_pb2

        deadline = time.monotonic() + timeout
        while True:
            try:
                er = self.enricher.GetEnrichmentRun(
                    enricher_service_pb2.GetEnrichmentRunRequest(scan_run=scan_run), timeout=5
                ).enrichment_run
                if er.state == enrichment_run_pb2.ENRICHMENT_RUN_STATE_SUCCEEDED:
                    return er
            except grpc.RpcError as exc:
                if exc.code() != grpc.StatusCode.NOT_FOUND:
                    raise
            assert time.monotonic() < deadline, "the scan run was not enriched in time"
            time.sleep(0.05)

    def findings(self, **filters):
        out, token = [], ""
        while True:
            r = self.scanner.ListFindings(
                scanner_service_pb2.ListFindingsRequest(page_size=50, page_token=token, **filters), timeout=10
            )
            out.extend(r.findings)
            token = r.next_page_token
            if not token:
                return out


@pytest.fixture
def stack(database_url, moto_estate, tmp_path):
    yield from start_stack(database_url, moto_estate, tmp_path)


def start_stack(database_url, moto_estate, tmp_path, auth=None, scanner_token_file=""):
    """The four services in this process on loopback ports; with `auth` (AuthSettings), each
    verifies callers' tokens and the scanner calls the others with `scanner_token_file`."""
    import dataclasses

    from cloudwaste.core.settings import AuthSettings
    from cloudwaste.enricher.server import build_app as enricher_app
    from cloudwaste.exporter.server import build_app as exporter_app
    from cloudwaste.predictor.server import build_app as predictor_app
    from cloudwaste.scanner.server import build_app as scanner_app

    endpoint, truth = moto_estate
    export_root = tmp_path / "exports"
    export_root.mkdir()
    common = dict(
        database_url=database_url,
        grpc_host="127.0.0.1",
        grpc_port=0,
        metrics_port=-1,
        shutdown_grace_seconds=1,
        auth=auth or AuthSettings(),
    )
    running = {}
    es = EnricherSettings(**common)
    running["enricher"] = create_server(es, enricher_app(es))
    ps = PredictorSettings(**common, dataset_root=str(export_root), model_poll_seconds=0.3)
    running["predictor"] = create_server(ps, predictor_app(ps))
    ss = ScannerSettings(
        **(common | {"auth": dataclasses.replace(common["auth"], token_file=scanner_token_file)}),
        hash_key=HASH_KEY,
        enricher_address=f"127.0.0.1:{running['enricher'].port}",
        predictor_address=f"127.0.0.1:{running['predictor'].port}",
        aws_endpoint_url=endpoint,
        poll_seconds=0.2,
    )
    running["scanner"] = create_server(ss, scanner_app(ss))
    xs = ExporterSettings(**common, export_root=str(export_root))
    running["exporter"] = create_server(xs, exporter_app(xs))
    ch = {k: grpc.insecure_channel(f"127.0.0.1:{v.port}") for k, v in running.items()}
    try:
        yield Stack(
            scanner=scanner_service_pb2_grpc.ScannerServiceStub(ch["scanner"]),
            enricher=enricher_service_pb2_grpc.EnricherServiceStub(ch["enricher"]),
            exporter=exporter_service_pb2_grpc.ExporterServiceStub(ch["exporter"]),
            predictor=predictor_service_pb2_grpc.PredictorServiceStub(ch["predictor"]),
            database_url=database_url,
            export_root=export_root,
            truth=truth,
            running=running,
            settings={"enricher": es, "scanner": ss, "exporter": xs, "predictor": ps},
        )
    finally:
        for c in ch.values():
            c.close()
        for r in running.values():
            r.stop(0.5)
