"""Scan orchestration, provider-agnostic: scopes concurrently; in each scope every kind an enabled
rule needs is listed once (dependencies first) and every enabled rule runs over that one listing.

Failures stay where they happen: a kind that cannot be listed (access denied, throttling that
outlasts the SDK's retries, any exception) fails in that scope only, and only the rules that need
it are skipped there; a scope fails as a whole only when nothing in it could be listed. A failing
scope never stops or corrupts the others.
"""

from __future__ import annotations

import datetime as dt
import logging
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass, field, replace
from typing import Any

from cloudwaste.scanner import relations
from cloudwaste.scanner.domain import (
    BILLING_UNAVAILABLE,
    NO_BILLING_SOURCE,
    CostReport,
    FindingDraft,
    HistorySeries,
    Resource,
    ScopeOutcome,
    severity_for,
)
from cloudwaste.scanner.kinds import Kind, KindRegistry
from cloudwaste.scanner.kinds import load_all as load_kinds
from cloudwaste.scanner.metrics import KIND_FAILURES, RULE_FAILURES
from cloudwaste.scanner.providers import SEE_THE_LOG, Provider, ProviderRegistry
from cloudwaste.scanner.providers import load_all as load_providers
from cloudwaste.scanner.rules import Context, Metric, Registry, Rule, SeriesKey

log = logging.getLogger(__name__)


def _explain(provider: Provider, exc: BaseException, event: str, **extra: str) -> str:
    """The provider's safe message for `exc`, logged as a warning with `extra`; an error the
    provider does not know (its message sends the reader to the log) is logged with its traceback."""
    why = provider.describe_error(exc)
    log.warning(event, extra={**extra, "error": why}, exc_info=exc if why.endswith(SEE_THE_LOG) else None)
    return why


# Options per provider key, e.g. {"aws": {"endpoint_url": "http://127.0.0.1:5000"}}; built by
# `providers.options_from_settings(settings)`.
ProviderOptions = Mapping[str, Mapping[str, Any]]


HISTORY_DAYS = 30  # a finding's metric history: 30 days of hourly points (720)
HISTORY_PERIOD_S = 3600


@dataclass(frozen=True)
class MetricQuery:
    """One daily series to fetch: `metric` of the resource `resource_id` over `days`."""

    resource_id: str
    dimensions: tuple[tuple[str, str], ...]  # (name, value), the metric's main dimension first
    metric: Metric
    days: int
    region: str = ""  # where the resource is (Azure Monitor answers per location)

    @property
    def key(self) -> SeriesKey:
        return (self.resource_id, self.metric.name, self.days)


def metric_queries(
    resources: Iterable[Resource], rules: Mapping[str, tuple[Rule, Mapping[str, Any]]], ctx: Context
) -> tuple[list[MetricQuery], dict[str, str]]:
    """The series the metric rules need: for each rule, its metrics for the resources it could
    flag (its `candidate` test), each (resource, metric, window) once. A candidate test that
    raises fails that rule here (rule key -> message)."""
    by_kind: dict[str, list[tuple[Rule, Mapping[str, Any]]]] = {}
    for rule, params in rules.values():
        if rule.metrics:
            by_kind.setdefault(rule.resource_kind, []).append((rule, params))
    queries: dict[SeriesKey, MetricQuery] = {}
    errors: dict[str, str] = {}
    for res in resources:
        for rule, params in by_kind.get(res.kind, ()):
            if rule.key in errors:
                continue
            try:
                wanted = rule.candidate is None or rule.candidate(res, params, ctx)
            except Exception:
                log.exception("candidate test failed", extra={"rule": rule.key})
                errors[rule.key] = "the rule failed choosing what to measure; see the scanner log"
                continue
            if wanted:
                days = rule.metric_window(params)
                for m in rule.metrics:
                    q = MetricQuery(res.resource_id, m.dimensions(res), m, days, res.region)
                    queries.setdefault(q.key, q)
    return list(queries.values()), errors


@dataclass(frozen=True)
class ScanTarget:
    provider: str  # a registered provider key
    access: Mapping[str, Any]
    scopes: Sequence[str] = ()  # empty: every scope enabled for the account
    rule_parameters: Mapping[str, Any] | None = None  # {rule key: {parameter: value}}


@dataclass(frozen=True)
class ScanPlan:
    """A resolved target: connected, scopes known, rules and kinds chosen. `scan_scopes` runs it."""

    provider: Provider
    connection: Any
    scopes: list[str]
    rules: dict[str, tuple[Rule, dict[str, Any]]]  # enabled rules with their effective params
    kinds: list[Kind]  # what those rules need, dependencies first
    params: dict[str, dict[str, Any]] = field(default_factory=dict)  # every rule, `enabled` included


