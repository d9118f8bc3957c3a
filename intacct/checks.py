"""The verification plan: every step of the connection guide that Intacct can prove, in guide order.

:func:`verify` signs in with the customer's credentials and proves, in **one** request for a company
without user-defined dimensions and **two** otherwise (the probes are built in
:mod:`intacct.probes`):

1. login authentication carrying every fixed probe — ``getUserPermissions`` for the web services
   user, ``lookup APBILL`` (the custom field), ``getDimensions``, and one ``query`` (``pagesize 1``)
   per object of the guide's permission table; the ``LOCATIONENTITY`` probe selects the entities'
   IDs and names, so it is also the entity list;
2. one ``query`` per user-defined dimension found by ``getDimensions``.

A sign-in failure ends the plan after the first request, except that a generic sign-in failure with
an entity ID is retried once at top level to tell a wrong entity from wrong credentials.

The :class:`Report` lists the guide's steps in order (passed / failed / skipped, with the Intacct
error number and a remedy in plain words), the permission table row by row, the AP Bill custom
field, the entities, and how many gateway requests it took (``round_trips``).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from typing import Any

from . import protocol as p
from .audit import audit_denied, audit_probe
from .client import Credentials, IntacctClient
from .errors import (
    GUIDE_STEPS,
    STEP_TRANSIENT,
    CompanyExpiredError,
    EntityError,
    GatewayError,
    IntacctError,
    NotApplicableError,
    PermissionDeniedError,
    SignInError,
    UnknownCompanyError,
    UserNotActiveError,
)
from .permissions import PERMISSION_ROWS, UDD_ROW_KEY, PermissionRow, normalise_name
from .probes import ENTITY_OBJECT, dimension_probes, entities_of, entity_query, plan_probes

#: A guide step's outcome (:attr:`StepResult.status`).
PASSED, FAILED, SKIPPED = "passed", "failed", "skipped"
#: A permission row's outcome (:attr:`PermissionResult.status`).
GRANTED, MISSING, NOT_APPLICABLE, NOT_CHECKED = (
    "granted",
    "missing",
    "not_applicable",
    "not_checked",
)

#: DATATYPE values a URL custom field may report.  Unverified: no capture of a URL field's lookup
#: exists, so the type is advisory (INTACCT.md): anything naming URL, or no type, is as the guide
#: asks; another type still passes the step, with a note on what to do if links do not work.
URL_DATATYPES = ("URL",)


@dataclass(frozen=True)
class GuideNames:
    """The names the guide asks the customer to use: the product's own, so the caller supplies
    every one (the Django app from its settings, the command line from its options).

    ``product`` is the product's name as the guide's texts say it, ``ws_user_id`` the web services
    user, ``role_name`` the API role, ``sender_id`` our Web Services Sender ID, and the
    ``custom_field_*`` names the AP Bill link-back field (label, Field ID, description).
    """

    product: str
    ws_user_id: str
    role_name: str
    sender_id: str
    custom_field_label: str
    custom_field_id: str
    custom_field_description: str


@dataclass
class StepResult:
    """One guide step's outcome."""

    step: str
    status: str
    message: str = ""
    errorno: str | None = None
    remedy: str = ""


@dataclass
class PermissionResult:
    """One row of the permission table (a user-defined dimension counts as its own row)."""

    key: str
    row: str
    objects: list[str]
    status: str
    message: str = ""
    screen: str = ""

    @property
    def granted(self) -> bool:
        return self.status == GRANTED


@dataclass
class CustomFieldResult:
    """What ``lookup APBILL`` says about the guide's custom field."""

    found: bool
    field_id: str
    label: str = ""
    datatype: str = ""
    is_custom: bool | None = None
    #: Whether the reported type is URL (or not reported): advisory, see :data:`URL_DATATYPES`.
    type_ok: bool = False


#: The optional permission that makes partial syncs cheaper (not in the guide's table).
AUDIT_TRAIL_KEY = "audit_trail"
AUDIT_TRAIL_LABEL = "Audit trail (optional): View permission for custom reports"


