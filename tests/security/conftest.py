"""The world the security tests request every URL in, built once per module: two organizations,
every persona logged in, and a real row behind every id a URL names.

Each test still runs in its own transaction (rolled back after it), nested in the module's, so a
POST that gets through changes nothing the next test sees.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

import pytest
from celery.signals import before_task_publish
from django.conf import settings
from django.contrib.auth.models import Group
from django.contrib.auth.tokens import default_token_generator
from django.contrib.contenttypes.models import ContentType
from django.db import connection, transaction
from django.test import Client, TestCase, override_settings
from django.test.utils import CaptureQueriesContext
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlsafe_base64_encode
from django_celery_beat.models import ClockedSchedule, IntervalSchedule, SolarSchedule

from connections.models import (
    CUSTOMER_SUCCESS_GROUP,
    CheckResult,
    LegalEntity,
    Membership,
    Step,
    StepState,
    VerificationRun,
)
from connections.services.attempts import start_attempt
from connections.services.handoff import create_handoff_link
from connections.services.schedules import save_schedule
from intacct.sandbox import GATEWAY_PATH

# One sandbox per test process served over loopback (the owner's entity picker signs in to it),
# and a Celery broker that never leaves the process.
from tests.connections.conftest import (  # noqa: F401
    _in_memory_broker,
    sandbox_gateway,
    sandbox_world,
)
from tests.factories import (
    ApiSyncProfileFactory,
    CheckResultFactory,
    LegalEntityFactory,
    MembershipFactory,
    OrganizationFactory,
    OrgUnitFactory,
    SyncRunFactory,
    UserFactory,
    VerificationRunFactory,
)

SANDBOX_COMPANY = "healthy-top"
SANDBOX_USER = "Beanworks"
SANDBOX_PASSWORD = "Intacct-Pa55word"


@dataclass
class World:
    """What the URLs name: ``ids`` maps a name (``entity``, ``sync_run``, ``token``,
    ``connections.legalentity``…) to the value a URL carries."""

    ids: dict[str, str]
    sessions: dict[str, str]
    entity: LegalEntity
    other_entity: LegalEntity

    def client(self, persona: str, **kwargs: Any) -> Client:
        """A fresh client logged in as ``persona`` (its session was made with the world)."""
        client = Client(**kwargs)
        if persona != "anonymous":
            client.cookies[settings.SESSION_COOKIE_NAME] = self.sessions[persona]
        return client


@pytest.fixture(scope="module")
def world(
    django_db_setup: None,
    django_db_blocker: Any,
    sandbox_gateway: str,  # noqa: F811  (the fixture imported above)
) -> Iterator[World]:
    """Built inside a transaction that stays open for the module and is rolled back after it;
    each test's own transaction nests in it as a savepoint."""
    with (
        django_db_blocker.unblock(),
        transaction.atomic(),
        override_settings(
            # The real hasher is slow by design; tests use a fast one (see tests/conftest.py).
            PASSWORD_HASHERS=["django.contrib.auth.hashers.MD5PasswordHasher"],
            # The home page asks the sandbox which companies it serves.
            SANDBOX_URL=sandbox_gateway.removesuffix(GATEWAY_PATH),
        ),
    ):
        built = _build(sandbox_gateway)
        yield built
        transaction.set_rollback(True)


