"""The verification service against the sandbox over loopback: every scenario lands on the right
wizard step, results are recorded row by row, earlier progress survives failures and outages, and
no secret leaks into logs, JSON or audit details."""

from __future__ import annotations

import json
import logging
import threading
from datetime import timedelta

import pytest
from django.db import connection
from django.urls import reverse
from django.utils import timezone

from connections.models import (
    HANDOFF_STEPS,
    ApiSyncProfile,
    AuditEvent,
    CheckResult,
    ConnectionAttempt,
    LegalEntity,
    Step,
    StepState,
    VerificationRun,
    step_for_intacct,
)
from connections.selectors.profiles import granted_sync_objects
from connections.selectors.reports import SENDER_CONFIG_REASON, verification_report
from connections.services import signin, verification
from connections.services.intacct_entities import EntityListError, list_intacct_entities
from connections.services.signin import client_for, guide_names
from connections.services.verification import (
    RETRY_MESSAGE,
    STALE_MESSAGE,
    expire_stale_runs,
    run_verification,
    start_verification,
)
from intacct.errors import GUIDE_STEPS
from intacct.sandbox import SANDBOX_SENDER_PASSWORD, SANDBOX_USER_PASSWORD


def report_for(run):
    """The run as ``connection verify --json`` prints it."""
    return verification_report(run).to_json()


pytestmark = pytest.mark.django_db

SECRETS = (SANDBOX_USER_PASSWORD, SANDBOX_SENDER_PASSWORD)

# company, entity, the intacct step that fails first (None = healthy)
SCENARIOS = [
    ("healthy-top", "", None),
    ("healthy-multi", "", None),
    ("healthy-multi", "E100", None),
    ("no-subscription", "", "ws_subscription"),
    ("sender-not-authorized", "", "sender_authorization"),
    ("bad-password", "", "credentials"),
    ("bad-password-401", "", "credentials"),
    ("unknown-company", "", "credentials"),
    ("missing-permissions", "", "role_permissions"),
    ("no-role", "", "role_assignment"),
    ("no-custom-field", "", "custom_field"),
    ("wrong-custom-field-type", "", None),  # the reported type is advisory
    ("bad-entity", "E100", "entity"),
    ("rate-limited", "", None),
    ("flaky", "", None),
    ("bad-sender-password", "", "sender_config"),
    ("demo-expired", "", "ws_subscription"),
]


def verified(attempt: ConnectionAttempt) -> VerificationRun:
    """Start a verification of ``attempt`` and run it here, as the worker would."""
    run = start_verification(attempt)
    finished = run_verification(run.pk)
    assert finished is not None
    return finished


def statuses(attempt: ConnectionAttempt) -> dict[str, str]:
    return dict(StepState.objects.filter(attempt=attempt).values_list("step", "status"))


# --- Every scenario ---------------------------------------------------------------------------------


@pytest.mark.parametrize(("company", "entity", "failing"), SCENARIOS)
def test_verification_names_the_failing_wizard_step(make_attempt, company, entity, failing):
    attempt = make_attempt(company, entity=entity)

    run = verified(attempt)

    attempt.refresh_from_db()
    legal_entity = LegalEntity.objects.get(pk=attempt.legal_entity_id)
    report = report_for(run)
    step_results = run.results.filter(kind=CheckResult.Kind.STEP)
    assert list(step_results.values_list("key", flat=True)) == list(GUIDE_STEPS)
    assert report["attempt"] == str(attempt.public_id)
    assert report["run"] == str(run.public_id)
    assert report["state"] == run.state
    json.dumps(report)
    if failing is None:
        assert run.state == VerificationRun.State.PASSED, report["steps"]
        assert report["ok"] is True
        assert attempt.state == ConnectionAttempt.State.VERIFIED
        assert legal_entity.last_verified_at is not None
        assert legal_entity.last_error_code == ""
        states = statuses(attempt)
        for step in (*HANDOFF_STEPS, Step.CREDENTIALS):
            assert states[step] == StepState.Status.VERIFIED, step
        assert states[Step.PRE_CONNECTION] == StepState.Status.PENDING
        assert states[Step.API_SYNC_PROFILE] == StepState.Status.PENDING
        assert run.results.filter(kind=CheckResult.Kind.PERMISSION).exists()
        assert run.results.filter(kind=CheckResult.Kind.CUSTOM_FIELD, outcome="passed").exists()
        return
    wizard_step = step_for_intacct(failing)
    assert run.state == VerificationRun.State.FAILED
    assert report["ok"] is False
    assert attempt.state == ConnectionAttempt.State.FAILED
    first = next(s for s in report["steps"] if s["status"] == "failed")
    assert first["step"] == failing
    assert first["wizard_step"] == wizard_step
    assert first["remedy"]
    state = StepState.objects.get(attempt=attempt, step=wizard_step)
    assert state.status == StepState.Status.FAILED
    assert state.reason
    assert legal_entity.last_error_code == failing
    assert legal_entity.last_error
    assert legal_entity.last_verified_at is None
    assert AuditEvent.objects.filter(
        legal_entity=legal_entity, action="verification.failed", detail__failed_step=failing
    ).exists()


