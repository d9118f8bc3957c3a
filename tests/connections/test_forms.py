"""The wizard's forms: specific messages, trimmed IDs, warnings that do not block."""

from __future__ import annotations

import pytest
from django import forms
from django.test.html import parse_html

from connections.forms import (
    CredentialsForm,
    HandoffLinkForm,
    LegalEntityForm,
    LongSelect,
    PreConnectionForm,
    SyncScheduleForm,
)
from tests.factories import ConnectionAttemptFactory, LegalEntityFactory


def _data(**values: str) -> dict[str, str]:
    data = {
        "integration_type": "top_level",
        "company_id": "acme",
        "entity_id": "",
        "user_id": "Beanworks",
        "password": "Pa55word",
    }
    data.update(values)
    return data


def _errors(form: CredentialsForm, field: str) -> list[str]:
    assert not form.is_valid()
    return form.errors[field]


# --- Company ID --------------------------------------------------------------------------------------


@pytest.mark.parametrize("typed", ["acme ", " acme", "\tacme\n", "acme\u00a0"])
def test_company_id_is_trimmed(typed):
    form = CredentialsForm(_data(company_id=typed))

    assert form.is_valid(), form.errors
    assert form.cleaned_data["company_id"] == "acme"


def test_company_id_is_required_with_a_message_saying_what_it_is():
    assert _errors(CredentialsForm(_data(company_id="  ")), "company_id") == [
        "Enter the company ID: the Company ID part of the Intacct login."
    ]


def test_company_with_entity_after_a_pipe_says_where_the_entity_goes():
    [message] = _errors(CredentialsForm(_data(company_id="acme|E100")), "company_id")

    assert message == (
        "Enter only the company ID (here: “acme”); put the entity (“E100”) in the Entity ID "
        "field and choose Entity-level."
    )


def test_company_id_with_a_space_inside_is_refused():
    [message] = _errors(CredentialsForm(_data(company_id="acme corp")), "company_id")

    assert message.startswith("The company ID cannot contain spaces.")


@pytest.mark.parametrize("typed", ["acme/corp", "acmé", "acme#1", "acme,corp"])
def test_company_id_allows_only_letters_digits_and_three_marks(typed):
    [message] = _errors(CredentialsForm(_data(company_id=typed)), "company_id")

    assert message == (
        "The company ID can contain only letters, digits, hyphens (-), underscores (_) and dots (.)."
    )


@pytest.mark.parametrize("typed", ["a", "acme-corp_2.test", "A" * 100])
def test_company_id_of_valid_form_and_length_passes(typed):
    assert CredentialsForm(_data(company_id=typed)).is_valid()


def test_company_id_longer_than_100_characters_says_how_long_it_is():
    [message] = _errors(CredentialsForm(_data(company_id="a" * 101)), "company_id")

    assert message == "The company ID is at most 100 characters; this one has 101."


@pytest.mark.parametrize("typed", ["acme-console", "ConsoleAcme", "acme_console_2"])
def test_console_looking_company_id_is_saved_with_a_warning(typed):
    form = CredentialsForm(_data(company_id=typed))

    assert form.is_valid()
    [warning] = form.warnings["company_id"]
    assert "looks like a console login" in warning
    assert "Enter the Company ID of the company you are connecting instead" in warning


def test_ordinary_company_id_has_no_warning():
    form = CredentialsForm(_data())

    assert form.is_valid()
    assert form.warnings == {}


# --- Entity ID and integration type ----------------------------------------------------------------


def test_entity_level_needs_an_entity_id():
    [message] = _errors(CredentialsForm(_data(integration_type="entity_level")), "entity_id")

    assert message.startswith("Enter the entity ID for an entity-level connection")
    assert "Company -> Entities" in message


def test_top_level_refuses_an_entity_id():
    [message] = _errors(CredentialsForm(_data(entity_id="E100")), "entity_id")

    assert message.startswith("Leave the entity ID blank for a top-level connection")


