"""Reads of the customer-success console: the overview of every legal entity (filtered, searched,
sorted and counted in SQL from ``ConnectionHealth``), the API Sync Profile queue, one entity's
whole story, the funnel and the sync health. Each page is a constant number of queries, whatever
the number of legal entities.
"""

from __future__ import annotations

import statistics
from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any

from django.db import connection
from django.db.models import (
    Aggregate,
    Case,
    Count,
    DurationField,
    ExpressionWrapper,
    F,
    FloatField,
    IntegerField,
    OrderBy,
    Prefetch,
    Q,
    QuerySet,
    Sum,
    Value,
    When,
)
from django.db.models.functions import Extract, TruncDate

from connections.models import (
    Alert,
    AuditEvent,
    ConnectionAttempt,
    ConnectionHealth,
    HandoffLink,
    LegalEntity,
    Step,
    StepVisit,
    SyncRun,
    SyncRunObject,
    SyncSchedule,
    VerificationRun,
)
from connections.selectors.health import stuck_cutoff

__all__ = [
    "FLAGS",
    "SORTS",
    "EntityDetail",
    "FunnelRow",
    "SyncDay",
    "entity_detail",
    "flag_counts",
    "funnel",
    "overview",
    "profile_queue",
    "sync_health",
]

#: The overview's flags, in the order the page lists them: key → label.
FLAGS: dict[str, str] = {
    "stuck": "Stuck",
    "verification_failing": "Verification failing",
    "sync_failing": "Sync failing",
    "permission_drift": "Permission drift",
    "waiting_for_profile": "Waiting for profile",
}

_STEP_ORDER = Case(
    *(When(health__current_step=step.value, then=Value(index)) for index, step in enumerate(Step)),
    # Every step done sorts last; no health row yet (never refreshed) first, like the checklist.
    When(health__current_step="", then=Value(len(Step))),
    default=Value(-1),
    output_field=IntegerField(),
)

#: The overview's sortable columns: key → the expression it sorts by.
SORTS: dict[str, Any] = {
    "organization": F("organization__name"),
    "entity": F("name"),
    "company": F("health__company_id"),
    "state": F("health__connection_state"),
    "step": F("step_order"),
    "since": F("health__step_since"),
    "verification": F("health__last_verification__finished_at"),
    "sync": F("health__last_sync__finished_at"),
    "records": F("health__last_sync_records"),
    "transactions": F("health__last_sync_transactions"),
    "next_sync": F("health__next_sync_at"),
}


def _flag_q(flag: str, now: datetime) -> Q:
    if flag == "stuck":
        return ~Q(health__current_step="") & Q(health__step_since__lt=stuck_cutoff(now))
    return Q(**{f"health__{flag}": True})


def flag_counts(*, now: datetime) -> dict[str, int]:
    """How many legal entities carry each flag (one query)."""
    counts = LegalEntity.objects.aggregate(
        **{flag: Count("pk", filter=_flag_q(flag, now)) for flag in FLAGS}
    )
    return {flag: counts[flag] or 0 for flag in FLAGS}


def overview(
    *,
    now: datetime,
    flag: str = "",
    state: str = "",
    step: str = "",
    search: str = "",
    sort: str = "organization",
) -> QuerySet[LegalEntity]:
    """Every legal entity with its organization, health, last verification and last sync (one
    query, however it is sliced). ``state`` is a ``ConnectionAttempt.State`` or ``"none"`` (no
    attempt yet); ``step`` a ``Step`` or ``"done"``; ``sort`` a key of :data:`SORTS`, ``-`` first
    for descending (unknown keys sort by organization)."""
    queryset = LegalEntity.objects.select_related(
        "organization", "health", "health__last_verification", "health__last_sync"
    ).annotate(step_order=_STEP_ORDER)
    if flag in FLAGS:
        queryset = queryset.filter(_flag_q(flag, now))
    if state == "none":
        queryset = queryset.filter(Q(health__isnull=True) | Q(health__connection_state=""))
    elif state in ConnectionAttempt.State.values:
        queryset = queryset.filter(health__connection_state=state)
    if step == "done":
        queryset = queryset.filter(health__current_step="")
    elif step in Step.values:
        queryset = queryset.filter(health__current_step=step)
    search = search.strip()
    if search:
        queryset = queryset.filter(
            Q(organization__name__icontains=search)
            | Q(name__icontains=search)
            | Q(health__company_id__icontains=search)
        )
    descending = sort.startswith("-")
    expression = SORTS.get(sort.lstrip("-"), SORTS["organization"])
    order: OrderBy = (
        expression.desc(nulls_last=True) if descending else expression.asc(nulls_last=True)
    )
    return queryset.order_by(order, "organization__name", "name", "pk")


