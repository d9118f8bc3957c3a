"""Template helpers for the wizard: form fields with their help, errors and warnings tied to the
input, and values shown exactly with a copy button."""

from __future__ import annotations

from typing import Any

from django import template
from django.forms import BoundField
from django.utils import timezone
from django.utils.text import slugify

register = template.Library()


@register.inclusion_tag("connections/_field.html")
def form_field(field: BoundField, warnings: dict[str, list[str]] | None = None) -> dict[str, Any]:
    """A labelled input whose help, errors and warnings are read out with it
    (``aria-describedby``); Django marks an input with errors ``aria-invalid``."""
    field_warnings = (warnings or {}).get(field.name, [])
    described_by = []
    if field.help_text:
        described_by.append(f"{field.auto_id}_helptext")
    if field.errors:
        described_by.append(f"{field.auto_id}_error")
    if field_warnings:
        described_by.append(f"{field.auto_id}_warning")
    attrs: dict[str, str | bool] = (
        {"aria-describedby": " ".join(described_by)} if described_by else {}
    )
    return {
        "field": field,
        "widget": field.as_widget(attrs=attrs),
        "warnings": field_warnings,
    }


@register.inclusion_tag("connections/_copy.html")
def copy_value(value: Any, label: str = "", block: bool = False) -> dict[str, Any]:
    """``value`` exactly as it must be typed (selectable without JavaScript), and a copy
    button."""
    text = "" if value is None else str(value)
    return {
        "value": text,
        "label": label or text,
        "id": f"copy-{slugify(label or text) or 'value'}",
        "block": block,
    }


#: The icon beside a status or an outcome word; decoration only (the word is what is read).
STATUS_ICONS = {
    "pending": "○",
    "acknowledged": "✓",
    "verified": "✔",
    "failed": "✕",
    "waiting": "…",
    "later": "…",
    "after_verified": "…",
    "passed": "✔",
    "skipped": "–",
    "granted": "✔",
    "missing": "✕",
    "not_applicable": "–",
    "not_checked": "?",
}


@register.filter
def status_icon(status: Any) -> str:
    return STATUS_ICONS.get(str(status), "•")


@register.filter
def lookup(mapping: Any, key: Any) -> Any:
    """``mapping[key]`` in a template, ``""`` when missing."""
    try:
        return mapping[str(key)]
    except (KeyError, TypeError, IndexError):
        return ""


@register.filter
def duration_text(value: Any) -> str:
    """A ``timedelta`` as "2 d 3 h", "3 h 20 min", "4 min 5 s" or "12 s"."""
    try:
        seconds = int(value.total_seconds())
    except AttributeError:
        return ""
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days} d {hours} h"
    if hours:
        return f"{hours} h {minutes} min"
    if minutes:
        return f"{minutes} min {secs} s"
    return f"{secs} s"


@register.filter
def age(value: Any) -> str:
    """How long ago an aware ``datetime`` was, in its largest unit: "3 days", "5 h", "12 min",
    "just now" (the console's tables: cheaper than ``timesince``, which renders every unit)."""
    try:
        seconds = int((timezone.now() - value).total_seconds())
    except TypeError:
        return ""
    if seconds < 60:
        return "just now"
    for size, unit in ((86400, "day"), (3600, "h"), (60, "min")):
        if seconds >= size:
            count = seconds // size
            return f"{count} {unit}{'s' if unit == 'day' and count != 1 else ''}"
    return "just now"


@register.filter
def ago(value: Any) -> str:
    """:func:`age` followed by "ago" ("just now" stays as it is)."""
    text = age(value)
    return text if text in ("", "just now") else f"{text} ago"
