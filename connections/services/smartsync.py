"""SmartSync: copy a legal entity's Intacct list records into :class:`~connections.models.ListItem`.

A run goes ``queued → running → succeeded | partial | failed``:

- :func:`start_sync` makes the queued run. One active run per legal entity: the database's
  ``connections_syncrun_one_active`` is the real guard, and a second start returns the active run.
  The first sync of an entity is always full.
- :func:`perform_sync` (the work of the ``connections.tasks.run_sync`` task) claims the run and
  syncs every object of the entity's API Sync Profile:

  - **full**: every record, page by page; rows Intacct no longer lists are marked deleted.
  - **partial**: records whose WHENMODIFIED or WHENCREATED is after the object's watermark (the
    newest WHENMODIFIED we hold, minus :data:`OVERLAP`); then deletions and records we have
    never seen (an empty WHENMODIFIED hides them from the filter). Where the role may read
    Intacct's audit trail, one paged ``AUDITHISTORY`` query across every object names them, and
    they are looked up by key; an object whose last key listing is older than
    ``SMARTSYNC_RECONCILE_EVERY_HOURS`` (and every object, without the audit trail) is instead
    reconciled by a key-only listing, which counts what the audit trail missed.

  The first page of every object's queries (and the audit query) travel together, up to 50
  functions a request (:func:`_partial_plan`): a partial sync that finds nothing costs one or two
  requests.

Each page is parsed, written with one upsert, and dropped; rows whose WHENMODIFIED and fields did not
change are not rewritten. An Intacct error stops its object only (the error is recorded on the
:class:`~connections.models.SyncRunObject`); rows already held stay as they were.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import Max, Q
from django.utils import timezone

from connections import audit
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
from connections.selectors.profiles import ready_profile
from connections.selectors.smartsync import last_watermark, object_history
from connections.services import alerts, health
from connections.services.listitem_store import (
    KeySet,
    Row,
    held_counts,
    held_keys,
    json_text,
    upsert_page,
)
from connections.services.queue import enqueue_on_commit
from connections.services.signin import client_for, record_sign_in_refused, sign_in_paused
from intacct import (
    AuditEvents,
    AuthenticationError,
    ControlError,
    EndpointError,
    IntacctClient,
    IntacctError,
    InvalidFieldsError,
    ListObject,
    NotApplicableError,
    Page,
    QuerySpec,
    RequestCount,
    RequiredFieldsMissing,
    SenderCredentialsError,
    SignInError,
    audit_denied,
    audit_query,
    counting_requests,
    key_filter,
    list_object,
    parse_datetime,
)

logger = logging.getLogger(__name__)

#: The warning on a run's object row for a field the company does not have.
UNAVAILABLE_WARNING = "{field} is not available in this company; synced without it."

#: A partial sync re-reads this far behind the newest WHENMODIFIED it holds, so records written
#: in the same second as the last sync (or with a slightly skewed clock) are not missed.
OVERLAP = timedelta(minutes=5)
#: A sync runs in the background for minutes: each request may take longer than an interactive
#: check's, and a transient error (5xx, 429, an expired session) is retried more often, with
#: backoff, before its object is given up.
REQUEST_TIMEOUT = 120.0
MAX_RETRIES = 6
#: Records a page of a sync's queries (the gateway's maximum for ``query``).
PAGE_SIZE = 2000
#: A partial sync reads an object whole when it holds at most this many records: one query of
#: one page (one API transaction) finds its changes and its deletions, where the changes query
#: and a key listing or the audit trail's look-ups cost two or more. Room is left for growth; an
#: object that outgrew its page is read page by page, then listed, as a full sync does.
WHOLE_READ_MAX = 1800
WHOLE_READ_NOTE = (
    "Every object fits in one page: each was read whole (one API transaction each), which finds "
    "its deletions too."
)
#: Page size of the key-only listing (the gateway's maximum).
KEY_PAGE_SIZE = 2000
#: Unknown keys read per request (``IntacctClient.read`` splits them into functions of 100).
READ_CHUNK = 500
#: Record numbers per ``IN (…)`` clause when marking deletions.
DELETE_CHUNK = 1000

#: A run still queued after this long lost its task: see :func:`expire_stale_syncs`.
STALE_AFTER = timedelta(minutes=90)
#: A running run whose worker has shown no sign of life for this long is dead: it may be taken
#: over (:func:`perform_sync`) or expired. Longer than one request may take with all its retries
#: (``REQUEST_TIMEOUT`` × 7 attempts, plus backoff), since the heartbeat beats between pages.
STALL_AFTER = timedelta(minutes=20)
#: How often a running sync records its heartbeat, and its progress (seconds).
HEARTBEAT_EVERY = 10.0
PROGRESS_EVERY = 0.5

#: The task that runs a queued sync (``connections.tasks``).
TASK_NAME = "connections.tasks.run_sync"

QUEUE_MESSAGE = (
    "The sync could not be started because our task queue is unavailable. Nothing was lost: "
    "try again in a minute."
)
STALE_MESSAGE = (
    "The sync did not finish: its worker stopped. The records already synced are kept; the "
    "next sync completes them."
)
LOST_TASK_MESSAGE = (
    "The sync never started: its task was lost from the queue. Nothing was changed; start it again."
)
LOST_TASK_RESTARTED_MESSAGE = (
    "The sync never started: its task was lost from the queue. Nothing was changed, and a new "
    "sync was started in its place."
)
RESTARTED_MESSAGE = (
    "The sync did not finish: its worker stopped. The records already synced are kept, and a new "
    "sync was started to complete them."
)

NOT_IN_COMPANY = (
    "Not in this Intacct company (its edition or modules do not have it), so skipped. Intacct:"
)

# Errors that no other object could escape: the sign-in or the request itself is refused.
_RUN_ERRORS = (AuthenticationError, ControlError, EndpointError)


# --- starting -------------------------------------------------------------------------------------


def start_sync(
    legal_entity: LegalEntity,
    *,
    kind: str,
    trigger: str,
    user: Any = None,
    enqueue: bool = True,
    restart_of: SyncRun | None = None,
) -> tuple[SyncRun, bool]:
    """A queued run of ``legal_entity``, or the one already queued or running (``created`` False).

    A partial sync is made full while the entity has never finished a full sync. With
    ``enqueue``, a created run's ``run_sync`` task is queued (with the run's id only) once the
    current transaction commits; without it, the caller runs :func:`perform_sync` itself.
    ``restart_of`` is the lost run this one replaces (:func:`expire_stale_syncs`).
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
                    requested_by=audit.actor_or_none(user),
                    restart_of=restart_of,
                )
        except IntegrityError:
            active = SyncRun.objects.filter(
                legal_entity=legal_entity, state__in=SyncRun.ACTIVE
            ).first()
            if active is not None:
                return active, False
            # The active run finished between our insert and this read: try again.
            continue
        detail: dict[str, Any] = {"run": run.public_id, "kind": kind, "trigger": trigger}
        if restart_of is not None:
            detail["restart_of"] = restart_of.public_id
        audit.record_for_entity(user, "sync.started", legal_entity, **detail)
        if enqueue:
            enqueue_on_commit(TASK_NAME, run.pk, row="sync run", on_broker_down=_queue_unavailable)
        return run, True
    raise RuntimeError(f"Could not start a sync of legal entity {legal_entity.pk}")


