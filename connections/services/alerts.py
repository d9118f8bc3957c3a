"""Alerts for us, not for the customer: Intacct refused our own Web Services sender credentials.

Nothing the customer does fixes that, so their page says we have been alerted, and this is the
alert: an error in our logs and an audit event on the legal entity.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings

from connections import audit
from connections.models import ConnectionAttempt

__all__ = ["sender_credentials_refused"]

logger = logging.getLogger(__name__)


def sender_credentials_refused(
    attempt: ConnectionAttempt, *, errorno: str | None, during: str, **detail: Any
) -> None:
    """Record that Intacct refused our sender credentials while ``during`` (``"verification"``,
    ``"entity_list"``) for ``attempt``; ``detail`` adds ids (e.g. ``run``) to the audit event."""
    legal_entity = attempt.legal_entity
    logger.error(
        "Intacct refused our Web Services sender ID %s (errorno %s) during %s for legal entity "
        "%s: check INTACCT_SENDER_ID and INTACCT_SENDER_PASSWORD",
        settings.INTACCT_SENDER_ID,
        errorno or "none",
        during,
        legal_entity.public_id,
    )
    audit.record_for_attempt(
        None,
        "verification.sender_config_failed",
        attempt,
        sender_id=settings.INTACCT_SENDER_ID,
        errorno=errorno,
        during=during,
        **detail,
    )
