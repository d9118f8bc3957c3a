"""The connection wizard: one page per step of the connection guide, each working without
JavaScript (POST/redirect/GET) and made instant by htmx (``hx-boost``, partial regions)."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.db import transaction
from django.http import Http404, HttpResponse
from django.shortcuts import redirect, render
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django.views.decorators.vary import vary_on_headers
from django_htmx.http import (
    HttpResponseClientRedirect,
    HttpResponseStopPolling,
    trigger_client_event,
)

from connections.access import organization_for_user, wizard_access
from connections.forms import CredentialsForm, LegalEntityForm, PreConnectionForm
from connections.guide import neighbours, step_pages, wizard_step_urls
from connections.http import HtmxHttpRequest
from connections.models import (
    ApiSyncProfile,
    AuditEvent,
    ConnectionAttempt,
    LegalEntity,
    Step,
    StepState,
    VerificationRun,
)
from connections.selectors.connections import (
    DONE,
    active_run,
    current_attempt,
    entity_progress,
    latest_run,
    legal_entities_overview,
    overview_attempt,
)
from connections.selectors.profiles import api_sync_profile_status, profile_of
from connections.selectors.reports import verification_report
from connections.services import verification
from connections.services.accounts import create_legal_entity
from connections.services.attempts import (
    acknowledge_step,
    changed_credentials,
    ensure_current_attempt,
    save_credentials,
    start_attempt,
)
from connections.services.intacct_entities import EntityListError, list_intacct_entities
from connections.views.decorators import access_denied, wants_fragment, wizard_view
from connections.views.rail import progress
from connections.views.step_page import step_page_context

#: The client event that makes the progress rail fetch itself again.
RAIL_CHANGED = "rail-changed"
#: How often the waiting step-8 page asks whether customer success created the profile.
PROFILE_POLL_SECONDS = 5


# --- The legal entities ---------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@login_required
def legal_entities(request: HtmxHttpRequest) -> HttpResponse:
    """The organization's legal entities, where each stands, and a form to add one."""
    organization = organization_for_user(request.user)
    if organization is None:
        return access_denied(request, None)
    access = wizard_access(request.user, organization)
    if not access:
        return access_denied(request, access)

    form = LegalEntityForm(request.POST or None, organization=organization)
    if request.method == "POST" and form.is_valid():
        with transaction.atomic():
            legal_entity = create_legal_entity(
                organization, form.cleaned_data["name"], actor=request.user
            )
            start_attempt(legal_entity, actor=request.user)
        messages.success(request, f"Added {legal_entity.name}. Start with the checklist.")
        return redirect("connections:pre_connection", legal_entity.public_id)

    pages = step_pages()
    rows = []
    for legal_entity in legal_entities_overview(organization):
        attempt = overview_attempt(legal_entity)
        standing = entity_progress(attempt)
        rows.append(
            {
                "legal_entity": legal_entity,
                "attempt": attempt,
                "step": pages[standing.current_step] if standing.current_step else None,
                "step_url": reverse(
                    f"connections:{standing.resume_step.value}", args=[legal_entity.public_id]
                ),
                "done": standing.done,
                "total": standing.total,
                "failed": standing.failed,
            }
        )
    return render(
        request,
        "connections/legal_entities.html",
        {"organization": organization, "rows": rows, "form": form},
    )


@require_GET
@wizard_view
def resume(request: HtmxHttpRequest, legal_entity: LegalEntity) -> HttpResponse:
    """Pick up where the legal entity stands: its first failed or next pending step; SmartSync
    once every step is done; the checklist before anything was started."""
    attempt = current_attempt(legal_entity)
    step = entity_progress(attempt).current_step
    if step is None:
        step = Step.SMARTSYNC if attempt is not None else Step.PRE_CONNECTION
    return redirect(f"connections:{step.value}", legal_entity.public_id)


@require_GET
@wizard_view
@vary_on_headers("HX-Request")
def rail(request: HtmxHttpRequest, legal_entity: LegalEntity) -> HttpResponse:
    """The progress rail: a fragment for htmx (refreshed on ``rail-changed``); otherwise a page
    with every step's state and the attempt's history."""
    attempt = current_attempt(legal_entity)
    viewed = request.GET.get("step", "")
    step = Step(viewed) if viewed in Step.values else None
    context = base_context(legal_entity, attempt, viewed=step)
    context["step"] = step
    if wants_fragment(request):
        return render(request, "connections/_rail.html", context)
    context["attempts"] = legal_entity.attempts.order_by("-created_at")[:10]
    context["events"] = AuditEvent.objects.for_legal_entity(legal_entity).select_related("actor")[
        :20
    ]
    return render(request, "connections/progress.html", context)


