"""RDS and Aurora rules: DB instances (idle, stopped, oversized, previous generation), clusters
(idle) and manual snapshots whose source is gone.

One DB instance is flagged by at most one rule, in this order:

1. `rds-instance-stopped`: status "stopped" (the others need "available");
2. `rds-instance-idle`: available, no connection on any day of the window;
3. `rds-instance-previous-generation`: a previous-generation class, unless (2) holds (it reads
   the same connection series with the same defaults and stands aside);
4. `rds-instance-low-cpu`: connections but a low CPU peak, on a current-generation class only. A
   previous-generation class is moved first: CPU measured on an old generation says little about
   the size needed on a new one (newer processors do more per vCPU), so sizing waits for the move.

Aurora (and Multi-AZ DB cluster) members are judged by `rds-cluster-idle` only: an instance with
a `cluster_id` is never a candidate of the instance rules.
"""

from __future__ import annotations

import math
from decimal import Decimal

from cloudwaste.scanner.domain import Detection, Resource
from cloudwaste.scanner.kinds.aws.rds import (
    DB_CLUSTER,
    DB_CLUSTER_SNAPSHOT,
    DB_INSTANCE,
    DB_SNAPSHOT,
    class_parts,
)
from cloudwaste.scanner.rules import Context, Fixtures, Metric, Param, Series, age_days, attach_fixtures, rule
from cloudwaste.scanner.rules.aws._common import NOW as _NOW
from cloudwaste.scanner.rules.aws._common import res, rounded

_LIST_INSTANCES = ("rds:DescribeDBInstances",)
_METRICS = "cloudwatch:GetMetricData"

CONNECTIONS = Metric("connections_max", "AWS/RDS", "DatabaseConnections", "DBInstanceIdentifier", "Maximum")
CPU_MAX = Metric("cpu_max", "AWS/RDS", "CPUUtilization", "DBInstanceIdentifier", "Maximum")
CLUSTER_CONNECTIONS = Metric(
    "cluster_connections_max", "AWS/RDS", "DatabaseConnections", "DBClusterIdentifier", "Maximum"
)

# Sizes of an RDS class family, smallest first (a family has some of them).
SIZES = (
    "micro",
    "small",
    "medium",
    "large",
    "xlarge",
    "2xlarge",
    "4xlarge",
    "8xlarge",
    "10xlarge",
    "12xlarge",
    "16xlarge",
    "24xlarge",
    "32xlarge",
)
# Previous-generation DB instance classes (AWS "Previous generation DB instance classes") and the
# current families that replace them: Graviton where the engine runs on it (MySQL, MariaDB,
# PostgreSQL), else the latest x86 family of the same kind.
PREVIOUS_GENERATION = {
    "m1": "m",
    "m2": "m",
    "m3": "m",
    "m4": "m",
    "r3": "r",
    "r4": "r",
    "t1": "t",
    "t2": "t",
}
_SUCCESSORS = {"m": ("m6g", "m5"), "r": ("r6g", "r5"), "t": ("t4g", "t3")}
_GRAVITON_ENGINES = frozenset({"mysql", "mariadb", "postgres"})
# Engines the price table prices, to tell whether a class exists (a class priced for any of them).
_PRICED_ENGINES = ("mysql", "postgres")
# Aurora engines are not in the price table: its members are priced at the RDS engine's price of
# the same class, a lower bound (Aurora's on-demand instance prices are higher).
_AURORA_PROXY = {"aurora-mysql": "mysql", "aurora": "mysql", "aurora-postgresql": "postgres"}


def _money(x: Decimal | None) -> Decimal:
    return x if x is not None else Decimal(0)


def _class_exists(ctx: Context, db_class: str) -> bool:
    return any(ctx.prices.price("rds", "instance_hour", e, db_class) is not None for e in _PRICED_ENGINES)


