"""The customer-success console's URLs, under ``/cs/`` (see :mod:`connections.views.console`)."""

from django.urls import path

from connections.views import console

app_name = "console"

urlpatterns = [
    path("", console.overview, name="overview"),
    path("queue/", console.queue, name="queue"),
    path("queue/<uuid:public_id>/", console.queue_profile, name="queue_profile"),
    path("entities/<uuid:public_id>/", console.entity, name="entity"),
    path(
        "entities/<uuid:public_id>/actions/<slug:action>/",
        console.entity_action,
        name="entity_action",
    ),
    path("funnel/", console.funnel, name="funnel"),
    path("sync-health/", console.sync_health, name="sync_health"),
]
