"""The verification plan against every sandbox scenario: the right guide step fails, in one or two
gateway requests, and the report says row by row what is granted or missing."""

from __future__ import annotations

import dataclasses

import pytest

from intacct import protocol as p
from intacct.checks import FAILED, PASSED, SKIPPED, GuideNames, list_entities, remedy_for, verify
from intacct.errors import GUIDE_STEPS
from intacct.sandbox import get_scenario
from intacct.sandbox.world import Sandbox

from .conftest import NAMES, ConnectFactory

# company, entity, the first failed step (None = healthy)
SCENARIOS = [
    ("healthy-top", None, None),
    ("healthy-multi", None, None),
    ("healthy-multi", "E100", None),
    ("no-subscription", None, "ws_subscription"),
    ("sender-not-authorized", None, "sender_authorization"),
    ("bad-password", None, "credentials"),
    ("bad-password-401", None, "credentials"),
    ("unknown-company", None, "credentials"),
    ("missing-permissions", None, "role_permissions"),
    ("no-role", None, "role_assignment"),
    ("no-custom-field", None, "custom_field"),
    # The reported type is advisory (unverified for a URL field): the step passes with a note.
    ("wrong-custom-field-type", None, None),
    ("bad-entity", "E100", "entity"),
    ("rate-limited", None, None),
    ("flaky", None, None),
    ("bad-sender-password", None, "sender_config"),
    ("demo-expired", None, "ws_subscription"),
]


@pytest.mark.parametrize(("company", "entity", "failing"), SCENARIOS)
def test_verify_names_the_failing_step(
    connect: ConnectFactory, company: str, entity: str | None, failing: str | None
) -> None:
    report = verify(connect(company, entity), names=NAMES)
    first = report.first_failure
    assert (first.step if first else None) == failing, report.to_json()["steps"]
    assert report.ok is (failing is None)
    assert [s.step for s in report.steps] == list(GUIDE_STEPS)
    if first is not None:
        assert first.remedy, "a failed step always says how to fix it"
        later = report.steps[report.steps.index(first) + 1 :]
        assert all(s.status != PASSED or s.step != first.step for s in later)


@pytest.mark.parametrize("company", ["healthy-top", "healthy-multi", "missing-permissions"])
def test_a_signed_in_company_is_verified_in_at_most_two_requests(
    connect: ConnectFactory, company: str
) -> None:
    report = verify(connect(company), names=NAMES)
    assert 1 <= report.round_trips <= 2


def test_a_company_without_user_defined_dimensions_takes_one_request(
    connect: ConnectFactory, world: Sandbox
) -> None:
    no_udds = dataclasses.replace(get_scenario("healthy_top"), udds=())
    world.company("healthy-top").set_scenario(no_udds)
    report = verify(connect("healthy-top"), names=NAMES)
    assert report.round_trips == 1
    udd = [r for r in report.permissions if r.key == "user_defined_dimensions"]
    assert [r.status for r in udd] == ["not_applicable"]


def test_verify_reports_missing_permissions_row_by_row(connect: ConnectFactory) -> None:
    report = verify(connect("missing-permissions"), names=NAMES)
    by_key = {r.key: r for r in report.permissions}
    assert {k for k, r in by_key.items() if r.status == "missing"} == {
        "vendors",
        "gl_accounts",
        "ap_terms",
    }
    assert by_key["vendors"].objects == ["VENDOR"]
    assert not by_key["vendors"].granted
    assert by_key["departments"].granted
    step = report.step("role_permissions")
    assert step.status == FAILED
    assert "Accounts Payable — Vendors" in step.message
    assert report.step("role_assignment").status == PASSED


def test_no_role_points_at_the_assignment_not_the_table(connect: ConnectFactory) -> None:
    report = verify(connect("no-role"), names=NAMES)
    assert report.step("role_permissions").status == SKIPPED
    assert report.step("role_assignment").status == FAILED
    judged = [r for r in report.permissions if r.status in ("granted", "missing")]
    assert judged
    assert all(r.status == "missing" for r in judged)


def test_modules_the_company_lacks_are_not_applicable_not_failures(
    connect: ConnectFactory,
) -> None:
    report = verify(connect("healthy-top"), names=NAMES)
    statuses = {r.status for r in report.permissions}
    assert "missing" not in statuses
    assert "not_applicable" in statuses
    assert report.ok


def test_write_rights_come_from_get_user_permissions(connect: ConnectFactory) -> None:
    report = verify(connect("healthy-top"), names=NAMES)
    by_key = {r.key: r for r in report.permissions}
    assert by_key["bills"].status == "granted"
    assert by_key["pay_bills"].status == "granted"
    assert by_key["application_subscriptions"].status == "granted"


