"""Azure subscriptions and GCP projects as a user meets them: accounts created over gRPC (bad input
named by field, no secret stored), scanned by the scanner service through the real SDKs and the
local endpoints, decisions made between scans, a resource deleted, a rescan, and nothing that
identifies the customer in the ML tables."""

from __future__ import annotations

import datetime as dt

import grpc
import pytest
import sqlalchemy as sa
from cloudwaste.common.v1 import provider_pb2
from cloudwaste.core.server import create_server
from cloudwaste.enricher.settings import EnricherSettings
from cloudwaste.scanner.settings import ScannerSettings
from cloudwaste.scanner.v1 import (
    cloud_account_pb2,
    finding_pb2,
    scan_run_pb2,
    scanner_service_pb2,
    scanner_service_pb2_grpc,
)
from cloudwaste.sim import azure_estate, gcp_estate, m365_estate
from cloudwaste.sim.clouds import cloud_account

from tests.integration.conftest import HASH_KEY, TENANT, sql_rows
from tests.integration.test_pipeline import ml_dump

NOW = dt.datetime.now(dt.UTC)


@pytest.fixture(scope="module")
def estates(tmp_path_factory):
    credentials = tmp_path_factory.mktemp("cloud-credentials")
    azure = azure_estate.start(credentials, size=150, seed=5, now=NOW, page_size=20)
    gcp = gcp_estate.start(credentials, size=150, seed=5, now=NOW, page_size=20)
    yield {"azure": azure, "gcp": gcp, "credentials": str(credentials)}
    azure.api.stop()
    gcp.api.stop()


@pytest.fixture
def scanner(database_url, estates):
    from cloudwaste.enricher.server import build_app as enricher_app
    from cloudwaste.scanner.server import build_app as scanner_app

    common = dict(
        database_url=database_url, grpc_host="127.0.0.1", grpc_port=0, metrics_port=-1, shutdown_grace_seconds=1
    )
    es = EnricherSettings(**common)
    enricher = create_server(es, enricher_app(es))
    ss = ScannerSettings(
        **common,
        hash_key=HASH_KEY,
        enricher_address=f"127.0.0.1:{enricher.port}",
        azure_endpoint_url=estates["azure"].api.url,
        gcp_endpoint_url=estates["gcp"].api.url,
        credentials_dir=estates["credentials"],
        poll_seconds=0.2,
    )
    running = create_server(ss, scanner_app(ss))
    channel = grpc.insecure_channel(f"127.0.0.1:{running.port}")
    yield scanner_service_pb2_grpc.ScannerServiceStub(channel)
    channel.close()
    running.stop(0.5)
    enricher.stop(0.5)


def _scan(stub, account: str, timeout: float = 120) -> scan_run_pb2.ScanRun:
    import time

    run = stub.StartScan(scanner_service_pb2.StartScanRequest(cloud_account=account), timeout=10).scan_run
    deadline = time.monotonic() + timeout
    while run.state in (scan_run_pb2.SCAN_RUN_STATE_PENDING, scan_run_pb2.SCAN_RUN_STATE_RUNNING):
        assert time.monotonic() < deadline, "scan did not finish"
        time.sleep(0.1)
        run = stub.GetScanRun(scanner_service_pb2.GetScanRunRequest(name=run.name), timeout=10).scan_run
    return run


def _findings(stub, **filters) -> list[finding_pb2.Finding]:
    out, token = [], ""
    while True:
        resp = stub.ListFindings(
            scanner_service_pb2.ListFindingsRequest(page_size=100, page_token=token, **filters), timeout=10
        )
        out.extend(resp.findings)
        token = resp.next_page_token
        if not token:
            return out


def _create(stub, provider: str, estate) -> cloud_account_pb2.CloudAccount:
    scopes = {"azure": azure_estate.SUBSCRIPTIONS, "gcp": gcp_estate.PROJECTS, "m365": ()}[provider]
    account = cloud_account(provider, scopes, TENANT, f"{provider} integration")
    return stub.CreateCloudAccount(
        scanner_service_pb2.CreateCloudAccountRequest(cloud_account=account), timeout=10
    ).cloud_account


