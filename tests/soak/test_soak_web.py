"""The web app under load: gunicorn on loopback, in production mode, with 1,000 legal entities and
their history in PostgreSQL, and locust (headless, bounded in time) driving customer admins
through the wizard and SmartSync (pages, htmx polls and posts) and customer-success staff through
the console.

Asserted: no error (every request answers 200 itself, or redirects where the page does on success,
never to the login page). Measured, not asserted (it depends on the machine): latency, printed
with the target (console overview p95 <= 300 ms under load) and against the overview requested
alone, one request at a time, on the same server just before the load."""

from __future__ import annotations

import csv
import os
import random
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group

from connections.models import CUSTOMER_SUCCESS_GROUP, ApiSyncProfile, Membership, SyncRun
from connections.services.accounts import add_member, create_legal_entity, create_organization
from intacct.sandbox.world import Sandbox
from tests.connections.test_smartsync import OBJECTS, sync
from tests.connections.workers import ROOT, this_test_database_url

#: The load tool, in a virtualenv of its own (``make soak`` makes it from requirements-soak.lock).
LOCUST = Path(os.environ.get("LOCUST", ROOT / ".venv-load" / "bin" / "locust"))

pytestmark = [
    pytest.mark.soak,
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif(
        not LOCUST.exists(), reason=f"needs locust at {LOCUST} (make soak installs it)"
    ),
]

ENTITIES = 1_000
USERS = 20
#: Users start one a second (a login is a second of PBKDF2 on a slow core: not all at once).
SPAWN_RATE = 1
DURATION = "80s"
#: The overview requested alone before the load: the baseline of the same server and machine.
BASELINE_REQUESTS = 30
PASSWORD = "Load-test-Pa55word"
OVERVIEW_P95_MS = 300


@pytest.fixture
def world(sandbox: Sandbox, make_attempt, settings) -> dict[str, str]:
    """1,000 entities with their history (the console bench's builder), plus a customer whose
    legal entity is connected to the sandbox and synced once."""
    from django.conf import global_settings

    # Passwords gunicorn's settings can check (the suite's fast test hasher is not among them).
    settings.PASSWORD_HASHERS = global_settings.PASSWORD_HASHERS
    sys.path.insert(0, str(ROOT))
    from bench.dashboard import build

    # A transactional test before this one may have flushed the group the migration made.
    Group.objects.get_or_create(name=CUSTOMER_SUCCESS_GROUP)
    console_entity = build(ENTITIES, random.Random(7))
    users = get_user_model()
    staff = users.objects.get(username="bench-cs")
    staff.set_password(PASSWORD)
    staff.save()
    organization = create_organization("Load Co", slug="load-co")
    customer = users.objects.create_user("load-customer", password=PASSWORD)
    add_member(
        organization,
        customer,
        role=Membership.Role.SYSTEM_ADMINISTRATOR,
        home_org_unit=organization.units.root(),
    )
    entity = create_legal_entity(organization, "Load US", actor=customer)
    make_attempt("healthy-top", legal_entity=entity)
    ApiSyncProfile.objects.create(legal_entity=entity, object_names=OBJECTS)
    assert sync(entity, kind=SyncRun.Kind.FULL).state == SyncRun.State.SUCCEEDED
    return {
        "LOAD_PASSWORD": PASSWORD,
        "LOAD_CUSTOMER": customer.username,
        "LOAD_STAFF": staff.username,
        "LOAD_ENTITY": str(entity.public_id),
        "LOAD_CONSOLE_ENTITY": console_entity,
    }


