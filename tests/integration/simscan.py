"""Scanning a simulated estate (cloudwaste.sim) with the scanner engine, for the test_sim_* tests:
`scan` runs the engine against the moto server and checks that every scope scanned cleanly,
`findings` keys what it found by (resource id, scenario)."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Collection, Iterable, Sequence

from cloudwaste.scanner import providers
from cloudwaste.scanner.domain import FindingDraft, ScopeOutcome
from cloudwaste.scanner.engine import Engine, ScanTarget
from cloudwaste.scanner.rules import load_all as load_rules


def scan(
    endpoint: str,
    account: str,
    regions: Sequence[str],
    *,
    external_id: str = "ext-x",
    concurrency: int = 3,
    only_rules: Collection[str] | None = None,
    calls: Counter | None = None,
    errors_in_kinds: Collection[str] | None = None,
    errors_in_rules: Collection[str] | None = None,
) -> list[ScopeOutcome]:
    """Scans `regions` of `account` with every AWS rule, or with `only_rules` (the others are
    disabled through the target's rule parameters, so neither they nor the kinds only they need
    run). `calls`, when given, counts every API call made by (caller, operation).

    Asserts that every scope succeeded without a kind or rule error; with `errors_in_kinds` (or
    `errors_in_rules`), only the errors of these kinds (or rules) count: the others are other
    modules' to test."""
    aws_rules = load_rules().for_provider("aws")
    parameters = None
    if only_rules is not None:
        unknown = set(only_rules) - {r.key for r in aws_rules}
        assert not unknown, f"not AWS rules: {sorted(unknown)}"
        parameters = {r.key: {"enabled": r.key in only_rules} for r in aws_rules}
    target = ScanTarget(
        "aws",
        {"role_arn": f"arn:aws:iam::{account}:role/CloudWasteScanner", "external_id": external_id},
        list(regions),
        parameters,
    )
    engine = Engine(load_rules(), {"aws": {"endpoint_url": endpoint}}, concurrency)
    if calls is None:
        outcomes = engine.scan(target)
    else:
        lock = threading.Lock()

        def observe(provider, caller, operation):
            with lock:
                calls[(caller, operation)] += 1

        with providers.observe_calls(observe):
            outcomes = engine.scan(target)
    problems = []
    for o in outcomes:
        kind_errors = {
            k: e for k, e in o.kind_errors.items() if errors_in_kinds is None or k in errors_in_kinds
        }
        rule_errors = {
            k: e for k, e in o.rule_errors.items() if errors_in_rules is None or k in errors_in_rules
        }
        if not o.succeeded or kind_errors or rule_errors:
            problems.append(
                f"{o.scope}: succeeded={o.succeeded} {o.error_message!r} "
                f"kind errors {kind_errors} rule errors {rule_errors}"
            )
    assert not problems, "the scan had errors:\n" + "\n".join(problems)
    return outcomes


def per_operation(calls: Counter) -> Counter:
    """`scan`'s call counts by operation alone, whichever caller made them."""
    counts: Counter = Counter()
    for (_caller, operation), n in calls.items():
        counts[operation] += n
    return counts


def findings(
    outcomes: Iterable[ScopeOutcome], kinds: Collection[str] | None = None
) -> dict[tuple[str, str], FindingDraft]:
    """The findings of every scope (of `kinds` only, when given) by (resource id, scenario)."""
    return {
        (f.resource.resource_id, f.detection.scenario): f
        for o in outcomes
        for f in o.findings
        if kinds is None or f.resource.kind in kinds
    }
