"""Login throttling: failed logins lock the username and the client address out for a while, the
login page says so and for how long, and an administrator can unlock them.

Every login here goes through the real login page (``POST /accounts/login/``), as a browser's
would; the test client's address is 127.0.0.1 unless a test gives another.
"""

from __future__ import annotations

import re
from datetime import timedelta
from io import StringIO

import pytest
from axes.models import AccessAttempt, AccessLog
from django.contrib.auth import authenticate
from django.core.management import call_command
from django.test import Client, RequestFactory
from django.urls import reverse

from tests.factories import USER_PASSWORD, UserFactory
from tests.test_project import clean_env, load_settings

pytestmark = pytest.mark.django_db

LIMIT = 5
ADDRESS_LIMIT = 20
WRONG = "not-the-password"
LOCKED_ACCOUNT = "This account is locked for 15 minutes after too many failed login attempts."
LOCKED_ADDRESS = (
    "Logins from your network address are locked for 15 minutes after too many failed login "
    "attempts."
)
ASK = "Try again then, or ask support to unlock it sooner."


def log_in(client: Client, username: str, password: str, address: str = "127.0.0.1", **extra):
    return client.post(
        reverse("login"),
        {"username": username, "password": password, **extra},
        REMOTE_ADDR=address,
    )


def logged_in(response) -> bool:
    return response.status_code == 302 and response.wsgi_request.user.is_authenticated


def lockout(response) -> str:
    """The lockout message on the login page, or ''."""
    found = re.search(
        r'<div class="message error" role="alert" id="lockout"><p>(.*?)</p>', _page(response)
    )
    return found.group(1) if found else ""


def _page(response) -> str:
    return response.content.decode()


def fail(client: Client, username: str, times: int, address: str = "127.0.0.1") -> list:
    return [log_in(client, username, WRONG, address) for _ in range(times)]


def rewind(minutes: int) -> None:
    """Time passes: every recorded failure happened ``minutes`` earlier."""
    for attempt in AccessAttempt.objects.all():
        attempt.attempt_time -= timedelta(minutes=minutes)
        attempt.save(update_fields=["attempt_time"])


@pytest.fixture
def alice():
    return UserFactory(username="alice")


@pytest.fixture
def bob():
    return UserFactory(username="bob")


def test_the_settings_are_five_failures_and_fifteen_minutes(settings):
    assert settings.AXES_FAILURE_LIMIT == LIMIT
    assert settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS == ADDRESS_LIMIT
    assert timedelta(minutes=15) == settings.AXES_COOLOFF_TIME


def test_a_wrong_password_is_the_usual_error_before_the_limit(client, alice):
    responses = fail(client, "alice", LIMIT - 1)

    for response in responses:
        assert response.status_code == 200
        assert "Please enter a correct username and password" in _page(response)
        assert lockout(response) == ""
        assert 'value="alice"' in _page(response)  # what was typed is kept
        assert WRONG not in _page(response)  # but never the password
    assert logged_in(log_in(client, "alice", USER_PASSWORD))


def test_five_wrong_passwords_lock_the_account_even_for_the_right_one(client, alice):
    responses = fail(client, "alice", LIMIT)

    assert responses[-1].status_code == 429
    right = log_in(client, "alice", USER_PASSWORD, next="/cs/")

    assert right.status_code == 429
    assert not right.wsgi_request.user.is_authenticated
    assert lockout(right) == f"{LOCKED_ACCOUNT} {ASK}"
    page = _page(right)
    assert '<form method="post" action="/accounts/login/">' in page  # the login page, not a 403
    assert 'value="alice"' in page
    assert USER_PASSWORD not in page
    assert '<input type="hidden" name="next" value="/cs/">' in page
    assert 14 * 60 < int(right["Retry-After"]) <= 15 * 60


def test_the_lock_is_the_accounts_from_any_address(client, alice):
    # Five addresses, one failure each: the address limit is far, the account's is reached.
    for number in range(LIMIT):
        log_in(client, "alice", WRONG, address=f"203.0.113.{number + 1}")

    elsewhere = log_in(client, "alice", USER_PASSWORD, address="198.51.100.7")

    assert elsewhere.status_code == 429
    assert lockout(elsewhere) == f"{LOCKED_ACCOUNT} {ASK}"


