"""Hand-off links: the customer's Intacct administrator opens the Intacct-side steps (1–6) and
runs the checks without an account here, and never sees the stored credentials.

A link is signed and timestamped (:meth:`HandoffLink.token`), expires, and can be revoked; the URL
is shown once, when the link is made. See ``connections.access.handoff_link_for_token``.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from connections import audit
from connections.models import ConnectionAttempt, HandoffLink

__all__ = ["create_handoff_link", "record_handoff_use", "revoke_handoff_link"]


@transaction.atomic
def create_handoff_link(
    attempt: ConnectionAttempt,
    *,
    actor: Any = None,
    lifetime: timedelta = HandoffLink.DEFAULT_LIFETIME,
    recipient: str = "",
) -> HandoffLink:
    """A new link to ``attempt``'s Intacct-side steps, usable for ``lifetime`` (at most
    ``HandoffLink.MAX_AGE``)."""
    lifetime = min(lifetime, HandoffLink.MAX_AGE)
    now = timezone.now()
    link = HandoffLink.objects.create(
        attempt=attempt,
        created_by=audit.actor_or_none(actor),
        created_at=now,
        expires_at=now + lifetime,
    )
    audit.record_for_attempt(
        actor,
        "handoff_link.created",
        attempt,
        link=link.public_id,
        expires_at=link.expires_at,
        recipient=recipient,
    )
    return link


@transaction.atomic
def revoke_handoff_link(link: HandoffLink, *, actor: Any = None) -> HandoffLink:
    """End ``link`` now. Safe to run twice (the first revocation time is kept)."""
    updated = HandoffLink.objects.filter(pk=link.pk, revoked_at__isnull=True).update(
        revoked_at=timezone.now()
    )
    link.refresh_from_db(fields=["revoked_at"])
    if updated:
        attempt = link.attempt
        audit.record_for_attempt(
            actor,
            "handoff_link.revoked",
            attempt,
            link=link.public_id,
        )
    return link


def record_handoff_use(link: HandoffLink) -> None:
    """Note when the link was last opened (a plain update: no audit event per page view)."""
    HandoffLink.objects.filter(pk=link.pk).update(used_at=timezone.now())
