"""GCP networking and Cloud SQL end to end: the network and sql modules of the simulated estate
through google-cloud-compute, the Cloud SQL Admin and Cloud Monitoring REST calls and the local
endpoint; detection exact against the ground truth, then again after the user deleted some waste."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
from cloudwaste.sim import gcp_estate

from tests.integration.cloudscan import exact, findings, scan

NOW = dt.datetime.now(dt.UTC)
RULES = (
    "gcp-forwarding-rule-no-backends",
    "gcp-nat-no-subnets",
    "gcp-nat-idle",
    "gcp-sql-instance-stopped",
    "gcp-sql-instance-idle",
    "gcp-sql-instance-overprovisioned",
)
KINDS = {
    "gcp.compute.forwarding_rule",
    "gcp.compute.target_pool",
    "gcp.compute.backend_service",
    "gcp.compute.router",
    "gcp.sql.instance",
}


@pytest.fixture(scope="module")
def estate(tmp_path_factory):
    e = gcp_estate.start(
        tmp_path_factory.mktemp("gcp-net-creds"), size=200, seed=5, now=NOW, services=("network", "sql"), page_size=9
    )
    yield e
    e.api.stop()


def test_every_rule_has_waste_and_near_misses(estate):
    scenarios = Counter(t.scenario for t in estate.truth)
    assert all(scenarios[k] >= 2 for k in RULES), scenarios
    assert scenarios[None] > sum(scenarios[k] for k in RULES) / 2
    assert {t.resource_type for t in estate.truth} == KINDS


def test_detection_is_exact_and_every_resource_is_listed(estate):
    calls: Counter = Counter()
    outcomes = scan("gcp", estate, only_rules=RULES, calls=calls)
    assert sorted(o.scope for o in outcomes) == sorted(gcp_estate.PROJECTS)
    exact(outcomes, estate.truth, RULES)
    assert sum(o.resources_scanned for o in outcomes) == len(estate.truth)
    for d in findings(outcomes).values():
        assert d.detection.monthly_cost > 0, d.detection
        assert d.detection.evidence["price_date"] == "2025-11-01"
        assert d.resource.region
    # one listing per kind per project (pages of 9), and Monitoring batched by metric, never per resource
    ops = Counter(op for (_, op) in calls.elements())
    assert ops["compute.globalForwardingRules.list"] == len(gcp_estate.PROJECTS)
    assert ops["monitoring.timeSeries.list"] < 40


def test_a_rescan_after_deletions_no_longer_reports_them(estate):
    waste = [t for t in estate.truth if t.scenario in RULES]
    gone = {t.resource_id for t in waste[::3]}
    for rid in gone:
        parts = rid.split("/")
        project = parts[1]
        if parts[2] == "instances":  # Cloud SQL: projects/p/instances/name
            with estate.api.lock:
                estate.api.project(project).sql_instances.pop(parts[3])
        else:  # projects/p/regions/r/forwardingRules/name
            assert estate.api.delete(project, parts[4], "/".join(parts[2:4]), parts[5])
    remaining = [t for t in estate.truth if t.resource_id not in gone]
    outcomes = scan("gcp", estate, only_rules=RULES)
    exact(outcomes, remaining, RULES)
    found = {rid for rid, _ in findings(outcomes)}
    assert not found & gone
    assert sum(o.resources_scanned for o in outcomes) == len(remaining)
