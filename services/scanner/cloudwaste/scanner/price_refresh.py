"""`cloudwaste prices refresh`: rebuild the AWS price table from the AWS Price List Query API.

The Query API (``pricing:GetProducts``, served from us-east-1) answers, per service code and a list of
``TERM_MATCH`` filters, pages of product documents: each a JSON *string* holding
``product.productFamily``, ``product.attributes`` (``regionCode``, ``usagetype``, ``instanceType``,
``volumeApiName``, ...) and ``terms.OnDemand.<term>.priceDimensions.<dim>`` with ``unit``,
``beginRange`` and ``pricePerUnit.USD``. This module asks one set of queries per region (the
:data:`QUERIES`, in :func:`plan` order), keeps the on-demand price of the products each query's
``pick`` recognises, and writes a schema-2 table (see :mod:`cloudwaste.scanner.pricing`) that lists
every price the API returned. A product document that cannot be read is skipped and counted, never
fatal; a failed call fails the refresh, and nothing is written unless the whole table validates
(the file is replaced atomically: a temporary file in the same folder, then ``os.replace``).

A region the API gives a price for but not every price the rules need (a load balancer type a new
region lacks) keeps what it got and derives the rest from us-east-1 with the median ratio of the
prices both list, written as ``derived_from``/``factor``; a region it gives nothing for is left out
(the table's ``unlisted_regions`` then prices it).
"""

from __future__ import annotations

import datetime as dt
import json
import os
import re
import statistics
import tempfile
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from cloudwaste.scanner.pricing import (
    BASE_REGION,
    EBS_IOPS_TYPES,
    EBS_VOLUME_TYPES,
    REQUIRED,
    SCHEMA_VERSION,
    Path,
    leaf_paths,
    validate_table,
)

PRICING_API_REGION = "us-east-1"
FORMAT_VERSION = "aws_v1"
MAX_RESULTS = 100
HOURS_PER_MONTH = 730
UNLISTED_FACTOR = Decimal("1.15")  # regions the table leaves out: us-east-1 plus a typical premium

# Usage types carry a region prefix outside us-east-1 ("EUW2-", "APN1-", "EU-" for eu-west-1).
_USAGE_PREFIX = re.compile(r"^(?:[A-Z]{2,4}\d+|EU)-")


class RefreshError(Exception):
    """The refresh failed; nothing was written."""


class MalformedProduct(ValueError):
    pass


# --- product documents ----------------------------------------------------------------------------


@dataclass(frozen=True)
class Dimension:
    unit: str
    usd: Decimal
    begin: Decimal


@dataclass(frozen=True)
class Product:
    family: str
    attributes: Mapping[str, str]
    dimensions: tuple[Dimension, ...]  # the on-demand ones
    publication_date: str | None

    @property
    def usage(self) -> str:
        """The usage type without its region prefix ("EUW2-NatGateway-Hours" -> "NatGateway-Hours")."""
        return _USAGE_PREFIX.sub("", self.attributes.get("usagetype", ""), count=1)

    def attr(self, name: str) -> str:
        return self.attributes.get(name, "")

    def price(self, *units: str) -> Decimal | None:
        """The first non-zero on-demand price (lowest tier past any free tier) in one of `units`
        (any unit when none is given), or None."""
        wanted = {u.lower() for u in units}
        for dim in sorted(self.dimensions, key=lambda d: d.begin):
            if (not wanted or dim.unit.lower() in wanted) and dim.usd > 0:
                return dim.usd
        return None


def _decimal(value: Any, what: str) -> Decimal:
    try:
        d = Decimal(str(value))
    except InvalidOperation:
        raise MalformedProduct(f"{what} is not a number: {value!r}") from None
    if not d.is_finite() or d < 0:
        raise MalformedProduct(f"{what} is not a non-negative number: {value!r}")
    return d


