"""Resource names, pagination tokens, settings, money conversion and the EC2 stop-time parser."""

from __future__ import annotations

import base64
import datetime as dt
import json
import uuid
from decimal import Decimal

import pytest
from cloudwaste.core import names, pagination
from cloudwaste.core.errors import CloudWasteError, InvalidArgument
from cloudwaste.core.protoconv import money, money_amount, timestamp
from cloudwaste.core.settings import HashKey, SettingsError
from cloudwaste.scanner.providers.aws import stopped_since
from cloudwaste.scanner.settings import ScannerSettings

ID = uuid.UUID("0b8f1c7e-3d2a-4f5b-9c6d-7e8f9a0b1c2d")
HASH_KEY = "s3cret-hash-key-material-0123456789abcdef"
ENV = {
    "CLOUDWASTE_DATABASE_URL": "postgresql://db/cloudwaste",
    "CLOUDWASTE_HASH_KEY": HASH_KEY,
    "CLOUDWASTE_AUTH_MODE": "none",
}


# --- names ----------------------------------------------------------------------------------


def test_parse_good_name():
    assert names.parse("name", f"scanRuns/{ID}", "scanRuns") == ID
    assert names.format("scanRuns", ID) == f"scanRuns/{ID}"
    assert names.parse("name", names.format("scanRuns", ID), "scanRuns") == ID


@pytest.mark.parametrize(
    "value",
    [
        f"findings/{ID}",  # wrong collection
        f"scanRunsX/{ID}",
        f"scanruns/{ID}",
        str(ID),  # no collection
        "scanRuns/not-a-uuid",  # bad uuid
        "scanRuns/",
        "scanRuns/1234",
        "",  # empty
    ],
)
def test_parse_bad_names_name_the_field(value):
    with pytest.raises(InvalidArgument) as exc:
        names.parse("scan_run", value, "scanRuns")
    assert exc.value.field == "scan_run"
    assert str(exc.value).startswith("scan_run: ")
    assert exc.value.code == "INVALID_ARGUMENT"
    assert isinstance(exc.value, CloudWasteError)


def test_parse_empty_says_required():
    with pytest.raises(InvalidArgument, match=r"^parent: is required") as exc:
        names.parse("parent", "", "cloudAccounts")
    assert exc.value.field == "parent"


def test_parse_error_truncates_long_input():
    value = "x" * 5000
    with pytest.raises(InvalidArgument) as exc:
        names.parse("name", value, "scanRuns")
    assert len(str(exc.value)) < 300


# --- pagination -----------------------------------------------------------------------------


def test_page_size_zero_means_default():
    assert pagination.page_size(0) == 50
    assert pagination.page_size(0, default=20) == 20


def test_page_size_negative_is_invalid():
    with pytest.raises(InvalidArgument) as exc:
        pagination.page_size(-1)
    assert exc.value.field == "page_size"


@pytest.mark.parametrize(("value", "expected"), [(1, 1), (1000, 1000), (1001, 1000), (10**9, 1000)])
def test_page_size_is_capped(value, expected):
    assert pagination.page_size(value) == expected


def test_page_size_custom_maximum():
    assert pagination.page_size(10**6, maximum=500) == 500


FILTERS = {"state": "OPEN", "scan_run_id": str(ID)}


def test_token_round_trip():
    position = ["2026-06-01T12:00:00+00:00", str(ID)]
    token = pagination.encode(position, FILTERS)
    assert isinstance(token, str) and token
    assert "=" not in token
    assert pagination.decode(token, dict(reversed(FILTERS.items()))) == position


def test_empty_token_is_first_page():
    assert pagination.decode("", FILTERS) is None


def test_token_reused_with_different_filters_is_invalid():
    token = pagination.encode(["2026-06-01T12:00:00+00:00", str(ID)], FILTERS)
    with pytest.raises(InvalidArgument) as exc:
        pagination.decode(token, {**FILTERS, "state": "DISMISSED"})
    assert exc.value.field == "page_token"
    with pytest.raises(InvalidArgument):
        pagination.decode(token, {})


@pytest.mark.parametrize(
    "token",
    ["garbage", "!!!!", "e30", "W10", "bnVsbA", "x" * 1001, base64.urlsafe_b64encode(b'{"p": [1]}').decode()],
)
def test_garbage_token_is_invalid(token):
    with pytest.raises(InvalidArgument) as exc:
        pagination.decode(token, FILTERS)
    assert exc.value.field == "page_token"


