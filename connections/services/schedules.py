"""The Sync Schedule: a legal entity's automatic syncs, stored for django-celery-beat's database
scheduler.

:func:`save_schedule` writes the :class:`~connections.models.SyncSchedule` and keeps its
``PeriodicTask`` rows in step: one for the scheduled kind, and a second, weekly, for the full sync
when ``weekly_full`` is on. Each calls ``connections.tasks.queue_scheduled_sync`` with ids only.
When it fires, :func:`queue_scheduled_sync` starts the run, once.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django.db import transaction
from django_celery_beat.models import CrontabSchedule, PeriodicTask

from connections import audit
from connections.models import LegalEntity, SyncRun, SyncSchedule
from connections.selectors.profiles import ready_profile
from connections.selectors.schedules import CRON_PARTS, crontab_fields, weekly_full_fields
from connections.services import health
from connections.services.smartsync import start_sync

__all__ = [
    "SCHEDULE_FIELDS",
    "TASK_NAME",
    "queue_scheduled_sync",
    "save_schedule",
]

TASK_NAME = "connections.tasks.queue_scheduled_sync"

#: What a schedule form may set.
SCHEDULE_FIELDS = (
    "frequency",
    "time_of_day",
    "weekday",
    "cron_expression",
    "timezone",
    "kind",
    "weekly_full",
    "weekly_full_weekday",
    "enabled",
)


def _crontab(fields: Mapping[str, str], schedule: SyncSchedule) -> CrontabSchedule:
    crontab_schedule, _ = CrontabSchedule.objects.get_or_create(
        **fields, timezone=schedule.timezone
    )
    return crontab_schedule


def _put_task(
    task: PeriodicTask | None,
    *,
    name: str,
    schedule: SyncSchedule,
    fields: Mapping[str, str],
    kind: str,
) -> PeriodicTask:
    task = task or PeriodicTask(name=name)
    task.name = name
    task.task = TASK_NAME
    task.crontab = _crontab(fields, schedule)
    task.interval = None
    # Ids only: the worker reads everything else from the database.
    task.kwargs = json.dumps({"legal_entity_id": schedule.legal_entity_id, "kind": kind})
    task.enabled = schedule.enabled
    task.description = f"{SyncRun.Kind(kind).label} sync of legal entity {schedule.legal_entity_id}"
    task.save()
    return task


@transaction.atomic
def save_schedule(legal_entity: LegalEntity, data: Mapping[str, Any], user: Any) -> SyncSchedule:
    """Create or update ``legal_entity``'s schedule from ``data`` (any of :data:`SCHEDULE_FIELDS`)
    and its PeriodicTask rows; pausing disables them. ``ValidationError`` for a bad schedule."""
    # The legal entity's row is the lock: two first saves at once would both insert otherwise.
    LegalEntity.objects.select_for_update().filter(pk=legal_entity.pk).first()
    schedule = SyncSchedule.objects.filter(legal_entity=legal_entity).first() or SyncSchedule(
        legal_entity=legal_entity
    )
    created = schedule.pk is None
    for name in SCHEDULE_FIELDS:
        if name in data:
            setattr(schedule, name, data[name])
    if schedule.frequency != SyncSchedule.Frequency.CRON:
        schedule.cron_expression = ""
    schedule.full_clean(exclude=["periodic_task", "full_periodic_task"])
    main_fields = crontab_fields(schedule)
    schedule.save()

    prefix = f"SmartSync {legal_entity.public_id}"
    schedule.periodic_task = _put_task(
        schedule.periodic_task,
        name=f"{prefix} {schedule.kind}",
        schedule=schedule,
        fields=main_fields,
        kind=schedule.kind,
    )
    if schedule.weekly_full and schedule.kind != SyncRun.Kind.FULL:
        schedule.full_periodic_task = _put_task(
            schedule.full_periodic_task,
            name=f"{prefix} weekly full",
            schedule=schedule,
            fields=weekly_full_fields(schedule),
            kind=SyncRun.Kind.FULL,
        )
    elif schedule.full_periodic_task is not None:
        schedule.full_periodic_task.delete()
        schedule.full_periodic_task = None
    schedule.save(update_fields=["periodic_task", "full_periodic_task", "updated_at"])

    audit.record_for_entity(
        user,
        "sync_schedule.created" if created else "sync_schedule.updated",
        legal_entity,
        frequency=schedule.frequency,
        kind=schedule.kind,
        weekly_full=schedule.weekly_full,
        enabled=schedule.enabled,
        timezone=str(schedule.timezone),
        crontab=" ".join(main_fields[part] for part in CRON_PARTS),
    )
    health.refresh_health(legal_entity.pk)
    return schedule


def queue_scheduled_sync(legal_entity_id: int, kind: str) -> SyncRun | None:
    """Start the scheduled ``kind`` of sync of ``legal_entity_id``, and return the new run.

    ``None``, starting nothing, when the entity or its schedule is gone, the schedule is paused,
    the API Sync Profile is not enabled, or a run is already queued or running (a slow sync is
    not doubled by the next tick).
    """
    legal_entity = LegalEntity.objects.filter(pk=legal_entity_id).first()
    if legal_entity is None:
        return None
    schedule = SyncSchedule.objects.filter(legal_entity=legal_entity).first()
    if schedule is None or not schedule.enabled:
        return None
    if ready_profile(legal_entity) is None:
        return None
    if kind not in SyncRun.Kind.values:
        kind = SyncRun.Kind.PARTIAL
    run, created = start_sync(
        legal_entity, kind=kind, trigger=SyncRun.Trigger.SCHEDULE, enqueue=True
    )
    return run if created else None
