"""The wizard's forms: what a person types, checked with messages that say what to enter instead.

IDs are trimmed (a trailing space in the company ID is a classic cause of "Sign-in information is
incorrect"). Warnings do not block saving; they are shown beside the field (``form.warnings``).
The password is never rendered back; left blank it keeps the stored one.
"""

from __future__ import annotations

import re
from datetime import time, timedelta
from typing import Any

from django import forms
from django.conf import settings
from django.core.exceptions import ValidationError
from django.forms.utils import flatatt
from django.utils.html import conditional_escape, escape, format_html
from django.utils.safestring import SafeString

from connections.models import (
    ApiSyncProfile,
    ConnectionAttempt,
    HandoffLink,
    LegalEntity,
    Organization,
    Step,
    SyncSchedule,
)
from connections.selectors.console import FLAGS, SORTS
from connections.selectors.profiles import SyncObjectsUnknown, default_sync_objects
from connections.selectors.schedules import parse_cron
from connections.services.schedules import SCHEDULE_FIELDS
from intacct import is_xml_text

__all__ = [
    "ApiSyncProfileAdminForm",
    "ConsoleFilterForm",
    "CredentialsForm",
    "HandoffLinkForm",
    "LegalEntityForm",
    "PreConnectionForm",
    "ProfileObjectsForm",
    "RequestLimitForm",
    "SyncScheduleForm",
]

ID_MAX_LENGTH = 100
PASSWORD_MAX_LENGTH = 256
ID_PATTERN = re.compile(r"[A-Za-z0-9._-]+")
USER_ID_PATTERN = re.compile(r"[A-Za-z0-9._@-]+")
CONSOLE_PATTERN = re.compile(r"console", re.IGNORECASE)

TOP_LEVEL = ConnectionAttempt.IntegrationType.TOP_LEVEL
ENTITY_LEVEL = ConnectionAttempt.IntegrationType.ENTITY_LEVEL


class WarningsMixin:
    """Non-blocking advice per field: ``form.warnings[name]`` is a list of sentences."""

    warnings: dict[str, list[str]]

    def add_warning(self, name: str, message: str) -> None:
        self.warnings.setdefault(name, []).append(message)


def _check_id(value: str, what: str, pattern: re.Pattern[str], allowed: str) -> None:
    """Length and characters of an Intacct ID; the value is already trimmed."""
    if len(value) > ID_MAX_LENGTH:
        raise forms.ValidationError(
            f"The {what} is at most {ID_MAX_LENGTH} characters; this one has {len(value)}.",
            code="max_length",
        )
    if any(character.isspace() for character in value):
        raise forms.ValidationError(
            f"The {what} cannot contain spaces. Copy it again from Intacct, without spaces.",
            code="space",
        )
    if not pattern.fullmatch(value):
        raise forms.ValidationError(
            f"The {what} can contain only {allowed}.",
            code="characters",
        )


