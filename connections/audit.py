"""The audit trail: every change to a connection is an AuditEvent, and none carries a secret."""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from connections.crypto import Secret
from connections.models import AuditEvent, ConnectionAttempt, LegalEntity, Organization

__all__ = [
    "SecretInAuditDetail",
    "actor_or_none",
    "record",
    "record_for_attempt",
    "record_for_entity",
]

# A key naming one of these is refused, wherever it is nested: a detail says *that* a password
# changed (``fields=["password"]``), never what it is.
SECRET_KEY_PATTERN = re.compile(
    r"pass(word|wd|phrase)?|pwd|token|secret|credential|private|api[_-]?key|signature",
    re.IGNORECASE,
)


def actor_or_none(user: Any) -> Any:
    """The user an event or a row names as who did it: ``None`` for the system, an anonymous
    visitor (a hand-off link) or no one."""
    if user is None or not user.is_authenticated:
        return None
    return user


class SecretInAuditDetail(ValueError):
    """An audit detail looked like it carried a secret; nothing was recorded."""


def record(
    actor: Any,
    action: str,
    *,
    organization: Organization,
    legal_entity: LegalEntity | None = None,
    **detail: Any,
) -> AuditEvent:
    """Write one AuditEvent by ``actor`` (a user; anonymous or ``None`` for the system).
    ``action`` is a dotted verb (``"attempt.started"``); ``detail``
    holds JSON-able facts. Raises :class:`SecretInAuditDetail` if a key looks secret or a value
    is a :class:`~connections.crypto.Secret`."""
    _refuse_secrets(detail, path="detail")
    return AuditEvent.objects.create(
        actor=actor_or_none(actor),
        organization=organization,
        legal_entity=legal_entity,
        action=action,
        detail=detail,
    )


def record_for_entity(
    actor: Any, action: str, legal_entity: LegalEntity, **detail: Any
) -> AuditEvent:
    """:func:`record` an event of ``legal_entity`` (and so of its organization)."""
    return record(
        actor, action, organization=legal_entity.organization, legal_entity=legal_entity, **detail
    )


def record_for_attempt(
    actor: Any, action: str, attempt: ConnectionAttempt, **detail: Any
) -> AuditEvent:
    """:func:`record` an event of a connection attempt: its legal entity's, naming the attempt."""
    return record_for_entity(
        actor, action, attempt.legal_entity, attempt=attempt.public_id, **detail
    )


def _refuse_secrets(value: Any, *, path: str) -> None:
    if isinstance(value, Secret):
        raise SecretInAuditDetail(f"{path} is a secret; audit details never hold secrets.")
    if isinstance(value, Mapping):
        for key, item in value.items():
            if SECRET_KEY_PATTERN.search(str(key)):
                raise SecretInAuditDetail(
                    f"{path}.{key} looks like a secret; audit details never hold secrets."
                )
            _refuse_secrets(item, path=f"{path}.{key}")
    elif isinstance(value, list | tuple | set | frozenset):
        for index, item in enumerate(value):
            _refuse_secrets(item, path=f"{path}[{index}]")
