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
- :func:`report_for` turns a run's rows back into the ``python -m intacct check --json`` shape.

The Intacct password leaves the database only inside :func:`client_for`; it is never logged,
audited, or passed to a task.
"""

from __future__ import annotations

import logging
from datetime import timedelta
from functools import partial
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.utils import timezone
from kombu.exceptions import OperationalError

from connections import audit
from connections.models import (
    CheckResult,
    ConnectionAttempt,
    LegalEntity,
    Step,
    StepState,
    VerificationRun,
    step_for_intacct,
)
from connections.selectors import active_run, last_checked_run
from intacct.checks import (
    FAILED,
    GRANTED,
    MISSING,
    PASSED,
    GuideNames,
    Report,
    remedy_for,
    verify,
)
from intacct.client import Credentials, IntacctClient
from intacct.errors import STEP_TRANSIENT, EndpointError
from intacct.permissions import UDD_ROW_KEY, row_by_key

__all__ = [
    "ENDPOINT_MESSAGE",
    "RETRY_MESSAGE",
    "SENDER_CONFIG_REASON",
    "STALE_AFTER",
    "STALE_MESSAGE",
    "client_for",
    "create_run",
    "expire_stale_runs",
    "guide_names",
    "report_for",
    "run_verification",
    "start_verification",
]

logger = logging.getLogger(__name__)

#: An interactive check: a person is waiting for the answer.
TIMEOUT_SECONDS = 30.0
MAX_RETRIES = 2
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
SENDER_CONFIG_REASON = (
    "Intacct refused our own Web Services sender credentials. This is our configuration, not "
    "yours: we have been alerted and will fix it. There is nothing to change on your side."
)

#: What each ``intacct`` step key is called on the results page.
STEP_LABELS: dict[str, str] = {
    "sender_config": "Our Web Services sender credentials",
    "ws_subscription": Step.WS_SUBSCRIPTION.label,
    "ws_user": Step.WS_USER.label,
    "role_permissions": Step.ROLE_PERMISSIONS.label,
    "role_assignment": Step.ROLE_ASSIGNMENT.label,
    "sender_authorization": Step.SENDER_AUTHORIZATION.label,
    "custom_field": Step.CUSTOM_FIELD.label,
    "credentials": "Sign-in (company ID, user ID, password)",
    "entity": "Entity",
}

# The object the custom field check describes.
_CUSTOM_FIELD_OBJECT = "APBILL"
_ROW_SEPARATOR = " — "


class _RunTakenAway(Exception):
    """The run left ``running`` while Intacct was being asked (expired as stale)."""


# --- The client ------------------------------------------------------------------------------------


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
    return IntacctClient(
        credentials,
        endpoint=attempt.endpoint,
        allowed_hosts=settings.INTACCT_ALLOWED_ENDPOINT_HOSTS,
        timeout=TIMEOUT_SECONDS if timeout is None else timeout,
        max_retries=MAX_RETRIES if max_retries is None else max_retries,
    )


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
    requested_by = user if user is not None and user.is_authenticated else None
    try:
        with transaction.atomic():
            run = VerificationRun.objects.create(
                attempt=attempt, trigger=trigger, requested_by=requested_by
            )
            ConnectionAttempt.objects.filter(pk=attempt.pk).exclude(
                state__in=ConnectionAttempt.FINISHED
            ).update(state=ConnectionAttempt.State.VERIFYING, updated_at=timezone.now())
            audit.record(
                user,
                "verification.started",
                organization=attempt.legal_entity.organization,
                legal_entity=attempt.legal_entity,
                attempt=attempt.public_id,
                run=run.public_id,
                trigger=trigger,
            )
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
        transaction.on_commit(partial(_enqueue, run.pk))
    return run, created


def _enqueue(run_id: int) -> None:
    """Queue the task for ``run_id``; when the broker is down, end the run with a retry message
    instead of failing the request that asked for it."""
    from connections.tasks import verify_connection  # the tasks module imports this one

    try:
        verify_connection.delay(run_id)
    except OperationalError:
        logger.exception("could not queue verification run %s", run_id)
        # Claim it as if a worker had, so the usual no-verdict path settles run and attempt.
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

    try:
        with client_for(attempt) as client:
            report = verify(client, names=guide_names())
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
            audit.record(
                run.requested_by,
                "verification.error",
                organization=attempt.legal_entity.organization,
                legal_entity=attempt.legal_entity,
                attempt=attempt.public_id,
                run=run.public_id,
                cause=cause,
            )
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

    audit.record(
        run.requested_by,
        "verification.passed" if passed else "verification.failed",
        organization=legal_entity.organization,
        legal_entity=legal_entity,
        attempt=attempt.public_id,
        run=run.public_id,
        trigger=run.trigger,
        round_trips=report.round_trips,
        failed_step=first.step if first else None,
        errorno=first.errorno if first else None,
    )
    if sender_failed:
        assert first is not None
        audit.record(
            None,
            "verification.sender_config_failed",
            organization=legal_entity.organization,
            legal_entity=legal_entity,
            attempt=attempt.public_id,
            run=run.public_id,
            sender_id=settings.INTACCT_SENDER_ID,
            errorno=first.errorno,
        )
        logger.error(
            "Intacct refused our Web Services sender ID %s (errorno %s) verifying legal entity %s "
            "(run %s): check INTACCT_SENDER_ID and INTACCT_SENDER_PASSWORD",
            settings.INTACCT_SENDER_ID,
            first.errorno or "none",
            legal_entity.public_id,
            run.public_id,
        )
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
            label=STEP_LABELS.get(step.step, step.step),
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
        outcome = (PASSED if field.type_ok else FAILED) if field.found else MISSING
        field_step = next((s for s in report.steps if s.step == "custom_field"), None)
        add(
            kind=CheckResult.Kind.CUSTOM_FIELD,
            key=field.field_id,
            label=field.label,
            object_names=[_CUSTOM_FIELD_OBJECT],
            outcome=outcome,
            message=field_step.message if field_step else "",
            remedy_step=Step.CUSTOM_FIELD if outcome != PASSED else "",
            detail={"datatype": field.datatype, "is_custom": field.is_custom},
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
            audit.record(
                None,
                "verification.expired",
                organization=run.attempt.legal_entity.organization,
                legal_entity=run.attempt.legal_entity,
                attempt=run.attempt.public_id,
                run=run.public_id,
                was=run.state,
            )
        expired += 1
        logger.warning("verification run %s was %s too long; expired", run.public_id, run.state)
    return expired


# --- Reading it back -------------------------------------------------------------------------------


def report_for(run: VerificationRun) -> dict[str, Any]:
    """The run as the results page and ``connection verify --json`` show it: the shape of
    ``python -m intacct check --json`` (``ok``, ``steps``, ``permissions``, ``entities``,
    ``custom_field``, ``user_defined_dimensions``, ``round_trips``) plus ``attempt``, ``run``,
    ``state``, ``finished`` and ``error``.

    A step carries ``wizard_step`` (the wizard page that fixes it) and, when failed, ``remedy``
    in plain words. A custom field's ``datatype`` and ``is_custom`` come from the check's detail
    (``None`` for runs recorded before it was kept).
    """
    names = guide_names()
    results = sorted(run.results.all(), key=lambda result: result.position)
    steps: list[dict[str, Any]] = []
    permissions: list[dict[str, Any]] = []
    entities: list[dict[str, str]] = []
    dimensions: list[dict[str, str]] = []
    custom_field: dict[str, Any] | None = None
    for result in results:
        if result.kind == CheckResult.Kind.STEP:
            failed = result.outcome == FAILED
            if result.key == "sender_config" and failed:
                message = SENDER_CONFIG_REASON
            else:
                message = result.message
            steps.append(
                {
                    "step": result.key,
                    "label": result.label,
                    "status": result.outcome,
                    "message": message,
                    "errorno": result.errorno or None,
                    "remedy": remedy_for(result.key, names) if failed else "",
                    "wizard_step": result.remedy_step or None,
                }
            )
        elif result.kind == CheckResult.Kind.PERMISSION:
            permissions.append(
                {
                    "row": result.label,
                    "key": result.key,
                    "objects": list(result.object_names),
                    "granted": result.outcome == GRANTED,
                    "status": result.outcome,
                    "message": result.message,
                    "screen": _screen(result.key),
                }
            )
            if result.key == UDD_ROW_KEY and result.object_names:
                label = result.label.partition(_ROW_SEPARATOR)[2] or result.object_names[0]
                dimensions.append({"object": result.object_names[0], "label": label})
        elif result.kind == CheckResult.Kind.CUSTOM_FIELD:
            custom_field = {
                "found": result.outcome != MISSING,
                "field_id": result.key,
                "label": result.label,
                "datatype": result.detail.get("datatype"),
                "is_custom": result.detail.get("is_custom"),
                "type_ok": result.outcome == PASSED,
                "status": result.outcome,
                "message": result.message,
            }
        elif result.kind == CheckResult.Kind.ENTITY:
            entities.append({"id": result.key, "name": result.label, "status": result.message})
    return {
        "ok": run.state == VerificationRun.State.PASSED,
        "attempt": str(run.attempt.public_id),
        "run": str(run.public_id),
        "state": run.state,
        "finished": run.is_finished,
        "error": run.error,
        "steps": steps,
        "permissions": permissions,
        "entities": entities,
        "custom_field": custom_field,
        "user_defined_dimensions": dimensions,
        "round_trips": run.round_trips,
    }


def _screen(key: str) -> str:
    try:
        return row_by_key(key).screen
    except KeyError:
        return ""
