"""Full metric history (Phase 2.3) through the services: the scanner reads each finding's series
(30 days of hourly points, batched GetMetricData) and hands it over; the enricher stores one row
per resource hash and metric with the points (gaps kept as nulls) and puts the aggregates in the
ML row's metrics_summary."""

from __future__ import annotations

import re

import pytest
from cloudwaste.scanner.engine import HISTORY_DAYS, HISTORY_PERIOD_S

from tests.integration.conftest import sql_rows

POINTS = HISTORY_DAYS * 86400 // HISTORY_PERIOD_S


def test_findings_carry_their_series_and_the_enricher_stores_and_summarizes_them(stack):
    account = stack.create_account()
    run = stack.scan(account.name)
    stack.wait_enriched(run.name)

    rows = sql_rows(
        stack.database_url,
        "SELECT detection_scenario, resource_hash, metrics_summary FROM ml_training_data",
    )
    idle = [(h, m) for scenario, h, m in rows if scenario == "ec2-instance-idle"]
    assert idle and all(m is not None and set(m) == {"cpu_average", "network_in", "network_out"} for _, m in idle)
    for _, summary in idle:
        cpu = summary["cpu_average"]
        assert cpu["points"] == POINTS == 720
        assert 0 < cpu["missing_share"] < 1  # the estate writes one point a day: the other hours are gaps
        assert cpu["p50"] <= cpu["p95"] <= cpu["p99"] <= cpu["max"] and cpu["avg"] <= cpu["max"]
    # a kind no rule measures has no history
    assert all(m is None for scenario, _, m in rows if scenario == "eip-unassociated")

    series = sql_rows(
        stack.database_url,
        "SELECT resource_hash, namespace, metric_name, stat, period_seconds, point_values, missing_share, avg "
        "FROM cloudwatch_metrics_history",
    )
    by_key = {
        (h, metric, stat): (ns, period, values, missing, avg)
        for h, ns, metric, stat, period, values, missing, avg in series
    }
    for resource_hash, summary in idle:
        assert re.fullmatch("[0-9a-f]{64}", resource_hash)
        ns, period, values, missing, avg = by_key[(resource_hash, "CPUUtilization", "Average")]
        assert (ns, period, len(values)) == ("AWS/EC2", 3600, 720)
        present = [v for v in values if v is not None]
        assert missing == pytest.approx(1 - len(present) / 720) and avg == pytest.approx(sum(present) / len(present))
        assert summary["cpu_average"]["avg"] == pytest.approx(avg)

    # a rescan replaces each resource's series: still one row per resource and metric
    again = stack.scan(account.name)
    stack.wait_enriched(again.name)
    keys = sql_rows(
        stack.database_url, "SELECT resource_hash, namespace, metric_name, stat FROM cloudwatch_metrics_history"
    )
    assert len(keys) == len(set(keys)) == len(series)
