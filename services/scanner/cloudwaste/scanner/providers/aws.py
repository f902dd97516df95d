"""AWS inventory on boto3: works against real AWS (AssumeRole with an external id) and against
moto or any local endpoint (`endpoint_url`). Every list call goes through a paginator; throttling
is retried by botocore's adaptive retry mode.
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from collections.abc import Iterable
from dataclasses import dataclass

import boto3
from botocore.config import Config
from botocore.exceptions import BotoCoreError, ClientError, ParamValidationError
from cloudwaste.core.errors import FailedPrecondition, Unavailable
from cloudwaste.scanner.domain import Resource

log = logging.getLogger(__name__)

NAT_METRIC_WINDOW_DAYS = 30
_STOP_TIME = re.compile(r"\((\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) GMT\)")
KINDS = (
    "aws.ec2.volume",
    "aws.ec2.elastic_ip",
    "aws.ec2.instance",
    "aws.ec2.snapshot",
    "aws.ec2.nat_gateway",
    "aws.elbv2.load_balancer",
)


@dataclass(frozen=True)
class AwsAccess:
    account_id: str
    role_arn: str
    external_id: str


def describe_error(exc: Exception) -> str:
    """A short, safe message for a scan run's region result."""
    if isinstance(exc, ClientError):
        err = exc.response.get("Error", {})
        return f"{err.get('Code', 'ClientError')}: {err.get('Message', '')}"[:500]
    return f"{exc.__class__.__name__}: {exc}"[:500]


class AwsSession:
    """Credentials for one account: the scanner's own identity assumes the customer's read-only role."""

    def __init__(self, access: AwsAccess, endpoint_url: str = "", max_attempts: int = 8) -> None:
        self.endpoint_url = endpoint_url or None
        self.config = Config(
            retries={"mode": "adaptive", "max_attempts": max_attempts}, connect_timeout=5, read_timeout=30
        )
        base = boto3.Session()
        sts = base.client("sts", endpoint_url=self.endpoint_url, config=self.config, region_name="us-east-1")
        try:
            creds = sts.assume_role(
                RoleArn=access.role_arn,
                RoleSessionName="cloudwaste-scan",
                ExternalId=access.external_id,
                DurationSeconds=3600,
            )["Credentials"]
        except ClientError as exc:
            raise FailedPrecondition(f"cannot assume {access.role_arn}: {describe_error(exc)}") from exc
        except ParamValidationError as exc:
            raise FailedPrecondition(f"the account's access settings are invalid: {exc}") from exc
        except BotoCoreError as exc:
            raise Unavailable(f"AWS STS unreachable: {exc}") from exc
        self.session = boto3.Session(
            aws_access_key_id=creds["AccessKeyId"],
            aws_secret_access_key=creds["SecretAccessKey"],
            aws_session_token=creds["SessionToken"],
        )

    def client(self, service: str, region: str):
        return self.session.client(
            service, region_name=region, endpoint_url=self.endpoint_url, config=self.config
        )

    def enabled_regions(self) -> list[str]:
        ec2 = self.client("ec2", "us-east-1")
        return sorted(r["RegionName"] for r in ec2.describe_regions()["Regions"])


def _tags(items: Iterable[dict] | None) -> dict[str, str]:
    return {t["Key"]: t.get("Value", "") for t in items or []}


def _paginate(client, op: str, key: str, **kwargs) -> Iterable[dict]:
    for page in client.get_paginator(op).paginate(**kwargs):
        yield from page.get(key, [])


def list_region(session: AwsSession, region: str, now: dt.datetime) -> list[Resource]:
    """Every resource kind the rules need, listed once for this region."""
    ec2 = session.client("ec2", region)
    volumes = list(_paginate(ec2, "describe_volumes", "Volumes"))
    instances = [
        i for r in _paginate(ec2, "describe_instances", "Reservations") for i in r.get("Instances", [])
    ]
    addresses = ec2.describe_addresses().get("Addresses", [])
    snapshots = list(_paginate(ec2, "describe_snapshots", "Snapshots", OwnerIds=["self"]))
    nats = [n for n in _paginate(ec2, "describe_nat_gateways", "NatGateways") if n.get("State") != "deleted"]
    out: list[Resource] = []
    out += _volumes(volumes, region)
    out += _instances(instances, volumes, region)
    out += _addresses(addresses, region)
    out += _snapshots(snapshots, {v["VolumeId"] for v in volumes}, region)
    out += _nat_gateways(nats, session.client("cloudwatch", region), region, now)
    out += _load_balancers(session.client("elbv2", region), region)
    return out


