"""ListFindings page tokens: the position after which the next page starts, and the total the
first page counted (the next pages repeat it instead of counting again)."""

import datetime as dt
import uuid
from decimal import Decimal
from types import SimpleNamespace

import pytest
from cloudwaste.core import pagination
from cloudwaste.core.errors import InvalidArgument
from cloudwaste.scanner.store import _finding_position, _finding_token

FILTERS = {"cloud_account_id": "a", "state": "OPEN"}
ROW = SimpleNamespace(
    id=uuid.uuid4(),
    create_time=dt.datetime(2026, 11, 30, 8, 0, 1, 250, tzinfo=dt.UTC),
    expected_monthly_saving=None,
)


@pytest.mark.parametrize("by_saving", [False, True])
def test_a_token_carries_its_position_and_the_first_pages_total(by_saving):
    token = _finding_token(ROW, by_saving, FILTERS, 100_000)
    after, total = _finding_position(token, FILTERS, by_saving)
    assert after == ((Decimal(-1) if by_saving else ROW.create_time), ROW.id)
    assert total == 100_000


def test_no_token_is_the_first_page_and_a_token_without_a_total_still_pages():
    assert _finding_position("", FILTERS, False) == (None, None)
    older = pagination.encode_keyset(ROW.create_time, ROW.id, FILTERS)  # issued before totals rode along
    assert _finding_position(older, FILTERS, False) == ((ROW.create_time, ROW.id), None)


@pytest.mark.parametrize(
    "position",
    [
        ["2026-11-30T08:00:00+00:00", str(ROW.id), "-1"],
        ["x", str(ROW.id), "5"],
        ["2026-11-30T08:00:00+00:00", "1", "2", "3"],
    ],
)
def test_a_token_it_did_not_issue_names_page_token(position):
    with pytest.raises(InvalidArgument) as caught:
        _finding_position(pagination.encode(position, FILTERS), FILTERS, False)
    assert caught.value.field == "page_token"


def test_a_token_of_another_filter_is_refused():
    with pytest.raises(InvalidArgument, match="different filter"):
        _finding_position(_finding_token(ROW, False, FILTERS, 3), {**FILTERS, "state": "KEPT"}, False)