class CredentialsForm(WarningsMixin, forms.Form):
    """Step 7: how we sign in to the customer's Intacct company."""

    integration_type = forms.ChoiceField(
        label="Integration type",
        choices=ConnectionAttempt.IntegrationType.choices,
        widget=forms.RadioSelect,
        error_messages={"required": "Choose Top-level or Entity-level."},
    )
    company_id = forms.CharField(
        label="Company ID",
        # No max_length here: the clean method says how long it was, with a specific message.
        help_text="The Company ID part of the Intacct login (Company -> Company Info shows it).",
        error_messages={
            "required": "Enter the company ID: the Company ID part of the Intacct login."
        },
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "spellcheck": "false", "autocapitalize": "off"}
        ),
    )
    entity_id = forms.CharField(
        label="Entity ID",
        required=False,
        help_text="Entity-level only: the entity's ID as Company -> Entities lists it. "
        "Leave it blank for a top-level connection.",
        widget=forms.TextInput(
            attrs={
                "autocomplete": "off",
                "spellcheck": "false",
                "autocapitalize": "off",
                "list": "entity-options",
            }
        ),
    )
    user_id = forms.CharField(
        label="Web Services user ID",
        help_text="The User ID of the Web Services user created in step 2.",
        error_messages={"required": "Enter the Web Services user ID."},
        widget=forms.TextInput(
            attrs={"autocomplete": "off", "spellcheck": "false", "autocapitalize": "off"}
        ),
    )
    password = forms.CharField(
        label="Web Services user password",
        required=False,
        strip=False,
        max_length=PASSWORD_MAX_LENGTH,
        widget=forms.PasswordInput(render_value=False, attrs={"autocomplete": "new-password"}),
        error_messages={
            "max_length": f"The password is at most {PASSWORD_MAX_LENGTH} characters.",
        },
    )

    def __init__(self, *args: Any, has_password: bool = False, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.warnings = {}
        self.has_password = has_password
        self.fields["user_id"].initial = settings.INTACCT_GUIDE["WS_USER_ID"]
        self.fields["integration_type"].initial = TOP_LEVEL
        if has_password:
            self.fields[
                "password"
            ].help_text = (
                "A password is saved. Leave this blank to keep it; type a new one to replace it."
            )
        else:
            self.fields["password"].help_text = "The password of the Web Services user."

    @classmethod
    def for_attempt(
        cls, attempt: ConnectionAttempt | None, data: Any = None, **kwargs: Any
    ) -> CredentialsForm:
        """The form for ``attempt``: its values as initial ones, the password never."""
        initial: dict[str, str] = {}
        has_password = False
        if attempt is not None:
            initial = {
                "integration_type": attempt.integration_type,
                "company_id": attempt.company_id,
                "entity_id": attempt.entity_id,
                "user_id": attempt.user_id or settings.INTACCT_GUIDE["WS_USER_ID"],
            }
            has_password = bool(attempt.password)
        initial.update(kwargs.pop("initial", {}) or {})
        return cls(data, initial=initial, has_password=has_password, **kwargs)

    def clean_company_id(self) -> str:
        value: str = self.cleaned_data["company_id"]
        if "|" in value:
            company, _, entity = value.partition("|")
            company, entity = company.strip(), entity.strip()
            hint = f" (here: “{company}”)" if company else ""
            entity_hint = f" (“{entity}”)" if entity else ""
            raise forms.ValidationError(
                f"Enter only the company ID{hint}; put the entity{entity_hint} in the Entity ID "
                "field and choose Entity-level.",
                code="pipe",
            )
        _check_id(
            value,
            "company ID",
            ID_PATTERN,
            "letters, digits, hyphens (-), underscores (_) and dots (.)",
        )
        if CONSOLE_PATTERN.search(value):
            self.add_warning(
                "company_id",
                f"“{value}” looks like a console login (the practice or multi-company console), "
                "not a company. Enter the Company ID of the company you are connecting instead: "
                "open that company in Intacct and look at Company -> Company Info.",
            )
        return value

    def clean_entity_id(self) -> str:
        value: str = self.cleaned_data["entity_id"]
        if not value:
            return value
        if "|" in value:
            raise forms.ValidationError(
                "Enter only the entity ID here, without the company ID or “|”.", code="pipe"
            )
        _check_id(
            value,
            "entity ID",
            ID_PATTERN,
            "letters, digits, hyphens (-), underscores (_) and dots (.)",
        )
        return value

    def clean_user_id(self) -> str:
        value: str = self.cleaned_data["user_id"]
        _check_id(
            value,
            "Web Services user ID",
            USER_ID_PATTERN,
            "letters, digits, hyphens (-), underscores (_), dots (.) and @",
        )
        expected = settings.INTACCT_GUIDE["WS_USER_ID"]
        if value.casefold() != expected.casefold():
            self.add_warning(
                "user_id",
                f"The guide names this user “{expected}”. Make sure “{value}” is the Web "
                "Services user (Company -> Web Services Users), not a normal Intacct user.",
            )
        return value

    def clean_password(self) -> str:
        value: str = self.cleaned_data["password"]
        if not value and not self.has_password:
            raise forms.ValidationError(
                "Enter the password of the Web Services user.", code="required"
            )
        if not is_xml_text(value):
            # Intacct could never receive it: the request is XML, which cannot carry these.
            raise forms.ValidationError(
                "The password contains a control character (an invisible character such as one "
                "a copy and paste brings along), which cannot be sent to Intacct. Type it again.",
                code="characters",
            )
        if value and value != value.strip():
            self.add_warning(
                "password",
                "The password starts or ends with a space. If that is not part of it, type it "
                "again without the space.",
            )
        return value

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        integration_type = cleaned.get("integration_type")
        entity_id = cleaned.get("entity_id", "")
        if "entity_id" not in cleaned:
            return cleaned
        if integration_type == ENTITY_LEVEL and not entity_id:
            self.add_error(
                "entity_id",
                forms.ValidationError(
                    "Enter the entity ID for an entity-level connection: pick it from the list "
                    "Intacct returns, or copy it from Company -> Entities. For all entities at "
                    "once, choose Top-level.",
                    code="required",
                ),
            )
        elif integration_type == TOP_LEVEL and entity_id:
            self.add_error(
                "entity_id",
                forms.ValidationError(
                    "Leave the entity ID blank for a top-level connection, or choose "
                    "Entity-level to connect only this entity.",
                    code="top_level",
                ),
            )
        return cleaned


class PreConnectionForm(forms.Form):
    """Step 0: what the guide asks the person to confirm (the rest is enforced)."""

    can_log_in_as_admin = forms.BooleanField(
        label="I can log into Sage Intacct as Administrator.",
        error_messages={
            "required": "Confirm that you can log into Sage Intacct as Administrator: the "
            "next steps happen in Intacct's Company and Platform Services menus."
        },
    )
    others_logged_out = forms.BooleanField(
        label="All other users are logged out of Sage Intacct during this process.",
        error_messages={
            "required": "Confirm that all other users are logged out of Sage Intacct: changes "
            "to roles and company security apply cleanly only then."
        },
    )


class LegalEntityForm(forms.Form):
    """Add a legal entity to connect."""

    name = forms.CharField(
        label="Legal entity name",
        max_length=200,
        help_text="As your team calls it, for example the company's legal name.",
        error_messages={
            "required": "Enter a name for the legal entity.",
            "max_length": "The name is at most 200 characters.",
        },
    )

    def __init__(self, *args: Any, organization: Organization, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.organization = organization

    def clean_name(self) -> str:
        name: str = self.cleaned_data["name"]
        if LegalEntity.objects.filter(organization=self.organization, name__iexact=name).exists():
            raise forms.ValidationError(
                f"{self.organization.name} already has a legal entity named “{name}”.",
                code="unique",
            )
        return name


LIFETIME_CHOICES = [
    ("1", "1 day"),
    ("3", "3 days"),
    ("7", "7 days"),
    ("14", "14 days"),
]


class HandoffLinkForm(forms.Form):
    """A link for the customer's Intacct administrator."""

    email = forms.EmailField(
        label="Intacct administrator's e-mail (optional)",
        required=False,
        max_length=254,
        help_text="Only to prepare an e-mail with the link; nothing is sent by us.",
        error_messages={
            "invalid": "Enter a valid e-mail address, such as name@example.com.",
            "max_length": "The e-mail address is at most 254 characters.",
        },
    )
    lifetime_days = forms.TypedChoiceField(
        label="The link works for",
        choices=LIFETIME_CHOICES,
        coerce=int,
        initial=str(HandoffLink.DEFAULT_LIFETIME.days),
        error_messages={"invalid_choice": "Choose how long the link works: 1 to 14 days."},
    )

    def clean_lifetime_days(self) -> int:
        days: int = self.cleaned_data["lifetime_days"]
        if timedelta(days=days) > HandoffLink.MAX_AGE:
            raise forms.ValidationError(
                f"A link works for at most {HandoffLink.MAX_AGE.days} days.", code="max"
            )
        return days


class LongSelect(forms.Select):
    """A ``<select>`` of many options written out in Python, with the HTML of Django's own
    templates (``tests/connections/test_forms.py`` compares them). Django renders each option
    through a template of its own: for the Sync Schedule's ~600 time zones that was two thirds of
    the SmartSync page's time (331 → 106 ms a page under the profiler)."""

    def render(
        self, name: str, value: Any, attrs: dict[str, Any] | None = None, renderer: Any = None
    ) -> SafeString:
        widget = self.get_context(name, value, attrs)["widget"]
        parts = []
        for group_name, options, _ in widget["optgroups"]:
            if group_name:
                parts.append(f'<optgroup label="{conditional_escape(group_name)}">')
            parts.extend(
                f'<option value="{escape(option["value"])}"'
                f"{flatatt(option['attrs']) if option['attrs'] else ''}>"
                f"{conditional_escape(option['label'])}</option>"
                for option in options
            )
            if group_name:
                parts.append("</optgroup>")
        return format_html(
            '<select name="{}"{}>{}</select>',
            widget["name"],
            flatatt(widget["attrs"]),
            SafeString("".join(parts)),
        )


class SyncScheduleForm(forms.ModelForm):  # type: ignore[type-arg]
    """Step 9: the Sync Schedule (a cron expression is checked by Celery's own parser)."""

    class Meta:
        model = SyncSchedule
        fields = SCHEDULE_FIELDS
        widgets = {
            "time_of_day": forms.TimeInput(attrs={"type": "time"}, format="%H:%M"),
            "timezone": LongSelect,
        }
        labels = {
            "time_of_day": "Time",
            "kind": "Kind of sync",
            "weekly_full_weekday": "Weekly full sync on",
            "enabled": "Enabled (clear to pause)",
        }
        help_texts = {
            "time_of_day": "Every hour: syncs start at this minute past each hour.",
            "cron_expression": "Only for “Cron expression”: minute hour day-of-month month "
            "day-of-week, e.g. 30 6 * * 1-5.",
        }

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        # Needed by every frequency but "Cron expression": clean() says so for the others.
        self.fields["time_of_day"].required = False
        self.fields["timezone"].error_messages["invalid_choice"] = (
            "Pick a time zone from the list (for example Europe/Paris or UTC)."
        )
        self.fields["timezone"].error_messages["required"] = "Pick the time zone of the schedule."

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        frequency = cleaned.get("frequency")
        if frequency == SyncSchedule.Frequency.CRON:
            try:
                parse_cron(cleaned.get("cron_expression") or "")
            except ValidationError as error:
                self.add_error("cron_expression", error)
            weekly_full = cleaned.get("weekly_full") and cleaned.get("kind") != "full"
            if cleaned.get("time_of_day") is None and "time_of_day" not in self.errors:
                if weekly_full:
                    self.add_error(
                        "time_of_day",
                        "Enter the time of the weekly full sync, as hours and minutes (for "
                        "example 02:00): the cron expression times the other syncs only.",
                    )
                else:
                    # Not used by a cron expression: the one saved (or the default) stays.
                    cleaned["time_of_day"] = self.instance.time_of_day or time(2, 0)
        elif frequency and cleaned.get("time_of_day") is None and "time_of_day" not in self.errors:
            self.add_error(
                "time_of_day",
                "Enter the time syncs start, as hours and minutes (for example 06:30); every "
                "hour uses only its minutes.",
            )
        return cleaned

    def validate_constraints(self, exclude: Any = None) -> None:
        # The cron rule is reported on its field by clean().
        return None


class ApiSyncProfileAdminForm(forms.ModelForm):  # type: ignore[type-arg]
    """The admin's API Sync Profile form: objects left empty on a new profile are what the last
    verification proved readable (the rule every door shares)."""

    class Meta:
        model = ApiSyncProfile
        fields = ["legal_entity", "object_names", "enabled", "max_concurrent_requests"]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        legal_entity = cleaned.get("legal_entity")
        if (
            self.instance.pk is None
            and legal_entity is not None
            and not cleaned.get("object_names")
        ):
            try:
                cleaned["object_names"] = default_sync_objects(legal_entity)
            except SyncObjectsUnknown as error:
                self.add_error("object_names", str(error))
        return cleaned


class ConsoleFilterForm(forms.Form):
    """The console overview's filters, read from the URL (so a view can be shared); a value the
    form does not know is dropped with a message rather than failing the page."""

    FLAG_CHOICES = [("", "Any flag"), *FLAGS.items()]
    STATE_CHOICES = [
        ("", "Any state"),
        ("none", "Not started"),
        *ConnectionAttempt.State.choices,
    ]
    STEP_CHOICES = [("", "Any step"), *Step.choices, ("done", "Every step done")]
    SORT_CHOICES = [(key, key) for key in SORTS] + [(f"-{key}", f"-{key}") for key in SORTS]

    q = forms.CharField(label="Search", required=False, max_length=200)
    flag = forms.ChoiceField(choices=FLAG_CHOICES, required=False)
    state = forms.ChoiceField(choices=STATE_CHOICES, required=False)
    step = forms.ChoiceField(choices=STEP_CHOICES, required=False)
    sort = forms.ChoiceField(choices=SORT_CHOICES, required=False)

    def filters(self) -> dict[str, str]:
        """The valid filters (invalid ones left out; ``self.errors`` says which)."""
        self.is_valid()
        data = getattr(self, "cleaned_data", {})
        return {
            name: data.get(name) or ""
            for name in ("q", "flag", "state", "step", "sort")
            if name not in self.errors
        }


class RequestLimitForm(forms.Form):
    """The company's concurrent-request limit, as customer success sets it."""

    max_concurrent_requests = forms.IntegerField(
        label="Concurrent requests to Intacct",
        min_value=1,
        max_value=20,
        help_text="Intacct allows 2 per company unless the company bought a higher tier.",
        error_messages={
            "required": "Enter how many requests may go to this company at once (usually 2).",
            "invalid": "Enter a whole number of requests, for example 2.",
            "min_value": "At least 1: a sync sends one request at a time at the least.",
            "max_value": "At most 20: ask Sage what the company's tier allows before going "
            "higher than its usual 2 to 6.",
        },
    )


class ProfileObjectsForm(forms.Form):
    """The objects a new API Sync Profile pulls, preselected by the caller (what the last
    verification proved readable)."""

    object_names = forms.MultipleChoiceField(
        label="Objects to sync",
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": "Pick at least one object to sync."},
    )

    def __init__(self, *args: Any, choices: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["object_names"]
        assert isinstance(field, forms.MultipleChoiceField)
        field.choices = choices
