"""Template context of every page: the status choices (``{% if state.status == StepStatus.FAILED
%}`` instead of a string that would silently stop matching if a value changed), and the console's
link and the customer's alert banner (:func:`console`)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from django.utils.functional import SimpleLazyObject

from connections.access import has_organization, is_customer_success
from connections.models import (
    ApiSyncProfile,
    CheckResult,
    ConnectionAttempt,
    StepState,
    SyncRun,
    SyncRunObject,
)
from connections.selectors.health import customer_alerts


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


def console(request: HttpRequest) -> dict[str, Any]:
    """Whether the user may open the customer-success console (for the top bar's link), and the
    open alerts of the organizations they administer (the banner). Both are asked only when a
    page shows them."""
    user = getattr(request, "user", None)
    return {
        "is_customer_success": SimpleLazyObject(lambda: is_customer_success(user)),
        # Staff of no organization have nothing to connect: their pages hide the wizard's links.
        "has_organization": SimpleLazyObject(lambda: has_organization(user)),
        "customer_alerts": SimpleLazyObject(lambda: customer_alerts(user)),
    }
