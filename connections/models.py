"""Our accounts, legal entities, connection attempts and what proves them: the connection guide
as a state machine (each attempt walks the guide's steps; see :class:`Step`).

Invariants live in the database as named constraints (``connections_<model>_<rule>``); querysets
are read-only vocabulary; writes go through :mod:`connections.services`.
"""

from __future__ import annotations

import uuid
from datetime import datetime, time, timedelta
from typing import Any

from django.conf import settings
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils import timezone
from django_celery_beat.models import PeriodicTask
from timezone_field import TimeZoneField

from connections.fields import EncryptedTextField


def default_endpoint() -> str:
    """The gateway a new attempt talks to: the real one in production, the sandbox in development."""
    return settings.INTACCT_ENDPOINT


# --- Our accounts -----------------------------------------------------------------------------------


class Organization(models.Model):
    """A customer of the AP product."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    name = models.CharField(max_length=200)
    slug = models.SlugField(max_length=100, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name"]

    def __str__(self) -> str:
        return self.name


class OrgUnitQuerySet(models.QuerySet["OrgUnit"]):
    def roots(self) -> OrgUnitQuerySet:
        return self.filter(parent__isnull=True)

    def root(self) -> OrgUnit:
        """The root unit (of ``organization.units``); ``DoesNotExist`` if there is none."""
        return self.roots().get()


class OrgUnit(models.Model):
    """A node of an organization's unit tree; the root is the one without a parent."""

    organization = models.ForeignKey(Organization, on_delete=models.CASCADE, related_name="units")
    name = models.CharField(max_length=200)
    parent = models.ForeignKey(
        "self", on_delete=models.CASCADE, null=True, blank=True, related_name="children"
    )

    objects = OrgUnitQuerySet.as_manager()

    class Meta:
        verbose_name = "org unit"
        ordering = ["organization", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization"],
                condition=Q(parent__isnull=True),
                name="connections_orgunit_one_root",
                violation_error_message="This organization already has a root org unit.",
            ),
            models.CheckConstraint(
                condition=~Q(parent=F("pk")),
                name="connections_orgunit_not_own_parent",
                violation_error_message="An org unit cannot be its own parent.",
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_root(self) -> bool:
        return self.parent_id is None

    def clean(self) -> None:
        if self.parent is None:
            return
        if self.parent.organization_id != self.organization_id:
            raise ValidationError({"parent": "The parent belongs to another organization."})
        seen: set[int] = set()
        ancestor: OrgUnit | None = self.parent
        while ancestor is not None and ancestor.pk not in seen:
            if self.pk is not None and ancestor.pk == self.pk:
                raise ValidationError({"parent": "This parent would make a cycle."})
            seen.add(ancestor.pk)
            ancestor = ancestor.parent


class MembershipQuerySet(models.QuerySet["Membership"]):
    def can_connect(self) -> MembershipQuerySet:
        """The memberships the wizard opens for (``access.wizard_access``): System
        Administrators whose home org unit is their organization's root."""
        return self.filter(
            role=Membership.Role.SYSTEM_ADMINISTRATOR,
            home_org_unit__parent__isnull=True,
            home_org_unit__organization_id=models.F("organization_id"),
        )


class Membership(models.Model):
    """A user's place in an organization: a role and a home org unit."""

    class Role(models.TextChoices):
        SYSTEM_ADMINISTRATOR = "system_administrator", "System Administrator"
        AP_CLERK = "ap_clerk", "AP Clerk"
        APPROVER = "approver", "Approver"
        VIEWER = "viewer", "Viewer"

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=40, choices=Role.choices, default=Role.VIEWER)
    # RESTRICT: a unit with members cannot be deleted, unless its whole organization is.
    home_org_unit = models.ForeignKey(OrgUnit, on_delete=models.RESTRICT, related_name="members")
    created_at = models.DateTimeField(auto_now_add=True)

    objects = MembershipQuerySet.as_manager()

    class Meta:
        ordering = ["organization", "user"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "organization"],
                name="connections_membership_one_per_organization",
                violation_error_message="This user is already a member of this organization.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user} in {self.organization} ({self.get_role_display()})"

    def clean(self) -> None:
        if (
            self.home_org_unit_id is not None
            and self.organization_id is not None
            and self.home_org_unit.organization_id != self.organization_id
        ):
            raise ValidationError(
                {"home_org_unit": "The home org unit must belong to the member's organization."}
            )


# --- Legal entities and their connection ------------------------------------------------------------


