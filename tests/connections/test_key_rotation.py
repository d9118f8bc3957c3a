"""Rotating FIELD_ENCRYPTION_KEYS end to end: real rows holding secrets, a new key put in front,
``manage.py rotate_encryption_keys``, the old key dropped; every secret still reads back, every
token changed, and the connection still signs in to the sandbox with what was rotated. Then the
same as an operator does it: the command in its own process, in production mode, the keys in the
environment."""

from __future__ import annotations

import os
import subprocess
import sys
from io import StringIO
from pathlib import Path
from urllib.parse import quote, urlsplit, urlunsplit

import pytest
from cryptography.fernet import Fernet, InvalidToken
from django.apps import apps
from django.core.management import call_command
from django.db import connection

from connections.fields import EncryptedTextField
from connections.models import ApiSyncProfile, LegalEntity, SyncRun, VerificationRun
from connections.services.attempts import start_attempt
from connections.services.smartsync import perform_sync, start_sync
from connections.services.verification import create_run, run_verification
from intacct.sandbox import SANDBOX_USER_PASSWORD
from tests.factories import LegalEntityFactory
from tests.test_project import production_env

ROOT = Path(__file__).resolve().parents[2]
OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()


def stored_secrets() -> dict[tuple[str, str, int], str]:
    """Every non-empty encrypted value of every model, as the database holds it:
    ``(model, field, pk) → token``."""
    found = {}
    for model in apps.get_models():
        for field in model._meta.concrete_fields:
            if not isinstance(field, EncryptedTextField):
                continue
            table = connection.ops.quote_name(model._meta.db_table)
            column = connection.ops.quote_name(field.column)
            pk = connection.ops.quote_name(model._meta.pk.column)
            with connection.cursor() as cursor:
                cursor.execute(f"SELECT {pk}, {column} FROM {table} WHERE {column} <> ''")  # noqa: S608
                for key, token in cursor.fetchall():
                    found[(model._meta.label, field.name, key)] = token
    return found


@pytest.mark.django_db
def test_rotated_secrets_read_back_and_still_sign_in(
    settings, make_attempt, legal_entity: LegalEntity, organization
):
    settings.FIELD_ENCRYPTION_KEYS = [OLD_KEY]
    make_attempt("healthy-top", password="Superseded-Pa55word")
    current = make_attempt("healthy-top")  # the sandbox's password: it signs in
    other = LegalEntityFactory(organization=organization)
    make_attempt("healthy-multi", password="Other-Pa55word", legal_entity=other)
    start_attempt(LegalEntityFactory(organization=organization))  # no password yet
    ApiSyncProfile.objects.create(legal_entity=legal_entity, object_names=["VENDOR", "CLASS"])
    before = stored_secrets()
    plaintexts = {
        key: Fernet(OLD_KEY).decrypt(token.encode()).decode() for key, token in before.items()
    }
    assert sorted(plaintexts.values()) == sorted(
        ["Superseded-Pa55word", SANDBOX_USER_PASSWORD, "Other-Pa55word"]
    )

    # A new key in front, the command, the old key dropped.
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]
    out = StringIO()
    call_command("rotate_encryption_keys", stdout=out)
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY]

    assert (
        "ConnectionAttempt.password: 3 re-encrypted, 0 already on the first key" in out.getvalue()
    )
    after = stored_secrets()
    assert after.keys() == before.keys()
    for key, token in after.items():
        assert token != before[key], key
        assert Fernet(NEW_KEY).decrypt(token.encode()).decode() == plaintexts[key], key
        with pytest.raises(InvalidToken):
            Fernet(OLD_KEY).decrypt(token.encode())
    for plaintext in plaintexts.values():
        assert plaintext not in out.getvalue()

    # Verification and SmartSync read the password with the new key only, and Intacct takes it.
    run, _ = create_run(current)
    assert run_verification(run.pk).state == VerificationRun.State.PASSED
    sync, _ = start_sync(
        legal_entity, kind=SyncRun.Kind.FULL, trigger=SyncRun.Trigger.COMMAND, enqueue=False
    )
    finished = perform_sync(sync.pk)
    assert finished.state == SyncRun.State.SUCCEEDED, finished.error


@pytest.mark.skipif(
    not os.environ.get("DATABASE_URL", "").startswith("postgres"),
    reason="the command runs in its own process on the test database: set DATABASE_URL=postgres://…",
)
@pytest.mark.django_db(transaction=True)
def test_an_operator_rotates_the_keys_from_the_environment(settings, legal_entity, tmp_path):
    settings.FIELD_ENCRYPTION_KEYS = [OLD_KEY]
    attempt = start_attempt(legal_entity, company_id="acme", password="Operator-Pa55word")
    (token,) = stored_secrets().values()
    database = urlsplit(os.environ["DATABASE_URL"])
    env = production_env(tmp_path)
    env["DATABASE_URL"] = urlunsplit(
        database._replace(path="/" + quote(connection.settings_dict["NAME"]))
    )

    def rotate(*keys: str, dry_run: bool = False) -> str:
        """``FIELD_ENCRYPTION_KEYS=… python manage.py rotate_encryption_keys``; its output."""
        command = [sys.executable, "manage.py", "rotate_encryption_keys"]
        result = subprocess.run(
            command + (["--dry-run"] if dry_run else []),
            cwd=ROOT,
            env={**env, "FIELD_ENCRYPTION_KEYS": ",".join(keys)},
            capture_output=True,
            text=True,
            timeout=120,
        )
        assert result.returncode == 0, result.stderr
        assert "Operator-Pa55word" not in result.stdout + result.stderr
        return result.stdout

    assert "1 re-encrypted (dry run)" in rotate(NEW_KEY, OLD_KEY, dry_run=True)
    assert list(stored_secrets().values()) == [token]
    assert "1 re-encrypted, 0 already on the first key" in rotate(NEW_KEY, OLD_KEY)
    # With the old key gone, nothing is left that needs it.
    assert "0 re-encrypted, 1 already on the first key, 0 unreadable" in rotate(NEW_KEY)

    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY]
    attempt.refresh_from_db()
    assert attempt.password.reveal() == "Operator-Pa55word"
    assert next(iter(stored_secrets().values())) != token
