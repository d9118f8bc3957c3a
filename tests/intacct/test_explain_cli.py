"""``python -m intacct explain FILE [--status N] [--json]``: what a saved gateway response means.

Runs the real command line in a subprocess over the response fixtures and checks the JSON shape
support staff and scripts rely on.  No Django settings needed.
"""

from __future__ import annotations

import json
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest

from intacct.__main__ import explain

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "tests" / "fixtures" / "responses"

TOP_KEYS = {"ok", "level", "step", "errors", "results"}
LEVELS = {"http", "protocol", "control", "authentication", "result", None}
ERROR_KEYS = {"errorno", "description", "description2", "correction"}
RESULT_KEYS = {
    "function",
    "controlid",
    "status",
    "listtype",
    "count",
    "totalcount",
    "numremaining",
    "result_id",
    "records",
    "errors",
}


#: Saved bodies that are not gateway documents, written to a temporary directory.
TMP_FILES = {
    "bad-gateway.html": b"<html><body><h1>502 Bad Gateway</h1></body></html>\n",
    "gateway-timeout.txt": b"504 Gateway Time-out",
    "plain.txt": b"upstream connect error or disconnect/reset before headers",
    "xxe.xml": b'<?xml version="1.0"?><!DOCTYPE response [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    b"<response><control><status>&x;</status></control></response>",
}

#: Every command line this module runs: key -> (arguments after ``explain``, standard input).
#: ``{f}`` is the fixtures directory, ``{tmp}`` the directory holding TMP_FILES.
JOBS: dict[str, tuple[tuple[str, ...], bytes | None]] = {
    "apbill": (("{f}/readbyquery_apbill_page.xml", "--json"), None),
    "project": (("{f}/readbyquery_project_and_read.xml", "--json"), None),
    "empty": (("{f}/readbyquery_empty.xml", "--json"), None),
    "session": (("{f}/get_api_session.xml", "--json"), None),
    "get_list": (("{f}/legacy_get_list_class.xml", "--json"), None),
    "not_authorized": (("{f}/auth_sender_not_authorized.xml", "--json"), None),
    "mixed": (("{f}/mixed_results_invalid_fields.xml", "--json"), None),
    "permission": (("{f}/result_permission_denied.xml", "--json"), None),
    "incomplete": (("{f}/result_incomplete_ps_mock.xml", "--json"), None),
    "http502": (("{tmp}/bad-gateway.html", "--status", "502", "--json"), None),
    "plain200": (("{tmp}/plain.txt", "--json"), None),
    "xxe": (("{tmp}/xxe.xml", "--json"), None),
    "stdin": (("-", "--json"), (FIXTURES / "auth_invalid_session.xml").read_bytes()),
    "http400": (("{f}/http400_invalid_request.xml", "--status", "400", "--json"), None),
    "human_failure": (("{f}/auth_sender_not_authorized.xml",), None),
    "human_http504": (("{tmp}/gateway-timeout.txt", "--status", "504"), None),
    "human_success": (("{f}/readbyquery_project_and_read.xml",), None),
    "missing": (("{tmp}/missing.xml",), None),
}

FAILURES = [
    ("control_bad_sender.xml", 200, "control", "sender_config", ["XL03000006"]),
    ("control_demo_expired.xml", 200, "control", "ws_subscription", ["PL04000055"]),
    ("control_parse_error.xml", 200, "control", None, ["XL03000003", "XL03000003"]),
    ("http401_xmlgw_jpp0002.xml", 401, "control", "credentials", ["XMLGW_JPP0002"]),
    ("http400_invalid_request.xml", 400, "control", "credentials", ["invalidRequest"]),
    ("http429_gw0010.xml", 429, "control", "transient", ["GW-0010"]),
    ("auth_sign_in_incorrect.xml", 200, "authentication", "credentials", ["XL03000006"]),
    ("auth_invalid_session.xml", 200, "authentication", "transient", ["XL03000006"]),
    ("result_readmore_failed.xml", 200, "result", "transient", ["readMore failed"]),
    ("result_unknown_object.xml", 200, "result", None, ["Query Failed"]),
]
for _name, _status, *_ in FAILURES:
    JOBS[_name] = (("{f}/" + _name, "--status", str(_status), "--json"), None)


def _run(args: list[str], stdin: bytes | None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "intacct", "explain", *args],
        cwd=ROOT,
        input=stdin.decode() if stdin is not None else None,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


@pytest.fixture(scope="module")
def cli(tmp_path_factory: pytest.TempPathFactory) -> dict[str, subprocess.CompletedProcess[str]]:
    """Every command line of JOBS, run once, several at a time (each is a fresh interpreter)."""
    tmp = tmp_path_factory.mktemp("explain")
    for name, content in TMP_FILES.items():
        (tmp / name).write_bytes(content)
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {
            key: pool.submit(_run, [a.format(f=FIXTURES, tmp=tmp) for a in args], stdin)
            for key, (args, stdin) in JOBS.items()
        }
        return {key: future.result() for key, future in futures.items()}