class Step(models.TextChoices):
    """The connection guide's steps, in guide order: one wizard page each.

    ``intacct`` names the steps a failure points at with its own keys
    (``intacct.errors.GUIDE_STEPS``); :data:`INTACCT_STEPS` maps them here. Two have no page of
    their own and land on ``credentials``: ``entity`` (the entity ID is entered with the
    credentials) and ``sender_config`` (our own Sender ID or password is wrong: nothing the
    customer can fix, so the credentials page tells them to contact us).
    """

    PRE_CONNECTION = "pre_connection", "Pre-connection checklist"
    WS_SUBSCRIPTION = "ws_subscription", "Web Services subscription"
    WS_USER = "ws_user", "Web Services user"
    ROLE_PERMISSIONS = "role_permissions", "Role and permissions"
    ROLE_ASSIGNMENT = "role_assignment", "Role assigned to the user"
    SENDER_AUTHORIZATION = "sender_authorization", "Sender ID authorization"
    CUSTOM_FIELD = "custom_field", "AP Bill custom field"
    CREDENTIALS = "credentials", "Credentials"
    API_SYNC_PROFILE = "api_sync_profile", "API Sync Profile"
    SMARTSYNC = "smartsync", "SmartSync"


#: The Intacct-side steps (guide steps 1–6): what a hand-off link opens.
HANDOFF_STEPS: tuple[Step, ...] = (
    Step.WS_SUBSCRIPTION,
    Step.WS_USER,
    Step.ROLE_PERMISSIONS,
    Step.ROLE_ASSIGNMENT,
    Step.SENDER_AUTHORIZATION,
    Step.CUSTOM_FIELD,
)

#: ``intacct.errors.GUIDE_STEPS`` key → the wizard step whose page fixes it (see :class:`Step`).
INTACCT_STEPS: dict[str, Step] = {
    "sender_config": Step.CREDENTIALS,
    "ws_subscription": Step.WS_SUBSCRIPTION,
    "ws_user": Step.WS_USER,
    "role_permissions": Step.ROLE_PERMISSIONS,
    "role_assignment": Step.ROLE_ASSIGNMENT,
    "sender_authorization": Step.SENDER_AUTHORIZATION,
    "custom_field": Step.CUSTOM_FIELD,
    "credentials": Step.CREDENTIALS,
    "entity": Step.CREDENTIALS,
}


#: What each check of a verification report is called, by its ``intacct`` step key (the keys of
#: ``INTACCT_STEPS`` plus ``transient``): stored on ``CheckResult.label`` and shown on the page.
CHECK_LABELS: dict[str, str] = {
    "transient": "Intacct reachable",
    "sender_config": "Our Web Services sender",
    "ws_subscription": "Web Services subscription",
    "ws_user": "Web Services user signs in",
    "role_permissions": "Role permissions",
    "role_assignment": "Role assigned to the user",
    "sender_authorization": "Sender ID authorized",
    "custom_field": "AP Bill custom field",
    "credentials": "Credentials accepted",
    "entity": "Entity",
}


def check_label(key: str) -> str:
    """The label of a report's check key; an unknown key is spelled out."""
    return CHECK_LABELS.get(key) or key.replace("_", " ").capitalize()


def step_for_intacct(key: str | None) -> Step | None:
    """The wizard step for an ``intacct`` step key; ``None`` for ``"transient"`` (retry later),
    ``None`` and unknown keys."""
    if key is None:
        return None
    return INTACCT_STEPS.get(key)


class LegalEntityQuerySet(models.QuerySet["LegalEntity"]):
    def for_user(self, user: Any) -> LegalEntityQuerySet:
        """The legal entities of the organizations ``user`` is a member of."""
        return self.filter(organization__memberships__user=user)

    def waiting_for_api_sync_profile(self) -> LegalEntityQuerySet:
        """Verified, but customer success has not enabled an API Sync Profile yet."""
        return self.filter(
            attempts__is_current=True, attempts__state=ConnectionAttempt.State.VERIFIED
        ).exclude(api_sync_profile__enabled=True)


class LegalEntity(models.Model):
    """One company (or entity) of the customer's books, connected to one Intacct company."""

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="legal_entities"
    )
    name = models.CharField(max_length=200)
    created_at = models.DateTimeField(auto_now_add=True)
    # Health, written with filter(pk=…).update(…) so a worker never clobbers a concurrent save.
    last_verified_at = models.DateTimeField(null=True, blank=True)
    last_synced_at = models.DateTimeField(null=True, blank=True)
    last_error_code = models.CharField(max_length=40, blank=True)
    last_error = models.TextField(blank=True)

    objects = LegalEntityQuerySet.as_manager()

    class Meta:
        verbose_name_plural = "legal entities"
        ordering = ["organization", "name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organization", "name"],
                name="connections_legalentity_unique_name",
                violation_error_message="This organization already has a legal entity so named.",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ConnectionAttemptQuerySet(models.QuerySet["ConnectionAttempt"]):
    def current(self) -> ConnectionAttemptQuerySet:
        return self.filter(is_current=True)


