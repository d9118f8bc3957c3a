"""Hand-off links: made and revoked by the customer admin in the wizard; opened by the customer's
Intacct administrator without an account, for the Intacct-side steps (1–6) and the checks.

The public pages never render the attempt's credentials; the checks use them server-side.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import timedelta
from functools import wraps
from typing import Any
from urllib.parse import quote

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseStopPolling

from connections.access import HandoffRefused, handoff_link_for_token
from connections.forms import HandoffLinkForm
from connections.guide import handoff_step_urls, neighbours, step_pages, wizard_step_urls
from connections.http import HtmxHttpRequest
from connections.models import (
    HANDOFF_STEPS,
    ConnectionAttempt,
    HandoffLink,
    LegalEntity,
    Step,
    VerificationRun,
)
from connections.selectors.connections import active_run, current_attempt, latest_run
from connections.selectors.reports import verification_report
from connections.services import verification
from connections.services.attempts import acknowledge_step, ensure_current_attempt
from connections.services.handoff import (
    create_handoff_link,
    record_handoff_use,
    revoke_handoff_link,
)
from connections.views.decorators import wants_fragment, wizard_view
from connections.views.rail import progress
from connections.views.step_page import step_page_context

#: Where the URL of a new link waits to be shown once.
SHOW_ONCE_SESSION_KEY = "connections.handoff.new_link"


# --- Made by the customer admin --------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@wizard_view
@never_cache
def manage(request: HtmxHttpRequest, legal_entity: LegalEntity) -> HttpResponse:
    """Make a hand-off link (its URL is shown once, right after), list and revoke links."""
    attempt = current_attempt(legal_entity)
    form = HandoffLinkForm(request.POST or None)
    if request.method == "POST" and request.POST.get("action") == "revoke":
        link = HandoffLink.objects.filter(
            public_id=_uuid_or_404(request.POST.get("link", "")),
            attempt__legal_entity=legal_entity,
        ).first()
        if link is None:
            raise Http404("No such hand-off link.")
        revoke_handoff_link(link, actor=request.user)
        messages.success(request, "The link was revoked: it no longer opens anything.")
        return redirect("connections:handoff_manage", legal_entity.public_id)
    if request.method == "POST" and form.is_valid():
        attempt = attempt or ensure_current_attempt(legal_entity, actor=request.user)
        link = create_handoff_link(
            attempt,
            actor=request.user,
            lifetime=timedelta(days=form.cleaned_data["lifetime_days"]),
            recipient=form.cleaned_data["email"],
        )
        request.session[SHOW_ONCE_SESSION_KEY] = {
            "link": str(link.public_id),
            "url": request.build_absolute_uri(
                reverse("connections:handoff_start", args=[link.token()])
            ),
            "email": form.cleaned_data["email"],
        }
        return redirect("connections:handoff_manage", legal_entity.public_id)

    new_link = request.session.pop(SHOW_ONCE_SESSION_KEY, None)
    if new_link is not None:
        new_link["mailto"] = _mailto(new_link["email"], new_link["url"], legal_entity)
    links = (
        HandoffLink.objects.filter(attempt__legal_entity=legal_entity)
        .select_related("attempt", "created_by")
        .order_by("-created_at")
    )
    now = timezone.now()
    rows = []
    for link in links:
        status = link.status(now)
        rows.append(
            {"link": link, "status": status.label, "usable": status == HandoffLink.Status.USABLE}
        )
    urls = wizard_step_urls(legal_entity)
    context = {
        "legal_entity": legal_entity,
        "attempt": attempt,
        "form": form,
        "rows": rows,
        "new_link": new_link,
        "progress": progress(legal_entity, attempt, urls=urls),
        "step_urls": urls,
        "rail_url": reverse("connections:rail", args=[legal_entity.public_id]),
        "handoff_steps": [step_pages()[step] for step in HANDOFF_STEPS],
    }
    return render(request, "connections/handoff_links.html", context)


def _mailto(email: str, url: str, legal_entity: LegalEntity) -> str:
    product = settings.INTACCT_GUIDE["PRODUCT_NAME"]
    subject = f"Connecting {product} to Sage Intacct: the steps in Intacct"
    body = (
        f"Hello,\n\nPlease do the Sage Intacct side of connecting {product} for "
        f"{legal_entity.name}, following this link (no account needed):\n\n{url}\n\n"
        "Each step says what to do in Intacct, and the page can check your work.\n"
    )
    return f"mailto:{quote(email)}?subject={quote(subject)}&body={quote(body)}"


def _uuid_or_404(value: str) -> str:
    try:
        return str(uuid.UUID(value))
    except ValueError:
        raise Http404("No such hand-off link.") from None


# --- Opened by the Intacct administrator -------------------------------------------------------------

HandoffView = Callable[..., HttpResponse]


def handoff_view(view: HandoffView) -> HandoffView:
    """Open the link in the URL (or show why it does not open), call ``view(request, link, ...)``
    and note the link's use. No login: the signed token is the permission."""

    @never_cache
    @wraps(view)
    def wrapper(request: HtmxHttpRequest, token: str, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            link = handoff_link_for_token(token)
        except HandoffRefused as refused:
            status = 404 if refused.reason == HandoffRefused.INVALID else 410
            return render(
                request,
                "connections/handoff/refused.html",
                {"refused": refused, "handoff": True},
                status=status,
            )
        response = view(request, link, token, *args, **kwargs)
        # Only what the link opened is its use: a run or step it does not open raises Http404 in
        # ``view`` and leaves the link as it was.
        record_handoff_use(link)
        return response

    return wrapper


@require_GET
@handoff_view
def handoff_start(request: HtmxHttpRequest, link: HandoffLink, token: str) -> HttpResponse:
    """The link itself: a welcome page that says what the administrator is asked to do."""
    context = _handoff_context(link, token, viewed=None)
    return render(request, "connections/handoff/start.html", context)


@require_http_methods(["GET", "POST"])
@handoff_view
def handoff_step(
    request: HtmxHttpRequest, link: HandoffLink, token: str, step_key: str
) -> HttpResponse:
    """One Intacct-side step, as in the wizard; "I've done this" is recorded as done through the
    link."""
    if step_key not in HANDOFF_STEPS:
        raise Http404("The link opens only the steps done in Intacct.")
    step = Step(step_key)
    attempt = link.attempt
    urls = handoff_step_urls(token)
    if request.method == "POST":
        acknowledge_step(attempt, step, actor=None, via=f"handoff:{link.public_id}")
        messages.success(request, f"Step {step_pages()[step].number} marked as done.")
        following = neighbours(step, HANDOFF_STEPS).next
        if following is not None:
            return redirect(urls[following.step.value])
        return redirect("connections:handoff_check", token)
    context = _handoff_context(link, token, viewed=step)
    state = context["progress"].states.get(step.value)
    context.update(
        step_page_context(
            attempt,
            step,
            state,
            urls,
            steps=HANDOFF_STEPS,
            after_last=reverse("connections:handoff_check", args=[token]),
        )
    )
    return render(request, context["page"].template, context)


@require_http_methods(["GET", "POST"])
@handoff_view
@vary_on_headers("HX-Request")
def handoff_check(request: HtmxHttpRequest, link: HandoffLink, token: str) -> HttpResponse:
    """Run the checks with the stored credentials (never shown) and see the report."""
    attempt = link.attempt
    if request.method == "POST":
        # Without saved credentials there is nothing to sign in with: nothing starts, and the
        # result region says who must enter them.
        started = (
            verification.start_verification(
                attempt, user=None, trigger=VerificationRun.Trigger.HANDOFF
            )
            if attempt.has_credentials
            else active_run(attempt) or latest_run(attempt)
        )
        if wants_fragment(request):
            context = _handoff_result_context(link, token, started)
            return render(request, "connections/handoff/check.html#result", context)
        return redirect(reverse("connections:handoff_check", args=[token]) + "#result")
    run = active_run(attempt) or latest_run(attempt)
    context = _handoff_context(link, token, viewed="check")
    context.update(_handoff_result_context(link, token, run))
    return render(request, "connections/handoff/check.html", context)


@require_GET
@handoff_view
@vary_on_headers("HX-Request")
def handoff_run(
    request: HtmxHttpRequest, link: HandoffLink, token: str, run_id: Any
) -> HttpResponse:
    """The polled result of a check started through the link."""
    run = VerificationRun.objects.filter(public_id=run_id, attempt=link.attempt).first()
    if run is None:
        raise Http404("No such check.")
    context = _handoff_result_context(link, token, run)
    if wants_fragment(request):
        if not run.is_finished:
            return render(request, "connections/handoff/check.html#result", context)
        content = render_to_string(
            "connections/handoff/check.html#result", context, request=request
        )
        return HttpResponseStopPolling(content)
    context.update(_handoff_context(link, token, viewed="check"))
    return render(request, "connections/handoff/check.html", context)


def _handoff_context(link: HandoffLink, token: str, *, viewed: Step | str | None) -> dict[str, Any]:
    attempt: ConnectionAttempt = link.attempt
    legal_entity = attempt.legal_entity
    urls = handoff_step_urls(token)
    return {
        "link": link,
        "token": token,
        "legal_entity": legal_entity,
        "organization": legal_entity.organization,
        "progress": progress(legal_entity, attempt, urls=urls, viewed=viewed, steps=HANDOFF_STEPS),
        "step_urls": urls,
        "check_url": reverse("connections:handoff_check", args=[token]),
        "start_url": reverse("connections:handoff_start", args=[token]),
        "viewing_check": viewed == "check",
        "layout": "connections/handoff/layout.html",
        "handoff": True,
        "guide": settings.INTACCT_GUIDE,
    }


def _handoff_result_context(
    link: HandoffLink, token: str, run: VerificationRun | None
) -> dict[str, Any]:
    return {
        "run": run,
        "report": verification_report(run, for_handoff=True),
        "step_urls": handoff_step_urls(token),
        "run_url": reverse("connections:handoff_run", args=[token, run.public_id]) if run else "",
        "test_url": reverse("connections:handoff_check", args=[token]),
        "can_test": link.attempt.has_credentials,
        "handoff": True,
    }