def _canaries(provider: str, estate) -> set[str]:
    """What identifies the customer: resource ids and names, subscription and project ids, the
    principal's ids, e-mails and names in tags, the tenant."""
    out = {TENANT}
    out |= set(azure_estate.SUBSCRIPTIONS if provider == "azure" else gcp_estate.PROJECTS)
    if provider == "azure":
        out |= {azure_estate.DIRECTORY_ID, azure_estate.CLIENT_ID}
    for t in estate.truth:
        out.add(t.resource_id)
        out.add(t.resource_id.rsplit("/", 1)[-1])
        for key, value in t.tags.items():
            if key.lower() in ("name", "owner", "notes") or "@" in value or "_at_" in value:
                out.add(value)
    return {c.lower() for c in out if len(c) >= 6}


@pytest.mark.parametrize("provider", ["azure", "gcp"])
def test_scan_decide_delete_rescan_and_no_canary_in_ml_data(provider, scanner, estates, database_url):
    estate = estates[provider]
    account = _create(scanner, provider, estate)
    assert account.provider == provider_pb2.Provider.Value(f"PROVIDER_{provider.upper()}")
    access = getattr(account, provider)
    assert access.credential_secret  # the name of the file, never its content
    assert "sim-secret" not in str(account) and "PRIVATE KEY" not in str(account)

    run = _scan(scanner, account.name)
    assert run.state == scan_run_pb2.SCAN_RUN_STATE_SUCCEEDED, run
    assert run.regions_done == run.regions_total == 2
    assert run.resources_scanned == len(estate.truth)
    found = _findings(scanner, scan_run=run.name)
    expected = {(t.resource_id, t.scenario) for t in estate.truth if t.scenario}
    assert {(f.resource_name, f.category) for f in found} == expected
    by_place = {t.resource_id: t.region for t in estate.truth}
    for f in found:
        assert f.region in (azure_estate.SUBSCRIPTIONS if provider == "azure" else gcp_estate.PROJECTS)
        assert f.location == by_place[f.resource_name]  # where the resource is, within its scope

    # decisions: one kept, one deleted (and then deleted in the estate), the rest left open
    plain = [f for f in found if not f.parent_finding and not any(g.parent_finding == f.name for g in found)]
    # the one deleted is an unattached disk: nothing else depends on it, so deleting it makes no
    # other resource waste (deleting a VM would leave its NIC unattached: a new finding)
    deleted = min((f for f in plain if f.category == f"{provider}-disk-unattached"), key=lambda f: f.resource_name)
    kept = min((f for f in plain if f is not deleted), key=lambda f: f.resource_name)
    for f, state in ((kept, finding_pb2.FINDING_STATE_KEPT), (deleted, finding_pb2.FINDING_STATE_DELETED)):
        scanner.SetFindingState(
            scanner_service_pb2.SetFindingStateRequest(name=f.name, state=state, etag=f.etag), timeout=10
        )
    assert estate.api.delete_resource(deleted.resource_name)

    again = _scan(scanner, account.name)
    assert again.state == scan_run_pb2.SCAN_RUN_STATE_SUCCEEDED
    assert again.new_findings_count == 0 and again.resolved_findings_count == 1
    states = {f.name: f for f in _findings(scanner, cloud_account=account.name, all_states=True)}
    assert states[kept.name].state == finding_pb2.FINDING_STATE_KEPT
    assert states[deleted.name].state == finding_pb2.FINDING_STATE_RESOLVED
    assert states[deleted.name].resolve_reason == finding_pb2.RESOLVE_REASON_RESOURCE_GONE
    assert states[kept.name].observation_count == 2

    dump = ml_dump(database_url)
    assert f'"provider":"{provider}"' in dump.replace(" ", "")  # the rows are there, by provider
    leaks = sorted(c for c in _canaries(provider, estate) if c in dump)
    assert not leaks, f"identifying strings reached ML data: {leaks[:5]}"
    # relationships: a snapshot whose disk is gone is an orphan; a disk of a stopped machine
    # names the machine (hashed) and its state
    parents = _parents(database_url)
    expected_parents = {
        "azure": {
            "azure-snapshot-orphaned": ("azure.compute.disk", "orphan"),
            "azure-disk-of-deallocated-vm": ("azure.compute.virtual_machine", "deallocated"),
            "azure-public-ip-on-deallocated-vm": ("azure.network.network_interface", "exists"),
            "azure-disk-unattached": (None, None),
        },
        "gcp": {
            "gcp-snapshot-orphaned": ("gcp.compute.disk", "orphan"),
            "gcp-disk-of-terminated-instance": ("gcp.compute.instance", "terminated"),
            "gcp-address-on-stopped-instance": ("gcp.compute.instance", "terminated"),
            "gcp-disk-unattached": (None, None),
        },
    }[provider]
    for scenario, (kind, state) in expected_parents.items():
        assert parents[scenario] == {(kind, state, kind is not None)}, scenario


