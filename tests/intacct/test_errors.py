"""Error classification: every known gateway error, by level and text.

XL03000006 alone means four different things, so classification goes by level *and* text.  Where
a case is unverified (no capture seen), the test names say so and check several
wordings: there the classification is deliberately broad, and a wording we have never seen still
lands on the right guide step.
"""

from __future__ import annotations

from collections.abc import Sequence

import pytest

from intacct import errors as e
from intacct.errors import ErrorDetail, classify

PARTNER = "Incorrect Intacct XML Partner ID or password."
SIGN_IN = "Sign-in information is incorrect"
WS_AUTH = "Invalid Web Services Authorization"
WS_AUTH_D2 = (
    "The sender ID 'test_sender_id' is not authorized to make Web Services requests to "
    "company ID 'test_company_id'."
)
WS_AUTH_CORRECTION = (
    "Contact the company administrator to grant Web Services authorization to this sender ID."
)
ROLLED_BACK = "The entire transaction in this operation has been rolled back due to an error."
SUPPORT_ID = " [Support ID: p5rxS%7EYxEXrDEnVyr0F531W8X9bQAAACQ]"


def err(
    errorno: str, description: str = "", description2: str = "", correction: str = ""
) -> ErrorDetail:
    return ErrorDetail(errorno, description, description2, correction)


def classified(
    errors: Sequence[ErrorDetail] | ErrorDetail, level: str, **kwargs: object
) -> e.GatewayError:
    entries = [errors] if isinstance(errors, ErrorDetail) else list(errors)
    return classify(entries, level=level, **kwargs)  # type: ignore[arg-type]


def check(
    got: e.GatewayError, expected: type[e.GatewayError], step: str | None, level: str
) -> None:
    assert type(got) is expected, f"{type(got).__name__} is not {expected.__name__}"
    assert got.step == step
    assert got.level == level


# --- §5, one test per row ------------------------------------------------------------------------


@pytest.mark.parametrize("suffix", ["", SUPPORT_ID])
def test_bad_sender_id_or_password_at_control_level_is_our_sender_config(suffix: str) -> None:
    got = classified(err("XL03000006", description2=PARTNER + suffix), "control")
    check(got, e.SenderCredentialsError, "sender_config", "control")
    assert isinstance(got, e.ControlError)


# "The following fields cannot be queried" (XL03000006 of query): public captures show the object
# lower-case with its fields in brackets, line breaks and spacing varying, several objects in one
# message, a Support ID after it. A result-level XL03000006 is never a sign-in failure.
CANNOT_BE_QUERIED = [
    (
        "The following fields cannot be queried: [\n        employee: [PERSONALINFO.CONTACTNAME] ]",
        {"employee": ("PERSONALINFO.CONTACTNAME",)},
    ),
    (
        "The following fields cannot be queried: [ exchangerate: [FROM_CURRENCY, TO_CURRENCY] ]"
        + SUPPORT_ID,
        {"exchangerate": ("FROM_CURRENCY", "TO_CURRENCY")},
    ),
    (
        "The following fields cannot be queried: [\n        apbill: [PAYTOCONTACTNAME, "
        "RETURNTOCONTACTNAME], apbillitem: [GLACCOUNTNO] ]",
        {"apbill": ("PAYTOCONTACTNAME", "RETURNTOCONTACTNAME"), "apbillitem": ("GLACCOUNTNO",)},
    ),
    ("The following fields cannot be queried: [ item: [BASEUOM] ]", {"item": ("BASEUOM",)}),
]


@pytest.mark.parametrize(("text", "fields"), CANNOT_BE_QUERIED)
@pytest.mark.parametrize("where", ["description", "description2"])
def test_fields_that_cannot_be_queried_are_named(text: str, fields: dict, where: str) -> None:
    entry = err("XL03000006", **{where: text})
    got = classified(entry, "result", function="query")
    check(got, e.InvalidFieldsError, None, "result")
    assert isinstance(got, e.InvalidFieldsError)
    assert got.fields == fields
    first = next(iter(fields))
    assert got.fields_of(first.upper()) == fields[first]
    assert got.fields_of("NOSUCHOBJECT") == ()


