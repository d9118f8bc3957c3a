"""Canary passwords: nothing outside its encrypted column ever holds a secret.

A unique web services password, a unique mistyped one and a unique sender password (ours, from
the settings) go through the whole product: the wizard (the credentials form with its errors and
the entity picker, "Test connection"), verifications and syncs taken by a Celery worker from the
real broker, the hand-off pages, the customer-success console and the admin, failures (a wrong
password, companies refusing us, a sync that cannot sign in) and a 500. Then every table, every
log record (every logger at DEBUG), every response, every broker message as the broker holds it,
every e-mail and the error report of the 500 are searched for the canaries in every encoding a
leak could take. Nothing may be found.

The broker is Redis (``REDIS_URL``; the flow is skipped without it): each task's message is read
from the queue's list before a real Celery worker (solo pool, in a thread of this process, so its
log records are captured too) takes it.
"""

from __future__ import annotations

import base64
import html
import json
import logging
import re
import threading
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote, quote_plus
from xml.sax.saxutils import escape as xml_escape

import pytest
import redis
from celery.contrib.testing.worker import start_worker
from celery.signals import setup_logging, task_postrun, task_prerun
from django.apps import apps
from django.contrib.auth.models import Group
from django.contrib.sessions.models import Session
from django.core import mail
from django.db import connection, connections
from django.test import Client, override_settings
from django.urls import reverse
from django.utils.log import AdminEmailHandler
from kombu.utils.json import loads as json_loads

from config.celery import app as celery_app
from connections import crypto
from connections.models import (
    CUSTOMER_SUCCESS_GROUP,
    HANDOFF_STEPS,
    ConnectionAttempt,
    LegalEntity,
    SyncRun,
    VerificationRun,
)
from intacct.sandbox import GATEWAY_PATH, SANDBOX_SENDER_ID, serve_in_thread
from intacct.sandbox.world import Sandbox
from tests.connections.workers import REDIS_URL, broker_url, task_queue  # noqa: F401
from tests.factories import LegalEntityFactory, UserFactory

#: Characters every escaping changes (URL, JSON, HTML, XML), and one beyond ASCII.
ESCAPED = " <&>\"'+/=%é"


def canary(label: str) -> str:
    return f"Canary-{label}-{uuid.uuid4().hex}{ESCAPED}"


WS_PASSWORD = canary("ws")
WRONG_PASSWORD = canary("typo")
SENDER_PASSWORD = canary("sender")
CANARIES = {
    "web services password": WS_PASSWORD,
    "mistyped password": WRONG_PASSWORD,
    "sender password": SENDER_PASSWORD,
}

OBJECTS = ["VENDOR", "CLASS", "DEPARTMENT"]
PASSED, FAILED = VerificationRun.State.PASSED, VerificationRun.State.FAILED
HX = {"HX-Request": "true"}
TASK_TIMEOUT = 30.0


# --- What a leak looks like ---------------------------------------------------------------------


def disguises(secret: str) -> dict[str, str]:
    """Every form in which ``secret`` could be written down, by name.

    Escaped forms (URLs, JSON, HTML, XML), the unique part that no escaping touches, and base64 of
    the secret's UTF-8 bytes and of its unique part (so an escaped secret inside an encoded blob,
    such as JSON in a broker message, is found too), in both alphabets, at the three alignments
    a secret can have inside a longer blob: only the characters encoding its own bytes, which
    every encoding of such a blob, padded or not, contains.
    """
    forms = {
        "plain": secret,
        "unique part": secret.removesuffix(ESCAPED),
        "URL-encoded": quote(secret, safe=""),
        "URL-encoded path": quote(secret),
        "URL-encoded form": quote_plus(secret),
        "JSON": json.dumps(secret)[1:-1],
        "JSON, UTF-8": json.dumps(secret, ensure_ascii=False)[1:-1],
        "HTML": html.escape(secret),
        "XML": xml_escape(secret),
        "XML attribute": xml_escape(secret, {'"': "&quot;", "'": "&apos;"}),
    }
    for name in ("plain", "unique part"):
        raw = forms[name].encode()
        for offset in range(3):
            blob = b"\0" * offset + raw
            for alphabet, encode in (
                ("standard", base64.b64encode),
                ("URL-safe", base64.urlsafe_b64encode),
            ):
                text = encode(blob).decode()
                start = 4 if offset else 0  # the first quantum mixes in what precedes
                end = len(text) - (4 if len(blob) % 3 else 0)  # and the last, what follows
                forms[f"base64 {alphabet} of the {name} at offset {offset}"] = text[start:end]
    return forms