def _queue_unavailable(run_id: int) -> None:
    """The broker refused the task: end the run ``failed`` with a retry message, so the entity is
    not blocked by a run no worker will take."""
    SyncRun.objects.filter(pk=run_id, state=SyncRun.State.QUEUED).update(
        state=SyncRun.State.FAILED, error=QUEUE_MESSAGE, finished_at=timezone.now()
    )


def _silent_since(cutoff: datetime) -> Q:
    """Running, with no sign of life since ``cutoff``."""
    return Q(state=SyncRun.State.RUNNING) & (
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True, started_at__lt=cutoff)
    )


def expire_stale_syncs(*, older_than: timedelta | None = None, restart: bool = True) -> int:
    """Finish as ``failed`` every run queued for longer than :data:`STALE_AFTER` (its task was
    lost) or running without a heartbeat for :data:`STALL_AFTER` (its worker was lost), so the
    legal entity can be synced again; ``older_than`` replaces both. Returns how many.

    Rows already written stay: every page is committed on its own and the object's watermark did
    not move. With ``restart``, a new run of the same kind and trigger is queued in the lost
    one's place (``restart_of``) to complete the set, while the entity's profile is ready; a
    restart that is lost in turn is not restarted again (its worker may be what kills it), and the
    next sync completes the set.
    """
    now = timezone.now()
    queued_cutoff = now - (STALE_AFTER if older_than is None else older_than)
    silent_cutoff = now - (STALL_AFTER if older_than is None else older_than)
    stale = list(
        SyncRun.objects.filter(
            Q(state=SyncRun.State.QUEUED, created_at__lt=queued_cutoff)
            | _silent_since(silent_cutoff)
        ).select_related("legal_entity")
    )
    expired = 0
    for run in stale:
        now = timezone.now()
        restarting = (
            restart and run.restart_of_id is None and ready_profile(run.legal_entity) is not None
        )
        if run.state == SyncRun.State.QUEUED:
            message = LOST_TASK_RESTARTED_MESSAGE if restarting else LOST_TASK_MESSAGE
        else:
            message = RESTARTED_MESSAGE if restarting else STALE_MESSAGE
        with transaction.atomic():
            # Still lost: not finished, taken over or heard from since it was listed.
            done = (
                SyncRun.objects.filter(pk=run.pk)
                .filter(
                    Q(state=SyncRun.State.QUEUED, created_at__lt=queued_cutoff)
                    | _silent_since(silent_cutoff)
                )
                .update(state=SyncRun.State.FAILED, error=message, finished_at=now)
            )
            if not done:
                continue
            SyncRunObject.objects.filter(
                run_id=run.pk,
                state__in=[SyncRunObject.State.PENDING, SyncRunObject.State.RUNNING],
            ).update(state=SyncRunObject.State.FAILED, error=message)
            if restarting:
                start_sync(run.legal_entity, kind=run.kind, trigger=run.trigger, restart_of=run)
            health.refresh_health(run.legal_entity_id, now=now)
        expired += 1
        logger.warning(
            "sync run %s was %s too long; expired%s",
            run.public_id,
            run.state,
            " and restarted" if restarting else "",
        )
    return expired


def is_running(run_id: int) -> bool:
    return SyncRun.objects.filter(pk=run_id, state=SyncRun.State.RUNNING).exists()


# --- running --------------------------------------------------------------------------------------