@pytest.mark.parametrize(
    ("text", "fields"),
    [
        # Unverified wordings, classified defensively: no object named, fields still found.
        ("Invalid fields list VENDORID,NAME", ("VENDORID", "NAME")),
        ("The following fields cannot be queried: BASEUOM, COST", ("BASEUOM", "COST")),
        ("Field CONTACTNAME is not queryable", ()),
        ("Invalid field: CONTACTNAME", ()),
    ],
)
def test_unverified_field_wordings_still_classify(text: str, fields: tuple[str, ...]) -> None:
    got = classified(err(text), "result", function="query")
    assert type(got) is e.InvalidFieldsError
    assert got.fields_of("VENDOR") == fields


@pytest.mark.parametrize(
    "entry",
    [
        err("XL03000006", WS_AUTH, WS_AUTH_D2, WS_AUTH_CORRECTION),
        err("XL03000006", description=WS_AUTH),
        err("XL03000006", description2=WS_AUTH_D2),
        err("XL03000006", correction=WS_AUTH_CORRECTION),
    ],
    ids=["full", "description-only", "description2-only", "correction-only"],
)
def test_sender_not_in_web_services_authorizations(entry: ErrorDetail) -> None:
    check(
        classified(entry, "authentication"),
        e.SenderNotAuthorizedError,
        "sender_authorization",
        "authentication",
    )


@pytest.mark.parametrize("level", ["control", "authentication", "result"])
@pytest.mark.parametrize(
    "text",
    [
        "This company is not authorized for XML transactions. Please subscribe to the XML Gateway.",
        "This company is not authorized for XML transactions.",
        "Please subscribe to the XML Gateway.",
        "The company is not subscribed to Web Services.",
        "Web Services subscription is not enabled for this company.",
    ],
)
def test_unverified_company_not_subscribed_to_web_services_is_broad_at_every_level(
    text: str, level: str
) -> None:
    """Unverified (level and number unknown, text from an older FAQ copy).  The
    classification is deliberately broad: any level, several wordings, always the Web Services
    subscription step."""
    got = classified(err("XL03000006", description2=text), level)
    check(got, e.NotSubscribedError, "ws_subscription", level)


def test_wrong_user_id_password_or_company_classic() -> None:
    check(
        classified(err("XL03000006", description2=SIGN_IN), "authentication"),
        e.SignInError,
        "credentials",
        "authentication",
    )


@pytest.mark.parametrize("http_status", [401, 200, None])
def test_wrong_user_credentials_current_gateway_http_401(http_status: int | None) -> None:
    got = classified(
        err("XMLGW_JPP0002", "Sign-in information is incorrect. Please check your request."),
        "control",
        http_status=http_status,
    )
    check(got, e.SignInError, "credentials", "control")
    assert got.http_status == http_status


def test_bad_company_id_http_400_invalid_request() -> None:
    got = classified(err("invalidRequest", "Invalid Request"), "control", http_status=400)
    check(got, e.UnknownCompanyError, "credentials", "control")
    assert isinstance(got, e.SignInError)


def test_invalid_request_saved_without_its_http_status_still_names_credentials() -> None:
    got = classified(err("invalidRequest", "Invalid Request"), "control", http_status=200)
    assert got.step == "credentials"


def test_gateway_rejects_request_gw_0011() -> None:
    got = classified(
        err("GW-0011", "Invalid Request [Request ID: AC47C2BE:D9EE_63EBC07F.59]"), "control"
    )
    check(got, e.RequestRejectedError, None, "control")


@pytest.mark.parametrize("level", ["control", "authentication", "result"])
@pytest.mark.parametrize(
    ("entry", "http_status"),
    [
        (err("GW-0010"), None),
        (err("GW-0010", "Too Many Requests"), 429),
        (err("XYZ", "unexpected text"), 429),
        (err("", description2="API rate limit exceeded"), 200),
    ],
    ids=["number-only", "number-and-status", "status-only", "fyle-text"],
)
def test_rate_limit_is_transient_at_every_level(
    entry: ErrorDetail, http_status: int | None, level: str
) -> None:
    got = classified(entry, level, http_status=http_status)
    check(got, e.RateLimitError, e.STEP_TRANSIENT, level)
    assert got.transient


@pytest.mark.parametrize(
    "text", ["Invalid session q....", "Invalid session", "The session has expired"]
)
def test_session_invalid_or_expired_is_transient(text: str) -> None:
    got = classified(err("XL03000006", description2=text), "authentication")
    check(got, e.SessionExpiredError, e.STEP_TRANSIENT, "authentication")
    assert got.transient


