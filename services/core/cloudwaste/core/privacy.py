"""What may enter an ML table: keyed hashes, closed vocabularies, allow-listed fields.

Identifiers become HMAC-SHA256 with a key used for nothing else (a plain SHA-256 of a 12-digit
account id is reversible by enumeration). Tags keep only allow-listed keys, and their values are
mapped into a closed vocabulary; anything else becomes "other". Free text never passes.
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Mapping

from cloudwaste.core.settings import HashKey


def keyed_hash(key: HashKey, kind: str, value: str) -> str:
    """Hex HMAC-SHA256 of `kind:value`; the kind keeps an account id and a resource id apart."""
    return hmac.new(key.key, f"{kind}:{value}".encode(), hashlib.sha256).hexdigest()


# Allow-listed tag keys (normalized) -> the closed vocabulary of their values.
# Each raw value maps through SYNONYMS first; a value outside the vocabulary becomes "other".
TAG_VOCABULARY: dict[str, frozenset[str]] = {
    "environment": frozenset({"prod", "staging", "dev", "test", "qa", "sandbox", "dr", "shared"}),
    "tier": frozenset(
        {"web", "app", "api", "db", "cache", "batch", "storage", "network", "frontend", "backend"}
    ),
    "purpose": frozenset({"backup", "ci", "analytics", "ml", "logging", "monitoring", "demo", "migration"}),
    "criticality": frozenset({"high", "medium", "low"}),
    "backup": frozenset({"required", "none"}),
    "lifecycle": frozenset({"permanent", "temporary"}),
}

# Raw tag keys people use for the allow-listed concepts.
KEY_ALIASES: dict[str, str] = {
    "env": "environment",
    "environment": "environment",
    "stage": "environment",
    "tier": "tier",
    "layer": "tier",
    "purpose": "purpose",
    "role": "purpose",
    "criticality": "criticality",
    "priority": "criticality",
    "backup": "backup",
    "backup-policy": "backup",
    "lifecycle": "lifecycle",
}

VALUE_SYNONYMS: dict[str, str] = {
    "production": "prod",
    "prd": "prod",
    "live": "prod",
    "stage": "staging",
    "stg": "staging",
    "preprod": "staging",
    "development": "dev",
    "develop": "dev",
    "testing": "test",
    "uat": "qa",
    "sbx": "sandbox",
    "disaster-recovery": "dr",
    "critical": "high",
    "med": "medium",
    "yes": "required",
    "true": "required",
    "daily": "required",
    "weekly": "required",
    "no": "none",
    "false": "none",
    "temp": "temporary",
    "ephemeral": "temporary",
}

_SEP = re.compile(r"[\s_:.]+")
_ENUM_LIKE = re.compile(r"[A-Za-z0-9][A-Za-z0-9._/+-]{0,47}")


def _norm(text: str) -> str:
    return _SEP.sub("-", text.strip().lower())


def anonymize_tags(tags: Mapping[str, str]) -> dict[str, str]:
    """Allow-listed keys with values in the closed vocabulary; everything else is dropped or "other"."""
    out: dict[str, str] = {}
    for raw_key, raw_value in tags.items():
        key = KEY_ALIASES.get(_norm(str(raw_key)))
        if key is None:
            continue
        value = _norm(str(raw_value))
        value = VALUE_SYNONYMS.get(value, value)
        out[key] = value if value in TAG_VOCABULARY[key] else "other"
    return dict(sorted(out.items()))


def allow_listed(config: Mapping[str, object], allowed: Mapping[str, type | tuple[type, ...]]) -> dict:
    """Keeps only configuration fields on the allow-list whose value has an expected, non-free-text type."""
    out = {}
    for key, kinds in allowed.items():
        value = config.get(key)
        kinds_t = kinds if isinstance(kinds, tuple) else (kinds,)
        if isinstance(value, bool) and bool not in kinds_t:
            continue
        if isinstance(value, str) and not _ENUM_LIKE.fullmatch(value):
            continue  # config strings must look like provider enumerations (gp3, m5.large), not free text
        if value is not None and isinstance(value, kinds_t) and not isinstance(value, dict | list):
            out[key] = value
    return out
