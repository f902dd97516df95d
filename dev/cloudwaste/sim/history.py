"""A simulated decision history: weekly scans of an AWS estate whose findings users decide over time.

The waste model learns from exported decisions, and its held-out score means little without the
best score possible. Here every explicit decision is drawn by the simulated user
(`DecisionModel.draw`) at a known moment from a known score, so each labeled finding carries the
true probability that it was deleted: the oracle a trained model is compared with.

Nothing the product does is re-implemented. Findings are AWS rules' own "fires" fixtures with
their times stretched and their region and tags redrawn, judged by the rule at every scan (so
confidence and cost can change as a resource ages); each scan's ML row is the scanner's
`base_row` with the enricher's `anonymize_tags` / `temporal_features`; labels are the store's
`label_values`, written on every row of the finding's cycle as the scanner does.

The process, per weekly scan: new resources appear (most at the first scan, the rest across the
weeks); every open finding gets one ML row; until the next scan each undecided finding is decided
with a weekly probability (a deletion removes the resource) or, with a probability rising with
the same score, deleted outside CloudWaste: the next scan finds it gone and labels it "deleted"
with label_source "implicit", a signal that is real but biased. Kept and ignored findings stay
and keep getting rows (an ignore does not expire within the simulated weeks). Weekly incremental exports (`write_export`) repeat a row labeled after it
was first exported, as the exporter does.
"""

from __future__ import annotations

import bisect
import dataclasses
import datetime as dt
import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path

from cloudwaste.core.regions import known_regions
from cloudwaste.core.settings import HashKey
from cloudwaste.enricher.features import anonymize_tags, temporal_features
from cloudwaste.scanner.domain import FindingDraft, Resource, severity_for
from cloudwaste.scanner.mlrows import base_row
from cloudwaste.scanner.pricing import AwsPrices
from cloudwaste.scanner.rules import Context, Rule, load_all
from cloudwaste.scanner.store import label_values

from .profile import ROLES, DecisionModel, draw_tags

SCAN_EVERY = dt.timedelta(days=7)
EXPORT_AFTER_SCAN = SCAN_EVERY - dt.timedelta(hours=1)  # each week's export, just before the next scan
DECIDED_WITHIN_HOURS = 160.0  # a decision falls between its scan and that week's export
PRESENT_AT_START = 0.4  # share of resources already there at the first scan
HASH_KEY = HashKey(key=b"sim-history-hash-key-" + b"h" * 32, key_id="sim-history-1")

Key = tuple[str, str]  # (resource_hash, detection_scenario): how the ML rows name a finding


def p_deleted(model: DecisionModel, score: float) -> float:
    """P(draw() == "deleted") for a score: not ignored, then deleted with sigmoid(score), and a
    share `noise` of decisions replaced by a uniform pick among the three."""
    p_ignore = model.base_ignore + model.ambiguous_ignore * math.exp(-(score * score) / 2.0)
    return (1.0 - model.noise) * (1.0 - p_ignore) / (1.0 + math.exp(-score)) + model.noise / 3.0


@dataclass
class SimFinding:
    """One finding's simulated life, raw values included: kept in memory, never written."""

    key: Key
    resource_id: str
    tags: dict[str, str]
    scenario: str
    first_seen: dt.datetime
    age_first: float | None  # days, as its first ML row says
    cost_first: float
    rows: list[dict] = field(default_factory=list, repr=False)
    decision: str | None = None  # deleted / kept / ignored; None while undecided
    label_source: str | None = None  # explicit / implicit
    labeled_at: dt.datetime | None = None
    age_decided: float | None = None  # explicit decisions: the inputs of DecisionModel.score
    cost_decided: float | None = None
    gone: bool = False  # no longer listed from the next scan on


@dataclass(frozen=True)
class History:
    """ML rows as the exporter writes them (EXPORT_SCHEMA columns, JSON as text, each row with its
    finding's final label), the findings, and the oracle: for each explicitly decided finding the
    true probability that its decision was "deleted"."""

    rows: list[dict]
    findings: list[SimFinding]
    oracle: dict[Key, float]
    scans: list[dt.datetime]
    exports: list[dt.datetime]
    model: DecisionModel = field(default_factory=DecisionModel)

    def visible_oracle(self, *, hide_notes: bool = True, first_row: bool = True) -> dict[Key, float]:
        """The oracle restricted to what a finding's first ML row can carry: the free-text notes tag
        never reaches a row (its "keep" shift is averaged over its share among all findings), and
        the row gives the age at first detection, not at the decision."""
        m = self.model
        decided = [f for f in self.findings if f.label_source == "explicit"]

        def score(f: SimFinding, tags: dict[str, str], first: bool = first_row) -> float:
            age, cost = (f.age_first, f.cost_first) if first else (f.age_decided, f.cost_decided)
            return m.score(tags=tags, scenario=f.scenario, age_days=age, monthly_cost=cost)

        # the notes' shift of the score, and how often it applies, over the whole estate
        shifts = [score(f, f.tags, True) - score(f, _without_notes(f.tags), True) for f in self.findings]
        shifts = [s for s in shifts if s]
        share, shift = len(shifts) / len(self.findings), (sum(shifts) / len(shifts) if shifts else 0.0)
        out = {}
        for f in decided:
            if not hide_notes:
                out[f.key] = p_deleted(m, score(f, f.tags))
                continue
            s0 = score(f, _without_notes(f.tags))
            out[f.key] = (1 - share) * p_deleted(m, s0) + share * p_deleted(m, s0 + shift)
        return out


