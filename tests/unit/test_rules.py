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
from cloudwaste.scanner.domain import Detection, FindingDraft, Resource
from cloudwaste.scanner.engine import evaluate
from cloudwaste.scanner.pricing import AwsPrices
from cloudwaste.scanner.providers import aws as aws_provider
from cloudwaste.scanner.rules import Context, Param, Registry, Rule, load_all

REGISTRY = load_all()
RULES = {r.key: r for r in REGISTRY}
KEYS = sorted(RULES)
KEBAB = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)+$")
PERMISSION = re.compile(r"^[a-z0-9-]+:[A-Z][A-Za-z]+$")
READ_ONLY_VERBS = ("Describe", "Get", "List")
CONFIDENCES = {"LOW", "MEDIUM", "HIGH"}

NOW = dt.datetime(2026, 6, 1, 12, 0, tzinfo=dt.UTC)
REGION = "us-east-1"


def _ago(days: float) -> dt.datetime:
    return NOW - dt.timedelta(days=days)


def _res(kind: str, created_days: float | None = 100, rid: str = "r-1", **attributes) -> Resource:
    created = None if created_days is None else _ago(created_days)
    return Resource("aws", kind, rid, REGION, created_at=created, attributes=attributes)


def _run(key: str, resource: Resource, now: dt.datetime = NOW, **overrides) -> Detection | None:
    rule = RULES[key]
    ctx = Context(now=now, prices=AwsPrices(resource.region))
    return rule.evaluate(resource, rule.resolve_params(overrides), ctx)


def _check_detection(key: str, det: Detection) -> None:
    assert isinstance(det, Detection)
    assert det.scenario == key
    assert det.confidence in CONFIDENCES
    assert isinstance(det.monthly_cost, Decimal)
    assert det.monthly_cost > 0
    json.dumps(det.evidence)  # raises if not JSON-serializable


# --- meta-test: every rule is complete ------------------------------------------------------


def test_registry_is_not_empty():
    assert len(KEYS) >= 6


def test_every_rule_kind_is_listed_by_the_aws_provider():
    assert REGISTRY.kinds("aws") <= set(aws_provider.KINDS)


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
    if rule.provider != "aws":
        problems.append(f"unexpected provider {rule.provider!r}")
    if rule.resource_kind not in aws_provider.KINDS:
        problems.append(f"resource_kind {rule.resource_kind!r} is not listed by providers.aws.KINDS")
    if rule.fixtures is None:
        problems.append("no fixtures")
    assert not problems, f"rule {key}: " + "; ".join(problems)


@pytest.mark.parametrize("key", KEYS)
def test_rule_permissions_are_read_only_iam_actions(key):
    for perm in RULES[key].permissions:
        assert PERMISSION.match(perm), perm
        assert perm.split(":", 1)[1].startswith(READ_ONLY_VERBS), f"{perm} is not read-only"


@pytest.mark.parametrize("key", KEYS)
def test_rule_params_are_documented_and_defaults_valid(key):
    rule = RULES[key]
    for name, spec in rule.params.items():
        assert re.fullmatch(r"[a-z][a-z0-9_]*", name), name
        assert spec.doc.strip(), f"{key}.{name} has no doc"
        assert isinstance(spec.default, spec.type)
        if spec.minimum is not None:
            assert spec.default >= spec.minimum
    assert rule.resolve_params() == {name: p.default for name, p in rule.params.items()}


@pytest.mark.parametrize("key", KEYS)
def test_fixtures_match_the_rule_kind(key):
    fx = RULES[key].fixtures
    assert fx is not None
    assert fx.fires.kind == RULES[key].resource_kind
    assert fx.silent.kind == RULES[key].resource_kind
    assert fx.now.tzinfo is not None


@pytest.mark.parametrize("key", KEYS)
def test_fires_fixture_yields_a_detection(key):
    fx = RULES[key].fixtures
    det = _run(key, fx.fires, now=fx.now)
    assert det is not None, f"{key}: fires fixture did not fire"
    _check_detection(key, det)


@pytest.mark.parametrize("key", KEYS)
def test_silent_fixture_yields_none(key):
    fx = RULES[key].fixtures
    assert _run(key, fx.silent, now=fx.now) is None, f"{key}: near-miss fixture fired"


@pytest.mark.parametrize("key", KEYS)
def test_fixtures_through_engine_evaluate(key):
    fx = RULES[key].fixtures
    reg = Registry()
    reg.register(RULES[key])
    drafts = evaluate([fx.fires, fx.silent], reg, fx.now, fx.fires.region)
    assert [d.resource.resource_id for d in drafts] == [fx.fires.resource_id]


# --- resolve_params ---------------------------------------------------------------------------


@pytest.mark.parametrize("key", KEYS)
def test_resolve_params_rejects_unknown_key(key):
    with pytest.raises(InvalidArgument) as exc:
        RULES[key].resolve_params({"no_such_param": 1.0})
    assert exc.value.field == f"rules.{key}.no_such_param"
    assert f"rules.{key}.no_such_param" in str(exc.value)


PARAM_CASES = [(k, name) for k in KEYS for name in RULES[k].params]