def test_another_user_at_the_same_address_is_locked_after_the_address_limit(client, alice):
    # Failures at many usernames from one address, none reaching the account limit.
    for number in range(ADDRESS_LIMIT):
        log_in(client, f"guess{number}", WRONG, address="192.0.2.10")

    after = log_in(Client(), "alice", USER_PASSWORD, address="192.0.2.10")

    assert after.status_code == 429
    assert lockout(after) == f"{LOCKED_ADDRESS} {ASK}"
    # The same account from another address is not locked.
    assert logged_in(log_in(Client(), "alice", USER_PASSWORD, address="192.0.2.11"))


def test_one_users_lock_leaves_colleagues_at_the_same_address_alone(client, alice, bob):
    fail(client, "alice", LIMIT)

    assert logged_in(log_in(Client(), "bob", USER_PASSWORD))


def test_a_login_forgives_that_users_own_failures(client, alice):
    fail(client, "alice", LIMIT - 1)
    assert logged_in(log_in(Client(), "alice", USER_PASSWORD))

    # Without the four before the login, four more do not reach the limit.
    fail(client, "alice", LIMIT - 1)

    assert logged_in(log_in(Client(), "alice", USER_PASSWORD))


def test_a_login_clears_none_of_the_addresss_failures_at_other_usernames(client, bob):
    for number in range(ADDRESS_LIMIT - 1):
        log_in(client, f"guess{number}", WRONG, address="192.0.2.30")

    assert logged_in(log_in(Client(), "bob", USER_PASSWORD, address="192.0.2.30"))
    log_in(client, "guess-last", WRONG, address="192.0.2.30")

    assert log_in(Client(), "bob", USER_PASSWORD, address="192.0.2.30").status_code == 429
    assert AccessAttempt.objects.filter(ip_address="192.0.2.30").count() == ADDRESS_LIMIT


def test_the_lock_expires_after_the_cool_off(client, alice):
    fail(client, "alice", LIMIT)
    rewind(minutes=14)

    still = log_in(client, "alice", USER_PASSWORD)

    assert still.status_code == 429
    assert "locked for 1 minute " in lockout(still)

    rewind(minutes=1)
    assert logged_in(log_in(client, "alice", USER_PASSWORD))


def test_a_refused_attempt_does_not_restart_the_lock(client, alice):
    fail(client, "alice", LIMIT)
    rewind(minutes=10)

    log_in(client, "alice", WRONG)
    log_in(client, "alice", USER_PASSWORD)
    rewind(minutes=5)

    assert logged_in(log_in(client, "alice", USER_PASSWORD))


def test_axes_reset_unlocks(client, alice):
    fail(client, "alice", LIMIT)
    out = StringIO()

    call_command("axes_reset", stdout=out)

    assert "1 attempts removed" in out.getvalue()
    assert logged_in(log_in(client, "alice", USER_PASSWORD))


def test_axes_reset_username_unlocks_one_account(client, alice, bob):
    fail(client, "alice", LIMIT)
    fail(client, "bob", LIMIT, address="192.0.2.20")

    call_command("axes_reset_username", "alice", stdout=StringIO())

    assert logged_in(log_in(Client(), "alice", USER_PASSWORD))
    assert log_in(Client(), "bob", USER_PASSWORD, address="192.0.2.20").status_code == 429


def test_deleting_the_access_attempt_in_the_admin_unlocks(client, alice):
    fail(client, "alice", LIMIT)
    admin = UserFactory(username="root", is_staff=True, is_superuser=True)
    staff = Client()
    staff.force_login(admin)
    attempt = AccessAttempt.objects.get(username="alice")

    listing = staff.get(reverse("admin:axes_accessattempt_changelist"))
    assert listing.status_code == 200
    assert "alice" in listing.content.decode()
    deleted = staff.post(
        reverse("admin:axes_accessattempt_changelist"),
        {"action": "delete_selected", "_selected_action": [attempt.pk], "post": "yes"},
    )

    assert deleted.status_code == 302
    assert not AccessAttempt.objects.exists()
    assert logged_in(log_in(client, "alice", USER_PASSWORD))


def test_the_stored_attempt_keeps_no_password_nor_csrf_token(client, alice):
    log_in(client, "alice", WRONG, csrfmiddlewaretoken="token-that-must-not-be-kept")

    attempt = AccessAttempt.objects.get()
    assert attempt.username == "alice"
    assert "csrfmiddlewaretoken=****" in attempt.post_data
    assert "password=****" in attempt.post_data
    assert "token-that-must-not-be-kept" not in attempt.post_data
    assert WRONG not in attempt.post_data


