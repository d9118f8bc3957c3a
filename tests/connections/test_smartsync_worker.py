"""A SmartSync run survives the loss of its Celery worker.

A real ``celery -A config worker`` on Redis takes the queued run and is killed (SIGKILL, its whole
process group) while the run is writing rows. The run is left active; once expired, a new sync on
a second worker leaves the legal entity's live list items exactly the sandbox's records, with no
duplicate (object, record_no) row, and the run ends ``succeeded``. The rows the killed run had
committed are kept and reused, not inserted again.

Needs PostgreSQL and Redis, shared with the worker processes: ``DATABASE_URL=postgres://…`` and
``REDIS_URL``. Tasks go to a queue of this test's own, so parallel test processes (and any worker
already running on the same Redis) never take each other's tasks.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import IO
from urllib.parse import quote, urlsplit, urlunsplit

import pytest
import redis
from django.conf import settings
from django.db import connection
from django.db.models import Count

from config.celery import app as celery_app
from connections.models import ApiSyncProfile, LegalEntity, ListItem, SyncRun, SyncRunObject
from connections.services.smartsync import (
    STALE_MESSAGE,
    expire_stale_syncs,
    start_sync,
)
from intacct.sandbox.world import Sandbox
from intacct.timestamps import parse_datetime
from tests.connections.test_smartsync import OBJECTS, counts, live_keys, sandbox_keys

ROOT = Path(__file__).resolve().parents[2]
DATABASE_URL = os.environ.get("DATABASE_URL", "").strip()
REDIS_URL = os.environ.get("REDIS_URL", "").strip()

#: A company of its own, big and slow enough that a full sync takes a few seconds: every object
#: is several pages, and every gateway answer waits ``LATENCY_MS``.
COMPANY = "worker-kill"
RECORDS = 8000
LATENCY_MS = 150
#: How long a worker may take to start and claim the run, and a whole sync to finish.
CLAIM_TIMEOUT = 20.0
FINISH_TIMEOUT = 30.0

pytestmark = [
    pytest.mark.skipif(
        not DATABASE_URL.startswith("postgres") or not REDIS_URL,
        reason=(
            "needs PostgreSQL and Redis that worker subprocesses can share: set "
            "DATABASE_URL=postgres://… and REDIS_URL=redis://…"
        ),
    ),
    pytest.mark.django_db(transaction=True),
]


# --- the broker -------------------------------------------------------------------------------------


def _use_broker(url: str) -> None:
    """Publish to ``url`` from now on. Celery keeps its connection and producer pools from the
    first publish, so they are dropped and the next publish opens new ones."""
    celery_app.conf.broker_url = url
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


def _forget_queue(queue: str) -> None:
    """Remove from Redis every trace of ``queue`` and of the workers named after it: its keys,
    their bindings (the workers' control queues are bound in shared sets), and the unacknowledged
    message the killed worker left, which would otherwise be restored to the queue once its
    visibility timeout ends."""
    client = redis.Redis.from_url(REDIS_URL)
    try:
        for key in client.scan_iter(match=f"*{queue}*"):
            client.delete(key)
        for key in client.scan_iter(match="_kombu.binding.*", _type="set"):
            ours = [member for member in client.smembers(key) if queue.encode() in member]
            if ours:
                client.srem(key, *ours)
        for tag, payload in client.hscan_iter("unacked"):
            try:
                routing_key = json.loads(payload)[2]
            except (ValueError, IndexError, TypeError):
                continue
            if routing_key == queue:
                client.hdel("unacked", tag)
                client.zrem("unacked_index", tag)
    finally:
        client.close()


@pytest.fixture
def task_queue() -> Iterator[str]:
    """A Redis queue nobody else consumes: what this test enqueues goes there (the other tests
    keep the in-memory broker), and it is removed afterwards."""
    queue = f"smartsync-worker-test-{uuid.uuid4().hex}"
    conf = celery_app.conf
    saved = conf.broker_url, conf.task_default_queue
    _use_broker(REDIS_URL)
    conf.task_default_queue = queue
    try:
        yield queue
    finally:
        conf.task_default_queue = saved[1]
        _use_broker(saved[0])
        _forget_queue(queue)


# --- workers ----------------------------------------------------------------------------------------


def _test_database_url() -> str:
    """``DATABASE_URL`` naming the database this test runs in (``test_…``, plus ``_gwN`` under
    pytest-xdist)."""
    parts = urlsplit(DATABASE_URL)
    return urlunsplit(parts._replace(path="/" + quote(connection.settings_dict["NAME"])))


@dataclass
class Worker:
    name: str
    process: subprocess.Popen[bytes]
    log_path: Path
    log: IO[bytes]

    def kill(self) -> None:
        """SIGKILL the main process and its pool children (one process group), then reap."""
        with contextlib.suppress(ProcessLookupError):  # nothing of the group is left
            os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=10)
        self.log.close()

    def log_tail(self, size: int = 3000) -> str:
        if not self.log.closed:
            self.log.flush()
        return f"--- {self.name} log ---\n{self.log_path.read_text(errors='replace')[-size:]}"


WorkerFactory = Callable[[str], Worker]


@pytest.fixture
def start_worker(task_queue: str, sandbox: Sandbox, tmp_path: Path) -> Iterator[WorkerFactory]:
    """``start_worker(name)``: a ``celery -A config worker`` subprocess (prefork, one child) on
    this test's database, Redis queue and sandbox settings. Every worker is killed at teardown."""
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=_test_database_url(),
        REDIS_URL=REDIS_URL,
        CELERY_BROKER_URL=REDIS_URL,
        FIELD_ENCRYPTION_KEYS=",".join(settings.FIELD_ENCRYPTION_KEYS),
        INTACCT_ENDPOINT=settings.INTACCT_ENDPOINT,
        INTACCT_ALLOWED_ENDPOINT_HOSTS=",".join(settings.INTACCT_ALLOWED_ENDPOINT_HOSTS),
        INTACCT_SENDER_ID=settings.INTACCT_SENDER_ID,
        INTACCT_SENDER_PASSWORD=settings.INTACCT_SENDER_PASSWORD,
        VAR_DIR=str(tmp_path),
    )
    workers: list[Worker] = []

    def start(name: str) -> Worker:
        log_path = tmp_path / f"{name}.log"
        log = log_path.open("wb")
        command = [sys.executable, "-m", "celery", "-A", "config", "worker", "--concurrency", "1"]
        command += ["--queues", task_queue, "--hostname", f"{name}-{task_queue}@%h"]
        command += ["--loglevel", "INFO", "--without-gossip", "--without-mingle"]
        command += ["--without-heartbeat"]
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so one signal reaches every child
        )
        worker = Worker(name, process, log_path, log)
        workers.append(worker)
        return worker

    try:
        yield start
    finally:
        for worker in workers:
            worker.kill()