@dataclass
class OptionalPermission:
    """A permission the guide does not ask for, which the product uses when the role has it.
    ``status`` is :data:`GRANTED`, :data:`MISSING` or :data:`NOT_CHECKED`."""

    key: str
    label: str
    status: str
    message: str

    @property
    def granted(self) -> bool:
        return self.status == GRANTED


def audit_trail_result(result: p.Result | None, names: GuideNames) -> OptionalPermission:
    """What the audit-trail probe's answer says (``None``: not sent, the sign-in failed)."""
    if result is None:
        return OptionalPermission(
            AUDIT_TRAIL_KEY, AUDIT_TRAIL_LABEL, NOT_CHECKED, "Not checked: sign-in failed."
        )
    if result.ok:
        return OptionalPermission(
            AUDIT_TRAIL_KEY,
            AUDIT_TRAIL_LABEL,
            GRANTED,
            "Granted: partial syncs find deletions in Intacct's audit trail with one query for "
            "every object, instead of listing every record's key.",
        )
    error = result.error()
    if error is not None and not audit_denied(error):
        return OptionalPermission(
            AUDIT_TRAIL_KEY,
            AUDIT_TRAIL_LABEL,
            NOT_CHECKED,
            f"Not checked: Intacct did not answer the audit-trail query ({error.message}).",
        )
    return OptionalPermission(
        AUDIT_TRAIL_KEY,
        AUDIT_TRAIL_LABEL,
        MISSING,
        "Not granted. Optional: without it, partial syncs list every record's key to find "
        "deletions, which costs more API transactions. To make them cheaper, in Company → Roles "
        f"edit the role '{names.role_name}' and, under Platform Services, give Custom reports "
        "the View permission.",
    )


@dataclass
class Report:
    """The outcome of :func:`verify`.  ``steps`` are in guide order; the first failed one is the
    one to fix."""

    steps: list[StepResult]
    permissions: list[PermissionResult] = field(default_factory=list)
    entities: list[dict[str, str]] = field(default_factory=list)
    custom_field: CustomFieldResult | None = None
    user_defined_dimensions: list[dict[str, str]] = field(default_factory=list)
    round_trips: int = 0
    #: The fields ``lookup`` lists for each object asked about (``field_objects``), by object
    #: name; an object whose lookup failed is absent.
    fields: dict[str, tuple[str, ...]] = field(default_factory=dict)
    #: Permissions the guide does not ask for (the audit trail), checked in the first request.
    optional: list[OptionalPermission] = field(default_factory=list)
    #: Sign-ins Intacct refused (wrong company, user or password, or the user inactive): 0, 1,
    #: or 2 when a refusal with an entity ID was tried again at top level and refused too.
    sign_ins_refused: int = 0

    @property
    def audit_trail(self) -> bool | None:
        """Whether the role may read the audit trail (``None``: not known)."""
        found = next((o for o in self.optional if o.key == AUDIT_TRAIL_KEY), None)
        if found is None or found.status == NOT_CHECKED:
            return None
        return found.granted

    @property
    def ok(self) -> bool:
        return all(s.status != FAILED for s in self.steps)

    @property
    def first_failure(self) -> StepResult | None:
        return next((s for s in self.steps if s.status == FAILED), None)

    def step(self, key: str) -> StepResult:
        return next(s for s in self.steps if s.step == key)

    def to_json(self) -> dict[str, Any]:
        """The command line's ``--json`` shape."""
        return {
            "ok": self.ok,
            "steps": [
                {
                    "step": s.step,
                    "status": s.status,
                    "message": s.message,
                    "errorno": s.errorno,
                    "remedy": s.remedy,
                }
                for s in self.steps
            ],
            "permissions": [
                {
                    "row": r.row,
                    "key": r.key,
                    "objects": r.objects,
                    "granted": r.granted,
                    "status": r.status,
                    "message": r.message,
                }
                for r in self.permissions
            ],
            "entities": [{"id": e["id"], "name": e["name"]} for e in self.entities],
            "custom_field": asdict(self.custom_field) if self.custom_field else None,
            "user_defined_dimensions": self.user_defined_dimensions,
            "optional_permissions": [asdict(o) for o in self.optional],
            "round_trips": self.round_trips,
        }