def test_entity_level_with_a_trimmed_entity_id_passes():
    form = CredentialsForm(_data(integration_type="entity_level", entity_id=" E100 "))

    assert form.is_valid(), form.errors
    assert form.cleaned_data["entity_id"] == "E100"


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("acme|E100", "Enter only the entity ID here, without the company ID or “|”."),
        ("E 100", "The entity ID cannot contain spaces."),
        ("E" * 101, "The entity ID is at most 100 characters; this one has 101."),
        ("E100!", "The entity ID can contain only letters"),
    ],
)
def test_entity_id_format_and_length(typed, expected):
    [message] = _errors(
        CredentialsForm(_data(integration_type="entity_level", entity_id=typed)), "entity_id"
    )

    assert message.startswith(expected)


def test_integration_type_must_be_chosen():
    assert _errors(CredentialsForm(_data(integration_type="")), "integration_type") == [
        "Choose Top-level or Entity-level."
    ]


# --- User ID and password --------------------------------------------------------------------------


def test_user_id_is_trimmed_and_required():
    assert CredentialsForm(_data(user_id=" Beanworks ")).is_valid()
    assert _errors(CredentialsForm(_data(user_id="")), "user_id") == [
        "Enter the Web Services user ID."
    ]


@pytest.mark.parametrize(
    ("typed", "expected"),
    [
        ("Bean works", "The Web Services user ID cannot contain spaces."),
        ("Bean/works", "The Web Services user ID can contain only letters"),
        ("B" * 101, "The Web Services user ID is at most 100 characters; this one has 101."),
    ],
)
def test_user_id_format_and_length(typed, expected):
    [message] = _errors(CredentialsForm(_data(user_id=typed)), "user_id")

    assert message.startswith(expected)


def test_another_user_id_than_the_guides_gets_a_warning():
    form = CredentialsForm(_data(user_id="xml_gateway"))

    assert form.is_valid()
    assert "The guide names this user “Beanworks”" in form.warnings["user_id"][0]


def test_password_is_required_until_one_is_stored():
    assert _errors(CredentialsForm(_data(password="")), "password") == [
        "Enter the password of the Web Services user."
    ]
    assert CredentialsForm(_data(password=""), has_password=True).is_valid()


def test_password_is_not_trimmed_but_a_stray_space_is_pointed_out():
    form = CredentialsForm(_data(password="Pa55word "))

    assert form.is_valid()
    assert form.cleaned_data["password"] == "Pa55word "
    assert "starts or ends with a space" in form.warnings["password"][0]


def test_password_is_never_rendered_back():
    form = CredentialsForm(_data(password="Typed-Secret"))
    form.is_valid()

    assert "Typed-Secret" not in str(form["password"])
    assert 'value="acme"' in str(form["company_id"])


@pytest.mark.django_db
def test_form_for_an_attempt_starts_from_its_values_without_the_password():
    attempt = ConnectionAttemptFactory(company_id="acme", password="Stored")

    form = CredentialsForm.for_attempt(attempt)

    assert form["company_id"].value() == "acme"
    assert form.has_password
    assert "Stored" not in str(form["password"])
    assert "A password is saved" in form.fields["password"].help_text


def test_fields_describe_their_help_for_screen_readers():
    html = str(CredentialsForm()["company_id"])

    assert 'aria-describedby="id_company_id_helptext"' in html


# --- The other forms -----------------------------------------------------------------------------


def test_pre_connection_checklist_names_each_missing_confirmation():
    form = PreConnectionForm({})

    assert not form.is_valid()
    assert form.errors["can_log_in_as_admin"][0].startswith(
        "Confirm that you can log into Sage Intacct as Administrator"
    )
    assert form.errors["others_logged_out"][0].startswith(
        "Confirm that all other users are logged out of Sage Intacct"
    )


@pytest.mark.django_db
def test_legal_entity_name_is_unique_in_the_organization_whatever_the_case():
    legal_entity = LegalEntityFactory(name="Acme US")

    form = LegalEntityForm({"name": " acme us "}, organization=legal_entity.organization)
    other = LegalEntityForm({"name": "Acme US"}, organization=LegalEntityFactory().organization)

    assert not form.is_valid()
    assert "already has a legal entity named “acme us”" in form.errors["name"][0]
    assert other.is_valid()


@pytest.mark.django_db
def test_legal_entity_name_is_required_and_bounded():
    organization = LegalEntityFactory().organization

    assert LegalEntityForm({"name": " "}, organization=organization).errors["name"] == [
        "Enter a name for the legal entity."
    ]
    assert LegalEntityForm({"name": "x" * 201}, organization=organization).errors["name"] == [
        "The name is at most 200 characters."
    ]