def parse_product(doc: str | Mapping[str, Any]) -> Product:
    """Read one PriceList entry (the API sends JSON strings); MalformedProduct when it is unreadable."""
    try:
        data = json.loads(doc) if isinstance(doc, str | bytes) else doc
    except ValueError as exc:
        raise MalformedProduct(f"not JSON: {exc}") from None
    if not isinstance(data, Mapping):
        raise MalformedProduct("not a JSON object")
    product = data.get("product")
    if not isinstance(product, Mapping) or not isinstance(product.get("attributes"), Mapping):
        raise MalformedProduct("no product.attributes")
    attributes = {str(k): str(v) for k, v in product["attributes"].items()}
    terms = data.get("terms", {})
    on_demand = terms.get("OnDemand", {}) if isinstance(terms, Mapping) else None
    if not isinstance(on_demand, Mapping):
        raise MalformedProduct("terms.OnDemand is not an object")
    dims = []
    for term in on_demand.values():
        if not isinstance(term, Mapping) or not isinstance(term.get("priceDimensions"), Mapping):
            raise MalformedProduct("an on-demand term without priceDimensions")
        for dim in term["priceDimensions"].values():
            if not isinstance(dim, Mapping) or not isinstance(dim.get("pricePerUnit"), Mapping):
                raise MalformedProduct("a price dimension without pricePerUnit")
            if "USD" not in dim["pricePerUnit"]:
                raise MalformedProduct("a price dimension without a USD price")
            dims.append(
                Dimension(
                    unit=str(dim.get("unit", "")),
                    usd=_decimal(dim["pricePerUnit"]["USD"], "pricePerUnit.USD"),
                    begin=_decimal(dim.get("beginRange", "0"), "beginRange"),
                )
            )
    published = data.get("publicationDate")
    return Product(
        family=str(product.get("productFamily", "")),
        attributes=attributes,
        dimensions=tuple(dims),
        publication_date=published if isinstance(published, str) else None,
    )


# --- what to ask and what to keep -----------------------------------------------------------------

Pick = Callable[[Product], Iterable[tuple[Path, Decimal | None]]]


@dataclass(frozen=True)
class Query:
    """One GetProducts query (paginated), per region unless `regional` is False."""

    key: str
    service_code: str
    filters: tuple[tuple[str, str], ...]
    pick: Pick
    regional: bool = True

    def params(self, region: str | None, token: str | None = None) -> dict[str, Any]:
        """The GetProducts request for one page."""
        filters = [("regionCode", region)] if self.regional and region else []
        params: dict[str, Any] = {
            "ServiceCode": self.service_code,
            "Filters": [{"Type": "TERM_MATCH", "Field": f, "Value": v} for f, v in [*filters, *self.filters]],
            "FormatVersion": FORMAT_VERSION,
            "MaxResults": MAX_RESULTS,
        }
        if token:
            params["NextToken"] = token
        return params


def _ec2_instance(p: Product):
    a = p.attributes
    if (
        p.family in ("Compute Instance", "Compute Instance (bare metal)")
        and a.get("operatingSystem") == "Linux"
        and a.get("tenancy") == "Shared"
        and a.get("preInstalledSw") == "NA"
        and a.get("capacitystatus") == "Used"
        and a.get("operation") == "RunInstances"
        and a.get("licenseModel", "No License required") == "No License required"
        and a.get("marketoption", "OnDemand") == "OnDemand"
        and a.get("instanceType")
    ):
        yield ("ec2", "instance_hour", a["instanceType"]), p.price("Hrs")


def _ebs_storage(p: Product):
    vtype = p.attr("volumeApiName")
    if p.family == "Storage" and vtype in EBS_VOLUME_TYPES and p.usage.startswith("EBS:VolumeUsage"):
        yield ("ebs", "gb_month", vtype), p.price("GB-Mo")


def _ebs_iops(p: Product):
    vtype = p.attr("volumeApiName")
    # io2's higher IOPS tiers are their own usage types (".io2.tier2", ".io2.tier3"): keep tier 1
    if vtype in EBS_IOPS_TYPES and p.usage.startswith("EBS:VolumeP-IOPS") and "tier" not in p.usage:
        yield ("ebs", "iops_month", vtype), p.price("IOPS-Mo")


def _ebs_throughput(p: Product):
    if p.attr("volumeApiName") == "gp3" and p.usage.startswith("EBS:VolumeP-Throughput"):
        per_gibps = p.price("GiBps-mo")  # the API prices gp3 throughput per GiB/s-month
        per_mibps = per_gibps / 1024 if per_gibps is not None else p.price("MiBps-mo", "MBps-mo")
        yield ("ebs", "gp3_throughput_mibps_month"), per_mibps


