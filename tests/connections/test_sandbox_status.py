from __future__ import annotations

import httpx
import pytest

from connections.services.sandbox_status import SandboxCompany, sandbox_status


def test_sandbox_status_lists_companies_sorted(settings):
    settings.SANDBOX_URL = "http://sandbox.test:8765/"
    seen = []

    def handler(request: httpx.Request) -> httpx.Response:
        seen.append(str(request.url))
        return httpx.Response(
            200,
            json={
                "companies": [
                    {"company_id": "no-role", "scenario": "no_role", "description": "No role"},
                    {"company_id": "healthy-top", "scenario": "healthy_top"},
                ]
            },
        )

    status = sandbox_status(transport=httpx.MockTransport(handler))

    assert seen == ["http://sandbox.test:8765/sandbox/"]
    assert status.reachable
    assert status.companies == [
        SandboxCompany(company_id="healthy-top", scenario="healthy_top"),
        SandboxCompany(company_id="no-role", scenario="no_role", description="No role"),
    ]


def test_sandbox_status_accepts_plain_company_ids(settings):
    settings.SANDBOX_URL = "http://sandbox.test"

    status = sandbox_status(
        transport=httpx.MockTransport(lambda request: httpx.Response(200, json=["bad-entity"]))
    )

    assert status.companies == [SandboxCompany(company_id="bad-entity", scenario="bad_entity")]


@pytest.mark.parametrize(
    ("response", "problem"),
    [
        (httpx.Response(500, text="boom"), "HTTP 500"),
        (httpx.Response(200, text="<html>"), "not JSON"),
    ],
)
def test_sandbox_status_reports_a_confused_sandbox(settings, response, problem):
    settings.SANDBOX_URL = "http://sandbox.test"

    status = sandbox_status(transport=httpx.MockTransport(lambda request: response))

    assert not status.reachable
    assert problem in status.problem


def test_sandbox_status_reports_nothing_listening(settings):
    settings.SANDBOX_URL = "http://sandbox.test"

    def refuse(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    status = sandbox_status(transport=httpx.MockTransport(refuse))

    assert not status.reachable
    assert status.configured
    assert status.problem


def test_sandbox_status_without_sandbox_url_is_not_configured(settings):
    settings.SANDBOX_URL = ""

    status = sandbox_status()

    assert not status.configured
    assert not status.reachable