@pytest.mark.parametrize("company", ["healthy-top", "healthy-multi"])
def test_a_healthy_company_takes_one_or_two_round_trips(make_attempt, company):
    run = verified(make_attempt(company))

    assert run.state == VerificationRun.State.PASSED
    assert 1 <= run.round_trips <= 2
    assert report_for(run)["round_trips"] == run.round_trips


def test_missing_permissions_are_reported_row_by_row(make_attempt):
    attempt = make_attempt("missing-permissions")

    run = verified(attempt)

    rows = run.results.filter(kind=CheckResult.Kind.PERMISSION)
    missing = set(rows.filter(outcome="missing").values_list("key", flat=True))
    assert missing == {"vendors", "gl_accounts", "ap_terms"}
    vendors = rows.get(key="vendors")
    assert vendors.object_names == ["VENDOR"]
    assert vendors.remedy_step == Step.ROLE_PERMISSIONS
    report = report_for(run)
    by_key = {row["key"]: row for row in report["permissions"]}
    assert by_key["vendors"]["granted"] is False
    assert by_key["vendors"]["status"] == "missing"
    assert by_key["vendors"]["screen"]
    assert by_key["departments"]["granted"] is True
    state = StepState.objects.get(attempt=attempt, step=Step.ROLE_PERMISSIONS)
    assert state.status == StepState.Status.FAILED
    assert "Vendors" in state.reason
    assert state.errorno == "PL04000005"
    assert statuses(attempt)[Step.ROLE_ASSIGNMENT] == StepState.Status.VERIFIED


def test_custom_field_of_another_reported_type_passes_with_the_note(make_attempt):
    """Unverified what DATATYPE a URL field reports: the type is advisory, kept for the note."""
    run = verified(make_attempt("wrong-custom-field-type"))

    field = report_for(run)["custom_field"]
    assert field["found"] is True
    assert field["type_ok"] is False
    assert field["status"] == "passed"
    assert field["field_id"].upper().startswith("BEANWORKS")
    assert "TEXT" in field["message"]
    assert "URL" in field["message"]


def test_missing_custom_field_is_reported_as_not_found(make_attempt):
    run = verified(make_attempt("no-custom-field"))

    field = report_for(run)["custom_field"]
    assert field["found"] is False
    assert field["type_ok"] is False


def test_multi_entity_company_lists_its_entities_and_dimensions(make_attempt):
    run = verified(make_attempt("healthy-multi"))

    report = report_for(run)
    assert [e["id"] for e in report["entities"]] == ["E100", "E200", "E300"]
    assert {d["object"] for d in report["user_defined_dimensions"]} == {"PROGRAM", "FUND"}
    assert {"PROGRAM", "FUND", "VENDOR"} <= set(granted_sync_objects(run))


def test_a_failed_sign_in_lists_its_likely_causes_in_order(make_attempt):
    run = verified(make_attempt("bad-password"))

    step = next(s for s in report_for(run)["steps"] if s["step"] == "credentials")
    assert step["wizard_step"] == Step.CREDENTIALS
    assert "(1)" in step["remedy"]
    assert step["remedy"].index("(1)") < step["remedy"].index("(2)")