@dataclass
class ObjectStats:
    """What one object's sync did so far; ``on_page`` (if set) is told after every page."""

    pages: int = 0
    fetched: int = 0
    total: int = 0
    created: int = 0
    updated: int = 0
    unchanged: int = 0
    deleted: int = 0
    since: datetime | None = None
    watermark: datetime | None = None
    #: Every key was listed (a reconciliation); what it found that the audit trail missed.
    reconciled: bool = False
    missed_by_audit: int = 0
    on_page: Callable[[ObjectStats], None] | None = field(default=None, repr=False)

    def page_done(self, page: Page | None = None) -> None:
        """Count a page; a page of records also tells how many records its query has."""
        self.pages += 1
        if page is not None:
            self.total = max(self.total, self.fetched, page.offset + page.count + page.numremaining)
        if self.on_page is not None:
            self.on_page(self)


def perform_sync(run_id: int) -> SyncRun | None:
    """Claim the run ``run_id`` and sync every object of the entity's profile.

    A queued run is claimed; so is a running one whose worker has been silent for
    :data:`STALL_AFTER` (the task came back after its worker was lost), which starts over: pages
    already written are found unchanged. ``None`` when the run is finished, gone, or another
    worker is on it.
    """
    now = timezone.now()
    claimed = SyncRun.objects.filter(
        Q(state=SyncRun.State.QUEUED) | _silent_since(now - STALL_AFTER), pk=run_id
    ).update(state=SyncRun.State.RUNNING, started_at=now, heartbeat_at=now)
    if not claimed:
        return None
    run = SyncRun.objects.select_related("legal_entity").get(pk=run_id)
    if SyncRunObject.objects.filter(run=run).delete()[0]:
        logger.warning("sync run %s: its worker was lost; starting it over", run.public_id)
    entity = run.legal_entity
    profile = ready_profile(entity)
    attempt = ConnectionAttempt.objects.filter(legal_entity=entity, is_current=True).first()
    if profile is None or attempt is None:
        reason = "No enabled API Sync Profile." if profile is None else "No connection."
        return _finish(run, SyncRun.State.FAILED, reason)
    paused = sign_in_paused(attempt)
    if paused:
        return _finish(run, SyncRun.State.FAILED, paused)
    names = list(dict.fromkeys(str(n) for n in profile.object_names))
    try:
        with client_for(attempt, timeout=REQUEST_TIMEOUT, max_retries=MAX_RETRIES) as client:
            show_private = attempt.integration_type == ConnectionAttempt.IntegrationType.TOP_LEVEL
            known = profile.unavailable_fields if run.kind == SyncRun.Kind.PARTIAL else {}
            objects, left_out = [], {}
            for name in names:
                obj, missing = _without_known(list_object(name), known)
                objects.append(obj)
                left_out[obj.name] = missing
            try:
                outcomes = _sync_objects(
                    run, client, objects, show_private, left_out, audit=profile.audit_trail
                )
            finally:
                client.wait_for_sign_in()  # its request is the run's too
                SyncRun.objects.filter(pk=run.pk).update(
                    requests=client.round_trips, transactions=client.functions_sent
                )
            failed = outcomes.count(False)
    except IntacctError as exc:
        logger.warning("sync run %s failed: %s", run.pk, type(exc).__name__)
        if isinstance(exc, SignInError):
            record_sign_in_refused(attempt, actor=None, during="sync")
        if isinstance(exc, SenderCredentialsError):
            alerts.sender_credentials_refused(
                attempt, errorno=exc.errorno, during="sync", run=str(run.public_id)
            )
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
    reasons = set(
        run.object_results.filter(state=SyncRunObject.State.FAILED).values_list("error", flat=True)
    )
    if len(reasons) == 1 and (reason := reasons.pop()):
        # One reason for every failed object (Intacct off-line, say): the run names it.
        error = f"{error[:-1]}: {reason}"
    return _finish(run, state, error)


def concurrent_objects(client: IntacctClient, count: int) -> int:
    """How many objects to sync at once: one more than the company's concurrency limit (each
    object's pager keeps that many requests in flight, and the client's limiter holds the
    company to it). Each object runs in its own thread with its own database connection, which needs
    committed data and a database that takes concurrent writers: PostgreSQL, outside any
    transaction. SQLite, or a caller's transaction (tests), runs them one after the other."""
    if connection.vendor != "postgresql" or connection.in_atomic_block:
        return 1
    # One more than the limit: while an object is between requests (parsing, writing, starting
    # its key listing), another's request takes the free slot.
    return max(1, min(count, client.max_concurrency + 1))


