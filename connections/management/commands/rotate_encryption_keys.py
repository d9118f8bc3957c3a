"""Re-encrypt every encrypted value with the first of FIELD_ENCRYPTION_KEYS.

Rotation: put a new key first in FIELD_ENCRYPTION_KEYS (keep the old ones after it), run this
command, then drop the old keys. Values already on the first key are left alone, so running it
twice is harmless. Prints counts, never values.
"""

from __future__ import annotations

from typing import Any

from django.apps import apps
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db.models import TextField, Value
from django.db.models.functions import Cast

from connections import crypto
from connections.fields import EncryptedTextField

STORED = "_stored_value"


class Command(BaseCommand):
    help = "Re-encrypt every encrypted field with the first key of FIELD_ENCRYPTION_KEYS."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--dry-run", action="store_true", help="Count what would change; write nothing."
        )

    def handle(self, *args: Any, dry_run: bool = False, **options: Any) -> None:
        unreadable_total = 0
        for model in apps.get_models():
            for field in model._meta.concrete_fields:
                if not isinstance(field, EncryptedTextField):
                    continue
                rotated, current, unreadable, raced = self.rotate_field(model, field, dry_run)
                unreadable_total += unreadable
                self.stdout.write(
                    f"{model._meta.label}.{field.name}: {rotated} re-encrypted"
                    f"{' (dry run)' if dry_run else ''}, {current} already on the first key, "
                    f"{unreadable} unreadable, {raced} changed meanwhile (left as saved)"
                )
        if unreadable_total:
            raise CommandError(
                f"{unreadable_total} value(s) could not be decrypted with any key of "
                "FIELD_ENCRYPTION_KEYS: put back the key they were made with and run again."
            )

    def rotate_field(self, model: Any, field: EncryptedTextField, dry_run: bool) -> tuple[int, ...]:
        rotated = current = unreadable = raced = 0
        # The column as stored: Cast skips the field's decryption.
        stored = Cast(field.attname, output_field=TextField())
        rows = (
            model._base_manager.annotate(**{STORED: stored})
            .exclude(**{field.attname: ""})
            .filter(**{f"{field.attname}__isnull": False})
            .values_list("pk", STORED)
        )
        for pk, token in rows.iterator(chunk_size=500):
            if crypto.is_current(token):
                current += 1
                continue
            try:
                new_token = crypto.rotate(token)
            except crypto.InvalidToken:
                unreadable += 1
                continue
            if dry_run:
                rotated += 1
                continue
            # Only if nobody saved a new value since we read it.
            updated = (
                model._base_manager.alias(**{STORED: stored})
                .filter(pk=pk, **{STORED: token})
                .update(**{field.attname: Value(new_token, output_field=TextField())})
            )
            if updated:
                rotated += 1
            else:
                raced += 1
        return rotated, current, unreadable, raced
