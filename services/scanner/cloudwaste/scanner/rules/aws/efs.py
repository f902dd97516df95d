"""Amazon EFS rules: file systems no client connects to."""

from __future__ import annotations

import math

from cloudwaste.scanner.domain import Detection, Resource
from cloudwaste.scanner.rules import Context, Fixtures, Metric, Series, age_days, attach_fixtures, rule
from cloudwaste.scanner.rules.aws._common import NOW as _NOW
from cloudwaste.scanner.rules.aws._common import res, rounded
from cloudwaste.scanner.rules.aws.vpn import WINDOW, coverage_param, old_enough, priced, zero_activity

FILE_SYSTEM = "aws.efs.file_system"
GB = 1024**3
CONNECTIONS = Metric("client_connections", "AWS/EFS", "ClientConnections", "FileSystemId", "Sum")


def _candidate(r: Resource, p, ctx: Context) -> bool:
    """An available file system older than the window that is not a replication destination (read
    only, with no clients by design while it replicates)."""
    a = r.attributes
    if a.get("replication_overwrite_protection") == "REPLICATING":
        return False
    return a.get("state") == "available" and old_enough(r, p["window_days"], ctx)


@rule(
    key="efs-filesystem-idle",
    provider="aws",
    resource_kind=FILE_SYSTEM,
    title="EFS file system no client has connected to",
    permissions=("elasticfilesystem:DescribeFileSystems", "cloudwatch:GetMetricData"),
    params={
        "window_days": WINDOW,
        "min_coverage": coverage_param(
            "Share of the window's days with datapoints for HIGH confidence (fewer, all zero: MEDIUM)."
        ),
    },
    confidence_doc="HIGH when the file system has no mount target at all, or when datapoints cover at "
    "least min_coverage of the window and are all zero; MEDIUM when CloudWatch has fewer or none.",
    metrics=(CONNECTIONS,),
    candidate=_candidate,
)
def efs_filesystem_idle(r: Resource, p, ctx: Context) -> Detection | None:
    """An EFS file system bills for the data it stores whether or not anyone mounts it. An
    available file system older than the window fires when its daily ClientConnections sums
    (AWS/EFS, FileSystemId) are zero over 30 days: no NFS client connected. No datapoints at all
    counts as no connection (EFS publishes the metric for connected clients), at MEDIUM confidence,
    unless the file system has no mount target: then no client COULD connect (HIGH). Window after
    common FinOps practice. Priced as the Standard-class bytes of SizeInBytes at the EFS Standard
    price; Infrequent Access and Archive bytes are shown but not priced (a lower bound). A One Zone
    file system (AvailabilityZoneName set) is priced at the Standard rate too, an upper bound for
    its Standard bytes (One Zone storage costs about half; the evidence says so). The destination of
    an EFS replication (FileSystemProtection.ReplicationOverwriteProtection "REPLICATING") is
    read-only and has no clients by design: never judged."""
    if not _candidate(r, p, ctx):
        return None
    days = math.ceil(p["window_days"])
    series = ctx.metric(r, "client_connections", days)
    verdict = zero_activity([series])
    if verdict is None:
        return None
    points, coverage = verdict
    a = r.attributes
    standard = a.get("standard_bytes")
    standard = int(a.get("size_bytes") or 0) if standard is None else int(standard)
    mount_targets = int(a.get("mount_targets") or 0)
    evidence = {
        "client_connections": series.evidence("connections"),
        "window_days": days,
        "datapoints": points,
        "mount_targets": mount_targets,
        "no_mount_targets": mount_targets == 0,
        "size_gb": round(int(a.get("size_bytes") or 0) / GB, 3),
        "standard_gb": round(standard / GB, 3),
        "ia_gb": round(int(a.get("ia_bytes") or 0) / GB, 3),
        "archive_gb": round(int(a.get("archive_bytes") or 0) / GB, 3),
        "age_days": rounded(age_days(r.created_at, ctx.now)),
    }
    if a.get("ia_bytes") or a.get("archive_bytes"):
        evidence["price_scope"] = "only the Standard-class bytes are priced"
    if a.get("availability_zone"):
        evidence["one_zone"] = a["availability_zone"]
        evidence["price_basis"] = (
            "One Zone file system priced at the EFS Standard rate: an upper bound "
            "(One Zone storage costs about half)"
        )
    cost = priced(
        ctx.prices.monthly("efs", "standard_gb_month", quantity=round(standard / GB, 6)),
        "EFS Standard price",
        evidence,
        ctx,
    )
    return Detection(
        scenario="efs-filesystem-idle",
        confidence="HIGH" if mount_targets == 0 or coverage >= p["min_coverage"] else "MEDIUM",
        monthly_cost=cost,
        evidence=evidence,
    )


_FS = {
    "state": "available",
    "size_bytes": 120 * GB,
    "standard_bytes": 120 * GB,
    "ia_bytes": 0,
    "mount_targets": 2,
}
attach_fixtures(
    "efs-filesystem-idle",
    Fixtures(
        fires=res(FILE_SYSTEM, "fs-idle", 120, **_FS),
        silent=res(FILE_SYSTEM, "fs-young", 29, **_FS),  # idle, but younger than the window
        now=_NOW,
        series={
            ("fs-idle", "client_connections", 30): Series((0.0,) * 30, 30),
            ("fs-young", "client_connections", 30): Series((0.0,) * 29, 30),
        },
    ),
)
