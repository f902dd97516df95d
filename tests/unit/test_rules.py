"""The rule registry: a meta-test over every registered rule, its fixtures, boundaries and parameters."""

from __future__ import annotations

import datetime as dt
import json
import logging
import math
import re
from decimal import Decimal

import pytest
from cloudwaste.core.errors import InvalidArgument
from cloudwaste.scanner import catalog
from cloudwaste.scanner.domain import Detection, FindingDraft, FindingRef, Resource
from cloudwaste.scanner.engine import evaluate
from cloudwaste.scanner.kinds import Kind, KindRegistry
from cloudwaste.scanner.kinds import load_all as load_kinds
from cloudwaste.scanner.pricing import AwsPrices
from cloudwaste.scanner.providers import load_all as load_providers
from cloudwaste.scanner.rules import Context, Param, Registry, Rule, Series, load_all

REGISTRY = load_all()
KINDS = load_kinds()
PROVIDERS = load_providers()
RULES = {r.key: r for r in REGISTRY}
KEYS = sorted(RULES)
KEBAB = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)+$")
PERMISSION = re.compile(r"^[a-z0-9-]+:[A-Z][A-Za-z]+$")
CONFIDENCES = {"LOW", "MEDIUM", "HIGH"}

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
REGION = "us-east-1"


def _ago(days: float) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


def _res(kind: str, created_days: float | None = 100, rid: str = "r-1", **attributes) -> Resource:
    created = None if created_days is None else _ago(created_days)
    return Resource("aws", kind, rid, REGION, created_at=created, attributes=attributes)


def _params(key: str, **overrides) -> dict:
    return {k: v for k, v in RULES[key].resolve_params(overrides).items() if k != "enabled"}


def _lookup(related):
    index = {(r.kind, r.resource_id): r for r in related}
    return lambda kind, rid: index.get((kind, rid))


def _run(key: str, resource: Resource, now: dt.datetime = NOW, related=(), **overrides) -> Detection | None:
    ctx = Context(now=now, prices=AwsPrices(resource.region), lookup=_lookup(related))
    return RULES[key].evaluate(resource, _params(key, **overrides), ctx)


def _prices(resource: Resource):
    """The prices a scan gives the rules for this resource's scope (AWS: its region's)."""
    return PROVIDERS.get(resource.provider).prices(resource.region)


def _run_fixture(key: str, resource: Resource) -> Detection | None:
    fx = RULES[key].fixtures
    return RULES[key].evaluate(resource, _params(key), fx.context(_prices(resource)))


# Findings that cost nothing themselves: the sum of their parts (the parts carry the cost), or
# waste whose amount no API gives (a paused cluster's storage, a duplicate trail's event volume;
# the evidence says why, and the trail's can be set as a parameter).
ZERO_COST = {
    "ec2-instance-stopped",
    "redshift-cluster-paused-long",
    "cloudtrail-trail-duplicate",
    # Azure and GCP: parents priced by their parts, and hygiene findings nothing bills for
    "azure-vm-deallocated-long",
    "azure-availability-set-unused",
    "azure-nic-unattached",
    "azure-nsg-unattached",
    "azure-resource-group-empty",
    "gcp-instance-terminated-long",
    "m365-subscription-expiring",  # a warning, not waste
    "m365-guest-inactive",  # a risk, not a cost
}


def _check_detection(key: str, det: Detection) -> None:
    assert isinstance(det, Detection)
    assert det.scenario == key
    assert det.confidence in CONFIDENCES
    assert isinstance(det.monthly_cost, Decimal)
    if key in ZERO_COST:
        assert det.monthly_cost == 0
    else:
        assert det.monthly_cost > 0
    json.dumps(det.evidence)  # raises if not JSON-serializable
    if det.parent is not None:
        assert isinstance(det.parent, FindingRef)
        assert det.parent.kind in KINDS and det.parent.scenario in RULES


# --- meta-test: every rule is complete ------------------------------------------------------


def test_registry_is_not_empty():
    assert len(KEYS) >= 7


def test_registries_are_consistent():
    """Every rule's kinds are registered, every kind's provider is, permissions are covered, every
    kind has listing operations, an ML allow-list, id/name fields and acyclic dependencies."""
    assert catalog.check_registries(REGISTRY, KINDS, PROVIDERS) == []


def test_every_rule_kind_is_registered_for_its_provider():
    for rule in REGISTRY:
        for kind in rule.kinds:
            assert kind in KINDS, f"{rule.key}: kind {kind} is not registered"
            assert KINDS.get(kind).provider == rule.provider


