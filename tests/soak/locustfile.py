"""The web app's load for ``make soak`` (run by tests/soak/test_soak_web.py): customer admins
walking the wizard and watching SmartSync (page and htmx polls), and customer-success staff on
the console (overview, a flag filter, a search, the queue, an entity page). The customer also
posts as htmx does (a step marked done, the schedule priced and saved, with the CSRF token in
X-CSRFToken). Every request must answer 200 itself: a redirect counts as a failure, so a lost
session cannot pass for a page.

Users are locust's FastHttpUser (geventhttpclient): the load tool shares the machine's cores with
the server, and spends several times less of them per request than with ``requests``.

Reads ``LOAD_PASSWORD``, ``LOAD_CUSTOMER``, ``LOAD_STAFF``, ``LOAD_ENTITY`` (the customer's legal
entity) and ``LOAD_CONSOLE_ENTITY`` from the environment.
"""

from __future__ import annotations

import os
import re
from urllib.parse import urlencode

from locust import FastHttpUser, between, task

PASSWORD = os.environ.get("LOAD_PASSWORD", "")
ENTITY = os.environ.get("LOAD_ENTITY", "")
CONSOLE_ENTITY = os.environ.get("LOAD_CONSOLE_ENTITY", "")
TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
HX_TOKEN = re.compile(r'"X-CSRFToken": "([^"]+)"')
SCHEDULE = {
    "frequency": "daily",
    "time_of_day": "06:30",
    "weekday": "1",
    "cron_expression": "",
    "timezone": "UTC",
    "kind": "partial",
    "weekly_full_weekday": "0",
    "enabled": "on",
}


def sign_in(user: FastHttpUser, username: str, landing: str, name: str) -> str:
    """Log in, then open ``landing``: the CSRF token of its htmx headers (login rotates it)."""
    page = user.client.get("/accounts/login/", name="login page")
    match = TOKEN.search(page.text)
    token = match.group(1) if match else ""
    with user.client.post(
        "/accounts/login/",
        data=urlencode({"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token}),
        headers=FORM,
        name="login",
        allow_redirects=False,
        catch_response=True,
    ) as answer:
        if answer.status_code != 302:
            answer.failure(f"login of {username} answered {answer.status_code}")
    page = user.client.get(landing, name=name)
    match = HX_TOKEN.search(page.text)
    return match.group(1) if match else ""


def request(
    user: FastHttpUser, method: str, url: str, name: str, expect: int = 200, **kwargs: object
) -> None:
    """A request that must answer ``expect`` itself (a 302 only where the page redirects on
    success, and never to the login page): any other status, or a redirect to log in after a
    lost session, is a failure, with what came back."""
    if isinstance(kwargs.get("data"), dict):
        kwargs["data"] = urlencode(kwargs["data"])  # type: ignore[arg-type]
        kwargs["headers"] = {**FORM, **kwargs.get("headers", {})}  # type: ignore[dict-item]
    with user.client.request(
        method, url, name=name, allow_redirects=False, catch_response=True, **kwargs
    ) as answer:
        where = answer.headers.get("Location", "")
        if answer.status_code != expect or "/accounts/login/" in where:
            answer.failure(f"{method} {url} answered {answer.status_code} {where}".strip())


class CustomerAdmin(FastHttpUser):
    wait_time = between(0.5, 1.5)

    def on_start(self) -> None:
        customer = os.environ.get("LOAD_CUSTOMER", "")
        self.token = sign_in(self, customer, "/connect/", "wizard: legal entities")

    def htmx(self) -> dict[str, str]:
        return {"HX-Request": "true", "X-CSRFToken": self.token}

    @task(2)
    def legal_entities(self) -> None:
        request(self, "GET", "/connect/", "wizard: legal entities")

    @task(2)
    def step(self) -> None:
        request(self, "GET", f"/connect/{ENTITY}/ws_user/", "wizard: a step page")

    @task(1)
    def acknowledge(self) -> None:
        request(
            self,
            "POST",
            f"/connect/{ENTITY}/ws_subscription/",
            "wizard: a step done (boosted post)",
            expect=302,  # to the next step, which htmx then follows
            headers={**self.htmx(), "HX-Boosted": "true"},
        )

    @task(3)
    def smartsync(self) -> None:
        request(self, "GET", f"/connect/{ENTITY}/smartsync/", "smartsync: page")

    @task(4)
    def poll(self) -> None:
        request(
            self,
            "GET",
            f"/connect/{ENTITY}/smartsync/?part=run",
            "smartsync: htmx run region",
            headers={"HX-Request": "true"},
        )

    @task(1)
    def price_schedule(self) -> None:
        request(
            self,
            "POST",
            f"/connect/{ENTITY}/smartsync/schedule/?preview=1",
            "smartsync: schedule priced (htmx post)",
            data=SCHEDULE,
            headers=self.htmx(),
        )

    @task(1)
    def save_schedule(self) -> None:
        request(
            self,
            "POST",
            f"/connect/{ENTITY}/smartsync/schedule/",
            "smartsync: schedule saved (htmx post)",
            data=SCHEDULE,
            headers=self.htmx(),
        )


class CustomerSuccess(FastHttpUser):
    wait_time = between(0.5, 1.5)

    def on_start(self) -> None:
        sign_in(self, os.environ.get("LOAD_STAFF", ""), "/cs/", "console: overview")

    @task(4)
    def overview(self) -> None:
        request(self, "GET", "/cs/", "console: overview")

    @task(1)
    def flagged(self) -> None:
        request(self, "GET", "/cs/?flag=stuck", "console: overview, a flag")

    @task(1)
    def search(self) -> None:
        request(self, "GET", "/cs/?q=Entity+004", "console: overview, a search")

    @task(1)
    def queue(self) -> None:
        request(self, "GET", "/cs/queue/", "console: queue")

    @task(1)
    def entity(self) -> None:
        request(self, "GET", f"/cs/entities/{CONSOLE_ENTITY}/", "console: entity")