def _instance_price(r: Resource, ctx: Context, db_class: str | None = None) -> Decimal | None:
    a = r.attributes
    return ctx.prices.rds_instance(
        db_class or a.get("db_class") or "", a.get("engine") or "", bool(a.get("multi_az"))
    )


def _storage_price(r: Resource, ctx: Context) -> Decimal | None:
    a = r.attributes
    return ctx.prices.rds_storage(
        a.get("storage_type") or "", int(a.get("allocated_gb") or 0), a.get("iops"), bool(a.get("multi_az"))
    )


def _spec(r: Resource) -> dict:
    a = r.attributes
    return {
        "engine": a.get("engine"),
        "db_class": a.get("db_class"),
        "multi_az": bool(a.get("multi_az")),
        "storage_type": a.get("storage_type"),
        "allocated_gb": a.get("allocated_gb"),
    }


def _standalone_available(r: Resource) -> bool:
    """An available DB instance that is no cluster's member (members are the cluster's business)."""
    return r.attributes.get("status") == "available" and not r.attributes.get("cluster_id")


def _old_enough(r: Resource, p, ctx: Context) -> bool:
    age = age_days(r.created_at, ctx.now)
    return age is not None and age >= p["window_days"]


def _series(r: Resource, metric: Metric, p, ctx: Context) -> Series | None:
    """The metric's series over the window, or None when not fetched or below `min_coverage`
    (missing days are never zeros)."""
    s = ctx.metric(r, metric.name, math.ceil(p["window_days"]))
    return s if s is not None and s.coverage >= p["min_coverage"] else None


def _idle(r: Resource, p, ctx: Context) -> Series | None:
    """The connection series when the instance is idle by `rds-instance-idle`'s measure: an
    available standalone instance, no read replica, as old as the window with enough days of
    data, all zero."""
    if not _idle_candidate(r, p, ctx):
        return None
    conns = _series(r, CONNECTIONS, p, ctx)
    return conns if conns is not None and (conns.peak or 0.0) == 0.0 else None


_WINDOW = Param(float, 14.0, "Days of CloudWatch history judged (the instance must be that old).", 2)
_COVERAGE = Param(
    float, 0.85, "Share of the window's days that must have datapoints (else: not judged).", 0.1
)


# --- rds-instance-idle ----------------------------------------------------------------------------


def _idle_candidate(r: Resource, p, ctx: Context) -> bool:
    return _standalone_available(r) and not r.attributes.get("read_replica_source") and _old_enough(r, p, ctx)


@rule(
    key="rds-instance-idle",
    provider="aws",
    resource_kind=DB_INSTANCE,
    title="RDS DB instance with no connections",
    permissions=(*_LIST_INSTANCES, _METRICS),
    params={"window_days": _WINDOW, "min_coverage": _COVERAGE},
    confidence_doc="HIGH when every day of the window has data (all zero); MEDIUM when a few days "
    "are missing (coverage at least min_coverage).",
    metrics=(CONNECTIONS,),
    candidate=_idle_candidate,
)
def rds_instance_idle(r: Resource, p, ctx: Context) -> Detection | None:
    """An available DB instance whose daily maximum of DatabaseConnections was 0 on every day of
    the last 14 days serves nobody, yet bills for its instance hours and its storage. After AWS
    Trusted Advisor's "Amazon RDS Idle DB Instances" (no connection for 7 days) and Steampipe
    Thrifty's rds_db_instance_low_connection_count, over a longer window (14 days) to spare
    weekly jobs. RDS publishes DatabaseConnections every minute while an instance runs (zeros
    included), so a missing day is missing data, not idleness: below `min_coverage` the instance
    is not judged, and an instance younger than the window never is. Cluster members are judged
    by `rds-cluster-idle`. A read replica (ReadReplicaSourceDBInstanceIdentifier set) is not
    judged: a replica kept for disaster recovery or a failover serves no connection by design
    until it is promoted. Priced as the instance (Multi-AZ doubles it) plus its storage."""
    conns = _idle(r, p, ctx)
    if conns is None:
        return None
    instance, storage = _instance_price(r, ctx), _storage_price(r, ctx)
    evidence = {
        **_spec(r),
        "window_days": math.ceil(p["window_days"]),
        "connections_max": conns.evidence("count"),
        "age_days": rounded(age_days(r.created_at, ctx.now)),
        "instance_monthly": str(instance) if instance is not None else None,
        "storage_monthly": str(storage) if storage is not None else None,
        **ctx.prices.evidence(),
    }
    if instance is None or storage is None:
        evidence["price"] = (
            "unknown for "
            + " and ".join(
                w for w, x in (("this engine/class", instance), ("this storage type", storage)) if x is None
            )
            + ": that part priced at 0"
        )
    return Detection(
        scenario="rds-instance-idle",
        confidence="HIGH" if conns.got >= math.ceil(p["window_days"]) else "MEDIUM",
        monthly_cost=_money(instance) + _money(storage),
        evidence=evidence,
    )


