"""The wizard's pages: three personas on every view, htmx fragments and full pages, CSRF, the
credentials form, and verification results streamed into the page."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from connections.models import (
    AuditEvent,
    ConnectionAttempt,
    LegalEntity,
    Step,
    StepState,
    VerificationRun,
)
from connections.services.attempts import start_attempt
from connections.services.verification import RETRY_MESSAGE, run_verification
from intacct.checks import SIGN_IN_CAUSES
from intacct.sandbox import SANDBOX_USER_PASSWORD
from tests.factories import (
    ApiSyncProfileFactory,
    CheckResultFactory,
    VerificationRunFactory,
)

pytestmark = pytest.mark.django_db

HX = {"HX-Request": "true"}
HX_BOOSTED = {"HX-Request": "true", "HX-Boosted": "true"}

GUIDE_WORDS = {
    "pre_connection": ["Pre-connection checklist", "System Administrator role"],
    "ws_subscription": ["Create Web Services User and Role", "Company -> Subscriptions"],
    "ws_user": ["Company -> Web Services Users", "Business", "Limited", "Active"],
    "role_permissions": ["Company -> Roles", "Beanworks API", "Application Subscriptions"],
    "role_assignment": ["Role Information", "re-entering the password"],
    "sender_authorization": [
        "Grant Beanworks Web Services Authorization",
        "Company -> Company Info",
        "BeanworksMPP",
    ],
    "custom_field": [
        "Create a Custom Field for Beanworks URLs",
        "Platform Services -> Custom Fields",
        "BEANWORKS",
        "Link to Beanworks Invoice",
    ],
    "credentials": ["Connecting Beanworks to Sage Intacct", "Company ID", "Entity-level"],
    "api_sync_profile": ["API Sync Profile", "Waiting for customer success"],
    "smartsync": ["Enable SmartSync", "Partial Sync", "Sync Schedule"],
}

# The views a legal entity's URL opens: (URL name, extra arguments, method).
ENTITY_VIEWS = [
    *((step.value, (), "get") for step in Step),
    *(
        (step.value, (), "post")
        for step in Step
        if step not in (Step.CREDENTIALS, Step.API_SYNC_PROFILE, Step.SMARTSYNC)
    ),
    ("credentials", (), "post"),
    ("resume", (), "get"),
    ("rail", (), "get"),
    ("intacct_entities", (), "get"),
    ("intacct_entities", (), "post"),
    ("test_connection", (), "post"),
    ("handoff_manage", (), "get"),
    ("handoff_manage", (), "post"),
]
VIEW_IDS = [f"{method}-{name}" for name, _, method in ENTITY_VIEWS]


@pytest.fixture
def attempt(legal_entity: LegalEntity, system_admin) -> ConnectionAttempt:
    return start_attempt(
        legal_entity,
        actor=system_admin,
        company_id="acme",
        user_id="Beanworks",
        password="Stored-Pa55word",
    )


def _client(user) -> Client:
    client = Client()
    client.force_login(user)
    return client


def _page(response) -> str:
    return response.content.decode()


# --- Three personas --------------------------------------------------------------------------------


@pytest.mark.parametrize("step", list(Step), ids=[step.value for step in Step])
def test_admin_sees_every_step_in_the_guides_words(system_admin, attempt, step):
    response = _client(system_admin).get(
        reverse(f"connections:{step.value}", args=[attempt.legal_entity.public_id])
    )

    page = _page(response)
    assert response.status_code == 200
    assert "<html" in page
    for words in GUIDE_WORDS[step.value]:
        assert words in page
    assert 'id="rail"' in page
    assert 'aria-current="step"' in page
    assert "Stored-Pa55word" not in page


@pytest.mark.parametrize(("name", "args", "method"), ENTITY_VIEWS, ids=VIEW_IDS)
def test_member_without_the_role_is_told_which_condition_is_missing(
    clerk, attempt, name, args, method
):
    url = reverse(f"connections:{name}", args=[attempt.legal_entity.public_id, *args])
    before = (AuditEvent.objects.count(), VerificationRun.objects.count())

    response = getattr(_client(clerk), method)(url)

    page = _page(response)
    assert response.status_code == 403
    assert "System Administrator role" in page
    assert "Your role in Acme Corp is AP Clerk" in page
    assert "Your home org unit is Head office" in page  # the condition met, shown as met
    assert "Connecting Acme Corp to Sage Intacct needs both" in page
    assert "Missing" in page
    assert "home org unit;" not in page
    assert (AuditEvent.objects.count(), VerificationRun.objects.count()) == before


@pytest.mark.parametrize(("name", "args", "method"), ENTITY_VIEWS, ids=VIEW_IDS)
def test_administrator_off_the_root_is_told_about_the_home_unit(
    branch_admin, attempt, name, args, method
):
    url = reverse(f"connections:{name}", args=[attempt.legal_entity.public_id, *args])

    response = getattr(_client(branch_admin), method)(url)

    page = _page(response)
    assert response.status_code == 403
    assert "Your home org unit is Field office" in page
    assert "root org unit (Head office)" in page
    assert "connecting to Sage Intacct needs the System Administrator role" not in page


@pytest.mark.parametrize(("name", "args", "method"), ENTITY_VIEWS, ids=VIEW_IDS)
def test_outsider_gets_404_for_another_organizations_entity(outsider, attempt, name, args, method):
    url = reverse(f"connections:{name}", args=[attempt.legal_entity.public_id, *args])
    before = AuditEvent.objects.count()

    response = getattr(_client(outsider), method)(url)

    assert response.status_code == 404
    assert attempt.legal_entity.name not in _page(response)
    assert AuditEvent.objects.count() == before


@pytest.mark.parametrize(("name", "args", "method"), ENTITY_VIEWS, ids=VIEW_IDS)
def test_anonymous_visitor_is_sent_to_log_in(client, attempt, name, args, method):
    url = reverse(f"connections:{name}", args=[attempt.legal_entity.public_id, *args])

    response = getattr(client, method)(url)

    assert response.status_code == 302
    assert response["Location"].startswith(reverse("login"))


def test_run_status_follows_the_three_personas(system_admin, clerk, outsider, attempt):
    run = VerificationRunFactory(attempt=attempt, state=VerificationRun.State.ERROR, error="x")
    url = reverse("connections:run_status", args=[attempt.legal_entity.public_id, run.public_id])

    assert _client(system_admin).get(url).status_code == 200
    assert _client(clerk).get(url).status_code == 403
    assert _client(outsider).get(url).status_code == 404


def test_run_of_another_legal_entity_is_404(system_admin, attempt, organization):
    other = start_attempt(LegalEntity.objects.create(organization=organization, name="Acme UK"))
    run = VerificationRunFactory(attempt=other)
    url = reverse("connections:run_status", args=[attempt.legal_entity.public_id, run.public_id])

    assert _client(system_admin).get(url).status_code == 404


# --- The legal entity list --------------------------------------------------------------------------


def test_legal_entity_list_shows_where_each_stands(system_admin, attempt):
    StepState.objects.filter(attempt=attempt, step=Step.PRE_CONNECTION).update(
        status=StepState.Status.ACKNOWLEDGED
    )

    response = _client(system_admin).get(reverse("connections:legal_entities"))

    page = _page(response)
    assert response.status_code == 200
    assert "Acme US" in page
    assert "1 of 10 done" in page
    assert "Step 1: Web Services subscription" in page
    assert reverse("connections:ws_subscription", args=[attempt.legal_entity.public_id]) in page


def test_legal_entity_list_is_refused_to_a_member_without_the_role(clerk, attempt):
    response = _client(clerk).get(reverse("connections:legal_entities"))

    assert response.status_code == 403
    assert "System Administrator role" in _page(response)
    assert "Acme US" not in _page(response)


def test_legal_entity_list_tells_a_user_without_organization(user):
    response = _client(user).get(reverse("connections:legal_entities"))

    assert response.status_code == 403
    assert "not a member of any organization" in _page(response)


def test_outsider_sees_only_their_own_legal_entities(outsider, attempt):
    response = _client(outsider).get(reverse("connections:legal_entities"))

    assert response.status_code == 200
    assert "Acme US" not in _page(response)


def test_adding_a_legal_entity_starts_it_at_the_checklist(system_admin, organization):
    response = _client(system_admin).post(
        reverse("connections:legal_entities"), {"name": "  Acme CA  "}
    )

    legal_entity = LegalEntity.objects.get(organization=organization, name="Acme CA")
    assert response.status_code == 302
    assert response["Location"] == reverse(
        "connections:pre_connection", args=[legal_entity.public_id]
    )
    assert legal_entity.attempts.current().get().steps.count() == len(Step)
    assert AuditEvent.objects.filter(action="legal_entity.created", legal_entity=legal_entity)


def test_adding_a_duplicate_legal_entity_says_so_and_keeps_the_name(system_admin, attempt):
    response = _client(system_admin).post(
        reverse("connections:legal_entities"), {"name": "acme us"}
    )

    page = _page(response)
    assert response.status_code == 200
    assert "already has a legal entity named" in page
    assert 'value="acme us"' in page


# --- Acknowledging steps -----------------------------------------------------------------------------


def test_ive_done_this_marks_the_step_done_and_opens_the_next(system_admin, attempt):
    url = reverse("connections:ws_user", args=[attempt.legal_entity.public_id])

    response = _client(system_admin).post(url)

    state = attempt.steps.get(step=Step.WS_USER)
    assert response.status_code == 302
    assert response["Location"] == reverse(
        "connections:role_permissions", args=[attempt.legal_entity.public_id]
    )
    assert state.status == StepState.Status.ACKNOWLEDGED
    assert state.acknowledged_by == system_admin
    event = AuditEvent.objects.get(action="step.acknowledged")
    assert event.detail["step"] == "ws_user"
    assert event.actor == system_admin


def test_acknowledged_step_says_done_and_verified_step_says_verified_by_intacct(
    system_admin, attempt
):
    client = _client(system_admin)
    client.post(reverse("connections:ws_user", args=[attempt.legal_entity.public_id]))
    StepState.objects.filter(attempt=attempt, step=Step.SENDER_AUTHORIZATION).update(
        status=StepState.Status.VERIFIED, verified_at="2025-03-04T05:06:00Z"
    )

    done = _page(client.get(reverse("connections:ws_user", args=[attempt.legal_entity.public_id])))
    verified = _page(
        client.get(
            reverse("connections:sender_authorization", args=[attempt.legal_entity.public_id])
        )
    )

    assert "<strong>Done</strong>" in done
    assert "Verified by Intacct" in verified
    assert "4 Mar 2025, 05:06" in verified
    assert "I&#x27;ve done this" not in verified
    assert "I've done this" not in verified


def test_acknowledging_a_verified_step_keeps_it_verified(system_admin, attempt):
    StepState.objects.filter(attempt=attempt, step=Step.WS_USER).update(
        status=StepState.Status.VERIFIED
    )

    _client(system_admin).post(
        reverse("connections:ws_user", args=[attempt.legal_entity.public_id])
    )

    assert attempt.steps.get(step=Step.WS_USER).status == StepState.Status.VERIFIED


def test_failed_step_shows_the_reason_and_the_remedy(system_admin, attempt):
    StepState.objects.filter(attempt=attempt, step=Step.SENDER_AUTHORIZATION).update(
        status=StepState.Status.FAILED, reason="Sender not authorized.", errorno="XL03000006"
    )

    page = _page(
        _client(system_admin).get(
            reverse("connections:sender_authorization", args=[attempt.legal_entity.public_id])
        )
    )

    assert "Failed" in page
    assert "Sender not authorized." in page
    assert "XL03000006" in page
    assert "Web Services Authorization, click + and enter the Sender ID" in page


def test_pre_connection_checklist_needs_both_confirmations(system_admin, attempt):
    url = reverse("connections:pre_connection", args=[attempt.legal_entity.public_id])

    response = _client(system_admin).post(url, {"can_log_in_as_admin": "on"})

    page = _page(response)
    assert response.status_code == 200
    assert "Confirm that all other users are logged out of Sage Intacct" in page
    assert attempt.steps.get(step=Step.PRE_CONNECTION).status == StepState.Status.PENDING


def test_pre_connection_checklist_shows_enforced_items_as_met(system_admin, attempt):
    url = reverse("connections:pre_connection", args=[attempt.legal_entity.public_id])

    page = _page(_client(system_admin).get(url))

    assert page.count(">Met</span>") == 2
    assert "Confirm you can log into Sage Intacct as Administrator" in page
    assert "Confirm that all other users are logged out of Sage Intacct during this process" in page
    assert "progress is saved after every step" in page


def test_pre_connection_checklist_confirmed_opens_step_one(system_admin, attempt):
    url = reverse("connections:pre_connection", args=[attempt.legal_entity.public_id])

    response = _client(system_admin).post(
        url, {"can_log_in_as_admin": "on", "others_logged_out": "on"}
    )

    assert response.status_code == 302
    assert response["Location"].endswith("/ws_subscription/")
    assert attempt.steps.get(step=Step.PRE_CONNECTION).status == StepState.Status.ACKNOWLEDGED


def test_resume_opens_the_first_step_not_done(system_admin, attempt):
    StepState.objects.filter(
        attempt=attempt, step__in=[Step.PRE_CONNECTION, Step.WS_SUBSCRIPTION]
    ).update(status=StepState.Status.ACKNOWLEDGED)

    response = _client(system_admin).get(
        reverse("connections:resume", args=[attempt.legal_entity.public_id])
    )

    assert response["Location"] == reverse(
        "connections:ws_user", args=[attempt.legal_entity.public_id]
    )


def test_resume_opens_smartsync_once_every_step_is_done(system_admin, attempt):
    StepState.objects.filter(attempt=attempt).update(status=StepState.Status.VERIFIED)

    response = _client(system_admin).get(
        reverse("connections:resume", args=[attempt.legal_entity.public_id])
    )

    assert response["Location"] == reverse(
        "connections:smartsync", args=[attempt.legal_entity.public_id]
    )


def test_role_step_renders_the_permission_table_screen_by_screen(system_admin, attempt):
    page = _page(
        _client(system_admin).get(
            reverse("connections:role_permissions", args=[attempt.legal_entity.public_id])
        )
    )

    for text in (
        "Administration",
        "Application Subscriptions",
        "List, View",
        "Pay Bills",
        "View, Add",
        "Only if your company uses Multi-entity",
        "User Defined Dimensions",
        "View (All that apply)",
        "Company -> Roles -> Beanworks API -> Subscriptions: Accounts Payable",
    ):
        assert text in page
    assert 'for="perm-vendors"' in page


def test_api_sync_profile_step_turns_ready_once_customer_success_created_it(system_admin, attempt):
    url = reverse("connections:api_sync_profile", args=[attempt.legal_entity.public_id])
    client = _client(system_admin)

    waiting = _page(client.get(url))
    ApiSyncProfileFactory(legal_entity=attempt.legal_entity)
    ready = _page(client.get(url))

    assert "Waiting for customer success" in waiting
    assert "Ready:" in ready
    assert "VENDOR" in ready


def test_smartsync_waits_for_the_api_sync_profile_and_links_back(system_admin, attempt):
    page = _page(
        _client(system_admin).get(
            reverse("connections:smartsync", args=[attempt.legal_entity.public_id])
        )
    )

    assert "Step 8 must be done first" in page
    assert reverse("connections:api_sync_profile", args=[attempt.legal_entity.public_id]) in page


# --- The rail ---------------------------------------------------------------------------------------


def test_rail_is_a_fragment_for_htmx(system_admin, attempt):
    url = reverse("connections:rail", args=[attempt.legal_entity.public_id])

    response = _client(system_admin).get(url, {"step": "ws_user"}, headers=HX)

    page = _page(response)
    assert response.status_code == 200
    assert "<html" not in page
    assert page.lstrip().startswith('<nav id="rail"')
    assert 'hx-trigger="rail-changed from:body"' in page
    assert "?step=ws_user" in page
    assert "HX-Request" in response["Vary"]


def test_rail_is_a_progress_page_without_htmx(system_admin, attempt):
    response = _client(system_admin).get(
        reverse("connections:rail", args=[attempt.legal_entity.public_id])
    )

    page = _page(response)
    assert "<html" in page
    assert "Progress and history" in page
    assert "Connection attempt started" in page
    assert "attempt.started" not in page  # the code is for the audit log, not for people


def test_boosted_navigation_gets_the_full_page(system_admin, attempt):
    response = _client(system_admin).get(
        reverse("connections:rail", args=[attempt.legal_entity.public_id]), headers=HX_BOOSTED
    )

    assert "<html" in _page(response)


def test_rail_names_each_state_in_words(system_admin, attempt):
    StepState.objects.filter(attempt=attempt, step=Step.PRE_CONNECTION).update(
        status=StepState.Status.ACKNOWLEDGED
    )
    StepState.objects.filter(attempt=attempt, step=Step.WS_SUBSCRIPTION).update(
        status=StepState.Status.VERIFIED
    )
    StepState.objects.filter(attempt=attempt, step=Step.WS_USER).update(
        status=StepState.Status.FAILED, reason="No such user."
    )

    page = _page(
        _client(system_admin).get(
            reverse("connections:rail", args=[attempt.legal_entity.public_id]), headers=HX
        )
    )

    for words in ("Done", "Verified", "Failed", "Not started", "After step 7"):
        assert f">{words}" in page
    # Customer success is waited for once the connection is verified, not before.
    assert ">Waiting for customer success" not in page
    ConnectionAttempt.objects.filter(pk=attempt.pk).update(state=ConnectionAttempt.State.VERIFIED)
    page = _page(
        _client(system_admin).get(
            reverse("connections:rail", args=[attempt.legal_entity.public_id]), headers=HX
        )
    )
    assert ">Waiting for customer success" in page


# --- CSRF --------------------------------------------------------------------------------------------


def test_posts_without_a_csrf_token_are_refused(system_admin, attempt):
    client = Client(enforce_csrf_checks=True)
    client.force_login(system_admin)
    url = reverse("connections:ws_user", args=[attempt.legal_entity.public_id])

    response = client.post(url)

    assert response.status_code == 403
    assert attempt.steps.get(step=Step.WS_USER).status == StepState.Status.PENDING


def test_htmx_post_with_the_token_from_hx_headers_is_accepted(system_admin, attempt):
    client = Client(enforce_csrf_checks=True)
    client.force_login(system_admin)
    url = reverse("connections:ws_user", args=[attempt.legal_entity.public_id])
    page = _page(client.get(url))
    token = re.search(r'hx-headers=\'\{"X-CSRFToken": "([^"]+)"\}\'', page).group(1)

    refused = client.post(url, headers=HX_BOOSTED)
    accepted = client.post(url, headers={**HX_BOOSTED, "X-CSRFToken": token})

    assert refused.status_code == 403
    assert accepted.status_code == 302
    assert attempt.steps.get(step=Step.WS_USER).status == StepState.Status.ACKNOWLEDGED


def test_every_form_on_the_step_pages_carries_the_token(system_admin, attempt):
    client = _client(system_admin)
    for step in Step:
        page = _page(
            client.get(reverse(f"connections:{step.value}", args=[attempt.legal_entity.public_id]))
        )
        forms = re.findall(r"<form[^>]*method=\"post\"", page)
        assert page.count('name="csrfmiddlewaretoken"') >= len(forms), step


def test_test_connection_without_token_is_refused(system_admin, attempt):
    client = Client(enforce_csrf_checks=True)
    client.force_login(system_admin)

    response = client.post(
        reverse("connections:test_connection", args=[attempt.legal_entity.public_id]), headers=HX
    )

    assert response.status_code == 403
    assert not VerificationRun.objects.exists()


# --- Credentials -----------------------------------------------------------------------------------


def _credentials(**values: str) -> dict[str, str]:
    data = {
        "integration_type": "top_level",
        "company_id": "acme",
        "entity_id": "",
        "user_id": "Beanworks",
        "password": "",
    }
    data.update(values)
    return data


def test_credentials_page_never_renders_the_stored_password(system_admin, attempt):
    page = _page(
        _client(system_admin).get(
            reverse("connections:credentials", args=[attempt.legal_entity.public_id])
        )
    )

    assert "Stored-Pa55word" not in page
    assert 'value="acme"' in page
    assert "A password is saved" in page
    assert re.search(r'<input type="password" name="password"(?![^>]*value=)', page)


def test_invalid_credentials_keep_what_was_typed_except_the_password(system_admin, attempt):
    url = reverse("connections:credentials", args=[attempt.legal_entity.public_id])

    response = _client(system_admin).post(
        url,
        _credentials(
            company_id="acme|E100",
            user_id="Beanworks",
            password="Typed-Secret-1",
            integration_type="entity_level",
            entity_id="",
        ),
    )

    page = _page(response)
    assert response.status_code == 200
    assert "Enter only the company ID (here: “acme”); put the entity (“E100”)" in page
    assert "Enter the entity ID for an entity-level connection" in page
    assert 'value="acme|E100"' in page
    assert "Typed-Secret-1" not in page
    assert 'aria-invalid="true"' in page
    attempt.refresh_from_db()
    assert attempt.company_id == "acme"


def test_saving_credentials_trims_ids_and_keeps_a_blank_password(system_admin, attempt):
    url = reverse("connections:credentials", args=[attempt.legal_entity.public_id])

    response = _client(system_admin).post(
        url, _credentials(company_id=" acme-corp ", user_id="Beanworks ")
    )

    attempt.refresh_from_db()
    assert response.status_code == 302
    assert attempt.company_id == "acme-corp"
    assert attempt.user_id == "Beanworks"
    assert attempt.password.reveal() == "Stored-Pa55word"
    assert attempt.steps.get(step=Step.CREDENTIALS).status == StepState.Status.ACKNOWLEDGED
    event = AuditEvent.objects.get(action="attempt.credentials_changed")
    assert event.detail["fields"] == ["company_id"]
    assert "Stored-Pa55word" not in str(event.detail)


def test_saving_a_new_password_audits_that_it_changed_never_what_it_is(system_admin, attempt):
    url = reverse("connections:credentials", args=[attempt.legal_entity.public_id])

    _client(system_admin).post(url, _credentials(password="New-Pa55word"))

    attempt.refresh_from_db()
    assert attempt.password.reveal() == "New-Pa55word"
    event = AuditEvent.objects.get(action="attempt.credentials_changed")
    assert event.detail["fields"] == ["password"]
    assert "New-Pa55word" not in str(event.detail)


def test_console_company_id_is_saved_with_a_warning(system_admin, attempt):
    url = reverse("connections:credentials", args=[attempt.legal_entity.public_id])

    response = _client(system_admin).post(url, _credentials(company_id="acme-console"), follow=True)

    page = _page(response)
    assert "looks like a console login" in page
    assert "Company -&gt; Company Info" in page


def test_changing_verified_credentials_starts_a_new_attempt(system_admin, attempt):
    StepState.objects.filter(attempt=attempt, step=Step.WS_USER).update(
        status=StepState.Status.ACKNOWLEDGED, acknowledged_at="2025-01-01T00:00:00Z"
    )
    ConnectionAttempt.objects.filter(pk=attempt.pk).update(state=ConnectionAttempt.State.VERIFIED)
    url = reverse("connections:credentials", args=[attempt.legal_entity.public_id])

    _client(system_admin).post(url, _credentials(company_id="acme-two"))

    attempt.refresh_from_db()
    current = attempt.legal_entity.attempts.current().get()
    assert attempt.state == ConnectionAttempt.State.SUPERSEDED
    assert current.pk != attempt.pk
    assert current.company_id == "acme-two"
    assert current.password.reveal() == "Stored-Pa55word"
    assert current.steps.get(step=Step.WS_USER).status == StepState.Status.ACKNOWLEDGED


@pytest.mark.parametrize("enabled", [True, False])
def test_new_credentials_keep_step_8_while_the_entity_has_an_enabled_profile(
    system_admin, attempt, enabled
):
    """The API Sync Profile is the legal entity's: a new attempt (new password for a verified
    connection) has step 8 done if the profile is enabled, so once verified again the wizard
    goes on at step 9, not back to waiting for customer success."""
    from connections.models import ApiSyncProfile

    ApiSyncProfile.objects.create(
        legal_entity=attempt.legal_entity, object_names=["VENDOR"], enabled=enabled
    )
    ConnectionAttempt.objects.filter(pk=attempt.pk).update(state=ConnectionAttempt.State.VERIFIED)
    url = reverse("connections:credentials", args=[attempt.legal_entity.public_id])

    _client(system_admin).post(url, _credentials(password="New-Pa55word"))

    current = attempt.legal_entity.attempts.current().get()
    assert current.pk != attempt.pk
    expected = StepState.Status.VERIFIED if enabled else StepState.Status.PENDING
    assert current.steps.get(step=Step.API_SYNC_PROFILE).status == expected
    assert current.steps.get(step=Step.SMARTSYNC).status == StepState.Status.PENDING


def test_a_test_of_credentials_saved_again_since_says_it_is_out_of_date(system_admin, attempt):
    """An attempt not yet verified is updated in place: its last test is of the credentials
    before, and the page says so rather than showing it as current."""
    VerificationRunFactory(attempt=attempt, state=VerificationRun.State.FAILED)
    url = reverse("connections:credentials", args=[attempt.legal_entity.public_id])
    client = _client(system_admin)
    assert "Out of date" not in _page(client.get(url))

    response = client.post(url, _credentials(password="New-Pa55word"), follow=True)

    page = _page(response)
    assert attempt.legal_entity.attempts.current().get().pk == attempt.pk
    assert "Out of date:" in page
    assert "The results below are for the earlier credentials: test again." in page
    # Tested again: current.
    VerificationRunFactory(attempt=attempt, state=VerificationRun.State.FAILED)
    assert "Out of date" not in _page(client.get(url))


def test_unchanged_verified_credentials_keep_the_attempt(system_admin, attempt):
    ConnectionAttempt.objects.filter(pk=attempt.pk).update(state=ConnectionAttempt.State.VERIFIED)
    url = reverse("connections:credentials", args=[attempt.legal_entity.public_id])

    page = _page(_client(system_admin).post(url, _credentials(), follow=True))

    assert attempt.legal_entity.attempts.current().get().pk == attempt.pk
    assert "Nothing changed: the saved credentials stay as they were." in page
    assert "Saved." not in page
    assert not AuditEvent.objects.filter(action="attempt.credentials_changed").exists()


def test_entity_picker_link_prefills_the_entity(system_admin, attempt):
    url = reverse("connections:credentials", args=[attempt.legal_entity.public_id])

    page = _page(_client(system_admin).get(url, {"entity_id": "E200"}))

    assert 'value="E200"' in page
    assert re.search(r'value="entity_level"[^>]*checked', page)


# --- Entities ---------------------------------------------------------------------------------------


def test_entity_picker_fragment_lists_what_intacct_returns(system_admin, make_attempt):
    attempt = make_attempt("healthy-multi")
    url = reverse("connections:intacct_entities", args=[attempt.legal_entity.public_id])

    response = _client(system_admin).get(url, headers=HX)

    page = _page(response)
    assert response.status_code == 200
    assert "<html" not in page
    assert page.lstrip().startswith('<div id="entity-picker"')
    for entity_id in ("E100", "E200", "E300"):
        assert f'data-pick-entity="{entity_id}"' in page
    assert "HX-Request" in response["Vary"]


def test_entity_picker_page_without_javascript_links_back_with_the_entity(
    system_admin, make_attempt
):
    attempt = make_attempt("healthy-multi")
    url = reverse("connections:intacct_entities", args=[attempt.legal_entity.public_id])

    page = _page(_client(system_admin).get(url))

    assert "<html" in page
    assert "?entity_id=E200" in page


def test_entity_picker_uses_what_was_typed_before_saving(system_admin, make_attempt):
    attempt = make_attempt("healthy-top")
    url = reverse("connections:intacct_entities", args=[attempt.legal_entity.public_id])

    response = _client(system_admin).post(
        url,
        _credentials(company_id="healthy-multi", integration_type="entity_level"),
        headers=HX,
    )

    assert 'data-pick-entity="E100"' in _page(response)
    attempt.refresh_from_db()
    assert attempt.company_id == "healthy-top"


def test_entity_picker_post_without_javascript_keeps_the_typed_values(system_admin, make_attempt):
    attempt = make_attempt("healthy-top")
    url = reverse("connections:intacct_entities", args=[attempt.legal_entity.public_id])

    page = _page(
        _client(system_admin).post(
            url, _credentials(company_id="healthy-multi", password=SANDBOX_USER_PASSWORD)
        )
    )

    assert "<html" in page
    assert 'value="healthy-multi"' in page
    assert '<option value="E300">' in page
    assert SANDBOX_USER_PASSWORD not in page


def test_entity_picker_explains_a_refused_sign_in(system_admin, make_attempt):
    attempt = make_attempt("healthy-multi", password="wrong-password")
    url = reverse("connections:intacct_entities", args=[attempt.legal_entity.public_id])

    response = _client(system_admin).get(url, headers=HX)

    page = _page(response)
    assert response.status_code == 200
    assert "could not be listed" in page


# --- Verification in the page ------------------------------------------------------------------------


def test_test_connection_starts_one_run_and_returns_the_polling_fragment(
    system_admin, attempt, django_capture_on_commit_callbacks
):
    url = reverse("connections:test_connection", args=[attempt.legal_entity.public_id])
    client = _client(system_admin)

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        first = client.post(url, headers=HX)
        second = client.post(url, headers=HX)

    run = VerificationRun.objects.get()
    page = _page(first)
    assert len(callbacks) == 1
    assert run.attempt == attempt
    assert run.requested_by == system_admin
    assert "<html" not in page
    assert page.lstrip().startswith('<section id="result"')
    assert 'hx-trigger="every 1s"' in page
    assert (
        reverse("connections:run_status", args=[attempt.legal_entity.public_id, run.public_id])
        in page
    )
    assert "Checking with Intacct" in page
    assert first["HX-Trigger"] == '{"rail-changed": {}}'
    assert second.status_code == 200


def test_test_connection_without_javascript_redirects_to_the_page(
    system_admin, attempt, django_capture_on_commit_callbacks
):
    url = reverse("connections:test_connection", args=[attempt.legal_entity.public_id])
    client = _client(system_admin)

    with django_capture_on_commit_callbacks(execute=False):
        response = client.post(url)
    page = _page(client.get(response["Location"]))

    assert response.status_code == 302
    assert response["Location"].endswith("/credentials/#result")
    assert "Checking with Intacct" in page
    assert '<meta http-equiv="refresh"' in page  # inside <noscript>


def test_test_connection_needs_saved_credentials(system_admin, legal_entity):
    start_attempt(legal_entity, actor=system_admin)
    url = reverse("connections:test_connection", args=[legal_entity.public_id])

    response = _client(system_admin).post(url, headers=HX)

    assert response.status_code == 200
    assert response["HX-Redirect"] == reverse(
        "connections:credentials", args=[legal_entity.public_id]
    )
    assert not VerificationRun.objects.exists()


def test_polled_fragment_keeps_polling_while_the_run_is_queued(system_admin, attempt):
    run = VerificationRunFactory(attempt=attempt)
    url = reverse("connections:run_status", args=[attempt.legal_entity.public_id, run.public_id])

    response = _client(system_admin).get(url, headers=HX)

    assert response.status_code == 200
    assert 'hx-trigger="every 1s"' in _page(response)


def test_polled_fragment_stops_polling_with_the_report_when_done(
    system_admin, make_attempt, django_capture_on_commit_callbacks
):
    attempt = make_attempt("missing-permissions")
    client = _client(system_admin)
    with django_capture_on_commit_callbacks(execute=False):
        client.post(reverse("connections:test_connection", args=[attempt.legal_entity.public_id]))
    run = VerificationRun.objects.get()
    run_verification(run.pk)
    url = reverse("connections:run_status", args=[attempt.legal_entity.public_id, run.public_id])

    response = client.get(url, headers=HX)

    page = _page(response)
    assert response.status_code == 286
    assert response["HX-Trigger"] == '{"rail-changed": {}}'
    assert "<html" not in page
    assert "every 1s" not in page
    assert "Not connected yet" in page
    assert "Missing" in page
    assert "Granted" in page
    assert reverse("connections:role_permissions", args=[attempt.legal_entity.public_id]) in page
    assert "Passed" in page


def test_finished_run_as_a_full_page_shows_the_report_in_the_credentials_page(
    system_admin, make_attempt
):
    attempt = make_attempt("no-custom-field")
    run = VerificationRunFactory(attempt=attempt)
    run_verification(run.pk)
    url = reverse("connections:run_status", args=[attempt.legal_entity.public_id, run.public_id])

    response = _client(system_admin).get(url)

    page = _page(response)
    assert response.status_code == 200
    assert "<html" in page
    assert "Not found:" in page
    assert "AP Bill has no custom field with Field ID BEANWORKS" in page
    assert reverse("connections:custom_field", args=[attempt.legal_entity.public_id]) in page


def test_passed_run_says_connected_and_marks_steps_verified_in_the_rail(system_admin, make_attempt):
    attempt = make_attempt("healthy-top")
    run = VerificationRunFactory(attempt=attempt)
    run_verification(run.pk)
    client = _client(system_admin)

    page = _page(
        client.get(reverse("connections:credentials", args=[attempt.legal_entity.public_id]))
    )
    step_page = _page(
        client.get(
            reverse("connections:sender_authorization", args=[attempt.legal_entity.public_id])
        )
    )

    assert "Connected: every check passed." in page
    assert "Found:" in page
    assert "Verified by Intacct" in step_page


def test_failed_sign_in_names_the_likely_causes_in_order(system_admin, make_attempt):
    attempt = make_attempt("healthy-top", password="not-the-password")
    run = VerificationRunFactory(attempt=attempt)
    run_verification(run.pk)

    page = _page(
        _client(system_admin).get(
            reverse("connections:credentials", args=[attempt.legal_entity.public_id])
        )
    )

    positions = [page.find(cause.split(":")[0][:40]) for cause in SIGN_IN_CAUSES]
    assert all(position > 0 for position in positions)
    assert positions == sorted(positions)
    assert "Likely causes, most likely first" in page


def test_sender_failure_is_ours_and_sends_the_customer_nowhere(
    system_admin, make_attempt, settings
):
    attempt = make_attempt("healthy-top")
    settings.INTACCT_SENDER_PASSWORD = "not-our-sender-password"
    run = VerificationRunFactory(attempt=attempt)
    run_verification(run.pk)

    page = _page(
        _client(system_admin).get(
            reverse("connections:credentials", args=[attempt.legal_entity.public_id])
        )
    )

    assert "we have been alerted" in page
    assert "One failure is ours, not yours" in page
    assert "Nothing to do on your side" in page
    assert "Go to step 7" not in page


def test_errored_run_asks_to_try_again_and_keeps_the_progress(system_admin, attempt):
    StepState.objects.filter(attempt=attempt, step=Step.WS_USER).update(
        status=StepState.Status.VERIFIED
    )
    run = VerificationRunFactory(
        attempt=attempt, state=VerificationRun.State.ERROR, error=RETRY_MESSAGE
    )
    url = reverse("connections:run_status", args=[attempt.legal_entity.public_id, run.public_id])
    client = _client(system_admin)

    fragment = client.get(url, headers=HX)
    page = _page(
        client.get(reverse("connections:credentials", args=[attempt.legal_entity.public_id]))
    )

    assert fragment.status_code == 286
    assert "Intacct could not be reached — try again." in _page(fragment)
    assert "Intacct could not be reached — try again." in page
    assert "Test again" in page
    assert "Your earlier progress is kept" in page
    assert attempt.steps.get(step=Step.WS_USER).status == StepState.Status.VERIFIED


def test_unreachable_intacct_gives_a_retry_message_not_a_500(
    system_admin, make_attempt, closed_port_endpoint
):
    attempt = make_attempt("healthy-top", endpoint=closed_port_endpoint)
    run = VerificationRunFactory(attempt=attempt)
    run_verification(run.pk)

    response = _client(system_admin).get(
        reverse("connections:run_status", args=[attempt.legal_entity.public_id, run.public_id]),
        headers=HX,
    )

    assert response.status_code == 286
    assert "Intacct could not be reached — try again." in _page(response)


def test_report_from_check_result_rows_renders_row_by_row(system_admin, attempt):
    run = VerificationRunFactory(attempt=attempt, state=VerificationRun.State.FAILED)
    CheckResultFactory(run=run, key="ws_subscription", outcome="passed", remedy_step="")
    CheckResultFactory(
        run=run,
        key="sender_authorization",
        label="Sender ID authorization",
        outcome="failed",
        message="Sender not authorized.",
        remedy_step=Step.SENDER_AUTHORIZATION,
    )
    CheckResultFactory(
        run=run,
        kind="permission",
        key="vendors",
        label="Accounts Payable — Vendors",
        outcome="missing",
        message="Missing: View on Vendors.",
        remedy_step=Step.ROLE_PERMISSIONS,
    )
    CheckResultFactory(
        run=run, kind="permission", key="tax_details", label="AP — Tax", outcome="not_applicable"
    )
    CheckResultFactory(
        run=run, kind="permission", key="pay_bills", label="AP — Pay", outcome="not_checked"
    )

    page = _page(
        _client(system_admin).get(
            reverse("connections:run_status", args=[attempt.legal_entity.public_id, run.public_id]),
            headers=HX,
        )
    )

    assert "Sender not authorized." in page
    assert "enter the Sender ID BeanworksMPP exactly" in page
    assert "Go to step 5: Sender ID authorization" in page
    for words in ("Missing", "Not applicable", "Not checked"):
        assert words in page
    assert "Company → Roles → the API role → Subscriptions: Accounts Payable" in page


# --- Query counts ----------------------------------------------------------------------------------


def _queries(client, url) -> int:
    with CaptureQueriesContext(connection) as captured:
        assert client.get(url).status_code == 200
    return len(captured)


def test_legal_entity_list_costs_the_same_whatever_the_number_of_entities(
    system_admin, attempt, organization
):
    client = _client(system_admin)
    url = reverse("connections:legal_entities")
    one = _queries(client, url)
    for number in range(4):
        start_attempt(LegalEntity.objects.create(organization=organization, name=f"Acme {number}"))

    assert _queries(client, url) == one


def test_a_slow_check_says_so_while_it_keeps_polling(system_admin, attempt):
    run = VerificationRunFactory(attempt=attempt, state=VerificationRun.State.RUNNING)
    VerificationRun.objects.filter(pk=run.pk).update(
        created_at=run.created_at - timedelta(minutes=2)
    )
    url = reverse("connections:run_status", args=[attempt.legal_entity.public_id, run.public_id])

    response = _client(system_admin).get(url, headers=HX)

    page = _page(response)
    assert response.status_code == 200
    assert "taking longer than usual" in page
    assert 'hx-trigger="every 1s"' in page


def test_legal_entity_list_is_refused_to_an_administrator_off_the_root(branch_admin, attempt):
    response = _client(branch_admin).get(reverse("connections:legal_entities"))

    assert response.status_code == 403
    assert "Root Org Unit access as Home Org Unit" in _page(response)
    assert "Your home org unit is Field office" in _page(response)


def test_pages_load_the_css_framework_and_scripts_from_our_static_files(system_admin, attempt):
    page = _page(
        _client(system_admin).get(
            reverse("connections:credentials", args=[attempt.legal_entity.public_id])
        )
    )

    assert "/static/vendor/pico/pico.min.css" in page
    assert "/static/css/app.css" in page
    assert "/static/js/app.js" in page
    assert "/static/django_htmx/htmx-2.min.js" in page
    assert not re.search(r'(src|href)="(https?:)?//', page)
    assert "cdn" not in page.lower()
