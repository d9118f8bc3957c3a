"""The Sync Schedule service: the PeriodicTask rows it keeps, and the scheduled sync it starts."""

from __future__ import annotations

import json
from datetime import time, timedelta

import pytest
from django.core.exceptions import ValidationError
from django.utils import timezone
from django_celery_beat.models import PeriodicTask

from connections.models import AuditEvent, SyncRun, SyncSchedule
from connections.services.schedules import TASK_NAME, queue_scheduled_sync, save_schedule
from tests.factories import ApiSyncProfileFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def profile(legal_entity):
    return ApiSyncProfileFactory(legal_entity=legal_entity)


@pytest.fixture
def synced_once(legal_entity):
    """A finished full sync, so a partial sync stays partial."""
    now = timezone.now()
    return SyncRun.objects.create(
        legal_entity=legal_entity,
        kind=SyncRun.Kind.FULL,
        state=SyncRun.State.SUCCEEDED,
        started_at=now,
        finished_at=now,
    )


def test_save_creates_one_periodic_task_with_ids_only(legal_entity, system_admin):
    schedule = save_schedule(
        legal_entity,
        {"frequency": "daily", "time_of_day": time(4, 30), "timezone": "America/Toronto"},
        system_admin,
    )

    task = PeriodicTask.objects.get()
    assert schedule.periodic_task == task
    assert task.task == TASK_NAME
    assert json.loads(task.kwargs) == {"legal_entity_id": legal_entity.pk, "kind": "partial"}
    assert (task.crontab.minute, task.crontab.hour, task.crontab.day_of_week) == ("30", "4", "*")
    assert str(task.crontab.timezone) == "America/Toronto"
    assert task.enabled
    assert schedule.full_periodic_task is None
    event = AuditEvent.objects.get(action="sync_schedule.created")
    assert event.actor == system_admin
    assert event.detail["enabled"] is True


def test_update_reuses_the_task_and_adds_then_removes_the_weekly_full(legal_entity, system_admin):
    first = save_schedule(legal_entity, {"frequency": "hourly", "time_of_day": time(0, 5)}, None)
    task_id = first.periodic_task_id

    weekly = save_schedule(
        legal_entity,
        {"frequency": "weekly", "weekday": 3, "weekly_full": True, "weekly_full_weekday": 0},
        system_admin,
    )

    assert weekly.periodic_task_id == task_id
    assert weekly.periodic_task.crontab.day_of_week == "3"
    full = weekly.full_periodic_task
    assert json.loads(full.kwargs) == {"legal_entity_id": legal_entity.pk, "kind": "full"}
    assert full.crontab.day_of_week == "0"
    assert PeriodicTask.objects.count() == 2

    save_schedule(legal_entity, {"weekly_full": False}, system_admin)
    assert PeriodicTask.objects.count() == 1
    assert SyncSchedule.objects.get().full_periodic_task is None


def test_hourly_runs_every_hour_at_the_minute(legal_entity):
    schedule = save_schedule(legal_entity, {"frequency": "hourly", "time_of_day": time(9, 7)}, None)

    assert (schedule.periodic_task.crontab.minute, schedule.periodic_task.crontab.hour) == (
        "7",
        "*",
    )


def test_cron_expression_is_stored_field_by_field(legal_entity):
    schedule = save_schedule(
        legal_entity, {"frequency": "cron", "cron_expression": "30 6 * * 1-5"}, None
    )

    crontab = schedule.periodic_task.crontab
    assert (crontab.minute, crontab.hour, crontab.day_of_week) == ("30", "6", "1-5")


def test_bad_cron_expression_saves_nothing(legal_entity):
    with pytest.raises(ValidationError):
        save_schedule(legal_entity, {"frequency": "cron", "cron_expression": "61 * * * *"}, None)

    assert not SyncSchedule.objects.exists()
    assert not PeriodicTask.objects.exists()


def test_paused_schedule_disables_its_periodic_tasks(legal_entity, system_admin):
    save_schedule(legal_entity, {"weekly_full": True}, system_admin)

    save_schedule(legal_entity, {"enabled": False}, system_admin)

    assert list(PeriodicTask.objects.values_list("enabled", flat=True)) == [False, False]
    assert AuditEvent.objects.filter(action="sync_schedule.updated").exists()


def test_due_schedule_starts_the_right_kind_once(
    legal_entity, profile, synced_once, django_capture_on_commit_callbacks
):
    save_schedule(legal_entity, {"frequency": "daily"}, None)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        run = queue_scheduled_sync(legal_entity.pk, "partial")
        again = queue_scheduled_sync(legal_entity.pk, "partial")

    assert run is not None
    assert (run.kind, run.trigger, run.state) == ("partial", "schedule", "queued")
    assert again is None
    assert SyncRun.objects.filter(state__in=SyncRun.ACTIVE).count() == 1
    assert len(callbacks) == 1


