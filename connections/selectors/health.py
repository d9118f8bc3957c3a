"""How a legal entity's connection is doing, read from the source rows: what
:func:`connections.services.health.refresh_health` stores on ``ConnectionHealth`` for the console,
and the flags' rules, each in one function.

The rules:

- *verification failing*: the last finished verification of the current attempt failed, or ended
  in an error (Intacct gave no verdict);
- *permission drift*: the current attempt's last verdict is a failure that came after a pass;
- *sync failing*: the last two finished sync runs each failed or partly failed;
- *waiting for profile*: the current attempt is verified and no enabled API Sync Profile exists;
- *stuck*: the current step has stood for more than ``CONSOLE_STUCK_AFTER_DAYS`` days
  (:func:`stuck_cutoff`; not stored: the console compares ``step_since`` with the cutoff).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db.models import Sum
from django.urls import reverse

from connections.guide import wizard_step_urls
from connections.models import (
    Alert,
    ApiSyncProfile,
    CheckResult,
    ConnectionAttempt,
    LegalEntity,
    Membership,
    SyncRun,
    VerificationRun,
    step_for_intacct,
)
from connections.selectors.connections import progress_of
from connections.selectors.schedules import next_sync_at

__all__ = [
    "HealthFacts",
    "alert_fix_url",
    "customer_alerts",
    "failing_check",
    "health_facts",
    "stuck_cutoff",
    "sync_failures_in_a_row",
]

#: Finished sync runs that count as failing.
SYNC_FAILED = (SyncRun.State.FAILED, SyncRun.State.PARTIAL)
#: How many failing runs in a row make "sync failing" (and a scheduled one, an alert).
SYNC_FAILING_AFTER = 2


def stuck_cutoff(now: datetime) -> datetime:
    """A current step standing since before this is *stuck*."""
    days: int = settings.CONSOLE_STUCK_AFTER_DAYS
    return now - timedelta(days=days)


@dataclass(frozen=True)
class HealthFacts:
    connection_state: str
    company_id: str
    current_step: str
    steps_done: int
    last_verification: VerificationRun | None
    failing_step: str
    failing_errorno: str
    verification_failing: bool
    permission_drift: bool
    last_sync: SyncRun | None
    last_sync_records: int
    last_sync_transactions: int
    sync_failing: bool
    scheduled_failures: int
    waiting_for_profile: bool
    verified_at: datetime | None
    next_sync_at: datetime | None


def health_facts(legal_entity: LegalEntity, *, now: datetime) -> HealthFacts:
    attempt = (
        ConnectionAttempt.objects.current()
        .filter(legal_entity=legal_entity)
        .prefetch_related("steps")
        .first()
    )
    progress = progress_of(attempt.steps.all() if attempt is not None else [])
    runs = (
        list(
            VerificationRun.objects.filter(attempt=attempt, state__in=VerificationRun.FINISHED)
            .order_by("-created_at", "-pk")
            .only("pk", "state", "finished_at", "created_at", "error")
        )
        if attempt is not None
        else []
    )
    last = runs[0] if runs else None
    failing_step, failing_errorno = failing_check(last) if last is not None else ("", "")
    verdicts = [run for run in runs if run.state != VerificationRun.State.ERROR]
    drift = (
        bool(verdicts)
        and verdicts[0].state == VerificationRun.State.FAILED
        and any(run.state == VerificationRun.State.PASSED for run in verdicts[1:])
    )
    passed = [run for run in runs if run.state == VerificationRun.State.PASSED]
    last_sync = (
        SyncRun.objects.filter(legal_entity=legal_entity, state__in=SyncRun.FINISHED)
        .order_by("-created_at", "-pk")
        .first()
    )
    totals = (
        last_sync.object_results.aggregate(records=Sum("fetched")) if last_sync is not None else {}
    )
    profile = ApiSyncProfile.objects.filter(legal_entity=legal_entity).first()
    verified = attempt is not None and attempt.state == ConnectionAttempt.State.VERIFIED
    # Without an enabled schedule there is no next sync (and no scheduled failure to alert on).
    next_at = next_sync_at(legal_entity, now=now)
    return HealthFacts(
        connection_state=attempt.state if attempt is not None else "",
        company_id=attempt.company_id if attempt is not None else "",
        current_step=progress.current_step or "",
        steps_done=progress.done,
        last_verification=last,
        failing_step=failing_step,
        failing_errorno=failing_errorno,
        verification_failing=last is not None and last.state != VerificationRun.State.PASSED,
        permission_drift=drift,
        last_sync=last_sync,
        last_sync_records=totals.get("records") or 0,
        last_sync_transactions=last_sync.transactions if last_sync is not None else 0,
        sync_failing=sync_failures_in_a_row(legal_entity) >= SYNC_FAILING_AFTER,
        # A paused (or removed) schedule fails no more: its row no longer raises an alert.
        scheduled_failures=sync_failures_in_a_row(legal_entity, trigger=SyncRun.Trigger.SCHEDULE)
        if next_at is not None
        else 0,
        waiting_for_profile=verified and ApiSyncProfile.status_of(profile) != "ready",
        verified_at=passed[-1].finished_at if passed else None,
        next_sync_at=next_at,
    )


def failing_check(run: VerificationRun) -> tuple[str, str]:
    """The wizard step and Intacct error number of the run's first failed guide step (blank for
    a passed run; the step is blank when no page fixes it, e.g. Intacct was unreachable)."""
    if run.state == VerificationRun.State.PASSED:
        return "", ""
    result = (
        CheckResult.objects.filter(
            run=run,
            kind=CheckResult.Kind.STEP,
            outcome=CheckResult.Outcome.FAILED,
        )
        .order_by("position")
        .only("key", "remedy_step", "errorno")
        .first()
    )
    if result is None:
        return "", ""
    step = result.remedy_step or step_for_intacct(result.key) or ""
    return str(step), result.errorno


def sync_failures_in_a_row(legal_entity: LegalEntity, *, trigger: str | None = None) -> int:
    """How many of the newest finished runs (of ``trigger`` when given) failed or partly failed
    in a row, up to :data:`SYNC_FAILING_AFTER`. A run that succeeded, whatever started it, ends
    the row: syncing works again (a manual sync after a fix clears a failing schedule's row)."""
    runs = SyncRun.objects.filter(legal_entity=legal_entity, state__in=SyncRun.FINISHED)
    rows = runs.order_by("-created_at", "-pk").values_list("state", "trigger")
    count = 0
    for state, started_by in rows[: SYNC_FAILING_AFTER * 10]:
        if state not in SYNC_FAILED:
            break
        if trigger is None or started_by == trigger:
            count += 1
            if count == SYNC_FAILING_AFTER:
                break
    return count


def alert_fix_url(alert: Alert) -> str:
    """The customer's page that fixes the alert: its step's page, or the entity's wizard."""
    if not alert.step:
        return reverse("connections:resume", args=[alert.legal_entity.public_id])
    return wizard_step_urls(alert.legal_entity)[alert.step]


def customer_alerts(user: Any) -> list[Alert]:
    """The open alerts of the organizations ``user`` administers (System Administrator at the root
    org unit: the wizard the banner links to opens for them), for the banner on their pages, each
    with ``fix_url`` (:func:`alert_fix_url`); one query."""
    if user is None or not user.is_authenticated:
        return []
    alerts = list(
        Alert.objects.filter(
            cleared_at__isnull=True,
            legal_entity__organization__in=Membership.objects.can_connect()
            .filter(user=user)
            .values("organization"),
        )
        .select_related("legal_entity")
        .order_by("raised_at", "pk")
    )
    for alert in alerts:
        alert.fix_url = alert_fix_url(alert)  # type: ignore[attr-defined]
    return alerts
