"""Refused sign-ins pause further ones: Intacct locks a web services user who keeps failing to
sign in, so after ``SIGN_IN_REFUSALS`` refusals of one legal entity within ``SIGN_IN_PAUSE``,
whoever asks (the entity picker with typed credentials, a verification, a sync), we stop asking
Intacct and say for how long. Neither a mistyped password nor someone trying passwords through
the picker can lock the customer's user."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.test import Client
from django.urls import reverse

from connections.models import ApiSyncProfile, AuditEvent, SyncRun, VerificationRun
from connections.services.signin import (
    SIGN_IN_PAUSE,
    SIGN_IN_REFUSALS,
    SIGN_IN_REFUSED,
    record_sign_in_refused,
    sign_in_paused,
)
from connections.services.smartsync import perform_sync, start_sync
from connections.services.verification import run_verification, start_verification
from intacct.sandbox import SANDBOX_USER_ID
from intacct.sandbox.world import Sandbox
from tests.factories import ConnectionAttemptFactory

pytestmark = pytest.mark.django_db

HX = {"HX-Request": "true"}
COMPANY = "healthy-top"
PAUSED = "and Intacct locks a user who keeps failing, so we will not ask it again for"


def _typed(password: str) -> dict[str, str]:
    return {
        "integration_type": "top_level",
        "company_id": COMPANY,
        "entity_id": "",
        "user_id": SANDBOX_USER_ID,
        "password": password,
    }


def _rewind(minutes: float) -> None:
    for event in AuditEvent.objects.filter(action=SIGN_IN_REFUSED):
        event.at -= timedelta(minutes=minutes)
        event.save(update_fields=["at"])


@pytest.fixture
def picker(system_admin, make_attempt) -> tuple[Any, Client, str]:
    """The saved attempt, the System Administrator's browser, and the picker's URL."""
    attempt = make_attempt(COMPANY)
    web = Client()
    web.force_login(system_admin)
    return (
        attempt,
        web,
        reverse("connections:intacct_entities", args=[attempt.legal_entity.public_id]),
    )


def test_passwords_tried_through_the_picker_stop_reaching_intacct(
    picker, system_admin, sandbox: Sandbox
):
    _, web, url = picker
    company = sandbox.company(COMPANY)

    for number in range(SIGN_IN_REFUSALS):
        page = web.post(url, _typed(f"guess-{number}"), headers=HX).content.decode()
        assert "Intacct refused the sign-in" in page
    asked = company.request_count
    blocked = web.post(url, _typed("guess-again"), headers=HX).content.decode()

    assert PAUSED in blocked
    assert "ask it again for 15 minutes" in blocked
    assert company.request_count == asked, "the paused sign-in reached Intacct"
    events = AuditEvent.objects.filter(action=SIGN_IN_REFUSED)
    assert events.count() == SIGN_IN_REFUSALS
    assert {e.detail["during"] for e in events} == {"entity_list"}
    assert {e.actor_id for e in events} == {system_admin.pk}
    # Once the oldest refusal is SIGN_IN_PAUSE old, Intacct is asked again.
    _rewind(SIGN_IN_PAUSE.total_seconds() / 60)
    again = web.post(url, _typed("guess-after"), headers=HX).content.decode()
    assert PAUSED not in again
    assert company.request_count > asked


def test_the_pause_says_how_long_is_left_and_is_the_users_alone():
    attempt = ConnectionAttemptFactory(company_id="acme", user_id="Beanworks")
    for _ in range(SIGN_IN_REFUSALS):
        record_sign_in_refused(attempt, actor=None, during="verification")
    _rewind(10)

    message = sign_in_paused(attempt)

    assert "we will not ask it again for 5 minutes" in message
    assert "user Beanworks" in message
    # Intacct IDs in another case are the same user; another user, company or entity is not.
    same = ConnectionAttemptFactory.build(
        legal_entity=attempt.legal_entity, company_id="ACME", user_id="beanworks"
    )
    assert "we will not ask it again for 5 minutes" in sign_in_paused(same)
    for other in (
        {"company_id": "acme", "user_id": "Someone"},
        {"company_id": "acme-sandbox", "user_id": "Beanworks"},
    ):
        typed = ConnectionAttemptFactory.build(legal_entity=attempt.legal_entity, **other)
        assert sign_in_paused(typed) == "", other
    assert sign_in_paused(ConnectionAttemptFactory(company_id="acme", user_id="Beanworks")) == ""


def test_passwords_tried_for_another_user_do_not_pause_the_saved_one(picker):
    attempt, web, url = picker
    for number in range(SIGN_IN_REFUSALS):
        web.post(url, {**_typed(f"guess-{number}"), "user_id": "Someone"}, headers=HX)

    assert sign_in_paused(attempt) == ""
    saved = web.get(url, headers=HX).content.decode()
    assert PAUSED not in saved
    assert 'id="entity-picker"' in saved


def test_a_verification_refused_counts_and_one_paused_asks_nothing(make_attempt, sandbox: Sandbox):
    attempt = make_attempt(COMPANY, password="not-the-password")
    company = sandbox.company(COMPANY)

    for _ in range(SIGN_IN_REFUSALS):
        run = run_verification(start_verification(attempt).pk)
        assert run is not None
        assert run.state == VerificationRun.State.FAILED
    asked = company.request_count
    paused = run_verification(start_verification(attempt).pk)

    assert paused is not None
    assert paused.state == VerificationRun.State.ERROR
    assert PAUSED in paused.error
    assert company.request_count == asked
    assert set(
        AuditEvent.objects.filter(action=SIGN_IN_REFUSED).values_list("detail__during", flat=True)
    ) == {"verification"}


def test_a_sync_refused_counts_and_one_paused_asks_nothing(make_attempt, sandbox: Sandbox):
    attempt = make_attempt(COMPANY, password="changed-in-intacct")
    ApiSyncProfile.objects.create(legal_entity=attempt.legal_entity, object_names=["CLASS"])
    company = sandbox.company(COMPANY)

    def sync() -> SyncRun:
        run, _ = start_sync(
            attempt.legal_entity, kind="full", trigger=SyncRun.Trigger.SCHEDULE, enqueue=False
        )
        finished = perform_sync(run.pk)
        assert finished is not None
        return finished

    for _ in range(SIGN_IN_REFUSALS):
        assert sync().state == SyncRun.State.FAILED
    asked = company.request_count
    paused = sync()

    assert paused.state == SyncRun.State.FAILED
    assert PAUSED in paused.error
    assert company.request_count == asked


@pytest.mark.parametrize("lockout_after", [3, 6])
def test_at_most_the_pauses_count_of_failures_reaches_a_company_that_locks_users(
    picker, sandbox: Sandbox, lockout_after
):
    """Real companies lock a user after their own number of failures (the sandbox can be told
    one). Someone who keeps trying passwords in the picker reaches Intacct only
    ``SIGN_IN_REFUSALS`` times: a company that locks later keeps its user, and the saved right
    password signs in once the pause is over; a company that locks sooner is out of our hands."""
    _, web, url = picker
    company = sandbox.company(COMPANY)
    company.lockout_after = lockout_after

    for number in range(SIGN_IN_REFUSALS + 5):
        web.post(url, _typed(f"guess-{number}"), headers=HX)

    assert company.failed_sign_ins == SIGN_IN_REFUSALS
    assert company.user_locked is (lockout_after <= SIGN_IN_REFUSALS)
    _rewind(SIGN_IN_PAUSE.total_seconds() / 60)
    saved = web.get(url, headers=HX).content.decode()
    if lockout_after > SIGN_IN_REFUSALS:
        assert "Intacct refused the sign-in" not in saved
        assert company.failed_sign_ins == 0
    else:
        assert "Intacct refused the sign-in" in saved  # locked: even the right password
