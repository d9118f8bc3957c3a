from __future__ import annotations

from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.db import IntegrityError, transaction
from django.db.models import RestrictedError
from django.urls import reverse
from django.utils import timezone

from connections.models import (
    HANDOFF_STEPS,
    ApiSyncProfile,
    AuditEvent,
    CheckResult,
    ConnectionAttempt,
    LegalEntity,
    Membership,
    Organization,
    OrgUnit,
    Step,
    StepState,
    VerificationRun,
    step_for_intacct,
)
from connections.selectors.connections import step_states
from connections.selectors.profiles import (
    SyncObjectsUnknown,
    api_sync_profile_status,
    default_sync_objects,
)
from connections.services.accounts import add_member, add_org_unit, create_organization
from connections.services.api_sync import create_api_sync_profile
from connections.services.attempts import start_attempt
from intacct.errors import GUIDE_STEPS, STEP_TRANSIENT
from intacct.sandbox import SANDBOX_USER_PASSWORD
from tests.factories import (
    INTACCT_PASSWORD,
    CheckResultFactory,
    ConnectionAttemptFactory,
    HandoffLinkFactory,
    LegalEntityFactory,
    MembershipFactory,
    OrganizationFactory,
    OrgUnitFactory,
    StepStateFactory,
    UserFactory,
    VerificationRunFactory,
)

pytestmark = pytest.mark.django_db


# --- Constraints the database enforces --------------------------------------------------------------


def test_second_root_unit_is_refused_by_the_database(organization):
    with pytest.raises(IntegrityError), transaction.atomic():
        OrgUnit.objects.create(organization=organization, name="Another root")


def test_second_root_unit_fails_validation_with_a_message(organization):
    unit = OrgUnit(organization=organization, name="Another root")

    with pytest.raises(ValidationError, match="already has a root org unit"):
        unit.full_clean()


def test_each_organization_has_its_own_root(organization):
    other = OrganizationFactory()

    assert organization.units.root() != other.units.root()
    assert other.units.root().is_root


def test_org_unit_parent_must_be_in_the_same_organization(organization):
    other = OrganizationFactory()
    unit = OrgUnit(organization=organization, name="Stray", parent=other.units.root())

    with pytest.raises(ValidationError, match="another organization"):
        unit.full_clean()


def test_org_unit_cannot_become_its_own_ancestor(organization):
    child = organization.units.get(name="Field office")
    grandchild = OrgUnitFactory(organization=organization, parent=child)
    child.parent = grandchild

    with pytest.raises(ValidationError, match="cycle"):
        child.full_clean()


def test_second_current_attempt_is_refused_by_the_database(legal_entity):
    ConnectionAttemptFactory(legal_entity=legal_entity)

    with pytest.raises(IntegrityError), transaction.atomic():
        ConnectionAttemptFactory(legal_entity=legal_entity)


def test_history_keeps_any_number_of_past_attempts(legal_entity):
    for _ in range(2):
        ConnectionAttemptFactory(
            legal_entity=legal_entity,
            is_current=False,
            state=ConnectionAttempt.State.SUPERSEDED,
        )
    ConnectionAttemptFactory(legal_entity=legal_entity)

    assert legal_entity.attempts.count() == 3
    assert legal_entity.attempts.current().count() == 1


def test_superseded_attempt_cannot_be_current(legal_entity):
    with pytest.raises(IntegrityError), transaction.atomic():
        ConnectionAttemptFactory(
            legal_entity=legal_entity, state=ConnectionAttempt.State.SUPERSEDED
        )


def test_top_level_attempt_has_no_entity_id(legal_entity):
    with pytest.raises(IntegrityError), transaction.atomic():
        ConnectionAttemptFactory(legal_entity=legal_entity, entity_id="E100")

    attempt = ConnectionAttemptFactory(
        legal_entity=legal_entity,
        integration_type=ConnectionAttempt.IntegrationType.ENTITY_LEVEL,
        entity_id="E100",
    )
    assert attempt.entity_id == "E100"


