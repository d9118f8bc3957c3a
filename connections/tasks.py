"""Celery tasks: thin wrappers over services, taking ids only.

The services queue these by name (:func:`connections.services.queue.enqueue_on_commit`) and never
import this module, which imports them.
"""

from __future__ import annotations

import logging
from typing import Any

from celery import shared_task
from celery.exceptions import MaxRetriesExceededError

from connections.services import health, schedules, smartsync
from connections.services.verification import (
    expire_stale_runs,
    reverify_connected,
    run_verification,
)

logger = logging.getLogger(__name__)

# A verification makes at most a few gateway requests of 30 s each, with two retries.
VERIFY_SOFT_TIME_LIMIT = 5 * 60
VERIFY_TIME_LIMIT = 6 * 60


@shared_task  # type: ignore[untyped-decorator]  # celery ships no type hints
def ping() -> str:
    """Prove that a worker takes tasks from the broker."""
    logger.info("pong")
    return "pong"


@shared_task(  # type: ignore[untyped-decorator]
    acks_late=True,
    ignore_result=True,
    soft_time_limit=VERIFY_SOFT_TIME_LIMIT,
    time_limit=VERIFY_TIME_LIMIT,
)
def verify_connection(run_id: int) -> None:
    """Verify the queued VerificationRun ``run_id``; nothing to do if it is gone or claimed."""
    run_verification(run_id)


@shared_task(acks_late=True, ignore_result=True)  # type: ignore[untyped-decorator]
def expire_stale_verifications() -> int:
    """Finish as ``error`` the verifications whose worker was lost."""
    return expire_stale_runs()


# A sync pages through every object of a profile; a large company takes minutes, not hours.
SYNC_SOFT_TIME_LIMIT = 55 * 60
SYNC_TIME_LIMIT = 60 * 60


@shared_task(  # type: ignore[untyped-decorator]
    bind=True,
    acks_late=True,
    ignore_result=True,
    soft_time_limit=SYNC_SOFT_TIME_LIMIT,
    time_limit=SYNC_TIME_LIMIT,
    max_retries=3,
)
def run_sync(self: Any, sync_run_id: int) -> None:
    """Run the SyncRun ``sync_run_id``; nothing to do if it is finished or gone.

    When the run is still running elsewhere, this is a second delivery of the task: its worker
    was lost (the message came back), or it is alive and busy. Look again once a lost worker's
    run would have gone silent for :data:`~connections.services.smartsync.STALL_AFTER`, and take
    it over then.
    """
    if smartsync.perform_sync(sync_run_id) is None and smartsync.is_running(sync_run_id):
        try:
            raise self.retry(countdown=smartsync.STALL_AFTER.total_seconds() + 60)
        except MaxRetriesExceededError:
            # Still alive after three looks: its own worker has it (expiry covers the rest).
            logger.info("sync run %s is still running elsewhere", sync_run_id)


@shared_task(acks_late=True, ignore_result=True)  # type: ignore[untyped-decorator]
def expire_stale_syncs() -> int:
    """Finish as ``failed`` the syncs whose worker was lost, so the entity can sync again."""
    return smartsync.expire_stale_syncs()


@shared_task(acks_late=True, ignore_result=True)  # type: ignore[untyped-decorator]
def queue_scheduled_sync(legal_entity_id: int, kind: str) -> None:
    """A Sync Schedule came due: start its sync unless one is running or the schedule is off."""
    schedules.queue_scheduled_sync(legal_entity_id, kind)


@shared_task(acks_late=True, ignore_result=True)  # type: ignore[untyped-decorator]
def reverify_connections() -> int:
    """Verify every connected legal entity again, so a permission removed in Intacct shows up
    before syncs start failing. Returns how many verifications were started."""
    return reverify_connected()


@shared_task(acks_late=True, ignore_result=True)  # type: ignore[untyped-decorator]
def flag_stuck_connections() -> int:
    """Raise (or clear) the *stuck* alerts that only the passing of time changes."""
    return health.refresh_stuck()
