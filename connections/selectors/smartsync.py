"""Reads of SmartSync: a run's per-object progress, the run history, a run as plain data for the
command line, and where an object's next partial sync reads from (:func:`last_watermark`)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Count, Max, Q, Sum

from connections.models import ApiSyncProfile, LegalEntity, SyncRun, SyncRunObject

__all__ = [
    "HistoryRow",
    "ObjectHistory",
    "ObjectProgress",
    "last_watermark",
    "latest_run",
    "object_history",
    "run_objects",
    "sync_history",
    "sync_report",
]

#: Object states that end an object's part of a run.
OBJECT_DONE = (
    SyncRunObject.State.SUCCEEDED,
    SyncRunObject.State.SKIPPED,
    SyncRunObject.State.FAILED,
)


def last_watermark(legal_entity: LegalEntity, object_name: str) -> datetime | None:
    """The newest WHENMODIFIED held when this object last synced successfully: where its next
    partial sync reads from (less the sync's overlap). A run that failed or was cut off does not
    move it, so what that run missed is read again."""
    return (
        SyncRunObject.objects.filter(
            run__legal_entity=legal_entity,
            object_name=object_name,
            state=SyncRunObject.State.SUCCEEDED,
            watermark__isnull=False,
        )
        .order_by("-run__created_at", "-pk")
        .values_list("watermark", flat=True)
        .first()
    )


@dataclass(frozen=True)
class ObjectHistory:
    """When an object last synced successfully (the run's start), and when it last listed
    every key (a full sync, or a partial one that reconciled)."""

    synced: datetime | None
    listed: datetime | None


def object_history(legal_entity: LegalEntity) -> dict[str, ObjectHistory]:
    """:class:`ObjectHistory` of every object the entity ever synced, in one query: where a
    partial sync's audit-trail query starts, and whether an object is due its reconciliation."""
    rows = (
        SyncRunObject.objects.filter(
            run__legal_entity=legal_entity, state=SyncRunObject.State.SUCCEEDED
        )
        .values("object_name")
        .annotate(
            synced=Max("run__started_at"),
            listed=Max("run__started_at", filter=Q(reconciled=True)),
        )
    )
    return {row["object_name"]: ObjectHistory(row["synced"], row["listed"]) for row in rows}


def latest_run(legal_entity: LegalEntity) -> SyncRun | None:
    return SyncRun.objects.filter(legal_entity=legal_entity).order_by("-created_at", "-pk").first()


@dataclass(frozen=True)
class ObjectProgress:
    """One object of a run as the progress table shows it."""

    name: str
    state: str
    state_text: str
    fetched: int = 0
    total: int = 0
    created: int = 0
    updated: int = 0
    deleted: int = 0
    transactions: int = 0
    reconciled: bool = False
    missed_by_audit: int = 0
    error: str = ""
    warnings: tuple[str, ...] = ()
    #: The wizard step that fixes a failure, when there is one: (URL, link text).
    fix: tuple[str, str] | None = None

    @property
    def percent(self) -> int:
        """How far the object is, 0-100, for the progress bar."""
        if self.done:
            return 100
        if not self.running or not self.total:
            return 0
        return min(99, self.fetched * 100 // self.total)

    @property
    def done(self) -> bool:
        return self.state in OBJECT_DONE

    @property
    def running(self) -> bool:
        return self.state == SyncRunObject.State.RUNNING


def run_objects(run: SyncRun | None, profile: ApiSyncProfile | None) -> list[ObjectProgress]:
    """Each object of the run with its progress; a queued run lists the profile's objects."""
    if run is None:
        return []
    results = {result.object_name: result for result in run.object_results.all()}
    rows = [
        ObjectProgress(
            name=name,
            state=result.state,
            state_text=result.get_state_display(),
            fetched=result.fetched,
            total=max(result.total, result.fetched),
            created=result.created,
            updated=result.updated,
            deleted=result.deleted,
            transactions=result.transactions,
            reconciled=result.reconciled,
            missed_by_audit=result.missed_by_audit,
            error=result.error,
            warnings=tuple(result.warnings),
            fix=object_fix(result.error, run.legal_entity)
            if result.state == SyncRunObject.State.FAILED and result.error
            else None,
        )
        for name, result in results.items()
    ]
    pending = SyncRunObject.State.PENDING
    for name in profile.object_names if profile is not None else []:
        if name not in results:
            rows.append(ObjectProgress(name=name, state=pending, state_text=pending.label))
    return rows


@dataclass(frozen=True)
class HistoryRow:
    """A past run with its objects' figures added up."""

    run: SyncRun
    fetched: int
    created: int
    updated: int
    deleted: int
    failed_objects: int

    @property
    def duration(self) -> str:
        run = self.run
        if not (run.started_at and run.finished_at):
            return ""
        seconds = int((run.finished_at - run.started_at).total_seconds())
        return f"{seconds // 60} min {seconds % 60} s" if seconds >= 60 else f"{seconds} s"


def sync_history(legal_entity: LegalEntity, *, limit: int) -> list[HistoryRow]:
    """The entity's newest ``limit`` runs, newest first, in one query."""
    runs = (
        SyncRun.objects.filter(legal_entity=legal_entity)
        .annotate(
            total_fetched=Sum("object_results__fetched"),
            total_created=Sum("object_results__created"),
            total_updated=Sum("object_results__updated"),
            total_deleted=Sum("object_results__deleted"),
            failed_objects=Count(
                "object_results", filter=Q(object_results__state=SyncRunObject.State.FAILED)
            ),
        )
        .order_by("-created_at", "-pk")[:limit]
    )
    return [
        HistoryRow(
            run=run,
            fetched=run.total_fetched or 0,
            created=run.total_created or 0,
            updated=run.total_updated or 0,
            deleted=run.total_deleted or 0,
            failed_objects=run.failed_objects,
        )
        for run in runs
    ]


def sync_report(run: SyncRun) -> dict[str, Any]:
    """The run as plain data: ``{"run", "kind", "state", "error", "objects": [...]}``."""
    return {
        "run": str(run.public_id),
        "kind": run.kind,
        "state": run.state,
        "error": run.error,
        "requests": run.requests,
        "transactions": run.transactions,
        "audit_trail": run.audit_trail,
        "audit_note": run.audit_note,
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
                "transactions": row.transactions,
                "reconciled": row.reconciled,
                "missed_by_audit": row.missed_by_audit,
                "error": row.error,
                "warnings": list(row.warnings),
            }
            for row in SyncRunObject.objects.filter(run=run).order_by("pk")
        ],
    }


@dataclass(frozen=True)
class SyncAdvice:
    """What to do about a failed run: a sentence, and the wizard step that fixes it (if any)."""

    text: str
    step_url: str = ""
    step_label: str = ""


#: Why a sync was refused, by the guide step (``intacct.errors`` keys) whose fix it needs.
_REFUSED = {
    "credentials": "Intacct refused the sign-in with the saved credentials (a changed or "
    "expired password, or a user made inactive).",
    "entity": "Intacct refused the entity ID saved with the credentials.",
    "sender_config": "Intacct refused our own sender credentials: we have been alerted and will "
    "fix it; there is nothing to change on your side.",
    "sender_authorization": "Intacct refused our Sender ID for this company: it is no longer in "
    "the company's Web Services authorizations.",
    "ws_subscription": "Intacct says this company is not subscribed to Web Services (or its "
    "demo period ended).",
    "role_permissions": "Intacct refused a permission the sync needs.",
}


_ONE_REASON = re.compile(r"^\d+ of \d+ objects failed: ")


def _error_class(said: str) -> Any:
    """The ``intacct`` error class a message starts with (``"PermissionDeniedError: …"``)."""
    import intacct

    name = said.split(":", 1)[0].strip()
    found = getattr(intacct, name, None) if name in intacct.__all__ else None
    return found if isinstance(found, type) and issubclass(found, intacct.IntacctError) else None


def object_fix(error: str, legal_entity: LegalEntity) -> tuple[str, str] | None:
    """The wizard step that fixes an object's failure (its URL and link text), when the error
    names one the customer can act on: a permission missing for that object, say."""
    from connections.guide import fix_label, wizard_step_urls
    from connections.models import INTACCT_STEPS

    found = _error_class(error)
    step = getattr(found, "step", None)
    if step not in INTACCT_STEPS or step == "sender_config":
        return None
    page = INTACCT_STEPS[step]
    return wizard_step_urls(legal_entity)[page.value], fix_label(page)


def sync_advice(run: SyncRun | None) -> SyncAdvice | None:
    """What to do about ``run``'s failure, read from the error class its message starts with
    (``"SignInError: …"``); ``None`` for a run that did not fail, or whose message says all."""
    import intacct

    if run is None or run.state != SyncRun.State.FAILED or not run.error:
        return None
    # "SignInError: …", or "6 of 6 objects failed: ServerError: …" (one reason for them all).
    said = _ONE_REASON.sub("", run.error)
    step = getattr(_error_class(said), "step", None)
    if step == intacct.STEP_TRANSIENT:
        return SyncAdvice(
            "Intacct was busy or could not be reached. What was synced before is kept: sync "
            "again later (a scheduled sync tries again by itself)."
        )
    if step == "sender_config":
        return SyncAdvice(_REFUSED[step])
    fix = object_fix(said, run.legal_entity)
    if fix is None:
        return None
    reason = _REFUSED.get(str(step), "Intacct refused the sync for a setup reason.")
    return SyncAdvice(
        f"{reason} What was synced before is kept; once it is fixed, sync again.", *fix
    )
