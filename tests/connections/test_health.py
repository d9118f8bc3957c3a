"""ConnectionHealth: each console flag's rule at its boundary, the step visits behind the funnel,
and the alerts (one per condition until it clears, audited, e-mailed)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.core import mail
from django.utils import timezone

from connections.models import (
    CUSTOMER_SUCCESS_GROUP,
    Alert,
    AuditEvent,
    CheckResult,
    ConnectionAttempt,
    ConnectionHealth,
    Step,
    StepVisit,
    SyncRun,
    VerificationRun,
)
from connections.services import attempts
from connections.services.api_sync import change_api_sync_profile, create_api_sync_profile
from connections.services.health import refresh_health, refresh_stuck
from tests.factories import (
    CheckResultFactory,
    ConnectionAttemptFactory,
    SyncRunFactory,
    SyncRunObjectFactory,
    UserFactory,
    VerificationRunFactory,
)

pytestmark = pytest.mark.django_db

P, F, E = VerificationRun.State.PASSED, VerificationRun.State.FAILED, VerificationRun.State.ERROR


def _attempt(legal_entity, state=ConnectionAttempt.State.VERIFIED):
    return ConnectionAttemptFactory(legal_entity=legal_entity, state=state)


def _verifications(attempt, *states):
    """Finished runs, oldest first; a failed one fails the role permissions step (BL01001973)."""
    for state in states:
        run = VerificationRunFactory(attempt=attempt, state=state)
        if state == F:
            CheckResultFactory(
                run=run,
                key="role_permissions",
                outcome=CheckResult.Outcome.FAILED,
                errorno="BL01001973",
                remedy_step=Step.ROLE_PERMISSIONS,
            )


def _syncs(legal_entity, *states, trigger=SyncRun.Trigger.MANUAL):
    for state in states:
        SyncRunFactory(legal_entity=legal_entity, state=state, trigger=trigger)


@pytest.mark.parametrize(
    ("runs", "failing"),
    [((), False), ((P,), False), ((F,), True), ((E,), True), ((F, P), False), ((P, F), True)],
)
def test_verification_failing_is_the_last_finished_run(legal_entity, runs, failing):
    _verifications(_attempt(legal_entity), *runs)
    health = refresh_health(legal_entity.pk)
    assert health.verification_failing is failing


def test_a_failing_verification_names_its_step_and_error_number(legal_entity):
    _verifications(_attempt(legal_entity), P, F)
    health = refresh_health(legal_entity.pk)
    assert (health.failing_step, health.failing_errorno) == (Step.ROLE_PERMISSIONS, "BL01001973")


@pytest.mark.parametrize(
    ("runs", "drift"),
    [
        ((F,), False),  # never passed: not drift, just not connected yet
        ((P, F), True),
        ((P, F, F), True),
        ((P, F, P), False),  # fixed
        ((P, E), False),  # an error is no verdict
        ((P, F, E), True),
    ],
)
def test_permission_drift_is_a_failure_after_a_pass(legal_entity, runs, drift):
    _verifications(_attempt(legal_entity), *runs)
    assert refresh_health(legal_entity.pk).permission_drift is drift


def test_drift_follows_the_current_attempt_only(legal_entity):
    old = ConnectionAttemptFactory(
        legal_entity=legal_entity, state=ConnectionAttempt.State.SUPERSEDED, is_current=False
    )
    _verifications(old, P)
    _verifications(_attempt(legal_entity, ConnectionAttempt.State.FAILED), F)
    assert refresh_health(legal_entity.pk).permission_drift is False


S, X, PP = SyncRun.State.SUCCEEDED, SyncRun.State.FAILED, SyncRun.State.PARTIAL


@pytest.mark.parametrize(
    ("runs", "failing"),
    [
        ((X,), False),
        ((X, X), True),
        ((PP, X), True),
        ((X, PP), True),
        ((X, S), False),  # newest succeeded
        ((S, X), False),  # only the newest failed
        ((X, X, S), False),
    ],
)
def test_sync_failing_is_the_last_two_finished_runs(legal_entity, runs, failing):
    _syncs(legal_entity, *runs)
    SyncRunFactory(legal_entity=legal_entity, state=SyncRun.State.QUEUED)  # not finished
    assert refresh_health(legal_entity.pk).sync_failing is failing


def test_last_sync_figures(legal_entity):
    run = SyncRunFactory(legal_entity=legal_entity, transactions=4)
    SyncRunObjectFactory(run=run, object_name="VENDOR", fetched=120, transactions=3)
    SyncRunObjectFactory(run=run, object_name="GLACCOUNT", fetched=30, transactions=1)
    health = refresh_health(legal_entity.pk)
    assert (health.last_sync, health.last_sync_records, health.last_sync_transactions) == (
        run,
        150,
        4,
    )


def test_waiting_for_profile(legal_entity):
    assert refresh_health(legal_entity.pk).waiting_for_profile is False  # no attempt
    attempt = _attempt(legal_entity, ConnectionAttempt.State.FAILED)
    assert refresh_health(legal_entity.pk).waiting_for_profile is False
    ConnectionAttempt.objects.filter(pk=attempt.pk).update(state=ConnectionAttempt.State.VERIFIED)
    health = refresh_health(legal_entity.pk)
    assert health.waiting_for_profile is True
    assert health.waiting_since is not None
    profile, _ = create_api_sync_profile(legal_entity, object_names=["VENDOR"])
    health.refresh_from_db()
    assert (health.waiting_for_profile, health.waiting_since) == (False, None)
    change_api_sync_profile(profile, object_names=None, enabled=False)
    health.refresh_from_db()
    assert health.waiting_for_profile is True


def test_waiting_since_is_when_the_attempt_first_passed(legal_entity):
    attempt = _attempt(legal_entity)
    _verifications(attempt, P, P)
    first = attempt.runs.order_by("created_at", "pk").first()
    assert refresh_health(legal_entity.pk).waiting_since == first.finished_at


def test_the_services_keep_health_current(legal_entity, system_admin):
    attempt = attempts.start_attempt(legal_entity, actor=system_admin)
    health = ConnectionHealth.objects.get(legal_entity=legal_entity)
    assert (health.connection_state, health.current_step) == ("draft", Step.PRE_CONNECTION)
    attempts.acknowledge_step(attempt, Step.PRE_CONNECTION, actor=system_admin)
    health.refresh_from_db()
    assert (health.current_step, health.steps_done) == (Step.WS_SUBSCRIPTION, 1)


def test_step_visits_record_each_stretch(legal_entity, system_admin):
    attempt = attempts.start_attempt(legal_entity, actor=system_admin)
    attempts.acknowledge_step(attempt, Step.PRE_CONNECTION, actor=system_admin)
    attempts.acknowledge_step(attempt, Step.WS_SUBSCRIPTION, actor=system_admin)
    visits = list(StepVisit.objects.filter(legal_entity=legal_entity).order_by("entered_at", "pk"))
    assert [(v.step, v.left_at is None) for v in visits] == [
        (Step.PRE_CONNECTION, False),
        (Step.WS_SUBSCRIPTION, False),
        (Step.WS_USER, True),
    ]
    # A refresh that changes nothing keeps the stretch (and its start) open.
    since = ConnectionHealth.objects.get(legal_entity=legal_entity).step_since
    assert refresh_health(legal_entity.pk).step_since == since


# --- Alerts -----------------------------------------------------------------------------------------


@pytest.fixture
def customer_success_user():
    user = UserFactory(username="cs", email="cs@example.com", is_staff=True)
    user.groups.add(Group.objects.get(name=CUSTOMER_SUCCESS_GROUP))
    return user


def _open(legal_entity):
    return list(
        Alert.objects.filter(legal_entity=legal_entity, cleared_at__isnull=True).values_list(
            "kind", flat=True
        )
    )


def test_drift_alert_once_until_cleared(
    legal_entity, system_admin, customer_success_user, django_capture_on_commit_callbacks
):
    attempt = _attempt(legal_entity)
    _verifications(attempt, P, F)
    with django_capture_on_commit_callbacks(execute=True):
        refresh_health(legal_entity.pk)
    assert _open(legal_entity) == [Alert.Kind.PERMISSION_DRIFT]
    alert = Alert.objects.get(legal_entity=legal_entity)
    assert alert.step == Step.ROLE_PERMISSIONS
    assert "BL01001973" in alert.message
    # One e-mail to the organization's admin (with the step's page), one to customer success.
    assert sorted(tuple(m.to) for m in mail.outbox) == [
        ("cs@example.com",),
        (system_admin.email,),
    ]
    customer = next(m for m in mail.outbox if m.to == [system_admin.email])
    assert f"/connect/{legal_entity.public_id}/role_permissions/" in customer.body

    # Still failing: no second alert, no second e-mail.
    _verifications(attempt, F)
    with django_capture_on_commit_callbacks(execute=True):
        refresh_health(legal_entity.pk)
    assert Alert.objects.filter(legal_entity=legal_entity).count() == 1
    assert len(mail.outbox) == 2

    # Fixed: cleared, and that is recorded.
    _verifications(attempt, P)
    refresh_health(legal_entity.pk)
    alert.refresh_from_db()
    assert alert.cleared_at is not None
    actions = list(
        AuditEvent.objects.filter(legal_entity=legal_entity, action__startswith="alert.")
        .order_by("at", "pk")
        .values_list("action", flat=True)
    )
    assert actions == ["alert.raised", "alert.cleared"]


def test_scheduled_sync_alert_after_two_scheduled_failures(legal_entity):
    from connections.services.schedules import save_schedule

    save_schedule(legal_entity, {"enabled": True}, None)  # defaults: every day, a real task
    _syncs(legal_entity, X, X)  # manual runs: flagged, not alerted
    health = refresh_health(legal_entity.pk)
    assert health.sync_failing is True
    assert _open(legal_entity) == []
    _syncs(legal_entity, X, trigger=SyncRun.Trigger.SCHEDULE)
    refresh_health(legal_entity.pk)
    assert _open(legal_entity) == []
    _syncs(legal_entity, PP, trigger=SyncRun.Trigger.SCHEDULE)
    refresh_health(legal_entity.pk)
    assert _open(legal_entity) == [Alert.Kind.SYNC_FAILING]
    _syncs(legal_entity, S, trigger=SyncRun.Trigger.SCHEDULE)
    refresh_health(legal_entity.pk)
    assert _open(legal_entity) == []


@pytest.mark.parametrize("ended_by", ["a manual sync that succeeds", "the schedule paused"])
def test_a_sync_failing_alert_clears_once_syncing_works_or_the_schedule_stops(
    legal_entity, ended_by
):
    from connections.services.schedules import save_schedule

    save_schedule(legal_entity, {"enabled": True}, None)  # defaults: every day, a real task
    _syncs(legal_entity, X, X, trigger=SyncRun.Trigger.SCHEDULE)
    refresh_health(legal_entity.pk)
    assert _open(legal_entity) == [Alert.Kind.SYNC_FAILING]
    if ended_by == "a manual sync that succeeds":
        _syncs(legal_entity, S)
    else:
        save_schedule(legal_entity, {"enabled": False}, None)
    refresh_health(legal_entity.pk)
    assert _open(legal_entity) == []


def test_stuck_at_its_boundary(legal_entity, settings):
    settings.CONSOLE_STUCK_AFTER_DAYS = 3
    attempts.start_attempt(legal_entity)
    since = ConnectionHealth.objects.get(legal_entity=legal_entity).step_since
    just_before = since + timedelta(days=3) - timedelta(seconds=1)
    just_after = since + timedelta(days=3, seconds=1)
    assert refresh_stuck(now=just_before) == 0
    assert _open(legal_entity) == []
    assert refresh_stuck(now=just_after) == 1
    assert _open(legal_entity) == [Alert.Kind.STUCK]
    alert = Alert.objects.get(legal_entity=legal_entity)
    assert (alert.step, "3 days" in alert.message) == (Step.PRE_CONNECTION, True)
    # Moving on clears it.
    attempt = ConnectionAttempt.objects.current().get(legal_entity=legal_entity)
    attempts.acknowledge_step(attempt, Step.PRE_CONNECTION)
    assert _open(legal_entity) == []


def test_an_entity_that_finished_every_step_is_never_stuck(legal_entity, settings):
    settings.CONSOLE_STUCK_AFTER_DAYS = 3
    attempt = attempts.start_attempt(legal_entity)
    attempt.steps.update(status="verified")
    refresh_health(legal_entity.pk)
    later = timezone.now() + timedelta(days=30)
    assert refresh_stuck(now=later) == 0
    assert ConnectionHealth.objects.get(legal_entity=legal_entity).current_step == ""
