"""Valid requests for the fuzz suite, per RPC, over real resources of a running deployment: an AWS
account of the simulated estate scanned once, one of its findings, the export folder. The fuzzer
replaces one to three of their fields (protofuzz.mutants), which reaches the checks behind the first
one a random message trips."""

from __future__ import annotations

import json
import time

import grpc
from cloudwaste.scanner.v1 import scanner_service_pb2, scanner_service_pb2_grpc
from cloudwaste.sim.clouds import cloud_account
from google.protobuf import json_format, message_factory

FEATURES = {
    "provider": "PROVIDER_AWS",
    "resource_type": "aws.ec2.volume",
    "detection_scenario": "ebs-volume-unattached",
    "confidence_level": "CONFIDENCE_LEVEL_HIGH",
}


def _scanned_account(deployment, aws: dict):
    with grpc.insecure_channel(deployment.addresses["scanner"]) as ch:
        scanner = scanner_service_pb2_grpc.ScannerServiceStub(ch)
        account = scanner.CreateCloudAccount(
            json_format.ParseDict({"cloud_account": aws}, scanner_service_pb2.CreateCloudAccountRequest()),
            timeout=10,
        ).cloud_account
        run = scanner.StartScan(
            scanner_service_pb2.StartScanRequest(cloud_account=account.name), timeout=10
        ).scan_run
        deadline = time.monotonic() + 120
        while run.state in (1, 2):  # PENDING, RUNNING
            assert time.monotonic() < deadline, "the fuzz deployment's scan did not end"
            time.sleep(0.3)
            run = scanner.GetScanRun(
                scanner_service_pb2.GetScanRunRequest(name=run.name), timeout=10
            ).scan_run
        finding = scanner.ListFindings(
            scanner_service_pb2.ListFindingsRequest(scan_run=run.name, page_size=1), timeout=10
        ).findings[0]
    return account, run, finding


def seed_requests(deployment, input_type) -> dict[str, list]:
    """{"<Service>.<Method>": [valid request, ...]}; `input_type(key)` gives the request's descriptor."""
    truth = json.loads(deployment.truth_path.read_text())
    aws = {
        "provider": "PROVIDER_AWS",
        "tenant_id": "fuzz",
        "display_name": "fuzz",
        "regions": truth["regions"][:1],
        "ml_collection_enabled": True,
        "aws": {"role_arn": f"arn:aws:iam::{truth['account_id']}:role/fuzz"},
    }
    account, run, finding = _scanned_account(deployment, aws)
    others = [
        json_format.MessageToDict(cloud_account(p, ["scope-1"], "fuzz", p), preserving_proto_field_name=True)
        for p in ("azure", "gcp", "m365")
    ]
    export = deployment.export_root.as_uri()
    raw = {
        "ScannerService.CreateCloudAccount": [{"cloud_account": a} for a in [aws, *others]],
        "ScannerService.GetCloudAccount": [{"name": account.name}],
        "ScannerService.UpdateCloudAccount": [
            {
                "cloud_account": {
                    "name": account.name,
                    "display_name": "renamed",
                    "regions": truth["regions"],
                },
                "update_mask": "displayName,regions",
            }
        ],
        "ScannerService.EraseTenantData": [{"tenant_id": "fuzz-erased"}],
        "ScannerService.StartScan": [{"cloud_account": account.name, "regions": truth["regions"][:1]}],
        "ScannerService.GetScanRun": [{"name": run.name}],
        "ScannerService.ListScanRuns": [{"cloud_account": account.name, "page_size": 5}],
        "ScannerService.GetFinding": [{"name": finding.name}],
        "ScannerService.ListFindings": [
            {"scan_run": run.name, "page_size": 50},
            {"cloud_account": account.name, "state": "FINDING_STATE_OPEN", "category": finding.category},
        ],
        "ScannerService.SetFindingState": [
            {"name": finding.name, "state": "FINDING_STATE_KEPT", "etag": finding.etag},
            {
                "name": finding.name,
                "state": "FINDING_STATE_IGNORED",
                "ignore_expire_time": "2030-01-01T00:00:00Z",
            },
        ],
        "EnricherService.EnrichScanRun": [{"scan_run": run.name}],
        "ExporterService.ExportDataset": [
            {"destination_uri": f"{export}/fuzz", "format": "DATASET_FORMAT_PARQUET"}
        ],
        "ExporterService.PurgeExpiredData": [{"dry_run": True, "ml_retention_days": 730}],
        "PredictorService.TrainModels": [
            {"dataset_uri": f"{export}/fuzz", "model_kind": "waste", "skip_activation": True}
        ],
        "PredictorService.PredictWaste": [{"features": FEATURES}],
        "PredictorService.PredictWasteBatch": [{"features": [FEATURES, FEATURES]}],
        "PredictorService.ListModelVersions": [{"model_kind": "waste", "page_size": 5}],
        "PredictorService.ScoreAnomalies": [{"values": [10.0 + (i % 7) for i in range(60)] + [95.0]}],
        "PredictorService.StreamAnomalyScores": [{"series_key": "cpu", "value": 1.5}],
        "PredictorService.ForecastCost": [
            {
                "spend": {"first_month": "2025-01", "amounts": [1000 * 1.03**i for i in range(12)]},
                "horizon_months": 4,
            }
        ],
        "PredictorService.SetModelVersionRole": [
            {"name": "models/waste/versions/1", "role": "MODEL_ROLE_SHADOW"}
        ],
        "PredictorService.GetShadowEvaluation": [{"model_kind": "waste"}],
        "GRPCInferenceService.ModelReady": [{"name": "anomaly"}],
        "GRPCInferenceService.ModelMetadata": [{"name": "anomaly"}],
        "GRPCInferenceService.ModelInfer": [
            {
                "model_name": "anomaly",
                "inputs": [
                    {
                        "name": "values",
                        "datatype": "FP64",
                        "shape": [5],
                        "contents": {"fp64_contents": [1, 2, 3, 4, 9]},
                    }
                ],
            }
        ],
    }
    return {
        key: [json_format.ParseDict(r, message_factory.GetMessageClass(input_type(key))()) for r in requests]
        for key, requests in raw.items()
    }
