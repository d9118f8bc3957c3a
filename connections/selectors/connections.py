"""Reads of legal entities and their connection attempts: the current attempt, its verification
runs, where it stands in the guide (:func:`entity_progress`), and every legal entity at once."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.db.models import Prefetch

from connections.models import (
    ConnectionAttempt,
    LegalEntity,
    LegalEntityQuerySet,
    Organization,
    Step,
    StepState,
    VerificationRun,
)

__all__ = [
    "EntityProgress",
    "active_run",
    "current_attempt",
    "current_step",
    "entity_progress",
    "last_checked_run",
    "latest_run",
    "legal_entities_overview",
    "overview_attempt",
    "progress_of",
    "step_states",
]

_STEP_ORDER = {step.value: index for index, step in enumerate(Step)}
#: What a person did (acknowledged) or Intacct proved (verified).
DONE = (StepState.Status.ACKNOWLEDGED, StepState.Status.VERIFIED)


def current_attempt(legal_entity: LegalEntity) -> ConnectionAttempt | None:
    return legal_entity.attempts.current().first()


def step_states(attempt: ConnectionAttempt) -> list[StepState]:
    """The attempt's step states in guide order (the order of ``Step``)."""
    return _in_guide_order(attempt.steps.all())


def _in_guide_order(states: Iterable[StepState]) -> list[StepState]:
    return sorted(states, key=lambda state: _STEP_ORDER.get(state.step, len(_STEP_ORDER)))


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


def current_step(states: Iterable[StepState]) -> Step | None:
    """Where an attempt stands: its first failed step in guide order; else the first pending step
    after the furthest step the customer did (acknowledged or verified; the API Sync Profile is
    customer success's, and may be done before the customer starts); ``None`` when every step is
    done."""
    ordered = _in_guide_order(states)
    failed = next((s for s in ordered if s.status == StepState.Status.FAILED), None)
    if failed is not None:
        return Step(failed.step)
    furthest = max(
        (i for i, s in enumerate(ordered) if s.status in DONE and s.step != Step.API_SYNC_PROFILE),
        default=-1,
    )
    pending = next((s for s in ordered[furthest + 1 :] if s.status not in DONE), None)
    if pending is None:
        pending = next((s for s in ordered if s.status not in DONE), None)
    return Step(pending.step) if pending is not None else None


@dataclass(frozen=True)
class EntityProgress:
    """Where a legal entity stands in the guide: the step to do now (``None`` when every step is
    done), how many steps are done, and whether one failed."""

    current_step: Step | None
    done: int
    total: int
    failed: bool

    @property
    def resume_step(self) -> Step:
        """The page to open: the current step, or SmartSync once every step is done."""
        return self.current_step or Step.SMARTSYNC


def entity_progress(attempt: ConnectionAttempt | None) -> EntityProgress:
    """The progress of ``attempt`` (a legal entity's current one; ``None`` before it has one,
    which stands at the checklist). Reads ``attempt.steps.all()``, so prefetching the steps
    (:func:`legal_entities_overview` does) makes it free."""
    return progress_of(attempt.steps.all() if attempt is not None else [])


def progress_of(states: Iterable[StepState]) -> EntityProgress:
    """:func:`entity_progress` from an attempt's step states already read."""
    states = list(states)
    if not states:
        return EntityProgress(Step.PRE_CONNECTION, 0, len(Step), False)
    return EntityProgress(
        current_step=current_step(states),
        done=sum(1 for state in states if state.status in DONE),
        total=len(Step),
        failed=any(state.status == StepState.Status.FAILED for state in states),
    )


def legal_entities_overview(organization: Organization | None = None) -> LegalEntityQuerySet:
    """Every legal entity (of ``organization`` when given) with its organization, API Sync
    Profile, current attempt (``current_attempts``, a list of zero or one) and that attempt's
    steps, in a constant number of queries."""
    queryset = LegalEntity.objects.select_related("organization", "api_sync_profile")
    if organization is not None:
        queryset = queryset.filter(organization=organization)
    current = Prefetch(
        "attempts",
        queryset=ConnectionAttempt.objects.current().prefetch_related("steps"),
        to_attr="current_attempts",
    )
    return queryset.prefetch_related(current).order_by("organization__slug", "name")


def overview_attempt(legal_entity: LegalEntity) -> ConnectionAttempt | None:
    """The current attempt :func:`legal_entities_overview` prefetched for ``legal_entity``."""
    attempts: list[ConnectionAttempt] = getattr(legal_entity, "current_attempts", [])
    return attempts[0] if attempts else None
