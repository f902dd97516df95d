"""Creates take a request id (AIP-155): a client that retries CreateCloudAccount or StartScan
after a lost answer, or races itself, gets what the first call made, never a duplicate account or a
second scan; the id reused for a different request is INVALID_ARGUMENT."""

from __future__ import annotations

import uuid
from concurrent.futures import ThreadPoolExecutor

import grpc
import pytest
from cloudwaste.common.v1 import provider_pb2
from cloudwaste.scanner.v1 import cloud_account_pb2, scanner_service_pb2

from tests.integration.conftest import TENANT


def _request(stack, request_id: str, display_name: str = "idempotent"):
    return scanner_service_pb2.CreateCloudAccountRequest(
        request_id=request_id,
        cloud_account=cloud_account_pb2.CloudAccount(
            provider=provider_pb2.PROVIDER_AWS,
            tenant_id=TENANT,
            display_name=display_name,
            regions=list(stack.truth.regions),
            aws=cloud_account_pb2.AwsAccess(
                role_arn=f"arn:aws:iam::{stack.truth.account_id}:role/CloudWaste"
            ),
        ),
    )


def _accounts(stack) -> list[str]:
    return [
        a.name
        for a in stack.scanner.ListCloudAccounts(
            scanner_service_pb2.ListCloudAccountsRequest(tenant_id=TENANT, page_size=1000), timeout=10
        ).cloud_accounts
    ]


def test_a_retried_or_racing_create_registers_one_account(stack):
    request_id = str(uuid.uuid4())
    before = set(_accounts(stack))
    with ThreadPoolExecutor(4) as pool:
        names = set(
            pool.map(
                lambda _: (
                    stack.scanner.CreateCloudAccount(
                        _request(stack, request_id), timeout=10
                    ).cloud_account.name
                ),
                range(8),
            )
        )
    assert len(names) == 1 and set(_accounts(stack)) - before == names
    with pytest.raises(grpc.RpcError) as reused:
        stack.scanner.CreateCloudAccount(_request(stack, request_id, display_name="another"), timeout=10)
    assert reused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert reused.value.details().startswith("request_id: was already used")
    # without an id, each call registers one (the id is what makes a retry safe)
    a = stack.scanner.CreateCloudAccount(_request(stack, ""), timeout=10).cloud_account.name
    b = stack.scanner.CreateCloudAccount(_request(stack, ""), timeout=10).cloud_account.name
    assert a != b


def test_a_retried_start_scan_returns_the_first_run_even_once_it_ended(stack):
    account = stack.create_account()
    request_id = str(uuid.uuid4())
    start = scanner_service_pb2.StartScanRequest(cloud_account=account.name, request_id=request_id)
    with ThreadPoolExecutor(4) as pool:
        runs = {
            r.scan_run.name for r in pool.map(lambda _: stack.scanner.StartScan(start, timeout=10), range(6))
        }
    assert len(runs) == 1
    (name,) = runs
    finished = stack.scan(account.name)  # another scan (no id) after the first one
    assert finished.name != name
    again = stack.scanner.StartScan(start, timeout=10).scan_run
    assert again.name == name and again.state != 1  # not queued again: the first run, as it is now
    listed = stack.scanner.ListScanRuns(
        scanner_service_pb2.ListScanRunsRequest(cloud_account=account.name, page_size=100), timeout=10
    ).scan_runs
    assert sorted(r.name for r in listed) == sorted({name, finished.name})
    other = stack.create_account()
    with pytest.raises(grpc.RpcError) as reused:
        stack.scanner.StartScan(
            scanner_service_pb2.StartScanRequest(cloud_account=other.name, request_id=request_id), timeout=10
        )
    assert reused.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    with pytest.raises(grpc.RpcError) as too_long:
        stack.scanner.StartScan(
            scanner_service_pb2.StartScanRequest(cloud_account=account.name, request_id="r" * 129), timeout=10
        )
    assert too_long.value.details().startswith("request_id: is 129 characters long")