def test_the_web_app_under_load(world: dict[str, str], tmp_path: Path, soak_report):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    env = dict(os.environ)
    env.update(
        APP_ENV="production",
        SECRET_KEY="load-test-" + "k" * 60,
        FIELD_ENCRYPTION_KEYS=",".join(settings.FIELD_ENCRYPTION_KEYS),
        INTACCT_SENDER_ID=settings.INTACCT_SENDER_ID,
        INTACCT_SENDER_PASSWORD=settings.INTACCT_SENDER_PASSWORD,
        INTACCT_ENDPOINT=settings.INTACCT_ENDPOINT,
        INTACCT_ALLOWED_ENDPOINT_HOSTS=",".join(settings.INTACCT_ALLOWED_ENDPOINT_HOSTS),
        ALLOWED_HOSTS="127.0.0.1",
        DATABASE_URL=this_test_database_url(),
        # Plain HTTP on loopback: no redirect to HTTPS, cookies not secure-only.
        SECURE_SSL_REDIRECT="0",
        SECURE_COOKIES="0",
        SECURE_HSTS_SECONDS="0",
        STATIC_ROOT=str(tmp_path / "static"),
        VAR_DIR=str(tmp_path / "var"),
        LOG_LEVEL="WARNING",
    )
    manage = [sys.executable, "manage.py"]
    subprocess.run(
        [*manage, "collectstatic", "--noinput", "-v", "0"], cwd=ROOT, env=env, check=True
    )
    server = subprocess.Popen(
        [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{port}",
         "--workers", "2", "--threads", "4", "--log-level", "warning"],
        cwd=ROOT, env=env, stdout=(tmp_path / "gunicorn.log").open("wb"), stderr=subprocess.STDOUT,
    )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert server.poll() is None, (tmp_path / "gunicorn.log").read_text()
            assert time.monotonic() < deadline, "gunicorn did not answer in 30 s"
            time.sleep(0.2)
        baseline = _overview_alone(base, world)
        prefix = tmp_path / "load"
        subprocess.run(
            [str(LOCUST), "-f", str(Path(__file__).with_name("locustfile.py")), "--headless",
             "--users", str(USERS), "--spawn-rate", str(SPAWN_RATE), "--run-time", DURATION,
             "--host", base, "--csv", str(prefix), "--only-summary", "--loglevel", "WARNING"],
            cwd=ROOT, env={**os.environ, **world}, check=False, capture_output=True, timeout=300,
        )  # fmt: skip
    finally:
        server.terminate()
        server.wait(20)

    rows = list(csv.DictReader((tmp_path / "load_stats.csv").open()))
    assert rows, "locust wrote no statistics"
    by_name = {row["Name"]: row for row in rows}
    table = f"web under load ({USERS} users, {DURATION}, gunicorn 2 × 4 threads)"
    soak_report(
        table,
        "console: overview, alone (baseline)",
        requests=len(baseline),
        errors=0,
        per_s=None,
        p50_ms=_percentile(baseline, 0.5),
        p95_ms=_percentile(baseline, 0.95),
    )
    for row in rows:
        soak_report(
            table,
            row["Name"],
            requests=int(row["Request Count"]),
            errors=int(row["Failure Count"]),
            per_s=float(row["Requests/s"]),
            p50_ms=float(row["50%"]),
            p95_ms=float(row["95%"]),
        )
    overview_p95 = float(by_name["console: overview"]["95%"])
    soak_report(
        "targets",
        "console overview p95 under load",
        measured_ms=overview_p95,
        target_ms=float(OVERVIEW_P95_MS),
        met="yes" if overview_p95 <= OVERVIEW_P95_MS else "no",
        times_alone=round(overview_p95 / _percentile(baseline, 0.95), 1),
    )
    failures = (tmp_path / "load_failures.csv").read_text()
    total = by_name["Aggregated"]
    assert int(total["Failure Count"]) == 0, failures
    assert int(total["Request Count"]) > 500, "the load was too light to mean anything"
    # Every kind of request ran, posts included.
    for name in (
        "wizard: a step done (boosted post)",
        "smartsync: schedule priced (htmx post)",
        "smartsync: schedule saved (htmx post)",
        "console: overview",
    ):
        assert int(by_name[name]["Request Count"]) > 0, name


def _overview_alone(base: str, world: dict[str, str]) -> list[float]:
    """The console overview requested one at a time by one logged-in staff member (ms each)."""
    with httpx.Client(base_url=base, timeout=30) as client:
        page = client.get("/accounts/login/")
        token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.text)
        assert token, "no CSRF token on the login page"
        answer = client.post(
            "/accounts/login/",
            data={
                "username": world["LOAD_STAFF"],
                "password": world["LOAD_PASSWORD"],
                "csrfmiddlewaretoken": token.group(1),
            },
        )
        assert answer.status_code == 302, answer.status_code
        for _ in range(3):  # warm-up
            client.get("/cs/")
        times = []
        for _ in range(BASELINE_REQUESTS):
            started = time.perf_counter()
            assert client.get("/cs/").status_code == 200
            times.append((time.perf_counter() - started) * 1000)
    return times


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return round(ordered[min(len(ordered) - 1, int(fraction * len(ordered)))], 1)
