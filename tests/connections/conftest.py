"""Fixtures for the connections tests: the Intacct sandbox served over loopback, attempts pointed
at it, and a Celery broker that never leaves the process."""

from __future__ import annotations

import socket
from collections.abc import Callable, Iterator

import pytest

from config.celery import app as celery_app
from connections.models import ConnectionAttempt, LegalEntity
from connections.services.attempts import start_attempt
from intacct.sandbox import (
    GATEWAY_PATH,
    SANDBOX_SENDER_ID,
    SANDBOX_SENDER_PASSWORD,
    SANDBOX_USER_ID,
    SANDBOX_USER_PASSWORD,
    serve_in_thread,
)
from intacct.sandbox.world import Sandbox

SANDBOX_HOST = "127.0.0.1"

AttemptFactory = Callable[..., ConnectionAttempt]


@pytest.fixture(scope="session", autouse=True)
def _in_memory_broker() -> Iterator[None]:
    """Whatever a test enqueues stays in this process (kombu's memory transport)."""
    previous = celery_app.conf.broker_url
    celery_app.conf.broker_url = "memory://localhost/"
    yield
    celery_app.conf.broker_url = previous


@pytest.fixture(autouse=True)
def _big_lists(monkeypatch) -> None:
    """The sandbox's lists are small (20 records), which a partial sync would read whole: these
    tests take the paths of big lists (changes, then the audit trail or a key listing) unless
    they say otherwise (test_smartsync_small_lists.py takes the small lists' path)."""
    from connections.services import smartsync

    monkeypatch.setattr(smartsync, "WHOLE_READ_MAX", 0)


@pytest.fixture(scope="session")
def sandbox_world() -> Sandbox:
    """One sandbox per test process (each xdist worker has its own), every scenario's company."""
    return Sandbox(records=20)


@pytest.fixture(scope="session")
def sandbox_gateway(sandbox_world: Sandbox) -> Iterator[str]:
    """The gateway URL of ``sandbox_world`` served over real HTTP on loopback."""
    base, stop = serve_in_thread(sandbox_world, host=SANDBOX_HOST)
    yield base + GATEWAY_PATH
    stop()


@pytest.fixture
def sandbox(sandbox_world: Sandbox, sandbox_gateway: str, settings) -> Iterator[Sandbox]:
    """The sandbox, with the settings pointed at it; every company is back to its own scenario
    (and knobs) after the test."""
    settings.INTACCT_ENDPOINT = sandbox_gateway
    settings.INTACCT_ALLOWED_ENDPOINT_HOSTS = [SANDBOX_HOST, "localhost"]
    settings.INTACCT_SENDER_ID = SANDBOX_SENDER_ID
    settings.INTACCT_SENDER_PASSWORD = SANDBOX_SENDER_PASSWORD
    latency = sandbox_world.latency_ms
    yield sandbox_world
    sandbox_world.latency_ms = latency
    sandbox_world.reset()


@pytest.fixture
def make_attempt(
    sandbox: Sandbox, sandbox_gateway: str, legal_entity: LegalEntity
) -> AttemptFactory:
    """``make_attempt(company, entity="", password=…, endpoint=…)``: a new current attempt of
    ``legal_entity`` against a sandbox company."""

    def make(
        company: str,
        *,
        entity: str = "",
        password: str = SANDBOX_USER_PASSWORD,
        endpoint: str = "",
        legal_entity: LegalEntity = legal_entity,
    ) -> ConnectionAttempt:
        return start_attempt(
            legal_entity,
            company_id=company,
            entity_id=entity,
            user_id=SANDBOX_USER_ID,
            password=password,
            endpoint=endpoint or sandbox_gateway,
        )

    return make


@pytest.fixture
def closed_port_endpoint() -> str:
    """A loopback gateway URL nothing listens on."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as probe:
        probe.bind((SANDBOX_HOST, 0))
        port = probe.getsockname()[1]
    return f"http://{SANDBOX_HOST}:{port}{GATEWAY_PATH}"


@pytest.fixture
def pauses(monkeypatch) -> list[float]:
    """The retry pauses of the sync's Intacct clients, recorded instead of slept."""
    from functools import partial

    from connections.services import signin
    from intacct.client import IntacctClient

    delays: list[float] = []
    monkeypatch.setattr(signin, "IntacctClient", partial(IntacctClient, sleep=delays.append))
    return delays


#: The list objects of the unreliable-company syncs (:func:`connected`).
FAULT_OBJECTS = ["VENDOR", "CLASS", "DEPARTMENT", "GLACCOUNT", "EMPLOYEE", "PROGRAM"]


@pytest.fixture
def connected(make_attempt, legal_entity: LegalEntity, sandbox: Sandbox):
    """``connected(company)``: ``legal_entity`` connected to a sandbox company, whose faults start
    from their first, with a profile of :data:`FAULT_OBJECTS`."""
    from connections.models import ApiSyncProfile

    def make(company_id: str) -> LegalEntity:
        sandbox.company(company_id).reset()
        make_attempt(company_id)
        ApiSyncProfile.objects.create(legal_entity=legal_entity, object_names=FAULT_OBJECTS)
        return legal_entity

    return make