@pytest.mark.parametrize(("key", "param"), PARAM_CASES)
@pytest.mark.parametrize("bad", ["30", None, True, [30.0], {"v": 1}])
def test_resolve_params_rejects_wrong_type(key, param, bad):
    with pytest.raises(InvalidArgument) as exc:
        RULES[key].resolve_params({param: bad})
    assert exc.value.field == f"rules.{key}.{param}"


@pytest.mark.parametrize(("key", "param"), PARAM_CASES)
def test_resolve_params_rejects_below_minimum(key, param):
    spec = RULES[key].params[param]
    if spec.minimum is None:
        pytest.skip("no minimum")
    with pytest.raises(InvalidArgument) as exc:
        RULES[key].resolve_params({param: spec.type(spec.minimum) - 1})
    assert exc.value.field == f"rules.{key}.{param}"


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
            assert exc.field == f"rules.{key}.{param}"
        else:
            accepted.append(f"rules.{key}.{param}")
    assert not accepted, f"NaN accepted despite a minimum: {accepted}"


@pytest.mark.parametrize(("key", "param"), PARAM_CASES)
def test_resolve_params_accepts_valid_override(key, param):
    spec = RULES[key].params[param]
    value = spec.type(spec.default) + spec.type(5)
    resolved = RULES[key].resolve_params({param: value})
    assert resolved[param] == value
    others = {n: p.default for n, p in RULES[key].params.items() if n != param}
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
        drafts = evaluate(resources, reg, NOW, REGION)
    assert [d.resource.resource_id for d in drafts] == ["vol-a", "vol-b"]
    assert all(isinstance(d, FindingDraft) for d in drafts)
    assert all(d.detection.scenario == "always-fires" and d.severity == "HIGH" for d in drafts)
    assert sum("rule failed" in rec.getMessage() for rec in caplog.records) == 2


def test_evaluate_with_raising_rule_registered_last():
    reg = Registry()
    reg.register(_rule("always-fires", fn=_always))
    reg.register(_rule("raising-rule", fn=_boom))
    drafts = evaluate([_res("aws.ec2.volume")], reg, NOW, REGION)
    assert len(drafts) == 1


def test_evaluate_global_registry_on_all_fixtures():
    fires = [RULES[k].fixtures.fires for k in KEYS]
    silent = [RULES[k].fixtures.silent for k in KEYS]
    now = RULES[KEYS[0]].fixtures.now
    drafts = evaluate(fires + silent, REGISTRY, now, "eu-west-1")
    assert sorted(d.detection.scenario for d in drafts) == KEYS


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
        assert det.monthly_cost == Decimal("5.0000")  # 50 GiB gp2 in us-east-1
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


def test_instance_cost_sums_all_volumes():
    vols = [
        {"size_gb": 50, "volume_type": "gp2", "iops": None},
        {"size_gb": 100, "volume_type": "io1", "iops": 1000},
    ]
    det = _run("ec2-instance-stopped", _instance(100, volumes=vols))
    assert det.monthly_cost == Decimal("5.0000") + Decimal("77.5000")


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
    attrs = {"state": "available", "bytes_total": 0.0, "datapoints": 30, "metric_window_days": 30}
    attrs.update(overrides)
    return _res("aws.ec2.nat_gateway", age, **attrs)


def test_nat_idle_with_datapoints_is_high():
    det = _run("nat-gateway-idle", _nat())
    _check_detection("nat-gateway-idle", det)
    assert det.confidence == "HIGH"
    assert det.monthly_cost == Decimal("32.8500")


def test_nat_without_metric_data_does_not_fire():
    assert _run("nat-gateway-idle", _nat(bytes_total=None, datapoints=0)) is None
    assert _run("nat-gateway-idle", _nat(bytes_total=None)) is None


@pytest.mark.parametrize("age", [29.9, 10, 0, None])
def test_nat_younger_than_window_does_not_fire(age):
    assert _run("nat-gateway-idle", _nat(age)) is None


def test_nat_short_metric_window_does_not_fire():
    assert _run("nat-gateway-idle", _nat(metric_window_days=29)) is None
    assert _run("nat-gateway-idle", _nat(metric_window_days=0)) is None
    attrs = {"state": "available", "bytes_total": 0.0, "datapoints": 30}
    assert _run("nat-gateway-idle", _res("aws.ec2.nat_gateway", 90, **attrs)) is None


@pytest.mark.parametrize("total", [1.0, 0.5, 1e12])
def test_nat_with_traffic_does_not_fire(total):
    assert _run("nat-gateway-idle", _nat(bytes_total=total)) is None


@pytest.mark.parametrize("state", ["pending", "failed", "deleting", None])
def test_nat_not_available_does_not_fire(state):
    assert _run("nat-gateway-idle", _nat(state=state)) is None


def test_nat_age_just_over_window_fires():
    assert _run("nat-gateway-idle", _nat(30.1)) is not None


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
    assert rule.resolve_params({"count": 5, "flag": True}) == {"count": 5, "flag": True}
    for name, bad in [("count", True), ("count", 2.5), ("count", 0), ("flag", 1), ("flag", "yes")]:
        with pytest.raises(InvalidArgument) as exc:
            rule.resolve_params({name: bad})
        assert exc.value.field == f"rules.typed-rule.{name}"
