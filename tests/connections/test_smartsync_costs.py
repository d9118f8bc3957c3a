"""What a sync costs: every function sent is an API transaction Intacct bills; the run and each
object count them (checked against what the sandbox company ran), and the schedule form projects a
month of them."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from connections.models import ApiSyncProfile, SyncRun
from connections.selectors.schedules import projected_transactions
from connections.services.schedules import save_schedule
from tests.connections.test_smartsync import sync

pytestmark = pytest.mark.django_db

OBJECTS = ["VENDOR", "CLASS", "DEPARTMENT"]


@pytest.fixture
def healthy(make_attempt, legal_entity):
    make_attempt("healthy-top")
    ApiSyncProfile.objects.create(legal_entity=legal_entity, object_names=OBJECTS)
    return legal_entity


def test_a_run_counts_the_functions_the_company_ran(healthy, sandbox):
    company = sandbox.company("healthy-top")
    for kind in (SyncRun.Kind.FULL, SyncRun.Kind.PARTIAL):
        before = company.functions_run
        run = sync(healthy, kind=kind)
        assert run.state == SyncRun.State.SUCCEEDED
        assert run.transactions == company.functions_run - before > 0
        objects = sum(row.transactions for row in run.object_results.all())
        # Every function is some object's, but the sign-in (the client's, made while the first
        # request goes out with the login) and a partial sync's audit-trail query (one page here).
        run_level = 1 if kind == SyncRun.Kind.FULL else 2
        assert objects == run.transactions - run_level
        assert run.requests >= (len(OBJECTS) if kind == SyncRun.Kind.FULL else 2)


def test_the_schedule_projects_a_month_of_transactions(healthy, sandbox):
    now = datetime(2026, 12, 7, 12, 0, tzinfo=UTC)  # a Monday
    assert projected_transactions(healthy, None, now=now) is None
    schedule = save_schedule(
        healthy,
        {"frequency": "hourly", "kind": "partial", "weekly_full": True, "weekly_full_weekday": 0},
        None,
    )
    before = projected_transactions(healthy, schedule, now=now)
    assert before is not None
    assert (before.runs, before.full_runs, before.total) == (720, 4, None)  # no run yet
    full = sync(healthy, kind=SyncRun.Kind.FULL)
    partial = sync(healthy, kind=SyncRun.Kind.PARTIAL)
    after = projected_transactions(healthy, schedule, now=now)
    assert after is not None
    assert after.total == 720 * partial.transactions + 4 * full.transactions
    daily = save_schedule(healthy, {"frequency": "daily", "weekly_full": False}, None)
    projection = projected_transactions(healthy, daily, now=now)
    assert projection is not None
    assert (projection.runs, projection.full_runs) == (30, 0)
    paused = save_schedule(healthy, {"enabled": False}, None)
    assert projected_transactions(healthy, paused, now=now) is None


def test_the_smartsync_page_shows_the_projection(client, system_admin, healthy, sandbox):
    from django.urls import reverse

    save_schedule(healthy, {"frequency": "daily"}, None)
    sync(healthy, kind=SyncRun.Kind.FULL)
    client.force_login(system_admin)
    text = client.get(reverse("connections:smartsync", args=[healthy.public_id])).text
    assert "API transactions a month" in text
    assert "30 partial syncs" in text


def test_a_partial_sync_starts_every_object_in_one_request(healthy, sandbox):
    sync(healthy, kind=SyncRun.Kind.FULL)
    company = sandbox.company("healthy-top")
    company.mutate(changes=2, objects=["VENDOR"], seed=3)
    run = sync(healthy, kind=SyncRun.Kind.PARTIAL)
    assert run.state == SyncRun.State.SUCCEEDED
    # Sign-in, then one request with every object's changes and the audit-trail query (the
    # changed records are held, so nothing needs looking up), and nothing else.
    assert run.requests == 2
    assert run.transactions == 1 + len(OBJECTS) + 1
    assert run.audit_trail is True
    vendor = run.object_results.get(object_name="VENDOR")
    assert vendor.updated == 2
    assert not vendor.reconciled


def test_without_the_audit_trail_a_partial_sync_batches_changes_and_keys(
    make_attempt, legal_entity, sandbox
):
    make_attempt("no-audit-trail")
    ApiSyncProfile.objects.create(legal_entity=legal_entity, object_names=OBJECTS)
    sync(legal_entity, kind=SyncRun.Kind.FULL)
    sandbox.company("no-audit-trail").mutate(changes=2, objects=["VENDOR"], seed=3)
    first = sync(legal_entity, kind=SyncRun.Kind.PARTIAL)
    # The first partial sync tries the audit trail once, is refused, and lists keys.
    assert first.state == SyncRun.State.SUCCEEDED
    assert first.audit_trail is False
    assert "may not read" in first.audit_note
    assert ApiSyncProfile.objects.get(legal_entity=legal_entity).audit_trail is False
    run = sync(legal_entity, kind=SyncRun.Kind.PARTIAL)
    # Then sign-in, one request with every object's changes and keys, and nothing else.
    assert run.requests == 2
    assert run.transactions == 1 + 2 * len(OBJECTS)
    assert all(row.reconciled for row in run.object_results.all())


def test_without_the_audit_trail_every_page_of_every_key_listing_is_batched(
    make_attempt, legal_entity, sandbox, monkeypatch
):
    """Key listings of several pages: the first pages travel with the changes, the rest of every
    listing in one more request, and the deletions they reveal are exact."""
    from connections.services import smartsync
    from tests.connections.test_smartsync import live_keys

    monkeypatch.setattr(smartsync, "KEY_PAGE_SIZE", 7)  # 20 records: 3 pages a listing
    make_attempt("no-audit-trail")
    ApiSyncProfile.objects.create(
        legal_entity=legal_entity, object_names=OBJECTS, audit_trail=False
    )
    sync(legal_entity, kind=SyncRun.Kind.FULL)
    company = sandbox.company("no-audit-trail")
    done = company.mutate(changes=2, deletes=3, objects=["VENDOR", "CLASS"], seed=5)

    run = sync(legal_entity, kind=SyncRun.Kind.PARTIAL)

    assert run.state == SyncRun.State.SUCCEEDED
    # Sign-in with every object's changes and first key page, then the other 2 pages of each.
    assert run.requests == 3
    assert run.transactions == 1 + len(OBJECTS) * (1 + 3)
    for name in OBJECTS:
        row = run.object_results.get(object_name=name)
        expected = len(done[name].deleted) if name in done else 0
        assert row.deleted == expected
        held = live_keys(legal_entity, name)
        assert held == {str(n) for n in sandbox.snapshot("no-audit-trail", name)}


def test_an_object_new_to_the_profile_starts_in_the_partial_syncs_batch(healthy, sandbox):
    """An object never synced joins a partial sync in full: its first page travels in the batch
    with the other objects' changes, and what it holds afterwards equals Intacct's."""
    from tests.connections.test_smartsync import live_keys

    sync(healthy, kind=SyncRun.Kind.FULL)
    ApiSyncProfile.objects.filter(legal_entity=healthy).update(object_names=[*OBJECTS, "LOCATION"])

    run = sync(healthy, kind=SyncRun.Kind.PARTIAL)

    assert run.state == SyncRun.State.SUCCEEDED
    location = run.object_results.get(object_name="LOCATION")
    assert location.created == 20
    assert live_keys(healthy, "LOCATION") == {
        str(n) for n in sandbox.snapshot("healthy-top", "LOCATION")
    }
    # The sign-in beside the batch, where LOCATION's 20 records came in one page: one query saw
    # them all at once, so no key listing is paid for.
    assert run.requests == 2
    assert location.transactions == 1


def test_a_full_sync_of_a_list_that_fits_one_page_pays_for_no_key_listing(
    healthy, sandbox, monkeypatch
):
    """One query read every record at one moment: it decides what is gone. A list of several
    pages still pays for its key listing, which catches what moved between the pages."""
    from connections.services import smartsync
    from tests.connections.test_smartsync import live_keys

    sync(healthy, kind=SyncRun.Kind.FULL)
    done = sandbox.company("healthy-top").mutate(deletes=2, objects=["CLASS"], seed=9)

    run = sync(healthy, kind=SyncRun.Kind.FULL)

    assert run.transactions == 1 + len(OBJECTS)  # the sign-in and one page an object
    row = run.object_results.get(object_name="CLASS")
    assert row.deleted == len(done["CLASS"].deleted) == 2
    assert row.reconciled
    assert live_keys(healthy, "CLASS") == {str(n) for n in sandbox.snapshot("healthy-top", "CLASS")}

    monkeypatch.setattr(smartsync, "PAGE_SIZE", 7)
    paged = sync(healthy, kind=SyncRun.Kind.FULL)
    vendor = paged.object_results.get(object_name="VENDOR")
    assert vendor.transactions == 3 + 1  # 3 pages of records, then one page of keys


def test_the_projection_follows_the_form_before_it_is_saved(client, system_admin, healthy, sandbox):
    """``?preview=1`` prices the form as it stands and saves nothing; a schedule that would
    spend more than the company's whole tier 1 allowance says so."""
    from django.urls import reverse

    from connections.models import SyncSchedule

    sync(healthy, kind=SyncRun.Kind.FULL)
    partial = sync(healthy, kind=SyncRun.Kind.PARTIAL)
    client.force_login(system_admin)
    url = reverse("connections:sync_schedule", args=[healthy.public_id]) + "?preview=1"
    form = {
        "frequency": "hourly",
        "time_of_day": "02:00",
        "weekday": "1",
        "timezone": "UTC",
        "kind": "partial",
        "weekly_full_weekday": "0",
        "enabled": "on",
    }
    hourly = client.post(url, form, headers={"HX-Request": "true"})
    assert hourly.status_code == 200
    assert "<html" not in hourly.text
    total = 720 * partial.transactions
    assert f"About {total:,} API transactions a month" in hourly.text
    assert "720 partial syncs" in hourly.text
    assert "More than the company" not in hourly.text

    every_minute = client.post(url, {**form, "frequency": "cron", "cron_expression": "* * * * *"})
    assert f"About {43_200 * partial.transactions:,} API transactions" in every_minute.text
    assert "More than the company's whole tier 1 allowance" in every_minute.text

    incomplete = client.post(url, {**form, "frequency": "cron", "cron_expression": "61 * * * *"})
    assert "Complete the schedule to see what it costs a month." in incomplete.text
    assert "The minute field, “61”, is not valid" in incomplete.text
    paused = client.post(url, {k: v for k, v in form.items() if k != "enabled"})
    assert "Paused: no API transactions." in paused.text
    assert not SyncSchedule.objects.exists()


def test_the_page_prices_the_default_schedule_before_one_is_saved(
    client, system_admin, healthy, sandbox
):
    from django.urls import reverse

    sync(healthy, kind=SyncRun.Kind.FULL)
    client.force_login(system_admin)
    text = client.get(reverse("connections:smartsync", args=[healthy.public_id])).text
    assert "No schedule yet" in text
    assert 'id="schedule-projection"' in text
    assert "30 partial syncs" in text  # the form's default: every day, partial
