"""Sync a legal entity's Intacct list records now.

    manage.py smartsync LEGAL_ENTITY_UUID --full|--partial [--wait | --inline] [--json]
        [--timeout SECONDS]

Without ``--wait`` or ``--inline`` the run is queued for the workers and the command returns at
once. ``--wait`` queues it and follows it with a progress bar on stderr; ``--inline`` runs it in
this process (support, scripts). The exit status is 0 only when the run succeeded (or, without
either flag, was queued).
"""

from __future__ import annotations

import json
import time
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from connections.management.arguments import legal_entity_argument, seconds_argument
from connections.models import LegalEntity, SyncRun, SyncRunObject
from connections.selectors.profiles import profile_of
from connections.selectors.smartsync import sync_report
from connections.services.smartsync import perform_sync, start_sync

#: Seconds between two reads of the run while ``--wait`` follows it.
POLL_SECONDS = 0.5
DEFAULT_TIMEOUT = 600.0
BAR_WIDTH = 30


class Command(BaseCommand):
    help = "Sync a legal entity's Intacct list records (full or partial)."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("legal_entity", metavar="LEGAL_ENTITY_UUID")
        kind = parser.add_mutually_exclusive_group(required=True)
        kind.add_argument(
            "--full",
            dest="kind",
            action="store_const",
            const=SyncRun.Kind.FULL,
            help="read every record; records Intacct no longer lists are marked deleted",
        )
        kind.add_argument(
            "--partial",
            dest="kind",
            action="store_const",
            const=SyncRun.Kind.PARTIAL,
            help="read what changed since the last sync (full if none has finished yet)",
        )
        mode = parser.add_mutually_exclusive_group()
        mode.add_argument(
            "--wait",
            action="store_true",
            help="queue the run for the workers and follow it with a progress bar on stderr",
        )
        mode.add_argument("--inline", action="store_true", help="run it in this process")
        parser.add_argument(
            "--json", dest="as_json", action="store_true", help="print one JSON object"
        )
        parser.add_argument(
            "--timeout",
            type=seconds_argument,
            default=DEFAULT_TIMEOUT,
            metavar="SECONDS",
            help=f"how long --wait follows the run (default {DEFAULT_TIMEOUT:.0f})",
        )

    def handle(
        self,
        *args: Any,
        legal_entity: str,
        kind: str,
        wait: bool,
        inline: bool,
        as_json: bool,
        timeout: float,
        **options: Any,
    ) -> None:
        entity = legal_entity_argument(legal_entity)
        run, created = start_sync(
            entity, kind=kind, trigger=SyncRun.Trigger.COMMAND, enqueue=not inline
        )
        if not created:
            if as_json:
                self._json(sync_report(run))
            raise CommandError(
                f"a sync is already running for {entity.name} ({entity.public_id}): run "
                f"{run.public_id} is {run.state}."
            )
        if inline:
            finished = perform_sync(run.pk)
            if finished is None:
                raise CommandError(f"Sync run {run.public_id} was taken by another worker.")
            run = finished
        elif wait:
            run = self._follow(entity, run, timeout)
        else:
            run.refresh_from_db()
            if not as_json and run.state == SyncRun.State.QUEUED:
                self.stdout.write(f"Queued {run.get_kind_display().lower()} sync {run.public_id}.")
        self._report(run, as_json)
        if run.state == SyncRun.State.QUEUED:
            return
        if run.state != SyncRun.State.SUCCEEDED:
            raise CommandError(run.error or f"The sync ended {run.state}.")

    def _follow(self, entity: LegalEntity, run: SyncRun, timeout: float) -> SyncRun:
        """Poll the run until it finishes or ``timeout`` passes, drawing progress on stderr."""
        profile = profile_of(entity)
        total = len(set(profile.object_names)) if profile is not None else 0
        deadline = time.monotonic() + timeout
        while True:
            run.refresh_from_db()
            self._draw(run, total)
            if run.is_finished:
                self.stderr.write("")
                return run
            if time.monotonic() >= deadline:
                self.stderr.write("")
                if run.state == SyncRun.State.QUEUED:
                    raise CommandError(
                        f"No worker took sync run {run.public_id} within {timeout:.0f} s: is a "
                        "worker running? The run stays queued until a worker takes it or it "
                        "expires."
                    )
                raise CommandError(
                    f"Sync run {run.public_id} is still running after {timeout:.0f} s; it goes "
                    "on in the worker."
                )
            time.sleep(POLL_SECONDS)

    def _draw(self, run: SyncRun, total: int) -> None:
        rows = list(SyncRunObject.objects.filter(run=run).values_list("state", "fetched"))
        done = sum(
            1
            for state, _ in rows
            if state not in (SyncRunObject.State.PENDING, SyncRunObject.State.RUNNING)
        )
        fetched = sum(fetched for _, fetched in rows)
        total = max(total, len(rows))
        filled = BAR_WIDTH * done // total if total else 0
        bar = "#" * filled + "." * (BAR_WIDTH - filled)
        self.stderr.write(
            f"\r[{bar}] {done}/{total} objects, {fetched} records, {run.state}", ending=""
        )
        self.stderr.flush()

    def _report(self, run: SyncRun, as_json: bool) -> None:
        report = sync_report(run)
        if as_json:
            self._json(report)
            return
        if run.state == SyncRun.State.QUEUED:
            return
        self.stdout.write(f"{run.get_kind_display()} sync {run.public_id}: {run.state}")
        for row in report["objects"]:
            line = (
                f"  {row['object']:24} fetched {row['fetched']:>7}  created {row['created']:>6}  "
                f"updated {row['updated']:>6}  unchanged {row['unchanged']:>7}  "
                f"deleted {row['deleted']:>6}  requests {row['requests']:>5}"
            )
            if row["state"] == SyncRunObject.State.SKIPPED:
                line += f"  SKIPPED {row['error']}"
            elif row["error"]:
                line += f"  ERROR {row['error']}"
            self.stdout.write(line)

    def _json(self, value: Any) -> None:
        self.stdout.write(json.dumps(value, indent=2, default=str))
