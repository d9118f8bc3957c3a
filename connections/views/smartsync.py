"""Step 9, SmartSync: start a full or partial sync, watch it per object, read the run history and
edit the Sync Schedule. Every form works without JavaScript (POST/redirect/GET); htmx swaps the
page's ``{% partialdef %}`` regions instead."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseStopPolling, trigger_client_event

from connections.forms import SyncScheduleForm
from connections.http import HtmxHttpRequest
from connections.models import ApiSyncProfile, LegalEntity, Step, SyncRun, SyncSchedule
from connections.selectors.connections import current_attempt
from connections.selectors.profiles import profile_of
from connections.selectors.schedules import TIER_ALLOWANCE, next_sync_at, projected_transactions
from connections.selectors.smartsync import run_objects, sync_advice, sync_history
from connections.services.schedules import save_schedule
from connections.services.smartsync import start_sync
from connections.views.decorators import wants_fragment, wizard_view
from connections.views.wizard import RAIL_CHANGED, step_context

TEMPLATE = "connections/steps/smartsync.html"
HISTORY_LENGTH = 20
#: The client event that makes the run history fetch itself again.
SYNC_FINISHED = "sync-finished"
#: The page's regions an htmx GET may ask for (``?part=``).
PARTS = ("run", "history", "schedule")


# --- Views -------------------------------------------------------------------------------------------


@require_GET
@wizard_view
@vary_on_headers("HX-Request")
def smartsync(request: HtmxHttpRequest, legal_entity: LegalEntity) -> HttpResponse:
    """The SmartSync page; for htmx, one of its regions (``?part=run|history|schedule``)."""
    if wants_fragment(request):
        part = request.GET.get("part", "run")
        if part not in PARTS:
            part = "run"
        context = _context(request, legal_entity)
        content = render_to_string(f"{TEMPLATE}#{part}", context, request=request)
        run = context["run"]
        seen = request.GET.get("seen")
        # The page watching its schedule found a run it had not shown that already ended (a short
        # scheduled sync between two looks): the page follows as when a polled run ends.
        if (
            part == "run"
            and seen is not None
            and run is not None
            and run.is_finished
            and str(run.public_id) != seen
        ):
            return _run_ended(request, legal_entity, content, HttpResponse)
        return HttpResponse(content)
    return render(request, TEMPLATE, _page_context(request, legal_entity))


def _run_ended(
    request: HtmxHttpRequest,
    legal_entity: LegalEntity,
    content: str,
    response_class: type[HttpResponse],
) -> HttpResponse:
    """The run region of a run that ended, with what follows on the page: the step status (out of
    band; a successful full sync verifies the step), the history and the rail (events)."""
    step = step_context(request, legal_entity, current_attempt(legal_entity), Step.SMARTSYNC)
    content += render_to_string("connections/_step_status_oob.html", step, request=request)
    response = trigger_client_event(response_class(content), SYNC_FINISHED)
    return trigger_client_event(response, RAIL_CHANGED)


@require_POST
@wizard_view
@vary_on_headers("HX-Request")
def start(request: HtmxHttpRequest, legal_entity: LegalEntity) -> HttpResponse:
    """The Sync (full) and Partial Sync buttons: queue a run unless one is under way."""
    kind = request.POST.get("kind", SyncRun.Kind.PARTIAL)
    if kind not in SyncRun.Kind.values:
        kind = SyncRun.Kind.PARTIAL
    notice: tuple[str, str]
    if ApiSyncProfile.status_of(profile_of(legal_entity)) != ApiSyncProfile.Status.READY:
        notice = ("error", "SmartSync needs the API Sync Profile first (step 8).")
    else:
        run, created = start_sync(
            legal_entity,
            kind=kind,
            trigger=SyncRun.Trigger.MANUAL,
            user=request.user,
            enqueue=True,
        )
        if created:
            label = "full" if run.kind == SyncRun.Kind.FULL else "partial"
            notice = ("success", f"A {label} sync is queued.")
            if kind == SyncRun.Kind.PARTIAL and run.kind == SyncRun.Kind.FULL:
                notice = (
                    "success",
                    "A full sync is queued: the first sync of a legal entity is always full.",
                )
        else:
            notice = ("warning", "A sync is already running: wait for it to finish.")
    if wants_fragment(request):
        context = _context(request, legal_entity)
        context["notice"] = {"level": notice[0], "text": notice[1]}
        return render(request, f"{TEMPLATE}#run", context)
    getattr(messages, notice[0])(request, notice[1])
    return redirect(_page_url(legal_entity) + "#sync-run")


@require_GET
@wizard_view
@vary_on_headers("HX-Request")
def run_status(request: HtmxHttpRequest, legal_entity: LegalEntity, run_id: Any) -> HttpResponse:
    """One sync run: the polled fragment for htmx (polling stops, with 286, once the run
    finished); otherwise the SmartSync page."""
    run = SyncRun.objects.filter(public_id=run_id, legal_entity=legal_entity).first()
    if run is None:
        raise Http404("No such sync run.")
    if not wants_fragment(request):
        return redirect(_page_url(legal_entity) + "#sync-run")
    context = _context(request, legal_entity, run=run)
    if not run.is_finished:
        return render(request, f"{TEMPLATE}#run", context)
    content = render_to_string(f"{TEMPLATE}#run", context, request=request)
    return _run_ended(request, legal_entity, content, HttpResponseStopPolling)


@require_http_methods(["POST"])
@wizard_view
@vary_on_headers("HX-Request")
def schedule(request: HtmxHttpRequest, legal_entity: LegalEntity) -> HttpResponse:
    """Save the Sync Schedule: POST/redirect/GET, or the schedule region for htmx. With
    ``?preview=1``, save nothing: what the form as it stands would cost a month."""
    instance = SyncSchedule.objects.filter(legal_entity=legal_entity).first()
    form = SyncScheduleForm(request.POST, instance=instance)
    if request.GET.get("preview"):
        # is_valid() fills the form's instance in memory; only save_schedule writes.
        valid = form.is_valid()
        context = _projection_context(legal_entity, form.instance if valid else None)
        # What keeps the form from being priced, as saving would say it.
        context["projection_error"] = next(
            (str(error) for errors in form.errors.values() for error in errors), ""
        )
        context["schedule_url"] = reverse(
            "connections:sync_schedule", args=[legal_entity.public_id]
        )
        context["sync_finished_event"] = SYNC_FINISHED
        return render(request, "connections/_sync_projection.html", context)
    saved = False
    if form.is_valid():
        try:
            save_schedule(legal_entity, form.cleaned_data, request.user)
            saved = True
        except ValidationError as error:
            form.add_error(None, error)
    if saved:
        paused = not form.cleaned_data["enabled"]
        text = "Schedule saved" + (" and paused." if paused else ".")
        if not wants_fragment(request):
            messages.success(request, text)
            return redirect(_page_url(legal_entity) + "#schedule")
        context = _context(request, legal_entity)
        context["schedule_notice"] = text
        return render(request, f"{TEMPLATE}#schedule", context)
    context = (
        _context(request, legal_entity)
        if wants_fragment(request)
        else _page_context(request, legal_entity)
    )
    context["schedule_form"] = form
    part = f"{TEMPLATE}#schedule" if wants_fragment(request) else TEMPLATE
    return render(request, part, context, status=422 if wants_fragment(request) else 200)


# --- Helpers -----------------------------------------------------------------------------------------


def _projection_context(legal_entity: LegalEntity, schedule: SyncSchedule | None) -> dict[str, Any]:
    """The month's API transactions of ``schedule`` (saved or as the form stands; ``None``: the
    form is incomplete)."""
    return {
        "projection": projected_transactions(legal_entity, schedule, now=timezone.now())
        if schedule is not None
        else None,
        "projection_incomplete": schedule is None,
        "projection_kind": schedule.get_kind_display() if schedule is not None else "",
        "tier_allowance": TIER_ALLOWANCE,
    }


def _page_url(legal_entity: LegalEntity) -> str:
    return reverse("connections:smartsync", args=[legal_entity.public_id])


def _page_context(request: HtmxHttpRequest, legal_entity: LegalEntity) -> dict[str, Any]:
    context = step_context(request, legal_entity, current_attempt(legal_entity), Step.SMARTSYNC)
    context.update(_context(request, legal_entity))
    return context


def _context(
    request: HtmxHttpRequest, legal_entity: LegalEntity, *, run: SyncRun | None = None
) -> dict[str, Any]:
    history = sync_history(legal_entity, limit=HISTORY_LENGTH)
    if run is None:
        run = history[0].run if history else None
    profile = profile_of(legal_entity)
    profile_status = ApiSyncProfile.status_of(profile)
    ready = profile_status == ApiSyncProfile.Status.READY
    instance = SyncSchedule.objects.filter(legal_entity=legal_entity).first()
    active = run is not None and not run.is_finished
    public_id = legal_entity.public_id
    return {
        "legal_entity": legal_entity,
        "entities": LegalEntity.objects.filter(organization_id=legal_entity.organization_id),
        "profile": profile,
        "profile_status": profile_status,
        "profile_ready": ready,
        "run": run,
        "run_active": active,
        "run_objects": run_objects(run, profile),
        "advice": sync_advice(run),
        "run_url": reverse("connections:sync_run", args=[public_id, run.public_id])
        if run is not None
        else "",
        "runs": history,
        "start_url": reverse("connections:sync_start", args=[public_id]),
        "page_url": _page_url(legal_entity),
        "schedule_url": reverse("connections:sync_schedule", args=[public_id]),
        "schedule": instance,
        # An idle page watches for the runs its schedule starts.
        "watch_url": f"{_page_url(legal_entity)}?part=run&seen={run.public_id if run else ''}"
        if instance is not None and instance.enabled and not active
        else "",
        "schedule_form": SyncScheduleForm(instance=instance),
        **_projection_context(legal_entity, instance or SyncSchedule(legal_entity=legal_entity)),
        "next_sync_at": next_sync_at(legal_entity, now=timezone.now()),
        "can_sync": ready and not active,
        "sync_finished_event": SYNC_FINISHED,
    }
