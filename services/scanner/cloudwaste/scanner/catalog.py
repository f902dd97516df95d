"""What the registries hold, for people and tools: the rule catalogue (`cloudwaste rules`), the
least-privilege read-only IAM policy of a provider (`cloudwaste iam-policy aws`), and the
consistency checks the meta-tests run over rules, kinds and providers."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from cloudwaste.scanner.kinds import KindRegistry
from cloudwaste.scanner.kinds import load_all as load_kinds
from cloudwaste.scanner.providers import ProviderRegistry
from cloudwaste.scanner.providers import load_all as load_providers
from cloudwaste.scanner.rules import Registry, Rule
from cloudwaste.scanner.rules import load_all as load_rules


def rule_permissions(rule: Rule, kinds: KindRegistry | None = None) -> list[str]:
    """Every IAM permission running the rule takes: its own, its kinds' (with dependencies), and
    the provider's metric operation for a metric rule."""
    kinds = kinds if kinds is not None else load_kinds()
    perms = set(rule.permissions)
    if rule.metrics:
        perms.add(load_providers().get(rule.provider).metric_operation)
    for kind in kinds.closure(set(rule.kinds)):
        perms.update(kind.permissions)
    return sorted(perms)


# provider -> (where its metrics come from, what its permissions are called)
_METRIC_SOURCE = {
    "aws": ("CloudWatch", "IAM permissions"),
    "azure": ("Azure Monitor", "Azure RBAC actions"),
    "gcp": ("Cloud Monitoring", "IAM permissions"),
    "m365": ("Graph report", "Graph application permissions"),
}


def _stat(stat: str) -> str:
    """"Sum" -> "sum", "ALIGN_MEAN" -> "mean": how a metric is aggregated per day."""
    return stat.lower().removeprefix("align_")


def rules_markdown(provider: str) -> str:
    """The README's rule table of `provider`, generated from the registry: key, what fires (the
    rule's title), its parameters with their defaults, what it reads and needs (metrics, IAM)."""
    source, permissions = _METRIC_SOURCE.get(provider, ("metric", "permissions"))
    lines = [
        f"| key | what fires | parameters (defaults) | reads | {permissions} |",
        "|---|---|---|---|---|",
    ]
    for r in describe_rules(provider):
        params = ", ".join(
            f"`{k}`={v['default']:g}" if isinstance(v["default"], float) else f"`{k}`={v['default']}"
            for k, v in r["parameters"].items()
            if k != "enabled"
        )
        rule = load_rules().rules[r["key"]]
        reads = [f"`{r['kind']}`", *(f"`{k}`" for k in r["needs"])]
        reads += [f"{source} {m.metric} ({_stat(m.stat)}/day)" for m in rule.metrics]
        lines.append(
            f"| `{r['key']}` | {r['title']} | {params or '-'} | {', '.join(reads)} | {', '.join(r['permissions'])} |"
        )
    return "\n".join(lines) + "\n"


def describe_rules(provider: str | None = None) -> list[dict]:
    """Every registered rule (of `provider` when given), sorted by key, as plain JSON-able dicts."""
    registry, kinds = load_rules(), load_kinds()
    if provider is not None:
        load_providers().get(provider, field="provider")
    out = []
    for rule in sorted(registry, key=lambda r: r.key):
        if provider is not None and rule.provider != provider:
            continue
        out.append(
            {
                "key": rule.key,
                "provider": rule.provider,
                "kind": rule.resource_kind,
                "needs": list(rule.needs),
                "title": rule.title,
                "doc": rule.doc,
                "parameters": {
                    name: {
                        "type": {bool: "bool", int: "int", float: "number", str: "string"}.get(
                            p.type, p.type.__name__
                        ),
                        "default": p.default,
                        "doc": p.doc,
                        **({"minimum": p.minimum} if p.minimum is not None else {}),
                    }
                    for name, p in rule.all_params.items()
                },
                "permissions": rule_permissions(rule, kinds),
                "confidence": rule.confidence_doc,
            }
        )
    return out