# --- The steps --------------------------------------------------------------------------------------


@require_http_methods(["GET", "POST"])
@wizard_view
def pre_connection(request: HtmxHttpRequest, legal_entity: LegalEntity) -> HttpResponse:
    """Step 0: the guide's checklist. The account conditions are enforced (the user got here);
    the rest are confirmed with the form."""
    form = PreConnectionForm(request.POST or None)
    if request.method == "GET":
        attempt = current_attempt(legal_entity)
        done = (
            attempt is not None
            and attempt.steps.filter(step=Step.PRE_CONNECTION, status__in=DONE).exists()
        )
        form = PreConnectionForm(initial={"can_log_in_as_admin": done, "others_logged_out": done})
    if request.method == "POST" and form.is_valid():
        return _acknowledge(request, legal_entity, Step.PRE_CONNECTION)
    attempt = current_attempt(legal_entity)
    context = step_context(request, legal_entity, attempt, Step.PRE_CONNECTION)
    context["form"] = form
    context["membership"] = wizard_access(request.user, legal_entity.organization).membership
    return render(request, context["page"].template, context)


@require_http_methods(["GET", "POST"])
@wizard_view
def intacct_step(request: HtmxHttpRequest, legal_entity: LegalEntity, step: Step) -> HttpResponse:
    """Steps 1–6, done in Intacct: the guide's instructions with the exact values to enter, and
    "I've done this"."""
    if request.method == "POST":
        return _acknowledge(request, legal_entity, step)
    attempt = current_attempt(legal_entity)
    context = step_context(request, legal_entity, attempt, step)
    return render(request, context["page"].template, context)


@require_http_methods(["GET", "POST"])
@wizard_view
def credentials(request: HtmxHttpRequest, legal_entity: LegalEntity) -> HttpResponse:
    """Step 7: the credentials (top-level or entity-level), and "Test connection"."""
    attempt = current_attempt(legal_entity)
    if request.method == "POST":
        form = CredentialsForm.for_attempt(attempt, request.POST)
        typed = form.cleaned_data if form.is_valid() else {}
        if typed and not changed_credentials(
            attempt,
            integration_type=typed["integration_type"],
            company_id=typed["company_id"],
            entity_id=typed["entity_id"],
            user_id=typed["user_id"],
            password=typed["password"],
        ):
            messages.info(request, "Nothing changed: the saved credentials stay as they were.")
            return redirect("connections:credentials", legal_entity.public_id)
        if form.is_valid():
            attempt = attempt or ensure_current_attempt(legal_entity, actor=request.user)
            saved = save_credentials(
                attempt,
                actor=request.user,
                integration_type=form.cleaned_data["integration_type"],
                company_id=form.cleaned_data["company_id"],
                entity_id=form.cleaned_data["entity_id"],
                user_id=form.cleaned_data["user_id"],
                password=form.cleaned_data["password"],
            )
            if saved.pk != attempt.pk:
                messages.success(
                    request,
                    "Saved. The connection was verified with the earlier credentials, so these "
                    "start a new attempt (the earlier one is kept in the history). Test the "
                    "connection now.",
                )
            else:
                messages.success(request, "Saved. Now test the connection.")
            for warnings in form.warnings.values():
                for warning in warnings:
                    messages.warning(request, warning)
            return redirect("connections:credentials", legal_entity.public_id)
    else:
        initial = {}
        # The entity picker without JavaScript links back here with the entity chosen.
        if request.GET.get("entity_id"):
            initial = {
                "entity_id": request.GET["entity_id"].strip(),
                "integration_type": ConnectionAttempt.IntegrationType.ENTITY_LEVEL,
            }
        form = CredentialsForm.for_attempt(attempt, initial=initial)
    context = _credentials_context(request, legal_entity, attempt, form)
    return render(request, context["page"].template, context)


@require_GET
@wizard_view
@vary_on_headers("HX-Request")
def api_sync_profile(request: HtmxHttpRequest, legal_entity: LegalEntity) -> HttpResponse:
    """Step 8: customer success creates the API Sync Profile; until then the customer waits."""
    attempt = current_attempt(legal_entity)
    context = step_context(request, legal_entity, attempt, Step.API_SYNC_PROFILE)
    context["profile_status"] = api_sync_profile_status(legal_entity)
    context["profile"] = profile_of(legal_entity)
    context["verified"] = attempt is not None and attempt.state == ConnectionAttempt.State.VERIFIED
    context["poll_seconds"] = PROFILE_POLL_SECONDS
    if wants_fragment(request):
        # The waiting page's poll: once the profile is ready, the rail follows (step 9 opens).
        response = render(request, f"{context['page'].template}#status", context)
        if context["profile_status"] == ApiSyncProfile.Status.READY:
            return trigger_client_event(response, RAIL_CHANGED)
        return response
    return render(request, context["page"].template, context)


