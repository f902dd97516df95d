"""Cloud SQL kinds: database instances (Cloud SQL Admin API v1, which google-cloud-compute does not
cover: read through the provider's REST session)."""

from __future__ import annotations

import datetime as dt
import re

from cloudwaste.scanner.domain import Resource
from cloudwaste.scanner.kinds import Listing, kind
from cloudwaste.scanner.kinds.gcp._common import PROVIDER, Deps, gcp_time, iter_pages

SQL_INSTANCE = "gcp.sql.instance"

_CUSTOM = re.compile(r"^db-custom-(\d+)-(\d+)$")
_N1 = re.compile(r"^db-n1-(standard|highmem)-(\d+)$")
_N1_MEMORY_PER_VCPU = {"standard": 3.75, "highmem": 6.5}
SHARED_CORE = ("db-f1-micro", "db-g1-small")


def tier_shape(tier: str | None) -> tuple[int, float] | None:
    """(vCPUs, memory GB) of a dedicated-core tier: db-custom-N-M (M in MB), db-n1-standard-N
    (3.75 GB a vCPU), db-n1-highmem-N (6.5 GB a vCPU); None for a shared-core or unknown tier."""
    tier = tier or ""
    m = _CUSTOM.match(tier)
    if m:
        return int(m.group(1)), int(m.group(2)) / 1024
    m = _N1.match(tier)
    if m:
        vcpus = int(m.group(2))
        return vcpus, vcpus * _N1_MEMORY_PER_VCPU[m.group(1)]
    return None


@kind(
    key=SQL_INSTANCE,
    provider=PROVIDER,
    title="Cloud SQL instance",
    operations=("cloudsql.instances.list",),
    id_field="selfLink",
    name_field="name",
    created_field="createTime",
    ml_config={
        "database_engine": str,
        "tier": str,
        "vcpus": int,
        "data_disk_size_gb": int,
        "data_disk_type": str,
        "availability_type": str,
        "activation_policy": str,
        "instance_type": str,
    },
)
def list_sql_instances(conn, project: str, now: dt.datetime, deps: Deps) -> Listing:
    """Cloud SQL instances of the project (sqladmin v1 instances.list, paged): version, region,
    state, tier, activation policy (ALWAYS runs, NEVER is stopped), data disk size and type,
    availability type (REGIONAL is high availability: a standby doubles the instance), replica
    role, IP addresses and creation time. The id is "projects/{project}/instances/{name}"; Cloud
    Monitoring names the instance "{project}:{name}" (`database_id`)."""
    out = []
    for item in iter_pages(conn, "sqladmin", f"v1/projects/{project}/instances", "items"):
        name = item.get("name") or ""
        settings = item.get("settings") or {}
        tier = settings.get("tier") or ""
        shape = tier_shape(tier)
        version = item.get("databaseVersion") or ""
        engine = version.split("_", 1)[0].lower()
        size = int(settings.get("dataDiskSizeGb") or 0)
        disk_type = settings.get("dataDiskType") or "PD_SSD"
        availability = settings.get("availabilityType") or "ZONAL"
        activation = settings.get("activationPolicy") or "ALWAYS"
        instance_type = item.get("instanceType") or "CLOUD_SQL_INSTANCE"
        ips = item.get("ipAddresses") or []
        out.append(
            Resource(
                provider=PROVIDER,
                kind=SQL_INSTANCE,
                resource_id=f"projects/{project}/instances/{name}",
                region=item.get("region") or "",
                name=name,
                tags={str(k): str(v) for k, v in (settings.get("userLabels") or {}).items()},
                created_at=gcp_time(item.get("createTime")),
                attributes={
                    "database_id": f"{project}:{name}",
                    "database_version": version,
                    "state": item.get("state") or "",
                    "tier": tier,
                    "vcpus": shape[0] if shape else None,
                    "memory_gb": shape[1] if shape else None,
                    "activation_policy": activation,
                    "data_disk_size_gb": size,
                    "data_disk_type": disk_type,
                    "availability_type": availability,
                    "instance_type": instance_type,
                    "master_instance": item.get("masterInstanceName") or None,
                    "replicas": list(item.get("replicaNames") or []),
                    "public_ip_count": sum(1 for ip in ips if ip.get("type") == "PRIMARY"),
                    "ip_count": len(ips),
                },
                config={
                    "database_engine": engine,
                    "tier": tier,
                    "vcpus": shape[0] if shape else 0,
                    "data_disk_size_gb": size,
                    "data_disk_type": disk_type,
                    "availability_type": availability,
                    "activation_policy": activation,
                    "instance_type": instance_type,
                },
            )
        )
    return Listing(out)
