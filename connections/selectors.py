"""Reads that more than one view, task or command needs."""

from __future__ import annotations

from connections.models import (
    ApiSyncProfile,
    CheckResult,
    ConnectionAttempt,
    LegalEntity,
    Step,
    StepState,
    VerificationRun,
)
from intacct.permissions import PERMISSION_ROWS, UDD_ROW_KEY, list_object_names

__all__ = [
    "api_sync_profile_status",
    "current_attempt",
    "default_sync_objects",
    "last_finished_run",
    "step_states",
]

# Permission rows whose objects SmartSync pulls; user-defined dimensions are list data too.
_LIST_ROW_KEYS = frozenset(row.key for row in PERMISSION_ROWS if row.kind == "list") | {UDD_ROW_KEY}


def current_attempt(legal_entity: LegalEntity) -> ConnectionAttempt | None:
    return legal_entity.attempts.current().first()


def step_states(attempt: ConnectionAttempt) -> list[StepState]:
    """The attempt's step states in guide order (the order of ``Step``)."""
    order = {step.value: index for index, step in enumerate(Step)}
    return sorted(attempt.steps.all(), key=lambda state: order.get(state.step, len(order)))


def last_finished_run(attempt: ConnectionAttempt) -> VerificationRun | None:
    return attempt.runs.filter(state__in=VerificationRun.FINISHED).order_by("-created_at").first()


def default_sync_objects(legal_entity: LegalEntity) -> list[str]:
    """The objects a new API Sync Profile pulls.

    Every list object of the guide's permission table; once the current attempt has been
    verified, what its last run found instead: rows the company does not subscribe to are left
    out and its user-defined dimensions are added.
    """
    attempt = current_attempt(legal_entity)
    run = last_finished_run(attempt) if attempt is not None else None
    results = (
        list(run.results.filter(kind=CheckResult.Kind.PERMISSION).order_by("position"))
        if run is not None
        else []
    )
    if not results:
        return list_object_names()
    names: list[str] = []
    for result in results:
        if result.key not in _LIST_ROW_KEYS or result.outcome == CheckResult.Outcome.NOT_APPLICABLE:
            continue
        names.extend(name for name in result.object_names if name not in names)
    return names


def api_sync_profile_status(legal_entity: LegalEntity) -> ApiSyncProfile.Status:
    """``ready`` once customer success created an enabled profile; ``waiting`` before."""
    enabled = ApiSyncProfile.objects.filter(legal_entity=legal_entity, enabled=True).exists()
    return ApiSyncProfile.Status.READY if enabled else ApiSyncProfile.Status.WAITING