# --- Progress is kept -------------------------------------------------------------------------------


def test_fixing_the_scenario_and_verifying_again_turns_it_green(make_attempt, sandbox):
    attempt = make_attempt("missing-permissions")
    assert verified(attempt).state == VerificationRun.State.FAILED

    sandbox.set_scenario("missing-permissions", "healthy_top")
    run = verified(attempt)

    assert run.state == VerificationRun.State.PASSED
    attempt.refresh_from_db()
    assert attempt.state == ConnectionAttempt.State.VERIFIED
    assert statuses(attempt)[Step.ROLE_PERMISSIONS] == StepState.Status.VERIFIED
    legal_entity = LegalEntity.objects.get(pk=attempt.legal_entity_id)
    assert legal_entity.last_error_code == ""
    assert legal_entity.last_error == ""
    assert legal_entity.last_verified_at is not None
    assert attempt.runs.count() == 2


def test_a_failed_run_keeps_acknowledged_and_earlier_verified_steps(make_attempt, sandbox):
    attempt = make_attempt("healthy-top")
    StepState.objects.filter(
        attempt=attempt, step__in=[Step.PRE_CONNECTION, Step.CUSTOM_FIELD]
    ).update(status=StepState.Status.ACKNOWLEDGED, acknowledged_at=timezone.now())
    assert verified(attempt).state == VerificationRun.State.PASSED

    sandbox.set_scenario("healthy-top", "bad_password")
    run = verified(attempt)

    assert run.state == VerificationRun.State.FAILED
    states = statuses(attempt)
    assert states[Step.PRE_CONNECTION] == StepState.Status.ACKNOWLEDGED
    # Skipped by the failed run: what the earlier run proved stands.
    assert states[Step.ROLE_PERMISSIONS] == StepState.Status.VERIFIED
    assert states[Step.CUSTOM_FIELD] == StepState.Status.VERIFIED
    assert states[Step.CREDENTIALS] == StepState.Status.FAILED
    custom_field = StepState.objects.get(attempt=attempt, step=Step.CUSTOM_FIELD)
    assert custom_field.acknowledged_at is not None


def test_unreachable_intacct_is_an_error_with_a_retry_message(
    make_attempt, closed_port_endpoint, caplog
):
    attempt = make_attempt("healthy-top")
    assert verified(attempt).state == VerificationRun.State.PASSED
    before = statuses(attempt)
    verified_at = LegalEntity.objects.get(pk=attempt.legal_entity_id).last_verified_at
    ConnectionAttempt.objects.filter(pk=attempt.pk).update(endpoint=closed_port_endpoint)
    attempt.refresh_from_db()

    run = verified(attempt)

    assert run.state == VerificationRun.State.ERROR
    assert run.error == RETRY_MESSAGE
    assert "could not be reached" in run.error
    assert "try again" in run.error
    assert run.finished_at is not None
    assert not run.results.exists()
    assert statuses(attempt) == before
    attempt.refresh_from_db()
    assert attempt.state == ConnectionAttempt.State.VERIFIED
    legal_entity = LegalEntity.objects.get(pk=attempt.legal_entity_id)
    assert legal_entity.last_verified_at == verified_at
    assert legal_entity.last_error_code == ""
    report = report_for(run)
    assert report["ok"] is False
    assert report["state"] == "error"
    assert report["error"] == RETRY_MESSAGE


def test_unreachable_intacct_on_a_first_run_puts_the_attempt_back_to_draft(
    make_attempt, closed_port_endpoint
):
    attempt = make_attempt("healthy-top", endpoint=closed_port_endpoint)

    run = verified(attempt)

    assert run.state == VerificationRun.State.ERROR
    attempt.refresh_from_db()
    assert attempt.state == ConnectionAttempt.State.DRAFT
    assert set(statuses(attempt).values()) == {StepState.Status.PENDING}


