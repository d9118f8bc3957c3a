from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.contrib.auth.models import AnonymousUser
from django.core import signing
from django.http import Http404
from django.utils import timezone

from connections.access import (
    HOME_UNIT_NOT_ROOT,
    NOT_A_MEMBER,
    NOT_SYSTEM_ADMINISTRATOR,
    HandoffRefused,
    handoff_link_for_token,
    legal_entity_for_user,
    organization_for_user,
    wizard_access,
)
from connections.models import ConnectionAttempt, HandoffLink, Membership
from connections.services.attempts import start_attempt
from tests.factories import (
    ConnectionAttemptFactory,
    HandoffLinkFactory,
    MembershipFactory,
    UserFactory,
)

pytestmark = pytest.mark.django_db


# --- The wizard's two conditions --------------------------------------------------------------------


def test_system_administrator_at_the_root_may_open_the_wizard(system_admin, organization):
    access = wizard_access(system_admin, organization)

    assert access
    assert access.allowed
    assert access.missing == ()
    assert access.message == ""


def test_member_without_the_role_is_told_about_the_role(clerk, organization):
    access = wizard_access(clerk, organization)

    assert not access
    assert access.missing == (NOT_SYSTEM_ADMINISTRATOR,)
    assert access.missing_role
    assert not access.missing_root_home_unit
    assert "System Administrator" in access.message
    assert "AP Clerk" in access.message
    assert "home org unit" not in access.message


def test_administrator_off_the_root_is_told_about_the_home_unit(branch_admin, organization):
    access = wizard_access(branch_admin, organization)

    assert not access
    assert access.missing == (HOME_UNIT_NOT_ROOT,)
    assert access.missing_root_home_unit
    assert "Field office" in access.message
    assert "root org unit (Head office)" in access.message
    assert "role" not in access.message


def test_member_missing_both_conditions_is_told_both(organization):
    membership = MembershipFactory(
        organization=organization,
        role=Membership.Role.VIEWER,
        home_org_unit=organization.units.get(name="Field office"),
    )

    access = wizard_access(membership.user, organization)

    assert access.missing == (NOT_SYSTEM_ADMINISTRATOR, HOME_UNIT_NOT_ROOT)
    assert len(access.reasons) == 2


@pytest.mark.parametrize("who", ["outsider", "anonymous", "inactive"])
def test_non_members_may_not_open_the_wizard(who, outsider, organization):
    user = {
        "outsider": outsider,
        "anonymous": AnonymousUser(),
        "inactive": MembershipFactory(organization=organization, user__is_active=False).user,
    }[who]

    access = wizard_access(user, organization)

    assert not access
    assert access.missing == (NOT_A_MEMBER,)


# --- Scoping to the organization --------------------------------------------------------------------


@pytest.mark.parametrize("persona", ["system_admin", "clerk", "branch_admin"])
def test_members_reach_their_organizations_legal_entity(persona, request, legal_entity):
    user = request.getfixturevalue(persona)

    assert legal_entity_for_user(user, legal_entity.public_id) == legal_entity
    assert legal_entity_for_user(user, str(legal_entity.public_id)) == legal_entity


def test_outsider_gets_404_for_another_organizations_legal_entity(outsider, legal_entity):
    with pytest.raises(Http404):
        legal_entity_for_user(outsider, legal_entity.public_id)


@pytest.mark.parametrize("public_id", ["not-a-uuid", "", "8f1d0c4e-5d0b-4a5e-9a39-2f2f3c1b7e10"])
def test_unknown_or_malformed_public_id_is_404(public_id, system_admin, legal_entity):
    with pytest.raises(Http404):
        legal_entity_for_user(system_admin, public_id)


def test_anonymous_user_gets_404(legal_entity):
    with pytest.raises(Http404):
        legal_entity_for_user(AnonymousUser(), legal_entity.public_id)


def test_legal_entity_is_never_found_by_its_integer_pk(system_admin, legal_entity):
    with pytest.raises(Http404):
        legal_entity_for_user(system_admin, legal_entity.pk)


