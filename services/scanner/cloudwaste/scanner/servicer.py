"""ScannerService: a thin adapter, proto -> domain -> proto. Errors are raised, never aborted here.

It knows no provider by name: a cloud account's `provider` enum names a registered provider
(PROVIDER_AWS -> "aws"), and its `access` oneof field of the same name holds the settings that
provider validates.
"""

from __future__ import annotations

import datetime as dt
import re

from cloudwaste.common.v1 import provider_pb2
from cloudwaste.core import auth, names, pagination
from cloudwaste.core.errors import InvalidArgument, PermissionDenied
from cloudwaste.core.protoconv import money, provider_enum, provider_key, run_error, timestamp
from cloudwaste.scanner import providers
from cloudwaste.scanner.rendering import finding_pb
from cloudwaste.scanner.rules import load_all as load_rules
from cloudwaste.scanner.store import USER_STATES, FindingFilter, ScannerStore
from cloudwaste.scanner.v1 import (
    cloud_account_pb2,
    erasure_pb2,
    finding_pb2,
    scan_run_pb2,
    scanner_service_pb2,
    scanner_service_pb2_grpc,
)
from google.protobuf import json_format

_STATE_NAMES = {v: k.removeprefix("FINDING_STATE_") for k, v in finding_pb2.FindingState.items()}
_UPDATABLE = ("display_name", "regions", "rule_parameters", "ml_collection_enabled")
_MAX_TEXT = 256
# A ListFindings page stops before this many bytes (findings with many tags are large): under the
# 4 MB a gRPC client (and grpcurl) receives by default. next_page_token goes on from there.
MAX_PAGE_BYTES = 3_500_000
_PAGE_FIELDS_BYTES = 4096  # a page token (its filters included) is well under this


def _account_pb(a, account_hash: str, show_external_id: bool = False) -> cloud_account_pb2.CloudAccount:
    """The account as the API shows it. The AWS external id only in CreateCloudAccount's answer:
    shown once, for the role's trust policy."""
    msg = cloud_account_pb2.CloudAccount(
        name=names.format("cloudAccounts", a.id),
        provider=provider_enum(a.provider),
        display_name=a.display_name,
        tenant_id=a.tenant_id,
        regions=list(a.regions),
        create_time=timestamp(a.create_time),
        update_time=timestamp(a.update_time),
        ml_collection_enabled=a.ml_collection_enabled,
        account_hash=account_hash,
    )
    if a.provider in cloud_account_pb2.CloudAccount.DESCRIPTOR.fields_by_name:
        json_format.ParseDict(a.access or {}, getattr(msg, a.provider), ignore_unknown_fields=True)
    if a.provider == "aws" and not show_external_id:
        msg.aws.ClearField("external_id")
    for rule, params in (a.rule_parameters or {}).items():
        msg.rule_parameters[rule].update(params)
    return msg


def erasure_pb(r) -> erasure_pb2.Erasure:
    return erasure_pb2.Erasure(
        name=names.format("erasures", r.id),
        tenant_hashes=list(r.tenant_hashes or []),
        ml_rows_deleted=r.ml_rows_deleted,
        exports_to_rewrite=list(r.exports_to_rewrite or []),
        create_time=timestamp(r.create_time),
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
        error=run_error(r),
        regions_done=len(results),
        regions_total=len(r.regions or []),
        new_findings_count=r.new_findings_count,
        resolved_findings_count=r.resolved_findings_count,
        reopened_findings_count=r.reopened_findings_count,
    )


_ORDERS = {"create_time desc": "create_time", "expected_monthly_saving desc": "expected_monthly_saving"}


def _order_by(value: str) -> str:
    """AIP-132 order_by: one of the orders ListFindings can page through."""
    if not value:
        return "create_time"
    order = _ORDERS.get(" ".join(value.lower().split()))
    if order is None:
        raise InvalidArgument(
            "order_by", f"must be one of {', '.join(repr(o) for o in _ORDERS)} (got {value[:64]!r})"
        )
    return order


