"""How we sign in to the customer's Intacct company: our sender credentials from the settings, the
attempt's web services user with its password decrypted here and nowhere else, and the guide's
names as this deployment configures them.

Verification, the entity picker and SmartSync all get their client from :func:`client_for`.
"""

from __future__ import annotations

from functools import lru_cache

from django.conf import settings

from connections.models import ApiSyncProfile, ConnectionAttempt
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
    "TIMEOUT_SECONDS",
    "client_for",
    "company_limiter",
    "guide_names",
]

#: Intacct's default: two concurrent requests per company.
DEFAULT_CONCURRENT_REQUESTS = 2
#: A request slot outlives a worker that died holding it by at most this long (seconds); a live
#: worker renews its slots while their requests run.
SLOT_LEASE_SECONDS = 15.0

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