@pytest.mark.parametrize("text", ["This company is a demo company and has expired.", ""])
def test_demo_company_expired_pl04000055(text: str) -> None:
    got = classified(err("PL04000055", description2=text), "control")
    check(got, e.CompanyExpiredError, "ws_subscription", "control")


@pytest.mark.parametrize(
    "entry",
    [
        err(
            "PL04000005",
            description2="You do not have permission for API operation READ_BY_QUERY on "
            "objects of type arinvoice",
        ),
        err(
            "PL04000005",
            description2="You do not have permission for API operation QUERY on objects of "
            "type GLACCOUNT",
        ),
        err("PL04000005"),
        # FYLE matches the text alone; no identified source gives the errorno.
        err(
            "BL01001973",
            description2="You do not have permission for API operation QUERY on objects of "
            "type GLACCOUNT",
        ),
    ],
    ids=["read-by-query", "query", "number-only", "text-only"],
)
def test_no_permission_on_an_object(entry: ErrorDetail) -> None:
    got = classified(entry, "result", function="readByQuery", controlid="probe")
    check(got, e.PermissionDeniedError, "role_permissions", "result")
    assert (got.function, got.controlid) == ("readByQuery", "probe")


@pytest.mark.parametrize(
    "text",
    [
        "API operation 'READ_BY_QUERY' cannot be performed on objects of type glaccount",
        "API operation 'QUERY' cannot be performed on objects of type TASK",
        "Account allocation module is not subscribed",
        "The Projects module is not subscribed",
    ],
)
def test_unverified_object_or_module_not_available_is_broad(text: str) -> None:
    """Unverified (errorno unknown; wordings from a third-party classifier).  The
    classification is deliberately broad: any of these wordings means "not in this company"."""
    got = classified(err("BL01001973", description2=text), "result")
    check(got, e.NotApplicableError, None, "result")


def test_unknown_object_query_failed() -> None:
    got = classified(
        err("Query Failed", description2="Object definition BADOBJECT not found"), "result"
    )
    check(got, e.UnknownObjectError, None, "result")
    assert isinstance(got, e.NotApplicableError)


@pytest.mark.parametrize("field_list", ["x", "y", "RECORDNO,NOSUCHFIELD"])
def test_invalid_fields_list_on_read(field_list: str) -> None:
    got = classified(err(f"Invalid fields list {field_list}"), "result", function="read")
    check(got, e.InvalidFieldsError, None, "result")


@pytest.mark.parametrize(
    "entry",
    [
        err("Query Failed", description2="Invalid query syntax near 'STATUS'"),
        err("Query Failed", description2="Unable to parse query"),
    ],
)
def test_unverified_invalid_query_syntax_is_a_plain_result_error(entry: ErrorDetail) -> None:
    """Unverified (no capture).  The classification is deliberately broad: a plain result-level
    failure of that function only, whatever the wording."""
    got = classified(entry, "result")
    check(got, e.ResultError, None, "result")


@pytest.mark.parametrize(
    ("text", "names_the_entity"),
    [
        ("Invalid entity ID E100", True),
        ("The location ID E100 is invalid.", True),
        ("Invalid Location ID", True),
        ("You do not have access to entity E100.", False),
        ("Sign-in information is incorrect. The locationid E100 is not valid.", True),
    ],
)
def test_unverified_invalid_entity_is_an_entity_error(text: str, names_the_entity: bool) -> None:
    """Unverified (no capture; level and number unknown).  The classification is deliberately
    broad: several wordings point at the entity step when the sign-in carried an entity; a text
    that names an entity or location ID outright does so even when the caller did not say (a
    saved answer given to ``explain``); a vaguer mention without an entity stays a sign-in
    failure."""
    entry = err("XL03000006", description2=text)
    with_entity = classified(entry, "authentication", entity_given=True)
    check(with_entity, e.EntityError, "entity", "authentication")
    without_entity = classified(entry, "authentication")
    if names_the_entity:
        check(without_entity, e.EntityError, "entity", "authentication")
    else:
        check(without_entity, e.SignInError, "credentials", "authentication")


def test_plain_sign_in_failure_with_an_entity_stays_a_sign_in_error() -> None:
    got = classified(err("XL03000006", description2=SIGN_IN), "authentication", entity_given=True)
    check(got, e.SignInError, "credentials", "authentication")


