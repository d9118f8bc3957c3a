"""Verification: prove a connection attempt live against Intacct and record what was proven.

A run goes ``queued → running → passed | failed | error``:

- :func:`start_verification` makes the queued run (one active run per attempt; the database's
  ``connections_verificationrun_one_active`` is the real guard) and enqueues
  :func:`connections.tasks.verify_connection` with the run's id once the row is committed.
- :func:`run_verification` claims the run, asks :func:`intacct.checks.verify`, and writes in one
  transaction a :class:`~connections.models.CheckResult` per step, permission row, custom field and
  entity, the wizard's :class:`~connections.models.StepState` rows, the attempt's state, the legal
  entity's health and an :class:`~connections.models.AuditEvent`.
- ``error`` means Intacct gave no verdict (unreachable, too slow, busy, or something unexpected):
  nothing proven before is touched and the customer is asked to try again.
- :func:`connections.selectors.reports.verification_report` reads a run's rows back.

The Intacct password leaves the database only inside
:func:`connections.services.signin.client_for`; it is never logged, audited, or passed to a task.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from connections import audit
from connections.models import (
    ApiSyncProfile,
    CheckResult,
    ConnectionAttempt,
    LegalEntity,
    Step,
    StepState,
    VerificationRun,
    check_label,
    step_for_intacct,
)
from connections.selectors.connections import active_run, last_checked_run
from connections.selectors.reports import SENDER_CONFIG_REASON
from connections.services import alerts, health
from connections.services.queue import enqueue_on_commit
from connections.services.signin import (
    client_for,
    guide_names,
    record_sign_in_refused,
    sign_in_paused,
)
from intacct import (
    FAILED,
    MISSING,
    PASSED,
    STEP_TRANSIENT,
    EndpointError,
    Report,
    list_object,
    verify,
)

__all__ = [
    "ENDPOINT_MESSAGE",
    "QUEUE_MESSAGE",
    "RETRY_MESSAGE",
    "STALE_AFTER",
    "STALE_MESSAGE",
    "create_run",
    "expire_stale_runs",
    "reverify_connected",
    "run_verification",
    "start_verification",
]

logger = logging.getLogger(__name__)

#: A run still queued or running after this long is dead (its worker was lost): see
#: :func:`expire_stale_runs`. Longer than the task's hard time limit.
STALE_AFTER = timedelta(minutes=10)

RETRY_MESSAGE = (
    "Intacct could not be reached or did not answer in time. Nothing was lost: "
    "please try again in a few minutes."
)
STALE_MESSAGE = (
    "The check did not finish: Intacct could not be reached in time. Nothing was lost: "
    "please try again."
)
ENDPOINT_MESSAGE = (
    "This connection's Intacct address is not one we send credentials to. This is ours to fix, "
    "not yours: we have been alerted."
)
#: The task that runs a queued verification (``connections.tasks``).
TASK_NAME = "connections.tasks.verify_connection"
#: The object the custom field check describes.
CUSTOM_FIELD_OBJECT = "APBILL"


class _RunTakenAway(Exception):
    """The run left ``running`` while Intacct was being asked (expired as stale)."""


# --- Starting a run --------------------------------------------------------------------------------


def create_run(
    attempt: ConnectionAttempt,
    *,
    user: Any = None,
    trigger: str = VerificationRun.Trigger.WIZARD,
) -> tuple[VerificationRun, bool]:
    """The attempt's active run and ``False`` if there is one; else a new queued run, the attempt
    marked verifying, and ``True``. Nothing is enqueued (see :func:`start_verification`)."""
    existing = active_run(attempt)
    if existing is not None:
        return existing, False
    requested_by = audit.actor_or_none(user)
    try:
        with transaction.atomic():
            run = VerificationRun.objects.create(
                attempt=attempt, trigger=trigger, requested_by=requested_by
            )
            ConnectionAttempt.objects.filter(pk=attempt.pk).exclude(
                state__in=ConnectionAttempt.FINISHED
            ).update(state=ConnectionAttempt.State.VERIFYING, updated_at=timezone.now())
            audit.record_for_attempt(
                user,
                "verification.started",
                attempt,
                run=run.public_id,
                trigger=trigger,
            )
            health.refresh_health(attempt.legal_entity_id)
    except IntegrityError:
        # connections_verificationrun_one_active: a concurrent request started one first.
        existing = active_run(attempt)
        if existing is None:
            raise
        return existing, False
    if attempt.state not in ConnectionAttempt.FINISHED:
        attempt.state = ConnectionAttempt.State.VERIFYING
    return run, True


def reverify_connected() -> int:
    """Start a scheduled verification for every current attempt that has been checked before
    (verified or failed); an attempt with a run already active keeps that run."""
    started = 0
    attempts = (
        ConnectionAttempt.objects.current()
        .filter(state__in=[ConnectionAttempt.State.VERIFIED, ConnectionAttempt.State.FAILED])
        .select_related("legal_entity__organization")
    )
    for attempt in attempts:
        with transaction.atomic():
            _, created = _start(attempt, user=None, trigger=VerificationRun.Trigger.SCHEDULE)
        started += created
    return started


QUEUE_MESSAGE = (
    "The check could not be started because our task queue is unavailable. Nothing was lost: "
    "try again in a minute."
)


def start_verification(
    attempt: ConnectionAttempt,
    *,
    user: Any = None,
    trigger: str = VerificationRun.Trigger.WIZARD,
) -> VerificationRun:
    """The attempt's active run if there is one; else a new queued run whose task is enqueued
    (with the run's id only) once the current transaction commits."""
    return _start(attempt, user=user, trigger=trigger)[0]


def _start(attempt: ConnectionAttempt, *, user: Any, trigger: str) -> tuple[VerificationRun, bool]:
    run, created = create_run(attempt, user=user, trigger=trigger)
    if created:
        enqueue_on_commit(
            TASK_NAME, run.pk, row="verification run", on_broker_down=_queue_unavailable
        )
    return run, created


def _queue_unavailable(run_id: int) -> None:
    """The broker refused the task: end the run with a retry message, claimed as a worker would,
    so the usual no-verdict path settles run and attempt."""
    if VerificationRun.objects.filter(pk=run_id, state=VerificationRun.State.QUEUED).update(
        state=VerificationRun.State.RUNNING, started_at=timezone.now()
    ):
        run = VerificationRun.objects.select_related("attempt__legal_entity").get(pk=run_id)
        _finish_without_verdict(run, QUEUE_MESSAGE, cause="queue_unavailable")


# --- Running it ------------------------------------------------------------------------------------


def run_verification(run_id: int) -> VerificationRun | None:
    """Claim the queued run ``run_id``, verify its attempt against Intacct and record the outcome.

    Returns the finished run, or ``None`` when there was nothing to claim (the run is gone, or
    another worker has or had it). Never raises for what Intacct does: no verdict (unreachable,
    too slow, busy, an unexpected failure) finishes the run as ``error`` with
    :data:`RETRY_MESSAGE` and leaves every earlier result as it was.
    """
    claimed = VerificationRun.objects.filter(pk=run_id, state=VerificationRun.State.QUEUED).update(
        state=VerificationRun.State.RUNNING, started_at=timezone.now()
    )
    if not claimed:
        # 0 rows: gone, finished, or another worker claimed it.
        return None
    run = VerificationRun.objects.select_related(
        "attempt__legal_entity__organization", "requested_by"
    ).get(pk=run_id)
    attempt = run.attempt
    paused = sign_in_paused(attempt)
    if paused:
        return _finish_without_verdict(run, paused, cause="sign_in_paused")

    try:
        with client_for(attempt) as client:
            report = verify(client, names=guide_names(), field_objects=_profile_objects(attempt))
    except EndpointError:
        logger.error(
            "verification run %s: the endpoint of attempt %s is not allowed "
            "(INTACCT_ALLOWED_ENDPOINT_HOSTS); nothing was sent",
            run.public_id,
            attempt.public_id,
        )
        return _finish_without_verdict(run, ENDPOINT_MESSAGE, cause="endpoint_refused")
    except Exception as exc:
        # A worker must not die on a verification: no verdict, try again.
        logger.exception(
            "verification run %s of attempt %s failed unexpectedly (%s)",
            run.public_id,
            attempt.public_id,
            type(exc).__name__,
        )
        return _finish_without_verdict(run, RETRY_MESSAGE, cause="unexpected")

    transient = next(
        (s for s in report.steps if s.step == STEP_TRANSIENT and s.status == FAILED), None
    )
    if transient is not None:
        logger.warning(
            "verification run %s of attempt %s: no verdict from Intacct (%s)",
            run.public_id,
            attempt.public_id,
            transient.message,
        )
        return _finish_without_verdict(
            run, RETRY_MESSAGE, cause="transient", round_trips=report.round_trips
        )

    for _ in range(report.sign_ins_refused):
        record_sign_in_refused(attempt, actor=run.requested_by, during="verification")
    try:
        with transaction.atomic():
            _record_report(run, report)
    except _RunTakenAway:
        logger.warning(
            "verification run %s finished after it was expired; its results were dropped",
            run.public_id,
        )
    except Exception as exc:
        logger.exception(
            "verification run %s: recording the report failed (%s)",
            run.public_id,
            type(exc).__name__,
        )
        return _finish_without_verdict(run, RETRY_MESSAGE, cause="unexpected")
    run.refresh_from_db()
    return run


def _finish_without_verdict(
    run: VerificationRun, message: str, *, cause: str, round_trips: int = 0
) -> VerificationRun:
    attempt = run.attempt
    with transaction.atomic():
        finished = VerificationRun.objects.filter(
            pk=run.pk, state=VerificationRun.State.RUNNING
        ).update(
            state=VerificationRun.State.ERROR,
            error=message,
            round_trips=round_trips,
            finished_at=timezone.now(),
        )
        if finished:
            _settle_attempt(attempt)
            audit.record_for_attempt(
                run.requested_by,
                "verification.error",
                attempt,
                run=run.public_id,
                cause=cause,
            )
            health.refresh_health(attempt.legal_entity_id)
    run.refresh_from_db()
    return run


def _settle_attempt(attempt: ConnectionAttempt) -> None:
    """Put a verifying attempt back where its last verdict left it (a run without a verdict
    proves nothing)."""
    last = last_checked_run(attempt)
    if last is None:
        state = ConnectionAttempt.State.DRAFT
    elif last.state == VerificationRun.State.PASSED:
        state = ConnectionAttempt.State.VERIFIED
    else:
        state = ConnectionAttempt.State.FAILED
    ConnectionAttempt.objects.filter(pk=attempt.pk, state=ConnectionAttempt.State.VERIFYING).update(
        state=state, updated_at=timezone.now()
    )


def _profile_objects(attempt: ConnectionAttempt) -> list[str]:
    """The objects of the entity's API Sync Profile: the verification learns their fields."""
    if not attempt.is_current:
        return []
    names = (
        ApiSyncProfile.objects.filter(legal_entity_id=attempt.legal_entity_id)
        .values_list("object_names", flat=True)
        .first()
    )
    return [str(n) for n in names or []]


def _learn_fields(legal_entity_id: int, fields: dict[str, tuple[str, ...]]) -> None:
    """Keep with the profile which of each object's sync fields ``lookup`` did not list.

    Only plain fields count: a dotted one (``PERSONALINFO.CONTACTNAME``) lives on a related
    record, which lookup may describe apart from the object's own fields (unverified), so its
    absence proves nothing; a sync that is refused it learns it instead.
    """
    profile = (
        ApiSyncProfile.objects.select_for_update().filter(legal_entity_id=legal_entity_id).first()
    )
    if profile is None or not fields:
        return
    known = dict(profile.unavailable_fields)
    for name, listed in fields.items():
        if not listed:
            continue
        present = {f.upper() for f in listed}
        missing = [f for f in list_object(name).fields if "." not in f and f.upper() not in present]
        kept = [f for f in known.get(name, []) if "." in f]  # what only a sync could learn
        merged = list(dict.fromkeys([*kept, *missing]))
        if merged:
            known[name] = merged
        else:
            known.pop(name, None)
    if known != profile.unavailable_fields:
        ApiSyncProfile.objects.filter(pk=profile.pk).update(unavailable_fields=known)


def _record_report(run: VerificationRun, report: Report) -> None:
    """Everything a verdict changes; called inside one transaction."""
    now = timezone.now()
    attempt = run.attempt
    legal_entity = attempt.legal_entity
    passed = report.ok
    first = report.first_failure
    sender_failed = first is not None and first.step == "sender_config"

    finished = VerificationRun.objects.filter(
        pk=run.pk, state=VerificationRun.State.RUNNING
    ).update(
        state=VerificationRun.State.PASSED if passed else VerificationRun.State.FAILED,
        round_trips=report.round_trips,
        error="",
        finished_at=now,
    )
    if not finished:
        raise _RunTakenAway

    CheckResult.objects.bulk_create(_check_results(run, report))
    if attempt.is_current:
        _learn_fields(legal_entity.pk, report.fields)
        if report.audit_trail is not None:
            ApiSyncProfile.objects.filter(legal_entity_id=legal_entity.pk).exclude(
                audit_trail=report.audit_trail
            ).update(audit_trail=report.audit_trail)
    _record_step_states(attempt, report, now)

    ConnectionAttempt.objects.filter(pk=attempt.pk).exclude(
        state__in=ConnectionAttempt.FINISHED
    ).update(
        state=ConnectionAttempt.State.VERIFIED if passed else ConnectionAttempt.State.FAILED,
        updated_at=now,
    )
    # A superseded attempt's verdict is history: the entity's health follows the current one.
    if attempt.is_current:
        if passed:
            LegalEntity.objects.filter(pk=legal_entity.pk).update(
                last_verified_at=now, last_error_code="", last_error=""
            )
        elif first is not None:
            LegalEntity.objects.filter(pk=legal_entity.pk).update(
                last_error_code=first.step, last_error=first.message
            )

    audit.record_for_attempt(
        run.requested_by,
        "verification.passed" if passed else "verification.failed",
        attempt,
        run=run.public_id,
        trigger=run.trigger,
        round_trips=report.round_trips,
        failed_step=first.step if first else None,
        errorno=first.errorno if first else None,
    )
    if sender_failed:
        assert first is not None
        alerts.sender_credentials_refused(
            attempt, errorno=first.errorno, during="verification", run=run.public_id
        )
    health.refresh_health(legal_entity.pk, now=now)
    logger.info(
        "verification run %s of attempt %s %s in %d round trip(s)%s",
        run.public_id,
        attempt.public_id,
        "passed" if passed else "failed",
        report.round_trips,
        f" at step {first.step}" if first else "",
    )


def _check_results(run: VerificationRun, report: Report) -> list[CheckResult]:
    results: list[CheckResult] = []

    def add(**fields: Any) -> None:
        results.append(CheckResult(run=run, position=len(results), **fields))

    for step in report.steps:
        wizard = step_for_intacct(step.step)
        add(
            kind=CheckResult.Kind.STEP,
            key=step.step,
            label=check_label(step.step),
            outcome=step.status,
            errorno=step.errorno or "",
            message=step.message,
            remedy_step=wizard or "",
        )
    for row in report.permissions:
        add(
            kind=CheckResult.Kind.PERMISSION,
            key=row.key,
            label=row.row[:200],
            object_names=list(row.objects),
            outcome=row.status,
            message=row.message,
            remedy_step=Step.ROLE_PERMISSIONS if row.status == MISSING else "",
        )
    field = report.custom_field
    if field is not None:
        field_step = next((s for s in report.steps if s.step == "custom_field"), None)
        if not field.found:
            outcome = MISSING
        else:
            outcome = PASSED if field_step is None or field_step.status == PASSED else FAILED
        add(
            kind=CheckResult.Kind.CUSTOM_FIELD,
            key=field.field_id,
            label=field.label,
            object_names=[CUSTOM_FIELD_OBJECT],
            outcome=outcome,
            message=field_step.message if field_step else "",
            remedy_step=Step.CUSTOM_FIELD if outcome != PASSED else "",
            detail={
                "datatype": field.datatype,
                "is_custom": field.is_custom,
                "type_ok": field.type_ok,
            },
        )
    for optional in report.optional:
        add(
            kind=CheckResult.Kind.OPTIONAL,
            key=optional.key,
            label=optional.label[:200],
            outcome=optional.status,
            message=optional.message,
        )
    for entity in report.entities:
        add(
            kind=CheckResult.Kind.ENTITY,
            key=entity.get("id", ""),
            label=entity.get("name", "")[:200],
            outcome=PASSED,
            message=entity.get("status", ""),
        )
    return results


def _record_step_states(attempt: ConnectionAttempt, report: Report, now: Any) -> None:
    """Each wizard step the report proved: verified when every check of it passed, failed (with
    the first failure) when one failed. A step with a skipped check keeps what it had: a failed
    run never erases progress it did not disprove."""
    groups: dict[Step, list[Any]] = {}
    for step in report.steps:
        wizard = step_for_intacct(step.step)
        if wizard is not None:
            groups.setdefault(wizard, []).append(step)
    for wizard, checks in groups.items():
        failed = next((c for c in checks if c.status == FAILED), None)
        if failed is not None:
            reason = SENDER_CONFIG_REASON if failed.step == "sender_config" else failed.message
            values: dict[str, Any] = {
                "status": StepState.Status.FAILED,
                "reason": reason or "Intacct refused this step.",
                "errorno": (failed.errorno or "")[:40],
            }
        elif all(c.status == PASSED for c in checks):
            values = {
                "status": StepState.Status.VERIFIED,
                "reason": "",
                "errorno": "",
                "verified_at": now,
            }
        else:
            continue
        updated = StepState.objects.filter(attempt=attempt, step=wizard).update(
            **values, updated_at=now
        )
        if not updated:
            StepState.objects.create(attempt=attempt, step=wizard, **values)


# --- Dead runs -------------------------------------------------------------------------------------


def expire_stale_runs(*, older_than: timedelta = STALE_AFTER) -> int:
    """Finish as ``error`` every run queued or running for longer than ``older_than`` (its
    task or worker was lost), so the attempt can be verified again. Returns how many."""
    cutoff = timezone.now() - older_than
    stale = list(
        VerificationRun.objects.filter(state__in=VerificationRun.ACTIVE, created_at__lt=cutoff)
        .exclude(state=VerificationRun.State.RUNNING, started_at__gte=cutoff)
        .select_related("attempt__legal_entity__organization")
    )
    expired = 0
    for run in stale:
        with transaction.atomic():
            done = VerificationRun.objects.filter(pk=run.pk, state=run.state).update(
                state=VerificationRun.State.ERROR,
                error=STALE_MESSAGE,
                finished_at=timezone.now(),
            )
            if not done:
                continue  # it finished meanwhile
            _settle_attempt(run.attempt)
            audit.record_for_attempt(
                None,
                "verification.expired",
                run.attempt,
                run=run.public_id,
                was=run.state,
            )
            health.refresh_health(run.attempt.legal_entity_id)
        expired += 1
        logger.warning("verification run %s was %s too long; expired", run.public_id, run.state)
    return expired
