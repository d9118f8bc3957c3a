"""Fixtures for the client library's tests: the sandbox gateway in-process and over real HTTP.

Nothing here needs Django.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from intacct.client import Credentials, IntacctClient
from intacct.sandbox import (
    GATEWAY_PATH,
    SANDBOX_SENDER_ID,
    SANDBOX_SENDER_PASSWORD,
    SANDBOX_USER_ID,
    SANDBOX_USER_PASSWORD,
    guide_names,
    make_app,
    serve_in_thread,
)
from intacct.sandbox.world import Sandbox

IN_PROCESS_HOST = "sandbox.test"
IN_PROCESS_URL = f"http://{IN_PROCESS_HOST}{GATEWAY_PATH}"
#: The guide's names as the sandbox's companies were set up with them.
NAMES = guide_names()


def credentials(
    company: str, *, entity: str | None = None, password: str = SANDBOX_USER_PASSWORD
) -> Credentials:
    return Credentials(
        sender_id=SANDBOX_SENDER_ID,
        sender_password=SANDBOX_SENDER_PASSWORD,
        company_id=company,
        user_id=SANDBOX_USER_ID,
        user_password=password,
        entity_id=entity,
    )


ConnectFactory = Callable[..., IntacctClient]


@pytest.fixture
def world() -> Sandbox:
    """A fresh sandbox with every scenario's company and 50 records per object."""
    return Sandbox(records=50)


@pytest.fixture
def connect(world: Sandbox) -> Iterator[ConnectFactory]:
    """``connect(company, entity=None, **client_options)``: a client on the in-process sandbox
    that never really sleeps between retries."""
    transport = httpx.WSGITransport(app=make_app(world))
    clients: list[IntacctClient] = []

    def factory(company: str, entity: str | None = None, **options: object) -> IntacctClient:
        options.setdefault("sleep", lambda _s: None)
        password = options.pop("password", SANDBOX_USER_PASSWORD)
        client = IntacctClient(
            credentials(company, entity=entity, password=str(password)),
            endpoint=IN_PROCESS_URL,
            allowed_hosts=[IN_PROCESS_HOST],
            transport=transport,
            **options,  # type: ignore[arg-type]
        )
        clients.append(client)
        return client

    yield factory
    for c in clients:
        c.close()


@pytest.fixture(scope="module")
def live_world() -> Sandbox:
    return Sandbox(records=50)


@pytest.fixture(scope="module")
def live_gateway(live_world: Sandbox) -> Iterator[str]:
    """The gateway URL of a sandbox served over real HTTP on loopback."""
    base, stop = serve_in_thread(live_world)
    yield base + GATEWAY_PATH
    stop()
