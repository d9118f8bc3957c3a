"""Hand-off links: made and revoked in the wizard; opened without an account for the Intacct-side
steps and the checks; never showing the stored credentials."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from connections.models import (
    HANDOFF_STEPS,
    AuditEvent,
    ConnectionAttempt,
    HandoffLink,
    Step,
    StepState,
    VerificationRun,
)
from connections.services.attempts import start_attempt
from connections.services.handoff import create_handoff_link, revoke_handoff_link
from connections.services.verification import run_verification
from intacct.sandbox import SANDBOX_USER_PASSWORD
from tests.factories import HandoffLinkFactory, VerificationRunFactory

pytestmark = pytest.mark.django_db

HX = {"HX-Request": "true"}
STORED_PASSWORD = "Stored-Pa55word"


@pytest.fixture
def attempt(legal_entity, system_admin) -> ConnectionAttempt:
    return start_attempt(
        legal_entity,
        actor=system_admin,
        company_id="acme-secret-co",
        user_id="Beanworks",
        password=STORED_PASSWORD,
    )


@pytest.fixture
def link(attempt, system_admin) -> HandoffLink:
    return create_handoff_link(attempt, actor=system_admin)


def _client(user=None) -> Client:
    client = Client()
    if user is not None:
        client.force_login(user)
    return client


def _page(response) -> str:
    return response.content.decode()


# --- Making and revoking links ---------------------------------------------------------------------


def test_admin_makes_a_link_and_sees_its_url_only_once(system_admin, attempt):
    client = _client(system_admin)
    url = reverse("connections:handoff_manage", args=[attempt.legal_entity.public_id])

    response = client.post(
        url, {"action": "create", "email": "it@example.com", "lifetime_days": "7"}
    )
    first = _page(client.get(url))
    second = _page(client.get(url))

    link = HandoffLink.objects.get()
    token_url = re.search(r'data-copy="(http://testserver/handoff/[^"]+/)"', first).group(1)
    assert response.status_code == 302
    assert "shown only this once" in first
    assert "mailto:it%40example.com" in first
    assert "http://testserver/handoff/" not in second
    assert "shown only this once" not in second
    assert link.created_by == system_admin
    assert timedelta(days=6, hours=23) < link.expires_at - link.created_at <= timedelta(days=7)
    event = AuditEvent.objects.get(action="handoff_link.created")
    assert event.detail["recipient"] == "it@example.com"
    assert _client().get(token_url).status_code == 200


def test_invalid_email_is_explained_and_no_link_is_made(system_admin, attempt):
    url = reverse("connections:handoff_manage", args=[attempt.legal_entity.public_id])

    response = _client(system_admin).post(
        url, {"action": "create", "email": "it@", "lifetime_days": "3"}
    )

    assert response.status_code == 200
    assert "Enter a valid e-mail address" in _page(response)
    assert 'value="it@"' in _page(response)
    assert not HandoffLink.objects.exists()


def test_admin_revokes_a_link(system_admin, link):
    url = reverse("connections:handoff_manage", args=[link.attempt.legal_entity.public_id])

    _client(system_admin).post(url, {"action": "revoke", "link": str(link.public_id)})

    link.refresh_from_db()
    assert link.revoked_at is not None
    assert AuditEvent.objects.filter(action="handoff_link.revoked").count() == 1
    assert "Revoked" in _page(_client(system_admin).get(url))


def test_revoking_a_link_of_another_legal_entity_is_404(system_admin, outsider, link):
    other_link = HandoffLinkFactory()
    url = reverse("connections:handoff_manage", args=[link.attempt.legal_entity.public_id])

    response = _client(system_admin).post(
        url, {"action": "revoke", "link": str(other_link.public_id)}
    )

    other_link.refresh_from_db()
    assert response.status_code == 404
    assert other_link.revoked_at is None


def test_member_without_the_role_cannot_make_links(clerk, attempt):
    url = reverse("connections:handoff_manage", args=[attempt.legal_entity.public_id])

    response = _client(clerk).post(url, {"action": "create", "lifetime_days": "3"})

    assert response.status_code == 403
    assert not HandoffLink.objects.exists()


def test_outsider_cannot_revoke_links(outsider, link):
    url = reverse("connections:handoff_manage", args=[link.attempt.legal_entity.public_id])

    response = _client(outsider).post(url, {"action": "revoke", "link": str(link.public_id)})

    link.refresh_from_db()
    assert response.status_code == 404
    assert link.revoked_at is None


def test_revoking_twice_is_harmless(link):
    revoke_handoff_link(link)
    first = link.revoked_at
    revoke_handoff_link(link)

    assert link.revoked_at == first
    assert AuditEvent.objects.filter(action="handoff_link.revoked").count() == 1


# --- Opening a link ----------------------------------------------------------------------------------


def test_link_opens_a_welcome_page_without_login(link):
    response = _client().get(reverse("connections:handoff_start", args=[link.token()]))

    page = _page(response)
    assert response.status_code == 200
    assert "the steps in Intacct" in page
    assert "Acme US" in page
    link.refresh_from_db()
    assert link.used_at is not None


@pytest.mark.parametrize("step", HANDOFF_STEPS, ids=[step.value for step in HANDOFF_STEPS])
def test_link_opens_each_intacct_step_without_credentials(link, step):
    response = _client().get(reverse("connections:handoff_step", args=[link.token(), step.value]))

    page = _page(response)
    assert response.status_code == 200
    assert "<html" in page
    assert STORED_PASSWORD not in page
    assert "acme-secret-co" not in page
    assert 'name="password"' not in page
    assert 'name="company_id"' not in page
    assert "Log out" not in page
    assert "I've done this" in page or "I&#x27;ve done this" in page


@pytest.mark.parametrize("step", ["pre_connection", "credentials", "api_sync_profile", "nope"])
def test_link_does_not_open_the_other_steps(link, step):
    response = _client().get(reverse("connections:handoff_step", args=[link.token(), step]))

    assert response.status_code == 404


def test_step_done_through_the_link_is_recorded_without_a_user(link):
    token = link.token()  # timestamped: make it once
    url = reverse("connections:handoff_step", args=[token, Step.CUSTOM_FIELD.value])

    response = _client().post(url)

    state = link.attempt.steps.get(step=Step.CUSTOM_FIELD)
    assert response.status_code == 302
    assert response["Location"] == reverse("connections:handoff_check", args=[token])
    assert state.status == StepState.Status.ACKNOWLEDGED
    assert state.acknowledged_by is None
    event = AuditEvent.objects.get(action="step.acknowledged")
    assert event.actor is None
    assert event.detail["via"] == f"handoff:{link.public_id}"


def test_link_posts_need_the_csrf_token(link):
    client = Client(enforce_csrf_checks=True)
    url = reverse("connections:handoff_step", args=[link.token(), Step.WS_USER.value])

    page = _page(client.get(url))
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    refused = client.post(url)
    accepted = client.post(url, {"csrfmiddlewaretoken": token})

    assert refused.status_code == 403
    assert accepted.status_code == 302


def test_expired_link_says_so(attempt):
    link = HandoffLinkFactory(
        attempt=attempt,
        created_at=timezone.now() - timedelta(days=4),
        expires_at=timezone.now() - timedelta(days=1),
    )

    response = _client().get(reverse("connections:handoff_step", args=[link.token(), "ws_user"]))

    assert response.status_code == 410
    assert "This link has expired. Ask for a new one." in _page(response)
    assert "Company -> Web Services Users" not in _page(response)


def test_revoked_link_says_so(link):
    revoke_handoff_link(link)

    response = _client().get(reverse("connections:handoff_start", args=[link.token()]))

    assert response.status_code == 410
    assert "This link was withdrawn. Ask for a new one." in _page(response)


def test_a_links_token_never_reaches_a_log_line(link):
    """The token opens the link's pages: the "Gone" warning of a revoked link, like every line of
    the console handler, shows ``/handoff/[token]`` instead."""
    import io
    import logging

    from config.log_filters import RedactHandoffTokens

    handler = next(
        h
        for h in logging.getLogger().handlers
        if any(isinstance(f, RedactHandoffTokens) for f in h.filters)
    )
    token = link.token()
    revoke_handoff_link(link)
    stream = io.StringIO()
    previous = handler.setStream(stream)  # type: ignore[attr-defined]
    try:
        _client().get(reverse("connections:handoff_start", args=[token]))
        logging.getLogger("django.server").info('"GET /handoff/%s/check/ HTTP/1.1" 200 5', token)
    finally:
        handler.setStream(previous)  # type: ignore[attr-defined]
    lines = stream.getvalue()
    assert "Gone: /handoff/[token]/" in lines
    assert '"GET /handoff/[token]/check/ HTTP/1.1" 200 5' in lines
    assert token not in lines
    assert token.split(":")[-1] not in lines


def test_link_to_a_replaced_attempt_says_so(link, system_admin):
    start_attempt(link.attempt.legal_entity, actor=system_admin)

    response = _client().get(reverse("connections:handoff_start", args=[link.token()]))

    assert response.status_code == 410
    assert "replaced" in _page(response)


@pytest.mark.parametrize("token", ["nonsense", "x" * 80])
def test_forged_link_is_not_found(link, token):
    response = _client().get(reverse("connections:handoff_start", args=[token]))

    assert response.status_code == 404
    assert "This link is not valid." in _page(response)


def test_tampered_token_is_refused(link):
    token = link.token()
    tampered = token[:-1] + ("A" if token[-1] != "A" else "B")

    response = _client().get(reverse("connections:handoff_start", args=[tampered]))

    assert response.status_code == 404


# --- Running the checks through a link ------------------------------------------------------------


def test_checks_through_the_link_start_one_run_and_poll(
    make_attempt, system_admin, django_capture_on_commit_callbacks
):
    attempt = make_attempt("sender-not-authorized")
    link = create_handoff_link(attempt, actor=system_admin)
    token = link.token()  # timestamped: make it once
    url = reverse("connections:handoff_check", args=[token])

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        response = _client().post(url, headers=HX)

    run = VerificationRun.objects.get()
    page = _page(response)
    assert len(callbacks) == 1
    assert run.trigger == VerificationRun.Trigger.HANDOFF
    assert run.requested_by is None
    assert "<html" not in page
    assert 'hx-trigger="every 1s"' in page
    assert reverse("connections:handoff_run", args=[token, run.public_id]) in page

    run_verification(run.pk)
    polled = _client().get(
        reverse("connections:handoff_run", args=[token, run.public_id]), headers=HX
    )
    full = _client().get(url)

    assert polled.status_code == 286
    for html in (_page(polled), _page(full)):
        assert "Sender ID authorized" in html
        assert reverse("connections:handoff_step", args=[token, "sender_authorization"]) in html
        assert SANDBOX_USER_PASSWORD not in html
        assert "/connect/" not in html
    assert "<html" in _page(full)


def test_checks_without_javascript_redirect_back_to_the_results(
    link, django_capture_on_commit_callbacks
):
    url = reverse("connections:handoff_check", args=[link.token()])

    with django_capture_on_commit_callbacks(execute=False):
        response = _client().post(url)

    assert response.status_code == 302
    assert response["Location"] == url + "#result"
    page = _page(_client().get(url))
    assert "Checking with Intacct" in page
    assert STORED_PASSWORD not in page


def test_checks_through_the_link_need_saved_credentials(
    legal_entity, system_admin, django_capture_on_commit_callbacks
):
    """Before step 7 there is nothing to sign in with: the button is disabled, and a POST all
    the same starts nothing and says who must enter the credentials."""
    attempt = start_attempt(legal_entity, actor=system_admin, company_id="acme-secret-co")
    token = create_handoff_link(attempt, actor=system_admin).token()
    url = reverse("connections:handoff_check", args=[token])
    assert "disabled" in _page(_client().get(url))

    with django_capture_on_commit_callbacks(execute=False) as callbacks:
        fragment = _client().post(url, headers=HX)
        plain = _client().post(url)

    assert not callbacks
    assert not VerificationRun.objects.exists()
    assert "The credentials have not been entered yet" in _page(fragment)
    assert "<html" not in _page(fragment)
    assert plain.status_code == 302


def test_run_of_another_attempt_is_not_found_through_a_link(link):
    other = VerificationRunFactory()

    response = _client().get(
        reverse("connections:handoff_run", args=[link.token(), other.public_id]), headers=HX
    )

    assert response.status_code == 404
