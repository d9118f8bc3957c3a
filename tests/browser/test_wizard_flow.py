"""The connection wizard in Chromium: a customer walks the guide against the sandbox, sees the
failing step named, fixes the company in Intacct and verifies again.

Every check runs for real: "Test connection" enqueues the task, the worker thread asks the
sandbox over HTTP, and the report comes in through the page's polling.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from connections.services.attempts import start_attempt
from intacct.sandbox import GATEWAY_PATH, SANDBOX_USER_ID, SANDBOX_USER_PASSWORD
from tests.factories import USER_PASSWORD, LegalEntityFactory

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("celery_worker")]

PHONE = {"width": 390, "height": 844}
#: How long a verification may take, end to end (queue, worker, sandbox, polling).
REPORT_TIMEOUT = 30_000


def log_in(page: Page, username: str) -> None:
    page.goto("/accounts/login/")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password").fill(USER_PASSWORD)
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("button", name="Log out")).to_be_visible()


def acknowledge(page: Page, number: int, title: str, *words: str) -> None:
    """On step ``number`` (the page titled ``title``), check the guide's ``words`` are shown, click
    "I've done this" and land on the next step."""
    step = page.locator("#step")
    expect(step.get_by_role("heading", level=1)).to_have_text(title)
    expect(step.locator(".kicker")).to_contain_text(f"Step {number}")
    for word in words:
        expect(step).to_contain_text(word)
    step.get_by_role("button", name="I've done this").click()
    expect(page.locator(".messages")).to_contain_text(f"Step {number} marked as done.")
    expect(step.locator(".kicker")).to_contain_text(f"Step {number + 1}")


def rail_item(page: Page, label: str) -> Any:
    return page.locator("#rail li.rail-item").filter(has_text=label)


#: The page's width and, when it is wider than the window, the elements that stick out.
OVERFLOW_SCRIPT = """() => {
  const width = window.innerWidth;
  const right = (el) => el.getBoundingClientRect().right;
  // Held in by an ancestor that scrolls or clips it (an absolutely positioned element escapes
  // those between it and its containing block).
  const held = (el) => {
    let up = el.parentElement;
    if (getComputedStyle(el).position === "absolute") {
      while (up && up !== el.offsetParent) up = up.parentElement;
    }
    for (; up && up !== document.body; up = up.parentElement) {
      if (getComputedStyle(up).overflowX !== "visible") return true;
    }
    return false;
  };
  const name = (el) =>
    el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
    (typeof el.className === "string" && el.className.trim()
      ? "." + el.className.trim().split(/\\s+/).join(".") : "");
  const culprits = [...document.body.querySelectorAll("*")]
    .filter((el) => right(el) > width + 1 && !held(el))
    .filter((el) => ![...el.children].some((child) => right(child) > width + 1 && !held(child)))
    .slice(0, 5)
    .map((el) => `${name(el)} (right edge ${Math.round(right(el))}px)`);
  return {scrollWidth: document.documentElement.scrollWidth, width, culprits};
}"""


def assert_no_horizontal_overflow(page: Page) -> None:
    found = page.evaluate(OVERFLOW_SCRIPT)
    assert found["scrollWidth"] <= found["width"], (
        f"{page.url} scrolls sideways at {found['width']}px: it is {found['scrollWidth']}px wide; "
        f"sticking out: {', '.join(found['culprits'])}"
    )


@pytest.fixture(autouse=True)
def _sandbox_status(sandbox: Any, sandbox_gateway: str, settings: Any) -> None:
    """The home page asks the sandbox which companies it serves: this test's sandbox."""
    settings.SANDBOX_URL = sandbox_gateway.removesuffix(GATEWAY_PATH)


