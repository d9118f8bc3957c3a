from __future__ import annotations

import copy
import logging
import pickle
from io import StringIO

import pytest
from cryptography.fernet import Fernet
from django.core import serializers
from django.core.exceptions import FieldError
from django.core.management import CommandError, call_command
from django.db import connection

from connections import crypto
from connections.audit import SecretInAuditDetail, record
from connections.crypto import Secret
from connections.fields import SecretFormField
from connections.models import AuditEvent, ConnectionAttempt
from tests.factories import INTACCT_PASSWORD, ConnectionAttemptFactory, LegalEntityFactory

pytestmark = pytest.mark.django_db

OLD_KEY = Fernet.generate_key().decode()
NEW_KEY = Fernet.generate_key().decode()


def stored_password(attempt: ConnectionAttempt) -> str:
    """The column exactly as the database holds it."""
    table = ConnectionAttempt._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT password FROM {table} WHERE id = %s", [attempt.pk])  # noqa: S608
        return cursor.fetchone()[0]


# --- Round trip -------------------------------------------------------------------------------------


def test_password_round_trips_and_is_stored_encrypted():
    attempt = ConnectionAttemptFactory(password="Correct-Horse-9")

    loaded = ConnectionAttempt.objects.get(pk=attempt.pk)

    assert loaded.password.reveal() == "Correct-Horse-9"
    raw = stored_password(attempt)
    assert "Correct-Horse-9" not in raw
    assert crypto.decrypt(raw) == "Correct-Horse-9"


def test_every_save_makes_a_fresh_token():
    attempt = ConnectionAttemptFactory()
    first = stored_password(attempt)

    attempt.save()

    assert stored_password(attempt) != first
    assert crypto.decrypt(stored_password(attempt)) == INTACCT_PASSWORD


def test_empty_password_is_stored_empty_and_means_not_set():
    attempt = ConnectionAttemptFactory(password="")

    assert stored_password(attempt) == ""
    assert not ConnectionAttempt.objects.get(pk=attempt.pk).password
    assert list(ConnectionAttempt.objects.exclude(password="")) == []


def test_password_attribute_is_always_a_secret():
    attempt = ConnectionAttempt(password="typed-in")

    assert isinstance(attempt.password, Secret)
    assert attempt.password.reveal() == "typed-in"
    values = ConnectionAttempt.objects.filter(pk=ConnectionAttemptFactory().pk).values_list(
        "password", flat=True
    )
    assert isinstance(values.get(), Secret)


def test_secret_never_shows_itself():
    secret = Secret("Correct-Horse-9")
    attempt = ConnectionAttempt(password="Correct-Horse-9")

    for text in (repr(secret), str(secret), f"{secret}", f"{secret!r}", repr(vars(attempt))):
        assert "Correct-Horse-9" not in text
    assert str(secret) == "•••• (set)"
    assert copy.deepcopy(secret) == secret
    with pytest.raises(TypeError, match="never pickled"):
        pickle.dumps(secret)


def test_logging_a_secret_logs_the_mask(caplog):
    with caplog.at_level(logging.INFO):
        logging.getLogger("connections").info("signing in with %s", Secret("Correct-Horse-9"))

    assert "Correct-Horse-9" not in caplog.text
    assert "••••" in caplog.text


def test_encrypted_field_cannot_be_searched():
    with pytest.raises(FieldError):
        list(ConnectionAttempt.objects.filter(password=INTACCT_PASSWORD))
    with pytest.raises(FieldError):
        list(ConnectionAttempt.objects.filter(password__icontains="Pa55"))


def test_serialized_rows_carry_the_token_and_load_back():
    attempt = ConnectionAttemptFactory(password="Correct-Horse-9")

    dumped = serializers.serialize("json", [attempt])
    assert "Correct-Horse-9" not in dumped

    attempt.delete()
    for obj in serializers.deserialize("json", dumped):
        obj.save()
    assert ConnectionAttempt.objects.get().password.reveal() == "Correct-Horse-9"


def test_form_field_is_write_only():
    field = ConnectionAttempt._meta.get_field("password").formfield()

    assert isinstance(field, SecretFormField)
    html = field.widget.render("password", field.prepare_value(Secret("Correct-Horse-9")))
    assert "Correct-Horse-9" not in html
    assert "•••• (set)" in html
    assert not field.has_changed(Secret("Correct-Horse-9"), "")