def _ebs_snapshot(p: Product):
    # exact usage types: not "EBS:SnapshotArchiveRetrieval" (per GB restored from the archive tier),
    # "EBS:SnapshotArchiveEarlyDelete" or Outposts variants
    if p.usage == "EBS:SnapshotUsage":
        yield ("ebs", "snapshot_gb_month"), p.price("GB-Mo")
    elif p.usage == "EBS:SnapshotArchiveStorage":  # the archive tier's GB-month
        yield ("ebs", "snapshot_archive_gb_month"), p.price("GB-Mo")


def _nat(p: Product):
    if p.usage == "NatGateway-Hours":  # not "RegionalNatGateway-Hours"
        yield ("vpc", "nat_gateway_hour"), p.price("Hrs")
    elif p.usage == "NatGateway-Bytes":
        yield ("vpc", "nat_gateway_gb"), p.price("GB")


def _vpc(p: Product):
    if p.usage == "PublicIPv4:IdleAddress":
        yield ("vpc", "public_ipv4_idle_hour"), p.price("Hrs")
    elif p.usage == "VPN-Usage-Hours:ipsec.1":
        yield ("vpc", "vpn_connection_hour"), p.price("Hrs")
    elif p.usage == "TransitGateway-Hours":
        yield ("vpc", "transit_gateway_attachment_hour"), p.price("Hrs")
    elif p.usage == "VpcEndpoint-Hours":
        # an interface endpoint (PrivateLink), per endpoint per AZ (productFamily "VpcEndpoint"); not
        # "VpcEndpoint-Bytes", which is the same $0.01 but per GB processed
        yield ("vpc", "interface_endpoint_hour"), p.price("Hrs")


_LB_FAMILIES = {
    "Load Balancer-Application": "application",
    "Load Balancer-Network": "network",
    "Load Balancer-Gateway": "gateway",
    "Load Balancer": "classic",
}


def _elb(p: Product):
    kind = _LB_FAMILIES.get(p.family)
    if kind and p.usage == "LoadBalancerUsage":  # not LCUs, not "TS-" or "Outposts-" variants
        yield ("elb", "hour", kind), p.price("Hrs")


_RDS_ENGINES = {"MySQL": "mysql", "PostgreSQL": "postgres"}
_RDS_VOLUMES = {"General Purpose": "gp2", "General Purpose-GP3": "gp3", "Provisioned IOPS": "io1"}


def _rds_instance(p: Product):
    engine = _RDS_ENGINES.get(p.attr("databaseEngine"))
    db_class = p.attr("instanceType")
    if (
        engine
        and p.attr("deploymentOption") == "Single-AZ"
        and db_class.startswith("db.")
        and p.usage.startswith("InstanceUsage:")
    ):
        yield ("rds", "instance_hour", engine, db_class), p.price("Hrs")


_AURORA_ENGINES = {"Aurora MySQL": "aurora-mysql", "Aurora PostgreSQL": "aurora-postgresql"}


def _aurora_instance(p: Product):
    # Aurora lists each instance class twice: "InstanceUsage:<class>" (Aurora Standard) and
    # "InstanceUsageIOOptimized:<class>" (I/O-Optimized clusters, ~30% more): keep Standard. Aurora has
    # no Multi-AZ instance price (a replica is an instance), so the query does not filter on
    # deploymentOption; a "Multi-AZ..." product, should one appear, is left out all the same.
    engine = _AURORA_ENGINES.get(p.attr("databaseEngine"))
    db_class = p.attr("instanceType")
    if (
        engine
        and not p.attr("deploymentOption").startswith("Multi-AZ")
        and db_class.startswith("db.")
        and p.usage.startswith("InstanceUsage:")
    ):
        yield ("rds", "instance_hour", engine, db_class), p.price("Hrs")


def _rds_storage(p: Product):
    vtype = _RDS_VOLUMES.get(p.attr("volumeType"))
    if (
        vtype
        and p.attr("deploymentOption") == "Single-AZ"
        and p.attr("databaseEngine") in ("MySQL", "PostgreSQL", "Any", "")
        and "Custom" not in p.usage
    ):
        yield ("rds", "storage_gb_month", vtype), p.price("GB-Mo")


