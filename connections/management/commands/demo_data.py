"""Create the demo logins, the demo organization and its legal entities. Safe to run twice."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

from connections.models import (
    CUSTOMER_SUCCESS_GROUP,
    ConnectionAttempt,
    LegalEntity,
    Membership,
    Organization,
    Step,
)
from connections.services.accounts import (
    add_member,
    add_org_unit,
    create_legal_entity,
    create_organization,
)
from connections.services.api_sync import create_api_sync_profile
from connections.services.attempts import acknowledge_step, start_attempt
from connections.services.health import refresh_all
from connections.services.verification import create_run, run_verification
from intacct import list_object_names
from intacct.sandbox import SANDBOX_USER_ID, SANDBOX_USER_PASSWORD, Sandbox, serve_in_thread

STAFF, SUPERUSER, CUSTOMER_SUCCESS = "staff", "superuser", "customer success"
DEMO_USERS: list[tuple[str, str, set[str], str]] = [
    # username, password, what they are, description
    (
        "admin",
        "demo-admin",
        {STAFF, SUPERUSER, CUSTOMER_SUCCESS},
        "customer success staff (superuser: /cs/ console and /admin/)",
    ),
    ("success", "demo-success", {STAFF, CUSTOMER_SUCCESS}, "customer success staff (/cs/ console)"),
    ("customer", "demo-customer", set(), "customer administrator (System Administrator at root)"),
    ("member", "demo-member", set(), "System Administrator whose home unit is not the root"),
    ("clerk", "demo-clerk", set(), "AP clerk at the root unit"),
]

DEMO_ORGANIZATION = ("Demo Co", "demo-co")
ROOT_UNIT = "Head office"
CHILD_UNIT = "Field office"
DEMO_MEMBERS = [
    # username, role, home unit
    ("customer", Membership.Role.SYSTEM_ADMINISTRATOR, ROOT_UNIT),
    ("member", Membership.Role.SYSTEM_ADMINISTRATOR, CHILD_UNIT),
    ("clerk", Membership.Role.AP_CLERK, ROOT_UNIT),
]
# Legal entity → the sandbox company (scenario) it is connected to, and whether customer success
# has already created its API Sync Profile (step 8), so SmartSync (step 9) can be tried at once.
DEMO_LEGAL_ENTITIES = [
    ("Demo US (healthy)", "healthy-top", True),
    ("Demo UK (missing permission)", "missing-permissions", False),
    ("Demo CA (sender not authorized)", "sender-not-authorized", False),
    ("Demo AU (no custom field)", "no-custom-field", False),
    ("Demo DE (fields differ)", "fields-differ", True),
    ("Demo FR (no audit trail)", "no-audit-trail", True),
    ("Demo NL (audit trail worded otherwise)", "audit-trail-differs", True),
    # Three legal entities of one company, which takes 2 requests at a time over all of them.
    ("Demo Group East (shared limit)", "two-requests-at-a-time", True),
    ("Demo Group West (shared limit)", "two-requests-at-a-time", True),
    ("Demo Group North (shared limit)", "two-requests-at-a-time", True),
]
DEMO_PROFILE_ENTITIES = [name for name, _, profiled in DEMO_LEGAL_ENTITIES if profiled]


class Command(BaseCommand):
    help = "Create or reset the demo logins, create the demo organization, and print the logins."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--allow-production",
            action="store_true",
            help="Run even in production mode (for a local docker-compose stack only).",
        )
        parser.add_argument(
            "--no-verify",
            action="store_true",
            help="Leave the entities with an API Sync Profile unverified (by default they are "
            "verified against the Intacct sandbox, served for the while if it is not running).",
        )

    def handle(
        self,
        *args: Any,
        allow_production: bool = False,
        no_verify: bool = False,
        **options: Any,
    ) -> None:
        if settings.PRODUCTION and not allow_production:
            raise CommandError(
                "Refusing to create demo logins with well-known passwords in production mode; "
                "pass --allow-production for a throwaway local stack."
            )
        with transaction.atomic():
            for username, password, kinds, _ in DEMO_USERS:
                ensure_user(username, password, kinds=kinds)
            organization = ensure_demo_organization()
            # Health rows of entities made before the console existed.
            refresh_all()
        verified = 0 if no_verify else verify_profiled(organization)
        self.stdout.write("Demo logins:")
        for username, password, _, description in DEMO_USERS:
            self.stdout.write(f"  {username:<10} / {password:<15} {description}")
        self.stdout.write(f"Demo organization: {organization.name}")
        for name, company_id, profiled in DEMO_LEGAL_ENTITIES:
            ready = " (API Sync Profile ready: SmartSync works at once)" if profiled else ""
            self.stdout.write(f"  {name:<40} → sandbox company {company_id}{ready}")
        if verified:
            self.stdout.write(
                f"Verified {verified} of them against the sandbox, as their customer would have."
            )


def ensure_user(username: str, password: str, *, kinds: set[str]) -> None:
    """Create the user, or put an existing one back to its demo password, flags and group."""
    user_model = get_user_model()
    user, _ = user_model.objects.get_or_create(username=username)
    # Re-hashing an unchanged password would sign the user out of every session.
    if not user.check_password(password):
        user.set_password(password)
    user.is_active = True
    user.is_staff = STAFF in kinds
    user.is_superuser = SUPERUSER in kinds
    user.email = user.email or f"{username}@example.com"
    user.save()
    group = Group.objects.get(name=CUSTOMER_SUCCESS_GROUP)
    if CUSTOMER_SUCCESS in kinds:
        user.groups.add(group)
    else:
        user.groups.remove(group)


def ensure_demo_organization() -> Organization:
    """Demo Co with a root and a child unit, its members, and a legal entity per sandbox company,
    each with a current attempt (a draft when first made; later progress is kept)."""
    name, slug = DEMO_ORGANIZATION
    organization = Organization.objects.filter(slug=slug).first() or create_organization(
        name, slug=slug, root_unit_name=ROOT_UNIT
    )
    root = organization.units.root()
    units = {root.name: root}
    child = organization.units.filter(parent=root, name=CHILD_UNIT).first()
    units[CHILD_UNIT] = child or add_org_unit(organization, CHILD_UNIT, parent=root)

    users = get_user_model().objects.in_bulk(
        [username for username, _, _ in DEMO_MEMBERS], field_name="username"
    )
    for username, role, unit_name in DEMO_MEMBERS:
        add_member(organization, users[username], role=role, home_org_unit=units[unit_name])

    customer = users["customer"]
    for entity_name, company_id, profiled in DEMO_LEGAL_ENTITIES:
        legal_entity = LegalEntity.objects.filter(
            organization=organization, name=entity_name
        ).first() or create_legal_entity(organization, entity_name, actor=customer)
        if not ConnectionAttempt.objects.current().filter(legal_entity=legal_entity).exists():
            start_attempt(
                legal_entity,
                actor=customer,
                company_id=company_id,
                user_id=SANDBOX_USER_ID,
                password=SANDBOX_USER_PASSWORD,
                endpoint=settings.INTACCT_ENDPOINT,
            )
        if profiled:
            admin = get_user_model().objects.filter(username="admin").first()
            # Made before any verification, so it names its objects: every list object of the
            # guide's table (objects the sandbox company lacks are skipped by the sync).
            create_api_sync_profile(legal_entity, actor=admin, object_names=list_object_names())
    return organization


def verify_profiled(organization: Organization) -> int:
    """Customer success profiles a legal entity once its connection is verified: verify the
    profiled demo entities that were never checked (checklist ticked by the customer, then a
    real verification run against the sandbox). Returns how many were verified."""
    customer = get_user_model().objects.get(username="customer")
    attempts = list(
        ConnectionAttempt.objects.current().filter(
            legal_entity__organization=organization,
            legal_entity__name__in=DEMO_PROFILE_ENTITIES,
            runs__isnull=True,
        )
    )
    if not attempts:
        return 0
    with _sandbox_listening(settings.INTACCT_ENDPOINT):
        for attempt in attempts:
            acknowledge_step(attempt, Step.PRE_CONNECTION, actor=customer, via="demo")
            run, created = create_run(attempt, user=customer)
            if created:
                run_verification(run.pk)
    return len(attempts)


@contextmanager
def _sandbox_listening(endpoint: str) -> Iterator[None]:
    """The sandbox answering at ``endpoint``: the running one, or one served from this process
    while the block runs (``make run`` starts its own right after)."""
    url = urlsplit(endpoint)
    host, port = url.hostname or "127.0.0.1", url.port or 80
    try:
        socket.create_connection((host, port), timeout=1).close()
    except OSError:
        if host not in ("127.0.0.1", "localhost"):
            raise CommandError(f"Nothing answers at {endpoint}: start the sandbox.") from None
        _, stop = serve_in_thread(Sandbox(), port=port, host="127.0.0.1")
        try:
            yield
        finally:
            stop()
        return
    yield
