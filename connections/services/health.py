"""Keeping ``ConnectionHealth`` (the console's one row per legal entity) in step with the source.

:func:`refresh_health` recomputes the row from the attempts, verification runs, sync runs,
profile and schedule (:func:`connections.selectors.health.health_facts`), records how long the
entity stood at each step (``StepVisit``), and raises or clears its alerts
(:mod:`connections.services.alerts`). Every service that moves one of those facts calls it, inside
its own transaction, so the row is never older than the last committed write;
:func:`refresh_stuck` catches what only time changes (a step standing past the stuck cutoff).
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db import transaction
from django.utils import timezone

from connections.models import Alert, ConnectionHealth, LegalEntity, StepVisit
from connections.selectors.health import health_facts, stuck_cutoff
from connections.services import alerts

__all__ = ["refresh_all", "refresh_health", "refresh_stuck"]


@transaction.atomic
def refresh_health(legal_entity_id: int, *, now: datetime | None = None) -> ConnectionHealth | None:
    """Recompute the entity's health row (``None`` when the entity is gone)."""
    now = now or timezone.now()
    legal_entity = (
        LegalEntity.objects.select_related("organization").filter(pk=legal_entity_id).first()
    )
    if legal_entity is None:
        return None
    health = ConnectionHealth.objects.select_for_update().filter(legal_entity=legal_entity).first()
    created = health is None
    if health is None:
        health = ConnectionHealth(legal_entity=legal_entity, step_since=now)
    facts = health_facts(legal_entity, now=now)
    if created or facts.current_step != health.current_step:
        health.step_since = _step_moved(legal_entity, facts.current_step, now=now)
    health.connection_state = facts.connection_state
    health.company_id = facts.company_id
    health.current_step = facts.current_step
    health.steps_done = facts.steps_done
    health.last_verification = facts.last_verification
    health.failing_step = facts.failing_step
    health.failing_errorno = facts.failing_errorno
    health.verification_failing = facts.verification_failing
    health.permission_drift = facts.permission_drift
    health.last_sync = facts.last_sync
    health.last_sync_records = facts.last_sync_records
    health.last_sync_transactions = facts.last_sync_transactions
    health.sync_failing = facts.sync_failing
    health.scheduled_failures = facts.scheduled_failures
    if facts.waiting_for_profile and not health.waiting_for_profile:
        # Waiting since the attempt first passed (or now, when that is not known).
        health.waiting_since = facts.verified_at or now
    elif not facts.waiting_for_profile:
        health.waiting_since = None
    health.waiting_for_profile = facts.waiting_for_profile
    health.next_sync_at = facts.next_sync_at
    health.save()
    alerts.reconcile(legal_entity, health, stuck=_is_stuck(health, now), now=now)
    return health


def _step_moved(legal_entity: LegalEntity, step: str, *, now: datetime) -> datetime:
    """Close the entity's open step visit and open one at ``step`` (none once every step is
    done); when the step has not changed since the open visit began (a first refresh of an old
    entity), keep that visit's start."""
    open_visit = StepVisit.objects.filter(legal_entity=legal_entity, left_at__isnull=True).first()
    if open_visit is not None and open_visit.step == step:
        return open_visit.entered_at
    if open_visit is not None:
        StepVisit.objects.filter(pk=open_visit.pk).update(left_at=now)
    if step:
        StepVisit.objects.create(legal_entity=legal_entity, step=step, entered_at=now)
    return now


def _is_stuck(health: ConnectionHealth, now: datetime) -> bool:
    return bool(health.current_step) and health.step_since < stuck_cutoff(now)


def refresh_all(legal_entity_ids: Iterable[int] | None = None) -> int:
    """Refresh every legal entity's health (or those of ``legal_entity_ids``); how many."""
    ids = (
        list(legal_entity_ids)
        if legal_entity_ids is not None
        else list(LegalEntity.objects.values_list("pk", flat=True))
    )
    for legal_entity_id in ids:
        refresh_health(legal_entity_id)
    return len(ids)


def refresh_stuck(*, now: datetime | None = None) -> int:
    """Refresh the entities whose *stuck* flag time alone changed: stuck without an open stuck
    alert, or with one but no longer stuck. How many were refreshed."""
    now = now or timezone.now()
    cutoff = stuck_cutoff(now)
    open_stuck = Alert.objects.filter(kind=Alert.Kind.STUCK, cleared_at__isnull=True)
    newly = (
        ConnectionHealth.objects.exclude(current_step="")
        .filter(step_since__lt=cutoff)
        .exclude(legal_entity__in=open_stuck.values("legal_entity"))
        .values_list("legal_entity_id", flat=True)
    )
    ids = set(newly) | set(open_stuck.values_list("legal_entity_id", flat=True))
    for legal_entity_id in ids:
        refresh_health(legal_entity_id, now=now)
    return len(ids)
