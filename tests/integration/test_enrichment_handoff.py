"""The scanner hands a scan run to the enricher through scan_handoffs and enrichment_inputs,
written with the scan; the enricher reads nothing else of the scanner's. The hand-off holds raw
tags (operational data): it goes with the scan runs when an account is deleted."""

from __future__ import annotations

import ast
import pathlib

import sqlalchemy as sa
from cloudwaste.enricher.v1 import enricher_service_pb2
from cloudwaste.scanner.v1 import scanner_service_pb2

from tests.integration.conftest import sql_rows

ENRICHER = pathlib.Path(__file__).resolve().parents[2] / "services" / "enricher" / "cloudwaste" / "enricher"
ENRICHER_READS = {
    "ScanHandoff", "EnrichmentInput", "EnrichmentRun", "MlTrainingData", "CostTrendData", "CloudwatchMetricsHistory",
}


def test_the_enricher_imports_no_table_of_the_scanner_but_the_hand_off():
    used = set()
    for path in ENRICHER.glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ImportFrom) and node.module == "cloudwaste.core.models":
                used |= {a.name for a in node.names}
    assert used and used <= ENRICHER_READS, sorted(used - ENRICHER_READS)


def test_a_scan_hands_over_its_rows_and_the_enricher_works_from_them_alone(stack):
    account = stack.create_account()
    run = stack.scan(account.name)
    stack.wait_enriched(run.name)
    run_id = run.name.split("/")[1]
    ((state, ended),) = sql_rows(
        stack.database_url, f"SELECT scan_state, end_time IS NOT NULL FROM scan_handoffs WHERE scan_run_id = '{run_id}'"
    )
    assert state == "SUCCEEDED" and ended
    ((inputs, with_tags),) = sql_rows(
        stack.database_url,
        "SELECT count(*), count(*) FILTER (WHERE tags <> '{}'::jsonb) FROM enrichment_inputs "
        f"WHERE scan_run_id = '{run_id}'",
    )
    assert inputs == run.findings_count and with_tags > 0

    # the findings' tags are wiped: enriching again gives the same anonymized tags (read from the hand-off)
    before = sql_rows(stack.database_url, "SELECT id, tags_anonymized::text FROM ml_training_data ORDER BY id")
    engine = sa.create_engine(stack.database_url)
    with engine.begin() as c:
        c.execute(sa.text("UPDATE findings SET tags = '{}'::jsonb"))
    engine.dispose()
    stack.enricher.EnrichScanRun(enricher_service_pb2.EnrichScanRunRequest(scan_run=run.name))
    stack.wait_enriched(run.name)
    assert sql_rows(stack.database_url, "SELECT id, tags_anonymized::text FROM ml_training_data ORDER BY id") == before

    # deleting the account takes its hand-off (raw tags) with its scan runs
    stack.scanner.DeleteCloudAccount(scanner_service_pb2.DeleteCloudAccountRequest(name=account.name, erase_ml_data=True))
    assert sql_rows(stack.database_url, "SELECT count(*) FROM enrichment_inputs") == [(0,)]
    assert sql_rows(stack.database_url, "SELECT count(*) FROM scan_handoffs") == [(0,)]


def test_a_run_whose_scanner_stopped_before_the_hand_off_is_handed_over_later(stack):
    """The run ended, then its scanner stopped while collecting the history: the enricher is not
    told of it (nothing to take yet) until the grace has passed; then it is handed over without."""
    import datetime as dt

    from cloudwaste.core.db import Database
    from cloudwaste.scanner.store import ScannerStore

    from tests.integration.conftest import HASH_KEY

    run = stack.scan(stack.create_account().name)
    stack.wait_enriched(run.name)
    run_id = run.name.split("/")[1]
    engine = sa.create_engine(stack.database_url)
    with engine.begin() as c:
        c.execute(sa.text(f"UPDATE scan_handoffs SET scan_state = NULL, end_time = NULL WHERE scan_run_id = '{run_id}'"))
        c.execute(sa.text(f"UPDATE scan_runs SET enrichment_notified_time = NULL WHERE id = '{run_id}'"))
    engine.dispose()
    db = Database(stack.database_url)
    store = ScannerStore(db, HASH_KEY)
    try:
        assert str(run_id) not in {str(r) for r in store.runs_awaiting_enrichment()}
        assert store.complete_stale_handoffs(dt.timedelta(minutes=15)) == 0  # it ended moments ago
        assert store.complete_stale_handoffs(dt.timedelta(0)) == 1
        assert str(run_id) in {str(r) for r in store.runs_awaiting_enrichment()}
        assert sql_rows(stack.database_url, f"SELECT scan_state FROM scan_handoffs WHERE scan_run_id = '{run_id}'") == [
            ("SUCCEEDED",)
        ]
    finally:
        db.dispose()
