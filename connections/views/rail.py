"""The progress rail beside every wizard and hand-off page: each step with its state, where the
entity stands, and the links between the steps."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime

from django.db import models

from connections.guide import step_pages
from connections.models import ApiSyncProfile, ConnectionAttempt, LegalEntity, Step, StepState
from connections.selectors.connections import DONE, progress_of
from connections.selectors.profiles import api_sync_profile_status

__all__ = ["Progress", "RailItem", "RailStatus", "progress"]


class RailStatus(models.TextChoices):
    """A step's state on the rail: a :class:`StepState.Status`, or one of the states of the
    steps that wait for customer success."""

    PENDING = StepState.Status.PENDING.value, "Not started"
    ACKNOWLEDGED = StepState.Status.ACKNOWLEDGED.value, "Done"
    VERIFIED = StepState.Status.VERIFIED.value, "Verified"
    FAILED = StepState.Status.FAILED.value, "Failed"
    WAITING = "waiting", "Waiting for customer success"
    AFTER_VERIFIED = "after_verified", "After step 7"
    LATER = "later", "After step 8"


@dataclass
class RailItem:
    step: Step
    number: int
    label: str
    status: RailStatus
    url: str
    is_viewed: bool = False
    is_next: bool = False
    reason: str = ""
    verified_at: datetime | None = None
    acknowledged_at: datetime | None = None

    @property
    def status_text(self) -> str:
        return str(self.status.label)

    @property
    def failed(self) -> bool:
        return self.status == RailStatus.FAILED


@dataclass
class Progress:
    items: list[RailItem]
    next_step: Step | None = None
    states: dict[str, StepState] = field(default_factory=dict)

    @property
    def done_count(self) -> int:
        return sum(1 for item in self.items if item.status.value in DONE)


def progress(
    legal_entity: LegalEntity,
    attempt: ConnectionAttempt | None,
    *,
    urls: Mapping[str, str],
    viewed: Step | str | None = None,
    steps: tuple[Step, ...] | None = None,
) -> Progress:
    """Every step's state for the rail (``steps`` limits it, e.g. to the hand-off's)."""
    states = {state.step: state for state in (attempt.steps.all() if attempt else [])}
    profile_ready = False
    if steps is None or Step.API_SYNC_PROFILE in steps:
        profile_ready = api_sync_profile_status(legal_entity) == ApiSyncProfile.Status.READY
    next_step = progress_of(states.values()).current_step
    pages = step_pages()
    items = []
    for step in steps or tuple(Step):
        state = states.get(step.value)
        status = RailStatus(state.status if state is not None else StepState.Status.PENDING)
        if step == Step.API_SYNC_PROFILE:
            # Customer success creates the profile once the connection is verified.
            verified = attempt is not None and attempt.state == ConnectionAttempt.State.VERIFIED
            waiting = RailStatus.WAITING if verified else RailStatus.AFTER_VERIFIED
            status = RailStatus.VERIFIED if profile_ready else waiting
        elif step == Step.SMARTSYNC and status == RailStatus.PENDING and not profile_ready:
            status = RailStatus.LATER
        items.append(
            RailItem(
                step=step,
                number=pages[step].number,
                label=str(step.label),
                status=status,
                url=urls.get(step.value, ""),
                is_viewed=viewed is not None and step == viewed,
                is_next=step == next_step,
                reason=state.reason if state is not None else "",
                verified_at=state.verified_at if state is not None else None,
                acknowledged_at=state.acknowledged_at if state is not None else None,
            )
        )
    return Progress(items=items, next_step=next_step, states=states)
