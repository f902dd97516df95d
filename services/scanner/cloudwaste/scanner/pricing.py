"""Region-aware AWS prices, read from data/aws_prices.json (data, not constants in code).

The table (``schema_version`` 2) holds, per region, the on-demand list prices the rules use::

    {"schema_version": 2, "currency": "USD", "hours_per_month": 730,
     "price_date": "2025-01-01",            # when the prices were published / fetched
     "method": "hand-compiled" | "aws-price-list-api",
     "source": "where the numbers come from, in words",
     "gp3_included": {"iops": 3000, "throughput_mibps": 125},
     "unlisted_regions": {"derived_from": "us-east-1", "factor": 1.15},
     "regions": {
       "us-east-1": {"ebs": {"gb_month": {"gp3": 0.08, ...}, ...}, "ec2": {"instance_hour": {...}}, ...},
       "eu-west-1": {"derived_from": "us-east-1", "factor": 1.1,
                     "ebs": {"factor": 1.1, "gb_month": {"gp2": 0.11, "gp3": 0.088}},
                     "ec2": {"factor": 1.115}, ...}}}

A price is a number at a path such as ``("ebs", "gb_month", "gp3")``. A region either *lists* it
(the number is there) or *derives* it: the same path in the region named by ``derived_from``,
times the innermost ``factor`` met on the way down the path (a section's factor overrides the
region's). Derivation is how the hand-compiled table stays honest about what it does not know;
a table written by ``cloudwaste prices refresh`` lists everything the Price List API returned.
Regions the table does not list at all (new regions, other partitions) use ``unlisted_regions``.

Monthly prices are hourly x ``hours_per_month`` (730); amounts are quantized to 4 places.
Methods of :class:`AwsPrices` for the prices the rules use today always return a Decimal; the
others return None for an unknown type (the rule then reports cost 0 and says so), never raise.
"""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Iterator, Mapping
from decimal import ROUND_HALF_UP, Decimal
from functools import cache
from importlib import resources
from typing import Any

SCHEMA_VERSION = 2
BASE_REGION = "us-east-1"

Path = tuple[str, ...]

EBS_VOLUME_TYPES = ("gp2", "gp3", "io1", "io2", "st1", "sc1", "standard")
EBS_IOPS_TYPES = ("io1", "io2", "gp3")
LOAD_BALANCER_TYPES = ("application", "network", "gateway", "classic")
RDS_ENGINES = ("mysql", "postgres", "aurora-mysql", "aurora-postgresql")
RDS_STORAGE_TYPES = ("gp2", "gp3", "io1")

_ANY = "*"  # a map whose keys are open (instance types, node types)
_LEAF = None  # a price

# What a region's entry may hold: section -> key -> a leaf, a closed map (tuple of keys), an open
# map (_ANY) or a nested shape (dict). `factor` may appear in any map.
SHAPE: dict[str, dict[str, Any]] = {
    "ebs": {
        "gb_month": EBS_VOLUME_TYPES,
        "iops_month": EBS_IOPS_TYPES,
        "gp3_throughput_mibps_month": _LEAF,
        "snapshot_gb_month": _LEAF,
        "snapshot_archive_gb_month": _LEAF,
    },
    "ec2": {"instance_hour": _ANY},
    "vpc": {
        "public_ipv4_idle_hour": _LEAF,
        "nat_gateway_hour": _LEAF,
        "nat_gateway_gb": _LEAF,
        "vpn_connection_hour": _LEAF,
        "transit_gateway_attachment_hour": _LEAF,
        "interface_endpoint_hour": _LEAF,
    },
    "elb": {"hour": LOAD_BALANCER_TYPES},
    "rds": {
        "instance_hour": {engine: _ANY for engine in RDS_ENGINES},
        "storage_gb_month": RDS_STORAGE_TYPES,
        "iops_month": ("io1",),
        "snapshot_gb_month": _LEAF,
        "aurora_snapshot_gb_month": _LEAF,
    },
    "elasticache": {"node_hour": _ANY},
    "redshift": {"node_hour": _ANY, "managed_storage_gb_month": _LEAF},
    "dynamodb": {"rcu_hour": _LEAF, "wcu_hour": _LEAF, "storage_gb_month": _LEAF},
    "logs": {"storage_gb_month": _LEAF},
    "secretsmanager": {"secret_month": _LEAF},
    "kms": {"key_month": _LEAF},
    "route53": {"hosted_zone_month": _LEAF, "health_check_month": _LEAF},
    "eks": {"cluster_hour": _LEAF},
    "ecr": {"storage_gb_month": _LEAF},
    "s3": {"standard_gb_month": _LEAF},
    "opensearch": {"instance_hour": _ANY, "storage_gb_month": _LEAF},
    "lambda": {"provisioned_concurrency_gb_second": _LEAF},
    "efs": {"standard_gb_month": _LEAF},
    "kinesis": {"shard_hour": _LEAF},
    "cloudwatch": {"alarm_month": _LEAF},
    "cloudtrail": {"management_events_100k": _LEAF},
}

