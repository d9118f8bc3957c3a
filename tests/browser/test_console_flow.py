"""The customer-success console in Chromium: a connection verified against the sandbox waits at
step 8; customer success finds it by its flag, creates the API Sync Profile from the queue, and the
customer's open step-8 page (another browser) shows step 9 ready by its own polling, without a
reload. Then customer success starts a full sync from the entity's page and the worker runs it."""

from __future__ import annotations

import re
from typing import Any

import pytest
from django.contrib.auth.models import Group
from playwright.sync_api import expect

from connections.models import CUSTOMER_SUCCESS_GROUP, ApiSyncProfile, Step, SyncRun
from connections.services.attempts import acknowledge_step, start_attempt
from connections.services.verification import create_run, run_verification
from intacct.sandbox import SANDBOX_USER_ID, SANDBOX_USER_PASSWORD
from tests.browser.conftest import DESKTOP
from tests.browser.test_wizard_flow import log_in
from tests.factories import LegalEntityFactory, UserFactory

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("celery_worker")]

#: The step-8 page polls every 5 s; allow two polls and the request.
POLL_TIMEOUT = 15_000
SYNC_TIMEOUT = 30_000


@pytest.fixture
def verified_entity(organization: Any, sandbox: Any, sandbox_gateway: str) -> Any:
    legal_entity = LegalEntityFactory(organization=organization, name="Acme US")
    attempt = start_attempt(
        legal_entity,
        company_id="healthy-top",
        user_id=SANDBOX_USER_ID,
        password=SANDBOX_USER_PASSWORD,
        endpoint=sandbox_gateway,
    )
    acknowledge_step(attempt, Step.PRE_CONNECTION)
    run, _ = create_run(attempt)
    finished = run_verification(run.pk)
    assert finished is not None
    assert finished.state == "passed"
    return legal_entity


@pytest.fixture
def cs_user() -> Any:
    user = UserFactory(username="success", is_staff=True)
    user.groups.add(Group.objects.get(name=CUSTOMER_SUCCESS_GROUP))
    return user


def test_profile_from_the_queue_moves_the_open_customer_page_on(
    page: Any,
    browser: Any,
    app_server: Any,
    verified_entity: Any,
    system_admin: Any,
    cs_user: Any,
    screenshot: Any,
) -> None:
    # The customer waits on step 8.
    log_in(page, system_admin.username)
    page.goto(f"/connect/{verified_entity.public_id}/api_sync_profile/")
    status = page.locator("#profile-status")
    expect(status).to_contain_text("Waiting for customer success.")
    page.evaluate("window.__notReloaded = true")

    # Customer success, in another browser.
    context = browser.new_context(viewport=DESKTOP, base_url=app_server.url)
    staff = context.new_page()
    try:
        log_in(staff, cs_user.username)
        staff.get_by_role("link", name="Console").click()
        expect(staff.get_by_role("heading", name="Every connection")).to_be_visible()
        waiting = staff.get_by_role("link", name=re.compile(r"^1 Waiting for profile$"))
        waiting.click()
        expect(staff).to_have_url(re.compile(r"flag=waiting_for_profile"))
        expect(staff.locator("table.console-table tbody tr")).to_have_count(1)
        expect(staff.locator("table.console-table tbody")).to_contain_text("Acme US")
        screenshot(staff, "console-overview", docs=True, full_page=True)

        staff.get_by_role("link", name="API Sync Profile queue").click()
        row = staff.get_by_role("row").filter(has_text="Acme US")
        row.get_by_role("button", name="Create profile").click()
        # What the verification proved readable is ticked.
        expect(staff.get_by_label(re.compile(r"\(VENDOR\)$"))).to_be_checked()
        staff.get_by_role("button", name="Create the profile").click()
        expect(staff.locator(".messages")).to_contain_text("the customer was e-mailed")
        expect(staff.locator("main")).to_contain_text("Nobody is waiting")

        # The customer's page follows by itself.
        expect(status).to_contain_text("Ready:", timeout=POLL_TIMEOUT)
        expect(status.get_by_role("link", name="Continue with step 9, SmartSync")).to_be_visible()
        assert page.evaluate("window.__notReloaded") is True
        assert ApiSyncProfile.objects.get(legal_entity=verified_entity).created_by == cs_user

        # A full sync from the entity's page; the worker runs it.
        staff.get_by_role("link", name="Overview").click()
        staff.get_by_role("link", name="Acme US").click()
        staff.get_by_role("button", name="Full sync").click()
        expect(staff.locator(".messages")).to_contain_text("Full sync queued.")
        run = SyncRun.objects.get(legal_entity=verified_entity)
        assert run.trigger == SyncRun.Trigger.CONSOLE
        for _ in range(SYNC_TIMEOUT // 500):
            run.refresh_from_db()
            if run.is_finished:
                break
            staff.wait_for_timeout(500)
        assert run.state == SyncRun.State.SUCCEEDED
        staff.reload()
        expect(staff.locator("main")).to_contain_text("Succeeded")
        screenshot(staff, "console-entity", docs=True, full_page=True)

        staff.get_by_role("link", name="Funnel").click()
        expect(staff.locator("svg.chart")).to_be_visible()
        screenshot(staff, "console-funnel", docs=True)
    finally:
        context.close()
