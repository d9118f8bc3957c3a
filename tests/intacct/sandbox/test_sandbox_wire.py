"""Envelope-level behaviour of the emulated gateway: echoes, sessions, transactions, parsing."""

from __future__ import annotations

import time

from intacct.sandbox import GATEWAY_PATH, SANDBOX_SENDER_ID


def _children(el):  # type: ignore[no-untyped-def]
    return [c.tag for c in el]


def test_get_api_session_answers_the_documented_envelope(gw, xml):
    reply = gw.call("healthy-top", "<getAPISession/>")

    assert reply.status == 200
    assert reply.content_type == 'text/xml; encoding="UTF-8"'
    assert reply.body.startswith(b'<?xml version="1.0" encoding="UTF-8"?>')
    assert _children(reply.find("control")) == [
        "status",
        "senderid",
        "controlid",
        "uniqueid",
        "dtdversion",
    ]
    assert reply.text("control/status") == "success"
    assert reply.text("control/senderid") == SANDBOX_SENDER_ID
    assert reply.text("control/controlid") == "2025-06-30 12:00:00.000001"
    assert reply.text("control/uniqueid") == "false"
    assert reply.text("control/dtdversion") == "3.0"
    auth = reply.find("operation/authentication")
    assert _children(auth) == [
        "status",
        "userid",
        "companyid",
        "locationid",
        "sessiontimestamp",
        "sessiontimeout",
    ]
    assert auth.findtext("locationid") == ""
    assert auth.findtext("sessiontimestamp").endswith("+00:00")
    result = reply.result()
    assert _children(result) == ["status", "function", "controlid", "data"]
    assert result.findtext("function") == "getAPISession"
    assert result.findtext("controlid") == "fn-0"
    api = result.find("data/api")
    assert _children(api) == ["sessionid", "endpoint", "locationid"]
    assert api.findtext("sessionid").endswith("..")
    assert api.findtext("endpoint") == f"http://sandbox.test{GATEWAY_PATH}"


def test_session_authentication_works_and_expires_after_its_ttl(gw, sandbox):
    sandbox.session_ttl = 0.4
    sid = gw.session("healthy-top")

    for _ in range(3):  # each call slides the timeout forward
        time.sleep(0.2)
        reply = gw.call_session(sid, "<getDimensions/>")
        assert reply.text("operation/authentication/status") == "success"
    time.sleep(0.6)
    reply = gw.call_session(sid, "<getDimensions/>")

    auth = reply.find("operation/authentication")
    assert auth.findtext("status") == "failure"
    assert auth.findtext("userid") == ""
    assert auth.findtext("companyid") == ""
    assert reply.find("operation/result") is None
    (error,) = reply.errors("operation/errormessage")
    assert error["errorno"] == "XL03000006"
    assert error["description2"].startswith("Invalid session")


def test_unknown_session_is_an_authentication_failure(gw):
    reply = gw.call_session("nope..", "<getDimensions/>")

    assert reply.status == 200
    assert reply.text("control/status") == "success"
    assert reply.text("operation/authentication/status") == "failure"
    assert reply.errors("operation/errormessage")[0]["description2"] == "Invalid session"


def test_sessiontimeout_is_now_plus_the_session_ttl(gw, sandbox):
    sandbox.session_ttl = 3600
    reply = gw.call("healthy-top", "<getAPISession/>")
    auth = reply.find("operation/authentication")
    stamp = time.strptime(auth.findtext("sessiontimestamp")[:19], "%Y-%m-%dT%H:%M:%S")
    timeout = time.strptime(auth.findtext("sessiontimeout")[:19], "%Y-%m-%dT%H:%M:%S")
    assert time.mktime(timeout) - time.mktime(stamp) == 3600


def test_several_functions_answer_in_order_with_their_controlids(gw, xml):
    reply = gw.call(
        "healthy-top",
        [
            xml.query("VENDOR", ["RECORDNO"], pagesize=1),
            "<getDimensions/>",
            xml.rbq("DEPARTMENT", pagesize=1),
        ],
    )

    assert [r.findtext("controlid") for r in reply.results] == ["fn-0", "fn-1", "fn-2"]
    assert [r.findtext("function") for r in reply.results] == [
        "query",
        "getDimensions",
        "readByQuery",
    ]
    assert all(r.findtext("status") == "success" for r in reply.results)


def test_one_failing_function_does_not_stop_the_others(gw, xml):
    reply = gw.call(
        "healthy-top", [xml.rbq("NOSUCHOBJECT"), xml.query("VENDOR", ["RECORDNO"], pagesize=1)]
    )

    assert [r.findtext("status") for r in reply.results] == ["failure", "success"]


def test_transaction_true_aborts_the_whole_operation(gw, xml):
    reply = gw.call(
        "healthy-top",
        [xml.query("VENDOR", ["RECORDNO"], pagesize=1), xml.rbq("NOSUCHOBJECT")],
        transaction=True,
    )

    ok, failed = reply.results
    rolled_back = "The entire transaction in this operation has been rolled back due to an error."
    assert ok.findtext("status") == "aborted"
    assert ok.find("data") is None
    assert [e.findtext("errorno") for e in ok.findall("errormessage/error")] == ["XL03000009"]
    assert ok.findtext("errormessage/error/description2") == rolled_back
    assert failed.findtext("status") == "failure"
    assert [e.findtext("errorno") for e in failed.findall("errormessage/error")] == [
        "Query Failed",
        "XL03000009",
    ]


