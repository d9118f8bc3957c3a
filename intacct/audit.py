"""The audit trail (``AUDITHISTORY``): which records were added, changed or deleted since a time.

A partial sync reads it instead of listing every key of every object: one paged ``query`` across
all the objects finds the deletions (and the additions a WHENMODIFIED filter cannot see).

What is documented (developer.intacct.com, Company Console → Audit Trails), and relied on here:

- the object is ``AUDITHISTORY``; ``query`` needs a ``select`` (no ``*``) and takes a ``filter``
  and an ``orderby``; fields include ``OBJECTTYPE``, ``OBJECTKEY``, ``ACCESSMODE``,
  ``ACCESSTIME`` (``MM/DD/YYYY HH:MM:SS``), ``USERID`` and ``SOURCE`` (api, csv, system, ui);
- ``ACCESSMODE`` takes, among others, ``Created``, ``Modified``, ``Deleted``, ``Add Event``,
  ``Modify Event`` and ``Delete Event`` (also ``Access``, ``Login``, ``Workflow``… which are not
  record changes);
- reading it needs the role's View permission for custom reports, under the Platform Services
  subscription; the guide's permission table does not ask for it, so it is an *optional*
  permission that makes partial syncs cheaper.

What is not verified, and treated defensively:

- the case of ``OBJECTTYPE`` (public connectors compare it lower-case, ``vendor``): the query is
  case-insensitive and the answer is compared without case;
- whether ``OBJECTKEY`` holds the record number or the record's ID: a sync looks a key up by both
  (:func:`key_filter`), so either works;
- single-letter modes (``C``, ``M``, ``D``) that a public connector also accepts: classified too;
- the error a role without the permission gets: any failure of the audit query means "not
  readable now" and the sync lists keys as before; a permission-shaped one
  (:func:`audit_denied`) means "not readable until the permission is granted";
- whether every object's changes reach the audit trail: a daily reconciliation (a key listing)
  catches what it missed, and counts it.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from . import protocol as p
from .client import QuerySpec
from .errors import (
    STEP_TRANSIENT,
    GatewayError,
    IntacctError,
    NotApplicableError,
    PermissionDeniedError,
)
from .timestamps import format_datetime, parse_datetime

__all__ = [
    "AUDIT_FIELDS",
    "AUDIT_OBJECT",
    "CHANGE_MODES",
    "DELETE_MODES",
    "AuditEvents",
    "audit_denied",
    "audit_filter",
    "audit_probe",
    "audit_query",
    "classify_mode",
    "key_filter",
]

AUDIT_OBJECT = "AUDITHISTORY"
AUDIT_FIELDS = ("OBJECTTYPE", "OBJECTKEY", "ACCESSMODE", "ACCESSTIME")

#: ACCESSMODE values that mean the record is gone (documented: ``Deleted``, ``Delete Event``;
#: ``D`` seen in a public connector, unverified).
DELETE_MODES = ("Deleted", "Delete Event", "D")
#: ACCESSMODE values that mean the record was added or changed (documented: ``Created``,
#: ``Modified``, ``Add Event``, ``Modify Event``; ``C``, ``M`` unverified).
CHANGE_MODES = ("Created", "Modified", "Add Event", "Modify Event", "C", "M")

DELETED = "deleted"
CHANGED = "changed"

_MODES = {m.upper(): DELETED for m in DELETE_MODES} | {m.upper(): CHANGED for m in CHANGE_MODES}


def classify_mode(mode: str | None) -> str | None:
    """``"deleted"``, ``"changed"`` or ``None`` (a read, a login, a workflow step…) for an
    ACCESSMODE, without regard to case or surrounding spaces."""
    return _MODES.get((mode or "").strip().upper())


def audit_filter(object_names: Iterable[str], since: datetime) -> p.Filter:
    """Audit rows of the objects' additions, changes and deletions at or after ``since``."""
    types = sorted({n.lower() for n in object_names})
    return p.Filter.all(
        p.Filter.cond("greaterthanorequalto", "ACCESSTIME", format_datetime(since)),
        p.Filter.cond("in", "OBJECTTYPE", *types),
        p.Filter.cond("in", "ACCESSMODE", *DELETE_MODES, *CHANGE_MODES),
    )