@pytest.mark.parametrize("key", KEYS)
def test_rule_is_complete(key):
    rule = RULES[key]
    problems = []
    if not KEBAB.match(rule.key):
        problems.append("key is not kebab-case")
    if not rule.doc.strip():
        problems.append("no doc (docstring)")
    if not rule.title.strip():
        problems.append("no title")
    if not rule.confidence_doc.strip():
        problems.append("no confidence_doc")
    if not rule.permissions:
        problems.append("no permissions")
    if rule.provider not in PROVIDERS:
        problems.append(f"provider {rule.provider!r} is not registered")
    if rule.resource_kind not in KINDS:
        problems.append(f"resource_kind {rule.resource_kind!r} is not a registered kind")
    if set(catalog.rule_permissions(rule, KINDS)) - set(rule.permissions):
        problems.append("permissions do not cover its kinds' listing permissions")
    if rule.fixtures is None:
        problems.append("no fixtures")
    assert not problems, f"rule {key}: " + "; ".join(problems)


# How each provider names a permission: an IAM action, an Azure RBAC action, a GCP permission.
PERMISSION_FORMS = {
    "aws": PERMISSION,
    "azure": re.compile(r"^Microsoft\.[A-Za-z]+(/[A-Za-z]+)+/read$"),
    "gcp": re.compile(r"^[a-z]+\.[A-Za-z]+\.(list|get)$"),
    "m365": re.compile(r"^[A-Za-z]+\.Read\.All$"),
}


@pytest.mark.parametrize("key", KEYS)
def test_rule_permissions_are_read_only(key):
    rule = RULES[key]
    for perm in rule.permissions:
        assert PERMISSION_FORMS[rule.provider].match(perm), perm
        assert PROVIDERS.get(rule.provider).is_read_only(perm), f"{perm} is not read-only"


@pytest.mark.parametrize("key", KEYS)
def test_rule_params_are_documented_and_defaults_valid(key):
    rule = RULES[key]
    for name, spec in rule.params.items():
        assert re.fullmatch(r"[a-z][a-z0-9_]*", name), name
        assert spec.doc.strip(), f"{key}.{name} has no doc"
        assert isinstance(spec.default, spec.type)
        if spec.minimum is not None:
            assert spec.default >= spec.minimum
    assert "enabled" not in rule.params  # every rule has it already
    assert rule.resolve_params() == {"enabled": True, **{name: p.default for name, p in rule.params.items()}}


@pytest.mark.parametrize("key", KEYS)
def test_fixtures_match_the_rule_kind(key):
    fx = RULES[key].fixtures
    assert fx is not None
    assert fx.fires.kind == RULES[key].resource_kind
    assert fx.silent.kind == RULES[key].resource_kind
    assert fx.now.tzinfo is not None
    assert {r.kind for r in fx.related} <= set(RULES[key].kinds)


@pytest.mark.parametrize("key", KEYS)
def test_fires_fixture_yields_a_detection(key):
    fx = RULES[key].fixtures
    det = _run_fixture(key, fx.fires)
    assert det is not None, f"{key}: fires fixture did not fire"
    _check_detection(key, det)


@pytest.mark.parametrize("key", KEYS)
def test_silent_fixture_yields_none(key):
    fx = RULES[key].fixtures
    assert _run_fixture(key, fx.silent) is None, f"{key}: near-miss fixture fired"


@pytest.mark.parametrize("key", KEYS)
def test_fixtures_through_engine_evaluate(key):
    fx = RULES[key].fixtures
    ctx = fx.context(_prices(fx.fires))
    drafts, errors = evaluate([fx.fires, fx.silent, *fx.related], {key: (RULES[key], _params(key))}, ctx)
    assert errors == {}
    assert [d.resource.resource_id for d in drafts] == [fx.fires.resource_id]


# --- resolve_params ---------------------------------------------------------------------------


@pytest.mark.parametrize("key", KEYS)
def test_resolve_params_rejects_unknown_key(key):
    with pytest.raises(InvalidArgument) as exc:
        RULES[key].resolve_params({"no_such_param": 1.0})
    assert exc.value.field == f"rule_parameters.{key}.no_such_param"
    assert f"rule_parameters.{key}.no_such_param" in str(exc.value)


PARAM_CASES = [(k, name) for k in KEYS for name in RULES[k].params]


@pytest.mark.parametrize(("key", "param"), PARAM_CASES)
@pytest.mark.parametrize("bad", ["30", None, True, [30.0], {"v": 1}])
def test_resolve_params_rejects_wrong_type(key, param, bad):
    with pytest.raises(InvalidArgument) as exc:
        RULES[key].resolve_params({param: bad})
    assert exc.value.field == f"rule_parameters.{key}.{param}"


@pytest.mark.parametrize(("key", "param"), PARAM_CASES)
def test_resolve_params_rejects_below_minimum(key, param):
    spec = RULES[key].params[param]
    if spec.minimum is None:
        pytest.skip("no minimum")
    with pytest.raises(InvalidArgument) as exc:
        RULES[key].resolve_params({param: spec.type(spec.minimum) - 1})
    assert exc.value.field == f"rule_parameters.{key}.{param}"