def is_stuck(health: ConnectionHealth | None, *, now: datetime) -> bool:
    """The *stuck* rule for one row already read (the SQL of :func:`overview` says the same)."""
    return (
        health is not None and bool(health.current_step) and health.step_since < stuck_cutoff(now)
    )


def profile_queue() -> QuerySet[ConnectionHealth]:
    """Entities waiting at step 8 for their API Sync Profile, oldest first (one query)."""
    return (
        ConnectionHealth.objects.filter(waiting_for_profile=True)
        .select_related("legal_entity__organization", "last_verification")
        .order_by(F("waiting_since").asc(nulls_first=True), "legal_entity__pk")
    )


# --- One entity ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class EntityDetail:
    legal_entity: LegalEntity
    health: ConnectionHealth | None
    attempts: list[ConnectionAttempt]
    verifications: list[VerificationRun]
    syncs: list[SyncRun]
    schedule: SyncSchedule | None
    links: list[HandoffLink]
    alerts: list[Alert]
    events: list[AuditEvent]


def entity_detail(legal_entity: LegalEntity, *, limit: int = 20) -> EntityDetail:
    """Everything about one legal entity, newest first: attempts, verification runs with their
    check results, sync runs with their objects, schedule, hand-off links, alerts and the audit
    log (the ``limit`` newest runs, links and 100 newest events)."""
    attempts = list(legal_entity.attempts.order_by("-created_at", "-pk"))
    verifications = list(
        VerificationRun.objects.filter(attempt__legal_entity=legal_entity)
        .select_related("attempt", "requested_by")
        .prefetch_related("results")
        .order_by("-created_at", "-pk")[:limit]
    )
    syncs = list(
        SyncRun.objects.filter(legal_entity=legal_entity)
        .select_related("requested_by")
        .prefetch_related(
            Prefetch("object_results", queryset=SyncRunObject.objects.order_by("object_name"))
        )
        .order_by("-created_at", "-pk")[:limit]
    )
    links = list(
        HandoffLink.objects.filter(attempt__legal_entity=legal_entity)
        .select_related("attempt", "created_by")
        .order_by("-created_at", "-pk")[:limit]
    )
    return EntityDetail(
        legal_entity=legal_entity,
        health=ConnectionHealth.objects.filter(legal_entity=legal_entity).first(),
        attempts=attempts,
        verifications=verifications,
        syncs=syncs,
        schedule=SyncSchedule.objects.filter(legal_entity=legal_entity).first(),
        links=links,
        alerts=list(legal_entity.alerts.order_by("-raised_at", "-pk")[:limit]),
        events=list(
            AuditEvent.objects.for_legal_entity(legal_entity)
            .select_related("actor")
            .order_by("-at", "-pk")[:100]
        ),
    )


# --- The funnel and the sync health -----------------------------------------------------------------


class _Median(Aggregate):
    """PostgreSQL's ``percentile_cont``; other databases compute it in Python."""

    function = "percentile_cont"
    template = "%(function)s(%(fraction)s) WITHIN GROUP (ORDER BY %(expressions)s)"
    output_field = FloatField()

    def __init__(self, expression: Any, fraction: float = 0.5, **extra: Any) -> None:
        super().__init__(expression, fraction=fraction, **extra)


