"""The customer-success console: who may open it, the overview's filters, search, sort and pages,
constant queries, the API Sync Profile queue moving the customer on, and the entity's actions."""

from __future__ import annotations

import re
from datetime import timedelta

import pytest
from django.contrib.auth.models import Group
from django.core import mail
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from connections.models import (
    CUSTOMER_SUCCESS_GROUP,
    Alert,
    ApiSyncProfile,
    AuditEvent,
    ConnectionHealth,
    HandoffLink,
    LegalEntity,
    Step,
    StepVisit,
    SyncRun,
    SyncSchedule,
    VerificationRun,
)
from connections.services.api_sync import create_api_sync_profile
from connections.services.handoff import create_handoff_link
from connections.services.health import refresh_health
from connections.services.schedules import save_schedule
from tests.factories import (
    ConnectionAttemptFactory,
    LegalEntityFactory,
    MembershipFactory,
    OrganizationFactory,
    SyncRunFactory,
    SyncRunObjectFactory,
    UserFactory,
    verified_attempt,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def cs_user():
    user = UserFactory(username="cs-staff", email="cs@example.com", is_staff=True)
    user.groups.add(Group.objects.get(name=CUSTOMER_SUCCESS_GROUP))
    return user


@pytest.fixture
def cs_client(client, cs_user):
    client.force_login(cs_user)
    return client


@pytest.fixture
def verified(legal_entity):
    """A verified current attempt whose last run proved VENDOR and GLACCOUNT readable."""
    attempt = verified_attempt(legal_entity)
    refresh_health(legal_entity.pk)
    return attempt


def _urls(legal_entity):
    pid = legal_entity.public_id
    return {
        "overview": ("get", reverse("console:overview")),
        "queue": ("get", reverse("console:queue")),
        "queue_profile": ("get", reverse("console:queue_profile", args=[pid])),
        "entity": ("get", reverse("console:entity", args=[pid])),
        "action": ("post", reverse("console:entity_action", args=[pid, "reverify"])),
        "funnel": ("get", reverse("console:funnel")),
        "sync_health": ("get", reverse("console:sync_health")),
    }


@pytest.mark.parametrize(
    ("persona", "allowed"),
    [
        ("customer_success", True),
        ("superuser", True),
        ("plain_staff", False),
        ("customer_admin", False),
        ("customer_member", False),
        ("anonymous", False),
    ],
)
def test_who_may_open_every_console_url(
    client, legal_entity, system_admin, clerk, cs_user, persona, allowed
):
    user = {
        "customer_success": cs_user,
        "superuser": UserFactory(username="root", is_staff=True, is_superuser=True),
        "plain_staff": UserFactory(username="staff", is_staff=True),
        "customer_admin": system_admin,
        "customer_member": clerk,
        "anonymous": None,
    }[persona]
    if user is not None:
        client.force_login(user)
    for name, (method, url) in _urls(legal_entity).items():
        response = getattr(client, method)(url)
        if allowed:
            assert response.status_code in (200, 302), (name, response.status_code)
        else:
            assert response.status_code == 404, (name, response.status_code)
    if not allowed:
        assert not VerificationRun.objects.exists()  # the refused POST did nothing


def test_the_top_bar_links_the_console_for_customer_success_only(client, cs_user, system_admin):
    client.force_login(cs_user)
    assert reverse("console:overview") in client.get(reverse("connections:home")).text
    client.force_login(system_admin)
    assert reverse("console:overview") not in client.get(reverse("connections:home")).text


# --- Overview ----------------------------------------------------------------------------------------


def _entities(count, organization=None, *, start=0, **health):
    organization = organization or OrganizationFactory()
    entities = LegalEntity.objects.bulk_create(
        LegalEntity(organization=organization, name=f"Entity {i:05}")
        for i in range(start, start + count)
    )
    ConnectionHealth.objects.bulk_create(
        ConnectionHealth(legal_entity=e, current_step=Step.WS_USER, **health) for e in entities
    )
    return entities


def _names(response):
    return re.findall(r'<th scope="row"><a href="/cs/entities/[^"]+/">([^<]+)</a>', response.text)


def test_overview_lists_filters_and_counts(cs_client, legal_entity, verified, settings):
    settings.CONSOLE_STUCK_AFTER_DAYS = 3
    other = OrganizationFactory(name="Zeta Ltd", slug="zeta")
    old = timezone.now() - timedelta(days=4)
    stuck = LegalEntityFactory(organization=other, name="Zeta stuck")
    ConnectionHealth.objects.create(
        legal_entity=stuck, current_step=Step.ROLE_PERMISSIONS, step_since=old, company_id="ZETA"
    )
    failing = LegalEntityFactory(organization=other, name="Zeta failing")
    ConnectionHealth.objects.create(
        legal_entity=failing, current_step=Step.SMARTSYNC, sync_failing=True, company_id="Z2"
    )

    page = cs_client.get(reverse("console:overview"))
    assert _names(page) == ["Acme US", "Zeta failing", "Zeta stuck"]
    text = page.text
    assert "<strong>1</strong> Stuck" in text
    assert "<strong>1</strong> Sync failing" in text
    assert "<strong>1</strong> Waiting for profile" in text

    assert _names(cs_client.get(reverse("console:overview"), {"flag": "stuck"})) == ["Zeta stuck"]
    assert _names(cs_client.get(reverse("console:overview"), {"flag": "waiting_for_profile"})) == [
        "Acme US"
    ]
    assert _names(cs_client.get(reverse("console:overview"), {"q": "zeta"})) == [
        "Zeta failing",
        "Zeta stuck",
    ]
    assert _names(cs_client.get(reverse("console:overview"), {"q": "Z2"})) == ["Zeta failing"]
    assert _names(cs_client.get(reverse("console:overview"), {"step": "role_permissions"})) == [
        "Zeta stuck"
    ]
    assert _names(cs_client.get(reverse("console:overview"), {"state": "verified"})) == ["Acme US"]
    # Sorting by step follows the guide's order (Acme US has no step done: the checklist),
    # both ways.
    assert _names(cs_client.get(reverse("console:overview"), {"sort": "step"})) == [
        "Acme US",
        "Zeta stuck",
        "Zeta failing",
    ]
    assert _names(cs_client.get(reverse("console:overview"), {"sort": "-step"})) == [
        "Zeta failing",
        "Zeta stuck",
        "Acme US",
    ]


def test_overview_keeps_the_filters_in_its_links(cs_client, legal_entity, verified):
    text = cs_client.get(reverse("console:overview"), {"q": "acme", "sort": "-entity"}).text
    # A column's link keeps the search; the flag links keep search and sort.
    assert "?q=acme&amp;sort=entity" in text
    assert "?q=acme&amp;sort=-entity&amp;flag=stuck" in text


def test_an_unknown_filter_is_ignored_with_a_message(cs_client, legal_entity, verified):
    response = cs_client.get(reverse("console:overview"), {"flag": "nonsense", "sort": "x"})
    assert response.status_code == 200
    assert "The flag filter was not understood" in response.text
    assert _names(response) == ["Acme US"]
    response = cs_client.get(reverse("console:overview"), {"q": "a" * 500})
    assert "The search filter was not understood and is ignored: Ensure this value has at " in (
        response.text
    )
    assert _names(response) == ["Acme US"]


def test_overview_pages(cs_client, settings):
    settings.CONSOLE_PAGE_SIZE = 10
    _entities(25)
    first = cs_client.get(reverse("console:overview"), {"sort": "entity"})
    assert _names(first)[0] == "Entity 00000"
    assert "page 1 of 3" in first.text
    third = cs_client.get(reverse("console:overview"), {"sort": "entity", "page": 3})
    assert _names(third) == [f"Entity {i:05}" for i in range(20, 25)]
    assert 'href="?sort=entity&amp;page=2"' in third.text


def _queries(client, url, params=None):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(url, params or {})
    assert response.status_code == 200
    assert len(captured) > 0  # the capture saw the request's queries
    return len(captured)


@pytest.mark.parametrize(
    ("name", "params"),
    [
        ("console:overview", {}),
        ("console:overview", {"flag": "sync_failing", "sort": "-sync"}),
        ("console:overview", {"q": "Entity 0"}),
        ("console:queue", {}),
        ("console:funnel", {}),
        ("console:sync_health", {}),
    ],
)
def test_console_pages_make_a_constant_number_of_queries(
    cs_client, django_assert_max_num_queries, name, params
):
    organization = OrganizationFactory()
    small = _entities(10, organization, waiting_for_profile=True, waiting_since=timezone.now())
    for entity in small:
        StepVisit.objects.create(
            legal_entity=entity,
            step=Step.PRE_CONNECTION,
            entered_at=timezone.now() - timedelta(hours=2),
            left_at=timezone.now(),
        )
        run = SyncRunFactory(legal_entity=entity, state=SyncRun.State.FAILED)
        SyncRunObjectFactory(run=run)
    url = reverse(name)
    with django_assert_max_num_queries(8):
        at_ten = _queries(cs_client, url, params)
    _entities(990, organization, start=10, waiting_for_profile=True, waiting_since=timezone.now())
    with django_assert_max_num_queries(8):
        at_thousand = _queries(cs_client, url, params)
    assert at_thousand == at_ten


# --- The API Sync Profile queue ------------------------------------------------------------------


def test_queue_lists_waiting_entities_oldest_first(cs_client, organization):
    now = timezone.now()
    for name, days in (("Newer", 1), ("Older", 5)):
        entity = LegalEntityFactory(organization=organization, name=name)
        ConnectionHealth.objects.create(
            legal_entity=entity,
            current_step=Step.API_SYNC_PROFILE,
            waiting_for_profile=True,
            waiting_since=now - timedelta(days=days),
        )
    text = cs_client.get(reverse("console:queue")).text
    assert text.index("Older") < text.index("Newer")
    assert "5\xa0days" in text


def test_creating_the_profile_from_the_queue_moves_the_customer_on(
    client, cs_user, system_admin, legal_entity, verified, django_capture_on_commit_callbacks
):
    client.force_login(cs_user)
    url = reverse("console:queue_profile", args=[legal_entity.public_id])
    form = client.get(url).text
    # What the last verification proved readable is ticked; the rest is offered.
    assert re.search(r'value="VENDOR"[^>]*checked', form)
    assert re.search(r'value="GLACCOUNT"[^>]*checked', form)
    assert not re.search(r'value="CUSTOMER"[^>]*checked', form)

    # The customer waits on step 8, polling.
    customer = type(client)()
    customer.force_login(system_admin)
    step8 = reverse("connections:api_sync_profile", args=[legal_entity.public_id])
    waiting = customer.get(step8, headers={"HX-Request": "true"})
    assert "Waiting for customer success" in waiting.text
    assert 'hx-trigger="every 5s"' in waiting.text

    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(url, {"object_names": ["VENDOR", "CUSTOMER"]})
    assert response.status_code == 302
    profile = ApiSyncProfile.objects.get(legal_entity=legal_entity)
    assert (profile.object_names, profile.enabled, profile.created_by) == (
        ["VENDOR", "CUSTOMER"],
        True,
        cs_user,
    )
    event = AuditEvent.objects.get(action="api_sync_profile.created")
    assert event.actor == cs_user
    assert not ConnectionHealth.objects.get(legal_entity=legal_entity).waiting_for_profile
    (email,) = mail.outbox
    assert email.to == [system_admin.email]
    assert f"/connect/{legal_entity.public_id}/smartsync/" in email.body

    # The customer's next poll: ready, step 9 linked, the rail told to follow, polling over.
    ready = customer.get(step8, headers={"HX-Request": "true"})
    assert "Continue with step 9" in ready.text
    assert "hx-trigger" not in ready.text
    assert "rail-changed" in ready.headers["HX-Trigger"]


def test_a_profile_needs_at_least_one_object(cs_client, legal_entity, verified):
    url = reverse("console:queue_profile", args=[legal_entity.public_id])
    response = cs_client.post(url, {})
    assert response.status_code == 200
    assert "Pick at least one object to sync." in response.text
    assert not ApiSyncProfile.objects.exists()


def test_queue_profile_without_a_verdict_says_so_and_preselects_nothing(cs_client, legal_entity):
    ConnectionAttemptFactory(legal_entity=legal_entity)
    text = cs_client.get(reverse("console:queue_profile", args=[legal_entity.public_id])).text
    assert "has no finished verification" in text
    assert "checked" not in text


# --- The entity's page and actions -------------------------------------------------------------


def test_entity_page_shows_the_whole_story(cs_client, legal_entity, verified, system_admin):
    run = SyncRunFactory(legal_entity=legal_entity, state=SyncRun.State.PARTIAL, error="VENDOR x")
    SyncRunObjectFactory(run=run, object_name="VENDOR", fetched=42, requests=3)
    create_handoff_link(verified, actor=system_admin)
    text = cs_client.get(reverse("console:entity", args=[legal_entity.public_id])).text
    for expected in ("Connection attempts", "healthy-top", "Verification runs", "Passed",
                     "Sync runs", "Partly failed", ">42<", "Hand-off links", "Active",
                     "Audit log", "handoff_link.created"):  # fmt: skip
        assert expected in text, expected


def test_reverify_from_the_console_is_audited_with_the_staff_member(
    cs_client, cs_user, legal_entity, verified
):
    url = reverse("console:entity_action", args=[legal_entity.public_id, "reverify"])
    response = cs_client.post(url, follow=True)
    assert "Verification queued." in response.text
    run = VerificationRun.objects.filter(state=VerificationRun.State.QUEUED).get()
    assert (run.trigger, run.requested_by) == (VerificationRun.Trigger.CONSOLE, cs_user)
    assert AuditEvent.objects.get(action="verification.started").actor == cs_user


def test_sync_needs_a_profile_then_queues(cs_client, cs_user, legal_entity, verified):
    url = reverse("console:entity_action", args=[legal_entity.public_id, "full_sync"])
    assert "needs an enabled API Sync Profile" in cs_client.post(url, follow=True).text
    create_api_sync_profile(legal_entity, object_names=["VENDOR"])
    assert "Full sync queued." in cs_client.post(url, follow=True).text
    run = SyncRun.objects.get()
    assert (run.trigger, run.requested_by, run.kind) == ("console", cs_user, "full")


def test_destructive_actions_ask_first(cs_client, cs_user, legal_entity, verified, system_admin):
    link = create_handoff_link(verified, actor=system_admin)
    url = reverse("console:entity_action", args=[legal_entity.public_id, "revoke_links"])
    confirm = cs_client.post(url)
    assert confirm.status_code == 200
    assert 'name="confirm" value="yes"' in confirm.text
    link.refresh_from_db()
    assert link.revoked_at is None
    done = cs_client.post(url, {"confirm": "yes"}, follow=True)
    assert "1 hand-off link(s) revoked." in done.text
    link.refresh_from_db()
    assert link.status() == HandoffLink.Status.REVOKED
    assert AuditEvent.objects.get(action="handoff_link.revoked").actor == cs_user


def test_an_action_opened_by_its_address_acts_only_when_posted(
    cs_client, legal_entity, verified, system_admin
):
    """The confirmation page's address, reloaded or bookmarked: a destructive action asks
    again; another goes to the entity's page. Neither acts."""
    link = create_handoff_link(verified, actor=system_admin)
    revoke = reverse("console:entity_action", args=[legal_entity.public_id, "revoke_links"])
    page = cs_client.get(revoke)
    assert page.status_code == 200
    assert 'name="confirm" value="yes"' in page.text
    reverify = reverse("console:entity_action", args=[legal_entity.public_id, "reverify"])
    answer = cs_client.get(reverify)
    assert answer.status_code == 302
    assert answer["Location"] == reverse("console:entity", args=[legal_entity.public_id])
    link.refresh_from_db()
    assert link.revoked_at is None
    assert not VerificationRun.objects.filter(trigger=VerificationRun.Trigger.CONSOLE).exists()


def test_pause_and_resume_the_schedule(cs_client, cs_user, legal_entity, verified):
    create_api_sync_profile(legal_entity, object_names=["VENDOR"])
    save_schedule(legal_entity, {"frequency": "daily"}, None)
    assert ConnectionHealth.objects.get(legal_entity=legal_entity).next_sync_at is not None
    pause = reverse("console:entity_action", args=[legal_entity.public_id, "pause_schedule"])
    cs_client.post(pause, {"confirm": "yes"})
    schedule = SyncSchedule.objects.get()
    assert schedule.enabled is False
    assert schedule.periodic_task.enabled is False
    assert ConnectionHealth.objects.get(legal_entity=legal_entity).next_sync_at is None
    resume = reverse("console:entity_action", args=[legal_entity.public_id, "resume_schedule"])
    cs_client.post(resume)
    schedule.refresh_from_db()
    assert schedule.enabled is True
    assert AuditEvent.objects.filter(action="sync_schedule.updated", actor=cs_user).count() == 2


def test_disable_and_enable_the_profile(cs_client, legal_entity, verified):
    profile, _ = create_api_sync_profile(legal_entity, object_names=["VENDOR"])
    disable = reverse("console:entity_action", args=[legal_entity.public_id, "disable_profile"])
    cs_client.post(disable, {"confirm": "yes"})
    profile.refresh_from_db()
    assert profile.enabled is False
    assert ConnectionHealth.objects.get(legal_entity=legal_entity).waiting_for_profile is True
    enable = reverse("console:entity_action", args=[legal_entity.public_id, "enable_profile"])
    cs_client.post(enable)
    profile.refresh_from_db()
    assert profile.enabled is True


def test_an_unknown_action_is_404(cs_client, legal_entity):
    url = reverse("console:entity_action", args=[legal_entity.public_id, "drop-tables"])
    assert cs_client.post(url).status_code == 404


def test_actions_need_post_and_csrf(client, cs_user, legal_entity, verified):
    url = reverse("console:entity_action", args=[legal_entity.public_id, "reverify"])
    client.force_login(cs_user)
    assert client.get(url).status_code == 302  # to the entity's page, not acting
    assert client.put(url).status_code == 405
    strict = type(client)(enforce_csrf_checks=True)
    strict.force_login(cs_user)
    assert strict.post(url).status_code == 403
    assert not VerificationRun.objects.filter(state="queued").exists()


# --- Funnel, sync health and the customer's banner -----------------------------------------------


def test_funnel_counts_and_medians(cs_client, organization):
    now = timezone.now()
    for hours in (1, 2, 9):
        entity = LegalEntityFactory(organization=organization)
        StepVisit.objects.create(
            legal_entity=entity,
            step=Step.PRE_CONNECTION,
            entered_at=now - timedelta(hours=hours),
            left_at=now,
        )
        ConnectionHealth.objects.create(legal_entity=entity, current_step=Step.WS_SUBSCRIPTION)
    text = cs_client.get(reverse("console:funnel")).text
    assert "<svg" in text
    row = re.search(r"0\. Pre-connection checklist</th><td[^>]*>(.*?)</td><td>(.*?)</td>", text)
    assert row is not None
    assert row.group(2) == "2 h 0 min"
    subscription = re.search(r"1\. Web Services subscription</th><td[^>]*><a[^>]*>(\d+)</a>", text)
    assert subscription is not None
    assert subscription.group(1) == "3"


def test_sync_health_by_day(cs_client, legal_entity):
    now = timezone.now()
    for seconds, state in ((10, "succeeded"), (30, "succeeded"), (50, "failed")):
        SyncRunFactory(
            legal_entity=legal_entity,
            state=state,
            started_at=now - timedelta(seconds=seconds),
            finished_at=now,
            transactions=4,
        )
    text = cs_client.get(reverse("console:sync_health")).text
    today = re.search(
        rf'<time datetime="{now:%Y-%m-%d}">[^<]*</time></th>(.*?)</tr>', text, re.DOTALL
    )
    assert today is not None
    cells = re.findall(r'<td class="number">([^<]*)</td>', today.group(1))
    # succeeded, partly failed, failed, median, 95th percentile, API transactions
    assert cells == ["2", "0", "1", "30.0 s", "48.0 s", "12"]
    # Each chart names its first and last day under its axis (the table has every day).
    first_day = (now - timedelta(days=29)).strftime("%d %b")  # 30 days
    assert re.search(rf'<text class="chart-label"[^>]*>{first_day}</text>', text)
    assert re.search(rf'<text class="chart-label"[^>]*text-anchor="end">{now:%d %b}</text>', text)
    # The stacked chart too: days, not its segments' "day: state".
    assert ": Succeeded</text>" not in text


def test_customer_admins_see_the_alert_banner(client, legal_entity, system_admin, clerk):
    Alert.objects.create(
        legal_entity=legal_entity,
        kind=Alert.Kind.PERMISSION_DRIFT,
        step=Step.ROLE_PERMISSIONS,
        message="A re-verification failed after the connection had passed.",
    )
    client.force_login(system_admin)
    text = client.get(reverse("connections:legal_entities")).text
    assert "A re-verification failed after the connection had passed." in text
    assert f"/connect/{legal_entity.public_id}/role_permissions/" in text
    client.force_login(clerk)  # not an admin of the organization
    assert "re-verification failed" not in client.get(reverse("connections:home")).text
    outsider = MembershipFactory(organization=OrganizationFactory()).user
    client.force_login(outsider)
    assert "re-verification failed" not in client.get(reverse("connections:home")).text
    # An admin away from the root org unit cannot open the wizard the banner links to.
    from tests.factories import OrgUnitFactory

    branch = OrgUnitFactory(organization=legal_entity.organization)
    away = MembershipFactory(organization=legal_entity.organization, home_org_unit=branch).user
    client.force_login(away)
    assert "re-verification failed" not in client.get(reverse("connections:home")).text


def test_customer_success_sets_the_companys_request_limit(
    cs_client, cs_user, legal_entity, verified
):
    profile, _ = create_api_sync_profile(legal_entity, object_names=["VENDOR"])
    url = reverse("console:entity_action", args=[legal_entity.public_id, "request_limit"])
    for typed, said in (
        ("0", "At least 1"),
        ("21", "At most 20"),
        ("abc", "Enter a whole number"),
        ("", "Enter how many requests"),
    ):
        page = cs_client.post(url, {"max_concurrent_requests": typed})
        # The entity's page again, what was typed kept, the error beside the field.
        assert page.status_code == 422
        assert said in page.text
        assert f'name="max_concurrent_requests" value="{typed}"' in page.text or not typed
    profile.refresh_from_db()
    assert profile.max_concurrent_requests == 2
    page = cs_client.post(url, {"max_concurrent_requests": "4"}, follow=True)
    assert "Up to 4 concurrent requests to the company." in page.text
    profile.refresh_from_db()
    assert profile.max_concurrent_requests == 4
    event = AuditEvent.objects.filter(action="api_sync_profile.changed").latest("at")
    assert (event.actor, event.detail["max_concurrent_requests"]) == (cs_user, 4)


@pytest.mark.parametrize(
    ("seconds", "age", "ago"),
    [
        (5, "just now", "just now"),
        (59, "just now", "just now"),
        (60, "1 min", "1 min ago"),
        (3599, "59 min", "59 min ago"),
        (3600, "1 h", "1 h ago"),
        (86399, "23 h", "23 h ago"),
        (86400, "1 day", "1 day ago"),
        (3 * 86400 + 7200, "3 days", "3 days ago"),
    ],
)
def test_the_console_says_how_long_ago_in_one_unit(seconds, age, ago):
    from datetime import timedelta

    from django.utils import timezone

    from connections.templatetags.wizard import age as age_filter
    from connections.templatetags.wizard import ago as ago_filter

    moment = timezone.now() - timedelta(seconds=seconds)
    assert (age_filter(moment), ago_filter(moment)) == (age, ago)
    assert (age_filter(None), ago_filter(None)) == ("", "")


def test_profile_e_mails_go_to_admins_who_can_open_the_link_and_say_created_or_enabled_again(
    legal_entity, system_admin, django_capture_on_commit_callbacks
):
    """An admin whose home org unit is not the root cannot open the wizard the e-mail links to:
    not a recipient. Enabling a disabled profile says so, not "created"."""
    from connections.services.api_sync import change_api_sync_profile
    from tests.factories import MembershipFactory, OrgUnitFactory

    organization = legal_entity.organization
    branch = OrgUnitFactory(organization=organization, parent=organization.units.root())
    MembershipFactory(organization=organization, user__username="branch", home_org_unit=branch)
    with django_capture_on_commit_callbacks(execute=True):
        profile, _ = create_api_sync_profile(legal_entity, object_names=["VENDOR"])
    (created,) = mail.outbox
    assert created.to == [system_admin.email]
    assert "created the API Sync Profile" in created.body
    with django_capture_on_commit_callbacks(execute=True):
        change_api_sync_profile(profile, object_names=None, enabled=False)
        change_api_sync_profile(profile, object_names=None, enabled=True)
    assert len(mail.outbox) == 2
    assert "enabled again the API Sync Profile" in mail.outbox[1].body
    assert "created" not in mail.outbox[1].body
