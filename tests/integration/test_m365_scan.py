"""The Microsoft 365 provider end to end: the thin Graph client against the local Graph endpoint,
a seeded tenant, detection exact against its ground truth; paging, throttling, a report through
its redirect (concealed names included), refused credentials, and the scanner service keeping
names, UPNs and e-mails out of the ML rows."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import grpc
import pytest
from cloudwaste.common.v1 import provider_pb2
from cloudwaste.core.server import create_server
from cloudwaste.enricher.settings import EnricherSettings
from cloudwaste.scanner import catalog, providers
from cloudwaste.scanner.engine import Engine, ScanTarget
from cloudwaste.scanner.kinds import load_all as load_kinds
from cloudwaste.scanner.rules import load_all as load_rules
from cloudwaste.scanner.settings import ScannerSettings
from cloudwaste.scanner.v1 import (
    cloud_account_pb2,
    scan_run_pb2,
    scanner_service_pb2,
    scanner_service_pb2_grpc,
)
from cloudwaste.sim import m365_estate
from cloudwaste.sim.httpapi import Fault

from tests.integration.cloudscan import exact, scan
from tests.integration.conftest import HASH_KEY, TENANT
from tests.integration.test_pipeline import ml_dump

NOW = dt.datetime.now(dt.UTC)


@pytest.fixture(scope="module")
def tenant(tmp_path_factory):
    estate = m365_estate.start(tmp_path_factory.mktemp("m365-creds"), size=300, seed=4, now=NOW, page_size=25)
    yield estate
    estate.api.stop()


def test_detection_is_exact_and_every_rule_fires(tenant):
    calls: Counter = Counter()
    outcomes = scan("m365", tenant, calls=calls)
    assert [o.scope for o in outcomes] == [m365_estate.DIRECTORY_ID]
    exact(outcomes, tenant.truth)
    fired = {d.detection.scenario for o in outcomes for d in o.findings}
    assert fired == {r.key for r in load_rules().for_provider("m365")}
    users = len(tenant.api.tenant(m365_estate.DIRECTORY_ID).users)
    # one user listing for the licence and guest kinds ($top=999; the endpoint caps its pages at
    # 25: nextLink followed), one SKU read and one read of each usage report
    by_permission = Counter()
    for (_, permission), n in calls.items():
        by_permission[permission] += n
    assert by_permission == {
        "AuditLog.Read.All": -(-users // 25), "Organization.Read.All": 1, "Reports.Read.All": 3,
    }, calls


def test_throttling_is_waited_out(tenant):
    fault = tenant.api.add_fault(Fault(path="^/v1.0/users$", status=429, times=2, retry_after=1))
    try:
        outcomes = scan("m365", tenant)
    finally:
        tenant.api.clear_faults()
    assert fault.hits == 2
    exact(outcomes, tenant.truth)


def test_a_report_is_read_through_its_redirect_and_concealed_names_are_hashed(tenant):
    t = tenant.api.tenant(m365_estate.DIRECTORY_ID)
    columns = ["Report Refresh Date", "User Principal Name", "Display Name", "Last Activity Date", "Report Period"]
    kept = t.reports["getMailboxUsageDetail"]
    t.reports["getMailboxUsageDetail"] = (
        columns,
        [{"Report Refresh Date": "2026-11-29", "User Principal Name": "ada@contoso-sim.example",
          "Display Name": "Ada", "Last Activity Date": "2026-11-01"}],
    )
    p = providers.get("m365")
    conn = p.connect(p.validate_access(tenant.access, "access"), tenant.options)
    try:
        (row,) = conn.graph.report("getMailboxUsageDetail", "D30")
        assert row["User Principal Name"] == "ada@contoso-sim.example" and row["Report Period"] == "30"
        t.concealed = True
        (row,) = conn.graph.report("getMailboxUsageDetail", "D30")
    finally:
        t.concealed = False
        t.reports["getMailboxUsageDetail"] = kept
    assert row["User Principal Name"] != "ada@contoso-sim.example" and len(row["User Principal Name"]) == 32


USAGE_RULES = ("m365-mailbox-inactive", "m365-onedrive-inactive")
UNTOUCHED_BY_REPORTS = (
    "m365-license-user-inactive", "m365-license-overlap", "m365-sku-unassigned-seats",
    "m365-subscription-expiring", "m365-guest-inactive",
)


def test_concealed_report_names_are_said_and_the_cost_left_unknown(tenant):
    """With names concealed in reports a mailbox or OneDrive cannot be matched to its user: its
    finding says so and is priced 0 with the reason, never silently misattributed."""
    t = tenant.api.tenant(m365_estate.DIRECTORY_ID)
    t.concealed = True
    try:
        outcomes = scan("m365", tenant)
    finally:
        t.concealed = False
    exact(outcomes, tenant.truth, rules=(*UNTOUCHED_BY_REPORTS, "m365-sharepoint-site-inactive"))
    found = [d for o in outcomes for d in o.findings]
    usage = [d for d in found if d.detection.scenario in USAGE_RULES]
    assert usage and {d.detection.scenario for d in usage} == set(USAGE_RULES)
    for d in usage:
        assert d.detection.evidence["names_concealed"] is True and d.detection.monthly_cost == 0
        assert "concealed" in d.detection.evidence["cost_unknown"]
        assert "@" not in d.resource.name
    sites = [d for d in found if d.detection.scenario == "m365-sharepoint-site-inactive"]
    assert sites and all(d.detection.evidence["names_concealed"] and d.detection.monthly_cost > 0 for d in sites)
    # a shared mailbox cannot be recognised any more: no finding claims one
    assert not [d for d in found if d.detection.scenario == "m365-license-shared-mailbox"]


def test_a_refused_report_fails_its_kind_alone(tenant):
    fault = tenant.api.add_fault(
        Fault(path="getOneDriveUsageAccountDetail", status=403, code="UnknownError", message="Forbidden")
    )
    try:
        (outcome,) = scan("m365", tenant, check=False)
    finally:
        tenant.api.clear_faults()
    assert fault.hits == 1  # refused once: not retried, and not asked again by another kind
    assert outcome.succeeded and set(outcome.kind_errors) == {"m365.reports.onedrive"}
    assert "403" in outcome.kind_errors["m365.reports.onedrive"]
    others = {t.scenario for t in tenant.truth if t.scenario} - {"m365-onedrive-inactive"}
    exact([outcome], tenant.truth, rules=others)
    assert not [d for d in outcome.findings if d.detection.scenario == "m365-onedrive-inactive"]


def test_refused_credentials_and_a_foreign_tenant_scope(tenant, tmp_path):
    (tmp_path / m365_estate.SECRET_NAME).write_text("wrong")
    engine = Engine(load_rules(), {"m365": {**tenant.options, "credentials_dir": str(tmp_path)}})
    with pytest.raises(Exception, match="Invalid client secret"):
        engine.scan(ScanTarget("m365", tenant.access, []))
    engine = Engine(load_rules(), {"m365": tenant.options})
    with pytest.raises(Exception, match="its own tenant only"):
        engine.scan(ScanTarget("m365", tenant.access, ["00000000-0000-4000-8000-000000000000"]))


def test_every_call_is_a_declared_read_only_permission(tenant):
    p, kinds = providers.get("m365"), load_kinds()
    calls: Counter = Counter()
    scan("m365", tenant, calls=calls)
    for (caller, operation) in calls:
        assert operation in kinds.get(caller).operations, (caller, operation)
        assert p.is_read_only(operation)
    granted = set(catalog.policy_permissions("m365", catalog.iam_policy("m365")))
    assert {op for _, op in calls} <= granted
    assert granted == {"AuditLog.Read.All", "Organization.Read.All", "Reports.Read.All", "User.Read.All"}


def test_scanner_service_keeps_names_upns_and_emails_out_of_ml_rows(tenant, database_url):
    from cloudwaste.enricher.server import build_app as enricher_app
    from cloudwaste.scanner.server import build_app as scanner_app

    from tests.integration.test_azure_gcp_accounts import _findings, _scan

    common = dict(
        database_url=database_url, grpc_host="127.0.0.1", grpc_port=0, metrics_port=-1, shutdown_grace_seconds=1
    )
    es = EnricherSettings(**common)
    enricher = create_server(es, enricher_app(es))
    ss = ScannerSettings(
        **common, hash_key=HASH_KEY, enricher_address=f"127.0.0.1:{enricher.port}",
        m365_endpoint_url=tenant.api.url, credentials_dir=tenant.credentials_dir, poll_seconds=0.2,
    )
    server = create_server(ss, scanner_app(ss))
    channel = grpc.insecure_channel(f"127.0.0.1:{server.port}")
    try:
        stub = scanner_service_pb2_grpc.ScannerServiceStub(channel)
        account = stub.CreateCloudAccount(
            scanner_service_pb2.CreateCloudAccountRequest(
                cloud_account=cloud_account_pb2.CloudAccount(
                    provider=provider_pb2.PROVIDER_M365, tenant_id=TENANT, display_name="m365",
                    m365=cloud_account_pb2.M365Access(**tenant.access),
                )
            ),
            timeout=10,
        ).cloud_account
        run = _scan(stub, account.name)
        assert run.state == scan_run_pb2.SCAN_RUN_STATE_SUCCEEDED, run
        found = _findings(stub, cloud_account=account.name)
        assert {(f.resource_name, f.category) for f in found} == {
            (t.resource_id, t.scenario) for t in tenant.truth if t.scenario
        }
        assert any("@contoso-sim.example" in f.resource_display_name for f in found)  # the customer sees names
        dump = ml_dump(database_url)
        canaries = {TENANT.lower(), m365_estate.DIRECTORY_ID, m365_estate.CLIENT_ID}
        for u in tenant.api.tenant(m365_estate.DIRECTORY_ID).users:
            canaries |= {u["id"], u["userPrincipalName"].lower(), u["mail"].lower(), u["displayName"].lower()}
        leaks = sorted(c for c in canaries if c and c in dump)
        assert '"provider":"m365"' in dump.replace(" ", "")
        assert not leaks, f"identifying strings reached ML data: {leaks[:5]}"
    finally:
        channel.close()
        server.stop(1)
        enricher.stop(1)


def test_graphs_published_bodies_are_read_as_published(tmp_path):
    """Microsoft's published subscribedSkus and users (licences, sign-in activity) bodies and
    mailbox usage report, served as published: the SKUs and licences are listed, Graph's
    "never" sentinel reads as never, and the report's 17 columns come through its redirect."""
    import json
    from pathlib import Path

    fixtures = Path(__file__).resolve().parents[1] / "fixtures" / "msgraph"
    estate = m365_estate.start(tmp_path, size=1, seed=1, now=NOW, services=())
    try:
        t = estate.api.tenant(m365_estate.DIRECTORY_ID)
        t.skus = json.loads((fixtures / "subscribed_skus_list.json").read_text())["value"]
        licences = {u["id"]: u for u in json.loads((fixtures / "users_list_assigned_licenses.json").read_text())["value"]}
        activity = {u["id"]: u for u in json.loads((fixtures / "users_list_signin_activity.json").read_text())["value"]}
        t.users = [{**licences.get(i, {}), **activity.get(i, {})} for i in sorted({*licences, *activity})]
        # an edited copy: Adele Vance (sign-in example, never signed in non-interactively) gets
        # the first published SKU, so that her licence is listed with her sign-in activity
        adele = next(u for u in t.users if u.get("displayName") == "Adele Vance")
        adele["assignedLicenses"] = [{"disabledPlans": [], "skuId": t.skus[0]["skuId"]}]
        # the published CSV is its header (17 columns); one row of ours under it (an edited copy)
        columns = (fixtures / "reports_mailbox_usage_detail.beta.csv").read_text(encoding="utf-8-sig").split("\n")[0].split(",")
        rows = [{c: "" for c in columns} | {"User Principal Name": "AdeleV@contoso.com", "Last Activity Date": "2026-10-01"}]
        t.reports["getMailboxUsageDetail"] = (columns, rows)

        p = providers.get("m365")
        conn = p.connect(p.validate_access(estate.access, "access"), estate.options)
        kinds = load_kinds()
        skus = p.list_kind(conn, kinds.get("m365.graph.subscribed_sku"), m365_estate.DIRECTORY_ID, NOW, {})
        assert sorted(r.name for r in skus) == ["CRMSTANDARD", "ENTERPRISEPREMIUM"]
        published = {s["skuPartNumber"]: s for s in t.skus}
        for r in skus:  # the seats as published
            assert r.attributes["enabled_units"] == published[r.name]["prepaidUnits"]["enabled"]
            assert r.attributes["consumed_units"] == published[r.name]["consumedUnits"]
        held = p.list_kind(
            conn, kinds.get("m365.graph.user_license"), m365_estate.DIRECTORY_ID, NOW, {"m365.graph.subscribed_sku": skus}
        )
        assert len(held) == sum(len(u.get("assignedLicenses", [])) for u in t.users)
        (r,) = [r for r in held if r.attributes["user_id"] == adele["id"]]
        assert r.attributes["last_non_interactive_sign_in"] is None  # "0001-01-01": never
        assert r.attributes["last_sign_in"] == dt.datetime(2021, 6, 17, 16, 41, 33, tzinfo=dt.UTC)
        assert r.attributes["sku_part"] == t.skus[0]["skuPartNumber"]
        (row,) = conn.graph.report("getMailboxUsageDetail", "D7")
        assert list(row) == columns and len(columns) == 17
        assert row["User Principal Name"] == "AdeleV@contoso.com" and row["Last Activity Date"] == "2026-10-01"
        # the mailbox kind reads that header (no Recipient Type column: the type is unknown) and
        # matches the mailbox to Adele's licence by user principal name
        (mailbox,) = p.list_kind(
            conn, kinds.get("m365.reports.mailbox"), m365_estate.DIRECTORY_ID, NOW, {"m365.graph.user_license": held}
        )
        assert mailbox.resource_id == "mailbox:adelev@contoso.com" and mailbox.attributes["recipient_type"] == ""
        assert mailbox.attributes["last_activity"] == dt.datetime(2026, 10, 1, tzinfo=dt.UTC)
        assert mailbox.attributes["owner_found"] and mailbox.attributes["owner_sku_parts"] == [t.skus[0]["skuPartNumber"]]
    finally:
        estate.api.stop()