@pytest.fixture
def missing_permissions_entity(organization: Any, sandbox: Any) -> Any:
    """Acme UK, whose Intacct company (the sandbox's ``missing-permissions``) has a role that
    lacks Vendors, GL Accounts and AP Terms; beside it a healthy one."""
    healthy = LegalEntityFactory(organization=organization, name="Acme US")
    start_attempt(healthy, company_id="healthy-top", user_id=SANDBOX_USER_ID)
    legal_entity = LegalEntityFactory(organization=organization, name="Acme UK")
    start_attempt(legal_entity, company_id="missing-permissions", user_id=SANDBOX_USER_ID)
    return legal_entity


def test_walk_every_step_fail_on_permissions_fix_and_verify(
    browser: Any,
    page: Page,
    app_server: Any,
    system_admin: Any,
    missing_permissions_entity: Any,
    sandbox: Any,
    screenshot: Any,
) -> None:
    log_in(page, system_admin.username)

    # The legal entities: open the one connected to the misconfigured company.
    page.get_by_role("link", name="Connections").click()
    expect(page.get_by_role("heading", name="Connect to Sage Intacct")).to_be_visible()
    row = page.get_by_role("row").filter(has_text="Company missing-permissions")
    expect(row).to_contain_text("Acme UK")
    row.get_by_role("button", name="Start: Acme UK").click()

    # Step 0: the checklist, two boxes to tick.
    step = page.locator("#step")
    expect(step.get_by_role("heading", level=1)).to_have_text("Pre-connection checklist")
    expect(step).to_contain_text("System Administrator role")
    step.get_by_label("Confirm you can log into Sage Intacct as Administrator").check()
    step.get_by_label("Confirm that all other users are logged out of Sage Intacct").check()
    step.get_by_role("button", name="I've done this").click()
    expect(page.locator(".messages")).to_contain_text("Step 0 marked as done.")

    # Steps 1–6, done in Intacct: the guide's words and exact values, then "I've done this".
    expect(step.locator(".guide-steps")).to_contain_text("Web Services is toggled on")
    acknowledge(page, 1, "Turn on the Web Services subscription", "Company -> Subscriptions")
    expect(step.locator("#copy-user-id")).to_have_text("Beanworks")
    acknowledge(page, 2, "Create the Web Services user", "Web Services User", "Business")
    expect(step.locator("#copy-role-name")).to_have_text("Beanworks API")
    acknowledge(page, 3, "Create the role and grant its permissions", "Vendors", "AP Terms")
    expect(step.locator("#copy-role-to-add")).to_have_text("Beanworks API")
    acknowledge(page, 4, "Assign the role to the Web Services user", "Role Information")
    expect(step.locator("#copy-sender-id")).to_have_text("BeanworksMPP")
    acknowledge(page, 5, "Authorize the Sender ID", "Web Services Authorization")
    expect(step.locator("#copy-field-id")).to_have_text("BEANWORKS")
    acknowledge(page, 6, "Add the AP Bill URL custom field", "AP Bill", "URL")

    # Step 7: the credentials; the company ID's stray trailing space is trimmed.
    expect(step.get_by_role("heading", level=1)).to_have_text(
        "Enter the credentials and test the connection"
    )
    expect(page).to_have_url(re.compile(r"/credentials/$"))
    expect(step.get_by_role("radio", name=re.compile(r"^Top-level"))).to_be_checked()
    step.get_by_label("Company ID", exact=True).fill("missing-permissions ")
    step.get_by_label("Web Services user ID").fill(SANDBOX_USER_ID)
    step.get_by_label("Web Services user password").fill(SANDBOX_USER_PASSWORD)
    step.get_by_role("button", name="Save credentials").click()
    expect(page.locator(".messages")).to_contain_text("Saved. Now test the connection.")
    expect(step.get_by_label("Company ID", exact=True)).to_have_value("missing-permissions")

    # Test: the failing step is named, with what to do and the way back to step 3.
    result = page.locator("#result")
    result.get_by_role("button", name="Test connection").click()
    # The answer to the click is the queued run; the report can only come in by polling.
    expect(result.get_by_role("button", name="Checking…")).to_be_disabled()
    expect(result).to_contain_text("Checking with Intacct…")
    expect(result).to_contain_text("Not connected yet: some checks failed.", timeout=REPORT_TIMEOUT)
    failed = result.locator("li.report-step.outcome-failed")
    expect(failed).to_have_count(1)
    expect(failed).to_contain_text("Role permissions")
    expect(failed).to_contain_text("What to do:")
    expect(failed).to_contain_text("edit the role 'Beanworks API'")
    back_to_role = failed.get_by_role("link", name="Go to step 3: Role and permissions")
    expect(back_to_role).to_have_attribute("href", re.compile(r"/role_permissions/$"))
    missing = result.locator("table.report-permissions tr.outcome-missing")
    expect(missing.locator("td:first-child")).to_have_text(
        ["General Ledger — Accounts", "Accounts Payable — Vendors", "Accounts Payable — AP Terms"]
    )
    for row in missing.all():
        expect(row.locator("td").nth(1)).to_contain_text("Missing")

    # The rail follows: step 3 failed, the steps Intacct proved verified.
    expect(rail_item(page, "Role and permissions")).to_contain_text("Failed")
    expect(rail_item(page, "Web Services subscription")).to_contain_text("Verified")
    screenshot(page.locator("#rail"), "wizard-rail", docs=True)
    screenshot(result, "report-failing", docs=True)

    # The link leads to step 3, which says what failed and which rows are missing.
    back_to_role.click()
    expect(page).to_have_url(re.compile(r"/role_permissions/$"))
    expect(step).to_contain_text("Failed: Intacct's check did not pass.")
    expect(step.locator("table.perm-checklist tr.outcome-missing")).to_have_count(3)

    # Fix the company in Intacct (the sandbox), then test again from step 7.
    sandbox.set_scenario("missing-permissions", "healthy_top")
    rail_item(page, "Credentials").get_by_role("link").click()
    expect(page).to_have_url(re.compile(r"/credentials/$"))
    result.get_by_role("button", name="Test again").click()
    expect(result).to_contain_text("Connected: every check passed.", timeout=REPORT_TIMEOUT)
    expect(result.locator("li.report-step.outcome-failed")).to_have_count(0)
    expect(result.locator("li.report-step.outcome-passed").first).to_be_visible()
    expect(result.locator("table.report-permissions tr.outcome-missing")).to_have_count(0)
    expect(result).to_contain_text("0 missing")
    expect(rail_item(page, "Role and permissions")).to_contain_text("Verified")
    page.evaluate("window.scrollTo(0, 0)")  # the sticky rail stays beside the top of the page
    screenshot(page, "report-passing", docs=True, full_page=True)

    # Steps 8 and 9: waiting for customer success, then SmartSync.
    step.get_by_role("link", name="8. API Sync Profile").click()
    expect(step.get_by_role("heading", level=1)).to_have_text("API Sync Profile")
    expect(step).to_contain_text("The connection is verified")
    step.get_by_role("link", name="9. SmartSync").click()
    expect(step.get_by_role("heading", level=1)).to_have_text("Enable SmartSync")
    expect(step).to_contain_text("Step 8 must be done first")

    # At phone width no page of the wizard scrolls sideways.
    phone = browser.new_context(
        viewport=PHONE, base_url=app_server.url, storage_state=page.context.storage_state()
    )
    try:
        small = phone.new_page()
        small.goto("/connect/")
        expect(small.get_by_role("heading", name="Connect to Sage Intacct")).to_be_visible()
        assert_no_horizontal_overflow(small)
        rail_links = page.locator("#rail li.rail-item a").all()
        step_urls = [link.get_attribute("href") or "" for link in rail_links]
        assert len(step_urls) == 10
        for url in step_urls:
            small.goto(url)
            expect(small.locator("#step h1")).to_be_visible()
            assert_no_horizontal_overflow(small)
        small.goto(step_urls[7])
        expect(small.locator("#result")).to_contain_text("Connected: every check passed.")
        screenshot(small, "phone-credentials")
    finally:
        phone.close()


