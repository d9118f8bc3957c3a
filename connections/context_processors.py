"""The status choices, for templates: ``{% if state.status == StepStatus.FAILED %}`` instead of a
string that would silently stop matching if a value changed."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

from connections.models import (
    ApiSyncProfile,
    CheckResult,
    ConnectionAttempt,
    StepState,
    SyncRun,
    SyncRunObject,
)


def choices(request: HttpRequest) -> dict[str, Any]:
    return {
        "AttemptState": ConnectionAttempt.State,
        "IntegrationType": ConnectionAttempt.IntegrationType,
        "Outcome": CheckResult.Outcome,
        "ProfileStatus": ApiSyncProfile.Status,
        "StepStatus": StepState.Status,
        "SyncRunState": SyncRun.State,
        "SyncObjectState": SyncRunObject.State,
    }