def _rds_iops(p: Product):
    if p.attr("deploymentOption") == "Single-AZ" and p.usage == "RDS:PIOPS":
        yield ("rds", "iops_month", "io1"), p.price("IOPS-Mo")


def _rds_backup(p: Product):
    # productFamily "Storage Snapshot": backup storage beyond the free allowance (the size of the
    # database). RDS engines bill "RDS:ChargedBackupUsage" (databaseEngine "Any"), Aurora clusters
    # "Aurora:BackupUsage"; "RDSCustom:ChargedBackupUsage" (RDS Custom) is neither.
    if p.usage == "RDS:ChargedBackupUsage":
        yield ("rds", "snapshot_gb_month"), p.price("GB-Mo")
    elif p.usage == "Aurora:BackupUsage":
        yield ("rds", "aurora_snapshot_gb_month"), p.price("GB-Mo")


def _elasticache(p: Product):
    node = p.attr("instanceType")
    if node.startswith("cache.") and p.usage.startswith("NodeUsage:"):
        yield ("elasticache", "node_hour", node), p.price("Hrs")


def _redshift(p: Product):
    node = p.attr("instanceType")
    if node and p.usage.startswith("Node:"):
        yield ("redshift", "node_hour", node), p.price("Hrs")


def _redshift_managed_storage(p: Product):
    # productFamily "Redshift Managed Storage": RA3 managed storage is listed once per node type
    # ("RMS:ra3.xlplus", "RMS:ra3.4xlarge", ...), all at the same GB-month price
    if p.usage.startswith("RMS:ra3"):
        yield ("redshift", "managed_storage_gb_month"), p.price("GB-Mo")


def _dynamodb(p: Product):
    if p.usage == "ReadCapacityUnit-Hrs":  # past the free tier: the first non-zero tier
        yield ("dynamodb", "rcu_hour"), p.price()
    elif p.usage == "WriteCapacityUnit-Hrs":
        yield ("dynamodb", "wcu_hour"), p.price()


def _dynamodb_storage(p: Product):
    # productFamily "Database Storage": the Standard table class is "TimedStorage-ByteHrs" (us-east-1
    # lists it both bare, with the 25 GB free tier at $0, and as "USE1-TimedStorage-ByteHrs"; same
    # price past the free tier). Not "IA-TimedStorage-ByteHrs" (Standard-IA table class) nor
    # "TimedPITRStorage-ByteHrs" (point-in-time recovery backups).
    if p.usage == "TimedStorage-ByteHrs":
        yield ("dynamodb", "storage_gb_month"), p.price("GB-Mo")


def _opensearch_instance(p: Product):
    # productFamily "Amazon OpenSearch Service Instance": "ESInstance:m5.large" with instanceType
    # "m5.large.search" (the name the OpenSearch API uses). The family also lists OCU-hours
    # ("DirectQueryOCU", no ".search" instance type), which are not instances.
    itype = p.attr("instanceType")
    if p.usage.startswith("ESInstance:") and itype.endswith(".search"):
        yield ("opensearch", "instance_hour", itype), p.price("Hrs")


def _opensearch_storage(p: Product):
    # productFamily "Amazon OpenSearch Service Volume": EBS storage per GB-month, one usage type per
    # volume type ("ES:GP2-Storage", "ES:GP3-Storage", "ES:PIOPS-Storage", "ES:Magnetic-Storage")
    # plus provisioned IOPS / throughput. The table holds one storage price: the General Purpose
    # (gp2) one, as the hand-compiled table does.
    if p.usage == "ES:GP2-Storage":
        yield ("opensearch", "storage_gb_month"), p.price("GB-Mo")


def _cloudtrail(p: Product):
    # "PaidEventsRecorded" is the additional copies of management events (the first copy is
    # "FreeEventsRecorded" at $0); not "DataEventsRecorded", "NetworkEventsRecorded" nor
    # "InsightsEvents". The API prices it per event (unit "Events", 0.00002): the table per 100,000.
    if p.usage == "PaidEventsRecorded":
        per_event = p.price("Events", "Event")
        yield ("cloudtrail", "management_events_100k"), None if per_event is None else per_event * 100000


def _usage_is(usage: str, path: Path, *units: str) -> Pick:
    def pick(p: Product):
        if p.usage == usage:
            yield path, p.price(*units)

    return pick