@pytest.mark.parametrize(
    "text",
    [
        "Sign-in information is incorrect. The user is locked out.",
        "User is locked out",
        "User status is Lockedout",
        "This user is not active.",
        "The user account is disabled.",
    ],
)
def test_unverified_user_locked_out_or_not_active_is_broad(text: str) -> None:
    """Unverified (no capture, probably XL03000006).  The classification is deliberately broad:
    several wordings, all the web services user step, even when the sign-in text is also
    present."""
    got = classified(err("XL03000006", description2=text), "authentication")
    check(got, e.UserNotActiveError, "ws_user", "authentication")
    assert isinstance(got, e.SignInError)


@pytest.mark.parametrize(
    "entries",
    [
        [
            err(
                "XL03000003",
                description2="XML Parse schema error: Fatal Error 76: Opening and ending tag "
                "mismatch: PROJECTID line 18 and PROJECT. Line: 18, column: 62.",
            ),
            err(
                "XL03000003",
                description2="XML Parse schema error: Fatal Error 76: Opening and ending tag "
                "mismatch: PROJECT line 17 and CUSTOMER. Line: 21, column: 32.",
            ),
        ],
        [
            err(
                "XL03000003",
                description2="XML Parse schema error: Fatal Error 76: Opening and ending tag "
                "mismatch: delete line 16 and function. Line: 19, column: 18." + SUPPORT_ID,
            )
        ],
    ],
    ids=["two-entries", "support-id"],
)
def test_malformed_xml_xl03000003(entries: list[ErrorDetail]) -> None:
    got = classified(entries, "control")
    check(got, e.RequestRejectedError, None, "control")
    assert list(got.errors) == entries


def test_malformed_xml_naming_the_password_element_is_still_a_rejected_request() -> None:
    """A parse error quoting the ``<password>`` element is about our XML, not the credentials."""
    got = classified(
        err(
            "XL03000003",
            description2="XML Parse schema error: Fatal Error 76: Opening and ending tag "
            "mismatch: password line 5 and login. Line: 7, column: 18.",
        ),
        "control",
    )
    check(got, e.RequestRejectedError, None, "control")


def test_invalid_transport_policy_is_a_control_error_not_a_sender_problem() -> None:
    got = classified(
        err("XL03000006", description2="test is not a valid transport policy."), "control"
    )
    assert isinstance(got, e.ControlError)
    assert not isinstance(got, e.SenderCredentialsError)


@pytest.mark.parametrize(
    ("entries", "status"),
    [
        (
            [
                err("Query Failed", description2="Object definition VENDOR9 not found"),
                err("XL03000009", description2=ROLLED_BACK),
            ],
            "aborted",
        ),
        ([err("XL03000009", description2=ROLLED_BACK)], "failure"),
        ([], "aborted"),
    ],
    ids=["sdk-fixture", "number-only", "status-only"],
)
def test_transaction_rolled_back(entries: list[ErrorDetail], status: str) -> None:
    got = classified(entries, "result", status=status)
    check(got, e.TransactionAbortedError, None, "result")


def test_duplicate_record_on_create_keeps_all_three_entries() -> None:
    entries = [
        err(
            "BL34000061",
            description2="Another Project with the given value(s) Fellow PD1  already exists",
            correction="Use a unique value instead.",
        ),
        err("BL01001973", description2="Could not create project record!"),
        err("BL01001973", description2="Error while saving the Project info"),
    ]
    got = classified(entries, "result", function="create", controlid="testFunctionId")
    check(got, e.ResultError, None, "result")
    assert list(got.errors) == entries


def test_generic_processing_error_dl02000001() -> None:
    got = classified(
        err(
            "DL02000001", "Error", "There was an error processing the request.", "Do something else"
        ),
        "result",
    )
    check(got, e.ResultError, None, "result")


@pytest.mark.parametrize("level", ["control", "authentication", "result"])
@pytest.mark.parametrize(
    "text",
    [
        "The Service is Temporarily Off-line",
        "The Service is Temporarily Off-line. Please try again later.",
        "The service is temporarily offline",
    ],
)
def test_unverified_service_off_line_is_transient_at_every_level(text: str, level: str) -> None:
    """Unverified (FYLE checks only the text; errorno and level unknown).  The classification is
    deliberately broad: several wordings, any level, always retry later."""
    got = classified(err("", description2=text), level)
    check(got, e.ServiceUnavailableError, e.STEP_TRANSIENT, level)
    assert got.transient