def test_resolve_params_rejects_nan():
    # NaN compares False to everything, so it slips past `value < minimum` and then disables the
    # rule's threshold: min_stopped_days=nan makes an instance stopped for 0 days fire.
    accepted = []
    for key, param in PARAM_CASES:
        spec = RULES[key].params[param]
        if spec.type is not float or spec.minimum is None:
            continue
        try:
            RULES[key].resolve_params({param: math.nan})
        except InvalidArgument as exc:
            assert exc.field == f"rule_parameters.{key}.{param}"
        else:
            accepted.append(f"rule_parameters.{key}.{param}")
    assert not accepted, f"NaN accepted despite a minimum: {accepted}"


@pytest.mark.parametrize(("key", "param"), PARAM_CASES)
def test_resolve_params_accepts_valid_override(key, param):
    spec = RULES[key].params[param]
    value = spec.type(spec.default) + spec.type(5)
    resolved = RULES[key].resolve_params({param: value})
    assert resolved[param] == value
    others = {n: p.default for n, p in RULES[key].all_params.items() if n != param}
    assert {n: v for n, v in resolved.items() if n != param} == others


def test_resolve_params_does_not_mutate_defaults():
    rule = RULES["ec2-instance-stopped"]
    rule.resolve_params({"min_stopped_days": 60.0})
    assert rule.resolve_params()["min_stopped_days"] == 30.0


# --- Registry ---------------------------------------------------------------------------------


def _noop(r, p, ctx):
    return None


def _rule(key: str, kind: str = "aws.ec2.volume", fn=_noop) -> Rule:
    return Rule(
        key=key,
        provider="aws",
        resource_kind=kind,
        title="t",
        doc="d",
        permissions=("ec2:DescribeVolumes",),
        params={},
        evaluate=fn,
        confidence_doc="c",
    )


def test_registry_rejects_duplicate_keys():
    reg = Registry()
    reg.register(_rule("some-rule"))
    with pytest.raises(ValueError, match="twice"):
        reg.register(_rule("some-rule", kind="aws.ec2.snapshot"))
    assert list(reg.rules) == ["some-rule"]


@pytest.mark.parametrize(
    "bad",
    [
        "ebs",
        "EBS-volume",
        "ebs_volume",
        "ebs--volume",
        "-ebs-volume",
        "ebs-volume-",
        "ebs volume",
        "",
        "ebs.volume",
        "ébs-volume",
    ],
)
def test_registry_rejects_non_kebab_keys(bad):
    reg = Registry()
    with pytest.raises(ValueError, match="kebab"):
        reg.register(_rule(bad))
    assert reg.rules == {}


def test_fresh_registry_does_not_touch_global_one():
    before = set(REGISTRY.rules)
    reg = Registry()
    reg.register(_rule("only-local-rule"))
    assert set(REGISTRY.rules) == before
    assert "only-local-rule" not in REGISTRY.rules


def test_registry_for_kind_and_kinds():
    reg = Registry()
    reg.register(_rule("rule-a", "aws.ec2.volume"))
    reg.register(_rule("rule-b", "aws.ec2.snapshot"))
    reg.register(_rule("rule-c", "aws.ec2.volume"))
    assert [r.key for r in reg.for_kind("aws.ec2.volume")] == ["rule-a", "rule-c"]
    assert reg.for_kind("aws.ec2.instance") == []
    assert reg.kinds("aws") == {"aws.ec2.volume", "aws.ec2.snapshot"}
    assert reg.kinds("gcp") == set()


def test_global_registry_keys_match_their_scenarios():
    assert set(REGISTRY.rules) == set(KEYS)
    for key, rule in REGISTRY.rules.items():
        assert rule.key == key


# --- engine.evaluate isolates a failing rule -------------------------------------------------


def _boom(r, p, ctx):
    raise RuntimeError("rule exploded")


def _always(r, p, ctx):
    return Detection("always-fires", "HIGH", Decimal("120.0000"), {"id": r.resource_id})


def test_evaluate_survives_a_raising_rule(caplog):
    reg = Registry()
    reg.register(_rule("raising-rule", fn=_boom))
    reg.register(_rule("always-fires", fn=_always))
    reg.register(_rule("other-kind-rule", kind="aws.ec2.snapshot", fn=_boom))
    resources = [_res("aws.ec2.volume", rid="vol-a"), _res("aws.ec2.volume", rid="vol-b")]
    with caplog.at_level(logging.ERROR, logger="cloudwaste.scanner.engine"):
        drafts, errors = evaluate(resources, _all(reg), _ctx())
    assert set(errors) == {"raising-rule"}  # the snapshot rule had no resource to fail on
    assert [d.resource.resource_id for d in drafts] == ["vol-a", "vol-b"]
    assert all(isinstance(d, FindingDraft) for d in drafts)
    assert all(d.detection.scenario == "always-fires" and d.severity == "HIGH" for d in drafts)
    assert sum("rule failed" in rec.getMessage() for rec in caplog.records) == 1  # once per rule


