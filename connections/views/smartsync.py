"""Step 9, SmartSync: start a full or partial sync, watch it per object, read the run history and
edit the Sync Schedule. Every form works without JavaScript (POST/redirect/GET); htmx swaps the
page's ``{% partialdef %}`` regions instead."""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import ValidationError
from django.db.models import Count, Q, Sum
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import HttpResponseStopPolling, trigger_client_event

from connections.http import HtmxHttpRequest
from connections.models import ApiSyncProfile, LegalEntity, Step, SyncRun, SyncSchedule
from connections.selectors import api_sync_profile_status, current_attempt
from connections.services.schedules import SCHEDULE_FIELDS, parse_cron, save_schedule
from connections.services.smartsync import start_sync
from connections.views.common import wants_fragment, wizard_view
from connections.views.wizard import RAIL_CHANGED, _step_context

TEMPLATE = "connections/steps/smartsync.html"
HISTORY_LENGTH = 20
#: The client event that makes the run history fetch itself again.
SYNC_FINISHED = "sync-finished"
#: The page's regions an htmx GET may ask for (``?part=``).
PARTS = ("run", "history", "schedule")


class SyncScheduleForm(forms.ModelForm):  # type: ignore[type-arg]
    class Meta:
        model = SyncSchedule
        fields = SCHEDULE_FIELDS
        widgets = {"time_of_day": forms.TimeInput(attrs={"type": "time"}, format="%H:%M")}
        labels = {
            "time_of_day": "Time",
            "kind": "Kind of sync",
            "weekly_full_weekday": "Weekly full sync on",
            "enabled": "Enabled (clear to pause)",
        }
        help_texts = {
            "time_of_day": "Every hour runs at this time's minute.",
            "cron_expression": "Only for “Cron expression”: minute hour day-of-month month "
            "day-of-week, e.g. 30 6 * * 1-5.",
        }

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("frequency") == SyncSchedule.Frequency.CRON:
            try:
                parse_cron(cleaned.get("cron_expression") or "")
            except ValidationError as error:
                self.add_error("cron_expression", error)
        return cleaned

    def validate_constraints(self, exclude: Any = None) -> None:
        # The cron rule is reported on its field by clean().
        return None


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
    step = _step_context(request, legal_entity, current_attempt(legal_entity), Step.SMARTSYNC)
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
    if not _profile_ready(legal_entity):
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
    """Save the Sync Schedule: POST/redirect/GET, or the schedule region for htmx."""
    instance = SyncSchedule.objects.filter(legal_entity=legal_entity).first()
    form = SyncScheduleForm(request.POST, instance=instance)
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


def _page_url(legal_entity: LegalEntity) -> str:
    return reverse("connections:smartsync", args=[legal_entity.public_id])


def _profile_ready(legal_entity: LegalEntity) -> bool:
    return ApiSyncProfile.objects.filter(legal_entity=legal_entity, enabled=True).exists()


def _page_context(request: HtmxHttpRequest, legal_entity: LegalEntity) -> dict[str, Any]:
    context = _step_context(request, legal_entity, current_attempt(legal_entity), Step.SMARTSYNC)
    context.update(_context(request, legal_entity))
    return context


def _context(
    request: HtmxHttpRequest, legal_entity: LegalEntity, *, run: SyncRun | None = None
) -> dict[str, Any]:
    runs = list(
        SyncRun.objects.filter(legal_entity=legal_entity)
        .annotate(
            total_fetched=Sum("object_results__fetched"),
            total_created=Sum("object_results__created"),
            total_updated=Sum("object_results__updated"),
            total_deleted=Sum("object_results__deleted"),
            failed_objects=Count("object_results", filter=Q(object_results__state="failed")),
        )
        .order_by("-created_at", "-pk")[:HISTORY_LENGTH]
    )
    if run is None:
        run = runs[0] if runs else None
    profile = ApiSyncProfile.objects.filter(legal_entity=legal_entity).first()
    instance = SyncSchedule.objects.filter(legal_entity=legal_entity).first()
    ready = profile is not None and profile.enabled
    active = run is not None and not run.is_finished
    public_id = legal_entity.public_id
    return {
        "legal_entity": legal_entity,
        "entities": LegalEntity.objects.filter(organization_id=legal_entity.organization_id),
        "profile": profile,
        "profile_status": api_sync_profile_status(legal_entity),
        "profile_ready": ready,
        "run": run,
        "run_active": active,
        "run_objects": _run_objects(run, profile),
        "run_url": reverse("connections:sync_run", args=[public_id, run.public_id])
        if run is not None
        else "",
        "runs": [_history_row(item) for item in runs],
        "start_url": reverse("connections:sync_start", args=[public_id]),
        "page_url": _page_url(legal_entity),
        "schedule_url": reverse("connections:sync_schedule", args=[public_id]),
        "schedule": instance,
        # An idle page watches for the runs its schedule starts.
        "watch_url": f"{_page_url(legal_entity)}?part=run&seen={run.public_id if run else ''}"
        if instance is not None and instance.enabled and not active
        else "",
        "schedule_form": SyncScheduleForm(instance=instance),
        "can_sync": ready and not active,
        "sync_finished_event": SYNC_FINISHED,
    }


def _run_objects(run: SyncRun | None, profile: ApiSyncProfile | None) -> list[dict[str, Any]]:
    """Each object of the run with its progress; a queued run lists the profile's objects."""
    if run is None:
        return []
    results = {result.object_name: result for result in run.object_results.all()}
    names = list(results)
    if profile is not None:
        names += [name for name in profile.object_names if name not in results]
    rows = []
    for name in names:
        result = results.get(name)
        state = result.state if result is not None else "pending"
        rows.append(
            {
                "name": name,
                "state": state,
                "state_text": result.get_state_display() if result is not None else "Pending",
                "done": state in ("succeeded", "skipped", "failed"),
                "running": state == "running",
                "fetched": result.fetched if result else 0,
                "total": max(result.total, result.fetched) if result else 0,
                "created": result.created if result else 0,
                "updated": result.updated if result else 0,
                "deleted": result.deleted if result else 0,
                "error": result.error if result else "",
            }
        )
    return rows


def _history_row(run: Any) -> dict[str, Any]:
    # ``run`` is a SyncRun annotated with the total_* and failed_objects sums of its objects.
    duration = ""
    if run.started_at and run.finished_at:
        seconds = int((run.finished_at - run.started_at).total_seconds())
        duration = f"{seconds // 60} min {seconds % 60} s" if seconds >= 60 else f"{seconds} s"
    return {
        "run": run,
        "duration": duration,
        "fetched": run.total_fetched or 0,
        "created": run.total_created or 0,
        "updated": run.total_updated or 0,
        "deleted": run.total_deleted or 0,
        "failed_objects": run.failed_objects,
    }
