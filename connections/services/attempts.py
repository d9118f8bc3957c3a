"""Connection attempts: starting one supersedes the current one and opens every guide step."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from connections import audit
from connections.crypto import Secret
from connections.models import (
    HANDOFF_STEPS,
    ApiSyncProfile,
    ConnectionAttempt,
    LegalEntity,
    Step,
    StepState,
)
from connections.services import api_sync, health

__all__ = [
    "ACKNOWLEDGEABLE_STEPS",
    "acknowledge_step",
    "ensure_current_attempt",
    "save_credentials",
    "start_attempt",
]


@transaction.atomic
def start_attempt(
    legal_entity: LegalEntity,
    *,
    actor: Any = None,
    integration_type: str | None = None,
    company_id: str = "",
    entity_id: str = "",
    user_id: str = "",
    password: str = "",
    endpoint: str = "",
) -> ConnectionAttempt:
    """A new current draft attempt for ``legal_entity``, with a pending StepState per guide step;
    the previous current attempt, if any, is superseded (its history is kept). Without an
    ``integration_type`` an ``entity_id`` makes it entity-level, else top-level."""
    # Serialises two starts for the same entity (PostgreSQL; SQLite's write lock does it there).
    LegalEntity.objects.select_for_update().filter(pk=legal_entity.pk).first()
    previous = list(
        ConnectionAttempt.objects.current()
        .filter(legal_entity=legal_entity)
        .values_list("public_id", flat=True)
    )
    ConnectionAttempt.objects.current().filter(legal_entity=legal_entity).update(
        is_current=False, state=ConnectionAttempt.State.SUPERSEDED
    )
    if integration_type is None:
        integration_type = (
            ConnectionAttempt.IntegrationType.ENTITY_LEVEL
            if entity_id
            else ConnectionAttempt.IntegrationType.TOP_LEVEL
        )
    attempt = ConnectionAttempt(
        legal_entity=legal_entity,
        integration_type=integration_type,
        company_id=company_id,
        entity_id=entity_id,
        user_id=user_id or settings.INTACCT_GUIDE["WS_USER_ID"],
        password=password,
        endpoint=endpoint or settings.INTACCT_ENDPOINT,
        started_by=audit.actor_or_none(actor),
    )
    attempt.full_clean()
    attempt.save()
    StepState.objects.bulk_create(StepState(attempt=attempt, step=step) for step in Step)
    # Step 8 is the legal entity's API Sync Profile, not the attempt's: an enabled one stays done
    # (customer success need not create it again for new credentials).
    # Locked: a profile disabled meanwhile waits for this attempt, then updates its step too.
    profile = ApiSyncProfile.objects.select_for_update().filter(legal_entity=legal_entity).first()
    if ApiSyncProfile.status_of(profile) == ApiSyncProfile.Status.READY:
        api_sync.profile_step_follows(legal_entity.pk, enabled=True, now=timezone.now())
    audit.record_for_attempt(
        actor,
        "attempt.started",
        attempt,
        integration_type=attempt.integration_type,
        company_id=attempt.company_id,
        entity_id=attempt.entity_id,
        user_id=attempt.user_id,
        endpoint=attempt.endpoint,
        superseded=previous,
    )
    health.refresh_health(legal_entity.pk)
    return attempt


#: Steps a person can confirm with "I've done this" (the API Sync Profile is customer success's,
#: and SmartSync proves itself).
ACKNOWLEDGEABLE_STEPS: tuple[Step, ...] = (Step.PRE_CONNECTION, *HANDOFF_STEPS)

#: Credential fields whose change is audited by name (the password only as "changed").
CREDENTIAL_FIELDS = ("integration_type", "company_id", "entity_id", "user_id")


def ensure_current_attempt(legal_entity: LegalEntity, *, actor: Any = None) -> ConnectionAttempt:
    """The legal entity's current attempt, started (as a draft) if it has none. Safe to run
    twice."""
    attempt = ConnectionAttempt.objects.current().filter(legal_entity=legal_entity).first()
    if attempt is not None:
        return attempt
    return start_attempt(legal_entity, actor=actor)


@transaction.atomic
def acknowledge_step(
    attempt: ConnectionAttempt, step: str, *, actor: Any = None, via: str = "wizard"
) -> StepState:
    """A person says they did ``step``: pending or failed becomes acknowledged; a verified step
    stays verified (Intacct's proof outranks a click) but records who confirmed it. Safe to run
    twice."""
    if step not in ACKNOWLEDGEABLE_STEPS:
        raise ValueError(f"{step!r} is not a step a person acknowledges.")
    state, _ = StepState.objects.select_for_update().get_or_create(attempt=attempt, step=step)
    previous = state.status
    if previous == StepState.Status.ACKNOWLEDGED:
        return state
    if previous != StepState.Status.VERIFIED:
        state.status = StepState.Status.ACKNOWLEDGED
    state.acknowledged_by = audit.actor_or_none(actor)
    state.acknowledged_at = timezone.now()
    state.save()
    audit.record_for_attempt(
        actor,
        "step.acknowledged",
        attempt,
        step=step,
        previous_status=previous,
        via=via,
    )
    health.refresh_health(attempt.legal_entity_id)
    return state


@transaction.atomic
def save_credentials(
    attempt: ConnectionAttempt,
    *,
    actor: Any = None,
    integration_type: str,
    company_id: str,
    entity_id: str,
    user_id: str,
    password: str = "",
) -> ConnectionAttempt:
    """Store what the customer entered on the credentials step; a blank ``password`` keeps the
    stored one.

    An attempt Intacct already verified is history: changed credentials start a new current
    attempt (the steps people confirmed are carried over). Otherwise the attempt is updated in
    place and goes back to draft until the next check. Returns the attempt now current; nothing
    is written (and the same attempt returned) when nothing changed.
    """
    values = _credential_values(integration_type, company_id, entity_id, user_id)
    changed = changed_credentials(
        attempt,
        integration_type=integration_type,
        company_id=company_id,
        entity_id=entity_id,
        user_id=user_id,
        password=password,
    )
    password_changed = "password" in changed
    if not changed:
        return attempt

    legal_entity = attempt.legal_entity
    if attempt.state == ConnectionAttempt.State.VERIFIED:
        new_attempt = start_attempt(
            legal_entity,
            actor=actor,
            password=password or attempt.password,
            endpoint=attempt.endpoint,
            **values,
        )
        _carry_over_acknowledgements(attempt, new_attempt)
        _mark_credentials_entered(new_attempt, actor)
        audit.record_for_attempt(
            actor,
            "attempt.credentials_changed",
            new_attempt,
            replaces=attempt.public_id,
            fields=changed,
        )
        return new_attempt

    for name, value in values.items():
        setattr(attempt, name, value)
    if password_changed:
        attempt.password = password
    if attempt.state == ConnectionAttempt.State.FAILED:
        attempt.state = ConnectionAttempt.State.DRAFT
    attempt.full_clean()
    attempt.save()
    _mark_credentials_entered(attempt, actor)
    audit.record_for_attempt(
        actor,
        "attempt.credentials_changed",
        attempt,
        fields=changed,
    )
    return attempt


def _credential_values(
    integration_type: str, company_id: str, entity_id: str, user_id: str
) -> dict[str, str]:
    return {
        "integration_type": integration_type,
        "company_id": company_id,
        "entity_id": entity_id
        if integration_type == ConnectionAttempt.IntegrationType.ENTITY_LEVEL
        else "",
        "user_id": user_id,
    }


def changed_credentials(
    attempt: ConnectionAttempt | None,
    *,
    integration_type: str,
    company_id: str,
    entity_id: str,
    user_id: str,
    password: str = "",
) -> list[str]:
    """The credential fields these values change on ``attempt`` (every one without an attempt;
    a blank password keeps the stored one)."""
    values = _credential_values(integration_type, company_id, entity_id, user_id)
    if attempt is None:
        return [*CREDENTIAL_FIELDS, "password"]
    changed = [name for name in CREDENTIAL_FIELDS if getattr(attempt, name) != values[name]]
    if password and Secret(password) != attempt.password:
        changed.append("password")
    return changed


def _mark_credentials_entered(attempt: ConnectionAttempt, actor: Any) -> None:
    """Entering the credentials is the person's part of step 7; the check proves the rest."""
    StepState.objects.update_or_create(
        attempt=attempt,
        step=Step.CREDENTIALS,
        defaults={
            "status": StepState.Status.ACKNOWLEDGED,
            "reason": "",
            "errorno": "",
            "acknowledged_by": audit.actor_or_none(actor),
            "acknowledged_at": timezone.now(),
        },
    )
    health.refresh_health(attempt.legal_entity_id)


def _carry_over_acknowledgements(old: ConnectionAttempt, new: ConnectionAttempt) -> None:
    """What people confirmed on the Intacct side stays confirmed on the new attempt; what
    Intacct proved must be proved again with the new credentials."""
    confirmed = old.steps.filter(step__in=ACKNOWLEDGEABLE_STEPS, acknowledged_at__isnull=False)
    for state in confirmed:
        StepState.objects.filter(attempt=new, step=state.step).update(
            status=StepState.Status.ACKNOWLEDGED,
            acknowledged_by_id=state.acknowledged_by_id,
            acknowledged_at=state.acknowledged_at,
            updated_at=timezone.now(),
        )
