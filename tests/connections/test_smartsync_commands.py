"""The ``smartsync`` and ``listitems`` commands against the sandbox over loopback."""

from __future__ import annotations

import io
import json

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError

from connections.models import ApiSyncProfile, LegalEntity, ListItem, SyncRun
from connections.services.smartsync import start_sync
from intacct.sandbox.world import Sandbox

pytestmark = pytest.mark.django_db

OBJECTS = ["VENDOR", "CLASS", "DEPARTMENT"]
OBJECT_KEYS = {
    "object",
    "state",
    "fetched",
    "created",
    "updated",
    "unchanged",
    "deleted",
    "requests",
    "error",
}
LINE_KEYS = {"object", "record_no", "id", "name", "status", "when_modified", "deleted"}


@pytest.fixture
def healthy(make_attempt, legal_entity: LegalEntity) -> LegalEntity:
    make_attempt("healthy-top")
    ApiSyncProfile.objects.create(legal_entity=legal_entity, object_names=OBJECTS)
    return legal_entity


def smartsync(entity: LegalEntity, *flags: str) -> dict:
    out = io.StringIO()
    call_command("smartsync", str(entity.public_id), *flags, "--json", stdout=out)
    return json.loads(out.getvalue())


def listitems(entity: LegalEntity, *flags: str) -> list[dict]:
    out = io.StringIO()
    call_command("listitems", str(entity.public_id), *flags, stdout=out)
    return [json.loads(line) for line in out.getvalue().splitlines()]


def sandbox_keys(sandbox: Sandbox, object_name: str) -> set[str]:
    return {str(n) for n in sandbox.company("healthy-top").snapshot(object_name)}


def test_inline_full_then_partial_matches_the_sandbox(healthy, sandbox):
    full = smartsync(healthy, "--full", "--inline")

    assert full["kind"] == "full"
    assert full["state"] == "succeeded"
    assert [o["object"] for o in full["objects"]] == OBJECTS
    assert all(set(o) >= OBJECT_KEYS for o in full["objects"])
    assert all(o["created"] == o["fetched"] > 0 and o["requests"] > 0 for o in full["objects"])
    assert full["run"] == str(SyncRun.objects.get().public_id)

    done = sandbox.company("healthy-top").mutate(
        adds=2, changes=2, deletes=1, objects=OBJECTS, seed=11
    )
    partial = smartsync(healthy, "--partial", "--inline")

    assert partial["kind"] == "partial"
    assert partial["state"] == "succeeded"
    for row in partial["objects"]:
        assert row["created"] == len(done[row["object"]].added)
        assert row["deleted"] == len(done[row["object"]].deleted)
    for name in OBJECTS:
        live = {line["record_no"] for line in listitems(healthy, "--object", name)}
        assert live == sandbox_keys(sandbox, name)


def test_inline_text_output_names_every_object(healthy, sandbox):
    out = io.StringIO()
    call_command("smartsync", str(healthy.public_id), "--full", "--inline", stdout=out)

    text = out.getvalue()
    assert "succeeded" in text
    for name in OBJECTS:
        assert name in text


def test_an_object_the_company_lacks_is_reported_skipped_and_the_run_succeeds(healthy, sandbox):
    ApiSyncProfile.objects.filter(legal_entity=healthy).update(object_names=["CLASS", "TAXDETAIL"])
    out = io.StringIO()

    call_command("smartsync", str(healthy.public_id), "--full", "--inline", stdout=out)

    lines = {line.split()[0]: line for line in out.getvalue().splitlines()[1:]}
    assert "SKIPPED" in lines["TAXDETAIL"]
    assert "ERROR" not in out.getvalue()
    assert out.getvalue().splitlines()[0].endswith("succeeded")


def test_a_partly_failed_run_exits_non_zero_and_names_the_error(
    make_attempt, legal_entity, sandbox
):
    make_attempt("missing-permissions")
    ApiSyncProfile.objects.create(legal_entity=legal_entity, object_names=OBJECTS)
    out = io.StringIO()

    with pytest.raises(CommandError):
        call_command(
            "smartsync", str(legal_entity.public_id), "--full", "--inline", "--json", stdout=out
        )

    report = json.loads(out.getvalue())
    assert report["state"] == "partial"
    errors = {o["object"]: o["error"] for o in report["objects"]}
    assert "Permission" in errors["VENDOR"]
    assert errors["CLASS"] == errors["DEPARTMENT"] == ""


def test_a_second_sync_is_told_one_is_already_running(healthy):
    active, _ = start_sync(
        healthy, kind=SyncRun.Kind.FULL, trigger=SyncRun.Trigger.MANUAL, enqueue=False
    )
    out = io.StringIO()

    with pytest.raises(CommandError, match="a sync is already running for"):
        call_command(
            "smartsync", str(healthy.public_id), "--partial", "--inline", "--json", stdout=out
        )

    assert json.loads(out.getvalue())["run"] == str(active.public_id)
    assert SyncRun.objects.count() == 1


def test_exit_status_is_one_when_the_run_fails(healthy, sandbox, capsys):
    ApiSyncProfile.objects.filter(legal_entity=healthy).update(enabled=False)

    with pytest.raises(SystemExit) as exc:
        call_command_from_shell("smartsync", str(healthy.public_id), "--full", "--inline")

    assert exc.value.code == 1
    # run_from_argv closes the database connection on its way out: read the message, not rows.
    assert "No enabled API Sync Profile." in capsys.readouterr().err


def call_command_from_shell(*argv: str) -> None:
    """Run a command as ``manage.py`` would (errors become an exit status)."""
    from django.core.management import ManagementUtility

    ManagementUtility(["manage.py", *argv]).execute()


def test_wait_without_a_worker_gives_up_with_a_clear_message(healthy):
    err = io.StringIO()

    with pytest.raises(CommandError, match="No worker took sync run"):
        call_command(
            "smartsync",
            str(healthy.public_id),
            "--full",
            "--wait",
            "--timeout",
            "0",
            stderr=err,
        )

    assert "0/3 objects" in err.getvalue()


def test_unknown_legal_entity_is_an_error(db):
    with pytest.raises(CommandError, match="No legal entity"):
        call_command("smartsync", "00000000-0000-0000-0000-000000000000", "--full", "--inline")
    with pytest.raises(CommandError, match="not a legal entity UUID"):
        call_command("listitems", "nope")


def test_listitems_prints_live_records_and_deleted_on_request(healthy, sandbox):
    smartsync(healthy, "--full", "--inline")
    done = sandbox.company("healthy-top").mutate(deletes=2, objects=["CLASS"], seed=3)
    smartsync(healthy, "--full", "--inline")
    gone = {str(n) for n in done["CLASS"].deleted}

    live = listitems(healthy, "--object", "class")
    everything = listitems(healthy, "--object", "CLASS", "--include-deleted")

    assert live
    assert all(set(line) == LINE_KEYS for line in live)
    assert {line["object"] for line in live} == {"CLASS"}
    assert {line["record_no"] for line in live} == sandbox_keys(sandbox, "CLASS")
    assert not any(line["deleted"] for line in live)
    deleted = {line["record_no"] for line in everything if line["deleted"]}
    assert deleted == gone
    assert len(everything) == len(live) + 2
    item = ListItem.objects.get(
        legal_entity=healthy, object_name="CLASS", record_no=live[0]["record_no"]
    )
    assert live[0]["id"] == item.item_id
    assert live[0]["name"] == item.name
    assert live[0]["when_modified"] == (
        item.when_modified.isoformat() if item.when_modified else None
    )
    assert {line["object"] for line in listitems(healthy)} == set(OBJECTS)