def test_entity_level_connection_picks_the_entity_intacct_lists(
    page: Page, organization: Any, system_admin: Any, sandbox: Any
) -> None:
    LegalEntityFactory(organization=organization, name="Acme Group")
    log_in(page, system_admin.username)
    page.goto("/connect/")
    page.get_by_role("row").filter(has_text="Acme Group").get_by_role("button").click()
    rail_item(page, "Credentials").get_by_role("link").click()

    step = page.locator("#step")
    step.get_by_label("Company ID", exact=True).fill("healthy-multi")
    step.get_by_label("Web Services user ID").fill(SANDBOX_USER_ID)
    step.get_by_label("Web Services user password").fill(SANDBOX_USER_PASSWORD)
    step.get_by_role("button", name="Find the entities in Intacct").click()
    picker = page.locator("#entity-picker")
    expect(picker).to_contain_text("Intacct lists 3 entities.")
    for entity in ("E100", "E200", "E300"):
        expect(picker.get_by_role("row").filter(has_text=entity)).to_have_count(1)
    picker.get_by_role("button", name=re.compile(r"^Use entity E200 ")).click()
    expect(step.get_by_label("Entity ID", exact=True)).to_have_value("E200")
    expect(step.get_by_role("radio", name=re.compile(r"^Entity-level"))).to_be_checked()
    step.get_by_role("button", name="Save credentials").click()
    expect(page.locator(".messages")).to_contain_text("Saved. Now test the connection.")
    expect(step.get_by_label("Entity ID", exact=True)).to_have_value("E200")
    expect(step.get_by_role("radio", name=re.compile(r"^Entity-level"))).to_be_checked()

    result = page.locator("#result")
    result.get_by_role("button", name="Test connection").click()
    expect(result.get_by_role("button", name="Checking…")).to_be_disabled()
    expect(result).to_contain_text("Connected: every check passed.", timeout=REPORT_TIMEOUT)
    expect(result.locator("li.report-step.outcome-failed")).to_have_count(0)
    entity_line = result.locator("li.report-step").filter(has_text="Signed in to entity")
    expect(entity_line).to_contain_text("Passed")
    expect(entity_line).to_contain_text("Signed in to entity 'E200'.")
    expect(rail_item(page, "Credentials")).to_contain_text("Verified")
    # The step's status box follows the verdict without a reload, as the rail does.
    expect(page.locator("#step-status")).to_contain_text("Verified by Intacct")

    # Typed but not saved: the test would use the saved credentials, so it waits for the save.
    step.get_by_label("Company ID", exact=True).fill("no-custom-field")
    note = result.locator("#unsaved-credentials")
    expect(note).to_be_visible()
    expect(note).to_contain_text("save first, then test")
    expect(result.get_by_role("button", name="Test again")).to_be_disabled()
    # Saved: the report on screen is for the earlier credentials, and says so.
    step.get_by_role("button", name="Save credentials").click()
    expect(page.locator(".messages")).to_contain_text("start a new attempt")
    expect(step.get_by_label("Company ID", exact=True)).to_have_value("no-custom-field")
    expect(result.locator("#unsaved-credentials")).to_be_hidden()
    expect(result.get_by_role("button", name="Test connection")).to_be_enabled()
    # Edited, then put back as saved: nothing to save, the test is offered again.
    company = step.get_by_label("Company ID", exact=True)
    company.fill("healthy-multi")
    expect(result.get_by_role("button", name="Test connection")).to_be_disabled()
    company.fill("no-custom-field")
    expect(result.locator("#unsaved-credentials")).to_be_hidden()
    expect(result.get_by_role("button", name="Test connection")).to_be_enabled()
    # Edited, then away to another step and back (boosted, no reload): the saved values again,
    # nothing held.
    company.fill("healthy-multi")
    rail_item(page, "Web Services user").get_by_role("link").click()
    rail_item(page, "Credentials").get_by_role("link").click()
    expect(step.get_by_label("Company ID", exact=True)).to_have_value("no-custom-field")
    expect(result.locator("#unsaved-credentials")).to_be_hidden()
    expect(result.get_by_role("button", name="Test connection")).to_be_enabled()