def test_new_attempt_defaults_to_the_configured_endpoint(legal_entity, settings):
    settings.INTACCT_ENDPOINT = "https://api.intacct.com/ia/xml/xmlgw.phtml"

    attempt = ConnectionAttempt.objects.create(legal_entity=legal_entity)

    assert attempt.endpoint == "https://api.intacct.com/ia/xml/xmlgw.phtml"
    assert attempt.state == ConnectionAttempt.State.DRAFT
    assert attempt.is_current


def test_second_active_verification_run_is_refused_by_the_database():
    attempt = ConnectionAttemptFactory()
    VerificationRunFactory(attempt=attempt, state=VerificationRun.State.QUEUED)

    for state in VerificationRun.ACTIVE:
        with pytest.raises(IntegrityError), transaction.atomic():
            VerificationRunFactory(attempt=attempt, state=state)


def test_finished_runs_do_not_block_a_new_one():
    attempt = ConnectionAttemptFactory()
    for state in VerificationRun.FINISHED:
        VerificationRunFactory(attempt=attempt, state=state)

    VerificationRunFactory(attempt=attempt, state=VerificationRun.State.RUNNING)

    assert attempt.runs.count() == len(VerificationRun.FINISHED) + 1


def test_finished_run_records_when_it_finished():
    with pytest.raises(IntegrityError), transaction.atomic():
        VerificationRunFactory(state=VerificationRun.State.PASSED, finished_at=None)


def test_one_step_state_per_step():
    state = StepStateFactory(step=Step.WS_USER)

    with pytest.raises(IntegrityError), transaction.atomic():
        StepStateFactory(attempt=state.attempt, step=Step.WS_USER)


def test_failed_step_says_why():
    with pytest.raises(IntegrityError), transaction.atomic():
        StepStateFactory(status=StepState.Status.FAILED, reason="")

    state = StepStateFactory(
        status=StepState.Status.FAILED, reason="Sender ID not authorized", errorno="XL03000006"
    )
    assert state.errorno == "XL03000006"


def test_check_result_positions_are_unique_per_run():
    result = CheckResultFactory(position=1)

    with pytest.raises(IntegrityError), transaction.atomic():
        CheckResultFactory(run=result.run, position=1)


def test_handoff_link_expires_after_it_is_created():
    now = timezone.now()

    with pytest.raises(IntegrityError), transaction.atomic():
        HandoffLinkFactory(created_at=now, expires_at=now)


def test_one_membership_per_user_and_organization(organization):
    membership = MembershipFactory(organization=organization)

    with pytest.raises(IntegrityError), transaction.atomic():
        MembershipFactory(organization=organization, user=membership.user)


def test_membership_home_unit_must_belong_to_its_organization(organization):
    other = OrganizationFactory()
    membership = Membership(
        user=UserFactory(),
        organization=organization,
        role=Membership.Role.VIEWER,
        home_org_unit=other.units.root(),
    )

    with pytest.raises(ValidationError, match="home org unit must belong"):
        membership.full_clean()


def test_legal_entity_names_are_unique_per_organization(organization):
    LegalEntityFactory(organization=organization, name="Acme UK")
    LegalEntityFactory(name="Acme UK")

    with pytest.raises(IntegrityError), transaction.atomic():
        LegalEntityFactory(organization=organization, name="Acme UK")


def test_org_unit_with_members_cannot_be_deleted_but_its_organization_can(organization):
    membership = MembershipFactory(organization=organization)

    with pytest.raises(RestrictedError):
        membership.home_org_unit.delete()

    organization.delete()
    assert not Membership.objects.exists()


def test_constraint_names_follow_the_house_pattern():
    names = [
        constraint.name
        for model in (OrgUnit, ConnectionAttempt, VerificationRun, StepState, LegalEntity)
        for constraint in model._meta.constraints
    ]

    assert "connections_orgunit_one_root" in names
    assert "connections_connectionattempt_one_current" in names
    assert "connections_verificationrun_one_active" in names
    assert all(name.startswith("connections_") for name in names)


# --- Steps ------------------------------------------------------------------------------------------


