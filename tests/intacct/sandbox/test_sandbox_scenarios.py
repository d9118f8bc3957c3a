"""Every scenario answers at the right level, with the right numbers, texts and HTTP status."""

from __future__ import annotations

import pytest

from intacct.catalog import LIST_OBJECTS
from intacct.sandbox import SANDBOX_SENDER_ID
from intacct.sandbox.errors import MODULE_NOT_SUBSCRIBED_ERRORNO
from intacct.sandbox.scenarios import SCENARIOS
from intacct.sandbox.world import Sandbox


def test_every_scenario_has_a_company():
    sandbox = Sandbox()
    ids = {c.company_id for c in sandbox.companies}
    assert {s.replace("_", "-") for s in SCENARIOS} | {"sandbox"} == ids


@pytest.mark.parametrize("company", ["healthy-top", "healthy-multi", "missing-permissions"])
def test_healthy_logins_succeed(gw, company):
    reply = gw.call(company, "<getAPISession/>")
    assert reply.text("operation/authentication/status") == "success"
    assert reply.result().findtext("status") == "success"


def _auth_error(reply):  # type: ignore[no-untyped-def]
    assert reply.status == 200
    assert reply.text("control/status") == "success"
    auth = reply.find("operation/authentication")
    assert auth.findtext("status") == "failure"
    assert [c.tag for c in auth] == ["status", "userid", "companyid"]
    assert reply.find("operation/result") is None
    (error,) = reply.errors("operation/errormessage")
    return error


def test_no_subscription_fails_authentication(gw):
    error = _auth_error(gw.call("no-subscription", "<getAPISession/>"))
    assert error["errorno"] == "XL03000006"
    assert error["description2"] == (
        "This company is not authorized for XML transactions. Please subscribe to the XML Gateway."
    )


def test_sender_not_authorized_fails_authentication_with_escaped_quotes(gw):
    reply = gw.call("sender-not-authorized", "<getAPISession/>")
    error = _auth_error(reply)

    assert error == {
        "errorno": "XL03000006",
        "description": "Invalid Web Services Authorization",
        "description2": (
            f"The sender ID '{SANDBOX_SENDER_ID}' is not authorized to make Web Services "
            "requests to company ID 'sender-not-authorized'."
        ),
        "correction": (
            "Contact the company administrator to grant Web Services authorization to this "
            "sender ID."
        ),
    }
    assert b"The sender ID &#039;BeanworksMPP&#039; is not authorized" in reply.body
    assert reply.text("operation/authentication/userid") == "Beanworks"
    assert reply.text("operation/authentication/companyid") == "sender-not-authorized"


def test_bad_password_fails_authentication(gw):
    error = _auth_error(gw.call("bad-password", "<getAPISession/>"))
    assert error["errorno"] == "XL03000006"
    assert error["description2"] == "Sign-in information is incorrect"


def test_bad_password_401_answers_http_401_at_control_level(gw):
    reply = gw.call("bad-password-401", "<getAPISession/>")

    assert reply.status == 401
    assert reply.content_type.startswith("text/xml")
    assert [c.tag for c in reply.find("control")] == ["status"]
    assert reply.text("control/status") == "failure"
    err = reply.find("errormessage/error")
    assert [c.tag for c in err] == ["errorno", "description"]
    assert err.findtext("errorno") == "XMLGW_JPP0002"
    assert err.findtext("description") == (
        "Sign-in information is incorrect. Please check your request."
    )


@pytest.mark.parametrize("company", ["unknown-company", "no-such-company-at-all"])
def test_unknown_company_answers_http_400_invalid_request(gw, company):
    reply = gw.call(company, "<getAPISession/>")

    assert reply.status == 400
    assert [c.tag for c in reply.find("control")] == ["status"]
    err = reply.find("errormessage/error")
    assert [c.tag for c in err] == ["errorno", "description"]
    assert (err.findtext("errorno"), err.findtext("description")) == (
        "invalidRequest",
        "Invalid Request",
    )


def test_bad_sender_password_scenario_rejects_every_request_at_control_level(gw, sandbox):
    for _ in range(3):
        reply = gw.call("bad-sender-password", "<getAPISession/>")
        assert reply.status == 200
        assert reply.text("control/status") == "failure"
        assert reply.errors("errormessage")[0]["errorno"] == "XL03000006"
        assert reply.errors("errormessage")[0]["description2"].startswith(
            "Incorrect Intacct XML Partner ID or password."
        )


def test_demo_expired_is_a_control_level_error(gw):
    reply = gw.call("demo-expired", "<getAPISession/>")
    assert reply.text("control/status") == "failure"
    (error,) = reply.errors("errormessage")
    assert error["errorno"] == "PL04000055"
    assert error["description2"] == "This company is a demo company and has expired."


