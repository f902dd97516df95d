"""The Azure and GCP providers end to end: the real SDKs against the local endpoints, a seeded
estate, detection exact against its ground truth; paging, throttling and a failing scope."""

from __future__ import annotations

import datetime as dt
from collections import Counter

import pytest
from cloudwaste.scanner import catalog, providers
from cloudwaste.scanner.engine import Engine, MetricQuery, ScanTarget
from cloudwaste.scanner.kinds import load_all as load_kinds
from cloudwaste.scanner.providers import azure_billing
from cloudwaste.scanner.rules import Metric
from cloudwaste.scanner.rules import load_all as load_rules
from cloudwaste.sim import azure_estate, gcp_estate
from cloudwaste.sim.httpapi import Fault

from tests.integration.cloudscan import exact, findings, scan
from tests.integration.conftest import months_billed

NOW = dt.datetime.now(dt.UTC)


@pytest.fixture(scope="module")
def azure(tmp_path_factory):
    estate = azure_estate.start(tmp_path_factory.mktemp("azure-creds"), size=200, seed=3, now=NOW, page_size=7)
    yield estate
    estate.api.stop()


@pytest.fixture(scope="module")
def gcp(tmp_path_factory):
    estate = gcp_estate.start(tmp_path_factory.mktemp("gcp-creds"), size=200, seed=3, now=NOW, page_size=7)
    yield estate
    estate.api.stop()


@pytest.fixture(scope="module")
def full_scans(azure, gcp):
    """One clean scan of each estate with every rule, its API calls counted (several tests read it)."""
    out = {}
    for provider, estate in (("azure", azure), ("gcp", gcp)):
        calls: Counter = Counter()
        out[provider] = (scan(provider, estate, calls=calls), calls)
    return out


def test_azure_detection_is_exact_across_subscriptions(azure, full_scans):
    outcomes, _ = full_scans["azure"]
    assert sorted(o.scope for o in outcomes) == sorted(azure_estate.SUBSCRIPTIONS)
    exact(outcomes, azure.truth)
    assert sum(o.resources_scanned for o in outcomes) == len(azure.truth)


def test_gcp_detection_is_exact_across_projects(gcp, full_scans):
    outcomes, _ = full_scans["gcp"]
    assert sorted(o.scope for o in outcomes) == sorted(gcp_estate.PROJECTS)
    exact(outcomes, gcp.truth)
    assert sum(o.resources_scanned for o in outcomes) == len(gcp.truth)