# --- Verification --------------------------------------------------------------------------------


@require_POST
@wizard_view
@vary_on_headers("HX-Request")
def test_connection(request: HtmxHttpRequest, legal_entity: LegalEntity) -> HttpResponse:
    """Start the full verification in the worker; the result region then polls the run."""
    attempt = current_attempt(legal_entity)
    credentials_url = reverse("connections:credentials", args=[legal_entity.public_id])
    if attempt is None or not attempt.has_credentials:
        messages.error(request, "Save the company ID, user ID and password first.")
        if wants_fragment(request):
            return HttpResponseClientRedirect(credentials_url)
        return redirect(credentials_url)
    run = verification.start_verification(attempt, user=request.user)
    if wants_fragment(request):
        context = _result_context(legal_entity, attempt, run)
        response = render(request, "connections/steps/credentials.html#result", context)
        return trigger_client_event(response, RAIL_CHANGED)
    return redirect(f"{credentials_url}#result")


@require_GET
@wizard_view
@vary_on_headers("HX-Request")
def run_status(request: HtmxHttpRequest, legal_entity: LegalEntity, run_id: Any) -> HttpResponse:
    """One verification run: the polled result fragment for htmx (polling stops, with 286, once
    the run finished); otherwise the credentials page showing this run."""
    run = (
        VerificationRun.objects.select_related("attempt")
        .filter(public_id=run_id, attempt__legal_entity=legal_entity)
        .first()
    )
    if run is None:
        raise Http404("No such verification run.")
    attempt = run.attempt
    if wants_fragment(request):
        context = _result_context(legal_entity, attempt, run)
        if not run.is_finished:
            return render(request, "connections/steps/credentials.html#result", context)
        content = render_to_string(
            "connections/steps/credentials.html#result", context, request=request
        )
        # The step's own status box above follows the verdict (out of band), as the rail does.
        step = step_context(request, legal_entity, current_attempt(legal_entity), Step.CREDENTIALS)
        content += render_to_string("connections/_step_status_oob.html", step, request=request)
        return trigger_client_event(HttpResponseStopPolling(content), RAIL_CHANGED)
    form = CredentialsForm.for_attempt(current_attempt(legal_entity))
    context = _credentials_context(request, legal_entity, current_attempt(legal_entity), form)
    context.update(_result_context(legal_entity, attempt, run))
    return render(request, context["page"].template, context)


@require_http_methods(["GET", "POST"])
@wizard_view
@vary_on_headers("HX-Request")
def intacct_entities(request: HtmxHttpRequest, legal_entity: LegalEntity) -> HttpResponse:
    """The Intacct entities Intacct lists after signing in, for the entity picker.

    GET signs in with the saved credentials; POST (the picker button inside the credentials
    form) with what was typed, a blank password meaning the saved one. htmx gets the picker
    fragment; without JavaScript a GET gets a page of its own and a POST the credentials page,
    typed values kept, with the entities beside the Entity ID field.
    """
    attempt = current_attempt(legal_entity)
    form = None
    probe = attempt
    if request.method == "POST":
        form = CredentialsForm.for_attempt(attempt, request.POST)
        form.is_valid()
        probe = _typed_attempt(legal_entity, attempt, form)
    picker = _list_intacct_entities(probe, request.user)
    if wants_fragment(request):
        return render(
            request,
            "connections/steps/credentials.html#entity-picker",
            {"picker": picker, "legal_entity": legal_entity},
        )
    if request.method == "POST":
        assert form is not None
        context = _credentials_context(request, legal_entity, attempt, form)
        context["picker"] = picker
        return render(request, context["page"].template, context)
    context = base_context(legal_entity, attempt, viewed=Step.CREDENTIALS)
    context["picker"] = picker
    return render(request, "connections/intacct_entities.html", context)


# --- Helpers -----------------------------------------------------------------------------------------


def _acknowledge(request: HtmxHttpRequest, legal_entity: LegalEntity, step: Step) -> HttpResponse:
    attempt = ensure_current_attempt(legal_entity, actor=request.user)
    acknowledge_step(attempt, step, actor=request.user)
    pages = step_pages()
    messages.success(request, f"Step {pages[step].number} marked as done.")
    following = neighbours(step).next
    return redirect(f"connections:{(following or pages[step]).step.value}", legal_entity.public_id)