def _percentiles_in_sql() -> bool:
    return connection.vendor == "postgresql"


@dataclass(frozen=True)
class FunnelRow:
    step: Step
    entities: int
    median: timedelta | None


def funnel() -> tuple[list[FunnelRow], int]:
    """Per guide step: how many entities stand there now, and the median time entities spent
    there (over the stretches that ended); plus how many finished every step. Two queries."""
    standing = dict(
        ConnectionHealth.objects.values_list("current_step").annotate(n=Count("pk")).order_by()
    )
    visits = StepVisit.objects.filter(left_at__isnull=False)
    seconds = Extract(
        ExpressionWrapper(F("left_at") - F("entered_at"), output_field=DurationField()), "epoch"
    )
    medians: dict[str, float | None]
    if _percentiles_in_sql():
        medians = dict(
            visits.values_list("step")
            .annotate(m=_Median(seconds))
            .order_by()
            .values_list("step", "m")
        )
    else:
        spans: dict[str, list[float]] = defaultdict(list)
        for step, entered, left in visits.values_list("step", "entered_at", "left_at"):
            if left is not None:
                spans[step].append((left - entered).total_seconds())
        medians = {step: statistics.median(values) for step, values in spans.items()}
    rows = [
        FunnelRow(
            step=step,
            entities=standing.get(step.value, 0),
            median=timedelta(seconds=m) if (m := medians.get(step.value)) is not None else None,
        )
        for step in Step
    ]
    return rows, standing.get("", 0)


@dataclass
class SyncDay:
    day: date
    by_state: dict[str, int] = field(default_factory=dict)
    p50_seconds: float | None = None
    p95_seconds: float | None = None
    transactions: int = 0

    @property
    def runs(self) -> int:
        return sum(self.by_state.values())


def sync_health(*, now: datetime, days: int = 30) -> list[SyncDay]:
    """The last ``days`` days (oldest first, every day present): finished runs per day by
    outcome, their duration's median and 95th percentile, and the API transactions they sent
    (functions, each a billed API transaction). Three queries."""
    today = now.date()
    first = today - timedelta(days=days - 1)
    result = {first + timedelta(days=i): SyncDay(first + timedelta(days=i)) for i in range(days)}
    runs = SyncRun.objects.filter(
        state__in=SyncRun.FINISHED,
        finished_at__date__gte=first,
        started_at__isnull=False,
    ).annotate(day=TruncDate("finished_at"))
    for day, state, count in (
        runs.values_list("day", "state")
        .annotate(n=Count("pk"))
        .order_by()
        .values_list("day", "state", "n")
    ):
        if day in result:
            result[day].by_state[state] = count
    seconds = Extract(
        ExpressionWrapper(F("finished_at") - F("started_at"), output_field=DurationField()),
        "epoch",
    )
    if _percentiles_in_sql():
        for day, p50, p95 in (
            runs.values_list("day")
            .annotate(p50=_Median(seconds), p95=_Median(seconds, fraction=0.95))
            .order_by()
            .values_list("day", "p50", "p95")
        ):
            if day in result:
                result[day].p50_seconds, result[day].p95_seconds = p50, p95
    else:
        spans: dict[date, list[float]] = defaultdict(list)
        for day, started, finished in runs.values_list("day", "started_at", "finished_at"):
            if started is not None and finished is not None:
                spans[day].append((finished - started).total_seconds())
        for day, values in spans.items():
            if day in result:
                values.sort()
                result[day].p50_seconds = statistics.median(values)
                result[day].p95_seconds = _percentile(values, 0.95)
    for day, total in (
        runs.values_list("day")
        .annotate(total=Sum("transactions"))
        .order_by()
        .values_list("day", "total")
    ):
        if day in result:
            result[day].transactions = total or 0
    return list(result.values())


def _percentile(ordered: list[float], fraction: float) -> float:
    """The continuous percentile of sorted ``ordered`` (what ``percentile_cont`` computes)."""
    if len(ordered) == 1:
        return ordered[0]
    position = fraction * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)
