"""Every kind of response carries the security headers: the Content-Security-Policy, nosniff,
X-Frame-Options, Referrer-Policy and Cross-Origin-Opener-Policy; no page needs inline script or
style to work under them."""

from __future__ import annotations

import re

import pytest
from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from tests.factories import USER_PASSWORD
from tests.security.pages import (
    CLERK,
    ERROR_URLCONF,
    anonymous_pages,
    error_pages,
    make_site,
    owner_pages,
)

pytestmark = pytest.mark.django_db

POLICY = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "connect-src": "'self'",
    "form-action": "'self'",
    "base-uri": "'self'",
    "frame-ancestors": "'none'",
    "object-src": "'none'",
}
HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
}


def policy(response) -> dict[str, str]:
    header = response["Content-Security-Policy"]
    directives = (part.strip().split(None, 1) for part in header.split(";") if part.strip())
    return {name: value for name, value in directives}


def assert_secure_headers(response, name: str) -> None:
    assert policy(response) == POLICY, name
    for header, value in HEADERS.items():
        assert response.get(header) == value, f"{name}: {header}"


@pytest.fixture
def site():
    return make_site()


@pytest.fixture
def owner_client(site) -> Client:
    client = Client()
    client.force_login(site.owner)
    return client


def test_every_page_a_visitor_opens_carries_the_headers(site):
    for name, url in anonymous_pages(site).items():
        response = Client().get(url)

        assert response.status_code == (404 if name == "not found" else 200), name
        assert_secure_headers(response, name)


def test_every_page_a_logged_in_user_opens_carries_the_headers(site, owner_client, settings):
    settings.SANDBOX_URL = ""  # the home page asks no sandbox
    for name, url in owner_pages(site).items():
        response = owner_client.get(url)

        assert response.status_code == 200, name
        assert_secure_headers(response, name)


def test_htmx_fragments_redirects_and_errors_carry_the_headers(site, owner_client):
    smartsync = owner_pages(site)["smartsync"]
    responses = {
        "fragment": owner_client.get(smartsync, headers={"HX-Request": "true"}),
        "redirect": Client().get(reverse("connections:home")),
        "method not allowed": owner_client.delete(smartsync),
        "health check": Client().get(reverse("connections:healthz")),
    }

    assert responses["redirect"].status_code == 302
    assert responses["method not allowed"].status_code == 405
    for name, response in responses.items():
        assert_secure_headers(response, name)


def test_static_files_carry_the_headers():
    response = Client().get("/static/css/app.css")

    assert response.status_code == 200
    assert_secure_headers(response, "app.css")


def test_error_pages_are_ours_and_carry_the_headers(site, settings):
    """A 404, both kinds of 403, a 500 and a CSRF failure: our own pages (Django's CSRF page
    styles itself inline, which the policy would block), with the headers and nothing inline."""
    settings.ROOT_URLCONF = ERROR_URLCONF
    clerk = Client(raise_request_exception=False)
    clerk.force_login(User.objects.get(username=CLERK))
    login = Client(enforce_csrf_checks=True)
    login.get(reverse("login"))
    login.cookies.clear()  # the form's token no longer matches a cookie: a CSRF failure
    responses = {
        name: (clerk.get(url), status, heading)
        for name, (url, status, heading) in error_pages(site).items()
    }
    responses["csrf failure"] = (
        login.post(reverse("login"), {"username": CLERK, "password": USER_PASSWORD}),
        403,
        "This form has expired",
    )

    for name, (response, status, heading) in responses.items():
        page = response.content.decode()
        assert response.status_code == status, name
        assert f"<h1>{heading}</h1>" in page, name
        assert_secure_headers(response, name)
        assert not INLINE_SCRIPT.search(page), name
        assert not INLINE_STYLE.search(page), name
        assert "Traceback" not in page, name
        assert "deliberate failure" not in page, name
    # The CSRF failure kept the clerk logged out.
    assert "_auth_user_id" not in login.session


INLINE_SCRIPT = re.compile(r"<script(?![^>]*\bsrc=)[^>]*>", re.IGNORECASE)
INLINE_STYLE = re.compile(r"<style\b|\sstyle=", re.IGNORECASE)
INLINE_HANDLER = re.compile(r"\son[a-z]+=|javascript:", re.IGNORECASE)


def test_our_pages_have_no_inline_script_style_or_handler(site, owner_client, settings):
    """What the policy would block, found before a browser does (the admin's are its own)."""
    settings.SANDBOX_URL = ""
    pages = {
        **{name: Client().get(url) for name, url in anonymous_pages(site).items()},
        **{
            name: owner_client.get(url)
            for name, url in owner_pages(site).items()
            if not name.startswith("admin")
        },
    }
    for name, response in pages.items():
        page = response.content.decode()
        assert not INLINE_SCRIPT.search(page), name
        assert not INLINE_STYLE.search(page), name
        assert not INLINE_HANDLER.search(page), name
    # The patterns find what they look for.
    assert INLINE_STYLE.search('<rect style="fill:red">')
    assert INLINE_SCRIPT.search("<script>alert(1)</script>")
    assert not INLINE_SCRIPT.search('<script src="/static/js/app.js" defer></script>')


def test_htmx_is_told_to_inject_no_style_and_to_eval_nothing():
    page = Client().get(reverse("login")).content.decode()

    assert (
        '<meta name="htmx-config" content=\'{"includeIndicatorStyles":false,"allowEval":false}\'>'
        in page
    )


def test_favicon_ico_leads_to_our_icon():
    """Pages without an icon link (the admin's) make the browser ask for /favicon.ico."""
    response = Client().get("/favicon.ico", follow=True)

    assert response.redirect_chain == [("/static/favicon.svg", 301)]
    assert response.status_code == 200
    assert response["Content-Type"] == "image/svg+xml"


def test_debug_mode_adds_no_inline_script(settings):
    """django-htmx adds its debug helper in DEBUG: a script file, allowed by the policy."""
    settings.DEBUG = True

    page = Client().get(reverse("login")).content.decode()

    assert '<script src="/static/django_htmx/django-htmx.js" data-debug="True" defer>' in page
    assert not INLINE_SCRIPT.search(page)