def iam_policy(
    provider: str, *, rule_parameters: Mapping[str, Any] | None = None, organization: bool = False
) -> dict:
    """The least-privilege read-only access the customer grants for the enabled rules of
    `provider` (every rule by default; `rule_parameters` may disable some), as the provider's
    own document: an IAM policy (AWS; with `organization`, a second statement for the management
    account's role), a custom role definition (Azure, GCP)."""
    prov = load_providers().get(provider, field="provider")
    return prov.policy_document(required_permissions(prov, rule_parameters), organization=organization)


def required_permissions(prov: Any, rule_parameters: Mapping[str, Any] | None = None) -> list[str]:
    """Every permission the enabled rules of a provider need, plus listing its scopes."""
    registry, kinds = load_rules(), load_kinds()
    params = registry.effective_params(rule_parameters, prov.key)
    actions = set(prov.scope_operations)  # listing the account's scopes when none are given
    for key, p in params.items():
        if p["enabled"]:
            actions.update(rule_permissions(registry.rules[key], kinds))
    return sorted(actions)


def policy_permissions(provider: str, document: Mapping[str, Any]) -> list[str]:
    """The permissions a document of `iam_policy` grants, whatever its provider's shape."""
    if provider == "aws":
        return sorted({a for st in document["Statement"] for a in st["Action"]})
    if provider == "azure":
        return sorted(document["Actions"])
    if provider == "m365":
        return sorted(p["value"] for p in document["permissions"])
    return sorted(document["includedPermissions"])


def check_registries(
    rules: Registry | None = None,
    kinds: KindRegistry | None = None,
    providers: ProviderRegistry | None = None,
) -> list[str]:
    """Every inconsistency between rules, kinds and providers, as readable problems (empty: none)."""
    rules = rules if rules is not None else load_rules()
    kinds = kinds if kinds is not None else load_kinds()
    providers = providers if providers is not None else load_providers()
    problems: list[str] = []
    for kind in kinds:
        where = f"kind {kind.key}"
        if kind.provider not in providers:
            problems.append(f"{where}: provider {kind.provider!r} is not registered")
        if not kind.operations:
            problems.append(f"{where}: declares no listing operation")
        owner = providers.get(kind.provider) if kind.provider in providers else None
        for action in (*kind.operations, *kind.extra_permissions):
            if owner is not None and not owner.is_read_only(action):
                problems.append(f"{where}: {action!r} is not a read-only permission")
        if not kind.ml_config:
            problems.append(f"{where}: no ML config allow-list")
        if not kind.id_field or not kind.name_field:
            problems.append(f"{where}: no id or name field")
        if not callable(kind.list):
            problems.append(f"{where}: no listing function")
        if not kind.doc or not kind.title:
            problems.append(f"{where}: no title or doc")
        for dep in kind.requires:
            if dep not in kinds:
                problems.append(f"{where}: requires {dep!r}, which nothing registers")
            elif kinds.get(dep).provider != kind.provider:
                problems.append(f"{where}: requires {dep!r} of another provider")
        try:
            kinds.closure({kind.key})
        except (KeyError, ValueError) as exc:
            problems.append(f"{where}: {exc}")
    for provider in providers:
        for action in provider.scope_operations:
            if not provider.is_read_only(action):
                problems.append(f"provider {provider.key}: {action!r} is not a read-only permission")
    for rule in rules:
        where = f"rule {rule.key}"
        if rule.provider not in providers:
            problems.append(f"{where}: provider {rule.provider!r} is not registered")
        missing = [k for k in rule.kinds if k not in kinds]
        for k in missing:
            problems.append(f"{where}: kind {k!r} is not registered")
        for k in rule.kinds:
            if k in kinds and kinds.get(k).provider != rule.provider:
                problems.append(f"{where}: kind {k!r} belongs to provider {kinds.get(k).provider!r}")
        if "enabled" in rule.params:
            problems.append(f"{where}: declares `enabled`, which every rule has")
        if rule.metrics and rule.provider in providers and not providers.get(rule.provider).metric_operation:
            problems.append(f"{where}: reads metrics, which provider {rule.provider!r} does not fetch")
        if not missing:
            try:
                needed = {p for kind in kinds.closure(set(rule.kinds)) for p in kind.permissions}
            except (KeyError, ValueError):
                continue
            uncovered = sorted(needed - set(rule.permissions))
            if uncovered:
                problems.append(f"{where}: permissions do not cover its kinds' {uncovered}")
    return problems