def _rule_params(params: Mapping[str, Any]) -> dict[str, Any]:
    """The parameters a rule evaluates with: its own, without the engine's `enabled` switch."""
    return {k: v for k, v in params.items() if k != "enabled"}


def evaluate(
    resources: Iterable[Resource],
    rules: Mapping[str, tuple[Rule, Mapping[str, Any]]],
    ctx: Context,
) -> tuple[list[FindingDraft], dict[str, str]]:
    """Runs each rule on the resources of its kind. A rule that raises is reported (rule key ->
    message) and its findings in this scope are dropped: a rule that did not run over every
    resource must not make the store resolve anything."""
    by_kind: dict[str, list[tuple[Rule, Mapping[str, Any]]]] = {}
    for rule, params in rules.values():
        by_kind.setdefault(rule.resource_kind, []).append((rule, params))
    drafts: list[FindingDraft] = []
    failures: dict[str, int] = {}
    for res in resources:
        for rule, params in by_kind.get(res.kind, ()):
            try:
                detection = rule.evaluate(res, params, ctx)
            except Exception:
                if rule.key not in failures:
                    log.exception("rule failed", extra={"rule": rule.key, "kind": res.kind})
                failures[rule.key] = failures.get(rule.key, 0) + 1
                continue
            if detection is not None:
                drafts.append(FindingDraft(res, detection, severity_for(detection.monthly_cost)))
    errors = {
        key: f"the rule failed on {n} resource(s); its findings here were left as they were (see the scanner log)"
        for key, n in failures.items()
    }
    return [d for d in drafts if d.detection.scenario not in errors], errors


