"""What the wizard's and the hand-off's views share: access, the progress rail, the step pages'
facts and the verification report as the pages show it."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from functools import wraps
from typing import Any

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpResponse
from django.shortcuts import render
from django.urls import reverse
from django.utils import timezone

from connections.access import Access, legal_entity_for_user, wizard_access
from connections.http import HtmxHttpRequest
from connections.models import (
    HANDOFF_STEPS,
    ApiSyncProfile,
    ConnectionAttempt,
    LegalEntity,
    Step,
    StepState,
    VerificationRun,
    step_for_intacct,
)
from connections.selectors import api_sync_profile_status, current_step, last_checked_run
from connections.services.verification import guide_names, report_for
from intacct.checks import SIGN_IN_CAUSES, remedy_for
from intacct.permissions import PERMISSION_ROWS, UDD_ROW_KEY, PermissionRow

# --- Requests ----------------------------------------------------------------------------------------


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


# --- The steps -----------------------------------------------------------------------------------------


@dataclass(frozen=True)
class StepPage:
    """One wizard page: its number in the guide, its title, the guide heading it belongs to."""

    step: Step
    number: int
    title: str
    section: str
    summary: str
    acknowledge: bool = True

    @property
    def template(self) -> str:
        return f"connections/steps/{self.step.value}.html"

    @property
    def label(self) -> str:
        return str(self.step.label)

    @property
    def intacct_side(self) -> bool:
        return self.step in HANDOFF_STEPS


def step_pages() -> dict[Step, StepPage]:
    """Every step's page, in guide order (the guide's headings carry the product name)."""
    product = settings.INTACCT_GUIDE["PRODUCT_NAME"]
    requirements = "Create Web Services User and Role"
    pages = [
        StepPage(
            Step.PRE_CONNECTION,
            0,
            "Pre-connection checklist",
            "Pre-connection checklist",
            "Before you start: who can connect, and what to have ready.",
        ),
        StepPage(
            Step.WS_SUBSCRIPTION,
            1,
            "Turn on the Web Services subscription",
            requirements,
            "Ensure that Sage Intacct allows web user connection.",
        ),
        StepPage(
            Step.WS_USER,
            2,
            "Create the Web Services user",
            requirements,
            f"A special user that {product} signs in with through the Intacct web API.",
        ),
        StepPage(
            Step.ROLE_PERMISSIONS,
            3,
            "Create the role and grant its permissions",
            requirements,
            "A dedicated role: the set of permissions that dictate what the user can do.",
        ),
        StepPage(
            Step.ROLE_ASSIGNMENT,
            4,
            "Assign the role to the Web Services user",
            requirements,
            f"Associate the new role with the Web Services user so {product} and Sage Intacct "
            "can integrate.",
        ),
        StepPage(
            Step.SENDER_AUTHORIZATION,
            5,
            "Authorize the Sender ID",
            f"Grant {product} Web Services Authorization",
            f"{product} requires Web Services Authorization to connect with Intacct.",
        ),
        StepPage(
            Step.CUSTOM_FIELD,
            6,
            "Add the AP Bill URL custom field",
            f"Create a Custom Field for {product} URLs",
            f"A link on the Bill in Intacct that opens the corresponding Invoice in {product}.",
        ),
        StepPage(
            Step.CREDENTIALS,
            7,
            "Enter the credentials and test the connection",
            f"Connecting {product} to Sage Intacct",
            "Enable the connection between "
            f"{product} and Sage Intacct, then check every step live.",
            acknowledge=False,
        ),
        StepPage(
            Step.API_SYNC_PROFILE,
            8,
            "API Sync Profile",
            f"Connecting {product} to Sage Intacct",
            "Customer success creates the API Sync Profile for your legal entity.",
            acknowledge=False,
        ),
        StepPage(
            Step.SMARTSYNC,
            9,
            "Enable SmartSync",
            "Enable SmartSync",
            "Sync all list items from Sage Intacct.",
            acknowledge=False,
        ),
    ]
    return {page.step: page for page in pages}


def wizard_step_urls(legal_entity: LegalEntity) -> dict[str, str]:
    return {
        step.value: reverse(f"connections:{step.value}", args=[legal_entity.public_id])
        for step in Step
    }


def handoff_step_urls(token: str) -> dict[str, str]:
    return {
        step.value: reverse("connections:handoff_step", args=[token, step.value])
        for step in HANDOFF_STEPS
    }


# --- The progress rail -----------------------------------------------------------------------------

STATUS_DISPLAY: dict[str, tuple[str, str]] = {
    # status → (text, icon); the icon is decoration, the text is what is read.
    "pending": ("Not started", "○"),
    "acknowledged": ("Done", "✓"),
    "verified": ("Verified", "✔"),
    "failed": ("Failed", "✕"),
    "waiting": ("Waiting for customer success", "…"),
    "later": ("After step 8", "…"),
}


@dataclass
class RailItem:
    step: Step
    number: int
    label: str
    status: str
    url: str
    is_viewed: bool = False
    is_next: bool = False
    reason: str = ""
    verified_at: datetime | None = None
    acknowledged_at: datetime | None = None

    @property
    def status_text(self) -> str:
        return STATUS_DISPLAY[self.status][0]

    @property
    def icon(self) -> str:
        return STATUS_DISPLAY[self.status][1]


@dataclass
class Progress:
    items: list[RailItem]
    next_step: Step | None = None
    states: dict[str, StepState] = field(default_factory=dict)

    @property
    def done_count(self) -> int:
        return sum(1 for item in self.items if item.status in ("acknowledged", "verified"))


def progress(
    legal_entity: LegalEntity,
    attempt: ConnectionAttempt | None,
    *,
    urls: Mapping[str, str],
    viewed: Step | str | None = None,
    steps: tuple[Step, ...] | None = None,
    profile_status: ApiSyncProfile.Status | None = None,
) -> Progress:
    """Every step's state for the rail (``steps`` limits it, e.g. to the hand-off's)."""
    states = {state.step: state for state in (attempt.steps.all() if attempt else [])}
    if profile_status is None and (steps is None or Step.API_SYNC_PROFILE in steps):
        profile_status = api_sync_profile_status(legal_entity)
    next_step = current_step(list(states.values())) if states else Step.PRE_CONNECTION
    pages = step_pages()
    items = []
    for step in steps or tuple(Step):
        state = states.get(step.value)
        status = state.status if state is not None else StepState.Status.PENDING
        if step == Step.API_SYNC_PROFILE:
            status = "verified" if profile_status == ApiSyncProfile.Status.READY else "waiting"
        elif (
            step == Step.SMARTSYNC
            and status == StepState.Status.PENDING
            and profile_status != ApiSyncProfile.Status.READY
        ):
            status = "later"
        items.append(
            RailItem(
                step=step,
                number=pages[step].number,
                label=str(step.label),
                status=str(status),
                url=urls.get(step.value, ""),
                is_viewed=viewed is not None and step == viewed,
                is_next=step == next_step,
                reason=state.reason if state is not None else "",
                verified_at=state.verified_at if state is not None else None,
                acknowledged_at=state.acknowledged_at if state is not None else None,
            )
        )
    return Progress(items=items, next_step=next_step, states=states)


# --- The verification report, as the pages show it ------------------------------------------------

SLOW_AFTER = timedelta(seconds=30)

#: Labels for the report's step keys (``intacct.errors.GUIDE_STEPS`` plus ``transient``).
REPORT_STEP_LABELS = {
    "transient": "Intacct reachable",
    "sender_config": "Our Web Services sender",
    "ws_subscription": "Web Services subscription",
    "ws_user": "Web Services user signs in",
    "role_permissions": "Role permissions",
    "role_assignment": "Role assigned to the user",
    "sender_authorization": "Sender ID authorized",
    "custom_field": "AP Bill custom field",
    "credentials": "Credentials accepted",
    "entity": "Entity",
}

OUTCOME_DISPLAY: dict[str, tuple[str, str]] = {
    "passed": ("Passed", "✔"),
    "failed": ("Failed", "✕"),
    "skipped": ("Skipped", "–"),
    "granted": ("Granted", "✔"),
    "missing": ("Missing", "✕"),
    "not_applicable": ("Not applicable", "–"),
    "not_checked": ("Not checked", "?"),
}


def outcome_display(outcome: str) -> tuple[str, str]:
    return OUTCOME_DISPLAY.get(outcome, (outcome.replace("_", " ").capitalize(), "•"))


def permission_row(key: str) -> PermissionRow | None:
    """The guide's row for a report key; a user-defined dimension reports under its own key."""
    for row in PERMISSION_ROWS:
        if key == row.key:
            return row
    if key.startswith(UDD_ROW_KEY):
        return next(row for row in PERMISSION_ROWS if row.key == UDD_ROW_KEY)
    return None


