"""RDS and Aurora in the simulated estate: DB instances, manual DB snapshots, Aurora clusters and
manual cluster snapshots, each rule's waste and its near misses, in every region.

Per region draw (``ctx.count``), DB instances:

* ``idle``: available, 20-400 days old, DatabaseConnections 0 every day (some on a
  previous-generation class: `rds-instance-idle` fires, not `rds-instance-previous-generation`);
* ``busy``: 60-400 days old, connections and CPU peaks of 55-90% (near miss of everything);
* ``idle-young``: zero connections but younger than the 14-day window (near miss);
* ``idle-gaps``: zero connections on 10 days of 14 (coverage 0.71 < 0.85: not judged);
* ``stopped``: stopped, 40-400 days old (`rds-instance-stopped`); ``stopped-young``: 8-25 days;
* ``low-cpu``: connections, CPU peaks of 5-38% on a class with a smaller size (`rds-instance-low-cpu`);
* ``cpu-just-above``: CPU 15-25% but one day at 41-45% (near miss); ``low-cpu-smallest``: low CPU
  on the smallest size of its family in the price table (db.m5.large, db.t3.micro; near miss);
* ``previous-generation``: busy on db.m4 / db.t2 (`rds-instance-previous-generation`);
* ``read-replica``: a read replica of a busy instance, zero connections every day (a DR
  replica: near miss of `rds-instance-idle`, which does not judge replicas).

Manual DB snapshots: of a deleted instance (its final snapshot) 40-400 days old (fire) or 3-25
days old (near miss), and an old one of each busy instance (near miss). Aurora clusters with one
or two members: idle 20-400 days (fire), busy (near miss), idle but younger than the window
(near miss), and a replica cluster of each busy cluster (CreateDBCluster
ReplicationSourceIdentifier: a cross-region replica or global secondary), idle and old (near miss:
`rds-cluster-idle` does not judge replicas); manual cluster snapshots of deleted clusters old
(fire) / young (near miss) and an old one of each busy cluster (near miss). Members are judged
with their cluster only. moto cannot show a global database's secondary as AWS does (it makes the
secondary's member a writer and sets no replication source): the replica is made with
ReplicationSourceIdentifier, in the same region when the estate has one region only.

moto gaps worked around: creation times (instances, clusters, snapshots) are written on moto's
objects; a new cluster reports "creating" on its first describe, so it is set "available";
RDS publishes DatabaseConnections every minute while an instance runs, so every running
resource gets a daily history here (a stopped one has none, as in AWS).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from ..estate_moto import naive
from . import SeedContext, ServiceEstate

DB_INSTANCE = "aws.rds.db_instance"
DB_SNAPSHOT = "aws.rds.db_snapshot"
DB_CLUSTER = "aws.rds.db_cluster"
DB_CLUSTER_SNAPSHOT = "aws.rds.db_cluster_snapshot"

SHARE = 0.0015  # of ctx.size per variant: ~4-5 of each in a 3,000-resource estate
WINDOW = 14
HISTORY = 16  # days of metric history given to resources older than that

# Rough us-east-1 monthly prices for the simulated user's decisions (not the scanner's prices).
_HOURLY = {
    "db.t3.micro": 0.017,
    "db.t3.medium": 0.068,
    "db.t3.large": 0.136,
    "db.m5.large": 0.171,
    "db.m5.xlarge": 0.342,
    "db.m5.2xlarge": 0.684,
    "db.m6g.xlarge": 0.304,
    "db.m6g.2xlarge": 0.608,
    "db.r5.large": 0.24,
    "db.r5.xlarge": 0.48,
    "db.r5.2xlarge": 0.96,
    "db.r6g.large": 0.215,
    "db.m4.large": 0.175,
    "db.m4.xlarge": 0.35,
    "db.t2.medium": 0.068,
    "db.t2.large": 0.136,
}
CURRENT = ("db.t3.medium", "db.m5.xlarge", "db.m5.2xlarge", "db.m6g.xlarge", "db.r5.large", "db.r5.xlarge")
DOWNSIZABLE = (
    "db.t3.large",
    "db.m5.xlarge",
    "db.m5.2xlarge",
    "db.m6g.2xlarge",
    "db.r5.xlarge",
    "db.r5.2xlarge",
)
SMALLEST = ("db.m5.large", "db.t3.micro", "db.r5.large")
PREVIOUS = ("db.m4.large", "db.m4.xlarge", "db.t2.medium", "db.t2.large")
AURORA = ("db.r5.large", "db.r6g.large")


def _monthly(db_class: str, gb: int = 0, multi_az: bool = False) -> float:
    return (_HOURLY.get(db_class, 0.2) * 730 + 0.115 * gb) * (2 if multi_az else 1)


def _points(
    ctx: SeedContext, metric: str, dims: dict[str, str], values: Sequence[float | None], unit: str
) -> list[dict[str, Any]]:
    """Daily datapoints, newest first; a None value is a day without data."""
    return [
        p
        for p, v in zip(ctx.daily_points(metric, dims, [v or 0.0 for v in values], unit), values, strict=True)
        if v is not None
    ]


def _history(age: float) -> int:
    """Days of history a resource of this age has (whole days since it was created)."""
    return min(HISTORY, int(age))


def seed(ctx: SeedContext) -> list:
    rng = ctx.rng("rds")
    truth: list = []
    counter = {"n": 0}

    def ident(prefix: str) -> str:
        counter["n"] += 1
        return f"{prefix}-{counter['n']:04d}"

    def tags(kind: str) -> dict[str, str]:
        return ctx.tags(rng, kind)

    def tag_list(t: dict[str, str]) -> list[dict[str, str]]:
        return [{"Key": k, "Value": v} for k, v in t.items()]

    def decide(t: dict[str, str], scenario: str, age: float, cost: float) -> str:
        return ctx.decide(rng, tags=t, scenario=scenario, age_days=age, monthly_cost=cost)

    def put(region: str, points: list[dict[str, Any]]) -> None:
        ctx.put_metrics(region, "AWS/RDS", points)

    # --- DB instances -------------------------------------------------------------------------

    def instance(
        region: str, db_class: str, age: float, t: dict[str, str], *, engine: str | None = None
    ) -> str:
        rid = ident("db")
        storage = rng.choice(("gp2", "gp3", "gp2", "io1"))
        gb = rng.choice((20, 50, 100, 200, 500))
        kw: dict[str, Any] = {"StorageType": storage, "AllocatedStorage": gb}
        if storage == "io1":
            kw["AllocatedStorage"] = max(gb, 100)
            kw["Iops"] = 1000
        ctx.client("rds", region).create_db_instance(
            DBInstanceIdentifier=rid,
            DBInstanceClass=db_class,
            Engine=engine or rng.choice(("mysql", "postgres")),
            MasterUsername="admin",
            MasterUserPassword="sim-password-1",
            MultiAZ=rng.random() < 0.25,
            Tags=tag_list(t),
            **kw,
        )
        db = ctx.backend("rds", region).databases[rid]
        db.created = db.instance_create_time = naive(ctx.ago(age))
        return rid

    def gb_of(region: str, rid: str) -> tuple[int, bool]:
        db = ctx.backend("rds", region).databases[rid]
        return int(db.allocated_storage), bool(db.multi_az)

    def connections(region: str, rid: str, values: Sequence[float | None]) -> None:
        put(region, _points(ctx, "DatabaseConnections", {"DBInstanceIdentifier": rid}, values, "Count"))

    def cpu(region: str, rid: str, values: Sequence[float | None]) -> None:
        put(region, _points(ctx, "CPUUtilization", {"DBInstanceIdentifier": rid}, values, "Percent"))

    def busy_history(region: str, rid: str, age: float, cpu_lo: float, cpu_hi: float) -> None:
        days = _history(age)
        connections(region, rid, [rng.randint(3, 120) for _ in range(days)])
        cpu(region, rid, [round(rng.uniform(cpu_lo, cpu_hi), 2) for _ in range(days)])

    def add(rid: str, kind: str, region: str, t: dict[str, str], scenario=None, decision=None) -> None:
        truth.append(ctx.truth(rid, kind, region, t, scenario, decision))

    def variant(n_share: float = SHARE) -> range:
        return range(ctx.count(n_share))

    for _ in variant():  # idle: fires rds-instance-idle (some on previous-generation classes)
        region, age = ctx.pick_region(rng), rng.uniform(20, 400)
        db_class = rng.choice(CURRENT + PREVIOUS)
        t = tags("database")
        rid = instance(region, db_class, age, t)
        connections(region, rid, [0.0] * _history(age))
        cpu(region, rid, [round(rng.uniform(1, 4), 2) for _ in range(_history(age))])
        gb, multi_az = gb_of(region, rid)
        add(
            rid,
            DB_INSTANCE,
            region,
            t,
            "rds-instance-idle",
            decide(t, "rds-instance-idle", age, _monthly(db_class, gb, multi_az)),
        )

    busy: list[tuple[str, str, float]] = []  # (region, id, age): old manual snapshots are taken of them
    for _ in variant():  # busy: near miss of everything
        region, age = ctx.pick_region(rng), rng.uniform(60, 400)
        t = tags("database")
        rid = instance(region, rng.choice(CURRENT), age, t)
        busy_history(region, rid, age, 55, 90)
        add(rid, DB_INSTANCE, region, t)
        busy.append((region, rid, age))

    for _ in variant():  # idle but younger than the window: near miss
        region, age = ctx.pick_region(rng), rng.uniform(3, 13)
        t = tags("database")
        rid = instance(region, rng.choice(CURRENT), age, t)
        connections(region, rid, [0.0] * _history(age))
        add(rid, DB_INSTANCE, region, t)

    for _ in variant():  # idle but 4 of 14 days missing: near miss by coverage
        region, age = ctx.pick_region(rng), rng.uniform(30, 400)
        t = tags("database")
        rid = instance(region, rng.choice(CURRENT), age, t)
        missing = set(rng.sample(range(WINDOW), 4))
        connections(region, rid, [None if d in missing else 0.0 for d in range(WINDOW)])
        add(rid, DB_INSTANCE, region, t)

    stop: list[tuple[str, str]] = []
    for young in (False, True):  # stopped: fires when older than 30 days
        for _ in variant():
            region = ctx.pick_region(rng)
            age = rng.uniform(8, 25) if young else rng.uniform(40, 400)
            db_class = rng.choice(CURRENT + PREVIOUS)
            t = tags("database")
            rid = instance(region, db_class, age, t)
            stop.append((region, rid))
            if young:
                add(rid, DB_INSTANCE, region, t)
            else:
                gb, multi_az = gb_of(region, rid)
                add(
                    rid,
                    DB_INSTANCE,
                    region,
                    t,
                    "rds-instance-stopped",
                    decide(t, "rds-instance-stopped", age, 0.115 * gb * (2 if multi_az else 1)),
                )
    for region, rid in stop:
        ctx.client("rds", region).stop_db_instance(DBInstanceIdentifier=rid)

    for _ in variant():  # low CPU with connections: fires rds-instance-low-cpu
        region, age = ctx.pick_region(rng), rng.uniform(20, 400)
        db_class = rng.choice(DOWNSIZABLE)
        t = tags("database")
        rid = instance(region, db_class, age, t)
        busy_history(region, rid, age, 5, 38)
        add(
            rid,
            DB_INSTANCE,
            region,
            t,
            "rds-instance-low-cpu",
            decide(t, "rds-instance-low-cpu", age, _monthly(db_class) / 2),
        )

    for _ in variant():  # CPU just above 40% on one day: near miss
        region, age = ctx.pick_region(rng), rng.uniform(20, 400)
        t = tags("database")
        rid = instance(region, rng.choice(DOWNSIZABLE), age, t)
        days = _history(age)
        connections(region, rid, [rng.randint(3, 50) for _ in range(days)])
        peak = rng.randrange(WINDOW)
        cpu(
            region,
            rid,
            [round(rng.uniform(41, 45), 2) if d == peak else rng.uniform(15, 25) for d in range(days)],
        )
        add(rid, DB_INSTANCE, region, t)

    for _ in variant():  # low CPU but already the smallest size of its family: near miss
        region, age = ctx.pick_region(rng), rng.uniform(20, 400)
        t = tags("database")
        rid = instance(region, rng.choice(SMALLEST), age, t)
        busy_history(region, rid, age, 3, 20)
        add(rid, DB_INSTANCE, region, t)

    for _ in variant():  # previous generation, busy: fires rds-instance-previous-generation
        region, age = ctx.pick_region(rng), rng.uniform(100, 1500)
        db_class = rng.choice(PREVIOUS)
        t = tags("database")
        rid = instance(region, db_class, age, t)
        busy_history(region, rid, age, 5, 90)  # low CPU too sometimes: still this rule's
        add(
            rid,
            DB_INSTANCE,
            region,
            t,
            "rds-instance-previous-generation",
            decide(t, "rds-instance-previous-generation", age, _monthly(db_class) * 0.12),
        )

    for region, src, src_age in busy:  # an idle read replica of a busy instance: near miss
        t = tags("database")
        rid = ident("replica")
        ctx.client("rds", region).create_db_instance_read_replica(
            DBInstanceIdentifier=rid, SourceDBInstanceIdentifier=src, Tags=tag_list(t)
        )
        age = rng.uniform(20, src_age)
        db = ctx.backend("rds", region).databases[rid]
        db.created = db.instance_create_time = naive(ctx.ago(age))
        connections(region, rid, [0.0] * _history(age))
        add(rid, DB_INSTANCE, region, t)

    # --- manual DB snapshots -------------------------------------------------------------------

    def snapshot_of_deleted(region: str, age: float) -> tuple[str, dict[str, str], int]:
        t = tags("db-snapshot")
        rid = instance(region, rng.choice(CURRENT), age + rng.uniform(30, 300), tags("database"))
        snap = ident("final")
        rds = ctx.client("rds", region)
        rds.delete_db_instance(DBInstanceIdentifier=rid, FinalDBSnapshotIdentifier=snap)
        backend = ctx.backend("rds", region)
        s = backend.database_snapshots[snap]
        s.tags = tag_list(t)
        s.created = naive(ctx.ago(age))
        return snap, t, int(s.allocated_storage)

    for young in (False, True):
        for _ in variant():
            region = ctx.pick_region(rng)
            age = rng.uniform(3, 25) if young else rng.uniform(40, 400)
            snap, t, gb = snapshot_of_deleted(region, age)
            if young:
                add(snap, DB_SNAPSHOT, region, t)
            else:
                add(
                    snap,
                    DB_SNAPSHOT,
                    region,
                    t,
                    "rds-snapshot-orphaned",
                    decide(t, "rds-snapshot-orphaned", age, 0.095 * gb),
                )

    for region, rid, db_age in busy:  # an old manual snapshot of a live (busy) instance: near miss
        age = rng.uniform(35, db_age - 1)
        t = tags("db-snapshot")
        snap = ident("manual")
        ctx.client("rds", region).create_db_snapshot(
            DBInstanceIdentifier=rid, DBSnapshotIdentifier=snap, Tags=tag_list(t)
        )
        ctx.backend("rds", region).database_snapshots[snap].created = naive(ctx.ago(age))
        add(snap, DB_SNAPSHOT, region, t)

    # --- Aurora clusters ----------------------------------------------------------------------

    def cluster(region: str, age: float, t: dict[str, str], members: int) -> tuple[str, list[str]]:
        cid = ident("aurora")
        engine = rng.choice(("aurora-mysql", "aurora-postgresql"))
        rds = ctx.client("rds", region)
        rds.create_db_cluster(
            DBClusterIdentifier=cid,
            Engine=engine,
            MasterUsername="admin",
            MasterUserPassword="sim-password-1",
            Tags=tag_list(t),
        )
        backend = ctx.backend("rds", region)
        c = backend.clusters[cid]
        c.created = c.cluster_create_time = naive(ctx.ago(age))
        c.status = "available"  # moto says "creating" on the first describe
        ids = []
        for _ in range(members):
            mid = ident("aurora-member")
            rds.create_db_instance(
                DBInstanceIdentifier=mid,
                DBInstanceClass=rng.choice(AURORA),
                Engine=engine,
                DBClusterIdentifier=cid,
                Tags=tag_list(t),
            )
            m = backend.databases[mid]
            m.created = m.instance_create_time = naive(ctx.ago(age))
            ids.append(mid)
        return cid, ids

    def cluster_connections(region: str, cid: str, values: Sequence[float]) -> None:
        put(region, _points(ctx, "DatabaseConnections", {"DBClusterIdentifier": cid}, values, "Count"))

    busy_clusters: list[tuple[str, str, float]] = []
    for kind in ("idle", "busy", "young"):
        for _ in variant():
            region = ctx.pick_region(rng)
            age = {"young": rng.uniform(3, 13), "idle": rng.uniform(20, 400)}.get(kind) or rng.uniform(
                60, 400
            )
            t = tags("aurora-cluster")
            cid, members = cluster(region, age, t, rng.choice((1, 1, 2)))
            if kind == "busy":
                cluster_connections(region, cid, [rng.randint(2, 200) for _ in range(_history(age))])
                busy_clusters.append((region, cid, age))
            else:
                cluster_connections(region, cid, [0.0] * _history(age))
            for mid in members:
                add(mid, DB_INSTANCE, region, t)
            if kind == "idle":
                cost = sum(
                    _monthly(ctx.backend("rds", region).databases[m].db_instance_class) for m in members
                )
                add(cid, DB_CLUSTER, region, t, "rds-cluster-idle", decide(t, "rds-cluster-idle", age, cost))
            else:
                add(cid, DB_CLUSTER, region, t)

    for region, cid, cluster_age in busy_clusters:  # an idle replica cluster: near miss
        source = ctx.backend("rds", region).clusters[cid]
        others = [r for r in ctx.regions if r != region]
        where = rng.choice(others) if others else region
        t = tags("aurora-cluster")
        rid = ident("aurora-replica")
        ctx.client("rds", where).create_db_cluster(
            DBClusterIdentifier=rid,
            Engine=source.engine,
            ReplicationSourceIdentifier=source.db_cluster_arn,
            MasterUsername="admin",  # moto asks for them; AWS takes a replica's from its source
            MasterUserPassword="sim-password-1",
            Tags=tag_list(t),
        )
        c = ctx.backend("rds", where).clusters[rid]
        age = rng.uniform(20, cluster_age)
        c.created = c.cluster_create_time = naive(ctx.ago(age))
        c.status = "available"
        cluster_connections(where, rid, [0.0] * _history(age))
        add(rid, DB_CLUSTER, where, t)

    # --- manual cluster snapshots ---------------------------------------------------------------

    def cluster_snapshot(region: str, cid: str, age: float) -> tuple[str, dict[str, str], int]:
        t = tags("cluster-snapshot")
        snap = ident("cluster-snap")
        ctx.client("rds", region).create_db_cluster_snapshot(
            DBClusterIdentifier=cid, DBClusterSnapshotIdentifier=snap, Tags=tag_list(t)
        )
        s = ctx.backend("rds", region).cluster_snapshots[snap]
        s.created = naive(ctx.ago(age))
        s.allocated_storage = rng.choice((10, 50, 200, 800))  # moto says 1 GB for every Aurora cluster
        return snap, t, int(s.allocated_storage)

    for region, cid, cluster_age in busy_clusters:  # an old snapshot of a live cluster: near miss
        snap, t, _ = cluster_snapshot(region, cid, rng.uniform(35, cluster_age - 1))
        add(snap, DB_CLUSTER_SNAPSHOT, region, t)

    for young in (False, True):  # of a deleted cluster: fires when older than 30 days
        for _ in variant():
            region = ctx.pick_region(rng)
            age = rng.uniform(3, 25) if young else rng.uniform(40, 400)
            cid, _ = cluster(region, age + rng.uniform(30, 300), tags("aurora-cluster"), 0)
            snap, t, gb = cluster_snapshot(region, cid, age)
            ctx.client("rds", region).delete_db_cluster(DBClusterIdentifier=cid, SkipFinalSnapshot=True)
            if young:
                add(snap, DB_CLUSTER_SNAPSHOT, region, t)
            else:
                scenario = "rds-cluster-snapshot-orphaned"
                add(snap, DB_CLUSTER_SNAPSHOT, region, t, scenario, decide(t, scenario, age, 0.021 * gb))
    return truth


# --- what a user does between two scans ---------------------------------------------------------------

_SUCCESSOR = {"m4": "m6g", "m3": "m5", "t2": "t4g", "r4": "r6g", "r3": "r5"}


def _used_now(clients: Any, dimension: str, rid: str, now: datetime) -> None:
    """A day of use an hour before `now`: connections, and CPU for an instance."""
    stamp = now - timedelta(hours=1)
    data = [
        {
            "MetricName": "DatabaseConnections",
            "Dimensions": [{"Name": dimension, "Value": rid}],
            "Timestamp": stamp,
            "Value": 25.0,
            "Unit": "Count",
        }
    ]
    if dimension == "DBInstanceIdentifier":
        data.append(
            {
                "MetricName": "CPUUtilization",
                "Dimensions": [{"Name": dimension, "Value": rid}],
                "Timestamp": stamp,
                "Value": 75.0,
                "Unit": "Percent",
            }
        )
    clients.cloudwatch.put_metric_data(Namespace="AWS/RDS", MetricData=data)


def _delete_instance(clients: Any, rid: str, _now: datetime) -> None:
    clients.rds.delete_db_instance(
        DBInstanceIdentifier=rid, SkipFinalSnapshot=True, DeleteAutomatedBackups=True
    )


def _fix_instance(clients: Any, rid: str, now: datetime) -> None:
    """Stopped: started. Available: in use again (connections, and a CPU peak of 75%, an hour
    ago), and moved to the current class of its size when on a previous generation."""
    db = clients.rds.describe_db_instances(DBInstanceIdentifier=rid)["DBInstances"][0]
    if db["DBInstanceStatus"] == "stopped":
        clients.rds.start_db_instance(DBInstanceIdentifier=rid)
        return
    _, family, size = db["DBInstanceClass"].split(".")
    if family in _SUCCESSOR:
        clients.rds.modify_db_instance(
            DBInstanceIdentifier=rid, DBInstanceClass=f"db.{_SUCCESSOR[family]}.{size}", ApplyImmediately=True
        )
    _used_now(clients, "DBInstanceIdentifier", rid, now)


def _delete_snapshot(clients: Any, rid: str, _now: datetime) -> None:
    clients.rds.delete_db_snapshot(DBSnapshotIdentifier=rid)


def _delete_cluster(clients: Any, cid: str, _now: datetime) -> None:
    cluster = clients.rds.describe_db_clusters(DBClusterIdentifier=cid)["DBClusters"][0]
    for m in cluster.get("DBClusterMembers") or []:
        clients.rds.delete_db_instance(DBInstanceIdentifier=m["DBInstanceIdentifier"], SkipFinalSnapshot=True)
    clients.rds.delete_db_cluster(DBClusterIdentifier=cid, SkipFinalSnapshot=True)


def _fix_cluster(clients: Any, cid: str, now: datetime) -> None:
    _used_now(clients, "DBClusterIdentifier", cid, now)


def _delete_cluster_snapshot(clients: Any, rid: str, _now: datetime) -> None:
    clients.rds.delete_db_cluster_snapshot(DBClusterSnapshotIdentifier=rid)


SERVICE = ServiceEstate(
    name="rds",
    seed=seed,
    actions={
        (DB_INSTANCE, "delete"): _delete_instance,
        (DB_INSTANCE, "fix"): _fix_instance,
        (DB_SNAPSHOT, "delete"): _delete_snapshot,
        (DB_CLUSTER, "delete"): _delete_cluster,
        (DB_CLUSTER, "fix"): _fix_cluster,
        (DB_CLUSTER_SNAPSHOT, "delete"): _delete_cluster_snapshot,
    },
    doc=__doc__ or "",
)
