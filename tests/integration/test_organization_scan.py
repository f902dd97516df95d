"""AWS Organizations: one CloudWaste account for a management account scans every ACTIVE member
account (organizations:ListAccounts, then the member role assumed with the same external id),
each member's regions as scopes of their own; a member whose role cannot be assumed fails its
scopes only. Through the real gRPC API, against moto (STS maps an assumed role to its account)."""

from __future__ import annotations

import pytest
from cloudwaste.common.v1 import provider_pb2
from cloudwaste.core.errors import FailedPrecondition
from cloudwaste.scanner.providers import aws
from cloudwaste.scanner.v1 import cloud_account_pb2, scan_run_pb2, scanner_service_pb2

from tests.integration.conftest import TENANT

MANAGEMENT = "777788889999"
REGIONS = ["us-east-1", "eu-west-1"]
ROLE = "CloudWasteReadOnly"


@pytest.fixture(scope="module")
def organization(moto_estate):
    """A management account with an organization of two members, each with an estate of its own."""
    from cloudwaste.sim.aws import boto3_client, seed_estate

    endpoint, _ = moto_estate
    org = boto3_client("organizations", endpoint, "us-east-1", account_id=MANAGEMENT)
    org.create_organization(FeatureSet="ALL")
    members = []
    for n in range(2):
        status = org.create_account(Email=f"member{n}@example.com", AccountName=f"member-{n}")
        members.append(status["CreateAccountStatus"]["AccountId"])
    truths = {
        m: seed_estate(endpoint, size=150, seed=70 + i, regions=REGIONS, account_id=m, services=())
        for i, m in enumerate(members)
    }
    return members, truths


def _create(stack, **access):
    return stack.scanner.CreateCloudAccount(
        scanner_service_pb2.CreateCloudAccountRequest(
            cloud_account=cloud_account_pb2.CloudAccount(
                provider=provider_pb2.PROVIDER_AWS,
                tenant_id=TENANT,
                display_name="organization",
                regions=REGIONS,
                aws=cloud_account_pb2.AwsAccess(
                    role_arn=f"arn:aws:iam::{MANAGEMENT}:role/CloudWasteOrganizationReader",
                    **access,
                ),
            )
        ),
        timeout=10,
    ).cloud_account


def test_an_organization_scan_covers_every_member_account(stack, organization):
    members, truths = organization
    account = _create(stack, organization_role_name=ROLE)
    assert account.aws.organization_role_name == ROLE
    run = stack.scan(account.name)
    assert run.state == scan_run_pb2.SCAN_RUN_STATE_SUCCEEDED, run
    # the management account and both members, each region a scope of its own
    accounts = {*members, MANAGEMENT} | {a for a in _org_accounts(stack)}
    assert {r.region for r in run.region_results} == {f"{a}/{r}" for a in accounts for r in REGIONS}
    assert all(r.succeeded for r in run.region_results)
    found = {(f.region, f.resource_name, f.category) for f in stack.findings(cloud_account=account.name)}
    expected = {
        (f"{m}/{t.region}", t.resource_id, t.scenario) for m, truth in truths.items() for t in truth.waste()
    }
    assert found == expected
    # a rescan finds the same findings again: stable per member scope, nothing reopened or doubled
    again = stack.scan(account.name)
    assert again.state == scan_run_pb2.SCAN_RUN_STATE_SUCCEEDED
    assert {
        (f.region, f.resource_name, f.category) for f in stack.findings(cloud_account=account.name)
    } == expected


def test_a_member_whose_role_cannot_be_assumed_fails_alone(stack, organization, monkeypatch):
    members, truths = organization
    broken, healthy = members

    class Refusing(aws.AwsSession):
        def __init__(self, access, *args, **kwargs):
            if access.account_id == broken:
                raise FailedPrecondition(f"cannot assume {access.role_arn}: AccessDenied")
            super().__init__(access, *args, **kwargs)

    monkeypatch.setattr(aws, "AwsSession", Refusing)
    account = _create(stack, organization_role_name=ROLE)
    run = stack.scan(account.name)
    results = {r.region: r for r in run.region_results}
    for region in REGIONS:
        assert not results[f"{broken}/{region}"].succeeded
        assert "AccessDenied" in results[f"{broken}/{region}"].error_message
        assert results[f"{healthy}/{region}"].succeeded
    found = {(f.resource_name, f.category) for f in stack.findings(cloud_account=account.name)}
    assert found == {(t.resource_id, t.scenario) for t in truths[healthy].waste()}


def test_a_bad_organization_role_name_is_rejected_by_name(stack):
    import grpc

    with pytest.raises(grpc.RpcError) as err:
        _create(stack, organization_role_name="not a role/name")
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "cloud_account.aws.organization_role_name" in err.value.details()


def _org_accounts(stack):
    """Every account moto's organization lists (the management account included)."""
    from cloudwaste.sim.aws import boto3_client

    endpoint = stack.settings["scanner"].aws_endpoint_url
    org = boto3_client("organizations", endpoint, "us-east-1", account_id=MANAGEMENT)
    return [a["Id"] for page in org.get_paginator("list_accounts").paginate() for a in page["Accounts"]]


def test_a_member_that_leaves_the_organization_has_its_findings_resolved(stack, organization):
    """Runs last: it takes a member out of the module's organization."""
    from cloudwaste.scanner.v1 import finding_pb2
    from cloudwaste.sim.aws import boto3_client

    members, truths = organization
    leaving, staying = members
    account = _create(stack, organization_role_name=ROLE)
    assert stack.scan(account.name).state == scan_run_pb2.SCAN_RUN_STATE_SUCCEEDED
    endpoint = stack.settings["scanner"].aws_endpoint_url
    org = boto3_client("organizations", endpoint, "us-east-1", account_id=MANAGEMENT)
    org.remove_account_from_organization(AccountId=leaving)
    run = stack.scan(account.name)
    assert run.state == scan_run_pb2.SCAN_RUN_STATE_SUCCEEDED
    assert not any(r.region.startswith(leaving) for r in run.region_results)
    every = stack.findings(cloud_account=account.name, all_states=True)
    left = [f for f in every if f.region.startswith(f"{leaving}/")]
    assert left and all(
        f.state == finding_pb2.FINDING_STATE_RESOLVED
        and f.resolve_reason == finding_pb2.RESOLVE_REASON_SCOPE_REMOVED
        for f in left
    )
    still_open = {(f.resource_name, f.category) for f in every if f.state == finding_pb2.FINDING_STATE_OPEN}
    assert still_open == {(t.resource_id, t.scenario) for t in truths[staying].waste()}
