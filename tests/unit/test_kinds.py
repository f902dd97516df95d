"""Resource kinds and the AWS provider: declared operations exist in botocore's service models,
the recording hook names each call as an IAM action, access settings are validated by the
provider, the ML allow-list comes from the kinds, and the catalogue / IAM policy are complete."""

from __future__ import annotations

import datetime as dt
import json

import boto3
import botocore.session
import pytest
from botocore.stub import Stubber
from cloudwaste.core.errors import FailedPrecondition, InvalidArgument
from cloudwaste.core.regions import known_regions
from cloudwaste.scanner import catalog, providers
from cloudwaste.scanner.kinds import load_all as load_kinds
from cloudwaste.scanner.mlrows import ML_CONFIG_ALLOWLIST
from cloudwaste.scanner.providers import aws
from cloudwaste.scanner.rules import load_all as load_rules
from prometheus_client import REGISTRY as PROM

KINDS = load_kinds()
PROVIDERS = providers.load_all()
AWS_KINDS = KINDS.for_provider("aws")
ROLE = "arn:aws:iam::123456789012:role/CloudWaste"


def _operation_names(service: str) -> set[str]:
    return set(botocore.session.get_session().get_service_model(service).operation_names)


def _declared_aws_actions() -> list[str]:
    actions = set(aws.PROVIDER.scope_operations)
    for kind in AWS_KINDS:
        actions.update(kind.operations)
        actions.update(kind.permissions)
    for rule in load_rules().for_provider("aws"):
        actions.update(rule.permissions)
    return sorted(actions)


@pytest.mark.parametrize("action", _declared_aws_actions())
def test_every_declared_action_exists_in_botocore(action):
    prefix, name = action.split(":", 1)
    assert prefix in aws.BOTOCORE_SERVICE, f"{action}: no botocore service known for IAM prefix {prefix!r}"
    if action in aws.IAM_ACTION.values():  # an action not named after an operation (S3)
        return
    services = aws.BOTOCORE_SERVICE[prefix]
    assert any(name in _operation_names(s) for s in services), (
        f"{action}: {services} have no operation {name}"
    )


def test_iam_prefix_mapping_round_trips():
    for prefix, services in aws.BOTOCORE_SERVICE.items():
        for service in services:
            assert aws.iam_action(service, "X") == f"{prefix}:X"
    for (service, operation), action in aws.IAM_ACTION.items():
        assert operation in _operation_names(service)
        assert aws.iam_action(service, operation) == action


def test_aws_kinds_include_the_core_ones_and_their_dependencies():
    assert {k.key for k in AWS_KINDS} >= {
        "aws.ec2.volume",
        "aws.ec2.instance",
        "aws.ec2.elastic_ip",
        "aws.ec2.snapshot",
        "aws.ec2.nat_gateway",
        "aws.elbv2.load_balancer",
    }
    assert KINDS.get("aws.ec2.instance").requires == ("aws.ec2.volume",)
    assert KINDS.get("aws.ec2.snapshot").requires == ("aws.ec2.volume", "aws.ec2.image")
    order = [k.key for k in KINDS.closure({"aws.ec2.snapshot", "aws.ec2.instance"})]
    assert order.index("aws.ec2.volume") < order.index("aws.ec2.instance")
    assert order.index("aws.ec2.image") < order.index("aws.ec2.snapshot")
    assert sorted(order) == ["aws.ec2.image", "aws.ec2.instance", "aws.ec2.snapshot", "aws.ec2.volume"]


@pytest.mark.parametrize("kind", [k.key for k in AWS_KINDS])
def test_ml_allow_list_comes_from_the_kind(kind):
    assert ML_CONFIG_ALLOWLIST[kind] == KINDS.get(kind).ml_config
    assert ML_CONFIG_ALLOWLIST[kind]
    assert kind in ML_CONFIG_ALLOWLIST and kind in set(ML_CONFIG_ALLOWLIST)
    assert "aws.unknown.thing" not in ML_CONFIG_ALLOWLIST


def test_kind_registry_rejects_bad_keys_and_duplicates():
    from cloudwaste.scanner.kinds import Kind, KindRegistry

    reg = KindRegistry()
    good = KINDS.get("aws.ec2.volume")
    reg.register(good)
    with pytest.raises(ValueError, match="twice"):
        reg.register(good)
    for bad in ("volume", "aws.volume", "AWS.ec2.volume", "gcp.ec2.volume"):
        with pytest.raises(ValueError):
            reg.register(Kind(**{**good.__dict__, "key": bad}))
    with pytest.raises(KeyError):
        reg.get("aws.ec2.ghost")