class Engine:
    """Scans one account: `resolve_scopes(target)` then `scan_scopes(plan, on_scope)`, or `scan`.

    `options`: {provider key: options} (see `providers.options_from_settings`). For the former
    signature `Engine(registry, endpoint_url, concurrency)`, a string is given to every provider as
    its `endpoint_url` option.
    """

    def __init__(
        self,
        registry: Registry,
        options: ProviderOptions | str | None = None,
        region_concurrency: int = 4,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
        *,
        providers: ProviderRegistry | None = None,
        kinds: KindRegistry | None = None,
    ) -> None:
        self.registry = registry
        self.providers = providers if providers is not None else load_providers()
        self.kinds = kinds if kinds is not None else load_kinds()
        if isinstance(options, str):
            options = {key: {"endpoint_url": options} for key in self.providers.keys()}
        self.options: dict[str, Mapping[str, Any]] = dict(options or {})
        self.region_concurrency = max(1, region_concurrency)
        self.clock = clock

    # --- planning ---------------------------------------------------------------------------------

    def plan_rules(
        self, provider: str, rule_parameters: Mapping[str, Any] | None
    ) -> tuple[dict[str, tuple[Rule, dict[str, Any]]], list[Kind], dict[str, dict[str, Any]]]:
        """Validates the overrides; returns the enabled rules with their parameters, the kinds
        they need (dependencies first) and every rule's effective parameters."""
        params = self.registry.effective_params(rule_parameters, provider)
        rules = {
            key: (self.registry.rules[key], _rule_params(p)) for key, p in params.items() if p["enabled"]
        }
        needed = {k for rule, _ in rules.values() for k in rule.kinds}
        return rules, self.kinds.closure(needed), params

    def resolve_scopes(self, target: ScanTarget) -> ScanPlan:
        """Checks the rule parameters, connects to the account and lists its scopes. Raises domain
        errors (unknown provider, bad parameters, access refused, provider unreachable)."""
        provider = self.providers.get(target.provider)
        rules, kinds, params = self.plan_rules(provider.key, target.rule_parameters)
        connection = provider.connect(target.access, self.options.get(provider.key, {}))
        scopes = provider.list_scopes(connection, list(target.scopes))
        return ScanPlan(provider, connection, scopes, rules, kinds, params)

    # --- scanning ---------------------------------------------------------------------------------

    def scan_scope(
        self, plan: ScanPlan, scope: str, should_stop: Callable[[], bool] = lambda: False
    ) -> ScopeOutcome:
        """Lists the plan's kinds in one scope, each once, and runs the rules whose kinds are complete."""
        now = self.clock()
        provider = plan.provider
        listings: dict[str, list[Resource]] = {}
        errors: dict[str, str] = {}
        unreached: dict[str, frozenset[str]] = {}  # kind -> regions its listing could not reach
        for kind in plan.kinds:
            if should_stop():
                return ScopeOutcome(scope, False, "interrupted: the scanner was shutting down")
            missing = [d for d in kind.requires if d not in listings]
            if missing:
                errors[kind.key] = f"not listed: it needs {', '.join(missing)}, which failed"
                KIND_FAILURES.labels(provider.key, kind.key).inc()
                continue
            try:
                listings[kind.key] = provider.list_kind(
                    plan.connection, kind, scope, now, {d: listings[d] for d in kind.requires}
                )
                # regions its listing (or a listing it read) could not reach: incomplete there
                regions = dict(getattr(listings[kind.key], "unreached", None) or {})
                for dep in kind.requires:
                    regions.update({r: f"{dep} incomplete" for r in unreached.get(dep, ())})
                if regions:
                    unreached[kind.key] = frozenset(regions)
                    errors[kind.key] = "incomplete: " + "; ".join(
                        f"{region}: {why}" for region, why in sorted(regions.items())
                    )[:400]
                    KIND_FAILURES.labels(provider.key, kind.key).inc()
            except Exception as exc:
                errors[kind.key] = _explain(provider, exc, "kind failed", scope=scope, kind=kind.key)
                KIND_FAILURES.labels(provider.key, kind.key).inc()
        if errors and not listings:
            causes = [e for e in errors.values() if not e.startswith("not listed")] or list(errors.values())
            first = causes[0]
            message = first if len(set(errors.values())) == 1 else f"every resource kind failed; {first}"
            return ScopeOutcome(scope, False, message[:500], kind_errors=errors)
        try:
            prices = provider.prices(scope)
        except Exception as exc:
            return ScopeOutcome(
                scope, False, f"no prices: {provider.describe_error(exc)}", kind_errors=errors
            )
        listings = relations.resolve(plan.kinds, listings, unreached)
        index = {(r.kind, r.resource_id): r for rs in listings.values() for r in rs}
        ctx = Context(now=now, prices=prices, lookup=lambda k, rid: index.get((k, rid)))
        # a rule runs when its kinds are listed; a kind it looks up must be complete (a lookup
        # that misses in an unreached region would read as "gone")
        runnable = {
            key: (rule, params)
            for key, (rule, params) in plan.rules.items()
            if all(k in listings for k in rule.kinds) and not any(k in unreached for k in rule.needs)
        }
        resources = [r for rs in listings.values() for r in rs]
        ctx, metric_errors = self._metrics(plan, scope, now, resources, runnable, ctx)
        runnable = {k: v for k, v in runnable.items() if k not in metric_errors}
        drafts, rule_errors = evaluate(resources, runnable, ctx)
        rule_errors = {**metric_errors, **rule_errors}
        for key in rule_errors:
            RULE_FAILURES.labels(provider.key, key).inc()
        return ScopeOutcome(
            scope=scope,
            succeeded=True,
            resources_scanned=len(resources),
            findings=drafts,
            kinds_listed=frozenset(listings),
            kind_errors=errors,
            rule_errors=rule_errors,
            rule_params={
                key: dict(params) for key, (_, params) in runnable.items() if key not in rule_errors
            },
            listed=frozenset(index),
            unreached=unreached,
        )

    def history_metrics(self, kind: str) -> tuple[Metric, ...]:
        """The metric series a kind has: every metric its provider's rules read of it."""
        found: dict[str, Metric] = {}
        for rule in self.registry.rules.values():
            if rule.resource_kind == kind:
                for m in rule.metrics:
                    found.setdefault(m.name, m)
        return tuple(found.values())

    def collect_history(
        self, plan: ScanPlan, outcomes: Sequence[ScopeOutcome], should_stop: Callable[[], bool] = lambda: False
    ) -> dict[tuple[str, str], dict[str, HistorySeries]]:
        """The full metric history (HISTORY_DAYS of HISTORY_PERIOD_S points) of every finding's
        resource, {(kind, resource id): {metric name: series}}, one batch per scope, the scopes
        concurrently. Collected once the run has ended (the findings do not wait for it), for the
        enricher. Best effort: a provider without it, or a scope whose fetch fails, gives nothing
        for that scope (logged)."""
        now = self.clock()

        def one(outcome: ScopeOutcome) -> dict:
            if should_stop() or not outcome.succeeded or not outcome.findings:
                return {}
            resources = {(d.resource.kind, d.resource.resource_id): d.resource for d in outcome.findings}
            metrics_of = {kind: self.history_metrics(kind) for kind, _ in resources}
            queries = {}
            for (kind, _), r in resources.items():
                for m in metrics_of[kind]:
                    q = MetricQuery(r.resource_id, m.dimensions(r), m, HISTORY_DAYS, r.region)
                    queries.setdefault(q.key, q)
            if not queries:
                return {}
            try:
                series = plan.provider.history(
                    plan.connection, outcome.scope, list(queries.values()), now, HISTORY_PERIOD_S
                )
            except NotImplementedError:
                return {}
            except Exception as exc:
                _explain(plan.provider, exc, "metric history failed", scope=outcome.scope)
                return {}
            out = {}
            for (kind, rid) in resources:
                mine = {m.name: series[(rid, m.name)] for m in metrics_of[kind] if (rid, m.name) in series}
                if mine:
                    out[(kind, rid)] = mine
            return out

        collected: dict[tuple[str, str], dict[str, HistorySeries]] = {}
        with ThreadPoolExecutor(max_workers=self.region_concurrency, thread_name_prefix="history") as pool:
            for found in pool.map(one, outcomes):
                collected.update(found)
        return collected

    def collect_costs(self, plan: ScanPlan, outcomes: Sequence[ScopeOutcome]) -> CostReport:
        """What the account's bill says of the run's findings (one read for the whole run, after
        it ended, like the history): a CostReport, with the reason when there is none."""
        resources = {
            (d.resource.kind, d.resource.resource_id): d.resource
            for o in outcomes
            if o.succeeded
            for d in o.findings
        }
        try:
            report = plan.provider.costs(plan.connection, plan.scopes, list(resources.values()), self.clock())
            if report.note:  # a source that could not be read, a subscription left out...
                log.warning("billing incomplete", extra={"error": report.note})
            days = [d for per in report.daily.values() for d in per]
            if days and report.window_end and max(days) + dt.timedelta(days=1) < report.window_end:
                # bills lag a day or two: the days not billed yet are not days without cost
                report = replace(report, window_end=max(days) + dt.timedelta(days=1))
            return report
        except NotImplementedError as exc:
            return CostReport.unavailable(NO_BILLING_SOURCE, str(exc))
        except Exception as exc:
            why = _explain(plan.provider, exc, "billing failed")
            return CostReport.unavailable(BILLING_UNAVAILABLE, f"the bill could not be read: {why}")

    def _metrics(self, plan: ScanPlan, scope: str, now, resources, runnable, ctx: Context):
        """Fetches, in one batch for the scope, the series the metric rules need; returns the
        context that serves them and the metric rules that cannot run here (rule key -> why): a
        fetch that fails fails them, never reads as zero."""
        queries, errors = metric_queries(resources, runnable, ctx)
        if not queries:
            return ctx, errors
        try:
            fetched = plan.provider.metrics(plan.connection, scope, queries, now)
        except Exception as exc:
            why = _explain(plan.provider, exc, "metrics failed", scope=scope)
            return ctx, {
                **errors,
                **{k: f"metrics unavailable: {why}" for k, (r, _) in runnable.items() if r.metrics},
            }
        # a window of 13.5 days was fetched as 14 (Rule.metric_window): read it the same way
        return replace(
            ctx, metric=lambda res, name, days: fetched.get((res.resource_id, name, math.ceil(days)))
        ), errors

    def scan_scopes(
        self,
        plan: ScanPlan,
        on_scope: Callable[[ScopeOutcome], None],
        should_stop: Callable[[], bool] = lambda: False,
    ) -> list[ScopeOutcome]:
        """Scans the plan's scopes concurrently; `on_scope` persists each outcome as it comes. A
        scope whose outcome cannot be persisted is reported again as failed."""
        provider = plan.provider

        def one(scope: str) -> ScopeOutcome:
            if should_stop():
                return ScopeOutcome(scope, False, "interrupted: the scanner was shutting down")
            try:
                return self.scan_scope(plan, scope, should_stop)
            except Exception as exc:
                log.exception("scope failed", extra={"scope": scope})
                return ScopeOutcome(scope, False, provider.describe_error(exc))

        outcomes = []
        with ThreadPoolExecutor(max_workers=self.region_concurrency, thread_name_prefix="scope") as pool:
            futures = [pool.submit(one, s) for s in plan.scopes]
            for fut in as_completed(futures):
                outcome = fut.result()
                try:
                    on_scope(outcome)
                except Exception:  # persisting failed: the scope counts as failed, others go on
                    log.exception("saving scope failed", extra={"scope": outcome.scope})
                    outcome = ScopeOutcome(
                        outcome.scope, False, "could not save findings; see the scanner log"
                    )
                    on_scope(outcome)
                outcomes.append(outcome)
        return outcomes

    def scan(
        self,
        target: ScanTarget,
        on_scope: Callable[[ScopeOutcome], None] = lambda outcome: None,
        should_stop: Callable[[], bool] = lambda: False,
    ) -> list[ScopeOutcome]:
        """resolve_scopes + scan_scopes in one call."""
        return self.scan_scopes(self.resolve_scopes(target), on_scope, should_stop)
