"""The SmartSync tasks: ``run_sync`` enqueued with the run's id only once committed, quiet when
its run is gone; ``expire_stale_syncs`` frees an entity whose worker was lost."""

from __future__ import annotations

import inspect
import typing
from datetime import timedelta
from pathlib import Path

import pytest
from celery.exceptions import Retry
from django.db import transaction
from django.utils import timezone

from connections.models import (
    ApiSyncProfile,
    AuditEvent,
    LegalEntity,
    ListItem,
    SyncRun,
    SyncRunObject,
)
from connections.services import smartsync
from connections.services.smartsync import RESTARTED_MESSAGE, STALE_MESSAGE, start_sync
from connections.tasks import SYNC_TIME_LIMIT, expire_stale_syncs, run_sync
from intacct.sandbox import SANDBOX_SENDER_PASSWORD, SANDBOX_USER_PASSWORD
from tests.connections.test_queue_unavailable import run_with_broker_down
from tests.connections.test_smartsync import live_keys
from tests.connections.test_tasks import drain_queue

pytestmark = pytest.mark.django_db


OBJECTS = ["VENDOR", "CLASS", "DEPARTMENT"]


@pytest.fixture
def healthy(make_attempt, legal_entity: LegalEntity) -> LegalEntity:
    make_attempt("healthy-top")
    ApiSyncProfile.objects.create(legal_entity=legal_entity, object_names=OBJECTS)
    return legal_entity


def start(entity: LegalEntity, kind: str = SyncRun.Kind.FULL, **kwargs) -> SyncRun:
    run, created = start_sync(entity, kind=kind, trigger=SyncRun.Trigger.MANUAL, **kwargs)
    assert created
    return run


def test_run_sync_takes_one_int_and_acks_late():
    parameters = inspect.signature(run_sync.run).parameters

    assert list(parameters) == ["sync_run_id"]
    assert typing.get_type_hints(run_sync.run)["sync_run_id"] is int
    assert run_sync.acks_late is True
    assert run_sync.ignore_result is True
    assert run_sync.soft_time_limit < run_sync.time_limit == SYNC_TIME_LIMIT


@pytest.mark.django_db(transaction=True)
def test_start_sync_enqueues_the_run_id_only_once_committed(healthy):
    drain_queue()

    with transaction.atomic():
        run = start(healthy)
        assert drain_queue() == [], "nothing is enqueued before the commit"

    messages = drain_queue()
    assert len(messages) == 1
    assert messages[0]["headers"]["task"] == "connections.tasks.run_sync"
    args, kwargs, _ = messages[0]["decoded"]
    assert args == [run.pk]
    assert kwargs == {}
    raw = str(messages[0]["headers"]) + str(messages[0]["body"])
    for secret in (SANDBOX_USER_PASSWORD, SANDBOX_SENDER_PASSWORD):
        assert secret not in raw


@pytest.mark.django_db(transaction=True)
def test_a_second_or_rolled_back_or_inline_start_enqueues_nothing(healthy):
    drain_queue()
    with transaction.atomic():
        start(healthy)
        transaction.set_rollback(True)
    assert drain_queue() == []

    run = start(healthy, enqueue=False)
    again, created = start_sync(healthy, kind=SyncRun.Kind.FULL, trigger=SyncRun.Trigger.MANUAL)

    assert not created
    assert again.pk == run.pk
    assert drain_queue() == []


OUTAGE_SCRIPT = """
import django
django.setup()
from django.core.management import call_command
from django.core.management.base import CommandError
call_command("migrate", verbosity=0)
from connections.models import ApiSyncProfile, SyncRun
from connections.services.accounts import create_legal_entity, create_organization
from connections.services.attempts import start_attempt
from connections.services.smartsync import QUEUE_MESSAGE
org = create_organization("Queue Co", slug="queue-co")
entity = create_legal_entity(org, "Queue US")
start_attempt(entity, company_id="healthy-top", user_id="Beanworks", password="x")
ApiSyncProfile.objects.create(legal_entity=entity, object_names=["CLASS"])
try:
    call_command("smartsync", str(entity.public_id), "--full", "--wait", "--timeout", "30")
except CommandError as exc:
    print("exit1", str(exc) == QUEUE_MESSAGE)
run = SyncRun.objects.get()
print(run.state, run.error == QUEUE_MESSAGE)
"""


def test_a_broker_outage_fails_the_run_instead_of_the_request(tmp_path: Path) -> None:
    proc = run_with_broker_down(OUTAGE_SCRIPT, tmp_path)

    assert proc.returncode == 0, proc.stderr[-2000:]
    assert proc.stdout.split()[-4:] == ["exit1", "True", "failed", "True"]
    assert "could not queue sync run" in proc.stderr


