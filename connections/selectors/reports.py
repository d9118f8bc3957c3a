"""The verification report, read back from a run's :class:`~connections.models.CheckResult` rows
as one typed shape: the pages render it (:func:`verification_report`), the command line prints
its JSON (:meth:`VerificationReport.to_json`, the shape of ``python -m intacct check --json``).

Also what a step page shows beside the guide (:func:`step_findings`): the remedy of a failed step,
and the permission table with the last check's outcome on each row.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from connections.guide import fix_label
from connections.models import (
    HANDOFF_STEPS,
    CheckResult,
    ConnectionAttempt,
    Step,
    StepState,
    VerificationRun,
    check_label,
)
from connections.selectors.connections import last_checked_run
from connections.services.signin import guide_names
from intacct import (
    PERMISSION_ROWS,
    SIGN_IN_CAUSES,
    STEP_TRANSIENT,
    UDD_ROW_KEY,
    UNKNOWN_COMPANY,
    PermissionRow,
    remedy_for,
)

__all__ = [
    "SENDER_CONFIG_REASON",
    "ChecklistGroup",
    "ChecklistRow",
    "ReportCustomField",
    "ReportPermission",
    "ReportStep",
    "StepFindings",
    "VerificationReport",
    "permission_checklist",
    "step_findings",
    "verification_report",
]

#: A person is watching: the page says so when Intacct (or the worker) is slower than usual.
SLOW_AFTER = timedelta(seconds=30)

SENDER_CONFIG_REASON = (
    "Intacct refused our own Web Services sender credentials. This is our configuration, not "
    "yours: we have been alerted and will fix it. There is nothing to change on your side."
)

#: The step key of a failure that is ours (our sender credentials), not the customer's.
OURS = "sender_config"
_ROW_SEPARATOR = " — "
Outcome = CheckResult.Outcome


def outcome_text(status: str) -> str:
    """An outcome in words (the choice's label); an unknown one spelled out."""
    if status in Outcome.values:
        return str(Outcome(status).label)
    return status.replace("_", " ").capitalize()


def permission_row(key: str) -> PermissionRow | None:
    """The guide's row for a report key; a user-defined dimension reports under its own key."""
    for row in PERMISSION_ROWS:
        if key == row.key:
            return row
    if key.startswith(UDD_ROW_KEY):
        return next(row for row in PERMISSION_ROWS if row.key == UDD_ROW_KEY)
    return None


@dataclass(frozen=True)
class ReportStep:
    """One guide step of the report. ``wizard_step`` is the page that fixes it; ``fix_step`` is
    set when the page should link there (a failure that is the customer's to fix)."""

    key: str
    label: str
    status: str
    message: str
    errorno: str
    remedy: str
    wizard_step: Step | None
    causes: tuple[str, ...] = ()
    fix_step: Step | None = None
    fix_label: str = ""

    @property
    def failed(self) -> bool:
        return self.status == Outcome.FAILED

    @property
    def ours(self) -> bool:
        return self.failed and self.key == OURS

    @property
    def status_text(self) -> str:
        return outcome_text(self.status)


@dataclass(frozen=True)
class ReportPermission:
    """One row of the permission table (a user-defined dimension is a row of its own)."""

    key: str
    row: str
    objects: list[str]
    status: str
    message: str
    screen: str

    @property
    def bad(self) -> bool:
        return self.status == Outcome.MISSING

    @property
    def granted(self) -> bool:
        return self.status == Outcome.GRANTED

    @property
    def status_text(self) -> str:
        return outcome_text(self.status)


@dataclass(frozen=True)
class ReportCustomField:
    """What ``lookup APBILL`` found of the guide's custom field."""

    found: bool
    field_id: str
    label: str
    datatype: str | None
    is_custom: bool | None
    type_ok: bool
    status: str
    message: str

    @property
    def ok(self) -> bool:
        """Found as the step needs it (the reported type is advisory: see ``type_ok``)."""
        return self.found and self.status == Outcome.PASSED


@dataclass(frozen=True)
class VerificationReport:
    """A verification run as the pages show it and the command line prints it. A run still
    queued or running has no lines yet."""

    run: VerificationRun
    steps: list[ReportStep] = field(default_factory=list)
    permissions: list[ReportPermission] = field(default_factory=list)
    custom_field: ReportCustomField | None = None
    entities: list[dict[str, str]] = field(default_factory=list)
    user_defined_dimensions: list[dict[str, str]] = field(default_factory=list)
    #: Permissions the guide does not ask for (the audit trail): never a failure.
    optional: list[ReportPermission] = field(default_factory=list)
    slow: bool = False

    @property
    def state(self) -> str:
        return self.run.state

    @property
    def active(self) -> bool:
        return self.run.state in VerificationRun.ACTIVE

    @property
    def error(self) -> bool:
        """No verdict: Intacct could not be reached (or the queue was down)."""
        return self.run.state == VerificationRun.State.ERROR

    @property
    def passed(self) -> bool:
        return self.run.state == VerificationRun.State.PASSED

    @property
    def failed(self) -> bool:
        return self.run.state == VerificationRun.State.FAILED

    @property
    def ok(self) -> bool:
        return self.passed

    @property
    def round_trips(self) -> int:
        return self.run.round_trips

    @property
    def ours(self) -> bool:
        return any(step.ours for step in self.steps)

    @property
    def missing_count(self) -> int:
        return sum(1 for row in self.permissions if row.bad)

    @property
    def granted_count(self) -> int:
        return sum(1 for row in self.permissions if row.granted)

    @property
    def all_unchecked(self) -> bool:
        return bool(self.permissions) and all(
            row.status == Outcome.NOT_CHECKED for row in self.permissions
        )

    def to_json(self) -> dict[str, Any]:
        """The shape of ``python -m intacct check --json`` plus ``attempt``, ``run``, ``state``,
        ``finished`` and ``error`` (``connection verify --json``)."""
        return {
            "ok": self.ok,
            "attempt": str(self.run.attempt.public_id),
            "run": str(self.run.public_id),
            "state": self.run.state,
            "finished": self.run.is_finished,
            "error": self.run.error,
            "steps": [
                {
                    "step": step.key,
                    "label": step.label,
                    "status": step.status,
                    "message": step.message,
                    "errorno": step.errorno or None,
                    "remedy": step.remedy,
                    "wizard_step": step.wizard_step.value if step.wizard_step else None,
                }
                for step in self.steps
            ],
            "permissions": [
                {
                    "row": row.row,
                    "key": row.key,
                    "objects": list(row.objects),
                    "granted": row.granted,
                    "status": row.status,
                    "message": row.message,
                    "screen": row.screen,
                }
                for row in self.permissions
            ],
            "entities": self.entities,
            "custom_field": (
                {
                    "found": self.custom_field.found,
                    "field_id": self.custom_field.field_id,
                    "label": self.custom_field.label,
                    "datatype": self.custom_field.datatype,
                    "is_custom": self.custom_field.is_custom,
                    "type_ok": self.custom_field.type_ok,
                    "status": self.custom_field.status,
                    "message": self.custom_field.message,
                }
                if self.custom_field is not None
                else None
            ),
            "user_defined_dimensions": self.user_defined_dimensions,
            "optional_permissions": [
                {"key": row.key, "label": row.row, "status": row.status, "message": row.message}
                for row in self.optional
            ],
            "round_trips": self.round_trips,
        }


def verification_report(
    run: VerificationRun | None, *, for_handoff: bool = False, now: datetime | None = None
) -> VerificationReport | None:
    """The report of ``run`` (``None`` for no run). ``for_handoff``: the page is a hand-off
    link's, whose reader did not enter the credentials, so what a passed sign-in says about them
    is left out."""
    if run is None:
        return None
    now = now or timezone.now()
    if not run.is_finished:
        return VerificationReport(run=run, slow=now - run.created_at > SLOW_AFTER)
    names = guide_names()
    steps: list[ReportStep] = []
    permissions: list[ReportPermission] = []
    entities: list[dict[str, str]] = []
    dimensions: list[dict[str, str]] = []
    custom_field: ReportCustomField | None = None
    optional: list[ReportPermission] = []
    for result in sorted(run.results.all(), key=lambda result: result.position):
        if result.kind == CheckResult.Kind.STEP:
            steps.append(_step_line(result, names, for_handoff))
        elif result.kind == CheckResult.Kind.PERMISSION:
            row = permission_row(result.key)
            permissions.append(
                ReportPermission(
                    key=result.key,
                    row=result.label or (row.label if row else result.key),
                    objects=list(result.object_names),
                    status=result.outcome,
                    message=result.message,
                    screen=row.screen if row else "",
                )
            )
            if result.key == UDD_ROW_KEY and result.object_names:
                label = result.label.partition(_ROW_SEPARATOR)[2] or result.object_names[0]
                dimensions.append({"object": result.object_names[0], "label": label})
        elif result.kind == CheckResult.Kind.CUSTOM_FIELD:
            custom_field = ReportCustomField(
                found=result.outcome != Outcome.MISSING,
                field_id=result.key,
                label=result.label,
                datatype=result.detail.get("datatype"),
                is_custom=result.detail.get("is_custom"),
                # Saved before the type became advisory: the outcome said it.
                type_ok=result.detail.get("type_ok", result.outcome == Outcome.PASSED),
                status=result.outcome,
                message=result.message,
            )
        elif result.kind == CheckResult.Kind.ENTITY:
            entities.append({"id": result.key, "name": result.label, "status": result.message})
        elif result.kind == CheckResult.Kind.OPTIONAL:
            optional.append(
                ReportPermission(
                    key=result.key,
                    row=result.label,
                    objects=[],
                    status=result.outcome,
                    message=result.message,
                    screen="",
                )
            )
    return VerificationReport(
        run=run,
        steps=steps,
        permissions=permissions,
        custom_field=custom_field,
        entities=entities,
        user_defined_dimensions=dimensions,
        optional=optional,
    )


def _step_line(result: CheckResult, names: Any, for_handoff: bool) -> ReportStep:
    key = result.key
    failed = result.outcome == Outcome.FAILED
    message = SENDER_CONFIG_REASON if failed and key == OURS else result.message
    if for_handoff and not failed and key in ("credentials", "entity"):
        message = ""
    wizard_step = Step(result.remedy_step) if result.remedy_step else None
    causes: tuple[str, ...] = ()
    if failed and key == "credentials":
        # An unknown company has one cause (the first); other refusals, the usual list.
        unknown = message.startswith(UNKNOWN_COMPANY)
        causes = (SIGN_IN_CAUSES[0],) if unknown else tuple(SIGN_IN_CAUSES)
    linked = failed and wizard_step is not None and key not in (OURS, STEP_TRANSIENT)
    return ReportStep(
        key=key,
        label=check_label(key),
        status=result.outcome,
        message=message,
        errorno=result.errorno,
        remedy=remedy_for(key, names) if failed else "",
        wizard_step=wizard_step,
        causes=causes,
        fix_step=wizard_step if linked else None,
        fix_label=fix_label(wizard_step) if linked and wizard_step else "",
    )


# --- Beside the guide -------------------------------------------------------------------------------


@dataclass(frozen=True)
class ChecklistRow:
    """A row of the guide's permission table with the last run's outcome (``status`` empty when
    it was never checked)."""

    row: PermissionRow
    status: str = ""
    message: str = ""

    @property
    def status_text(self) -> str:
        return outcome_text(self.status) if self.status else ""

    @property
    def needs_attention(self) -> bool:
        return self.status in (Outcome.MISSING, Outcome.NOT_CHECKED)


@dataclass(frozen=True)
class ChecklistGroup:
    """The rows of one application: one role screen in Intacct."""

    application: str
    rows: list[ChecklistRow]


def permission_checklist(report: VerificationReport | None) -> list[ChecklistGroup]:
    """The guide's permission table grouped by application, each row with the outcome ``report``
    gave it (the worst of them, with every message, for a row reported once per user-defined
    dimension)."""
    outcomes: dict[str, list[ReportPermission]] = {}
    for line in report.permissions if report is not None else []:
        outcomes.setdefault(line.key, []).append(line)
    groups: list[ChecklistGroup] = []
    for row in PERMISSION_ROWS:
        if not groups or groups[-1].application != row.application:
            groups.append(ChecklistGroup(row.application, []))
        groups[-1].rows.append(_checklist_row(row, outcomes.get(row.key, [])))
    return groups


def _checklist_row(row: PermissionRow, lines: Sequence[ReportPermission]) -> ChecklistRow:
    if not lines:
        return ChecklistRow(row)
    if len(lines) == 1:
        return ChecklistRow(row, lines[0].status, lines[0].message)
    statuses = [line.status for line in lines]
    worst = next(
        (
            status
            for status in (Outcome.MISSING, Outcome.NOT_CHECKED, Outcome.GRANTED)
            if status in statuses
        ),
        statuses[0],
    )
    return ChecklistRow(row, worst, " ".join(f"{line.row}: {line.message}" for line in lines))


@dataclass(frozen=True)
class StepFindings:
    """What a step page shows beside the guide: the remedy for a failed Intacct-side step, and
    for the steps the checks prove row by row (role, custom field) the last check's findings."""

    remedy: str = ""
    checklist: list[ChecklistGroup] = field(default_factory=list)
    checked_run: VerificationRun | None = None
    last_report: VerificationReport | None = None


#: The steps whose page shows the last check's permission table and report.
CHECKED_ROW_BY_ROW = (Step.ROLE_PERMISSIONS, Step.ROLE_ASSIGNMENT, Step.CUSTOM_FIELD)


def step_findings(
    attempt: ConnectionAttempt | None, step: Step, state: StepState | None
) -> StepFindings:
    remedy = ""
    if state is not None and state.status == StepState.Status.FAILED and step in HANDOFF_STEPS:
        remedy = remedy_for(step.value, guide_names())
    if step not in CHECKED_ROW_BY_ROW:
        return StepFindings(remedy=remedy)
    run = last_checked_run(attempt) if attempt is not None else None
    report = verification_report(run)
    return StepFindings(
        remedy=remedy,
        checklist=permission_checklist(report),
        checked_run=run,
        last_report=report,
    )
