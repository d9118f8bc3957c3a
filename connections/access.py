"""Who may see and do what: the one place views ask.

- :func:`organization_for_user`: the user's organization, or ``None``.
- :func:`legal_entity_for_user`: a legal entity of the user's organizations, else ``Http404``
  (an outsider cannot even learn that it exists).
- :func:`wizard_access`: the guide's pre-connection check, enforced: only a System Administrator
  whose home org unit is the root may open the wizard, and :class:`Access` says exactly which of
  the two conditions is missing.
- :func:`handoff_link_for_token`: the hand-off link a URL token stands for, or why not.
- :func:`is_customer_success`: whether a user may open the customer-success console (its
  group's members and superusers; everyone else gets a 404 there).
- :func:`legal_entity_for_customer_success`: any organization's legal entity, for the console,
  else ``Http404``.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.core import signing
from django.http import Http404

from connections.models import (
    CUSTOMER_SUCCESS_GROUP,
    HandoffLink,
    LegalEntity,
    Membership,
    Organization,
)

__all__ = [
    "Access",
    "HandoffRefused",
    "handoff_link_for_token",
    "has_organization",
    "is_customer_success",
    "legal_entity_for_customer_success",
    "legal_entity_for_user",
    "organization_for_user",
    "wizard_access",
]

NOT_A_MEMBER = "membership"
NOT_SYSTEM_ADMINISTRATOR = "system_administrator"
HOME_UNIT_NOT_ROOT = "root_home_org_unit"


@dataclass(frozen=True)
class Access:
    """Whether a user may open the connection wizard, and if not, exactly why.

    ``missing`` lists the unmet conditions (``NOT_A_MEMBER``, ``NOT_SYSTEM_ADMINISTRATOR``,
    ``HOME_UNIT_NOT_ROOT``); ``reasons`` says each in a sentence for the page.
    """

    organization: Organization
    membership: Membership | None
    missing: tuple[str, ...] = ()
    reasons: tuple[str, ...] = ()

    @property
    def allowed(self) -> bool:
        return not self.missing

    def __bool__(self) -> bool:
        return self.allowed

    @property
    def missing_role(self) -> bool:
        return NOT_SYSTEM_ADMINISTRATOR in self.missing

    @property
    def missing_root_home_unit(self) -> bool:
        return HOME_UNIT_NOT_ROOT in self.missing

    @property
    def message(self) -> str:
        return " ".join(self.reasons)


def wizard_access(user: Any, organization: Organization) -> Access:
    """Check the wizard's two conditions for ``user`` in ``organization``."""
    membership = None
    if user is not None and user.is_authenticated and user.is_active:
        membership = (
            Membership.objects.filter(user=user, organization=organization)
            .select_related("home_org_unit")
            .first()
        )
    if membership is None:
        return Access(
            organization,
            None,
            (NOT_A_MEMBER,),
            (f"You are not a member of {organization.name}.",),
        )

    missing: list[str] = []
    reasons: list[str] = []
    if membership.role != Membership.Role.SYSTEM_ADMINISTRATOR:
        missing.append(NOT_SYSTEM_ADMINISTRATOR)
        reasons.append(
            f"Your role in {organization.name} is {membership.get_role_display()}; connecting "
            f"to Sage Intacct needs the {Membership.Role.SYSTEM_ADMINISTRATOR.label} role."
        )
    unit = membership.home_org_unit
    if unit.parent_id is not None or unit.organization_id != organization.pk:
        root = organization.units.roots().first()
        root_name = f" ({root.name})" if root is not None else ""
        missing.append(HOME_UNIT_NOT_ROOT)
        reasons.append(
            f"Your home org unit is {unit.name}; connecting to Sage Intacct needs the root org "
            f"unit{root_name} as your home org unit."
        )
    return Access(organization, membership, tuple(missing), tuple(reasons))


def has_organization(user: Any) -> bool:
    """Whether ``user`` belongs to any organization (staff of none have nothing to connect)."""
    if user is None or not user.is_authenticated:
        return False
    return Membership.objects.filter(user_id=user.pk).exists()