def test_unknown_user_in_get_user_permissions() -> None:
    got = classified(
        err(
            "BL03000025",
            description2="Login ID unittest does not exist.",
            correction="Provide a valid USER.LOGINID value.",
        ),
        "result",
        function="getUserPermissions",
    )
    check(got, e.ResultError, None, "result")


# --- XL03000006 needs level and text -------------------------------------------------------------


def test_xl03000006_maps_to_four_classes_by_level_and_text() -> None:
    cases = [
        ("control", err("XL03000006", description2=PARTNER), e.SenderCredentialsError),
        (
            "authentication",
            err("XL03000006", WS_AUTH, WS_AUTH_D2, WS_AUTH_CORRECTION),
            e.SenderNotAuthorizedError,
        ),
        ("authentication", err("XL03000006", description2=SIGN_IN), e.SignInError),
        (
            "authentication",
            err("XL03000006", description2="Invalid session q...."),
            e.SessionExpiredError,
        ),
    ]
    got = [type(classified(entry, level)) for level, entry, _ in cases]
    assert got == [cls for _, _, cls in cases]
    assert len(set(got)) == 4
    assert [cls.step for cls in got] == [
        "sender_config",
        "sender_authorization",
        "credentials",
        e.STEP_TRANSIENT,
    ]


def test_the_sender_text_means_different_things_at_different_levels() -> None:
    # The partner-ID text at authentication level is not our sender config (it never arrives
    # there); authentication failures default to the customer's credentials.
    got = classified(err("XL03000006", description2=PARTNER), "authentication")
    assert isinstance(got, e.AuthenticationError)
    assert not isinstance(got, e.ControlError)


@pytest.mark.parametrize(
    ("level", "expected"),
    [
        ("control", e.RequestRejectedError),
        ("authentication", e.SignInError),
        ("result", e.ResultError),
    ],
)
def test_unknown_errors_fall_back_to_the_level_default(
    level: str, expected: type[e.GatewayError]
) -> None:
    for entries in ([err("ZZ99999999", description2="Something new")], []):
        got = classified(entries, level)
        assert type(got) is expected
        assert got.level == level


# --- what every error keeps ---------------------------------------------------------------------


def test_an_error_keeps_every_entry_and_its_context() -> None:
    entries = [
        err("XL03000006", WS_AUTH, WS_AUTH_D2, WS_AUTH_CORRECTION),
        err("XL03000006", description2="Second entry", correction="Second correction"),
    ]
    got = classified(entries, "authentication", http_status=200)
    assert got.errors == tuple(entries)
    assert got.errorno == "XL03000006"
    assert got.http_status == 200
    assert (got.function, got.controlid) == (None, None)
    assert got.description == " ".join(
        [WS_AUTH, WS_AUTH_D2, WS_AUTH_CORRECTION, "Second entry", "Second correction"]
    )
    message = str(got)
    assert message.startswith("authentication-level failure")
    for entry in entries:
        assert entry.text() in message
    assert [x.as_dict() for x in got.errors][1] == {
        "errorno": "XL03000006",
        "description": None,
        "description2": "Second entry",
        "correction": "Second correction",
    }


def test_a_result_error_names_its_function() -> None:
    got = classified(
        err("Invalid fields list x"), "result", function="read", controlid="testFunctionId"
    )
    assert "in read" in str(got)
    assert got.errorno == "Invalid fields list x"


def test_an_error_without_entries() -> None:
    got = classified([], "control")
    assert got.errors == ()
    assert got.errorno is None
    assert got.description == ""
    assert "no error detail" in str(got)


def test_error_detail_text_joins_the_non_empty_parts() -> None:
    assert (
        err("XL03000006", description2=SIGN_IN).text()
        == "XL03000006 Sign-in information is incorrect"
    )
    assert err("E", "d", "d2", "c").text() == "E d d2 c"
    assert err("", "", "", "").text() == ""
    assert err("GW-0010").as_dict() == {
        "errorno": "GW-0010",
        "description": None,
        "description2": None,
        "correction": None,
    }


# --- guide steps and the tree -------------------------------------------------------------------

