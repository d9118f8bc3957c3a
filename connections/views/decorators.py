"""What every view does first. The wizard's: log in, fetch the legal entity through the one
access helper (404 for outsiders), and refuse with a 403 page that names the missing condition.
The console's: customer success only, a 404 for everyone else."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpResponse
from django.shortcuts import render

from connections.access import (
    Access,
    is_customer_success,
    legal_entity_for_user,
    wizard_access,
)
from connections.http import HtmxHttpRequest

__all__ = ["access_denied", "console_view", "wants_fragment", "wizard_view"]


def wants_fragment(request: HtmxHttpRequest) -> bool:
    """An htmx request for a region of the page. A boosted link or form (``hx-boost``) sends
    ``HX-Request`` too, but swaps the whole body, so it gets the full page."""
    return bool(request.htmx) and not request.htmx.boosted


def access_denied(request: HtmxHttpRequest, access: Access | None) -> HttpResponse:
    """The 403 page that names exactly which of the wizard's conditions the user misses."""
    context = {
        "access": access,
        "organization": access.organization if access is not None else None,
    }
    return render(request, "connections/access_denied.html", context, status=403)


WizardView = Callable[..., HttpResponse]


def wizard_view(view: WizardView) -> WizardView:
    """Log in; fetch the legal entity through the one access helper (404 for outsiders); refuse
    with the 403 page anyone who may not open the wizard; call ``view(request, legal_entity,
    ...)``."""

    @login_required
    @wraps(view)
    def wrapper(
        request: HtmxHttpRequest, public_id: Any, *args: Any, **kwargs: Any
    ) -> HttpResponse:
        legal_entity = legal_entity_for_user(request.user, public_id)
        access = wizard_access(request.user, legal_entity.organization)
        if not access:
            return access_denied(request, access)
        return view(request, legal_entity, *args, **kwargs)

    return wrapper


def console_view(view: WizardView) -> WizardView:
    """The customer-success console: a 404 for everyone but its group's members and superusers
    (anonymous visitors too: the console does not say it exists)."""

    @wraps(view)
    def wrapper(request: HtmxHttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not is_customer_success(request.user):
            raise Http404("No such page.")
        return view(request, *args, **kwargs)

    return wrapper
