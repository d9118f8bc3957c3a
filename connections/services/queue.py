"""Queueing work for the Celery workers, the one way every service does it.

Services never import :mod:`connections.tasks` (the tasks import the services): they name the task
and :func:`enqueue_on_commit` finds it in the Celery app's registry when the transaction that wrote
the row commits. When the broker is down the row's own ``on_broker_down`` settles it (a run ends
with a "try again" message) instead of failing the request that asked for the work.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import partial

from celery import current_app
from django.db import transaction
from kombu.exceptions import OperationalError

__all__ = ["enqueue_on_commit"]

logger = logging.getLogger(__name__)


def enqueue_on_commit(
    task_name: str, row_id: int, *, row: str, on_broker_down: Callable[[int], None]
) -> None:
    """Send ``task_name(row_id)`` once the current transaction commits (at once outside one);
    call ``on_broker_down(row_id)`` if the broker cannot take it (``row`` names the row in the
    log, e.g. ``"sync run"``). Ids only: the worker reads everything else, secrets included, from
    the database."""
    transaction.on_commit(partial(_send, task_name, row_id, row, on_broker_down))


def _send(task_name: str, row_id: int, row: str, on_broker_down: Callable[[int], None]) -> None:
    try:
        current_app.tasks[task_name].delay(row_id)
    except OperationalError:
        logger.exception("could not queue %s %s (%s)", row, row_id, task_name)
        on_broker_down(row_id)
