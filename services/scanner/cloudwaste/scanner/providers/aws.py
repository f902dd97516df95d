"""The AWS provider on boto3: works against real AWS (AssumeRole with an external id) and against
moto or any local endpoint (`endpoint_url`). Throttling is retried by botocore's adaptive retry
mode; what outlasts it fails the kind being listed, not the scan.

Every call the customer-side clients make goes through one botocore hook (`before-call.*.*`)
that reports it, as an IAM action, to `providers.record_call` (a Prometheus counter, and the
permission contract test). The STS call that assumes the customer's role is the scanner's own
identity and is not part of the customer's policy.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import re
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.credentials import RefreshableCredentials
from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError
from botocore.session import get_session
from cloudwaste.core.errors import CloudWasteError, FailedPrecondition, InvalidArgument, Unavailable
from cloudwaste.core.regions import known_regions
from cloudwaste.scanner.kinds import Kind
from cloudwaste.scanner.kinds.aws import stopped_since
from cloudwaste.scanner.pricing import AwsPrices
from cloudwaste.scanner.providers import (
    PROVIDERS,
    SCOPES,
    Provider,
    api_caller,
    aws_billing,
    history_series,
    record_call,
    string_settings,
    unexpected_error,
)
from cloudwaste.scanner.rules import Series

__all__ = ["IAM_PREFIX", "AwsAccess", "AwsProvider", "AwsSession", "describe_error", "stopped_since"]

KEY = "aws"
METRIC_QUERIES_PER_CALL = 500  # GetMetricData's limit
ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):role/[\w+=,.@/-]{1,512}$")
ACCOUNT_ID = re.compile(r"^\d{12}$")
ROLE_NAME = re.compile(r"^[\w+=,.@-]{1,64}$")
_ACCESS_SETTINGS = ("role_arn", "account_id", "external_id", "organization_role_name", "cost_export_uri")
# botocore service name -> IAM action prefix, where they differ (operation name = action name).
IAM_PREFIX = {
    "elbv2": "elasticloadbalancing",
    "elb": "elasticloadbalancing",
    "opensearch": "es",
    "efs": "elasticfilesystem",
}
# (botocore service, operation) -> IAM action, where the action is not named after the operation.
IAM_ACTION = {
    ("s3", "ListBuckets"): "s3:ListAllMyBuckets",
    ("s3", "ListObjectsV2"): "s3:ListBucket",
    ("s3", "ListObjectVersions"): "s3:ListBucketVersions",
    ("s3", "ListMultipartUploads"): "s3:ListBucketMultipartUploads",
    ("s3", "ListParts"): "s3:ListMultipartUploadParts",
    ("s3", "GetBucketLifecycleConfiguration"): "s3:GetLifecycleConfiguration",
    ("s3", "HeadBucket"): "s3:ListBucket",
}
# IAM action prefix -> the botocore services whose models hold those operations.
BOTOCORE_SERVICE = {
    "ec2": ("ec2",),
    "elasticloadbalancing": ("elbv2", "elb"),
    "cloudwatch": ("cloudwatch",),
    "autoscaling": ("autoscaling",),
    "rds": ("rds",),
    "elasticache": ("elasticache",),
    "redshift": ("redshift",),
    "dynamodb": ("dynamodb",),
    "es": ("opensearch",),
    "eks": ("eks",),
    "ecs": ("ecs",),
    "lambda": ("lambda",),
    "logs": ("logs",),
    "ecr": ("ecr",),
    "secretsmanager": ("secretsmanager",),
    "kms": ("kms",),
    "s3": ("s3",),
    "route53": ("route53",),
    "cloudtrail": ("cloudtrail",),
    "elasticfilesystem": ("efs",),
    "kinesis": ("kinesis",),
    "sagemaker": ("sagemaker",),
    "organizations": ("organizations",),
}


@dataclass(frozen=True)
class AwsAccess:
    account_id: str
    role_arn: str
    external_id: str


def describe_error(exc: BaseException) -> str:
    """A short, safe message for a scan run's scope or kind result (no stack trace)."""
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        return f"{err.get('Code', 'ClientError')}: {err.get('Message', '')}"[:300]
    if isinstance(exc, BotoCoreError):  # connection, timeout, retries exhausted: botocore says what
        return str(exc)[:300]
    if isinstance(exc, CloudWasteError):  # ours: safe to show (e.g. a member role not assumable)
        return str(exc)[:300]
    return unexpected_error("AWS")


