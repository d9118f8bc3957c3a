"""SmartSync: copy a legal entity's Intacct list records into :class:`~connections.models.ListItem`.

A run goes ``queued → running → succeeded | partial | failed``:

- :func:`start_sync` makes the queued run. One active run per legal entity: the database's
  ``connections_syncrun_one_active`` is the real guard, and a second start returns the active run.
  The first sync of an entity is always full.
- :func:`run_sync` claims the run and syncs every object of the entity's API Sync Profile:

  - **full**: every record, page by page; rows Intacct no longer lists are marked deleted.
  - **partial**: records whose WHENMODIFIED or WHENCREATED is after the object's watermark (the
    newest WHENMODIFIED we hold, minus :data:`OVERLAP`), then a key-only listing that finds
    deletions and records we have never seen (an empty WHENMODIFIED hides them from the filter),
    which are read by key.

Each page is parsed, written with one upsert, and dropped; rows whose WHENMODIFIED and fields did not
change are not rewritten. An Intacct error stops its object only (the error is recorded on the
:class:`~connections.models.SyncRunObject`); rows already held stay as they were.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone
from kombu.exceptions import OperationalError

from connections.models import (
    ApiSyncProfile,
    ConnectionAttempt,
    LegalEntity,
    ListItem,
    Step,
    StepState,
    SyncRun,
    SyncRunObject,
)
from connections.services.listitem_store import (
    KeySet,
    Row,
    held_keys,
    json_text,
    parse_timestamp,
    upsert_page,
)
from connections.services.verification import client_for
from intacct.catalog import LIST_OBJECTS, ListObject, get_object, udd_object
from intacct.client import IntacctClient
from intacct.errors import AuthenticationError, ControlError, EndpointError, IntacctError
from intacct.protocol import Filter

logger = logging.getLogger(__name__)

#: A partial sync re-reads this far behind the newest WHENMODIFIED it holds, so records written
#: in the same second as the last sync (or with a slightly skewed clock) are not missed.
OVERLAP = timedelta(minutes=5)
#: Page size of the key-only listing (the gateway's maximum).
KEY_PAGE_SIZE = 2000
#: Unknown keys read per request (``IntacctClient.read`` splits them into functions of 100).
READ_CHUNK = 500
#: Record numbers per ``IN (…)`` clause when marking deletions.
DELETE_CHUNK = 1000

#: A run still queued or running after this long is dead (its task or worker was lost): see
#: :func:`expire_stale_syncs`. Longer than the ``run_sync`` task's hard time limit.
STALE_AFTER = timedelta(minutes=90)

QUEUE_MESSAGE = (
    "The sync could not be started because our task queue is unavailable. Nothing was lost: "
    "try again in a minute."
)
STALE_MESSAGE = (
    "The sync did not finish: its worker stopped. The records already synced are kept; the "
    "next sync completes them."
)

TIMESTAMP_FORMAT = "%m/%d/%Y %H:%M:%S"
DATE_FORMAT = "%m/%d/%Y"

# Errors that no other object could escape: the sign-in or the request itself is refused.
_RUN_ERRORS = (AuthenticationError, ControlError, EndpointError)


def format_timestamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime(TIMESTAMP_FORMAT)


def list_object(name: str) -> ListObject:
    """The catalog entry for a profile object; names the catalog lacks are user-defined
    dimensions."""
    if name.upper() in LIST_OBJECTS:
        return get_object(name)
    return udd_object(name)


# --- starting -------------------------------------------------------------------------------------


def start_sync(
    legal_entity: LegalEntity,
    *,
    kind: str,
    trigger: str,
    user: Any = None,
    enqueue: bool = True,
) -> tuple[SyncRun, bool]:
    """A queued run of ``legal_entity``, or the one already queued or running (``created`` False).

    A partial sync is made full while the entity has never finished a full sync. With
    ``enqueue``, a created run's ``run_sync`` task is queued (with the run's id only) once the
    current transaction commits; without it, the caller runs :func:`run_sync` itself.
    """
    if kind == SyncRun.Kind.PARTIAL and not (
        SyncRun.objects.filter(
            legal_entity=legal_entity,
            kind=SyncRun.Kind.FULL,
            state__in=[SyncRun.State.SUCCEEDED, SyncRun.State.PARTIAL],
        ).exists()
    ):
        kind = SyncRun.Kind.FULL
    for _ in range(3):
        try:
            with transaction.atomic():
                run = SyncRun.objects.create(
                    legal_entity=legal_entity,
                    kind=kind,
                    trigger=trigger,
                    requested_by=user if getattr(user, "is_authenticated", False) else None,
                )
        except IntegrityError:
            active = SyncRun.objects.filter(
                legal_entity=legal_entity, state__in=SyncRun.ACTIVE
            ).first()
            if active is not None:
                return active, False
            # The active run finished between our insert and this read: try again.
            continue
        if enqueue:
            transaction.on_commit(partial(_enqueue, run.pk))
        return run, True
    raise RuntimeError(f"Could not start a sync of legal entity {legal_entity.pk}")


def _enqueue(run_id: int) -> None:
    """Queue the task for ``run_id``; when the broker is down, end the run ``failed`` with a retry
    message instead of failing the request that asked for it (and blocking the entity)."""
    from connections.tasks import run_sync as run_sync_task  # the tasks module imports this one

    try:
        run_sync_task.delay(run_id)
    except OperationalError:
        logger.exception("could not queue sync run %s", run_id)
        SyncRun.objects.filter(pk=run_id, state=SyncRun.State.QUEUED).update(
            state=SyncRun.State.FAILED, error=QUEUE_MESSAGE, finished_at=timezone.now()
        )


def expire_stale_syncs(*, older_than: timedelta = STALE_AFTER) -> int:
    """Finish as ``failed`` every run queued or running for longer than ``older_than`` (its task
    or worker was lost), so the legal entity can be synced again. Returns how many.

    Rows already written stay: every page is committed on its own, and the next run (full, or
    partial from the newest WHENMODIFIED held) completes the set.
    """
    cutoff = timezone.now() - older_than
    stale = list(
        SyncRun.objects.filter(state__in=SyncRun.ACTIVE, created_at__lt=cutoff)
        .exclude(state=SyncRun.State.RUNNING, started_at__gte=cutoff)
        .values_list("pk", "public_id", "state")
    )
    expired = 0
    for pk, public_id, state in stale:
        now = timezone.now()
        with transaction.atomic():
            done = SyncRun.objects.filter(pk=pk, state=state).update(
                state=SyncRun.State.FAILED, error=STALE_MESSAGE, finished_at=now
            )
            if not done:
                continue  # it finished meanwhile
            SyncRunObject.objects.filter(
                run_id=pk,
                state__in=[SyncRunObject.State.PENDING, SyncRunObject.State.RUNNING],
            ).update(state=SyncRunObject.State.FAILED, error=STALE_MESSAGE)
        expired += 1
        logger.warning("sync run %s was %s too long; expired", public_id, state)
    return expired


# --- reading it back ------------------------------------------------------------------------------


def sync_report(run: SyncRun) -> dict[str, Any]:
    """The run as plain data: ``{"run", "kind", "state", "error", "objects": [...]}``."""
    return {
        "run": str(run.public_id),
        "kind": run.kind,
        "state": run.state,
        "error": run.error,
        "objects": [
            {
                "object": row.object_name,
                "state": row.state,
                "fetched": row.fetched,
                "created": row.created,
                "updated": row.updated,
                "unchanged": row.unchanged,
                "deleted": row.deleted,
                "requests": row.requests,
                "error": row.error,
            }
            for row in SyncRunObject.objects.filter(run=run).order_by("pk")
        ],
    }


# --- running --------------------------------------------------------------------------------------


@dataclass
class ObjectStats:
    pages: int = 0
    requests: int = 0
    fetched: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    watermark: datetime | None = None


def run_sync(run_id: int) -> SyncRun | None:
    """Claim the queued run ``run_id`` and sync every object of the entity's profile.

    ``None`` when the run is gone or another worker has it.
    """
    now = timezone.now()
    claimed = SyncRun.objects.filter(pk=run_id, state=SyncRun.State.QUEUED).update(
        state=SyncRun.State.RUNNING, started_at=now
    )
    if not claimed:
        # 0 rows: the run is gone or another worker claimed it.
        return None
    run = SyncRun.objects.select_related("legal_entity").get(pk=run_id)
    entity = run.legal_entity
    profile = ApiSyncProfile.objects.filter(legal_entity=entity, enabled=True).first()
    attempt = ConnectionAttempt.objects.filter(legal_entity=entity, is_current=True).first()
    if profile is None or attempt is None:
        reason = "No enabled API Sync Profile." if profile is None else "No connection."
        return _finish(run, SyncRun.State.FAILED, reason)
    try:
        with client_for(attempt) as client:
            show_private = attempt.integration_type == ConnectionAttempt.IntegrationType.TOP_LEVEL
            failed = 0
            names = list(dict.fromkeys(str(n) for n in profile.object_names))
            for name in names:
                if not _sync_object_row(run, client, list_object(name), show_private):
                    failed += 1
    except IntacctError as exc:
        logger.warning("sync run %s failed: %s", run.pk, type(exc).__name__)
        return _finish(run, SyncRun.State.FAILED, _describe(exc))
    except Exception:
        _finish(run, SyncRun.State.FAILED, "Unexpected error; see the logs.")
        raise
    if not names:
        return _finish(run, SyncRun.State.SUCCEEDED, "")
    if failed == 0:
        state = SyncRun.State.SUCCEEDED
    elif failed < len(names):
        state = SyncRun.State.PARTIAL
    else:
        state = SyncRun.State.FAILED
    error = f"{failed} of {len(names)} objects failed." if failed else ""
    return _finish(run, state, error)


def _finish(run: SyncRun, state: str, error: str) -> SyncRun:
    now = timezone.now()
    SyncRun.objects.filter(pk=run.pk).update(state=state, error=error, finished_at=now)
    if state != SyncRun.State.FAILED:
        LegalEntity.objects.filter(pk=run.legal_entity_id).update(last_synced_at=now)
    if state == SyncRun.State.SUCCEEDED and run.kind == SyncRun.Kind.FULL:
        # The guide's last step is proven by a successful full sync.
        StepState.objects.filter(
            attempt__legal_entity_id=run.legal_entity_id,
            attempt__is_current=True,
            step=Step.SMARTSYNC,
        ).exclude(status=StepState.Status.VERIFIED).update(
            status=StepState.Status.VERIFIED, reason="", errorno="", verified_at=now,
            updated_at=now,
        )  # fmt: skip
    run.refresh_from_db()
    return run


def _describe(exc: IntacctError) -> str:
    return f"{type(exc).__name__}: {exc}"


def _sync_object_row(
    run: SyncRun, client: IntacctClient, obj: ListObject, show_private: bool
) -> bool:
    """Sync one object and record it on its SyncRunObject; False when Intacct refused it."""
    row = SyncRunObject.objects.create(
        run=run, object_name=obj.name, state=SyncRunObject.State.RUNNING
    )
    stats = ObjectStats()
    started = time.monotonic()
    trips = client.round_trips
    state, error = SyncRunObject.State.SUCCEEDED, ""
    try:
        sync_object(
            client, run.legal_entity, obj, kind=run.kind, show_private=show_private, stats=stats
        )
    except _RUN_ERRORS:
        raise
    except IntacctError as exc:
        logger.warning("sync of %s failed: %s", obj.name, type(exc).__name__)
        state, error = SyncRunObject.State.FAILED, _describe(exc)
    finally:
        SyncRunObject.objects.filter(pk=row.pk).update(
            state=state,
            error=error,
            pages=stats.pages,
            requests=client.round_trips - trips,
            fetched=stats.fetched,
            created=stats.created,
            updated=stats.updated,
            unchanged=stats.unchanged,
            deleted=stats.deleted,
            watermark=stats.watermark,
            duration_ms=int((time.monotonic() - started) * 1000),
        )
    return state == SyncRunObject.State.SUCCEEDED


def sync_object(
    client: IntacctClient,
    legal_entity: LegalEntity,
    obj: ListObject,
    *,
    kind: str,
    show_private: bool,
    stats: ObjectStats,
) -> ObjectStats:
    """Sync one object's records of ``legal_entity``; a partial sync of an object we hold nothing
    of reads it in full."""
    live = ListItem.objects.filter(
        legal_entity=legal_entity, object_name=obj.name, deleted_at__isnull=True
    )
    newest = None
    if kind == SyncRun.Kind.PARTIAL:
        newest = live.aggregate(newest=Max("when_modified"))["newest"]
    if newest is None:
        _full(client, legal_entity, obj, show_private, stats)
    else:
        stats.watermark = newest - OVERLAP
        _partial(client, legal_entity, obj, show_private, stats, stats.watermark)
    return stats


def _full(
    client: IntacctClient,
    legal_entity: LegalEntity,
    obj: ListObject,
    show_private: bool,
    stats: ObjectStats,
) -> None:
    now = timezone.now()
    seen = KeySet()
    for page in client.query_pages(obj.name, obj.fields, show_private=show_private):
        stats.pages += 1
        seen.update(_write_page(legal_entity, obj, page.records, now, stats))
    _mark_deleted(legal_entity, obj, seen, held_keys(legal_entity.pk, obj.name), now, stats)


def _partial(
    client: IntacctClient,
    legal_entity: LegalEntity,
    obj: ListObject,
    show_private: bool,
    stats: ObjectStats,
    watermark: datetime,
) -> None:
    now = timezone.now()
    since = format_timestamp(watermark)
    changed = Filter.any(
        Filter.cond("greaterthan", obj.when_modified_field, since),
        Filter.cond("greaterthan", obj.when_created_field, since),
    )
    for page in client.query_pages(obj.name, obj.fields, filter=changed, show_private=show_private):
        stats.pages += 1
        _write_page(legal_entity, obj, page.records, now, stats)

    listed = KeySet()
    for page in client.query_pages(
        obj.name, [obj.key_field], show_private=show_private, page_size=KEY_PAGE_SIZE
    ):
        stats.pages += 1
        listed.update(key for rec in page.records if (key := rec.get(obj.key_field, "")))
    held = held_keys(legal_entity.pk, obj.name)
    unknown = listed.difference(held)
    for i in range(0, len(unknown), READ_CHUNK):
        records = client.read(obj.name, unknown[i : i + READ_CHUNK], obj.fields)
        stats.pages += 1
        _write_page(legal_entity, obj, records, now, stats)
    _mark_deleted(legal_entity, obj, listed, held, now, stats)


def _mark_deleted(
    legal_entity: LegalEntity,
    obj: ListObject,
    listed: KeySet,
    held: KeySet,
    now: datetime,
    stats: ObjectStats,
) -> None:
    """Mark deleted the live rows Intacct did not list, in chunks: one ``NOT IN`` over every key
    of a large object would pass SQLite's limit on query parameters."""
    gone = held.difference(listed)
    for i in range(0, len(gone), DELETE_CHUNK):
        stats.deleted += ListItem.objects.filter(
            legal_entity=legal_entity,
            object_name=obj.name,
            deleted_at__isnull=True,
            record_no__in=gone[i : i + DELETE_CHUNK],
        ).update(deleted_at=now)


def _write_page(
    legal_entity: LegalEntity,
    obj: ListObject,
    records: Iterable[dict[str, str]],
    now: datetime,
    stats: ObjectStats,
) -> list[str]:
    """Upsert one page in one statement (the database skips rows that did not change); returns
    the page's keys."""
    rows: dict[str, Row] = {}
    key_field, id_field, name_field = obj.key_field, obj.id_field, obj.name_field
    status_field, modified_field = obj.status_field, obj.when_modified_field
    for record in records:
        stats.fetched += 1
        key = (record.get(key_field) or "").strip()
        if not key:
            continue
        rows[key] = Row(
            key,
            (record.get(id_field) or "")[:200],
            (record.get(name_field) or "")[:500],
            (record.get(status_field) or "")[:40] if status_field else "",
            parse_timestamp(record.get(modified_field)),
            json_text(record),
        )
    written = upsert_page(legal_entity.pk, obj.name, list(rows.values()), now)
    stats.created += written.created
    stats.updated += written.updated
    stats.unchanged += written.unchanged
    return list(rows)
