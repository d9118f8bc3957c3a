"""The customer-success console (``/cs/``): every connection at a glance, the API Sync Profile
queue, one entity's whole story with its actions, the funnel and the sync health.

Customer success only (``console_view``, outermost: a 404 for everyone else whatever the method,
since a 405 would say the URL exists). Reads come from :mod:`connections.selectors.console`; every
action is a POST (CSRF, and a confirmation page first where it is destructive) through the same
services the wizard uses, which audit the staff member.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods

from connections.access import legal_entity_for_customer_success
from connections.charts import bar_chart, stacked_bar_chart
from connections.forms import ConsoleFilterForm, ProfileObjectsForm, RequestLimitForm
from connections.http import HtmxHttpRequest
from connections.models import (
    ApiSyncProfile,
    ConnectionAttempt,
    HandoffLink,
    LegalEntity,
    SyncRun,
    SyncSchedule,
    VerificationRun,
)
from connections.selectors import console
from connections.selectors.connections import current_attempt
from connections.selectors.profiles import (
    SyncObjectsUnknown,
    default_sync_objects,
    profile_of,
    sync_object_choices,
)
from connections.services.api_sync import change_api_sync_profile, create_api_sync_profile
from connections.services.handoff import revoke_handoff_link
from connections.services.schedules import save_schedule
from connections.services.smartsync import start_sync
from connections.services.verification import start_verification
from connections.views.decorators import console_view

__all__ = [
    "entity",
    "entity_action",
    "funnel",
    "overview",
    "queue",
    "queue_profile",
    "sync_health",
]

#: The overview's columns: (sort key or "", heading).
COLUMNS = (
    ("organization", "Organization"),
    ("entity", "Legal entity"),
    ("company", "Company ID"),
    ("state", "State"),
    ("step", "Current step"),
    ("since", "Time at this step"),
    ("verification", "Last verification"),
    ("sync", "Last sync"),
    ("records", "Records"),
    ("transactions", "API transactions"),
    ("next_sync", "Next sync"),
    ("", "Flags"),
)


# --- Overview ----------------------------------------------------------------------------------------


@console_view
@require_GET
def overview(request: HtmxHttpRequest) -> HttpResponse:
    """One row per legal entity; flags counted at the top; filters, search, sort and page in the
    URL."""
    now = timezone.now()
    form = ConsoleFilterForm(request.GET)
    filters = form.filters()
    for name, errors in form.errors.items():
        label = str(form.fields[name].label or name).lower() if name in form.fields else name
        messages.warning(
            request,
            f"The {label} filter was not understood and is ignored: {' '.join(str(e) for e in errors)}",
        )
    rows = console.overview(
        now=now,
        flag=filters.get("flag", ""),
        state=filters.get("state", ""),
        step=filters.get("step", ""),
        search=filters.get("q", ""),
        sort=filters.get("sort") or "organization",
    )
    page = Paginator(rows, settings.CONSOLE_PAGE_SIZE).get_page(request.GET.get("page"))
    active = {name: value for name, value in filters.items() if value}
    sort = active.get("sort", "organization")
    context = {
        "form": form,
        "page": page,
        "rows": [_row(legal_entity, now) for legal_entity in page.object_list],
        "counts": _flag_links(active, now),
        "columns": [
            (heading, _sort_link(active, key, sort) if key else None, _sort_state(key, sort))
            for key, heading in COLUMNS
        ],
        "active": active,
        "page_query": _query(active, page=None),
        "total": page.paginator.count,
        "section": "overview",
    }
    return render(request, "connections/console/overview.html", context)


def _flag_links(active: dict[str, str], now: Any) -> list[tuple[str, str, int, str, bool]]:
    counts = console.flag_counts(now=now)
    return [
        (
            flag,
            label,
            counts[flag],
            _query(active, flag=None if active.get("flag") == flag else flag, page=None),
            active.get("flag") == flag,
        )
        for flag, label in console.FLAGS.items()
    ]


def _query(active: dict[str, str], **changes: str | None) -> str:
    """``?…`` of the active filters with ``changes`` (``None`` drops a parameter)."""
    params = {**active}
    for name, value in changes.items():
        if value is None:
            params.pop(name, None)
        else:
            params[name] = value
    return f"?{urlencode(params)}" if params else "?"


def _sort_link(active: dict[str, str], key: str, sort: str) -> str:
    return _query(active, sort=f"-{key}" if sort == key else key, page=None)


def _sort_state(key: str, sort: str) -> str:
    if not key:
        return ""
    if sort == key:
        return "ascending"
    if sort == f"-{key}":
        return "descending"
    return ""


def _row(legal_entity: LegalEntity, now: Any) -> dict[str, Any]:
    health = getattr(legal_entity, "health", None)
    flags = []
    if health is not None:
        if console.is_stuck(health, now=now):
            flags.append(("stuck", "Stuck"))
        flags.extend(
            (flag, label)
            for flag, label in console.FLAGS.items()
            if flag != "stuck" and getattr(health, flag)
        )
    return {"legal_entity": legal_entity, "health": health, "flags": flags}


# --- The API Sync Profile queue ------------------------------------------------------------------


@console_view
@require_GET
def queue(request: HtmxHttpRequest) -> HttpResponse:
    """Entities waiting at step 8 for their API Sync Profile, oldest first."""
    page = Paginator(console.profile_queue(), settings.CONSOLE_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    context = {
        "waiting": page.object_list,
        "page": page,
        "page_query": "?",
        "total": page.paginator.count,
        "now": timezone.now(),
        "section": "queue",
    }
    return render(request, "connections/console/queue.html", context)


@console_view
@require_http_methods(["GET", "POST"])
def queue_profile(request: HtmxHttpRequest, public_id: Any) -> HttpResponse:
    """Create the entity's API Sync Profile: the objects the last verification proved readable
    are preselected, and editable. The customer's open step-8 page shows step 9 ready at its next
    poll, and they get an e-mail."""
    legal_entity = legal_entity_for_customer_success(request.user, public_id)
    profile = profile_of(legal_entity)
    entity_url = reverse("console:entity", args=[legal_entity.public_id])
    if profile is not None and profile.enabled:
        messages.info(request, f"{legal_entity.name} already has an enabled API Sync Profile.")
        return redirect(entity_url)
    try:
        proposed = default_sync_objects(legal_entity)
        unknown = ""
    except SyncObjectsUnknown as error:
        proposed, unknown = [], str(error)
    if profile is not None:
        proposed = list(profile.object_names) or proposed
    choices = sync_object_choices(proposed)
    if request.method == "POST":
        form = ProfileObjectsForm(request.POST, choices=choices)
        if form.is_valid():
            names = form.cleaned_data["object_names"]
            if profile is None:
                create_api_sync_profile(legal_entity, actor=request.user, object_names=names)
            else:
                change_api_sync_profile(
                    profile, object_names=names, enabled=True, actor=request.user
                )
            messages.success(
                request,
                f"The API Sync Profile of {legal_entity.name} is ready ({len(names)} objects); "
                "the customer was e-mailed.",
            )
            return redirect(reverse("console:queue"))
    else:
        form = ProfileObjectsForm(initial={"object_names": proposed}, choices=choices)
    context = {
        "legal_entity": legal_entity,
        "form": form,
        "unknown": unknown,
        "health": getattr(legal_entity, "health", None),
        "profile": profile,
        "section": "queue",
    }
    return render(request, "connections/console/queue_profile.html", context)


# --- One entity ----------------------------------------------------------------------------------


@console_view
@require_GET
def entity(request: HtmxHttpRequest, public_id: Any) -> HttpResponse:
    legal_entity = legal_entity_for_customer_success(request.user, public_id)
    return _entity_page(request, legal_entity)


def _entity_page(
    request: HtmxHttpRequest, legal_entity: LegalEntity, limit_form: RequestLimitForm | None = None
) -> HttpResponse:
    """The entity's page; ``limit_form``: the request-limit form as posted, with its errors."""
    detail = console.entity_detail(legal_entity)
    now = timezone.now()
    attempt = next((a for a in detail.attempts if a.is_current), None)
    profile = profile_of(legal_entity)
    context = {
        "detail": detail,
        "legal_entity": legal_entity,
        "attempt": attempt,
        "profile": profile,
        "now": now,
        "stuck": console.is_stuck(detail.health, now=now),
        "links": [(link, link.status(now)) for link in detail.links],
        "actions": _available_actions(detail, profile, now),
        "limit_form": limit_form
        or RequestLimitForm(
            initial={
                "max_concurrent_requests": profile.max_concurrent_requests
                if profile is not None
                else 2
            }
        ),
        "section": "overview",
    }
    return render(
        request, "connections/console/entity.html", context, status=422 if limit_form else 200
    )


