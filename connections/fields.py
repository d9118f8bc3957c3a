"""Model and form fields for secrets: stored encrypted, shown never."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from django import forms
from django.core.exceptions import FieldError
from django.db import models
from django.db.models.lookups import Exact, IsNull
from django.db.models.query_utils import DeferredAttribute
from django.utils.html import format_html
from django.utils.safestring import SafeString

from connections import crypto
from connections.crypto import Secret

__all__ = ["EncryptedTextField", "SecretFormField", "SecretInput"]

if TYPE_CHECKING:
    _TextField = models.TextField[Any, Any]
else:
    _TextField = models.TextField


class SecretInput(forms.PasswordInput):
    """A password input that never renders the stored value, only whether there is one."""

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(
            attrs={"autocomplete": "new-password", **(attrs or {})}, render_value=False
        )

    def render(
        self,
        name: str,
        value: Any,
        attrs: dict[str, Any] | None = None,
        renderer: Any = None,
    ) -> SafeString:
        html = super().render(name, value, attrs, renderer)
        status = f"{crypto.MASK} (set) — leave blank to keep it" if value else "(not set)"
        return format_html('{} <span class="secret-status">{}</span>', html, status)


class SecretFormField(forms.CharField):
    """Write-only: blank means "keep what is stored"."""

    widget = SecretInput

    def __init__(self, **kwargs: Any) -> None:
        kwargs.setdefault("required", False)
        kwargs.setdefault("strip", False)
        kwargs.pop("max_length", None)
        super().__init__(**kwargs)

    def prepare_value(self, value: Any) -> Any:
        # The widget only learns whether a value is set, never the value.
        return bool(value)

    def has_changed(self, initial: Any, data: Any) -> bool:
        return bool(data)


class _SecretAttribute(DeferredAttribute):
    """Whatever is assigned (a str from code, a Secret from the database) is held as a Secret."""

    def __set__(self, instance: models.Model, value: Any) -> None:
        if isinstance(value, str):
            value = Secret(value)
        instance.__dict__[self.field.attname] = value


class _EmptyExact(Exact):
    """Tokens differ on every encryption, so only emptiness can be compared in SQL."""

    def get_prep_lookup(self) -> Any:
        value = self.rhs.reveal() if isinstance(self.rhs, Secret) else self.rhs
        if value != "":
            raise FieldError(
                f"{self.lhs.output_field.name} is encrypted: it can only be compared with ''."
            )
        return ""


class EncryptedTextField(_TextField):
    """Stores a Fernet token (see :mod:`connections.crypto`); loads a :class:`Secret`.

    The empty string is stored as is and means "not set", so ``.exclude(password="")`` works;
    no other lookup does. The model attribute is always a ``Secret`` (assigning a ``str`` wraps
    it); ``attempt.password.reveal()`` gives the plaintext.
    """

    descriptor_class = _SecretAttribute

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("blank", True)
        kwargs.setdefault("default", "")
        super().__init__(*args, **kwargs)

    def deconstruct(self) -> Any:
        name, path, args, kwargs = super().deconstruct()
        if kwargs.get("blank") is True:
            del kwargs["blank"]
        if kwargs.get("default") == "":
            del kwargs["default"]
        return name, path, args, kwargs

    def get_lookup(self, lookup_name: str) -> Any:
        if lookup_name == "exact":
            return _EmptyExact
        if lookup_name == "isnull":
            return IsNull
        return None

    def get_transform(self, lookup_name: str) -> Any:
        return None

    def from_db_value(self, value: str | None, expression: Any, connection: Any) -> Secret | None:
        if value is None:
            return None
        if value == "":
            return Secret("")
        return Secret(crypto.decrypt(value))

    def to_python(self, value: Any) -> Secret | None:
        if value is None or isinstance(value, Secret):
            return value
        value = str(value)
        # A string our keys decrypt is a token (loaddata of a dumpdata); anything else is
        # a plaintext to encrypt on save.
        plaintext = crypto.try_decrypt(value) if value else None
        return Secret(value if plaintext is None else plaintext)

    def get_prep_value(self, value: Any) -> str | None:
        if value is None:
            return None
        plaintext = value.reveal() if isinstance(value, Secret) else str(value)
        if plaintext == "":
            return ""
        return crypto.encrypt(plaintext)

    def value_to_string(self, obj: models.Model) -> str:
        # Serializers (dumpdata) get the token, never the plaintext.
        return self.get_prep_value(self.value_from_object(obj)) or ""

    def save_form_data(self, instance: models.Model, data: Any) -> None:
        # A blank secret input means "keep the stored value".
        if data:
            super().save_form_data(instance, data)

    def formfield(self, **kwargs: Any) -> forms.Field | None:
        # Forced: the admin's default TextField widget would render the value back.
        kwargs["widget"] = SecretInput
        kwargs["form_class"] = SecretFormField
        return super().formfield(**kwargs)