# --- rds-instance-stopped -------------------------------------------------------------------------


@rule(
    key="rds-instance-stopped",
    provider="aws",
    resource_kind=DB_INSTANCE,
    title="RDS DB instance kept stopped",
    permissions=_LIST_INSTANCES,
    params={
        "min_age_days": Param(
            float,
            30.0,
            "Instance created at least this long ago (AWS gives no stop time, see the rule's doc).",
            0,
        ),
    },
    confidence_doc="MEDIUM for an instance at least 90 days old, LOW otherwise: how long it has "
    "been stopped is unknown (DescribeDBInstances gives no stop time).",
)
def rds_instance_stopped(r: Resource, p, ctx: Context) -> Detection | None:
    """A stopped DB instance bills for its storage (and provisioned IOPS) but serves nothing. AWS
    starts a stopped instance again after 7 days, so one found stopped was stopped in the last
    week or is stopped again on a schedule: a database kept around but not used, which a final
    snapshot would keep for less. DescribeDBInstances does not say when an instance stopped (nor
    does anything else but the 14 days of RDS events), so the rule asks for an instance older
    than `min_age_days` and says that the stop time is unknown. A stopped cluster member is the
    cluster's business. Default: common FinOps practice (a month). Priced as its storage."""
    a = r.attributes
    if a.get("status") != "stopped" or a.get("cluster_id"):
        return None
    age = age_days(r.created_at, ctx.now)
    if age is None or age < p["min_age_days"]:
        return None
    storage = _storage_price(r, ctx)
    evidence = {
        **_spec(r),
        "status": "stopped",
        "age_days": rounded(age),
        "stopped_since": "unknown (the API gives no stop time; AWS restarts an instance after 7 days stopped)",
        "iops": a.get("iops"),
        **ctx.prices.evidence(),
    }
    if storage is None:
        evidence["price"] = "unknown storage type: priced at 0"
    return Detection(
        scenario="rds-instance-stopped",
        confidence="MEDIUM" if age >= 90 else "LOW",
        monthly_cost=_money(storage),
        evidence=evidence,
    )


# --- rds-instance-low-cpu -------------------------------------------------------------------------


def _one_size_down(r: Resource, ctx: Context) -> str | None:
    """The next smaller class of the same family that exists (the price table lists it)."""
    family, size = class_parts(r.attributes.get("db_class"))
    if family is None or size not in SIZES:
        return None
    for smaller in reversed(SIZES[: SIZES.index(size)]):
        candidate = f"db.{family}.{smaller}"
        if _class_exists(ctx, candidate):
            return candidate
    return None


def _low_cpu_candidate(r: Resource, p, ctx: Context) -> bool:
    family, _ = class_parts(r.attributes.get("db_class"))
    return (
        _standalone_available(r)
        and _old_enough(r, p, ctx)
        and family not in PREVIOUS_GENERATION
        and _one_size_down(r, ctx) is not None
    )


