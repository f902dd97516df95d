"""DynamoDB kinds: tables."""

from __future__ import annotations

import datetime as dt

from botocore.exceptions import ClientError
from cloudwaste.scanner.domain import Resource
from cloudwaste.scanner.kinds import kind
from cloudwaste.scanner.kinds.aws._common import PROVIDER, Deps, paginate, resource

DYNAMODB_TABLE = "aws.dynamodb.table"

# --- aws.dynamodb.table ---------------------------------------------------------------------------


@kind(
    key=DYNAMODB_TABLE,
    provider=PROVIDER,
    title="DynamoDB table",
    operations=("dynamodb:ListTables", "dynamodb:DescribeTable"),
    id_field="TableName",
    name_field="TableName",
    created_field="CreationDateTime",
    ml_config={
        "billing_mode": str,
        "read_capacity_units": int,
        "write_capacity_units": int,
        "gsi_count": int,
        "size_bytes": int,
        "item_count": int,
    },
)
def list_tables(conn, region: str, now: dt.datetime, deps: Deps) -> list[Resource]:
    """Tables: ListTables (paginated) then one DescribeTable per table, since DynamoDB has no
    batch describe, with billing mode, provisioned read/write capacity (table and global
    secondary indexes), size and item count. Auto scaling is not read (it needs
    application-autoscaling:DescribeScalableTargets). Tags are not read (one call per table)."""
    client = conn.client("dynamodb", region)
    out = []
    for name in paginate(client, "list_tables", "TableNames"):
        try:
            t = client.describe_table(TableName=name)["Table"]
        except ClientError as exc:  # deleted between ListTables and DescribeTable: gone
            if exc.response.get("Error", {}).get("Code") == "ResourceNotFoundException":
                continue
            raise
        mode = (t.get("BillingModeSummary") or {}).get("BillingMode") or "PROVISIONED"
        pt = t.get("ProvisionedThroughput") or {}
        gsis = t.get("GlobalSecondaryIndexes") or []
        gsi_rcu = sum(int((g.get("ProvisionedThroughput") or {}).get("ReadCapacityUnits") or 0) for g in gsis)
        gsi_wcu = sum(
            int((g.get("ProvisionedThroughput") or {}).get("WriteCapacityUnits") or 0) for g in gsis
        )
        rcu = int(pt.get("ReadCapacityUnits") or 0) if mode == "PROVISIONED" else 0
        wcu = int(pt.get("WriteCapacityUnits") or 0) if mode == "PROVISIONED" else 0
        out.append(
            resource(
                DYNAMODB_TABLE,
                t,
                region,
                {},
                attributes={
                    "state": t.get("TableStatus"),
                    "billing_mode": mode,
                    "read_capacity_units": rcu,
                    "write_capacity_units": wcu,
                    "gsi_count": len(gsis),
                    "gsi_read_capacity_units": gsi_rcu if mode == "PROVISIONED" else 0,
                    "gsi_write_capacity_units": gsi_wcu if mode == "PROVISIONED" else 0,
                    "size_bytes": int(t.get("TableSizeBytes") or 0),
                },
                config={
                    "billing_mode": mode,
                    "read_capacity_units": rcu,
                    "write_capacity_units": wcu,
                    "gsi_count": len(gsis),
                    "size_bytes": int(t.get("TableSizeBytes") or 0),
                    "item_count": int(t.get("ItemCount") or 0),
                },
            )
        )
    return out
