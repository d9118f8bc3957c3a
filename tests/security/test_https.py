"""HTTPS in production: Django's deployment check passes with the production environment alone,
HSTS and the redirect to HTTPS default on there and off in development, the health check answers
plain HTTP, and the proxy's header is believed only when it is configured."""

from __future__ import annotations

import secrets
import subprocess
import sys

import pytest
from django.urls import reverse

from tests.test_project import BASE_DIR, clean_env, load_settings, production_env

ONE_YEAR = 31536000


def deploy_check(env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    """``manage.py check --deploy`` as an operator runs it, failing on warnings."""
    return subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_deploy_check_passes_with_the_production_environment(tmp_path):
    env = {**production_env(tmp_path), "SECRET_KEY": secrets.token_urlsafe(50)}

    result = deploy_check(env)

    output = result.stdout + result.stderr
    assert result.returncode == 0, output
    assert "WARNING" not in output
    assert "System check identified no issues" in output


def test_deploy_check_fails_when_https_is_turned_off(tmp_path):
    """The check above can fail: without the redirect and HSTS it warns and exits non-zero."""
    env = {
        **production_env(tmp_path),
        "SECRET_KEY": secrets.token_urlsafe(50),
        "SECURE_SSL_REDIRECT": "0",
        "SECURE_HSTS_SECONDS": "0",
    }

    result = deploy_check(env)

    assert result.returncode != 0
    assert "security.W004" in result.stderr
    assert "security.W008" in result.stderr


SECURITY_SETTINGS = (
    "settings.SECURE_SSL_REDIRECT, settings.SECURE_HSTS_SECONDS, "
    "settings.SECURE_HSTS_INCLUDE_SUBDOMAINS, settings.SECURE_HSTS_PRELOAD, "
    "settings.SECURE_PROXY_SSL_HEADER"
)


def test_production_defaults_to_https_with_a_year_of_hsts(tmp_path):
    result = load_settings(production_env(tmp_path), SECURITY_SETTINGS)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == f"True {ONE_YEAR} True False None"


def test_development_defaults_to_plain_http_without_hsts(tmp_path):
    result = load_settings(clean_env(tmp_path), SECURITY_SETTINGS)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False 0 False False None"


def test_the_operator_sets_each_https_setting(tmp_path):
    env = {
        **production_env(tmp_path),
        "SECURE_SSL_REDIRECT": "0",
        "SECURE_HSTS_SECONDS": "600",
        "SECURE_HSTS_INCLUDE_SUBDOMAINS": "no",
        "SECURE_HSTS_PRELOAD": "yes",
        "SECURE_PROXY_SSL_HEADER": "X-Forwarded-Proto",
    }

    result = load_settings(env, SECURITY_SETTINGS)

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "False 600 False True ('HTTP_X_FORWARDED_PROTO', 'https')"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("X-Forwarded-Proto", "('HTTP_X_FORWARDED_PROTO', 'https')"),
        ("X-Forwarded-Ssl: on", "('HTTP_X_FORWARDED_SSL', 'on')"),
    ],
)
def test_the_proxy_header_is_a_header_name_with_an_optional_value(tmp_path, value, expected):
    result = load_settings(
        clean_env(tmp_path, SECURE_PROXY_SSL_HEADER=value), "settings.SECURE_PROXY_SSL_HEADER"
    )

    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == expected


def test_a_malformed_proxy_header_is_refused(tmp_path):
    result = load_settings(clean_env(tmp_path, SECURE_PROXY_SSL_HEADER="X Forwarded Proto"))

    assert result.returncode != 0
    assert "SECURE_PROXY_SSL_HEADER must be a header name" in result.stderr


# --- The redirect and HSTS on requests ------------------------------------------------------------


@pytest.fixture
def production_https(settings):
    """The production HTTPS settings, behind a proxy that sets X-Forwarded-Proto."""
    settings.SECURE_SSL_REDIRECT = True
    settings.SECURE_HSTS_SECONDS = ONE_YEAR
    settings.SECURE_HSTS_INCLUDE_SUBDOMAINS = True
    settings.SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")


def test_plain_http_is_redirected_to_https(client, production_https):
    response = client.get(reverse("login"))

    assert response.status_code == 301
    assert response["Location"] == "https://testserver/accounts/login/"


def test_the_health_check_answers_plain_http(client, production_https):
    response = client.get(reverse("connections:healthz"))

    assert response.status_code == 200
    assert response.content == b"ok"


@pytest.mark.django_db
def test_https_through_the_proxy_is_served_with_hsts(client, production_https):
    response = client.get(reverse("login"), headers={"X-Forwarded-Proto": "https"})

    assert response.status_code == 200
    assert response["Strict-Transport-Security"] == f"max-age={ONE_YEAR}; includeSubDomains"


def test_the_proxy_header_is_ignored_unless_configured(client, production_https, settings):
    settings.SECURE_PROXY_SSL_HEADER = None

    response = client.get(reverse("login"), headers={"X-Forwarded-Proto": "https"})

    assert response.status_code == 301