def _without_notes(tags: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in tags.items() if k != "notes"}


@dataclass
class _Resource:
    """A rule's fixture made into one resource of the estate; `detect(now)` is the rule's verdict."""

    rule: Rule
    params: dict
    resource: Resource
    related: dict
    prices: AwsPrices
    arrival: int
    tenant: str
    account: str

    def detect(self, now: dt.datetime):
        fx = self.rule.fixtures
        ctx = Context(
            now=now,
            prices=self.prices,
            lookup=lambda k, i: self.related.get((k, i)),
            metric=lambda r, name, days: fx.series.get((fx.fires.resource_id, name, math.ceil(days))),
        )
        return self.rule.evaluate(self.resource, self.params, ctx)


def rebase_fixture(
    r: Resource, fixture_now: dt.datetime, now: dt.datetime, stretch: float, region: str
) -> Resource:
    """A rule fixture's resource moved to `region` and to `now`, every time in it `stretch` times as
    far from `now` as it was from the fixture's own now: the same finding, older or younger."""

    def t(v):
        return now - (fixture_now - v) * stretch if isinstance(v, dt.datetime) else v

    return dataclasses.replace(
        r, region=region, created_at=t(r.created_at), attributes={k: t(v) for k, v in r.attributes.items()}
    )


def _estate(n: int, rng: random.Random, scans: list[dt.datetime]) -> list[_Resource]:
    """n resources, each firing its rule at its first scan; tags from the dev estate's `draw_tags`."""
    rules = [r for r in load_all() if r.fixtures is not None and r.provider == "aws"]
    params = {r.key: r.resolve_params() for r in rules}
    regions = sorted(known_regions("aws"))
    prices: dict[str, AwsPrices] = {}
    accounts = [(f"{100000000000 + i}", f"tenant-{i % 8}") for i in range(40)]
    out: list[_Resource] = []
    while len(out) < n:
        rule = rng.choice(rules)
        fx = rule.fixtures
        arrival = 0 if rng.random() < PRESENT_AT_START or len(scans) == 1 else rng.randrange(1, len(scans))
        now = scans[arrival]
        stretch = rng.lognormvariate(0.0, 1.0)  # every time of the fixture, `stretch` times as old
        region = rng.choice(regions)

        def rebase(r, fx=fx, now=now, stretch=stretch, region=region):
            return rebase_fixture(r, fx.now, now, stretch, region)

        kind = rule.resource_kind.rsplit(".", 1)[1]
        resource = dataclasses.replace(
            rebase(fx.fires),
            resource_id=f"{fx.fires.resource_id}-{len(out)}",
            tags=draw_tags(rng, kind if kind in ROLES else "instance"),
        )
        account, tenant = rng.choice(accounts)
        candidate = _Resource(
            rule,
            params[rule.key],
            resource,
            {(r.kind, r.resource_id): rebase(r) for r in fx.related},
            prices.setdefault(region, AwsPrices(region)),
            arrival,
            tenant,
            account,
        )
        if candidate.detect(now) is not None:  # a stretched fixture can become a near miss: draw again
            out.append(candidate)
    return out


def _row(res: _Resource, detection, now: dt.datetime, rng: random.Random) -> dict:
    draft = FindingDraft(res.resource, detection, severity_for(detection.monthly_cost))
    row = base_row(draft, key=HASH_KEY, tenant_id=res.tenant, account_ref=res.account, detected_at=now)
    del row["id"]  # never exported
    row["tags_anonymized"] = anonymize_tags(res.resource.tags)
    row["temporal_features"] = temporal_features(res.resource.created_at)
    row["enriched_at"] = now + dt.timedelta(seconds=rng.randint(5, 600))
    for name, value in row.items():
        if isinstance(value, dict):
            row[name] = json.dumps(value, sort_keys=True)
    return row


