"""Alerts.

- :func:`sender_credentials_refused`: for us, not for the customer: Intacct refused our own Web
  Services sender credentials. Nothing the customer does fixes that, so their page says we have
  been alerted, and this is the alert: an error in our logs and an audit event on the entity.
- :func:`reconcile`: a connection's alerts (permission drift, the scheduled sync failing twice in
  a row, stuck at a step), raised and cleared as ``ConnectionHealth`` changes, shown on the
  console and as a banner on the customer's pages, and e-mailed to the organization's admins and
  the customer-success group.
"""

from __future__ import annotations

import logging
import smtplib
from datetime import datetime
from functools import partial
from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.mail import EmailMessage, get_connection
from django.db import transaction
from django.urls import reverse

from connections import audit
from connections.models import (
    CUSTOMER_SUCCESS_GROUP,
    Alert,
    ConnectionAttempt,
    ConnectionHealth,
    LegalEntity,
    Membership,
    Step,
)
from connections.selectors.health import SYNC_FAILING_AFTER, alert_fix_url

__all__ = [
    "customer_admin_emails",
    "customer_success_emails",
    "reconcile",
    "send_alert_email",
    "send_profile_ready_email",
    "sender_credentials_refused",
]

logger = logging.getLogger(__name__)


def sender_credentials_refused(
    attempt: ConnectionAttempt, *, errorno: str | None, during: str, **detail: Any
) -> None:
    """Record that Intacct refused our sender credentials while ``during`` (``"verification"``,
    ``"entity_list"``) for ``attempt``; ``detail`` adds ids (e.g. ``run``) to the audit event."""
    legal_entity = attempt.legal_entity
    logger.error(
        "Intacct refused our Web Services sender ID %s (errorno %s) during %s for legal entity "
        "%s: check INTACCT_SENDER_ID and INTACCT_SENDER_PASSWORD",
        settings.INTACCT_SENDER_ID,
        errorno or "none",
        during,
        legal_entity.public_id,
    )
    audit.record_for_attempt(
        None,
        "verification.sender_config_failed",
        attempt,
        sender_id=settings.INTACCT_SENDER_ID,
        errorno=errorno,
        during=during,
        **detail,
    )


# --- Connection alerts: for the customer's admins and for customer success -------------------------


def reconcile(
    legal_entity: LegalEntity, health: ConnectionHealth, *, stuck: bool, now: datetime
) -> None:
    """Raise the alerts whose condition holds and that are not open yet, and clear the open ones
    whose condition no longer holds: one alert per condition until it clears, each raise and
    clear an audit event, each raise an e-mail (once the transaction commits)."""
    wanted = _conditions(health, stuck=stuck, now=now)
    open_alerts = {
        alert.kind: alert
        for alert in Alert.objects.filter(legal_entity=legal_entity, cleared_at__isnull=True)
    }
    for kind, alert in open_alerts.items():
        if kind not in wanted:
            Alert.objects.filter(pk=alert.pk).update(cleared_at=now)
            audit.record_for_entity(None, "alert.cleared", legal_entity, kind=kind, alert=alert.pk)
    for kind, (step, message) in wanted.items():
        if kind in open_alerts:
            continue
        alert = Alert.objects.create(
            legal_entity=legal_entity, kind=kind, step=step, message=message, raised_at=now
        )
        audit.record_for_entity(
            None, "alert.raised", legal_entity, kind=kind, alert=alert.pk, step=step
        )
        transaction.on_commit(partial(send_alert_email, alert.pk))