def _sync_objects(
    run: SyncRun,
    client: IntacctClient,
    objects: list[ListObject],
    show_private: bool,
    left_out: dict[str, tuple[str, ...]] | None = None,
    *,
    audit: bool | None = None,
) -> list[bool]:
    """Sync each object, several at once where :func:`concurrent_objects` allows; one outcome
    per object, in order. A run-level error (the sign-in or the request refused) stops the
    objects not yet started and is raised. ``audit``: whether the role may read the audit trail
    (the profile's ``audit_trail``; ``None``: not known, so tried)."""
    rows = SyncRunObject.objects.bulk_create(
        [SyncRunObject(run=run, object_name=obj.name) for obj in objects]
    )
    work = list(zip(objects, rows, strict=True))
    left_out = left_out or {}
    plan = _partial_plan(run, client, objects, show_private, audit)
    first = plan.objects
    SyncRun.objects.filter(pk=run.pk).update(
        audit_trail=plan.audit_used, audit_note=plan.audit_note
    )
    if plan.audit_readable is not None and plan.audit_readable != audit:
        ApiSyncProfile.objects.filter(legal_entity_id=run.legal_entity_id).update(
            audit_trail=plan.audit_readable
        )

    def sync_one(obj: ListObject, row: SyncRunObject) -> bool:
        return _sync_object_row(
            run, client, obj, row, show_private, left_out.get(obj.name, ()), first.get(obj.name)
        )

    workers = concurrent_objects(client, len(objects))
    if workers <= 1:
        return [sync_one(obj, row) for obj, row in work]

    def one(obj: ListObject, row: SyncRunObject) -> bool:
        try:
            return sync_one(obj, row)
        finally:
            connection.close()  # this thread's own connection

    with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="smartsync") as pool:
        futures = [pool.submit(one, obj, row) for obj, row in work]
        try:
            return [future.result() for future in futures]
        except BaseException:
            for future in futures:
                future.cancel()
            raise


def _finish(run: SyncRun, state: str, error: str) -> SyncRun:
    now = timezone.now()
    mine = SyncRun.objects.filter(pk=run.pk, state=SyncRun.State.RUNNING, started_at=run.started_at)
    if not mine.update(state=state, error=error, finished_at=now):
        # Expired, or taken over by another worker, while this one was silent: not ours to end.
        logger.warning("sync run %s ended elsewhere; leaving it", run.public_id)
        run.refresh_from_db()
        return run
    # Objects a failed run never reached.
    SyncRunObject.objects.filter(
        run_id=run.pk, state__in=[SyncRunObject.State.PENDING, SyncRunObject.State.RUNNING]
    ).update(state=SyncRunObject.State.FAILED, error=error or "Not synced: the run stopped.")
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
    health.refresh_health(run.legal_entity_id, now=now)
    run.refresh_from_db()
    return run


def _describe(exc: IntacctError) -> str:
    return f"{type(exc).__name__}: {exc}"


@dataclass(frozen=True)
class FirstPages:
    """A partial sync's start of one object, fetched in a batch with every other object's
    (:func:`_partial_plan`): the first page of its changes since ``since`` (a page, or the error
    the gateway gave that query; ``since`` None: the object syncs in full, and this is the first
    page of all its records), and either

    - ``listing``: the first page of its key listing (``keys``; ``None`` when it was not
      batched, and is fetched by the object itself), or
    - the audit trail's word on it: ``deleted_rows``, the held records it says are deleted, and
      ``lookups``, the first pages of the queries that look up every key it named (held
      deletions, and keys we do not hold), by record number or ID.

    ``audit_keys``: every key the audit trail named for the object (``None``: not read).
    ``functions``: how many of the batched functions were this object's."""

    since: datetime | None
    changed: Page | IntacctError
    listing: bool = True
    #: The key listing's pages, every one of them (batched too), or none (fetched by the object).
    keys: tuple[Page | IntacctError, ...] = ()
    audit_keys: frozenset[str] | None = None
    deleted_rows: tuple[str, ...] = ()
    lookup_specs: tuple[QuerySpec, ...] = ()
    lookups: tuple[Page | IntacctError, ...] = ()
    functions: int = 1


@dataclass
class PartialPlan:
    """What a partial sync fetched before its objects start, and how it found deletions:
    ``audit_used`` (``None`` for a full sync), ``audit_note`` (why not, when not) and
    ``audit_readable`` (what this run learned of the permission; ``None``: nothing)."""

    objects: dict[str, FirstPages] = field(default_factory=dict)
    audit_used: bool | None = None
    audit_note: str = ""
    audit_readable: bool | None = None


#: Keys per look-up query of the keys the audit trail named (``key IN (…) OR ID IN (…)``).
LOOKUP_CHUNK = 500

AUDIT_UNREADABLE = (
    "The audit trail could not be read ({reason}): every object's keys were listed to find "
    "deletions."
)
AUDIT_NOT_PERMITTED = (
    "The role may not read Intacct's audit trail, so every object's keys are listed to find "
    "deletions (more API transactions). Granting View on custom reports (Platform Services) "
    "makes partial syncs cheaper."
)


def _reconcile_every() -> timedelta:
    return timedelta(hours=max(0, int(settings.SMARTSYNC_RECONCILE_EVERY_HOURS)))