@rule(
    key="rds-instance-low-cpu",
    provider="aws",
    resource_kind=DB_INSTANCE,
    title="RDS DB instance oversized (low CPU peak): one size smaller would do",
    permissions=(*_LIST_INSTANCES, _METRICS),
    params={
        "window_days": _WINDOW,
        "min_coverage": _COVERAGE,
        "max_cpu_percent": Param(float, 40.0, "Every day's maximum CPUUtilization at most this.", 0),
    },
    confidence_doc="MEDIUM when every day has data and CPU never peaked above 20%; LOW otherwise. "
    "Memory is not judged (a smaller class has half the memory).",
    metrics=(CONNECTIONS, CPU_MAX),
    candidate=_low_cpu_candidate,
)
def rds_instance_low_cpu(r: Resource, p, ctx: Context) -> Detection | None:
    """An available, used (at least one connection in the window: an unused one is
    `rds-instance-idle`'s) current-generation DB instance whose daily maximum CPUUtilization
    stayed at or below 40% on every day of the last 14 days can move one size down in its family:
    half the vCPUs at most double the load, so its peak stays at or below 80%. After AWS Compute
    Optimizer's RDS rightsizing (over-provisioned when the peak CPU over 14 days leaves that
    headroom) and Steampipe Thrifty's rds_db_instance_low_usage. A class with no smaller size
    in the price table (the family's smallest) is not flagged; previous-generation classes are
    `rds-instance-previous-generation`'s. Saving: the price of the class minus the smaller one."""
    if not _low_cpu_candidate(r, p, ctx):
        return None
    conns, cpu = _series(r, CONNECTIONS, p, ctx), _series(r, CPU_MAX, p, ctx)
    if conns is None or cpu is None or (conns.peak or 0.0) <= 0.0:
        return None
    if (cpu.peak or 0.0) > p["max_cpu_percent"]:
        return None
    smaller = _one_size_down(r, ctx)
    now_price, smaller_price = _instance_price(r, ctx), _instance_price(r, ctx, smaller)
    days = math.ceil(p["window_days"])
    evidence = {
        **_spec(r),
        "suggested_class": smaller,
        "window_days": days,
        "cpu_max_percent": cpu.evidence("percent"),
        "connections_max": conns.evidence("count"),
        **ctx.prices.evidence(),
    }
    saving = None
    if now_price is not None and smaller_price is not None:
        saving = max(Decimal(0), now_price - smaller_price)
    else:
        evidence["price"] = "unknown for this engine/class: saving priced at 0"
    complete = min(cpu.got, conns.got) >= days
    return Detection(
        scenario="rds-instance-low-cpu",
        confidence="MEDIUM" if complete and (cpu.peak or 0.0) <= 20.0 else "LOW",
        monthly_cost=_money(saving),
        evidence=evidence,
    )


# --- rds-instance-previous-generation ---------------------------------------------------------------


def _successor(r: Resource, ctx: Context) -> str | None:
    """The current-generation class of the same kind and size (Graviton where the engine runs on
    it), or None when none of the same size exists."""
    family, size = class_parts(r.attributes.get("db_class"))
    kind = PREVIOUS_GENERATION.get(family or "")
    if kind is None:
        return None
    families = _SUCCESSORS[kind]
    if r.attributes.get("engine") not in _GRAVITON_ENGINES:
        families = families[1:]
    for f in families:
        candidate = f"db.{f}.{size}"
        if _class_exists(ctx, candidate):
            return candidate
    return None


def _previous_generation_candidate(r: Resource, p, ctx: Context) -> bool:
    family, _ = class_parts(r.attributes.get("db_class"))
    return _standalone_available(r) and family in PREVIOUS_GENERATION