def test_a_slow_intacct_is_an_error_with_a_retry_message(make_attempt, sandbox, monkeypatch):
    monkeypatch.setattr(signin, "TIMEOUT_SECONDS", 0.2)
    monkeypatch.setattr(signin, "MAX_RETRIES", 0)
    sandbox.latency_ms = 600
    attempt = make_attempt("healthy-top")

    run = verified(attempt)

    assert run.state == VerificationRun.State.ERROR
    assert run.error == RETRY_MESSAGE


def test_an_unexpected_failure_is_an_error_not_an_exception(make_attempt, monkeypatch, caplog):
    def broken_verify(client, **kwargs):
        raise RuntimeError("something nobody expected")

    monkeypatch.setattr(verification, "verify", broken_verify)
    attempt = make_attempt("healthy-top")

    run = verified(attempt)

    assert run.state == VerificationRun.State.ERROR
    assert run.error == RETRY_MESSAGE
    attempt.refresh_from_db()
    assert attempt.state == ConnectionAttempt.State.DRAFT
    assert AuditEvent.objects.filter(action="verification.error", detail__cause="unexpected")
    assert any(r.levelno == logging.ERROR for r in caplog.records)


def test_an_endpoint_we_may_not_send_credentials_to_is_an_error(make_attempt, settings):
    attempt = make_attempt("healthy-top")
    settings.INTACCT_ALLOWED_ENDPOINT_HOSTS = []

    run = verified(attempt)

    assert run.state == VerificationRun.State.ERROR
    assert "we have been alerted" in run.error
    assert not run.results.exists()


# --- Our own sender credentials ---------------------------------------------------------------------


@pytest.mark.parametrize("how", ["scenario", "settings"])
def test_a_sender_failure_alerts_us_and_does_not_blame_the_customer(
    make_attempt, settings, caplog, how
):
    if how == "scenario":
        attempt = make_attempt("bad-sender-password")
    else:
        settings.INTACCT_SENDER_PASSWORD = "not-our-sender-password"
        attempt = make_attempt("healthy-top")
    caplog.set_level(logging.DEBUG)

    run = verified(attempt)

    assert run.state == VerificationRun.State.FAILED
    event = AuditEvent.objects.get(action="verification.sender_config_failed")
    assert event.legal_entity_id == attempt.legal_entity_id
    assert event.detail["run"] == str(run.public_id)
    errors = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert any("sender" in r.getMessage() for r in errors)
    state = StepState.objects.get(attempt=attempt, step=Step.CREDENTIALS)
    assert state.status == StepState.Status.FAILED
    assert state.reason == SENDER_CONFIG_REASON
    assert "we have been alerted" in state.reason
    assert "our configuration" in state.reason
    # The customer is sent to no Intacct-side step.
    failed = StepState.objects.filter(attempt=attempt, status=StepState.Status.FAILED)
    assert list(failed.values_list("step", flat=True)) == [Step.CREDENTIALS]
    step = report_for(run)["steps"][0]
    assert step["step"] == "sender_config"
    assert step["message"] == SENDER_CONFIG_REASON
    assert "not yours" in step["remedy"]
    assert "not-our-sender-password" not in caplog.text


# --- Starting runs ----------------------------------------------------------------------------------


def test_start_verification_queues_a_run_and_marks_the_attempt_verifying(make_attempt, user):
    attempt = make_attempt("healthy-top")

    run = start_verification(attempt, user=user)

    assert run.state == VerificationRun.State.QUEUED
    assert run.requested_by == user
    assert run.trigger == VerificationRun.Trigger.WIZARD
    attempt.refresh_from_db()
    assert attempt.state == ConnectionAttempt.State.VERIFYING
    assert AuditEvent.objects.filter(action="verification.started", actor=user).exists()
    report = report_for(run)
    assert report["state"] == "queued"
    assert report["finished"] is False
    assert report["steps"] == []


def test_starting_twice_returns_the_active_run(make_attempt):
    attempt = make_attempt("healthy-top")

    first = start_verification(attempt)
    second = start_verification(attempt)

    assert second.pk == first.pk
    assert VerificationRun.objects.filter(attempt=attempt).count() == 1