def test_steps_are_in_guide_order():
    assert [step.value for step in Step] == [
        "pre_connection",
        "ws_subscription",
        "ws_user",
        "role_permissions",
        "role_assignment",
        "sender_authorization",
        "custom_field",
        "credentials",
        "api_sync_profile",
        "smartsync",
    ]
    assert [step.value for step in HANDOFF_STEPS] == [step.value for step in Step][1:7]


def test_every_intacct_step_key_has_a_wizard_page():
    for key in GUIDE_STEPS:
        assert step_for_intacct(key) in Step

    assert step_for_intacct("entity") == Step.CREDENTIALS
    assert step_for_intacct("sender_config") == Step.CREDENTIALS
    assert step_for_intacct("role_permissions") == Step.ROLE_PERMISSIONS
    assert step_for_intacct(STEP_TRANSIENT) is None
    assert step_for_intacct(None) is None


# --- Services ---------------------------------------------------------------------------------------


def test_create_organization_makes_its_root_unit():
    organization = create_organization("Globex", root_unit_name="Headquarters")

    assert organization.slug == "globex"
    assert organization.units.root().name == "Headquarters"
    assert AuditEvent.objects.filter(
        organization=organization, action="organization.created"
    ).exists()


def test_add_member_defaults_to_the_root_and_is_safe_to_run_twice():
    organization = create_organization("Globex")
    user = UserFactory()

    first = add_member(organization, user, role=Membership.Role.APPROVER)
    second = add_member(organization, user, role=Membership.Role.APPROVER)

    assert first.pk == second.pk
    assert first.home_org_unit == organization.units.root()
    assert AuditEvent.objects.filter(action__startswith="membership.").count() == 1


def test_add_member_moves_an_existing_member():
    organization = create_organization("Globex")
    branch = add_org_unit(organization, "Branch")
    user = UserFactory()
    add_member(organization, user, role=Membership.Role.SYSTEM_ADMINISTRATOR)

    membership = add_member(
        organization, user, role=Membership.Role.SYSTEM_ADMINISTRATOR, home_org_unit=branch
    )

    assert membership.home_org_unit == branch
    assert Membership.objects.get().home_org_unit == branch
    assert AuditEvent.objects.filter(action="membership.changed").exists()


def test_start_attempt_supersedes_the_current_one_and_opens_every_step(legal_entity, system_admin):
    first = start_attempt(legal_entity, actor=system_admin, company_id="acme", password="one")

    second = start_attempt(legal_entity, actor=system_admin, company_id="acme", password="two")

    first.refresh_from_db()
    assert not first.is_current
    assert first.state == ConnectionAttempt.State.SUPERSEDED
    assert second.is_current
    assert second.user_id == "Beanworks"
    assert second.started_by == system_admin
    assert [state.step for state in step_states(second)] == [step.value for step in Step]
    assert {state.status for state in second.steps.all()} == {StepState.Status.PENDING}
    event = AuditEvent.objects.filter(action="attempt.started").first()
    assert event.detail["superseded"] == [str(first.public_id)]
    assert "two" not in str(event.detail)


# --- API Sync Profile -------------------------------------------------------------------------------


def verified_with(legal_entity, rows):
    """A passed verification of the entity's current attempt whose permission rows are
    ``(key, objects, outcome)``."""
    attempt = legal_entity.attempts.current().first() or start_attempt(
        legal_entity, company_id="acme"
    )
    run = VerificationRunFactory(attempt=attempt, state=VerificationRun.State.PASSED)
    for position, (key, names, outcome) in enumerate(rows):
        CheckResultFactory(
            run=run,
            position=position,
            kind=CheckResult.Kind.PERMISSION,
            key=key,
            object_names=names,
            outcome=outcome,
        )
    return run


MIXED_ROWS = [
    ("vendors", ["VENDOR"], CheckResult.Outcome.GRANTED),
    ("items", ["ITEM"], CheckResult.Outcome.NOT_APPLICABLE),
    ("bills", ["APBILL"], CheckResult.Outcome.GRANTED),
    ("user_defined_dimensions", ["PROGRAM"], CheckResult.Outcome.GRANTED),
    ("gl_accounts", ["GLACCOUNT"], CheckResult.Outcome.MISSING),
]


