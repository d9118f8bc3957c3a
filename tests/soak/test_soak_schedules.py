"""Fifty legal entities on Sync Schedules at once: celery beat on the database scheduler and a
pool of real workers (two processes of two) sync them every minute, against ten sandbox companies
(five legal entities each) that refuse a third concurrent request, while Intacct changes under
them. The shared limiter keeps every company within its limit; every run ends well; a last sync
leaves every entity exactly its company's records."""

from __future__ import annotations

import statistics
import time
from typing import Any

import pytest

from connections.models import ApiSyncProfile, LegalEntity, SyncRun
from connections.services.schedules import save_schedule
from connections.services.smartsync import start_sync
from intacct.sandbox.world import Sandbox
from tests.connections.test_smartsync import OBJECTS, live_keys, sandbox_keys
from tests.connections.workers import PrivateRedis, wait_until
from tests.factories import LegalEntityFactory

pytestmark = [pytest.mark.soak, pytest.mark.django_db(transaction=True)]

ENTITIES = 50
COMPANIES = 10
RECORDS = 200
LATENCY_MS = 30
#: Scheduled runs each entity must have finished (the first is full, the rest partial).
ROUNDS = 3


@pytest.fixture
def broker_url(private_redis: PrivateRedis, settings) -> str:
    """A Redis of this test's own: beat sends to the default queue, which no other test's worker
    must take."""
    settings.REDIS_URL = private_redis.url
    return private_redis.url


@pytest.fixture
def fifty(sandbox: Sandbox, make_attempt, organization) -> list[LegalEntity]:
    sandbox.latency_ms = LATENCY_MS  # the sandbox fixture puts it back
    entities = []
    for c in range(COMPANIES):
        company = sandbox.add_company(f"soak-{c}", "healthy_top", records=RECORDS)
        company.max_concurrent = 2
        for e in range(ENTITIES // COMPANIES):
            entity = LegalEntityFactory(organization=organization, name=f"Soak {c}-{e}")
            make_attempt(company.company_id, legal_entity=entity)
            ApiSyncProfile.objects.create(legal_entity=entity, object_names=OBJECTS)
            entities.append(entity)
    return entities


def test_fifty_entities_on_schedules(
    fifty, sandbox: Sandbox, start_worker, task_queue: str, soak_report
):
    # Beat's tasks go to the default queue; this process's, to the test's own.
    queues = f"celery,{task_queue}"
    workers = [start_worker(f"pool-{i}", concurrency=2, queue=queues) for i in range(2)]
    started = time.monotonic()
    for entity in fifty:
        save_schedule(
            entity, {"frequency": "cron", "cron_expression": "* * * * *", "kind": "partial"}, None
        )
    beat = start_worker.beat()
    stop_mutating = sandbox.start_mutating(20)

    def rounds_done() -> bool:
        finished = SyncRun.objects.filter(
            legal_entity__in=fifty, state__in=SyncRun.FINISHED, trigger=SyncRun.Trigger.SCHEDULE
        )
        per_entity = {e.pk: 0 for e in fifty}
        for entity_id in finished.values_list("legal_entity_id", flat=True):
            per_entity[entity_id] += 1
        return min(per_entity.values()) >= ROUNDS

    wait_until(rounds_done, timeout=ROUNDS * 60 + 120, what="three scheduled rounds", worker=beat)
    stop_mutating()
    beat.kill()
    elapsed = time.monotonic() - started

    # Once the scheduled runs still going have ended, a last sync of every entity, after the
    # changes stopped: every one is exactly its company's.
    def all_finished() -> bool:
        return (
            not SyncRun.objects.filter(legal_entity__in=fifty)
            .exclude(state__in=SyncRun.FINISHED)
            .exists()
        )

    wait_until(all_finished, timeout=300, what="the scheduled runs' end", worker=workers[0])
    for entity in fifty:
        start_sync(entity, kind=SyncRun.Kind.PARTIAL, trigger=SyncRun.Trigger.MANUAL)
    wait_until(all_finished, timeout=300, what="the last syncs", worker=workers[0])

    runs = list(SyncRun.objects.filter(legal_entity__in=fifty))
    failed = [r for r in runs if r.state != SyncRun.State.SUCCEEDED]
    assert not failed, [(r.legal_entity_id, r.state, r.error) for r in failed]
    assert not [r for r in runs if "429" in r.error or "rate" in r.error.lower()]
    stats = [sandbox.company(f"soak-{c}") for c in range(COMPANIES)]
    peak = max(c.peak_in_flight for c in stats)
    assert peak <= 2, "a company had more requests in flight than its limit"
    for entity in fifty:
        company = entity.attempts.get(is_current=True).company_id
        for name in OBJECTS:
            assert live_keys(entity, name) == sandbox_keys(sandbox, company, name), (entity, name)

    durations = [(r.finished_at - r.started_at).total_seconds() for r in runs if r.started_at]
    scheduled = [r for r in runs if r.trigger == SyncRun.Trigger.SCHEDULE]
    soak_report(
        "scheduled SmartSync",
        f"{ENTITIES} entities, {COMPANIES} companies, 2 workers × 2",
        runs=len(runs),
        scheduled=len(scheduled),
        runs_per_min=len(scheduled) / (elapsed / 60),
        p50_s=statistics.median(durations),
        p95_s=_p95(durations),
        peak_in_flight=peak,
        refused_429=sum(c.refused_busy for c in stats),
        transactions=sum(r.transactions for r in runs),
    )


def _p95(values: list[Any]) -> float:
    ordered = sorted(values)
    return float(ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))])