def _forge(position, filters) -> str:
    raw = json.dumps({"p": position, "f": pagination._fingerprint(filters)}).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


@pytest.mark.parametrize("position", ["2026-06-01", 42, {"a": 1}])
def test_token_with_non_list_position_is_invalid(position):
    # decode() is typed `-> list | None` and its callers index position[0] / position[1]; a
    # well-fingerprinted token whose position is not a list must be a page_token error, not a
    # crash (INTERNAL) in the store.
    with pytest.raises(InvalidArgument) as exc:
        pagination.decode(_forge(position, FILTERS), FILTERS)
    assert exc.value.field == "page_token"


# --- settings -------------------------------------------------------------------------------


def test_scanner_settings_from_env_dict():
    s = ScannerSettings.from_env(dict(ENV))
    assert s.database_url == "postgresql://db/cloudwaste"
    assert s.grpc_port == 50051
    assert s.hash_key.key == HASH_KEY.encode()
    assert s.hash_key.key_id == "k1"
    assert s.enricher_address == ""


def test_missing_database_url():
    env = {k: v for k, v in ENV.items() if k != "CLOUDWASTE_DATABASE_URL"}
    with pytest.raises(SettingsError, match="CLOUDWASTE_DATABASE_URL"):
        ScannerSettings.from_env(env)
    with pytest.raises(SettingsError, match="CLOUDWASTE_DATABASE_URL"):
        ScannerSettings.from_env({**env, "CLOUDWASTE_DATABASE_URL": ""})


@pytest.mark.parametrize("port", ["abc", "50051.5", "0x10", "port"])
def test_non_integer_grpc_port(port):
    with pytest.raises(SettingsError, match="CLOUDWASTE_GRPC_PORT"):
        ScannerSettings.from_env({**ENV, "CLOUDWASTE_GRPC_PORT": port})


@pytest.mark.parametrize("port", ["-1", "65536"])
def test_out_of_range_grpc_port(port):
    with pytest.raises(SettingsError, match="CLOUDWASTE_GRPC_PORT"):
        ScannerSettings.from_env({**ENV, "CLOUDWASTE_GRPC_PORT": port})


def test_grpc_port_parsed():
    assert ScannerSettings.from_env({**ENV, "CLOUDWASTE_GRPC_PORT": "6000"}).grpc_port == 6000


def test_short_hash_key_rejected():
    with pytest.raises(SettingsError, match="CLOUDWASTE_HASH_KEY"):
        ScannerSettings.from_env({**ENV, "CLOUDWASTE_HASH_KEY": "x" * 31})
    with pytest.raises(SettingsError, match="CLOUDWASTE_HASH_KEY"):
        HashKey.from_env({"CLOUDWASTE_HASH_KEY": "short"})


def test_missing_hash_key_rejected():
    env = {k: v for k, v in ENV.items() if k != "CLOUDWASTE_HASH_KEY"}
    with pytest.raises(SettingsError, match="CLOUDWASTE_HASH_KEY"):
        ScannerSettings.from_env(env)


def test_hash_key_exactly_32_accepted():
    assert HashKey.from_env({"CLOUDWASTE_HASH_KEY": "y" * 32, "CLOUDWASTE_HASH_KEY_ID": "k9"}).key_id == "k9"


def test_settings_repr_hides_hash_key():
    s = ScannerSettings.from_env({**ENV, "CLOUDWASTE_HASH_KEY_ID": "rot-7"})
    for text in (repr(s), str(s), repr(s.hash_key), str(s.hash_key)):
        assert HASH_KEY not in text
        assert HASH_KEY[:16] not in text
        assert repr(HASH_KEY.encode()) not in text


def test_settings_error_is_value_error():
    assert issubclass(SettingsError, ValueError)


# --- protoconv.money --------------------------------------------------------------------------


@pytest.mark.parametrize(
    "amount", ["12.3456", "-12.3456", "0", "-0.5", "0.000000001", "123456789.987654321", "-7"]
)
def test_money_round_trip(amount):
    m = money(Decimal(amount))
    assert m.currency_code == "USD"
    assert money_amount(m) == Decimal(amount)
    # google.type.Money: units and nanos never have opposite signs
    assert not (m.units > 0 and m.nanos < 0) and not (m.units < 0 and m.nanos > 0)
    assert -999_999_999 <= m.nanos <= 999_999_999


def test_money_parts():
    m = money(Decimal("12.3456"), "EUR")
    assert (m.units, m.nanos, m.currency_code) == (12, 345_600_000, "EUR")
    n = money(Decimal("-12.3456"))
    assert (n.units, n.nanos) == (-12, -345_600_000)


