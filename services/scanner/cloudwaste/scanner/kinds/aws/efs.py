"""Amazon EFS kinds: file systems."""

from __future__ import annotations

import datetime as dt

from cloudwaste.scanner.domain import Resource
from cloudwaste.scanner.kinds import kind
from cloudwaste.scanner.kinds.aws._common import PROVIDER, Deps, paginate, resource, tags

FILE_SYSTEM = "aws.efs.file_system"


@kind(
    key=FILE_SYSTEM,
    provider=PROVIDER,
    title="EFS file system",
    operations=("elasticfilesystem:DescribeFileSystems",),
    id_field="FileSystemId",
    name_field="Name",
    created_field="CreationTime",
    ml_config={
        "performance_mode": str,
        "throughput_mode": str,
        "encrypted": bool,
        "size_gb": float,
        "mount_target_count": int,
    },
)
def list_file_systems(conn, region: str, now: dt.datetime, deps: Deps) -> list[Resource]:
    """File systems (paginated) with their metered size (SizeInBytes: total, Standard and
    Infrequent Access bytes; EFS refreshes it about hourly), number of mount targets, whether it is
    a replication destination (FileSystemProtection.ReplicationOverwriteProtection "REPLICATING")
    and, for a One Zone file system, its Availability Zone."""
    out = []
    for f in paginate(conn.client("efs", region), "describe_file_systems", "FileSystems"):
        if f.get("LifeCycleState") in ("deleting", "deleted"):
            continue
        size = f.get("SizeInBytes") or {}
        total = int(size.get("Value") or 0)
        standard = size.get("ValueInStandard")
        gb = round(total / 1024**3, 3)
        out.append(
            resource(
                FILE_SYSTEM,
                f,
                region,
                tags(f.get("Tags")),
                attributes={
                    "state": f.get("LifeCycleState"),
                    "size_bytes": total,
                    "standard_bytes": int(standard) if standard is not None else None,
                    "ia_bytes": int(size.get("ValueInIA") or 0),
                    "archive_bytes": int(size.get("ValueInArchive") or 0),
                    "mount_targets": int(f.get("NumberOfMountTargets") or 0),
                    # "REPLICATING": the read-only destination of an EFS replication
                    "replication_overwrite_protection": (f.get("FileSystemProtection") or {}).get(
                        "ReplicationOverwriteProtection"
                    ),
                    # set for a One Zone file system
                    "availability_zone": f.get("AvailabilityZoneName"),
                },
                config={
                    "performance_mode": f.get("PerformanceMode") or "",
                    "throughput_mode": f.get("ThroughputMode") or "",
                    "encrypted": bool(f.get("Encrypted")),
                    "size_gb": gb,
                    "mount_target_count": int(f.get("NumberOfMountTargets") or 0),
                },
            )
        )
    return out