def test_rate_limited_refuses_every_third_request_with_429(gw):
    statuses = [gw.call("rate-limited", "<getDimensions/>").status for _ in range(9)]
    assert statuses == [200, 200, 429] * 3

    reply = gw.call("rate-limited", "<getDimensions/>")
    reply = gw.call("rate-limited", "<getDimensions/>")
    reply = gw.call("rate-limited", "<getDimensions/>")
    assert reply.status == 429
    assert reply.content_type.startswith("text/xml")
    err = reply.find("errormessage/error")
    assert (err.findtext("errorno"), err.findtext("description")) == (
        "GW-0010",
        "API rate limit exceeded",
    )


def test_flaky_fails_about_one_request_in_five_deterministically(make_gw):
    def login(client) -> str:  # type: ignore[no-untyped-def]
        while True:
            reply = client.call("flaky", "<getAPISession/>")
            if reply.status == 200:
                return str(reply.text("operation/result/data/api/sessionid"))

    def run() -> list[object]:
        client = make_gw(Sandbox(seed=7))
        sid = login(client)
        out: list[object] = []
        for _ in range(300):
            reply = client.call_session(sid, "<getDimensions/>")
            if reply.status != 200:
                assert reply.root is None  # not XML
                assert reply.content_type.startswith("text/html")
                out.append(reply.status)
            elif reply.text("operation/authentication/status") == "failure":
                assert reply.errors("operation/errormessage")[0]["description2"] == (
                    "Invalid session"
                )
                out.append("invalid session")
                sid = login(client)
            else:
                out.append(200)
        return out

    first, second = run(), run()
    assert first == second
    http_failures = [s for s in first if isinstance(s, int) and s != 200]
    assert 0.10 < len(http_failures) / len(first) < 0.25
    assert {502, 503, 524} <= set(http_failures)
    assert "invalid session" in first


def test_missing_permissions_refuses_exactly_the_missing_rows(gw, xml):
    reply = gw.call(
        "missing-permissions",
        [
            xml.query("VENDOR", ["RECORDNO"], pagesize=1),
            xml.query("GLACCOUNT", ["RECORDNO"], pagesize=1),
            xml.query("APTERM", ["RECORDNO"], pagesize=1),
            xml.query("DEPARTMENT", ["RECORDNO"], pagesize=1),
            xml.rbq("VENDOR", pagesize=1),
        ],
    )

    statuses = [r.findtext("status") for r in reply.results]
    assert statuses == ["failure", "failure", "failure", "success", "failure"]
    vendor = reply.results[0].find("errormessage/error")
    assert vendor.findtext("errorno") == "PL04000005"
    assert vendor.findtext("description2").startswith(
        "You do not have permission for API operation QUERY on objects of type VENDOR"
    )
    rbq = reply.results[4].find("errormessage/error")
    assert rbq.findtext("description2").startswith(
        "You do not have permission for API operation READ_BY_QUERY on objects of type vendor"
    )
    assert "[Support ID: " in rbq.findtext("description2")


def _policies(reply):  # type: ignore[no-untyped-def]
    out = {}
    for app in reply.data().findall("permissions/appSubscription"):
        for policy in app.findall("policies/policy"):
            out[policy.findtext("policyName")] = policy.findtext("rights")
    return out


def test_get_user_permissions_omits_missing_policies(gw):
    healthy = _policies(
        gw.call(
            "healthy-top", "<getUserPermissions><userId>Beanworks</userId></getUserPermissions>"
        )
    )
    missing = _policies(
        gw.call(
            "missing-permissions",
            "<getUserPermissions><userId>Beanworks</userId></getUserPermissions>",
        )
    )

    assert {"Vendors", "Accounts", "AP Terms", "Departments"} <= set(healthy)
    assert healthy["Bills"].split("|")[:3] == ["List", "View", "Add"]
    assert "Run" in healthy["Pay Bills"].split("|")
    assert healthy["Application Subscriptions"] == "List|View"
    assert not {"Vendors", "Accounts", "AP Terms"} & set(missing)
    assert "Departments" in missing


def test_get_user_permissions_names_applications_with_their_trailing_spaces(gw):
    reply = gw.call(
        "healthy-top", "<getUserPermissions><userId>Beanworks</userId></getUserPermissions>"
    )
    names = [
        a.findtext("applicationName") for a in reply.data().findall("permissions/appSubscription")
    ]
    assert "Accounts Payable" in names
    assert "Time " in names


