"""Reads of the API Sync Profile: whether SmartSync may run, and which objects a new profile pulls.

Every door (the wizard, the admin, the command line, the tasks and, next, the console) asks here,
so a profile made anywhere gets the same objects and every page agrees on "ready".
"""

from __future__ import annotations

from connections.models import ApiSyncProfile, CheckResult, LegalEntity, VerificationRun
from connections.selectors.connections import current_attempt, last_checked_run
from intacct import LIST_OBJECTS, PERMISSION_ROWS, UDD_ROW_KEY

__all__ = [
    "SyncObjectsUnknown",
    "api_sync_profile_status",
    "default_sync_objects",
    "granted_sync_objects",
    "profile_of",
    "ready_profile",
    "sync_object_choices",
]

# Permission rows whose objects SmartSync pulls; user-defined dimensions are list data too.
LIST_ROW_KEYS = frozenset(row.key for row in PERMISSION_ROWS if row.kind == "list") | {UDD_ROW_KEY}


class SyncObjectsUnknown(ValueError):
    """No verification proved any object readable, so a profile cannot pick its objects itself;
    the message says what to do."""


def profile_of(legal_entity: LegalEntity) -> ApiSyncProfile | None:
    return ApiSyncProfile.objects.filter(legal_entity=legal_entity).first()


def ready_profile(legal_entity: LegalEntity) -> ApiSyncProfile | None:
    """The profile SmartSync runs with: ``None`` until customer success enabled one."""
    return ApiSyncProfile.objects.ready().filter(legal_entity=legal_entity).first()


def api_sync_profile_status(legal_entity: LegalEntity) -> ApiSyncProfile.Status:
    """``ready`` once customer success created an enabled profile; ``waiting`` before."""
    return ApiSyncProfile.status_of(ready_profile(legal_entity))


def granted_sync_objects(run: VerificationRun) -> list[str]:
    """The objects SmartSync may pull according to the verification ``run``: those of every list
    row of the permission table (each user-defined dimension included) that it found granted,
    in the table's order."""
    names: list[str] = []
    results = CheckResult.objects.filter(
        run=run,
        kind=CheckResult.Kind.PERMISSION,
        key__in=LIST_ROW_KEYS,
        outcome=CheckResult.Outcome.GRANTED,
    ).order_by("position")
    for result in results:
        names.extend(name for name in result.object_names if name not in names)
    return names


def default_sync_objects(legal_entity: LegalEntity) -> list[str]:
    """The objects a new API Sync Profile pulls: what the last verification of the current
    attempt proved readable (:func:`granted_sync_objects`). :class:`SyncObjectsUnknown` when no
    verification reached a verdict, or it proved no list object readable."""
    attempt = current_attempt(legal_entity)
    run = last_checked_run(attempt) if attempt is not None else None
    if run is None:
        raise SyncObjectsUnknown(
            f"{legal_entity.name} has no finished verification to take the objects from: "
            "verify the connection first, or name the objects."
        )
    names = granted_sync_objects(run)
    if not names:
        raise SyncObjectsUnknown(
            f"The last verification of {legal_entity.name} found no list object readable: "
            "fix the role's permissions, or name the objects."
        )
    return names


def sync_object_choices(extra: list[str]) -> list[tuple[str, str]]:
    """What a profile may pull, as ``(name, label)`` choices: every list object of the catalog,
    then any of ``extra`` it does not know (user-defined dimensions, or a profile's own)."""
    choices = [(name, f"{obj.label} ({name})") for name, obj in LIST_OBJECTS.items()]
    known = set(LIST_OBJECTS)
    choices.extend((name, name) for name in extra if name not in known)
    return choices