def audit_query(object_names: Iterable[str], since: datetime) -> QuerySpec:
    """The paged audit query of :func:`audit_filter`, oldest first (new rows land on the last
    page, so offset paging neither skips nor repeats), compared without case."""
    return QuerySpec(
        AUDIT_OBJECT,
        AUDIT_FIELDS,
        audit_filter(object_names, since),
        order_by=(("ACCESSTIME", True),),
        case_insensitive=True,
    )


def audit_probe() -> p.Function:
    """A one-row ``query`` of the audit trail: whether the role may read it."""
    return p.query(AUDIT_OBJECT, ["OBJECTTYPE"], page_size=1)


def audit_denied(error: IntacctError) -> bool:
    """Whether the audit query failed because the role may not read the audit trail (or the
    company lacks it), rather than for a passing reason. The wording is unverified: a permission
    error, a not-subscribed or unknown-object error, and texts naming a permission or the object
    all count; a transient error (busy, 5xx, an expired session) never does."""
    if error.transient or error.step == STEP_TRANSIENT:
        return False
    if isinstance(error, PermissionDeniedError | NotApplicableError):
        return True
    if isinstance(error, GatewayError):
        text = " ".join(e.text() for e in error.errors).lower()
        return any(
            word in text
            for word in ("permission", "not authorized", "not subscribed", "audithistory")
        )
    return False


@dataclass
class AuditEvents:
    """What the audit trail says happened, per object (upper-case name): keys added or changed,
    keys deleted. A key deleted after it was changed is only deleted; one re-added after its
    deletion is only changed (the last event wins)."""

    changed: dict[str, set[str]] = field(default_factory=dict)
    deleted: dict[str, set[str]] = field(default_factory=dict)
    rows: int = 0

    def add_records(self, records: Iterable[dict[str, str]], objects: Sequence[str]) -> None:
        """Fold audit rows (oldest first) in; rows of other objects or modes are skipped."""
        wanted = {n.upper() for n in objects}
        for record in records:
            self.rows += 1
            name = (record.get("OBJECTTYPE") or "").strip().upper()
            key = (record.get("OBJECTKEY") or "").strip()
            kind = classify_mode(record.get("ACCESSMODE"))
            if name not in wanted or not key or kind is None:
                continue
            changed = self.changed.setdefault(name, set())
            deleted = self.deleted.setdefault(name, set())
            if kind == DELETED:
                changed.discard(key)
                deleted.add(key)
            else:
                deleted.discard(key)
                changed.add(key)

    def of(self, object_name: str) -> tuple[set[str], set[str]]:
        """The object's (changed, deleted) keys."""
        upper = object_name.upper()
        return self.changed.get(upper, set()), self.deleted.get(upper, set())

    def keys_of(self, object_name: str) -> set[str]:
        changed, deleted = self.of(object_name)
        return changed | deleted


def key_filter(key_field: str, id_field: str, keys: Sequence[str]) -> p.Filter:
    """Records whose key, or whose ID, is one of ``keys``: an OBJECTKEY is looked up both ways,
    since which of the two the audit trail holds is unverified. Record numbers are numbers, so
    only numeric keys are compared with a numeric key field."""
    numeric = [k for k in keys if k.isdigit()]
    by_key = numeric if key_field.upper() == "RECORDNO" else list(keys)
    parts: list[p.Filter] = []
    if by_key:
        parts.append(p.Filter.cond("in", key_field, *by_key))
    if id_field.upper() != key_field.upper():
        parts.append(p.Filter.cond("in", id_field, *keys))
    return p.Filter.any(*parts)


def audit_time(record: dict[str, str]) -> datetime | None:
    """An audit row's ACCESSTIME."""
    return parse_datetime(record.get("ACCESSTIME"))