def test_evaluate_with_raising_rule_registered_last():
    reg = Registry()
    reg.register(_rule("always-fires", fn=_always))
    reg.register(_rule("raising-rule", fn=_boom))
    drafts, errors = evaluate([_res("aws.ec2.volume")], _all(reg), _ctx())
    assert len(drafts) == 1 and set(errors) == {"raising-rule"}


@pytest.mark.parametrize("provider", sorted({r.provider for r in REGISTRY}))
def test_evaluate_global_registry_on_all_fixtures(provider):
    """Every fixture of a provider through one evaluation with every rule of that provider:
    each fires fixture is flagged by its own rule and by nothing else, no near miss fires."""
    keys = [k for k in KEYS if RULES[k].provider == provider]
    fires = [RULES[k].fixtures.fires for k in keys]
    silent = [RULES[k].fixtures.silent for k in keys]
    related = [r for k in keys for r in RULES[k].fixtures.related]
    now = RULES[keys[0]].fixtures.now
    series = {key: s for k in keys for key, s in RULES[k].fixtures.series.items()}
    ctx = Context(
        now=now,
        prices=PROVIDERS.get(provider).prices("eu-west-1"),
        lookup=_lookup(related),
        metric=lambda r, name, days: series.get((r.resource_id, name, days)),
    )
    drafts, _ = evaluate(fires + silent, {k: v for k, v in _all(REGISTRY).items() if k in keys}, ctx)
    assert sorted(d.detection.scenario for d in drafts) == keys


def _all(reg: Registry) -> dict:
    return {r.key: (r, {k: v for k, v in r.resolve_params().items() if k != "enabled"}) for r in reg}


def _ctx() -> Context:
    return Context(now=NOW, prices=AwsPrices(REGION))


# --- boundaries: ebs-volume-unattached --------------------------------------------------------

VOL = {"size_gb": 100, "volume_type": "gp3", "iops": 3000}


@pytest.mark.parametrize("age", [None, 0.0, 0.5, 1.0, 7, 30, 400])
@pytest.mark.parametrize("state", ["in-use", "creating", "deleting", None])
def test_volume_not_available_never_fires(age, state):
    r = _res("aws.ec2.volume", age, state=state, attached_instance_id="i-1", **VOL)
    assert _run("ebs-volume-unattached", r, min_age_days=0.0) is None


@pytest.mark.parametrize(
    ("age", "expected"),
    [
        (0.9, None),
        (1.1, "LOW"),
        (6.9, "LOW"),
        (7.0, "MEDIUM"),
        (29.9, "MEDIUM"),
        (30.0, "HIGH"),
        (None, "LOW"),
    ],
)
def test_volume_available_age_and_confidence(age, expected):
    r = _res("aws.ec2.volume", age, state="available", **VOL)
    det = _run("ebs-volume-unattached", r)
    if expected is None:
        assert det is None
    else:
        _check_detection("ebs-volume-unattached", det)
        assert det.confidence == expected
        assert det.monthly_cost == AwsPrices(REGION).ebs_volume("gp3", 100, 3000) == Decimal("8.0000")


def test_volume_min_age_override():
    r = _res("aws.ec2.volume", 3, state="available", **VOL)
    assert _run("ebs-volume-unattached", r, min_age_days=5.0) is None
    assert _run("ebs-volume-unattached", r, min_age_days=2.0) is not None


# --- boundaries: eip-unassociated ------------------------------------------------------------


def test_eip_with_network_interface_only_does_not_fire():
    r = _res("aws.ec2.elastic_ip", association_id=None, network_interface_id="eni-1")
    assert _run("eip-unassociated", r) is None


def test_eip_with_association_does_not_fire():
    r = _res("aws.ec2.elastic_ip", association_id="eipassoc-1", network_interface_id=None)
    assert _run("eip-unassociated", r) is None


def test_eip_unassociated_fires_high():
    r = _res("aws.ec2.elastic_ip", None, association_id=None, network_interface_id=None)
    det = _run("eip-unassociated", r)
    _check_detection("eip-unassociated", det)
    assert det.confidence == "HIGH"
    assert det.monthly_cost == Decimal("3.6500")


# --- boundaries: ec2-instance-stopped --------------------------------------------------------

DISKS = [{"volume_id": "vol-9", "size_gb": 50, "volume_type": "gp2", "iops": None}]


def _instance(stopped_days: float | None, state: str = "stopped", volumes=DISKS) -> Resource:
    since = None if stopped_days is None else _ago(stopped_days)
    return _res(
        "aws.ec2.instance",
        400,
        state=state,
        stopped_since=since,
        instance_type="m5.large",
        attached_volumes=volumes,
    )


