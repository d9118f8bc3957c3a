"""Hand-off links refuse every token that is not a usable link's own, on every hand-off URL and
with every method it takes, and change nothing: expired, revoked, replaced, altered by one
character, cut short, signed with another salt or key. A valid link opens only its own attempt's
runs and steps, and never a session.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from datetime import timedelta

import pytest
from django.conf import settings
from django.core import signing
from django.utils import timezone

from connections.access import HandoffRefused
from connections.models import HandoffLink, Step
from connections.selectors.connections import current_attempt
from connections.services.attempts import start_attempt
from connections.services.handoff import create_handoff_link, revoke_handoff_link
from tests.factories import HandoffLinkFactory
from tests.security.access_rules import (
    LOGIN,
    TABLE,
    URLCONF,
    outcome,
    post_data,
    send,
    url_for,
)

pytestmark = pytest.mark.django_db

#: Every hand-off URL (the token in the URL is the permission), from the URLconf.
HANDOFF_PATTERNS = sorted(key for key, route in URLCONF.items() if "<str:token>" in route)
HX = {"HX-Request": "true"}


def _link(world) -> HandoffLink:
    return HandoffLink.objects.get(attempt__legal_entity=world.entity)


def _changed(token: str, part: int) -> str:
    """``token`` with one character of its ``part`` (0 the link's id, 1 the timestamp, 2 the
    signature) changed."""
    parts = token.split(":")
    first = parts[part][0]
    parts[part] = ("1" if first == "0" else "0") + parts[part][1:]
    return ":".join(parts)


def _signed_long_ago(link: HandoffLink) -> str:
    """What ``HandoffLink.token`` gave just past the signing limit (``MAX_AGE``)."""
    then = int(time.time() - HandoffLink.MAX_AGE.total_seconds() - 60)
    return signing.Signer(salt=HandoffLink.SIGNING_SALT).sign(
        f"{link.public_id}:{signing.b62_encode(then)}"
    )


def _expired(world) -> str:
    now = timezone.now()
    attempt = current_attempt(world.entity)
    link = HandoffLinkFactory(
        attempt=attempt, created_at=now - timedelta(days=4), expires_at=now - timedelta(days=1)
    )
    return link.token()


def _revoked(world) -> str:
    return revoke_handoff_link(_link(world)).token()


def _replaced(world) -> str:
    token = _link(world).token()
    start_attempt(world.entity)  # new credentials: the link's attempt is superseded
    return token


#: A token the links refuse, and why (404: it names no link; 410: the link no longer opens).
BAD_TOKENS: dict[str, tuple[Callable[..., str], str]] = {
    "one character of the id changed": (lambda w: _changed(_link(w).token(), 0), "invalid"),
    "one character of the timestamp changed": (
        lambda w: _changed(_link(w).token(), 1),
        "invalid",
    ),
    "one character of the signature changed": (
        lambda w: _changed(_link(w).token(), 2),
        "invalid",
    ),
    "last character cut off": (lambda w: _link(w).token()[:-1], "invalid"),
    "signature cut off": (lambda w: _link(w).token().rsplit(":", 1)[0], "invalid"),
    "cut in half": (lambda w: _link(w).token()[: len(_link(w).token()) // 2], "invalid"),
    "the bare id": (lambda w: str(_link(w).public_id), "invalid"),
    "signed with another salt": (
        lambda w: signing.TimestampSigner(salt="connections.other").sign(str(_link(w).public_id)),
        "invalid",
    ),
    "signed with another key": (
        lambda w: signing.TimestampSigner(
            key="another-secret-key-" + "x" * 40, salt=HandoffLink.SIGNING_SALT
        ).sign(str(_link(w).public_id)),
        "invalid",
    ),
    "signed, for no link": (lambda w: HandoffLink.signer().sign(str(uuid.uuid4())), "invalid"),
    "expired": (_expired, HandoffLink.Status.EXPIRED),
    "older than the signing limit": (lambda w: _signed_long_ago(_link(w)), "expired"),
    "revoked": (_revoked, HandoffLink.Status.REVOKED),
    "for a replaced attempt": (_replaced, HandoffLink.Status.SUPERSEDED),
}


@pytest.mark.parametrize("kind", BAD_TOKENS)
def test_bad_tokens_are_refused_everywhere_and_change_nothing(world, footprint, kind):
    make, reason = BAD_TOKENS[kind]
    token = make(world)
    message = HandoffRefused.MESSAGES[reason]
    status = 404 if reason == HandoffRefused.INVALID else 410

    for key in HANDOFF_PATTERNS:
        rule = TABLE[key]
        url = url_for(key, world, token=token)
        for method in rule.methods:
            for headers in ({}, HX):
                client = world.client("anonymous")
                with footprint() as found:
                    response = send(client, method, url, rule, post_data(rule, world), **headers)
                said = f"{method} {url} {headers}"
                page = response.content.decode()
                assert response.status_code == status, said
                assert "connections/handoff/refused.html" in _templates(response), said
                assert message in page, said
                assert found.empty, f"{said} left {found}"


def test_the_links_own_token_opens_every_handoff_url(world, footprint):
    """The bad tokens above are refused for what they are: the same requests with the link's own
    token are answered (and the POSTs do their work)."""
    for key in HANDOFF_PATTERNS:
        rule = TABLE[key]
        url = url_for(key, world)
        for method in rule.methods:
            with footprint() as found:
                response = send(
                    world.client("anonymous"), method, url, rule, post_data(rule, world)
                )
            assert response.status_code in (200, 302), f"{method} {url}"
            assert "connections/handoff/refused.html" not in _templates(response)
            if method == "POST":
                assert found.writes, f"{method} {url} changed nothing"


# --- A valid link, pointed at another attempt's objects ----------------------------------------------


@pytest.mark.parametrize(
    ("token", "run"),
    [("token", "other_verification_run"), ("other_token", "verification_run")],
    ids=["A's link, B's run", "B's link, A's run"],
)
@pytest.mark.parametrize("headers", [{}, HX], ids=["page", "htmx"])
def test_a_link_does_not_open_another_attempts_run(world, footprint, token, run, headers):
    url = url_for("connections:handoff_run", world, token=world.ids[token], run_id=world.ids[run])

    with footprint() as found:
        response = world.client("anonymous").get(url, headers=headers)

    assert response.status_code == 404
    assert found.empty, f"left {found}"


@pytest.mark.parametrize("method", ["GET", "POST"])
@pytest.mark.parametrize("step", [Step.PRE_CONNECTION, Step.CREDENTIALS, "no-such-step"])
def test_a_link_opens_only_the_intacct_side_steps(world, footprint, method, step):
    url = url_for("connections:handoff_step", world, step_key=str(step))

    with footprint() as found:
        response = world.client("anonymous").generic(method, url)

    assert response.status_code == 404
    assert found.empty, f"left {found}"


def test_a_link_opens_no_session(world):
    """The token opens the hand-off pages only: the wizard of the same legal entity still asks
    its visitor to log in, and the link left no session behind."""
    client = world.client("anonymous")
    client.get(url_for("connections:handoff_start", world))
    client.post(url_for("connections:handoff_check", world))

    for key in ("connections:credentials", "connections:handoff_manage", "connections:smartsync"):
        assert outcome(client.get(url_for(key, world))) == LOGIN, key
    assert settings.SESSION_COOKIE_NAME not in client.cookies


def test_a_link_made_for_another_legal_entity_opens_only_that_one(world):
    """Two links, two legal entities: each page names its own legal entity only."""
    mine = create_handoff_link(current_attempt(world.other_entity)).token()

    page = world.client("anonymous").get(url_for("connections:handoff_start", world, token=mine))

    assert page.status_code == 200
    assert world.other_entity.name in page.content.decode()
    assert world.entity.name not in page.content.decode()


def _templates(response) -> set[str]:
    return {template.name for template in getattr(response, "templates", [])}