def _partial_plan(
    run: SyncRun,
    client: IntacctClient,
    objects: list[ListObject],
    show_private: bool,
    audit: bool | None,
) -> PartialPlan:
    """For a partial sync, the first page of every object's changes, and of its key listing
    where it lists keys, plus the audit-trail query, many functions to a request
    (:meth:`IntacctClient.first_pages`); then the audit trail read to its end, and the
    look-ups of the keys it named, batched the same way. Objects never synced before (no
    watermark: they sync in full) are left out."""
    if run.kind != SyncRun.Kind.PARTIAL:
        return PartialPlan()
    entity = run.legal_entity
    history = object_history(entity)
    now = timezone.now()
    every = _reconcile_every()
    use_audit = audit is not False
    plan: list[tuple[ListObject, datetime, bool]] = []
    audit_since: datetime | None = None
    full: list[ListObject] = []
    sizes = held_counts(entity.pk)
    for obj in objects:
        watermark = last_watermark(entity, obj.name)
        if watermark is None or sizes.get(obj.name, 0) <= WHOLE_READ_MAX:
            # Never synced (or not in this company), or small: read whole.
            full.append(obj)
            continue
        seen = history.get(obj.name)
        synced = seen.synced if seen is not None else None
        listed = seen.listed if seen is not None else None
        listing = (
            not use_audit or synced is None or listed is None or not every or now - listed >= every
        )
        plan.append((obj, watermark - OVERLAP, listing))
        if synced is not None:
            start = synced - OVERLAP
            audit_since = start if audit_since is None else min(audit_since, start)
    out = PartialPlan(audit_used=False, audit_note="" if use_audit else AUDIT_NOT_PERMITTED)
    if not plan and not full:
        return out
    if not plan:
        out.audit_note = WHOLE_READ_NOTE

    specs: list[QuerySpec] = [
        QuerySpec(obj.name, obj.fields, page_size=PAGE_SIZE, show_private=show_private)
        for obj in full
    ]
    for obj, since, listing in plan:
        specs.append(
            QuerySpec.changed(
                obj.name,
                obj.fields,
                since,
                modified_field=obj.when_modified_field,
                created_field=obj.when_created_field,
                page_size=PAGE_SIZE,
                show_private=show_private,
            )
        )
        if listing:
            specs.append(_key_listing(obj, show_private))
    audit_spec = None
    if use_audit and audit_since is not None:
        audit_spec = audit_query([obj.name for obj, _, _ in plan], audit_since)
        specs.append(audit_spec)
    pages = iter(client.first_pages(specs))
    for obj in full:
        out.objects[obj.name] = FirstPages(None, next(pages), functions=1)
    firsts: dict[str, tuple[Page | IntacctError, Page | IntacctError | None]] = {}
    for obj, _since, listing in plan:
        changed = next(pages)
        firsts[obj.name] = (changed, next(pages) if listing else None)
    key_pages = _rest_of_listings(client, plan, firsts, show_private)

    events = None
    if audit_spec is not None:
        events, read = _read_audit(client, audit_spec, next(pages), [o.name for o, _, _ in plan])
        out.audit_used, out.audit_note = read.audit_used, read.audit_note
        out.audit_readable = read.audit_readable

    lookups: dict[str, tuple[tuple[str, ...], list[QuerySpec]]] = {}
    if events is not None:
        for obj, _since, listing in plan:
            if not listing:
                lookups[obj.name] = _audit_lookups(
                    entity, obj, events, firsts[obj.name][0], show_private
                )
    lookup_specs = [spec for _rows, specs_ in lookups.values() for spec in specs_]
    lookup_pages = iter(client.first_pages(lookup_specs)) if lookup_specs else iter(())

    for obj, since, listing in plan:
        changed, _keys = firsts[obj.name]
        key_listing = key_pages.get(obj.name, ())
        if events is None:
            # No audit trail this run: every object lists its keys (those not batched now).
            out.objects[obj.name] = FirstPages(
                since, changed, listing=True, keys=key_listing, functions=1 + len(key_listing)
            )
            continue
        audit_keys = frozenset(events.keys_of(obj.name))
        if listing:
            out.objects[obj.name] = FirstPages(
                since,
                changed,
                listing=True,
                keys=key_listing,
                audit_keys=audit_keys,
                functions=1 + len(key_listing),
            )
            continue
        deleted_rows, obj_specs = lookups[obj.name]
        out.objects[obj.name] = FirstPages(
            since,
            changed,
            listing=False,
            audit_keys=audit_keys,
            deleted_rows=deleted_rows,
            lookup_specs=tuple(obj_specs),
            lookups=tuple(next(lookup_pages) for _ in obj_specs),
            functions=1 + len(obj_specs),
        )
    return out


def _rest_of_listings(
    client: IntacctClient,
    plan: list[tuple[ListObject, datetime, bool]],
    firsts: dict[str, tuple[Page | IntacctError, Page | IntacctError | None]],
    show_private: bool,
) -> dict[str, tuple[Page | IntacctError, ...]]:
    """Every page of each key listing whose first page came in the batch: the others as far as
    that first page counted, batched the same way (a listing that grew meanwhile is followed to
    its end by the object itself)."""
    wanted: list[tuple[QuerySpec, int]] = []
    owners: list[str] = []
    out: dict[str, tuple[Page | IntacctError, ...]] = {}
    for obj, _since, _listing in plan:
        first = firsts[obj.name][1]
        if first is None:
            continue
        out[obj.name] = (first,)
        if isinstance(first, Page) and first.count and first.numremaining:
            spec = _key_listing(obj, show_private)
            end = first.count + first.numremaining
            for offset in range(first.count, end, first.count):
                wanted.append((spec, offset))
                owners.append(obj.name)
    for name, page in zip(owners, client.pages_at(wanted) if wanted else [], strict=True):
        out[name] = (*out[name], page)
    return out


def _key_listing(obj: ListObject, show_private: bool) -> QuerySpec:
    return QuerySpec(obj.name, (obj.key_field,), page_size=KEY_PAGE_SIZE, show_private=show_private)


