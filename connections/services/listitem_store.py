"""Writing SmartSync pages into :class:`~connections.models.ListItem`, fast.

:func:`upsert_page` writes one page in one statement and lets the database skip the rows that did
not change (``ON CONFLICT … DO UPDATE … WHERE`` the stored row differs), so an unchanged row is
neither re-read into Python nor rewritten. It is SQL of our own rather than ``bulk_create``: the ORM
cannot say "update only when different", and building a model instance per record (and, on
PostgreSQL, quoting every value client-side) cost more than the sync's network and parsing
together. The values are bound as parameters, never formatted into the SQL.

:class:`KeySet` holds the keys a sync has seen in a few bytes each, so finding deletions among a
million records needs a few megabytes, not a million Python strings.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import NamedTuple

import numpy as np
import psycopg
from django.db import connection
from django.db.models import Count

from connections.models import ListItem

__all__ = ["KeySet", "Row", "Written", "held_counts", "held_keys", "json_text", "upsert_page"]


class Row(NamedTuple):
    """One record as a ListItem row: ``fields`` is the record as JSON text."""

    record_no: str
    item_id: str
    name: str
    status: str
    when_modified: datetime | None
    fields: str


@dataclass(frozen=True)
class Written:
    created: int
    updated: int
    unchanged: int


def json_text(record: dict[str, str]) -> str:
    """The record as Django's JSONField stores it (same ``json.dumps`` defaults), so the text
    compares equal to what the ORM would have written."""
    return json.dumps(record)


# --- the upsert -----------------------------------------------------------------------------------

_TABLE = ListItem._meta.db_table
_COLUMNS: dict[str, str] = {f.name: str(f.column) for f in ListItem._meta.concrete_fields}
_ENTITY = _COLUMNS["legal_entity"]


def _q(name: str) -> str:
    return connection.ops.quote_name(name)


def _conflict_clause() -> str:
    t = _q(_TABLE)
    # Null-safe "differs": SQLite spells it IS NOT (IS DISTINCT FROM needs SQLite 3.39; Django
    # 5.2 supports 3.31).
    differs = "IS DISTINCT FROM" if connection.vendor == "postgresql" else "IS NOT"
    changed = " OR ".join(
        [
            f"{t}.{_q(_COLUMNS['when_modified'])} {differs} EXCLUDED.{_q(_COLUMNS['when_modified'])}",
            f"{t}.{_q(_COLUMNS['fields'])} {differs} EXCLUDED.{_q(_COLUMNS['fields'])}",
            f"{t}.{_q(_COLUMNS['deleted_at'])} IS NOT NULL",
        ]
    )
    sets = ", ".join(
        f"{_q(_COLUMNS[name])} = EXCLUDED.{_q(_COLUMNS[name])}"
        for name in (
            "item_id",
            "name",
            "status",
            "when_modified",
            "fields",
            "deleted_at",
            "synced_at",
        )
    )
    keys = ", ".join(_q(c) for c in (_ENTITY, _COLUMNS["object_name"], _COLUMNS["record_no"]))
    return f"ON CONFLICT ({keys}) DO UPDATE SET {sets} WHERE {changed}"


_INSERT_COLUMNS = (
    _ENTITY,
    _COLUMNS["object_name"],
    _COLUMNS["record_no"],
    _COLUMNS["item_id"],
    _COLUMNS["name"],
    _COLUMNS["status"],
    _COLUMNS["when_modified"],
    _COLUMNS["fields"],
    _COLUMNS["deleted_at"],
    _COLUMNS["synced_at"],
)


def upsert_page(
    legal_entity_id: int, object_name: str, rows: Sequence[Row], now: datetime
) -> Written:
    """Insert new rows and update changed or deleted ones of one page, in one statement; rows whose
    WHENMODIFIED and fields are unchanged are left as they are. ``rows`` have distinct keys."""
    if not rows:
        return Written(0, 0, 0)
    if connection.vendor == "postgresql":
        return _upsert_postgresql(legal_entity_id, object_name, rows, now)
    return _upsert_portable(legal_entity_id, object_name, rows, now)


def _upsert_postgresql(
    legal_entity_id: int, object_name: str, rows: Sequence[Row], now: datetime
) -> Written:
    """One ``INSERT … SELECT FROM unnest(arrays)``: nine parameters for the whole page, bound
    server-side on Django's own connection and transaction. The arrays go in binary (``%b``):
    psycopg's text format escapes every element in Python, 50 times slower.
    ``RETURNING (xmax = 0)`` tells an insert from an update; rows skipped as unchanged return
    nothing."""
    columns = ", ".join(_q(c) for c in _INSERT_COLUMNS)
    sql = (
        f"INSERT INTO {_q(_TABLE)} ({columns}) "  # noqa: S608 - names from the model, values bound
        "SELECT %s, %s, r.record_no, r.item_id, r.name, r.status, r.when_modified, "
        "r.fields::jsonb, NULL, %s "
        "FROM unnest(%b::text[], %b::text[], %b::text[], %b::text[], %b::timestamptz[], "
        "%b::text[]) AS r(record_no, item_id, name, status, when_modified, fields) "
        f"{_conflict_clause()} RETURNING (xmax = 0)"
    )
    params = [
        legal_entity_id,
        object_name,
        now,
        *(list(column) for column in zip(*rows, strict=True)),
    ]
    connection.ensure_connection()
    raw = connection.connection
    with psycopg.Cursor(raw) as cursor:
        cursor.execute(sql, params)
        inserted = [flag for (flag,) in cursor.fetchall()]
    created = sum(inserted)
    updated = len(inserted) - created
    return Written(created, updated, len(rows) - created - updated)


def _upsert_portable(
    legal_entity_id: int, object_name: str, rows: Sequence[Row], now: datetime
) -> Written:
    """SQLite: the keys already held (live or deleted) are read first, then one ``executemany``
    of the upsert, whose change count says how many rows were written."""
    ops = connection.ops
    held = _existing(legal_entity_id, object_name, [row.record_no for row in rows])
    created = sum(1 for row in rows if row.record_no not in held)
    stamp = ops.adapt_datetimefield_value(now)
    placeholders = ", ".join(["%s"] * 8 + ["NULL", "%s"])
    sql = (
        f"INSERT INTO {_q(_TABLE)} ({', '.join(_q(c) for c in _INSERT_COLUMNS)}) "  # noqa: S608 - as above
        f"VALUES ({placeholders}) {_conflict_clause()}"
    )
    params = [
        (
            legal_entity_id,
            object_name,
            *row[:4],
            ops.adapt_datetimefield_value(row[4]),
            row[5],
            stamp,
        )
        for row in rows
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)
        written = cursor.rowcount
    updated = max(0, written - created)
    return Written(created, updated, len(rows) - created - updated)


def _existing(legal_entity_id: int, object_name: str, keys: list[str]) -> set[str]:
    return set(
        ListItem.objects.filter(
            legal_entity_id=legal_entity_id, object_name=object_name, record_no__in=keys
        ).values_list("record_no", flat=True)
    )


# --- keys -----------------------------------------------------------------------------------------


class KeySet:
    """A set of record keys: decimal keys (Intacct's RECORDNO) as 8-byte integers in numpy
    arrays (sorted and deduplicated on first use, in place of a Python object per key), others in
    a plain set. Add keys, then ask for membership, differences, or iterate."""

    def __init__(self, keys: Iterable[str] = ()) -> None:
        self._chunks: list[np.ndarray] = []
        self._numbers = np.empty(0, dtype=np.int64)
        self._others: set[str] = set()
        self.update(keys)

    def update(self, keys: Iterable[str]) -> None:
        keys = keys if isinstance(keys, list) else list(keys)
        if not keys:
            return
        try:
            # Fast path, in C: every key a plain decimal number that reads back the same.
            numbers = np.fromiter(map(int, keys), dtype=np.int64, count=len(keys))
            if numbers.min() >= 0 and list(map(str, numbers.tolist())) == keys:
                self._chunks.append(numbers)
                return
        except (ValueError, OverflowError):
            pass
        plain: list[int] = []
        for key in keys:
            number = _as_number(key)
            if number is None:
                self._others.add(key)
            else:
                plain.append(number)
        if plain:
            self._chunks.append(np.array(plain, dtype=np.int64))

    def _ready(self) -> np.ndarray:
        if self._chunks:
            # Sort and drop repeats (np.unique is hash-based here, many times slower).
            numbers = np.sort(np.concatenate([self._numbers, *self._chunks]))
            self._chunks = []
            if len(numbers) > 1:
                numbers = numbers[np.concatenate(([True], numbers[1:] != numbers[:-1]))]
            self._numbers = numbers
        return self._numbers

    def __contains__(self, key: object) -> bool:
        if not isinstance(key, str):
            return False
        number = _as_number(key)
        if number is None:
            return key in self._others
        numbers = self._ready()
        i = int(np.searchsorted(numbers, number))
        return i < len(numbers) and int(numbers[i]) == number

    def difference(self, other: KeySet) -> list[str]:
        """The keys of this set that ``other`` lacks, numbers first, each part sorted."""
        gone = np.setdiff1d(self._ready(), other._ready(), assume_unique=True)
        return [str(n) for n in gone.tolist()] + sorted(self._others - other._others)

    def __iter__(self) -> Iterator[str]:
        numbers = self._ready()
        for start in range(0, len(numbers), 10_000):
            yield from map(str, numbers[start : start + 10_000].tolist())
        yield from self._others

    def __len__(self) -> int:
        return len(self._ready()) + len(self._others)


def _as_number(key: str) -> int | None:
    """The key as an integer when it is written as one exactly (``"42"``, not ``"042"`` or
    ``"+42"``), so turning it back into text gives the same key."""
    if key.isdigit() and key.isascii() and (key == "0" or key[0] != "0") and len(key) < 19:
        return int(key)
    return None


def held_keys(legal_entity_id: int, object_name: str) -> KeySet:
    """The keys of the live rows of one object, read in chunks. A plain cursor: Django's
    ``iterator()`` (a server-side cursor on PostgreSQL) took six times as long."""
    keys = KeySet()
    query = ListItem.objects.filter(
        legal_entity_id=legal_entity_id, object_name=object_name, deleted_at__isnull=True
    ).values_list("record_no", flat=True)
    sql, params = query.order_by().query.sql_with_params()
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        while rows := cursor.fetchmany(10_000):
            keys.update([key for (key,) in rows])
    return keys


def held_counts(legal_entity_id: int) -> dict[str, int]:
    """How many live rows the legal entity holds of each object (one query)."""
    return dict(
        ListItem.objects.filter(legal_entity_id=legal_entity_id, deleted_at__isnull=True)
        .order_by()
        .values_list("object_name")
        .annotate(rows=Count("pk"))
        .values_list("object_name", "rows")
    )