def as_json(proc: subprocess.CompletedProcess[str]) -> tuple[int, dict[str, Any]]:
    assert proc.returncode in (0, 1), proc.stderr
    data = json.loads(proc.stdout)
    check_shape(data)
    return proc.returncode, data


def check_error_shape(error: dict[str, Any]) -> None:
    assert set(error) == ERROR_KEYS
    assert all(v is None or (isinstance(v, str) and v) for v in error.values())


def check_shape(data: dict[str, Any]) -> None:
    """The documented shape; extra keys are allowed at the top level."""
    assert set(data) >= TOP_KEYS
    assert isinstance(data["ok"], bool)
    assert data["level"] in LEVELS
    assert data["step"] is None or isinstance(data["step"], str)
    assert isinstance(data["errors"], list)
    for error in data["errors"]:
        check_error_shape(error)
    assert isinstance(data["results"], list)
    for result in data["results"]:
        assert set(result) >= RESULT_KEYS
        for key in ("function", "controlid", "status"):
            assert isinstance(result[key], str)
        for key in ("listtype", "result_id"):
            assert result[key] is None or isinstance(result[key], str)
        for key in ("count", "totalcount", "numremaining"):
            assert result[key] is None or type(result[key]) is int
        assert type(result["records"]) is int
        for error in result["errors"]:
            check_error_shape(error)
    if data["ok"]:
        assert (data["level"], data["step"], data["errors"]) == (None, None, [])


def summary(result: dict[str, Any]) -> dict[str, Any]:
    return {k: result[k] for k in RESULT_KEYS}


# --- successes -----------------------------------------------------------------------------------


def test_read_by_query_page(cli: dict[str, Any]) -> None:
    code, data = as_json(cli["apbill"])
    assert code == 0
    assert (data["ok"], data["level"], data["step"], data["errors"]) == (True, None, None, [])
    assert [summary(r) for r in data["results"]] == [
        {
            "function": "readByQuery",
            "controlid": "9936226c-8443-4a40-8a38-f621fc79a6a3",
            "status": "success",
            "listtype": "apbill",
            "count": 1,
            "totalcount": 816,
            "numremaining": 815,
            "result_id": "7765623338X7bwUx4HsmSBC9j3Gof@eQAAAAY4",
            "records": 1,
            "errors": [],
        }
    ]


def test_several_results_empty_page_and_absent_attributes(cli: dict[str, Any]) -> None:
    code, data = as_json(cli["project"])
    assert code == 0
    assert data["ok"]
    by_query, read = data["results"]
    assert (by_query["records"], by_query["numremaining"]) == (5, 30)
    assert summary(read) == {
        "function": "read",
        "controlid": "19c628be-6bb3-4798-b535-c373b1186584",
        "status": "success",
        "listtype": "PROJECT",
        "count": 1,
        "totalcount": None,
        "numremaining": None,
        "result_id": None,
        "records": 1,
        "errors": [],
    }

    code, data = as_json(cli["empty"])
    assert code == 0
    [empty] = data["results"]
    assert (empty["count"], empty["totalcount"], empty["numremaining"]) == (0, 0, 0)
    assert (empty["records"], empty["result_id"]) == (0, None)


def test_get_api_session_has_no_list_attributes(cli: dict[str, Any]) -> None:
    code, data = as_json(cli["session"])
    assert code == 0
    [result] = data["results"]
    assert summary(result) == {
        "function": "getAPISession",
        "controlid": "96264639-21bc-4525-90bd-027179da9c9c",
        "status": "success",
        "listtype": None,
        "count": None,
        "totalcount": None,
        "numremaining": None,
        "result_id": None,
        "records": 0,
        "errors": [],
    }
    assert "4dfZhgdAZ3jR" not in json.dumps(data)  # the session id is not echoed


def test_legacy_get_list(cli: dict[str, Any]) -> None:
    code, data = as_json(cli["get_list"])
    assert code == 0
    [result] = data["results"]
    assert (result["listtype"], result["totalcount"], result["records"]) == ("class", 2, 2)


# --- failures ------------------------------------------------------------------------------------


@pytest.mark.parametrize(("name", "status", "level", "step", "errornos"), FAILURES)
def test_failures_name_level_step_and_errors(
    cli: dict[str, Any],
    name: str,
    status: int,
    level: str,
    step: str | None,
    errornos: list[str],
) -> None:
    code, data = as_json(cli[name])
    assert code == 1
    assert data["ok"] is False
    assert (data["level"], data["step"]) == (level, step)
    assert [e["errorno"] for e in data["errors"]] == errornos
    if level in ("control", "authentication"):
        assert data["results"] == []
    else:
        assert [r["status"] for r in data["results"]] == ["failure"]
        assert data["results"][0]["errors"] == data["errors"]


