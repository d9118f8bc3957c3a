"""Connection attempts: starting one supersedes the current one and opens every guide step."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import transaction

from connections import audit
from connections.models import ConnectionAttempt, LegalEntity, Step, StepState

__all__ = ["start_attempt"]


@transaction.atomic
def start_attempt(
    legal_entity: LegalEntity,
    *,
    actor: Any = None,
    integration_type: str = ConnectionAttempt.IntegrationType.TOP_LEVEL,
    company_id: str = "",
    entity_id: str = "",
    user_id: str = "",
    password: str = "",
    endpoint: str = "",
) -> ConnectionAttempt:
    """A new current draft attempt for ``legal_entity``, with a pending StepState per guide step;
    the previous current attempt, if any, is superseded (its history is kept)."""
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
    attempt = ConnectionAttempt(
        legal_entity=legal_entity,
        integration_type=integration_type,
        company_id=company_id,
        entity_id=entity_id,
        user_id=user_id or settings.INTACCT_GUIDE["WS_USER_ID"],
        password=password,
        endpoint=endpoint or settings.INTACCT_ENDPOINT,
        started_by=actor if actor is not None and actor.is_authenticated else None,
    )
    attempt.full_clean()
    attempt.save()
    StepState.objects.bulk_create(StepState(attempt=attempt, step=step) for step in Step)
    audit.record(
        actor,
        "attempt.started",
        organization=legal_entity.organization,
        legal_entity=legal_entity,
        attempt=attempt.public_id,
        integration_type=attempt.integration_type,
        company_id=attempt.company_id,
        entity_id=attempt.entity_id,
        user_id=attempt.user_id,
        endpoint=attempt.endpoint,
        superseded=previous,
    )
    return attempt