def _text(field: str, value: str, required: bool = False, limit: int = _MAX_TEXT) -> str:
    if "\x00" in value:
        raise InvalidArgument(field, "must not contain NUL characters")
    if len(value) > limit:
        raise InvalidArgument(field, f"must be at most {limit} characters")
    if required and not value.strip():
        raise InvalidArgument(field, "is required")
    return value.strip() if required else value


def _rule_parameters(msg: cloud_account_pb2.CloudAccount, provider: str) -> dict:
    """The account's rule parameter overrides, validated against the rule registry."""
    overrides = {}
    for rule, struct in msg.rule_parameters.items():
        values = json_format.MessageToDict(struct)
        # JSON numbers arrive as floats: a whole number is an int to the parameter spec
        overrides[rule] = {
            k: int(v) if isinstance(v, float) and v.is_integer() else v for k, v in values.items()
        }
    try:
        load_rules().effective_params(overrides, provider=provider)
    except InvalidArgument as exc:  # the registry names rule_parameters.<rule>.<param>
        raise InvalidArgument(f"cloud_account.{exc.field}", exc.problem) from None
    return overrides


def _scope() -> str | None:
    """The tenant whose rows the caller may see (None: all, for an operator or without auth)."""
    return auth.current().tenant_scope


class ScannerServicer(scanner_service_pb2_grpc.ScannerServiceServicer):
    def __init__(self, store: ScannerStore, on_scan_queued=lambda: None) -> None:
        self.store = store
        self.on_scan_queued = on_scan_queued

    def _account(self, a, show_external_id: bool = False) -> cloud_account_pb2.CloudAccount:
        return _account_pb(a, self.store.account_hash(a), show_external_id)

    # --- accounts ---------------------------------------------------------------------------
    def CreateCloudAccount(self, request, context):
        if not request.HasField("cloud_account"):
            raise InvalidArgument("cloud_account", "is required")
        a = request.cloud_account
        key = provider_key(a.provider)
        if not key:
            raise InvalidArgument("cloud_account.provider", "is required (e.g. PROVIDER_AWS)")
        provider = providers.get(key, field="cloud_account.provider")
        tenant = auth.check_tenant(
            "cloud_account.tenant_id",
            _text("cloud_account.tenant_id", a.tenant_id, required=auth.current().tenant_scope is None, limit=128),
            auth.current(),
        )
        display_name = _text("cloud_account.display_name", a.display_name)
        if a.WhichOneof("access") != key:
            raise InvalidArgument(
                f"cloud_account.{key}", f"is required for {provider_pb2.Provider.Name(a.provider)}"
            )
        given = json_format.MessageToDict(getattr(a, key), preserving_proto_field_name=True)
        if key != "aws" and auth.current().tenant_scope is not None:
            # their credentials are the scanner's (a key of its credentials Secret, its workload
            # identity): only an operator, who put them there, may say which tenant they serve
            raise PermissionDenied(
                f"cloud_account.{key}: {provider_pb2.Provider.Name(a.provider)} accounts use credentials held "
                "by the scanner; an operator registers them for the tenant"
            )
        if key == "aws":
            if a.aws.external_id:
                raise InvalidArgument(
                    "cloud_account.aws.external_id",
                    "is generated by CloudWaste, one per tenant: leave it empty, then put the one "
                    "this call returns in the role's trust policy (sts:ExternalId)",
                )
            given["external_id"] = self.store.tenant_external_id(tenant)
        access = provider.validate_access(given, f"cloud_account.{key}")
        regions = provider.validate_scopes(list(a.regions), "cloud_account.regions")
        account = self.store.create_account(
            tenant_id=tenant,
            provider=key,
            display_name=display_name,
            regions=regions,
            access=access,
            ml_collection_enabled=a.ml_collection_enabled if a.HasField("ml_collection_enabled") else True,
            rule_parameters=_rule_parameters(a, key),
            request_id=names.request_id(request.request_id),
        )
        return scanner_service_pb2.CreateCloudAccountResponse(
            cloud_account=self._account(account, show_external_id=True)
        )

    def GetCloudAccount(self, request, context):
        account = self.store.get_account(names.parse("name", request.name, "cloudAccounts"), _scope())
        return scanner_service_pb2.GetCloudAccountResponse(cloud_account=self._account(account))

    def ListCloudAccounts(self, request, context):
        tenant = auth.check_tenant("tenant_id", _text("tenant_id", request.tenant_id, limit=128), auth.current())
        tenant = tenant or None
        size = pagination.page_size(request.page_size, default=50, maximum=1000)
        rows, token = self.store.list_accounts(tenant, size, request.page_token)
        return scanner_service_pb2.ListCloudAccountsResponse(
            cloud_accounts=[self._account(a) for a in rows], next_page_token=token
        )

    def UpdateCloudAccount(self, request, context):
        if not request.HasField("cloud_account"):
            raise InvalidArgument("cloud_account", "is required")
        a = request.cloud_account
        account_id = names.parse("cloud_account.name", a.name, "cloudAccounts")
        paths = list(request.update_mask.paths)
        if not paths:
            raise InvalidArgument(
                "update_mask", f"is required: name the fields to change ({', '.join(_UPDATABLE)})"
            )
        changes = {}
        for i, path in enumerate(paths):
            if path not in _UPDATABLE:
                raise InvalidArgument(
                    f"update_mask.paths[{i}]",
                    f'"{path[:64]}" cannot be changed (changeable: {", ".join(_UPDATABLE)})',
                )
        current = self.store.get_account(account_id, _scope())
        provider = providers.get(current.provider)
        if "display_name" in paths:
            changes["display_name"] = _text("cloud_account.display_name", a.display_name)
        if "regions" in paths:
            changes["regions"] = provider.validate_scopes(list(a.regions), "cloud_account.regions")
        if "rule_parameters" in paths:
            changes["rule_parameters"] = _rule_parameters(a, current.provider)
        if "ml_collection_enabled" in paths:
            changes["ml_collection_enabled"] = (
                a.ml_collection_enabled if a.HasField("ml_collection_enabled") else True
            )
        account = self.store.update_account(account_id, changes, _scope())
        return scanner_service_pb2.UpdateCloudAccountResponse(cloud_account=self._account(account))

    def DeleteCloudAccount(self, request, context):
        erased = self.store.delete_account(
            names.parse("name", request.name, "cloudAccounts"), request.erase_ml_data, _scope()
        )
        return scanner_service_pb2.DeleteCloudAccountResponse(
            scan_runs_deleted=erased.scan_runs,
            findings_deleted=erased.findings,
            user_actions_deleted=erased.user_actions,
            ml_rows_deleted=erased.ml_rows,
        )

    def EraseTenantData(self, request, context):
        tenant = _text("tenant_id", request.tenant_id, required=True, limit=128)
        record = self.store.erase_tenant(auth.check_tenant("tenant_id", tenant, auth.current()))
        operator = auth.current().operator  # the datasets (every tenant's) are the operator's to rewrite
        return scanner_service_pb2.EraseTenantDataResponse(
            ml_rows_deleted=record.ml_rows_deleted,
            exports_to_rewrite=list(record.exports_to_rewrite) if operator else [],
            tenant_hashes=list(record.tenant_hashes),
            erasure=names.format("erasures", record.id),
        )

    def GetErasure(self, request, context):
        record = self.store.get_erasure(names.parse("name", request.name, "erasures"))
        return scanner_service_pb2.GetErasureResponse(erasure=erasure_pb(record))

    def ListErasures(self, request, context):
        size = pagination.page_size(request.page_size, default=50, maximum=1000)
        rows, token = self.store.list_erasures(size, request.page_token)
        return scanner_service_pb2.ListErasuresResponse(
            erasures=[erasure_pb(r) for r in rows], next_page_token=token
        )

    # --- scan runs --------------------------------------------------------------------------
    def StartScan(self, request, context):
        account_id = names.parse("cloud_account", request.cloud_account, "cloudAccounts")
        request_id = names.request_id(request.request_id)
        account = self.store.get_account(account_id, _scope())
        regions = providers.get(account.provider).validate_scopes(list(request.regions), "regions")
        run = self.store.create_scan_run(account_id, regions, request_id, _scope())
        self.on_scan_queued()
        return scanner_service_pb2.StartScanResponse(scan_run=scan_run_pb(run))

    def GetScanRun(self, request, context):
        run = self.store.get_scan_run(names.parse("name", request.name, "scanRuns"), _scope())
        return scanner_service_pb2.GetScanRunResponse(scan_run=scan_run_pb(run))

    def ListScanRuns(self, request, context):
        account_id = (
            names.parse("cloud_account", request.cloud_account, "cloudAccounts")
            if request.cloud_account
            else None
        )
        size = pagination.page_size(request.page_size, default=50, maximum=1000)
        rows, token = self.store.list_scan_runs(account_id, size, request.page_token, _scope())
        return scanner_service_pb2.ListScanRunsResponse(
            scan_runs=[scan_run_pb(r) for r in rows], next_page_token=token
        )

    # --- findings ---------------------------------------------------------------------------
    def GetFinding(self, request, context):
        finding = self.store.get_finding(names.parse("name", request.name, "findings"), _scope())
        return scanner_service_pb2.GetFindingResponse(finding=finding_pb(finding))

    def ListFindings(self, request, context):
        if request.state not in _STATE_NAMES:
            raise InvalidArgument("state", f"unknown value {request.state}")
        if request.state and request.all_states:
            raise InvalidArgument("all_states", "cannot be combined with state")
        if request.category and not re.fullmatch(r"[a-z0-9-]{1,64}", request.category):
            raise InvalidArgument("category", "must be a rule key like ebs-volume-unattached")
        flt = FindingFilter(
            scan_run_id=names.parse("scan_run", request.scan_run, "scanRuns") if request.scan_run else None,
            cloud_account_id=(
                names.parse("cloud_account", request.cloud_account, "cloudAccounts")
                if request.cloud_account
                else None
            ),
            state=_STATE_NAMES[request.state] if request.state else None,
            category=request.category or None,
            all_states=request.all_states,
            order_by=_order_by(request.order_by),
            tenant=_scope(),
        )
        size = pagination.page_size(request.page_size, default=50, maximum=1000)
        rows, token, total = self.store.list_findings(flt, size, request.page_token)
        # room kept for the response's other fields: next_page_token and total_size
        page = scanner_service_pb2.ListFindingsResponse(total_size=total)
        used = _PAGE_FIELDS_BYTES
        for i, row in enumerate(rows):
            used += len(row.pb) + 5  # + the field's tag and length
            if i and used > MAX_PAGE_BYTES:  # the rest on the next page, whatever page_size said
                token = self.store.token_after(flt, rows[i - 1], total)
                break
            page.findings.add().MergeFromString(row.pb)  # serialized by the store
        page.next_page_token = token
        return page

    def SetFindingState(self, request, context):
        finding_id = names.parse("name", request.name, "findings")
        state = _STATE_NAMES.get(request.state)
        if state not in USER_STATES:
            raise InvalidArgument("state", "must be FINDING_STATE_OPEN, _DELETED, _KEPT or _IGNORED")
        expiry = None
        if request.HasField("ignore_expire_time"):
            if state != "IGNORED":
                raise InvalidArgument("ignore_expire_time", "is only valid with FINDING_STATE_IGNORED")
            try:
                expiry = request.ignore_expire_time.ToDatetime(tzinfo=dt.UTC)
            except (ValueError, OverflowError):
                raise InvalidArgument("ignore_expire_time", "is not a valid timestamp") from None
            if expiry <= dt.datetime.now(dt.UTC):
                raise InvalidArgument("ignore_expire_time", "must be in the future")
        finding = self.store.set_finding_state(
            finding_id,
            state,
            expected_etag=_text("etag", request.etag, limit=64),
            ignore_expire_time=expiry,
            tenant=_scope(),
        )
        return scanner_service_pb2.SetFindingStateResponse(finding=finding_pb(finding))
