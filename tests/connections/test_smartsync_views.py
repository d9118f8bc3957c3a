"""The SmartSync page (step 9): three personas, fragments and full pages, the Sync buttons, the
polled run and the schedule form."""

from __future__ import annotations

import json
import re

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone
from django.utils.html import escape

from connections.models import SyncRun, SyncRunObject, SyncSchedule
from tests.factories import ApiSyncProfileFactory

pytestmark = pytest.mark.django_db

HX = {"HX-Request": "true"}


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _url(name: str, legal_entity, *args) -> str:
    return reverse(f"connections:{name}", args=[legal_entity.public_id, *args])


@pytest.fixture
def profile(legal_entity):
    return ApiSyncProfileFactory(legal_entity=legal_entity)


def _finished_run(legal_entity, **kwargs) -> SyncRun:
    now = timezone.now()
    run = SyncRun.objects.create(
        legal_entity=legal_entity,
        kind=kwargs.pop("kind", SyncRun.Kind.FULL),
        state=kwargs.pop("state", SyncRun.State.SUCCEEDED),
        started_at=now,
        finished_at=now,
        **kwargs,
    )
    SyncRunObject.objects.create(
        run=run, object_name="VENDOR", state="succeeded", fetched=12, created=7, updated=3
    )
    return run


@pytest.mark.parametrize(
    ("name", "method"),
    [("smartsync", "get"), ("sync_start", "post"), ("sync_schedule", "post")],
)
def test_three_personas(system_admin, clerk, outsider, legal_entity, profile, name, method):
    url = _url(name, legal_entity)
    data = {"kind": "full"} if name == "sync_start" else {}

    assert getattr(_client(clerk), method)(url, data).status_code == 403
    assert getattr(_client(outsider), method)(url, data).status_code == 404
    assert SyncRun.objects.count() == 0
    assert getattr(_client(system_admin), method)(url, data).status_code in (200, 302)


def test_run_status_follows_the_three_personas(system_admin, clerk, outsider, legal_entity):
    run = _finished_run(legal_entity)
    url = _url("sync_run", legal_entity, run.public_id)

    assert _client(system_admin).get(url, headers=HX).status_code == 286
    assert _client(clerk).get(url, headers=HX).status_code == 403
    assert _client(outsider).get(url, headers=HX).status_code == 404


def test_page_is_full_without_htmx_and_a_fragment_with_it(system_admin, legal_entity, profile):
    _finished_run(legal_entity, error="")
    client = _client(system_admin)

    page = client.get(_url("smartsync", legal_entity)).content.decode()
    fragment = client.get(_url("smartsync", legal_entity), headers=HX).content.decode()
    history = client.get(
        _url("smartsync", legal_entity) + "?part=history", headers=HX
    ).content.decode()

    assert "<html" in page
    assert "Enable SmartSync" in page
    for words in ('id="sync-run"', 'id="sync-history"', 'id="schedule"', "Partial Sync"):
        assert words in page
    assert "<progress" in page
    assert '<td class="num" data-count="fetched">12</td>' in page
    assert "<html" not in fragment
    assert 'id="sync-run"' in fragment
    assert 'id="schedule"' not in fragment
    assert "<html" not in history
    assert "<table" in history


def test_without_a_profile_the_buttons_are_disabled_and_step_8_is_named(system_admin, legal_entity):
    client = _client(system_admin)
    page = client.get(_url("smartsync", legal_entity)).content.decode()

    response = client.post(_url("sync_start", legal_entity), {"kind": "full"})

    assert "Step 8 must be done first" in page
    assert 'value="full" disabled' in page
    assert response.status_code == 302
    assert SyncRun.objects.count() == 0


def test_sync_queues_one_run_and_a_second_press_says_already_running(
    system_admin, legal_entity, profile, django_capture_on_commit_callbacks
):
    client = _client(system_admin)
    url = _url("sync_start", legal_entity)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        first = client.post(url, {"kind": "full"}, headers=HX)
        second = client.post(url, {"kind": "partial"}, headers=HX)

    run = SyncRun.objects.get()
    assert (run.kind, run.state, run.trigger) == ("full", "queued", "manual")
    assert run.requested_by == system_admin
    assert len(callbacks) == 1
    assert "A full sync is queued" in first.content.decode()
    assert "<html" not in first.content.decode()
    assert f'hx-get="{_url("sync_run", legal_entity, run.public_id)}"' in first.content.decode()
    assert "already running" in second.content.decode()


def test_sync_without_javascript_redirects_back_with_a_message(
    system_admin, legal_entity, profile, django_capture_on_commit_callbacks
):
    client = _client(system_admin)

    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(_url("sync_start", legal_entity), {"kind": "full"})
        client.post(_url("sync_start", legal_entity), {"kind": "full"})
    page = client.get(response["Location"]).content.decode()

    assert response.status_code == 302
    assert response["Location"].startswith(_url("smartsync", legal_entity))
    assert "already running" in page
    assert SyncRun.objects.count() == 1


