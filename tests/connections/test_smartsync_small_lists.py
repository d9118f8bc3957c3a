"""Partial syncs of small lists: an object that fits one page is read whole, one API transaction
that finds its changes and its deletions (a changes query plus the audit trail's look-ups or a
key listing cost two or more). An object that outgrew its page is read page by page and listed,
as a full sync does. Either way the rows are exactly Intacct's."""

from __future__ import annotations

import pytest

from connections.models import ApiSyncProfile, SyncRun
from connections.services import smartsync
from tests.connections.test_smartsync import live_keys, sync

pytestmark = pytest.mark.django_db

OBJECTS = ["VENDOR", "CLASS", "DEPARTMENT"]


@pytest.fixture(autouse=True)
def _small_lists(monkeypatch) -> None:
    monkeypatch.setattr(smartsync, "WHOLE_READ_MAX", smartsync.PAGE_SIZE * 9 // 10)


@pytest.mark.parametrize("company", ["healthy-top", "no-audit-trail"])
def test_a_partial_sync_of_small_lists_reads_each_whole_for_one_transaction(
    company, make_attempt, legal_entity, sandbox
):
    make_attempt(company)
    ApiSyncProfile.objects.create(legal_entity=legal_entity, object_names=OBJECTS)
    sync(legal_entity, kind=SyncRun.Kind.FULL)
    done = sandbox.company(company).mutate(adds=2, changes=3, deletes=2, objects=OBJECTS, seed=4)

    run = sync(legal_entity, kind=SyncRun.Kind.PARTIAL)

    assert run.state == SyncRun.State.SUCCEEDED
    assert run.transactions == 1 + len(OBJECTS)  # the sign-in, one whole page an object
    assert run.requests == 2  # the sign-in beside the batch
    assert run.audit_trail is False
    assert run.audit_note == smartsync.WHOLE_READ_NOTE
    for name in OBJECTS:
        row = run.object_results.get(object_name=name)
        assert (row.created, row.deleted) == (len(done[name].added), len(done[name].deleted))
        assert row.updated >= len(set(done[name].changed) - set(done[name].deleted))
        assert row.reconciled
        assert live_keys(legal_entity, name) == {str(n) for n in sandbox.snapshot(company, name)}


def test_a_list_that_outgrew_its_page_is_read_in_pages_then_listed(
    make_attempt, legal_entity, sandbox, monkeypatch
):
    """The plan thought the list small (it held few rows); Intacct has more than a page by now:
    the object is read to its end and listed, and ends exact."""
    make_attempt("healthy-top")
    ApiSyncProfile.objects.create(legal_entity=legal_entity, object_names=["VENDOR"])
    sync(legal_entity, kind=SyncRun.Kind.FULL)
    monkeypatch.setattr(smartsync, "PAGE_SIZE", 7)  # 20 records and more: several pages now
    monkeypatch.setattr(smartsync, "KEY_PAGE_SIZE", 7)
    done = sandbox.company("healthy-top").mutate(adds=5, deletes=1, objects=["VENDOR"], seed=6)

    run = sync(legal_entity, kind=SyncRun.Kind.PARTIAL)

    assert run.state == SyncRun.State.SUCCEEDED
    vendor = run.object_results.get(object_name="VENDOR")
    assert vendor.pages >= 4 + 4  # records, then keys
    assert (vendor.created, vendor.deleted) == (5, len(done["VENDOR"].deleted))
    assert live_keys(legal_entity, "VENDOR") == {
        str(n) for n in sandbox.snapshot("healthy-top", "VENDOR")
    }


def test_big_and_small_lists_in_one_partial_sync(make_attempt, legal_entity, sandbox, monkeypatch):
    """Small lists are read whole, the big one through the audit trail, in the same batch."""
    monkeypatch.setattr(smartsync, "WHOLE_READ_MAX", 15)  # VENDOR (20 records) is big here
    make_attempt("healthy-top")
    ApiSyncProfile.objects.create(legal_entity=legal_entity, object_names=OBJECTS)
    sandbox.company("healthy-top").mutate(deletes=6, objects=["CLASS", "DEPARTMENT"], seed=2)
    sync(legal_entity, kind=SyncRun.Kind.FULL)
    sandbox.company("healthy-top").mutate(adds=1, changes=1, deletes=1, objects=OBJECTS, seed=8)

    run = sync(legal_entity, kind=SyncRun.Kind.PARTIAL)

    assert run.state == SyncRun.State.SUCCEEDED
    assert run.audit_trail is True
    for name in OBJECTS:
        assert live_keys(legal_entity, name) == {
            str(n) for n in sandbox.snapshot("healthy-top", name)
        }
    assert run.object_results.get(object_name="CLASS").transactions == 1
