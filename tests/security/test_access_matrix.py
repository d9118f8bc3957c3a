"""Who may open what: every URL pattern of the URLconf, requested by every persona, with GET and
POST, against the outcome declared for it in ``access_rules.TABLE``.

A pattern the URLconf has and the table does not (a new view) fails, and so does a row for a
pattern that no longer exists. A refused request must leave nothing behind: no SQL write, nothing
queued for after the commit, no task sent. Every pattern that accepts an unsafe method is also
sent without the CSRF token (refused, htmx or not) and with the token its page carries (accepted).
"""

from __future__ import annotations

import html
import json
import re
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
from django.db import transaction
from django.http import HttpResponse

from tests.security.access_rules import (
    DEFAULT_VALUES,
    NOT_FOUND,
    OK,
    PERSONAS,
    TABLE,
    UNSAFE,
    URLCONF,
    Rule,
    outcome,
    post_data,
    send,
    url_for,
    url_patterns,
)

pytestmark = pytest.mark.django_db


# --- The declared table and the URLconf agree ---------------------------------------------------


def test_every_url_pattern_has_a_declared_rule():
    undeclared = sorted(set(URLCONF) - set(TABLE))

    assert not undeclared, f"URL patterns without an access rule in TABLE: {undeclared}"


def test_every_declared_rule_names_a_url_pattern():
    stale = sorted(set(TABLE) - set(URLCONF))

    assert not stale, f"TABLE rows for URL patterns that no longer exist: {stale}"


def test_pattern_keys_are_unique():
    keys = [key for key, _ in url_patterns()]

    assert len(keys) == len(set(keys))


# --- The matrix -------------------------------------------------------------------------------------


@contextmanager
def _undone(undo: bool) -> Iterator[None]:
    """A savepoint rolled back at the end of the block, if ``undo``."""
    if not undo:
        yield
        return
    with transaction.atomic():
        yield
        transaction.set_rollback(True)


@pytest.mark.parametrize("key", sorted(set(TABLE) & set(URLCONF)))
def test_access_matrix(world, footprint, key):
    """The pattern's row of the matrix: every persona, GET and POST. One test per pattern (a test
    per request would cost more than the requests); a failure lists every persona whose outcome
    differs."""
    rule = TABLE[key]
    url = url_for(key, world)
    differences = []

    for persona in PERSONAS:
        for method in ("GET", "POST"):
            expected = rule.expected(persona, method)
            said = f"{method} {url} as {persona}"
            try:
                # An allowed request may change what the next one sees: undo it. (A refused one
                # that changed anything fails the test anyway.)
                with _undone(OK in expected), footprint() as found:
                    client = world.client(persona)
                    response = send(client, method, url, rule, post_data(rule, world))
            except Exception as error:
                raise AssertionError(f"{said} raised {error!r}") from error

            got = outcome(response)
            if got not in expected:
                differences.append(f"{said}: {got}, expected {' or '.join(expected)}")
            elif got != OK and not found.empty:
                differences.append(f"{said}: refused, but left {found}")
            elif got == OK and method == "POST" and rule.writes and not found.writes:
                differences.append(f"{said}: allowed, but changed nothing")

    assert not differences, "\n".join(differences)


RUN_PATTERNS = sorted(key for key in set(TABLE) & set(URLCONF) if "<uuid:run_id>" in URLCONF[key])


@pytest.mark.parametrize("key", RUN_PATTERNS)
def test_another_organizations_run_is_not_found_under_ones_own_ids(world, footprint, key):
    """One's own legal entity (or hand-off link) with another organization's run id: not found
    for everyone the pattern lets in, and nothing left behind."""
    rule = TABLE[key]
    own_run = rule.values.get("run_id", DEFAULT_VALUES["run_id"])
    url = url_for(key, world, run_id=world.ids[f"other_{own_run}"])
    allowed = [persona for persona in PERSONAS if rule.expected(persona, "GET") == {OK}]
    assert allowed, f"nobody may open {key}"

    for persona in allowed:
        with footprint() as found:
            response = world.client(persona).get(url, headers={"HX-Request": "true"})
        assert outcome(response) == NOT_FOUND, f"GET {url} as {persona}: {outcome(response)}"
        assert found.empty, f"GET {url} as {persona} left {found}"


# --- CSRF on every unsafe method ----------------------------------------------------------------