def wait_until(condition: Callable[[], bool], *, timeout: float, what: str, worker: Worker) -> None:
    """Poll ``condition`` until it holds; fail with the worker's log if it does not in time or
    the worker exits first."""
    deadline = time.monotonic() + timeout
    while not condition():
        if worker.process.poll() is not None:
            pytest.fail(f"{worker.name} exited before {what}\n{worker.log_tail()}")
        if time.monotonic() > deadline:
            pytest.fail(f"no {what} within {timeout:.0f} s\n{worker.log_tail()}")
        time.sleep(0.05)


def other_sessions() -> int:
    """Connections to this test's database other than the test's own."""
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity "
            "WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        return int(cursor.fetchone()[0])


# --- the test ---------------------------------------------------------------------------------------


@pytest.fixture
def big_entity(sandbox: Sandbox, make_attempt, legal_entity: LegalEntity) -> LegalEntity:
    """The legal entity, connected at top level to a company of ``RECORDS`` records per object
    with ``LATENCY_MS`` on every answer, and an API Sync Profile of ``OBJECTS``."""
    sandbox.add_company(COMPANY, "healthy_top", records=RECORDS)
    sandbox.latency_ms = LATENCY_MS  # the sandbox fixture puts it back
    make_attempt(COMPANY)
    ApiSyncProfile.objects.create(legal_entity=legal_entity, object_names=OBJECTS)
    return legal_entity


def held(entity: LegalEntity) -> dict[str, set[str]]:
    """The live record numbers of each profile object."""
    return {name: live_keys(entity, name) for name in OBJECTS}


