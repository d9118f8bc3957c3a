"""Reads of the Sync Schedule: the crontab a schedule means (its main sync, and the weekly full
sync beside it), when it next starts a sync, and what it costs a month in API transactions."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, time, timedelta
from zoneinfo import ZoneInfo

from celery.schedules import crontab
from django.core.exceptions import ValidationError
from django_celery_beat.tzcrontab import TzAwareCrontab

from connections.models import LegalEntity, SyncSchedule

__all__ = [
    "CRON_PARTS",
    "TIER_ALLOWANCE",
    "Projection",
    "crontab_fields",
    "firings",
    "next_sync_at",
    "parse_cron",
    "projected_transactions",
    "weekly_full_fields",
]

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
    # Each field on its own first, so the message names the one that is wrong.
    for part, value in fields.items():
        try:
            crontab(**{part: value})
        except (ValueError, IndexError):
            label, allowed = _CRON_RANGES[part]
            raise ValidationError(
                f"The {label} field, “{value}”, is not valid: it takes {allowed}, "
                "a list (1,15), a range (1-5) or a step (*/15)."
            ) from None
    try:
        crontab(**fields)
    except (ValueError, IndexError) as error:
        raise ValidationError(f"Not a valid cron expression: {error}") from error
    return fields


_CRON_RANGES = {
    "minute": ("minute", "* or 0–59"),
    "hour": ("hour", "* or 0–23"),
    "day_of_month": ("day-of-month", "* or 1–31"),
    "month_of_year": ("month", "* or 1–12"),
    "day_of_week": ("day-of-week", "* or 0–6 (Sunday is 0) or mon–sun"),
}


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
    # The next firing after ``now`` itself (``remaining_estimate`` measures from the clock, not
    # from ``now``, and its float sum lands a hair off the minute: 21:59:59.9996 for 22:00).
    firings_at: list[datetime] = []
    for fields in crontabs:
        start, delta, _ = TzAwareCrontab(**fields, tz=tz).remaining_delta(local_now, tz=tz)
        firings_at.append(start + delta)
    return min(firings_at).replace(second=0, microsecond=0)


#: The projection's horizon: a month of 30 days.
MONTH = timedelta(days=30)
#: API transactions a month that Intacct's tier 1 includes, per company (overage is billed).
TIER_ALLOWANCE = 100_000


@dataclass(frozen=True)
class Projection:
    """What the schedule costs in a month: runs of each kind and the API transactions they send
    (each kind's figure the average of its last runs; ``None`` before one ran)."""

    runs: int
    per_run: float | None
    full_runs: int
    per_full_run: float | None

    @property
    def total(self) -> int | None:
        if self.per_run is None or (self.full_runs and self.per_full_run is None):
            return None
        return round(self.runs * self.per_run + self.full_runs * (self.per_full_run or 0))


def firings(fields: dict[str, str], tz: ZoneInfo, start: datetime, until: datetime) -> int:
    """How many times the crontab ``fields`` fires in ``[start, until)``, in ``tz``'s local
    time (Celery's crontab sets: minutes, hours, days of the week, month and year)."""
    cron = crontab(**fields)
    count = 0
    first = start.astimezone(tz).date()
    for offset in range((until - start).days + 2):
        day = first + timedelta(days=offset)
        if (
            day.month not in cron.month_of_year
            or day.day not in cron.day_of_month
            or day.isoweekday() % 7 not in cron.day_of_week  # cron's Sunday is 0
        ):
            continue
        for hour in cron.hour:
            for minute in cron.minute:
                at = datetime(day.year, day.month, day.day, hour, minute, tzinfo=tz)
                if start <= at < until:
                    count += 1
    return count


def projected_transactions(
    legal_entity: LegalEntity, schedule: SyncSchedule | None, *, now: datetime, sample: int = 5
) -> Projection | None:
    """The API transactions ``schedule`` would send in 30 days, from the entity's last
    ``sample`` finished runs of each kind; ``None`` without an enabled schedule."""
    from connections.models import SyncRun

    if schedule is None or not schedule.enabled:
        return None
    tz = ZoneInfo(str(schedule.timezone))
    runs = firings(crontab_fields(schedule), tz, now, now + MONTH)
    full_runs = (
        firings(weekly_full_fields(schedule), tz, now, now + MONTH)
        if schedule.weekly_full and schedule.kind != SyncRun.Kind.FULL
        else 0
    )

    def average(kind: str) -> float | None:
        figures = list(
            SyncRun.objects.filter(legal_entity=legal_entity, kind=kind, state__in=SyncRun.FINISHED)
            .order_by("-created_at", "-pk")
            .values_list("transactions", flat=True)[:sample]
        )
        return sum(figures) / len(figures) if figures else None

    return Projection(
        runs=runs,
        per_run=average(schedule.kind),
        full_runs=full_runs,
        per_full_run=average(SyncRun.Kind.FULL) if full_runs else None,
    )
