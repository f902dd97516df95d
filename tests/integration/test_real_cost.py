"""Real cost (Phase 2.2): what the bill says of each finding, read after the scan.

The simulated estate's bill (cloudwaste.sim.billing) is not its list prices: an enterprise
discount on every line, Savings Plans on half of the running machines, snapshots billed for the
blocks they store, partial first days, a tax line. The scanner reads it from the CUR 2.0 export in
S3 (pyarrow) or from Cost Explorer (GetCostAndUsageWithResources, paginated, cached for the day,
counted); both must give the sim's own net cost of each resource and day. Providers without a
per-resource bill, and a bill that cannot be read, give a reason, never a zero."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import Counter

import pytest
from cloudwaste.core.billing import BILLING_UNAVAILABLE, NO_BILLING_SOURCE
from cloudwaste.scanner import catalog, providers
from cloudwaste.scanner.engine import Engine, ScanPlan, ScanTarget
from cloudwaste.scanner.providers import aws_billing
from cloudwaste.scanner.rules import load_all as load_rules
from cloudwaste.sim import billing

from tests.integration.conftest import months_billed

ROLE = "arn:aws:iam::{}:role/CloudWaste"


def _access(truth, uri: str) -> dict:
    return providers.get("aws").validate_access(
        {"role_arn": ROLE.format(truth.account_id), "external_id": "ext-cost", "cost_export_uri": uri}, "a"
    )


@pytest.fixture(scope="module")
def scanned(moto_estate):
    endpoint, truth = moto_estate
    engine = Engine(load_rules(), {"aws": {"endpoint_url": endpoint}})
    plan = engine.resolve_scopes(
        ScanTarget("aws", _access(truth, billing.export_uri(truth.account_id)), list(truth.regions))
    )
    outcomes = engine.scan_scopes(plan, lambda o: None)
    assert all(o.succeeded for o in outcomes)
    return engine, plan, outcomes, truth


def _with_access(engine, plan, truth, uri: str) -> ScanPlan:
    aws = providers.get("aws")
    return dataclasses.replace(plan, connection=aws.connect(_access(truth, uri), engine.options["aws"]))


def _expected(truth, start: dt.date, end: dt.date) -> dict[str, dict[dt.date, float]]:
    """The sim's own net cost per resource (as the CUR names it) and day."""
    out: dict[str, dict[dt.date, float]] = {}
    for line in billing.lines(truth.account_id, billing.ledger(truth.account_id), start, end):
        if line["line_item_resource_id"]:
            day = line["line_item_usage_start_date"].date()
            days = out.setdefault(line["line_item_resource_id"].rsplit("/", 1)[-1], {})
            days[day] = days.get(day, 0.0) + billing.net_cost(line)
    return out


def test_the_cur_export_gives_each_findings_net_cost_per_day(scanned):
    engine, plan, outcomes, truth = scanned
    report = engine.collect_costs(plan, outcomes)
    assert (report.source, report.missing) == (aws_billing.CUR, "")
    assert (report.window_end - report.window_start).days == aws_billing.COST_DAYS
    expected = _expected(truth, report.window_start, report.window_end)
    findings = {d.resource.resource_id: d for o in outcomes for d in o.findings}
    billed = {rid for rid in findings if rid.rsplit("/", 1)[-1] in expected}
    assert len(billed) >= 20 and set(report.daily) == billed  # every billed finding, nothing else
    for rid, days in report.daily.items():
        want = expected[rid.rsplit("/", 1)[-1]]
        assert days.keys() == want.keys()
        assert all(days[d] == pytest.approx(want[d], abs=1e-6) for d in days)
    # net of the discount, not the list price: an unassociated address costs 94% of its list rate
    eips = [
        d
        for d in findings.values()
        if d.detection.scenario == "eip-unassociated" and d.resource.resource_id in billed
    ]
    assert eips
    for d in eips:
        full_day = report.daily[d.resource.resource_id][report.window_end - dt.timedelta(days=1)]
        assert full_day == pytest.approx(0.005 * 24 * (1 - billing.EDP_DISCOUNT))
    # the account's spend per month, this month to date and the two before
    assert len(report.monthly_spend) == months_billed(report.window_end, aws_billing.SPEND_MONTHS) and all(
        v > 0 for v in report.monthly_spend.values()
    )


def test_cost_explorer_reads_the_same_bill_paginated_once_a_day_and_counted(scanned, monkeypatch):
    engine, plan, outcomes, truth = scanned
    from_cur = engine.collect_costs(plan, outcomes)
    ce_plan = _with_access(engine, plan, truth, "")
    monkeypatch.setattr(billing, "PAGE_GROUPS", 50)  # the simulated API's page: several pages
    aws_billing.CACHE.clear()
    calls: Counter = Counter()
    with providers.observe_calls(lambda provider, caller, op: calls.update([(caller, op)])):
        first = engine.collect_costs(ce_plan, outcomes)
        again = engine.collect_costs(ce_plan, outcomes)  # a second scan the same day
    assert first.source == aws_billing.COST_EXPLORER and again.daily == first.daily
    assert first.daily.keys() == from_cur.daily.keys()
    for rid, days in first.daily.items():
        assert days == pytest.approx(from_cur.daily[rid], abs=1e-6)
    assert first.monthly_spend == from_cur.monthly_spend
    pages = calls[("billing", "ce:GetCostAndUsageWithResources")]
    assert pages > 1 and calls[("billing", "ce:GetCostAndUsage")] == 1  # once for both scans: cached
    assert set(calls) == {("billing", "ce:GetCostAndUsageWithResources"), ("billing", "ce:GetCostAndUsage")}
    policy = {a for st in catalog.iam_policy("aws")["Statement"] for a in st["Action"]}
    assert {op for _, op in calls} <= policy


