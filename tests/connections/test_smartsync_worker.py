"""A SmartSync run survives the loss of its Celery worker.

A real ``celery -A config worker`` on Redis takes the queued run and is killed (SIGKILL, its whole
process group) while the run is writing rows. The run is left active. Once it has been silent for
``STALL_AFTER``, the sweep (the ``expire_stale_syncs`` task beat sends, run here by a second worker)
marks it failed and queues its restart, which that worker takes: the legal entity's live list
items end exactly the sandbox's records, with no duplicate (object, record_no) row, and the
restart ends ``succeeded``. The rows the killed run had committed are kept and reused, not
inserted again.

Needs PostgreSQL and Redis, shared with the worker processes: ``DATABASE_URL=postgres://…`` and
``REDIS_URL``. Tasks go to a queue of this test's own, so parallel test processes (and any worker
already running on the same Redis) never take each other's tasks.
"""

from __future__ import annotations

import signal
import time
from datetime import timedelta

import pytest
from django.utils import timezone

from connections import tasks
from connections.models import ApiSyncProfile, LegalEntity, ListItem, SyncRun, SyncRunObject
from connections.services.smartsync import RESTARTED_MESSAGE, STALL_AFTER, start_sync
from intacct.sandbox.world import Sandbox
from intacct.timestamps import parse_datetime
from tests.connections.test_smartsync import (
    OBJECTS,
    counts,
    duplicated_rows,
    live_keys,
    sandbox_keys,
)
from tests.connections.workers import (
    WorkerFactory,
    broker_url,
    needs_workers,
    other_sessions,
    start_worker,
    task_queue,
    wait_until,
)

#: A company of its own, big and slow enough that a full sync takes a few seconds: every object
#: is several pages, and every gateway answer waits ``LATENCY_MS``.
COMPANY = "worker-kill"
RECORDS = 8000
LATENCY_MS = 150
#: How long a worker may take to start and claim the run, and a whole sync to finish.
CLAIM_TIMEOUT = 20.0
FINISH_TIMEOUT = 30.0

pytestmark = [needs_workers, pytest.mark.django_db(transaction=True)]
# The worker fixtures, used by name.
__all__ = ["broker_url", "start_worker", "task_queue"]


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

    # Intacct changes meanwhile, records already held among them.
    done = sandbox.company(COMPANY).mutate(adds=5, changes=5, deletes=5, objects=OBJECTS, seed=11)

    # Recovery: the run has been silent for STALL_AFTER; the sweep beat sends every ten minutes
    # runs on the second worker, marks the lost run failed and queues its restart there.
    SyncRun.objects.filter(pk=first.pk).update(
        heartbeat_at=timezone.now() - STALL_AFTER - timedelta(seconds=1)
    )
    second_worker = start_worker("second")
    tasks.expire_stale_syncs.delay()

    def restart_is_finished() -> bool:
        restart = SyncRun.objects.filter(restart_of=first).first()
        return restart is not None and restart.state in SyncRun.FINISHED

    wait_until(
        restart_is_finished,
        timeout=FINISH_TIMEOUT,
        what="the sweep's restart of the lost run, finished",
        worker=second_worker,
    )
    first.refresh_from_db()
    assert first.state == SyncRun.State.FAILED
    assert first.error == RESTARTED_MESSAGE
    assert not first.object_results.filter(
        state__in=[SyncRunObject.State.PENDING, SyncRunObject.State.RUNNING]
    ).exists()
    second = SyncRun.objects.get(restart_of=first)
    assert (second.kind, second.trigger) == (SyncRun.Kind.FULL, SyncRun.Trigger.MANUAL)
    assert SyncRun.objects.filter(legal_entity=entity).count() == 2

    assert second.state == SyncRun.State.SUCCEEDED, second.error
    assert second.error == ""
    assert duplicated_rows(entity) == []
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
