"""The GCP Compute Engine catalogue end to end: the simulated estate's compute module (instances,
disks, static IPs, snapshots, images; ~230 resources over two projects and three zones) scanned
through google-cloud-compute and the local endpoint; detection exact against the ground truth,
a second scan after the simulated user deleted waste, and a region that does not answer."""

from __future__ import annotations

import datetime as dt

import pytest
from cloudwaste.scanner.rules import load_all as load_rules
from cloudwaste.sim import gcp_estate

from tests.integration.cloudscan import exact, findings, scan

NOW = dt.datetime.now(dt.UTC)
KINDS = (
    "gcp.compute.disk",
    "gcp.compute.instance",
    "gcp.compute.address",
    "gcp.compute.snapshot",
    "gcp.compute.image",
)
RULES = tuple(r.key for r in load_rules().for_provider("gcp") if r.resource_kind in KINDS)
# the rules that look up another kind (an instance's status, a disk's existence): they must not
# run where that kind's listing is incomplete
LOOKUP_RULES = {
    "gcp-disk-of-terminated-instance",
    "gcp-disk-ssd-on-stopped-instance",
    "gcp-address-on-stopped-instance",
    "gcp-snapshot-orphaned",
    "gcp-snapshot-old",
    "gcp-image-unused",
}
SCOPES = {"disks": "zones", "instances": "zones", "addresses": "regions"}


@pytest.fixture(scope="module")
def gcp(tmp_path_factory):
    estate = gcp_estate.start(
        tmp_path_factory.mktemp("gcp-compute-creds"),
        size=200,
        seed=5,
        now=NOW,
        page_size=50,
        services=("compute",),
    )
    yield estate
    estate.api.stop()


def test_the_catalogue_is_complete():
    assert set(RULES) >= {
        "gcp-disk-unattached",
        "gcp-disk-of-terminated-instance",
        "gcp-disk-ssd-on-stopped-instance",
        "gcp-instance-terminated-long",
        "gcp-instance-idle",
        "gcp-instance-underused",
        "gcp-address-unused",
        "gcp-address-on-stopped-instance",
        "gcp-snapshot-orphaned",
        "gcp-snapshot-old",
        "gcp-image-unused",
    }


def test_every_rule_has_waste_and_near_misses_in_the_estate(gcp):
    scenarios = {t.scenario for t in gcp.truth}
    assert set(RULES) <= scenarios
    for kind in KINDS:
        assert any(t.resource_type == kind and t.scenario is None for t in gcp.truth), kind
    assert len(gcp.truth) >= 200


def test_detection_is_exact(gcp):
    outcomes = scan("gcp", gcp, only_rules=RULES)
    assert sorted(o.scope for o in outcomes) == sorted(gcp_estate.PROJECTS)
    exact(outcomes, gcp.truth, RULES)
    assert sum(o.resources_scanned for o in outcomes) == len(gcp.truth)
    found = findings(outcomes)
    for (rid, scenario), d in found.items():
        det = d.detection
        assert det.evidence["price_date"], rid
        if scenario == "gcp-instance-terminated-long":
            assert det.monthly_cost == 0
        else:
            assert det.monthly_cost > 0, (rid, scenario, det.evidence)
        assert "cost_unknown" not in det.evidence, (rid, det.evidence)
    # the parts of an abandoned machine point at its finding, which exists
    parts = [d for d in found.values() if d.detection.parent is not None]
    assert parts
    for d in parts:
        ref = d.detection.parent
        assert (ref.resource_id, ref.scenario) in found, ref
        assert d.detection.scenario in ("gcp-disk-of-terminated-instance", "gcp-address-on-stopped-instance")
    # an idle machine is priced at its machine type for 730 hours
    idle = [d for d in found.values() if d.detection.scenario == "gcp-instance-idle"]
    assert idle and all(d.detection.evidence["window_days"] == 14 for d in idle)


def test_a_second_scan_after_deletions_no_longer_reports_them(gcp):
    deleted = []
    for t in gcp.truth:
        if (
            t.scenario
            not in (
                "gcp-address-unused",
                "gcp-snapshot-orphaned",
                "gcp-image-unused",
                "gcp-instance-idle",
                "gcp-disk-unattached",
            )
            or t.decision != "deleted"
        ):
            continue
        parts = t.resource_id.split("/")  # projects/p/<scope...>/<collection>/<name>
        project, collection, name = parts[1], parts[-2], parts[-1]
        scope = "/".join(parts[2:-2])
        assert gcp.api.delete(project, collection, scope, name), t.resource_id
        deleted.append(t.resource_id)
        if collection == "instances":  # its disks go with it (autoDelete)
            for disk in [
                x for x in gcp.truth if x.resource_id.startswith(f"projects/{project}/{scope}/disks/{name}-")
            ]:
                assert gcp.api.delete(project, "disks", scope, disk.resource_id.rsplit("/", 1)[1])
                deleted.append(disk.resource_id)
    assert deleted
    try:
        outcomes = scan("gcp", gcp, only_rules=RULES)
        remaining = [t for t in gcp.truth if t.resource_id not in deleted]
        exact(outcomes, remaining, RULES)
        assert not {rid for rid, _ in findings(outcomes)} & set(deleted)
    finally:
        _restore(gcp)


def _restore(gcp):
    """Seeds the deleted resources again (the estate is deterministic: same bodies)."""
    api = gcp.api
    ctx = gcp_estate.context(api, 200, 5, NOW)
    for project in gcp_estate.PROJECTS:
        api.project(project).resources.clear()
    api.metrics.clear()
    gcp_estate.seed_estate(ctx, ("compute",))


def test_an_unreachable_region_keeps_the_rest_and_lookup_rules_do_not_run_there(gcp):
    project = gcp_estate.PROJECTS[0]
    gcp.api.project(project).unreachable.add("us-central1")
    try:
        outcomes = {o.scope: o for o in scan("gcp", gcp, only_rules=RULES, check=False)}
    finally:
        gcp.api.project(project).unreachable.clear()
    hit, other = outcomes[project], outcomes[gcp_estate.PROJECTS[1]]
    assert hit.succeeded and not hit.rule_errors
    assert hit.unreached["gcp.compute.disk"] == frozenset({"us-central1-a"})
    assert hit.unreached["gcp.compute.instance"] == frozenset({"us-central1-a"})
    assert hit.unreached["gcp.compute.address"] == frozenset({"us-central1"})
    assert "gcp.compute.disk incomplete" in hit.kind_errors["gcp.compute.image"]  # it reads the disks
    assert "gcp.compute.snapshot" not in hit.unreached
    # the rules that look up an incomplete kind did not run in that project
    assert not LOOKUP_RULES & set(hit.rule_params)
    assert not {d.detection.scenario for d in hit.findings} & LOOKUP_RULES
    # the others found everything they flag outside the region
    own = set(RULES) - LOOKUP_RULES
    reached = [
        t
        for t in gcp.truth
        if f"projects/{project}/" in t.resource_id and not t.region.startswith("us-central1")
    ]
    exact([hit], reached, own)
    assert all(not d.resource.region.startswith("us-central1") for d in hit.findings)
    assert any(t.scenario in own and t.region == "global" for t in reached)
    # the other project is whole
    assert not other.kind_errors and LOOKUP_RULES <= set(other.rule_params)
    exact([other], [t for t in gcp.truth if f"projects/{gcp_estate.PROJECTS[1]}/" in t.resource_id], RULES)
