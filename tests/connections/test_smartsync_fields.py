"""SmartSync in companies that lack some fields: the gateway refuses the query ("cannot be
queried"), the sync leaves the named fields out, retries once and says so; a field the sync needs
fails the object with the field and the guide step named. The same objects in the healthy company
sync with every field."""

from __future__ import annotations

import pytest

from connections.models import ApiSyncProfile, LegalEntity, ListItem, SyncRun, SyncRunObject
from connections.selectors.smartsync import sync_report
from tests.connections.test_smartsync import live_keys, object_row, profiled, sandbox_keys, sync

pytestmark = pytest.mark.django_db

OBJECTS = ["EMPLOYEE", "EXCHANGERATE", "VENDOR"]


def _entity(make_attempt, legal_entity: LegalEntity, company: str) -> LegalEntity:
    return profiled(make_attempt, legal_entity, company, OBJECTS)


def test_missing_optional_fields_are_left_out_with_a_warning(make_attempt, legal_entity, sandbox):
    entity = _entity(make_attempt, legal_entity, "fields-differ")
    run = sync(entity, kind=SyncRun.Kind.FULL)

    assert run.state == SyncRun.State.SUCCEEDED
    employee, rates, vendor = (object_row(run, n) for n in OBJECTS)
    assert employee.warnings == [
        "PERSONALINFO.CONTACTNAME is not available in this company; synced without it."
    ]
    assert rates.warnings == [
        "FROM_CURRENCY is not available in this company; synced without it.",
        "TO_CURRENCY is not available in this company; synced without it.",
    ]
    assert vendor.warnings == []
    for name in OBJECTS:
        assert live_keys(entity, name) == sandbox_keys(sandbox, "fields-differ", name)
    # Without its contact's name an employee is named by its ID; the field is not stored.
    item = ListItem.objects.filter(legal_entity=entity, object_name="EMPLOYEE").first()
    assert item is not None
    assert item.name == item.item_id
    assert "PERSONALINFO.CONTACTNAME" not in item.fields
    # The refused query and its retry are both counted.
    assert employee.requests >= 2
    report = sync_report(run)
    assert [o["warnings"] for o in report["objects"] if o["object"] == "EMPLOYEE"] == [
        employee.warnings
    ]


def test_partial_syncs_leave_the_learned_fields_out_from_the_start(
    make_attempt, legal_entity, sandbox
):
    entity = _entity(make_attempt, legal_entity, "fields-differ")
    full = sync(entity, kind=SyncRun.Kind.FULL)
    profile = ApiSyncProfile.objects.get(legal_entity=entity)
    assert profile.unavailable_fields == {
        "EMPLOYEE": ["PERSONALINFO.CONTACTNAME"],
        "EXCHANGERATE": ["FROM_CURRENCY", "TO_CURRENCY"],
    }
    sandbox.company("fields-differ").mutate(adds=1, changes=3, deletes=1, objects=["EMPLOYEE"])
    company = sandbox.company("fields-differ")
    failed_before, run_before = company.functions_failed, company.functions_run
    run = sync(entity, kind=SyncRun.Kind.PARTIAL)
    assert run.state == SyncRun.State.SUCCEEDED
    employee = object_row(run, "EMPLOYEE")
    # Still said, but no request was refused: the partial sync asked without the field at once.
    assert employee.warnings == object_row(full, "EMPLOYEE").warnings
    assert company.functions_failed == failed_before
    assert company.functions_run > run_before
    assert live_keys(entity, "EMPLOYEE") == sandbox_keys(sandbox, "fields-differ", "EMPLOYEE")


def test_a_partial_sync_in_a_healthy_company_learns_nothing(make_attempt, legal_entity, sandbox):
    entity = _entity(make_attempt, legal_entity, "healthy-top")
    sync(entity, kind=SyncRun.Kind.FULL)
    sync(entity, kind=SyncRun.Kind.PARTIAL)
    assert ApiSyncProfile.objects.get(legal_entity=entity).unavailable_fields == {}