def test_a_sync_killed_with_its_worker_is_completed_exactly_by_the_next(
    big_entity: LegalEntity, sandbox: Sandbox, start_worker: WorkerFactory
):
    """A worker SIGKILLed mid-run leaves its run active and its committed rows in place; after
    expiry a new sync on another worker succeeds and holds exactly Intacct's records, each once,
    inserting only those the killed run had not written."""
    entity = big_entity
    total = sum(len(sandbox_keys(sandbox, COMPANY, name)) for name in OBJECTS)
    first_worker = start_worker("first")

    first, created = start_sync(entity, kind=SyncRun.Kind.FULL, trigger=SyncRun.Trigger.MANUAL)
    assert created

    def first_is_writing() -> bool:
        first.refresh_from_db()
        assert first.state not in SyncRun.FINISHED, f"the first run ended early: {first.error}"
        return (
            first.state == SyncRun.State.RUNNING
            and ListItem.objects.filter(legal_entity=entity).exists()
        )

    wait_until(
        first_is_writing, timeout=CLAIM_TIMEOUT, what="rows from the first run", worker=first_worker
    )
    first_worker.kill()
    assert first_worker.process.returncode == -signal.SIGKILL
    # A statement the worker had sent may still commit after the kill: wait until every
    # connection of the dead processes is gone before looking at what they left.
    deadline = time.monotonic() + 10
    while other_sessions() and time.monotonic() < deadline:
        time.sleep(0.05)
    assert other_sessions() == 0

    # Killed mid-run: some rows are written, not all, and the run still looks active.
    first.refresh_from_db()
    assert first.state == SyncRun.State.RUNNING
    before = held(entity)
    assert 0 < sum(map(len, before.values())) < total
    assert start_sync(entity, kind=SyncRun.Kind.FULL, trigger=SyncRun.Trigger.MANUAL) == (
        first,
        False,
    ), "the lost run still blocks the legal entity"

    # Recovery: the lost run is expired, which frees the entity; its rows stay.
    assert expire_stale_syncs(older_than=timedelta(0)) == 1
    first.refresh_from_db()
    assert first.state == SyncRun.State.FAILED
    assert first.error == STALE_MESSAGE
    assert not first.object_results.filter(
        state__in=[SyncRunObject.State.PENDING, SyncRunObject.State.RUNNING]
    ).exists()
    assert held(entity) == before

    # Intacct changes meanwhile, records already held among them.
    done = sandbox.company(COMPANY).mutate(adds=5, changes=5, deletes=5, objects=OBJECTS, seed=11)

    second_worker = start_worker("second")
    second, created = start_sync(
        entity, kind=SyncRun.Kind.PARTIAL, trigger=SyncRun.Trigger.SCHEDULE
    )
    assert created
    assert second.kind == SyncRun.Kind.FULL, "no full sync has finished yet"

    def second_is_finished() -> bool:
        second.refresh_from_db()
        return second.state in SyncRun.FINISHED

    wait_until(
        second_is_finished,
        timeout=FINISH_TIMEOUT,
        what="end of the second run",
        worker=second_worker,
    )

    assert second.state == SyncRun.State.SUCCEEDED, second.error
    assert second.error == ""
    duplicates = (
        ListItem.objects.filter(legal_entity=entity)
        .values("object_name", "record_no")
        .annotate(rows=Count("pk"))
        .filter(rows__gt=1)
    )
    assert list(duplicates) == []
    expected = {name: sandbox_keys(sandbox, COMPANY, name) for name in OBJECTS}
    for name in OBJECTS:
        assert live_keys(entity, name) == expected[name], name
        # Changed records too: every live row carries Intacct's current WHENMODIFIED.
        modified = dict(
            ListItem.objects.filter(
                legal_entity=entity, object_name=name, deleted_at__isnull=True
            ).values_list("record_no", "when_modified")
        )
        snapshot = sandbox.company(COMPANY).snapshot(name)
        assert modified == {str(n): parse_datetime(when) for n, when in snapshot.items()}, name
        deleted = set(
            ListItem.objects.filter(
                legal_entity=entity, object_name=name, deleted_at__isnull=False
            ).values_list("record_no", flat=True)
        )
        # Only rows the killed run had written and Intacct then deleted are marked deleted.
        assert deleted == before[name] & {str(n) for n in done[name].deleted}, name
    # The killed run's rows were reused: the second run inserted only the records not held yet.
    assert counts(second, "created") == sum(len(expected[name] - before[name]) for name in OBJECTS)
    assert ListItem.objects.filter(legal_entity=entity).count() == sum(
        len(expected[name] | before[name]) for name in OBJECTS
    )