def test_a_finished_run_does_not_block_the_next(make_attempt):
    attempt = make_attempt("healthy-top")
    first = verified(attempt)

    second = start_verification(attempt)

    assert second.pk != first.pk
    assert second.state == VerificationRun.State.QUEUED


def test_a_start_that_loses_the_race_returns_the_winner(make_attempt, monkeypatch):
    attempt = make_attempt("healthy-top")
    winner = VerificationRun.objects.create(attempt=attempt)
    looked = []

    def active_run_missing_the_winner(attempt):
        # The first look happens before the winner commits: it sees nothing.
        looked.append(attempt.pk)
        return None if len(looked) == 1 else VerificationRun.objects.get(pk=winner.pk)

    monkeypatch.setattr(verification, "active_run", active_run_missing_the_winner)

    run = start_verification(attempt)

    assert run.pk == winner.pk
    assert len(looked) == 2
    assert VerificationRun.objects.filter(attempt=attempt).count() == 1


@pytest.mark.django_db(transaction=True)
def test_concurrent_starts_return_the_same_active_run(make_attempt):
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        pytest.skip("in-memory SQLite locks whole tables between threads: see the test above")
    attempt = make_attempt("healthy-top")
    barrier = threading.Barrier(4)
    runs: list[int] = []
    errors: list[BaseException] = []

    def start() -> None:
        try:
            barrier.wait()
            runs.append(start_verification(ConnectionAttempt.objects.get(pk=attempt.pk)).pk)
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=start) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert not errors
    assert len(set(runs)) == 1
    assert VerificationRun.objects.filter(attempt=attempt).count() == 1


def test_a_claimed_run_is_not_run_twice(make_attempt):
    attempt = make_attempt("healthy-top")
    run = start_verification(attempt)
    assert run_verification(run.pk) is not None

    assert run_verification(run.pk) is None
    assert run_verification(run.pk + 1000) is None
    assert CheckResult.objects.filter(run=run, kind=CheckResult.Kind.STEP).count() == len(
        GUIDE_STEPS
    )


def test_stale_runs_are_expired_and_the_attempt_can_be_verified_again(make_attempt):
    attempt = make_attempt("healthy-top")
    run = start_verification(attempt)
    long_ago = timezone.now() - timedelta(hours=1)
    VerificationRun.objects.filter(pk=run.pk).update(
        state=VerificationRun.State.RUNNING, created_at=long_ago, started_at=long_ago
    )

    assert expire_stale_runs() == 1

    run.refresh_from_db()
    assert run.state == VerificationRun.State.ERROR
    assert run.error == STALE_MESSAGE
    attempt.refresh_from_db()
    assert attempt.state == ConnectionAttempt.State.DRAFT
    assert run_verification(run.pk) is None
    assert verified(attempt).state == VerificationRun.State.PASSED


def test_fresh_runs_are_not_expired(make_attempt):
    run = start_verification(make_attempt("healthy-top"))

    assert expire_stale_runs() == 0

    run.refresh_from_db()
    assert run.state == VerificationRun.State.QUEUED


# --- Secrets ----------------------------------------------------------------------------------------


def test_no_secret_in_logs_json_or_audit(make_attempt, sandbox, caplog, closed_port_endpoint):
    caplog.set_level(logging.DEBUG)
    runs = [
        verified(make_attempt("healthy-multi", entity="E100")),
        verified(make_attempt("bad-password")),
        verified(make_attempt("bad-sender-password")),
        verified(make_attempt("healthy-top", endpoint=closed_port_endpoint)),
    ]

    text = caplog.text + " ".join(str(r.args) for r in caplog.records)
    details = json.dumps(list(AuditEvent.objects.values_list("detail", flat=True)))
    reports = json.dumps([report_for(run) for run in runs])
    for secret in SECRETS:
        assert secret not in text
        assert secret not in details
        assert secret not in reports


def test_client_for_signs_in_as_the_attempt_with_our_sender(make_attempt, settings):
    attempt = make_attempt("healthy-multi", entity="E200")

    with client_for(attempt) as client:
        assert client.credentials.entity_id == "E200"
        assert client.credentials.company_id == "healthy-multi"
        assert client.credentials.sender_id == settings.INTACCT_SENDER_ID
        assert client.endpoint == attempt.endpoint
        assert SANDBOX_USER_PASSWORD not in repr(client)
    with client_for(attempt, entity_id=False) as client:
        assert client.credentials.entity_id is None
    with client_for(attempt, entity_id="E300") as client:
        assert client.credentials.entity_id == "E300"