def _available_actions(
    detail: console.EntityDetail, profile: ApiSyncProfile | None, now: Any
) -> list[tuple[str, str, bool]]:
    """The actions that make sense for the entity now: ``(key, label, destructive)``."""
    schedule = detail.schedule
    hidden = {
        "pause_schedule": schedule is None or not schedule.enabled,
        "resume_schedule": schedule is None or schedule.enabled,
        "enable_profile": profile is None or profile.enabled,
        "disable_profile": profile is None or not profile.enabled,
        "full_sync": profile is None or not profile.enabled,
        "request_limit": True,  # a form of its own beside the profile
        "partial_sync": profile is None or not profile.enabled,
        "revoke_links": not any(
            link.status(now) == HandoffLink.Status.USABLE for link in detail.links
        ),
    }
    return [
        (key, label, destructive)
        for key, (label, destructive) in ACTIONS.items()
        if not hidden.get(key, False)
    ]


#: The entity page's actions: key → (button label, destructive: asks to confirm first).
ACTIONS: dict[str, tuple[str, bool]] = {
    "reverify": ("Re-verify now", False),
    "full_sync": ("Full sync", False),
    "partial_sync": ("Partial sync", False),
    "pause_schedule": ("Pause the schedule", True),
    "resume_schedule": ("Resume the schedule", False),
    "revoke_links": ("Revoke every active hand-off link", True),
    "request_limit": ("Set the request limit", False),
    "disable_profile": ("Disable the API Sync Profile", True),
    "enable_profile": ("Enable the API Sync Profile", False),
}


