"""Our own accounts: organizations with their unit tree, members, legal entities."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.text import slugify

from connections import audit
from connections.models import LegalEntity, Membership, Organization, OrgUnit
from connections.services import health

__all__ = ["add_member", "add_org_unit", "create_legal_entity", "create_organization"]


@transaction.atomic
def create_organization(
    name: str,
    *,
    slug: str = "",
    root_unit_name: str = "",
    actor: Any = None,
) -> Organization:
    """A new organization with its root org unit (named after it unless ``root_unit_name``)."""
    organization = Organization.objects.create(name=name, slug=slug or slugify(name))
    root = OrgUnit.objects.create(organization=organization, name=root_unit_name or name)
    audit.record(
        actor,
        "organization.created",
        organization=organization,
        slug=organization.slug,
        root_unit=root.name,
    )
    return organization


@transaction.atomic
def add_org_unit(
    organization: Organization, name: str, *, parent: OrgUnit | None = None, actor: Any = None
) -> OrgUnit:
    """A unit under ``parent`` (the root when not given)."""
    parent = parent or organization.units.root()
    unit = OrgUnit(organization=organization, name=name, parent=parent)
    unit.full_clean()
    unit.save()
    audit.record(
        actor,
        "org_unit.created",
        organization=organization,
        unit=unit.name,
        parent=parent.name,
    )
    return unit


@transaction.atomic
def add_member(
    organization: Organization,
    user: Any,
    *,
    role: str,
    home_org_unit: OrgUnit | None = None,
    actor: Any = None,
) -> Membership:
    """Make ``user`` a member with ``role`` and ``home_org_unit`` (the root when not given), or
    bring an existing membership to those values. Safe to run twice."""
    unit = home_org_unit or organization.units.root()
    membership = Membership.objects.filter(user=user, organization=organization).first()
    if (
        membership is not None
        and membership.role == role
        and membership.home_org_unit_id == unit.pk
    ):
        return membership
    action = "membership.added" if membership is None else "membership.changed"
    membership = membership or Membership(user=user, organization=organization)
    membership.role = role
    membership.home_org_unit = unit
    membership.full_clean()
    membership.save()
    audit.record(
        actor,
        action,
        organization=organization,
        username=user.get_username(),
        role=role,
        home_org_unit=unit.name,
    )
    return membership


@transaction.atomic
def create_legal_entity(organization: Organization, name: str, *, actor: Any = None) -> LegalEntity:
    legal_entity = LegalEntity.objects.create(organization=organization, name=name)
    audit.record_for_entity(actor, "legal_entity.created", legal_entity, name=name)
    health.refresh_health(legal_entity.pk)
    return legal_entity
