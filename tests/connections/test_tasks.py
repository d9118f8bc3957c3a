"""The Celery tasks: thin, late-acknowledged, given ids only, quiet when their row is gone."""

from __future__ import annotations

import inspect
import json
import typing
from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from config.celery import app as celery_app
from connections.models import VerificationRun
from connections.services.verification import RETRY_MESSAGE, start_verification
from connections.tasks import expire_stale_verifications, ping, verify_connection
from intacct.sandbox import SANDBOX_SENDER_PASSWORD, SANDBOX_USER_PASSWORD

pytestmark = pytest.mark.django_db


def drain_queue() -> list[dict[str, typing.Any]]:
    """Every task message waiting in the in-memory broker's default queue (the queue is
    emptied)."""
    messages = []
    with celery_app.connection_for_read() as conn:
        queue = conn.SimpleQueue(celery_app.conf.task_default_queue, no_ack=True)
        try:
            while True:
                try:
                    message = queue.get(block=False)
                except queue.Empty:
                    break
                messages.append(
                    {"headers": message.headers, "body": message.body, "decoded": message.decode()}
                )
        finally:
            queue.close()
    return messages


def test_ping_answers_pong():
    assert ping() == "pong"


def test_verify_connection_takes_one_int_and_acks_late():
    parameters = inspect.signature(verify_connection.run).parameters
    hints = typing.get_type_hints(verify_connection.run)

    assert list(parameters) == ["run_id"]
    assert hints["run_id"] is int
    assert verify_connection.acks_late is True
    assert verify_connection.ignore_result is True
    assert verify_connection.soft_time_limit < verify_connection.time_limit


@pytest.mark.django_db(transaction=True)
def test_start_verification_enqueues_the_run_id_only_once_committed(make_attempt):
    attempt = make_attempt("healthy-top")
    drain_queue()

    with transaction.atomic():
        run = start_verification(attempt)
        assert drain_queue() == [], "nothing is enqueued before the commit"

    messages = drain_queue()
    assert len(messages) == 1
    message = messages[0]
    assert message["headers"]["task"] == "connections.tasks.verify_connection"
    args, kwargs, _ = message["decoded"]
    assert args == [run.pk]
    assert kwargs == {}
    raw = json.dumps(message["headers"], default=str) + str(message["body"])
    for secret in (SANDBOX_USER_PASSWORD, SANDBOX_SENDER_PASSWORD):
        assert secret not in raw


@pytest.mark.django_db(transaction=True)
def test_a_second_start_enqueues_nothing(make_attempt):
    attempt = make_attempt("healthy-top")
    drain_queue()

    first = start_verification(attempt)
    second = start_verification(attempt)

    assert second.pk == first.pk
    assert len(drain_queue()) == 1


@pytest.mark.django_db(transaction=True)
def test_a_rolled_back_start_enqueues_nothing(make_attempt):
    attempt = make_attempt("healthy-top")
    drain_queue()

    with transaction.atomic():
        start_verification(attempt)
        transaction.set_rollback(True)

    assert drain_queue() == []
    assert not VerificationRun.objects.exists()


def test_verify_connection_runs_the_verification_by_id(make_attempt):
    run = start_verification(make_attempt("healthy-top"))

    assert verify_connection(run.pk) is None

    run.refresh_from_db()
    assert run.state == VerificationRun.State.PASSED
    assert run.results.exists()


def test_verify_connection_as_a_worker_runs_it(make_attempt):
    run = start_verification(make_attempt("missing-permissions"))

    result = verify_connection.apply(args=[run.pk])

    assert result.successful()
    run.refresh_from_db()
    assert run.state == VerificationRun.State.FAILED


def test_verify_connection_is_quiet_when_the_run_is_gone(make_attempt):
    run = start_verification(make_attempt("healthy-top"))
    run_id = run.pk
    run.delete()

    assert verify_connection.apply(args=[run_id]).successful()
    assert verify_connection.apply(args=[10**9]).successful()


def test_verify_connection_never_raises_when_intacct_is_unreachable(
    make_attempt, closed_port_endpoint
):
    run = start_verification(make_attempt("healthy-top", endpoint=closed_port_endpoint))

    assert verify_connection.apply(args=[run.pk]).successful()

    run.refresh_from_db()
    assert run.state == VerificationRun.State.ERROR
    assert run.error == RETRY_MESSAGE


def test_a_redelivered_task_does_not_run_the_verification_twice(make_attempt):
    run = start_verification(make_attempt("healthy-top"))
    verify_connection(run.pk)
    results = run.results.count()

    verify_connection(run.pk)

    assert run.results.count() == results


def test_expire_stale_verifications_finishes_dead_runs(make_attempt):
    run = start_verification(make_attempt("healthy-top"))
    VerificationRun.objects.filter(pk=run.pk).update(created_at=timezone.now() - timedelta(hours=2))

    assert expire_stale_verifications() == 1

    run.refresh_from_db()
    assert run.state == VerificationRun.State.ERROR