#: What a refusal of the company ID itself (HTTP 400 invalidRequest) is reported as.
UNKNOWN_COMPANY = "Intacct does not know this company ID"
_COMPANY_ID_HINT = (
    "enter only the Company ID part of your Intacct login, with no spaces (Company → Company "
    "Info shows it)."
)
#: The likely causes of a generic sign-in failure, most likely first (the credentials remedy);
#: the first is an unknown company's only one.
SIGN_IN_CAUSES = (
    f"The company ID is wrong: {_COMPANY_ID_HINT}",
    "The user is not a Web Services user (Company → Web Services Users), or is a normal user "
    "with two-step verification.",
    "The password was changed or has expired: set a new one on the Web Services user and enter it "
    "again here.",
    "The user is inactive or locked out: check its Status on Company → Web Services Users.",
    "The entity ID is wrong (entity-level connections): Company → Entities lists the IDs.",
)


def remedy_for(step: str, names: GuideNames) -> str:
    """What to do, in plain words, when ``step`` failed (``""`` for a step without a remedy)."""
    n = names
    remedies = {
        "sender_config": (
            f"{n.product}'s own Web Services sender credentials were refused. This is ours to fix, "
            "not yours: our team has been alerted."
        ),
        "ws_subscription": ("In Intacct, go to Company → Subscriptions and turn on Web Services."),
        "ws_user": (
            f"In Intacct, go to Company → Web Services Users and make sure the user "
            f"'{n.ws_user_id}' exists with User Type Business, Admin Privileges Limited and "
            "Status Active."
        ),
        "role_permissions": (
            f"In Intacct, go to Company → Roles, edit the role '{n.role_name}' and grant the "
            "missing permissions listed below."
        ),
        "role_assignment": (
            f"None of the permissions reached the user: in Company → Web Services Users, edit "
            f"'{n.ws_user_id}', open Role Information and add the role '{n.role_name}', then save "
            "and confirm with the password."
        ),
        "sender_authorization": (
            "In Intacct, go to Company → Company Info → Edit → Security → Web Services "
            f"Authorization, click + and enter the Sender ID {n.sender_id} exactly (it is "
            "case-sensitive)."
        ),
        "custom_field": (
            "In Intacct, go to Platform Services → Custom Fields → Add, choose Object AP Bill and "
            f"Data Type URL, Label '{n.custom_field_label}', Field ID '{n.custom_field_id}', "
            f"Description '{n.custom_field_description}'."
        ),
        "credentials": "Check the sign-in details. Likely causes, most likely first: "
        + " ".join(f"({i}) {c}" for i, c in enumerate(SIGN_IN_CAUSES, 1)),
        "entity": (
            "The entity ID was not accepted. Pick the entity from the list Intacct returns, or "
            "check Company → Entities for its ID. Leave the entity blank for a top-level "
            "connection."
        ),
        STEP_TRANSIENT: "Intacct is busy or could not be reached. Nothing is lost: try again in "
        "a few minutes.",
    }
    return remedies.get(step, "")


def _steps(
    status: str = SKIPPED, message: str = "Not checked: an earlier step failed."
) -> dict[str, StepResult]:
    return {k: StepResult(k, status, message) for k in GUIDE_STEPS}


