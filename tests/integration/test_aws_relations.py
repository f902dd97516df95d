"""Relationships of the AWS kinds read from the simulated estate (Phase 2.4): an Elastic IP
belongs to its instance, else to the NAT gateway whose interface holds it, else to that interface;
a load balancer to its target groups, whose state says whether any has a registered target."""

from __future__ import annotations

import datetime as dt

from cloudwaste.scanner import providers
from cloudwaste.scanner.engine import Engine, ScanTarget
from cloudwaste.scanner.kinds import load_all as load_kinds
from cloudwaste.scanner.rules import load_all as load_rules
from cloudwaste.sim.aws import ELASTIC_IP, LOAD_BALANCER, NAT_GATEWAY


def _listing(moto_estate, kind_key: str) -> list:
    endpoint, truth = moto_estate
    aws = providers.get("aws")
    engine = Engine(load_rules(), {"aws": {"endpoint_url": endpoint}})
    plan = engine.resolve_scopes(
        ScanTarget("aws", {"role_arn": f"arn:aws:iam::{truth.account_id}:role/R", "external_id": "ext-rel"}, [truth.regions[0]])
    )
    return aws.list_kind(plan.connection, load_kinds().get(kind_key), truth.regions[0], dt.datetime.now(dt.UTC), {})


def test_an_address_belongs_to_its_instance_or_its_nat_gateway(moto_estate):
    _, truth = moto_estate
    region = truth.regions[0]
    nats = {t.resource_id for t in truth.resources if t.resource_type == NAT_GATEWAY and t.region == region}
    addresses = _listing(moto_estate, ELASTIC_IP)
    by_parent = {}
    for a in addresses:
        by_parent.setdefault(a.parent_kind, []).append(a)
    assert nats and {a.parent_id for a in by_parent["aws.ec2.nat_gateway"]} == nats
    assert all(a.parent_id.startswith("i-") for a in by_parent["aws.ec2.instance"])
    assert all(not a.attributes["association_id"] for a in by_parent.get(None, []))  # unassociated: none


def test_a_load_balancer_belongs_to_its_target_groups_with_their_state(moto_estate):
    _, truth = moto_estate
    lbs = {t.resource_id: t for t in truth.resources if t.resource_type == LOAD_BALANCER and t.region == truth.regions[0]}
    listed = {r.resource_id: r for r in _listing(moto_estate, LOAD_BALANCER) if r.resource_id in lbs}
    assert listed.keys() == lbs.keys()
    states = {(r.parent_kind, r.parent_state) for r in listed.values()}
    # with targets, with an empty target group, with none (moto_estate's load balancer variants)
    assert ("aws.elbv2.target_group", "in_use") in states and (None, None) in states
    for r in listed.values():
        if r.parent_kind:
            assert ":targetgroup/" in r.parent_id
            assert (r.parent_state == "in_use") == (r.attributes["registered_targets"] > 0)
        else:
            assert r.attributes["target_group_count"] == 0
