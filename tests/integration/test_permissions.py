"""Permissions are a contract: scan the simulated estate (moto) in-process while recording every
API operation the scanner's clients make, and fail on any operation that the kind making it (or,
for listing regions, the provider) does not declare. `sts:AssumeRole` is the scanner's own
identity, made by another session, and is not part of the customer's policy."""

from __future__ import annotations

import threading
from collections import Counter

from cloudwaste.scanner import catalog, providers
from cloudwaste.scanner.engine import Engine, ScanTarget
from cloudwaste.scanner.kinds import load_all as load_kinds
from cloudwaste.scanner.rules import load_all as load_rules
from prometheus_client import REGISTRY as PROM


def _scan(moto_estate, scopes, overrides=None):
    endpoint, truth = moto_estate
    engine = Engine(load_rules(), {"aws": {"endpoint_url": endpoint}}, 3)
    calls: Counter[tuple[str, str, str]] = Counter()
    lock = threading.Lock()

    def observe(provider: str, caller: str, operation: str) -> None:
        with lock:
            calls[(provider, caller, operation)] += 1

    target = ScanTarget(
        "aws",
        {
            "role_arn": f"arn:aws:iam::{truth.account_id}:role/CloudWasteScanner",
            "external_id": "ext-contract",
        },
        scopes,
        overrides,
    )
    with providers.observe_calls(observe):
        outcomes = engine.scan(target)
    return outcomes, calls


def _undeclared(calls) -> list[str]:
    kinds = load_kinds()
    aws = providers.get("aws")
    bad = []
    for provider, caller, operation in calls:
        if caller == providers.SCOPES:
            allowed = set(aws.scope_operations)
        elif caller == aws.METRICS_CALLER:  # the metric rules' series, fetched for the scope
            allowed = {aws.metric_operation}
        elif caller in kinds:
            allowed = set(kinds.get(caller).operations)
        else:
            allowed = set()
        if provider != "aws" or operation not in allowed:
            bad.append(f"{caller or '<no kind>'} called {operation} without declaring it")
    return sorted(set(bad))


def test_every_api_call_of_a_full_scan_is_declared(moto_estate):
    _, truth = moto_estate
    before = PROM.get_sample_value(
        "cloudwaste_scanner_provider_api_calls_total", {"provider": "aws", "operation": "ec2:DescribeVolumes"}
    )
    outcomes, calls = _scan(moto_estate, [])  # no region requested: lists the enabled ones first
    assert calls, "no API call was recorded"
    assert _undeclared(calls) == []
    made = {op for _, _, op in calls}
    assert "sts:AssumeRole" not in made  # the scanner's own identity is not recorded
    # every operation made is in the generated policy the customer is told to grant
    policy = set(catalog.iam_policy("aws")["Statement"][0]["Action"])
    assert made <= policy, made - policy
    # and nothing in it is granted for nothing: a full scan of this estate makes every call it allows
    assert policy <= made, policy - made
    # and the counter saw them
    after = PROM.get_sample_value(
        "cloudwaste_scanner_provider_api_calls_total", {"provider": "aws", "operation": "ec2:DescribeVolumes"}
    )
    assert after - (before or 0) == calls[("aws", "aws.ec2.volume", "ec2:DescribeVolumes")] > 0
    by_scope = {o.scope: o for o in outcomes}
    for region in truth.regions:
        o = by_scope[region]
        assert o.succeeded and o.kind_errors == {}, (region, o.error_message, o.kind_errors)
        assert o.kinds_listed == {k.key for k in load_kinds().for_provider("aws")}
    assert sum(o.resources_scanned for o in outcomes) == len(truth.resources)


def test_scan_finds_the_known_waste_and_links_disks_to_their_stopped_machine(moto_estate):
    _, truth = moto_estate
    outcomes, calls = _scan(moto_estate, list(truth.regions))
    assert _undeclared(calls) == []
    assert not any(caller == providers.SCOPES for _, caller, _ in calls)  # regions were given
    findings = [f for o in outcomes for f in o.findings]
    found = {(f.resource.resource_id, f.detection.scenario) for f in findings}
    assert found == {(t.resource_id, t.scenario) for t in truth.waste()}
    new = "ebs-volume-on-stopped-instance"
    stopped = {f.resource.resource_id for f in findings if f.detection.scenario == "ec2-instance-stopped"}
    parts = [f for f in findings if f.detection.scenario == new]
    assert parts, "no disk of a long-stopped instance was found"
    for f in parts:
        assert f.detection.parent.kind == "aws.ec2.instance"
        assert f.detection.parent.scenario == "ec2-instance-stopped"
        assert f.detection.parent.resource_id in stopped
        assert f.detection.monthly_cost > 0
    for f in findings:
        if f.detection.scenario == "ec2-instance-stopped":
            assert f.detection.monthly_cost == 0


def test_disabled_rules_list_fewer_kinds_and_need_fewer_permissions(moto_estate):
    _, truth = moto_estate
    off = {r.key: {"enabled": False} for r in load_rules().for_provider("aws") if r.key != "eip-unassociated"}
    outcomes, calls = _scan(moto_estate, list(truth.regions), off)
    assert _undeclared(calls) == []
    # the addresses, and the status of the interfaces that addresses without an instance are on
    assert {op for _, _, op in calls} == {"ec2:DescribeAddresses", "ec2:DescribeNetworkInterfaces"}
    for o in outcomes:
        assert o.kinds_listed == {"aws.ec2.elastic_ip"} and set(o.rule_params) == {"eip-unassociated"}
    assert catalog.iam_policy("aws", rule_parameters=off)["Statement"][0]["Action"] == [
        "ec2:DescribeAddresses",
        "ec2:DescribeNetworkInterfaces",
        "ec2:DescribeRegions",
    ]