def _q(key, service, pick, *filters, regional=True) -> Query:
    return Query(key, service, tuple(filters), pick, regional)


#: Every query, in the order a region's queries are asked (global ones last, once).
QUERIES: tuple[Query, ...] = (
    _q(
        "ec2-instances",
        "AmazonEC2",
        _ec2_instance,
        ("operatingSystem", "Linux"),
        ("tenancy", "Shared"),
        ("preInstalledSw", "NA"),
        ("capacitystatus", "Used"),
    ),
    _q("ebs-storage", "AmazonEC2", _ebs_storage, ("productFamily", "Storage")),
    _q("ebs-iops", "AmazonEC2", _ebs_iops, ("productFamily", "System Operation")),
    _q("ebs-throughput", "AmazonEC2", _ebs_throughput, ("productFamily", "Provisioned Throughput")),
    _q("ebs-snapshot", "AmazonEC2", _ebs_snapshot, ("productFamily", "Storage Snapshot")),
    _q("nat-gateway", "AmazonEC2", _nat, ("productFamily", "NAT Gateway")),
    _q("vpc", "AmazonVPC", _vpc),
    _q("elb", "AWSELB", _elb),
    *(
        _q(
            f"rds-instances-{engine}",
            "AmazonRDS",
            _rds_instance,
            ("productFamily", "Database Instance"),
            ("databaseEngine", name),
            ("deploymentOption", "Single-AZ"),
        )
        for name, engine in _RDS_ENGINES.items()
    ),
    *(
        _q(
            f"rds-instances-{engine}",
            "AmazonRDS",
            _aurora_instance,
            ("productFamily", "Database Instance"),
            ("databaseEngine", name),
        )
        for name, engine in _AURORA_ENGINES.items()
    ),
    _q(
        "rds-storage",
        "AmazonRDS",
        _rds_storage,
        ("productFamily", "Database Storage"),
        ("deploymentOption", "Single-AZ"),
    ),
    _q(
        "rds-iops",
        "AmazonRDS",
        _rds_iops,
        ("productFamily", "Provisioned IOPS"),
        ("deploymentOption", "Single-AZ"),
    ),
    _q("rds-backup", "AmazonRDS", _rds_backup, ("productFamily", "Storage Snapshot")),
    _q(
        "elasticache",
        "AmazonElastiCache",
        _elasticache,
        ("productFamily", "Cache Instance"),
        ("cacheEngine", "Redis"),
    ),
    _q("redshift", "AmazonRedshift", _redshift, ("productFamily", "Compute Instance")),
    _q(
        "redshift-managed-storage",
        "AmazonRedshift",
        _redshift_managed_storage,
        ("productFamily", "Redshift Managed Storage"),
    ),
    _q("dynamodb", "AmazonDynamoDB", _dynamodb, ("productFamily", "Provisioned IOPS")),
    _q("dynamodb-storage", "AmazonDynamoDB", _dynamodb_storage, ("productFamily", "Database Storage")),
    _q(
        "opensearch-instances",
        "AmazonES",
        _opensearch_instance,
        ("productFamily", "Amazon OpenSearch Service Instance"),
    ),
    _q(
        "opensearch-storage",
        "AmazonES",
        _opensearch_storage,
        ("productFamily", "Amazon OpenSearch Service Volume"),
    ),
    # x86 provisioned concurrency, per GB-second configured: not "Lambda-Provisioned-Concurrency-ARM",
    # not "Lambda-Provisioned-GB-Second" (the duration of invocations it serves), not "Request"
    _q(
        "lambda",
        "AWSLambda",
        _usage_is("Lambda-Provisioned-Concurrency", ("lambda", "provisioned_concurrency_gb_second")),
        ("productFamily", "Serverless"),
    ),
    # EFS Standard: not "IATimedStorage-ByteHrs" (Infrequent Access), "ArchiveTimedStorage-ByteHrs" nor
    # the One Zone classes ("TimedStorage-Z-ByteHrs", ...)
    _q(
        "efs",
        "AmazonEFS",
        _usage_is("TimedStorage-ByteHrs", ("efs", "standard_gb_month"), "GB-Mo"),
        ("productFamily", "Storage"),
    ),
    # a provisioned-mode shard hour: not "Extended-ShardHour" (extended retention, also per shard
    # hour) nor "OnDemand-StreamHour" (on-demand streams)
    _q(
        "kinesis",
        "AmazonKinesis",
        _usage_is("Storage-ShardHour", ("kinesis", "shard_hour")),
        ("productFamily", "Kinesis Streams"),
    ),
    # a standard-resolution metric alarm, first tier past any free tier: not
    # "CW:HighResAlarmMonitorUsage" ($0.30) nor "CW:CompositeAlarmMonitorUsage"
    _q(
        "cloudwatch-alarms",
        "AmazonCloudWatch",
        _usage_is("CW:AlarmMonitorUsage", ("cloudwatch", "alarm_month")),
        ("productFamily", "Alarm"),
    ),
    # CloudTrail lists few products per region (event deliveries, Insights, Lake): no family filter
    _q("cloudtrail", "AWSCloudTrail", _cloudtrail),
    _q("logs", "AmazonCloudWatch", _usage_is("TimedStorage-ByteHrs", ("logs", "storage_gb_month"), "GB-Mo")),
    _q(
        "secretsmanager",
        "AWSSecretsManager",
        _usage_is("AWSSecretsManager-Secrets", ("secretsmanager", "secret_month")),
    ),
    _q("kms", "awskms", _usage_is("KMS-Keys", ("kms", "key_month"))),
    _q("eks", "AmazonEKS", _usage_is("AmazonEKS-Hours:perCluster", ("eks", "cluster_hour"), "Hrs")),
    _q("ecr", "AmazonECR", _usage_is("TimedStorage-ByteHrs", ("ecr", "storage_gb_month"), "GB-Mo")),
    _q(
        "s3",
        "AmazonS3",
        _usage_is("TimedStorage-ByteHrs", ("s3", "standard_gb_month"), "GB-Mo"),
        ("productFamily", "Storage"),
        ("volumeType", "Standard"),
    ),
    _q(
        "route53",
        "AmazonRoute53",
        _usage_is("HostedZone", ("route53", "hosted_zone_month")),
        ("productFamily", "DNS Zone"),
        regional=False,
    ),
    # a basic health check of an AWS endpoint, past the first 50 (free): not "Health-Check-Non-AWS"
    # ($0.75) nor "Health-Check-Option-AWS" (each optional feature: HTTPS, string matching, ...)
    _q(
        "route53-health-checks",
        "AmazonRoute53",
        _usage_is("Health-Check-AWS", ("route53", "health_check_month")),
        ("productFamily", "DNS Health Check"),
        regional=False,
    ),
)