@console_view
@require_http_methods(["GET", "POST"])
def entity_action(request: HtmxHttpRequest, public_id: Any, action: str) -> HttpResponse:
    """Run one of :data:`ACTIONS` on the entity; a destructive one shows a confirmation page
    first (its form posts again with ``confirm``). Opened by address (the confirmation page's
    own, reloaded or bookmarked), it shows that page again, or the entity's page; only a POST
    acts."""
    if action not in ACTIONS:
        raise Http404("No such action.")
    legal_entity = legal_entity_for_customer_success(request.user, public_id)
    label, destructive = ACTIONS[action]
    if request.method == "GET" and not destructive:
        return redirect("console:entity", legal_entity.public_id)
    if destructive and (request.method == "GET" or request.POST.get("confirm") != "yes"):
        context = {
            "legal_entity": legal_entity,
            "action": action,
            "label": label,
            "section": "overview",
        }
        return render(request, "connections/console/confirm.html", context)
    if action == "request_limit" and profile_of(legal_entity) is not None:
        form = RequestLimitForm(request.POST)
        if not form.is_valid():
            # What was typed stays, with its error beside it.
            return _entity_page(request, legal_entity, limit_form=form)
    level, message = _perform(request, legal_entity, action)
    messages.add_message(request, level, message)
    return redirect(reverse("console:entity", args=[legal_entity.public_id]))