UNSAFE_PATTERNS = sorted(
    key for key, rule in TABLE.items() if key in URLCONF and set(rule.methods) & set(UNSAFE)
)
#: Who posts in the CSRF tests: the first persona the rule lets through, else the superuser
#: (who reaches the view of a pattern that refuses everyone, as "view on site" does).
POSTERS = ("owner", "cs_staff", "staff", "superuser", "anonymous")


def _poster(rule: Rule, method: str) -> str:
    allowed = (persona for persona in POSTERS if rule.expected(persona, method) == {OK})
    return next(allowed, "superuser")


#: Where a persona finds a CSRF token when the pattern has no page of its own for them.
FALLBACK_PAGES = {
    "anonymous": "login",
    "cs_staff": "admin:index",
    "staff": "admin:index",
    "superuser": "admin:index",
}


def _csrf_refused(response: HttpResponse) -> bool:
    """Refused by the CSRF check: our page for it (templates/403_csrf.html), not another 403."""
    return response.status_code == 403 and b"<h1>This form has expired</h1>" in response.content


def _csrf_tokens(page: str, action: str) -> dict[str, str]:
    """The tokens the page would send to ``action``: ``form``, the hidden field of its form for
    ``action`` (else of any form); ``htmx``, the one htmx sends from ``hx-headers`` on <body>."""
    field_ = re.compile(r'name="csrfmiddlewaretoken" value="([^"]+)"')
    tokens = {}
    forms = [form.group(0) for form in re.finditer(r"<form\b[^>]*>.*?</form>", page, re.DOTALL)]
    posting_here = [form for form in forms if f'action="{action}"' in form]
    for form in posting_here + forms:
        if found := field_.search(form):
            tokens["form"] = found.group(1)
            break
    if headers := re.search(r"<body[^>]*hx-headers='([^']+)'", page):
        tokens["htmx"] = json.loads(html.unescape(headers.group(1)))["X-CSRFToken"]
    return tokens


@pytest.mark.parametrize("key", UNSAFE_PATTERNS)
def test_unsafe_methods_without_the_csrf_token_are_refused(world, footprint, key):
    rule = TABLE[key]
    url = url_for(key, world)

    for method in (m for m in UNSAFE if m in rule.methods):
        persona = _poster(rule, method)
        for headers in ({}, {"HX-Request": "true"}):
            client = world.client(persona, enforce_csrf_checks=True)
            with footprint() as found:
                response = send(client, method, url, rule, post_data(rule, world), **headers)

            assert _csrf_refused(response), f"{method} {url} {headers} as {persona}"
            assert found.empty, f"{method} {url} without a token left {found}"


@pytest.mark.parametrize("key", UNSAFE_PATTERNS)
def test_unsafe_methods_with_the_csrf_token_are_accepted(world, key):
    rule = TABLE[key]
    url = url_for(key, world)

    for method in (m for m in UNSAFE if m in rule.methods):
        persona = _poster(rule, method)
        client = world.client(persona, enforce_csrf_checks=True)
        page_key = rule.page or key
        if TABLE[page_key].expected(persona, "GET") != {OK}:
            page_key = FALLBACK_PAGES.get(persona, "connections:home")
        page = client.get(url_for(page_key, world) + TABLE[page_key].query)
        assert page.status_code == 200, f"GET {page_key} as {persona}: {page.status_code}"
        tokens = _csrf_tokens(page.content.decode(), url)
        assert tokens, f"{page_key} carries no CSRF token"

        data = post_data(rule, world)
        for way, token in tokens.items():
            # Each way in its own savepoint: the first POST must not change what the second finds.
            with _undone(True):
                if way == "htmx":
                    headers = {"HX-Request": "true", "X-CSRFToken": token}
                    response = send(client, method, url, rule, data, **headers)
                else:
                    response = send(
                        client, method, url, rule, {**data, "csrfmiddlewaretoken": token}
                    )

            said = f"{method} {url} as {persona} with the {way} token of {page_key}"
            assert not _csrf_refused(response), said
            assert outcome(response) in rule.expected(persona, method), said


def test_every_unsafe_method_needs_the_token_on_every_url(world):
    """Even where the view takes no such method: no view is exempt from the CSRF check."""
    client = world.client("superuser", enforce_csrf_checks=True)
    exempt = []
    for key in sorted(set(TABLE) & set(URLCONF)):
        url = url_for(key, world)
        for method in UNSAFE:
            if not _csrf_refused(client.generic(method, url)):
                exempt.append(f"{method} {url}")

    assert not exempt
