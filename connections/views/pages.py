"""The home page, the health check and /favicon.ico."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth.decorators import login_required
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.templatetags.static import static
from django.views.decorators.http import require_GET
from django.views.decorators.vary import vary_on_headers

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
