"""The scheduler re-verifies connected legal entities daily, and due Sync Schedules start syncs."""

from __future__ import annotations

import pytest

from connections.models import ConnectionAttempt, VerificationRun
from connections.tasks import reverify_connections
from tests.connections.test_tasks import drain_queue
from tests.factories import ConnectionAttemptFactory

pytestmark = pytest.mark.django_db(transaction=True)


def test_reverify_starts_one_scheduled_run_per_checked_connection() -> None:
    drain_queue()
    verified = ConnectionAttemptFactory(state=ConnectionAttempt.State.VERIFIED)
    failed = ConnectionAttemptFactory(state=ConnectionAttempt.State.FAILED)
    ConnectionAttemptFactory(state=ConnectionAttempt.State.DRAFT)

    assert reverify_connections() == 2

    runs = VerificationRun.objects.all()
    assert {r.attempt_id for r in runs} == {verified.pk, failed.pk}
    assert {r.trigger for r in runs} == {VerificationRun.Trigger.SCHEDULE}
    queued = sorted(m["decoded"][0][0] for m in drain_queue())
    assert queued == sorted(r.pk for r in runs)


def test_reverify_leaves_a_running_check_alone() -> None:
    drain_queue()
    ConnectionAttemptFactory(state=ConnectionAttempt.State.VERIFIED)
    assert reverify_connections() == 1
    assert reverify_connections() == 0  # the first run is still queued
    assert VerificationRun.objects.count() == 1
    drain_queue()
