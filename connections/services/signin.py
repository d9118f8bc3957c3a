"""How we sign in to the customer's Intacct company: our sender credentials from the settings, the
attempt's web services user with its password decrypted here and nowhere else, and the guide's
names as this deployment configures them.

Verification, the entity picker and SmartSync all get their client from :func:`client_for`.
"""

from __future__ import annotations

import math
from datetime import datetime, timedelta
from functools import lru_cache
from typing import Any

from django.conf import settings
from django.utils import timezone

from connections import audit
from connections.models import ApiSyncProfile, AuditEvent, ConnectionAttempt
from intacct import (
    PROCESS_LIMITER,
    CompanyLimiter,
    Credentials,
    GuideNames,
    IntacctClient,
    RedisLimiter,
)

__all__ = [
    "DEFAULT_CONCURRENT_REQUESTS",
    "MAX_RETRIES",
    "SIGN_IN_PAUSE",
    "SIGN_IN_REFUSALS",
    "TIMEOUT_SECONDS",
    "client_for",
    "company_limiter",
    "guide_names",
    "record_sign_in_refused",
    "sign_in_paused",
]

#: Intacct's default: two concurrent requests per company.
DEFAULT_CONCURRENT_REQUESTS = 2
#: A request slot outlives a worker that died holding it by at most this long (seconds); a live
#: worker renews its slots while their requests run.
SLOT_LEASE_SECONDS = 15.0

#: Intacct locks a user who keeps failing to sign in (its threshold is the company's setting,
#: unverified here). After this many refused sign-ins of one legal entity's Intacct user within
#: :data:`SIGN_IN_PAUSE`, whoever asks (the entity picker, a verification, a sync), we stop
#: asking Intacct for that user until the oldest refusal is that old, so that we do not add to
#: its failures: a mistyped password, a scheduled sync after a password change, or someone
#: trying passwords through the picker.
SIGN_IN_REFUSALS = 5
SIGN_IN_PAUSE = timedelta(minutes=15)
SIGN_IN_REFUSED = "intacct.sign_in_refused"

#: An interactive check: a person is waiting for the answer.
TIMEOUT_SECONDS = 30.0
MAX_RETRIES = 2


def client_for(
    attempt: ConnectionAttempt,
    *,
    entity_id: str | bool | None = True,
    timeout: float | None = None,
    max_retries: int | None = None,
) -> IntacctClient:
    """A client signed in as the attempt's web services user with our sender credentials.
    ``timeout`` and ``max_retries`` default to an interactive check's (a person is waiting).

    ``entity_id``: ``True`` uses the attempt's entity (top level when it has none); ``False`` or
    ``None`` signs in at top level; a string signs in to that entity. Raises
    :class:`intacct.errors.EndpointError` when the attempt's endpoint is not one we may send
    credentials to.
    """
    entity = attempt.entity_id if entity_id is True else (entity_id or "")
    credentials = Credentials(
        sender_id=settings.INTACCT_SENDER_ID,
        sender_password=settings.INTACCT_SENDER_PASSWORD,
        company_id=attempt.company_id.strip(),
        user_id=attempt.user_id.strip(),
        user_password=attempt.password.reveal(),
        entity_id=entity.strip() or None,
    )
    limit = (
        ApiSyncProfile.objects.filter(legal_entity_id=attempt.legal_entity_id)
        .values_list("max_concurrent_requests", flat=True)
        .first()
    )
    return IntacctClient(
        credentials,
        endpoint=attempt.endpoint,
        allowed_hosts=settings.INTACCT_ALLOWED_ENDPOINT_HOSTS,
        timeout=TIMEOUT_SECONDS if timeout is None else timeout,
        max_retries=MAX_RETRIES if max_retries is None else max_retries,
        max_concurrency=limit or DEFAULT_CONCURRENT_REQUESTS,
        limiter=company_limiter(),
    )


def company_limiter() -> CompanyLimiter:
    """Where the companies' request slots are held: in Redis when ``REDIS_URL`` is set (every
    worker process and machine shares them), else in this process."""
    url = settings.REDIS_URL
    return _redis_limiter(url) if url else PROCESS_LIMITER


@lru_cache(maxsize=4)
def _redis_limiter(url: str) -> RedisLimiter:
    return RedisLimiter.from_url(url, lease=SLOT_LEASE_SECONDS)


def guide_names() -> GuideNames:
    """The guide's names as this deployment configures them (``settings.INTACCT_GUIDE``)."""
    guide = settings.INTACCT_GUIDE
    return GuideNames(
        product=guide["PRODUCT_NAME"],
        ws_user_id=guide["WS_USER_ID"],
        role_name=guide["ROLE_NAME"],
        sender_id=guide["SENDER_ID"],
        custom_field_label=guide["CUSTOM_FIELD_LABEL"],
        custom_field_id=guide["CUSTOM_FIELD_ID"],
        custom_field_description=guide["CUSTOM_FIELD_DESCRIPTION"],
    )


def record_sign_in_refused(attempt: ConnectionAttempt, *, actor: Any, during: str) -> None:
    """Intacct refused the sign-in of ``attempt``'s company and user (saved or only typed): an
    audit event of its legal entity, where the count lives. The password is never recorded."""
    audit.record_for_entity(
        actor,
        SIGN_IN_REFUSED,
        attempt.legal_entity,
        during=during,
        company_id=attempt.company_id,
        user_id=attempt.user_id,
    )


def sign_in_paused(attempt: ConnectionAttempt, *, now: datetime | None = None) -> str:
    """Why we must not ask Intacct to sign in ``attempt``'s company and user now, or ``""``.

    Counted per legal entity and Intacct user (company ID and user ID, in any case), as Intacct
    locks users: refusals of another user ID typed in the picker do not pause this one."""
    now = now or timezone.now()
    refused = list(
        AuditEvent.objects.filter(
            legal_entity_id=attempt.legal_entity_id,
            action=SIGN_IN_REFUSED,
            at__gt=now - SIGN_IN_PAUSE,
            detail__company_id__iexact=attempt.company_id,
            detail__user_id__iexact=attempt.user_id,
        )
        .order_by("-at")
        .values_list("at", flat=True)[:SIGN_IN_REFUSALS]
    )
    if len(refused) < SIGN_IN_REFUSALS:
        return ""
    minutes = max(1, math.ceil((refused[-1] + SIGN_IN_PAUSE - now).total_seconds() / 60))
    return (
        f"Intacct refused the sign-in of user {attempt.user_id} {SIGN_IN_REFUSALS} times within "
        f"{SIGN_IN_PAUSE.seconds // 60} minutes, and Intacct locks a user who keeps failing, so "
        f"we will not ask it again for {minutes} minute{'s' if minutes != 1 else ''}. "
        "Meanwhile check the company ID, the Web Services user ID and its password (in Intacct: "
        "Company → Admin → Web Services users)."
    )
