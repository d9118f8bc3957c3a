"""Login throttling with django-axes: who is counted, what a successful login forgives, and the
login page a locked-out visitor gets.

Failures are counted per username and per client address (``AXES_LOCKOUT_PARAMETERS``). A
username with ``LOGIN_FAILURE_LIMIT`` failures, or an address with
``LOGIN_FAILURE_LIMIT_PER_ADDRESS`` (at any usernames), within ``LOGIN_LOCKOUT_MINUTES`` of the
last one, is refused every login, the right password included, until the lock expires or an
administrator removes the access attempts (the admin's Axes pages, or ``manage.py axes_reset``).
"""

from __future__ import annotations

import ipaddress
import math
from datetime import datetime, timedelta
from typing import Any

from axes.handlers.database import AxesDatabaseHandler
from axes.helpers import get_client_username
from axes.models import AccessAttempt
from django.conf import settings
from django.contrib.auth.forms import AuthenticationForm
from django.db.models import Sum
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme

#: The length of axes' username column: no account's username is longer (ours hold 150).
USERNAME_COLUMN = 255


def client_username(request: HttpRequest, credentials: dict[str, Any] | None = None) -> str | None:
    """The username failures are counted under: as typed, but cut to what axes' table holds
    and without NUL characters, which PostgreSQL cannot store (Django's login forms do not
    enforce the username's maximum length before authenticating, so a 256-character username
    answered a server error)."""
    field = getattr(settings, "AXES_USERNAME_FORM_FIELD", "username")
    username = credentials.get(field) if credentials else request.POST.get(field)
    if username is None:
        return None
    return str(username).replace("\x00", "")[:USERNAME_COLUMN]


def client_ip(request: HttpRequest) -> str | None:
    """The address failures are counted by.

    Directly served, the peer's. Behind ``TRUSTED_PROXY_COUNT`` proxies, each of which appends the
    address it was connected from to X-Forwarded-For, the entry the outermost one appended: entries
    left of it come from the client and could be anything. Without this every visitor would share
    the proxy's address, and a few failures would lock everyone out.
    """
    remote = request.META.get("REMOTE_ADDR")
    proxies = settings.TRUSTED_PROXY_COUNT
    if proxies <= 0:
        return remote
    header = request.META.get("HTTP_X_FORWARDED_FOR", "")
    forwarded = [part.strip() for part in header.split(",") if part.strip()]
    if len(forwarded) < proxies:
        return remote  # not through every proxy: the peer is the best we know
    candidate = forwarded[-proxies]
    try:
        return str(ipaddress.ip_address(candidate))
    except ValueError:
        return remote


def failure_limits() -> dict[str, int]:
    """Failures that lock, per lockout parameter."""
    return {
        "username": settings.AXES_FAILURE_LIMIT,
        "ip_address": settings.LOGIN_FAILURE_LIMIT_PER_ADDRESS,
    }


class LoginThrottleHandler(AxesDatabaseHandler):  # type: ignore[misc]  # axes is untyped
    """Axes' database handler, with a limit of its own for the address, and a successful login
    forgiving that user's failures from that address."""

    def attempts_by_parameter(
        self, request: HttpRequest, credentials: dict[str, Any] | None
    ) -> dict[str, Any]:
        """The unexpired attempts that count against the username and against the address."""
        # get_user_attempts gives one queryset per lockout parameter, in the settings' order.
        return dict(
            zip(
                settings.AXES_LOCKOUT_PARAMETERS,
                self.get_user_attempts(request, credentials),
                strict=True,
            )
        )

    def get_failures(self, request: HttpRequest, credentials: dict[str, Any] | None = None) -> int:
        # Axes compares this one number with AXES_FAILURE_LIMIT, the username's limit. The
        # address's count is shifted by the difference of the limits, so that it gets there
        # exactly when it reaches the address's own.
        counts = {
            parameter: attempts.aggregate(total=Sum("failures_since_start"))["total"] or 0
            for parameter, attempts in self.attempts_by_parameter(request, credentials).items()
        }
        limits = failure_limits()
        return max(
            counts[parameter] - (limits[parameter] - settings.AXES_FAILURE_LIMIT)
            for parameter in counts
        )

    # Only those failures: axes' own AXES_RESET_ON_SUCCESS would also clear the address's
    # failures at other usernames, so anyone could guess on after logging in to an account of
    # their own.
    def user_logged_in(self, sender: Any, request: Any, user: Any, **kwargs: Any) -> None:
        super().user_logged_in(sender, request, user, **kwargs)
        AccessAttempt.objects.filter(
            username=user.get_username(), ip_address=request.axes_ip_address
        ).delete()


def _unlocks_at(attempts: Any, limit: int, cool_off: timedelta) -> datetime | None:
    """When ``attempts`` (unexpired, one parameter's) fall below ``limit``, if they are at it.

    Each row holds a count and the time of its latest failure, and expires whole ``cool_off``
    after that: newest first, the row that brings the count to the limit is the last to matter.
    """
    total = 0
    for attempt_time, failures in attempts.order_by("-attempt_time").values_list(
        "attempt_time", "failures_since_start"
    ):
        total += failures
        if total >= limit:
            unlocks_at: datetime = attempt_time + cool_off
            return unlocks_at
    return None


def lockout_message(request: HttpRequest, credentials: dict[str, Any] | None) -> tuple[str, int]:
    """What the locked-out visitor is told, and the seconds until they may try again."""
    cool_off = settings.AXES_COOLOFF_TIME
    limits = failure_limits()
    locked: dict[str, datetime] = {}
    attempts = LoginThrottleHandler().attempts_by_parameter(request, credentials)
    for parameter, rows in attempts.items():
        unlocks_at = _unlocks_at(rows, limits[parameter], cool_off)
        if unlocks_at is not None:
            locked[parameter] = unlocks_at
    now = timezone.now()
    seconds = max(
        [(when - now).total_seconds() for when in locked.values()] or [cool_off.total_seconds()]
    )
    minutes = max(1, math.ceil(seconds / 60))
    duration = f"{minutes} minute{'s' if minutes != 1 else ''}"
    if "username" in locked and "ip_address" in locked:
        what = "This account, and logins from your network address, are"
    elif "ip_address" in locked:
        what = "Logins from your network address are"
    else:
        what = "This account is"
    message = (
        f"{what} locked for {duration} after too many failed login attempts. "
        "Try again then, or ask support to unlock it sooner."
    )
    return message, max(1, math.ceil(seconds))


def lockout_response(
    request: HttpRequest,
    original_response: HttpResponse | None = None,
    credentials: dict[str, Any] | None = None,
) -> HttpResponse:
    """The login page again (HTTP 429), the username kept, saying why and for how long.

    Axes calls this for a login it refused, or for the failure that reached the limit.
    """
    message, retry_after = lockout_message(request, credentials)
    username = get_client_username(request, credentials) or ""
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    if not url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        next_url = ""
    context = {
        "form": AuthenticationForm(request, initial={"username": username}),
        "next": next_url,
        "lockout": message,
    }
    response = render(request, "registration/login.html", context, status=429)
    response["Retry-After"] = str(retry_after)
    return response
