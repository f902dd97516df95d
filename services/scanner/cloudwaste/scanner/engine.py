"""Scan orchestration: regions concurrently, each kind listed once per region, every rule evaluated.

A failing region becomes a failed RegionOutcome; it never stops or corrupts the other regions.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor, as_completed
from dataclasses import dataclass

from cloudwaste.core.errors import FailedPrecondition
from cloudwaste.scanner.domain import FindingDraft, RegionOutcome, Resource, severity_for
from cloudwaste.scanner.pricing import AwsPrices
from cloudwaste.scanner.providers import aws
from cloudwaste.scanner.rules import Context, Registry

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ScanTarget:
    provider: str
    access: dict
    regions: list[str]


def evaluate(
    resources: list[Resource], registry: Registry, now: dt.datetime, region: str
) -> list[FindingDraft]:
    """Runs every registered rule on the resources of its kind."""
    ctx = Context(now=now, prices=AwsPrices(region))
    params = {r.key: r.resolve_params() for r in registry}
    drafts = []
    for res in resources:
        for rule in registry.for_kind(res.kind):
            try:
                detection = rule.evaluate(res, params[rule.key], ctx)
            except Exception:
                log.exception("rule failed", extra={"rule": rule.key, "kind": res.kind})
                continue
            if detection is not None:
                drafts.append(FindingDraft(res, detection, severity_for(detection.monthly_cost)))
    return drafts


class Engine:
    def __init__(
        self,
        registry: Registry,
        aws_endpoint_url: str = "",
        region_concurrency: int = 4,
        clock: Callable[[], dt.datetime] = lambda: dt.datetime.now(dt.UTC),
    ) -> None:
        self.registry = registry
        self.aws_endpoint_url = aws_endpoint_url
        self.region_concurrency = region_concurrency
        self.clock = clock

    def resolve_regions(self, target: ScanTarget) -> tuple[aws.AwsSession, list[str]]:
        if target.provider != "aws":
            raise FailedPrecondition(f"provider {target.provider} is not supported yet; only aws is")
        a = target.access
        session = aws.AwsSession(
            aws.AwsAccess(a.get("account_id", ""), a["role_arn"], a.get("external_id", "")),
            self.aws_endpoint_url,
        )
        return session, list(target.regions) or session.enabled_regions()

    def scan_regions(
        self,
        session: aws.AwsSession,
        regions: list[str],
        on_region: Callable[[RegionOutcome], None],
        should_stop: Callable[[], bool] = lambda: False,
    ) -> list[RegionOutcome]:
        now = self.clock()

        def one(region: str) -> RegionOutcome:
            if should_stop():
                return RegionOutcome(region, False, "interrupted: the scanner was shutting down")
            try:
                resources = aws.list_region(session, region, now)
                drafts = evaluate(resources, self.registry, now, region)
                return RegionOutcome(region, True, "", len(resources), drafts)
            except Exception as exc:
                log.warning("region failed", extra={"region": region, "error": aws.describe_error(exc)})
                return RegionOutcome(region, False, aws.describe_error(exc))

        outcomes = []
        with ThreadPoolExecutor(max_workers=self.region_concurrency, thread_name_prefix="region") as pool:
            futures = [pool.submit(one, r) for r in regions]
            for fut in as_completed(futures):
                outcome = fut.result()
                try:
                    on_region(outcome)
                except Exception as exc:  # persisting failed: the region counts as failed, others go on
                    log.exception("saving region failed", extra={"region": outcome.region})
                    outcome = RegionOutcome(
                        outcome.region, False, f"could not save findings: {exc.__class__.__name__}"
                    )
                    on_region(outcome)
                outcomes.append(outcome)
        return outcomes