def _read_audit(
    client: IntacctClient, spec: QuerySpec, first: Page | IntacctError, names: list[str]
) -> tuple[AuditEvents | None, PartialPlan]:
    """The audit trail from its first page on, or ``None`` (and why) when it cannot be read."""
    try:
        if isinstance(first, IntacctError):
            raise first
        events = AuditEvents()
        for page in spec.pages(client, first=first):
            events.add_records(page.records, names)
    except _RUN_ERRORS:
        raise
    except IntacctError as exc:
        denied = audit_denied(exc)
        logger.info("audit trail unreadable (%s); listing keys instead", type(exc).__name__)
        note = AUDIT_NOT_PERMITTED if denied else AUDIT_UNREADABLE.format(reason=_describe(exc))
        return None, PartialPlan(
            audit_used=False, audit_note=note[:500], audit_readable=False if denied else None
        )
    return events, PartialPlan(audit_used=True, audit_readable=True)


def _audit_lookups(
    legal_entity: LegalEntity,
    obj: ListObject,
    events: AuditEvents,
    changed: Page | IntacctError,
    show_private: bool,
) -> tuple[tuple[str, ...], list[QuerySpec]]:
    """The held records the audit trail says ``obj`` lost, and the queries that look up what
    it named: those records (gone unless found) and keys we do not hold (records the changes
    query cannot see), each by record number or ID, since which an OBJECTKEY is is unverified."""
    changed_keys, deleted_keys = events.of(obj.name)
    named = sorted(changed_keys | deleted_keys)
    if not named:
        return (), []
    held: dict[str, str] = {}  # key or ID → record number, of live rows
    for i in range(0, len(named), DELETE_CHUNK):
        chunk = named[i : i + DELETE_CHUNK]
        for record_no, item_id in ListItem.objects.filter(
            Q(record_no__in=chunk) | Q(item_id__in=chunk),
            legal_entity=legal_entity,
            object_name=obj.name,
            deleted_at__isnull=True,
        ).values_list("record_no", "item_id"):
            held[record_no] = record_no
            if item_id:
                held.setdefault(item_id, record_no)
    deleted_rows = sorted({held[k] for k in deleted_keys if k in held})
    new_keys = {k for k in changed_keys if k not in held}
    if new_keys and isinstance(changed, Page) and changed.numremaining == 0:
        for record in changed.records:
            new_keys.discard(record.get(obj.key_field) or "")
            new_keys.discard(record.get(obj.id_field) or "")
    wanted = sorted(set(deleted_rows) | new_keys)
    specs = [
        QuerySpec(
            obj.name,
            obj.fields,
            key_filter(obj.key_field, obj.id_field, wanted[i : i + LOOKUP_CHUNK]),
            show_private=show_private,
        )
        for i in range(0, len(wanted), LOOKUP_CHUNK)
    ]
    return tuple(deleted_rows), specs


def _sync_object_row(
    run: SyncRun,
    client: IntacctClient,
    obj: ListObject,
    row: SyncRunObject,
    show_private: bool,
    left_out: tuple[str, ...] = (),
    first: FirstPages | None = None,
) -> bool:
    """Sync one object, keeping its SyncRunObject up to date page by page (the progress bar);
    False when Intacct refused it."""
    started = time.monotonic()
    sent = RequestCount()

    last_beat, last_save = started, 0.0

    def save(stats: ObjectStats, **final: Any) -> None:
        nonlocal last_beat, last_save
        now = time.monotonic()
        if not final and now - last_save < PROGRESS_EVERY:
            return
        last_save = now
        if now - last_beat >= HEARTBEAT_EVERY:
            last_beat = now
            SyncRun.objects.filter(pk=run.pk, state=SyncRun.State.RUNNING).update(
                heartbeat_at=timezone.now()
            )
        SyncRunObject.objects.filter(pk=row.pk).update(
            pages=stats.pages,
            requests=sent.requests,
            # The batched first pages were sent for every object at once: these are its own.
            transactions=sent.functions + (first.functions if first is not None else 0),
            reconciled=stats.reconciled,
            missed_by_audit=stats.missed_by_audit,
            fetched=stats.fetched,
            total=stats.total,
            created=stats.created,
            updated=stats.updated,
            unchanged=stats.unchanged,
            deleted=stats.deleted,
            since=stats.since,
            duration_ms=int((time.monotonic() - started) * 1000),
            **final,
        )

    SyncRunObject.objects.filter(pk=row.pk).update(state=SyncRunObject.State.RUNNING)
    stats = ObjectStats(on_page=save)
    state, error = SyncRunObject.State.SUCCEEDED, ""
    # The run says what it leaves out, every time, also when it knew beforehand.
    warnings = [UNAVAILABLE_WARNING.format(field=name) for name in left_out]
    try:
        with counting_requests() as sent:
            _sync_adapting(client, run, obj, show_private, stats, warnings, first)
    except RequiredFieldsMissing as exc:
        state, error = SyncRunObject.State.FAILED, str(exc)
    except _RUN_ERRORS as exc:
        state, error = SyncRunObject.State.FAILED, _describe(exc)
        raise
    except NotApplicableError as exc:
        # The profile names an object this company does not have (its module is not subscribed,
        # or a dimension was removed): nothing to sync and nothing to retry. Rows held stay.
        said = " ".join(p for p in (exc.errorno, exc.description) if p) or str(exc)
        state, error = SyncRunObject.State.SKIPPED, f"{NOT_IN_COMPANY} {said}"
    except IntacctError as exc:
        logger.warning("sync of %s failed: %s", obj.name, type(exc).__name__)
        state, error = SyncRunObject.State.FAILED, _describe(exc)
    finally:
        watermark = stats.watermark if state == SyncRunObject.State.SUCCEEDED else None
        save(stats, state=state, error=error, watermark=watermark, warnings=warnings)
    return state != SyncRunObject.State.FAILED