@rule(
    key="rds-instance-previous-generation",
    provider="aws",
    resource_kind=DB_INSTANCE,
    title="RDS DB instance on a previous-generation class",
    permissions=(*_LIST_INSTANCES, _METRICS),
    params={"window_days": _WINDOW, "min_coverage": _COVERAGE},
    confidence_doc="HIGH: the class is previous generation whatever its load; the saving is the list "
    "price difference with the current class of the same size (0 when unknown or not cheaper).",
    metrics=(CONNECTIONS,),
    candidate=_previous_generation_candidate,
)
def rds_instance_previous_generation(r: Resource, p, ctx: Context) -> Detection | None:
    """An available DB instance on a previous-generation class (db.m1-m4, db.r3/r4, db.t1/t2)
    pays more for less than the current class of the same size: db.m6g/r6g/t4g (Graviton) for
    MySQL, MariaDB and PostgreSQL, db.m5/r5/t3 for the other engines. After AWS's "previous
    generation DB instance classes" guidance and Compute Optimizer's RDS recommendations. An
    instance idle by `rds-instance-idle`'s measure (read here with the same window and coverage:
    keep both rules' parameters equal) is left to that rule. Saving: the class's price minus its
    successor's (Multi-AZ doubles both), 0 when the table prices neither or it is not cheaper."""
    if not _previous_generation_candidate(r, p, ctx) or _idle(r, p, ctx) is not None:
        return None
    successor = _successor(r, ctx)
    old, new = _instance_price(r, ctx), (_instance_price(r, ctx, successor) if successor else None)
    evidence = {**_spec(r), "suggested_class": successor, **ctx.prices.evidence()}
    saving = None
    if old is not None and new is not None:
        saving = max(Decimal(0), old - new)
    else:
        evidence["price"] = (
            "unknown for this engine/class: saving priced at 0"
            if successor
            else "no current-generation class of this size: saving priced at 0"
        )
    return Detection(
        scenario="rds-instance-previous-generation",
        confidence="HIGH",
        monthly_cost=_money(saving),
        evidence=evidence,
    )


# --- rds-snapshot-orphaned ------------------------------------------------------------------------


def _snapshot_price(ctx: Context, path: tuple[str, ...], gb: int, fallback, note: str):
    """(monthly price, evidence note or None): the table's price at `path`, else `fallback`."""
    price = ctx.prices.monthly(*path, quantity=gb)
    if price is not None:
        return price, None
    return fallback(gb), note


@rule(
    key="rds-snapshot-orphaned",
    provider="aws",
    resource_kind=DB_SNAPSHOT,
    title="RDS manual DB snapshot whose instance is gone",
    permissions=("rds:DescribeDBSnapshots", "rds:DescribeDBInstances"),
    params={"min_age_days": Param(float, 30.0, "Snapshot at least this old.", 0)},
    confidence_doc="MEDIUM: often a final snapshot kept on purpose for a while; cost is an upper "
    "bound of the data held (allocated storage).",
    needs=(DB_INSTANCE,),
)
def rds_snapshot_orphaned(r: Resource, p, ctx: Context) -> Detection | None:
    """A manual DB snapshot outlives its instance (it is often the final snapshot taken on
    deletion) and bills as backup storage every month until someone deletes it. One of a
    deleted instance, older than 30 days and never restored, is usually forgotten (Steampipe
    Thrifty's rds_db_snapshot_max_age flags old manual snapshots; common FinOps practice).
    An instance re-created under the same identifier counts as its source still existing.
    Priced per GB-month of backup storage on the allocated storage (an upper bound: the data
    held is usually less)."""
    a = r.attributes
    if a.get("source_instance_exists", True) or a.get("status") not in ("available", None):
        return None
    age = age_days(r.created_at, ctx.now)
    if age is None or age < p["min_age_days"]:
        return None
    gb = int(a.get("allocated_gb") or 0)
    cost, note = _snapshot_price(
        ctx,
        ("rds", "snapshot_gb_month"),
        gb,
        ctx.prices.ebs_snapshot,
        "estimate: the EBS snapshot GB-month price (the table has no RDS backup storage price; "
        "RDS's is higher, $0.095/GB-month in us-east-1): a lower bound",
    )
    evidence = {
        "source_instance_id": a.get("source_instance_id"),
        "source_instance_exists": False,
        "engine": a.get("engine"),
        "allocated_gb": gb,
        "age_days": rounded(age),
        **ctx.prices.evidence(),
    }
    if note:
        evidence["price"] = note
    return Detection(
        scenario="rds-snapshot-orphaned", confidence="MEDIUM", monthly_cost=cost, evidence=evidence
    )


