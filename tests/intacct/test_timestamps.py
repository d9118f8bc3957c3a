"""Intacct's date and date-time wire formats, always UTC."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from intacct.timestamps import format_datetime, parse_datetime, parse_user_datetime


def test_format_datetime_writes_utc_in_the_wire_format() -> None:
    assert format_datetime(datetime(2025, 1, 31, 10, 5, 9, tzinfo=UTC)) == "01/31/2025 10:05:09"


def test_format_datetime_converts_an_aware_value_to_utc() -> None:
    eastern = timezone(timedelta(hours=-5))
    value = datetime(2025, 1, 31, 21, 30, 0, tzinfo=eastern)
    assert format_datetime(value) == "02/01/2025 02:30:00"


def test_format_datetime_takes_a_naive_value_as_utc() -> None:
    assert format_datetime(datetime(2025, 7, 4, 0, 0, 1)) == "07/04/2025 00:00:01"


def test_format_datetime_drops_microseconds() -> None:
    assert (
        format_datetime(datetime(2025, 1, 2, 3, 4, 5, 999999, tzinfo=UTC)) == "01/02/2025 03:04:05"
    )


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("01/31/2025 10:05:09", datetime(2025, 1, 31, 10, 5, 9, tzinfo=UTC)),
        ("  12/01/1999 23:59:59 ", datetime(1999, 12, 1, 23, 59, 59, tzinfo=UTC)),
        ("07/24/2017", datetime(2017, 7, 24, tzinfo=UTC)),
        ("", None),
        (None, None),
        ("not a date", None),
        ("13/01/2025 00:00:00", None),
        ("02/30/2025", None),
        ("2025-01-31T10:05:09", None),
        ("01/31/2025 10:05", None),
        ("ab/cd/efgh 10:05:09", None),
    ],
)
def test_parse_datetime(text: str | None, expected: datetime | None) -> None:
    assert parse_datetime(text) == expected


def test_parse_datetime_is_aware_utc() -> None:
    parsed = parse_datetime("01/31/2025 10:05:09")
    assert parsed is not None
    assert parsed.utcoffset() == timedelta(0)


def test_a_formatted_datetime_parses_back() -> None:
    value = datetime(2024, 2, 29, 8, 9, 10, tzinfo=UTC)
    assert parse_datetime(format_datetime(value)) == value


@pytest.mark.parametrize(
    "text",
    [
        "01/31/2025 10:05:09",
        "2025-01-31T10:05:09",
        "2025-01-31 10:05:09",
        " 01/31/2025 10:05:09 ",
    ],
)
def test_parse_user_datetime_accepts_intacct_and_iso(text: str) -> None:
    assert parse_user_datetime(text) == datetime(2025, 1, 31, 10, 5, 9, tzinfo=UTC)


@pytest.mark.parametrize("text", ["01/31/2025", "2025-01-31"])
def test_parse_user_datetime_accepts_a_date_as_its_midnight(text: str) -> None:
    assert parse_user_datetime(text) == datetime(2025, 1, 31, tzinfo=UTC)


@pytest.mark.parametrize("text", ["", "yesterday", "31/01/2025", "2025-01-31T10:05:09+02:00"])
def test_parse_user_datetime_refuses_anything_else(text: str) -> None:
    with pytest.raises(ValueError):
        parse_user_datetime(text)