def test_money_from_float_and_int():
    assert money_amount(money(3.65)) == Decimal("3.65")
    assert money_amount(money(5)) == Decimal(5)


def test_timestamp_conversion():
    assert timestamp(None) is None
    ts = timestamp(dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC))
    assert ts.seconds == int(dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC).timestamp())


# --- providers.aws.stopped_since --------------------------------------------------------------


def test_stopped_since_parses_reason():
    got = stopped_since("User initiated (2026-01-02 03:04:05 GMT)")
    assert got == dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.UTC)
    assert got.tzinfo is not None and got.utcoffset() == dt.timedelta(0)


def test_stopped_since_other_prefixes():
    got = stopped_since("Server.ScheduledStop (2025-12-31 23:59:59 GMT)")
    assert got == dt.datetime(2025, 12, 31, 23, 59, 59, tzinfo=dt.UTC)


@pytest.mark.parametrize(
    "reason",
    [
        None,
        "",
        "garbage",
        "User initiated",
        "User initiated (yesterday GMT)",
        "User initiated (2026-01-02 03:04:05 UTC)",
        "(2026-01-02 GMT)",
    ],
)
def test_stopped_since_garbage_is_none(reason):
    assert stopped_since(reason) is None


@pytest.mark.parametrize("raw", ["0", "-1", "inf", "nan", "1e9"])
def test_a_poll_interval_that_would_spin_or_never_wake_fails_at_start(raw):
    from cloudwaste.predictor.settings import PredictorSettings

    with pytest.raises(SettingsError, match="CLOUDWASTE_MODEL_POLL_SECONDS"):
        PredictorSettings.from_env({**ENV, "CLOUDWASTE_MODEL_POLL_SECONDS": raw})


def test_a_deadlock_is_aborted_retried_and_an_outage_is_unavailable():
    import pytest as _pytest
    from cloudwaste.core.db import Database
    from cloudwaste.core.errors import Aborted, Unavailable
    from sqlalchemy.exc import OperationalError

    class Orig(Exception):
        def __init__(self, sqlstate):
            self.sqlstate = sqlstate

    db = Database("postgresql+psycopg://nobody@127.0.0.1:1/none")  # never connected: nothing is executed
    with _pytest.raises(Aborted), db.transaction():
        raise OperationalError("DELETE ...", {}, Orig("40P01"))  # deadlock detected
    with _pytest.raises(Unavailable), db.transaction():
        raise OperationalError("SELECT 1", {}, Orig("08006"))  # connection failure
    tries = []

    def work():
        tries.append(1)
        if len(tries) < 3:
            raise Aborted("conflict")
        return "done"

    assert db.retrying(work) == "done" and len(tries) == 3
    with _pytest.raises(Aborted):
        db.retrying(lambda: (_ for _ in ()).throw(Aborted("always")), attempts=2)
    db.dispose()


def test_patiently_writes_again_while_the_database_is_away_then_gives_up(monkeypatch):
    from cloudwaste.core import db
    from cloudwaste.core.errors import Unavailable

    slept = []
    monkeypatch.setattr(db.time, "sleep", slept.append)
    calls = iter([Unavailable("down"), Unavailable("down"), "written"])

    def work():
        outcome = next(calls)
        if isinstance(outcome, Exception):
            raise outcome
        return outcome

    assert db.patiently(work, patience=60) == "written"
    assert slept == [0.5, 1.0]  # backing off
    with pytest.raises(Unavailable):  # no patience left, or stopping: the error stands
        db.patiently(lambda: (_ for _ in ()).throw(Unavailable("down")), patience=0)
    with pytest.raises(Unavailable):
        db.patiently(lambda: (_ for _ in ()).throw(Unavailable("down")), patience=60, stopping=lambda: True)


def test_a_call_without_a_deadline_has_none_below_it():
    """grpc reports a call without a deadline as one centuries away (time_remaining() is never
    None): the work below it has no deadline, rather than a statement_timeout PostgreSQL refuses."""
    from cloudwaste.core import deadlines

    for far in (None, 9.2e18 - 1.7e9, 8 * 86_400.0):
        token = deadlines.start(far)
        try:
            assert deadlines.remaining() is None
        finally:
            deadlines.done(token)
    token = deadlines.start(2.0)
    try:
        assert 1.5 < deadlines.remaining() <= 2.0
    finally:
        deadlines.done(token)
    assert deadlines.remaining() is None
