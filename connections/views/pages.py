"""The home page, the health check, /favicon.ico and the login page."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth import views as auth_views
from django.contrib.auth.decorators import login_required
from django.contrib.auth.signals import user_logged_out
from django.dispatch import receiver
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.urls import reverse
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

from connections.access import has_organization, is_customer_success
from connections.http import HtmxHttpRequest
from connections.services.sandbox_status import sandbox_status


@require_GET
@login_required
@vary_on_headers("HX-Request")
def home(request: HtmxHttpRequest) -> HttpResponse:
    template = "connections/home.html"
    if request.htmx:
        template += "#sandbox-status"
    context = {
        "sandbox": sandbox_status(),
        "intacct_endpoint": settings.INTACCT_ENDPOINT,
        "sender_id": settings.INTACCT_SENDER_ID,
    }
    return render(request, template, context)


@require_GET
def healthz(request: HttpRequest) -> HttpResponse:
    """Liveness for load balancers and docker-compose: no login, no database."""
    return HttpResponse("ok", content_type="text/plain")


@require_GET
def favicon(request: HttpRequest) -> HttpResponse:
    """Pages without an icon link (the admin's, error pages) make browsers ask for /favicon.ico."""
    return redirect(static("favicon.svg"), permanent=True)


class LoginView(auth_views.LoginView):
    """Django's login; without a ``next``, customer-success staff who belong to no
    organization land on the console (the wizard has nothing for them)."""

    def get_default_redirect_url(self) -> str:
        user = self.request.user
        if is_customer_success(user) and not has_organization(user):
            return reverse("console:overview")
        return super().get_default_redirect_url()


@receiver(user_logged_out)
def _say_signed_out(sender: Any, request: HttpRequest | None, **kwargs: Any) -> None:
    """The login page a logout lands on says it happened."""
    if request is not None:
        messages.info(request, "You are logged out.", fail_silently=True)