def present_report(
    report: Mapping[str, Any] | None,
    run: VerificationRun | None,
    *,
    step_urls: Mapping[str, str],
    handoff: bool = False,
) -> dict[str, Any] | None:
    """The verification report with what the template needs beside each line: the outcome as text
    and icon, the remedy, and the link to the wizard step that fixes it."""
    if run is None:
        return None
    pages = step_pages()
    data: dict[str, Any] = {
        "run": run,
        "state": run.state,
        "active": run.state in VerificationRun.ACTIVE,
        "error": run.state == VerificationRun.State.ERROR,
        "passed": run.state == VerificationRun.State.PASSED,
        "failed": run.state == VerificationRun.State.FAILED,
        "ok": bool(report and report.get("ok")),
        "steps": [],
        "permissions": [],
        "custom_field": None,
        "unreachable": run.state == VerificationRun.State.ERROR,
        "ours": False,
        "sign_in_causes": [],
        "round_trips": (report or {}).get("round_trips", run.round_trips),
        # A person is watching: say so when Intacct (or the worker) is slower than usual.
        "slow": run.state in VerificationRun.ACTIVE
        and timezone.now() - run.created_at > SLOW_AFTER,
    }
    if not report or data["active"]:
        return data

    for line in report.get("steps") or []:
        key = str(line.get("step", ""))
        status = str(line.get("status", ""))
        text, icon = outcome_display(status)
        failed = status == "failed"
        wizard_step = line.get("wizard_step") or step_for_intacct(key)
        ours = key == "sender_config"
        link_url = ""
        link_label = ""
        if failed and wizard_step and not ours and key != "transient":
            link_url = step_urls.get(str(wizard_step), "")
            page = pages.get(Step(str(wizard_step)))
            link_label = f"Go to step {page.number}: {page.label}" if page else ""
        if failed and key == "transient":
            data["unreachable"] = True
        if failed and ours:
            data["ours"] = True
        causes: list[str] = []
        if failed and key == "credentials":
            causes = list(SIGN_IN_CAUSES)
            data["sign_in_causes"] = causes
        message = str(line.get("message") or "")
        if handoff and key in ("credentials", "entity") and not failed:
            message = ""
        data["steps"].append(
            {
                "key": key,
                "label": REPORT_STEP_LABELS.get(key, key.replace("_", " ").capitalize()),
                "status": status,
                "status_text": text,
                "icon": icon,
                "failed": failed,
                "message": message,
                "errorno": line.get("errorno") or "",
                "remedy": str(line.get("remedy") or "") if failed and not causes else "",
                "causes": causes,
                "ours": failed and ours,
                "link_url": link_url,
                "link_label": link_label,
            }
        )

    for line in report.get("permissions") or []:
        key = str(line.get("key", ""))
        status = str(line.get("status", ""))
        text, icon = outcome_display(status)
        row = permission_row(key)
        data["permissions"].append(
            {
                "key": key,
                "row": line.get("row") or (row.label if row else key),
                "objects": line.get("objects") or [],
                "status": status,
                "status_text": text,
                "icon": icon,
                "message": line.get("message") or "",
                "screen": row.screen if row else "",
                "bad": status == "missing",
            }
        )

    custom_field = report.get("custom_field")
    if custom_field:
        found = bool(custom_field.get("found"))
        type_ok = bool(custom_field.get("type_ok"))
        data["custom_field"] = {
            "found": found,
            "type_ok": type_ok,
            "ok": found and type_ok,
            "field_id": custom_field.get("field_id", ""),
            "label": custom_field.get("label", ""),
            "datatype": custom_field.get("datatype", ""),
        }
    data["missing_count"] = sum(1 for row in data["permissions"] if row["bad"])
    data["granted_count"] = sum(1 for row in data["permissions"] if row["status"] == "granted")
    data["all_unchecked"] = bool(data["permissions"]) and all(
        row["status"] == "not_checked" for row in data["permissions"]
    )
    return data


