"""The fault matrix at scale: a full sync, changes in Intacct, then a partial sync, through each
kind of fault, each kind alone and all of them at once, and at 2 s a request. Every run ends
exact; retries stay bounded (their counts are in the summary table)."""

from __future__ import annotations

import time

import pytest

from connections.services.smartsync import MAX_RETRIES
from intacct.sandbox.world import FaultPlan, Sandbox
from tests.connections.test_smartsync_faults import consecutive_faults, retried
from tests.connections.test_smartsync_scenarios import run_requests, sync_through_changes

pytestmark = [pytest.mark.soak, pytest.mark.django_db]

COMPANY = "healthy-top"
RECORDS = 300

PLANS = {
    "5xx bursts": FaultPlan(errors_every=5, errors_burst=3),
    "429 storms": FaultPlan(rate_limit_every=13, rate_limit_storm=4, retry_after=1),
    "sessions expiring": FaultPlan(session_every=3),
    "connection resets": FaultPlan(reset_every=4),
    "all at once": FaultPlan(
        errors_every=11,
        errors_burst=2,
        rate_limit_every=17,
        rate_limit_storm=2,
        retry_after=1,
        session_every=5,
        reset_every=7,
    ),
    "2 s a request": FaultPlan(latency_ms=2000),
    "off-line in results": FaultPlan(offline_every=9, offline_burst=2),
}


@pytest.fixture(autouse=True)
def _pages(monkeypatch, sandbox: Sandbox):
    """Pages of 50 records over 300 a list (2 s a request: pages of 150): many requests."""
    from connections.services import smartsync

    monkeypatch.setattr(smartsync, "PAGE_SIZE", 50)
    monkeypatch.setattr(smartsync, "KEY_PAGE_SIZE", 50)
    # The partial syncs take the big lists' path (changes, then the audit trail or a key
    # listing), not one whole page an object.
    monkeypatch.setattr(smartsync, "WHOLE_READ_MAX", 0)
    sandbox.add_company(COMPANY, "healthy_top", records=RECORDS)


@pytest.mark.parametrize("kind", list(PLANS))
def test_the_fault_matrix_at_scale(
    kind, connected, sandbox: Sandbox, pauses, soak_report, monkeypatch
):
    if kind == "2 s a request":
        from connections.services import smartsync

        monkeypatch.setattr(smartsync, "PAGE_SIZE", 150)
        monkeypatch.setattr(smartsync, "KEY_PAGE_SIZE", 150)
    legal_entity = connected(COMPANY)
    company = sandbox.company(COMPANY)
    company.faults = PLANS[kind]

    started = time.perf_counter()
    runs = sync_through_changes(legal_entity, sandbox, COMPANY)
    elapsed = time.perf_counter() - started

    sent = company.request_count
    assert run_requests(runs) == sent
    if company.faults.offline_every:
        # Functions off-line in their results are sent again alone: at most one pause for each
        # (a retry round takes every off-line function of a request at once).
        ran = company.functions_run
        offline = sum(company.faults.offline(n) for n in range(1, ran + 1))
        assert 0 < len(pauses) <= offline
    else:
        # Bounded: one pause for each request that met a 5xx, a 429 or a reset, and none else
        # (an expired session is signed in again at once); no request used up its retries.
        assert len(pauses) == sum(retried(company.faults, n) for n in range(1, sent + 1))
        assert max(consecutive_faults(company.faults, sent)) <= MAX_RETRIES
    soak_report(
        "fault matrix (full + partial, exact)",
        kind,
        requests=sent,
        retries=len(pauses),
        transactions=sum(r.transactions for r in runs),
        seconds=elapsed,
    )
