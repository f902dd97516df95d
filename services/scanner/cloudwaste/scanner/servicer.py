"""ScannerService: a thin adapter, proto -> domain -> proto. Errors are raised, never aborted here."""

from __future__ import annotations

import re

from cloudwaste.common.v1 import confidence_pb2, provider_pb2
from cloudwaste.core import names, pagination
from cloudwaste.core.errors import InvalidArgument
from cloudwaste.core.protoconv import money, timestamp
from cloudwaste.core.regions import known_regions
from cloudwaste.scanner.store import FindingFilter, ScannerStore
from cloudwaste.scanner.v1 import (
    cloud_account_pb2,
    finding_pb2,
    scan_run_pb2,
    scanner_service_pb2,
    scanner_service_pb2_grpc,
)
from google.protobuf import json_format, struct_pb2

_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):role/[\w+=,.@/-]{1,512}$")
_ACCOUNT = re.compile(r"^\d{12}$")
_PROVIDERS = {provider_pb2.PROVIDER_AWS: "aws"}
_PROVIDER_ENUM = {
    "aws": provider_pb2.PROVIDER_AWS,
    "azure": provider_pb2.PROVIDER_AZURE,
    "gcp": provider_pb2.PROVIDER_GCP,
    "m365": provider_pb2.PROVIDER_M365,
}
_STATE_NAMES = {v: k.removeprefix("FINDING_STATE_") for k, v in finding_pb2.FindingState.items()}


def _account_pb(a) -> cloud_account_pb2.CloudAccount:
    return cloud_account_pb2.CloudAccount(
        name=names.format("cloudAccounts", a.id),
        provider=_PROVIDER_ENUM.get(a.provider, provider_pb2.PROVIDER_UNSPECIFIED),
        display_name=a.display_name,
        tenant_id=a.tenant_id,
        regions=list(a.regions),
        aws=cloud_account_pb2.AwsAccess(
            account_id=a.access.get("account_id", ""),
            role_arn=a.access.get("role_arn", ""),
            external_id=a.access.get("external_id", ""),
        ),
        create_time=timestamp(a.create_time),
        ml_collection_enabled=a.ml_collection_enabled,
    )


def scan_run_pb(r) -> scan_run_pb2.ScanRun:
    results = r.region_results or []
    return scan_run_pb2.ScanRun(
        name=names.format("scanRuns", r.id),
        cloud_account=names.format("cloudAccounts", r.cloud_account_id),
        state=scan_run_pb2.ScanRunState.Value(f"SCAN_RUN_STATE_{r.state}"),
        region_results=[scan_run_pb2.RegionResult(**x) for x in results],
        resources_scanned=r.resources_scanned,
        findings_count=r.findings_count,
        total_monthly_waste=money(r.total_monthly_waste),
        create_time=timestamp(r.create_time),
        start_time=timestamp(r.start_time),
        end_time=timestamp(r.end_time),
        error_message=r.error_message or "",
        regions_done=len(results),
        regions_total=len(r.regions or []),
    )


def finding_pb(f) -> finding_pb2.Finding:
    evidence = struct_pb2.Struct()
    json_format.ParseDict(f.evidence or {}, evidence)
    return finding_pb2.Finding(
        name=names.format("findings", f.id),
        resource_name=f.resource_id,
        resource_type=f.resource_type,
        provider=_PROVIDER_ENUM.get(f.provider, provider_pb2.PROVIDER_UNSPECIFIED),
        region=f.region,
        category=f.scenario,
        severity=finding_pb2.Severity.Value(f"SEVERITY_{f.severity}"),
        confidence=confidence_pb2.ConfidenceLevel.Value(f"CONFIDENCE_LEVEL_{f.confidence}"),
        state=finding_pb2.FindingState.Value(f"FINDING_STATE_{f.state}"),
        monthly_cost=money(f.monthly_cost, f.currency),
        evidence=evidence,
        event_time=timestamp(f.event_time),
        create_time=timestamp(f.create_time),
        scan_run=names.format("scanRuns", f.scan_run_id),
        cloud_account=names.format("cloudAccounts", f.cloud_account_id),
        resource_display_name=f.resource_display_name or "",
        state_change_time=timestamp(f.state_change_time),
        resource_create_time=timestamp(f.resource_create_time),
        resource_labels={str(k): str(v) for k, v in (f.tags or {}).items()},
    )