def test_api_sync_profile_pulls_what_the_last_verification_proved_readable(legal_entity):
    verified_with(legal_entity, MIXED_ROWS)

    assert api_sync_profile_status(legal_entity) == ApiSyncProfile.Status.WAITING
    profile, created = create_api_sync_profile(legal_entity)

    assert created
    # Granted list rows only: not the write row (APBILL), not a missing or absent module.
    assert profile.object_names == ["VENDOR", "PROGRAM"]
    assert default_sync_objects(legal_entity) == ["VENDOR", "PROGRAM"]
    assert api_sync_profile_status(legal_entity) == ApiSyncProfile.Status.READY
    step = legal_entity.attempts.current().get().steps.get(step=Step.API_SYNC_PROFILE)
    assert step.status == StepState.Status.VERIFIED


def test_api_sync_profile_without_a_verdict_must_name_its_objects(legal_entity):
    attempt = start_attempt(legal_entity, company_id="acme")
    VerificationRunFactory(attempt=attempt, state=VerificationRun.State.ERROR)

    with pytest.raises(SyncObjectsUnknown, match="no finished verification"):
        create_api_sync_profile(legal_entity)
    assert not ApiSyncProfile.objects.filter(legal_entity=legal_entity).exists()

    profile, _ = create_api_sync_profile(legal_entity, object_names=["VENDOR"])
    assert profile.object_names == ["VENDOR"]


def test_api_sync_profile_refused_when_nothing_was_readable(legal_entity):
    verified_with(legal_entity, [("vendors", ["VENDOR"], CheckResult.Outcome.MISSING)])

    with pytest.raises(SyncObjectsUnknown, match="no list object readable"):
        create_api_sync_profile(legal_entity)


def test_admin_and_command_line_create_the_same_profile(staff_client, organization):
    by_admin = LegalEntityFactory(organization=organization, name="By admin")
    by_command = LegalEntityFactory(organization=organization, name="By command")
    by_add_form = LegalEntityFactory(organization=organization, name="By add form")
    for legal_entity in (by_admin, by_command, by_add_form):
        verified_with(legal_entity, MIXED_ROWS)

    staff_client.post(
        reverse("admin:connections_legalentity_changelist"),
        {"action": "create_api_sync_profile_action", "_selected_action": [by_admin.pk]},
    )
    call_command("connection", "profile", str(by_command.public_id), stdout=StringIO())
    staff_client.post(
        reverse("admin:connections_apisyncprofile_add"),
        {
            "legal_entity": by_add_form.pk,
            "object_names": "",
            "enabled": "on",
            "max_concurrent_requests": "2",
        },
    )

    profiles = {
        profile.legal_entity.name: profile.object_names
        for profile in ApiSyncProfile.objects.select_related("legal_entity")
    }
    assert profiles == {
        "By admin": ["VENDOR", "PROGRAM"],
        "By command": ["VENDOR", "PROGRAM"],
        "By add form": ["VENDOR", "PROGRAM"],
    }
    for legal_entity in (by_admin, by_command, by_add_form):
        step = legal_entity.attempts.current().get().steps.get(step=Step.API_SYNC_PROFILE)
        assert step.status == StepState.Status.VERIFIED


def test_create_api_sync_profile_twice_keeps_the_first(legal_entity):
    first, _ = create_api_sync_profile(legal_entity, object_names=["VENDOR"])

    second, created = create_api_sync_profile(legal_entity)

    assert not created
    assert second.pk == first.pk
    assert second.object_names == ["VENDOR"]


