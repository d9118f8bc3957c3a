from django.urls import path

from connections.models import HANDOFF_STEPS
from connections.views import handoff, pages, smartsync, wizard

app_name = "connections"

urlpatterns = [
    path("", pages.home, name="home"),
    path("healthz", pages.healthz, name="healthz"),
    path("favicon.ico", pages.favicon, name="favicon"),
    # The wizard: the organization's legal entities, then one URL per guide step.
    path("connect/", wizard.legal_entities, name="legal_entities"),
    path("connect/<uuid:public_id>/", wizard.resume, name="resume"),
    path("connect/<uuid:public_id>/rail/", wizard.rail, name="rail"),
    path("connect/<uuid:public_id>/pre_connection/", wizard.pre_connection, name="pre_connection"),
    *(
        path(
            f"connect/<uuid:public_id>/{step.value}/",
            wizard.intacct_step,
            {"step": step},
            name=step.value,
        )
        # The Intacct-side steps (1–6) share one view.
        for step in HANDOFF_STEPS
    ),
    path("connect/<uuid:public_id>/credentials/", wizard.credentials, name="credentials"),
    path(
        "connect/<uuid:public_id>/credentials/test/",
        wizard.test_connection,
        name="test_connection",
    ),
    path("connect/<uuid:public_id>/runs/<uuid:run_id>/", wizard.run_status, name="run_status"),
    path("connect/<uuid:public_id>/entities/", wizard.intacct_entities, name="intacct_entities"),
    path(
        "connect/<uuid:public_id>/api_sync_profile/",
        wizard.api_sync_profile,
        name="api_sync_profile",
    ),
    path("connect/<uuid:public_id>/smartsync/", smartsync.smartsync, name="smartsync"),
    path("connect/<uuid:public_id>/smartsync/sync/", smartsync.start, name="sync_start"),
    path(
        "connect/<uuid:public_id>/smartsync/runs/<uuid:run_id>/",
        smartsync.run_status,
        name="sync_run",
    ),
    path(
        "connect/<uuid:public_id>/smartsync/schedule/",
        smartsync.schedule,
        name="sync_schedule",
    ),
    path("connect/<uuid:public_id>/handoff/", handoff.manage, name="handoff_manage"),
    # Hand-off links: no login, the signed token is the permission.
    path("handoff/<str:token>/", handoff.handoff_start, name="handoff_start"),
    path("handoff/<str:token>/check/", handoff.handoff_check, name="handoff_check"),
    path("handoff/<str:token>/runs/<uuid:run_id>/", handoff.handoff_run, name="handoff_run"),
    path("handoff/<str:token>/<slug:step_key>/", handoff.handoff_step, name="handoff_step"),
]
