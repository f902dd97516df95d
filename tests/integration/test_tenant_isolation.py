"""Tenant isolation, tried as another tenant would: the four services verify bearer tokens (a local
issuer's, read from its JWKS file), tenant A registers and scans an account, and tenant B calls
every RPC of every service against A's account, scan run and finding. B gets NOT_FOUND or
PERMISSION_DENIED (or, for predictions, an answer that holds no tenant's data), no answer
carries anything of A's, and A's data is as it was. Without a token every call but the health
checks is UNAUTHENTICATED; an operator sees every tenant."""

from __future__ import annotations

import grpc
import pytest
from cloudwaste.enricher.v1 import enricher_service_pb2
from cloudwaste.exporter.v1 import exporter_service_pb2
from cloudwaste.predictor.v1 import open_inference_pb2, predictor_service_pb2
from cloudwaste.scanner.v1 import finding_pb2, scanner_service_pb2
from cloudwaste.sim.issuer import LocalIssuer
from google.protobuf import json_format, message_factory
from grpc_health.v1 import health_pb2, health_pb2_grpc

from tests.integration.conftest import TENANT, start_stack

SCANNER_IDENTITY = "system:serviceaccount:cloudwaste:cloudwaste-scanner"
OTHER = "tenant-b-globex"
MODULES = {
    "scanner": scanner_service_pb2,
    "enricher": enricher_service_pb2,
    "exporter": exporter_service_pb2,
    "predictor": predictor_service_pb2,
}
FEATURES = {
    "provider": "PROVIDER_AWS",
    "resource_type": "aws.ec2.volume",
    "detection_scenario": "ebs-volume-unattached",
    "confidence_level": "CONFIDENCE_LEVEL_HIGH",
}
# predictions hold no tenant's data: any authenticated caller may ask for them
PREDICTIONS = {
    "PredictorService.PredictWaste",
    "PredictorService.PredictWasteBatch",
    "PredictorService.ScoreAnomalies",
    "PredictorService.StreamAnomalyScores",
    "PredictorService.ForecastCost",
    "PredictorService.ListModelVersions",
    "PredictorService.GetShadowEvaluation",
    *(
        f"GRPCInferenceService.{m}"
        for m in ("ServerLive", "ServerReady", "ServerMetadata", "ModelReady", "ModelMetadata", "ModelInfer")
    ),
}


def _methods():
    """Every RPC of the four services: (component, service descriptor, method descriptor)."""
    out = []
    for component, module in MODULES.items():
        for service in module.DESCRIPTOR.services_by_name.values():
            out.extend((component, service, m) for m in service.methods)
    for service in open_inference_pb2.DESCRIPTOR.services_by_name.values():
        out.extend(("predictor", service, m) for m in service.methods)
    return out


def call(channels, component, service, method, request: dict, token: str | None):
    """(status code, response messages) of one call, as any client would make it."""
    path = f"/{service.full_name}/{method.name}"
    req = json_format.ParseDict(request, message_factory.GetMessageClass(method.input_type)())
    resp_cls = message_factory.GetMessageClass(method.output_type)
    kwargs = {
        "request_serializer": type(req).SerializeToString,
        "response_deserializer": resp_cls.FromString,
    }
    metadata = [("authorization", f"Bearer {token}")] if token else None
    ch = channels[component]
    try:
        if method.client_streaming:
            responses = list(ch.stream_stream(path, **kwargs)(iter([req]), metadata=metadata, timeout=15))
        elif method.server_streaming:
            responses = list(ch.unary_stream(path, **kwargs)(req, metadata=metadata, timeout=15))
        else:
            responses = [ch.unary_unary(path, **kwargs)(req, metadata=metadata, timeout=15)]
        return grpc.StatusCode.OK, responses, ""
    except grpc.RpcError as exc:
        return exc.code(), [], exc.details() or ""


@pytest.fixture
def isolated(database_url, moto_estate, tmp_path):
    issuer = LocalIssuer(tmp_path / "issuer")
    scanner_token = issuer.token_file("scanner-token", SCANNER_IDENTITY)
    stack_gen = start_stack(
        database_url,
        moto_estate,
        tmp_path,
        auth=issuer.settings(operator_subjects=(SCANNER_IDENTITY,)),
        scanner_token_file=str(scanner_token),
    )
    stack = next(stack_gen)
    channels = {k: grpc.insecure_channel(f"127.0.0.1:{v.port}") for k, v in stack.running.items()}
    try:
        yield stack, issuer, channels
    finally:
        for c in channels.values():
            c.close()
        stack_gen.close()


