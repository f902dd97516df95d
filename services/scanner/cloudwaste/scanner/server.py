"""Scanner bootstrap: `cloudwaste serve scanner`."""

from __future__ import annotations

import datetime as dt

import grpc
from cloudwaste.core import channels, logs
from cloudwaste.core.db import Database
from cloudwaste.core.errors import FailedPrecondition, Unavailable
from cloudwaste.core.protoconv import confidence_enum, provider_enum
from cloudwaste.core.server import App, serve
from cloudwaste.core.textcheck import clean
from cloudwaste.scanner import providers
from cloudwaste.scanner.engine import Engine
from cloudwaste.scanner.rules import load_all
from cloudwaste.scanner.servicer import ScannerServicer
from cloudwaste.scanner.settings import ScannerSettings
from cloudwaste.scanner.store import ScannerStore
from cloudwaste.scanner.v1 import scanner_service_pb2, scanner_service_pb2_grpc
from cloudwaste.scanner.worker import ScanWorker


def enricher_notifier(address: str, settings: ScannerSettings):
    """EnrichScanRun over gRPC with a deadline; raises when the enricher does not answer OK. OK means
    the enrichment is queued (the enricher's worker runs it), so the call is quick."""
    if not address:
        return None
    from cloudwaste.enricher.v1 import enricher_service_pb2, enricher_service_pb2_grpc

    channel = channels.channel(address, tls=settings.tls, token_file=settings.auth.token_file)
    stub = enricher_service_pb2_grpc.EnricherServiceStub(channel)

    def notify(scan_run: str) -> None:
        stub.EnrichScanRun(enricher_service_pb2.EnrichScanRunRequest(scan_run=scan_run), timeout=30)

    return notify


def waste_scorer(address: str, timeout: float, settings: ScannerSettings):
    """PredictWasteBatch over gRPC: score(features) -> [(p, expected saving, model version,
    [[feature, value, contribution], ...])] in order. gRPC retries UNAVAILABLE (a predictor
    restarting); no model yet raises FailedPrecondition, anything else Unavailable."""
    if not address:
        return None
    import json

    from cloudwaste.predictor.v1 import prediction_pb2, predictor_service_pb2, predictor_service_pb2_grpc

    retry = {
        "methodConfig": [
            {
                "name": [
                    {"service": "cloudwaste.predictor.v1.PredictorService", "method": "PredictWasteBatch"}
                ],
                "retryPolicy": {
                    "maxAttempts": 4,
                    "initialBackoff": "0.2s",
                    "maxBackoff": "2s",
                    "backoffMultiplier": 2,
                    "retryableStatusCodes": ["UNAVAILABLE"],
                },
            }
        ]
    }
    channel = channels.channel(
        address,
        options=[("grpc.enable_retries", 1), ("grpc.service_config", json.dumps(retry))],
        tls=settings.tls,
        token_file=settings.auth.token_file,
    )
    stub = predictor_service_pb2_grpc.PredictorServiceStub(channel)

    def features(row: dict) -> prediction_pb2.WasteFeatures:
        f = prediction_pb2.WasteFeatures(
            provider=provider_enum(row["provider"]),
            resource_type=row["resource_type"],
            region=row["region"],
            detection_scenario=row["detection_scenario"],
            confidence_level=confidence_enum(row["confidence_level"]),
            cost_monthly=row["cost_monthly"],
            # the resource's own tags, as the cloud gave them: cleaned to what a request may carry
            tags={clean(k): clean(v) for k, v in (row["tags"] or {}).items()},
            finding=row.get("finding", ""),
        )
        if row["resource_age_days"] is not None:
            f.resource_age_days = row["resource_age_days"]
        return f

    def score(rows: list[dict]) -> list[tuple[float, float, str, list]]:
        try:
            answer = stub.PredictWasteBatch(
                predictor_service_pb2.PredictWasteBatchRequest(features=[features(r) for r in rows]),
                timeout=timeout,
            )
        except grpc.RpcError as exc:
            if exc.code() == grpc.StatusCode.FAILED_PRECONDITION:
                raise FailedPrecondition(exc.details() or "no waste model") from None
            raise Unavailable(f"the predictor at {address} answered {exc.code().name}") from None
        return [
            (
                p.waste_probability,
                p.expected_monthly_saving,
                p.model_version,
                [[t.feature, t.value, t.contribution] for t in p.top_features],
            )
            for p in answer.predictions
        ]

    return score


def build_app(settings: ScannerSettings) -> App:
    db = Database(settings.database_url)
    store = ScannerStore(db, settings.hash_key)
    engine = Engine(load_all(), providers.options_from_settings(settings), settings.region_concurrency)
    worker = ScanWorker(
        store,
        engine,
        enricher_notifier(settings.enricher_address, settings),
        settings.scan_workers,
        settings.poll_seconds,
        score=waste_scorer(settings.predictor_address, settings.predict_timeout_seconds, settings),
        lease=dt.timedelta(seconds=settings.scan_lease_seconds),
    )
    servicer = ScannerServicer(store, on_scan_queued=worker.wake)
    name = scanner_service_pb2.DESCRIPTOR.services_by_name["ScannerService"].full_name
    return App(
        name="scanner",
        service_names=[name],
        register=lambda server: scanner_service_pb2_grpc.add_ScannerServiceServicer_to_server(
            servicer, server
        ),
        on_start=[worker.start],
        on_stop=[lambda: worker.stop(settings.shutdown_grace_seconds), db.dispose],
        database=db,
    )


def main() -> None:
    settings = ScannerSettings.from_env()
    logs.configure("scanner", settings.log_level)
    serve(settings, build_app(settings))