def verify(
    client: IntacctClient,
    *,
    names: GuideNames,
    rows: Sequence[PermissionRow] = PERMISSION_ROWS,
    field_objects: Sequence[str] = (),
) -> Report:
    """Run the verification plan with ``client``'s credentials and return the report; ``names``
    are the guide's names the customer was asked to use (they appear in messages and remedies,
    and ``names.custom_field_id`` is the AP Bill field looked for).

    ``field_objects``: objects whose fields to learn (``lookup``, in the same first request):
    :attr:`Report.fields`, so a sync asks only for fields the company has.

    Never raises for Intacct's answers: every failure becomes a failed step.
    """
    creds = client.credentials
    start_trips = client.round_trips
    steps = _steps()
    report = Report(steps=[])

    plan = plan_probes(creds.user_id, rows)
    probes = plan.objects

    lookups = {name: p.lookup(name) for name in dict.fromkeys(field_objects)}
    audit = audit_probe()
    try:
        response = client.send([*plan.functions, *lookups.values(), audit], login=creds.login())
    except IntacctError as err:
        first = err
        err = _disambiguate_entity(client, creds, err)
        if isinstance(err, SignInError):
            # Refused with an entity ID, then at top level too: two refusals at Intacct.
            report.sign_ins_refused = 2 if creds.entity_id and type(first) is SignInError else 1
        report.steps = _failed_sign_in(steps, err, names)
        report.permissions = [_unchecked(r, "Not checked: sign-in failed.") for r in rows]
        report.optional = [audit_trail_result(None, names)]
        report.round_trips = client.round_trips - start_trips
        return report
    report.optional = [audit_trail_result(response.result_for(audit.controlid), names)]

    for name, fn in lookups.items():
        looked = response.result_for(fn.controlid)
        if looked.ok:
            report.fields[name] = tuple(f.id for f in p.lookup_fields_of(looked))

    for key in (
        "sender_config",
        "ws_subscription",
        "ws_user",
        "sender_authorization",
        "credentials",
    ):
        steps[key] = StepResult(key, PASSED, _signed_in_message(key, creds, names))

    # Entities: the LOCATIONENTITY probe doubles as the list.
    ent_result = (
        response.result_for(probes[ENTITY_OBJECT].controlid) if ENTITY_OBJECT in probes else None
    )
    if ent_result is not None and ent_result.ok:
        report.entities = entities_of(ent_result)
    steps["entity"] = _entity_step(creds, report)

    # Policies (write rights, Application Subscriptions).
    perms_result = response.result_for(plan.permissions.controlid)
    policies: list[p.Policy] | None = None
    policies_error = ""
    if perms_result.ok:
        policies = p.policies_of(perms_result)
    else:
        perms_err = perms_result.error()
        policies_error = perms_err.description if perms_err else "no answer"

    # User-defined dimensions, probed in a second request.
    dims_result = response.result_for(plan.dimensions.controlid)
    udds: list[p.Dimension] = []
    dims_error = ""
    if dims_result.ok:
        udds = [d for d in p.dimensions_of(dims_result) if d.user_defined and d.object_name]
    else:
        e = dims_result.error()
        dims_error = e.description if e else "no answer"
    report.user_defined_dimensions = [
        {"object": d.object_name, "label": d.object_label or d.term_label} for d in udds
    ]
    udd_results: dict[str, p.Result] = {}
    udd_error = ""
    if udds:
        udd_fns = dimension_probes(udds)
        try:
            second = client.send(list(udd_fns.values()), login=creds.login())
            udd_results = {o: second.result_for(f.controlid) for o, f in udd_fns.items()}
        except IntacctError as err:
            udd_error = str(err)

    # The permission table, row by row.
    results: list[PermissionResult] = []
    for row in rows:
        if row.key == UDD_ROW_KEY:
            results.extend(
                _udd_rows(row, udds, udd_results, udd_error or dims_error, dims_result.ok)
            )
            continue
        object_results = [response.result_for(probes[o].controlid) for o in row.objects]
        results.append(_judge_row(row, object_results, policies, policies_error))
    report.permissions = results
    steps["role_permissions"], steps["role_assignment"] = _role_steps(results, names)

    # The AP Bill custom field.
    lookup_result = response.result_for(plan.custom_field.controlid)
    steps["custom_field"], report.custom_field = _custom_field_step(lookup_result, names)

    report.steps = _ordered(steps, names)
    report.round_trips = client.round_trips - start_trips
    return report


def list_entities(client: IntacctClient) -> list[dict[str, str]]:
    """The company's entities (``LOCATIONENTITY``), signed in at top level: the wizard's entity
    picker.  Empty for a company without multi-entity."""
    fn = entity_query()
    response = client.send([fn], login=client.credentials.login(entity_id=False))
    result = response.result_for(fn.controlid)
    if not result.ok:
        err = result.error()
        if isinstance(err, NotApplicableError):
            return []
        assert err is not None
        raise err
    return entities_of(result)


