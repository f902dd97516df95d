"""The base ML row of a finding: keyed hashes, region group, allow-listed configuration. Nothing else."""

from __future__ import annotations

import datetime as dt
import uuid

from cloudwaste.core.models import ML_SCHEMA_VERSION
from cloudwaste.core.privacy import allow_listed, keyed_hash
from cloudwaste.core.regions import region_group
from cloudwaste.core.settings import HashKey
from cloudwaste.scanner.domain import FindingDraft

# Configuration fields that may enter an ML row, per resource kind, with their allowed types.
ML_CONFIG_ALLOWLIST: dict[str, dict[str, type | tuple[type, ...]]] = {
    "aws.ec2.volume": {"volume_type": str, "size_gb": int, "iops": int, "encrypted": bool},
    "aws.ec2.instance": {"instance_type": str, "architecture": str, "platform": str, "state": str},
    "aws.ec2.elastic_ip": {"domain": str, "associated": bool},
    "aws.ec2.snapshot": {"size_gb": int, "encrypted": bool, "storage_tier": str},
    "aws.ec2.nat_gateway": {"connectivity_type": str},
    "aws.elbv2.load_balancer": {"type": str, "scheme": str, "target_group_count": int},
}


def base_row(
    draft: FindingDraft, *, key: HashKey, tenant_id: str, account_ref: str, detected_at: dt.datetime
) -> dict:
    r, d = draft.resource, draft.detection
    age = (detected_at - r.created_at).total_seconds() / 86400.0 if r.created_at else None
    return {
        "id": uuid.uuid4(),
        "detected_at": detected_at,
        "schema_version": ML_SCHEMA_VERSION,
        "hash_key_id": key.key_id,
        "resource_hash": keyed_hash(key, "resource", f"{r.provider}:{r.resource_id}"),
        "account_hash": keyed_hash(key, "account", f"{r.provider}:{account_ref}"),
        "tenant_hash": keyed_hash(key, "tenant", tenant_id),
        "provider": r.provider,
        "resource_type": r.kind,
        "region_group": region_group(r.provider, r.region),
        "detection_scenario": d.scenario,
        "confidence_level": d.confidence,
        "resource_age_days": round(age, 3) if age is not None else None,
        "cost_monthly": float(d.monthly_cost),
        "resource_config": allow_listed(r.config, ML_CONFIG_ALLOWLIST.get(r.kind, {})),
        "parent_resource_hash": keyed_hash(key, "resource", f"{r.provider}:{r.parent_id}")
        if r.parent_id
        else None,
        "parent_resource_type": r.parent_kind,
        "parent_resource_state": r.parent_state,
    }