def test_sender_not_authorized_keeps_every_part_decoded(cli: dict[str, Any]) -> None:
    code, data = as_json(cli["not_authorized"])
    assert code == 1
    assert (data["level"], data["step"]) == ("authentication", "sender_authorization")
    assert data["errors"] == [
        {
            "errorno": "XL03000006",
            "description": "Invalid Web Services Authorization",
            "description2": "The sender ID 'test_sender_id' is not authorized to make Web "
            "Services requests to company ID 'test_company_id'.",
            "correction": "Contact the company administrator to grant Web Services "
            "authorization to this sender ID.",
        }
    ]


def test_gateway_error_without_description2_or_correction_gives_nulls(cli: dict[str, Any]) -> None:
    _, data = as_json(cli["http401_xmlgw_jpp0002.xml"])
    assert data["errors"] == [
        {
            "errorno": "XMLGW_JPP0002",
            "description": "Sign-in information is incorrect. Please check your request.",
            "description2": None,
            "correction": None,
        }
    ]


def test_mixed_results_report_every_failure_and_the_successes(cli: dict[str, Any]) -> None:
    code, data = as_json(cli["mixed"])
    assert code == 1
    assert (data["ok"], data["level"], data["step"]) == (False, "result", None)
    assert [r["status"] for r in data["results"]] == ["failure", "success", "failure"]
    assert [r["records"] for r in data["results"]] == [0, 1, 0]
    assert [e["errorno"] for e in data["errors"]] == [
        "Invalid fields list x",
        "Invalid fields list y",
    ]


def test_permission_denied_names_the_role_step(cli: dict[str, Any]) -> None:
    code, data = as_json(cli["permission"])
    assert code == 1
    assert (data["level"], data["step"]) == ("result", "role_permissions")
    ok, denied = data["results"]
    assert (ok["status"], ok["records"], ok["numremaining"]) == ("success", 1, 41)
    assert denied["controlid"] == "arinvoice-probe"
    assert denied["errors"][0]["errorno"] == "PL04000005"


def test_non_xml_502_is_an_http_level_transient_failure(cli: dict[str, Any]) -> None:
    code, data = as_json(cli["http502"])
    assert code == 1
    assert (data["ok"], data["level"], data["step"]) == (False, "http", "transient")
    assert (data["errors"], data["results"]) == ([], [])


def test_non_xml_with_http_200_is_a_protocol_failure(cli: dict[str, Any]) -> None:
    code, data = as_json(cli["plain200"])
    assert code == 1
    assert (data["ok"], data["level"], data["step"]) == (False, "protocol", None)


def test_incomplete_result_block_is_a_protocol_failure(cli: dict[str, Any]) -> None:
    code, data = as_json(cli["incomplete"])
    assert code == 1
    assert (data["level"], data["step"], data["results"]) == ("protocol", None, [])


def test_hostile_document_is_a_protocol_failure(cli: dict[str, Any]) -> None:
    code, data = as_json(cli["xxe"])
    assert code == 1
    assert data["level"] == "protocol"
    assert "root:" not in json.dumps(data)


def test_reads_standard_input(cli: dict[str, Any]) -> None:
    code, data = as_json(cli["stdin"])
    assert code == 1
    assert (data["level"], data["step"]) == ("authentication", "transient")


def test_json_matches_the_explain_function(cli: dict[str, Any]) -> None:
    body = (FIXTURES / "http400_invalid_request.xml").read_bytes()
    _, data = as_json(cli["http400"])
    assert data == json.loads(json.dumps(explain(body, 400)))


# --- human output and usage ----------------------------------------------------------------------


def test_human_output_mentions_the_step_and_the_errors(cli: dict[str, Any]) -> None:
    proc = cli["human_failure"]
    assert proc.returncode == 1
    assert "FAILED" in proc.stdout
    assert "authentication" in proc.stdout
    assert "sender_authorization" in proc.stdout
    assert "XL03000006" in proc.stdout
    assert "Invalid Web Services Authorization" in proc.stdout
    assert not proc.stdout.lstrip().startswith("{")


def test_human_output_for_a_transient_http_failure(cli: dict[str, Any]) -> None:
    proc = cli["human_http504"]
    assert proc.returncode == 1
    assert "http" in proc.stdout
    assert "transient" in proc.stdout


def test_human_output_for_success(cli: dict[str, Any]) -> None:
    proc = cli["human_success"]
    assert proc.returncode == 0
    assert proc.stdout.startswith("OK")
    assert "readByQuery" in proc.stdout
    assert "30 remaining" in proc.stdout


def test_unreadable_file_is_a_usage_error(cli: dict[str, Any]) -> None:
    proc = cli["missing"]
    assert proc.returncode == 2
    assert "cannot read" in proc.stderr
    assert proc.stdout == ""
