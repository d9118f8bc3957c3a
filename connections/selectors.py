"""Reads that more than one view, task or command needs."""

from __future__ import annotations

from django.db.models import Prefetch

from connections.models import (
    ApiSyncProfile,
    CheckResult,
    ConnectionAttempt,
    LegalEntity,
    LegalEntityQuerySet,
    Organization,
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


# --- Verification, the API Sync Profile and the overview of every legal entity -------------------


def active_run(attempt: ConnectionAttempt) -> VerificationRun | None:
    """The attempt's queued or running verification, if any (there is at most one)."""
    return attempt.runs.filter(state__in=VerificationRun.ACTIVE).first()


def latest_run(attempt: ConnectionAttempt) -> VerificationRun | None:
    """The attempt's newest verification, whatever its state."""
    return attempt.runs.order_by("-created_at", "-pk").first()


def last_checked_run(attempt: ConnectionAttempt) -> VerificationRun | None:
    """The newest run that reached Intacct's verdict (passed or failed; an ``error`` run proved
    nothing)."""
    return (
        attempt.runs.filter(state__in=(VerificationRun.State.PASSED, VerificationRun.State.FAILED))
        .order_by("-created_at", "-pk")
        .first()
    )


def granted_sync_objects(run: VerificationRun) -> list[str]:
    """The objects SmartSync may pull according to ``run``: those of every list row of the
    permission table (each user-defined dimension included) that the run found granted."""
    names: list[str] = []
    results = run.results.filter(
        kind=CheckResult.Kind.PERMISSION,
        key__in=_LIST_ROW_KEYS,
        outcome=CheckResult.Outcome.GRANTED,
    ).order_by("position")
    for result in results:
        names.extend(name for name in result.object_names if name not in names)
    return names


def current_step(states: list[StepState]) -> Step | None:
    """Where an attempt stands: its first failed step in guide order; else the first pending step
    after the furthest step the customer did (acknowledged or verified; the API Sync Profile is
    customer success's, and may be done before the customer starts); ``None`` when every step is
    done."""
    ordered = sorted(states, key=lambda state: _STEP_ORDER.get(state.step, len(_STEP_ORDER)))
    failed = next((s for s in ordered if s.status == StepState.Status.FAILED), None)
    if failed is not None:
        return Step(failed.step)
    done = (StepState.Status.ACKNOWLEDGED, StepState.Status.VERIFIED)
    furthest = max(
        (i for i, s in enumerate(ordered) if s.status in done and s.step != Step.API_SYNC_PROFILE),
        default=-1,
    )
    pending = next((s for s in ordered[furthest + 1 :] if s.status not in done), None)
    if pending is None:
        pending = next((s for s in ordered if s.status not in done), None)
    return Step(pending.step) if pending is not None else None


def legal_entities_overview(organization: Organization | None = None) -> LegalEntityQuerySet:
    """Every legal entity (of ``organization`` when given) with its organization, API Sync
    Profile, current attempt (``current_attempts``) and that attempt's steps, in a constant
    number of queries."""
    queryset = LegalEntity.objects.select_related("organization", "api_sync_profile")
    if organization is not None:
        queryset = queryset.filter(organization=organization)
    current = Prefetch(
        "attempts",
        queryset=ConnectionAttempt.objects.current().prefetch_related("steps"),
        to_attr="current_attempts",
    )
    return queryset.prefetch_related(current).order_by("organization__slug", "name")


_STEP_ORDER = {step.value: index for index, step in enumerate(Step)}

__all__ += [
    "active_run",
    "current_step",
    "granted_sync_objects",
    "last_checked_run",
    "latest_run",
    "legal_entities_overview",
]