def _conditions(
    health: ConnectionHealth, *, stuck: bool, now: datetime
) -> dict[str, tuple[str, str]]:
    """The alert kinds whose condition holds: kind → (the step that fixes it, the message)."""
    conditions: dict[str, tuple[str, str]] = {}
    if health.permission_drift:
        step = health.failing_step
        where = f" at “{Step(step).label}”" if step else ""
        number = f" (Intacct error {health.failing_errorno})" if health.failing_errorno else ""
        conditions[Alert.Kind.PERMISSION_DRIFT] = (
            step,
            f"A re-verification failed{where}{number} after the connection had passed.",
        )
    if health.scheduled_failures >= SYNC_FAILING_AFTER:
        conditions[Alert.Kind.SYNC_FAILING] = (
            Step.SMARTSYNC,
            f"The scheduled sync failed {health.scheduled_failures} times in a row.",
        )
    if stuck:
        days = (now - health.step_since).days
        conditions[Alert.Kind.STUCK] = (
            health.current_step,
            f"The connection has stood at “{Step(health.current_step).label}” for {days} days.",
        )
    return conditions


def send_alert_email(alert_id: int) -> None:
    """Tell the organization's admins (with the link to the step that fixes it) and the
    customer-success group (with the console's page) about an alert; a failure to send is
    logged, never raised (the alert stands on the console and the banner either way)."""
    alert = Alert.objects.select_related("legal_entity__organization").filter(pk=alert_id).first()
    if alert is None or not alert.is_open:
        return
    legal_entity = alert.legal_entity
    subject = f"{alert.get_kind_display()}: {legal_entity.organization.name} – {legal_entity.name}"
    fix_url = f"{settings.SITE_URL}{alert_fix_url(alert)}"
    console_url = f"{settings.SITE_URL}{reverse('console:entity', args=[legal_entity.public_id])}"
    messages = []
    admins = customer_admin_emails(legal_entity)
    if admins:
        messages.append(
            EmailMessage(
                subject,
                f"{alert.message}\n\nFix it here: {fix_url}\n",
                settings.DEFAULT_FROM_EMAIL,
                to=admins,
            )
        )
    staff = customer_success_emails()
    if staff:
        messages.append(
            EmailMessage(
                subject,
                f"{alert.message}\n\nConsole: {console_url}\nThe customer's page: {fix_url}\n",
                settings.DEFAULT_FROM_EMAIL,
                to=staff,
            )
        )
    try:
        get_connection().send_messages(messages)
    except (OSError, smtplib.SMTPException):
        logger.exception("could not e-mail alert %s of legal entity %s", alert.pk, legal_entity.pk)


def customer_admin_emails(legal_entity: LegalEntity) -> list[str]:
    """The e-mail addresses of the organization's System Administrators who can open the
    wizard the e-mail links to (their home org unit is the organization's root)."""
    return sorted(
        Membership.objects.can_connect()
        .filter(organization_id=legal_entity.organization_id, user__is_active=True)
        .exclude(user__email="")
        .values_list("user__email", flat=True)
    )


def customer_success_emails() -> list[str]:
    """The e-mail addresses of the customer-success group's active members."""
    users = (
        get_user_model()
        .objects.filter(groups__name=CUSTOMER_SUCCESS_GROUP, is_active=True)
        .exclude(email="")
    )
    return sorted(set(users.values_list("email", flat=True)))


def send_profile_ready_email(legal_entity_id: int, *, enabled_again: bool = False) -> None:
    """Tell the organization's admins that customer success created (or enabled again) the
    entity's API Sync Profile, with the link to step 9; a failure to send is logged, never
    raised."""
    legal_entity = (
        LegalEntity.objects.select_related("organization").filter(pk=legal_entity_id).first()
    )
    if legal_entity is None:
        return
    admins = customer_admin_emails(legal_entity)
    if not admins:
        return
    url = settings.SITE_URL + reverse("connections:smartsync", args=[legal_entity.public_id])
    message = EmailMessage(
        f"{legal_entity.name} is ready for SmartSync",
        f"Customer success {'enabled again' if enabled_again else 'created'} the API Sync "
        f"Profile of {legal_entity.name}. "
        + (
            f"SmartSync can run again, on demand and on its schedule: {url}\n"
            if enabled_again
            else f"Continue with step 9 of the connection guide, SmartSync: {url}\n"
        ),
        settings.DEFAULT_FROM_EMAIL,
        to=admins,
    )
    try:
        message.send()
    except (OSError, smtplib.SMTPException):
        logger.exception("could not e-mail that the profile of %s is ready", legal_entity.pk)