def test_waiting_for_api_sync_profile_lists_verified_entities_without_one(organization):
    waiting = LegalEntityFactory(organization=organization)
    ConnectionAttemptFactory(legal_entity=waiting, state=ConnectionAttempt.State.VERIFIED)
    ready = LegalEntityFactory(organization=organization)
    ConnectionAttemptFactory(legal_entity=ready, state=ConnectionAttempt.State.VERIFIED)
    create_api_sync_profile(ready, object_names=["VENDOR"])
    draft = LegalEntityFactory(organization=organization)
    ConnectionAttemptFactory(legal_entity=draft)

    assert list(LegalEntity.objects.waiting_for_api_sync_profile()) == [waiting]


# --- Admin ------------------------------------------------------------------------------------------


@pytest.fixture
def staff_client(client, django_user_model):
    staff = django_user_model.objects.create_superuser("cs", "cs@example.com", "a-long-password-1")
    client.force_login(staff)
    return client


def test_admin_action_creates_api_sync_profiles(staff_client, legal_entity):
    verified_with(legal_entity, MIXED_ROWS)
    response = staff_client.post(
        reverse("admin:connections_legalentity_changelist"),
        {"action": "create_api_sync_profile_action", "_selected_action": [legal_entity.pk]},
        follow=True,
    )

    assert response.status_code == 200
    assert "API Sync Profile created for Acme US" in response.content.decode()
    profile = ApiSyncProfile.objects.get(legal_entity=legal_entity)
    assert profile.created_by.username == "cs"
    assert profile.enabled


def test_admin_action_says_why_it_cannot_pick_the_objects(staff_client, legal_entity):
    start_attempt(legal_entity, company_id="acme")

    response = staff_client.post(
        reverse("admin:connections_legalentity_changelist"),
        {"action": "create_api_sync_profile_action", "_selected_action": [legal_entity.pk]},
        follow=True,
    )

    assert "Acme US has no finished verification to take the objects from" in (
        response.content.decode()
    )
    assert not ApiSyncProfile.objects.filter(legal_entity=legal_entity).exists()


def test_admin_never_shows_the_password(staff_client, legal_entity):
    attempt = ConnectionAttemptFactory(legal_entity=legal_entity)
    stored = ConnectionAttempt.objects.filter(pk=attempt.pk).values_list("password", flat=True)

    changelist = staff_client.get(reverse("admin:connections_connectionattempt_changelist"))
    change = staff_client.get(
        reverse("admin:connections_connectionattempt_change", args=[attempt.pk])
    )

    for response in (changelist, change):
        page = response.content.decode()
        assert response.status_code == 200
        assert INTACCT_PASSWORD not in page
        assert "gAAAAA" not in page
        assert "•••• (set)" in page
    assert 'type="password"' in change.content.decode()
    assert stored.get().reveal() == INTACCT_PASSWORD


def _change_form_data(attempt: ConnectionAttempt, **changes: str) -> dict[str, str]:
    data = {
        "legal_entity": str(attempt.legal_entity_id),
        "integration_type": attempt.integration_type,
        "company_id": attempt.company_id,
        "entity_id": attempt.entity_id,
        "user_id": attempt.user_id,
        "password": "",
        "endpoint": attempt.endpoint,
        # The endpoint has a callable default, so the form compares against a hidden initial.
        "initial-endpoint": attempt.endpoint,
        "state": attempt.state,
        "is_current": "on",
        "steps-TOTAL_FORMS": "0",
        "steps-INITIAL_FORMS": "0",
        "steps-MIN_NUM_FORMS": "0",
        "steps-MAX_NUM_FORMS": "1000",
    }
    data.update(changes)
    return data


def test_admin_blank_password_keeps_the_stored_one(staff_client, legal_entity):
    attempt = ConnectionAttemptFactory(legal_entity=legal_entity)
    url = reverse("admin:connections_connectionattempt_change", args=[attempt.pk])

    response = staff_client.post(url, _change_form_data(attempt, company_id="acme-2"))

    assert response.status_code == 302, response.content.decode()
    attempt.refresh_from_db()
    assert attempt.company_id == "acme-2"
    assert attempt.password.reveal() == INTACCT_PASSWORD
    event = AuditEvent.objects.get(action="admin.connectionattempt.changed")
    assert event.detail["fields"] == ["company_id"]
    assert event.legal_entity == legal_entity


