"""SmartSync (step 9) in Chromium: a customer syncs a connected legal entity's lists from the
sandbox, watches the run finish, syncs again partially after Intacct changed, and sets a schedule.

Every run goes the whole way: the Sync button queues the task, the worker thread reads the sandbox
over HTTP, and the page learns the outcome only through its htmx polling, never by reloading.
"""

from __future__ import annotations

import re
import threading
from typing import Any

import pytest
from django.urls import reverse
from playwright.sync_api import Locator, Page, expect

from connections.models import ListItem, Step, StepState, SyncRun, SyncSchedule
from connections.services.api_sync import create_api_sync_profile
from connections.services.attempts import acknowledge_step, start_attempt
from connections.services.verification import create_run, run_verification
from intacct.sandbox import GATEWAY_PATH, SANDBOX_USER_ID, SANDBOX_USER_PASSWORD
from intacct.sandbox.world import Sandbox
from tests.browser.test_wizard_flow import log_in
from tests.factories import LegalEntityFactory

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("celery_worker")]

COMPANY = "healthy-top"
OBJECTS = ["VENDOR", "CLASS", "DEPARTMENT"]
#: How long a sync may take, end to end (queue, worker, sandbox, polling).
SYNC_TIMEOUT = 30_000
#: The columns of the run history, in order.
HISTORY_COLUMNS = [
    "Kind",
    "Trigger",
    "State",
    "Started",
    "Duration",
    "Fetched",
    "Created",
    "Updated",
    "Deleted",
    "Requests",
    "Transactions",
    "Errors",
]


@pytest.fixture(autouse=True)
def _sandbox_status(sandbox: Any, sandbox_gateway: str, settings: Any) -> None:
    """The home page asks the sandbox which companies it serves: this test's sandbox."""
    settings.SANDBOX_URL = sandbox_gateway.removesuffix(GATEWAY_PATH)


@pytest.fixture
def connected_entity(organization: Any, sandbox: Any, sandbox_gateway: str) -> Any:
    """Acme US, connected to the sandbox's healthy company (checklist ticked, the connection
    verified against the sandbox) with an API Sync Profile of three list objects: steps 0–8 done."""
    legal_entity = LegalEntityFactory(organization=organization, name="Acme US")
    attempt = start_attempt(
        legal_entity,
        company_id=COMPANY,
        user_id=SANDBOX_USER_ID,
        password=SANDBOX_USER_PASSWORD,
        endpoint=sandbox_gateway,
    )
    acknowledge_step(attempt, Step.PRE_CONNECTION)
    run, _ = create_run(attempt)
    verified = run_verification(run.pk)
    assert verified is not None
    assert verified.state == "passed", verified.state
    create_api_sync_profile(legal_entity, object_names=OBJECTS)
    return legal_entity


def rail_item(page: Page, label: str) -> Locator:
    return page.locator("#rail li.rail-item").filter(has_text=label)


def live_counts(legal_entity: Any) -> dict[str, int]:
    return {
        name: ListItem.objects.filter(
            legal_entity=legal_entity, object_name=name, deleted_at__isnull=True
        ).count()
        for name in OBJECTS
    }


def live_keys(legal_entity: Any, name: str) -> set[str]:
    return set(
        ListItem.objects.filter(
            legal_entity=legal_entity, object_name=name, deleted_at__isnull=True
        ).values_list("record_no", flat=True)
    )


def sandbox_keys(sandbox: Sandbox, name: str) -> set[str]:
    return {str(n) for n in sandbox.company(COMPANY).snapshot(name)}


def object_row(page: Page, name: str) -> Locator:
    return page.locator("#sync-run tr.sync-object").filter(
        has=page.locator("th label", has_text=re.compile(rf"^{name}$"))
    )


def expect_object(row: Locator, state: str, **counts: int | None) -> None:
    """The object's row is in ``state`` with these counts (``None``: any number, as a partial
    sync also re-reads the records modified just before the newest one held)."""
    expect(row.locator(".sync-state")).to_have_text(state)
    for name, value in counts.items():
        cell = row.locator(f'td[data-count="{name}"]')
        expect(cell).to_have_text(re.compile(r"^\d+$") if value is None else str(value))


