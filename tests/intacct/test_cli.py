"""``python -m intacct check`` and ``pull`` against every sandbox scenario over real HTTP."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from intacct import protocol as p
from intacct.__main__ import explain, main
from intacct.sandbox import SANDBOX_SENDER_ID, SANDBOX_SENDER_PASSWORD, SANDBOX_USER_PASSWORD
from intacct.sandbox.world import Sandbox

from .conftest import credentials
from .test_checks import SCENARIOS

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CLI_SENDER_PW", SANDBOX_SENDER_PASSWORD)
    monkeypatch.setenv("CLI_USER_PW", SANDBOX_USER_PASSWORD)


def connection_args(gateway: str, company: str, entity: str | None = None) -> list[str]:
    args = [
        "--endpoint", gateway, "--allow-endpoint", "127.0.0.1",
        "--sender-id", SANDBOX_SENDER_ID, "--sender-password-env", "CLI_SENDER_PW",
        "--company", company, "--user", "Beanworks", "--password-env", "CLI_USER_PW",
    ]  # fmt: skip
    if entity:
        args += ["--entity", entity]
    return args


@pytest.mark.parametrize(("company", "entity", "failing"), SCENARIOS)
def test_check_json_names_the_failing_step(
    env: None,
    live_gateway: str,
    capsys: pytest.CaptureFixture[str],
    company: str,
    entity: str | None,
    failing: str | None,
) -> None:
    code = main(["check", "--json", *connection_args(live_gateway, company, entity)])
    data = json.loads(capsys.readouterr().out)
    failed = [s["step"] for s in data["steps"] if s["status"] == "failed"]
    assert (failed[0] if failed else None) == failing
    assert data["ok"] is (failing is None)
    assert code == (0 if failing is None else 1)
    assert isinstance(data["round_trips"], int)
    assert data["round_trips"] >= 1
    assert all({"id", "name"} <= set(e) for e in data["entities"])


def test_check_human_output_names_step_and_remedy(
    env: None, live_gateway: str, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["check", *connection_args(live_gateway, "sender-not-authorized")])
    out = capsys.readouterr().out
    assert code == 1
    assert "FAILED at step sender_authorization" in out
    assert "BeanworksMPP" in out


def test_check_takes_the_guide_names_from_options(
    env: None, live_gateway: str, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["check", "--json", "--product", "Acme", *connection_args(live_gateway, "healthy-top")]
    assert main(args) == 1
    step = next(
        s for s in json.loads(capsys.readouterr().out)["steps"] if s["step"] == "custom_field"
    )
    assert step["status"] == "failed"
    assert "'ACME'" in step["message"]  # the Field ID follows the product
    assert "Label 'Acme'" in step["remedy"]
    assert "Link to Acme Invoice" in step["remedy"]
    field = ["--custom-field-id", "BEANWORKS"]
    assert main([*args, *field]) == 0


def test_check_takes_the_guide_names_from_the_environment(
    env: None,
    live_gateway: str,
    capsys: pytest.CaptureFixture[str],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("INTACCT_PRODUCT_NAME", "Acme")
    monkeypatch.setenv("INTACCT_ROLE_NAME", "Acme Robots")
    assert main(["check", *connection_args(live_gateway, "no-role")]) == 1
    assert "the role 'Acme Robots'" in capsys.readouterr().out


def test_check_against_intacct_requires_the_product_name(
    env: None, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("INTACCT_PRODUCT_NAME", raising=False)
    args = connection_args("https://api.intacct.com/ia/xml/xmlgw.phtml", "healthy-top")
    assert main(["check", *args]) == 2
    assert "--product is required" in capsys.readouterr().err


def test_password_comes_from_the_environment_only(
    live_gateway: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("CLI_USER_PW", raising=False)
    monkeypatch.setenv("CLI_SENDER_PW", SANDBOX_SENDER_PASSWORD)
    code = main(["check", *connection_args(live_gateway, "healthy-top")])
    assert code == 2
    assert "CLI_USER_PW" in capsys.readouterr().err


def test_a_foreign_endpoint_is_refused_without_allow(
    env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    args = connection_args("http://127.0.0.1:9/ia/xml/xmlgw.phtml", "healthy-top")
    args.remove("--allow-endpoint")
    args.remove("127.0.0.1")
    assert main(["check", *args]) == 1
    assert "intacct.com" in capsys.readouterr().err


@pytest.mark.parametrize("method", ["query", "readByQuery"])
def test_pull_streams_every_record_as_json_lines(
    env: None,
    live_gateway: str,
    live_world: Sandbox,
    capsys: pytest.CaptureFixture[str],
    method: str,
) -> None:
    args = ["pull", "VENDOR", "--method", method, "--page-size", "20"]
    code = main([*args, *connection_args(live_gateway, "healthy-top")])
    captured = capsys.readouterr()
    records = [json.loads(line) for line in captured.out.splitlines()]
    assert code == 0
    assert sorted(int(r["RECORDNO"]) for r in records) == sorted(
        live_world.snapshot("healthy-top", "VENDOR")
    )
    assert "VENDOR:" in captured.err  # progress on stderr, never in the data


def test_pull_since_reads_only_changes(
    env: None, live_gateway: str, live_world: Sandbox, capsys: pytest.CaptureFixture[str]
) -> None:
    company = live_world.company("healthy-top")
    company.mutate(changes=4, objects=["CLASS"])
    newest = max(
        datetime.strptime(v, "%m/%d/%Y %H:%M:%S") for v in company.snapshot("CLASS").values() if v
    ).strftime("%m/%d/%Y %H:%M:%S")
    args = ["pull", "CLASS", "--fields", "RECORDNO,NAME,WHENMODIFIED", "--since", newest]
    assert main([*args, *connection_args(live_gateway, "healthy-top")]) == 0
    records = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert records == []  # strictly after the newest change
    main(["pull", "CLASS", "--since", "01/01/2000 00:00:00", "--quiet",
          *connection_args(live_gateway, "healthy-top")])  # fmt: skip
    assert len(capsys.readouterr().out.splitlines()) == company.count("CLASS")


def test_pull_since_refuses_an_unreadable_timestamp(
    env: None, capsys: pytest.CaptureFixture[str]
) -> None:
    args = ["pull", "CLASS", "--since", "yesterday"]
    assert main([*args, *connection_args("http://127.0.0.1:9/x", "healthy-top")]) == 2
    assert "--since 'yesterday': use MM/DD/YYYY HH:MM:SS" in capsys.readouterr().err


# What pulling VENDOR does in each scenario: None = every record arrives.
PULL_OUTCOMES = [
    ("healthy-top", None, None),
    ("healthy-multi", None, None),
    ("healthy-multi", "E200", None),
    ("no-subscription", None, "ws_subscription"),
    ("sender-not-authorized", None, "sender_authorization"),
    ("bad-password", None, "credentials"),
    ("bad-password-401", None, "credentials"),
    ("unknown-company", None, "credentials"),
    ("missing-permissions", None, "role_permissions"),
    ("no-role", None, "role_permissions"),
    ("no-custom-field", None, None),
    ("wrong-custom-field-type", None, None),
    ("bad-entity", "E100", "entity"),
    ("rate-limited", None, None),
    ("flaky", None, None),
    ("bad-sender-password", None, "sender_config"),
    ("demo-expired", None, "ws_subscription"),
]


@pytest.mark.parametrize(("company", "entity", "step"), PULL_OUTCOMES)
def test_pull_in_every_scenario(
    env: None,
    live_gateway: str,
    capsys: pytest.CaptureFixture[str],
    company: str,
    entity: str | None,
    step: str | None,
) -> None:
    code = main(["pull", "VENDOR", "--quiet", *connection_args(live_gateway, company, entity)])
    captured = capsys.readouterr()
    if step is None:
        assert code == 0, captured.err
        assert captured.out.count("\n") > 0
    else:
        assert code == 1
        assert f"guide step: {step}" in captured.err
        assert captured.out == ""


@pytest.mark.parametrize(("company", "entity", "failing"), SCENARIOS)
def test_explain_a_raw_answer_from_every_scenario(
    live_gateway: str, tmp_path: Path, company: str, entity: str | None, failing: str | None
) -> None:
    """Save what the gateway answers to a sign-in, then ask ``explain`` what it means."""
    if company in ("rate-limited", "flaky"):
        pytest.skip("their answers vary by design; the client's retry tests cover them")
    creds = credentials(company, entity=entity)
    body = p.build_request(
        sender_id=creds.sender_id,
        sender_password=creds.sender_password,
        auth=creds.login(),
        functions=[p.get_api_session()],
    )
    answer = httpx.post(live_gateway, content=body, headers={"Content-Type": "application/xml"})
    saved = tmp_path / "answer.xml"
    saved.write_bytes(answer.content)
    data = explain(saved.read_bytes(), answer.status_code)
    expected = {"role_permissions": None, "role_assignment": None, "custom_field": None}
    # A sign-in alone proves nothing about the role or the custom field.
    assert data["step"] == expected.get(failing or "", failing)
    assert data["ok"] is (data["step"] is None)


def test_command_line_runs_as_a_module(live_gateway: str) -> None:
    """The real entry point in a fresh interpreter: ``python -m intacct check --json``."""
    env = dict(os.environ, CLI_SENDER_PW=SANDBOX_SENDER_PASSWORD, CLI_USER_PW=SANDBOX_USER_PASSWORD)
    proc = subprocess.run(
        [sys.executable, "-m", "intacct", "check", "--json",
         *connection_args(live_gateway, "missing-permissions")],
        cwd=ROOT, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert proc.returncode == 1, proc.stderr
    data = json.loads(proc.stdout)
    missing = {r["row"] for r in data["permissions"] if r["status"] == "missing"}
    assert "Accounts Payable — Vendors" in missing
    assert SANDBOX_USER_PASSWORD not in proc.stdout + proc.stderr
