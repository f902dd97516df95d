"""Secrets Manager kinds: secrets."""

from __future__ import annotations

import datetime as dt

from cloudwaste.scanner.domain import Resource
from cloudwaste.scanner.kinds import kind
from cloudwaste.scanner.kinds.aws._common import PROVIDER, Deps, paginate, resource, tags, utc

SECRET = "aws.secretsmanager.secret"


@kind(
    key=SECRET,
    provider=PROVIDER,
    title="Secrets Manager secret",
    operations=("secretsmanager:ListSecrets",),
    id_field="ARN",
    name_field="Name",
    created_field="CreatedDate",
    ml_config={"rotation_enabled": bool, "replica_count": int, "managed_by_service": bool},
)
def list_secrets(conn, region: str, now: dt.datetime, deps: Deps) -> list[Resource]:
    """Secrets (one paginated ListSecrets, which leaves out secrets scheduled for deletion: those
    are not billed) with their creation and last access dates (AWS keeps the date of the last
    access, truncated to the day; absent when never accessed), rotation and primary Region.

    A multi-Region secret is listed in its primary Region and again, as a replica with its own
    last access date, in each replica Region: PrimaryRegion (SecretListEntry) names the primary's
    Region, so a secret whose PrimaryRegion is another Region is a replica (`primary_region`
    differs from its region). ListSecrets does not return ReplicationStatus (DescribeSecret does,
    one call per secret): `replica_count` is read from it only when a response carries it, and
    is 0 otherwise."""
    out = []
    for s in paginate(conn.client("secretsmanager", region), "list_secrets", "SecretList"):
        if s.get("DeletedDate"):
            continue
        replicas = len(s.get("ReplicationStatus") or [])
        out.append(
            resource(
                SECRET,
                s,
                region,
                tags(s.get("Tags")),
                created_at=utc(s.get("CreatedDate")),
                attributes={
                    "last_accessed": utc(s.get("LastAccessedDate")),
                    "rotation_enabled": bool(s.get("RotationEnabled")),
                    "replica_count": replicas,
                    "owning_service": s.get("OwningService"),
                    "primary_region": s.get("PrimaryRegion"),
                },
                config={
                    "rotation_enabled": bool(s.get("RotationEnabled")),
                    "replica_count": replicas,
                    "managed_by_service": bool(s.get("OwningService")),
                },
            )
        )
    return out