def _without_known(
    obj: ListObject, known: dict[str, list[str]]
) -> tuple[ListObject, tuple[str, ...]]:
    """``obj`` without the fields a sync learned this company does not have, and which those
    are (a field the sync needs is never left out: asking again fails the object with the
    reason)."""
    missing = tuple(f for f in known.get(obj.name, []) if f in obj.fields)
    if not missing:
        return obj, ()
    try:
        return obj.without(missing), missing
    except RequiredFieldsMissing:
        return obj, ()


def _learn_unavailable(
    legal_entity_id: int, object_name: str, fields: list[str], *, replace: bool = False
) -> None:
    """Add ``fields`` to the profile's unavailable fields of ``object_name`` (``replace``: they
    are all of them now; none clears the object's entry)."""
    with transaction.atomic():
        profile = (
            ApiSyncProfile.objects.select_for_update()
            .filter(legal_entity_id=legal_entity_id)
            .first()
        )
        if profile is None:
            return
        known = dict(profile.unavailable_fields)
        before = known.get(object_name)
        merged = list(dict.fromkeys([*([] if replace else before or []), *fields]))
        if merged:
            known[object_name] = merged
        else:
            known.pop(object_name, None)
        if known.get(object_name) != before:
            ApiSyncProfile.objects.filter(pk=profile.pk).update(unavailable_fields=known)


def _sync_adapting(
    client: IntacctClient,
    run: SyncRun,
    obj: ListObject,
    show_private: bool,
    stats: ObjectStats,
    warnings: list[str],
    first: FirstPages | None = None,
) -> None:
    """:func:`sync_object`; when the company cannot query some of the object's fields
    (:class:`InvalidFieldsError` naming them), once more without them, each named in
    ``warnings``, and learned for the next partial syncs. :class:`RequiredFieldsMissing` when
    one of them is a field the sync needs."""
    try:
        sync_object(
            client,
            run.legal_entity,
            obj,
            kind=run.kind,
            show_private=show_private,
            stats=stats,
            first=first,
        )
        if run.kind == SyncRun.Kind.FULL:
            # Every field was asked for and answered: the company has them all (again).
            _learn_unavailable(run.legal_entity_id, obj.name, [], replace=True)
        return
    except InvalidFieldsError as exc:
        named = [f for f in exc.fields_of(obj.name) if f.upper() in {n.upper() for n in obj.fields}]
        if not named:
            raise
        reduced = obj.without(named)
    for name in named:
        warnings.append(UNAVAILABLE_WARNING.format(field=name))
    _learn_unavailable(run.legal_entity_id, obj.name, named)
    logger.info("sync of %s: retrying without %s", obj.name, ", ".join(named))
    # The refused query was the first request of the object: nothing was written yet.
    sync_object(
        client, run.legal_entity, reduced, kind=run.kind, show_private=show_private, stats=stats
    )


def sync_object(
    client: IntacctClient,
    legal_entity: LegalEntity,
    obj: ListObject,
    *,
    kind: str,
    show_private: bool,
    stats: ObjectStats,
    first: FirstPages | None = None,
) -> ObjectStats:
    """Sync one object's records of ``legal_entity``: in full, or, for a partial sync of an
    object synced successfully before, what changed since its watermark. Sets
    ``stats.watermark`` to the newest WHENMODIFIED held afterwards."""
    since = last_watermark(legal_entity, obj.name) if kind == SyncRun.Kind.PARTIAL else None
    whole = first is not None and first.since is None  # the plan reads it whole
    if since is None or whole:
        batched = first.changed if first is not None and whole else None
        _full(
            client,
            legal_entity,
            obj,
            show_private,
            stats,
            _page_or_raise(batched) if batched is not None else None,
        )
    else:
        stats.since = since - OVERLAP
        _partial(client, legal_entity, obj, show_private, stats, stats.since, first)
    stats.watermark = ListItem.objects.filter(
        legal_entity=legal_entity, object_name=obj.name, deleted_at__isnull=True
    ).aggregate(newest=Max("when_modified"))["newest"]
    return stats


def _full(
    client: IntacctClient,
    legal_entity: LegalEntity,
    obj: ListObject,
    show_private: bool,
    stats: ObjectStats,
    first: Page | None = None,
) -> None:
    """Every record, then a key-only listing: offset pages can skip or repeat a record when
    others are added or deleted while they are read, so the listing (not the pages) decides what
    is gone, and keys it has that the pages missed are read by key. Records that all came in one
    page were read by one query, at one moment: that page is the listing, and no other is paid
    for. ``first``: the first page, fetched in a partial sync's batch."""
    now = timezone.now()
    seen = KeySet()
    whole = False
    for number, page in enumerate(
        client.query_pages(
            obj.name, obj.fields, page_size=PAGE_SIZE, show_private=show_private, first=first
        )
    ):
        seen.update(_write_page(legal_entity, obj, page.records, now, stats))
        stats.page_done(page)
        whole = number == 0 and page.offset == 0 and page.numremaining == 0
    listed = seen if whole else _list_keys(client, obj, show_private, stats)
    _read_keys(client, legal_entity, obj, listed.difference(seen), now, stats)
    _mark_deleted(legal_entity, obj, listed, held_keys(legal_entity.pk, obj.name), now, stats)
    stats.reconciled = True