def test_a_required_field_fails_the_object_naming_it_and_the_step(
    make_attempt, legal_entity, sandbox
):
    entity = _entity(make_attempt, legal_entity, "key-field-hidden")
    run = sync(entity, kind=SyncRun.Kind.FULL)

    assert run.state == SyncRun.State.PARTIAL
    vendor = object_row(run, "VENDOR")
    assert vendor.state == SyncRunObject.State.FAILED
    assert "VENDORID of VENDOR cannot be queried in this company" in vendor.error
    assert "step 3, Role and permissions" in vendor.error
    assert object_row(run, "EMPLOYEE").state == SyncRunObject.State.SUCCEEDED


def test_the_healthy_company_syncs_every_field(make_attempt, legal_entity, sandbox):
    entity = _entity(make_attempt, legal_entity, "healthy-top")
    run = sync(entity, kind=SyncRun.Kind.FULL)
    assert run.state == SyncRun.State.SUCCEEDED
    assert all(not row.warnings for row in run.object_results.all())
    item = ListItem.objects.filter(legal_entity=entity, object_name="EMPLOYEE").first()
    assert item is not None
    assert item.name != item.item_id


def test_the_warnings_are_on_the_smartsync_page_and_the_console(
    client, make_attempt, legal_entity, system_admin, sandbox
):
    from django.contrib.auth.models import Group
    from django.urls import reverse

    from connections.models import CUSTOMER_SUCCESS_GROUP
    from tests.factories import UserFactory

    entity = _entity(make_attempt, legal_entity, "fields-differ")
    sync(entity, kind=SyncRun.Kind.FULL)
    warning = "PERSONALINFO.CONTACTNAME is not available in this company; synced without it."
    client.force_login(system_admin)
    page = client.get(reverse("connections:smartsync", args=[entity.public_id])).text
    assert warning in page
    staff = UserFactory(username="cs", is_staff=True)
    staff.groups.add(Group.objects.get(name=CUSTOMER_SUCCESS_GROUP))
    client.force_login(staff)
    console = client.get(reverse("console:entity", args=[entity.public_id])).text
    assert warning in console
    assert "Fields this company does not have" in console


def _verify(attempt):
    from connections.services.verification import create_run, run_verification

    run, _ = create_run(attempt)
    finished = run_verification(run.pk)
    assert finished is not None
    return finished


def test_the_verification_learns_the_profiles_fields_in_its_first_request(
    make_attempt, legal_entity, sandbox
):
    attempt = make_attempt("fields-differ")
    ApiSyncProfile.objects.create(legal_entity=legal_entity, object_names=OBJECTS)
    without = _verify(attempt)
    profile = ApiSyncProfile.objects.get(legal_entity=legal_entity)
    # Exchange rates' own fields are missing from lookup; an employee's contact name is a
    # related record's (dotted), which only a refused sync proves.
    assert profile.unavailable_fields == {"EXCHANGERATE": ["FROM_CURRENCY", "TO_CURRENCY"]}
    # The lookups ride in the verification's requests: no round trip more than without a profile.
    ApiSyncProfile.objects.filter(pk=profile.pk).delete()
    assert _verify(attempt).round_trips == without.round_trips
    # A full sync asks every field again and learns the rest.
    ApiSyncProfile.objects.create(legal_entity=legal_entity, object_names=OBJECTS)
    sync(legal_entity, kind=SyncRun.Kind.FULL)
    profile = ApiSyncProfile.objects.get(legal_entity=legal_entity)
    assert profile.unavailable_fields == {
        "EMPLOYEE": ["PERSONALINFO.CONTACTNAME"],
        "EXCHANGERATE": ["FROM_CURRENCY", "TO_CURRENCY"],
    }


def test_a_company_that_gains_its_fields_is_asked_for_them_again(
    make_attempt, legal_entity, sandbox
):
    attempt = make_attempt("healthy-top")
    ApiSyncProfile.objects.create(
        legal_entity=legal_entity,
        object_names=OBJECTS,
        unavailable_fields={"EXCHANGERATE": ["FROM_CURRENCY"], "EMPLOYEE": ["LOCATIONID"]},
    )
    _verify(attempt)
    profile = ApiSyncProfile.objects.get(legal_entity=legal_entity)
    assert profile.unavailable_fields == {}
    ApiSyncProfile.objects.filter(pk=profile.pk).update(
        unavailable_fields={"EMPLOYEE": ["PERSONALINFO.CONTACTNAME"]}
    )
    sync(legal_entity, kind=SyncRun.Kind.FULL)
    assert ApiSyncProfile.objects.get(pk=profile.pk).unavailable_fields == {}
