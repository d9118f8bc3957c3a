"""Command-line arguments the management commands share."""

from __future__ import annotations

import argparse
import math
import uuid

from django.core.management.base import CommandError

from connections.models import LegalEntity

__all__ = ["legal_entity_argument", "seconds_argument", "text_argument"]


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


def seconds_argument(text: str) -> float:
    """A ``SECONDS`` option (argparse ``type``): a finite number, not negative. ``nan`` and
    ``inf`` are refused: a wait until either would never end."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value < 0:
        raise argparse.ArgumentTypeError(
            f"{text!r}: give a number of seconds, 0 or more (not nan or inf)"
        )
    return value


def text_argument(text: str) -> str:
    """A free-text option (argparse ``type``): refused when it holds bytes that are not UTF-8,
    which Python hands over as lone surrogates that the database cannot store."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        raise argparse.ArgumentTypeError(
            f"{text!r} holds bytes that are not UTF-8 text; type it again"
        ) from None
    return text