@dataclass
class Evidence:
    """Everything the product wrote, by where it was written."""

    texts: list[tuple[str, str]] = field(default_factory=list)

    def add(self, place: str, value: Any) -> None:
        if isinstance(value, memoryview):
            value = value.tobytes()
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        elif not isinstance(value, str):
            value = json.dumps(value, default=str, ensure_ascii=False)
        self.texts.append((place, value))

    def places(self, prefix: str) -> int:
        return sum(1 for place, _ in self.texts if place.startswith(prefix))

    def leaks(self) -> list[str]:
        """``"<where>: <which canary> (<which form>) after …<what precedes it>"`` for every
        canary found."""
        needles = [
            (name, form, needle if form.startswith("base64") else needle.lower())
            for name, secret in CANARIES.items()
            for form, needle in disguises(secret).items()
        ]
        found = []
        for place, text in self.texts:
            lowered = text.lower()  # escapes differ in case (%C3%A9, %c3%a9); base64 does not
            for name, form, needle in needles:
                at = (text if form.startswith("base64") else lowered).find(needle)
                if at >= 0:
                    found.append(f"{place}: {name} ({form}) after …{text[max(0, at - 60) : at]!r}")
        return found


def test_every_disguise_of_a_canary_is_recognised():
    """The search itself: a canary inside longer text or a longer base64 blob, at any offset, in
    any escaping, is found; other text is not."""
    blobs = [b"", b"x", b"xy"]
    evidence = Evidence()
    for prefix in blobs:
        for suffix in blobs:
            payload = prefix + WS_PASSWORD.encode() + suffix
            evidence.add("std", base64.b64encode(payload))
            evidence.add("url", base64.urlsafe_b64encode(payload).rstrip(b"="))
    for form in ("URL-encoded form", "JSON", "HTML", "XML attribute"):
        evidence.add(form, f"<p>{disguises(WS_PASSWORD)[form]}</p>")
    evidence.add("other", "Canary-ws- " + base64.b64encode(b"Canary-ws-").decode())

    leaks = evidence.leaks()

    assert len({leak.split(":")[0] for leak in leaks}) == 6
    assert not any(leak.startswith("other") for leak in leaks)


# --- Logs ----------------------------------------------------------------------------------------


class Records(logging.Handler):
    """Every log record, formatted with its traceback and with its attributes (extras such as
    a request or a task's arguments)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
        self.records: list[logging.LogRecord] = []
        self.lines: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def emit(self, record: logging.LogRecord) -> None:
        text = f"{self.format(record)}\n{record.__dict__!r}"
        with self._lock:
            self.records.append(record)
            self.lines.append((record.name, text))


@contextmanager
def everything_logged(handler: Records) -> Iterator[None]:
    """Every logger at DEBUG (``httpx``, ``django.db.backends`` and the rest the settings keep
    quieter), each record reaching ``handler``, also from loggers that do not propagate."""
    root = logging.getLogger()
    loggers = [root] + [
        logger for logger in root.manager.loggerDict.values() if isinstance(logger, logging.Logger)
    ]
    saved = [(logger, logger.level, logger.disabled) for logger in loggers]
    hooked = [logger for logger in loggers if logger is root or not logger.propagate]
    for logger in loggers:
        logger.setLevel(logging.DEBUG)
        logger.disabled = False
    for logger in hooked:
        logger.addHandler(handler)
    try:
        yield
    finally:
        for logger in hooked:
            logger.removeHandler(handler)
        for logger, level, disabled in saved:
            logger.setLevel(level)
            logger.disabled = disabled


# --- The broker and a worker ----------------------------------------------------------------------


@dataclass
class Broker:
    """A queue of this test's own on Redis, and the raw messages that went through it."""

    queue: str
    messages: list[bytes] = field(default_factory=list)
    finished: threading.Semaphore = field(default_factory=lambda: threading.Semaphore(0))

    def waiting(self) -> list[bytes]:
        """The messages in the queue, exactly as Redis holds them."""
        client = redis.Redis.from_url(REDIS_URL)
        try:
            return list(client.lrange(self.queue, 0, -1))
        finally:
            client.close()

    def work(self, what: str) -> None:
        """Keep what waits in the queue, then let a worker take it and wait until every task
        ran."""
        waiting = self.waiting()
        assert waiting, f"{what}: nothing was queued"
        for message in waiting:
            args, kwargs = _task_arguments(message)
            assert [type(arg) for arg in args] == [int], f"{what}: ids only"
            assert kwargs == {}, f"{what}: ids only"
        self.messages.extend(waiting)
        with start_worker(
            celery_app,
            pool="solo",
            perform_ping_check=False,
            loglevel="DEBUG",
            queues=[self.queue],
            hostname=f"canary-{self.queue}@localhost",
            shutdown_timeout=TASK_TIMEOUT,
        ):
            for _ in waiting:
                assert self.finished.acquire(timeout=TASK_TIMEOUT), f"{what}: no task finished"
        assert self.waiting() == []


