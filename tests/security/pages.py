"""One URL of every kind of page, and the data that gives each something to show: shared by the
header test (test client) and the Content-Security-Policy test in Chromium.

``make_site()`` makes an organization whose legal entity has a verified connection, an API Sync
Profile, finished sync runs and a hand-off link, and one login, ``owner``, who is the entity's
System Administrator, customer success and a superuser, so one login opens every page.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from django.contrib.auth.models import Group
from django.urls import reverse

from connections.models import (
    CUSTOMER_SUCCESS_GROUP,
    HANDOFF_STEPS,
    LegalEntity,
    Membership,
    SyncRun,
)
from connections.services.handoff import create_handoff_link
from connections.services.health import refresh_health
from tests.factories import (
    ApiSyncProfileFactory,
    LegalEntityFactory,
    MembershipFactory,
    OrganizationFactory,
    SyncRunFactory,
    SyncRunObjectFactory,
    verified_attempt,
)

OWNER = "owner"
#: A member of the organization who is not a System Administrator: the wizard refuses them.
CLERK = "clerk"
#: The URLconf of :func:`error_pages`: ours, with a view that fails and one that refuses.
ERROR_URLCONF = "tests.security.error_urls"


@dataclass(frozen=True)
class Site:
    owner: Any
    legal_entity: LegalEntity
    waiting: LegalEntity  # verified, no profile yet: in the console's queue
    handoff_token: str


def make_site(**attempt_fields: Any) -> Site:
    """The site; ``attempt_fields`` (``user_id``, ``password``…) for the entity's connection."""
    organization = OrganizationFactory(name="Acme Corp", slug="acme")
    owner = MembershipFactory(
        organization=organization,
        user__username=OWNER,
        user__is_staff=True,
        user__is_superuser=True,
    ).user
    owner.groups.add(Group.objects.get_or_create(name=CUSTOMER_SUCCESS_GROUP)[0])
    MembershipFactory(
        organization=organization, user__username=CLERK, role=Membership.Role.AP_CLERK
    )

    legal_entity = LegalEntityFactory(organization=organization, name="Acme US")
    attempt = verified_attempt(legal_entity, **attempt_fields)
    ApiSyncProfileFactory(legal_entity=legal_entity)
    for state in (SyncRun.State.SUCCEEDED, SyncRun.State.FAILED):
        run = SyncRunFactory(legal_entity=legal_entity, state=state)
        SyncRunObjectFactory(run=run, object_name="VENDOR", created=7, updated=3)
        SyncRunObjectFactory(run=run, object_name="GLACCOUNT", fetched=40, created=40)
    link = create_handoff_link(attempt, actor=owner)

    waiting = LegalEntityFactory(organization=organization, name="Acme DE")
    verified_attempt(waiting)
    for entity in (legal_entity, waiting):
        refresh_health(entity.pk)
    return Site(owner=owner, legal_entity=legal_entity, waiting=waiting, handoff_token=link.token())


def anonymous_pages(site: Site) -> dict[str, str]:
    """Pages without a login: the login page, a hand-off link's, a page that does not exist."""
    token = site.handoff_token
    return {
        "login": reverse("login"),
        "handoff start": reverse("connections:handoff_start", args=[token]),
        "handoff step": reverse("connections:handoff_step", args=[token, HANDOFF_STEPS[0].value]),
        "handoff check": reverse("connections:handoff_check", args=[token]),
        "not found": "/no-such-page/",
    }


def owner_pages(site: Site) -> dict[str, str]:
    """Every page ``owner`` opens: the wizard's, SmartSync, hand-off links, console, admin."""
    pid = site.legal_entity.public_id

    def wizard(name: str) -> str:
        return reverse(f"connections:{name}", args=[pid])

    return {
        "home": reverse("connections:home"),
        "legal entities": reverse("connections:legal_entities"),
        "pre-connection": wizard("pre_connection"),
        **{f"step {step.value}": wizard(step.value) for step in HANDOFF_STEPS},
        "credentials": wizard("credentials"),
        "intacct entities": wizard("intacct_entities"),
        "api sync profile": wizard("api_sync_profile"),
        "smartsync": wizard("smartsync"),
        "handoff links": wizard("handoff_manage"),
        "console overview": reverse("console:overview"),
        "console queue": reverse("console:queue"),
        "console queue profile": reverse("console:queue_profile", args=[site.waiting.public_id]),
        "console entity": reverse("console:entity", args=[pid]),
        "console funnel": reverse("console:funnel"),
        "console sync health": reverse("console:sync_health"),
        "admin index": reverse("admin:index"),
        "admin legal entities": reverse("admin:connections_legalentity_changelist"),
        "admin legal entity": reverse(
            "admin:connections_legalentity_change", args=[site.legal_entity.pk]
        ),
        "admin add organization": reverse("admin:connections_organization_add"),
        "admin audit events": reverse("admin:connections_auditevent_changelist"),
        "admin access attempts": reverse("admin:axes_accessattempt_changelist"),
    }


def error_pages(site: Site) -> dict[str, tuple[str, int, str]]:
    """Our error pages, each as (URL, status, its heading), under :data:`ERROR_URLCONF`. The
    CSRF failure is not here: a form posted without its token gives it."""
    return {
        "not found": ("/no-such-page/", 404, "Page not found"),
        "access denied (wizard)": (
            reverse("connections:pre_connection", args=[site.legal_entity.public_id]),
            403,
            "You cannot open the connection wizard",
        ),
        "permission denied": ("/test-errors/403/", 403, "You cannot open this page"),
        "server error": ("/test-errors/500/", 500, "Something went wrong on our side"),
    }
