"""Where an attempt stands (``current_step``): what the legal entity list and the rail call
"now at"."""

from __future__ import annotations

from connections.models import Step, StepState
from connections.selectors.connections import current_step

DONE, VERIFIED = StepState.Status.ACKNOWLEDGED, StepState.Status.VERIFIED


def states(**done: str) -> list[StepState]:
    return [
        StepState(step=step, status=done.get(step.value, StepState.Status.PENDING)) for step in Step
    ]


def test_a_fresh_attempt_is_at_the_checklist():
    assert current_step(states()) == Step.PRE_CONNECTION


def test_the_next_step_after_the_furthest_one_done():
    assert current_step(states(pre_connection=DONE, ws_subscription=VERIFIED)) == Step.WS_USER
    assert current_step(states(ws_user=DONE)) == Step.ROLE_PERMISSIONS


def test_a_failed_step_comes_first():
    at = current_step(states(pre_connection=DONE, custom_field=StepState.Status.FAILED))
    assert at == Step.CUSTOM_FIELD


def test_an_api_sync_profile_made_early_does_not_move_the_customer_ahead():
    assert current_step(states(api_sync_profile=VERIFIED)) == Step.PRE_CONNECTION
    assert current_step(states(credentials=VERIFIED, api_sync_profile=VERIFIED)) == Step.SMARTSYNC


def test_none_when_every_step_is_done():
    assert current_step(states(**{step.value: DONE for step in Step})) is None