# --- rds-cluster-idle -----------------------------------------------------------------------------


def _cluster_candidate(r: Resource, p, ctx: Context) -> bool:
    return (
        r.attributes.get("status") == "available"
        and not r.attributes.get("replica_cluster")
        and _old_enough(r, p, ctx)
    )


def _member_price(m: Resource, ctx: Context) -> tuple[Decimal | None, bool]:
    """(monthly price of a cluster member, True when it is a lower bound from the RDS engine)."""
    price = _instance_price(m, ctx)
    if price is not None:
        return price, False
    proxy = _AURORA_PROXY.get(m.attributes.get("engine") or "")
    if proxy is None:
        return None, False
    price = ctx.prices.rds_instance(
        m.attributes.get("db_class") or "", proxy, bool(m.attributes.get("multi_az"))
    )
    return price, price is not None


@rule(
    key="rds-cluster-idle",
    provider="aws",
    resource_kind=DB_CLUSTER,
    title="Aurora / RDS DB cluster with no connections",
    permissions=("rds:DescribeDBClusters", "rds:DescribeDBInstances", _METRICS),
    params={"window_days": _WINDOW, "min_coverage": _COVERAGE},
    confidence_doc="HIGH when every day of the window has data (all zero); MEDIUM when a few days "
    "are missing. Cost: a lower bound for Aurora (see the evidence).",
    needs=(DB_INSTANCE,),
    metrics=(CLUSTER_CONNECTIONS,),
    candidate=_cluster_candidate,
)
def rds_cluster_idle(r: Resource, p, ctx: Context) -> Detection | None:
    """An available DB cluster (Aurora, or an RDS Multi-AZ DB cluster) whose cluster-level daily
    maximum of DatabaseConnections (dimension DBClusterIdentifier) was 0 on every day of the last
    14 days serves nobody, yet bills for every member instance. The cluster-level counterpart of
    `rds-instance-idle` (AWS Trusted Advisor "Amazon RDS Idle DB Instances"); its members are
    judged here only. Missing days are not zeros (below `min_coverage`: not judged), and a cluster
    younger than the window is never idle. A replica cluster is not judged: an Aurora global
    database's secondary cluster or a cross-region read replica cluster (ReplicationSourceIdentifier
    set, or in a global database with no writer member) is a disaster-recovery copy that serves no
    connection until it is promoted. Priced as the sum of its member instances; Aurora storage
    (billed on the data held, which the API does not give) and I/O are not counted."""
    if not _cluster_candidate(r, p, ctx):
        return None
    conns = _series(r, CLUSTER_CONNECTIONS, p, ctx)
    if conns is None or (conns.peak or 0.0) > 0.0:
        return None
    total, unknown, lower_bound, classes = Decimal(0), [], False, []
    for member_id in r.attributes.get("members") or []:
        m = ctx.lookup(DB_INSTANCE, member_id)
        if m is None:
            unknown.append(member_id)
            continue
        classes.append(m.attributes.get("db_class"))
        price, bound = _member_price(m, ctx)
        lower_bound |= bound
        if price is None:
            unknown.append(member_id)
        else:
            total += price
    days = math.ceil(p["window_days"])
    evidence = {
        "engine": r.attributes.get("engine"),
        "engine_mode": r.attributes.get("engine_mode"),
        "member_count": len(r.attributes.get("members") or []),
        "member_classes": classes,
        "window_days": days,
        "connections_max": conns.evidence("count"),
        "age_days": rounded(age_days(r.created_at, ctx.now)),
        **ctx.prices.evidence(),
    }
    notes = []
    if lower_bound:
        notes.append("Aurora members priced at the RDS engine's price of the same class (a lower bound)")
    if unknown:
        notes.append(f"{len(unknown)} member(s) of unknown price (or not listed) priced at 0")
    if not r.attributes.get("members"):
        notes.append("no member instances (serverless v1 or empty cluster): priced at 0")
    if notes:
        evidence["price"] = "; ".join(notes)
    return Detection(
        scenario="rds-cluster-idle",
        confidence="HIGH" if conns.got >= days else "MEDIUM",
        monthly_cost=total,
        evidence=evidence,
    )


