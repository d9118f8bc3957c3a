"""The Content-Security-Policy in Chromium: every kind of page, and a few htmx interactions on them,
work under the policy without a single violation or console error.

Chromium enforces the policy the server sends; each ``securitypolicyviolation`` event (a listener
added before any page script runs) and each console error is collected, from the login page and a
lockout to the wizard, SmartSync (a real sync against the sandbox, and the schedule form), the
console and the Django admin.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from intacct.sandbox import GATEWAY_PATH, SANDBOX_USER_ID, SANDBOX_USER_PASSWORD
from tests.browser.test_wizard_flow import log_in
from tests.security.pages import (
    CLERK,
    ERROR_URLCONF,
    OWNER,
    Site,
    anonymous_pages,
    error_pages,
    make_site,
    owner_pages,
)

pytestmark = [pytest.mark.browser, pytest.mark.usefixtures("celery_worker")]

SYNC_TIMEOUT = 30_000

#: Reports every violation to the test (``window.cspViolation`` is exposed by Playwright), from
#: before the first script of every document.
LISTEN_FOR_VIOLATIONS = """
document.addEventListener("securitypolicyviolation", (event) => {
  window.cspViolation([
    location.pathname, event.effectiveDirective, event.blockedURI,
    event.sourceFile + ":" + event.lineNumber, event.sample,
  ].join(" | "));
});
"""


class Problems:
    """The page's CSP violations and console errors, by the page they happened on."""

    def __init__(self, page: Page) -> None:
        self.found: list[str] = []
        #: The page being opened answers with this status on purpose (a 404, a lockout's 429).
        self.expected_status: int | None = None
        self.page_url = ""
        page.on("framenavigated", self._navigated)
        page.expose_function("cspViolation", lambda text: self.found.append(f"violation: {text}"))
        page.add_init_script(LISTEN_FOR_VIOLATIONS)
        page.on("console", self._console)
        page.on("pageerror", lambda error: self.found.append(f"page error: {error}"))

    def _navigated(self, frame: Any) -> None:
        if frame.parent_frame is None:
            self.page_url = frame.url

    def _console(self, message: Any) -> None:
        if message.type != "error":
            return
        # Chromium logs such a page itself as a failed load; anything else that fails counts.
        if (
            self.expected_status
            and f"status of {self.expected_status}" in message.text
            and message.location.get("url") == self.page_url
        ):
            return
        self.found.append(f"console error at {message.location.get('url')}: {message.text}")


@pytest.fixture
def site(sandbox: Any, sandbox_gateway: str, settings: Any) -> Site:
    """The site, its connection pointed at the sandbox's healthy company (so a sync succeeds)."""
    settings.SANDBOX_URL = sandbox_gateway.removesuffix(GATEWAY_PATH)
    return make_site(user_id=SANDBOX_USER_ID, password=SANDBOX_USER_PASSWORD)


def visit(page: Page, problems: Problems, url: str, status: int = 200) -> None:
    problems.expected_status = status if status != 200 else None
    response = page.goto(url)
    assert response is not None
    assert response.status == status, url
    page.wait_for_load_state("load")