def iam_action(service_name: str, operation_name: str) -> str:
    """The IAM action a botocore call needs: usually `<prefix>:<operation>`, S3 has exceptions."""
    action = IAM_ACTION.get((service_name, operation_name))
    return action or f"{IAM_PREFIX.get(service_name, service_name)}:{operation_name}"


class AwsSession:
    """Credentials for one account: the scanner's own identity assumes the customer's read-only role.
    Clients are created once per (service, region) and shared by threads (clients are thread-safe,
    sessions are not)."""

    def __init__(
        self, access: AwsAccess, endpoint_url: str = "", max_attempts: int = 8, cost_export_uri: str = ""
    ) -> None:
        self.endpoint_url = endpoint_url or None
        self.cost_export_uri = cost_export_uri  # the account's CUR 2.0 export, if it has one
        # the account scanned (12 digits, from the role ARN): listings use it to tell this
        # account's resources from those other accounts share with it
        self.account_id = access.account_id or access.role_arn.split(":")[4]
        self.config = Config(
            retries={"mode": "adaptive", "max_attempts": max_attempts}, connect_timeout=5, read_timeout=30
        )
        base = boto3.Session()
        sts = base.client("sts", endpoint_url=self.endpoint_url, config=self.config, region_name="us-east-1")

        def assume() -> dict[str, str]:
            c = sts.assume_role(
                RoleArn=access.role_arn,
                RoleSessionName="cloudwaste-scan",
                ExternalId=access.external_id,
                DurationSeconds=3600,
            )["Credentials"]
            expiry = c["Expiration"]
            return {
                "access_key": c["AccessKeyId"],
                "secret_key": c["SecretAccessKey"],
                "token": c["SessionToken"],
                "expiry_time": expiry.isoformat() if hasattr(expiry, "isoformat") else str(expiry),
            }

        try:
            first = assume()
        except ClientError as exc:
            raise FailedPrecondition(f"cannot assume {access.role_arn}: {describe_error(exc)}") from exc
        except ParamValidationError as exc:
            raise FailedPrecondition(f"the account's access settings are invalid: {exc}") from exc
        except BotoCoreError as exc:
            raise Unavailable(f"AWS STS unreachable: {exc}") from exc
        # Assumed again before they expire, so a scan longer than the role session goes on.
        credentials = RefreshableCredentials.create_from_metadata(
            metadata=first, refresh_using=assume, method="sts-assume-role"
        )
        botocore_session = get_session()
        botocore_session._credentials = credentials  # botocore has no public setter for this
        self.session = boto3.Session(botocore_session=botocore_session)
        # Registered before any client exists: every client of this session inherits the hook.
        self.session.events.register("before-call.*.*", _record_call)
        self._clients: dict[tuple[str, str], Any] = {}
        self._lock = threading.Lock()

    def client(self, service: str, region: str):
        with self._lock:
            client = self._clients.get((service, region))
            if client is None:
                client = self.session.client(
                    service, region_name=region, endpoint_url=self.endpoint_url, config=self.config
                )
                self._clients[(service, region)] = client
            return client

    def enabled_regions(self) -> list[str]:
        ec2 = self.client("ec2", "us-east-1")
        return sorted(r["RegionName"] for r in ec2.describe_regions()["Regions"])


def split_scope(scope: str) -> tuple[str | None, str]:
    """(member account or None, region) of a scope: "eu-west-1" or "111122223333/eu-west-1"."""
    account, _, region = scope.rpartition("/")
    return (account or None), region