def test_get_user_permissions_for_unknown_login_fails(gw):
    reply = gw.call(
        "healthy-top", "<getUserPermissions><userId>unittest</userId></getUserPermissions>"
    )
    error = reply.result().find("errormessage/error")
    assert reply.result().findtext("status") == "failure"
    assert error.findtext("errorno") == "BL03000025"
    assert error.findtext("description2") == "Login ID unittest does not exist."
    assert error.findtext("correction") == "Provide a valid USER.LOGINID value."


def test_no_role_refuses_every_object_and_has_no_policies(gw, xml, sandbox):
    company = sandbox.company("no-role")
    objects = [o for o in LIST_OBJECTS if company.subscribed(o)] + ["APBILL", "PROGRAM"]
    reply = gw.call(
        "no-role",
        [xml.query(o, ["RECORDNO" if o != "PROGRAM" else "id"], pagesize=1) for o in objects],
    )

    for obj, result in zip(objects, reply.results, strict=True):
        assert result.findtext("status") == "failure", obj
        assert result.findtext("errormessage/error/errorno") == "PL04000005", obj
    perms = gw.call(
        "no-role", "<getUserPermissions><userId>Beanworks</userId></getUserPermissions>"
    )
    assert perms.data().findall("permissions/appSubscription") == []


def test_object_of_an_unsubscribed_application_is_not_applicable(gw, xml):
    reply = gw.call(
        "healthy-top",
        [xml.query("STANDARDTASK", ["RECORDNO"], pagesize=1), xml.rbq("COSTTYPE", pagesize=1)],
    )
    query, rbq = reply.results
    assert query.findtext("status") == "failure"
    assert query.findtext("errormessage/error/errorno") == MODULE_NOT_SUBSCRIBED_ERRORNO
    assert query.findtext("errormessage/error/description2") == (
        "API operation 'QUERY' cannot be performed on objects of type STANDARDTASK"
    )
    assert rbq.findtext("errormessage/error/description2") == (
        "API operation 'READ_BY_QUERY' cannot be performed on objects of type COSTTYPE"
    )


def test_construction_objects_exist_in_the_multi_entity_company(gw, xml):
    reply = gw.call("healthy-multi", xml.query("STANDARDTASK", ["RECORDNO"], pagesize=1))
    assert reply.data().get("totalcount") == "50"


def test_unknown_object(gw, xml):
    reply = gw.call(
        "healthy-top",
        [
            xml.rbq("BADOBJECT"),
            xml.query("BADOBJECT", ["RECORDNO"]),
            "<read><object>BADOBJECT</object><keys>1</keys></read>",
        ],
    )
    rbq, query, read = reply.results
    assert rbq.findtext("errormessage/error/errorno") == "Query Failed"
    assert (
        rbq.findtext("errormessage/error/description2") == "Object definition BADOBJECT not found"
    )
    assert query.findtext("errormessage/error/errorno") == "XL03000009"
    assert query.findtext("errormessage/error/description2") == (
        "Object definition BADOBJECT not found"
    )
    data = query.find("data")
    assert [c.tag for c in query] == ["status", "function", "controlid", "errormessage", "data"]
    assert dict(data.attrib) == {
        "listtype": "BADOBJECT",
        "totalcount": "0",
        "offset": "0",
        "count": "0",
        "numremaining": "0",
    }
    assert read.findtext("errormessage/error/errorno") == "Query Failed"


def test_unknown_field_is_an_invalid_fields_list(gw, xml):
    reply = gw.call(
        "healthy-top",
        [
            xml.rbq("VENDOR", fields="RECORDNO,NOPE"),
            xml.query("VENDOR", ["RECORDNO", "NOPE"]),
            "<read><object>VENDOR</object><keys>1</keys><fields>NOPE</fields></read>",
        ],
    )
    for result in reply.results:
        assert result.findtext("status") == "failure"
        assert result.findtext("errormessage/error/errorno") == "Invalid fields list NOPE"


def _lookup_field(reply, field_id):  # type: ignore[no-untyped-def]
    for field in reply.data().findall("Type/Fields/Field"):
        if field.findtext("ID") == field_id:
            return {c.tag: c.text for c in field}
    return None


def test_lookup_apbill_shows_the_custom_field_per_scenario(gw):
    healthy = _lookup_field(
        gw.call("healthy-top", "<lookup><object>APBILL</object></lookup>"), "BEANWORKS"
    )
    missing = _lookup_field(
        gw.call("no-custom-field", "<lookup><object>APBILL</object></lookup>"), "BEANWORKS"
    )
    wrong = _lookup_field(
        gw.call("wrong-custom-field-type", "<lookup><object>APBILL</object></lookup>"), "BEANWORKS"
    )

    assert healthy == {
        "ID": "BEANWORKS",
        "LABEL": "Beanworks",
        "DESCRIPTION": "Link to this bill in Beanworks",
        "REQUIRED": "false",
        "READONLY": "false",
        "DATATYPE": "URL",
        "ISCUSTOM": "true",
    }
    assert missing is None
    assert wrong["DATATYPE"] == "TEXT"
    assert wrong["ISCUSTOM"] == "true"