def test_an_export_that_cannot_be_read_gives_the_reason_never_zero(scanned):
    engine, plan, outcomes, truth = scanned
    missing = _with_access(engine, plan, truth, f"s3://cloudwaste-no-such-bucket-{truth.account_id}/cur/x")
    report = engine.collect_costs(missing, outcomes)
    assert report.source == "" and report.daily == {} and report.missing == BILLING_UNAVAILABLE
    assert "CUR export could not be read" in report.note and "NoSuchBucket" in report.note
    assert report.monthly_spend  # Cost Explorer still says what the account spent


@pytest.mark.parametrize("key", ["gcp", "m365"])
def test_providers_without_a_per_resource_bill_say_so(scanned, key):
    engine, _, outcomes, _ = scanned
    plan = ScanPlan(providers.get(key), None, [], {}, [])
    report = engine.collect_costs(plan, outcomes)
    assert report.source == "" and report.missing == NO_BILLING_SOURCE and report.note


def test_ml_rows_carry_the_real_cost_its_source_and_variance_or_why_not(stack):
    """Through the services: the scanner reads the CUR after the scan and hands each finding's
    daily cost over; the enricher writes cost_real_monthly, cost_variance_pct and the source."""
    from tests.integration.conftest import sql_rows

    account = stack.create_account(cost_export_uri=billing.export_uri(stack.truth.account_id))
    run = stack.scan(account.name)
    stack.wait_enriched(run.name)
    rows = sql_rows(
        stack.database_url,
        "SELECT detection_scenario, cost_monthly, cost_real_monthly, cost_variance_pct, cost_real_source, "
        "cost_real_missing FROM ml_training_data",
    )
    by_scenario: dict[str, list[tuple]] = {}
    for scenario, *rest in rows:
        by_scenario.setdefault(scenario, []).append(tuple(rest))
    for estimated, real, variance, source, missing in (r for rs in by_scenario.values() for r in rs):
        if real is None:  # never a zero for "unknown": a reason instead
            assert source is None and variance is None and missing == "not_in_billing_data"
        else:
            assert source == aws_billing.CUR and missing is None
            assert variance == pytest.approx((real - estimated) / estimated * 100, abs=0.01)
    # the bill is the list price less the enterprise discount: an unused address is 6% under
    eips = by_scenario["eip-unassociated"]
    assert eips and all(v == pytest.approx(-100 * billing.EDP_DISCOUNT, abs=0.5) for _, _, v, _, _ in eips)
    # an orphaned snapshot is billed for the blocks it stores, well under its volume's size
    snaps = [r for r in by_scenario["snapshot-orphaned"] if r[1] is not None]
    assert snaps and all(v < -35 for _, _, v, _, _ in snaps)
    # kinds the simulated bill does not cover (its EC2 core only) say so
    assert any(r[4] == "not_in_billing_data" for rs in by_scenario.values() for r in rs)
    filled = sum(1 for rs in by_scenario.values() for r in rs if r[1] is not None)
    assert filled >= 20


def test_an_export_holding_something_else_than_a_cur_gives_the_reason(scanned):
    import boto3

    engine, plan, outcomes, truth = scanned
    endpoint = engine.options["aws"]["endpoint_url"]
    s3 = boto3.client(
        "s3",
        endpoint_url=endpoint,
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    s3.put_object(
        Bucket=billing.export_bucket(truth.account_id),
        Key=f"not-cur/x/data/BILLING_PERIOD={dt.date.today():%Y-%m}/x-00001.snappy.parquet",
        Body=b"resource,cost\ni-1,3\n",
    )
    wrong = _with_access(engine, plan, truth, f"s3://{billing.export_bucket(truth.account_id)}/not-cur/x")
    report = engine.collect_costs(wrong, outcomes)
    assert report.missing == BILLING_UNAVAILABLE and report.daily == {} and "could not be read" in report.note


def test_an_export_with_no_file_yet_is_unavailable_and_naive_timestamps_are_read(scanned):
    import io

    import boto3
    import pyarrow as pa
    import pyarrow.parquet as pq

    engine, plan, outcomes, truth = scanned
    bucket = billing.export_bucket(truth.account_id)
    empty = _with_access(engine, plan, truth, f"s3://{bucket}/not-delivered-yet/x")
    report = engine.collect_costs(empty, outcomes)
    assert report.missing == BILLING_UNAVAILABLE and "no CUR file" in report.note

    # the same bill, its timestamps written without a time zone (UTC), as some exports do
    s3 = boto3.client(
        "s3",
        endpoint_url=engine.options["aws"]["endpoint_url"],
        region_name="us-east-1",
        aws_access_key_id="testing",
        aws_secret_access_key="testing",
    )
    for key in [
        o["Key"]
        for o in s3.list_objects_v2(Bucket=bucket, Prefix=f"{billing.EXPORT_PREFIX}/data/")["Contents"]
    ]:
        table = pq.read_table(io.BytesIO(s3.get_object(Bucket=bucket, Key=key)["Body"].read()))
        for name in (
            "bill_billing_period_start_date",
            "line_item_usage_start_date",
            "line_item_usage_end_date",
        ):
            at = table.schema.get_field_index(name)
            table = table.set_column(at, name, table[name].cast(pa.timestamp("ms")))
        sink = io.BytesIO()
        pq.write_table(table, sink)
        s3.put_object(
            Bucket=bucket, Key=key.replace(billing.EXPORT_PREFIX, "naive/cur"), Body=sink.getvalue()
        )
    naive = engine.collect_costs(_with_access(engine, plan, truth, f"s3://{bucket}/naive/cur"), outcomes)
    assert naive.source == aws_billing.CUR and naive.daily == engine.collect_costs(plan, outcomes).daily