def plan(regions: Sequence[str]) -> Iterator[tuple[Query, str | None]]:
    """(query, region) in the order the refresh asks them; region None for a global query."""
    for region in regions:
        for query in QUERIES:
            if query.regional:
                yield query, region
    for query in QUERIES:
        if not query.regional:
            yield query, None


# --- regions ----------------------------------------------------------------------------------------


def commercial_regions() -> list[str]:
    """The regions of the commercial AWS partition ("aws") that the product knows."""
    from botocore.loaders import create_loader
    from cloudwaste.core.regions import known_regions

    partitions = create_loader().load_data("partitions")["partitions"]
    pattern = re.compile(next(p["regionRegex"] for p in partitions if p["id"] == "aws"))
    return sorted(r for r in known_regions("aws") if pattern.match(r))


# --- the refresh ------------------------------------------------------------------------------------


@dataclass
class RefreshResult:
    table: dict[str, Any]
    products: int = 0
    calls: int = 0
    malformed: int = 0
    malformed_reasons: dict[str, int] = field(default_factory=dict)
    conflicts: list[str] = field(default_factory=list)
    derived: dict[str, list[str]] = field(default_factory=dict)  # region -> required paths derived
    dropped: list[str] = field(default_factory=list)  # regions the API gave no price for
    output: str | None = None

    def report(self) -> list[str]:
        regions = self.table["regions"]
        prices = sum(1 for entry in regions.values() for _ in leaf_paths(entry))
        lines = [
            f"{self.output or 'table'}: {len(regions)} regions, {prices} prices from {self.products} "
            f"products in {self.calls} calls; price date {self.table['price_date']}",
            f"skipped {self.malformed} malformed products"
            + (
                f" ({', '.join(f'{r}: {n}' for r, n in sorted(self.malformed_reasons.items()))})"
                if self.malformed
                else ""
            ),
        ]
        if self.conflicts:
            lines.append(
                f"{len(self.conflicts)} conflicting prices kept at their first value: "
                + "; ".join(self.conflicts[:5])
            )
        for region, paths in sorted(self.derived.items()):
            lines.append(
                f"{region}: no {', '.join(paths)}; derived from {BASE_REGION} x {regions[region]['factor']}"
            )
        if self.dropped:
            lines.append(f"no prices returned for {', '.join(self.dropped)}: left to unlisted_regions")
        return lines