# --- rds-cluster-snapshot-orphaned ----------------------------------------------------------------


@rule(
    key="rds-cluster-snapshot-orphaned",
    provider="aws",
    resource_kind=DB_CLUSTER_SNAPSHOT,
    title="RDS manual DB cluster snapshot whose cluster is gone",
    permissions=("rds:DescribeDBClusterSnapshots", "rds:DescribeDBClusters"),
    params={"min_age_days": Param(float, 30.0, "Snapshot at least this old.", 0)},
    confidence_doc="MEDIUM: often a final snapshot kept on purpose for a while; cost is approximate "
    "(see the evidence).",
    needs=(DB_CLUSTER,),
)
def rds_cluster_snapshot_orphaned(r: Resource, p, ctx: Context) -> Detection | None:
    """A manual DB cluster snapshot of a deleted cluster (often its final snapshot), older than 30
    days, bills as backup storage every month until deleted; the cluster counterpart of
    `rds-snapshot-orphaned` (same sources). Priced per GB-month on the snapshot's allocated
    storage."""
    a = r.attributes
    if a.get("source_cluster_exists", True) or a.get("status") not in ("available", None):
        return None
    age = age_days(r.created_at, ctx.now)
    if age is None or age < p["min_age_days"]:
        return None
    gb = int(a.get("allocated_gb") or 0)
    cost, note = _snapshot_price(
        ctx,
        ("rds", "aurora_snapshot_gb_month"),
        gb,
        lambda q: _money(ctx.prices.s3_standard(q)),
        "approximation: the S3 Standard GB-month price (the table has no Aurora backup storage "
        "price, $0.021/GB-month in us-east-1)",
    )
    evidence = {
        "source_cluster_id": a.get("source_cluster_id"),
        "source_cluster_exists": False,
        "engine": a.get("engine"),
        "allocated_gb": gb,
        "age_days": rounded(age),
        **ctx.prices.evidence(),
    }
    if note:
        evidence["price"] = note
    return Detection(
        scenario="rds-cluster-snapshot-orphaned", confidence="MEDIUM", monthly_cost=cost, evidence=evidence
    )


# --- fixtures: one resource that fires and one near miss per rule ---------------------------------


def _db(rid: str, created_days: float, db_class: str = "db.m5.large", **attributes) -> Resource:
    a = {
        "status": "available",
        "engine": "mysql",
        "db_class": db_class,
        "class_family": class_parts(db_class)[0],
        "class_size": class_parts(db_class)[1],
        "multi_az": False,
        "storage_type": "gp2",
        "allocated_gb": 100,
        "iops": None,
        "cluster_id": None,
        "stopped_since": None,
    }
    return res(DB_INSTANCE, rid, created_days, **(a | attributes))


def _s(*values: float, days: int = 14) -> Series:
    return Series(tuple(float(v) for v in values), days)


_ZERO = _s(*(0,) * 14)
_BUSY = _s(*(12,) * 14)