def permission_checklist(report: Mapping[str, Any] | None) -> list[dict[str, Any]]:
    """The guide's permission table grouped by application (one role screen each), each row with
    the last run's outcome when there is one."""
    outcomes: dict[str, list[Mapping[str, Any]]] = {}
    for line in (report or {}).get("permissions") or []:
        outcomes.setdefault(str(line.get("key", "")), []).append(line)
    groups: list[dict[str, Any]] = []
    for row in PERMISSION_ROWS:
        if not groups or groups[-1]["application"] != row.application:
            groups.append({"application": row.application, "rows": []})
        line = _combined(outcomes.get(row.key, []))
        status = str(line.get("status", "")) if line else ""
        text, icon = outcome_display(status) if status else ("", "")
        groups[-1]["rows"].append(
            {
                "row": row,
                "status": status,
                "status_text": text,
                "icon": icon,
                "message": (line or {}).get("message", ""),
            }
        )
    return groups


def _combined(lines: list[Mapping[str, Any]]) -> Mapping[str, Any] | None:
    """One outcome for a row reported several times (one line per user-defined dimension): the
    worst of them, with every message."""
    if not lines:
        return None
    if len(lines) == 1:
        return lines[0]
    statuses = [str(line.get("status", "")) for line in lines]
    for status in ("missing", "not_checked", "granted", "not_applicable"):
        if status in statuses:
            break
    else:
        status = statuses[0]
    messages = [f"{line.get('row', '')}: {line.get('message', '')}" for line in lines]
    return {"status": status, "message": " ".join(messages)}


def step_extras(
    attempt: ConnectionAttempt | None,
    step: Step,
    state: StepState | None,
    step_urls: Mapping[str, str],
) -> dict[str, Any]:
    """What a step page shows beside the guide: the remedy for a failed step, and for the steps
    the checks prove row by row (role, custom field) the last check's findings."""
    extras: dict[str, Any] = {
        "remedy": "",
        "checklist": [],
        "checked_run": None,
        "last_report": None,
    }
    if state is not None and state.status == StepState.Status.FAILED and step in HANDOFF_STEPS:
        extras["remedy"] = remedy_for(step.value, guide_names())
    if step in (Step.ROLE_PERMISSIONS, Step.ROLE_ASSIGNMENT, Step.CUSTOM_FIELD):
        run = last_checked_run(attempt) if attempt is not None else None
        report = report_for(run) if run is not None else None
        extras["checked_run"] = run
        extras["checklist"] = permission_checklist(report)
        extras["last_report"] = present_report(report, run, step_urls=step_urls)
    return extras
