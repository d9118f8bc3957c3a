"""``manage.py connection``: create → verify → profile → list, in-process and as a real process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from connections.models import (
    ApiSyncProfile,
    AuditEvent,
    ConnectionAttempt,
    LegalEntity,
    Organization,
    Step,
    StepState,
    VerificationRun,
)
from connections.selectors.connections import last_checked_run
from connections.selectors.profiles import granted_sync_objects
from intacct.permissions import PERMISSION_ROWS, UDD_ROW_KEY
from intacct.sandbox import SANDBOX_SENDER_PASSWORD, SANDBOX_USER_ID, SANDBOX_USER_PASSWORD
from tests.conftest import BASE_DIR

pytestmark = pytest.mark.django_db

PASSWORD_VAR = "CONNECTION_TEST_INTACCT_PASSWORD"


@pytest.fixture
def password_env(monkeypatch):
    monkeypatch.setenv(PASSWORD_VAR, SANDBOX_USER_PASSWORD)
    return PASSWORD_VAR


def connection(*args: str) -> str:
    out = StringIO()
    call_command("connection", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def create(gateway: str, company: str, *extra: str, org: str = "acme-cli") -> dict[str, str]:
    return json.loads(
        connection(
            "create",
            "--org",
            org,
            "--create-org",
            "--legal-entity",
            f"{company} books",
            "--company",
            company,
            "--user",
            SANDBOX_USER_ID,
            "--password-env",
            PASSWORD_VAR,
            "--endpoint",
            gateway,
            "--allow-endpoint",
            "127.0.0.1",
            "--json",
            *extra,
        )
    )


def test_create_verify_profile_list_end_to_end(sandbox, sandbox_gateway, password_env):
    created = create(sandbox_gateway, "healthy-multi")

    legal_entity = LegalEntity.objects.get(public_id=created["legal_entity"])
    attempt = ConnectionAttempt.objects.get(public_id=created["attempt"])
    assert attempt.legal_entity == legal_entity
    assert attempt.is_current
    assert attempt.company_id == "healthy-multi"
    assert attempt.password.reveal() == SANDBOX_USER_PASSWORD
    assert legal_entity.organization.slug == "acme-cli"

    report = json.loads(connection("verify", created["legal_entity"], "--json"))

    assert report["ok"] is True
    assert report["attempt"] == created["attempt"]
    assert report["state"] == "passed"
    assert 1 <= report["round_trips"] <= 2
    assert {s["step"] for s in report["steps"]} >= {"credentials", "role_permissions"}
    assert all(s["status"] != "failed" for s in report["steps"])
    for key in ("ok", "steps", "permissions", "entities", "custom_field", "round_trips"):
        assert key in report
    run = VerificationRun.objects.get(public_id=report["run"])
    assert run.trigger == VerificationRun.Trigger.COMMAND
    assert run.attempt == attempt

    output = connection("profile", created["legal_entity"])

    profile = ApiSyncProfile.objects.get(legal_entity=legal_entity)
    assert profile.enabled
    assert "created" in output
    list_rows = {row.key for row in PERMISSION_ROWS if row.kind == "list"}
    granted = {
        name
        for row in report["permissions"]
        if row["granted"] and row["key"] in list_rows
        for name in row["objects"]
    }
    assert set(profile.object_names) == granted
    assert {"PROGRAM", "FUND"} <= set(profile.object_names)
    assert "VENDOR" in profile.object_names
    assert StepState.objects.get(attempt=attempt, step=Step.API_SYNC_PROFILE).status == "verified"

    rows = json.loads(connection("list", "--json"))

    assert len(rows) == 1
    row = rows[0]
    assert row["legal_entity"] == created["legal_entity"]
    assert row["attempt"] == created["attempt"]
    assert row["state"] == ConnectionAttempt.State.VERIFIED
    assert row["step"] == Step.SMARTSYNC
    assert row["api_sync_profile"] == ApiSyncProfile.Status.READY
    assert row["organization"] == "acme-cli"


def test_create_reuses_the_legal_entity_and_supersedes_the_attempt(
    sandbox, sandbox_gateway, password_env
):
    first = create(sandbox_gateway, "healthy-top")
    second = create(sandbox_gateway, "healthy-top")

    assert second["legal_entity"] == first["legal_entity"]
    assert second["attempt"] != first["attempt"]
    assert (
        ConnectionAttempt.objects.get(public_id=first["attempt"]).state
        == ConnectionAttempt.State.SUPERSEDED
    )
    assert Organization.objects.filter(slug="acme-cli").count() == 1


def test_create_with_an_entity_is_entity_level(sandbox, sandbox_gateway, password_env):
    created = create(sandbox_gateway, "healthy-multi", "--entity", "E200")

    attempt = ConnectionAttempt.objects.get(public_id=created["attempt"])
    assert attempt.integration_type == ConnectionAttempt.IntegrationType.ENTITY_LEVEL
    assert attempt.entity_id == "E200"
    report = json.loads(connection("verify", created["legal_entity"], "--json"))
    assert report["ok"] is True


def test_create_without_the_password_variable_names_it(sandbox, sandbox_gateway, monkeypatch):
    monkeypatch.delenv(PASSWORD_VAR, raising=False)

    with pytest.raises(CommandError, match=PASSWORD_VAR):
        create(sandbox_gateway, "healthy-top")

    assert not ConnectionAttempt.objects.exists()


def test_create_needs_create_org_for_a_new_organization(sandbox, password_env):
    with pytest.raises(CommandError, match="--create-org"):
        connection(
            "create",
            "--org",
            "nowhere",
            "--legal-entity",
            "Books",
            "--company",
            "healthy-top",
            "--user",
            SANDBOX_USER_ID,
            "--password-env",
            PASSWORD_VAR,
        )


def test_create_refuses_an_endpoint_outside_intacct_unless_allowed(
    sandbox, sandbox_gateway, password_env, settings
):
    base = [
        "create",
        "--org",
        "acme-cli",
        "--create-org",
        "--legal-entity",
        "Books",
        "--company",
        "healthy-top",
        "--user",
        SANDBOX_USER_ID,
        "--password-env",
        PASSWORD_VAR,
    ]
    with pytest.raises(CommandError, match="--allow-endpoint"):
        connection(*base, "--endpoint", "http://evil.example/ia/xml/xmlgw.phtml")
    with pytest.raises(CommandError, match="INTACCT_ALLOWED_ENDPOINT_HOSTS"):
        connection(
            *base,
            "--endpoint",
            "http://evil.example/ia/xml/xmlgw.phtml",
            "--allow-endpoint",
            "evil.example",
        )
    assert not ConnectionAttempt.objects.exists()


def test_verify_of_a_failing_company_prints_the_report_and_exits_non_zero(
    sandbox, sandbox_gateway, password_env
):
    created = create(sandbox_gateway, "missing-permissions")
    out = StringIO()

    with pytest.raises(CommandError, match="role_permissions"):
        call_command("connection", "verify", created["legal_entity"], "--json", stdout=out)

    report = json.loads(out.getvalue())
    assert report["ok"] is False
    assert report["state"] == "failed"
    missing = {row["key"] for row in report["permissions"] if row["status"] == "missing"}
    assert missing == {"vendors", "gl_accounts", "ap_terms"}
    assert SANDBOX_USER_PASSWORD not in out.getvalue()


def test_verify_prints_a_readable_table(sandbox, sandbox_gateway, password_env):
    created = create(sandbox_gateway, "no-custom-field")
    out = StringIO()

    with pytest.raises(CommandError):
        call_command("connection", "verify", created["legal_entity"], stdout=out)

    text = out.getvalue()
    assert "FAIL  custom_field" in text
    assert "fix (custom_field)" in text
    assert "Permissions" in text


def test_verify_when_intacct_is_unreachable_says_try_again(
    sandbox, closed_port_endpoint, password_env
):
    created = create(closed_port_endpoint, "healthy-top")
    out = StringIO()

    with pytest.raises(CommandError, match="try again"):
        call_command("connection", "verify", created["legal_entity"], "--json", stdout=out)

    assert json.loads(out.getvalue())["state"] == "error"


def test_verify_refuses_while_a_run_is_under_way(sandbox, sandbox_gateway, password_env):
    created = create(sandbox_gateway, "healthy-top")
    attempt = ConnectionAttempt.objects.get(public_id=created["attempt"])
    VerificationRun.objects.create(attempt=attempt)

    with pytest.raises(CommandError, match="under way"):
        connection("verify", created["legal_entity"])


@pytest.mark.parametrize("value", ["not-a-uuid", "00000000-0000-0000-0000-000000000000"])
def test_unknown_legal_entity_is_a_command_error(value):
    with pytest.raises(CommandError):
        connection("verify", value)
    with pytest.raises(CommandError):
        connection("profile", value)


def test_profile_with_objects_then_changed_then_disabled(sandbox, sandbox_gateway, password_env):
    created = create(sandbox_gateway, "healthy-top")
    legal_entity = LegalEntity.objects.get(public_id=created["legal_entity"])
    attempt = ConnectionAttempt.objects.get(public_id=created["attempt"])

    connection("profile", created["legal_entity"], "--objects", "VENDOR, GLACCOUNT,VENDOR")
    profile = ApiSyncProfile.objects.get(legal_entity=legal_entity)
    assert profile.object_names == ["VENDOR", "GLACCOUNT"]
    assert profile.enabled

    connection("profile", created["legal_entity"], "--objects", "VENDOR")
    profile.refresh_from_db()
    assert profile.object_names == ["VENDOR"]

    connection("profile", created["legal_entity"], "--disable")
    profile.refresh_from_db()
    assert not profile.enabled
    assert profile.object_names == ["VENDOR"]
    assert StepState.objects.get(attempt=attempt, step=Step.API_SYNC_PROFILE).status == "pending"
    changes = AuditEvent.objects.filter(
        legal_entity=legal_entity, action="api_sync_profile.changed"
    )
    assert changes.count() == 2
    assert AuditEvent.objects.filter(
        legal_entity=legal_entity, action="api_sync_profile.created"
    ).exists()
    rows = json.loads(connection("list", "--org", "acme-cli", "--json"))
    assert rows[0]["api_sync_profile"] == ApiSyncProfile.Status.WAITING


def test_profile_defaults_need_a_verification(sandbox, sandbox_gateway, password_env):
    created = create(sandbox_gateway, "healthy-top")

    with pytest.raises(CommandError, match="verify"):
        connection("profile", created["legal_entity"])
    with pytest.raises(CommandError, match="no API Sync Profile"):
        connection("profile", created["legal_entity"], "--disable")


def test_profile_defaults_leave_out_what_was_not_granted(sandbox, sandbox_gateway, password_env):
    created = create(sandbox_gateway, "missing-permissions")
    with pytest.raises(CommandError):
        connection("verify", created["legal_entity"])

    connection("profile", created["legal_entity"])

    legal_entity = LegalEntity.objects.get(public_id=created["legal_entity"])
    profile = ApiSyncProfile.objects.get(legal_entity=legal_entity)
    assert "VENDOR" not in profile.object_names
    assert "GLACCOUNT" not in profile.object_names
    assert "DEPARTMENT" in profile.object_names
    assert "PROGRAM" in profile.object_names  # the company's user-defined dimension
    attempt = ConnectionAttempt.objects.get(public_id=created["attempt"])
    assert profile.object_names == granted_sync_objects(last_checked_run(attempt))
    assert UDD_ROW_KEY not in profile.object_names


def test_list_shows_each_legal_entity_with_its_step_and_state(
    sandbox, sandbox_gateway, password_env, organization
):
    healthy = create(sandbox_gateway, "healthy-top")
    failing = create(sandbox_gateway, "no-role")
    connection("verify", healthy["legal_entity"])
    with pytest.raises(CommandError):
        connection("verify", failing["legal_entity"])
    LegalEntity.objects.create(organization=organization, name="Not started")

    rows = {row["name"]: row for row in json.loads(connection("list", "--json"))}

    assert rows["healthy-top books"]["state"] == "verified"
    # Every Intacct-side step is proven: next comes customer success's API Sync Profile.
    assert rows["healthy-top books"]["step"] == Step.API_SYNC_PROFILE
    assert rows["no-role books"]["state"] == "failed"
    assert rows["no-role books"]["step"] == Step.ROLE_ASSIGNMENT
    assert rows["no-role books"]["last_error_code"] == "role_assignment"
    assert rows["Not started"]["attempt"] is None
    assert rows["Not started"]["state"] is None
    only_acme = json.loads(connection("list", "--org", organization.slug, "--json"))
    assert [row["name"] for row in only_acme] == ["Not started"]
    text = connection("list")
    assert "no-role books" in text
    assert "role_assignment" in text


def test_list_takes_a_constant_number_of_queries(
    sandbox, sandbox_gateway, password_env, django_assert_max_num_queries
):
    for company in ("healthy-top", "no-role", "bad-password", "healthy-multi"):
        create(sandbox_gateway, company)

    with django_assert_max_num_queries(6):
        connection("list", "--json")


def test_list_of_an_unknown_organization_is_a_command_error():
    with pytest.raises(CommandError, match="nowhere"):
        connection("list", "--org", "nowhere")


def test_the_command_as_a_real_process(sandbox, sandbox_gateway, tmp_path):
    env = {
        **os.environ,
        "APP_ENV": "development",
        "DATABASE_URL": f"sqlite:///{tmp_path / 'db.sqlite3'}",
        "VAR_DIR": str(tmp_path),
        "INTACCT_ENDPOINT": sandbox_gateway,
        "INTACCT_ALLOWED_ENDPOINT_HOSTS": "127.0.0.1",
        "INTACCT_SENDER_PASSWORD": SANDBOX_SENDER_PASSWORD,
        PASSWORD_VAR: SANDBOX_USER_PASSWORD,
    }
    env.pop("DJANGO_SETTINGS_MODULE", None)

    def manage(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=BASE_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=check,
        )

    manage("migrate", "--noinput")
    created = json.loads(
        manage(
            "connection",
            "create",
            "--org",
            "acme",
            "--create-org",
            "--legal-entity",
            "Acme US",
            "--company",
            "healthy-top",
            "--user",
            SANDBOX_USER_ID,
            "--password-env",
            PASSWORD_VAR,
            "--json",
        ).stdout
    )
    verified = manage("connection", "verify", created["legal_entity"], "--json")
    profiled = manage("connection", "profile", created["legal_entity"])
    listed = manage("connection", "list", "--json")
    sandbox.set_scenario("healthy-top", "no_custom_field")
    failed = manage("connection", "verify", created["legal_entity"], "--json", check=False)

    report = json.loads(verified.stdout)
    assert report["ok"] is True
    assert report["attempt"] == created["attempt"]
    assert "created" in profiled.stdout
    assert json.loads(listed.stdout)[0]["state"] == "verified"
    assert failed.returncode == 1
    assert json.loads(failed.stdout)["ok"] is False
    assert "custom_field" in failed.stderr
    for result in (verified, profiled, listed, failed):
        assert SANDBOX_USER_PASSWORD not in result.stdout + result.stderr