# --- the recording hook -------------------------------------------------------------------------


def _calls(operation: str) -> float:
    labels = {"provider": "aws", "operation": operation}
    return PROM.get_sample_value("cloudwaste_scanner_provider_api_calls_total", labels) or 0.0


def test_recording_hook_names_calls_as_iam_actions_and_counts_them():
    session = boto3.Session(aws_access_key_id="a", aws_secret_access_key="b", region_name="eu-west-1")
    session.events.register("before-call.*.*", aws._record_call)
    elbv2 = session.client("elbv2")
    ec2 = session.client("ec2")
    seen = []
    before = _calls("elasticloadbalancing:DescribeLoadBalancers")
    with Stubber(elbv2) as s1, Stubber(ec2) as s2:
        s1.add_response("describe_load_balancers", {"LoadBalancers": []})
        s2.add_response("describe_volumes", {"Volumes": []})
        with providers.observe_calls(lambda p, caller, op: seen.append((p, caller, op))):
            with providers.api_caller("aws.elbv2.load_balancer"):
                elbv2.describe_load_balancers()
            with providers.api_caller("aws.ec2.volume"):
                ec2.describe_volumes()
    assert seen == [
        ("aws", "aws.elbv2.load_balancer", "elasticloadbalancing:DescribeLoadBalancers"),
        ("aws", "aws.ec2.volume", "ec2:DescribeVolumes"),
    ]
    assert _calls("elasticloadbalancing:DescribeLoadBalancers") == before + 1


def test_a_kind_listing_over_stubbed_clients_makes_only_declared_calls():
    session = boto3.Session(aws_access_key_id="a", aws_secret_access_key="b", region_name="eu-west-1")
    session.events.register("before-call.*.*", aws._record_call)
    ec2 = session.client("ec2", region_name="eu-west-1")
    now = dt.datetime(2026, 6, 1, tzinfo=dt.UTC)

    class Conn:
        def client(self, service, region):
            assert (service, region) == ("ec2", "eu-west-1")
            return ec2

    volume = KINDS.get("aws.ec2.volume")
    instance = KINDS.get("aws.ec2.instance")
    seen = []
    with Stubber(ec2) as stub:
        stub.add_response(
            "describe_volumes",
            {
                "Volumes": [
                    {
                        "VolumeId": "vol-1",
                        "Size": 50,
                        "VolumeType": "gp3",
                        "Iops": 3000,
                        "State": "in-use",
                        "CreateTime": now - dt.timedelta(days=100),
                        "Attachments": [{"InstanceId": "i-1", "State": "attached"}],
                        "Tags": [{"Key": "Name", "Value": "data"}],
                    }
                ]
            },
        )
        stub.add_response(
            "describe_instances",
            {
                "Reservations": [
                    {
                        "Instances": [
                            {
                                "InstanceId": "i-1",
                                "InstanceType": "m5.large",
                                "State": {"Name": "stopped", "Code": 80},
                                "StateTransitionReason": "User initiated (2026-03-01 10:00:00 GMT)",
                                "LaunchTime": now - dt.timedelta(days=300),
                            }
                        ]
                    }
                ]
            },
        )
        with providers.observe_calls(lambda p, caller, op: seen.append((caller, op))):
            vols = aws.PROVIDER.list_kind(Conn(), volume, "eu-west-1", now, {})
            insts = aws.PROVIDER.list_kind(Conn(), instance, "eu-west-1", now, {"aws.ec2.volume": vols})
    assert [(v.resource_id, v.name, v.attributes["attached_instance_id"]) for v in vols] == [
        ("vol-1", "data", "i-1")
    ]
    assert vols[0].created_at == now - dt.timedelta(days=100)
    assert insts[0].attributes["attached_volumes"] == [
        {"volume_id": "vol-1", "size_gb": 50, "volume_type": "gp3", "iops": 3000}
    ]
    assert insts[0].attributes["stopped_since"] == dt.datetime(2026, 3, 1, 10, tzinfo=dt.UTC)
    for caller, op in seen:
        assert op in KINDS.get(caller).operations
    assert seen == [("aws.ec2.volume", "ec2:DescribeVolumes"), ("aws.ec2.instance", "ec2:DescribeInstances")]


# --- the AWS provider: access settings and scopes -----------------------------------------------


def test_provider_registry_knows_aws_azure_gcp_m365_and_nothing_else():
    assert providers.get("aws") is aws.PROVIDER
    assert PROVIDERS.keys() == ["aws", "azure", "gcp", "m365"]
    with pytest.raises(FailedPrecondition):
        providers.get("oci")
    with pytest.raises(InvalidArgument) as exc:
        providers.get("oci", field="cloud_account.provider")
    assert exc.value.field == "cloud_account.provider"