@pytest.mark.parametrize(
    ("days", "expected"),
    [(29.9, None), (30.1, "MEDIUM"), (89.9, "MEDIUM"), (90.0, "HIGH"), (365, "HIGH"), (0, None)],
)
def test_instance_stopped_boundaries(days, expected):
    det = _run("ec2-instance-stopped", _instance(days))
    if expected is None:
        assert det is None
    else:
        _check_detection("ec2-instance-stopped", det)
        assert det.confidence == expected
        assert det.monthly_cost == Decimal(0)  # its disks are findings of their own
        assert det.evidence["attached_volume_count"] == 1
        assert det.evidence["attached_volume_gb"] == 50


def test_instance_stopped_without_stop_time_does_not_fire():
    assert _run("ec2-instance-stopped", _instance(None)) is None


@pytest.mark.parametrize("state", ["running", "stopping", "pending", "terminated"])
def test_instance_not_stopped_does_not_fire(state):
    assert _run("ec2-instance-stopped", _instance(400, state=state)) is None


def test_instance_min_stopped_days_override():
    assert _run("ec2-instance-stopped", _instance(45), min_stopped_days=60.0) is None
    assert _run("ec2-instance-stopped", _instance(45), min_stopped_days=40.0) is not None


def test_instance_costs_nothing_and_counts_its_volumes():
    vols = [
        {"size_gb": 50, "volume_type": "gp2", "iops": None},
        {"size_gb": 100, "volume_type": "io1", "iops": 1000},
    ]
    det = _run("ec2-instance-stopped", _instance(100, volumes=vols))
    assert det.monthly_cost == Decimal(0)
    assert det.evidence["attached_volume_count"] == 2 and det.evidence["attached_volume_gb"] == 150
    assert det.evidence["instance_type"] == "m5.large" and det.evidence["stopped_days"] == 100
    assert det.parent is None


# --- boundaries: ebs-volume-on-stopped-instance ----------------------------------------------


def _attached(instance_id: str = "i-1", state: str = "in-use") -> Resource:
    return _res("aws.ec2.volume", 400, rid="vol-a", state=state, attached_instance_id=instance_id, **VOL)


def _host(stopped_days: float | None, state: str = "stopped", rid: str = "i-1") -> Resource:
    since = None if stopped_days is None else _ago(stopped_days)
    return _res("aws.ec2.instance", 400, rid=rid, state=state, stopped_since=since, instance_type="m5.large")


@pytest.mark.parametrize(
    ("days", "expected"),
    [(0, None), (29.9, None), (30.0, "MEDIUM"), (89.9, "MEDIUM"), (90.0, "HIGH"), (365, "HIGH")],
)
def test_volume_on_stopped_instance_boundaries(days, expected):
    det = _run("ebs-volume-on-stopped-instance", _attached(), related=[_host(days)])
    if expected is None:
        assert det is None
        return
    _check_detection("ebs-volume-on-stopped-instance", det)
    assert det.confidence == expected
    assert det.monthly_cost == AwsPrices(REGION).ebs_volume("gp3", 100, 3000)
    assert det.parent == FindingRef("aws.ec2.instance", "i-1", "ec2-instance-stopped")
    assert det.evidence["instance_stopped_days"] == round(days, 1)


@pytest.mark.parametrize("state", ["running", "stopping", "pending"])
def test_volume_on_running_instance_does_not_fire(state):
    assert _run("ebs-volume-on-stopped-instance", _attached(), related=[_host(400, state=state)]) is None


def test_volume_on_stopped_instance_needs_the_instance_and_its_stop_time():
    assert _run("ebs-volume-on-stopped-instance", _attached(), related=[]) is None
    assert _run("ebs-volume-on-stopped-instance", _attached(), related=[_host(None)]) is None
    assert _run("ebs-volume-on-stopped-instance", _attached("i-other"), related=[_host(400)]) is None


def test_unattached_volume_is_not_a_part_of_a_stopped_instance():
    r = _res("aws.ec2.volume", 400, state="available", attached_instance_id=None, **VOL)
    assert _run("ebs-volume-on-stopped-instance", r, related=[_host(400)]) is None


def test_volume_on_stopped_instance_threshold_override():
    assert (
        _run("ebs-volume-on-stopped-instance", _attached(), related=[_host(45)], min_stopped_days=60.0)
        is None
    )
    assert (
        _run("ebs-volume-on-stopped-instance", _attached(), related=[_host(45)], min_stopped_days=40)
        is not None
    )


