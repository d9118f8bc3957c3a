"""Celery tasks: thin wrappers over services, taking ids only."""

from __future__ import annotations

import logging

from celery import shared_task

logger = logging.getLogger(__name__)


@shared_task  # type: ignore[untyped-decorator]  # celery ships no type hints
def ping() -> str:
    """Prove that a worker takes tasks from the broker."""
    logger.info("pong")
    return "pong"