def make_client(endpoint_url: str | None = None):
    import boto3
    from botocore.config import Config

    return boto3.session.Session().client(
        "pricing",
        region_name=PRICING_API_REGION,
        endpoint_url=endpoint_url,
        config=Config(retries={"mode": "adaptive", "max_attempts": 10}),
    )


def _pages(client, query: Query, region: str | None) -> Iterator[list[Any]]:
    token = None
    while True:
        response = client.get_products(**query.params(region, token))
        yield response.get("PriceList", [])
        token = response.get("NextToken")
        if not token:
            return


def _set(tree: dict, path: Path, value: Decimal) -> Decimal | None:
    """Set `path` unless already set; returns the value already there (None when it was not)."""
    node = tree
    for key in path[:-1]:
        node = node.setdefault(key, {})
    if path[-1] in node:
        return node[path[-1]]
    node[path[-1]] = value
    return None


def _get(tree: Mapping, path: Path) -> Any:
    node: Any = tree
    for key in path:
        if not isinstance(node, Mapping) or key not in node:
            return None
        node = node[key]
    return node


def refresh(client, regions: Sequence[str] | None = None, *, now: dt.datetime | None = None) -> RefreshResult:
    """Ask the Price List API for every price of every region and build (and validate) a table.

    Raises RefreshError (from any failed call, or when the table would not validate)."""
    from botocore.exceptions import BotoCoreError, ClientError

    now = now or dt.datetime.now(dt.UTC)
    wanted = sorted(set(regions or commercial_regions()) | {BASE_REGION})
    collected: dict[str, dict] = {r: {} for r in wanted}
    result = RefreshResult(table={})
    published: list[str] = []
    global_prices: dict = {}
    locations: dict[str, str] = {}
    for query, region in plan(wanted):
        target = collected[region] if region else global_prices
        try:
            for page in _pages(client, query, region):
                result.calls += 1
                for doc in page:
                    try:
                        product = parse_product(doc)
                    except MalformedProduct as exc:
                        result.malformed += 1
                        reason = str(exc).split(":")[0]
                        result.malformed_reasons[reason] = result.malformed_reasons.get(reason, 0) + 1
                        continue
                    result.products += 1
                    a = product.attributes
                    if region and (
                        a.get("locationType", "AWS Region") != "AWS Region"  # Local Zones, Outposts, ...
                        or a.get("regionCode", region) != region
                    ):
                        continue
                    if product.publication_date:
                        published.append(product.publication_date)
                    for path, value in query.pick(product):
                        if value is None:
                            continue
                        if region and "location" in a:
                            locations.setdefault(region, a["location"])
                        value = value.normalize()
                        old = _set(target, path, value)
                        if old is not None and old != value:
                            result.conflicts.append(
                                f"{region or 'global'} {'.'.join(path)}: {old} vs {value}"
                            )
        except (BotoCoreError, ClientError) as exc:
            where = f"{query.service_code} {query.key}" + (f" in {region}" if region else "")
            raise RefreshError(f"GetProducts failed for {where}: {exc}") from exc

    for prices in collected.values():
        if prices:
            for path in leaf_paths(global_prices):
                _set(prices, path, _get(global_prices, path))
    base = collected[BASE_REGION]
    missing_base = [".".join(p) for p in REQUIRED if _get(base, p) is None]
    if missing_base:
        raise RefreshError(f"the API gave no {BASE_REGION} price for {', '.join(missing_base)}")

    out_regions: dict[str, Any] = {}
    for region in wanted:
        prices = collected[region]
        if not prices:
            result.dropped.append(region)
            continue
        entry: dict[str, Any] = {}
        if region in locations:
            entry["location"] = locations[region]
        missing = [p for p in REQUIRED if _get(prices, p) is None]
        if missing and region != BASE_REGION:
            ratios = [
                Decimal(_get(prices, p)) / Decimal(_get(base, p))
                for p in leaf_paths(prices)
                if _get(base, p) is not None
            ]
            factor = statistics.median(ratios) if ratios else UNLISTED_FACTOR
            entry.update(derived_from=BASE_REGION, factor=factor.quantize(Decimal("0.0001")))
            result.derived[region] = [".".join(p) for p in missing]
        entry.update(_sorted(prices))
        out_regions[region] = entry

    price_date = max(published)[:10] if published else now.date().isoformat()
    table = {
        "schema_version": SCHEMA_VERSION,
        "currency": "USD",
        "hours_per_month": HOURS_PER_MONTH,
        "price_date": price_date,
        "fetched_at": now.replace(microsecond=0).isoformat(),
        "method": "aws-price-list-api",
        "source": (
            "AWS Price List Query API (pricing:GetProducts), on-demand list prices (Linux, shared tenancy; "
            "RDS Single-AZ; Aurora Standard, not I/O-Optimized; ElastiCache Redis OSS nodes; OpenSearch gp2 "
            "storage; x86 Lambda), fetched by `cloudwaste prices refresh` on "
            f"{now.date().isoformat()}; price_date is the newest publication date of the products read. "
            "Estimates, not invoices: the enricher replaces them with billed cost where Cost Explorer "
            "data exists."
        ),
        "gp3_included": {"iops": 3000, "throughput_mibps": 125},
        "unlisted_regions": {"derived_from": BASE_REGION, "factor": UNLISTED_FACTOR},
        "regions": dict(sorted(out_regions.items(), key=lambda kv: (kv[0] != BASE_REGION, kv[0]))),
    }
    problems = validate_table(table)
    if problems:
        raise RefreshError("the refreshed table does not validate: " + "; ".join(problems[:10]))
    result.table = table
    return result