def test_aws_access_is_normalized():
    out = aws.PROVIDER.validate_access({"role_arn": ROLE, "external_id": "ext-42"}, "cloud_account.aws")
    assert out == {"account_id": "123456789012", "role_arn": ROLE, "external_id": "ext-42"}
    same = aws.PROVIDER.validate_access(
        {"role_arn": ROLE, "external_id": "ext-42", "account_id": "123456789012"}, "cloud_account.aws"
    )
    assert same == out


@pytest.mark.parametrize(
    ("access", "field"),
    [
        ({"role_arn": "arn:aws:iam::12345:role/X", "external_id": "ext"}, "cloud_account.aws.role_arn"),
        ({"role_arn": "not an arn", "external_id": "ext"}, "cloud_account.aws.role_arn"),
        ({"external_id": "ext"}, "cloud_account.aws.role_arn"),
        ({"role_arn": ROLE, "external_id": "ext", "account_id": "1234"}, "cloud_account.aws.account_id"),
        (
            {"role_arn": ROLE, "external_id": "ext", "account_id": "210987654321"},
            "cloud_account.aws.account_id",
        ),
        ({"role_arn": ROLE, "external_id": "x"}, "cloud_account.aws.external_id"),
        ({"role_arn": ROLE}, "cloud_account.aws.external_id"),
        ({"role_arn": ROLE, "external_id": "x" * 1225}, "cloud_account.aws.external_id"),
        ({"role_arn": ROLE, "external_id": 42}, "cloud_account.aws.external_id"),
        ({"role_arn": ROLE, "external_id": "ext", "secret": "s"}, "cloud_account.aws.secret"),
    ],
)
def test_bad_aws_access_names_the_field(access, field):
    with pytest.raises(InvalidArgument) as exc:
        aws.PROVIDER.validate_access(access, "cloud_account.aws")
    assert exc.value.field == field
    assert str(exc.value).startswith(field + ":")


def test_aws_scopes_are_regions():
    p = aws.PROVIDER
    assert p.scope_noun == "region" and p.valid_scopes() == known_regions("aws")
    assert p.validate_scopes(["eu-west-1", "us-east-1", "eu-west-1"], "regions") == ["eu-west-1", "us-east-1"]
    with pytest.raises(InvalidArgument) as exc:
        p.validate_scopes(["eu-west-1", "mars-north-1"], "cloud_account.regions")
    assert exc.value.field == "cloud_account.regions[1]" and "is not an AWS region" in str(exc.value)
    assert p.list_scopes(object(), ["eu-west-1", "eu-west-1"]) == ["eu-west-1"]


def test_aws_options_come_from_the_scanner_settings():
    from cloudwaste.scanner.settings import ScannerSettings

    s = ScannerSettings(database_url="postgresql://x/y", aws_endpoint_url="http://127.0.0.1:5000")
    assert providers.options_from_settings(s)["aws"] == {
        "endpoint_url": "http://127.0.0.1:5000",
        "account_concurrency": 2,
    }


def test_organization_access_and_scopes():
    out = aws.PROVIDER.validate_access(
        {"role_arn": ROLE, "external_id": "ext-42", "organization_role_name": "CloudWasteReadOnly"},
        "cloud_account.aws",
    )
    assert out["organization_role_name"] == "CloudWasteReadOnly"
    with pytest.raises(InvalidArgument) as exc:
        aws.PROVIDER.validate_access(
            {"role_arn": ROLE, "external_id": "ext", "organization_role_name": "a/b"}, "cloud_account.aws"
        )
    assert exc.value.field == "cloud_account.aws.organization_role_name"
    assert aws.split_scope("eu-west-1") == (None, "eu-west-1")
    assert aws.split_scope("111122223333/eu-west-1") == ("111122223333", "eu-west-1")
    assert aws.PROVIDER.prices("111122223333/eu-west-1").region == "eu-west-1"
    policy = catalog.iam_policy("aws", organization=True)["Statement"]
    assert policy[1]["Action"] == ["organizations:ListAccounts"]
    assert "organizations:ListAccounts" not in policy[0]["Action"]