def test_admin_new_password_is_encrypted_and_audited_without_its_value(staff_client, legal_entity):
    attempt = ConnectionAttemptFactory(legal_entity=legal_entity)
    url = reverse("admin:connections_connectionattempt_change", args=[attempt.pk])

    staff_client.post(url, _change_form_data(attempt, password="Brand-new-Pa55"))

    attempt.refresh_from_db()
    assert attempt.password.reveal() == "Brand-new-Pa55"
    event = AuditEvent.objects.get(action="admin.connectionattempt.changed")
    assert event.detail["fields"] == ["password"]
    assert "Brand-new-Pa55" not in str(event.detail)


def test_admin_pages_load_for_every_model(staff_client, legal_entity):
    attempt = ConnectionAttemptFactory(legal_entity=legal_entity)
    CheckResultFactory(run__attempt=attempt)
    HandoffLinkFactory(attempt=attempt)
    create_api_sync_profile(legal_entity, object_names=["VENDOR"])

    for model in (
        "organization",
        "orgunit",
        "membership",
        "legalentity",
        "connectionattempt",
        "stepstate",
        "verificationrun",
        "checkresult",
        "apisyncprofile",
        "auditevent",
        "handofflink",
    ):
        response = staff_client.get(reverse(f"admin:connections_{model}_changelist"))
        assert response.status_code == 200, model


# --- Demo data --------------------------------------------------------------------------------------


def test_demo_data_builds_the_demo_organization():
    call_command("demo_data", no_verify=True, stdout=StringIO())

    organization = Organization.objects.get(name="Demo Co")
    root = organization.units.root()
    assert organization.units.filter(parent=root).count() == 1
    roles = {
        m.user.username: (m.role, m.home_org_unit.is_root)
        for m in organization.memberships.select_related("user", "home_org_unit")
    }
    assert roles == {
        "customer": (Membership.Role.SYSTEM_ADMINISTRATOR, True),
        "member": (Membership.Role.SYSTEM_ADMINISTRATOR, False),
        "clerk": (Membership.Role.AP_CLERK, True),
    }
    attempts = {
        a.legal_entity.name: a
        for a in ConnectionAttempt.objects.current().select_related("legal_entity")
    }
    assert {name: a.company_id for name, a in attempts.items()} == {
        "Demo US (healthy)": "healthy-top",
        "Demo UK (missing permission)": "missing-permissions",
        "Demo CA (sender not authorized)": "sender-not-authorized",
        "Demo AU (no custom field)": "no-custom-field",
        "Demo DE (fields differ)": "fields-differ",
        "Demo FR (no audit trail)": "no-audit-trail",
        "Demo NL (audit trail worded otherwise)": "audit-trail-differs",
        "Demo Group East (shared limit)": "two-requests-at-a-time",
        "Demo Group West (shared limit)": "two-requests-at-a-time",
        "Demo Group North (shared limit)": "two-requests-at-a-time",
    }
    for attempt in attempts.values():
        assert attempt.state == ConnectionAttempt.State.DRAFT
        assert attempt.user_id == "Beanworks"
        assert attempt.password.reveal() == SANDBOX_USER_PASSWORD


def test_demo_data_twice_adds_nothing():
    call_command("demo_data", no_verify=True, stdout=StringIO())
    counts = [
        model.objects.count()
        for model in (Organization, OrgUnit, Membership, LegalEntity, ConnectionAttempt)
    ]
    events = AuditEvent.objects.count()

    out = StringIO()
    call_command("demo_data", no_verify=True, stdout=out)

    assert [
        model.objects.count()
        for model in (Organization, OrgUnit, Membership, LegalEntity, ConnectionAttempt)
    ] == counts
    assert AuditEvent.objects.count() == events
    assert "demo-member" in out.getvalue()
    assert "demo-clerk" in out.getvalue()


def test_started_audit_records_when(legal_entity):
    before = timezone.now()

    start_attempt(legal_entity)

    assert AuditEvent.objects.get(action="attempt.started").at >= before