STEPS = {
    e.SenderCredentialsError: "sender_config",
    e.CompanyExpiredError: "ws_subscription",
    e.NotSubscribedError: "ws_subscription",
    e.UserNotActiveError: "ws_user",
    e.PermissionDeniedError: "role_permissions",
    e.SenderNotAuthorizedError: "sender_authorization",
    e.SignInError: "credentials",
    e.UnknownCompanyError: "credentials",
    e.AuthenticationError: "credentials",
    e.EntityError: "entity",
    e.RateLimitError: e.STEP_TRANSIENT,
    e.ServiceUnavailableError: e.STEP_TRANSIENT,
    e.SessionExpiredError: e.STEP_TRANSIENT,
    e.ResultIdExpiredError: e.STEP_TRANSIENT,
    e.TransportError: e.STEP_TRANSIENT,
    e.ServerError: e.STEP_TRANSIENT,
    e.RequestTimeout: e.STEP_TRANSIENT,
    e.RequestRefusedError: e.STEP_TRANSIENT,
}


@pytest.mark.parametrize(
    ("cls", "step"), list(STEPS.items()), ids=lambda v: getattr(v, "__name__", v)
)
def test_each_error_names_its_guide_step(cls: type[e.IntacctError], step: str) -> None:
    assert cls.step == step
    assert step == e.STEP_TRANSIENT or step in e.GUIDE_STEPS
    assert cls.transient == (step == e.STEP_TRANSIENT)


@pytest.mark.parametrize(
    "cls",
    [
        e.ControlError,
        e.RequestRejectedError,
        e.ResultError,
        e.NotApplicableError,
        e.UnknownObjectError,
        e.InvalidFieldsError,
        e.TransactionAbortedError,
        e.ProtocolError,
        e.EndpointError,
    ],
)
def test_errors_without_a_guide_step(cls: type[e.IntacctError]) -> None:
    assert cls.step is None
    assert not cls.transient


def test_every_exception_is_an_intacct_error() -> None:
    for name in e.__all__:
        obj = getattr(e, name)
        if isinstance(obj, type) and issubclass(obj, Exception):
            assert issubclass(obj, e.IntacctError)


def test_transport_errors_sit_at_http_level() -> None:
    got = e.ServerError("HTTP 502", status_code=502)
    assert got.level == "http"
    assert got.status_code == 502
    assert got.transient
    assert isinstance(got, e.TransportError)
    assert str(e.ProtocolError())
    assert str(e.ProtocolError("bad")) == "bad"


# --- wordings third-party connectors meet in real companies (unverified numbers) ----------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("You're not authorized to perform this action", e.PermissionDeniedError),
        ("You are not authorized to perform this action.", e.PermissionDeniedError),
        ("This feature is disabled for your company or your current user", e.NotApplicableError),
        ("Object type advaudithistory is not valid", e.UnknownObjectError),
        ("There was an error processing the request.", e.ResultError),
    ],
)
def test_unverified_per_object_wordings_of_real_companies(
    text: str, expected: type[e.GatewayError]
) -> None:
    """A third-party connector expects these per object from real companies (numbers unknown):
    a permission row then says missing or not applicable rather than "not checked"; a generic
    processing error stays a plain result error (nothing is known from it)."""
    got = classified(err("DL02000001", "Error", text), "result")
    assert type(got) is expected


@pytest.mark.parametrize(
    "text",
    ["Sender ID/Password is invalid.", "Invalid sender password", "The Sender ID is invalid"],
)
def test_a_sender_wording_at_control_level_is_our_configuration_not_the_customers(
    text: str,
) -> None:
    """At control level nothing of the customer's was read yet: a wording naming the sender (and
    a password) is our sender configuration; only HTTP 401, XMLGW_JPP0002 or a sign-in wording
    there names the customer's credentials."""
    got = classified(err("XL03000006", description2=text), "control")
    check(got, e.SenderCredentialsError, "sender_config", "control")
    assert type(classified(err("XL03000006", "Password expired"), "control")) is (
        e.RequestRejectedError
    )


def test_unverified_second_sender_not_authorized_wording() -> None:
    """Quoted, truncated, by a third-party connector's troubleshooting page (weak evidence)."""
    text = "You are not authorized to use Web Services under the company ACME"
    got = classified(err("XL03000006", description2=text), "authentication")
    check(got, e.SenderNotAuthorizedError, "sender_authorization", "authentication")