_SIZE = re.compile(r"^(\d*)x?large$")
_SMALL_SIZES = {"nano": 0, "micro": 1, "small": 2, "medium": 3}


def type_sort_key(name: str) -> tuple:
    """Instance and node types in family order, then by size: t3.nano < t3.micro < ... < t3.2xlarge."""
    family, _, size = name.rpartition(".")
    if size in _SMALL_SIZES:
        rank: tuple = (0, _SMALL_SIZES[size])
    elif m := _SIZE.match(size):
        rank = (1, (int(m.group(1) or 1) if "x" in size else 0))
    else:
        rank = (2, size)  # metal, metal-24xl, xlplus, ...
    return (family, rank)


def _sorted(node: Any) -> Any:
    if not isinstance(node, Mapping):
        return node
    keys = list(node)
    if all("." in k for k in keys):  # an open map of instance / node types
        keys.sort(key=type_sort_key)
    return {k: _sorted(node[k]) for k in keys}


# --- writing ------------------------------------------------------------------------------------------


def _json_default(value: Any) -> Any:
    if isinstance(value, Decimal):
        value = value.normalize()
        return int(value) if value == value.to_integral_value() else float(value)
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def write_table(table: Mapping[str, Any], path: str | os.PathLike) -> None:
    """Validate `table` and write it to `path` atomically (a temporary file, then os.replace)."""
    problems = validate_table(table)
    if problems:
        raise RefreshError("refusing to write an invalid table: " + "; ".join(problems[:10]))
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".aws_prices.", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as fh:
            json.dump(table, fh, indent=2, default=_json_default)
            fh.write("\n")
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except FileNotFoundError:
            pass
        raise


def run(
    output: str | os.PathLike,
    regions: Sequence[str] | None = None,
    endpoint_url: str | None = None,
    client=None,
    now: dt.datetime | None = None,
) -> RefreshResult:
    """Refresh and write the table to `output`; RefreshError (and no file written) on any failure."""
    if client is None:
        client = make_client(endpoint_url)
    result = refresh(client, regions, now=now)
    write_table(result.table, output)
    result.output = os.fspath(output)
    return result
