"""CloudWatch Logs kinds: log groups."""

from __future__ import annotations

import datetime as dt

from cloudwaste.scanner.domain import Resource
from cloudwaste.scanner.kinds import kind
from cloudwaste.scanner.kinds.aws._common import PROVIDER, Deps, paginate, resource

LOG_GROUP = "aws.logs.log_group"


def from_millis(ms) -> dt.datetime | None:
    if ms is None:
        return None
    return dt.datetime.fromtimestamp(int(ms) / 1000.0, tz=dt.UTC)


@kind(
    key=LOG_GROUP,
    provider=PROVIDER,
    title="CloudWatch Logs log group",
    operations=("logs:DescribeLogGroups",),
    id_field="logGroupName",
    name_field="logGroupName",
    created_field="creationTime",
    ml_config={"retention_days": int, "has_retention": bool, "stored_gb": float, "log_group_class": str},
)
def list_log_groups(conn, region: str, now: dt.datetime, deps: Deps) -> list[Resource]:
    """Log groups with their retention (absent: never expire) and stored bytes, one paginated
    DescribeLogGroups. The name is the id (unique in a region, and CloudWatch's LogGroupName
    dimension). Tags are not read (one call per group)."""
    out = []
    for g in paginate(conn.client("logs", region), "describe_log_groups", "logGroups"):
        retention = g.get("retentionInDays")
        stored = int(g.get("storedBytes") or 0)
        out.append(
            resource(
                LOG_GROUP,
                g,
                region,
                {},
                created_at=from_millis(g.get("creationTime")),
                attributes={
                    "retention_days": int(retention) if retention else None,
                    "stored_bytes": stored,
                    "log_group_class": g.get("logGroupClass", "STANDARD"),
                    "arn": g.get("logGroupArn") or g.get("arn"),
                },
                config={
                    "retention_days": int(retention) if retention else None,
                    "has_retention": bool(retention),
                    "stored_gb": round(stored / 1024**3, 3),
                    "log_group_class": g.get("logGroupClass", "STANDARD"),
                },
            )
        )
    return out