def test_polling_continues_while_active_and_stops_with_286_when_finished(
    system_admin, legal_entity, profile
):
    run = SyncRun.objects.create(legal_entity=legal_entity, state=SyncRun.State.RUNNING)
    url = _url("sync_run", legal_entity, run.public_id)
    client = _client(system_admin)

    running = client.get(url, headers=HX)
    SyncRun.objects.filter(pk=run.pk).update(
        state=SyncRun.State.SUCCEEDED, finished_at=timezone.now()
    )
    finished = client.get(url, headers=HX)

    assert running.status_code == 200
    assert 'hx-trigger="every 1s"' in running.content.decode()
    assert finished.status_code == 286
    assert "every 1s" not in finished.content.decode()
    assert "sync-finished" in finished["HX-Trigger"]


def test_run_of_another_legal_entity_is_404(system_admin, legal_entity, organization):
    other = organization.legal_entities.create(name="Acme UK")
    run = _finished_run(other)

    response = _client(system_admin).get(_url("sync_run", legal_entity, run.public_id), headers=HX)

    assert response.status_code == 404


def test_schedule_form_creates_then_pauses(system_admin, legal_entity, profile):
    client = _client(system_admin)
    data = {
        "frequency": "daily",
        "time_of_day": "03:15",
        "weekday": "1",
        "cron_expression": "",
        "timezone": "Europe/Paris",
        "kind": "partial",
        "weekly_full": "on",
        "weekly_full_weekday": "0",
        "enabled": "on",
    }

    created = client.post(_url("sync_schedule", legal_entity), data)
    schedule = SyncSchedule.objects.get(legal_entity=legal_entity)
    assert created.status_code == 302
    assert schedule.periodic_task.crontab.hour == "3"
    assert schedule.periodic_task.enabled
    assert schedule.full_periodic_task.enabled

    del data["enabled"]
    paused = client.post(_url("sync_schedule", legal_entity), data, headers=HX)
    schedule.refresh_from_db()
    schedule.periodic_task.refresh_from_db()
    assert paused.status_code == 200
    assert "paused" in paused.content.decode()
    assert "<html" not in paused.content.decode()
    assert not schedule.enabled
    assert not schedule.periodic_task.enabled
    assert not schedule.full_periodic_task.enabled


def test_schedule_form_reports_a_bad_cron_expression(system_admin, legal_entity):
    response = _client(system_admin).post(
        _url("sync_schedule", legal_entity),
        {
            "frequency": "cron",
            "time_of_day": "02:00",
            "weekday": "1",
            "cron_expression": "every day",
            "timezone": "UTC",
            "kind": "partial",
            "weekly_full_weekday": "0",
            "enabled": "on",
        },
        headers=HX,
    )

    assert response.status_code == 422
    assert "five fields" in response.content.decode()
    assert not SyncSchedule.objects.exists()


def test_a_running_object_shows_records_fetched_of_the_total(system_admin, legal_entity, profile):
    run = SyncRun.objects.create(legal_entity=legal_entity, state=SyncRun.State.RUNNING)
    SyncRunObject.objects.create(
        run=run, object_name="VENDOR", state="running", fetched=500, total=2000
    )
    SyncRunObject.objects.create(run=run, object_name="CLASS", state="running")
    SyncRunObject.objects.create(run=run, object_name="DEPARTMENT", state="pending")

    page = _client(system_admin).get(_url("sync_run", legal_entity, run.public_id), headers=HX)

    html = page.content.decode()
    assert 'max="2000" value="500"' in html
    assert '<td class="num" data-count="fetched">500 of 2,000</td>' in html
    # Not yet counted: an indeterminate bar; not started: an empty one.
    assert '<progress id="progress-2">' in html
    assert 'id="progress-3" max="1" value="0"' in html


def test_a_finished_poll_refreshes_the_step_status_and_the_rail(
    system_admin, legal_entity, profile
):
    run = _finished_run(legal_entity)

    response = _client(system_admin).get(_url("sync_run", legal_entity, run.public_id), headers=HX)

    assert response.status_code == 286
    assert 'id="step-status" hx-swap-oob="true"' in response.content.decode()
    assert {"sync-finished", "rail-changed"} <= set(json.loads(response["HX-Trigger"]))


def test_an_idle_page_with_an_active_schedule_watches_for_scheduled_runs(
    system_admin, legal_entity, profile
):
    client = _client(system_admin)
    old = _finished_run(legal_entity)
    url = _url("smartsync", legal_entity)

    unscheduled = client.get(url, headers=HX).content.decode()
    SyncSchedule.objects.create(legal_entity=legal_entity, enabled=True)
    watching = client.get(url, headers=HX).content.decode()
    SyncSchedule.objects.update(enabled=False)
    paused = client.get(url, headers=HX).content.decode()

    assert "every 15s" not in unscheduled
    assert 'hx-trigger="every 15s"' in watching
    assert f"part=run&amp;seen={old.public_id}" in watching
    assert "every 15s" not in paused


