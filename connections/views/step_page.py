"""What every step page shows, in the wizard and through a hand-off link alike: the guide's copy
for the step, the previous and next steps of the walk, and the last check's findings."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from connections.guide import neighbours, step_pages
from connections.models import ConnectionAttempt, Step, StepState
from connections.selectors.reports import step_findings

__all__ = ["step_page_context"]


def step_page_context(
    attempt: ConnectionAttempt | None,
    step: Step,
    state: StepState | None,
    urls: Mapping[str, str],
    *,
    steps: tuple[Step, ...] | None = None,
    after_last: str = "",
) -> dict[str, Any]:
    """The step's part of the page context. ``steps`` is the walk (every step by default) and
    ``urls`` its pages by step value; ``after_last`` is where "next" leads from the last one."""
    around = neighbours(step, steps)
    findings = step_findings(attempt, step, state)
    return {
        "page": step_pages()[step],
        "step": step,
        "state": state,
        "previous": around.previous,
        "previous_url": urls[around.previous.step.value] if around.previous else "",
        "next": around.next,
        "next_url": urls[around.next.step.value] if around.next else after_last,
        "action_url": urls[step.value],
        "remedy": findings.remedy,
        "checklist": findings.checklist,
        "checked_run": findings.checked_run,
        "last_report": findings.last_report,
    }