def _volume_spec(v: dict) -> dict:
    return {
        "volume_id": v["VolumeId"],
        "size_gb": int(v["Size"]),
        "volume_type": v.get("VolumeType", "gp2"),
        "iops": v.get("Iops"),
    }


def _volumes(volumes: list[dict], region: str) -> list[Resource]:
    out = []
    for v in volumes:
        attachments = v.get("Attachments") or []
        instance_id = attachments[0]["InstanceId"] if attachments else None
        tags = _tags(v.get("Tags"))
        spec = _volume_spec(v)
        out.append(
            Resource(
                provider="aws",
                kind="aws.ec2.volume",
                resource_id=v["VolumeId"],
                region=region,
                name=tags.get("Name", ""),
                tags=tags,
                created_at=v.get("CreateTime"),
                attributes={**spec, "state": v.get("State"), "attached_instance_id": instance_id},
                config={
                    "volume_type": spec["volume_type"],
                    "size_gb": spec["size_gb"],
                    "iops": spec["iops"],
                    "encrypted": bool(v.get("Encrypted")),
                },
                parent_id=instance_id,
                parent_kind="aws.ec2.instance" if instance_id else None,
            )
        )
    return out


def stopped_since(reason: str | None) -> dt.datetime | None:
    """Stop time from StateTransitionReason, e.g. 'User initiated (2026-01-02 03:04:05 GMT)'."""
    m = _STOP_TIME.search(reason or "")
    if not m:
        return None
    return dt.datetime.strptime(m.group(1), "%Y-%m-%d %H:%M:%S").replace(tzinfo=dt.UTC)


def _instances(instances: list[dict], volumes: list[dict], region: str) -> list[Resource]:
    by_instance: dict[str, list[dict]] = {}
    for v in volumes:
        for a in v.get("Attachments") or []:
            by_instance.setdefault(a["InstanceId"], []).append(_volume_spec(v))
    out = []
    for i in instances:
        state = i.get("State", {}).get("Name")
        if state == "terminated":
            continue
        tags = _tags(i.get("Tags"))
        out.append(
            Resource(
                provider="aws",
                kind="aws.ec2.instance",
                resource_id=i["InstanceId"],
                region=region,
                name=tags.get("Name", ""),
                tags=tags,
                created_at=i.get("LaunchTime"),
                attributes={
                    "state": state,
                    "instance_type": i.get("InstanceType"),
                    "stopped_since": stopped_since(i.get("StateTransitionReason"))
                    if state == "stopped"
                    else None,
                    "attached_volumes": by_instance.get(i["InstanceId"], []),
                },
                config={
                    "instance_type": i.get("InstanceType"),
                    "architecture": i.get("Architecture"),
                    "platform": i.get("PlatformDetails") or i.get("Platform") or "Linux/UNIX",
                    "state": state,
                },
            )
        )
    return out


def _addresses(addresses: list[dict], region: str) -> list[Resource]:
    out = []
    for a in addresses:
        tags = _tags(a.get("Tags"))
        out.append(
            Resource(
                provider="aws",
                kind="aws.ec2.elastic_ip",
                resource_id=a.get("AllocationId") or a["PublicIp"],
                region=region,
                name=tags.get("Name", ""),
                tags=tags,
                attributes={
                    "association_id": a.get("AssociationId"),
                    "instance_id": a.get("InstanceId"),
                    "network_interface_id": a.get("NetworkInterfaceId"),
                    "domain": a.get("Domain", "vpc"),
                    "public_ip": a.get("PublicIp"),
                },
                config={"domain": a.get("Domain", "vpc"), "associated": bool(a.get("AssociationId"))},
                parent_id=a.get("InstanceId"),
                parent_kind="aws.ec2.instance" if a.get("InstanceId") else None,
            )
        )
    return out


def _snapshots(snapshots: list[dict], volume_ids: set[str], region: str) -> list[Resource]:
    out = []
    for s in snapshots:
        tags = _tags(s.get("Tags"))
        source = s.get("VolumeId")
        exists = bool(source) and source in volume_ids
        out.append(
            Resource(
                provider="aws",
                kind="aws.ec2.snapshot",
                resource_id=s["SnapshotId"],
                region=region,
                name=tags.get("Name", ""),
                tags=tags,
                created_at=s.get("StartTime"),
                attributes={
                    "volume_id": source,
                    "source_volume_exists": exists,
                    "size_gb": int(s.get("VolumeSize", 0)),
                    "state": s.get("State"),
                },
                config={
                    "size_gb": int(s.get("VolumeSize", 0)),
                    "encrypted": bool(s.get("Encrypted")),
                    "storage_tier": s.get("StorageTier", "standard"),
                },
                parent_id=source,
                parent_kind="aws.ec2.volume" if source else None,
                parent_state=("exists" if exists else "deleted") if source else None,
            )
        )
    return out