attach_fixtures(
    "rds-instance-idle",
    Fixtures(
        fires=_db("db-idle", 60),
        silent=_db("db-one-login", 60),  # one connection on one day: not idle
        now=_NOW,
        series={
            ("db-idle", "connections_max", 14): _ZERO,
            ("db-one-login", "connections_max", 14): _s(*(0,) * 13, 1),
        },
    ),
)
attach_fixtures(
    "rds-instance-stopped",
    Fixtures(
        fires=_db("db-stopped", 120, status="stopped", allocated_gb=500),
        silent=_db("db-stopped-new", 20, status="stopped", allocated_gb=500),  # younger than 30 days
        now=_NOW,
    ),
)
attach_fixtures(
    "rds-instance-low-cpu",
    Fixtures(
        fires=_db("db-oversized", 90, "db.r5.2xlarge"),
        silent=_db("db-right-sized", 90, "db.r5.2xlarge"),  # peaks at 41%
        now=_NOW,
        series={
            ("db-oversized", "connections_max", 14): _BUSY,
            ("db-oversized", "cpu_max", 14): _s(*(18,) * 13, 35),
            ("db-right-sized", "connections_max", 14): _BUSY,
            ("db-right-sized", "cpu_max", 14): _s(*(18,) * 13, 41),
        },
    ),
)
attach_fixtures(
    "rds-instance-previous-generation",
    Fixtures(
        fires=_db("db-m4", 400, "db.m4.xlarge", engine="postgres"),
        silent=_db("db-m6g", 400, "db.m6g.xlarge", engine="postgres"),  # current generation
        now=_NOW,
        series={
            ("db-m4", "connections_max", 14): _BUSY,
            ("db-m6g", "connections_max", 14): _BUSY,
            ("db-m6g", "cpu_max", 14): _s(*(70,) * 14),
        },
    ),
)
attach_fixtures(
    "rds-snapshot-orphaned",
    Fixtures(
        fires=res(
            DB_SNAPSHOT,
            "final-orders-db",
            120,
            status="available",
            engine="postgres",
            source_instance_id="orders-db",
            source_instance_exists=False,
            allocated_gb=200,
        ),
        silent=res(  # its instance is still there
            DB_SNAPSHOT,
            "before-upgrade",
            120,
            status="available",
            engine="postgres",
            source_instance_id="db-live",
            source_instance_exists=True,
            allocated_gb=200,
        ),
        now=_NOW,
        related=(_db("db-live", 400),),
    ),
)
_MEMBERS = (
    _db(
        "aurora-1",
        200,
        "db.r5.large",
        engine="aurora-postgresql",
        storage_type="aurora",
        cluster_id="cl-idle",
    ),
    _db(
        "aurora-2",
        200,
        "db.r5.large",
        engine="aurora-postgresql",
        storage_type="aurora",
        cluster_id="cl-idle",
    ),
)
attach_fixtures(
    "rds-cluster-idle",
    Fixtures(
        fires=res(
            DB_CLUSTER,
            "cl-idle",
            200,
            status="available",
            engine="aurora-postgresql",
            engine_mode="provisioned",
            members=["aurora-1", "aurora-2"],
            aurora=True,
        ),
        silent=res(
            DB_CLUSTER,
            "cl-busy",
            200,
            status="available",
            engine="aurora-postgresql",
            engine_mode="provisioned",
            members=[],
            aurora=True,
        ),
        now=_NOW,
        related=_MEMBERS,
        series={
            ("cl-idle", "cluster_connections_max", 14): _ZERO,
            ("cl-busy", "cluster_connections_max", 14): _s(*(0,) * 13, 3),
        },
    ),
)
attach_fixtures(
    "rds-cluster-snapshot-orphaned",
    Fixtures(
        fires=res(
            DB_CLUSTER_SNAPSHOT,
            "final-cl-gone",
            60,
            status="available",
            engine="aurora-mysql",
            source_cluster_id="cl-gone",
            source_cluster_exists=False,
            allocated_gb=300,
        ),
        silent=res(  # younger than 30 days
            DB_CLUSTER_SNAPSHOT,
            "final-cl-gone-recent",
            29,
            status="available",
            engine="aurora-mysql",
            source_cluster_id="cl-gone-2",
            source_cluster_exists=False,
            allocated_gb=300,
        ),
        now=_NOW,
    ),
)
