"""Fixtures for the browser tests: the system Chromium driven by Playwright against the live
server, the Intacct sandbox served over loopback, and a real Celery worker in a thread.

"Test connection" goes through the whole path: the view enqueues ``verify_connection`` on an
in-memory broker, the worker thread runs it against the sandbox, and the page polls (htmx) until
the report is in.
"""

from __future__ import annotations

import os
import shutil
import threading
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path
from typing import Any

import pytest
from django.conf import settings
from django.db import connections as db_connections

from config.celery import app as celery_app

# The sandbox fixtures of the connections tests: one sandbox per test process, served over HTTP on
# loopback, the settings pointed at it and every company back to its own scenario after a test.
from tests.connections.conftest import sandbox, sandbox_gateway, sandbox_world  # noqa: F401

CHROMIUM = os.environ.get("CHROMIUM") or "/usr/bin/chromium"
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
DESKTOP = {"width": 1280, "height": 900}

#: Where the tests save their screenshots (``var/`` is ignored by git).
SCREENSHOTS = Path(settings.VAR_DIR) / "screenshots"
#: The copies the README shows; refreshed only when ``UPDATE_SCREENSHOTS=1`` (they carry dates,
#: so rewriting them on every run would change tracked files each time).
DOCS_SCREENSHOTS = Path(settings.BASE_DIR) / "docs" / "screenshots"

WSGIApp = Callable[[dict[str, Any], Callable[..., Any]], Iterable[bytes]]


@pytest.fixture(scope="session", autouse=True)
def _chromium() -> str:
    """The Chromium binary; every browser test is skipped when there is none."""
    found = shutil.which(CHROMIUM)
    if found is None:
        pytest.skip(
            f"No Chromium at {CHROMIUM}: install it or point $CHROMIUM at one "
            "(Playwright's own browser download is not used)."
        )
    pytest.importorskip("playwright.sync_api")
    return found


# --- The server and the database -------------------------------------------------------------------


def _shared_sqlite_connection() -> Any:
    """The main thread's connection when the test database is SQLite in memory, else ``None``.

    Such a database lives inside that one connection: the live server's threads are handed it
    (pytest-django does that), and so is the worker thread here. PostgreSQL (and SQLite on a
    file) needs nothing: each thread opens its own connection to the committed data of the
    transactional test database.
    """
    connection = db_connections["default"]
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        return connection
    return None


class _Serialized:
    """A WSGI app that runs one request at a time under ``lock``, body included.

    One SQLite connection shared by several threads has one transaction state: a poll reading
    while the worker is half-way through recording a report would see it half-written (or
    tangle the two transactions), so requests and tasks take turns.
    """

    def __init__(self, app: WSGIApp, lock: threading.Lock) -> None:
        self.app = app
        self.lock = lock

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        with self.lock:
            result = self.app(environ, start_response)
            try:
                return [b"".join(result)]
            finally:
                close = getattr(result, "close", None)
                if close is not None:
                    close()  # Django's request_finished


@pytest.fixture(scope="session")
def db_lock() -> threading.Lock:
    """Taken by each live-server request and each task when they share one SQLite connection."""
    return threading.Lock()


@pytest.fixture(scope="session")
def app_server(django_db_setup: None, live_server: Any, db_lock: threading.Lock) -> Iterator[Any]:
    """pytest-django's live server, started only once the test database exists (it decides then
    whether to hand its threads the in-memory SQLite connection)."""
    shared = _shared_sqlite_connection()
    httpd = live_server.thread.httpd
    app = httpd.get_app()
    if shared is not None:
        httpd.set_app(_Serialized(app, db_lock))
    yield live_server
    httpd.set_app(app)


@pytest.fixture(scope="module")
def celery_worker(app_server: Any, db_lock: threading.Lock) -> Iterator[Any]:
    """A Celery worker (solo pool) in a thread, taking tasks from kombu's in-memory broker."""
    from celery.contrib.testing.worker import start_worker
    from celery.signals import setup_logging, task_postrun, task_prerun

    from connections import tasks  # noqa: F401  (registers the tasks with the app)

    conf = celery_app.conf
    saved = {
        "broker_url": conf.broker_url,
        "broker_transport_options": conf.broker_transport_options,
    }
    conf.broker_url = "memory://localhost/"
    conf.broker_transport_options = {"polling_interval": 0.05}
    celery_app.close()  # drop pooled connections to another broker; the next use opens new ones
    with celery_app.connection_for_write() as connection:
        # Messages other tests of this process left behind name runs that are not ours.
        connection.default_channel.queue_purge(conf.task_default_queue)

    shared = _shared_sqlite_connection()

    def before_task(**kwargs: Any) -> None:
        if shared is not None:
            db_lock.acquire()
            db_connections["default"] = shared  # this thread uses the in-memory database too

    def after_task(**kwargs: Any) -> None:
        if shared is not None:
            db_lock.release()

    def leave_logging_alone(**kwargs: Any) -> None:
        """With a receiver here Celery does not reconfigure the root logger for its worker."""

    task_prerun.connect(before_task, weak=False)
    task_postrun.connect(after_task, weak=False)
    setup_logging.connect(leave_logging_alone, weak=False)
    try:
        with start_worker(
            celery_app, pool="solo", perform_ping_check=False, shutdown_timeout=30
        ) as worker:
            yield worker
    finally:
        task_prerun.disconnect(before_task)
        task_postrun.disconnect(after_task)
        setup_logging.disconnect(leave_logging_alone)
        for name, value in saved.items():
            setattr(conf, name, value)
        celery_app.close()


# --- The browser -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def browser(_chromium: str) -> Iterator[Any]:
    """Headless Chromium, one per test module."""
    from playwright.sync_api import expect, sync_playwright

    expect.set_options(timeout=10_000)
    with pytest.MonkeyPatch.context() as patch:
        # Playwright's sync API keeps an asyncio loop running in this thread, and Django refuses
        # ORM calls from a thread with a running loop. The calls here are plain synchronous ones
        # (the test's own data, the database flush between tests), so allow them.
        patch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
        with sync_playwright() as playwright:
            chromium = playwright.chromium.launch(
                executable_path=_chromium, headless=True, args=CHROMIUM_ARGS
            )
            yield chromium
            chromium.close()


@pytest.fixture
def page(browser: Any, app_server: Any, db_lock: threading.Lock) -> Iterator[Any]:
    """A fresh browser context (no cookies) at desktop size, its URLs relative to the server."""
    context = browser.new_context(viewport=DESKTOP, base_url=app_server.url)
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()
    with db_lock:
        pass  # a request still being answered finishes before the database is flushed


@pytest.fixture
def screenshot() -> Callable[..., Path]:
    """``screenshot(locator_or_page, name, docs=False, **options)``: save ``name``.png under
    ``var/screenshots/``; with ``docs=True`` and ``UPDATE_SCREENSHOTS=1`` also copy it to
    ``docs/screenshots/``, which the README shows."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    update_docs = os.environ.get("UPDATE_SCREENSHOTS", "") not in ("", "0")

    def take(target: Any, name: str, *, docs: bool = False, **options: Any) -> Path:
        path = SCREENSHOTS / f"{name}.png"
        target.screenshot(path=str(path), animations="disabled", **options)
        if docs and update_docs:
            DOCS_SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(path, DOCS_SCREENSHOTS / path.name)
        return path

    return take