def simulate(
    resources: int = 5000,
    weeks: int = 10,
    seed: int = 0,
    start: dt.datetime = dt.datetime(2026, 1, 5, tzinfo=dt.UTC),
    decide_rate: float = 0.2,
    implicit_rate: float = 0.05,
) -> History:
    """`weeks` weekly scans of `resources` resources (each one finding). Each week an undecided open
    finding is decided with probability `decide_rate`; otherwise it is deleted outside CloudWaste
    with probability `implicit_rate` x 2 sigmoid(score) (as often as `implicit_rate` on average,
    more often the more the user would delete it). The same seed gives the same history."""
    from cloudwaste.exporter.export import EXPORT_SCHEMA

    scans = [start + i * SCAN_EVERY for i in range(weeks)]
    estate = _estate(resources, random.Random(seed), scans)
    act = random.Random(seed + 1_000_003)  # the users' draws, apart from the estate's
    model = DecisionModel()
    blank = dict.fromkeys(EXPORT_SCHEMA.names)
    findings: dict[int, SimFinding] = {}
    leaving: set[int] = set()  # deleted outside CloudWaste since the last scan
    for w, now in enumerate(scans):
        for i, res in enumerate(estate):
            f = findings.get(i)
            if res.arrival > w or (f is not None and f.gone):
                continue
            if i in leaving:  # found gone while open: the scanner's implicit label
                f.decision, f.label_source, f.labeled_at, f.gone = "deleted", "implicit", now, True
                continue
            detection = res.detect(now)
            if detection is None:  # no longer waste by the rule's own verdict: resolved, no label
                if f is not None:
                    f.gone = True
                continue
            row = blank | _row(res, detection, now, act)
            if f is None:
                f = findings[i] = SimFinding(
                    (row["resource_hash"], row["detection_scenario"]),
                    res.resource.resource_id,
                    res.resource.tags,
                    detection.scenario,
                    now,
                    row["resource_age_days"],
                    row["cost_monthly"],
                )
            f.rows.append(row)
            if f.decision is not None:
                continue
            score_inputs = {"tags": f.tags, "scenario": f.scenario, "monthly_cost": row["cost_monthly"]}
            if act.random() < decide_rate:
                when = now + dt.timedelta(hours=min(act.expovariate(1 / 36.0), DECIDED_WITHIN_HOURS))
                f.age_decided = _age(res.resource.created_at, when)
                f.cost_decided = row["cost_monthly"]
                f.decision = model.draw(act, age_days=f.age_decided, **score_inputs)
                f.label_source, f.labeled_at = "explicit", when
                f.gone = f.decision == "deleted"  # deleted through CloudWaste: not listed again
            elif w + 1 < len(scans):  # a deletion after the last scan is never seen
                s = model.score(age_days=row["resource_age_days"], **score_inputs)
                if act.random() < implicit_rate * 2.0 / (1.0 + math.exp(-s)):
                    leaving.add(i)
    rows, oracle = [], {}
    for f in findings.values():
        if f.label_source is not None:
            label = label_values(f.decision.upper(), f.labeled_at, f.first_seen, source=f.label_source)
            for row in f.rows:
                row.update(label, changed_at=max(row["enriched_at"], f.labeled_at))
        for row in f.rows:
            row["changed_at"] = row["changed_at"] or row["enriched_at"]
        rows.extend(f.rows)
        if f.label_source == "explicit":
            s = model.score(
                tags=f.tags, scenario=f.scenario, age_days=f.age_decided, monthly_cost=f.cost_decided
            )
            oracle[f.key] = p_deleted(model, s)
    rows.sort(key=lambda r: (r["detected_at"], r["resource_hash"], r["detection_scenario"]))
    exports = [t + EXPORT_AFTER_SCAN for t in scans]
    return History(rows, list(findings.values()), oracle, scans, exports, model)


def _age(created: dt.datetime | None, when: dt.datetime) -> float | None:
    return (when - created).total_seconds() / 86400.0 if created else None


def write_export(history: History, folder: Path, compression: str = "zstd") -> list[Path]:
    """The weekly incremental exports, oldest first: each holds the rows changed since the previous
    one (inserted, enriched or labeled), as they were at its time. A row labeled in a later week
    than it was written appears twice: unlabeled, then labeled with a newer changed_at."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from cloudwaste.exporter.export import EXPORT_SCHEMA

    weeks: list[list[dict]] = [[] for _ in history.exports]

    def week(t: dt.datetime) -> int:
        return bisect.bisect_right(history.exports, t)

    for row in history.rows:
        written = week(row["enriched_at"])
        if row["labeled_at"] is not None and week(row["changed_at"]) > written:
            unlabeled = label_values("OPEN", row["labeled_at"], row["labeled_at"])
            weeks[written].append(row | unlabeled | {"changed_at": row["enriched_at"]})
        weeks[week(row["changed_at"])].append(row)
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for at, rows in zip(history.exports, weeks, strict=True):
        if rows:
            path = folder / f"ml_training_data-{at:%Y%m%dT%H%M%SZ}.parquet"
            pq.write_table(pa.Table.from_pylist(rows, schema=EXPORT_SCHEMA), path, compression=compression)
            paths.append(path)
    return paths
