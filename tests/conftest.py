"""Fixtures shared by the whole suite."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
from django.test import Client

from connections.models import Membership
from tests.factories import (
    LegalEntityFactory,
    MembershipFactory,
    OrganizationFactory,
    OrgUnitFactory,
)

BASE_DIR = Path(__file__).resolve().parent.parent


@pytest.fixture(autouse=True)
def _migration_data(request):
    """What the migrations wrote (the "Customer success" group), there for every database test:
    a transactional test ends with a flush that empties it for the tests after it in the same
    process. Inside a test's transaction, putting it back is rolled back with the rest."""
    uses_db = request.node.get_closest_marker("django_db") is not None or any(
        name in request.fixturenames for name in ("db", "transactional_db", "live_server")
    )
    if uses_db:
        from django.contrib.auth.models import Group

        from connections.models import CUSTOMER_SUCCESS_GROUP

        Group.objects.get_or_create(name=CUSTOMER_SUCCESS_GROUP)


@pytest.fixture(autouse=True)
def _fast_password_hashing(settings):
    """Tests hash passwords with a fast hasher: the real one is slow by design (PBKDF2)."""
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def user(django_user_model):
    """A plain, active user."""
    return django_user_model.objects.create_user(username="someone", password="a-long-password-1")


@pytest.fixture
def user_client(client: Client, user) -> Client:
    """The test client, logged in as ``user``."""
    client.force_login(user)
    return client


# --- Organizations and the three personas -----------------------------------------------------------


@pytest.fixture
def organization():
    """An organization with a root unit ("Head office") and one child unit ("Field office")."""
    organization = OrganizationFactory(name="Acme Corp", slug="acme")
    OrgUnitFactory(organization=organization, name="Field office")
    return organization


@pytest.fixture
def legal_entity(organization):
    return LegalEntityFactory(organization=organization, name="Acme US")


@pytest.fixture
def system_admin(organization):
    """The owner: System Administrator with the root as home org unit."""
    return MembershipFactory(organization=organization, user__username="sysadmin").user


@pytest.fixture
def clerk(organization):
    """A member without the role: AP clerk at the root."""
    return MembershipFactory(
        organization=organization, user__username="clerk", role=Membership.Role.AP_CLERK
    ).user


@pytest.fixture
def branch_admin(organization):
    """A member without the root: System Administrator whose home unit is a child unit."""
    return MembershipFactory(
        organization=organization,
        user__username="branch-admin",
        home_org_unit=organization.units.get(name="Field office"),
    ).user


@pytest.fixture
def outsider():
    """A System Administrator at the root of another organization."""
    other = OrganizationFactory(name="Other Ltd", slug="other")
    return MembershipFactory(organization=other, user__username="outsider").user


def pytest_sessionstart(session: pytest.Session) -> None:
    """Under CI, the tests that need real PostgreSQL and Redis (worker processes, the Redis
    outage, the secrets canary, key rotation as an operator runs it) must run, not be skipped:
    CI without both is a usage error."""
    if not os.environ.get("CI") or os.environ.get("CI") == "false":
        return
    missing = [
        name
        for name, prefix in (("DATABASE_URL", "postgres"), ("REDIS_URL", "redis"))
        if not os.environ.get(name, "").startswith(prefix)
    ]
    if missing:
        raise pytest.UsageError(
            f"CI is set but {' and '.join(missing)} {'are' if len(missing) > 1 else 'is'} not: "
            "the tests needing PostgreSQL and "
            "Redis would be skipped. Run .ci/run, or set them."
        )