def test_azure_pages_and_throttling(azure):
    """Pages of 7 follow nextLink; a 429 with Retry-After is waited out by the SDK, not failed."""
    azure.api.calls.clear()
    fault = azure.api.add_fault(Fault(path="/providers/Microsoft.Compute/disks$", status=429, times=2, retry_after=1))
    try:
        calls: Counter = Counter()
        outcomes = scan("azure", azure, calls=calls)
    finally:
        azure.api.clear_faults()
    assert fault.hits == 2
    exact(outcomes, azure.truth)
    disks = [t for t in azure.truth if t.resource_type == "azure.compute.disk"]
    pages = sum(-(-sum(1 for t in disks if sub in t.resource_id) // 7) for sub in azure_estate.SUBSCRIPTIONS)
    assert calls[("azure.compute.disk", "Microsoft.Compute/disks/read")] == pages


def test_gcp_pages_and_throttling(gcp):
    fault = gcp.api.add_fault(Fault(path="/aggregated/disks$", status=429, times=2, retry_after=1))
    try:
        outcomes = scan("gcp", gcp)
    finally:
        gcp.api.clear_faults()
    assert fault.hits == 2
    exact(outcomes, gcp.truth)


def test_azure_one_failing_subscription_keeps_the_other(azure):
    bad, good = azure_estate.SUBSCRIPTIONS
    # the principal lost its role on one subscription (403 is final: not retried)
    azure.api.add_fault(
        Fault(
            path=f"/subscriptions/{bad}/",
            status=403,
            code="AuthorizationFailed",
            message="The client does not have authorization to perform action",
        )
    )
    try:
        outcomes = {o.scope: o for o in scan("azure", azure, check=False)}
    finally:
        azure.api.clear_faults()
    assert outcomes[good].succeeded and not outcomes[good].kind_errors
    assert not outcomes[bad].succeeded and "403 AuthorizationFailed" in outcomes[bad].error_message
    exact([outcomes[good]], [t for t in azure.truth if good in t.resource_id])


def test_gcp_one_failing_project_keeps_the_other(gcp):
    bad, good = gcp_estate.PROJECTS
    # the service account lost its role on one project (403 is final: not retried)
    gcp.api.add_fault(
        Fault(path=f"/projects/{bad}/", status=403, code="forbidden", message="Required 'compute.disks.list' permission")
    )
    try:
        outcomes = {o.scope: o for o in scan("gcp", gcp, check=False)}
    finally:
        gcp.api.clear_faults()
    assert outcomes[good].succeeded and not outcomes[good].kind_errors
    failed = outcomes[bad]
    assert not failed.succeeded and not failed.findings
    assert "403" in failed.error_message, failed.error_message
    exact([outcomes[good]], [t for t in gcp.truth if f"projects/{good}/" in t.resource_id])


def test_azure_throttling_that_outlasts_the_retries_fails_that_kind_only(azure):
    """Disks answer 429 to every try (Retry-After: 1 s, 7 tries): the disk kind of each
    subscription fails with the reason, the rules that need disks do not run there (an unread
    kind would read as "gone"), and every other rule finds exactly its waste."""
    fault = azure.api.add_fault(Fault(path="/providers/Microsoft.Compute/disks$", status=429, retry_after=1))
    try:
        outcomes = scan("azure", azure, check=False)
    finally:
        azure.api.clear_faults()
    assert fault.hits == 7 * len(azure_estate.SUBSCRIPTIONS)  # the first try and six retries
    rules = load_rules()
    for o in outcomes:
        assert o.succeeded, o.error_message
        assert "429" in o.kind_errors["azure.compute.disk"], o.kind_errors
        # kinds listed from the disks' listing (or from those) fail with it, naming which; no other
        failed = set(o.kind_errors)
        for k in failed - {"azure.compute.disk"}:
            needs = o.kind_errors[k].removeprefix("not listed: it needs ").removesuffix(", which failed")
            assert needs in failed, o.kind_errors
        # exactly the rules that read a failed kind did not run
        every = {r.key for r in rules.for_provider("azure")}
        assert every - set(o.rule_params) == {k for k in every if failed & set(rules.rules[k].kinds)}
        assert not any(d.resource.kind in failed for d in o.findings)
    ran = set.intersection(*(set(o.rule_params) for o in outcomes))
    exact(outcomes, azure.truth, rules=ran)


def test_gcp_unreachable_region_keeps_the_rest_and_resolves_nothing_there(gcp):
    project = gcp_estate.PROJECTS[0]
    gcp.api.project(project).unreachable.add("us-central1")
    try:
        outcomes = {o.scope: o for o in scan("gcp", gcp, check=False)}
    finally:
        gcp.api.project(project).unreachable.clear()
    hit = outcomes[project]
    assert hit.succeeded
    assert "us-central1" in hit.kind_errors["gcp.compute.disk"]
    assert hit.unreached["gcp.compute.disk"] == frozenset({"us-central1-a"})
    assert all(r == {"us-central1"} or r == {"us-central1-a"} for r in map(set, hit.unreached.values()))
    # Cloud SQL is not listed by region: the outage of the compute region does not hide it
    regional = [
        t for t in gcp.truth if f"projects/{project}/" in t.resource_id and t.resource_type != "gcp.sql.instance"
    ]
    reached = [t for t in regional if not t.region.startswith("us-central1")]
    sql = [t for t in gcp.truth if t.resource_type == "gcp.sql.instance" and f"projects/{project}/" in t.resource_id]
    # rules that look up an incomplete kind did not run here (a miss would read as "gone"); the
    # others found exactly the waste of the regions that answered
    rules = load_rules()
    ran = set(hit.rule_params)
    for key in {r.key for r in rules.for_provider("gcp")} - ran:
        assert any(k in hit.unreached for k in rules.rules[key].needs), key
    exact([hit], [*reached, *sql], rules=ran)
    assert all(
        not d.resource.region.startswith("us-central1") for d in hit.findings if d.resource.kind != "gcp.sql.instance"
    )


def test_refused_credentials_fail_the_scan_with_the_reason(azure, tmp_path):
    (tmp_path / azure_estate.SECRET_NAME).write_text("not-the-secret")
    engine = Engine(load_rules(), {"azure": {**azure.options, "credentials_dir": str(tmp_path)}})
    with pytest.raises(Exception, match="Invalid client secret"):
        engine.scan(ScanTarget("azure", azure.access, []))


def test_findings_carry_location_and_price_evidence(full_scans):
    """Every finding says where the resource is; a priced one says where its price comes from."""
    for provider in ("azure", "gcp"):
        for d in findings(full_scans[provider][0]).values():
            assert d.resource.region
            if d.detection.monthly_cost > 0:
                assert d.detection.evidence["price_date"]


# --- metrics: batched, gaps kept as gaps ------------------------------------------------------------


def _conn(provider: str, estate):
    p = providers.get(provider)
    return p, p.connect(p.validate_access(estate.access, "access"), estate.options)


def test_azure_metrics_one_call_for_every_resource_of_a_namespace_and_location(azure):
    sub = azure_estate.SUBSCRIPTIONS[0]
    disks = [t for t in azure.truth if t.resource_type == "azure.compute.disk" and sub in t.resource_id]
    by_location: dict[str, list] = {}
    for t in disks:
        by_location.setdefault(t.region, []).append(t)
    metric = Metric("reads", "Microsoft.Compute/disks", "Composite Disk Read Operations/sec", "Microsoft.ResourceId", "Average")
    today = NOW.date()
    queries = []
    for i, t in enumerate(disks):
        # every other disk has 10 days of 14; the others all 14
        days = range(1, 15) if i % 2 else range(1, 11)
        azure.api.put_metric(t.resource_id, metric.metric, {today - dt.timedelta(days=d): float(i) for d in days})
        queries.append(MetricQuery(t.resource_id, (("Microsoft.ResourceId", t.resource_id),), metric, 14, t.region))
    provider, conn = _conn("azure", azure)
    calls: Counter = Counter()
    with providers.observe_calls(lambda p, caller, op: calls.update([(caller, op)])):
        series = provider.metrics(conn, sub, queries, NOW)
    assert calls == {("metrics", "Microsoft.Insights/metrics/read"): len(by_location)}
    for i, q in enumerate(queries):
        s = series[q.key]
        assert s.days == 14 and s.got == (14 if i % 2 else 10) and set(s.values) == {float(i)}


def test_gcp_metrics_one_listing_for_every_instance(gcp):
    project = gcp_estate.PROJECTS[0]
    metric = Metric(
        "cpu", "gce_instance", "compute.googleapis.com/instance/cpu/utilization", "instance_id", "ALIGN_MEAN",
        dimension_attribute="instance_id",
    )
    today = NOW.date()
    queries = []
    for i in range(30):
        labels = {"instance_id": str(9000 + i), "zone": "europe-west1-b", "project_id": project}
        days = range(1, 15) if i % 3 else range(1, 8)
        gcp.api.put_metric(project, metric.metric, "gce_instance", labels, {today - dt.timedelta(days=d): 0.01 * i for d in days})
        queries.append(MetricQuery(f"projects/{project}/zones/europe-west1-b/instances/vm{i}", (("instance_id", str(9000 + i)),), metric, 14))
    provider, conn = _conn("gcp", gcp)
    calls: Counter = Counter()
    with providers.observe_calls(lambda p, caller, op: calls.update([(caller, op)])):
        series = provider.metrics(conn, project, queries, NOW)
    # one listing for every instance of the project: its pages (7 series a page here)
    series_count = sum(1 for *_, aligner in gcp.api.metrics[(project, metric.metric)] if aligner in (None, "ALIGN_MEAN"))
    assert calls == {("metrics", "monitoring.timeSeries.list"): -(-series_count // 7)}
    for i, q in enumerate(queries):
        assert series[q.key].got == (14 if i % 3 else 7)
        assert series[q.key].values == tuple([0.01 * i] * series[q.key].got)


# --- permissions: what each kind calls is what it declares ---------------------------------------------


@pytest.mark.parametrize("provider", ["azure", "gcp"])
def test_every_call_is_a_declared_read_only_permission(provider, full_scans):
    p = providers.get(provider)
    kinds = load_kinds()
    calls = full_scans[provider][1]
    assert calls, "no call was recorded"
    for (caller, operation), _n in calls.items():
        if caller == providers.SCOPES:
            allowed = set(p.scope_operations)
        elif caller == p.METRICS_CALLER:
            allowed = {p.metric_operation}
        else:
            allowed = set(kinds.get(caller).operations)
        assert operation in allowed, f"{caller} called {operation}, which it does not declare"
        assert p.is_read_only(operation)
    policy = catalog.iam_policy(provider)
    assert {op for (_c, op) in calls} <= set(catalog.policy_permissions(provider, policy))


def test_gcp_workload_identity_federation_scans_without_a_key(gcp, tmp_path):
    """An external_account configuration instead of a key: google-auth reads the Kubernetes
    ServiceAccount token from its file and exchanges it at the Security Token Service."""
    import json

    audience = "//iam.googleapis.com/projects/123456789012/locations/global/workloadIdentityPools/k8s/providers/cluster"
    token_file = tmp_path / "k8s-token"
    token_file.write_text("eyJhbGciOi.k8s-service-account-token.sig")
    gcp.api.add_federated_subject(audience, token_file.read_text())
    (tmp_path / "federation").write_text(
        json.dumps(
            {
                "type": "external_account",
                "audience": audience,
                "subject_token_type": "urn:ietf:params:oauth:token-type:jwt",
                "token_url": f"{gcp.api.url}/v1/token",
                "credential_source": {"file": str(token_file)},
            }
        )
    )
    engine = Engine(load_rules(), {"gcp": {**gcp.options, "credentials_dir": str(tmp_path)}})
    outcomes = engine.scan(ScanTarget("gcp", {"credential_secret": "federation"}, list(gcp_estate.PROJECTS)))
    assert all(o.succeeded and not o.kind_errors for o in outcomes)
    exact(outcomes, gcp.truth)
    token_file.write_text("a-token-nobody-trusts")  # a new token the pool does not trust: refused
    with pytest.raises(Exception, match="not trusted"):
        Engine(load_rules(), {"gcp": {**gcp.options, "credentials_dir": str(tmp_path)}}).scan(
            ScanTarget("gcp", {"credential_secret": "federation"}, list(gcp_estate.PROJECTS))
        )


def test_a_key_file_of_another_type_is_refused_unread(gcp, tmp_path):
    import json

    (tmp_path / "odd").write_text(json.dumps({"type": "authorized_user", "refresh_token": "x"}))
    engine = Engine(load_rules(), {"gcp": {**gcp.options, "credentials_dir": str(tmp_path)}})
    with pytest.raises(Exception, match="expected service_account or external_account"):
        engine.scan(ScanTarget("gcp", {"credential_secret": "odd"}, list(gcp_estate.PROJECTS)))


@pytest.mark.parametrize(("provider", "idle_rule"), [("azure", "azure-vm-idle"), ("gcp", "gcp-instance-idle")])
def test_the_findings_metric_history_is_hourly_over_30_days_in_one_batch(provider, idle_rule, azure, gcp, full_scans):
    """Collected once a run has ended: every metric a rule reads of the finding's kind, 720 hourly
    slots, a value where the cloud has one (the estate writes one a day) and a gap elsewhere."""
    estate = {"azure": azure, "gcp": gcp}[provider]
    outcomes, _ = full_scans[provider]
    engine = Engine(load_rules(), {provider: estate.options})
    plan = engine.resolve_scopes(ScanTarget(provider, estate.access, []))
    calls: Counter = Counter()

    def observe(_provider, caller, operation):
        calls[(caller, operation)] += 1

    with providers.observe_calls(observe):
        collected = engine.collect_history(plan, outcomes)
    idle = {(d.resource.kind, d.resource.resource_id) for o in outcomes for d in o.findings if d.detection.scenario == idle_rule}
    assert idle and idle <= set(collected)
    for key in idle:
        series = collected[key]
        assert set(series) == {m.name for m in engine.history_metrics(key[0])}
        for h in series.values():
            present = [v for v in h.values if v is not None]
            assert h.period_seconds == 3600 and len(h.values) == 720 and 1 <= len(present) <= 30
    p = providers.get(provider)
    assert set(calls) == {(p.METRICS_CALLER, p.metric_operation)}  # read by the metric layer, batched:
    if provider == "azure":  # one call per subscription, namespace, location and aggregation (<= 20 names)
        groups = {
            (o.scope, m.namespace, d.resource.region, m.stat)
            for o in outcomes
            for d in o.findings
            for m in engine.history_metrics(d.resource.kind)
        }
        assert sum(calls.values()) == len(groups) < len(collected)


# --- real cost: Cost Management ---------------------------------------------------------------------


def _azure_costs(azure, outcomes):
    engine = Engine(load_rules(), {"azure": azure.options})
    plan = engine.resolve_scopes(ScanTarget("azure", azure.access, []))
    calls: Counter = Counter()
    with providers.observe_calls(lambda p, caller, op: calls.update([(caller, op)])):
        report = engine.collect_costs(plan, outcomes)
    return report, calls


def test_azure_real_cost_from_cost_management_per_subscription(azure, full_scans):
    from cloudwaste.sim.azure_api import NEGOTIATED_DISCOUNT, monthly_list_cost

    outcomes = full_scans["azure"][0]
    report, calls = _azure_costs(azure, outcomes)
    assert report.source == "azure_cost_management" and report.missing == "" and report.note == ""
    found = {d.resource.resource_id: d for o in outcomes for d in o.findings}
    disks = [rid for rid, d in found.items() if d.detection.scenario == "azure-disk-unattached"]
    assert disks and set(disks) <= set(report.daily)
    for rid in disks:  # a whole day of the disk is its list price less the negotiated discount
        whole_day = report.daily[rid][report.window_end - dt.timedelta(days=1)]
        assert whole_day == pytest.approx(monthly_list_cost(azure.api.get(rid)) / 730 * 24 * (1 - NEGOTIATED_DISCOUNT))
    assert set(report.daily) <= set(found)
    assert len(report.monthly_spend) == months_billed(report.window_end, azure_billing.SPEND_MONTHS)
    assert all(v > 0 for v in report.monthly_spend.values())
    # paged (nextLink) through the management pipeline, every call the billing layer's, declared
    p = providers.get("azure")
    assert set(calls) == {(p.BILLING_CALLER, "Microsoft.CostManagement/query/read")}
    assert calls[(p.BILLING_CALLER, "Microsoft.CostManagement/query/read")] > 2 * len(azure_estate.SUBSCRIPTIONS)
    assert set(p.billing_operations) <= set(catalog.policy_permissions("azure", catalog.iam_policy("azure")))


def test_azure_cost_of_one_failing_subscription_keeps_the_others_and_says_so(azure, full_scans):
    bad, good = azure_estate.SUBSCRIPTIONS
    azure.api.add_fault(Fault(path=f"/subscriptions/{bad}/providers/Microsoft.CostManagement/", status=403,
                              code="AuthorizationFailed", message="no Cost Management Reader role"))
    try:
        report, _ = _azure_costs(azure, full_scans["azure"][0])
    finally:
        azure.api.clear_faults()
    assert report.source == "azure_cost_management" and bad in report.note and "AuthorizationFailed" in report.note
    assert report.daily and all(good in rid.lower() for rid in report.daily)
    # the failed subscription's findings are unread (unknown), not "no charge"
    found = {d.resource.resource_id for o in full_scans["azure"][0] for d in o.findings}
    assert report.unread and report.unread == {rid for rid in found if bad in rid.lower()}
    assert report.monthly_spend == {}  # a partial sum would read as a lower spend: unknown instead