def test_weekly_full_starts_a_full_sync(legal_entity, profile, synced_once):
    save_schedule(legal_entity, {"weekly_full": True}, None)

    run = queue_scheduled_sync(legal_entity.pk, "full")

    assert run is not None
    assert run.kind == "full"


def test_paused_schedule_starts_nothing(legal_entity, profile, synced_once):
    save_schedule(legal_entity, {"enabled": False}, None)

    assert queue_scheduled_sync(legal_entity.pk, "partial") is None
    assert not SyncRun.objects.filter(state__in=SyncRun.ACTIVE).exists()


def test_nothing_starts_without_a_schedule_a_profile_or_the_entity(legal_entity, synced_once):
    assert queue_scheduled_sync(legal_entity.pk, "partial") is None
    save_schedule(legal_entity, {}, None)
    assert queue_scheduled_sync(legal_entity.pk, "partial") is None
    assert queue_scheduled_sync(987654, "partial") is None
    assert SyncRun.objects.count() == 1


def _beat_tick() -> list[dict]:
    """One tick of django-celery-beat's database scheduler, as ``celery beat`` runs it; the
    Sync Schedule messages it sent (the project's own periodic tasks are left out)."""
    from django_celery_beat.schedulers import DatabaseScheduler

    from config.celery import app as celery_app
    from tests.connections.test_tasks import drain_queue

    drain_queue()
    scheduler = DatabaseScheduler(app=celery_app)
    scheduler.tick()
    scheduler.sync()
    return [m for m in drain_queue() if m["headers"].get("task") == TASK_NAME]


@pytest.mark.django_db(transaction=True)
def test_beat_sends_a_due_schedule_once_and_a_paused_one_never(legal_entity):
    schedule = save_schedule(
        legal_entity, {"frequency": "cron", "cron_expression": "* * * * *"}, None
    )
    PeriodicTask.objects.filter(pk=schedule.periodic_task_id).update(
        last_run_at=timezone.now() - timedelta(minutes=5)
    )

    first = _beat_tick()
    second = _beat_tick()

    assert len(first) == 1
    _args, kwargs, _embed = first[0]["decoded"]
    assert kwargs == {"legal_entity_id": legal_entity.pk, "kind": "partial"}
    assert second == [], "the same minute is not sent twice"

    save_schedule(legal_entity, {"enabled": False}, None)
    PeriodicTask.objects.filter(pk=schedule.periodic_task_id).update(
        last_run_at=timezone.now() - timedelta(minutes=5)
    )
    assert _beat_tick() == []


@pytest.mark.parametrize(
    ("frequency", "now", "expected"),
    [
        ("hourly", "2026-12-06T21:07:31.123456+00:00", "2026-12-06T22:00:00+00:00"),
        ("daily", "2026-12-06T21:07:00+00:00", "2026-12-07T02:00:00+00:00"),
        ("daily", "2026-12-07T01:59:59.999999+00:00", "2026-12-07T02:00:00+00:00"),
    ],
)
def test_the_next_sync_is_on_the_minute_cron_fires(legal_entity, frequency, now, expected):
    from datetime import datetime

    from connections.selectors.schedules import next_sync_at

    save_schedule(legal_entity, {"frequency": frequency, "time_of_day": time(2, 0)}, None)
    at = next_sync_at(legal_entity, now=datetime.fromisoformat(now))
    assert at == datetime.fromisoformat(expected)


def test_the_next_sync_follows_the_schedules_timezone(legal_entity):
    from datetime import UTC, datetime

    from connections.selectors.schedules import next_sync_at

    save_schedule(
        legal_entity,
        {"frequency": "daily", "time_of_day": time(2, 0), "timezone": "America/Toronto"},
        None,
    )
    at = next_sync_at(legal_entity, now=datetime(2026, 12, 6, 21, 7, tzinfo=UTC))
    assert at is not None
    assert at.astimezone(UTC) == datetime(2026, 12, 7, 7, 0, tzinfo=UTC)  # 02:00 EST


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("61 * * * *", "The minute field, “61”, is not valid: it takes * or 0–59"),
        ("0 25 * * *", "The hour field, “25”, is not valid: it takes * or 0–23"),
        ("0 6 32 * *", "The day-of-month field, “32”, is not valid"),
        ("0 6 * 13 *", "The month field, “13”, is not valid"),
        ("0 6 * * funday", "The day-of-week field, “funday”, is not valid"),
        ("0 6 * *", "A cron expression has five fields"),
    ],
)
def test_a_bad_cron_expression_names_the_field_that_is_wrong(expression, message):
    from connections.selectors.schedules import parse_cron

    with pytest.raises(ValidationError) as info:
        parse_cron(expression)
    assert message in info.value.messages[0]