# --- helpers ------------------------------------------------------------------------------------


def _disambiguate_entity(
    client: IntacctClient, creds: Credentials, err: IntacctError
) -> IntacctError:
    """A generic sign-in failure with an entity: sign in at top level once to tell which it is."""
    if not creds.entity_id or type(err) is not SignInError:
        return err
    fn = p.get_api_session("")
    try:
        client.send([fn], login=creds.login(entity_id=False))
    except IntacctError:
        return err  # top level fails too: the credentials themselves are wrong
    assert isinstance(err, GatewayError)
    return EntityError(err.errors, level=err.level, http_status=err.http_status)


def _failed_sign_in(
    steps: dict[str, StepResult], err: IntacctError, names: GuideNames
) -> list[StepResult]:
    step = err.step or "credentials"
    errorno = err.errorno if isinstance(err, GatewayError) else None
    detail = err.description if isinstance(err, GatewayError) and err.description else str(err)
    if step == STEP_TRANSIENT:
        transient = StepResult(
            STEP_TRANSIENT,
            FAILED,
            f"Intacct did not complete the check: {detail}",
            errorno,
            remedy_for(STEP_TRANSIENT, names),
        )
        return [transient, *_ordered(steps, names)]
    if step not in steps:
        step = "credentials"
    message = _failure_message(step, err, detail)
    remedy = remedy_for(step, names)
    if isinstance(err, UnknownCompanyError):
        # Only the company ID can be at fault: not the list of every sign-in cause.
        remedy = (
            f"Check the company ID: {_COMPANY_ID_HINT} A console login (ending in -console or "
            "the like) is not a company ID."
        )
    steps[step] = StepResult(step, FAILED, message, errorno, remedy)
    # What the failure proves about the steps before it.
    order = list(GUIDE_STEPS)
    if step != "sender_config":
        steps["sender_config"] = StepResult(
            "sender_config", PASSED, "Our sender credentials were accepted."
        )
    if isinstance(err, EntityError):
        for key in ("ws_subscription", "ws_user", "sender_authorization", "credentials"):
            steps[key] = StepResult(key, PASSED, "Signed in at top level.")
    for key in order:
        if steps[key].status == SKIPPED and key != step:
            steps[key].message = "Not checked: sign-in failed at an earlier point."
    return _ordered(steps, names)


def _failure_message(step: str, err: IntacctError, detail: str) -> str:
    if step == "credentials":
        prefix = "Intacct refused the sign-in"
        if isinstance(err, UnknownCompanyError):
            prefix = UNKNOWN_COMPANY
        return f"{prefix}: {detail}"
    if isinstance(err, UserNotActiveError):
        return f"The web services user cannot sign in: {detail}"
    if isinstance(err, CompanyExpiredError):
        return f"The Intacct company has expired: {detail}"
    labels = {
        "sender_config": "Our Web Services sender credentials were refused",
        "ws_subscription": "The company is not subscribed to Web Services",
        "sender_authorization": "Our Sender ID is not authorized for this company",
        "entity": "The entity ID was not accepted",
    }
    return f"{labels.get(step, 'Intacct refused the request')}: {detail}"


def _signed_in_message(key: str, creds: Credentials, names: GuideNames) -> str:
    return {
        "sender_config": "Our sender credentials were accepted.",
        "ws_subscription": "Web Services is on: the gateway answered for this company.",
        "ws_user": f"Signed in as the web services user '{creds.user_id}'.",
        "sender_authorization": f"The Sender ID {names.sender_id} is authorized.",
        "credentials": f"Company '{creds.company_id}' accepted the credentials.",
    }[key]


def _entity_step(creds: Credentials, report: Report) -> StepResult:
    if not creds.entity_id:
        return StepResult("entity", PASSED, "Top-level connection: no entity ID (all entities).")
    # Intacct accepted the sign-in with this entity ID: that proves it.
    return StepResult("entity", PASSED, f"Signed in to entity '{creds.entity_id}'.")