def _task_arguments(message: bytes) -> tuple[list[Any], dict[str, Any]]:
    """The ``(args, kwargs)`` a raw message carries (its body is JSON, base64-encoded)."""
    envelope = json_loads(message)
    body = envelope["body"]
    if envelope["properties"].get("body_encoding") == "base64":
        body = base64.b64decode(body)
    args, kwargs, _embed = json_loads(body)
    return args, kwargs


@pytest.fixture
def broker(request: pytest.FixtureRequest) -> Iterator[Broker]:
    """What is queued goes to a Redis queue of this test's own (the worker test's fixture); a
    task run by a worker releases ``finished``."""
    from connections import tasks  # noqa: F401  (registers the tasks with the app)

    queue = request.getfixturevalue("task_queue")
    db = connections["default"]
    # SQLite in memory lives in the test's connection: the worker thread is handed it (the
    # test waits meanwhile); any other database is shared through committed data.
    shared = db if db.vendor == "sqlite" and db.is_in_memory_db() else None
    if shared is not None:
        shared.inc_thread_sharing()
    found = Broker(queue)

    def before_task(**kwargs: Any) -> None:
        if shared is not None:
            connections["default"] = shared

    def after_task(**kwargs: Any) -> None:
        if shared is None:
            connections.close_all()  # the worker thread's own connection
        found.finished.release()

    def leave_logging_alone(**kwargs: Any) -> None:
        """With a receiver here Celery does not replace the root logger's handlers."""

    task_prerun.connect(before_task, weak=False)
    task_postrun.connect(after_task, weak=False)
    setup_logging.connect(leave_logging_alone, weak=False)
    try:
        yield found
    finally:
        task_prerun.disconnect(before_task)
        task_postrun.disconnect(after_task)
        setup_logging.disconnect(leave_logging_alone)
        if shared is not None:
            shared.dec_thread_sharing()
        logging.captureWarnings(False)  # the worker's setup turned it on


# --- The sandbox ----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sandbox_base() -> Iterator[tuple[Sandbox, str]]:
    """A sandbox of its own whose companies take only the canary passwords."""
    world = Sandbox(
        records=20,
        scenarios=[
            "healthy_top",
            "healthy_multi",
            "sender_not_authorized",
            "bad_sender_password",
            "bad_password",
        ],
    )
    world.sender_password = SENDER_PASSWORD
    for company in world.companies:
        company.user_password = WS_PASSWORD
    base, stop = serve_in_thread(world, host="127.0.0.1")
    yield world, base
    stop()


@pytest.fixture
def sandbox(sandbox_base: tuple[Sandbox, str], settings) -> Sandbox:
    world, base = sandbox_base
    settings.SANDBOX_URL = base
    settings.INTACCT_ENDPOINT = base + GATEWAY_PATH
    settings.INTACCT_ALLOWED_ENDPOINT_HOSTS = ["127.0.0.1"]
    settings.INTACCT_SENDER_ID = SANDBOX_SENDER_ID
    settings.INTACCT_SENDER_PASSWORD = SENDER_PASSWORD
    settings.ADMINS = [("Operations", "ops@example.com")]
    # Each worker start runs django.setup(), which would apply LOGGING again and drop the
    # capture of every logger.
    settings.LOGGING_CONFIG = None
    return world