def test_custom_field_found_with_url_type(connect: ConnectFactory) -> None:
    report = verify(connect("healthy-top"), names=NAMES)
    cf = report.custom_field
    assert cf is not None
    assert cf.found
    assert cf.type_ok
    assert cf.field_id.upper() == "BEANWORKS"


def test_another_custom_field_type_passes_with_a_note_naming_both_types(
    connect: ConnectFactory,
) -> None:
    """Unverified what DATATYPE Intacct reports for a URL custom field (INTACCT.md: match on ID
    and ISCUSTOM, the type is advisory): a field of another reported type passes, saying which
    type was reported and what to do if links do not open."""
    report = verify(connect("wrong-custom-field-type"), names=NAMES)
    step = report.step("custom_field")
    assert step.status == PASSED
    assert "TEXT" in step.message
    assert "URL" in step.message
    assert report.custom_field is not None
    assert report.custom_field.found
    assert not report.custom_field.type_ok


def _lookup(*fields: str) -> p.Result:
    body = (
        '<?xml version="1.0" encoding="UTF-8"?><response><control><status>success</status>'
        "</control><operation><authentication><status>success</status><userid>u</userid>"
        "<companyid>c</companyid></authentication><result><status>success</status>"
        '<function>lookup</function><controlid>f</controlid><data listtype="All" count="1">'
        '<Type Name="APBILL"><Fields>' + "".join(fields) + "</Fields></Type></data></result>"
        "</operation></response>"
    )
    [result] = p.parse_response(body.encode()).results
    return result


def _field(field_id: str, datatype: str | None = "URL", iscustom: str | None = "true") -> str:
    parts = [f"<ID>{field_id}</ID><LABEL>Link</LABEL>"]
    if datatype is not None:
        parts.append(f"<DATATYPE>{datatype}</DATATYPE>")
    if iscustom is not None:
        parts.append(f"<ISCUSTOM>{iscustom}</ISCUSTOM>")
    return "<Field>" + "".join(parts) + "</Field>"


@pytest.mark.parametrize(
    ("fields", "status", "found"),
    [
        ([_field("BEANWORKS")], PASSED, True),
        ([_field("BEANWORKS", datatype=None, iscustom=None)], PASSED, True),
        ([_field("BEANWORKS", datatype="WEBURL")], PASSED, True),
        ([_field("BEANWORKS", iscustom="false")], FAILED, False),
        ([_field("BEANWORKS", iscustom="false"), _field("BEANWORKS")], PASSED, True),
        ([_field("OTHER")], FAILED, False),
    ],
    ids=["url", "nothing-reported", "type-naming-url", "standard-field", "custom-wins", "absent"],
)
def test_the_custom_field_matches_on_its_id_and_iscustom(
    fields: list[str], status: str, found: bool
) -> None:
    from intacct.checks import _custom_field_step

    step, info = _custom_field_step(_lookup(*fields), NAMES)
    assert step.status == status
    assert info is not None
    assert info.found is found


def test_custom_field_id_comes_from_the_guide_names(connect: ConnectFactory) -> None:
    names = dataclasses.replace(NAMES, custom_field_id="OTHERPRODUCT")
    report = verify(connect("healthy-top"), names=names)
    assert report.step("custom_field").status == FAILED
    assert "OTHERPRODUCT" in report.step("custom_field").message


def test_entities_are_listed_for_the_picker(connect: ConnectFactory) -> None:
    report = verify(connect("healthy-multi"), names=NAMES)
    ids = [e["id"] for e in report.entities]
    assert ids == ["E100", "E200", "E300"]
    assert all(e["name"] for e in report.entities)
    assert [e["id"] for e in list_entities(connect("healthy-multi", "E200"))] == ids


def test_single_entity_company_lists_no_entities(connect: ConnectFactory) -> None:
    assert list_entities(connect("healthy-top")) == []


def test_unknown_entity_is_told_apart_from_wrong_credentials(connect: ConnectFactory) -> None:
    entity_report = verify(connect("healthy-multi", "E999"), names=NAMES)
    assert entity_report.first_failure is not None
    assert entity_report.first_failure.step == "entity"
    # The same wrong entity with a wrong password is a credentials problem.
    creds_report = verify(connect("healthy-multi", "E999", password="wrong"), names=NAMES)
    assert creds_report.first_failure is not None
    assert creds_report.first_failure.step == "credentials"