def test_every_page_and_htmx_interaction_keeps_to_the_policy(
    page: Page, site: Site, settings: Any
) -> None:
    problems = Problems(page)
    settings.ROOT_URLCONF = ERROR_URLCONF  # ours, with a view that fails and one that refuses

    # --- Without a login: the login page, the hand-off link's pages, a missing page. ------------
    for name, url in anonymous_pages(site).items():
        visit(page, problems, url, status=404 if name == "not found" else 200)

    # --- Error pages: a 404, a 403, a 500, a CSRF failure and the wizard refusing a clerk. -----
    errors = error_pages(site)
    wizard_refused = errors.pop("access denied (wizard)")
    for url, status, heading in errors.values():
        visit(page, problems, url, status=status)
        expect(page.get_by_role("heading", level=1)).to_have_text(heading)
    visit(page, problems, "/accounts/login/")
    page.context.clear_cookies()  # the form's token no longer matches a cookie
    page.get_by_label("Username").fill(CLERK)
    page.get_by_label("Password").fill("not-checked")
    problems.expected_status = 403
    page.get_by_role("button", name="Log in").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("This form has expired")
    problems.expected_status = None
    log_in(page, CLERK)
    url, status, heading = wizard_refused
    visit(page, problems, url, status=status)
    expect(page.get_by_role("heading", level=1)).to_have_text(heading)
    page.get_by_role("button", name="Log out").click()
    expect(page.get_by_role("button", name="Log out")).to_have_count(0)

    # A lockout is the login page with its message.
    visit(page, problems, "/accounts/login/")
    for _ in range(5):
        page.get_by_label("Username").fill("intruder")
        page.get_by_label("Password").fill("guess")
        problems.expected_status = 429
        page.get_by_role("button", name="Log in").click()
    expect(page.locator("#lockout")).to_contain_text("This account is locked for 15 minutes")
    problems.expected_status = None

    # --- Logged in: every page. ------------------------------------------------------------------
    log_in(page, OWNER)
    urls = owner_pages(site)
    for url in urls.values():
        visit(page, problems, url)

    # --- htmx: a wizard step acknowledged through the boosted form. ---------------------------
    visit(page, problems, urls["step ws_subscription"])
    page.locator("#step").get_by_role("button", name="I've done this").click()
    expect(page.locator(".messages")).to_contain_text("Step 1 marked as done.")

    # --- htmx: SmartSync's Sync button, the run polled to its end, then the schedule form. ------
    visit(page, problems, urls["smartsync"])
    run = page.locator("#sync-run")
    run.get_by_role("button", name="Sync", exact=True).click()
    expect(run.locator(".sync-run-summary")).to_contain_text(
        "Full sync: succeeded", timeout=SYNC_TIMEOUT
    )
    schedule = page.locator("#schedule")
    schedule.get_by_label("Frequency").select_option(label="Every day")
    schedule.get_by_label("Time", exact=True).fill("06:30")
    # The projection follows the form (an htmx post on change): a month of daily syncs.
    expect(schedule.locator("#schedule-projection")).to_contain_text(
        re.compile(r"API transactions a month(: known after the first syncs)? \(30 partial syncs")
    )
    schedule.get_by_role("button", name="Save schedule").click()
    expect(schedule.get_by_role("status")).to_have_text("Schedule saved.")

    # --- The console's filters and the admin's search. -------------------------------------------
    visit(page, problems, urls["console overview"])
    page.get_by_role("searchbox").fill("Acme")
    page.get_by_role("button", name="Filter").click()
    expect(page.locator("main")).to_contain_text("Acme US")
    visit(page, problems, urls["admin legal entities"])
    page.locator("#searchbar").fill("Acme")
    page.locator("#changelist-search").get_by_role("button").click()
    expect(page.locator("#result_list")).to_contain_text("Acme US")
    visit(page, problems, urls["admin add organization"])
    page.get_by_label("Name").press_sequentially("Globex Corp")
    expect(page.get_by_label("Slug")).to_have_value("globex-corp")  # the admin's own script
    visit(page, problems, urls["admin access attempts"])
    expect(page.locator("#result_list")).to_contain_text("intruder")

    assert problems.found == []


def test_a_violation_would_be_caught(page: Page) -> None:
    """The listener sees what the policy blocks: an inline style added to one of our pages."""
    problems = Problems(page)
    visit(page, problems, "/accounts/login/")

    page.evaluate(
        """() => {
            const style = document.createElement("style");
            style.textContent = "body { color: red }";
            document.head.appendChild(style);
        }"""
    )

    page.wait_for_timeout(200)  # the event is reported asynchronously
    assert any("style-src" in problem for problem in problems.found), problems.found
