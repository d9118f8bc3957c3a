"""The catalog: which list objects a sync reads, and with which fields."""

from __future__ import annotations

from intacct.catalog import LIST_OBJECTS, get_object, list_object, udd_object


def test_list_object_finds_a_catalog_object_whatever_its_case() -> None:
    assert list_object("vendor") is LIST_OBJECTS["VENDOR"]
    assert list_object("GLACCOUNT") is LIST_OBJECTS["GLACCOUNT"]


def test_list_object_takes_a_name_the_catalog_lacks_as_a_user_defined_dimension() -> None:
    obj = list_object("nsp::project_phase")
    assert obj == udd_object("nsp::project_phase")
    assert obj.user_defined
    assert obj.name == "nsp::project_phase"  # platform object names keep their case
    assert (obj.key_field, obj.when_modified_field, obj.when_created_field) == (
        "id",
        "whenModified",
        "whenCreated",
    )


def test_get_object_takes_an_unknown_name_as_a_standard_object() -> None:
    obj = get_object("apbill")
    assert not obj.user_defined
    assert obj.name == "APBILL"
    assert obj.fields == ("RECORDNO", "NAME", "STATUS", "WHENCREATED", "WHENMODIFIED")


def test_fields_start_with_the_keys_and_hold_each_field_once() -> None:
    for obj in LIST_OBJECTS.values():
        assert obj.fields[0] == obj.key_field
        assert len(obj.fields) == len(set(obj.fields))
        assert obj.when_modified_field in obj.fields