def test_run_sync_task_runs_the_sync_by_id(healthy, sandbox):
    run = start(healthy)

    assert run_sync.apply(args=[run.pk]).successful()

    run.refresh_from_db()
    assert run.state == SyncRun.State.SUCCEEDED
    for name in OBJECTS:
        assert live_keys(healthy, name) == {
            str(n) for n in sandbox.company("healthy-top").snapshot(name)
        }


def test_run_sync_task_is_quiet_when_the_run_is_gone_or_claimed(healthy, sandbox):
    run = start(healthy)
    run_id = run.pk
    assert run_sync(run_id) is None
    assert run_sync(run_id) is None, "a redelivered task finds nothing to claim"
    SyncRun.objects.filter(pk=run_id).delete()

    assert run_sync.apply(args=[run_id]).successful()
    assert run_sync.apply(args=[10**9]).successful()


def test_the_sweep_restarts_a_lost_run_and_the_restart_completes(
    healthy, sandbox, settings, django_capture_on_commit_callbacks
):
    # Rows lost here are found again by a key listing (the audit trail knows nothing of them):
    # list keys on every partial sync.
    settings.SMARTSYNC_RECONCILE_EVERY_HOURS = 0
    # A worker died mid-run: the run is stuck running with some rows written.
    first = start(healthy)
    run_sync(first.pk)
    ListItem.objects.filter(legal_entity=healthy, object_name="CLASS").delete()
    stuck = start(healthy, kind=SyncRun.Kind.PARTIAL, enqueue=False)
    long_ago = timezone.now() - timedelta(hours=3)
    SyncRun.objects.filter(pk=stuck.pk).update(
        state=SyncRun.State.RUNNING, created_at=long_ago, started_at=long_ago
    )
    SyncRunObject.objects.create(run=stuck, object_name="VENDOR", state="running")
    fresh = SyncRun.objects.filter(pk=stuck.pk)

    assert start_sync(healthy, kind="full", trigger="manual", enqueue=False)[1] is False
    with django_capture_on_commit_callbacks() as queued:
        assert expire_stale_syncs() == 1
    assert expire_stale_syncs() == 0

    stuck = fresh.get()
    assert stuck.state == SyncRun.State.FAILED
    assert stuck.error == RESTARTED_MESSAGE
    assert stuck.object_results.get().state == SyncRunObject.State.FAILED
    # Its restart: the same kind and trigger, queued (its task sent once the sweep committed).
    again = SyncRun.objects.get(restart_of=stuck)
    assert (again.kind, again.trigger, again.state) == (
        SyncRun.Kind.PARTIAL,
        SyncRun.Trigger.MANUAL,
        SyncRun.State.QUEUED,
    )
    assert len(queued) == 1
    assert AuditEvent.objects.filter(
        action="sync.started", detail__restart_of=str(stuck.public_id)
    ).exists()
    run_sync(again.pk)
    again.refresh_from_db()
    assert again.state == SyncRun.State.SUCCEEDED
    for name in OBJECTS:
        assert live_keys(healthy, name) == {
            str(n) for n in sandbox.company("healthy-top").snapshot(name)
        }


def test_a_lost_restart_is_not_restarted_again(healthy):
    """Its worker may be what kills it: the next sync completes the set instead."""
    lost = start(healthy, enqueue=False)
    _running(lost, silent_for=smartsync.STALL_AFTER * 2, started_ago=timedelta(hours=1))
    assert expire_stale_syncs() == 1
    restart = SyncRun.objects.get(restart_of=lost)
    _running(restart, silent_for=smartsync.STALL_AFTER * 2, started_ago=timedelta(hours=1))

    assert expire_stale_syncs() == 1

    restart.refresh_from_db()
    assert (restart.state, restart.error) == (SyncRun.State.FAILED, STALE_MESSAGE)
    assert not SyncRun.objects.filter(legal_entity=healthy, state__in=SyncRun.ACTIVE).exists()


def test_a_lost_run_is_not_restarted_once_its_profile_is_disabled(healthy):
    lost = start(healthy, enqueue=False)
    _running(lost, silent_for=smartsync.STALL_AFTER * 2, started_ago=timedelta(hours=1))
    ApiSyncProfile.objects.filter(legal_entity=healthy).update(enabled=False)

    assert expire_stale_syncs() == 1

    lost.refresh_from_db()
    assert (lost.state, lost.error) == (SyncRun.State.FAILED, STALE_MESSAGE)
    assert not SyncRun.objects.filter(restart_of=lost).exists()


def test_expire_stale_syncs_leaves_recent_runs_alone(healthy):
    run = start(healthy, enqueue=False)

    assert expire_stale_syncs() == 0

    run.refresh_from_db()
    assert run.state == SyncRun.State.QUEUED


def _running(run: SyncRun, *, silent_for: timedelta, started_ago: timedelta) -> None:
    now = timezone.now()
    SyncRun.objects.filter(pk=run.pk).update(
        state=SyncRun.State.RUNNING, started_at=now - started_ago, heartbeat_at=now - silent_for
    )