def is_customer_success(user: Any) -> bool:
    """An active superuser, or an active member of the "Customer success" group (``is_staff``
    alone is not enough). Asked once per request object."""
    if user is None or not user.is_authenticated or not user.is_active:
        return False
    if user.is_superuser:
        return True
    cached: bool | None = getattr(user, "_is_customer_success", None)
    if cached is None:
        cached = user.groups.filter(name=CUSTOMER_SUCCESS_GROUP).exists()
        user._is_customer_success = cached
    return cached


def legal_entity_for_customer_success(user: Any, public_id: Any) -> LegalEntity:
    """Any organization's legal entity with this public id, for the customer-success console;
    ``Http404`` for an unknown id, and for anyone :func:`is_customer_success` refuses (the
    console does not say it exists)."""
    if not is_customer_success(user):
        raise Http404("No such page.")
    entity = LegalEntity.objects.select_related("organization").filter(public_id=public_id).first()
    if entity is None:
        raise Http404("No such legal entity.")
    return entity


def organization_for_user(user: Any) -> Organization | None:
    """The user's organization (the first they joined, should there be several), or ``None``."""
    if user is None or not user.is_authenticated or not user.is_active:
        return None
    membership = (
        Membership.objects.filter(user=user)
        .select_related("organization")
        .order_by("created_at", "pk")
        .first()
    )
    return membership.organization if membership is not None else None


def legal_entity_for_user(user: Any, public_id: uuid.UUID | str) -> LegalEntity:
    """The legal entity ``public_id`` if ``user`` is a member of its organization; ``Http404``
    otherwise, also for a malformed id."""
    if user is None or not user.is_authenticated or not user.is_active:
        raise Http404("No such legal entity.")
    try:
        public_id = uuid.UUID(str(public_id))
    except ValueError:
        raise Http404("No such legal entity.") from None
    entity = (
        LegalEntity.objects.for_user(user)
        .select_related("organization")
        .filter(public_id=public_id)
        .first()
    )
    if entity is None:
        raise Http404("No such legal entity.")
    return entity


class HandoffRefused(Exception):
    """A hand-off token that does not open anything; ``reason`` says why, for the page: the
    link's :class:`~connections.models.HandoffLink.Status`, or ``INVALID`` for a token that names
    no link (forged, altered, or for a deleted link)."""

    INVALID = "invalid"

    MESSAGES = {
        INVALID: "This link is not valid. Ask for a new one.",
        HandoffLink.Status.EXPIRED: "This link has expired. Ask for a new one.",
        HandoffLink.Status.REVOKED: "This link was withdrawn. Ask for a new one.",
        HandoffLink.Status.SUPERSEDED: "This link is for a connection attempt that was replaced. "
        "Ask for a new one.",
    }

    def __init__(self, reason: str) -> None:
        super().__init__(self.MESSAGES[reason])
        self.reason = reason

    @property
    def message(self) -> str:
        return self.MESSAGES[self.reason]


def handoff_link_for_token(token: str, *, now: datetime | None = None) -> HandoffLink:
    """The usable hand-off link ``token`` was made for; :class:`HandoffRefused` otherwise."""
    try:
        value = HandoffLink.signer().unsign(token, max_age=HandoffLink.MAX_AGE)
        public_id = uuid.UUID(value)
    except signing.SignatureExpired:
        raise HandoffRefused(HandoffLink.Status.EXPIRED) from None
    except (signing.BadSignature, ValueError):
        raise HandoffRefused(HandoffRefused.INVALID) from None
    link = (
        HandoffLink.objects.select_related("attempt__legal_entity__organization")
        .filter(public_id=public_id)
        .first()
    )
    if link is None:
        raise HandoffRefused(HandoffRefused.INVALID)
    status = link.status(now)
    if status != HandoffLink.Status.USABLE:
        raise HandoffRefused(status)
    return link