# --- Keys and rotation ------------------------------------------------------------------------------


def test_first_key_encrypts_and_any_key_decrypts(settings):
    settings.FIELD_ENCRYPTION_KEYS = [OLD_KEY]
    attempt = ConnectionAttemptFactory(password="Correct-Horse-9")

    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]

    assert ConnectionAttempt.objects.get(pk=attempt.pk).password.reveal() == "Correct-Horse-9"
    assert not crypto.is_current(stored_password(attempt))
    attempt.save()
    assert crypto.is_current(stored_password(attempt))


def test_rotation_re_encrypts_with_the_first_key(settings):
    settings.FIELD_ENCRYPTION_KEYS = [OLD_KEY]
    rotated = ConnectionAttemptFactory(password="Correct-Horse-9")
    empty = ConnectionAttemptFactory(password="")
    before = stored_password(rotated)

    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]
    out = StringIO()
    call_command("rotate_encryption_keys", stdout=out)

    assert "connections.ConnectionAttempt.password: 1 re-encrypted" in out.getvalue()
    assert "Correct-Horse-9" not in out.getvalue()
    after = stored_password(rotated)
    assert after != before
    assert "Correct-Horse-9" not in after
    assert stored_password(empty) == ""
    # Only the new key is needed from now on.
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY]
    assert ConnectionAttempt.objects.get(pk=rotated.pk).password.reveal() == "Correct-Horse-9"
    assert Fernet(NEW_KEY).decrypt(after.encode()) == b"Correct-Horse-9"


def test_rotation_twice_changes_nothing_the_second_time(settings):
    settings.FIELD_ENCRYPTION_KEYS = [OLD_KEY]
    attempt = ConnectionAttemptFactory()
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]
    call_command("rotate_encryption_keys", stdout=StringIO())
    token = stored_password(attempt)

    out = StringIO()
    call_command("rotate_encryption_keys", stdout=out)

    assert "0 re-encrypted, 1 already on the first key" in out.getvalue()
    assert stored_password(attempt) == token


def test_rotation_dry_run_writes_nothing(settings):
    settings.FIELD_ENCRYPTION_KEYS = [OLD_KEY]
    attempt = ConnectionAttemptFactory()
    token = stored_password(attempt)
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY, OLD_KEY]

    out = StringIO()
    call_command("rotate_encryption_keys", "--dry-run", stdout=out)

    assert "1 re-encrypted (dry run)" in out.getvalue()
    assert stored_password(attempt) == token


def test_rotation_reports_values_no_key_can_read(settings):
    settings.FIELD_ENCRYPTION_KEYS = [OLD_KEY]
    lost = ConnectionAttemptFactory(password="Correct-Horse-9")
    settings.FIELD_ENCRYPTION_KEYS = [NEW_KEY]
    kept = ConnectionAttemptFactory()

    out = StringIO()
    with pytest.raises(CommandError, match="1 value"):
        call_command("rotate_encryption_keys", stdout=out)

    assert "1 unreadable" in out.getvalue()
    assert "Correct-Horse-9" not in out.getvalue()
    assert crypto.is_current(stored_password(kept))
    settings.FIELD_ENCRYPTION_KEYS = [OLD_KEY]
    assert crypto.decrypt(stored_password(lost)) == "Correct-Horse-9"


# --- Audit ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "detail",
    [
        {"password": "x"},
        {"new_password": "x"},
        {"api_token": "x"},
        {"client_secret": "x"},
        {"changes": {"sender_password": "x"}},
        {"items": [{"token": "x"}]},
        {"value": Secret("x")},
    ],
)
def test_audit_refuses_anything_that_looks_secret(detail):
    legal_entity = LegalEntityFactory()

    with pytest.raises(SecretInAuditDetail):
        record(
            None,
            "attempt.changed",
            organization=legal_entity.organization,
            legal_entity=legal_entity,
            **detail,
        )

    assert not AuditEvent.objects.exists()


def test_audit_records_who_did_what(system_admin, legal_entity):
    event = record(
        system_admin,
        "attempt.changed",
        organization=legal_entity.organization,
        legal_entity=legal_entity,
        fields=["password", "company_id"],
        attempt=legal_entity.public_id,
    )

    event.refresh_from_db()
    assert event.actor == system_admin
    assert event.detail == {
        "fields": ["password", "company_id"],
        "attempt": str(legal_entity.public_id),
    }
