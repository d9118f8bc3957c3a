"""fylein's ``sageintacctsdk``, unmodified, against the sandbox over real HTTP.

The SDK posts every API object except ``api_base`` to the production URL; a requests transport
adapter mounted on a session rewrites those posts to the sandbox server.
"""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit, urlunsplit

import pytest
import requests
from requests.adapters import HTTPAdapter

from intacct.sandbox import (
    SANDBOX_SENDER_ID,
    SANDBOX_SENDER_PASSWORD,
    SANDBOX_USER_ID,
    SANDBOX_USER_PASSWORD,
)
from intacct.sandbox.server import serve_in_thread
from intacct.sandbox.world import Sandbox

sdk_module = pytest.importorskip("sageintacctsdk")
api_base = pytest.importorskip("sageintacctsdk.apis.api_base")

RECORDS = 4500  # more than two 2,000-record query pages


class ToSandbox(HTTPAdapter):
    """Sends every request to the sandbox's host, keeping path and query."""

    def __init__(self, base_url: str) -> None:
        super().__init__()
        self.target = urlsplit(base_url)

    def send(self, request, **kwargs):  # type: ignore[no-untyped-def, override]
        parts = urlsplit(request.url)
        request.url = urlunsplit(
            (self.target.scheme, self.target.netloc, parts.path, parts.query, "")
        )
        return super().send(request, **kwargs)


@pytest.fixture(scope="module")
def served() -> Iterator[tuple[Sandbox, str]]:
    sandbox = Sandbox(records=RECORDS, scenarios=["healthy_top", "healthy_multi"])
    url, stop = serve_in_thread(sandbox)
    yield sandbox, url
    stop()


@pytest.fixture
def routed(served, monkeypatch) -> Sandbox:  # type: ignore[no-untyped-def]
    sandbox, url = served
    session = requests.Session()
    session.mount("https://api.intacct.com/", ToSandbox(url))
    monkeypatch.setattr(api_base.requests, "post", session.post)
    return sandbox


@pytest.mark.parametrize(
    ("company_id", "show_private"), [("healthy-top", False), ("healthy-multi", True)]
)
def test_sageintacctsdk_reads_everything(routed, company_id, show_private):
    sandbox = routed
    company = sandbox.company(company_id)
    sdk = sdk_module.SageIntacctSDK(
        SANDBOX_SENDER_ID,
        SANDBOX_SENDER_PASSWORD,
        SANDBOX_USER_ID,
        company_id,
        SANDBOX_USER_PASSWORD,
        show_private=show_private,
    )

    assert sdk.api_base._ApiBase__session_id.endswith("..")
    active = sum(
        1
        for n in company.snapshot("VENDOR")
        if company.table("VENDOR").value(n, "STATUS") == "active"
    )
    assert sdk.vendors.count() == active

    vendors = sdk.vendors.get_all()
    assert {int(v["RECORDNO"]) for v in vendors} == set(company.snapshot("VENDOR"))
    assert len(vendors) == RECORDS
    assert vendors[0]["DISPLAYCONTACT.EMAIL1"] == "ap1@example.com"

    accounts = [a for page in sdk.accounts.get_all_generator() for a in page]
    assert {int(a["RECORDNO"]) for a in accounts} == set(company.snapshot("GLACCOUNT"))

    departments = sdk.departments.get_all()
    assert len(departments) == len(company.snapshot("DEPARTMENT"))

    dimensions = sdk.dimensions.get_all()
    udds = [d["objectName"] for d in dimensions if d["userDefinedDimension"] == "true"]
    assert udds == [u.object_name for u in company.scenario.udds]

    programs = sdk.dimension_values.get_all("PROGRAM")
    assert {int(p["id"]) for p in programs} == set(company.snapshot("PROGRAM"))

    one = sdk.vendors.get(field="VENDORID", value="V00042")
    assert one["@totalcount"] == "1"
    assert one["VENDOR"][0]["NAME"] == company.table("VENDOR").value(42, "NAME")


def test_sageintacctsdk_sees_only_shared_records_without_show_private(routed):
    company = routed.company("healthy-multi")
    sdk = sdk_module.SageIntacctSDK(
        SANDBOX_SENDER_ID,
        SANDBOX_SENDER_PASSWORD,
        SANDBOX_USER_ID,
        "healthy-multi",
        SANDBOX_USER_PASSWORD,
    )
    table = company.table("VENDOR")
    shared = {n for n in company.snapshot("VENDOR") if table.value(n, "MEGAENTITYID") == ""}
    assert {int(v["RECORDNO"]) for v in sdk.vendors.get_all()} == shared


def test_sageintacctsdk_raises_its_typed_errors(routed):
    exceptions = pytest.importorskip("sageintacctsdk.exceptions")
    with pytest.raises(exceptions.SageIntacctSDKError):
        sdk_module.SageIntacctSDK(
            SANDBOX_SENDER_ID, "wrong", SANDBOX_USER_ID, "healthy-top", SANDBOX_USER_PASSWORD
        )
