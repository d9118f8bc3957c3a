"""SmartSync against the sandbox over loopback: full and partial syncs, deletions, unchanged rows,
empty WHENMODIFIED, one active run, and an object the role may not read."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from django.db import IntegrityError, transaction
from django.db.models import Max

from connections.models import (
    ApiSyncProfile,
    LegalEntity,
    ListItem,
    Step,
    StepState,
    SyncRun,
    SyncRunObject,
)
from connections.services.smartsync import perform_sync, start_sync
from intacct.sandbox.world import Sandbox
from intacct.timestamps import parse_datetime

pytestmark = pytest.mark.django_db

OBJECTS = ["VENDOR", "CLASS", "DEPARTMENT"]


def profiled(
    make_attempt, legal_entity: LegalEntity, company: str, objects: list[str]
) -> LegalEntity:
    """``legal_entity`` connected to a sandbox company, with a profile of ``objects``."""
    make_attempt(company)
    ApiSyncProfile.objects.create(legal_entity=legal_entity, object_names=objects)
    return legal_entity


def object_row(run: SyncRun, name: str) -> SyncRunObject:
    return run.object_results.get(object_name=name)


@pytest.fixture
def healthy(make_attempt, legal_entity: LegalEntity) -> LegalEntity:
    return profiled(make_attempt, legal_entity, "healthy-top", OBJECTS)


def sync(legal_entity: LegalEntity, kind: str = SyncRun.Kind.PARTIAL) -> SyncRun:
    run, created = start_sync(legal_entity, kind=kind, trigger=SyncRun.Trigger.COMMAND)
    assert created
    finished = perform_sync(run.pk)
    assert finished is not None
    return finished


def duplicated_rows(legal_entity: LegalEntity) -> list[dict[str, object]]:
    """The (object, record_no) pairs the legal entity holds more than once (none, ever)."""
    from django.db.models import Count

    return list(
        ListItem.objects.filter(legal_entity=legal_entity)
        .values("object_name", "record_no")
        .annotate(rows=Count("pk"))
        .filter(rows__gt=1)
    )


def live_keys(legal_entity: LegalEntity, object_name: str) -> set[str]:
    return set(
        ListItem.objects.filter(
            legal_entity=legal_entity, object_name=object_name, deleted_at__isnull=True
        ).values_list("record_no", flat=True)
    )


def sandbox_keys(sandbox: Sandbox, company: str, object_name: str) -> set[str]:
    return {str(n) for n in sandbox.company(company).snapshot(object_name)}


def counts(run: SyncRun, field: str) -> int:
    return sum(getattr(o, field) for o in run.object_results.all())


def test_first_sync_is_full_and_matches_the_sandbox(healthy, sandbox):
    run = sync(healthy, kind=SyncRun.Kind.PARTIAL)

    assert run.kind == SyncRun.Kind.FULL
    assert run.state == SyncRun.State.SUCCEEDED
    for name in OBJECTS:
        assert live_keys(healthy, name) == sandbox_keys(sandbox, "healthy-top", name)
    assert counts(run, "created") == counts(run, "fetched") > 0
    healthy.refresh_from_db()
    assert healthy.last_synced_at is not None


def test_a_successful_full_sync_proves_the_smartsync_step(healthy, sandbox):
    step = StepState.objects.get(
        attempt__legal_entity=healthy, attempt__is_current=True, step=Step.SMARTSYNC
    )
    assert step.status == StepState.Status.PENDING

    sync(healthy, kind=SyncRun.Kind.FULL)

    step.refresh_from_db()
    assert step.status == StepState.Status.VERIFIED
    assert step.verified_at is not None


def test_partial_sync_catches_adds_changes_and_deletes_cheaply(healthy, sandbox):
    full = sync(healthy, kind=SyncRun.Kind.FULL)
    company = sandbox.company("healthy-top")
    done = company.mutate(adds=2, changes=3, deletes=2, objects=OBJECTS, seed=7)

    partial = sync(healthy)

    assert partial.kind == SyncRun.Kind.PARTIAL
    assert partial.state == SyncRun.State.SUCCEEDED
    for name in OBJECTS:
        assert live_keys(healthy, name) == sandbox_keys(sandbox, "healthy-top", name)
        row = partial.object_results.get(object_name=name)
        assert row.watermark is not None
        assert row.deleted == len(done[name].deleted)
        assert row.created == len(done[name].added)
        changed = set(map(str, done[name].changed)) - set(map(str, done[name].deleted))
        for key in changed:
            item = ListItem.objects.get(legal_entity=healthy, object_name=name, record_no=key)
            wm = company.snapshot(name)[int(key)]
            assert item.when_modified == parse_datetime(wm)
    assert counts(partial, "fetched") * 3 < counts(full, "fetched")


def test_second_full_sync_rewrites_nothing(healthy, sandbox):
    sync(healthy, kind=SyncRun.Kind.FULL)
    before = ListItem.objects.filter(legal_entity=healthy).aggregate(last=Max("synced_at"))

    again = sync(healthy, kind=SyncRun.Kind.FULL)

    assert counts(again, "updated") == 0
    assert counts(again, "created") == 0
    assert counts(again, "deleted") == 0
    assert counts(again, "unchanged") == counts(again, "fetched") > 0
    after = ListItem.objects.filter(legal_entity=healthy).aggregate(last=Max("synced_at"))
    assert after == before


def test_full_sync_marks_missing_records_deleted(healthy, sandbox):
    sync(healthy, kind=SyncRun.Kind.FULL)
    done = sandbox.company("healthy-top").mutate(deletes=3, objects=["CLASS"], seed=3)

    run = sync(healthy, kind=SyncRun.Kind.FULL)

    assert run.object_results.get(object_name="CLASS").deleted == 3
    assert live_keys(healthy, "CLASS") == sandbox_keys(sandbox, "healthy-top", "CLASS")
    gone = ListItem.objects.filter(
        legal_entity=healthy,
        object_name="CLASS",
        record_no__in=[str(n) for n in done["CLASS"].deleted],
    )
    assert len(gone) == 3
    assert all(item.deleted_at is not None for item in gone)


def test_partial_sync_catches_records_with_empty_whenmodified(healthy, sandbox):
    sync(healthy, kind=SyncRun.Kind.FULL)
    table = sandbox.company("healthy-top").table("CLASS")
    assert table is not None
    added = sandbox.company("healthy-top").mutate(adds=2, objects=["CLASS"], seed=5)
    created_only, neither = added["CLASS"].added
    # One record keeps its WHENCREATED, the other has no timestamps at all.
    table.overrides[created_only]["WHENMODIFIED"] = ""
    table.overrides[neither]["WHENMODIFIED"] = ""
    table.overrides[neither]["WHENCREATED"] = ""

    run = sync(healthy)

    assert run.kind == SyncRun.Kind.PARTIAL
    assert live_keys(healthy, "CLASS") == sandbox_keys(sandbox, "healthy-top", "CLASS")
    items = ListItem.objects.filter(
        legal_entity=healthy, object_name="CLASS", record_no__in=[str(created_only), str(neither)]
    )
    assert [item.when_modified for item in items] == [None, None]
    assert run.object_results.get(object_name="CLASS").created == 2


def test_one_active_run_per_legal_entity(healthy):
    first, created = start_sync(healthy, kind=SyncRun.Kind.FULL, trigger=SyncRun.Trigger.MANUAL)
    second, created_again = start_sync(
        healthy, kind=SyncRun.Kind.PARTIAL, trigger=SyncRun.Trigger.SCHEDULE
    )

    assert created
    assert not created_again
    assert second.pk == first.pk
    with pytest.raises(IntegrityError), transaction.atomic():
        SyncRun.objects.create(legal_entity=healthy, state=SyncRun.State.RUNNING)


def test_run_is_claimed_once(healthy, sandbox):
    run, _ = start_sync(healthy, kind=SyncRun.Kind.FULL, trigger=SyncRun.Trigger.MANUAL)
    assert perform_sync(run.pk) is not None
    assert perform_sync(run.pk) is None


def test_object_without_permission_fails_alone(make_attempt, legal_entity, sandbox):
    make_attempt("missing-permissions")
    ApiSyncProfile.objects.create(legal_entity=legal_entity, object_names=OBJECTS)

    run = sync(legal_entity, kind=SyncRun.Kind.FULL)

    assert run.state == SyncRun.State.PARTIAL
    vendor = run.object_results.get(object_name="VENDOR")
    assert vendor.state == SyncRunObject.State.FAILED
    assert "Permission" in vendor.error
    assert not live_keys(legal_entity, "VENDOR")
    for name in ("CLASS", "DEPARTMENT"):
        assert run.object_results.get(object_name=name).state == SyncRunObject.State.SUCCEEDED
        assert live_keys(legal_entity, name) == sandbox_keys(sandbox, "missing-permissions", name)


def test_partial_reads_from_the_last_successful_watermark_not_the_newest_row(healthy, sandbox):
    """A run cut off mid-way may have written rows newer than records it never reached; the next
    partial sync still reads every change since the last successful sync of the object."""
    full = sync(healthy, kind=SyncRun.Kind.FULL)
    vendor = full.object_results.get(object_name="VENDOR")
    newest = ListItem.objects.filter(legal_entity=healthy, object_name="VENDOR").aggregate(
        newest=Max("when_modified")
    )["newest"]
    assert vendor.watermark == newest
    company = sandbox.company("healthy-top")
    done = company.mutate(changes=3, objects=["VENDOR"], seed=3)
    # What a cut-off run might leave: one row far newer than anything synced since.
    ListItem.objects.filter(legal_entity=healthy, object_name="VENDOR", record_no="1").update(
        when_modified=datetime(2099, 1, 1, tzinfo=UTC)
    )
    cut_off = SyncRun.objects.create(
        legal_entity=healthy, kind=SyncRun.Kind.PARTIAL, state=SyncRun.State.FAILED
    )
    SyncRunObject.objects.create(run=cut_off, object_name="VENDOR", state="failed")

    partial = sync(healthy)

    row = partial.object_results.get(object_name="VENDOR")
    assert row.since is not None
    assert row.since < newest
    snapshot = company.snapshot("VENDOR")
    for key in map(str, done["VENDOR"].changed):
        item = ListItem.objects.get(legal_entity=healthy, object_name="VENDOR", record_no=key)
        assert item.when_modified == parse_datetime(snapshot[int(key)])


def test_an_object_that_fails_keeps_its_watermark(make_attempt, legal_entity, sandbox):
    make_attempt("missing-permissions")
    ApiSyncProfile.objects.create(legal_entity=legal_entity, object_names=["VENDOR", "CLASS"])

    run = sync(legal_entity, kind=SyncRun.Kind.FULL)

    failed = run.object_results.filter(state="failed")
    assert failed.exists()
    assert all(row.watermark is None for row in failed)


def test_an_object_the_company_does_not_have_is_skipped_not_failed(
    make_attempt, legal_entity, sandbox
):
    """healthy-top does not subscribe to the tax module: a profile naming TAXDETAIL (as the
    default set does before the connection is verified) still syncs successfully."""
    make_attempt("healthy-top")
    ApiSyncProfile.objects.create(legal_entity=legal_entity, object_names=["TAXDETAIL", "CLASS"])

    run = sync(legal_entity, kind=SyncRun.Kind.FULL)

    assert run.state == SyncRun.State.SUCCEEDED
    skipped = run.object_results.get(object_name="TAXDETAIL")
    assert skipped.state == SyncRunObject.State.SKIPPED
    assert "TAXDETAIL" in skipped.error
    assert skipped.watermark is None
    assert run.object_results.get(object_name="CLASS").state == SyncRunObject.State.SUCCEEDED
    assert live_keys(legal_entity, "CLASS") == sandbox_keys(sandbox, "healthy-top", "CLASS")
