"""The AWS provider on boto3: works against real AWS (AssumeRole with an external id) and against
moto or any local endpoint (`endpoint_url`). Throttling is retried by botocore's adaptive retry
mode; what outlasts it fails the kind being listed, not the scan.

Every call the customer-side clients make goes through one botocore hook (`before-call.*.*`)
that reports it, as an IAM action, to `providers.record_call` (a Prometheus counter, and the
permission contract test). The STS call that assumes the customer's role is the scanner's own
identity and is not part of the customer's policy.
"""

from __future__ import annotations

import datetime as dt
import re
import threading
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import boto3
from botocore.config import Config
from botocore.credentials import RefreshableCredentials
from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError
from botocore.session import get_session
from cloudwaste.core.errors import FailedPrecondition, InvalidArgument, Unavailable
from cloudwaste.core.regions import known_regions
from cloudwaste.scanner.kinds.aws import stopped_since
from cloudwaste.scanner.pricing import AwsPrices
from cloudwaste.scanner.providers import PROVIDERS, Provider, record_call
from cloudwaste.scanner.rules import Series

__all__ = ["IAM_PREFIX", "AwsAccess", "AwsProvider", "AwsSession", "describe_error", "stopped_since"]

KEY = "aws"
METRIC_QUERIES_PER_CALL = 500  # GetMetricData's limit
ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::(\d{12}):role/[\w+=,.@/-]{1,512}$")
ACCOUNT_ID = re.compile(r"^\d{12}$")
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
    return "unexpected error while calling AWS (see the scanner log)"


def iam_action(service_name: str, operation_name: str) -> str:
    """The IAM action a botocore call needs: usually `<prefix>:<operation>`, S3 has exceptions."""
    action = IAM_ACTION.get((service_name, operation_name))
    return action or f"{IAM_PREFIX.get(service_name, service_name)}:{operation_name}"


class AwsSession:
    """Credentials for one account: the scanner's own identity assumes the customer's read-only role.
    Clients are created once per (service, region) and shared by threads (clients are thread-safe,
    sessions are not)."""

    def __init__(self, access: AwsAccess, endpoint_url: str = "", max_attempts: int = 8) -> None:
        self.endpoint_url = endpoint_url or None
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


def _record_call(model=None, **kwargs) -> None:
    """botocore `before-call` hook: one count per API request (each page of a paginator)."""
    if model is not None:
        record_call(KEY, iam_action(model.service_model.service_name, model.name))


class AwsProvider(Provider):
    key = KEY
    display_name = "AWS"
    scope_noun = "region"
    scope_description = "an AWS region"
    scope_operations = ("ec2:DescribeRegions",)

    def validate_access(self, access: Mapping[str, Any], field: str) -> dict[str, Any]:
        if not isinstance(access, Mapping):
            raise InvalidArgument(field, "is required")
        for name in access:
            if name not in ("role_arn", "account_id", "external_id"):
                raise InvalidArgument(
                    f"{field}.{name}", "unknown setting (known: account_id, external_id, role_arn)"
                )
        values = {}
        for name in ("role_arn", "account_id", "external_id"):
            value = access.get(name) or ""
            if not isinstance(value, str):
                raise InvalidArgument(f"{field}.{name}", "must be a string")
            values[name] = value
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
        return {
            "account_id": m.group(1),
            "role_arn": values["role_arn"],
            "external_id": values["external_id"],
        }

    def valid_scopes(self) -> frozenset[str]:
        return known_regions(KEY)

    def options_from_settings(self, settings: Any) -> dict[str, Any]:
        return {"endpoint_url": getattr(settings, "aws_endpoint_url", "") or ""}

    def connect(self, access: Mapping[str, Any], options: Mapping[str, Any]) -> AwsSession:
        role_arn = access.get("role_arn") if isinstance(access, Mapping) else None
        if not role_arn:
            raise FailedPrecondition("the account's AWS access has no role_arn")
        return AwsSession(
            AwsAccess(access.get("account_id", ""), role_arn, access.get("external_id", "")),
            options.get("endpoint_url", "") or "",
        )

    def _list_scopes(self, conn: AwsSession) -> list[str]:
        return conn.enabled_regions()

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
            start = end - dt.timedelta(days=days)
            for first in range(0, len(group), METRIC_QUERIES_PER_CALL):
                chunk = group[first : first + METRIC_QUERIES_PER_CALL]
                values: dict[str, list] = {f"q{i}": [] for i in range(len(chunk))}
                request = [
                    {
                        "Id": f"q{i}",
                        "MetricStat": {
                            "Metric": {
                                "Namespace": q.metric.namespace,
                                "MetricName": q.metric.metric,
                                "Dimensions": [{"Name": n, "Value": v} for n, v in q.dimensions],
                            },
                            "Period": 86400,
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
                        values[result["Id"]].extend(
                            zip(result.get("Timestamps", []), result.get("Values", []), strict=False)
                        )
                for i, q in enumerate(chunk):
                    points = sorted(values[f"q{i}"], key=lambda tv: tv[0])
                    out[q.key] = Series(tuple(float(v) for _, v in points), days)
        return out

    def prices(self, scope: str) -> AwsPrices:
        return AwsPrices(scope)

    def describe_error(self, exc: BaseException) -> str:
        return describe_error(exc)


PROVIDER = PROVIDERS.register(AwsProvider())
