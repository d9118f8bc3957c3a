from django.contrib import admin
from django.urls import include, path

urlpatterns = [
    path("", include("connections.urls")),
    path("cs/", include("connections.console_urls")),
    path("accounts/", include("config.auth_urls")),
    path("admin/", admin.site.urls),
]
