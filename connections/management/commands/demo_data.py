"""Create the demo logins (and, later, demo organizations and legal entities). Safe to run twice."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.db import transaction

DEMO_USERS = [
    # username, password, staff and superuser, description
    ("admin", "demo-admin", True, "customer success staff (superuser, /admin/)"),
    ("customer", "demo-customer", False, "customer administrator"),
]


class Command(BaseCommand):
    help = "Create or reset the demo logins and print them."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--allow-production",
            action="store_true",
            help="Run even in production mode (for a local docker-compose stack only).",
        )

    def handle(self, *args: Any, allow_production: bool = False, **options: Any) -> None:
        if settings.PRODUCTION and not allow_production:
            raise CommandError(
                "Refusing to create demo logins with well-known passwords in production mode; "
                "pass --allow-production for a throwaway local stack."
            )
        with transaction.atomic():
            for username, password, is_staff, _ in DEMO_USERS:
                ensure_user(username, password, is_staff=is_staff)
        self.stdout.write("Demo logins:")
        for username, password, _, description in DEMO_USERS:
            self.stdout.write(f"  {username:<10} / {password:<15} {description}")


def ensure_user(username: str, password: str, *, is_staff: bool) -> None:
    """Create the user, or put an existing one back to its demo password and flags."""
    user_model = get_user_model()
    user, _ = user_model.objects.get_or_create(username=username)
    # Re-hashing an unchanged password would sign the user out of every session.
    if not user.check_password(password):
        user.set_password(password)
    user.is_active = True
    user.is_staff = is_staff
    user.is_superuser = is_staff
    user.email = user.email or f"{username}@example.com"
    user.save()