@pytest.mark.parametrize("email", ["admin", "admin@", "@example.com", "a b@example.com"])
def test_handoff_email_must_be_an_address(email):
    form = HandoffLinkForm({"email": email, "lifetime_days": "3"})

    assert form.errors["email"] == ["Enter a valid e-mail address, such as name@example.com."]


def test_handoff_email_is_optional_and_lifetime_bounded():
    assert HandoffLinkForm({"email": "", "lifetime_days": "14"}).is_valid()
    assert HandoffLinkForm({"email": " it@example.com ", "lifetime_days": "1"}).is_valid()
    assert HandoffLinkForm({"lifetime_days": "30"}).errors["lifetime_days"] == [
        "Choose how long the link works: 1 to 14 days."
    ]


@pytest.mark.parametrize(
    ("choices", "shown"),
    [
        (
            [("UTC", "UTC"), ("Europe/Paris", "Europe/Paris"), ("A&B", "<Tom & Jerry's>")],
            '<option value="A&amp;B">&lt;Tom &amp; Jerry&#x27;s&gt;</option>',
        ),
        (
            [("Europe", [("Europe/Paris", "Paris"), ("Europe/Rome", "Rome")]), ("UTC", "UTC")],
            '<optgroup label="Europe"><option value="Europe/Paris" selected>Paris</option>',
        ),
    ],
    ids=["flat", "groups"],
)
def test_a_long_select_writes_the_html_of_django_s_select(choices, shown):
    attrs = {"id": "id_tz", "aria-describedby": "tz-help", "required": True, "disabled": False}

    def html(widget: type[forms.Select], value: str) -> str:
        return str(widget(choices=choices).render("timezone", value, attrs=attrs))

    for value in ("Europe/Paris", "A&B", "missing"):
        # The same elements, attributes (in any order) and text, as assertHTMLEqual compares.
        assert parse_html(html(LongSelect, value)) == parse_html(html(forms.Select, value))
    assert shown in html(LongSelect, "Europe/Paris")


def test_the_schedule_form_lists_every_time_zone_with_the_saved_one_selected():
    form = SyncScheduleForm(initial={"timezone": "America/Chicago"})

    select = str(form["timezone"])

    assert isinstance(form.fields["timezone"].widget, LongSelect)
    assert select.count("<option") > 400
    assert '<option value="America/Chicago" selected>America/Chicago</option>' in select


SCHEDULE = {
    "frequency": "daily",
    "time_of_day": "06:30",
    "weekday": "1",
    "cron_expression": "",
    "timezone": "UTC",
    "kind": "partial",
    "weekly_full_weekday": "0",
    "enabled": "on",
}


@pytest.mark.django_db
def test_a_cron_schedule_needs_no_time_of_day():
    form = SyncScheduleForm({**SCHEDULE, "frequency": "cron", "cron_expression": "*/15 * * * *",
                             "time_of_day": ""})  # fmt: skip
    assert form.is_valid(), form.errors
    assert form.cleaned_data["time_of_day"].strftime("%H:%M") == "02:00"


@pytest.mark.django_db
def test_a_cron_schedule_with_a_weekly_full_sync_needs_its_time():
    form = SyncScheduleForm({**SCHEDULE, "frequency": "cron", "cron_expression": "0 * * * *",
                             "time_of_day": "", "weekly_full": "on"})  # fmt: skip
    assert not form.is_valid()
    assert "time of the weekly full sync" in form.errors["time_of_day"][0]


@pytest.mark.django_db
@pytest.mark.parametrize("frequency", ["hourly", "daily", "weekly"])
def test_other_schedules_say_which_time_is_missing(frequency):
    form = SyncScheduleForm({**SCHEDULE, "frequency": frequency, "time_of_day": ""})
    assert not form.is_valid()
    assert "Enter the time syncs start" in form.errors["time_of_day"][0]


@pytest.mark.django_db
@pytest.mark.parametrize("zone", ["Mars/Olympus", ""])
def test_a_time_zone_not_in_the_list_is_named_specifically(zone):
    form = SyncScheduleForm({**SCHEDULE, "timezone": zone})
    assert not form.is_valid()
    assert "time zone" in form.errors["timezone"][0]