# --- Clients that keep every response ---------------------------------------------------------------


class RecordingClient(Client):
    """The test client; every response (status, headers, body) goes into ``evidence``."""

    def __init__(self, evidence: Evidence, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.evidence = evidence

    def request(self, **request: Any) -> Any:
        response = super().request(**request)
        place = f"response {request.get('REQUEST_METHOD')} {request.get('PATH_INFO')}"
        headers = "\n".join(f"{k}: {v}" for k, v in response.items())
        cookies = response.cookies.output()
        self.evidence.add(place, f"{response.status_code}\n{headers}\n{cookies}\n")
        self.evidence.add(place, response.content)
        return response


# --- The flow -----------------------------------------------------------------------------------------


def _credentials(**values: str) -> dict[str, str]:
    data = {
        "integration_type": "top_level",
        "company_id": "healthy-top",
        "entity_id": "",
        "user_id": "Beanworks",
        "password": "",
    }
    data.update(values)
    return data


def _current(legal_entity: LegalEntity) -> ConnectionAttempt:
    return legal_entity.attempts.current().get()


def _verification(broker: Broker, legal_entity: LegalEntity, what: str) -> VerificationRun:
    """The verification just queued, once a worker took it from the broker and ran it."""
    broker.work(what)
    return VerificationRun.objects.filter(attempt__legal_entity=legal_entity).latest("created_at")


def _test_connection(admin: Client, broker: Broker, legal_entity: LegalEntity, what: str) -> str:
    """The wizard's "Test connection", run by a worker from the broker: the run's state (its
    polled fragment is fetched too, and stops the polling)."""
    public_id = legal_entity.public_id
    started = admin.post(reverse("connections:test_connection", args=[public_id]), headers=HX)
    assert started.status_code == 200
    run = _verification(broker, legal_entity, what)
    fragment = admin.get(
        reverse("connections:run_status", args=[public_id, run.public_id]), headers=HX
    )
    assert fragment.status_code == 286, what
    return run.state


def _sync(
    start: Callable[[], Any], broker: Broker, legal_entity: LegalEntity, what: str
) -> SyncRun:
    """The sync ``start()`` queued, once a worker took it from the broker and ran it."""
    start()
    broker.work(what)
    return SyncRun.objects.filter(legal_entity=legal_entity).latest("created_at")


@pytest.mark.skipif(not REDIS_URL, reason="reads the broker's queue: set REDIS_URL=redis://…")
@pytest.mark.django_db(transaction=True)
def test_no_secret_is_found_anywhere_after_the_whole_flow(
    broker: Broker, sandbox: Sandbox, legal_entity: LegalEntity, system_admin, settings
):
    evidence = Evidence()
    records = Records()
    admin = RecordingClient(evidence)
    admin.force_login(system_admin)
    cs_user = UserFactory(username="cs-canary", is_staff=True, is_superuser=True)
    # A transactional test starts from empty tables: the group its migration made is gone.
    cs_user.groups.add(Group.objects.get_or_create(name=CUSTOMER_SUCCESS_GROUP)[0])
    staff = RecordingClient(evidence)
    staff.force_login(cs_user)
    public_id = legal_entity.public_id
    credentials_url = reverse("connections:credentials", args=[public_id])

    with everything_logged(records):
        # The wizard: a form error re-renders the form (typed password and all); the entity
        # picker signs in with what was typed, with htmx and without.
        assert admin.get(reverse("connections:home")).status_code == 200
        assert admin.get(credentials_url).status_code == 200
        invalid = admin.post(
            credentials_url,
            _credentials(
                company_id="healthy-top|E100",
                integration_type="entity_level",
                password=WS_PASSWORD,
            ),
        )
        assert 'aria-invalid="true"' in invalid.content.decode()
        entities_url = reverse("connections:intacct_entities", args=[public_id])
        typed = _credentials(company_id="healthy-multi", password=WS_PASSWORD)
        assert 'data-pick-entity="E100"' in admin.post(entities_url, typed, headers=HX).text
        assert '<option value="E300">' in admin.post(entities_url, typed).text

        # A mistyped password: saved, tested, refused; the picker signs in with it, refused.
        saved = admin.post(credentials_url, _credentials(password=WRONG_PASSWORD), follow=True)
        assert "Saved. Now test the connection." in saved.content.decode()
        assert _test_connection(admin, broker, legal_entity, "the mistyped password") == FAILED
        assert "Likely causes" in admin.get(credentials_url).content.decode()
        assert "could not be listed" in admin.get(entities_url, headers=HX).content.decode()

        # The right one: verified.
        admin.post(credentials_url, _credentials(password=WS_PASSWORD), follow=True)
        assert _test_connection(admin, broker, legal_entity, "the right password") == PASSED
        assert "Connected: every check passed." in admin.get(credentials_url).content.decode()
        assert (
            admin.get(reverse("connections:rail", args=[public_id]), headers=HX).status_code == 200
        )
        assert admin.get(reverse("connections:rail", args=[public_id])).status_code == 200

        # The hand-off: made, opened without an account, its check run through the link.
        handoff_url = reverse("connections:handoff_manage", args=[public_id])
        admin.post(
            handoff_url, {"action": "create", "email": "it@example.com", "lifetime_days": "7"}
        )
        link_page = admin.get(handoff_url).content.decode()
        token = re.search(r"/handoff/([^/\"]+)/", link_page).group(1)
        visitor = RecordingClient(evidence)
        assert visitor.get(reverse("connections:handoff_start", args=[token])).status_code == 200
        for step in HANDOFF_STEPS:
            assert (
                visitor.get(reverse("connections:handoff_step", args=[token, step])).status_code
                == 200
            )
        check_url = reverse("connections:handoff_check", args=[token])
        assert visitor.post(check_url, headers=HX).status_code == 200
        run = _verification(broker, legal_entity, "the hand-off check")
        assert run.state == PASSED
        run_url = reverse("connections:handoff_run", args=[token, run.public_id])
        assert visitor.get(run_url, headers=HX).status_code == 286  # polling stops
        assert visitor.get(check_url).status_code == 200

        # Customer success: the queue, the profile, the overview, the entity page, the admin.
        assert staff.get(reverse("console:queue")).status_code == 200
        profile_url = reverse("console:queue_profile", args=[public_id])
        assert staff.get(profile_url).status_code == 200
        assert staff.post(profile_url, {"object_names": OBJECTS}).status_code == 302

        # SmartSync: a full sync, then a partial one after changes in Intacct.
        sync_url = reverse("connections:sync_start", args=[public_id])
        full = _sync(
            lambda: admin.post(sync_url, {"kind": "full"}, headers=HX),
            broker,
            legal_entity,
            "the full sync",
        )
        assert full.state == SyncRun.State.SUCCEEDED, full.error
        sandbox.company("healthy-top").mutate(adds=2, changes=2, deletes=1, objects=OBJECTS)
        partial = _sync(
            lambda: admin.post(sync_url, {"kind": "partial"}),
            broker,
            legal_entity,
            "the partial sync",
        )
        assert (partial.kind, partial.state) == (SyncRun.Kind.PARTIAL, SyncRun.State.SUCCEEDED)
        smartsync_url = reverse("connections:smartsync", args=[public_id])
        assert admin.get(smartsync_url).status_code == 200
        run_url = reverse("connections:sync_run", args=[public_id, partial.public_id])
        assert admin.get(run_url, headers=HX).status_code == 286

        # A sync that cannot sign in (the company refuses the password), from the console.
        sandbox.set_scenario("healthy-top", "bad_password")
        try:
            failed = _sync(
                lambda: staff.post(reverse("console:entity_action", args=[public_id, "full_sync"])),
                broker,
                legal_entity,
                "the failing sync",
            )
        finally:
            sandbox.set_scenario("healthy-top", "healthy_top")
        assert failed.state == SyncRun.State.FAILED

        # Companies that refuse us: our sender is not authorized there; our sender password is
        # refused (an error logged for us to fix), re-verified from the console.
        admin.post(credentials_url, _credentials(company_id="sender-not-authorized"))
        assert _test_connection(admin, broker, legal_entity, "sender-not-authorized") == FAILED
        admin.post(credentials_url, _credentials(company_id="bad-sender-password"))
        staff.post(reverse("console:entity_action", args=[public_id, "reverify"]))
        assert _verification(broker, legal_entity, "bad-sender-password").state == FAILED

        for url in (
            reverse("console:overview"),
            reverse("console:overview") + "?q=acme",
            reverse("console:entity", args=[public_id]),
            reverse("console:queue"),
            reverse("console:funnel"),
            reverse("console:sync_health"),
            reverse("admin:connections_connectionattempt_changelist"),
            reverse("admin:connections_connectionattempt_change", args=[_current(legal_entity).pk]),
            reverse("admin:connections_auditevent_changelist"),
            reverse("admin:connections_verificationrun_changelist"),
        ):
            assert staff.get(url).status_code == 200, url
        assert admin.get(reverse("connections:rail", args=[public_id])).status_code == 200

        # A 500 while the password a customer typed is being saved (no key to encrypt it).
        broken = LegalEntityFactory(organization=legal_entity.organization, name="Acme broken")
        crash = RecordingClient(evidence, raise_request_exception=False)
        crash.force_login(system_admin)
        with override_settings(FIELD_ENCRYPTION_KEYS=[]):
            response = crash.post(
                reverse("connections:credentials", args=[broken.public_id]),
                _credentials(password=WS_PASSWORD),
            )
        assert response.status_code == 500

    # What the error report of that 500 would say by e-mail (text and HTML), as Django's
    # AdminEmailHandler writes it with the configured filter.
    (error,) = [
        r for r in records.records if r.name == "django.request" and r.levelno >= logging.ERROR
    ]
    assert error.exc_info is not None
    AdminEmailHandler(include_html=True).emit(error)

    # Where the secrets may be: their column, encrypted. The rest of the database as stored.
    stored = list(ConnectionAttempt.objects.exclude(password="").values_list("password", flat=True))
    assert {secret.reveal() for secret in stored} == {WS_PASSWORD}
    with connection.cursor() as cursor:
        tables = connection.introspection.table_names(cursor)
        for table in tables:
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")  # noqa: S608
            columns = [column[0] for column in cursor.description]
            for row in cursor.fetchall():
                for column, value in zip(columns, row, strict=True):
                    evidence.add(f"table {table}.{column}", value)
    models = {model._meta.db_table for model in apps.get_models(include_auto_created=True)}
    assert models <= set(tables)
    for session in Session.objects.all():
        evidence.add(f"session {session.pk}", session.get_decoded())
    for model in apps.get_models():
        for obj in model._base_manager.all():
            evidence.add(f"repr of {model._meta.label}", f"{obj!r} {obj} {vars(obj)!r}")
    for name, text in records.lines:
        evidence.add(f"log {name}", text)
    for number, message in enumerate(broker.messages):
        evidence.add(f"broker message {number}", message)
    for email in mail.outbox:
        evidence.add(f"e-mail {email.subject!r}", email.message().as_bytes())
        for content, _ in getattr(email, "alternatives", []):
            evidence.add(f"e-mail {email.subject!r} (HTML)", content)

    # The search looked where it had to: every kind of place, each with something in it.
    assert len(broker.messages) == 8  # five verifications, three syncs
    assert any(e.to == [system_admin.email] for e in mail.outbox), "the profile is ready"
    assert any(name == "connections.services.alerts" for name, _ in records.lines), "sender"
    assert any(e.to == ["ops@example.com"] for e in mail.outbox), "the error report"
    for place in ("response", "table", "log", "broker message", "e-mail", "session"):
        assert evidence.places(place), place
    assert any(name == "intacct.client" for name, _ in records.lines)
    assert any(name.startswith("httpx") or name.startswith("httpcore") for name, _ in records.lines)
    assert any(name.startswith("celery") for name, _ in records.lines)
    assert crypto.MASK in "".join(text for _, text in evidence.texts)

    leaks = evidence.leaks()
    assert not leaks, "\n".join(["Secrets found:", *leaks])
