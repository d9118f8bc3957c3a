from __future__ import annotations

from io import StringIO

import pytest
from django.contrib.auth import authenticate, get_user_model
from django.core.management import CommandError, call_command
from django.test import RequestFactory
from django.urls import reverse

from connections.models import ConnectionHealth, LegalEntity

pytestmark = pytest.mark.django_db


def log_in(username: str, password: str):
    """The user the login page would let in (the login throttle needs the request)."""
    request = RequestFactory().post(reverse("login"))
    return authenticate(request, username=username, password=password)


@pytest.fixture(autouse=True)
def _sandbox_port(settings):
    """The demo's connections point at a free loopback port, where the command serves its own
    sandbox while it verifies (never at a sandbox another test or ``make run`` started)."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    settings.INTACCT_ENDPOINT = f"http://127.0.0.1:{port}/ia/xml/xmlgw.phtml"


def test_demo_data_creates_logins_and_prints_them():
    out = StringIO()

    call_command("demo_data", stdout=out)

    assert "admin" in out.getvalue()
    assert "demo-admin" in out.getvalue()
    assert "demo-customer" in out.getvalue()
    admin = log_in("admin", "demo-admin")
    customer = log_in("customer", "demo-customer")
    assert admin is not None
    assert admin.is_staff
    assert admin.is_superuser
    assert customer is not None
    assert not customer.is_staff
    assert not customer.is_superuser


def test_demo_data_twice_changes_nothing():
    call_command("demo_data", stdout=StringIO())
    hashes = dict(get_user_model().objects.values_list("username", "password"))

    call_command("demo_data", stdout=StringIO())

    assert dict(get_user_model().objects.values_list("username", "password")) == hashes


def test_demo_data_restores_a_changed_demo_password():
    call_command("demo_data", stdout=StringIO())
    customer = get_user_model().objects.get(username="customer")
    customer.set_password("something-else-entirely")
    customer.save()

    call_command("demo_data", stdout=StringIO())

    assert log_in("customer", "demo-customer") is not None


def test_demo_data_refuses_production_mode(settings):
    settings.PRODUCTION = True

    with pytest.raises(CommandError, match="production"):
        call_command("demo_data", stdout=StringIO())

    assert not get_user_model().objects.exists()


def test_the_demo_entities_with_profiles_can_sync_at_once():
    """Customer success's step 8 is done for the entities that show SmartSync against a company
    (healthy, lacking fields, without or with a differently worded audit trail, three sharing one
    company's limit), once however often the command runs."""
    from connections.models import ApiSyncProfile

    call_command("demo_data", stdout=StringIO())
    call_command("demo_data", stdout=StringIO())

    by_company = {
        p.legal_entity.name: p.legal_entity.attempts.get(is_current=True).company_id
        for p in ApiSyncProfile.objects.select_related("legal_entity")
    }
    assert by_company == {
        "Demo US (healthy)": "healthy-top",
        "Demo DE (fields differ)": "fields-differ",
        "Demo FR (no audit trail)": "no-audit-trail",
        "Demo NL (audit trail worded otherwise)": "audit-trail-differs",
        "Demo Group East (shared limit)": "two-requests-at-a-time",
        "Demo Group West (shared limit)": "two-requests-at-a-time",
        "Demo Group North (shared limit)": "two-requests-at-a-time",
    }
    for profile in ApiSyncProfile.objects.all():
        assert profile.enabled
        assert "VENDOR" in profile.object_names


def test_demo_customer_success_logins_open_the_console(client):
    call_command("demo_data", stdout=StringIO())
    for username, password, status in (
        ("admin", "demo-admin", 200),
        ("success", "demo-success", 200),
        ("customer", "demo-customer", 404),
    ):
        client.logout()
        # The login throttle needs the request authenticate() is given.
        login_request = RequestFactory().post(reverse("login"))
        assert client.login(request=login_request, username=username, password=password)
        assert client.get(reverse("console:overview")).status_code == status, username
    success = get_user_model().objects.get(username="success")
    assert (success.is_staff, success.is_superuser) == (True, False)
    # Every demo entity has its health row, so the console lists it as it stands.
    assert ConnectionHealth.objects.count() == LegalEntity.objects.count() > 0


def test_the_profiled_entities_are_verified_against_the_sandbox_once():
    """Customer success profiles an entity whose connection was verified: the demo's profiled
    entities are verified for real (checklist ticked, a verification run against the sandbox),
    the others are left for the customer to try, and a second run verifies nothing again."""
    from connections.models import ConnectionAttempt, Step, StepState, VerificationRun

    out = StringIO()
    call_command("demo_data", stdout=out)
    assert "Verified 7 of them against the sandbox" in out.getvalue()

    states = {
        a.legal_entity.name: a.state
        for a in ConnectionAttempt.objects.current().select_related("legal_entity")
    }
    verified = {name for name, state in states.items() if state == "verified"}
    assert verified == {
        "Demo US (healthy)",
        "Demo DE (fields differ)",
        "Demo FR (no audit trail)",
        "Demo NL (audit trail worded otherwise)",
        "Demo Group East (shared limit)",
        "Demo Group West (shared limit)",
        "Demo Group North (shared limit)",
    }
    assert states["Demo UK (missing permission)"] == "draft"
    checklist = StepState.objects.filter(step=Step.PRE_CONNECTION, status="acknowledged")
    assert checklist.count() == 7
    assert VerificationRun.objects.filter(state="passed").count() == 7

    again = StringIO()
    call_command("demo_data", stdout=again)
    assert "Verified" not in again.getvalue()
    assert VerificationRun.objects.count() == 7
