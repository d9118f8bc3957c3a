"""Real Celery workers for tests: ``celery -A config worker`` subprocesses on a Redis broker, each
taking only a queue of its test's own (so parallel test processes, and any worker already running
on the same Redis, never take each other's tasks), on the test's own database.

Needs PostgreSQL and Redis, shared with the worker processes: ``DATABASE_URL=postgres://…``. The
broker is ``REDIS_URL`` unless a test gives its own (``broker_url`` fixture).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO
from urllib.parse import quote, urlsplit, urlunsplit

import pytest
import redis
from django.conf import settings
from django.db import connection

from config.celery import app as celery_app
from intacct.sandbox.world import Sandbox

ROOT = Path(__file__).resolve().parents[2]
SCHEDULER = "django_celery_beat.schedulers:DatabaseScheduler"
DATABASE_URL = os.environ.get("DATABASE_URL", "").strip()
REDIS_URL = os.environ.get("REDIS_URL", "").strip()

#: For the modules that run real workers.
needs_workers = pytest.mark.skipif(
    not DATABASE_URL.startswith("postgres") or not REDIS_URL,
    reason=(
        "needs PostgreSQL and Redis that worker subprocesses can share: set "
        "DATABASE_URL=postgres://… and REDIS_URL=redis://…"
    ),
)


# --- the broker -------------------------------------------------------------------------------------


def _use_broker(url: str) -> None:
    """Publish to ``url`` from now on. Celery keeps its connection and producer pools from the
    first publish, so they are dropped and the next publish opens new ones."""
    celery_app.conf.broker_url = url
    celery_app._pool = None
    celery_app.amqp._producer_pool = None


def _forget_routing() -> None:
    """Celery caches the default queue (and the queues and router made from it) at the first
    publish: dropped, so the next publish follows ``task_default_queue`` as it is now."""
    for name in ("default_queue", "queues", "router"):
        celery_app.amqp.__dict__.pop(name, None)


def _forget_queue(queue: str, url: str) -> None:
    """Remove from Redis every trace of ``queue`` and of the workers named after it: its keys,
    their bindings (the workers' control queues are bound in shared sets), and the unacknowledged
    message the killed worker left, which would otherwise be restored to the queue once its
    visibility timeout ends."""
    client = redis.Redis.from_url(url)
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
def broker_url() -> str:
    """The Redis the workers and this test's tasks use (a test may give its own)."""
    return REDIS_URL


@pytest.fixture
def task_queue(broker_url: str) -> Iterator[str]:
    """A Redis queue nobody else consumes: what this test enqueues goes there (the other tests
    keep the in-memory broker), and it is removed afterwards."""
    queue = f"smartsync-worker-test-{uuid.uuid4().hex}"
    conf = celery_app.conf
    saved = conf.broker_url, conf.task_default_queue
    _use_broker(broker_url)
    conf.task_default_queue = queue
    _forget_routing()
    try:
        yield queue
    finally:
        conf.task_default_queue = saved[1]
        _forget_routing()
        _use_broker(saved[0])
        with contextlib.suppress(redis.RedisError):  # a test's own Redis may be gone
            _forget_queue(queue, broker_url)


# --- workers ----------------------------------------------------------------------------------------


def this_test_database_url() -> str:
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
def start_worker(
    task_queue: str, broker_url: str, sandbox: Sandbox, tmp_path: Path
) -> Iterator[WorkerFactory]:
    """``start_worker(name, concurrency=1, queue=…)``: a ``celery -A config worker`` subprocess
    (prefork) on this test's database, Redis queue and sandbox settings; ``start_worker.beat()``
    starts beat likewise. Every process is killed at teardown."""
    env = dict(os.environ)
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=this_test_database_url(),
        REDIS_URL=broker_url,
        CELERY_BROKER_URL=broker_url,
        FIELD_ENCRYPTION_KEYS=",".join(settings.FIELD_ENCRYPTION_KEYS),
        INTACCT_ENDPOINT=settings.INTACCT_ENDPOINT,
        INTACCT_ALLOWED_ENDPOINT_HOSTS=",".join(settings.INTACCT_ALLOWED_ENDPOINT_HOSTS),
        INTACCT_SENDER_ID=settings.INTACCT_SENDER_ID,
        INTACCT_SENDER_PASSWORD=settings.INTACCT_SENDER_PASSWORD,
        VAR_DIR=str(tmp_path),
    )
    workers: list[Worker] = []

    def start(name: str, *, concurrency: int = 1, queue: str = task_queue) -> Worker:
        command = ["worker", "--concurrency", str(concurrency), "--queues", queue]
        command += ["--hostname", f"{name}-{task_queue}@%h", "--without-gossip"]
        command += ["--without-mingle", "--without-heartbeat"]
        # What the worker queues itself (a lost sync's restart, a scheduled sync's run) goes to
        # a queue it consumes: the first of ``queue``'s comma-separated names.
        return run(name, command, CELERY_TASK_DEFAULT_QUEUE=queue.split(",")[0])

    def beat(name: str = "beat") -> Worker:
        """Celery beat on the database scheduler: it sends what is due to the default queue
        (``celery``), which only a test with a broker of its own should let a worker take."""
        schedule = tmp_path / f"{name}-schedule"
        return run(name, ["beat", "--scheduler", SCHEDULER, "--schedule", str(schedule)])

    def run(name: str, arguments: list[str], **extra_env: str) -> Worker:
        log_path = tmp_path / f"{name}.log"
        log = log_path.open("wb")
        command = [sys.executable, "-m", "celery", "-A", "config", *arguments]
        command += ["--loglevel", "INFO"]
        process = subprocess.Popen(
            command,
            cwd=ROOT,
            env={**env, **extra_env},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so one signal reaches every child
        )
        worker = Worker(name, process, log_path, log)
        workers.append(worker)
        return worker

    start.beat = beat  # type: ignore[attr-defined]
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


# --- a Redis of a test's own ------------------------------------------------------------------


@dataclass
class PrivateRedis:
    """A ``redis-server`` of the test's own on a free port, kept in memory only (nothing on
    disk, as the machine's own): stopped and started again by the test."""

    port: int
    workdir: Path
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "",
             "--appendonly", "no", "--dir", str(self.workdir)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )  # fmt: skip
        deadline = time.monotonic() + 10
        while True:
            try:
                redis.Redis(port=self.port, socket_timeout=0.5).ping()
                return
            except redis.ConnectionError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()  # as a crash would: nothing kept
            self.process.wait(10)


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[PrivateRedis]:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = PrivateRedis(port, tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()