def test_organization_caps_concurrent_work_per_member_account():
    import threading
    import time

    org = aws.AwsOrganization(object(), "R", "ext", "", account_concurrency=2)
    active, peak, lock = {"a": 0, "b": 0}, {"a": 0, "b": 0}, threading.Lock()

    def work(account):
        with org.slot(account):
            with lock:
                active[account] += 1
                peak[account] = max(peak[account], active[account])
            time.sleep(0.02)
            with lock:
                active[account] -= 1

    threads = [threading.Thread(target=work, args=(a,)) for a in "ab" * 6]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert peak == {"a": 2, "b": 2}


def test_connect_without_role_is_a_failed_precondition():
    with pytest.raises(FailedPrecondition):
        aws.PROVIDER.connect({}, {})


def test_describe_error_is_short_and_safe():
    from botocore.exceptions import ClientError

    exc = ClientError(
        {"Error": {"Code": "AccessDenied", "Message": "not authorized " * 100}}, "DescribeVolumes"
    )
    msg = aws.describe_error(exc)
    assert msg.startswith("AccessDenied: not authorized") and len(msg) <= 300
    assert "Traceback" not in msg


# --- catalogue and IAM policy --------------------------------------------------------------------


def test_describe_rules_lists_every_rule_with_its_contract():
    rules = catalog.describe_rules()
    assert [r["key"] for r in rules] == sorted(r.key for r in load_rules())
    assert catalog.describe_rules("aws") == [r for r in rules if r["provider"] == "aws"]
    json.dumps(rules)
    for r in rules:
        assert set(r) >= {
            "key",
            "provider",
            "kind",
            "title",
            "doc",
            "parameters",
            "permissions",
            "confidence",
        }
        assert r["parameters"]["enabled"] == {
            "type": "bool",
            "default": True,
            "doc": r["parameters"]["enabled"]["doc"],
        }
        for spec in r["parameters"].values():
            assert {"type", "default", "doc"} <= set(spec) and spec["doc"]
        assert r["permissions"] == sorted(set(r["permissions"])) and r["permissions"]
        assert r["doc"] and r["confidence"] and r["title"]
    stopped = next(r for r in rules if r["key"] == "ebs-volume-on-stopped-instance")
    assert stopped["kind"] == "aws.ec2.volume" and stopped["needs"] == ["aws.ec2.instance"]
    assert stopped["parameters"]["min_stopped_days"]["default"] == 30.0
    assert stopped["permissions"] == ["ec2:DescribeInstances", "ec2:DescribeVolumes"]


def test_describe_rules_of_an_unknown_provider_is_invalid():
    with pytest.raises(InvalidArgument):
        catalog.describe_rules("nocloud")


def test_iam_policy_is_least_privilege_and_covers_everything_declared():
    policy = catalog.iam_policy("aws")
    assert policy["Version"] == "2012-10-17"
    statement, costs, export = policy["Statement"]
    assert statement["Effect"] == "Allow" and statement["Resource"] == "*"
    # the bill: Cost Explorer (no resource-level permissions), and S3 only on the CUR export
    assert costs["Action"] == ["ce:GetCostAndUsage", "ce:GetCostAndUsageWithResources"]
    assert export["Action"] == ["s3:GetObject", "s3:ListBucket"]
    assert export["Resource"] == ["arn:aws:s3:::CUR_BUCKET", "arn:aws:s3:::CUR_BUCKET/CUR_PREFIX/*"]
    assert set(costs["Action"]) | set(export["Action"]) == set(aws.PROVIDER.billing_operations)
    actions = statement["Action"]
    assert actions == sorted(set(actions))
    declared = set(aws.PROVIDER.scope_operations)
    for kind in AWS_KINDS:
        declared.update(kind.permissions)
    for rule in load_rules().for_provider("aws"):  # rules' own permissions, and the metric operation
        declared.update(rule.permissions)
        if rule.metrics:
            declared.add(aws.PROVIDER.metric_operation)
    assert set(actions) == declared
    assert all(a.split(":", 1)[1].startswith(("Describe", "Get", "List")) for a in actions)
    assert "sts:AssumeRole" not in actions
    json.dumps(policy)


def test_iam_policy_drops_what_only_disabled_rules_need():
    rules = load_rules().for_provider("aws")
    off = {r.key: {"enabled": False} for r in rules if r.metrics or r.resource_kind == "aws.ec2.nat_gateway"}
    actions = catalog.iam_policy("aws", rule_parameters=off)["Statement"][0]["Action"]
    assert "cloudwatch:GetMetricData" not in actions and "ec2:DescribeNatGateways" not in actions
    assert "ec2:DescribeVolumes" in actions


def test_iam_policy_of_an_unknown_provider_is_invalid():
    with pytest.raises(InvalidArgument) as exc:
        catalog.iam_policy("nocloud")
    assert exc.value.field == "provider"
