"""The permission probes: the gateway functions that prove the connection guide's steps.

:func:`intacct.checks.verify` sends them and judges the answers; this module only builds them.

- :func:`plan_probes`: the first request's functions — ``getUserPermissions`` for the web services
  user, ``lookup APBILL`` (the AP Bill custom field), ``getDimensions``, and one ``query``
  (``pagesize 1``, ``RECORDNO`` only) per object of the guide's permission table; the
  ``LOCATIONENTITY`` probe selects the entities' IDs and names (:func:`entity_query`), so it is
  also the entity list.
- :func:`dimension_probes`: the second request's, one ``query`` per user-defined dimension that
  ``getDimensions`` found.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from . import protocol as p
from .permissions import PermissionRow

__all__ = [
    "CUSTOM_FIELD_OBJECT",
    "ENTITY_FIELDS",
    "ENTITY_OBJECT",
    "ProbePlan",
    "dimension_probes",
    "entities_of",
    "entity_query",
    "plan_probes",
]

#: The object whose ``lookup`` shows the guide's custom field.
CUSTOM_FIELD_OBJECT = "APBILL"
#: The object listing a multi-entity company's entities.
ENTITY_OBJECT = "LOCATIONENTITY"
ENTITY_FIELDS = ("RECORDNO", "LOCATIONID", "NAME", "STATUS")


@dataclass(frozen=True)
class ProbePlan:
    """The first request of a verification: every function it sends, by what it proves."""

    permissions: p.Function
    custom_field: p.Function
    dimensions: p.Function
    #: One read probe per object of the permission table, by object name.
    objects: dict[str, p.Function]

    @property
    def functions(self) -> list[p.Function]:
        """Every function, in the order they travel."""
        return [self.permissions, self.custom_field, self.dimensions, *self.objects.values()]


def entity_query() -> p.Function:
    """The ``query`` listing the company's entities (IDs, names, status)."""
    return p.query(ENTITY_OBJECT, list(ENTITY_FIELDS), page_size=p.MAX_QUERY_PAGE)


def entities_of(result: p.Result) -> list[dict[str, str]]:
    """The entities an :func:`entity_query` answered: ``[{"id", "name", "status"}]``."""
    return [
        {"id": r.get("LOCATIONID", ""), "name": r.get("NAME", ""), "status": r.get("STATUS", "")}
        for r in result.records
    ]


def plan_probes(user_id: str, rows: Sequence[PermissionRow]) -> ProbePlan:
    """The probes of the first request for ``user_id`` and the permission table ``rows``
    (an object shared by several rows is probed once)."""
    objects: dict[str, p.Function] = {}
    for row in rows:
        for obj in row.objects:
            if obj in objects:
                continue
            if obj == ENTITY_OBJECT:
                objects[obj] = entity_query()
            else:
                objects[obj] = p.query(obj, ["RECORDNO"], page_size=1)
    return ProbePlan(
        permissions=p.get_user_permissions(user_id),
        custom_field=p.lookup(CUSTOM_FIELD_OBJECT),
        dimensions=p.get_dimensions(),
        objects=objects,
    )


def dimension_probes(dimensions: Sequence[p.Dimension]) -> dict[str, p.Function]:
    """One read probe per user-defined dimension, by object name."""
    return {d.object_name: p.query(d.object_name, ["id"], page_size=1) for d in dimensions}