def expect_history_row(row: Locator, **cells: str) -> None:
    """The history row has these cells (keyed by lowercased column name)."""
    tds = row.locator("td")
    for column, text in cells.items():
        index = HISTORY_COLUMNS.index(column.capitalize())
        expect(tds.nth(index)).to_have_text(text)


def expect_all_done(page: Page) -> None:
    """Every object's progress bar is full: ``value`` equals ``max`` (1)."""
    bars = page.locator("#sync-run progress")
    expect(bars).to_have_count(len(OBJECTS))
    for bar in bars.all():
        expect(bar).to_have_attribute("max", "1")
        expect(bar).to_have_js_property("value", 1)
        expect(bar).to_have_js_property("position", 1)


def test_sync_then_partial_sync_then_schedule(
    page: Page,
    system_admin: Any,
    connected_entity: Any,
    sandbox: Sandbox,
    db_lock: threading.Lock,
    screenshot: Any,
) -> None:
    """Sync and Partial Sync each run to the end on the page without a reload: the progress bars
    fill, polling stops, the history gains the run with its counts, and the legal entity's list
    items match the sandbox; the schedule form saves a daily schedule, then pauses it."""
    legal_entity = connected_entity
    smartsync_url = reverse("connections:smartsync", args=[legal_entity.public_id])
    polls: list[str] = []
    page.on(
        "request", lambda request: polls.append(request.url) if "/runs/" in request.url else None
    )

    log_in(page, system_admin.username)
    page.goto(smartsync_url)
    step = page.locator("#step")
    run = page.locator("#sync-run")
    history = page.locator("#sync-history")
    expect(step.get_by_role("heading", level=1)).to_have_text("Enable SmartSync")
    expect(step).not_to_contain_text("Step 8 must be done first")
    expect(run).to_contain_text("No sync yet.")
    expect(history).to_contain_text("No runs yet.")
    sync_button = run.get_by_role("button", name="Sync", exact=True)
    partial_button = run.get_by_role("button", name="Partial Sync")
    expect(sync_button).to_be_enabled()
    expect(partial_button).to_be_enabled()
    # Marks this document: it is still there at the end only if the page was never reloaded.
    page.evaluate("window.smartsyncDocument = 'first load'")

    # --- Sync: a full sync, queued, then polled to the end. ---------------------------------------
    sync_button.click()
    expect(run.get_by_role("status")).to_have_text("A full sync is queued.")
    expect(run.locator(".sync-run-summary")).to_contain_text(
        re.compile(r"Full sync: (queued|running)")
    )
    expect(run).to_have_attribute("data-polling", "")
    expect(sync_button).to_be_disabled()
    expect(partial_button).to_be_disabled()
    # One progress bar per object of the profile, none of them full yet.
    expect(run.locator("progress")).to_have_count(len(OBJECTS))
    for name in OBJECTS:
        row = object_row(page, name)
        expect(row.locator(".sync-state")).to_have_text(re.compile(r"^(pending|running)$"))
        expect(row.locator("progress")).to_be_visible()
        expect(row.locator("progress")).not_to_have_js_property("position", 1)

    expect(run.locator(".sync-run-summary")).to_contain_text(
        "Full sync: succeeded", timeout=SYNC_TIMEOUT
    )
    expect(run).not_to_have_attribute("data-polling", re.compile(".*"))
    expect(run).not_to_have_attribute("hx-trigger", re.compile(".*"))
    expect_all_done(page)
    # The successful full sync verified the step: its status and the rail follow, unreloaded.
    expect(page.locator("#step-status")).to_contain_text("Done: a full sync succeeded on")
    expect(rail_item(page, "SmartSync")).to_contain_text("Verified")
    expect(page.locator("#rail .rail-summary")).to_contain_text("10 of 10 steps done")
    # The test's own queries take turns with the live server and the worker (``db_lock``: one
    # SQLite connection is shared by every thread).
    with db_lock:
        full = SyncRun.objects.get(legal_entity=legal_entity)
        held = live_counts(legal_entity)
    expected = {name: len(sandbox_keys(sandbox, name)) for name in OBJECTS}
    assert held == expected
    assert all(count > 0 for count in expected.values())
    for name in OBJECTS:
        row = object_row(page, name)
        expect_object(
            row, "succeeded", fetched=expected[name], created=expected[name], updated=0, deleted=0
        )
        with db_lock:
            assert live_keys(legal_entity, name) == sandbox_keys(sandbox, name)
    expect(sync_button).to_be_enabled()
    expect(partial_button).to_be_enabled()

    # The history fetched itself again when the run ended.
    total = sum(expected.values())
    rows = history.locator("tbody tr")
    expect(rows).to_have_count(1)
    expect_history_row(
        rows.first,
        kind="Full",
        trigger="Manual",
        state="Succeeded",
        fetched=str(total),
        created=str(total),
        updated="0",
        deleted="0",
        errors="—",
    )
    full_run_url = reverse("connections:sync_run", args=[legal_entity.public_id, full.public_id])
    full_polls = sum(url.endswith(full_run_url) for url in polls)
    assert full_polls >= 1

    # --- Intacct changes: records changed, deleted and added in each object. -----------------------
    done = sandbox.company(COMPANY).mutate(adds=1, changes=3, deletes=2, objects=OBJECTS, seed=11)
    changes = {}
    for name in OBJECTS:
        deleted = set(done[name].deleted)
        changes[name] = {
            "created": len(done[name].added),
            "updated": len(set(done[name].changed) - deleted),
            "deleted": len(deleted),
        }
        assert changes[name]["deleted"] == 2

    # --- Partial Sync: only what changed, deletions included. --------------------------------------
    partial_button.click()
    expect(run.get_by_role("status")).to_have_text("A partial sync is queued.")
    expect(sync_button).to_be_disabled()
    expect(run.locator(".sync-run-summary")).to_contain_text(
        "Partial sync: succeeded", timeout=SYNC_TIMEOUT
    )
    expect(run).not_to_have_attribute("data-polling", re.compile(".*"))
    expect_all_done(page)
    with db_lock:
        partial = SyncRun.objects.get(legal_entity=legal_entity, kind=SyncRun.Kind.PARTIAL)
    partial_run_url = reverse(
        "connections:sync_run", args=[legal_entity.public_id, partial.public_id]
    )
    partial_polls = sum(url.endswith(partial_run_url) for url in polls)
    assert partial_polls >= 1
    for name in OBJECTS:
        row = object_row(page, name)
        expect_object(row, "succeeded", fetched=None, **changes[name])
    expect(rows).to_have_count(2)
    expect_history_row(
        rows.first,
        kind="Partial",
        trigger="Manual",
        state="Succeeded",
        created=str(sum(c["created"] for c in changes.values())),
        updated=str(sum(c["updated"] for c in changes.values())),
        deleted=str(sum(c["deleted"] for c in changes.values())),
        errors="—",
    )
    expect_history_row(rows.nth(1), kind="Full", state="Succeeded", fetched=str(total))
    with db_lock:
        held = live_counts(legal_entity)
        for name in OBJECTS:
            assert live_keys(legal_entity, name) == sandbox_keys(sandbox, name)
    assert held == {name: sandbox.company(COMPANY).count(name) for name in OBJECTS}
    assert held == {
        name: expected[name] + changes[name]["created"] - changes[name]["deleted"]
        for name in OBJECTS
    }
    # The finished full run was not polled again.
    assert sum(url.endswith(full_run_url) for url in polls) == full_polls

    # --- Sync Schedule: daily at 06:30 Paris time, partial with a weekly full sync. ---------------
    schedule = page.locator("#schedule")
    expect(schedule).to_contain_text("No schedule yet")
    # A bad cron expression is refused in place, with what was typed kept and nothing saved.
    # Only the fields the frequency uses show: no weekday or cron expression for "Every day".
    expect(schedule.get_by_label("Weekday")).to_be_hidden()
    expect(schedule.get_by_label("Cron expression")).to_be_hidden()
    expect(schedule.get_by_label("Weekly full sync on")).to_be_hidden()
    schedule.get_by_label("Frequency").select_option(value="cron")
    expect(schedule.get_by_label("Time", exact=True)).to_be_hidden()
    schedule.get_by_label("Cron expression").fill("61 25 * * *")
    schedule.get_by_role("button", name="Save schedule").click()
    expect(schedule).to_contain_text("The minute field, “61”, is not valid: it takes * or 0–59")
    expect(schedule.get_by_label("Cron expression")).to_have_value("61 25 * * *")
    expect(page.locator("#request-error")).to_be_hidden()
    with db_lock:
        assert not SyncSchedule.objects.exists()
    schedule.get_by_label("Frequency").select_option(label="Every day")
    schedule.get_by_label("Time", exact=True).fill("06:30")
    schedule.get_by_label("Timezone").select_option("Europe/Paris")
    schedule.get_by_label("Kind of sync").select_option(label="Partial")
    # What the schedule would cost follows the form before it is saved: 30 partial syncs at
    # the last partial sync's cost, and (once ticked) 4 or 5 full ones.
    projection = schedule.locator("#schedule-projection")
    expect(projection).to_contain_text(
        re.compile(r"About [\d,]+ API transactions a month \(30 partial syncs")
    )
    schedule.get_by_label("Also a weekly full sync").check()
    expect(projection).to_contain_text(re.compile(r"30 partial syncs × \d+, [45] full × \d+"))
    schedule.get_by_label("Weekly full sync on").select_option(label="Sunday")
    expect(schedule.get_by_label("Enabled (clear to pause)")).to_be_checked()
    schedule.get_by_role("button", name="Save schedule").click()
    expect(schedule.get_by_role("status")).to_have_text("Schedule saved.")
    expect(schedule).to_contain_text(
        re.compile(
            r"Active: syncs start by themselves; the next at \d+ \w+, 06:30 \(Europe/Paris\)\."
        )
    )
    expect(schedule.get_by_label("Time", exact=True)).to_have_value("06:30")
    expect(schedule.get_by_label("Timezone")).to_have_value("Europe/Paris")
    with db_lock:
        saved = SyncSchedule.objects.select_related(
            "periodic_task__crontab", "full_periodic_task__crontab"
        ).get(legal_entity=legal_entity)
    assert (saved.frequency, saved.kind, str(saved.timezone)) == (
        "daily",
        "partial",
        "Europe/Paris",
    )
    assert saved.enabled
    crontab = saved.periodic_task.crontab
    assert (crontab.minute, crontab.hour, crontab.day_of_week) == ("30", "6", "*")
    assert str(crontab.timezone) == "Europe/Paris"
    assert saved.periodic_task.enabled
    assert saved.full_periodic_task.crontab.day_of_week == "0"
    assert saved.full_periodic_task.enabled

    # Pause it: clear Enabled and save.
    schedule.get_by_label("Enabled (clear to pause)").uncheck()
    schedule.get_by_role("button", name="Save schedule").click()
    expect(schedule.get_by_role("status")).to_have_text("Schedule saved and paused.")
    expect(schedule).to_contain_text("Paused: no sync starts by itself")
    expect(schedule.get_by_label("Enabled (clear to pause)")).not_to_be_checked()
    with db_lock:
        saved.refresh_from_db()
        saved.periodic_task.refresh_from_db()
        saved.full_periodic_task.refresh_from_db()
    assert not saved.enabled
    assert not saved.periodic_task.enabled
    assert not saved.full_periodic_task.enabled

    # All of it happened in the first document: no reload, no navigation, and neither finished
    # run was polled again.
    assert page.evaluate("window.smartsyncDocument") == "first load"
    assert page.url.endswith(smartsync_url)
    assert sum(url.endswith(full_run_url) for url in polls) == full_polls
    assert sum(url.endswith(partial_run_url) for url in polls) == partial_polls

    # Loaded again, the page keeps the paused schedule and the history; the successful full sync
    # proved step 9.
    page.reload()
    expect(page.locator("#schedule")).to_contain_text("Paused: no sync starts by itself")
    expect(page.locator("#sync-history tbody tr")).to_have_count(2)
    expect(rail_item(page, "SmartSync")).to_contain_text("Verified")
    expect(page.locator("#rail .rail-summary")).to_contain_text("10 of 10 steps done")
    expect(page.locator("#sync-run .sync-run-summary")).to_contain_text("Partial sync: succeeded")
    page.evaluate("window.scrollTo(0, 0)")  # the sticky rail stays beside the top of the page
    screenshot(page, "smartsync", docs=True, full_page=True)
    with db_lock:
        status = StepState.objects.get(
            attempt__legal_entity=legal_entity, attempt__is_current=True, step=Step.SMARTSYNC
        ).status
    assert status == StepState.Status.VERIFIED