def _build(gateway: str) -> World:
    organization = OrganizationFactory(name="Acme Corp", slug="acme")
    OrgUnitFactory(organization=organization, name="Field office")
    other = OrganizationFactory(name="Other Ltd", slug="other")

    users: dict[str, Any] = {
        "owner": MembershipFactory(organization=organization, user__username="owner").user,
        "clerk": MembershipFactory(
            organization=organization, user__username="clerk", role=Membership.Role.AP_CLERK
        ).user,
        "branch_admin": MembershipFactory(
            organization=organization,
            user__username="branch-admin",
            home_org_unit=organization.units.get(name="Field office"),
        ).user,
        "outsider": MembershipFactory(organization=other, user__username="outsider").user,
        "cs_staff": UserFactory(username="cs-staff", is_staff=True),
        "staff": UserFactory(username="staff", is_staff=True),
        "superuser": UserFactory(username="root", is_staff=True, is_superuser=True),
    }
    users["cs_staff"].groups.add(Group.objects.get(name=CUSTOMER_SUCCESS_GROUP))

    owner = users["owner"]
    entity = LegalEntityFactory(organization=organization, name="Acme US")
    attempt = start_attempt(
        entity,
        actor=owner,
        company_id=SANDBOX_COMPANY,
        user_id=SANDBOX_USER,
        password=SANDBOX_PASSWORD,
        endpoint=gateway,
    )
    run = VerificationRunFactory(attempt=attempt, state=VerificationRun.State.PASSED)
    check = CheckResultFactory(run=run, kind=CheckResult.Kind.STEP)
    ApiSyncProfileFactory(legal_entity=entity, enabled=True)
    sync_run = SyncRunFactory(legal_entity=entity)
    link = create_handoff_link(attempt, actor=owner)
    # No API Sync Profile yet: the console's queue page creates one.
    waiting = LegalEntityFactory(organization=organization, name="Acme Canada")
    start_attempt(waiting, actor=owner)

    other_entity = LegalEntityFactory(organization=other, name="Other Ltd")
    other_attempt = start_attempt(
        other_entity,
        actor=users["outsider"],
        company_id=SANDBOX_COMPANY,
        user_id=SANDBOX_USER,
        password=SANDBOX_PASSWORD,
        endpoint=gateway,
    )
    other_run = VerificationRunFactory(attempt=other_attempt, state=VerificationRun.State.PASSED)
    other_sync_run = SyncRunFactory(legal_entity=other_entity)
    other_link = create_handoff_link(other_attempt, actor=users["outsider"])
    # A schedule makes the django-celery-beat rows (a crontab and its periodic tasks).
    schedule = save_schedule(other_entity, {"enabled": True}, users["outsider"])
    interval = IntervalSchedule.objects.create(every=5, period=IntervalSchedule.MINUTES)
    solar = SolarSchedule.objects.create(event="sunrise", latitude=49.28, longitude=-123.12)
    clocked = ClockedSchedule.objects.create(clocked_time=timezone.now() + timedelta(days=1))
    # The login throttle's records (a lock-out, a login, a failure).
    from axes.models import AccessAttempt, AccessFailureLog, AccessLog

    seen = {"ip_address": "203.0.113.9", "user_agent": "test", "path_info": "/accounts/login/"}
    locked = AccessAttempt.objects.create(username="someone", failures_since_start=5, **seen)
    logged_in = AccessLog.objects.create(username=owner.username, **seen)
    failure = AccessFailureLog.objects.create(username="someone", locked_out=True, **seen)

    sessions = {}
    for persona, user in users.items():
        client = Client()
        client.force_login(user)
        sessions[persona] = client.cookies[settings.SESSION_COOKIE_NAME].value

    ids = {
        "entity": str(entity.public_id),
        "waiting_entity": str(waiting.public_id),
        "other_entity": str(other_entity.public_id),
        "verification_run": str(run.public_id),
        "other_verification_run": str(other_run.public_id),
        "sync_run": str(sync_run.public_id),
        "other_sync_run": str(other_sync_run.public_id),
        "token": link.token(),
        "other_token": other_link.token(),
        "step": Step.WS_SUBSCRIPTION.value,
        "action": "reverify",
        "uidb64": urlsafe_base64_encode(force_bytes(owner.pk)),
        "reset_token": default_token_generator.make_token(owner),
        "app_label": "connections",
        "url": "no-such-page/",
        "content_type_id": str(ContentType.objects.get_for_model(LegalEntity).pk),
        "object_id": str(entity.pk),
        # One real row of every model the admin shows, by "app_label.model_name".
        "auth.user": str(owner.pk),
        "auth.group": str(Group.objects.get(name=CUSTOMER_SUCCESS_GROUP).pk),
        "connections.organization": str(organization.pk),
        "connections.orgunit": str(organization.units.root().pk),
        "connections.membership": str(owner.memberships.get().pk),
        "connections.legalentity": str(entity.pk),
        "connections.connectionattempt": str(attempt.pk),
        "connections.stepstate": str(StepState.objects.filter(attempt=attempt).first().pk),
        "connections.verificationrun": str(run.pk),
        "connections.checkresult": str(check.pk),
        "connections.apisyncprofile": str(entity.api_sync_profile.pk),
        "connections.auditevent": str(entity.audit_events.first().pk),
        "connections.handofflink": str(link.pk),
        "django_celery_beat.periodictask": str(schedule.periodic_task_id),
        "django_celery_beat.crontabschedule": str(schedule.periodic_task.crontab_id),
        "django_celery_beat.intervalschedule": str(interval.pk),
        "django_celery_beat.solarschedule": str(solar.pk),
        "django_celery_beat.clockedschedule": str(clocked.pk),
        "axes.accessattempt": str(locked.pk),
        "axes.accesslog": str(logged_in.pk),
        "axes.accessfailurelog": str(failure.pk),
    }
    return World(ids=ids, sessions=sessions, entity=entity, other_entity=other_entity)


# --- What a request changed ------------------------------------------------------------------------

WRITE = re.compile(r"^\s*(INSERT|UPDATE|DELETE)\b", re.IGNORECASE)


@dataclass
class Footprint:
    """What a request left behind: the SQL statements that wrote, the work queued for after the
    commit (tasks, e-mails) and the tasks sent to the broker."""

    writes: list[str] = field(default_factory=list)
    on_commit: int = 0
    published: list[str] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.writes or self.on_commit or self.published)

    def __str__(self) -> str:
        return (
            f"{len(self.writes)} write(s) {[w[:80] for w in self.writes]}, "
            f"{self.on_commit} on-commit callback(s), tasks sent: {self.published}"
        )


@contextmanager
def footprint() -> Iterator[Footprint]:
    found = Footprint()

    def published(sender: str | None = None, **kwargs: Any) -> None:
        found.published.append(str(sender))

    before_task_publish.connect(published, weak=False)
    try:
        with (
            CaptureQueriesContext(connection) as queries,
            TestCase.captureOnCommitCallbacks(execute=False) as callbacks,
        ):
            yield found
    finally:
        before_task_publish.disconnect(published)
    found.writes = [q["sql"] for q in queries.captured_queries if WRITE.match(q["sql"])]
    found.on_commit = len(callbacks)


@pytest.fixture(name="footprint")
def _footprint() -> Callable[[], Any]:
    """``with footprint() as found:`` records what the block wrote, queued and sent."""
    return footprint