def test_a_watched_run_that_ended_between_looks_refreshes_the_history(
    system_admin, legal_entity, profile
):
    client = _client(system_admin)
    old = _finished_run(legal_entity)
    SyncSchedule.objects.create(legal_entity=legal_entity, enabled=True)
    url = _url("smartsync", legal_entity)

    nothing_new = client.get(f"{url}?part=run&seen={old.public_id}", headers=HX)
    scheduled = _finished_run(legal_entity, kind=SyncRun.Kind.PARTIAL, trigger="schedule")
    something_new = client.get(f"{url}?part=run&seen={old.public_id}", headers=HX)

    assert "HX-Trigger" not in nothing_new
    assert "hx-swap-oob" not in nothing_new.content.decode()
    assert {"sync-finished", "rail-changed"} <= set(json.loads(something_new["HX-Trigger"]))
    assert 'id="step-status" hx-swap-oob="true"' in something_new.content.decode()
    assert f"seen={scheduled.public_id}" in something_new.content.decode()


@pytest.mark.parametrize(
    ("company", "words", "link"),
    [
        ("bad-password", "Intacct refused the sign-in with the saved credentials", "credentials"),
        ("sender-not-authorized", "Intacct refused our Sender ID", "sender_authorization"),
        ("healthy-top", "Intacct was busy or could not be reached", ""),
        ("bad-sender-password", "we have been alerted", ""),
    ],
)
def test_a_failed_sync_says_what_to_do_once_and_links_the_step_that_fixes_it(
    system_admin, connected, sandbox, pauses, company, words, link
):
    """A run that failed as a whole (a sign-in refused after the password changed, our Sender
    ID removed, Intacct down) says what to do above its objects, links the wizard step, and does
    not repeat the error under each object, whose bars stay empty."""
    from intacct.sandbox.world import FaultPlan
    from tests.connections.test_smartsync import sync

    legal_entity = connected("healthy-top")
    if company == "healthy-top":
        sandbox.company(company).faults = FaultPlan(errors_every=1000, errors_burst=1000)
    else:
        legal_entity.attempts.current().update(company_id=company)
    run = sync(legal_entity, kind=SyncRun.Kind.FULL)
    assert run.state == SyncRun.State.FAILED

    page = _client(system_admin).get(_url("smartsync", legal_entity)).content.decode()
    html = page[page.index('<section id="sync-run"') :]
    html = html[: html.index("</section>")]

    assert words in html
    reason = escape(run.error.split("failed: ")[-1])
    assert html.count(reason) == 1, "the run's error is said once, not under every object"
    if link:
        assert f'href="{_url(link, legal_entity)}"' in html
    assert 'max="1" value="1"' not in html, "a failed object's bar is not drawn full"
    if company == "bad-sender-password":
        # What the advice says is so: the refusal of our sender credentials is on record.
        from connections.models import AuditEvent

        event = AuditEvent.objects.get(action="verification.sender_config_failed")
        assert event.detail["during"] == "sync"


@pytest.mark.parametrize("ready", [True, False])
def test_a_schedule_saved_before_the_profile_is_ready_says_it_waits(
    system_admin, legal_entity, ready
):
    if ready:
        ApiSyncProfileFactory(legal_entity=legal_entity)
    data = {
        "frequency": "cron",
        "time_of_day": "02:00",
        "weekday": "1",
        "cron_expression": "* * * * *",
        "timezone": "UTC",
        "kind": "partial",
        "weekly_full_weekday": "0",
        "enabled": "on",
    }

    page = _client(system_admin).post(_url("sync_schedule", legal_entity), data, headers=HX)

    html = page.content.decode()
    assert SyncSchedule.objects.get(legal_entity=legal_entity).enabled
    waiting = "no sync starts until the API Sync Profile is ready (step 8)"
    assert (waiting in html) is not ready
    assert ("Active: syncs start by themselves" in html) is ready


def test_an_object_refused_for_a_permission_links_the_step_that_grants_it(
    system_admin, connected, sandbox
):
    """A partly failed sync: the object Intacct refused for a permission says so under its row
    with the link to step 3; the objects that synced have no note."""
    from tests.connections.test_smartsync import sync

    legal_entity = connected("healthy-top")
    legal_entity.attempts.current().update(company_id="missing-permissions")
    run = sync(legal_entity, kind=SyncRun.Kind.FULL)
    failed = run.object_results.filter(state=SyncRunObject.State.FAILED)
    assert run.state == SyncRun.State.PARTIAL, run.error
    assert failed.exists()

    html = _client(system_admin).get(_url("smartsync", legal_entity)).content.decode()

    step3 = _url("role_permissions", legal_entity)
    for item in failed:
        notes = re.search(rf'data-notes-of="{item.object_name}".*?</tr>', html, re.DOTALL)
        assert notes is not None, item.object_name
        assert "PermissionDeniedError" in notes.group(0)
        assert f'<a href="{step3}">Go to step 3: Role and permissions</a>' in notes.group(0)
    region = html[html.index('<section id="sync-run"') :]
    region = region[: region.index("</section>")]
    assert region.count(f'href="{step3}"') == failed.count()  # the objects that synced: none
