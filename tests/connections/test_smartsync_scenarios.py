"""SmartSync against the sandbox's unreliable companies, and under simultaneous starts.

A full sync, adds, changes and deletions in Intacct, then a partial sync leave exactly Intacct's
records (every field) although requests fail on the way: every third one is refused with HTTP 429
(``rate-limited``), about one in five gets an HTTP 502/503/524 or loses its session (``flaky``).
Twenty starts of one legal entity at the same moment make one run.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

import pytest
from django.db import connection

from connections.models import LegalEntity, ListItem, SyncRun, SyncRunObject
from connections.services.smartsync import start_sync
from intacct.catalog import list_object
from intacct.sandbox.gateway import RATE_LIMIT_EVERY
from intacct.sandbox.world import Sandbox
from tests.connections.conftest import FAULT_OBJECTS
from tests.connections.test_smartsync import counts, live_keys, sandbox_keys, sync
from tests.connections.test_tasks import drain_queue

OBJECTS = FAULT_OBJECTS
STARTERS = 20

Rows = dict[tuple[str, str], tuple[Any, ...]]


def intacct_time(text: str) -> datetime | None:
    """An Intacct ``MM/DD/YYYY HH:MM:SS`` as an aware UTC datetime; ``None`` when empty."""
    return datetime.strptime(text, "%m/%d/%Y %H:%M:%S").replace(tzinfo=UTC) if text else None


def held_rows(legal_entity: LegalEntity) -> Rows:
    """The live rows as ``{(object, record_no): (item_id, name, status, when_modified, fields)}``."""
    rows: Rows = {}
    for object_name, record_no, *values in ListItem.objects.filter(
        legal_entity=legal_entity, deleted_at__isnull=True
    ).values_list(
        "object_name", "record_no", "item_id", "name", "status", "when_modified", "fields"
    ):
        rows[(object_name, record_no)] = tuple(values)
    return rows


def intacct_rows(sandbox: Sandbox, company_id: str) -> Rows:
    """What the sandbox company holds now, as :func:`held_rows` shows it."""
    company = sandbox.company(company_id)
    rows: Rows = {}
    for name in OBJECTS:
        obj = list_object(name)
        table = company.table(obj.name)
        assert table is not None
        for number in company.snapshot(obj.name):
            record = table.record(number, obj.fields)
            rows[(obj.name, str(number))] = (
                record[obj.id_field],
                record[obj.name_field],
                record[obj.status_field] if obj.status_field else "",
                intacct_time(record[obj.when_modified_field]),
                record,
            )
    return rows


def assert_in_step(
    run: SyncRun,
    legal_entity: LegalEntity,
    sandbox: Sandbox,
    company_id: str,
    ever: set[tuple[str, str]],
) -> None:
    """The run succeeded object by object and the rows are the company's, once each; ``ever`` is
    every (object, record_no) the company has had, deleted ones included."""
    assert run.state == SyncRun.State.SUCCEEDED, run.error
    assert {o.object_name: o.state for o in run.object_results.all()} == dict.fromkeys(
        OBJECTS, SyncRunObject.State.SUCCEEDED
    )
    expected = intacct_rows(sandbox, company_id)
    assert len(expected) > 100
    assert held_rows(legal_entity) == expected
    for name in OBJECTS:
        assert live_keys(legal_entity, name) == sandbox_keys(sandbox, company_id, name)
    every_row = list(
        ListItem.objects.filter(legal_entity=legal_entity).values_list("object_name", "record_no")
    )
    assert len(every_row) == len(set(every_row)), "an Intacct record is held twice"
    assert set(every_row) == ever


def sync_through_changes(
    legal_entity: LegalEntity, sandbox: Sandbox, company_id: str
) -> list[SyncRun]:
    """A full sync, adds, changes and deletions in the company, then a partial sync; both end
    in step with the company."""
    company = sandbox.company(company_id)
    ever = set(intacct_rows(sandbox, company_id))

    full = sync(legal_entity, kind=SyncRun.Kind.FULL)
    assert_in_step(full, legal_entity, sandbox, company_id, ever)

    done = company.mutate(adds=3, changes=4, deletes=3, objects=OBJECTS, seed=11)
    ever |= set(intacct_rows(sandbox, company_id))
    second = sync(legal_entity)

    assert second.kind == SyncRun.Kind.PARTIAL
    assert_in_step(second, legal_entity, sandbox, company_id, ever)
    for name in OBJECTS:
        row = second.object_results.get(object_name=name)
        assert row.watermark is not None
        assert row.created == len(done[name].added) == 3
        assert row.deleted == len(done[name].deleted) == 3
    return [full, second]


def total(runs: list[SyncRun], field: str) -> int:
    return sum(counts(run, field) for run in runs)


def run_requests(runs: list[SyncRun]) -> int:
    """Every request of the runs, sign-ins and batched first pages included."""
    return sum(run.requests for run in runs)


#: The partial sync sends every object's first page of changes, with the audit-trail query, in
#: one request, and the look-ups of the keys the audit trail named (each object's deletions) in a
#: second: two requests for 2 pages an object.
BATCHED_SAVING = 2 * len(OBJECTS) - 2


@pytest.mark.django_db
def test_rate_limited_company_syncs_exactly_with_every_refusal_retried(connected, sandbox, pauses):
    """Every request the gateway refused with 429 was paused for and sent again, and the rows
    still match the company exactly after the full and the partial sync."""
    legal_entity = connected("rate-limited")

    runs = sync_through_changes(legal_entity, sandbox, "rate-limited")

    sent = sandbox.company("rate-limited").request_count
    assert run_requests(runs) == sent
    refused = sent // RATE_LIMIT_EVERY
    assert refused >= 3
    assert len(pauses) == refused
    # One sign-in per run, one request per page (but the partial sync's first pages of every
    # object share two requests), and one more per refusal.
    assert run_requests(runs) == total(runs, "pages") + len(runs) + refused - BATCHED_SAVING


@pytest.mark.django_db
def test_flaky_company_syncs_exactly_through_server_errors(connected, sandbox, pauses):
    """Requests the gateway failed with HTTP 5xx were paused for and sent again, and the rows
    still match the company exactly after the full and the partial sync."""
    legal_entity = connected("flaky")

    runs = sync_through_changes(legal_entity, sandbox, "flaky")

    assert pauses, "no request failed, so nothing was retried"
    assert run_requests(runs) >= (total(runs, "pages") + len(runs) + len(pauses) - BATCHED_SAVING)


@pytest.mark.django_db
@pytest.mark.parametrize("company_id", ["rate-limited", "flaky"])
def test_unreliable_companies_sync_exactly_across_pages(
    company_id, connected, sandbox, pauses, monkeypatch
):
    """The same with pages of 7 records: every object pages, and lists its keys over several
    pages, while requests fail."""
    from connections.services import smartsync

    monkeypatch.setattr(smartsync, "PAGE_SIZE", 7)
    monkeypatch.setattr(smartsync, "KEY_PAGE_SIZE", 7)
    legal_entity = connected(company_id)

    runs = sync_through_changes(legal_entity, sandbox, company_id)

    assert pauses, "no request failed, so nothing was retried"
    full = runs[0]
    assert all(row.pages >= 6 for row in full.object_results.all())  # 3 of records, 3 of keys


@pytest.mark.django_db(transaction=True)
def test_twenty_simultaneous_starts_make_one_run(legal_entity):
    """Twenty starts of one legal entity at the same moment, each on its own database
    connection: one creates the run and queues its task, the nineteen others get that run back
    and queue nothing."""
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        pytest.skip(
            "in-memory SQLite (the test database) locks whole tables between connections: "
            "simultaneous writers fail with 'database table is locked' instead of waiting"
        )
    drain_queue()
    barrier = threading.Barrier(STARTERS)
    started: list[tuple[int, bool]] = []
    errors: list[BaseException] = []

    def start(trigger: str) -> None:
        try:
            entity = LegalEntity.objects.get(pk=legal_entity.pk)
            barrier.wait(timeout=10)
            run, created = start_sync(entity, kind=SyncRun.Kind.FULL, trigger=trigger)
            started.append((run.pk, created))
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    triggers = [SyncRun.Trigger.MANUAL, SyncRun.Trigger.SCHEDULE]
    threads = [threading.Thread(target=start, args=(triggers[i % 2],)) for i in range(STARTERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)

    assert not errors, errors
    run = SyncRun.objects.get(legal_entity=legal_entity)
    assert run.state == SyncRun.State.QUEUED
    assert sorted(started) == [(run.pk, False)] * (STARTERS - 1) + [(run.pk, True)]
    messages = drain_queue()
    assert [message["decoded"][0] for message in messages] == [[run.pk]]
