"""A page of findings with many tags stays under the 4 MB a gRPC client receives by default: the
page is cut by size, whatever page_size asked, and next_page_token goes on from there, in either
order, with nothing skipped or repeated."""

from __future__ import annotations

import grpc
import pytest
import sqlalchemy as sa
from cloudwaste.scanner.servicer import MAX_PAGE_BYTES
from cloudwaste.scanner.v1 import scanner_service_pb2

DEFAULT_CLIENT_LIMIT = 4 * 1024 * 1024


@pytest.mark.parametrize("order_by", ["", "expected_monthly_saving desc"])
def test_a_page_of_findings_with_many_tags_is_cut_by_size(stack, order_by):
    account = stack.create_account()
    run = stack.scan(account.name)
    expected = {f.name for f in stack.findings(scan_run=run.name)}
    # 120 tags of 250 characters: about 35 KB a finding, so 1,000 would be 35 MB
    tags = {f"team-{i:03d}": "v" * 250 for i in range(120)}
    engine = sa.create_engine(stack.database_url)
    with engine.begin() as c:
        c.execute(
            sa.text("UPDATE findings SET tags = CAST(:t AS jsonb)"), {"t": __import__("json").dumps(tags)}
        )
    engine.dispose()

    # a client with gRPC's default receive limit (4 MB), as grpcurl and most clients are
    with grpc.insecure_channel(
        f"127.0.0.1:{stack.running['scanner'].port}",
        options=[("grpc.max_receive_message_length", DEFAULT_CLIENT_LIMIT)],
    ) as channel:
        from cloudwaste.scanner.v1 import scanner_service_pb2_grpc

        scanner = scanner_service_pb2_grpc.ScannerServiceStub(channel)
        seen, token, pages = [], "", []
        while True:
            page = scanner.ListFindings(
                scanner_service_pb2.ListFindingsRequest(
                    scan_run=run.name, page_size=1000, page_token=token, order_by=order_by
                ),
                timeout=30,
            )
            pages.append((len(page.findings), page.ByteSize()))
            seen += [f.name for f in page.findings]
            assert len(page.findings[0].resource_labels) == 120
            token = page.next_page_token
            if not token:
                break
    assert len(expected) > 120  # enough findings that one page of 1,000 would not fit
    assert len(seen) == len(set(seen)) and set(seen) == expected, pages
    assert len(pages) >= 2 and all(size <= MAX_PAGE_BYTES < DEFAULT_CLIENT_LIMIT for _, size in pages), pages
    assert all(n < 1000 for n, _ in pages)


def test_total_size_is_exact_up_to_a_bound_and_the_databases_estimate_beyond(stack, monkeypatch):
    """Counting every matching finding would cost each page tens of milliseconds at 100,000
    (bench/load_bench.py): above EXACT_TOTAL_UP_TO, total_size is PostgreSQL's estimate."""
    from cloudwaste.scanner import store

    account = stack.create_account()
    run = stack.scan(account.name)
    exact = run.findings_count
    request = scanner_service_pb2.ListFindingsRequest(cloud_account=account.name, page_size=5)
    assert stack.scanner.ListFindings(request, timeout=10).total_size == exact
    engine = sa.create_engine(stack.database_url)
    with engine.connect() as c:
        c.execution_options(isolation_level="AUTOCOMMIT").execute(sa.text("ANALYZE findings"))
    engine.dispose()
    monkeypatch.setattr(store, "EXACT_TOTAL_UP_TO", 10)  # the scanner runs in this process
    estimated = stack.scanner.ListFindings(request, timeout=10).total_size
    assert estimated > 10 and 0.25 * exact <= estimated <= 4 * exact, (estimated, exact)
