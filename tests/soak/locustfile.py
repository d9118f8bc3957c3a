"""The web app's load for ``make soak`` (run by tests/soak/test_soak_web.py): customer admins
walking the wizard and watching SmartSync (page and htmx polls), and customer-success staff on
the console (overview, a flag filter, a search, the queue, an entity page).

Reads ``LOAD_PASSWORD``, ``LOAD_CUSTOMER``, ``LOAD_STAFF``, ``LOAD_ENTITY`` (the customer's legal
entity) and ``LOAD_CONSOLE_ENTITY`` from the environment.
"""

from __future__ import annotations

import os
import re

from locust import HttpUser, between, task

PASSWORD = os.environ.get("LOAD_PASSWORD", "")
ENTITY = os.environ.get("LOAD_ENTITY", "")
CONSOLE_ENTITY = os.environ.get("LOAD_CONSOLE_ENTITY", "")
TOKEN = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')


def sign_in(user: HttpUser, username: str) -> None:
    page = user.client.get("/accounts/login/", name="login page")
    match = TOKEN.search(page.text)
    token = match.group(1) if match else ""
    with user.client.post(
        "/accounts/login/",
        data={"username": username, "password": PASSWORD, "csrfmiddlewaretoken": token},
        name="login",
        allow_redirects=False,
        catch_response=True,
    ) as answer:
        if answer.status_code != 302:
            answer.failure(f"login of {username} answered {answer.status_code}")


class CustomerAdmin(HttpUser):
    wait_time = between(0.5, 1.5)

    def on_start(self) -> None:
        sign_in(self, os.environ.get("LOAD_CUSTOMER", ""))

    @task(2)
    def legal_entities(self) -> None:
        self.client.get("/connect/", name="wizard: legal entities")

    @task(2)
    def step(self) -> None:
        self.client.get(f"/connect/{ENTITY}/ws_user/", name="wizard: a step page")

    @task(3)
    def smartsync(self) -> None:
        self.client.get(f"/connect/{ENTITY}/smartsync/", name="smartsync: page")

    @task(4)
    def poll(self) -> None:
        self.client.get(
            f"/connect/{ENTITY}/smartsync/?part=run",
            headers={"HX-Request": "true"},
            name="smartsync: htmx run region",
        )


class CustomerSuccess(HttpUser):
    wait_time = between(0.5, 1.5)

    def on_start(self) -> None:
        sign_in(self, os.environ.get("LOAD_STAFF", ""))

    @task(4)
    def overview(self) -> None:
        self.client.get("/cs/", name="console: overview")

    @task(1)
    def flagged(self) -> None:
        self.client.get("/cs/?flag=stuck", name="console: overview, a flag")

    @task(1)
    def search(self) -> None:
        self.client.get("/cs/?q=Entity+004", name="console: overview, a search")

    @task(1)
    def queue(self) -> None:
        self.client.get("/cs/queue/", name="console: queue")

    @task(1)
    def entity(self) -> None:
        self.client.get(f"/cs/entities/{CONSOLE_ENTITY}/", name="console: entity")
