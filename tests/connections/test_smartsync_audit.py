"""Partial syncs that read Intacct's audit trail: creations, changes and deletions found with one
audit query across the objects instead of a key listing of each; a daily reconciliation (a key
listing) finds what the audit trail missed, and counts it; a role that may not read the audit
trail falls back to the exact key listing; a company whose audit trail is worded and keyed
otherwise syncs the same."""

from __future__ import annotations

from datetime import timedelta

import pytest

from connections.models import ApiSyncProfile, LegalEntity, SyncRun
from connections.selectors.smartsync import sync_report
from tests.connections.test_smartsync import live_keys, object_row, profiled, sandbox_keys, sync

pytestmark = pytest.mark.django_db

OBJECTS = ["VENDOR", "CLASS", "DEPARTMENT"]


def _entity(make_attempt, legal_entity: LegalEntity, company: str) -> LegalEntity:
    return profiled(make_attempt, legal_entity, company, OBJECTS)


def _in_step(entity: LegalEntity, sandbox, company: str) -> None:
    for name in OBJECTS:
        assert live_keys(entity, name) == sandbox_keys(sandbox, company, name), name


@pytest.mark.parametrize("company", ["healthy-top", "audit-trail-differs"])
def test_the_audit_trail_finds_creations_changes_and_deletions(
    make_attempt, legal_entity, sandbox, company
):
    entity = _entity(make_attempt, legal_entity, company)
    sync(entity, kind=SyncRun.Kind.FULL)
    done = sandbox.company(company).mutate(adds=2, changes=3, deletes=2, objects=OBJECTS, seed=7)

    run = sync(entity, kind=SyncRun.Kind.PARTIAL)

    assert run.state == SyncRun.State.SUCCEEDED
    assert run.audit_trail is True
    assert run.audit_note == ""
    _in_step(entity, sandbox, company)
    for name in OBJECTS:
        row = object_row(run, name)
        assert not row.reconciled, "no key listing within a day of the full sync"
        assert row.created == len(done[name].added)
        assert row.deleted == len(done[name].deleted)
    # Sign-in; every object's changes and the audit query; the look-ups of what it named.
    assert run.requests == 3
    assert ApiSyncProfile.objects.get(legal_entity=entity).audit_trail is True


def test_a_record_the_changes_query_cannot_see_is_found_through_the_audit_trail(
    make_attempt, legal_entity, sandbox
):
    """A new record with an empty WHENMODIFIED escapes the changes query; the audit trail names
    it, and its look-up by key brings it in."""
    entity = _entity(make_attempt, legal_entity, "healthy-top")
    sync(entity, kind=SyncRun.Kind.FULL)
    company = sandbox.company("healthy-top")
    done = company.mutate(adds=1, objects=["VENDOR"], seed=2)["VENDOR"]
    table = company.table("VENDOR")
    assert table is not None
    (added,) = done.added
    table.overrides[added].update({"WHENMODIFIED": "", "WHENCREATED": ""})

    run = sync(entity, kind=SyncRun.Kind.PARTIAL)

    assert object_row(run, "VENDOR").created == 1
    assert str(added) in live_keys(entity, "VENDOR")
    _in_step(entity, sandbox, "healthy-top")


def test_a_deletion_the_audit_trail_missed_is_found_by_the_next_reconciliation(
    make_attempt, legal_entity, sandbox, settings
):
    entity = _entity(make_attempt, legal_entity, "healthy-top")
    sync(entity, kind=SyncRun.Kind.FULL)
    company = sandbox.company("healthy-top")
    unaudited = company.mutate(deletes=2, objects=["VENDOR"], seed=3, audited=False)["VENDOR"]
    audited = company.mutate(deletes=1, objects=["VENDOR"], seed=4)["VENDOR"]

    quiet = sync(entity, kind=SyncRun.Kind.PARTIAL)
    vendor = object_row(quiet, "VENDOR")
    assert vendor.deleted == 1, "only what the audit trail named"
    assert set(map(str, unaudited.deleted)) <= live_keys(entity, "VENDOR")

    # A day after the last listing, the next partial sync reconciles.
    SyncRun.objects.filter(legal_entity=entity).update(
        started_at=quiet.started_at - timedelta(hours=25)
    )
    reconciling = sync(entity, kind=SyncRun.Kind.PARTIAL)

    vendor = object_row(reconciling, "VENDOR")
    assert vendor.reconciled
    assert vendor.deleted == 2
    assert vendor.missed_by_audit == 2
    assert object_row(reconciling, "CLASS").missed_by_audit == 0
    _in_step(entity, sandbox, "healthy-top")
    assert set(map(str, audited.deleted)).isdisjoint(live_keys(entity, "VENDOR"))
    report = sync_report(reconciling)
    assert report["audit_trail"] is True
    (line,) = [o for o in report["objects"] if o["object"] == "VENDOR"]
    assert (line["reconciled"], line["missed_by_audit"]) == (True, 2)


def test_reconciliation_every_partial_sync_when_the_setting_is_zero(
    make_attempt, legal_entity, sandbox, settings
):
    settings.SMARTSYNC_RECONCILE_EVERY_HOURS = 0
    entity = _entity(make_attempt, legal_entity, "healthy-top")
    sync(entity, kind=SyncRun.Kind.FULL)
    sandbox.company("healthy-top").mutate(deletes=1, objects=["VENDOR"], seed=5, audited=False)
    run = sync(entity, kind=SyncRun.Kind.PARTIAL)
    assert all(row.reconciled for row in run.object_results.all())
    assert object_row(run, "VENDOR").missed_by_audit == 1
    _in_step(entity, sandbox, "healthy-top")


def test_without_audit_permission_the_partial_sync_lists_keys_exactly(
    make_attempt, legal_entity, sandbox
):
    entity = _entity(make_attempt, legal_entity, "no-audit-trail")
    sync(entity, kind=SyncRun.Kind.FULL)
    company = sandbox.company("no-audit-trail")
    for seed in (1, 2):
        done = company.mutate(adds=2, changes=2, deletes=2, objects=OBJECTS, seed=seed)
        run = sync(entity, kind=SyncRun.Kind.PARTIAL)
        assert run.state == SyncRun.State.SUCCEEDED
        assert run.audit_trail is False
        assert "View on custom reports" in run.audit_note
        for name in OBJECTS:
            row = object_row(run, name)
            assert row.reconciled
            assert row.missed_by_audit == 0
            assert row.deleted == len(done[name].deleted)
        _in_step(entity, sandbox, "no-audit-trail")
    # Refused once, learned: the second partial sync did not ask again.
    assert company.functions_failed == 1


def test_an_audit_trail_that_fails_for_a_passing_reason_is_tried_again_next_time(
    make_attempt, legal_entity, sandbox, monkeypatch
):
    from intacct.sandbox import errors

    entity = _entity(make_attempt, legal_entity, "healthy-top")
    sync(entity, kind=SyncRun.Kind.FULL)
    sandbox.company("healthy-top").mutate(deletes=1, objects=["VENDOR"], seed=6)
    monkeypatch.setattr(
        errors, "no_permission", lambda *_: errors.query_failed("Temporarily unavailable")
    )
    from intacct.sandbox.scenarios import get_scenario

    sandbox.company("healthy-top").scenario = get_scenario("no_audit_trail")
    run = sync(entity, kind=SyncRun.Kind.PARTIAL)
    assert run.audit_trail is False
    assert "could not be read" in run.audit_note
    assert ApiSyncProfile.objects.get(legal_entity=entity).audit_trail is not False
    _in_step(entity, sandbox, "healthy-top")
