"""RDS kinds: DB instances, manual DB snapshots, DB clusters (Aurora, Multi-AZ DB clusters) and
manual DB cluster snapshots.

The RDS API also serves Amazon Neptune and Amazon DocumentDB (their instances and clusters come
back from the same Describe calls, with engine `neptune` / `docdb`); those publish their metrics
in their own namespaces and are left out here. Ids are the identifiers AWS names them by in
CloudWatch (DBInstanceIdentifier, DBClusterIdentifier) and in the snapshot APIs; each is unique
per account and region for its kind.
"""

from __future__ import annotations

import datetime as dt
import re

from cloudwaste.scanner.domain import ORPHAN, Resource
from cloudwaste.scanner.kinds import kind
from cloudwaste.scanner.kinds.aws._common import PROVIDER, Deps, paginate, resource, tags

DB_INSTANCE = "aws.rds.db_instance"
DB_SNAPSHOT = "aws.rds.db_snapshot"
DB_CLUSTER = "aws.rds.db_cluster"
DB_CLUSTER_SNAPSHOT = "aws.rds.db_cluster_snapshot"

# Engines the RDS API lists that are other services (own metric namespaces): not listed here.
OTHER_SERVICES = frozenset({"neptune", "docdb"})

_CLASS = re.compile(r"^db\.([a-z0-9-]+)\.([a-z0-9-]+)$")


def class_parts(db_class: str | None) -> tuple[str | None, str | None]:
    """("m5", "xlarge") for "db.m5.xlarge"; (None, None) for what does not look like a class
    (Aurora Serverless v2 is "db.serverless")."""
    m = _CLASS.match(db_class or "")
    return (m.group(1), m.group(2)) if m else (None, None)


def _own_engine(record: dict) -> bool:
    return (record.get("Engine") or "").lower() not in OTHER_SERVICES


# --- aws.rds.db_instance --------------------------------------------------------------------------


@kind(
    key=DB_INSTANCE,
    provider=PROVIDER,
    title="RDS DB instance",
    operations=("rds:DescribeDBInstances",),
    id_field="DBInstanceIdentifier",
    name_field="tag:Name",
    created_field="InstanceCreateTime",
    ml_config={
        "engine": str,
        "class_family": str,
        "class_size": str,
        "storage_type": str,
        "allocated_gb": int,
        "multi_az": bool,
        "status": str,
        "cluster_member": bool,
    },
)
def list_db_instances(conn, region: str, now: dt.datetime, deps: Deps) -> list[Resource]:
    """DB instances (one paginated DescribeDBInstances; tags come in TagList) with engine, class,
    status, Multi-AZ, storage (type, GB, provisioned IOPS), the source of a read replica
    (ReadReplicaSourceDBInstanceIdentifier) and, for an Aurora (or Multi-AZ DB cluster) member,
    its cluster's identifier. DescribeDBInstances gives no stop time: a stopped
    instance's `stopped_since` is None (AWS restarts one automatically after 7 days)."""
    out = []
    for d in paginate(conn.client("rds", region), "describe_db_instances", "DBInstances"):
        if not _own_engine(d):
            continue
        engine = (d.get("Engine") or "").lower()
        db_class = d.get("DBInstanceClass")
        family, size = class_parts(db_class)
        cluster_id = d.get("DBClusterIdentifier") or None
        storage_type = d.get("StorageType") or ("aurora" if cluster_id else "gp2")
        allocated = int(d.get("AllocatedStorage") or 0)
        multi_az = bool(d.get("MultiAZ"))
        status = d.get("DBInstanceStatus")
        out.append(
            resource(
                DB_INSTANCE,
                d,
                region,
                tags(d.get("TagList")),
                attributes={
                    "status": status,
                    "engine": engine,
                    "engine_version": d.get("EngineVersion"),
                    "db_class": db_class,
                    "class_family": family,
                    "class_size": size,
                    "multi_az": multi_az,
                    "storage_type": storage_type,
                    "allocated_gb": allocated,
                    "iops": d.get("Iops"),
                    "cluster_id": cluster_id,
                    "read_replica_source": d.get("ReadReplicaSourceDBInstanceIdentifier") or None,
                    "stopped_since": None,  # not in the API
                },
                config={
                    "engine": engine,
                    "class_family": family,
                    "class_size": size,
                    "storage_type": storage_type,
                    "allocated_gb": allocated,
                    "multi_az": multi_az,
                    "status": status,
                    "cluster_member": cluster_id is not None,
                },
                parent_id=cluster_id,
                parent_kind=DB_CLUSTER if cluster_id else None,
            )
        )
    return out


# --- aws.rds.db_snapshot --------------------------------------------------------------------------