def test_stopped_machine_total_is_the_sum_of_its_parts():
    """The instance's own finding costs $0; each of its disks carries its price, once."""
    host = _host(120)
    disks = [
        _res("aws.ec2.volume", 400, rid=f"vol-{n}", state="in-use", attached_instance_id="i-1", **VOL)
        for n in range(3)
    ]
    instance = Resource(
        "aws",
        "aws.ec2.instance",
        "i-1",
        REGION,
        attributes={**host.attributes, "attached_volumes": [{"size_gb": 100, "volume_type": "gp3"}] * 3},
    )
    ctx = Context(now=NOW, prices=AwsPrices(REGION), lookup=_lookup([instance, *disks]))
    drafts, _ = evaluate([instance, *disks], _all(REGISTRY), ctx)
    by_rule = {}
    for d in drafts:
        by_rule.setdefault(d.detection.scenario, []).append(d)
    assert sorted(by_rule) == ["ebs-volume-on-stopped-instance", "ec2-instance-stopped"]
    assert by_rule["ec2-instance-stopped"][0].detection.monthly_cost == 0
    parts = by_rule["ebs-volume-on-stopped-instance"]
    assert len(parts) == 3 and all(p.detection.parent.resource_id == "i-1" for p in parts)
    assert sum(d.detection.monthly_cost for d in drafts) == 3 * AwsPrices(REGION).ebs_volume("gp3", 100, 3000)


# --- boundaries: snapshot-orphaned -----------------------------------------------------------


@pytest.mark.parametrize(
    ("age", "expected"), [(89, None), (91, "MEDIUM"), (364.9, "MEDIUM"), (365, "HIGH"), (None, None)]
)
def test_snapshot_age_boundaries(age, expected):
    r = _res("aws.ec2.snapshot", age, source_volume_exists=False, size_gb=200, volume_id="vol-x")
    det = _run("snapshot-orphaned", r)
    if expected is None:
        assert det is None
    else:
        _check_detection("snapshot-orphaned", det)
        assert det.confidence == expected
        assert det.monthly_cost == Decimal("10.0000")


def test_snapshot_with_existing_source_does_not_fire():
    r = _res("aws.ec2.snapshot", 1000, source_volume_exists=True, size_gb=200, volume_id="vol-x")
    assert _run("snapshot-orphaned", r) is None


def test_snapshot_without_source_flag_does_not_fire():
    r = _res("aws.ec2.snapshot", 1000, size_gb=200, volume_id="vol-x")
    assert _run("snapshot-orphaned", r) is None


# --- boundaries: nat-gateway-idle ------------------------------------------------------------


def _nat(age: float | None = 90, **overrides) -> Resource:
    attrs = {"state": "available"}
    attrs.update(overrides)
    return _res("aws.ec2.nat_gateway", age, **attrs)


ZEROS = Series((0.0,) * 30, 30)


def _run_nat(resource: Resource, out=ZEROS, into=ZEROS, now=NOW, **overrides):
    """The NAT rule with the series the engine would have fetched (None: not fetched)."""
    series = {"bytes_out": out, "bytes_in": into}
    params = _params("nat-gateway-idle", **overrides)
    days = math.ceil(params["min_idle_days"])

    def metric(r, name, d):
        got = series.get(name)
        return got if got is not None and d == days and got.days == d else None

    ctx = Context(now=now, prices=AwsPrices(resource.region), metric=metric)
    return RULES["nat-gateway-idle"].evaluate(resource, params, ctx)


def test_nat_idle_with_datapoints_is_high():
    det = _run_nat(_nat())
    _check_detection("nat-gateway-idle", det)
    assert det.confidence == "HIGH" and det.evidence["datapoints"] == 30
    assert det.monthly_cost == Decimal("32.8500")
    assert det.evidence["bytes_out"] == {
        "days": 30,
        "datapoints": 30,
        "total": 0.0,
        "peak": 0.0,
        "mean": 0.0,
        "unit": "bytes",
    }


def test_nat_with_no_datapoint_at_all_is_medium_and_says_so():
    det = _run_nat(_nat(), out=Series((), 30), into=Series((), 30))
    assert det.confidence == "MEDIUM" and det.evidence["datapoints"] == 0


def test_nat_whose_series_were_not_fetched_does_not_fire():
    assert _run_nat(_nat(), out=None) is None
    assert _run_nat(_nat(), into=None) is None


@pytest.mark.parametrize("age", [29.9, 10, 0, None])
def test_nat_younger_than_window_is_not_a_candidate_and_does_not_fire(age):
    rule = RULES["nat-gateway-idle"]
    ctx = Context(now=NOW, prices=AwsPrices(REGION))
    assert not rule.candidate(_nat(age), _params("nat-gateway-idle"), ctx)
    assert _run_nat(_nat(age)) is None


@pytest.mark.parametrize("traffic", [1.0, 0.5, 1e12])
def test_nat_with_traffic_on_any_day_does_not_fire(traffic):
    assert _run_nat(_nat(), into=Series((0.0,) * 29 + (traffic,), 30)) is None
    assert _run_nat(_nat(), out=Series((traffic,) + (0.0,) * 29, 30)) is None


