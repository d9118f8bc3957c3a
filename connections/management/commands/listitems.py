"""What SmartSync holds for a legal entity, one JSON object a line.

    manage.py listitems LEGAL_ENTITY_UUID [--object NAME] [--include-deleted]

Each line: ``object``, ``record_no``, ``id``, ``name``, ``status``, ``when_modified`` (ISO 8601 or
null) and ``deleted`` (whether Intacct no longer lists the record).
"""

from __future__ import annotations

import json
import os
import sys
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from connections.management.arguments import legal_entity_argument, text_argument
from connections.models import ListItem


class Command(BaseCommand):
    help = "Print a legal entity's synced Intacct list records as JSON lines."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("legal_entity", metavar="LEGAL_ENTITY_UUID")
        parser.add_argument(
            "--object",
            dest="object_name",
            default=None,
            type=text_argument,
            metavar="NAME",
            help="only this object",
        )
        parser.add_argument(
            "--include-deleted",
            action="store_true",
            help="also records Intacct no longer lists",
        )

    def handle(
        self,
        *args: Any,
        legal_entity: str,
        object_name: str | None,
        include_deleted: bool,
        **options: Any,
    ) -> None:
        entity = legal_entity_argument(legal_entity)
        items = ListItem.objects.filter(legal_entity=entity)
        if object_name:
            items = items.filter(object_name__iexact=object_name.strip())
        if not include_deleted:
            items = items.filter(deleted_at__isnull=True)
        rows = items.order_by("object_name", "record_no").values_list(
            "object_name", "record_no", "item_id", "name", "status", "when_modified", "deleted_at"
        )
        for name, record_no, item_id, title, status, when_modified, deleted_at in rows.iterator(
            chunk_size=2000
        ):
            line = {
                "object": name,
                "record_no": record_no,
                "id": item_id,
                "name": title,
                "status": status,
                "when_modified": when_modified.isoformat() if when_modified else None,
                "deleted": deleted_at is not None,
            }
            try:
                self.stdout.write(json.dumps(line))
            except BrokenPipeError:
                # The reader stopped (``| head``): that is not an error.
                # Point stdout at /dev/null so flushing it at exit does not fail again.
                os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
                return