@kind(
    key=DB_SNAPSHOT,
    provider=PROVIDER,
    title="RDS manual DB snapshot",
    operations=("rds:DescribeDBSnapshots",),
    id_field="DBSnapshotIdentifier",
    name_field="tag:Name",
    created_field="SnapshotCreateTime",
    ml_config={"engine": str, "allocated_gb": int, "encrypted": bool, "storage_type": str},
    requires=(DB_INSTANCE,),
)
def list_db_snapshots(conn, region: str, now: dt.datetime, deps: Deps) -> list[Resource]:
    """Manual DB snapshots of this account (DescribeDBSnapshots SnapshotType=manual, paginated;
    automated ones go with their instance's retention), with whether an instance of the source
    identifier still exists in the region (an instance re-created under the same identifier
    counts as existing)."""
    live = {r.resource_id.lower() for r in deps[DB_INSTANCE]}
    out = []
    records = paginate(
        conn.client("rds", region), "describe_db_snapshots", "DBSnapshots", SnapshotType="manual"
    )
    for s in records:
        if not _own_engine(s):
            continue
        source = s.get("DBInstanceIdentifier") or None
        exists = bool(source) and source.lower() in live
        engine = (s.get("Engine") or "").lower()
        allocated = int(s.get("AllocatedStorage") or 0)
        out.append(
            resource(
                DB_SNAPSHOT,
                s,
                region,
                tags(s.get("TagList")),
                attributes={
                    "status": s.get("Status"),
                    "engine": engine,
                    "source_instance_id": source,
                    "source_instance_exists": exists,
                    "allocated_gb": allocated,
                    "storage_type": s.get("StorageType"),
                    "snapshot_type": s.get("SnapshotType"),
                },
                config={
                    "engine": engine,
                    "allocated_gb": allocated,
                    "encrypted": bool(s.get("Encrypted")),
                    "storage_type": s.get("StorageType") or "",
                },
                parent_id=source,
                parent_kind=DB_INSTANCE if source else None,
                parent_state=ORPHAN if source and not exists else None,
            )
        )
    return out


# --- aws.rds.db_cluster ---------------------------------------------------------------------------


@kind(
    key=DB_CLUSTER,
    provider=PROVIDER,
    title="RDS DB cluster (Aurora or Multi-AZ DB cluster)",
    operations=("rds:DescribeDBClusters",),
    id_field="DBClusterIdentifier",
    name_field="tag:Name",
    created_field="ClusterCreateTime",
    ml_config={
        "engine": str,
        "engine_mode": str,
        "member_count": int,
        "multi_az": bool,
        "status": str,
        "storage_type": str,
    },
)
def list_db_clusters(conn, region: str, now: dt.datetime, deps: Deps) -> list[Resource]:
    """DB clusters (one paginated DescribeDBClusters) with engine, mode, status, their member
    instances' identifiers (DBClusterMembers; the members themselves are DB instances) and whether
    the cluster is a replica: `replication_source` (ReplicationSourceIdentifier: the source of a
    cross-region read replica cluster, or the primary of an Aurora global database's secondary),
    `global_cluster_id` (GlobalClusterIdentifier), and `replica_cluster`, True when it has a
    replication source, or is in a global database with no writer member (a secondary cluster's
    instances are all readers; a headless secondary has none)."""
    out = []
    for c in paginate(conn.client("rds", region), "describe_db_clusters", "DBClusters"):
        if not _own_engine(c):
            continue
        engine = (c.get("Engine") or "").lower()
        members = [m["DBInstanceIdentifier"] for m in c.get("DBClusterMembers") or []]
        mode = c.get("EngineMode") or "provisioned"
        status = c.get("Status")
        source = c.get("ReplicationSourceIdentifier") or None
        global_id = c.get("GlobalClusterIdentifier") or None
        has_writer = any(m.get("IsClusterWriter") for m in c.get("DBClusterMembers") or [])
        out.append(
            resource(
                DB_CLUSTER,
                c,
                region,
                tags(c.get("TagList")),
                attributes={
                    "status": status,
                    "engine": engine,
                    "engine_mode": mode,
                    "members": members,
                    "aurora": engine.startswith("aurora"),
                    "allocated_gb": int(c.get("AllocatedStorage") or 0),
                    "replication_source": source,
                    "global_cluster_id": global_id,
                    "replica_cluster": bool(source) or (bool(global_id) and not has_writer),
                },
                config={
                    "engine": engine,
                    "engine_mode": mode,
                    "member_count": len(members),
                    "multi_az": bool(c.get("MultiAZ")),
                    "status": status,
                    "storage_type": c.get("StorageType") or "",
                },
            )
        )
    return out


# --- aws.rds.db_cluster_snapshot ------------------------------------------------------------------


@kind(
    key=DB_CLUSTER_SNAPSHOT,
    provider=PROVIDER,
    title="RDS manual DB cluster snapshot",
    operations=("rds:DescribeDBClusterSnapshots",),
    id_field="DBClusterSnapshotIdentifier",
    name_field="tag:Name",
    created_field="SnapshotCreateTime",
    ml_config={"engine": str, "allocated_gb": int, "encrypted": bool},
    requires=(DB_CLUSTER,),
)
def list_db_cluster_snapshots(conn, region: str, now: dt.datetime, deps: Deps) -> list[Resource]:
    """Manual DB cluster snapshots of this account (DescribeDBClusterSnapshots SnapshotType=manual,
    paginated), with whether a cluster of the source identifier still exists in the region."""
    live = {r.resource_id.lower() for r in deps[DB_CLUSTER]}
    out = []
    records = paginate(
        conn.client("rds", region),
        "describe_db_cluster_snapshots",
        "DBClusterSnapshots",
        SnapshotType="manual",
    )
    for s in records:
        if not _own_engine(s):
            continue
        source = s.get("DBClusterIdentifier") or None
        exists = bool(source) and source.lower() in live
        engine = (s.get("Engine") or "").lower()
        allocated = int(s.get("AllocatedStorage") or 0)
        out.append(
            resource(
                DB_CLUSTER_SNAPSHOT,
                s,
                region,
                tags(s.get("TagList")),
                attributes={
                    "status": s.get("Status"),
                    "engine": engine,
                    "source_cluster_id": source,
                    "source_cluster_exists": exists,
                    "allocated_gb": allocated,
                    "snapshot_type": s.get("SnapshotType"),
                },
                config={
                    "engine": engine,
                    "allocated_gb": allocated,
                    "encrypted": bool(s.get("StorageEncrypted")),
                },
                parent_id=source,
                parent_kind=DB_CLUSTER if source else None,
                parent_state=ORPHAN if source and not exists else None,
            )
        )
    return out
