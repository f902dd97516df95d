"""KMS kinds: customer managed keys."""

from __future__ import annotations

import datetime as dt

from cloudwaste.scanner.domain import Resource
from cloudwaste.scanner.kinds import kind
from cloudwaste.scanner.kinds.aws._common import PROVIDER, Deps, paginate, resource, utc

KEY = "aws.kms.key"


@kind(
    key=KEY,
    provider=PROVIDER,
    title="KMS customer managed key",
    operations=("kms:ListKeys", "kms:DescribeKey"),
    id_field="KeyId",
    name_field="KeyId",
    created_field="CreationDate",
    ml_config={"key_state": str, "key_spec": str, "key_usage": str, "multi_region": bool, "origin": str},
)
def list_keys(conn, region: str, now: dt.datetime, deps: Deps) -> list[Resource]:
    """Customer managed keys with their state. ListKeys (paginated) gives ids only and KMS has no
    batch describe: one DescribeKey per key is unavoidable. AWS managed keys (KeyManager AWS: free,
    and not the account's to disable or delete) are left out."""
    client = conn.client("kms", region)
    out = []
    for k in paginate(client, "list_keys", "Keys"):
        meta = client.describe_key(KeyId=k["KeyId"])["KeyMetadata"]
        if meta.get("KeyManager") != "CUSTOMER":
            continue
        out.append(
            resource(
                KEY,
                meta,
                region,
                {},
                name=meta.get("Description") or "",
                created_at=utc(meta.get("CreationDate")),
                attributes={
                    "key_state": meta.get("KeyState"),
                    "arn": meta.get("Arn"),
                    "deletion_date": utc(meta.get("DeletionDate")),
                    "multi_region": bool(meta.get("MultiRegion")),
                },
                config={
                    "key_state": meta.get("KeyState"),
                    "key_spec": meta.get("KeySpec") or meta.get("CustomerMasterKeySpec"),
                    "key_usage": meta.get("KeyUsage"),
                    "multi_region": bool(meta.get("MultiRegion")),
                    "origin": meta.get("Origin"),
                },
            )
        )
    return out