@pytest.mark.parametrize("state", ["pending", "failed", "deleting", None])
def test_nat_not_available_does_not_fire(state):
    assert _run_nat(_nat(state=state)) is None


def test_nat_age_just_over_window_fires():
    assert _run_nat(_nat(30.1)) is not None


def test_nat_window_follows_the_parameter():
    fourteen = Series((0.0,) * 14, 14)
    det = _run_nat(_nat(20), out=fourteen, into=fourteen, min_idle_days=14)
    assert det is not None and det.evidence["window_days"] == 14
    assert _run_nat(_nat(20), min_idle_days=14) is None  # only a 30-day series: not what it asked for


# --- boundaries: load-balancer-no-targets ----------------------------------------------------


def _lb(age: float | None = 10, **overrides) -> Resource:
    attrs = {"registered_targets": 0, "target_group_count": 1, "type": "application"}
    attrs.update(overrides)
    return _res("aws.elbv2.load_balancer", age, rid="arn:aws:elasticloadbalancing:lb/1", **attrs)


def test_lb_without_target_groups_is_high():
    det = _run("load-balancer-no-targets", _lb(10, target_group_count=0))
    _check_detection("load-balancer-no-targets", det)
    assert det.confidence == "HIGH"


def test_lb_with_empty_target_group_young_is_medium():
    det = _run("load-balancer-no-targets", _lb(10))
    assert det.confidence == "MEDIUM"


def test_lb_with_empty_target_group_old_is_high():
    assert _run("load-balancer-no-targets", _lb(30)).confidence == "HIGH"


@pytest.mark.parametrize("age", [0, 6.9])
def test_lb_being_set_up_does_not_fire(age):
    assert _run("load-balancer-no-targets", _lb(age, target_group_count=0)) is None


def test_lb_with_targets_or_unknown_targets_does_not_fire():
    assert _run("load-balancer-no-targets", _lb(60, registered_targets=1)) is None
    r = _res("aws.elbv2.load_balancer", 60, target_group_count=1, type="application")
    assert _run("load-balancer-no-targets", r) is None


@pytest.mark.parametrize(
    ("lb_type", "hourly"),
    [("application", "0.0225"), ("network", "0.0225"), ("gateway", "0.0125"), ("classic", "0.025")],
)
def test_lb_cost_by_type(lb_type, hourly):
    det = _run("load-balancer-no-targets", _lb(60, type=lb_type))
    assert det.monthly_cost == (Decimal(hourly) * 730).quantize(Decimal("0.0001"))


def test_resolve_params_int_and_bool_params_are_strict():
    rule = Rule(
        key="typed-rule",
        provider="aws",
        resource_kind="aws.ec2.volume",
        title="t",
        doc="d",
        permissions=("ec2:DescribeVolumes",),
        evaluate=_noop,
        confidence_doc="c",
        params={"count": Param(int, 3, "a count", 1), "flag": Param(bool, False, "a flag")},
    )
    assert rule.resolve_params({"count": 5, "flag": True}) == {"enabled": True, "count": 5, "flag": True}
    for name, bad in [("count", True), ("count", 2.5), ("count", 0), ("flag", 1), ("flag", "yes")]:
        with pytest.raises(InvalidArgument) as exc:
            rule.resolve_params({name: bad})
        assert exc.value.field == f"rule_parameters.typed-rule.{name}"


# --- per-account overrides: Registry.effective_params -----------------------------------------


def test_effective_params_defaults_for_every_rule():
    eff = REGISTRY.effective_params(None)
    assert set(eff) == set(KEYS)
    assert REGISTRY.effective_params({}) == eff
    for key, params in eff.items():
        assert params == {"enabled": True, **{n: p.default for n, p in RULES[key].params.items()}}


def test_effective_params_applies_overrides_and_normalizes_numbers():
    eff = REGISTRY.effective_params(
        {"ec2-instance-stopped": {"min_stopped_days": 60}, "eip-unassociated": {"enabled": False}}
    )
    assert eff["ec2-instance-stopped"]["min_stopped_days"] == 60.0
    assert isinstance(eff["ec2-instance-stopped"]["min_stopped_days"], float)
    assert eff["eip-unassociated"] == {"enabled": False}
    assert eff["snapshot-orphaned"]["enabled"] is True


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"no-such-rule": {}}, "rule_parameters.no-such-rule"),
        (
            {"ec2-instance-stopped": {"min_stoped_days": 3.0}},
            "rule_parameters.ec2-instance-stopped.min_stoped_days",
        ),
        (
            {"ec2-instance-stopped": {"min_stopped_days": "60"}},
            "rule_parameters.ec2-instance-stopped.min_stopped_days",
        ),
        (
            {"ec2-instance-stopped": {"min_stopped_days": 0.5}},
            "rule_parameters.ec2-instance-stopped.min_stopped_days",
        ),
        ({"ec2-instance-stopped": {"enabled": "no"}}, "rule_parameters.ec2-instance-stopped.enabled"),
        ({"ec2-instance-stopped": {"enabled": 0}}, "rule_parameters.ec2-instance-stopped.enabled"),
        ({"ec2-instance-stopped": ["min_stopped_days"]}, "rule_parameters.ec2-instance-stopped"),
        (["ec2-instance-stopped"], "rule_parameters"),
    ],
)
def test_effective_params_rejects_bad_overrides_naming_the_field(overrides, field):
    with pytest.raises(InvalidArgument) as exc:
        REGISTRY.effective_params(overrides)
    assert exc.value.field == field
    assert str(exc.value).startswith(field + ":")


