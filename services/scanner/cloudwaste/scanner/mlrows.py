"""The base ML row of a finding: keyed hashes, region group, allow-listed configuration. Nothing else."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Iterator, Mapping

from cloudwaste.core.models import ML_SCHEMA_VERSION
from cloudwaste.core.privacy import allow_listed, keyed_hash
from cloudwaste.core.regions import region_group
from cloudwaste.core.settings import HashKey
from cloudwaste.scanner.domain import FindingDraft
from cloudwaste.scanner.kinds import ConfigTypes, ml_config_allowlist
from cloudwaste.scanner.kinds import load_all as load_kinds


class _ConfigAllowList(Mapping[str, Mapping[str, ConfigTypes]]):
    """Configuration fields that may enter an ML row, per resource kind, with their allowed types:
    a read-only view of what each registered kind declares (`Kind.ml_config`)."""

    def __getitem__(self, kind: str) -> Mapping[str, ConfigTypes]:
        registry = load_kinds()
        if kind not in registry:
            raise KeyError(kind)
        return registry.get(kind).ml_config

    def __iter__(self) -> Iterator[str]:
        return iter([k.key for k in load_kinds()])

    def __len__(self) -> int:
        return len(load_kinds().kinds)


ML_CONFIG_ALLOWLIST: Mapping[str, Mapping[str, ConfigTypes]] = _ConfigAllowList()


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
        "resource_config": allow_listed(r.config, ml_config_allowlist(r.kind)),
        "parent_resource_hash": keyed_hash(key, "resource", f"{r.provider}:{r.parent_id}")
        if r.parent_id
        else None,
        "parent_resource_type": r.parent_kind,
        "parent_resource_state": r.parent_state,
    }
