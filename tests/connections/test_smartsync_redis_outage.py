"""A SmartSync run survives Redis going away and coming back.

A Redis server of this test's own (so the other tests' Redis is never touched) is the broker and
the request limiter of a real worker. While the worker's run is writing rows, Redis is stopped and,
two seconds later, started again, empty (it keeps nothing on disk, like production's broker
after a crash). The run goes on (the limiter keeps the company's limit in the process meanwhile)
and ends exact: every record once, none lost; no run is left running; and the worker, connected
again, takes the next sync, which is exact too.
"""

from __future__ import annotations

import shutil
import time

import pytest

from connections.models import ApiSyncProfile, LegalEntity, ListItem, SyncRun
from connections.services.smartsync import start_sync
from intacct.sandbox.world import Sandbox
from tests.connections.test_smartsync import OBJECTS, duplicated_rows, live_keys, sandbox_keys
from tests.connections.workers import (
    PrivateRedis,
    WorkerFactory,
    needs_workers,
    private_redis,
    start_worker,
    task_queue,
    wait_until,
)

pytestmark = [
    needs_workers,
    pytest.mark.skipif(shutil.which("redis-server") is None, reason="needs redis-server"),
    pytest.mark.django_db(transaction=True),
]
# The worker fixtures, used by name.
__all__ = ["private_redis", "start_worker", "task_queue"]

COMPANY = "redis-outage"
RECORDS = 6000
LATENCY_MS = 400
DOWN_FOR = 2.0


@pytest.fixture
def broker_url(private_redis: PrivateRedis, settings) -> str:
    """The workers' broker and limiter, and this process's: the private Redis."""
    settings.REDIS_URL = private_redis.url
    return private_redis.url


@pytest.fixture
def slow_entity(sandbox: Sandbox, make_attempt, legal_entity: LegalEntity) -> LegalEntity:
    sandbox.add_company(COMPANY, "healthy_top", records=RECORDS)
    sandbox.latency_ms = LATENCY_MS  # the sandbox fixture puts it back
    make_attempt(COMPANY)
    ApiSyncProfile.objects.create(legal_entity=legal_entity, object_names=OBJECTS)
    return legal_entity


def assert_exact(entity: LegalEntity, sandbox: Sandbox) -> None:
    assert duplicated_rows(entity) == []
    for name in OBJECTS:
        assert live_keys(entity, name) == sandbox_keys(sandbox, COMPANY, name), name


def test_a_run_goes_on_through_a_redis_outage_and_the_worker_takes_the_next(
    slow_entity: LegalEntity,
    sandbox: Sandbox,
    private_redis: PrivateRedis,
    start_worker: WorkerFactory,
):
    worker = start_worker("outage")
    run, created = start_sync(slow_entity, kind=SyncRun.Kind.FULL, trigger=SyncRun.Trigger.MANUAL)
    assert created

    def writing() -> bool:
        run.refresh_from_db()
        assert run.state not in SyncRun.FINISHED, f"the run ended before the outage: {run.error}"
        return ListItem.objects.filter(legal_entity=slow_entity).exists()

    wait_until(writing, timeout=20, what="rows of the run", worker=worker)
    private_redis.stop()
    time.sleep(DOWN_FOR)
    run.refresh_from_db()
    assert run.state == SyncRun.State.RUNNING, "the outage did not happen during the run"
    private_redis.start()

    def finished() -> bool:
        run.refresh_from_db()
        return run.state in SyncRun.FINISHED

    wait_until(finished, timeout=60, what="the end of the run", worker=worker)
    assert run.state == SyncRun.State.SUCCEEDED, f"{run.error}\n{worker.log_tail()}"
    # The run's requests met the outage: the limiter held the company's limit in the process.
    assert "request limit in this process only" in worker.log_tail(200_000)
    assert_exact(slow_entity, sandbox)
    assert not SyncRun.objects.filter(state__in=[SyncRun.State.QUEUED, SyncRun.State.RUNNING])

    # The worker is connected again: it takes the next sync.
    sandbox.company(COMPANY).mutate(adds=3, changes=3, deletes=3, objects=OBJECTS, seed=7)
    second, created = start_sync(
        slow_entity, kind=SyncRun.Kind.PARTIAL, trigger=SyncRun.Trigger.MANUAL
    )
    assert created

    def second_finished() -> bool:
        second.refresh_from_db()
        return second.state in SyncRun.FINISHED

    wait_until(second_finished, timeout=60, what="the next run, after Redis", worker=worker)
    assert second.state == SyncRun.State.SUCCEEDED, second.error
    assert_exact(slow_entity, sandbox)
