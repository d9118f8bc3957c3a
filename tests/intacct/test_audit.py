"""The audit trail: the sandbox's AUDITHISTORY rows, the audit query, and the facts that are not
verified, classified defensively (see :mod:`intacct.audit`)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from intacct import (
    AuditEvents,
    ErrorDetail,
    PermissionDeniedError,
    audit_denied,
    audit_query,
    classify_mode,
    key_filter,
)
from intacct.audit import audit_probe
from intacct.errors import classify
from intacct.sandbox.world import Sandbox

from .conftest import ConnectFactory

EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def _events(client, objects, since=EPOCH) -> AuditEvents:
    events = AuditEvents()
    for page in audit_query(objects, since).pages(client):
        events.add_records(page.records, objects)
    return events


@pytest.mark.parametrize(
    ("mode", "kind"),
    [
        # Documented (developer.intacct.com, Audit Trails: ACCESSMODE).
        ("Created", "changed"),
        ("Modified", "changed"),
        ("Deleted", "deleted"),
        ("Add Event", "changed"),
        ("Modify Event", "changed"),
        ("Delete Event", "deleted"),
        # A public connector's single letters: unverified, accepted.
        ("C", "changed"),
        ("M", "changed"),
        ("D", "deleted"),
        # Case and spaces are not trusted either.
        ("  delete event ", "deleted"),
        ("MODIFIED", "changed"),
        # Not record changes.
        ("Access", None),
        ("Login", None),
        ("Workflow", None),
        ("Paid Event", None),
        ("", None),
        (None, None),
    ],
)
def test_access_modes_are_classified_defensively(mode, kind) -> None:
    assert classify_mode(mode) == kind


def test_the_sandbox_audit_trail_lists_each_mutation(world: Sandbox, connect: ConnectFactory):
    done = world.company("healthy-top").mutate(
        adds=2, changes=3, deletes=2, objects=["VENDOR"], seed=4
    )["VENDOR"]
    client = connect("healthy-top")
    events = _events(client, ["VENDOR"])
    changed, deleted = events.of("VENDOR")
    assert deleted == {str(n) for n in done.deleted}
    assert changed == {str(n) for n in [*done.added, *done.changed]} - deleted
    assert events.rows == len(done.added) + len(done.changed) + len(done.deleted)


def test_the_audit_query_filters_by_time_and_object(world: Sandbox, connect: ConnectFactory):
    company = world.company("healthy-top")
    company.mutate(changes=2, objects=["VENDOR", "CUSTOMER"], seed=1)
    client = connect("healthy-top")
    assert _events(client, ["CUSTOMER"]).of("VENDOR") == (set(), set())
    assert _events(client, ["CUSTOMER"]).of("CUSTOMER")[0]
    later = datetime(2100, 1, 1, tzinfo=UTC)
    assert _events(client, ["VENDOR", "CUSTOMER"], later).rows == 0


def test_the_audit_query_pages_oldest_first(world: Sandbox, connect: ConnectFactory) -> None:
    world.company("healthy-top").mutate(adds=30, objects=["VENDOR"], seed=2)
    client = connect("healthy-top")
    spec = audit_query(["VENDOR"], EPOCH)
    small = type(spec)(**{**spec.__dict__, "page_size": 7})
    pages = list(small.pages(client))
    assert len(pages) == 5
    keys = [r["OBJECTKEY"] for page in pages for r in page.records]
    assert keys == sorted(keys, key=int)
    assert len(set(keys)) == 30


def test_a_company_wording_its_audit_trail_otherwise_is_read_the_same(
    world: Sandbox, connect: ConnectFactory
) -> None:
    """Add/Modify/Delete Event, OBJECTKEY holding the ID, OBJECTTYPE upper-case."""
    company = world.company("audit-trail-differs")
    done = company.mutate(changes=2, deletes=2, objects=["VENDOR"], seed=5)["VENDOR"]
    assert {row["ACCESSMODE"] for row in company.audit} <= {"Modify Event", "Delete Event"}
    assert all(row["OBJECTTYPE"] == "VENDOR" for row in company.audit)
    events = _events(connect("audit-trail-differs"), ["VENDOR"])
    table = company.table("VENDOR")
    assert table is not None
    ids = {table.value(n, "VENDORID") for n in done.deleted}
    assert events.of("VENDOR")[1] == ids


def test_a_role_without_the_permission_is_refused_and_classified_denied(
    connect: ConnectFactory,
) -> None:
    probe = audit_probe()
    result = connect("no-audit-trail").send([probe]).result_for(probe.controlid)
    error = result.error()
    assert isinstance(error, PermissionDeniedError)
    assert audit_denied(error)
    probe = audit_probe()
    assert connect("healthy-top").send([probe]).result_for(probe.controlid).ok


@pytest.mark.parametrize(
    ("errorno", "texts", "denied"),
    [
        # As the sandbox answers (the shape of every other object's missing permission).
        ("PL04000005", ("", "You do not have permission for API operation QUERY on objects "
                        "of type AUDITHISTORY"), True),
        # Unverified wordings a real company might give: the object unknown to the company
        # (no Platform Services), not authorized, a report permission named.
        ("BL01001973", ("Object definition AUDITHISTORY not found", ""), True),
        ("XL03000009", ("You are not authorized to view reports", ""), True),
        ("", ("", "Insufficient permission: View Custom Reports"), True),
        ("", ("The application Platform Services is not subscribed", ""), True),
        # A passing failure is not a missing permission.
        ("XL03000006", ("Query Failed", "Invalid filter"), False),
        ("GW-0010", ("Rate limit exceeded", ""), False),
    ],
)  # fmt: skip
def test_audit_denied_reads_several_wordings(errorno, texts, denied) -> None:
    error = classify([ErrorDetail(errorno, texts[0], texts[1])], level="result", function="query")
    assert audit_denied(error) is denied


def test_a_key_filter_looks_keys_up_as_record_numbers_and_as_ids(
    world: Sandbox, connect: ConnectFactory
) -> None:
    company = world.company("healthy-top")
    table = company.table("VENDOR")
    assert table is not None
    by_id = table.value(7, "VENDORID")
    keys = ["3", by_id, "999999"]
    client = connect("healthy-top")
    records = [
        r
        for page in client.query_pages(
            "VENDOR", ["RECORDNO", "VENDORID"], filter=key_filter("RECORDNO", "VENDORID", keys)
        )
        for r in page.records
    ]
    assert sorted(r["RECORDNO"] for r in records) == ["3", "7"]
