"""Command-line arguments the management commands share."""

from __future__ import annotations

import uuid

from django.core.management.base import CommandError

from connections.models import LegalEntity

__all__ = ["legal_entity_argument"]


def legal_entity_argument(public_id: str) -> LegalEntity:
    """The legal entity a ``LEGAL_ENTITY_UUID`` argument names; ``CommandError`` saying what is
    wrong otherwise."""
    try:
        value = uuid.UUID(public_id)
    except ValueError:
        raise CommandError(f"{public_id!r} is not a legal entity UUID.") from None
    entity = LegalEntity.objects.select_related("organization").filter(public_id=value).first()
    if entity is None:
        raise CommandError(f"No legal entity {public_id}.")
    return entity
