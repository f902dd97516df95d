"""The simulated decision history: its rows follow the scanner's rules, its oracle is the simulated
user's true probability, and its exports are what the trainer reads, with no raw identifier."""

from __future__ import annotations

import dataclasses
import math
import random

import numpy as np
import pyarrow.parquet as pq
import pytest
from cloudwaste.predictor.kinds import waste
from cloudwaste.sim import history
from cloudwaste.sim.profile import DecisionModel, draw_tags


@pytest.fixture(scope="module")
def sim() -> history.History:
    return history.simulate(resources=600, weeks=6, seed=11, decide_rate=0.25, implicit_rate=0.08)


def test_the_same_seed_gives_the_same_history(sim):
    again = history.simulate(resources=600, weeks=6, seed=11, decide_rate=0.25, implicit_rate=0.08)
    assert again.rows == sim.rows
    assert again.oracle == sim.oracle
    other = history.simulate(resources=600, weeks=6, seed=12, decide_rate=0.25, implicit_rate=0.08)
    assert other.rows != sim.rows


def test_every_outcome_happens(sim):
    outcomes = {(f.decision, f.label_source) for f in sim.findings}
    assert outcomes >= {
        ("deleted", "explicit"),
        ("kept", "explicit"),
        ("ignored", "explicit"),
        ("deleted", "implicit"),
        (None, None),
    }
    assert {f.first_seen for f in sim.findings} == set(sim.scans)  # resources keep arriving


def test_a_finding_has_a_row_for_each_scan_while_it_is_open(sim):
    last_scan = sim.scans[-1]
    for f in sim.findings:
        seen = [r["detected_at"] for r in f.rows]
        first = sim.scans.index(f.first_seen)
        assert seen == sim.scans[first : first + len(seen)], "one row per weekly scan, none skipped"
        after = seen[-1] + history.SCAN_EVERY
        if f.label_source == "implicit":  # labeled by the scan that found it gone
            assert f.labeled_at == after
        elif f.decision == "deleted":  # deleted in CloudWaste: not listed by the next scan
            assert seen[-1] < f.labeled_at < after
        elif not f.gone:  # kept, ignored or undecided: seen until the last scan
            assert seen[-1] == last_scan


def test_the_label_is_on_every_row_of_the_finding(sim):
    for f in sim.findings:
        for r in f.rows:
            assert (r["user_action"], r["label_source"], r["labeled_at"]) == (
                f.decision,
                f.label_source,
                f.labeled_at,
            )
            if f.labeled_at is not None:
                assert r["time_to_action_hours"] == pytest.approx(
                    (f.labeled_at - f.first_seen).total_seconds() / 3600, abs=1e-3
                )
                assert r["changed_at"] == max(r["enriched_at"], f.labeled_at)
    assert set(sim.oracle) == {f.key for f in sim.findings if f.label_source == "explicit"}


@pytest.mark.parametrize(
    "tags, age, cost",
    [
        ({"environment": "prod", "criticality": "high", "backup": "required"}, 5.0, 900.0),
        ({"environment": "qa", "criticality": "medium"}, 60.0, 20.0),
        ({"environment": "dev", "criticality": "low", "notes": "keep"}, 400.0, 3.0),
        ({"environment": "sandbox", "criticality": "low", "backup": "none"}, 500.0, 1.0),
    ],
)
def test_the_oracle_is_the_deletion_rate_of_the_simulated_user(tags, age, cost):
    model, rng, n = DecisionModel(), random.Random(5), 20_000
    inputs = {"tags": tags, "scenario": "ebs-volume-unattached", "age_days": age, "monthly_cost": cost}
    p = history.p_deleted(model, model.score(**inputs))
    rate = sum(model.draw(rng, **inputs) == "deleted" for _ in range(n)) / n
    assert abs(rate - p) < 4 * math.sqrt(p * (1 - p) / n)


