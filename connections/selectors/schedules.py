"""Reads of the Sync Schedule: the crontab a schedule means (its main sync, and the weekly full
sync beside it) and when it next starts a sync."""

from __future__ import annotations

from datetime import datetime, time
from zoneinfo import ZoneInfo

from celery.schedules import crontab
from django.core.exceptions import ValidationError
from django_celery_beat.tzcrontab import TzAwareCrontab

from connections.models import LegalEntity, SyncSchedule

__all__ = ["CRON_PARTS", "crontab_fields", "next_sync_at", "parse_cron", "weekly_full_fields"]

CRON_PARTS = ("minute", "hour", "day_of_month", "month_of_year", "day_of_week")


def parse_cron(expression: str) -> dict[str, str]:
    """The five fields of a cron expression (``minute hour day-of-month month day-of-week``);
    ``ValidationError`` unless Celery's crontab accepts them."""
    parts = expression.split()
    if len(parts) != len(CRON_PARTS):
        raise ValidationError(
            "A cron expression has five fields: minute hour day-of-month month day-of-week."
        )
    fields = dict(zip(CRON_PARTS, parts, strict=True))
    try:
        crontab(**fields)
    except (ValueError, IndexError) as error:
        raise ValidationError(f"Not a valid cron expression: {error}") from error
    return fields


def crontab_fields(schedule: SyncSchedule) -> dict[str, str]:
    """The crontab of the schedule's main sync."""
    at: time = schedule.time_of_day
    every = {"day_of_month": "*", "month_of_year": "*", "day_of_week": "*"}
    if schedule.frequency == SyncSchedule.Frequency.HOURLY:
        return {"minute": str(at.minute), "hour": "*", **every}
    if schedule.frequency == SyncSchedule.Frequency.DAILY:
        return {"minute": str(at.minute), "hour": str(at.hour), **every}
    if schedule.frequency == SyncSchedule.Frequency.WEEKLY:
        return {
            "minute": str(at.minute),
            "hour": str(at.hour),
            **every,
            "day_of_week": str(schedule.weekday),
        }
    return parse_cron(schedule.cron_expression)


def weekly_full_fields(schedule: SyncSchedule) -> dict[str, str]:
    at: time = schedule.time_of_day
    return {
        "minute": str(at.minute),
        "hour": str(at.hour),
        "day_of_month": "*",
        "month_of_year": "*",
        "day_of_week": str(schedule.weekly_full_weekday),
    }


def next_sync_at(legal_entity: LegalEntity, *, now: datetime) -> datetime | None:
    """When the entity's schedule next starts a sync (its main or its weekly full one); ``None``
    without an enabled schedule."""
    schedule = SyncSchedule.objects.filter(legal_entity=legal_entity, enabled=True).first()
    if schedule is None or schedule.periodic_task_id is None:
        return None
    tz = ZoneInfo(str(schedule.timezone))
    local_now = now.astimezone(tz)
    crontabs = [crontab_fields(schedule)]
    if schedule.weekly_full:
        crontabs.append(weekly_full_fields(schedule))
    next_at: datetime = min(
        local_now + TzAwareCrontab(**fields, tz=tz).remaining_estimate(local_now)
        for fields in crontabs
    )
    return next_at
