from django.urls import path

from connections.views import pages

app_name = "connections"

urlpatterns = [
    path("", pages.home, name="home"),
    path("healthz", pages.healthz, name="healthz"),
]