def _unchecked(row: PermissionRow, why: str) -> PermissionResult:
    return PermissionResult(row.key, row.label, list(row.objects), NOT_CHECKED, why, row.screen)


def _policy_for(row: PermissionRow, policies: list[p.Policy]) -> p.Policy | None:
    wanted = {normalise_name(n) for n in row.policy_names}
    app = normalise_name(row.application)
    matches = [pol for pol in policies if normalise_name(pol.name) in wanted]
    same_app = [pol for pol in matches if normalise_name(pol.application) == app]
    found = same_app or matches
    return found[0] if found else None


def _judge_row(
    row: PermissionRow,
    object_results: list[p.Result],
    policies: list[p.Policy] | None,
    policies_error: str,
) -> PermissionResult:
    def res(status: str, message: str) -> PermissionResult:
        return PermissionResult(row.key, row.label, list(row.objects), status, message, row.screen)

    missing, not_applicable, unchecked = [], [], []
    for r in object_results:
        if r.ok:
            continue
        err = r.error()
        if isinstance(err, PermissionDeniedError):
            missing.append(err)
        elif isinstance(err, NotApplicableError):
            not_applicable.append(err)
        else:
            unchecked.append(err)
    if missing:
        return res(
            MISSING,
            f"Missing: {row.permissions} on {row.activity}. Intacct said: {missing[0].description}",
        )
    if not_applicable and len(not_applicable) == len(object_results):
        cond = f" (needs {row.only_when})" if row.only_when else ""
        return res(NOT_APPLICABLE, f"Not used by this company{cond}.")
    if unchecked:
        return res(NOT_CHECKED, f"Could not be checked: {unchecked[0]}")
    if not row.policy_rights:
        return res(GRANTED, f"{row.permissions} granted.")
    # Rights a read cannot prove: ask the user's effective permissions.
    if policies is None:
        return res(
            NOT_CHECKED,
            "Intacct did not disclose the user's permissions"
            + (f" ({policies_error})" if policies_error else "")
            + f": check {row.permissions} on {row.activity} by hand.",
        )
    policy = _policy_for(row, policies)
    rights = {normalise_name(r) for r in (policy.rights if policy else ())}
    lacking = [r for r in row.policy_rights if normalise_name(r) not in rights]
    if policy is None or lacking:
        what = ", ".join(lacking or row.policy_rights)
        return res(MISSING, f"Missing: {what} on {row.activity}.")
    return res(GRANTED, f"{row.permissions} granted.")


def _udd_rows(
    row: PermissionRow,
    udds: list[p.Dimension],
    udd_results: dict[str, p.Result],
    error: str,
    dims_ok: bool,
) -> list[PermissionResult]:
    if not dims_ok:
        return [
            PermissionResult(
                row.key,
                row.label,
                [],
                NOT_CHECKED,
                f"Could not list the dimensions: {error}",
                row.screen,
            )
        ]
    if not udds:
        return [
            PermissionResult(
                row.key,
                row.label,
                [],
                NOT_APPLICABLE,
                "The company has no user-defined dimensions.",
                row.screen,
            )
        ]
    out = []
    for d in udds:
        label = f"{row.application} — {d.object_label or d.term_label or d.object_name}"
        r = udd_results.get(d.object_name)
        if r is None:
            out.append(
                PermissionResult(
                    row.key,
                    label,
                    [d.object_name],
                    NOT_CHECKED,
                    f"Could not be checked: {error}",
                    row.screen,
                )
            )
            continue
        judged = _judge_row(
            PermissionRow(
                row.key,
                row.application,
                d.object_label or d.object_name,
                "View",
                (d.object_name,),
                "list",
            ),
            [r],
            None,
            "",
        )
        judged.row = label
        judged.screen = row.screen
        out.append(judged)
    return out