class ConnectionAttempt(models.Model):
    """One try at connecting a legal entity; the history is kept, one attempt is current."""

    class IntegrationType(models.TextChoices):
        TOP_LEVEL = "top_level", "Top-level"
        ENTITY_LEVEL = "entity_level", "Entity-level"

    class State(models.TextChoices):
        DRAFT = "draft", "Draft"
        VERIFYING = "verifying", "Verifying"
        VERIFIED = "verified", "Verified"
        FAILED = "failed", "Failed"
        SUPERSEDED = "superseded", "Superseded"

    #: States an attempt never leaves.
    FINISHED = (State.SUPERSEDED,)

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    legal_entity = models.ForeignKey(LegalEntity, on_delete=models.CASCADE, related_name="attempts")
    integration_type = models.CharField(
        max_length=20, choices=IntegrationType.choices, default=IntegrationType.TOP_LEVEL
    )
    company_id = models.CharField("company ID", max_length=100, blank=True)
    entity_id = models.CharField("entity ID", max_length=100, blank=True)
    user_id = models.CharField("web services user ID", max_length=100, blank=True)
    password = EncryptedTextField()
    endpoint = models.URLField(max_length=500, default=default_endpoint)
    state = models.CharField(max_length=20, choices=State.choices, default=State.DRAFT)
    is_current = models.BooleanField(default=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ConnectionAttemptQuerySet.as_manager()

    class Meta:
        ordering = ["legal_entity", "-created_at"]
        get_latest_by = "created_at"
        constraints = [
            models.UniqueConstraint(
                fields=["legal_entity"],
                condition=Q(is_current=True),
                name="connections_connectionattempt_one_current",
                violation_error_message="This legal entity already has a current attempt.",
            ),
            models.CheckConstraint(
                condition=~Q(state="superseded", is_current=True),
                name="connections_connectionattempt_superseded_not_current",
                violation_error_message="A superseded attempt cannot be current.",
            ),
            # The guide: a top-level connection leaves the entity ID blank.
            models.CheckConstraint(
                condition=Q(integration_type="entity_level") | Q(entity_id=""),
                name="connections_connectionattempt_top_level_no_entity",
                violation_error_message="A top-level connection has no entity ID.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.legal_entity} → {self.company_id or '(no company yet)'} ({self.state})"

    @property
    def has_credentials(self) -> bool:
        """Whether the company ID, user ID and password are saved: what a check signs in with."""
        return bool(self.company_id and self.user_id and self.password)


class StepState(models.Model):
    """Where one guide step of an attempt stands: acknowledged by a person and/or proven live."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        ACKNOWLEDGED = "acknowledged", "Done"
        VERIFIED = "verified", "Verified"
        FAILED = "failed", "Failed"

    attempt = models.ForeignKey(ConnectionAttempt, on_delete=models.CASCADE, related_name="steps")
    step = models.CharField(max_length=40, choices=Step.choices)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    reason = models.TextField(blank=True)
    errorno = models.CharField("Intacct error number", max_length=40, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    verified_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "step state"
        ordering = ["attempt", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["attempt", "step"], name="connections_stepstate_one_per_step"
            ),
            models.CheckConstraint(
                condition=~Q(status="failed", reason=""),
                name="connections_stepstate_failed_has_reason",
                violation_error_message="A failed step says why.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_step_display()}: {self.get_status_display()}"


class VerificationRun(models.Model):
    """One live check of an attempt against Intacct."""

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        PASSED = "passed", "Passed"
        FAILED = "failed", "Failed"
        ERROR = "error", "Error"

    class Trigger(models.TextChoices):
        WIZARD = "wizard", "Wizard"
        COMMAND = "command", "Command"
        SCHEDULE = "schedule", "Schedule"
        HANDOFF = "handoff", "Hand-off link"
        CONSOLE = "console", "Customer success"

    ACTIVE = (State.QUEUED, State.RUNNING)
    FINISHED = (State.PASSED, State.FAILED, State.ERROR)

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    attempt = models.ForeignKey(ConnectionAttempt, on_delete=models.CASCADE, related_name="runs")
    state = models.CharField(max_length=20, choices=State.choices, default=State.QUEUED)
    trigger = models.CharField(max_length=20, choices=Trigger.choices, default=Trigger.WIZARD)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    round_trips = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        get_latest_by = "created_at"
        constraints = [
            models.UniqueConstraint(
                fields=["attempt"],
                condition=Q(state__in=["queued", "running"]),
                name="connections_verificationrun_one_active",
                violation_error_message="A verification of this attempt is already under way.",
            ),
            models.CheckConstraint(
                condition=Q(state__in=["queued", "running"]) | Q(finished_at__isnull=False),
                name="connections_verificationrun_finished_has_time",
                violation_error_message="A finished run records when it finished.",
            ),
        ]

    def __str__(self) -> str:
        return f"Verification of {self.attempt.legal_entity} ({self.state})"

    @property
    def is_finished(self) -> bool:
        return self.state in self.FINISHED


class CheckResult(models.Model):
    """One check of a verification run: a guide step, a permission row, the custom field, the
    entity."""

    class Kind(models.TextChoices):
        STEP = "step", "Guide step"
        PERMISSION = "permission", "Permission"
        CUSTOM_FIELD = "custom_field", "Custom field"
        ENTITY = "entity", "Entity"
        OPTIONAL = "optional", "Optional permission"

    class Outcome(models.TextChoices):
        # The outcome words of intacct.checks.
        PASSED = "passed", "Passed"
        FAILED = "failed", "Failed"
        SKIPPED = "skipped", "Skipped"
        GRANTED = "granted", "Granted"
        MISSING = "missing", "Missing"
        NOT_APPLICABLE = "not_applicable", "Not applicable"
        NOT_CHECKED = "not_checked", "Not checked"

    run = models.ForeignKey(VerificationRun, on_delete=models.CASCADE, related_name="results")
    position = models.PositiveIntegerField()
    kind = models.CharField(max_length=20, choices=Kind.choices)
    key = models.CharField(max_length=100)
    label = models.CharField(max_length=200, blank=True)
    # The API objects a permission check probed (what SmartSync may then pull).
    object_names = models.JSONField(default=list, blank=True)
    outcome = models.CharField(max_length=20, choices=Outcome.choices)
    errorno = models.CharField("Intacct error number", max_length=40, blank=True)
    message = models.TextField(blank=True)
    remedy_step = models.CharField(max_length=40, choices=Step.choices, blank=True)
    # What Intacct reported beyond the outcome (e.g. the custom field's data type); never secrets.
    detail = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["run", "position"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "position"], name="connections_checkresult_unique_position"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.label or self.key}: {self.outcome}"


# --- Customer success -------------------------------------------------------------------------------


class ApiSyncProfileQuerySet(models.QuerySet["ApiSyncProfile"]):
    def ready(self) -> ApiSyncProfileQuerySet:
        """The profiles SmartSync may use (the rule of :meth:`ApiSyncProfile.status_of`)."""
        return self.filter(enabled=True)


class ApiSyncProfile(models.Model):
    """What SmartSync may pull for a legal entity; created by customer success.

    Until one exists and is enabled the customer sees "waiting for customer success"
    (:meth:`status_of`).
    """

    class Status(models.TextChoices):
        WAITING = "waiting", "Waiting for customer success"
        READY = "ready", "Ready"

    legal_entity = models.OneToOneField(
        LegalEntity, on_delete=models.CASCADE, related_name="api_sync_profile"
    )
    # The Intacct objects SmartSync pulls, e.g. ["VENDOR", "GLACCOUNT"].
    object_names = models.JSONField("objects", default=list, blank=True)
    # Fields of those objects this company cannot query, as a sync learned them:
    # {"EMPLOYEE": ["PERSONALINFO.CONTACTNAME"]}. Partial syncs leave them out from the start;
    # a full sync asks for every field again (the company may have gained them).
    unavailable_fields = models.JSONField(default=dict, blank=True)
    # Whether the web services user may read Intacct's audit trail (AUDITHISTORY), learned by
    # the verification and by syncs; None until known. With it, a partial sync finds deletions
    # in the audit trail instead of listing every key (see services.smartsync).
    audit_trail = models.BooleanField("audit trail readable", null=True, blank=True)
    # Intacct's concurrent-request limit of the company (2 by default; a higher tier allows
    # more): every worker and legal entity of the company shares it.
    max_concurrent_requests = models.PositiveSmallIntegerField(
        "concurrent requests",
        default=2,
        validators=[MinValueValidator(1), MaxValueValidator(20)],
        help_text="Intacct's limit for the company: 2 unless it bought a higher tier.",
    )
    enabled = models.BooleanField(default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = ApiSyncProfileQuerySet.as_manager()

    class Meta:
        verbose_name = "API Sync Profile"

    def __str__(self) -> str:
        return f"API Sync Profile of {self.legal_entity}"

    @classmethod
    def status_of(cls, profile: ApiSyncProfile | None) -> ApiSyncProfile.Status:
        """``ready`` for an enabled profile; ``waiting`` without one, or while it is disabled."""
        return cls.Status.READY if profile is not None and profile.enabled else cls.Status.WAITING


class AuditEventQuerySet(models.QuerySet["AuditEvent"]):
    def for_legal_entity(self, legal_entity: LegalEntity) -> AuditEventQuerySet:
        return self.filter(legal_entity=legal_entity)


class AuditEvent(models.Model):
    """Something that changed, by whom. ``detail`` never holds secrets (see connections.audit)."""

    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    organization = models.ForeignKey(
        Organization, on_delete=models.CASCADE, related_name="audit_events"
    )
    legal_entity = models.ForeignKey(
        LegalEntity,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="audit_events",
    )
    action = models.CharField(max_length=100)
    detail = models.JSONField(default=dict, blank=True, encoder=DjangoJSONEncoder)
    at = models.DateTimeField(default=timezone.now, db_index=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-at", "-pk"]
        indexes = [
            models.Index(fields=["organization", "-at"], name="connections_audit_org_at"),
        ]

    def __str__(self) -> str:
        return f"{self.action} at {self.at:%Y-%m-%d %H:%M}"

    @property
    def action_text(self) -> str:
        """The action as people read it ("Credentials changed"); the code itself when new."""
        return AUDIT_ACTIONS.get(self.action, self.action)

    @property
    def detail_text(self) -> str:
        """``detail`` as "key: value; …" (lists joined with commas, yes/no, nested values in
        parentheses, codes such as ``top_level`` with spaces)."""
        return _as_text(self.detail or {})


def _as_text(value: Any, *, nested: bool = False) -> str:
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, list):
        return ", ".join(_as_text(v, nested=True) for v in value)
    if isinstance(value, dict):
        parts = [
            f"{str(k).replace('_', ' ')}: {_as_text(v, nested=True)}"
            for k, v in value.items()
            if v not in (None, "", [], {})
        ]
        return f"({', '.join(parts)})" if nested else "; ".join(parts)
    text = str(value)
    return text.replace("_", " ") if text.islower() and text.replace("_", "").isalpha() else text


#: What each audit action is called on the customer's history and the console's audit log.
AUDIT_ACTIONS: dict[str, str] = {
    "organization.created": "Organization created",
    "org_unit.created": "Org unit created",
    "legal_entity.created": "Legal entity added",
    "attempt.started": "Connection attempt started",
    "attempt.credentials_changed": "Credentials changed",
    "step.acknowledged": "Step marked done",
    "verification.started": "Connection test started",
    "verification.passed": "Connection test passed",
    "verification.failed": "Connection test failed",
    "verification.error": "Connection test could not reach Intacct",
    "verification.expired": "Connection test timed out",
    "verification.sender_config_failed": "Our sender credentials were refused",
    "intacct.sign_in_refused": "Intacct refused the sign-in",
    "handoff_link.created": "Hand-off link created",
    "handoff_link.revoked": "Hand-off link revoked",
    "api_sync_profile.created": "API Sync Profile created",
    "api_sync_profile.changed": "API Sync Profile changed",
    "sync.started": "Sync started",
    "sync_schedule.created": "Sync Schedule created",
    "sync_schedule.updated": "Sync Schedule changed",
    "alert.raised": "Alert raised",
    "alert.cleared": "Alert cleared",
}


class HandoffLink(models.Model):
    """A link for the customer's Intacct administrator: Intacct-side steps and checks, no account,
    no stored credentials.

    The URL carries :meth:`token`: the ``public_id`` signed with a timestamp, so a forged or
    altered link fails the signature, an old one fails ``MAX_AGE`` and ``expires_at``, and
    ``revoked_at`` ends it early (see ``connections.access.handoff_link_for_token``).
    """

    class Status(models.TextChoices):
        USABLE = "usable", "Active"
        EXPIRED = "expired", "Expired"
        REVOKED = "revoked", "Revoked"
        SUPERSEDED = "superseded", "Replaced (the credentials changed)"

    SIGNING_SALT = "connections.handofflink"
    DEFAULT_LIFETIME = timedelta(days=3)
    #: However ``expires_at`` is set, no token is honoured after this long.
    MAX_AGE = timedelta(days=14)

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    attempt = models.ForeignKey(
        ConnectionAttempt, on_delete=models.CASCADE, related_name="handoff_links"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(default=timezone.now)
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)
    used_at = models.DateTimeField("last used", null=True, blank=True)

    class Meta:
        verbose_name = "hand-off link"
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=Q(expires_at__gt=F("created_at")),
                name="connections_handofflink_expires_after_creation",
                violation_error_message="A hand-off link expires after it is created.",
            ),
        ]

    def __str__(self) -> str:
        return f"Hand-off link for {self.attempt.legal_entity}"

    @classmethod
    def signer(cls) -> signing.TimestampSigner:
        return signing.TimestampSigner(salt=cls.SIGNING_SALT)

    def token(self) -> str:
        """The signed, timestamped ``public_id`` the URL carries."""
        return self.signer().sign(str(self.public_id))

    def status(self, now: datetime | None = None) -> HandoffLink.Status:
        """Whether the link opens anything now, and if not, why (revoked first, then expired,
        then replaced by a newer attempt)."""
        now = now or timezone.now()
        if self.revoked_at is not None:
            return self.Status.REVOKED
        if now >= self.expires_at:
            return self.Status.EXPIRED
        if not self.attempt.is_current or self.attempt.state in ConnectionAttempt.FINISHED:
            return self.Status.SUPERSEDED
        return self.Status.USABLE


# --- SmartSync --------------------------------------------------------------------------------------


class ListItem(models.Model):
    """One Intacct list record of a legal entity, as SmartSync last saw it.

    ``record_no`` is the object's key (``RECORDNO``, or ``id`` for user-defined dimensions);
    ``deleted_at`` is set when Intacct no longer lists the record.
    """

    legal_entity = models.ForeignKey(
        LegalEntity, on_delete=models.CASCADE, related_name="list_items"
    )
    object_name = models.CharField(max_length=100)
    record_no = models.CharField(max_length=100)
    item_id = models.CharField("ID", max_length=200, blank=True)
    name = models.CharField(max_length=500, blank=True)
    status = models.CharField(max_length=40, blank=True)
    when_modified = models.DateTimeField(null=True, blank=True)
    fields = models.JSONField(default=dict, blank=True)
    deleted_at = models.DateTimeField(null=True, blank=True)
    synced_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "list item"
        ordering = ["legal_entity", "object_name", "record_no"]
        constraints = [
            models.UniqueConstraint(
                fields=["legal_entity", "object_name", "record_no"],
                name="connections_listitem_unique_record",
            ),
        ]
        indexes = [
            models.Index(
                fields=["legal_entity", "object_name", "when_modified"],
                name="connections_listitem_modified",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.object_name} {self.item_id or self.record_no}"


class SyncRun(models.Model):
    """One SmartSync of a legal entity: every object of its API Sync Profile."""

    class Kind(models.TextChoices):
        FULL = "full", "Full"
        PARTIAL = "partial", "Partial"

    class Trigger(models.TextChoices):
        MANUAL = "manual", "Manual"
        SCHEDULE = "schedule", "Schedule"
        COMMAND = "command", "Command"
        CONSOLE = "console", "Customer success"

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        PARTIAL = "partial", "Partly failed"
        FAILED = "failed", "Failed"

    ACTIVE = (State.QUEUED, State.RUNNING)
    FINISHED = (State.SUCCEEDED, State.PARTIAL, State.FAILED)

    public_id = models.UUIDField(default=uuid.uuid4, unique=True, editable=False)
    legal_entity = models.ForeignKey(
        LegalEntity, on_delete=models.CASCADE, related_name="sync_runs"
    )
    kind = models.CharField(max_length=20, choices=Kind.choices, default=Kind.PARTIAL)
    trigger = models.CharField(max_length=20, choices=Trigger.choices, default=Trigger.MANUAL)
    state = models.CharField(max_length=20, choices=State.choices, default=State.QUEUED)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
    )
    error = models.TextField(blank=True)
    # The whole run's HTTP requests and functions (API transactions), sign-in included.
    requests = models.PositiveIntegerField(default=0)
    transactions = models.PositiveIntegerField("API transactions", default=0)
    # How a partial sync found deletions: from the audit trail (True), or by listing every key
    # (False, with the reason in audit_note); None for a full sync.
    audit_trail = models.BooleanField("audit trail used", null=True, blank=True)
    audit_note = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    # Set while running, at most every few seconds: a run whose worker stopped goes quiet.
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    # The lost run (its worker or its task gone) that the sweep started this one in place of.
    restart_of = models.OneToOneField(
        "self",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="restarted_as",
        editable=False,
    )

    class Meta:
        verbose_name = "sync run"
        ordering = ["-created_at"]
        get_latest_by = "created_at"
        constraints = [
            models.UniqueConstraint(
                fields=["legal_entity"],
                condition=Q(state__in=["queued", "running"]),
                name="connections_syncrun_one_active",
                violation_error_message="A sync of this legal entity is already under way.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} sync of {self.legal_entity} ({self.state})"

    @property
    def is_finished(self) -> bool:
        return self.state in self.FINISHED


class SyncRunObject(models.Model):
    """What one sync run did to one Intacct object."""

    class State(models.TextChoices):
        PENDING = "pending", "Pending"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        SKIPPED = "skipped", "Skipped"
        FAILED = "failed", "Failed"

    run = models.ForeignKey(SyncRun, on_delete=models.CASCADE, related_name="object_results")
    object_name = models.CharField(max_length=100)
    state = models.CharField(max_length=20, choices=State.choices, default=State.PENDING)
    pages = models.PositiveIntegerField(default=0)
    requests = models.PositiveIntegerField(default=0)
    # Functions sent for this object: Intacct bills each as an API transaction.
    transactions = models.PositiveIntegerField("API transactions", default=0)
    fetched = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    unchanged = models.PositiveIntegerField(default=0)
    deleted = models.PositiveIntegerField(default=0)
    # Records the run expects to fetch (as Intacct counts them so far): the progress bar's end.
    total = models.PositiveIntegerField(default=0)
    # The WHENMODIFIED a partial sync read from (None for a full sync).
    since = models.DateTimeField(null=True, blank=True)
    # The newest WHENMODIFIED held after this object synced successfully: the next partial sync
    # reads from here, less an overlap. None when the object failed (it then moves nothing).
    watermark = models.DateTimeField(null=True, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    error = models.TextField(blank=True)
    # What the sync did differently in this company, e.g. a field it does not have, left out.
    warnings = models.JSONField(default=list, blank=True)
    # Whether this run listed every key of the object (a full sync; a partial without the
    # audit trail, or due its reconciliation), and how many records that listing found deleted
    # or new that the audit trail had not reported.
    reconciled = models.BooleanField(default=False)
    missed_by_audit = models.PositiveIntegerField("missed by the audit trail", default=0)

    class Meta:
        verbose_name = "sync run object"
        ordering = ["run", "pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "object_name"], name="connections_syncrunobject_one_per_object"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.object_name}: {self.state}"


class SyncSchedule(models.Model):
    """When a legal entity syncs by itself; the beat scheduler reads the PeriodicTask rows that
    :func:`connections.services.schedules.save_schedule` keeps in step with this one."""

    class Frequency(models.TextChoices):
        HOURLY = "hourly", "Every hour"
        DAILY = "daily", "Every day"
        WEEKLY = "weekly", "Every week"
        CRON = "cron", "Cron expression"

    class Weekday(models.IntegerChoices):
        # Cron's numbering: Sunday is 0.
        MONDAY = 1, "Monday"
        TUESDAY = 2, "Tuesday"
        WEDNESDAY = 3, "Wednesday"
        THURSDAY = 4, "Thursday"
        FRIDAY = 5, "Friday"
        SATURDAY = 6, "Saturday"
        SUNDAY = 0, "Sunday"

    legal_entity = models.OneToOneField(
        LegalEntity, on_delete=models.CASCADE, related_name="sync_schedule"
    )
    frequency = models.CharField(max_length=20, choices=Frequency.choices, default=Frequency.DAILY)
    # Hourly runs at this time's minute; daily and weekly at this time.
    time_of_day = models.TimeField(default=time(2, 0))
    weekday = models.PositiveSmallIntegerField(choices=Weekday.choices, default=Weekday.MONDAY)
    cron_expression = models.CharField(
        max_length=100, blank=True, help_text="minute hour day-of-month month day-of-week"
    )
    timezone = TimeZoneField(default="UTC")
    kind = models.CharField(
        max_length=20, choices=SyncRun.Kind.choices, default=SyncRun.Kind.PARTIAL
    )
    weekly_full = models.BooleanField("also a weekly full sync", default=False)
    weekly_full_weekday = models.PositiveSmallIntegerField(
        choices=Weekday.choices, default=Weekday.SUNDAY
    )
    enabled = models.BooleanField(default=True)
    periodic_task = models.OneToOneField(
        PeriodicTask, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    full_periodic_task = models.OneToOneField(
        PeriodicTask, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "sync schedule"
        constraints = [
            models.CheckConstraint(
                condition=~Q(frequency="cron", cron_expression=""),
                name="connections_syncschedule_cron_has_expression",
                violation_error_message="A cron schedule needs its expression.",
            ),
        ]

    def __str__(self) -> str:
        return f"Sync schedule of {self.legal_entity}"


# --- The customer-success console -------------------------------------------------------------------

#: The Django group whose members (and superusers) may open the console.
CUSTOMER_SUCCESS_GROUP = "Customer success"


class ConnectionHealth(models.Model):
    """Where a legal entity's connection stands, in one row the console filters, sorts and counts
    on in SQL.

    Derived, never edited: :func:`connections.services.health.refresh_health` rewrites it from the
    attempts, verification runs, sync runs, profile and schedule after every write that moves
    them. *Stuck* is not stored: it is ``current_step`` standing since before a cutoff.
    """

    legal_entity = models.OneToOneField(
        LegalEntity, on_delete=models.CASCADE, primary_key=True, related_name="health"
    )
    # The current attempt's state; blank before the first attempt.
    connection_state = models.CharField(
        max_length=20, choices=ConnectionAttempt.State.choices, blank=True
    )
    company_id = models.CharField("company ID", max_length=100, blank=True)
    # Blank once every guide step is done.
    current_step = models.CharField(max_length=40, choices=Step.choices, blank=True)
    step_since = models.DateTimeField(default=timezone.now)
    steps_done = models.PositiveSmallIntegerField(default=0)
    last_verification = models.ForeignKey(
        VerificationRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    # The last verification's first failed guide step and Intacct error number.
    failing_step = models.CharField(max_length=40, choices=Step.choices, blank=True)
    failing_errorno = models.CharField("Intacct error number", max_length=40, blank=True)
    verification_failing = models.BooleanField(default=False)
    permission_drift = models.BooleanField(default=False)
    last_sync = models.ForeignKey(
        SyncRun, on_delete=models.SET_NULL, null=True, blank=True, related_name="+"
    )
    last_sync_records = models.PositiveIntegerField(default=0)
    last_sync_transactions = models.PositiveIntegerField("API transactions", default=0)
    sync_failing = models.BooleanField(default=False)
    # Scheduled runs in a row, newest first, that failed or partly failed.
    scheduled_failures = models.PositiveSmallIntegerField(default=0)
    waiting_for_profile = models.BooleanField(default=False)
    waiting_since = models.DateTimeField(null=True, blank=True)
    next_sync_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "connection health"
        verbose_name_plural = "connection health"
        indexes = [
            models.Index(fields=["current_step", "step_since"], name="connections_health_step"),
            models.Index(
                fields=["waiting_for_profile", "waiting_since"], name="connections_health_wait"
            ),
        ]

    def __str__(self) -> str:
        return f"Health of {self.legal_entity}"


class StepVisit(models.Model):
    """A stretch of time a legal entity stood at one guide step (the funnel's durations);
    ``left_at`` is blank while it still stands there."""

    legal_entity = models.ForeignKey(
        LegalEntity, on_delete=models.CASCADE, related_name="step_visits"
    )
    step = models.CharField(max_length=40, choices=Step.choices)
    entered_at = models.DateTimeField()
    left_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "step visit"
        ordering = ["legal_entity", "entered_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["legal_entity"],
                condition=Q(left_at__isnull=True),
                name="connections_stepvisit_one_open",
            ),
        ]
        indexes = [models.Index(fields=["step", "left_at"], name="connections_stepvisit_step")]

    def __str__(self) -> str:
        return f"{self.legal_entity} at {self.step}"


class Alert(models.Model):
    """A condition of a connection someone must act on: raised once, open until it clears."""

    class Kind(models.TextChoices):
        PERMISSION_DRIFT = "permission_drift", "Permission drift"
        SYNC_FAILING = "sync_failing", "Scheduled sync failing"
        STUCK = "stuck", "Stuck"

    legal_entity = models.ForeignKey(LegalEntity, on_delete=models.CASCADE, related_name="alerts")
    kind = models.CharField(max_length=30, choices=Kind.choices)
    # The guide step that fixes it, when one does.
    step = models.CharField(max_length=40, choices=Step.choices, blank=True)
    message = models.TextField()
    raised_at = models.DateTimeField(default=timezone.now)
    cleared_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-raised_at", "-pk"]
        constraints = [
            models.UniqueConstraint(
                fields=["legal_entity", "kind"],
                condition=Q(cleared_at__isnull=True),
                name="connections_alert_one_open_per_kind",
                violation_error_message="This condition already has an open alert.",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} of {self.legal_entity}"

    @property
    def is_open(self) -> bool:
        return self.cleared_at is None
