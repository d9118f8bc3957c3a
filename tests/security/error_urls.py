"""Our URLconf with a view that fails and one that refuses, so the error pages a real failure
shows (500.html, 403.html) can be opened on purpose by the header and browser tests."""

from __future__ import annotations

from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.urls import path

from config.urls import urlpatterns as product_urlpatterns


def fail(request: HttpRequest) -> HttpResponse:
    raise RuntimeError("a deliberate failure for the error page's tests")


def refuse(request: HttpRequest) -> HttpResponse:
    raise PermissionDenied


urlpatterns = [
    *product_urlpatterns,
    path("test-errors/500/", fail),
    path("test-errors/403/", refuse),
]