def test_organization_for_user(system_admin, outsider, organization):
    assert organization_for_user(system_admin) == organization
    assert organization_for_user(outsider) != organization
    assert organization_for_user(UserFactory()) is None
    assert organization_for_user(AnonymousUser()) is None


# --- Hand-off links ---------------------------------------------------------------------------------


def test_handoff_token_opens_its_link():
    link = HandoffLinkFactory()

    assert handoff_link_for_token(link.token()) == link


def test_handoff_token_carries_no_credentials():
    link = HandoffLinkFactory(attempt__password="Correct-Horse-9")

    token = link.token()

    assert "Correct-Horse-9" not in token
    assert str(link.public_id) in token  # signed, not encrypted: the id is no secret


@pytest.mark.parametrize(
    "token",
    ["", "garbage", "00000000-0000-0000-0000-000000000000:abc:def"],
)
def test_forged_handoff_token_is_refused(token):
    HandoffLinkFactory()

    with pytest.raises(HandoffRefused) as refused:
        handoff_link_for_token(token)

    assert refused.value.reason == HandoffRefused.INVALID


def test_altered_handoff_token_is_refused():
    link = HandoffLinkFactory()
    other = HandoffLinkFactory()
    signature = link.token().rsplit(":", 1)[1]
    forged = f"{other.public_id}:{link.token().split(':')[1]}:{signature}"

    with pytest.raises(HandoffRefused) as refused:
        handoff_link_for_token(forged)

    assert refused.value.reason == HandoffRefused.INVALID


def test_revoked_handoff_link_is_refused():
    link = HandoffLinkFactory(revoked_at=timezone.now())

    with pytest.raises(HandoffRefused) as refused:
        handoff_link_for_token(link.token())

    assert refused.value.reason == HandoffLink.Status.REVOKED
    assert "withdrawn" in refused.value.message


def test_handoff_link_past_its_expiry_is_refused():
    now = timezone.now()
    link = HandoffLinkFactory(
        created_at=now - timedelta(days=4), expires_at=now - timedelta(days=1)
    )

    with pytest.raises(HandoffRefused) as refused:
        handoff_link_for_token(link.token())

    assert refused.value.reason == HandoffLink.Status.EXPIRED


def test_handoff_token_older_than_the_signing_limit_is_refused():
    link = HandoffLinkFactory(expires_at=timezone.now() + timedelta(days=365))
    signed_long_ago = int(time.time() - HandoffLink.MAX_AGE.total_seconds() - 60)
    # What TimestampSigner.sign would have produced back then.
    old_token = signing.Signer(salt=HandoffLink.SIGNING_SALT).sign(
        f"{link.public_id}:{signing.b62_encode(signed_long_ago)}"
    )

    with pytest.raises(HandoffRefused) as refused:
        handoff_link_for_token(old_token)

    assert refused.value.reason == HandoffLink.Status.EXPIRED


def test_handoff_link_of_a_replaced_attempt_is_refused():
    attempt = ConnectionAttemptFactory()
    link = HandoffLinkFactory(attempt=attempt)

    start_attempt(attempt.legal_entity)

    assert ConnectionAttempt.objects.get(pk=attempt.pk).state == "superseded"
    with pytest.raises(HandoffRefused) as refused:
        handoff_link_for_token(link.token())
    assert refused.value.reason == HandoffLink.Status.SUPERSEDED


def test_the_console_fetches_any_organizations_entity_for_its_staff_only(
    legal_entity, system_admin, outsider
):
    import uuid

    from django.contrib.auth.models import Group

    from connections.access import legal_entity_for_customer_success
    from connections.models import CUSTOMER_SUCCESS_GROUP

    staff = UserFactory(username="cs-member", is_staff=True)
    staff.groups.add(Group.objects.get(name=CUSTOMER_SUCCESS_GROUP))
    assert legal_entity_for_customer_success(staff, legal_entity.public_id) == legal_entity
    plain_staff = UserFactory(username="plain-staff", is_staff=True)
    for user in (AnonymousUser(), system_admin, outsider, plain_staff):
        with pytest.raises(Http404):
            legal_entity_for_customer_success(user, legal_entity.public_id)
    with pytest.raises(Http404):
        legal_entity_for_customer_success(staff, uuid.uuid4())
