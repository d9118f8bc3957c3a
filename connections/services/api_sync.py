"""The API Sync Profile: created by customer success once a legal entity is connected.

Every door (the admin, ``manage.py connection profile``, and next the console) creates and changes
profiles through these two functions, so the same entity gets the same objects whichever is used.
"""

from __future__ import annotations

from datetime import datetime
from functools import partial
from typing import Any

from django.db import transaction
from django.utils import timezone

from connections import audit
from connections.models import ApiSyncProfile, LegalEntity, Step, StepState
from connections.selectors.profiles import default_sync_objects
from connections.services import alerts, health

__all__ = ["change_api_sync_profile", "create_api_sync_profile"]


@transaction.atomic
def create_api_sync_profile(
    legal_entity: LegalEntity,
    *,
    actor: Any = None,
    object_names: list[str] | None = None,
) -> tuple[ApiSyncProfile, bool]:
    """The entity's profile and whether it was created now. An existing profile is left as it
    is (safe to run twice); a new one pulls ``object_names``, or by default what the last
    verification proved readable (:func:`~connections.selectors.profiles.default_sync_objects`,
    which raises ``SyncObjectsUnknown`` when nothing was proved), is enabled, and marks the current
    attempt's API Sync Profile step verified."""
    existing = ApiSyncProfile.objects.filter(legal_entity=legal_entity).first()
    if existing is not None:
        return existing, False
    names = list(object_names) if object_names is not None else default_sync_objects(legal_entity)
    profile = ApiSyncProfile.objects.create(
        legal_entity=legal_entity,
        object_names=names,
        enabled=True,
        created_by=audit.actor_or_none(actor),
    )
    profile_step_follows(legal_entity.pk, enabled=True, now=timezone.now())
    audit.record_for_entity(
        actor,
        "api_sync_profile.created",
        legal_entity,
        objects=names,
    )
    health.refresh_health(legal_entity.pk)
    transaction.on_commit(partial(alerts.send_profile_ready_email, legal_entity.pk))
    return profile, True


@transaction.atomic
def change_api_sync_profile(
    profile: ApiSyncProfile,
    *,
    object_names: list[str] | None,
    enabled: bool,
    actor: Any = None,
    max_concurrent_requests: int | None = None,
) -> ApiSyncProfile:
    """Change an existing profile's objects (``None``: keep them) and whether it is enabled; the
    current attempt's API Sync Profile step follows (verified when enabled, pending when not)."""
    previous = {
        "objects": list(profile.object_names),
        "enabled": profile.enabled,
        "max_concurrent_requests": profile.max_concurrent_requests,
    }
    now = timezone.now()
    values: dict[str, Any] = {"enabled": enabled, "updated_at": now}
    if object_names is not None:
        values["object_names"] = list(object_names)
    if max_concurrent_requests is not None:
        values["max_concurrent_requests"] = max_concurrent_requests
    ApiSyncProfile.objects.filter(pk=profile.pk).update(**values)
    profile_step_follows(profile.legal_entity_id, enabled=enabled, now=now)
    profile.refresh_from_db()
    legal_entity = profile.legal_entity
    audit.record_for_entity(
        actor,
        "api_sync_profile.changed",
        legal_entity,
        objects=profile.object_names,
        enabled=profile.enabled,
        max_concurrent_requests=profile.max_concurrent_requests,
        previous=previous,
    )
    health.refresh_health(legal_entity.pk)
    if enabled and not previous["enabled"]:
        transaction.on_commit(
            partial(alerts.send_profile_ready_email, legal_entity.pk, enabled_again=True)
        )
    return profile


def profile_step_follows(legal_entity_id: int, *, enabled: bool, now: datetime) -> None:
    """The current attempt's API Sync Profile step: verified while the profile is enabled."""
    values: dict[str, Any] = (
        {"status": StepState.Status.VERIFIED, "verified_at": now}
        if enabled
        else {"status": StepState.Status.PENDING, "verified_at": None}
    )
    StepState.objects.filter(
        attempt__legal_entity_id=legal_entity_id,
        attempt__is_current=True,
        step=Step.API_SYNC_PROFILE,
    ).update(**values, reason="", errorno="", updated_at=now)