def base_context(
    legal_entity: LegalEntity,
    attempt: ConnectionAttempt | None,
    *,
    viewed: Step | str | None = None,
) -> dict[str, Any]:
    """What every wizard page has: the legal entity, its attempt, the rail and the step URLs."""
    urls = wizard_step_urls(legal_entity)
    return {
        "legal_entity": legal_entity,
        "attempt": attempt,
        "progress": progress(legal_entity, attempt, urls=urls, viewed=viewed),
        "step_urls": urls,
        "rail_url": reverse("connections:rail", args=[legal_entity.public_id]),
        "layout": "connections/wizard.html",
        "handoff": False,
    }


def step_context(
    request: HtmxHttpRequest,
    legal_entity: LegalEntity,
    attempt: ConnectionAttempt | None,
    step: Step,
) -> dict[str, Any]:
    """What a step's page shows: the rail, the guide's copy, the previous and next steps, and
    the last check's findings."""
    context = base_context(legal_entity, attempt, viewed=step)
    state = context["progress"].states.get(step.value)
    context.update(step_page_context(attempt, step, state, context["step_urls"]))
    context["guide"] = settings.INTACCT_GUIDE
    return context


def _result_context(
    legal_entity: LegalEntity, attempt: ConnectionAttempt, run: VerificationRun | None
) -> dict[str, Any]:
    return {
        "legal_entity": legal_entity,
        "attempt": attempt,
        "run": run,
        "report": verification_report(run),
        "step_urls": wizard_step_urls(legal_entity),
        "run_url": reverse("connections:run_status", args=[legal_entity.public_id, run.public_id])
        if run is not None
        else "",
        "test_url": reverse("connections:test_connection", args=[legal_entity.public_id]),
        "can_test": bool(attempt and attempt.has_credentials),
        "handoff": False,
        "credentials_saved_since": _saved_since(attempt, run),
    }


def _saved_since(attempt: ConnectionAttempt | None, run: VerificationRun | None) -> Any:
    """When the credentials were saved, if that was after ``run`` started: its results are then
    those of the earlier credentials."""
    if attempt is None or run is None or not run.is_finished:
        return None
    saved = (
        StepState.objects.filter(attempt=attempt, step=Step.CREDENTIALS)
        .values_list("acknowledged_at", flat=True)
        .first()
    )
    # The run read the credentials when it started (a run queued before a save uses the new).
    tested = run.started_at or run.created_at
    return saved if saved is not None and saved > tested else None


def _credentials_context(
    request: HtmxHttpRequest,
    legal_entity: LegalEntity,
    attempt: ConnectionAttempt | None,
    form: CredentialsForm,
) -> dict[str, Any]:
    context = step_context(request, legal_entity, attempt, Step.CREDENTIALS)
    run = None
    if attempt is not None:
        run = active_run(attempt) or latest_run(attempt)
    context.update(_result_context(legal_entity, attempt, run) if attempt else {})
    context.setdefault("report", None)
    context.setdefault("can_test", False)
    context.setdefault("test_url", "")
    context["form"] = form
    context["entities_url"] = reverse("connections:intacct_entities", args=[legal_entity.public_id])
    context["picker"] = None
    return context


def _typed_attempt(
    legal_entity: LegalEntity, attempt: ConnectionAttempt | None, form: CredentialsForm
) -> ConnectionAttempt:
    """An unsaved attempt with what was typed (valid fields only), to list the entities before
    the credentials are saved; a blank password is the saved one."""
    typed = form.cleaned_data if hasattr(form, "cleaned_data") else {}
    saved = attempt or ConnectionAttempt(legal_entity=legal_entity)
    return ConnectionAttempt(
        legal_entity=legal_entity,
        integration_type=ConnectionAttempt.IntegrationType.TOP_LEVEL,
        company_id=typed.get("company_id") or saved.company_id,
        entity_id="",
        user_id=typed.get("user_id") or saved.user_id,
        password=typed.get("password") or saved.password,
        endpoint=saved.endpoint or settings.INTACCT_ENDPOINT,
    )


def _list_intacct_entities(attempt: ConnectionAttempt | None, actor: Any) -> dict[str, Any]:
    """What the picker shows: the entities, or why there are none."""
    if attempt is None or not attempt.has_credentials:
        return {
            "entities": [],
            "problem": "Enter the company ID, the Web Services user ID and its password first: "
            "Intacct lists the entities only after signing in.",
        }
    try:
        found = list_intacct_entities(attempt, actor=actor)
    except EntityListError as error:
        return {"entities": [], "problem": error.message}
    if not found:
        return {
            "entities": [],
            "problem": "Intacct lists no entities for this company: it is not a multi-entity "
            "company, so choose Top-level.",
        }
    return {"entities": found, "problem": ""}