def _parents(database_url: str) -> dict[str, set[tuple]]:
    """{scenario: {(parent type, parent state, parent hash is a keyed hash)}} of the ML rows."""
    import re

    rows = sql_rows(
        database_url,
        "SELECT detection_scenario, parent_resource_type, parent_resource_state, parent_resource_hash "
        "FROM ml_training_data",
    )
    out: dict[str, set[tuple]] = {}
    for scenario, kind, state, digest in rows:
        out.setdefault(scenario, set()).add((kind, state, bool(digest and re.fullmatch("[0-9a-f]{64}", digest))))
    return out


@pytest.mark.parametrize(
    ("provider", "access", "regions", "field"),
    [
        ("azure", {"directory_id": "not-a-guid", "client_id": azure_estate.CLIENT_ID}, [], "cloud_account.azure.directory_id"),
        ("azure", {"directory_id": azure_estate.DIRECTORY_ID, "client_id": "x"}, [], "cloud_account.azure.client_id"),
        (
            "azure",
            {"directory_id": azure_estate.DIRECTORY_ID, "client_id": azure_estate.CLIENT_ID, "credential_secret": "../../etc/passwd"},
            [],
            "cloud_account.azure.credential_secret",
        ),
        (
            "azure",
            {"directory_id": azure_estate.DIRECTORY_ID, "client_id": azure_estate.CLIENT_ID},
            [azure_estate.SUBSCRIPTIONS[0], "my-subscription"],
            "cloud_account.regions[1]",
        ),
        ("gcp", {"credential_secret": "key/../../x"}, [], "cloud_account.gcp.credential_secret"),
        ("gcp", {}, ["Bad_Project"], "cloud_account.regions[0]"),
    ],
)
def test_bad_access_or_scopes_name_the_field(provider, access, regions, field, scanner):
    message = {"azure": cloud_account_pb2.AzureAccess, "gcp": cloud_account_pb2.GcpAccess}[provider]
    account = cloud_account_pb2.CloudAccount(
        provider=provider_pb2.Provider.Value(f"PROVIDER_{provider.upper()}"),
        tenant_id=TENANT,
        regions=regions,
        **{provider: message(**access)},
    )
    with pytest.raises(grpc.RpcError) as err:
        scanner.CreateCloudAccount(scanner_service_pb2.CreateCloudAccountRequest(cloud_account=account), timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert field in err.value.details(), err.value.details()


def test_an_azure_account_without_azure_access_is_refused(scanner):
    account = cloud_account_pb2.CloudAccount(provider=provider_pb2.PROVIDER_AZURE, tenant_id=TENANT)
    with pytest.raises(grpc.RpcError) as err:
        scanner.CreateCloudAccount(scanner_service_pb2.CreateCloudAccountRequest(cloud_account=account), timeout=10)
    assert err.value.code() == grpc.StatusCode.INVALID_ARGUMENT and "cloud_account.azure" in err.value.details()


def test_a_missing_credential_file_fails_the_scan_with_the_reason(scanner, estates):
    account = cloud_account("gcp", gcp_estate.PROJECTS, TENANT, "no key")
    account.gcp.credential_secret = "not-in-the-secret"
    created = scanner.CreateCloudAccount(
        scanner_service_pb2.CreateCloudAccountRequest(cloud_account=account), timeout=10
    ).cloud_account
    run = _scan(scanner, created.name)
    assert run.state == scan_run_pb2.SCAN_RUN_STATE_FAILED
    assert "not-in-the-secret" in run.error_message and "credentials Secret" in run.error_message


def test_ml_rows_of_both_clouds_carry_the_provider(scanner, estates, database_url):
    for provider in ("azure", "gcp"):
        assert _scan(scanner, _create(scanner, provider, estates[provider]).name).state == (
            scan_run_pb2.SCAN_RUN_STATE_SUCCEEDED
        )
    engine = sa.create_engine(database_url)
    with engine.connect() as c:
        counts = dict(c.execute(sa.text("SELECT provider, count(*) FROM ml_training_data GROUP BY provider")).all())
    engine.dispose()
    assert set(counts) == {"azure", "gcp"} and all(n > 0 for n in counts.values())


@pytest.mark.parametrize("provider", ["azure", "gcp", "m365"])
def test_thousands_of_resources_three_scans_decisions_and_a_restart(provider, database_url, tmp_path):
    """At the scale users live at: an estate of ~1,500 resources (a tenant of ~1,100 users),
    scanned three times through the scanner service, with decisions and deletions between the
    scans and the scanner restarted in the middle. Nothing reopens, nothing is lost, the kept
    decisions stand."""
    from cloudwaste.enricher.server import build_app as enricher_app
    from cloudwaste.scanner.server import build_app as scanner_app

    module = {"azure": azure_estate, "gcp": gcp_estate, "m365": m365_estate}[provider]
    estate = module.start(tmp_path / "creds", size=1000, seed=9, now=NOW)
    common = dict(
        database_url=database_url, grpc_host="127.0.0.1", grpc_port=0, metrics_port=-1, shutdown_grace_seconds=1
    )
    es = EnricherSettings(**common)
    enricher = create_server(es, enricher_app(es))
    ss = ScannerSettings(
        **common, hash_key=HASH_KEY, enricher_address=f"127.0.0.1:{enricher.port}",
        **{f"{provider}_endpoint_url": estate.api.url}, credentials_dir=estate.credentials_dir, poll_seconds=0.2,
    )

    def start():
        server = create_server(ss, scanner_app(ss))
        channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
        return server, channel, scanner_service_pb2_grpc.ScannerServiceStub(channel)

    server, channel, stub = start()
    try:
        account = _create(stub, provider, estate).name
        waste = {(t.resource_id, t.scenario) for t in estate.truth if t.scenario}
        assert len(estate.truth) >= 1400 and len(waste) >= 350
        first = _scan(stub, account)
        assert first.state == scan_run_pb2.SCAN_RUN_STATE_SUCCEEDED
        assert first.resources_scanned == len(estate.truth) and first.findings_count == len(waste)
        found = _findings(stub, cloud_account=account)
        assert {(f.resource_name, f.category) for f in found} == waste
        # decisions on a third of the findings; the user deletes what they marked deleted
        standalone = [f for f in found if not f.parent_finding and not any(g.parent_finding == f.name for g in found)]
        kept = standalone[0::6]
        deleted = standalone[1::6]
        for f in kept:
            stub.SetFindingState(scanner_service_pb2.SetFindingStateRequest(name=f.name, state=finding_pb2.FINDING_STATE_KEPT))
        for f in deleted:
            stub.SetFindingState(scanner_service_pb2.SetFindingStateRequest(name=f.name, state=finding_pb2.FINDING_STATE_DELETED))
            assert estate.api.delete_resource(f.resource_name), f.resource_name
        second = _scan(stub, account)
        assert second.new_findings_count == 0 and second.reopened_findings_count == 0
        assert second.resolved_findings_count == len(deleted)

        # the scanner restarts; the third scan sees the same estate: no change at all
        channel.close()
        server.stop(1)
        server, channel, stub = start()
        third = _scan(stub, account)
        assert third.state == scan_run_pb2.SCAN_RUN_STATE_SUCCEEDED
        assert (third.new_findings_count, third.reopened_findings_count, third.resolved_findings_count) == (0, 0, 0)
        assert third.findings_count == len(waste) - len(deleted)
        states = {f.name: f for f in _findings(stub, cloud_account=account, all_states=True)}
        assert all(states[f.name].state == finding_pb2.FINDING_STATE_KEPT for f in kept)
        assert all(states[f.name].observation_count == 3 for f in kept)
        assert all(states[f.name].state == finding_pb2.FINDING_STATE_RESOLVED for f in deleted)
    finally:
        channel.close()
        server.stop(1)
        enricher.stop(1)
        estate.api.stop()
