"""The API Sync Profile: created by customer success once a legal entity is connected."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from connections import audit
from connections.models import ApiSyncProfile, LegalEntity, Step, StepState
from connections.selectors import default_sync_objects

__all__ = ["change_api_sync_profile", "create_api_sync_profile"]


@transaction.atomic
def create_api_sync_profile(
    legal_entity: LegalEntity,
    *,
    actor: Any = None,
    object_names: list[str] | None = None,
) -> tuple[ApiSyncProfile, bool]:
    """The entity's profile and whether it was created now. An existing profile is left as it
    is (safe to run twice); a new one pulls ``object_names`` or :func:`default_sync_objects`, is
    enabled, and marks the current attempt's API Sync Profile step verified."""
    existing = ApiSyncProfile.objects.filter(legal_entity=legal_entity).first()
    if existing is not None:
        return existing, False
    names = list(object_names) if object_names is not None else default_sync_objects(legal_entity)
    profile = ApiSyncProfile.objects.create(
        legal_entity=legal_entity,
        object_names=names,
        enabled=True,
        created_by=actor if actor is not None and actor.is_authenticated else None,
    )
    StepState.objects.filter(
        attempt__legal_entity=legal_entity,
        attempt__is_current=True,
        step=Step.API_SYNC_PROFILE,
    ).update(
        status=StepState.Status.VERIFIED,
        reason="",
        errorno="",
        verified_at=timezone.now(),
        updated_at=timezone.now(),
    )
    audit.record(
        actor,
        "api_sync_profile.created",
        organization=legal_entity.organization,
        legal_entity=legal_entity,
        objects=names,
    )
    return profile, True


@transaction.atomic
def change_api_sync_profile(
    profile: ApiSyncProfile,
    *,
    object_names: list[str] | None,
    enabled: bool,
    actor: Any = None,
) -> ApiSyncProfile:
    """Change an existing profile's objects (``None``: keep them) and whether it is enabled; the
    current attempt's API Sync Profile step follows (verified when enabled, pending when not)."""
    previous = {"objects": list(profile.object_names), "enabled": profile.enabled}
    now = timezone.now()
    values: dict[str, Any] = {"enabled": enabled, "updated_at": now}
    if object_names is not None:
        values["object_names"] = list(object_names)
    ApiSyncProfile.objects.filter(pk=profile.pk).update(**values)
    step_values: dict[str, Any] = (
        {"status": StepState.Status.VERIFIED, "verified_at": now}
        if enabled
        else {"status": StepState.Status.PENDING, "verified_at": None}
    )
    StepState.objects.filter(
        attempt__legal_entity_id=profile.legal_entity_id,
        attempt__is_current=True,
        step=Step.API_SYNC_PROFILE,
    ).update(**step_values, reason="", errorno="", updated_at=now)
    profile.refresh_from_db()
    legal_entity = profile.legal_entity
    audit.record(
        actor,
        "api_sync_profile.changed",
        organization=legal_entity.organization,
        legal_entity=legal_entity,
        objects=profile.object_names,
        enabled=profile.enabled,
        previous=previous,
    )
    return profile