def test_a_second_delivery_while_the_run_is_alive_looks_again_later(healthy, monkeypatch):
    asked: list[float] = []

    def retry(*, countdown: float) -> Retry:
        asked.append(countdown)
        return Retry()

    monkeypatch.setattr(run_sync, "retry", retry)
    run = start(healthy, enqueue=False)
    _running(run, silent_for=timedelta(seconds=5), started_ago=timedelta(hours=2))

    result = run_sync.apply(args=[run.pk])

    assert result.state == "RETRY"
    assert asked == [smartsync.STALL_AFTER.total_seconds() + 60]
    run.refresh_from_db()
    assert run.state == SyncRun.State.RUNNING
    assert not run.object_results.exists()


def test_a_silent_run_is_taken_over_and_ends_exact(healthy, sandbox):
    """The task came back after its worker was lost mid-run: the run starts over and ends with
    the exact set, one result row per object."""
    run = start(healthy, enqueue=False)
    _running(run, silent_for=smartsync.STALL_AFTER * 2, started_ago=timedelta(hours=1))
    SyncRunObject.objects.create(run=run, object_name="VENDOR", state="running", fetched=40)

    assert run_sync.apply(args=[run.pk]).successful()

    run.refresh_from_db()
    assert run.state == SyncRun.State.SUCCEEDED
    assert sorted(run.object_results.values_list("object_name", flat=True)) == sorted(OBJECTS)
    for name in OBJECTS:
        assert live_keys(healthy, name) == {
            str(n) for n in sandbox.company("healthy-top").snapshot(name)
        }


def test_expiry_follows_the_heartbeat_not_the_start(healthy):
    long_running = start(healthy, enqueue=False)
    _running(long_running, silent_for=timedelta(seconds=5), started_ago=timedelta(hours=3))

    assert expire_stale_syncs() == 0

    _running(long_running, silent_for=smartsync.STALL_AFTER * 1.5, started_ago=timedelta(hours=3))
    assert expire_stale_syncs() == 1
    long_running.refresh_from_db()
    assert long_running.state == SyncRun.State.FAILED


def test_a_worker_whose_run_was_expired_meanwhile_does_not_end_it(healthy, sandbox, monkeypatch):
    sync_objects = smartsync._sync_objects

    def expired_midway(run, *args, **kwargs):
        outcomes = sync_objects(run, *args, **kwargs)
        smartsync.expire_stale_syncs(older_than=timedelta(0))
        return outcomes

    monkeypatch.setattr(smartsync, "_sync_objects", expired_midway)
    run = start(healthy, enqueue=False)

    smartsync.perform_sync(run.pk)

    run.refresh_from_db()
    assert run.state == SyncRun.State.FAILED
    assert run.error == RESTARTED_MESSAGE
    healthy.refresh_from_db()
    assert healthy.last_synced_at is None


def test_a_run_is_only_taken_for_lost_after_its_longest_request():
    """A heartbeat beats between pages: the silence that marks a worker lost must outlast one
    request with all its retries, or a live run on a slow gateway would be taken over."""
    from intacct.retry import RetryPolicy

    policy = RetryPolicy(max_retries=smartsync.MAX_RETRIES)

    assert smartsync.STALL_AFTER.total_seconds() > policy.longest(smartsync.REQUEST_TIMEOUT)


def test_a_run_heard_from_after_the_sweep_listed_it_is_left_running(healthy, monkeypatch):
    """Its worker beat (or a redelivered task took it over) between the sweep's listing and its
    update: the run is alive, so it is neither failed nor restarted."""
    run = start(healthy, enqueue=False)
    _running(run, silent_for=smartsync.STALL_AFTER * 2, started_ago=timedelta(hours=1))
    ready_profile = smartsync.ready_profile

    def beats_meanwhile(entity):
        SyncRun.objects.filter(pk=run.pk).update(heartbeat_at=timezone.now())
        return ready_profile(entity)

    monkeypatch.setattr(smartsync, "ready_profile", beats_meanwhile)

    assert expire_stale_syncs() == 0

    run.refresh_from_db()
    assert run.state == SyncRun.State.RUNNING
    assert not SyncRun.objects.filter(restart_of=run).exists()


def test_a_run_lost_while_queued_says_it_never_started(healthy):
    run = start(healthy, enqueue=False)
    SyncRun.objects.filter(pk=run.pk).update(
        created_at=timezone.now() - smartsync.STALE_AFTER - timedelta(minutes=1)
    )

    assert expire_stale_syncs() == 1

    run.refresh_from_db()
    assert run.error == smartsync.LOST_TASK_RESTARTED_MESSAGE
    assert SyncRun.objects.get(restart_of=run).state == SyncRun.State.QUEUED
