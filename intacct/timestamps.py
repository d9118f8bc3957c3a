"""Intacct's wire formats for dates and date-times, always UTC.

Intacct writes and reads date-times as ``MM/DD/YYYY HH:MM:SS`` and dates as ``MM/DD/YYYY``, with no
zone: this library takes them as UTC.

>>> format_datetime(datetime(2025, 1, 31, 10, 5, 9, tzinfo=UTC))
'01/31/2025 10:05:09'
>>> parse_datetime("01/31/2025 10:05:09")
datetime.datetime(2025, 1, 31, 10, 5, 9, tzinfo=datetime.timezone.utc)
>>> parse_user_datetime("2025-01-31T10:05:09")
datetime.datetime(2025, 1, 31, 10, 5, 9, tzinfo=datetime.timezone.utc)
"""

from __future__ import annotations

from datetime import UTC, datetime

__all__ = [
    "DATETIME_FORMAT",
    "format_datetime",
    "parse_datetime",
    "parse_user_datetime",
]

#: ``strftime`` spelling of Intacct's date-time (``07/24/2017 15:19:46``).
DATETIME_FORMAT = "%m/%d/%Y %H:%M:%S"

# What a person may type where a date-time is asked for (the command line's ``--since``).
_USER_FORMATS = (
    DATETIME_FORMAT,
    "%m/%d/%Y",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d",
)


def format_datetime(value: datetime) -> str:
    """``value`` as Intacct's ``MM/DD/YYYY HH:MM:SS`` in UTC; a naive ``value`` is taken as UTC."""
    if value.tzinfo is not None:
        value = value.astimezone(UTC)
    return value.strftime(DATETIME_FORMAT)


def parse_datetime(text: str | None) -> datetime | None:
    """An Intacct ``MM/DD/YYYY HH:MM:SS`` (or ``MM/DD/YYYY``) as an aware UTC datetime; ``None``
    when empty or unreadable.  Sliced by hand: ``strptime`` cost more than the rest of a row."""
    value = (text or "").strip()
    try:
        if len(value) == 19 and value[2] == value[5] == "/" and value[13] == value[16] == ":":
            return datetime(
                int(value[6:10]), int(value[0:2]), int(value[3:5]),
                int(value[11:13]), int(value[14:16]), int(value[17:19]), tzinfo=UTC,
            )  # fmt: skip
        if len(value) == 10 and value[2] == value[5] == "/":
            return datetime(int(value[6:10]), int(value[0:2]), int(value[3:5]), tzinfo=UTC)
    except ValueError:
        return None
    return None


def parse_user_datetime(text: str) -> datetime:
    """A date-time a person typed, as an aware UTC datetime: Intacct's ``MM/DD/YYYY HH:MM:SS`` or
    ``MM/DD/YYYY``, or ISO ``YYYY-MM-DD[(T| )HH:MM:SS]``.  Raises :class:`ValueError` otherwise."""
    value = text.strip()
    for fmt in _USER_FORMATS:
        try:
            return datetime.strptime(value, fmt).replace(tzinfo=UTC)
        except ValueError:
            continue
    raise ValueError(f"{text!r} is not MM/DD/YYYY HH:MM:SS, MM/DD/YYYY or YYYY-MM-DDTHH:MM:SS")
