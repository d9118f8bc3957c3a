"""The page writer of SmartSync: one upsert per page that skips unchanged rows, on whichever
database the suite runs against (PostgreSQL when ``DATABASE_URL`` is set, else SQLite), and the
compact key sets that find deletions."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from django.utils import timezone

from connections.models import ListItem
from connections.services.listitem_store import (
    KeySet,
    Row,
    held_keys,
    json_text,
    upsert_page,
)

pytestmark = pytest.mark.django_db

T1 = datetime(2026, 3, 1, 9, 30, 5, tzinfo=UTC)
T2 = datetime(2026, 3, 2, 10, 0, 0, tzinfo=UTC)


def row(key: str, name: str = "Acme", when: datetime | None = T1, **extra: str) -> Row:
    record = {"RECORDNO": key, "VENDORID": f"V{key}", "NAME": name, "STATUS": "active", **extra}
    return Row(key, f"V{key}", name, "active", when, json_text(record))


def write(entity, rows, now=None):
    return upsert_page(entity.pk, "VENDOR", rows, now or timezone.now())


def test_new_rows_are_created_and_read_back_through_the_orm(legal_entity):
    written = write(legal_entity, [row("1"), row("2", name='O\'Brien "Ltd" ü', when=None)])

    assert (written.created, written.updated, written.unchanged) == (2, 0, 0)
    first, second = ListItem.objects.order_by("record_no")
    assert (first.item_id, first.name, first.status, first.when_modified) == (
        "V1",
        "Acme",
        "active",
        T1,
    )
    assert second.fields["NAME"] == 'O\'Brien "Ltd" ü'
    assert second.when_modified is None
    assert first.deleted_at is None


def test_an_unchanged_page_is_not_rewritten(legal_entity):
    first = timezone.now() - timedelta(hours=1)
    write(legal_entity, [row("1"), row("2", when=None)], now=first)

    written = write(legal_entity, [row("1"), row("2", when=None)])

    assert (written.created, written.updated, written.unchanged) == (0, 0, 2)
    assert set(ListItem.objects.values_list("synced_at", flat=True)) == {first}


def test_changed_fields_or_when_modified_update_only_those_rows(legal_entity):
    write(legal_entity, [row("1"), row("2"), row("3")])

    written = write(legal_entity, [row("1", name="Renamed"), row("2", when=T2), row("3")])

    assert (written.created, written.updated, written.unchanged) == (0, 2, 1)
    by_key = {item.record_no: item for item in ListItem.objects.all()}
    assert by_key["1"].name == "Renamed"
    assert by_key["1"].fields["NAME"] == "Renamed"
    assert by_key["2"].when_modified == T2


def test_a_deleted_row_that_reappears_is_revived(legal_entity):
    write(legal_entity, [row("1")])
    ListItem.objects.update(deleted_at=timezone.now())

    written = write(legal_entity, [row("1")])

    assert (written.created, written.updated, written.unchanged) == (0, 1, 0)
    assert ListItem.objects.get().deleted_at is None


def test_a_row_saved_by_the_orm_compares_equal(legal_entity):
    """Rows written elsewhere through the ORM (same JSON, same timestamp) count as unchanged."""
    record = {"RECORDNO": "9", "VENDORID": "V9", "NAME": "Acme", "STATUS": "active"}
    ListItem.objects.create(
        legal_entity=legal_entity,
        object_name="VENDOR",
        record_no="9",
        item_id="V9",
        name="Acme",
        status="active",
        when_modified=T1,
        fields=record,
    )

    assert write(legal_entity, [row("9")]).unchanged == 1


def test_rows_of_other_entities_and_objects_are_left_alone(legal_entity, organization):
    from tests.factories import LegalEntityFactory

    other = LegalEntityFactory(organization=organization)
    write(other, [row("1", name="Other")])
    upsert_page(legal_entity.pk, "CUSTOMER", [row("1", name="Customer")], timezone.now())

    assert write(legal_entity, [row("1")]).created == 1
    assert ListItem.objects.count() == 3
    assert ListItem.objects.get(legal_entity=other).name == "Other"


def test_an_empty_page_writes_nothing(legal_entity):
    assert write(legal_entity, []) == type(write(legal_entity, []))(0, 0, 0)
    assert not ListItem.objects.exists()


def test_held_keys_lists_live_rows_only(legal_entity):
    write(legal_entity, [row("1"), row("2"), row("X-3")])
    ListItem.objects.filter(record_no="2").update(deleted_at=timezone.now())

    assert sorted(held_keys(legal_entity.pk, "VENDOR")) == ["1", "X-3"]


# --- key sets -------------------------------------------------------------------------------------


def test_key_set_keeps_numeric_and_other_keys_apart_from_look_alikes():
    keys = KeySet(["7", "42", "007", "+42", "ID-1", "0", "99999999999999999999"])

    for key in ("7", "42", "0", "007", "+42", "ID-1", "99999999999999999999"):
        assert key in keys, key
    for key in ("07", "43", 7):
        assert key not in keys, key
    assert len(keys) == 7
    assert sorted(keys) == sorted(["7", "42", "007", "+42", "ID-1", "0", "99999999999999999999"])


def test_key_set_reads_a_batch_of_numbers_and_look_alikes_the_same_way():
    """A batch of keys takes a fast path only when every key is a plain decimal number."""
    batches = [["5", "-5", "6"], ["1", "01", "2"], ["3", " 3", "4"], ["7", "99999999999999999999"]]
    for batch in batches:
        keys = KeySet()
        keys.update(batch)
        for key in batch:
            assert key in keys, (batch, key)
        assert sorted(keys) == sorted(batch)
        assert "8" not in keys


def test_key_set_ignores_repeats():
    keys = KeySet(["5", "5", "x", "x"])
    keys.update(["5"])

    assert len(keys) == 2


def test_key_set_difference_across_many_blocks():
    listed = KeySet(str(n) for n in range(1, 20_001) if n not in (3, 9_000, 19_999))
    listed.update(["20005", "zz"])
    held = KeySet(str(n) for n in range(1, 20_001))
    held.update(["yy"])

    assert listed.difference(held) == ["20005", "zz"]
    assert held.difference(listed) == ["3", "9000", "19999", "yy"]
    assert held.difference(held) == []
    assert KeySet().difference(held) == []