class AwsOrganization:
    """An AWS Organizations scan: the management account's session lists the member accounts, and
    each member is reached by assuming `role_name` in it (with the same external id), once per
    scan, lazily. A member whose role cannot be assumed fails every kind of its scopes with the
    reason; the other members go on. At most `account_concurrency` listings or metric fetches run
    at once against one member account, whatever the number of its regions scanned at once, so
    that a scan of many regions does not throttle one account (botocore's adaptive retry mode
    handles the throttling that remains)."""

    def __init__(
        self,
        management: AwsSession,
        role_name: str,
        external_id: str,
        endpoint_url: str,
        account_concurrency: int,
    ) -> None:
        self.management = management
        self.role_name = role_name
        self.external_id = external_id
        self.endpoint_url = endpoint_url
        self.account_concurrency = max(1, account_concurrency)
        self._members: dict[str, AwsSession | BaseException] = {}
        self._slots: dict[str, threading.BoundedSemaphore] = {}
        self._lock = threading.Lock()
        self._member_locks: dict[str, threading.Lock] = {}

    def member_accounts(self) -> list[str]:
        """The ACTIVE accounts of the organization (organizations:ListAccounts, paginated)."""
        client = self.management.client("organizations", "us-east-1")
        accounts = [
            a["Id"]
            for page in client.get_paginator("list_accounts").paginate()
            for a in page.get("Accounts", [])
            if a.get("Status", "ACTIVE") == "ACTIVE"
        ]
        return sorted(accounts)

    def member(self, account_id: str) -> AwsSession:
        """The member's session (its role assumed once); raises the same error for every kind of
        a member whose role cannot be assumed, without asking STS again."""
        with self._lock:
            lock = self._member_locks.setdefault(account_id, threading.Lock())
        with lock:
            found = self._members.get(account_id)
            if found is None:
                try:
                    found = AwsSession(
                        AwsAccess(
                            account_id, f"arn:aws:iam::{account_id}:role/{self.role_name}", self.external_id
                        ),
                        self.endpoint_url,
                    )
                except CloudWasteError as exc:
                    found = exc
                self._members[account_id] = found
        if isinstance(found, BaseException):
            raise found
        return found

    @contextlib.contextmanager
    def slot(self, account_id: str):
        with self._lock:
            sem = self._slots.setdefault(account_id, threading.BoundedSemaphore(self.account_concurrency))
        with sem:
            yield


def _record_call(model=None, **kwargs) -> None:
    """botocore `before-call` hook: one count per API request (each page of a paginator)."""
    if model is not None:
        record_call(KEY, iam_action(model.service_model.service_name, model.name))


def _metric_data(cloudwatch: Any, queries: Sequence[Any], start: dt.datetime, end: dt.datetime, period: int):
    """GetMetricData for `queries` (engine.MetricQuery), 500 to a call, each call paginated:
    [(timestamp, value), ...] per query, in the queries' order."""
    out: list[list] = []
    for first in range(0, len(queries), METRIC_QUERIES_PER_CALL):
        chunk = queries[first : first + METRIC_QUERIES_PER_CALL]
        found: dict[str, list] = {f"q{i}": [] for i in range(len(chunk))}
        request = [
            {
                "Id": f"q{i}",
                "MetricStat": {
                    "Metric": {
                        "Namespace": q.metric.namespace,
                        "MetricName": q.metric.metric,
                        "Dimensions": [{"Name": n, "Value": v} for n, v in q.dimensions],
                    },
                    "Period": period,
                    "Stat": q.metric.stat,
                },
                "ReturnData": True,
            }
            for i, q in enumerate(chunk)
        ]
        for page in cloudwatch.get_paginator("get_metric_data").paginate(
            MetricDataQueries=request, StartTime=start, EndTime=end, ScanBy="TimestampAscending"
        ):
            for result in page.get("MetricDataResults", []):
                found[result["Id"]].extend(zip(result.get("Timestamps", []), result.get("Values", []), strict=False))
        out.extend(found[f"q{i}"] for i in range(len(chunk)))
    return out