def test_guide_names_follow_the_settings(settings):
    settings.INTACCT_GUIDE = {**settings.INTACCT_GUIDE, "ROLE_NAME": "Other API"}

    assert guide_names().role_name == "Other API"


# --- The entity picker ------------------------------------------------------------------------------


def test_entities_are_listed_at_top_level(make_attempt):
    entities = list_intacct_entities(make_attempt("healthy-multi", entity="E300"))

    assert [e["id"] for e in entities] == ["E100", "E200", "E300"]
    assert all(e["name"] for e in entities)


def test_a_company_without_entities_lists_none(make_attempt):
    assert list_intacct_entities(make_attempt("healthy-top")) == []


def test_entity_list_refused_sign_in_names_the_guide_step(make_attempt):
    with pytest.raises(EntityListError) as caught:
        list_intacct_entities(make_attempt("bad-password"))

    assert caught.value.step == Step.CREDENTIALS
    assert Step.CREDENTIALS.label in caught.value.message
    assert SANDBOX_USER_PASSWORD not in caught.value.message


def test_entity_list_without_subscription_points_at_the_subscription(make_attempt):
    with pytest.raises(EntityListError) as caught:
        list_intacct_entities(make_attempt("no-subscription"))

    assert caught.value.step == Step.WS_SUBSCRIPTION
    assert Step.WS_SUBSCRIPTION.label in caught.value.message


def test_entity_list_unreachable_says_try_again(make_attempt, closed_port_endpoint):
    with pytest.raises(EntityListError) as caught:
        list_intacct_entities(make_attempt("healthy-multi", endpoint=closed_port_endpoint))

    assert caught.value.step is None
    assert "try again" in caught.value.message


def test_entity_list_sender_failure_is_ours(make_attempt, caplog):
    attempt = make_attempt("bad-sender-password")

    with pytest.raises(EntityListError) as caught:
        list_intacct_entities(attempt)

    assert "we have been alerted" in caught.value.message
    assert AuditEvent.objects.filter(
        action="verification.sender_config_failed", legal_entity=attempt.legal_entity
    ).exists()
    assert any(r.levelno == logging.ERROR for r in caplog.records)


@pytest.mark.parametrize(
    ("company", "readable"), [("healthy-top", True), ("no-audit-trail", False)]
)
def test_verification_records_the_audit_trail_and_teaches_the_profile(
    make_attempt, client, system_admin, company, readable
):
    attempt = make_attempt(company)
    ApiSyncProfile.objects.create(legal_entity_id=attempt.legal_entity_id, object_names=["VENDOR"])

    run = verified(attempt)

    assert run.state == VerificationRun.State.PASSED
    line = run.results.get(kind=CheckResult.Kind.OPTIONAL)
    assert line.outcome == ("granted" if readable else "missing")
    profile = ApiSyncProfile.objects.get(legal_entity_id=attempt.legal_entity_id)
    assert profile.audit_trail is readable
    report = report_for(run)
    assert report["optional_permissions"][0]["status"] == line.outcome
    client.force_login(system_admin)
    page = client.get(reverse("connections:credentials", args=[attempt.legal_entity.public_id]))
    assert "Audit trail (optional)" in page.text
    assert ("Not granted (optional)" in page.text) is not readable


@pytest.mark.parametrize(("company", "causes"), [("unknown-company", 1), ("bad-password", 5)])
def test_the_report_gives_an_unknown_company_its_one_cause(make_attempt, company, causes):
    """An unknown company ID has one cause; a refused sign-in, the usual list."""
    from connections.selectors.reports import verification_report

    run = verified(make_attempt(company))

    line = next(s for s in verification_report(run).steps if s.key == "credentials")
    assert len(line.causes) == causes
    assert line.causes[0].startswith("The company ID is wrong")
