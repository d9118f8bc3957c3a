from __future__ import annotations

import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db

COMPANIES = {"companies": [{"company_id": "healthy-top", "scenario": "healthy_top"}]}


class _HealthHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        body = json.dumps(COMPANIES).encode() if self.path == "/sandbox/" else b"{}"
        self.send_response(200 if self.path == "/sandbox/" else 404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def health_server() -> Iterator[str]:
    """A loopback HTTP server answering the sandbox's health request."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HealthHandler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()
    server.server_close()


@pytest.fixture
def closed_port_url() -> str:
    """A loopback address where nothing listens."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), _HealthHandler)
    port = server.server_address[1]
    server.server_close()
    return f"http://127.0.0.1:{port}"


def test_home_redirects_anonymous_visitor_to_login(client):
    response = client.get(reverse("connections:home"))

    assert response.status_code == 302
    assert response["Location"] == f"{reverse('login')}?next=/"


def test_home_lists_sandbox_companies_when_reachable(user_client, settings, health_server):
    settings.SANDBOX_URL = health_server

    response = user_client.get(reverse("connections:home"))

    assert response.status_code == 200
    page = response.content.decode()
    assert "<html" in page
    assert "Reachable at" in page
    assert "healthy-top" in page
    assert "healthy_top" in page
    # What a new user needs to connect a sandbox company, the user's password included.
    from intacct.sandbox import SANDBOX_USER_PASSWORD

    assert f"<code>{SANDBOX_USER_PASSWORD}</code>" in page


def test_home_says_how_to_start_an_unreachable_sandbox(user_client, settings, closed_port_url):
    settings.SANDBOX_URL = closed_port_url

    response = user_client.get(reverse("connections:home"))

    page = response.content.decode()
    assert response.status_code == 200
    assert "Not reachable" in page
    assert "python -m intacct.sandbox --port 8765" in page


def test_home_htmx_request_gets_only_the_sandbox_fragment(user_client, settings, health_server):
    settings.SANDBOX_URL = health_server

    response = user_client.get(reverse("connections:home"), headers={"HX-Request": "true"})

    page = response.content.decode()
    assert response.status_code == 200
    assert "<html" not in page
    assert 'id="sandbox-status"' in page
    assert "healthy-top" in page
    assert "HX-Request" in response["Vary"]


def test_home_page_loads_htmx_from_our_static_files(user_client, settings, closed_port_url):
    settings.SANDBOX_URL = closed_port_url

    page = user_client.get(reverse("connections:home")).content.decode()

    assert "/static/django_htmx/htmx-2.min.js" in page
    assert "/static/css/app.css" in page
    # Every script and stylesheet comes from our own /static/, none from another host (a CDN).
    sources = re.findall(r'<(?:script[^>]*\bsrc|link[^>]*\bhref)="([^"]+)"', page)
    assert sources
    assert all(source.startswith("/static/") for source in sources), sources


def test_login_page_renders_a_form_with_csrf_token(client):
    response = client.get(reverse("login"))

    page = response.content.decode()
    assert response.status_code == 200
    assert 'name="csrfmiddlewaretoken"' in page
    assert 'name="username"' in page
    assert 'name="password"' in page


def test_login_without_csrf_token_is_refused(user):
    from django.test import Client

    client = Client(enforce_csrf_checks=True)

    response = client.post(
        reverse("login"), {"username": "someone", "password": "a-long-password-1"}
    )

    assert response.status_code == 403


def test_login_with_good_credentials_lands_on_home(client, user, settings, closed_port_url):
    settings.SANDBOX_URL = closed_port_url

    response = client.post(
        reverse("login"), {"username": "someone", "password": "a-long-password-1"}, follow=True
    )

    assert response.redirect_chain[-1][0] == "/"
    assert "Sage Intacct connection" in response.content.decode()


def test_logout_is_a_post(user_client):
    response = user_client.post(reverse("logout"))

    assert response.status_code == 302
    assert response["Location"] == reverse("login")


def test_healthz_needs_no_login(client):
    response = client.get(reverse("connections:healthz"))

    assert response.status_code == 200
    assert response.content == b"ok"


# --- Logging in and out ------------------------------------------------------------------------


def _log_in(client, username: str, **extra: str):
    return client.post(
        reverse("login"), {"username": username, "password": "Pa55word-for-tests", **extra}
    )


@pytest.mark.django_db
def test_customer_success_staff_of_no_organization_land_on_the_console(client, settings):
    from django.contrib.auth.models import Group

    from connections.models import CUSTOMER_SUCCESS_GROUP
    from tests.factories import UserFactory

    staff = UserFactory(username="success", password="Pa55word-for-tests")
    staff.groups.add(Group.objects.get_or_create(name=CUSTOMER_SUCCESS_GROUP)[0])

    assert _log_in(client, "success")["Location"] == reverse("console:overview")
    client.logout()
    # An explicit next wins.
    assert _log_in(client, "success", next="/connect/")["Location"] == "/connect/"


@pytest.mark.django_db
def test_a_customer_lands_on_the_home_page_and_is_told_when_logged_out(client, system_admin):
    system_admin.set_password("Pa55word-for-tests")
    system_admin.save()

    assert _log_in(client, system_admin.username)["Location"] == "/"
    page = client.post(reverse("logout"), follow=True).content.decode()
    assert "You are logged out." in page


@pytest.mark.django_db
def test_staff_of_no_organization_are_offered_the_console_not_the_wizard(client, system_admin):
    from django.contrib.auth.models import Group

    from connections.models import CUSTOMER_SUCCESS_GROUP
    from tests.factories import UserFactory

    staff = UserFactory(username="success-home")
    staff.groups.add(Group.objects.get_or_create(name=CUSTOMER_SUCCESS_GROUP)[0])
    wizard = reverse("connections:legal_entities")
    client.force_login(staff)
    page = client.get(reverse("connections:home")).content.decode()
    assert f'href="{wizard}"' not in page
    assert "Open the customer-success console" in page
    # A member (customer or staff who belongs to one) keeps the wizard's links.
    client.force_login(system_admin)
    assert f'href="{wizard}"' in client.get(reverse("connections:home")).content.decode()
