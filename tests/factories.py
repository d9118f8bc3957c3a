"""factory_boy factories for the connections models.

``OrganizationFactory`` makes the root org unit too; units, members and legal entities default to
that organization's root.
"""

from __future__ import annotations

from datetime import timedelta

import factory
from django.conf import settings
from django.contrib.auth import get_user_model
from django.utils import timezone

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
    Step,
    StepState,
    SyncRun,
    SyncRunObject,
    VerificationRun,
)

USER_PASSWORD = "a-long-password-1"
INTACCT_PASSWORD = "Intacct-Pa55word"


class UserFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = get_user_model()
        django_get_or_create = ("username",)

    username = factory.Sequence(lambda n: f"user{n}")
    email = factory.LazyAttribute(lambda user: f"{user.username}@example.com")
    password = factory.django.Password(USER_PASSWORD)


class OrganizationFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = Organization
        django_get_or_create = ("slug",)
        skip_postgeneration_save = True

    name = factory.Sequence(lambda n: f"Organization {n}")
    slug = factory.Sequence(lambda n: f"organization-{n}")

    @factory.post_generation
    def root(self, create: bool, extracted: object, **kwargs: object) -> None:
        """``root=False`` makes an organization without units."""
        if create and extracted is not False and not self.units.roots().exists():
            OrgUnit.objects.create(organization=self, name="Head office")


class OrgUnitFactory(factory.django.DjangoModelFactory):
    """A unit under the organization's root."""

    class Meta:
        model = OrgUnit

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Unit {n}")
    parent = factory.LazyAttribute(lambda unit: unit.organization.units.root())


class MembershipFactory(factory.django.DjangoModelFactory):
    """A System Administrator whose home org unit is the root, unless told otherwise."""

    class Meta:
        model = Membership

    user = factory.SubFactory(UserFactory)
    organization = factory.SubFactory(OrganizationFactory)
    role = Membership.Role.SYSTEM_ADMINISTRATOR
    home_org_unit = factory.LazyAttribute(lambda member: member.organization.units.root())


class LegalEntityFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = LegalEntity

    organization = factory.SubFactory(OrganizationFactory)
    name = factory.Sequence(lambda n: f"Legal entity {n}")


class ConnectionAttemptFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ConnectionAttempt

    legal_entity = factory.SubFactory(LegalEntityFactory)
    company_id = "healthy-top"
    user_id = "Beanworks"
    password = INTACCT_PASSWORD
    endpoint = factory.LazyFunction(lambda: settings.INTACCT_ENDPOINT)


class StepStateFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = StepState

    attempt = factory.SubFactory(ConnectionAttemptFactory)
    step = Step.WS_SUBSCRIPTION


class VerificationRunFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = VerificationRun

    attempt = factory.SubFactory(ConnectionAttemptFactory)
    state = VerificationRun.State.QUEUED

    @factory.lazy_attribute
    def finished_at(self) -> object:
        return timezone.now() if self.state in VerificationRun.FINISHED else None


class CheckResultFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = CheckResult

    run = factory.SubFactory(VerificationRunFactory, state=VerificationRun.State.PASSED)
    position = factory.Sequence(lambda n: n)
    kind = CheckResult.Kind.STEP
    key = Step.WS_SUBSCRIPTION.value
    label = "Web Services subscription"
    outcome = CheckResult.Outcome.PASSED


class ApiSyncProfileFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = ApiSyncProfile

    legal_entity = factory.SubFactory(LegalEntityFactory)
    object_names = factory.LazyFunction(lambda: ["VENDOR", "GLACCOUNT"])


class AuditEventFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = AuditEvent

    organization = factory.SubFactory(OrganizationFactory)
    action = "test.happened"


class HandoffLinkFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = HandoffLink

    attempt = factory.SubFactory(ConnectionAttemptFactory)
    created_at = factory.LazyFunction(timezone.now)
    expires_at = factory.LazyAttribute(lambda link: link.created_at + timedelta(days=3))


class SyncRunFactory(factory.django.DjangoModelFactory):
    """A finished run, succeeded unless told otherwise."""

    class Meta:
        model = SyncRun

    legal_entity = factory.SubFactory(LegalEntityFactory)
    kind = SyncRun.Kind.FULL
    state = SyncRun.State.SUCCEEDED
    started_at = factory.LazyFunction(timezone.now)

    @factory.lazy_attribute
    def finished_at(self) -> object:
        return timezone.now() if self.state in SyncRun.FINISHED else None


class SyncRunObjectFactory(factory.django.DjangoModelFactory):
    class Meta:
        model = SyncRunObject

    run = factory.SubFactory(SyncRunFactory)
    object_name = "VENDOR"
    state = SyncRunObject.State.SUCCEEDED
    fetched = 20
    requests = 1


def verified_attempt(legal_entity: LegalEntity, **fields: object) -> ConnectionAttempt:
    """A verified current attempt whose last run proved VENDOR and GLACCOUNT readable."""
    attempt = ConnectionAttemptFactory(
        legal_entity=legal_entity, state=ConnectionAttempt.State.VERIFIED, **fields
    )
    run = VerificationRunFactory(attempt=attempt, state=VerificationRun.State.PASSED)
    for key, names in (("vendors", ["VENDOR"]), ("gl_accounts", ["GLACCOUNT"])):
        CheckResultFactory(
            run=run,
            kind=CheckResult.Kind.PERMISSION,
            key=key,
            object_names=names,
            outcome=CheckResult.Outcome.GRANTED,
        )
    return attempt
