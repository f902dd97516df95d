"""Scanning the simulated Azure and GCP estates (cloudwaste.sim.azure_estate / gcp_estate) with
the scanner engine: `scan` runs every rule of the provider (or `only_rules`) over the estate's
scopes through the real SDKs and the local endpoint, and checks that every scope scanned cleanly;
`exact` compares what was found with the estate's ground truth."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Collection, Iterable, Sequence

from cloudwaste.scanner import providers
from cloudwaste.scanner.domain import FindingDraft, ScopeOutcome
from cloudwaste.scanner.engine import Engine, ScanTarget
from cloudwaste.scanner.rules import load_all as load_rules
from cloudwaste.sim.truth import TruthResource


def scan(
    provider: str,
    estate,
    scopes: Sequence[str] = (),
    *,
    only_rules: Collection[str] | None = None,
    calls: Counter | None = None,
    check: bool = True,
    concurrency: int = 2,
) -> list[ScopeOutcome]:
    """Scans the estate's scopes (all it can see when `scopes` is empty) with every rule of
    `provider`, or only `only_rules` (the others disabled through the rule parameters). `calls`
    counts every API call by (caller, operation). With `check`, asserts that every scope
    succeeded without a kind or rule error."""
    rules = load_rules().for_provider(provider)
    parameters = None
    if only_rules is not None:
        unknown = set(only_rules) - {r.key for r in rules}
        assert not unknown, f"not {provider} rules: {sorted(unknown)}"
        parameters = {r.key: {"enabled": r.key in only_rules} for r in rules}
    target = ScanTarget(provider, estate.access, list(scopes), parameters)
    engine = Engine(load_rules(), {provider: estate.options}, concurrency)
    if calls is None:
        outcomes = engine.scan(target)
    else:
        lock = threading.Lock()

        def observe(p, caller, operation):
            with lock:
                calls[(caller, operation)] += 1

        with providers.observe_calls(observe):
            outcomes = engine.scan(target)
    if check:
        problems = [
            f"{o.scope}: succeeded={o.succeeded} {o.error_message!r} kinds {o.kind_errors} rules {o.rule_errors}"
            for o in outcomes
            if not o.succeeded or o.kind_errors or o.rule_errors
        ]
        assert not problems, "the scan had errors:\n" + "\n".join(problems)
    return outcomes


def findings(outcomes: Iterable[ScopeOutcome]) -> dict[tuple[str, str], FindingDraft]:
    return {(d.resource.resource_id, d.detection.scenario): d for o in outcomes for d in o.findings}


def exact(outcomes: Iterable[ScopeOutcome], truth: Iterable[TruthResource], rules: Collection[str] | None = None) -> None:
    """Every waste resource of the truth (of `rules`, when given) is found by its rule, and
    nothing else is found: no near miss fires, no resource is flagged twice."""
    found = findings(outcomes)
    expected = {
        (t.resource_id, t.scenario) for t in truth if t.scenario and (rules is None or t.scenario in rules)
    }
    got = {k for k in found if rules is None or k[1] in rules}
    missed, extra = sorted(expected - got), sorted(got - expected)
    assert not missed and not extra, f"missed {missed[:10]} ({len(missed)}), extra {extra[:10]} ({len(extra)})"