def _partial(
    client: IntacctClient,
    legal_entity: LegalEntity,
    obj: ListObject,
    show_private: bool,
    stats: ObjectStats,
    since: datetime,
    first: FirstPages | None = None,
) -> None:
    """Records modified or created after ``since``; then what the audit trail named, looked up
    by key (deleted unless found), or, for a reconciliation (and without the audit trail), a
    key-only listing for deletions and for records the filter cannot see (an empty
    WHENMODIFIED), read by key."""
    now = timezone.now()
    if first is not None and first.since != since:
        first = None  # fetched for another watermark (cannot happen within one run)
    pages = client.changed_pages(
        obj.name,
        obj.fields,
        since,
        modified_field=obj.when_modified_field,
        created_field=obj.when_created_field,
        page_size=PAGE_SIZE,
        show_private=show_private,
        first=_page_or_raise(first.changed) if first is not None else None,
    )
    for page in pages:
        _write_page(legal_entity, obj, page.records, now, stats)
        stats.page_done(page)
    if first is not None and not first.listing:
        _apply_audit(client, legal_entity, obj, first, now, stats)
        return
    listed = _list_keys(client, obj, show_private, stats, batched=first.keys if first else ())
    held = held_keys(legal_entity.pk, obj.name)
    unknown = listed.difference(held)
    _read_keys(client, legal_entity, obj, unknown, now, stats)
    gone = held.difference(listed)
    _mark_gone(legal_entity, obj, gone, now, stats)
    stats.reconciled = True
    if first is not None and first.audit_keys is not None:
        stats.missed_by_audit = _missed_by_audit(
            legal_entity, obj, [*unknown, *gone], first.audit_keys
        )


def _apply_audit(
    client: IntacctClient,
    legal_entity: LegalEntity,
    obj: ListObject,
    first: FirstPages,
    now: datetime,
    stats: ObjectStats,
) -> None:
    """Write what the look-ups of the audit trail's keys found, and mark deleted the held
    records it named as deleted that they did not find."""
    found = KeySet()
    for spec, lookup in zip(first.lookup_specs, first.lookups, strict=True):
        for page in spec.pages(client, first=_page_or_raise(lookup)):
            found.update(_write_page(legal_entity, obj, page.records, now, stats))
            stats.page_done(page)
    _mark_gone(
        legal_entity, obj, [key for key in first.deleted_rows if key not in found], now, stats
    )


def _missed_by_audit(
    legal_entity: LegalEntity, obj: ListObject, keys: list[str], audit_keys: frozenset[str]
) -> int:
    """How many of the records a reconciliation found new or deleted (``keys``) the audit
    trail had not named, by record number or ID."""
    missed = 0
    for i in range(0, len(keys), DELETE_CHUNK):
        for record_no, item_id in ListItem.objects.filter(
            legal_entity=legal_entity,
            object_name=obj.name,
            record_no__in=keys[i : i + DELETE_CHUNK],
        ).values_list("record_no", "item_id"):
            if record_no not in audit_keys and (not item_id or item_id not in audit_keys):
                missed += 1
    return missed


def _page_or_raise(item: Page | IntacctError) -> Page:
    """A batched first page, or the error the gateway gave its query, raised here (in the
    object's own sync, which handles it as if the query had been sent alone)."""
    if isinstance(item, IntacctError):
        raise item
    return item


def _list_keys(
    client: IntacctClient,
    obj: ListObject,
    show_private: bool,
    stats: ObjectStats,
    *,
    batched: tuple[Page | IntacctError, ...] = (),
) -> KeySet:
    """Every key Intacct has for the object, from light pages of the key field only
    (``batched``: its pages fetched already; a listing that grew past them is followed)."""
    listed = KeySet()

    def take(page: Page) -> None:
        listed.update([key for key in page.values(obj.key_field) if key])
        stats.page_done()

    if not batched:
        for page in _key_listing(obj, show_private).pages(client):
            take(page)
        return listed
    spec = _key_listing(obj, show_private)
    page = _page_or_raise(batched[0])
    take(page)
    for item in batched[1:]:
        page = _page_or_raise(item)
        take(page)
    while page.count and page.numremaining:
        page = Page.of(
            client.call(spec.function(page.offset + page.count)), page.offset + page.count
        )
        take(page)
    return listed


def _read_keys(
    client: IntacctClient,
    legal_entity: LegalEntity,
    obj: ListObject,
    keys: list[str],
    now: datetime,
    stats: ObjectStats,
) -> None:
    if keys:
        stats.total = max(stats.total, stats.fetched + len(keys))
    for i in range(0, len(keys), READ_CHUNK):
        records = client.read(obj.name, keys[i : i + READ_CHUNK], obj.fields)
        _write_page(legal_entity, obj, records, now, stats)
        stats.page_done()


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
    _mark_gone(legal_entity, obj, held.difference(listed), now, stats)


def _mark_gone(
    legal_entity: LegalEntity, obj: ListObject, gone: list[str], now: datetime, stats: ObjectStats
) -> None:
    """Mark deleted the live rows of these record numbers (in chunks: SQLite caps a query's
    parameters)."""
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
            parse_datetime(record.get(modified_field)),
            json_text(record),
        )
    written = upsert_page(legal_entity.pk, obj.name, list(rows.values()), now)
    stats.created += written.created
    stats.updated += written.updated
    stats.unchanged += written.unchanged
    return list(rows)