def test_sign_in_failure_lists_the_likely_causes_in_order(connect: ConnectFactory) -> None:
    report = verify(connect("bad-password"), names=NAMES)
    remedy = report.step("credentials").remedy
    positions = [
        remedy.index(word)
        for word in ("company ID", "Web Services user", "password", "locked out", "entity ID")
    ]
    assert positions == sorted(positions)


def test_sender_failure_is_ours_and_says_so(connect: ConnectFactory) -> None:
    report = verify(connect("bad-sender-password"), names=NAMES)
    first = report.first_failure
    assert first is not None
    assert first.step == "sender_config"
    assert "ours to fix" in first.remedy


def test_json_shape(connect: ConnectFactory) -> None:
    data = verify(connect("missing-permissions"), names=NAMES).to_json()
    assert set(data) >= {"ok", "steps", "permissions", "entities", "round_trips"}
    assert data["ok"] is False
    for s in data["steps"]:
        assert set(s) >= {"step", "status", "message", "errorno"}
        assert s["status"] in ("passed", "failed", "skipped")
    for r in data["permissions"]:
        assert set(r) >= {"row", "objects", "granted", "status"}
        assert r["status"] in ("granted", "missing", "not_applicable", "not_checked")
        assert r["granted"] is (r["status"] == "granted")


def test_fixing_the_company_turns_the_report_green(connect: ConnectFactory, world: Sandbox) -> None:
    assert not verify(connect("missing-permissions"), names=NAMES).ok
    world.set_scenario("missing-permissions", "healthy_top")
    assert verify(connect("missing-permissions"), names=NAMES).ok


def test_the_guide_names_come_from_the_caller() -> None:
    with pytest.raises(TypeError):
        GuideNames()  # type: ignore[call-arg]
    names = dataclasses.replace(
        NAMES,
        product="Acme AP",
        ws_user_id="acme_ws",
        role_name="Acme AP role",
        sender_id="AcmeSender",
    )
    assert "Acme AP's own" in remedy_for("sender_config", names)
    assert "'acme_ws'" in remedy_for("ws_user", names)
    assert "'Acme AP role'" in remedy_for("role_permissions", names)
    assert "Sender ID AcmeSender exactly" in remedy_for("sender_authorization", names)


def test_remedies_name_what_the_caller_configured(connect: ConnectFactory) -> None:
    names = dataclasses.replace(NAMES, sender_id="OtherSender", role_name="Other API")
    sender = verify(connect("sender-not-authorized"), names=names).step("sender_authorization")
    assert "OtherSender" in sender.remedy
    role = verify(connect("missing-permissions"), names=names).step("role_permissions")
    assert "'Other API'" in role.remedy


def test_verify_learns_the_fields_of_the_objects_asked_about(connect: ConnectFactory) -> None:
    plain = verify(connect("fields-differ"), names=NAMES)
    report = verify(connect("fields-differ"), names=NAMES, field_objects=["EXCHANGERATE", "NOPE"])
    assert report.ok
    assert "FROM_CURRENCY" not in report.fields["EXCHANGERATE"]
    assert "RECORDNO" in report.fields["EXCHANGERATE"]
    assert "NOPE" not in report.fields  # its lookup failed: nothing learned, nothing failed
    assert report.round_trips == plain.round_trips
    healthy = verify(connect("healthy-top"), names=NAMES, field_objects=["EXCHANGERATE"])
    assert "FROM_CURRENCY" in healthy.fields["EXCHANGERATE"]


def test_the_audit_trail_is_an_optional_permission(connect: ConnectFactory) -> None:
    """Probed in the first request; its absence never fails the verification."""
    granted = verify(connect("healthy-top"), names=NAMES)
    assert granted.audit_trail is True
    assert granted.optional[0].message.startswith("Granted")
    denied = verify(connect("no-audit-trail"), names=NAMES)
    assert denied.ok
    assert denied.round_trips == granted.round_trips
    assert denied.audit_trail is False
    (line,) = denied.optional
    assert line.status == "missing"
    assert f"edit the role '{NAMES.role_name}'" in line.message
    assert "Custom reports" in line.message
    assert denied.to_json()["optional_permissions"][0]["key"] == "audit_trail"
    failed = verify(connect("bad-password"), names=NAMES)
    assert failed.audit_trail is None


def test_an_unknown_company_is_told_to_check_the_company_id_only(connect: ConnectFactory) -> None:
    step = verify(connect("unknown-company"), names=NAMES).step("credentials")
    assert step.status == FAILED
    assert step.message.startswith("Intacct does not know this company ID")
    assert step.remedy is not None
    assert step.remedy.startswith("Check the company ID: enter only the Company ID part")
    assert "password" not in step.remedy.lower()  # not the list of every sign-in cause