def _perform(request: HtmxHttpRequest, legal_entity: LegalEntity, action: str) -> tuple[int, str]:
    user = request.user
    if action == "reverify":
        attempt = current_attempt(legal_entity)
        if attempt is None or not attempt.has_credentials:
            return messages.ERROR, "There are no saved credentials to verify yet."
        if attempt.state in ConnectionAttempt.FINISHED:
            return messages.ERROR, "The current attempt was replaced; nothing to verify."
        start_verification(attempt, user=user, trigger=VerificationRun.Trigger.CONSOLE)
        return messages.SUCCESS, "Verification queued."
    if action in ("full_sync", "partial_sync"):
        if ApiSyncProfile.status_of(profile_of(legal_entity)) != ApiSyncProfile.Status.READY:
            return messages.ERROR, "SmartSync needs an enabled API Sync Profile first."
        kind = SyncRun.Kind.FULL if action == "full_sync" else SyncRun.Kind.PARTIAL
        run, created = start_sync(
            legal_entity, kind=kind, trigger=SyncRun.Trigger.CONSOLE, user=user
        )
        if not created:
            return messages.INFO, "A sync is already under way; it was left to finish."
        return messages.SUCCESS, f"{run.get_kind_display()} sync queued."
    if action in ("pause_schedule", "resume_schedule"):
        if not SyncSchedule.objects.filter(legal_entity=legal_entity).exists():
            return messages.ERROR, "This legal entity has no Sync Schedule."
        enabled = action == "resume_schedule"
        try:
            save_schedule(legal_entity, {"enabled": enabled}, user)
        except ValidationError as error:
            return messages.ERROR, " ".join(error.messages)
        return messages.SUCCESS, "Schedule resumed." if enabled else "Schedule paused."
    if action == "revoke_links":
        now = timezone.now()
        links = HandoffLink.objects.filter(
            attempt__legal_entity=legal_entity, revoked_at__isnull=True, expires_at__gt=now
        ).select_related("attempt")
        revoked = 0
        for link in links:
            if link.status(now) == HandoffLink.Status.USABLE:
                revoke_handoff_link(link, actor=user)
                revoked += 1
        return messages.SUCCESS, f"{revoked} hand-off link(s) revoked."
    profile = profile_of(legal_entity)
    if profile is None:
        return (
            messages.ERROR,
            "This legal entity has no API Sync Profile; create it from the queue.",
        )
    if action == "request_limit":
        form = RequestLimitForm(request.POST)
        if not form.is_valid():
            errors = [str(e) for e in form.errors["max_concurrent_requests"]]
            return messages.ERROR, f"Concurrent requests: {' '.join(errors)}"
        limit = form.cleaned_data["max_concurrent_requests"]
        change_api_sync_profile(
            profile,
            object_names=None,
            enabled=profile.enabled,
            actor=user,
            max_concurrent_requests=limit,
        )
        return messages.SUCCESS, f"Up to {limit} concurrent requests to the company."
    enabled = action == "enable_profile"
    change_api_sync_profile(profile, object_names=None, enabled=enabled, actor=user)
    return messages.SUCCESS, "Profile enabled." if enabled else "Profile disabled."


# --- Funnel and sync health ----------------------------------------------------------------------


@console_view
@require_GET
def funnel(request: HtmxHttpRequest) -> HttpResponse:
    rows, finished = console.funnel()
    context = {
        "rows": rows,
        "finished": finished,
        "chart": _funnel_chart(rows, finished),
        "section": "funnel",
    }
    return render(request, "connections/console/funnel.html", context)


@console_view
@require_GET
def sync_health(request: HtmxHttpRequest) -> HttpResponse:
    days = console.sync_health(now=timezone.now())
    context = {
        "days": days,
        "states": SyncRun.FINISHED,
        "charts": _health_charts(days),
        "section": "sync_health",
    }
    return render(request, "connections/console/sync_health.html", context)


def _funnel_chart(rows: list[console.FunnelRow], finished: int) -> dict[str, Any]:
    points = [(f"{index}. {row.step.label}", row.entities) for index, row in enumerate(rows)]
    return bar_chart([*points, ("Every step done", finished)], horizontal=True)


def _health_charts(days: list[console.SyncDay]) -> dict[str, Any]:
    labels = [day.day.strftime("%d %b") for day in days]
    return {
        "runs": stacked_bar_chart(
            labels,
            [
                (str(state.label), state.value, [day.by_state.get(state, 0) for day in days])
                for state in (SyncRun.State.SUCCEEDED, SyncRun.State.PARTIAL, SyncRun.State.FAILED)
            ],
        ),
        "durations": bar_chart(
            list(zip(labels, [round(day.p95_seconds or 0, 1) for day in days], strict=True))
        ),
        "transactions": bar_chart(
            list(zip(labels, [day.transactions for day in days], strict=True))
        ),
    }