def test_effective_params_for_one_provider_rejects_other_providers_rules():
    with pytest.raises(InvalidArgument) as exc:
        REGISTRY.effective_params({"ec2-instance-stopped": {}}, provider="azure")
    assert exc.value.field == "rule_parameters.ec2-instance-stopped"
    assert REGISTRY.effective_params(None, provider="oci") == {}
    assert set(REGISTRY.effective_params(None, provider="azure")) == {
        r.key for r in REGISTRY if r.provider == "azure"
    }


# --- the meta-checks catch what they should ---------------------------------------------------


def _list_nothing(conn, scope, now, deps):
    return []


def _kind(key="aws.ec2.volume", provider="aws", **changes) -> Kind:
    base = dict(
        key=key,
        provider=provider,
        title="t",
        operations=("ec2:DescribeVolumes",),
        id_field="VolumeId",
        name_field="tag:Name",
        created_field="CreateTime",
        ml_config={"size_gb": int},
        list=_list_nothing,
        doc="d",
    )
    base.update(changes)
    return Kind(**base)


def _problems(rules=(), kinds=()) -> list[str]:
    reg, kreg = Registry(), KindRegistry()
    for r in rules:
        reg.register(r)
    for k in kinds:
        kreg.register(k)
    return catalog.check_registries(reg, kreg, PROVIDERS)


def test_meta_check_passes_a_consistent_pair():
    assert _problems([_rule("some-rule")], [_kind()]) == []


def test_meta_check_fails_a_rule_whose_kind_nothing_registers():
    assert any(
        "is not registered" in p for p in _problems([_rule("some-rule", kind="aws.ec2.ghost")], [_kind()])
    )


def test_meta_check_fails_a_rule_needing_an_unregistered_kind():
    rule = Rule(**{**_rule("some-rule").__dict__, "needs": ("aws.ec2.ghost",)})
    assert any("aws.ec2.ghost" in p for p in _problems([rule], [_kind()]))


def test_meta_check_fails_a_kind_whose_provider_is_not_registered():
    problems = _problems([], [_kind("nocloud.disk.volume", provider="nocloud")])
    assert any("provider 'nocloud' is not registered" in p for p in problems)


def test_meta_check_fails_a_rule_of_an_unregistered_provider():
    rule = Rule(**{**_rule("some-rule").__dict__, "provider": "nocloud"})
    assert any("provider 'nocloud'" in p for p in _problems([rule], [_kind()]))


def test_meta_check_fails_uncovered_permissions():
    kind = _kind(operations=("ec2:DescribeVolumes", "ec2:DescribeVolumeStatus"))
    problems = _problems([_rule("some-rule")], [kind])
    assert any("do not cover" in p and "ec2:DescribeVolumeStatus" in p for p in problems)


def test_meta_check_fails_uncovered_permissions_of_a_dependency():
    kinds = [
        _kind(),
        _kind("aws.ec2.instance", operations=("ec2:DescribeInstances",), requires=("aws.ec2.volume",)),
    ]
    problems = _problems([_rule("some-rule", kind="aws.ec2.instance")], kinds)
    assert any("ec2:DescribeInstances" in p for p in problems)


@pytest.mark.parametrize(
    ("changes", "expected"),
    [
        ({"ml_config": {}}, "no ML config allow-list"),
        ({"operations": ()}, "no listing operation"),
        ({"operations": ("ec2:DeleteVolume",)}, "not a read-only"),
        ({"id_field": ""}, "no id or name field"),
        ({"doc": ""}, "no title or doc"),
        ({"requires": ("aws.ec2.ghost",)}, "nothing registers"),
    ],
)
def test_meta_check_fails_an_incomplete_kind(changes, expected):
    assert any(expected in p for p in _problems([], [_kind(**changes)]))


def test_meta_check_fails_a_dependency_cycle():
    kinds = [
        _kind("aws.ec2.volume", requires=("aws.ec2.instance",)),
        _kind("aws.ec2.instance", requires=("aws.ec2.volume",)),
    ]
    assert any("cycle" in p for p in _problems([], kinds))