class ScannerServicer(scanner_service_pb2_grpc.ScannerServiceServicer):
    def __init__(self, store: ScannerStore, on_scan_queued=lambda: None) -> None:
        self.store = store
        self.on_scan_queued = on_scan_queued

    def CreateCloudAccount(self, request, context):
        a = request.cloud_account
        if not request.HasField("cloud_account"):
            raise InvalidArgument("cloud_account", "is required")
        if a.provider != provider_pb2.PROVIDER_AWS:
            raise InvalidArgument("cloud_account.provider", "only PROVIDER_AWS is supported for now")
        if not a.tenant_id.strip() or len(a.tenant_id) > 128:
            raise InvalidArgument("cloud_account.tenant_id", "is required (at most 128 characters)")
        if len(a.display_name) > 256:
            raise InvalidArgument("cloud_account.display_name", "must be at most 256 characters")
        if not a.HasField("aws"):
            raise InvalidArgument("cloud_account.aws", "is required for PROVIDER_AWS")
        m = _ROLE_ARN.match(a.aws.role_arn)
        if not m:
            raise InvalidArgument(
                "cloud_account.aws.role_arn", "must look like arn:aws:iam::123456789012:role/NAME"
            )
        if a.aws.account_id and not _ACCOUNT.match(a.aws.account_id):
            raise InvalidArgument("cloud_account.aws.account_id", "must be 12 digits")
        if a.aws.account_id and a.aws.account_id != m.group(1):
            raise InvalidArgument("cloud_account.aws.account_id", "does not match the account of role_arn")
        if not 2 <= len(a.aws.external_id) <= 1224:
            raise InvalidArgument("cloud_account.aws.external_id", "is required (2-1224 characters)")
        valid = known_regions("aws")
        for i, region in enumerate(a.regions):
            if region not in valid:
                raise InvalidArgument(f"cloud_account.regions[{i}]", f'"{region[:64]}" is not an AWS region')
        account = self.store.create_account(
            tenant_id=a.tenant_id.strip(),
            provider=_PROVIDERS[a.provider],
            display_name=a.display_name,
            regions=list(dict.fromkeys(a.regions)),
            access={"account_id": m.group(1), "role_arn": a.aws.role_arn, "external_id": a.aws.external_id},
            ml_collection_enabled=a.ml_collection_enabled,
        )
        return scanner_service_pb2.CreateCloudAccountResponse(cloud_account=_account_pb(account))

    def GetCloudAccount(self, request, context):
        account = self.store.get_account(names.parse("name", request.name, "cloudAccounts"))
        return scanner_service_pb2.GetCloudAccountResponse(cloud_account=_account_pb(account))

    def StartScan(self, request, context):
        account_id = names.parse("cloud_account", request.cloud_account, "cloudAccounts")
        valid = known_regions("aws")
        for i, region in enumerate(request.regions):
            if region not in valid:
                raise InvalidArgument(f"regions[{i}]", f'"{region[:64]}" is not an AWS region')
        run = self.store.create_scan_run(account_id, list(dict.fromkeys(request.regions)))
        self.on_scan_queued()
        return scanner_service_pb2.StartScanResponse(scan_run=scan_run_pb(run))

    def GetScanRun(self, request, context):
        run = self.store.get_scan_run(names.parse("name", request.name, "scanRuns"))
        return scanner_service_pb2.GetScanRunResponse(scan_run=scan_run_pb(run))

    def ListFindings(self, request, context):
        if request.state not in _STATE_NAMES:
            raise InvalidArgument("state", f"unknown value {request.state}")
        flt = FindingFilter(
            scan_run_id=names.parse("scan_run", request.scan_run, "scanRuns") if request.scan_run else None,
            cloud_account_id=(
                names.parse("cloud_account", request.cloud_account, "cloudAccounts")
                if request.cloud_account
                else None
            ),
            state=_STATE_NAMES[request.state] if request.state else None,
            category=request.category or None,
        )
        if request.category and not re.fullmatch(r"[a-z0-9-]{1,64}", request.category):
            raise InvalidArgument("category", "must be a scenario key like ebs-volume-unattached")
        size = pagination.page_size(request.page_size, default=50, maximum=1000)
        rows, token, total = self.store.list_findings(flt, size, request.page_token)
        return scanner_service_pb2.ListFindingsResponse(
            findings=[finding_pb(f) for f in rows], next_page_token=token, total_size=total
        )

    def SetFindingState(self, request, context):
        finding_id = names.parse("name", request.name, "findings")
        allowed = {
            finding_pb2.FINDING_STATE_DELETED,
            finding_pb2.FINDING_STATE_KEPT,
            finding_pb2.FINDING_STATE_IGNORED,
            finding_pb2.FINDING_STATE_OPEN,
        }
        if request.state not in allowed:
            raise InvalidArgument("state", "must be FINDING_STATE_DELETED, _KEPT, _IGNORED or _OPEN")
        finding = self.store.set_finding_state(finding_id, _STATE_NAMES[request.state])
        return scanner_service_pb2.SetFindingStateResponse(finding=finding_pb(finding))