#: Prices every listed region must give (directly or derived): what today's rules price with.
REQUIRED: tuple[Path, ...] = (
    *(("ebs", "gb_month", t) for t in EBS_VOLUME_TYPES),
    *(("ebs", "iops_month", t) for t in EBS_IOPS_TYPES),
    ("ebs", "gp3_throughput_mibps_month"),
    ("ebs", "snapshot_gb_month"),
    ("vpc", "public_ipv4_idle_hour"),
    ("vpc", "nat_gateway_hour"),
    ("vpc", "nat_gateway_gb"),
    *(("elb", "hour", t) for t in LOAD_BALANCER_TYPES),
)

_REGION_NAME = re.compile(r"^[a-z]{2,4}(-[a-z]+)+-\d+$")
_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")
_ENTRY_META = ("derived_from", "factor", "location")


class PriceTableError(ValueError):
    """The price table does not validate; ``problems`` lists every reason."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        more = f" (and {len(problems) - 5} more)" if len(problems) > 5 else ""
        super().__init__("invalid AWS price table: " + "; ".join(problems[:5]) + more)


def _is_number(x: Any) -> bool:
    """A finite JSON number (not a bool, NaN or infinity)."""
    if isinstance(x, bool) or not isinstance(x, Decimal | int | float):
        return False
    return _d(x).is_finite()


def _d(x: Any) -> Decimal:
    return x if isinstance(x, Decimal) else Decimal(str(x))


def money(x: Decimal) -> Decimal:
    return x.quantize(Decimal("0.0001"), rounding=ROUND_HALF_UP)


# --- the table ------------------------------------------------------------------------------------


def load_table(path: Any = None) -> dict[str, Any]:
    """Read and validate a table: the shipped one, or the file at `path`."""
    if path is None:
        src = resources.files("cloudwaste.scanner") / "data" / "aws_prices.json"
        with src.open(encoding="utf-8") as fh:
            table = json.load(fh, parse_float=Decimal)
    else:
        with open(path, encoding="utf-8") as fh:
            table = json.load(fh, parse_float=Decimal)
    check_table(table)
    return table


@cache
def _table() -> dict[str, Any]:
    return load_table()


def leaf_paths(node: Mapping[str, Any], prefix: Path = ()) -> Iterator[Path]:
    """Every price path listed under `node` (a region entry or part of one), `factor` excluded."""
    for key, value in node.items():
        if key in _ENTRY_META:
            continue
        if isinstance(value, Mapping):
            yield from leaf_paths(value, (*prefix, key))
        else:
            yield (*prefix, key)


def _check_shape(node: Any, shape: Any, where: str, problems: list[str]) -> None:
    if not isinstance(node, Mapping):
        problems.append(f"{where}: expected an object")
        return
    for key, value in node.items():
        here = f"{where}.{key}"
        if key == "factor":
            if not _is_number(value) or not 0 < _d(value) < 10:
                problems.append(f"{here}: a factor must be a number in (0, 10), not {value!r}")
            continue
        if shape == _ANY:
            sub = _LEAF
        elif isinstance(shape, tuple):
            if key not in shape:
                problems.append(f"{here}: unknown key (expected one of {', '.join(shape)})")
                continue
            sub = _LEAF
        else:
            if key not in shape:
                problems.append(f"{here}: unknown key")
                continue
            sub = shape[key]
        if sub is _LEAF:
            if not _is_number(value) or not _d(value) > 0:
                problems.append(f"{here}: a price must be a positive number, not {value!r}")
        else:
            _check_shape(value, sub, here, problems)


def validate_table(table: Any) -> list[str]:
    """Every reason `table` is not a valid schema-2 price table (empty when it is valid)."""
    if not isinstance(table, Mapping):
        return ["the table is not a JSON object"]
    problems: list[str] = []
    if table.get("schema_version") != SCHEMA_VERSION:
        problems.append(f"schema_version must be {SCHEMA_VERSION}, not {table.get('schema_version')!r}")
    if table.get("currency") != "USD":
        problems.append(f"currency must be USD, not {table.get('currency')!r}")
    hours = table.get("hours_per_month")
    if not _is_number(hours) or not _d(hours) > 0:
        problems.append(f"hours_per_month must be a positive number, not {hours!r}")
    date = table.get("price_date")
    try:
        if not (isinstance(date, str) and _DATE.match(date)):
            raise ValueError
        dt.date.fromisoformat(date)
    except ValueError:
        problems.append(f"price_date must be a YYYY-MM-DD date, not {date!r}")
    for key in ("source", "method"):
        if not isinstance(table.get(key), str) or not table[key].strip():
            problems.append(f"{key} must be a non-empty string")
    included = table.get("gp3_included")
    if not isinstance(included, Mapping) or any(
        not isinstance(included.get(k), int) or included[k] < 0 for k in ("iops", "throughput_mibps")
    ):
        problems.append("gp3_included must give integer iops and throughput_mibps")
    regions = table.get("regions")
    if not isinstance(regions, Mapping) or not regions:
        problems.append("regions must be a non-empty object")
        return problems
    for name, entry in regions.items():
        where = f"regions.{name}"
        if not isinstance(name, str) or not _REGION_NAME.match(name):
            problems.append(f"{where}: not a region name")
        if not isinstance(entry, Mapping):
            problems.append(f"{where}: expected an object")
            continue
        problems.extend(_check_derivation(entry, where, regions))
        for section, body in entry.items():
            if section in _ENTRY_META:
                continue
            if section not in SHAPE:
                problems.append(f"{where}.{section}: unknown section")
                continue
            _check_shape(body, SHAPE[section], f"{where}.{section}", problems)
    unlisted = table.get("unlisted_regions")
    if not isinstance(unlisted, Mapping) or "derived_from" not in unlisted:
        problems.append("unlisted_regions must give derived_from and factor")
    else:
        problems.extend(_check_derivation(unlisted, "unlisted_regions", regions))
        extra = sorted(set(unlisted) - {"derived_from", "factor"})
        if extra:
            problems.append(f"unlisted_regions: only derived_from and factor, not {', '.join(extra)}")
    if problems:  # resolving a broken table would only repeat the same problems
        return problems
    for where, entry in [*((f"regions.{n}", e) for n, e in regions.items()), ("unlisted_regions", unlisted)]:
        missing = [".".join(p) for p in REQUIRED if resolve_price(table, entry, p) is None]
        if missing:
            problems.append(f"{where}: no price for {', '.join(missing)}")
    return problems


def _check_derivation(entry: Mapping[str, Any], where: str, regions: Mapping) -> list[str]:
    problems = []
    if "location" in entry and not isinstance(entry["location"], str):
        problems.append(f"{where}.location: must be a string")
    if "factor" in entry and (not _is_number(entry["factor"]) or not 0 < _d(entry["factor"]) < 10):
        problems.append(f"{where}.factor: must be a number in (0, 10), not {entry['factor']!r}")
    base = entry.get("derived_from")
    if base is None:
        if any(True for _ in _factors(entry)):
            problems.append(f"{where}: has a factor but no derived_from")
        return problems
    if not isinstance(base, str) or base not in regions:
        problems.append(f"{where}: derived_from {base!r} is not a listed region")
    elif isinstance(regions[base], Mapping) and "derived_from" in regions[base]:
        problems.append(f"{where}: derived_from {base!r} is itself derived (no chains)")
    if "factor" not in entry:
        problems.append(f"{where}: derived_from needs a region-wide factor")
    return problems


def _factors(node: Mapping[str, Any]) -> Iterator[Any]:
    for key, value in node.items():
        if key == "factor":
            yield value
        elif isinstance(value, Mapping):
            yield from _factors(value)


def check_table(table: Any) -> None:
    """Raise PriceTableError when `table` does not validate."""
    problems = validate_table(table)
    if problems:
        raise PriceTableError(problems)


def _lookup(entry: Mapping[str, Any], path: Path) -> tuple[Any, Any]:
    """(the number at `path` in `entry` or None, the innermost factor met on the way)."""
    node: Any = entry
    factor = entry.get("factor")
    for key in path:
        if not isinstance(node, Mapping):
            return None, factor
        if "factor" in node:
            factor = node["factor"]
        node = node.get(key)
        if node is None:
            return None, factor
    return (node if _is_number(node) else None), factor


def resolve_price(table: Mapping[str, Any], entry: Mapping[str, Any], path: Path) -> tuple[Decimal, bool] | None:
    """(price, derived?) for `path` in a region `entry`, or None when the table has no such price."""
    value, factor = _lookup(entry, path)
    if value is not None:
        return _d(value), False
    base = entry.get("derived_from")
    if base is None or factor is None:
        return None
    base_value, _ = _lookup(table["regions"][base], path)
    if base_value is None:
        return None
    return _d(base_value) * _d(factor), True


# --- prices for one region ----------------------------------------------------------------------------


class AwsPrices:
    """Monthly prices for one region (amounts in `currency`, quantized to 4 places).

    `price_date` (ISO date string) is the date the table's prices were published or fetched;
    `listed` says whether the table lists this region (False: it uses `unlisted_regions`);
    `derived(*path)` says whether one price is derived from another region rather than listed.
    """

    def __init__(self, region: str, table: Mapping[str, Any] | None = None) -> None:
        t = _table() if table is None else table
        self._t = t
        self.region = region
        self.currency: str = t["currency"]
        self.hours = _d(t["hours_per_month"])
        self.price_date: str = t["price_date"]
        self.source: str = t["source"]
        self.method: str = t["method"]
        self.listed = region in t["regions"]
        self._entry: Mapping[str, Any] = t["regions"][region] if self.listed else t["unlisted_regions"]
        self._gp3_iops = int(t["gp3_included"]["iops"])
        self._gp3_mibps = int(t["gp3_included"]["throughput_mibps"])

    # -- lookups

    def price(self, *path: str) -> Decimal | None:
        """The raw unit price at `path` (per hour, GB-month, ...), or None when unknown."""
        found = resolve_price(self._t, self._entry, path)
        return None if found is None else found[0]

    def derived(self, *path: str) -> bool | None:
        """True when the price at `path` is derived from another region, None when unknown."""
        found = resolve_price(self._t, self._entry, path)
        return None if found is None else found[1]

    def evidence(self) -> dict[str, Any]:
        """What a finding's evidence should say about where its price comes from."""
        return {"price_date": self.price_date, "price_region": self.region, "price_method": self.method}

    def _must(self, *path: str) -> Decimal:
        found = resolve_price(self._t, self._entry, path)
        if found is None:  # validate_table guarantees REQUIRED paths; anything else is a bug here
            raise KeyError(f"aws_prices: no {'.'.join(path)} for {self.region}")
        return found[0]

    def _monthly(self, hourly: Decimal | None) -> Decimal | None:
        return None if hourly is None else money(hourly * self.hours)

    # -- prices the rules use today (always a Decimal)

    def ebs_volume(
        self, volume_type: str, size_gb: int, iops: int | None = None, throughput: int | None = None
    ) -> Decimal:
        """Monthly price of a volume: size x GB price, plus billable IOPS (io1, io2; gp3 above the
        included 3000) and gp3 throughput above the included 125 MiB/s. Unknown types price as gp2."""
        vtype = volume_type if volume_type in EBS_VOLUME_TYPES else "gp2"
        cost = self._must("ebs", "gb_month", vtype) * size_gb
        if iops and vtype in EBS_IOPS_TYPES:
            billable = iops - (self._gp3_iops if vtype == "gp3" else 0)
            if billable > 0:
                cost += self._must("ebs", "iops_month", vtype) * billable
        if throughput and vtype == "gp3" and throughput > self._gp3_mibps:
            cost += self._must("ebs", "gp3_throughput_mibps_month") * (throughput - self._gp3_mibps)
        return money(cost)

    def ebs_snapshot(self, size_gb: int, tier: str | None = "standard") -> Decimal:
        """Monthly price of `size_gb` of snapshot storage in `tier`: "archive" (EBS Snapshots
        Archive) at the archive GB-month price when the table gives it, else (and for any other
        tier) at the standard price."""
        if tier == "archive":
            archive = self.price("ebs", "snapshot_archive_gb_month")
            if archive is not None:
                return money(archive * size_gb)
        return money(self._must("ebs", "snapshot_gb_month") * size_gb)

    def idle_elastic_ip(self) -> Decimal:
        return money(self._must("vpc", "public_ipv4_idle_hour") * self.hours)

    def nat_gateway(self, gb_processed: float | Decimal = 0) -> Decimal:
        """Monthly price of a NAT gateway: hourly x 730, plus `gb_processed` x the per-GB price."""
        cost = self._must("vpc", "nat_gateway_hour") * self.hours
        if gb_processed:
            cost += self._must("vpc", "nat_gateway_gb") * _d(gb_processed)
        return money(cost)

    def load_balancer(self, lb_type: str) -> Decimal:
        """Monthly price of an idle load balancer (hourly charge only, no LCUs); unknown types price
        as application."""
        kind = lb_type if lb_type in LOAD_BALANCER_TYPES else "application"
        return money(self._must("elb", "hour", kind) * self.hours)

    # -- prices for the coming rules (None when the type is unknown)

    def ec2_instance(self, instance_type: str) -> Decimal | None:
        """Monthly on-demand Linux price of a running instance (shared tenancy)."""
        return self._monthly(self.price("ec2", "instance_hour", instance_type))

    def rds_instance(self, db_class: str, engine: str, multi_az: bool = False) -> Decimal | None:
        """Monthly on-demand price of a DB instance; `engine` as RDS names it (mysql, postgres; other
        engines give None). A Multi-AZ instance (one standby) costs twice the Single-AZ price."""
        engine = {"postgresql": "postgres"}.get(engine.lower(), engine.lower())
        hourly = self.price("rds", "instance_hour", engine, db_class)
        monthly = self._monthly(hourly)
        return None if monthly is None else money(monthly * (2 if multi_az else 1))

    def rds_storage(
        self, storage_type: str, size_gb: int, iops: int | None = None, multi_az: bool = False
    ) -> Decimal | None:
        """Monthly price of RDS storage (gp2, gp3, io1 with its provisioned IOPS); None for other types.
        Multi-AZ storage costs twice the Single-AZ price."""
        per_gb = self.price("rds", "storage_gb_month", storage_type)
        if per_gb is None:
            return None
        cost = per_gb * size_gb
        if iops and storage_type == "io1":
            per_iops = self.price("rds", "iops_month", "io1")
            if per_iops is None:
                return None
            cost += per_iops * iops
        return money(cost * (2 if multi_az else 1))

    def elasticache_node(self, node_type: str) -> Decimal | None:
        """Monthly on-demand price of one cache node (Redis OSS / Memcached node price)."""
        return self._monthly(self.price("elasticache", "node_hour", node_type))

    def redshift_node(self, node_type: str) -> Decimal | None:
        return self._monthly(self.price("redshift", "node_hour", node_type))

    def dynamodb_provisioned(self, rcu: int, wcu: int) -> Decimal | None:
        """Monthly price of a table's (or index's) provisioned read and write capacity units."""
        r, w = self.price("dynamodb", "rcu_hour"), self.price("dynamodb", "wcu_hour")
        if r is None or w is None:
            return None
        return money((r * rcu + w * wcu) * self.hours)

    def nat_gateway_gb(self) -> Decimal:
        """Price of one GB processed by a NAT gateway (not a monthly amount)."""
        return self._must("vpc", "nat_gateway_gb")

    def vpn_connection(self) -> Decimal | None:
        return self._monthly(self.price("vpc", "vpn_connection_hour"))

    def transit_gateway_attachment(self) -> Decimal | None:
        return self._monthly(self.price("vpc", "transit_gateway_attachment_hour"))

    def eks_cluster(self) -> Decimal | None:
        return self._monthly(self.price("eks", "cluster_hour"))

    def _per_month(self, path: Path, quantity: float | Decimal = 1) -> Decimal | None:
        unit = self.price(*path)
        return None if unit is None else money(unit * _d(quantity))

    # -- generic: any price of the table by its path (None when the table has no such price)

    def monthly_from_hourly(self, *path: str, quantity: float | Decimal = 1) -> Decimal | None:
        """`quantity` x the hourly price at `path` x hours_per_month (a node, a shard, an hour)."""
        hourly = self.price(*path)
        return None if hourly is None else money(hourly * _d(quantity) * self.hours)

    def monthly(self, *path: str, quantity: float | Decimal = 1) -> Decimal | None:
        """`quantity` x the monthly price at `path` (per GB-month, per secret-month, ...)."""
        return self._per_month(path, quantity)

    def log_storage(self, gb: float | Decimal) -> Decimal | None:
        """Monthly price of `gb` of CloudWatch Logs stored (archived) data."""
        return self._per_month(("logs", "storage_gb_month"), gb)

    def secret(self) -> Decimal | None:
        """Monthly price of one Secrets Manager secret."""
        return self._per_month(("secretsmanager", "secret_month"))

    def kms_key(self) -> Decimal | None:
        """Monthly price of one customer managed KMS key."""
        return self._per_month(("kms", "key_month"))

    def route53_hosted_zone(self) -> Decimal | None:
        """Monthly price of one hosted zone (the first-25-zones tier)."""
        return self._per_month(("route53", "hosted_zone_month"))

    def ecr_storage(self, gb: float | Decimal) -> Decimal | None:
        return self._per_month(("ecr", "storage_gb_month"), gb)

    def s3_standard(self, gb: float | Decimal) -> Decimal | None:
        """Monthly price of `gb` in S3 Standard (the first-50-TB tier)."""
        return self._per_month(("s3", "standard_gb_month"), gb)