class AwsProvider(Provider):
    key = KEY
    display_name = "AWS"
    scope_noun = "region"
    scope_description = "an AWS region"
    scope_operations = ("ec2:DescribeRegions",)
    # what the management account's role needs besides, for an organization scan
    organization_operations = ("organizations:ListAccounts",)

    def validate_access(self, access: Mapping[str, Any], field: str) -> dict[str, Any]:
        values = string_settings(access, field, _ACCESS_SETTINGS)
        m = ROLE_ARN.match(values["role_arn"])
        if not m:
            raise InvalidArgument(f"{field}.role_arn", "must look like arn:aws:iam::123456789012:role/NAME")
        account_id = values["account_id"]
        if account_id and not ACCOUNT_ID.match(account_id):
            raise InvalidArgument(f"{field}.account_id", "must be 12 digits")
        if account_id and account_id != m.group(1):
            raise InvalidArgument(f"{field}.account_id", "does not match the account of role_arn")
        if not 2 <= len(values["external_id"]) <= 1224:
            raise InvalidArgument(f"{field}.external_id", "is required (2-1224 characters)")
        out = {"account_id": m.group(1), "role_arn": values["role_arn"], "external_id": values["external_id"]}
        export = aws_billing.validate_export_uri(values["cost_export_uri"], f"{field}.cost_export_uri")
        if export:
            out["cost_export_uri"] = export
        if values["organization_role_name"]:
            if not ROLE_NAME.match(values["organization_role_name"]):
                raise InvalidArgument(
                    f"{field}.organization_role_name",
                    "must be an IAM role name (1-64 of A-Z a-z 0-9 +=,.@_-)",
                )
            out["organization_role_name"] = values["organization_role_name"]
        return out

    def valid_scopes(self) -> frozenset[str]:
        return known_regions(KEY)

    def options_from_settings(self, settings: Any) -> dict[str, Any]:
        return {
            "endpoint_url": getattr(settings, "aws_endpoint_url", "") or "",
            "account_concurrency": getattr(settings, "aws_account_concurrency", 2),
        }

    def connect(self, access: Mapping[str, Any], options: Mapping[str, Any]) -> AwsSession | AwsOrganization:
        role_arn = access.get("role_arn") if isinstance(access, Mapping) else None
        if not role_arn:
            raise FailedPrecondition("the account's AWS access has no role_arn")
        endpoint = options.get("endpoint_url", "") or ""
        session = AwsSession(
            AwsAccess(access.get("account_id", ""), role_arn, access.get("external_id", "")),
            endpoint,
            cost_export_uri=access.get("cost_export_uri", "") or "",
        )
        role_name = access.get("organization_role_name")
        if not role_name:
            return session
        return AwsOrganization(
            session,
            role_name,
            access.get("external_id", ""),
            endpoint,
            int(options.get("account_concurrency", 2)),
        )

    def list_scopes(self, conn: Any, requested: Sequence[str]) -> list[str]:
        """Regions; for an organization, "<member account>/<region>" for every ACTIVE member and
        every requested (or enabled) region. Scopes already of that form are kept as they are."""
        if not isinstance(conn, AwsOrganization):
            return super().list_scopes(conn, requested)
        if requested and all("/" in s for s in requested):
            return list(dict.fromkeys(requested))
        with api_caller(SCOPES):
            regions = list(dict.fromkeys(requested)) or conn.management.enabled_regions()
            accounts = conn.member_accounts()
        return [f"{account}/{region}" for account in accounts for region in regions]

    def _list_scopes(self, conn: AwsSession) -> list[str]:
        return conn.enabled_regions()

    def list_kind(self, conn: Any, kind: Kind, scope: str, now: dt.datetime, dependencies) -> list:
        if not isinstance(conn, AwsOrganization):
            return super().list_kind(conn, kind, scope, now, dependencies)
        account, region = split_scope(scope)
        with conn.slot(account):
            return super().list_kind(conn.member(account), kind, region, now, dependencies)

    def metrics(self, conn: Any, scope: str, queries, now: dt.datetime) -> dict:
        if not isinstance(conn, AwsOrganization):
            return super().metrics(conn, scope, queries, now)
        account, region = split_scope(scope)
        with conn.slot(account):
            return super().metrics(conn.member(account), region, queries, now)

    def history(self, conn: Any, scope: str, queries, now: dt.datetime, period_seconds: int) -> dict:
        if not isinstance(conn, AwsOrganization):
            return super().history(conn, scope, queries, now, period_seconds)
        account, region = split_scope(scope)
        with conn.slot(account):
            return super().history(conn.member(account), region, queries, now, period_seconds)

    metric_operation = "cloudwatch:GetMetricData"

    def fetch_metrics(self, conn: AwsSession, scope: str, queries, now: dt.datetime) -> dict:
        """Daily series (24-hour periods ending now) from CloudWatch GetMetricData: the queries of
        one window together, 500 to a call (the API's limit), each call paginated; never one call
        per resource."""
        out: dict = {}
        by_window: dict[int, list] = {}
        for q in queries:
            by_window.setdefault(q.days, []).append(q)
        cloudwatch = conn.client("cloudwatch", scope)
        # the last `days` days up to now: today's traffic counts (a gateway used an hour ago is
        # not idle), and each daily value is a whole 24 hours
        end = now.astimezone(dt.UTC).replace(second=0, microsecond=0)
        for days, group in sorted(by_window.items()):
            points = _metric_data(cloudwatch, group, end - dt.timedelta(days=days), end, 86400)
            for q, found in zip(group, points, strict=True):
                out[q.key] = Series(tuple(float(v) for _, v in sorted(found, key=lambda tv: tv[0])), days)
        return out

    def fetch_history(self, conn: AwsSession, scope: str, queries, now: dt.datetime, period_seconds: int) -> dict:
        """Full series at `period_seconds` (hourly: 720 points over 30 days) from GetMetricData,
        batched as fetch_metrics is; each datapoint in the slot its timestamp falls in."""
        out: dict = {}
        cloudwatch = conn.client("cloudwatch", scope)
        # whole periods: the window ends at the start of the current period
        epoch = int(now.astimezone(dt.UTC).timestamp())
        end = dt.datetime.fromtimestamp(epoch - epoch % period_seconds, dt.UTC)
        by_window: dict[int, list] = {}
        for q in queries:
            by_window.setdefault(q.days, []).append(q)
        for days, group in sorted(by_window.items()):
            start = end - dt.timedelta(days=days)
            for q, found in zip(group, _metric_data(cloudwatch, group, start, end, period_seconds), strict=True):
                out[(q.resource_id, q.metric.name)] = history_series(q, end, period_seconds, found)
        return out

    billing_operations = aws_billing.OPERATIONS

    def fetch_costs(self, conn: Any, scopes, resources, now: dt.datetime) -> Any:
        """From the account's CUR export, or Cost Explorer (see aws_billing); an organization's
        bill is its management account's, which covers every member scanned."""
        if isinstance(conn, AwsOrganization):
            members = sorted({split_scope(s)[0] for s in scopes if split_scope(s)[0]})
            return aws_billing.read_costs(conn.management, members, resources, now)
        return aws_billing.read_costs(conn, [conn.account_id], resources, now)

    def prices(self, scope: str) -> AwsPrices:
        return AwsPrices(split_scope(scope)[1])

    def describe_error(self, exc: BaseException) -> str:
        return describe_error(exc)

    @staticmethod
    def is_read_only(permission: str) -> bool:
        return permission.split(":", 1)[-1].startswith(("Describe", "Get", "List"))

    def policy_document(self, permissions: Sequence[str], organization: bool = False) -> dict:
        """An IAM policy for the scanned account's role; with `organization`, a second statement
        for the management account's role (listing the members); then reading the bill: Cost
        Explorer, and the CUR export's bucket (named with placeholders: CUR_BUCKET/CUR_PREFIX)."""
        statements = [
            {"Sid": "CloudWasteReadOnly", "Effect": "Allow", "Action": sorted(permissions), "Resource": "*"}
        ]
        if organization:
            statements.append(
                {
                    "Sid": "CloudWasteListOrganizationMembers",
                    "Effect": "Allow",
                    "Action": sorted(self.organization_operations),
                    "Resource": "*",
                }
            )
        statements.append(
            {
                # the bill: Cost Explorer has no resource-level permissions; S3 only where the
                # CUR export is (replace the bucket and prefix with the account's cost_export_uri)
                "Sid": "CloudWasteReadCosts",
                "Effect": "Allow",
                "Action": sorted(a for a in self.billing_operations if a.startswith("ce:")),
                "Resource": "*",
            }
        )
        statements.append(
            {
                "Sid": "CloudWasteReadCostExport",
                "Effect": "Allow",
                "Action": sorted(a for a in self.billing_operations if a.startswith("s3:")),
                "Resource": ["arn:aws:s3:::CUR_BUCKET", "arn:aws:s3:::CUR_BUCKET/CUR_PREFIX/*"],
            }
        )
        return {"Version": "2012-10-17", "Statement": statements}


PROVIDER = PROVIDERS.register(AwsProvider())