def test_lookup_answer_shape(gw):
    reply = gw.call("healthy-top", "<lookup><object>APBILL</object></lookup>")
    data = reply.data()
    assert (data.get("listtype"), data.get("count")) == ("All", "1")
    assert data.find("Type").get("Name") == "APBILL"
    recordno = _lookup_field(reply, "RECORDNO")
    assert recordno["ISCUSTOM"] == "false"
    assert recordno["DATATYPE"] == "INTEGER"
    rel = data.find("Type/Relationships/Relationship")
    assert [c.tag for c in rel] == [
        "OBJECTPATH",
        "OBJECTNAME",
        "LABEL",
        "RELATIONSHIPTYPE",
        "RELATEDBY",
    ]


def test_bad_entity_refuses_entity_logins_only(gw):
    top = gw.call("bad-entity", "<getAPISession/>")
    assert top.result().findtext("status") == "success"

    error = _auth_error(gw.call("bad-entity", "<getAPISession/>", location="E100"))
    assert error["errorno"] == "XL03000006"
    assert error["description"] == "Sign-in information is incorrect"
    assert "E100" in error["description2"]

    sid = top.text("operation/result/data/api/sessionid")
    switch = gw.call_session(sid, "<getAPISession><locationid>E100</locationid></getAPISession>")
    assert switch.result().findtext("status") == "failure"
    assert "E100" in switch.result().findtext("errormessage/error/description2")


def test_unknown_entity_in_a_healthy_company_fails_authentication(gw):
    error = _auth_error(gw.call("healthy-multi", "<getAPISession/>", location="E999"))
    assert "E999" in error["description2"]


def test_scenario_switch_keeps_records_and_changes_behaviour(gw, sandbox, xml):
    company = sandbox.company("healthy-top")
    company.mutate(adds=2, changes=3, deletes=1, objects=["VENDOR"], seed=1)
    before = company.snapshot("VENDOR")

    sandbox.set_scenario("healthy-top", "bad_password")
    assert (
        gw.call("healthy-top", "<getAPISession/>").text("operation/authentication/status")
        == "failure"
    )
    sandbox.set_scenario("healthy-top", "healthy_top")

    assert company.snapshot("VENDOR") == before
    reply = gw.call("healthy-top", xml.query("VENDOR", ["RECORDNO"], pagesize=1))
    assert int(reply.data().get("totalcount")) == len(before)


# --- Companies that lack fields --------------------------------------------------------------------


def test_a_company_without_a_field_refuses_the_query_naming_it(connect) -> None:
    from intacct.catalog import LIST_OBJECTS
    from intacct.errors import InvalidFieldsError

    client = connect("fields-differ")
    with pytest.raises(InvalidFieldsError) as caught:
        list(client.query_pages("EMPLOYEE", LIST_OBJECTS["EMPLOYEE"].fields))
    error = caught.value
    assert (error.level, error.errorno, error.function) == ("result", "XL03000006", "query")
    assert error.errors[0].description2.startswith("The following fields cannot be queried: [")
    assert error.fields == {"employee": ("PERSONALINFO.CONTACTNAME",)}
    # Without the field the same query answers; lookup does not list it.
    reduced = LIST_OBJECTS["EMPLOYEE"].without(["PERSONALINFO.CONTACTNAME"])
    assert sum(page.count for page in client.query_pages("EMPLOYEE", reduced.fields)) > 0
    assert "PERSONALINFO.CONTACTNAME" not in {f.id for f in client.lookup("EMPLOYEE")}
    # Several fields of one object are named in one message.
    with pytest.raises(InvalidFieldsError) as rates:
        list(client.query_pages("EXCHANGERATE", LIST_OBJECTS["EXCHANGERATE"].fields))
    assert rates.value.fields == {"exchangerate": ("FROM_CURRENCY", "TO_CURRENCY")}


def test_the_healthy_company_has_every_field(connect) -> None:
    from intacct.catalog import LIST_OBJECTS

    client = connect("healthy-top")
    for name in ("EMPLOYEE", "EXCHANGERATE"):
        assert sum(page.count for page in client.query_pages(name, LIST_OBJECTS[name].fields)) > 0
    assert "PERSONALINFO.CONTACTNAME" in {f.id for f in client.lookup("EMPLOYEE")}
