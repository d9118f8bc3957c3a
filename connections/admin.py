"""The Django admin, for customer success staff.

Passwords are never displayed: the list shows "•••• (set)", the form has a write-only input (blank
keeps the stored value). Every change made here is an AuditEvent; rows the system writes (step
states, verification runs, check results, audit events) are read-only.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django.contrib import admin, messages
from django.db import models, transaction
from django.db.models import QuerySet
from django.forms import ModelForm
from django.http import HttpRequest

from connections import audit, crypto
from connections.forms import ApiSyncProfileAdminForm
from connections.models import (
    ApiSyncProfile,
    AuditEvent,
    CheckResult,
    ConnectionAttempt,
    HandoffLink,
    LegalEntity,
    Membership,
    Organization,
    OrgUnit,
    StepState,
    VerificationRun,
)
from connections.selectors.profiles import SyncObjectsUnknown
from connections.services.api_sync import change_api_sync_profile, create_api_sync_profile
from connections.services.handoff import revoke_handoff_link

if TYPE_CHECKING:
    _ModelAdmin = admin.ModelAdmin[Any]
    _TabularInline = admin.TabularInline[Any, Any]
else:
    _ModelAdmin = admin.ModelAdmin
    _TabularInline = admin.TabularInline


class AuditedAdmin(_ModelAdmin):
    """Records every add, change and delete as an AuditEvent (field names, never values)."""

    def audit_scope(self, obj: Any) -> tuple[Organization | None, LegalEntity | None]:
        raise NotImplementedError

    def _record(self, request: HttpRequest, obj: Any, verb: str, **detail: Any) -> None:
        organization, legal_entity = self.audit_scope(obj)
        if organization is None:
            return
        audit.record(
            request.user,
            f"admin.{obj._meta.model_name}.{verb}",
            organization=organization,
            legal_entity=legal_entity if legal_entity is not None and legal_entity.pk else None,
            object=str(obj),
            **detail,
        )

    def save_model(
        self, request: HttpRequest, obj: Any, form: ModelForm[Any], change: bool
    ) -> None:
        super().save_model(request, obj, form, change)
        self._record(request, obj, "changed" if change else "added", fields=form.changed_data)

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        organization, legal_entity = self.audit_scope(obj)
        description = str(obj)
        super().delete_model(request, obj)
        if organization is not None and Organization.objects.filter(pk=organization.pk).exists():
            still_there = legal_entity is not None and (
                LegalEntity.objects.filter(pk=legal_entity.pk).exists()
            )
            audit.record(
                request.user,
                f"admin.{obj._meta.model_name}.deleted",
                organization=organization,
                legal_entity=legal_entity if still_there else None,
                object=description,
            )

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> None:
        with transaction.atomic():
            for obj in queryset:
                self.delete_model(request, obj)


class ReadOnlyAdmin(_ModelAdmin):
    """Rows the system writes: viewable, never edited by hand."""

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyInline(_TabularInline):
    extra = 0
    can_delete = False
    show_change_link = True

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


# --- Accounts ---------------------------------------------------------------------------------------


@admin.register(Organization)
class OrganizationAdmin(AuditedAdmin):
    list_display = ["name", "slug", "public_id", "created_at"]
    search_fields = ["name", "slug"]
    readonly_fields = ["public_id", "created_at"]
    prepopulated_fields = {"slug": ["name"]}

    def audit_scope(self, obj: Organization) -> tuple[Organization | None, LegalEntity | None]:
        return (obj if obj.pk else None), None


@admin.register(OrgUnit)
class OrgUnitAdmin(AuditedAdmin):
    list_display = ["name", "organization", "parent"]
    list_filter = ["organization"]
    search_fields = ["name", "organization__name"]
    list_select_related = ["organization", "parent"]
    raw_id_fields = ["parent"]

    def audit_scope(self, obj: OrgUnit) -> tuple[Organization | None, LegalEntity | None]:
        return obj.organization, None


@admin.register(Membership)
class MembershipAdmin(AuditedAdmin):
    list_display = ["user", "organization", "role", "home_org_unit"]
    list_filter = ["role", "organization"]
    search_fields = ["user__username", "user__email", "organization__name"]
    list_select_related = ["user", "organization", "home_org_unit"]
    raw_id_fields = ["user", "home_org_unit"]

    def audit_scope(self, obj: Membership) -> tuple[Organization | None, LegalEntity | None]:
        return obj.organization, None


# --- Legal entities and connections -----------------------------------------------------------------


@admin.action(description="Create API Sync Profile", permissions=["change"])
def create_api_sync_profile_action(
    modeladmin: admin.ModelAdmin[Any], request: HttpRequest, queryset: QuerySet[LegalEntity]
) -> None:
    created: list[str] = []
    existing: list[str] = []
    for legal_entity in queryset.select_related("organization"):
        try:
            _, was_created = create_api_sync_profile(legal_entity, actor=request.user)
        except SyncObjectsUnknown as error:
            modeladmin.message_user(request, str(error), messages.ERROR)
            continue
        (created if was_created else existing).append(legal_entity.name)
    if created:
        modeladmin.message_user(
            request, f"API Sync Profile created for {', '.join(created)}.", messages.SUCCESS
        )
    if existing:
        modeladmin.message_user(
            request, f"Already had an API Sync Profile: {', '.join(existing)}.", messages.INFO
        )


@admin.register(LegalEntity)
class LegalEntityAdmin(AuditedAdmin):
    list_display = [
        "name",
        "organization",
        "api_sync_profile_state",
        "last_verified_at",
        "last_synced_at",
        "last_error_code",
    ]
    list_filter = ["organization"]
    search_fields = ["name", "organization__name"]
    list_select_related = ["organization", "api_sync_profile"]
    readonly_fields = [
        "public_id",
        "created_at",
        "last_verified_at",
        "last_synced_at",
        "last_error_code",
        "last_error",
    ]
    actions = [create_api_sync_profile_action]

    @admin.display(description="API Sync Profile")
    def api_sync_profile_state(self, obj: LegalEntity) -> str:
        return str(ApiSyncProfile.status_of(getattr(obj, "api_sync_profile", None)).label)

    def audit_scope(self, obj: LegalEntity) -> tuple[Organization | None, LegalEntity | None]:
        return obj.organization, obj


_STEP_FIELDS = ("step", "status", "reason", "errorno", "acknowledged_at", "verified_at")
_CHECK_FIELDS = (
    "position",
    "kind",
    "key",
    "label",
    "outcome",
    "errorno",
    "message",
    "remedy_step",
)


class StepStateInline(ReadOnlyInline):
    model = StepState
    fields = readonly_fields = _STEP_FIELDS


@admin.register(ConnectionAttempt)
class ConnectionAttemptAdmin(AuditedAdmin):
    list_display = [
        "legal_entity",
        "company_id",
        "integration_type",
        "entity_id",
        "user_id",
        "password_status",
        "state",
        "is_current",
        "created_at",
    ]
    list_filter = ["state", "is_current", "integration_type"]
    search_fields = ["legal_entity__name", "company_id", "entity_id", "user_id"]
    list_select_related = ["legal_entity"]
    readonly_fields = ["public_id", "started_by", "created_at", "updated_at"]
    raw_id_fields = ["legal_entity"]
    inlines = [StepStateInline]
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}

    @admin.display(description="password")
    def password_status(self, obj: ConnectionAttempt) -> str:
        return f"{crypto.MASK} (set)" if obj.password else "(not set)"

    def audit_scope(self, obj: ConnectionAttempt) -> tuple[Organization | None, LegalEntity | None]:
        return obj.legal_entity.organization, obj.legal_entity


@admin.register(StepState)
class StepStateAdmin(ReadOnlyAdmin):
    list_display = ["attempt", "step", "status", "errorno", "acknowledged_at", "verified_at"]
    list_filter = ["step", "status"]
    list_select_related = ["attempt__legal_entity"]


class CheckResultInline(ReadOnlyInline):
    model = CheckResult
    fields = readonly_fields = _CHECK_FIELDS
    show_change_link = False


@admin.register(VerificationRun)
class VerificationRunAdmin(ReadOnlyAdmin):
    list_display = ["attempt", "state", "trigger", "round_trips", "created_at", "finished_at"]
    list_filter = ["state", "trigger"]
    list_select_related = ["attempt__legal_entity"]
    inlines = [CheckResultInline]


@admin.register(CheckResult)
class CheckResultAdmin(ReadOnlyAdmin):
    list_display = ["run", "position", "kind", "key", "outcome", "errorno", "remedy_step"]
    list_filter = ["kind", "outcome"]
    list_select_related = ["run__attempt__legal_entity"]


# --- Customer success -------------------------------------------------------------------------------


@admin.register(ApiSyncProfile)
class ApiSyncProfileAdmin(_ModelAdmin):
    """Created and changed through the same services as every other door (the step follows, and
    the change is audited there)."""

    form = ApiSyncProfileAdminForm
    list_display = ["legal_entity", "enabled", "created_by", "created_at", "updated_at"]
    list_filter = ["enabled"]
    list_select_related = ["legal_entity", "created_by"]
    readonly_fields = ["created_by", "created_at", "updated_at"]
    raw_id_fields = ["legal_entity"]

    def get_readonly_fields(self, request: HttpRequest, obj: Any = None) -> list[str]:
        fields = list(super().get_readonly_fields(request, obj))
        return [*fields, "legal_entity"] if obj is not None else fields

    def save_model(
        self, request: HttpRequest, obj: Any, form: ModelForm[Any], change: bool
    ) -> None:
        data = form.cleaned_data
        if change:
            saved = change_api_sync_profile(
                obj, object_names=data["object_names"], enabled=data["enabled"], actor=request.user
            )
        else:
            saved, _ = create_api_sync_profile(
                data["legal_entity"], actor=request.user, object_names=data["object_names"]
            )
            if not data["enabled"]:
                saved = change_api_sync_profile(
                    saved, object_names=None, enabled=False, actor=request.user
                )
        obj.pk = saved.pk
        obj.refresh_from_db()

    def delete_model(self, request: HttpRequest, obj: Any) -> None:
        legal_entity = obj.legal_entity
        super().delete_model(request, obj)
        audit.record_for_entity(
            request.user,
            "admin.apisyncprofile.deleted",
            legal_entity,
            object=str(obj),
        )


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ["at", "action", "actor", "organization", "legal_entity"]
    list_filter = ["action", "organization"]
    search_fields = ["action", "actor__username", "legal_entity__name"]
    list_select_related = ["actor", "organization", "legal_entity"]
    date_hierarchy = "at"


@admin.action(description="Revoke the selected hand-off links", permissions=["change"])
def revoke_handoff_links(
    modeladmin: admin.ModelAdmin[Any], request: HttpRequest, queryset: QuerySet[HandoffLink]
) -> None:
    revoked = 0
    with transaction.atomic():
        for link in queryset.filter(revoked_at__isnull=True).select_related(
            "attempt__legal_entity__organization"
        ):
            revoke_handoff_link(link, actor=request.user)
            revoked += 1
    modeladmin.message_user(request, f"{revoked} hand-off link(s) revoked.", messages.SUCCESS)


@admin.register(HandoffLink)
class HandoffLinkAdmin(_ModelAdmin):
    # The token is a bearer credential: not shown here; links are made and sent from the wizard.
    list_display = [
        "attempt",
        "link_status",
        "created_by",
        "created_at",
        "expires_at",
        "revoked_at",
        "used_at",
    ]
    list_select_related = ["attempt__legal_entity", "created_by"]
    readonly_fields = [
        "public_id",
        "attempt",
        "created_by",
        "created_at",
        "expires_at",
        "revoked_at",
        "used_at",
    ]
    actions = [revoke_handoff_links]

    @admin.display(description="status")
    def link_status(self, obj: HandoffLink) -> str:
        return str(obj.status().label)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False