def test_the_oracle_matches_the_decisions_drawn_in_the_history(sim):
    decided = [f for f in sim.findings if f.label_source == "explicit"]
    for f in decided:  # scored as the user saw it when deciding, days after its first row
        if f.age_first is not None:
            days = (f.labeled_at - f.first_seen).total_seconds() / 86400
            assert f.age_decided == pytest.approx(f.age_first + days, abs=1e-3)
        s = sim.model.score(
            tags=f.tags, scenario=f.scenario, age_days=f.age_decided, monthly_cost=f.cost_decided
        )
        assert sim.oracle[f.key] == history.p_deleted(sim.model, s)
    p = np.array([sim.oracle[f.key] for f in decided])
    y = np.array([f.decision == "deleted" for f in decided])
    assert abs(y.mean() - p.mean()) < 4 * math.sqrt((p * (1 - p)).sum()) / len(p)
    high, low = p > np.median(p), p <= np.median(p)
    assert y[high].mean() > y[low].mean() + 0.15  # the oracle ranks the decisions


def test_the_visible_oracle_only_loses_what_rows_cannot_carry(sim):
    no_notes = sim.visible_oracle(first_row=False)
    for f in sim.findings:
        if f.label_source == "explicit" and "notes" not in f.tags:  # then the notes' average shifts it down
            assert no_notes[f.key] <= sim.oracle[f.key] + 1e-12
    assert sim.visible_oracle(hide_notes=False, first_row=False) == pytest.approx(sim.oracle)


def test_the_exports_are_what_the_trainer_reads(sim, tmp_path):
    paths = history.write_export(sim, tmp_path)
    assert paths == sorted(paths) and len(paths) == len(sim.scans)
    rows, y = waste.load_labeled_rows(paths)
    explicit = [f for f in sim.findings if f.label_source == "explicit"]
    assert len(rows) == len(explicit) == len(sim.oracle)  # one example per decided finding
    assert int(y.sum()) == sum(f.decision == "deleted" for f in explicit)
    assert sorted(r["cost_monthly"] for r in rows) == sorted(f.cost_first for f in explicit)

    # incremental: each export holds what changed in its week; a row labeled later comes again
    versions = 0
    for path, until in zip(paths, sim.exports, strict=True):
        t = pq.read_table(path)
        changed = t.column("changed_at").to_pylist()
        assert max(changed) < until and min(changed) >= until - history.SCAN_EVERY
        versions += t.num_rows
    assert versions > len(sim.rows)
    first = pq.read_table(paths[0]).to_pylist()
    assert any(r["user_action"] is None for r in first if r["resource_hash"] in {f.key[0] for f in explicit})


def test_no_raw_identifier_or_tag_value_reaches_the_exports(monkeypatch, tmp_path):
    canary_tags = {
        "Name": "canary-name-5f1c9e",
        "owner": "canary.person@example.org",
        "notes": "canary note 10.9.8.7 keep",
        "tier": "canary-tier-77ad",  # an allow-listed key with a value outside its vocabulary
    }

    def tags(rng, kind):
        return draw_tags(rng, kind) | canary_tags

    estate = history._estate

    def planted(n, rng, scans):
        out = estate(n, rng, scans)
        for i, res in enumerate(out):
            parent = f"canary-parent-{i:04d}" if res.resource.parent_id else None
            res.resource = dataclasses.replace(
                res.resource, resource_id=f"canary-id-{i:04d}-x", parent_id=parent
            )
        return out

    monkeypatch.setattr(history, "draw_tags", tags)
    monkeypatch.setattr(history, "_estate", planted)
    sim = history.simulate(resources=200, weeks=4, seed=3)
    assert all(f.resource_id.startswith("canary-id-") for f in sim.findings)
    paths = history.write_export(sim, tmp_path, compression="none")
    secrets = [*canary_tags.values(), "canary-id-", "canary-parent-", "example.org", "10.9.8.7"]
    secrets += [f"{100000000000 + i}" for i in range(40)] + [f"tenant-{i}" for i in range(8)]
    for path in paths:
        raw = path.read_bytes()
        assert not [s for s in secrets if s.encode() in raw]
        for column in pq.read_table(path).to_pylist():
            text = repr(column)
            assert not [s for s in secrets if s in text]
    assert any('"tier": "other"' in r["tags_anonymized"] for r in sim.rows)