def test_force_login_and_authenticate_with_a_request_still_work(client, alice):
    """The throttle needs the request: ``force_login`` bypasses authentication, and code that
    authenticates passes the request (as ``Client.login(request=HttpRequest(), ...)`` would)."""
    client.force_login(alice)
    assert client.get(reverse("connections:home")).wsgi_request.user == alice

    request = RequestFactory().post(reverse("login"))
    assert authenticate(request, username="alice", password=USER_PASSWORD) == alice
    assert AccessLog.objects.filter(username="alice").exists()


def test_an_account_and_its_address_both_locked_say_so(client, alice):
    for number in range(ADDRESS_LIMIT - LIMIT):
        log_in(client, f"guess{number}", WRONG)
    fail(client, "alice", LIMIT)

    response = log_in(client, "alice", USER_PASSWORD)

    assert lockout(response).startswith(
        "This account, and logins from your network address, are locked for 15 minutes"
    )


# --- Behind a proxy ---------------------------------------------------------------------------------

PROXY = "192.0.2.254"


def via_proxy(username: str, password: str, forwarded_for: str):
    return Client().post(
        reverse("login"),
        {"username": username, "password": password},
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR=forwarded_for,
    )


def test_behind_a_proxy_each_client_is_counted_by_its_own_address(settings, alice):
    settings.TRUSTED_PROXY_COUNT = 1
    for number in range(ADDRESS_LIMIT):
        # The client put an address of its own in front; the proxy appended the real one.
        via_proxy(f"guess{number}", WRONG, forwarded_for="198.51.100.1, 203.0.113.5")

    assert set(AccessAttempt.objects.values_list("ip_address", flat=True)) == {"203.0.113.5"}
    assert via_proxy("alice", USER_PASSWORD, "203.0.113.5").status_code == 429
    assert logged_in(via_proxy("alice", USER_PASSWORD, "203.0.113.6"))


def test_without_a_trusted_proxy_the_forwarded_header_is_ignored(alice):
    via_proxy("alice", WRONG, forwarded_for="203.0.113.5")

    assert AccessAttempt.objects.get().ip_address == PROXY


@pytest.mark.parametrize("name", ["LOGIN_FAILURE_LIMIT", "LOGIN_LOCKOUT_MINUTES"])
def test_a_limit_below_one_is_refused(tmp_path, name):
    result = load_settings(clean_env(tmp_path, **{name: "0"}))

    assert result.returncode != 0
    assert f"{name} must be at least 1." in result.stderr


def test_the_admin_login_is_throttled_with_the_same_count_and_page(client):
    """Superusers sign in at /admin/login/: its failures count toward the same lock, which it
    answers with the login page's message, keeping where the admin was going."""
    UserFactory(username="root", is_staff=True, is_superuser=True)
    admin_login = reverse("admin:login")
    for _ in range(LIMIT - 1):
        client.post(admin_login, {"username": "root", "password": WRONG, "next": "/admin/"})
    # The fifth failure, at the product's login page: the same account's count.
    assert log_in(client, "root", WRONG).status_code == 429

    right = client.post(
        admin_login, {"username": "root", "password": USER_PASSWORD, "next": "/admin/"}
    )

    assert right.status_code == 429
    assert not right.wsgi_request.user.is_authenticated
    assert lockout(right) == f"{LOCKED_ACCOUNT} {ASK}"
    assert '<input type="hidden" name="next" value="/admin/">' in _page(right)
    assert USER_PASSWORD not in _page(right)
    call_command("axes_reset_username", "root", stdout=StringIO())
    after = client.post(
        admin_login, {"username": "root", "password": USER_PASSWORD, "next": "/admin/"}
    )
    assert after.status_code == 302
    assert after["Location"] == "/admin/"


def test_a_username_longer_than_the_throttles_column_is_counted_not_a_server_error(client):
    """Django's login form authenticates before checking a username's length: failures at one
    of 300 characters (or holding NUL) are counted under it cut to fit, and lock it likewise."""
    long_name = "A" * 300
    responses = fail(client, long_name, LIMIT)

    assert [r.status_code for r in responses] == [200] * (LIMIT - 1) + [429]
    assert lockout(log_in(client, long_name, WRONG)) == f"{LOCKED_ACCOUNT} {ASK}"
    assert AccessAttempt.objects.get().username == "A" * 255
    assert log_in(client, "nul\x00name", WRONG).status_code == 200