def _nat_gateways(nats: list[dict], cloudwatch, region: str, now: dt.datetime) -> list[Resource]:
    if not nats:
        return []
    sums = nat_traffic(cloudwatch, [n["NatGatewayId"] for n in nats], now)
    out = []
    for n in nats:
        tags = _tags(n.get("Tags"))
        total, points = sums.get(n["NatGatewayId"], (None, 0))
        out.append(
            Resource(
                provider="aws",
                kind="aws.ec2.nat_gateway",
                resource_id=n["NatGatewayId"],
                region=region,
                name=tags.get("Name", ""),
                tags=tags,
                created_at=n.get("CreateTime"),
                attributes={
                    "state": n.get("State"),
                    "bytes_total": total,
                    "datapoints": points,
                    "metric_window_days": NAT_METRIC_WINDOW_DAYS,
                },
                config={"connectivity_type": n.get("ConnectivityType", "public")},
            )
        )
    return out


def nat_traffic(cloudwatch, nat_ids: list[str], now: dt.datetime) -> dict[str, tuple[float | None, int]]:
    """Bytes in + out per NAT gateway over the window: one GetMetricData call per 250 gateways."""
    start = now - dt.timedelta(days=NAT_METRIC_WINDOW_DAYS)
    totals: dict[str, list] = {nid: [None, 0] for nid in nat_ids}
    metrics = ("BytesOutToDestination", "BytesInFromSource")
    for chunk_start in range(0, len(nat_ids), 250):
        chunk = nat_ids[chunk_start : chunk_start + 250]
        queries, owner = [], {}
        for n, nid in enumerate(chunk):
            for m, metric in enumerate(metrics):
                qid = f"q{n}_{m}"
                owner[qid] = nid
                queries.append(
                    {
                        "Id": qid,
                        "MetricStat": {
                            "Metric": {
                                "Namespace": "AWS/NATGateway",
                                "MetricName": metric,
                                "Dimensions": [{"Name": "NatGatewayId", "Value": nid}],
                            },
                            "Period": 86400,
                            "Stat": "Sum",
                        },
                    }
                )
        for page in cloudwatch.get_paginator("get_metric_data").paginate(
            MetricDataQueries=queries, StartTime=start, EndTime=now
        ):
            for result in page.get("MetricDataResults", []):
                entry = totals[owner[result["Id"]]]
                values = result.get("Values", [])
                if values:
                    entry[0] = (entry[0] or 0.0) + float(sum(values))
                    entry[1] += len(values)
    # No datapoint at all over the window: CloudWatch saw no traffic (the rule rates it MEDIUM).
    return {k: (v[0] if v[0] is not None else 0.0, v[1]) for k, v in totals.items()}


def _load_balancers(elbv2, region: str) -> list[Resource]:
    lbs = list(_paginate(elbv2, "describe_load_balancers", "LoadBalancers"))
    if not lbs:
        return []
    groups = list(_paginate(elbv2, "describe_target_groups", "TargetGroups"))
    targets: dict[str, int] = {}
    group_count: dict[str, int] = {}
    for g in groups:
        registered = len(
            elbv2.describe_target_health(TargetGroupArn=g["TargetGroupArn"]).get(
                "TargetHealthDescriptions", []
            )
        )
        for lb_arn in g.get("LoadBalancerArns", []):
            targets[lb_arn] = targets.get(lb_arn, 0) + registered
            group_count[lb_arn] = group_count.get(lb_arn, 0) + 1
    tags: dict[str, dict[str, str]] = {}
    arns = [lb["LoadBalancerArn"] for lb in lbs]
    for i in range(0, len(arns), 20):
        for d in elbv2.describe_tags(ResourceArns=arns[i : i + 20]).get("TagDescriptions", []):
            tags[d["ResourceArn"]] = _tags(d.get("Tags"))
    out = []
    for lb in lbs:
        arn = lb["LoadBalancerArn"]
        t = tags.get(arn, {})
        out.append(
            Resource(
                provider="aws",
                kind="aws.elbv2.load_balancer",
                resource_id=arn,
                region=region,
                name=t.get("Name", "") or lb.get("LoadBalancerName", ""),
                tags=t,
                created_at=lb.get("CreatedTime"),
                attributes={
                    "type": lb.get("Type", "application"),
                    "state": lb.get("State", {}).get("Code"),
                    "registered_targets": targets.get(arn, 0),
                    "target_group_count": group_count.get(arn, 0),
                },
                config={
                    "type": lb.get("Type", "application"),
                    "scheme": lb.get("Scheme"),
                    "target_group_count": group_count.get(arn, 0),
                },
            )
        )
    return out
