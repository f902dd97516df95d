"""S3 buckets, VPN connections, transit gateway attachments, Route 53 zones and health checks, EFS
file systems, VPC endpoints and Kinesis streams: waste and near misses for each of their rules.

Per variant (``ctx.count(share)`` of each, spread over the regions; Route 53 only when us-east-1
is one of them, since it is listed there):

=====================  =======================================================  ===================================================
variant                what it is                                               truth
=====================  =======================================================  ===================================================
``s3.mpu``             bucket without an abort rule (none, or expiration only,  ``s3-bucket-incomplete-multipart-uploads``
                       or a disabled abort rule), 1-3 uploads of 0.5-8 GiB
``s3.mpu_aborted``     same uploads, a whole-bucket abort rule                  near miss
``s3.mpu_empty``       an upload with no part (0 bytes, under 1 MiB)            near miss
``s3.mpu_prefix``      uploads under tmp/, an abort rule for tmp/               near miss
``s3.versions``        versioned, no lifecycle, 12-200 GiB noncurrent           ``s3-bucket-noncurrent-versions-without-lifecycle``
``s3.versions_exp``    same, a whole-bucket NoncurrentVersionExpiration rule    near miss
``s3.versions_small``  versioned, 9-9.9 GiB noncurrent (threshold 10)           near miss
``s3.plain``           unversioned, no upload                                   near miss
``vpn.idle``           30 days of zero tunnel traffic                           ``vpn-connection-idle``
``vpn.young``          20 days of zero tunnel traffic (coverage < 90%)          near miss (AWS gives no creation time)
``vpn.busy``           traffic on some days                                     near miss
``tgw.idle``           VPC attachment 35-600 days, zeros or no datapoint        ``transit-gateway-attachment-idle``
``tgw.young``          10-28 days old, no datapoint                             near miss
``tgw.busy``           bytes on some days                                       near miss
``zone.empty``         public zone, only SOA + NS, zero or no DNSQueries        ``route53-zone-no-queries``
``zone.queried``       public zone, only SOA + NS, queried                      near miss
``zone.records``       public zone with records, no query                       near miss
``zone.private``       private zone, only SOA + NS                              near miss
``hc.orphan``          health check nothing uses                                ``route53-health-check-orphaned``
``hc.record``          referenced by a failover record                          near miss
``hc.alarmed``         a CloudWatch alarm watches it                            near miss
``hc.child``           child of a calculated check a record uses (both)         near miss
``efs.idle``           35-600 days, mount target, zero ClientConnections        ``efs-filesystem-idle``
``efs.unmounted``      One Zone, 35-600 days, no mount target, no datapoint     ``efs-filesystem-idle``
``efs.young``          5-28 days, idle                                          near miss
``efs.busy``           clients on some days                                     near miss
``vpce.idle``          Interface endpoint, 35-600 days, zero BytesProcessed     ``vpc-interface-endpoint-idle``
``vpce.gateway``       Gateway endpoint (free), no datapoint                    near miss
``vpce.young``         Interface, 5-28 days, idle                               near miss
``vpce.busy``          Interface with traffic                                   near miss
``kinesis.idle``       provisioned, 35-600 days, 1-8 shards, zero records       ``kinesis-stream-idle``
``kinesis.ondemand``   on-demand, old, no record                                near miss (out of the rule's scope)
``kinesis.young``      provisioned, 5-28 days, idle                             near miss
``kinesis.busy``       provisioned, records on some days                        near miss
=====================  =======================================================  ===================================================

Besides, every region gets one transit gateway per attachment, one virtual private gateway and
customer gateways (not listed by the scanner), and us-east-1 a public "host" zone holding the
records that use health checks (a zone with records: a near miss of its own).

moto gaps and workarounds: ListMultipartUploads answers a fixed ``Initiated`` of 2010-11-10 for
every upload, so every simulated upload is "old" (the too-young near miss lives in the unit
tests); part and version sizes are set on moto's objects (``contentsize``) after small uploads,
so that gigabytes cost no memory; moto gives no VPN creation time (nor does AWS); EFS sizes are
set on the backend (``_size_value``); creation times of attachments, endpoints, file systems and
streams are backdated on the backend objects. moto does not implement EFS replication
(CreateReplicationConfiguration, UpdateFileSystemProtection), so the replication destination
near miss of ``efs-filesystem-idle`` lives in the unit tests.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta
from typing import Any

from ..estate_moto import naive
from . import SeedContext, ServiceEstate

BUCKET = "aws.s3.bucket"
VPN = "aws.ec2.vpn_connection"
TGW_ATTACHMENT = "aws.ec2.transit_gateway_attachment"
ZONE = "aws.route53.hosted_zone"
HEALTH_CHECK = "aws.route53.health_check"
FILE_SYSTEM = "aws.efs.file_system"
ENDPOINT = "aws.ec2.vpc_endpoint"
STREAM = "aws.kinesis.stream"

MPU = "s3-bucket-incomplete-multipart-uploads"
NONCURRENT = "s3-bucket-noncurrent-versions-without-lifecycle"
VPN_IDLE = "vpn-connection-idle"
TGW_IDLE = "transit-gateway-attachment-idle"
ZONE_IDLE = "route53-zone-no-queries"
HC_ORPHAN = "route53-health-check-orphaned"
EFS_IDLE = "efs-filesystem-idle"
VPCE_IDLE = "vpc-interface-endpoint-idle"
KINESIS_IDLE = "kinesis-stream-idle"

GLOBAL = "us-east-1"
GIB = 1024**3
WINDOW = 30

_FIRE, _NEAR = 0.0014, 0.0008
VARIANTS: dict[str, tuple[float, str | None]] = {
    "s3.mpu": (_FIRE, MPU),
    "s3.mpu_aborted": (_NEAR, None),
    "s3.mpu_empty": (_NEAR, None),
    "s3.mpu_prefix": (_NEAR, None),
    "s3.versions": (_FIRE, NONCURRENT),
    "s3.versions_exp": (_NEAR, None),
    "s3.versions_small": (_NEAR, None),
    "s3.plain": (_NEAR, None),
    "vpn.idle": (_FIRE, VPN_IDLE),
    "vpn.young": (_NEAR, None),
    "vpn.busy": (_NEAR, None),
    "tgw.idle": (_FIRE, TGW_IDLE),
    "tgw.young": (_NEAR, None),
    "tgw.busy": (_NEAR, None),
    "zone.empty": (_FIRE, ZONE_IDLE),
    "zone.queried": (_NEAR, None),
    "zone.records": (_NEAR, None),
    "zone.private": (_NEAR, None),
    "hc.orphan": (_FIRE, HC_ORPHAN),
    "hc.record": (_NEAR, None),
    "hc.alarmed": (_NEAR, None),
    "hc.child": (_NEAR, None),
    "efs.idle": (_FIRE, EFS_IDLE),
    "efs.unmounted": (_NEAR, EFS_IDLE),
    "efs.young": (_NEAR, None),
    "efs.busy": (_NEAR, None),
    "vpce.idle": (_FIRE, VPCE_IDLE),
    "vpce.gateway": (_NEAR, None),
    "vpce.young": (_NEAR, None),
    "vpce.busy": (_NEAR, None),
    "kinesis.idle": (_FIRE, KINESIS_IDLE),
    "kinesis.ondemand": (_NEAR, None),
    "kinesis.young": (_NEAR, None),
    "kinesis.busy": (_NEAR, None),
}
# Rough us-east-1 list prices, USD a month: only to feed the simulated decisions.
_MONTHLY = {"vpn": 36.5, "tgw": 36.5, "zone": 0.5, "hc": 0.5, "vpce_zone": 7.3, "shard": 10.95}
_S3_GB, _EFS_GB = 0.023, 0.30


def _log_uniform(rng: random.Random, lo: float, hi: float) -> float:
    return lo * (hi / lo) ** rng.random()


def _age(rng: random.Random, variant: str) -> float:
    if variant.endswith("young"):
        return round(rng.uniform(10, 28) if variant.startswith("tgw") else rng.uniform(5, 28), 3)
    return round(_log_uniform(rng, 35, 600), 3)


def _activity(rng: random.Random, days: int, scale: float) -> list[float]:
    """A busy history, newest first: activity on about half the days, the newest one included
    (so that no window of this history reads as zero)."""
    values = [round(rng.uniform(0.2, 1.0) * scale) if rng.random() < 0.5 else 0.0 for _ in range(days)]
    values[0] = round(rng.uniform(0.5, 1.0) * scale) or 1.0
    return values


class _Seeder:
    def __init__(self, ctx: SeedContext, rng: random.Random) -> None:
        self.ctx, self.rng = ctx, rng
        self.truth: list = []
        self.n = 0
        self.tag = f"{ctx.seed % 10000}-{ctx.account_id[-4:]}"
        self.metrics: dict[tuple[str, str], list[dict[str, Any]]] = {}
        self._vgw: dict[str, str] = {}
        self._host_zone: tuple[str, str] | None = None

    def add(
        self, rid: str, kind: str, region: str, tags: dict[str, str], scenario: str | None, **cost
    ) -> None:
        decision = None
        if scenario is not None:
            decision = self.ctx.decide(
                self.rng, tags=tags, scenario=scenario, age_days=cost.get("age"), monthly_cost=cost["monthly"]
            )
        self.truth.append(self.ctx.truth(rid, kind, region, tags, scenario, decision))

    def put(
        self, region: str, namespace: str, metric: str, dims: dict[str, str], values: list[float]
    ) -> None:
        points = self.ctx.daily_points(metric, dims, values, "None")
        self.metrics.setdefault((region, namespace), []).extend(points)

    def flush(self) -> None:
        for (region, namespace), data in self.metrics.items():
            self.ctx.put_metrics(region, namespace, data)

    def name(self, prefix: str) -> str:
        self.n += 1
        return f"cw-{prefix}-{self.tag}-{self.n:04d}"

    # S3 -----------------------------------------------------------------------------------------

    def bucket(self, variant: str, region: str) -> None:
        rng, ctx = self.rng, self.ctx
        s3 = ctx.client("s3", region)
        name = self.name("b")
        kwargs: dict[str, Any] = {"Bucket": name}
        if region != "us-east-1":
            kwargs["CreateBucketConfiguration"] = {"LocationConstraint": region}
        s3.create_bucket(**kwargs)
        backend = ctx.backend("s3", "global").buckets[name]
        backend.creation_date = naive(ctx.ago(_age(rng, variant)))
        scenario = VARIANTS[variant][1]
        monthly = 0.0
        if variant.startswith("s3.mpu"):
            rules: list[dict[str, Any]] = []
            if variant == "s3.mpu":
                style = rng.choice(("none", "expiration", "disabled"))
                if style == "expiration":
                    rules.append(
                        {
                            "ID": "expire",
                            "Status": "Enabled",
                            "Filter": {"Prefix": "logs/"},
                            "Expiration": {"Days": 90},
                        }
                    )
                elif style == "disabled":
                    rules.append(
                        {
                            "ID": "abort",
                            "Status": "Disabled",
                            "Filter": {"Prefix": ""},
                            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
                        }
                    )
            elif variant in ("s3.mpu_aborted", "s3.mpu_prefix"):
                prefix = "" if variant == "s3.mpu_aborted" else "tmp/"
                rules.append(
                    {
                        "ID": "abort",
                        "Status": "Enabled",
                        "Filter": {"Prefix": prefix},
                        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
                    }
                )
            if rules:
                s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": rules})
            key_prefix = "tmp/" if variant == "s3.mpu_prefix" else "data/"
            for i in range(rng.randint(1, 3)):
                upload = s3.create_multipart_upload(Bucket=name, Key=f"{key_prefix}part-{i}.bin")["UploadId"]
                if variant == "s3.mpu_empty":
                    continue
                s3.upload_part(
                    Bucket=name, Key=f"{key_prefix}part-{i}.bin", UploadId=upload, PartNumber=1, Body=b"x"
                )
                size = int(_log_uniform(rng, 0.5, 8) * GIB)
                backend.multiparts[upload].parts[1].contentsize = size
                monthly += size / GIB * _S3_GB
        elif variant.startswith("s3.versions"):
            s3.put_bucket_versioning(Bucket=name, VersioningConfiguration={"Status": "Enabled"})
            if variant == "s3.versions_exp":
                s3.put_bucket_lifecycle_configuration(
                    Bucket=name,
                    LifecycleConfiguration={
                        "Rules": [
                            {
                                "ID": "noncurrent",
                                "Status": "Enabled",
                                "Filter": {"Prefix": ""},
                                "NoncurrentVersionExpiration": {"NoncurrentDays": 30},
                            }
                        ]
                    },
                )
            total = rng.uniform(9.0, 9.9) if variant == "s3.versions_small" else _log_uniform(rng, 12, 200)
            keys = rng.randint(1, 3)
            for i in range(keys):
                s3.put_object(Bucket=name, Key=f"obj-{i}", Body=b"old")
                s3.put_object(Bucket=name, Key=f"obj-{i}", Body=b"new")
            for i in range(keys):
                versions = backend.keys.getlist(f"obj-{i}")
                old = versions[:-1]  # moto keeps a key's versions oldest first
                _set_size(old[0], int(total * GIB / keys))
            monthly = total * _S3_GB
        self.add(name, BUCKET, region, {}, scenario, monthly=max(monthly, 0.01), age=None)

    # VPN and transit gateways -------------------------------------------------------------------

    def vpn(self, variant: str, region: str) -> None:
        ec2 = self.ctx.client("ec2", region)
        if region not in self._vgw:
            self._vgw[region] = ec2.create_vpn_gateway(Type="ipsec.1")["VpnGateway"]["VpnGatewayId"]
        tags = self.ctx.tags(self.rng, "vpn")
        self.n += 1
        cgw = ec2.create_customer_gateway(
            Type="ipsec.1", PublicIp=f"203.0.{self.n // 250}.{self.n % 250 + 1}", BgpAsn=65000
        )["CustomerGateway"]["CustomerGatewayId"]
        vpn_id = ec2.create_vpn_connection(
            Type="ipsec.1",
            CustomerGatewayId=cgw,
            VpnGatewayId=self._vgw[region],
            TagSpecifications=[{"ResourceType": "vpn-connection", "Tags": _tag_list(tags)}],
        )["VpnConnection"]["VpnConnectionId"]
        days = 20 if variant == "vpn.young" else WINDOW
        for metric in ("TunnelDataIn", "TunnelDataOut"):
            values = _activity(self.rng, days, 5e6) if variant == "vpn.busy" else [0.0] * days
            self.put(region, "AWS/VPN", metric, {"VpnId": vpn_id}, values)
        self.add(vpn_id, VPN, region, tags, VARIANTS[variant][1], monthly=_MONTHLY["vpn"], age=None)

    def attachment(self, variant: str, region: str) -> None:
        ctx, rng = self.ctx, self.rng
        ec2 = ctx.client("ec2", region)
        net = ctx.networks[region]
        tgw = ec2.create_transit_gateway(Description="sim")["TransitGateway"]["TransitGatewayId"]
        tags = ctx.tags(rng, "transit-gateway")
        att = ec2.create_transit_gateway_vpc_attachment(
            TransitGatewayId=tgw,
            VpcId=net.vpc_id,
            SubnetIds=[net.subnet_ids[0]],
            TagSpecifications=[{"ResourceType": "transit-gateway-attachment", "Tags": _tag_list(tags)}],
        )["TransitGatewayVpcAttachment"]["TransitGatewayAttachmentId"]
        age = _age(rng, variant)
        ctx.backend("ec2", region).transit_gateway_attachments[att]._created_at = naive(ctx.ago(age))
        dims = {"TransitGateway": tgw, "TransitGatewayAttachment": att}
        if variant == "tgw.busy":
            for metric in ("BytesIn", "BytesOut"):
                self.put(region, "AWS/TransitGateway", metric, dims, _activity(rng, WINDOW, 1e8))
        elif variant == "tgw.idle" and rng.random() < 0.5:  # explicit zeros; else no datapoint
            for metric in ("BytesIn", "BytesOut"):
                self.put(region, "AWS/TransitGateway", metric, dims, [0.0] * WINDOW)
        self.add(att, TGW_ATTACHMENT, region, tags, VARIANTS[variant][1], monthly=_MONTHLY["tgw"], age=age)

    # Route 53 (global) --------------------------------------------------------------------------

    def zone(self, variant: str) -> None:
        ctx, rng = self.ctx, self.rng
        r53 = ctx.client("route53", GLOBAL)
        name = f"{self.name('z')}.example.com"
        kwargs: dict[str, Any] = {"Name": name, "CallerReference": name}
        if variant == "zone.private":
            kwargs |= {"VPC": {"VPCRegion": GLOBAL, "VPCId": ctx.networks[GLOBAL].vpc_id}}
            kwargs |= {"HostedZoneConfig": {"PrivateZone": True}}
        zid = r53.create_hosted_zone(**kwargs)["HostedZone"]["Id"].rsplit("/", 1)[-1]
        if variant == "zone.records":
            _upsert(r53, zid, f"www.{name}", None)
        dims = {"HostedZoneId": zid}
        if variant == "zone.queried":
            self.put(GLOBAL, "AWS/Route53", "DNSQueries", dims, _activity(rng, WINDOW, 300))
        elif variant == "zone.empty" and rng.random() < 0.5:
            self.put(GLOBAL, "AWS/Route53", "DNSQueries", dims, [0.0] * WINDOW)
        self.add(zid, ZONE, GLOBAL, {}, VARIANTS[variant][1], monthly=_MONTHLY["zone"], age=None)

    def host_zone(self) -> tuple[str, str]:
        """A public zone with records, for the health checks records use (a near miss itself)."""
        if self._host_zone is None:
            r53 = self.ctx.client("route53", GLOBAL)
            name = f"{self.name('host')}.example.com"
            zid = r53.create_hosted_zone(Name=name, CallerReference=name)["HostedZone"]["Id"].rsplit("/", 1)[
                -1
            ]
            _upsert(r53, zid, f"www.{name}", None)
            self._host_zone = (zid, name)
            self.add(zid, ZONE, GLOBAL, {}, None)
        return self._host_zone

    def health_check(self, variant: str) -> None:
        ctx = self.ctx
        r53 = ctx.client("route53", GLOBAL)
        n = self.name("hc")
        config = {
            "Type": "HTTPS",
            "FullyQualifiedDomainName": f"{n}.example.com",
            "Port": 443,
            "ResourcePath": "/health",
        }
        if variant == "hc.orphan" and self.rng.random() < 0.5:
            config["Disabled"] = True
        hid = r53.create_health_check(CallerReference=n, HealthCheckConfig=config)["HealthCheck"]["Id"]
        if variant == "hc.record":
            zid, zone = self.host_zone()
            _upsert(r53, zid, f"{n}.{zone}", hid)
        elif variant == "hc.alarmed":
            cloudwatch = ctx.client("cloudwatch", GLOBAL)
            cloudwatch.put_metric_alarm(
                AlarmName=f"{n}-down",
                Namespace="AWS/Route53",
                MetricName="HealthCheckStatus",
                Dimensions=[{"Name": "HealthCheckId", "Value": hid}],
                Statistic="Minimum",
                Period=60,
                EvaluationPeriods=1,
                Threshold=1,
                ComparisonOperator="LessThanThreshold",
            )
            # the alarm is a resource of its own (aws.cloudwatch.alarm): in state OK, not waste
            arn = cloudwatch.describe_alarms(AlarmNames=[f"{n}-down"])["MetricAlarms"][0]["AlarmArn"]
            self.add(arn, "aws.cloudwatch.alarm", GLOBAL, {}, None)
        elif variant == "hc.child":
            parent = r53.create_health_check(
                CallerReference=f"{n}-parent",
                HealthCheckConfig={"Type": "CALCULATED", "ChildHealthChecks": [hid], "HealthThreshold": 1},
            )["HealthCheck"]["Id"]
            zid, zone = self.host_zone()
            _upsert(r53, zid, f"{n}-calc.{zone}", parent)
            self.add(parent, HEALTH_CHECK, GLOBAL, {}, None)
        self.add(hid, HEALTH_CHECK, GLOBAL, {}, VARIANTS[variant][1], monthly=_MONTHLY["hc"], age=None)

    # EFS ----------------------------------------------------------------------------------------

    def file_system(self, variant: str, region: str) -> None:
        ctx, rng = self.ctx, self.rng
        efs = ctx.client("efs", region)
        tags = ctx.tags(rng, "efs")
        # the unmounted ones are One Zone file systems (priced as Standard: the evidence says upper bound)
        one_zone = {"AvailabilityZoneName": f"{region}a"} if variant == "efs.unmounted" else {}
        fid = efs.create_file_system(CreationToken=self.name("fs"), Tags=_tag_list(tags), **one_zone)[
            "FileSystemId"
        ]
        if variant != "efs.unmounted":
            net = ctx.networks[region]
            efs.create_mount_target(FileSystemId=fid, SubnetId=net.subnet_ids[0])
        age = _age(rng, variant)
        gb = _log_uniform(rng, 2, 800)
        fs = ctx.backend("efs", region).file_systems_by_id[fid]
        fs.creation_time = ctx.ago(age).timestamp()
        fs._size_value = int(gb * GIB)
        dims = {"FileSystemId": fid}
        if variant == "efs.busy":
            self.put(region, "AWS/EFS", "ClientConnections", dims, _activity(rng, WINDOW, 40))
        elif variant == "efs.idle" and rng.random() < 0.5:
            self.put(region, "AWS/EFS", "ClientConnections", dims, [0.0] * WINDOW)
        self.add(fid, FILE_SYSTEM, region, tags, VARIANTS[variant][1], monthly=gb * _EFS_GB, age=age)

    # VPC endpoints ------------------------------------------------------------------------------

    def endpoint(self, variant: str, region: str) -> None:
        ctx, rng = self.ctx, self.rng
        ec2 = ctx.client("ec2", region)
        net = ctx.networks[region]
        tags = ctx.tags(rng, "vpc-endpoint")
        spec = {"TagSpecifications": [{"ResourceType": "vpc-endpoint", "Tags": _tag_list(tags)}]}
        if variant == "vpce.gateway":
            service = f"com.amazonaws.{region}.{rng.choice(('s3', 'dynamodb'))}"
            spec |= {"VpcEndpointType": "Gateway"}
            zones = 0
        else:
            service = f"com.amazonaws.{region}.{rng.choice(('ssm', 'ec2messages', 'sts', 'kms', 'logs'))}"
            zones = rng.randint(1, len(net.subnet_ids))
            spec |= {"VpcEndpointType": "Interface", "SubnetIds": list(net.subnet_ids[:zones])}
        vid = ec2.create_vpc_endpoint(VpcId=net.vpc_id, ServiceName=service, **spec)["VpcEndpoint"][
            "VpcEndpointId"
        ]
        age = _age(rng, variant)
        ctx.backend("ec2", region).vpc_end_points[vid].creation_timestamp = naive(ctx.ago(age))
        dims = {
            "VPC Id": net.vpc_id,
            "VPC Endpoint Id": vid,
            "Endpoint Type": "Interface",
            "Service Name": service,
        }
        if variant == "vpce.busy":
            self.put(region, "AWS/PrivateLinkEndpoints", "BytesProcessed", dims, _activity(rng, WINDOW, 1e7))
        elif variant == "vpce.idle" and rng.random() < 0.5:
            self.put(region, "AWS/PrivateLinkEndpoints", "BytesProcessed", dims, [0.0] * WINDOW)
        monthly = zones * _MONTHLY["vpce_zone"]
        self.add(vid, ENDPOINT, region, tags, VARIANTS[variant][1], monthly=monthly, age=age)

    # Kinesis ------------------------------------------------------------------------------------

    def stream(self, variant: str, region: str) -> None:
        ctx, rng = self.ctx, self.rng
        kinesis = ctx.client("kinesis", region)
        name = self.name("s")
        shards = rng.randint(1, 8)
        if variant == "kinesis.ondemand":
            kinesis.create_stream(StreamName=name, StreamModeDetails={"StreamMode": "ON_DEMAND"})
        else:
            kinesis.create_stream(StreamName=name, ShardCount=shards)
        age = _age(rng, variant)
        ctx.backend("kinesis", region).streams[name].creation_datetime = naive(ctx.ago(age))
        if variant == "kinesis.busy":
            self.put(
                region, "AWS/Kinesis", "IncomingRecords", {"StreamName": name}, _activity(rng, WINDOW, 5e4)
            )
        elif variant == "kinesis.idle" and rng.random() < 0.5:
            self.put(region, "AWS/Kinesis", "IncomingRecords", {"StreamName": name}, [0.0] * WINDOW)
        monthly = shards * _MONTHLY["shard"]
        self.add(name, STREAM, region, {}, VARIANTS[variant][1], monthly=monthly, age=age)


def _set_size(key: Any, size: int) -> None:
    """A version's size, kept through the deep copy ListObjectVersions makes of every version
    (FakeKey.__setstate__ recomputes the size from the stored bytes)."""
    from moto.s3.models import FakeKey

    global _SizedKey
    if _SizedKey is None:

        class SizedKey(FakeKey):
            def __setstate__(self, state: dict[str, Any]) -> None:
                super().__setstate__(state)
                self.contentsize = state["contentsize"]

        _SizedKey = SizedKey
    key.__class__ = _SizedKey
    key.contentsize = size


_SizedKey: Any = None


def _tag_list(tags: dict[str, str]) -> list[dict[str, str]]:
    return [{"Key": k, "Value": v} for k, v in tags.items()]


def _upsert(r53: Any, zone_id: str, name: str, health_check_id: str | None) -> None:
    rrs: dict[str, Any] = {"Name": name, "Type": "A", "TTL": 60, "ResourceRecords": [{"Value": "192.0.2.10"}]}
    if health_check_id:
        rrs |= {"SetIdentifier": "primary", "Failover": "PRIMARY", "HealthCheckId": health_check_id}
    r53.change_resource_record_sets(
        HostedZoneId=zone_id, ChangeBatch={"Changes": [{"Action": "UPSERT", "ResourceRecordSet": rrs}]}
    )


def seed(ctx: SeedContext) -> list:
    rng = ctx.rng("network_storage")
    s = _Seeder(ctx, rng)
    makers = {
        "s3": s.bucket,
        "vpn": s.vpn,
        "tgw": s.attachment,
        "efs": s.file_system,
        "vpce": s.endpoint,
        "kinesis": s.stream,
    }
    for variant, (share, _scenario) in VARIANTS.items():
        family = variant.split(".", 1)[0]
        for _ in range(ctx.count(share)):
            if family in ("zone", "hc"):
                if GLOBAL not in ctx.regions:
                    continue
                (s.zone if family == "zone" else s.health_check)(variant)
            else:
                makers[family](variant, ctx.pick_region(rng))
    s.flush()
    return s.truth


# --- what users do between two scans ----------------------------------------------------------------


def _datapoint(
    c: Any, namespace: str, metric: str, dims: dict[str, str], value: float, now: datetime
) -> None:
    c.cloudwatch.put_metric_data(
        Namespace=namespace,
        MetricData=[
            {
                "MetricName": metric,
                "Dimensions": [{"Name": k, "Value": v} for k, v in dims.items()],
                "Timestamp": now - timedelta(hours=1),
                "Value": value,
            }
        ],
    )


def _delete_bucket(c: Any, name: str, _now: datetime) -> None:
    for u in c.s3.list_multipart_uploads(Bucket=name).get("Uploads", []):
        c.s3.abort_multipart_upload(Bucket=name, Key=u["Key"], UploadId=u["UploadId"])
    listing = c.s3.list_object_versions(Bucket=name)
    for v in listing.get("Versions", []) + listing.get("DeleteMarkers", []):
        c.s3.delete_object(Bucket=name, Key=v["Key"], VersionId=v["VersionId"])
    c.s3.delete_bucket(Bucket=name)


def _fix_bucket(c: Any, name: str, _now: datetime) -> None:
    """A whole-bucket lifecycle rule that aborts stale uploads and expires noncurrent versions."""
    rule = {
        "ID": "cleanup",
        "Status": "Enabled",
        "Filter": {"Prefix": ""},
        "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
        "NoncurrentVersionExpiration": {"NoncurrentDays": 30},
    }
    c.s3.put_bucket_lifecycle_configuration(Bucket=name, LifecycleConfiguration={"Rules": [rule]})


def _delete_vpn(c: Any, vpn_id: str, _now: datetime) -> None:
    c.ec2.delete_vpn_connection(VpnConnectionId=vpn_id)


def _fix_vpn(c: Any, vpn_id: str, now: datetime) -> None:
    _datapoint(c, "AWS/VPN", "TunnelDataIn", {"VpnId": vpn_id}, 4096.0, now)


def _delete_attachment(c: Any, att_id: str, _now: datetime) -> None:
    c.ec2.delete_transit_gateway_vpc_attachment(TransitGatewayAttachmentId=att_id)


def _fix_attachment(c: Any, att_id: str, now: datetime) -> None:
    att = c.ec2.describe_transit_gateway_attachments(TransitGatewayAttachmentIds=[att_id])
    tgw = att["TransitGatewayAttachments"][0]["TransitGatewayId"]
    dims = {"TransitGateway": tgw, "TransitGatewayAttachment": att_id}
    _datapoint(c, "AWS/TransitGateway", "BytesIn", dims, 4096.0, now)


def _delete_zone(c: Any, zone_id: str, _now: datetime) -> None:
    c.route53.delete_hosted_zone(Id=zone_id)


def _fix_zone(c: Any, zone_id: str, _now: datetime) -> None:
    name = c.route53.get_hosted_zone(Id=zone_id)["HostedZone"]["Name"]
    _upsert(c.route53, zone_id, f"www.{name}", None)


def _delete_health_check(c: Any, hid: str, _now: datetime) -> None:
    c.route53.delete_health_check(HealthCheckId=hid)


def _fix_health_check(c: Any, hid: str, _now: datetime) -> None:
    c.cloudwatch.put_metric_alarm(
        AlarmName=f"{hid}-down",
        Namespace="AWS/Route53",
        MetricName="HealthCheckStatus",
        Dimensions=[{"Name": "HealthCheckId", "Value": hid}],
        Statistic="Minimum",
        Period=60,
        EvaluationPeriods=1,
        Threshold=1,
        ComparisonOperator="LessThanThreshold",
    )


def _delete_file_system(c: Any, fid: str, _now: datetime) -> None:
    for mt in c.efs.describe_mount_targets(FileSystemId=fid).get("MountTargets", []):
        c.efs.delete_mount_target(MountTargetId=mt["MountTargetId"])
    c.efs.delete_file_system(FileSystemId=fid)


def _fix_file_system(c: Any, fid: str, now: datetime) -> None:
    _datapoint(c, "AWS/EFS", "ClientConnections", {"FileSystemId": fid}, 3.0, now)


def _delete_endpoint(c: Any, vid: str, _now: datetime) -> None:
    c.ec2.delete_vpc_endpoints(VpcEndpointIds=[vid])


def _fix_endpoint(c: Any, vid: str, now: datetime) -> None:
    e = c.ec2.describe_vpc_endpoints(VpcEndpointIds=[vid])["VpcEndpoints"][0]
    dims = {
        "VPC Id": e["VpcId"],
        "VPC Endpoint Id": vid,
        "Endpoint Type": e["VpcEndpointType"],
        "Service Name": e["ServiceName"],
    }
    _datapoint(c, "AWS/PrivateLinkEndpoints", "BytesProcessed", dims, 4096.0, now)


def _delete_stream(c: Any, name: str, _now: datetime) -> None:
    c.kinesis.delete_stream(StreamName=name)


def _fix_stream(c: Any, name: str, now: datetime) -> None:
    _datapoint(c, "AWS/Kinesis", "IncomingRecords", {"StreamName": name}, 12.0, now)


SERVICE = ServiceEstate(
    name="network_storage",
    seed=seed,
    actions={
        (BUCKET, "delete"): _delete_bucket,
        (BUCKET, "fix"): _fix_bucket,
        (VPN, "delete"): _delete_vpn,
        (VPN, "fix"): _fix_vpn,
        (TGW_ATTACHMENT, "delete"): _delete_attachment,
        (TGW_ATTACHMENT, "fix"): _fix_attachment,
        (ZONE, "delete"): _delete_zone,
        (ZONE, "fix"): _fix_zone,
        (HEALTH_CHECK, "delete"): _delete_health_check,
        (HEALTH_CHECK, "fix"): _fix_health_check,
        (FILE_SYSTEM, "delete"): _delete_file_system,
        (FILE_SYSTEM, "fix"): _fix_file_system,
        (ENDPOINT, "delete"): _delete_endpoint,
        (ENDPOINT, "fix"): _fix_endpoint,
        (STREAM, "delete"): _delete_stream,
        (STREAM, "fix"): _fix_stream,
    },
    doc=__doc__ or "",
)