def test_another_tenant_reaches_nothing_of_a_tenant_through_any_rpc(isolated):
    stack, issuer, channels = isolated
    a_token = issuer.token("alice@acme", tenant=TENANT)
    b_token = issuer.token("bob@globex", tenant=OTHER)
    operator = issuer.token("ops@cloudwaste", roles=("cloudwaste-operator",))
    a = [("authorization", f"Bearer {a_token}")]

    # Tenant A registers an account (its tenant comes from the token) and scans it; the scanner
    # hands the run to the enricher and has it scored by the predictor with its own token.
    role_arn = f"arn:aws:iam::{stack.truth.account_id}:role/CloudWaste"
    aws = {"role_arn": role_arn}
    account = stack.scanner.CreateCloudAccount(
        json_format.ParseDict(
            {
                "cloud_account": {
                    "provider": "PROVIDER_AWS",
                    "display_name": "acme-prod",
                    "regions": stack.truth.regions[:1],
                    "aws": aws,
                }
            },
            scanner_service_pb2.CreateCloudAccountRequest(),
        ),
        metadata=a,
        timeout=10,
    ).cloud_account
    assert account.tenant_id == TENANT
    run = stack.scanner.StartScan(
        scanner_service_pb2.StartScanRequest(cloud_account=account.name, request_id="scan-1"),
        metadata=a,
        timeout=10,
    ).scan_run
    import time

    deadline = time.monotonic() + 120
    while run.state in (1, 2):
        assert time.monotonic() < deadline
        time.sleep(0.2)
        run = stack.scanner.GetScanRun(
            scanner_service_pb2.GetScanRunRequest(name=run.name), metadata=a, timeout=10
        ).scan_run
    assert run.state == 3, run  # SUCCEEDED
    findings = stack.scanner.ListFindings(
        scanner_service_pb2.ListFindingsRequest(page_size=1000), metadata=a, timeout=10
    )
    assert findings.total_size > 0
    finding = findings.findings[0]
    # handed over and enriched, though the enricher only answers operators: the scanner is one
    assert _wait_enriched(channels, run.name, operator), "the scanner's hand-off did not reach the enricher"

    canaries = [TENANT, account.aws.external_id, role_arn, "acme-prod", stack.truth.account_id]
    b_requests = {
        "ScannerService.CreateCloudAccount": {
            "cloud_account": {
                "provider": "PROVIDER_AWS",
                "tenant_id": TENANT,
                "regions": stack.truth.regions[:1],
                "aws": aws,
            }
        },
        "ScannerService.GetCloudAccount": {"name": account.name},
        "ScannerService.ListCloudAccounts": {"tenant_id": TENANT},
        "ScannerService.UpdateCloudAccount": {
            "cloud_account": {"name": account.name, "display_name": "pwned"},
            "update_mask": "displayName",
        },
        "ScannerService.DeleteCloudAccount": {"name": account.name, "erase_ml_data": True},
        "ScannerService.EraseTenantData": {"tenant_id": TENANT},
        "ScannerService.GetErasure": {"name": "erasures/00000000-0000-4000-8000-000000000001"},
        "ScannerService.ListErasures": {},
        "ScannerService.StartScan": {"cloud_account": account.name},
        "ScannerService.GetScanRun": {"name": run.name},
        "ScannerService.ListScanRuns": {"cloud_account": account.name},
        "ScannerService.GetFinding": {"name": finding.name},
        "ScannerService.ListFindings": {"scan_run": run.name},
        "ScannerService.SetFindingState": {"name": finding.name, "state": "FINDING_STATE_DELETED"},
        "EnricherService.EnrichScanRun": {"scan_run": run.name},
        "EnricherService.GetEnrichmentRun": {"scan_run": run.name},
        "EnricherService.ListEnrichmentRuns": {},
        "ExporterService.ExportDataset": {"destination_uri": stack.export_root.as_uri()},
        "ExporterService.GetExportRun": {"name": "exportRuns/00000000-0000-4000-8000-000000000001"},
        "ExporterService.ListExportRuns": {},
        "ExporterService.PurgeExpiredData": {"dry_run": True},
        "ExporterService.GetPurgeRun": {"name": "purgeRuns/00000000-0000-4000-8000-000000000001"},
        "ExporterService.ListPurgeRuns": {},
        "PredictorService.TrainModels": {"dataset_uri": stack.export_root.as_uri(), "model_kind": "waste"},
        "PredictorService.GetTrainingRun": {"name": "trainingRuns/00000000-0000-4000-8000-000000000001"},
        "PredictorService.ListTrainingRuns": {},
        "PredictorService.SetModelVersionRole": {
            "name": "models/waste/versions/1",
            "role": "MODEL_ROLE_SHADOW",
        },
        "PredictorService.PredictWaste": {"features": FEATURES},
        "PredictorService.PredictWasteBatch": {"features": [FEATURES]},
        "PredictorService.ScoreAnomalies": {"values": [10.0, 11, 9, 10, 12, 10, 95]},
        "PredictorService.StreamAnomalyScores": {"series_key": "cpu", "value": 1.5},
        "PredictorService.ForecastCost": {
            "spend": {"first_month": "2025-01", "amounts": [1000.0 + i for i in range(12)]},
            "horizon_months": 3,
        },
        "PredictorService.ListModelVersions": {"model_kind": "waste"},
        "PredictorService.GetShadowEvaluation": {"model_kind": "waste"},
        "GRPCInferenceService.ServerLive": {},
        "GRPCInferenceService.ServerReady": {},
        "GRPCInferenceService.ServerMetadata": {},
        "GRPCInferenceService.ModelReady": {"name": "anomaly"},
        "GRPCInferenceService.ModelMetadata": {"name": "anomaly"},
        "GRPCInferenceService.ModelInfer": {
            "model_name": "anomaly",
            "inputs": [
                {"name": "values", "datatype": "FP64", "shape": [3], "contents": {"fp64_contents": [1, 2, 9]}}
            ],
        },
    }
    methods = _methods()
    assert {f"{s.name}.{m.name}" for _, s, m in methods} == set(b_requests), "an RPC has no isolation case"

    outcomes = {}
    for component, service, method in methods:
        key = f"{service.name}.{method.name}"
        code, responses, details = call(channels, component, service, method, b_requests[key], b_token)
        outcomes[key] = code
        said = details + "".join(str(r) for r in responses)
        assert not [c for c in canaries if c in said], (key, said[:300])
        if key in PREDICTIONS:
            assert code not in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED), key
        else:
            assert code in (grpc.StatusCode.NOT_FOUND, grpc.StatusCode.PERMISSION_DENIED), (
                key,
                code,
                details,
            )
        # without a token, nothing but the health checks answers
        code, _, details = call(channels, component, service, method, b_requests[key], None)
        assert code == grpc.StatusCode.UNAUTHENTICATED, (key, code)
        assert "bearer token" in details
    # B's own lists are empty: nothing of A's shows through them
    b = [("authorization", f"Bearer {b_token}")]
    assert not stack.scanner.ListCloudAccounts(
        scanner_service_pb2.ListCloudAccountsRequest(), metadata=b, timeout=10
    ).cloud_accounts
    assert not stack.scanner.ListScanRuns(
        scanner_service_pb2.ListScanRunsRequest(), metadata=b, timeout=10
    ).scan_runs
    assert (
        stack.scanner.ListFindings(
            scanner_service_pb2.ListFindingsRequest(all_states=True), metadata=b, timeout=10
        ).total_size
        == 0
    )
    # nor may B register A's role under its own tenant (the confused deputy)
    with pytest.raises(grpc.RpcError) as refused:
        stack.scanner.CreateCloudAccount(
            json_format.ParseDict(
                {
                    "cloud_account": {
                        "provider": "PROVIDER_AWS",
                        "regions": stack.truth.regions[:1],
                        "aws": aws,
                    }
                },
                scanner_service_pb2.CreateCloudAccountRequest(),
            ),
            metadata=b,
            timeout=10,
        )
    assert refused.value.code() == grpc.StatusCode.PERMISSION_DENIED
    assert "another tenant" in refused.value.details()

    # A's data is as it was; an operator sees it, a stale or foreign-issuer token does not
    again = stack.scanner.GetFinding(
        scanner_service_pb2.GetFindingRequest(name=finding.name), metadata=a, timeout=10
    ).finding
    assert again.state == finding_pb2.FINDING_STATE_OPEN and again.etag == finding.etag
    assert (
        stack.scanner.GetCloudAccount(
            scanner_service_pb2.GetCloudAccountRequest(name=account.name), metadata=a, timeout=10
        ).cloud_account.display_name
        == "acme-prod"
    )
    assert (
        len(
            stack.scanner.ListScanRuns(
                scanner_service_pb2.ListScanRunsRequest(), metadata=a, timeout=10
            ).scan_runs
        )
        == 1
    )
    seen = stack.scanner.ListFindings(
        scanner_service_pb2.ListFindingsRequest(),
        metadata=[("authorization", f"Bearer {operator}")],
        timeout=10,
    )
    assert seen.total_size == findings.total_size
    expired = issuer.token("alice@acme", tenant=TENANT, ttl=-120)
    with pytest.raises(grpc.RpcError) as stale:
        stack.scanner.GetFinding(
            scanner_service_pb2.GetFindingRequest(name=finding.name),
            metadata=[("authorization", f"Bearer {expired}")],
            timeout=10,
        )
    assert stale.value.code() == grpc.StatusCode.UNAUTHENTICATED and "expired" in stale.value.details()
    forged = LocalIssuer(stack.export_root.parent / "forger").token("alice@acme", tenant=TENANT)
    with pytest.raises(grpc.RpcError) as bad:
        stack.scanner.GetFinding(
            scanner_service_pb2.GetFindingRequest(name=finding.name),
            metadata=[("authorization", f"Bearer {forged}")],
            timeout=10,
        )
    assert bad.value.code() == grpc.StatusCode.UNAUTHENTICATED

    # B's own account and scan: a request id A used is B's to use too, and names nothing of A's;
    # an Azure, GCP or M365 account (credentials held by the scanner) is for an operator to register
    b_account = stack.scanner.CreateCloudAccount(
        json_format.ParseDict(
            {
                "cloud_account": {
                    "provider": "PROVIDER_AWS",
                    "regions": stack.truth.regions[:1],
                    "aws": {"role_arn": role_arn + "Globex"},
                }
            },
            scanner_service_pb2.CreateCloudAccountRequest(),
        ),
        metadata=b,
        timeout=10,
    ).cloud_account
    b_run = stack.scanner.StartScan(
        scanner_service_pb2.StartScanRequest(cloud_account=b_account.name, request_id="scan-1"),
        metadata=b,
        timeout=10,
    ).scan_run
    assert b_run.name != run.name and b_run.cloud_account == b_account.name
    assert b_account.aws.external_id not in ("", account.aws.external_id)
    from cloudwaste.sim.clouds import cloud_account

    for provider in ("azure", "gcp", "m365"):
        foreign = scanner_service_pb2.CreateCloudAccountRequest(
            cloud_account=cloud_account(provider, ["s"], OTHER, provider)
        )
        with pytest.raises(grpc.RpcError) as held:
            stack.scanner.CreateCloudAccount(foreign, metadata=b, timeout=10)
        assert held.value.code() == grpc.StatusCode.PERMISSION_DENIED, provider
        assert "an operator registers them" in held.value.details()
    # EraseTenantData by the tenant itself: its rows go, but the datasets (every tenant's) are not named
    erased = stack.scanner.EraseTenantData(
        scanner_service_pb2.EraseTenantDataRequest(tenant_id=OTHER), metadata=b, timeout=30
    )
    assert not erased.exports_to_rewrite
    # an operator sees both tenants
    ops = [("authorization", f"Bearer {operator}")]
    tenants = {
        a.tenant_id
        for a in stack.scanner.ListCloudAccounts(
            scanner_service_pb2.ListCloudAccountsRequest(), metadata=ops, timeout=10
        ).cloud_accounts
    }
    assert tenants == {TENANT, OTHER}

    # health answers without a token (the kubelet's probes send none)
    for ch in channels.values():
        status = health_pb2_grpc.HealthStub(ch).Check(health_pb2.HealthCheckRequest(), timeout=5).status
        assert status == health_pb2.HealthCheckResponse.SERVING
    print({k: v.name for k, v in sorted(outcomes.items())})


def _wait_enriched(channels, scan_run: str, token: str, timeout: float = 30) -> bool:
    import time

    from cloudwaste.enricher.v1 import enricher_service_pb2_grpc, enrichment_run_pb2

    stub = enricher_service_pb2_grpc.EnricherServiceStub(channels["enricher"])
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            run = stub.GetEnrichmentRun(
                enricher_service_pb2.GetEnrichmentRunRequest(scan_run=scan_run),
                metadata=[("authorization", f"Bearer {token}")],
                timeout=5,
            ).enrichment_run
            if run.state == enrichment_run_pb2.ENRICHMENT_RUN_STATE_SUCCEEDED:
                return True
        except grpc.RpcError as exc:
            if exc.code() != grpc.StatusCode.NOT_FOUND:
                raise
        time.sleep(0.1)
    return False
