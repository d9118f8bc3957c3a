"""Every audit action the code records has a name people read (the customer's history and the
console's audit log show it, not the code), and a detail reads as text, not as a Python dict."""

from __future__ import annotations

import re
from pathlib import Path

from connections.models import AUDIT_ACTIONS, AuditEvent

ROOT = Path(__file__).resolve().parents[2]
#: ``audit.record…(actor, "step.acknowledged", …)`` and ``action="…"`` written in the code.
RECORDED = re.compile(
    r"record(?:_for_entity|_for_attempt)?\(\s*[^,()]+,\s*\"([a-z_]+\.[a-z_]+)\"|action=\"([a-z_]+\.[a-z_]+)\""
)


def recorded_actions() -> set[str]:
    found: set[str] = set()
    for path in (ROOT / "connections").rglob("*.py"):
        if "migrations" in path.parts:
            continue
        for match in RECORDED.finditer(path.read_text()):
            found.add(match.group(1) or match.group(2))
    return found


def test_every_recorded_action_has_a_name_people_read():
    actions = recorded_actions()
    assert len(actions) >= 15, actions  # the scan still finds them
    assert sorted(actions - set(AUDIT_ACTIONS)) == []


def test_a_detail_reads_as_text():
    event = AuditEvent(
        action="sync_schedule.updated",
        detail={"frequency": "cron", "fields": ["company_id", "password"], "empty": "",
                "limits": {"before": 2, "after": 4}},
    )  # fmt: skip
    assert event.action_text == "Sync Schedule changed"
    assert event.detail_text == (
        "frequency: cron; fields: company id, password; limits: (before: 2, after: 4)"
    )
    event = AuditEvent(
        detail={"previous": {"objects": ["VENDOR", "GLACCOUNT"], "enabled": True},
                "integration_type": "top_level", "weekly_full": False, "run": "5a6e-88"}
    )  # fmt: skip
    assert event.detail_text == (
        "previous: (objects: VENDOR, GLACCOUNT, enabled: yes); integration type: top level; "
        "weekly full: no; run: 5a6e-88"
    )
    assert AuditEvent(action="brand.new").action_text == "brand.new"