def _role_steps(
    results: list[PermissionResult], names: GuideNames
) -> tuple[StepResult, StepResult]:
    judged = [r for r in results if r.status in (GRANTED, MISSING)]
    missing = [r for r in judged if r.status == MISSING]
    if judged and len(missing) == len(judged):
        return (
            StepResult(
                "role_permissions",
                SKIPPED,
                "Not judged: no permission reached the user, so the role is most likely "
                "not assigned (next step).",
            ),
            StepResult(
                "role_assignment",
                FAILED,
                f"Every permission is missing: the role '{names.role_name}' is most likely "
                "not assigned to the web services user.",
                "PL04000005",
                remedy_for("role_assignment", names),
            ),
        )
    if missing:
        rows = ", ".join(r.row for r in missing)
        return (
            StepResult(
                "role_permissions",
                FAILED,
                f"{len(missing)} permission(s) missing: {rows}.",
                "PL04000005",
                remedy_for("role_permissions", names),
            ),
            StepResult(
                "role_assignment",
                PASSED,
                "The role is assigned (some permissions reached the user).",
            ),
        )
    unchecked = [r for r in results if r.status == NOT_CHECKED]
    note = f" {len(unchecked)} row(s) could not be checked." if unchecked else ""
    return (
        StepResult("role_permissions", PASSED, f"Every applicable permission is granted.{note}"),
        StepResult("role_assignment", PASSED, "The role is assigned to the web services user."),
    )


def _field_id_matches(field_id: str, wanted: str) -> bool:
    a, b = field_id.strip().upper(), wanted.strip().upper()
    return a == b or a.removesuffix("__C") == b


def _custom_field_step(
    result: p.Result, names: GuideNames
) -> tuple[StepResult, CustomFieldResult | None]:
    remedy = remedy_for("custom_field", names)
    if not result.ok:
        err = result.error()
        why = err.description if err else "no answer"
        status = FAILED if isinstance(err, NotApplicableError) else SKIPPED
        return StepResult(
            "custom_field",
            status,
            f"Could not read the AP Bill definition: {why}",
            err.errorno if err else None,
            remedy,
        ), None
    fields = p.lookup_fields_of(result)
    matches = [f for f in fields if _field_id_matches(f.id, names.custom_field_id)]
    # A custom field before a standard one of the same name (ISCUSTOM false), if both exist.
    match = min(matches, key=lambda f: f.is_custom is False, default=None)
    if match is not None and match.is_custom is False:
        return StepResult(
            "custom_field",
            FAILED,
            f"AP Bill's field '{match.id}' is one of Intacct's own (ISCUSTOM false), not the "
            f"custom field the guide adds: add a custom field with Field ID "
            f"'{names.custom_field_id}'.",
            None,
            remedy,
        ), CustomFieldResult(False, names.custom_field_id)
    if match is None:
        return StepResult(
            "custom_field",
            FAILED,
            f"AP Bill has no custom field with Field ID '{names.custom_field_id}'.",
            None,
            remedy,
        ), CustomFieldResult(False, names.custom_field_id)
    datatype = match.datatype.strip().upper()
    type_ok = not datatype or any(t in datatype for t in URL_DATATYPES)
    info = CustomFieldResult(True, match.id, match.label, match.datatype, match.is_custom, type_ok)
    if not type_ok:
        # Advisory: Intacct may report a URL field's type otherwise (unverified).
        return StepResult(
            "custom_field",
            PASSED,
            f"AP Bill custom field '{match.id}' ({match.label}) found; Intacct reports its data "
            f"type as {match.datatype}, and the guide asks for URL. If the link on a bill in "
            "Intacct does not open our page, delete the field and add it again with Data Type "
            "URL.",
        ), info
    shown = match.datatype or "not reported"
    return StepResult(
        "custom_field",
        PASSED,
        f"AP Bill custom field '{match.id}' ({match.label}) found, type {shown}.",
    ), info


def _ordered(steps: dict[str, StepResult], names: GuideNames) -> list[StepResult]:
    out = []
    for key in GUIDE_STEPS:
        s = steps[key]
        if s.status == FAILED and not s.remedy:
            s.remedy = remedy_for(key, names)
        out.append(s)
    return out
