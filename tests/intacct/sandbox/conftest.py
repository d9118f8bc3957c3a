"""Helpers for the sandbox tests: an in-process gateway client and request builders.

Nothing here needs Django.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import httpx
import pytest
from lxml import etree

from intacct.sandbox import (
    GATEWAY_PATH,
    SANDBOX_SENDER_ID,
    SANDBOX_SENDER_PASSWORD,
    SANDBOX_USER_ID,
    SANDBOX_USER_PASSWORD,
)
from intacct.sandbox.app import make_app
from intacct.sandbox.world import Sandbox

BASE_URL = "http://sandbox.test"


def login_xml(
    company: str,
    *,
    user: str = SANDBOX_USER_ID,
    password: str = SANDBOX_USER_PASSWORD,
    location: str | None = None,
) -> str:
    loc = "" if location is None else f"<locationid>{location}</locationid>"
    return (
        f"<login><userid>{user}</userid><companyid>{company}</companyid>"
        f"<password>{password}</password>{loc}</login>"
    )


def request_xml(
    auth: str,
    functions: list[str] | str,
    *,
    sender: str = SANDBOX_SENDER_ID,
    sender_password: str = SANDBOX_SENDER_PASSWORD,
    controlid: str = "2025-06-30 12:00:00.000001",
    transaction: bool = False,
) -> bytes:
    if isinstance(functions, str):
        functions = [functions]
    content = "".join(
        f'<function controlid="fn-{i}">{body}</function>' for i, body in enumerate(functions)
    )
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f"<request><control><senderid>{sender}</senderid><password>{sender_password}</password>"
        f"<controlid>{controlid}</controlid><uniqueid>false</uniqueid><dtdversion>3.0</dtdversion>"
        "<includewhitespace>false</includewhitespace></control>"
        f'<operation transaction="{"true" if transaction else "false"}">'
        f"<authentication>{auth}</authentication><content>{content}</content></operation>"
        "</request>"
    ).encode()


@dataclass
class Reply:
    """A gateway answer, parsed."""

    status: int
    content_type: str
    body: bytes
    root: etree._Element | None

    def find(self, path: str) -> etree._Element | None:
        assert self.root is not None, self.body[:500]
        return self.root.find(path)

    def text(self, path: str) -> str | None:
        el = self.find(path)
        return None if el is None else (el.text or "")

    @property
    def results(self) -> list[etree._Element]:
        assert self.root is not None
        return self.root.findall("operation/result")

    def result(self, i: int = 0) -> etree._Element:
        return self.results[i]

    def data(self, i: int = 0) -> etree._Element:
        result = self.result(i)
        assert result.findtext("status") == "success", etree.tostring(result)[:800]
        data = result.find("data")
        assert data is not None
        return data

    def errors(self, path: str) -> list[dict[str, str | None]]:
        el = self.find(path)
        assert el is not None, self.body[:800]
        return [{child.tag: child.text or "" for child in err} for err in el.findall("error")]


class GatewayClient:
    """Posts request documents to an in-process sandbox."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self.http = httpx.Client(
            transport=httpx.WSGITransport(app=make_app(sandbox)), base_url=BASE_URL
        )

    def post(self, body: bytes) -> Reply:
        r = self.http.post(GATEWAY_PATH, content=body, headers={"Content-Type": "application/xml"})
        root = None
        if r.headers.get("content-type", "").startswith("text/xml"):
            root = etree.fromstring(r.content)
        return Reply(r.status_code, r.headers.get("content-type", ""), r.content, root)

    def call(
        self, company: str, functions: list[str] | str, *, location: str | None = None, **kw: object
    ) -> Reply:
        return self.post(request_xml(login_xml(company, location=location), functions, **kw))  # type: ignore[arg-type]

    def call_session(self, session_id: str, functions: list[str] | str, **kw: object) -> Reply:
        return self.post(request_xml(f"<sessionid>{session_id}</sessionid>", functions, **kw))  # type: ignore[arg-type]

    def session(self, company: str, location: str | None = None) -> str:
        reply = self.call(company, "<getAPISession/>", location=location)
        sid = reply.text("operation/result/data/api/sessionid")
        assert sid, reply.body[:800]
        return sid

    def records(self, data: etree._Element) -> list[dict[str, str]]:
        return [{c.tag: c.text or "" for c in rec} for rec in data]


def query_xml(
    obj: str,
    fields: list[str],
    *,
    filter_xml: str = "",
    pagesize: int | None = None,
    offset: int | None = None,
    orderby: str = "",
    options: str = "",
) -> str:
    select = "".join(f"<field>{f}</field>" for f in fields)
    parts = [f"<query><object>{obj}</object><select>{select}</select>"]
    if filter_xml:
        parts.append(f"<filter>{filter_xml}</filter>")
    if orderby:
        parts.append(f"<orderby>{orderby}</orderby>")
    if options:
        parts.append(f"<options>{options}</options>")
    if pagesize is not None:
        parts.append(f"<pagesize>{pagesize}</pagesize>")
    if offset is not None:
        parts.append(f"<offset>{offset}</offset>")
    parts.append("</query>")
    return "".join(parts)


def rbq_xml(obj: str, query: str = "", fields: str = "*", pagesize: int | None = None) -> str:
    size = "" if pagesize is None else f"<pagesize>{pagesize}</pagesize>"
    q = query.replace("&", "&amp;").replace("<", "&lt;")
    return (
        f"<readByQuery><object>{obj}</object><fields>{fields}</fields>"
        f"<query>{q}</query>{size}</readByQuery>"
    )


@pytest.fixture
def sandbox() -> Sandbox:
    return Sandbox(records=50)


@pytest.fixture
def gw(sandbox: Sandbox) -> Iterator[GatewayClient]:
    client = GatewayClient(sandbox)
    yield client
    client.http.close()


class Builders:
    """Request-document builders, handed to tests as the ``xml`` fixture."""

    login = staticmethod(login_xml)
    request = staticmethod(request_xml)
    query = staticmethod(query_xml)
    rbq = staticmethod(rbq_xml)


@pytest.fixture
def xml() -> type[Builders]:
    return Builders


@pytest.fixture
def make_gw() -> type[GatewayClient]:
    """The :class:`GatewayClient` class, to build clients around other sandboxes."""
    return GatewayClient