def test_transaction_true_without_failure_succeeds(gw, xml):
    reply = gw.call("healthy-top", [xml.rbq("VENDOR", pagesize=1)], transaction=True)
    assert reply.result().findtext("status") == "success"


def test_malformed_xml_is_a_control_level_parse_error(gw):
    body = (
        b'<?xml version="1.0" encoding="UTF-8"?><request><control><senderid>BeanworksMPP'
        b"</senderid><controlid>broken-1</controlid><uniqueid>false</uniqueid>"
        b"<dtdversion>3.0</dtdversion></control><operation><PROJECTID></PROJECT></operation>"
        b"</request>"
    )
    reply = gw.post(body)

    assert reply.status == 200
    assert reply.text("control/status") == "failure"
    assert reply.text("control/controlid") == "broken-1"
    assert reply.find("operation") is None
    error = reply.errors("errormessage")[0]
    assert error["errorno"] == "XL03000003"
    assert error["description2"].startswith(
        "XML Parse schema error: Fatal Error 76: Opening and ending tag mismatch: PROJECTID"
    )


def test_entity_expansion_bomb_is_refused_quickly(gw):
    lol = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    body = (
        '<?xml version="1.0"?><!DOCTYPE request [<!ENTITY l0 "lol">' + lol + "]>"
        "<request><control><senderid>&l9;</senderid></control></request>"
    ).encode()
    started = time.monotonic()
    reply = gw.post(body)

    assert time.monotonic() - started < 1
    assert reply.text("control/status") == "failure"
    assert reply.errors("errormessage")[0]["errorno"] == "XL03000003"
    assert b"lollol" not in reply.body


def test_external_entity_is_refused(gw):
    body = (
        b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b"<request><control><senderid>&x;</senderid></control></request>"
    )
    reply = gw.post(body)
    assert reply.errors("errormessage")[0]["errorno"] == "XL03000003"
    assert b"root:" not in reply.body


def test_wrong_sender_is_refused_at_control_level_for_every_company(gw, xml):
    for company in ("healthy-top", "no-role", "does-not-exist"):
        reply = gw.post(
            xml.request(xml.login(company), "<getAPISession/>", sender_password="wrong")
        )
        assert reply.status == 200
        assert reply.text("control/status") == "failure"
        assert reply.text("control/senderid") == SANDBOX_SENDER_ID
        assert reply.find("operation") is None
        (error,) = reply.errors("errormessage")
        assert error["errorno"] == "XL03000006"
        assert error["description2"].startswith("Incorrect Intacct XML Partner ID or password.")
        assert "[Support ID: " in error["description2"]


def test_unknown_function_fails_schema_validation(gw):
    reply = gw.call("healthy-top", "<frobnicate/>")
    assert reply.text("control/status") == "failure"
    assert reply.errors("errormessage")[0]["errorno"] == "XL03000003"


def test_valid_but_unimplemented_function_fails_in_its_result(gw):
    reply = gw.call("healthy-top", ["<create><VENDOR/></create>", "<getDimensions/>"])
    assert [r.findtext("status") for r in reply.results] == ["failure", "success"]


def test_form_encoded_request_is_accepted(gw, xml):
    from urllib.parse import quote

    body = (
        b"xmlrequest=" + quote(xml.request(xml.login("healthy-top"), "<getDimensions/>")).encode()
    )
    reply = gw.post(body)
    assert reply.result().findtext("status") == "success"


def test_gateway_answers_only_post_and_other_paths_are_404(gw):
    assert gw.http.get(GATEWAY_PATH).status_code == 405
    assert gw.http.post("/elsewhere", content=b"<x/>").status_code == 404


def test_company_id_with_pipe_names_the_entity(gw, xml):
    reply = gw.post(xml.request(xml.login("healthy-multi|E200"), "<getAPISession/>"))
    assert reply.text("operation/authentication/locationid") == "E200"
    assert reply.text("operation/result/data/api/locationid") == "E200"


def test_user_id_is_case_insensitive_but_password_is_not(gw, xml):
    ok = gw.post(xml.request(xml.login("healthy-top", user="BEANWORKS"), "<getDimensions/>"))
    assert ok.text("operation/authentication/status") == "success"
    bad = gw.post(
        xml.request(xml.login("healthy-top", password="sandbox-pa55word"), "<getDimensions/>")
    )
    assert bad.text("operation/authentication/status") == "failure"


def test_an_internal_failure_is_a_bare_http_500(gw, monkeypatch):
    from intacct.sandbox.gateway import Gateway

    def boom(self, body, base_url):  # type: ignore[no-untyped-def]
        raise RuntimeError("boom")

    monkeypatch.setattr(Gateway, "handle", boom)
    reply = gw.call("healthy-top", "<getDimensions/>")
    assert reply.status == 500
    assert reply.root is None
