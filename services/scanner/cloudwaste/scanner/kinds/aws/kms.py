"""KMS kinds: customer managed keys."""

from __future__ import annotations

import datetime as dt
import logging

from botocore.exceptions import ClientError
from cloudwaste.scanner.domain import Resource
from cloudwaste.scanner.kinds import kind
from cloudwaste.scanner.kinds.aws._common import PROVIDER, Deps, paginate, resource, utc

KEY = "aws.kms.key"
log = logging.getLogger(__name__)
# DescribeKey errors that concern one key only: its key policy does not let the account read it
# (no IAM policy can grant what the key policy withholds), or it was deleted since ListKeys
_SKIPPED = {"AccessDeniedException", "AccessDenied", "NotFoundException"}


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
    and not the account's to disable or delete) are left out. A key whose key policy does not
    grant the account DescribeKey (AccessDeniedException), or deleted since ListKeys, is skipped:
    the other keys of the region are still listed, and how many were skipped is logged."""
    client = conn.client("kms", region)
    out = []
    skipped: dict[str, int] = {}
    for k in paginate(client, "list_keys", "Keys"):
        try:
            meta = client.describe_key(KeyId=k["KeyId"])["KeyMetadata"]
        except ClientError as exc:
            code = exc.response.get("Error", {}).get("Code") or ""
            if code not in _SKIPPED:
                raise
            skipped[code] = skipped.get(code, 0) + 1
            continue
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
    if skipped:  # no key id: the count and the reason are enough to act on
        log.warning(
            "kms: %d key(s) in %s could not be described and were skipped (%s)",
            sum(skipped.values()),
            region,
            ", ".join(f"{code}: {n}" for code, n in sorted(skipped.items())),
        )
    return out
