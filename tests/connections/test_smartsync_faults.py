"""SmartSync through the gateway's faults, one kind at a time: bursts of HTTP 5xx, storms of 429,
sessions expiring every few requests, connections reset. Each company's fault plan decides by
the request's number, so a run meets the same faults every time.

Each run ends exact (a full sync, changes in Intacct, a partial sync), with its retries counted
and bounded, even when every session serves one request only; a fault longer than the retry
budget (5xx, 429, resets, answers slower than the timeout) fails the run naming the reason, and
the next run, once the fault has passed, repairs everything. The slow kinds (2 s a request, long
storms) run in ``make soak``.
"""

from __future__ import annotations

import pytest

from connections.models import ListItem, SyncRun
from connections.services.smartsync import MAX_RETRIES
from intacct.sandbox.world import FaultPlan, Sandbox
from tests.connections.test_smartsync import sync
from tests.connections.test_smartsync_scenarios import (
    assert_in_step,
    intacct_rows,
    run_requests,
    sync_through_changes,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _small_pages(monkeypatch):
    """Pages of 7 records: every object of 20 records pages, and lists its keys over pages,
    so a sync sends enough requests to meet every fault many times."""
    from connections.services import smartsync

    monkeypatch.setattr(smartsync, "PAGE_SIZE", 7)
    monkeypatch.setattr(smartsync, "KEY_PAGE_SIZE", 7)


COMPANY = "healthy-top"

#: Fault plans and the most retry pauses a run may take through them (bounded: every failed
#: request is retried a few times at most, never in a loop).
PLANS = {
    "5xx bursts": FaultPlan(errors_every=6, errors_burst=2),
    "429 storms": FaultPlan(rate_limit_every=11, rate_limit_storm=2, retry_after=0),
    "sessions expiring": FaultPlan(session_every=4),
    "connection resets": FaultPlan(reset_every=5),
}


@pytest.mark.parametrize("kind", list(PLANS))
def test_a_sync_through_faults_ends_exact_with_bounded_retries(
    kind, connected, sandbox: Sandbox, pauses
):
    legal_entity = connected(COMPANY)
    company = sandbox.company(COMPANY)
    company.faults = PLANS[kind]

    runs = sync_through_changes(legal_entity, sandbox, COMPANY)

    sent = company.request_count
    assert run_requests(runs) == sent, "a request went uncounted"
    faults = sum(_faulted(company.faults, n) for n in range(1, sent + 1))
    assert faults > 0, "no fault was met"
    if kind == "sessions expiring":
        # No pause: an expired session is signed in again at once, once per expiry at most.
        assert not pauses
        assert sent <= 2 * (sent - faults) + 2
    else:
        # One pause per failed request (a retry that lands in the burst again pauses again).
        assert len(pauses) == faults
        assert max(consecutive_faults(company.faults, sent)) <= 2
    print(f"{kind}: {sent} requests, {faults} met a fault, {len(pauses)} retry pauses")


def test_a_session_expiring_after_every_request_still_ends_exact(
    connected, sandbox: Sandbox, pauses
):
    """The worst a session can do: each one serves a single request. A request that meets an
    expired session signs in again and is sent again, so the run ends exact at the cost of two
    more requests for each, without a pause."""
    company = sandbox.company(COMPANY)
    runs, without_faults, _ = without_then_with(
        connected(COMPANY), sandbox, FaultPlan(session_every=1)
    )

    sent = company.request_count
    assert run_requests(runs) == sent
    assert not pauses
    # Every request after a sign-in met an expired session: up to three requests for each.
    assert without_faults < sent <= 3 * without_faults, (without_faults, sent)


#: Faults that outlast the retry budget, and words of the reason the failed run must give.
OVER_BUDGET = {
    "5xx": (FaultPlan(errors_every=1000, errors_burst=1000), ("HTTP 503", "temporarily")),
    "429 storm": (
        FaultPlan(rate_limit_every=1000, rate_limit_storm=1000, retry_after=0),
        ("rate limit",),
    ),
    "connection resets": (FaultPlan(reset_every=1), ("could not reach",)),
    "answers slower than the timeout": (FaultPlan(latency_ms=600), ("did not answer within",)),
    "off-line in every result": (FaultPlan(offline_every=1), ("temporarily off-line",)),
}


@pytest.mark.parametrize("kind", list(OVER_BUDGET))
def test_a_fault_longer_than_the_retry_budget_fails_the_run_and_the_next_repairs_it(
    kind, connected, sandbox: Sandbox, pauses, monkeypatch
):
    """Every request meets the fault until it passes: the run fails naming the reason and
    changes nothing it had; once Intacct answers again, the next run is exact."""
    from connections.services import smartsync

    plan, reason = OVER_BUDGET[kind]
    legal_entity = connected(COMPANY)
    company = sandbox.company(COMPANY)
    first = sync(legal_entity, kind=SyncRun.Kind.FULL)
    ever = set(intacct_rows(sandbox, COMPANY))
    assert_in_step(first, legal_entity, sandbox, COMPANY, ever)

    company.faults = plan
    request_timeout = smartsync.REQUEST_TIMEOUT
    if plan.latency_ms:
        monkeypatch.setattr(smartsync, "REQUEST_TIMEOUT", 0.2)
    company.mutate(adds=2, changes=2, deletes=2, seed=5)
    ever |= set(intacct_rows(sandbox, COMPANY))
    failed = sync(legal_entity, kind=SyncRun.Kind.PARTIAL)
    assert failed.state == SyncRun.State.FAILED
    print(f"{kind}: {failed.error}")
    assert any(word.lower() in failed.error.lower() for word in reason), failed.error
    # Bounded: the sign-in and the first request (sent side by side) each tried MAX_RETRIES
    # times more, and nothing after them.
    assert len(pauses) <= 2 * MAX_RETRIES

    company.faults = FaultPlan()
    monkeypatch.setattr(smartsync, "REQUEST_TIMEOUT", request_timeout)
    repaired = sync(legal_entity, kind=SyncRun.Kind.PARTIAL)
    assert_in_step(repaired, legal_entity, sandbox, COMPANY, ever)


def test_functions_off_line_in_their_results_are_sent_again_alone_and_the_run_ends_exact(
    connected, sandbox: Sandbox, pauses
):
    """A real company may say "temporarily off-line" inside a function's result (HTTP 200; the
    other functions of the request ran): that function alone is sent again after a pause, so
    the run ends exact and pays for each off-line function once more, not for its neighbours."""
    company = sandbox.company(COMPANY)
    runs, _, without_faults = without_then_with(
        connected(COMPANY), sandbox, FaultPlan(offline_every=5)
    )

    ran = company.functions_run
    offline = sum(company.faults.offline(n) for n in range(1, ran + 1))
    assert offline > 0, "no function met the fault"
    assert all(run.state == SyncRun.State.SUCCEEDED for run in runs)
    # Each off-line function sent once more (a retry may land off-line again): no neighbour.
    assert ran == without_faults + offline, (without_faults, offline, ran)
    assert 0 < len(pauses) <= offline
    print(f"off-line: {ran} functions, {offline} off-line, {len(pauses)} retry pauses")


def without_then_with(legal_entity, sandbox: Sandbox, plan: FaultPlan):
    """The runs of :func:`sync_through_changes` without faults, then the same runs from scratch
    (Intacct's data back as it was, nothing held here) through ``plan``: those runs, and the
    requests and functions the runs without faults took."""
    company = sandbox.company(COMPANY)
    sync_through_changes(legal_entity, sandbox, COMPANY)
    requests, functions = company.request_count, company.functions_run
    company.reset()
    ListItem.objects.filter(legal_entity=legal_entity).delete()
    SyncRun.objects.filter(legal_entity=legal_entity).delete()
    company.faults = plan
    return sync_through_changes(legal_entity, sandbox, COMPANY), requests, functions


def retried(plan: FaultPlan, number: int) -> bool:
    """Request ``number`` fails in a way the client pauses and tries again."""
    return plan.server_error(number) or plan.rate_limited(number) or plan.resets(number)


def _faulted(plan: FaultPlan, number: int) -> bool:
    return retried(plan, number) or plan.expires_session(number)


def consecutive_faults(plan: FaultPlan, sent: int) -> list[int]:
    """The lengths of the runs of consecutive faulted requests (a request's tries are among
    them)."""
    runs, current = [0], 0
    for number in range(1, sent + 1):
        current = current + 1 if _faulted(plan, number) else 0
        runs.append(current)
    return runs
