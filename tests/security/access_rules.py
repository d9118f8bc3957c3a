"""The access rules, written down once: who may open every URL pattern of the URLconf, and
with which methods. ``test_access_matrix.py`` requests every pattern as every persona against
:data:`TABLE`, and fails when the URLconf has a pattern the table does not list (a new view) or
the table lists one that no longer exists.

An outcome is one of :class:`Outcome`; a rule gives each persona's, and a group of patterns
shares one (:data:`WIZARD`, :data:`CONSOLE`…). The admin's patterns follow from
:data:`ADMIN_MODELS`: every registered model is declared there with what the admin lets a
superuser do with it.
"""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any

from django.http import HttpResponse
from django.urls import URLPattern, URLResolver, get_resolver, resolve, reverse

from connections.models import HANDOFF_STEPS

#: Who requests every URL (see the ``world`` fixture). The owner is a System Administrator at the
#: root of the organization the URLs name; the outsider is one at the root of another
#: organization, using the owner's ids.
PERSONAS = (
    "anonymous",
    "owner",
    "clerk",
    "branch_admin",
    "outsider",
    "cs_staff",
    "staff",
    "superuser",
)
UNSAFE = ("POST", "PUT", "PATCH", "DELETE")


class Outcome(StrEnum):
    OK = "allowed"
    LOGIN = "login redirect"
    ADMIN_LOGIN = "admin login redirect"
    ADMIN_INDEX = "redirect to the admin index"
    DENIED = "403 page naming the missing condition"
    FORBIDDEN = "403"
    NOT_FOUND = "404"
    METHOD = "405"


OK, LOGIN, ADMIN_LOGIN, ADMIN_INDEX, DENIED, FORBIDDEN, NOT_FOUND, METHOD = Outcome


def who(default: Outcome, **exceptions: Outcome) -> dict[str, Outcome]:
    """Every persona's outcome: ``default``, except those named."""
    assert set(exceptions) <= set(PERSONAS), set(exceptions) - set(PERSONAS)
    return {persona: exceptions.get(persona, default) for persona in PERSONAS}


@dataclass(frozen=True)
class Rule:
    """One pattern's access rule.

    ``who`` is each persona's outcome for the methods the view accepts (``methods``; any other
    method must answer 405, or refuse as ``who`` says); ``post`` overrides it for POST. ``values``
    names the world's id for a URL parameter when it is not the default one. ``data`` is what the
    POST sends: a real change, were the guard to let it through; ``writes`` says an allowed POST
    does change the database (so the probe is seen to see writes). ``page`` is where the form that
    posts here is (for the CSRF token), when not the pattern's own page. ``hides``: a 404 refusal
    answers every method, since a 405 would say the URL exists.
    """

    who: Mapping[str, Outcome]
    methods: tuple[str, ...] = ("GET",)
    post: Mapping[str, Outcome] = field(default_factory=dict)
    values: Mapping[str, str] = field(default_factory=dict)
    query: str = ""
    data: Mapping[str, Any] = field(default_factory=dict)
    writes: bool = False
    page: str = ""
    hides: bool = False

    def expected(self, persona: str, method: str) -> set[Outcome]:
        declared = self.who[persona]
        if method == "POST":
            declared = self.post.get(persona, declared)
        if method in self.methods or (self.hides and declared == NOT_FOUND):
            return {declared}
        # The view does not take the method: 405, unless a guard refuses the persona first.
        return {METHOD} | ({declared} if declared != OK else set())


GET_POST = ("GET", "POST")
POST = ("POST",)

# --- Who ---------------------------------------------------------------------------------------------

#: Anyone: no login.
PUBLIC = who(OK)
#: Any logged-in user.
LOGGED_IN = who(OK, anonymous=LOGIN)
#: The wizard of one legal entity: a System Administrator whose home org unit is the root of its
#: organization. Other members get the 403 page naming what they miss; everyone else a 404 (an
#: outsider cannot learn the entity exists; staff and superusers are not members).
WIZARD = who(NOT_FOUND, anonymous=LOGIN, owner=OK, clerk=DENIED, branch_admin=DENIED)
#: The hand-off pages: the signed token in the URL is the permission, whoever holds it (the
#: tokens they refuse are in test_handoff_links.py).
TOKEN = who(OK)
#: The customer-success console: its group and superusers; a 404 for everyone else, whatever the
#: method (the console does not say it exists: its rules hide).
CONSOLE = who(NOT_FOUND, cs_staff=OK, superuser=OK)
#: The admin site's own pages: any staff member.
ADMIN_SITE = who(ADMIN_LOGIN, cs_staff=OK, staff=OK, superuser=OK)
#: A model's admin pages: staff with the model permission (only the superuser here; the customer
#: success group has none).
ADMIN_MODEL = who(ADMIN_LOGIN, cs_staff=FORBIDDEN, staff=FORBIDDEN, superuser=OK)
#: What the admin allows nobody (adding or deleting rows the system writes).
ADMIN_NOBODY = who(ADMIN_LOGIN, cs_staff=FORBIDDEN, staff=FORBIDDEN, superuser=FORBIDDEN)
#: What no staff member finds (an unknown admin URL, "view on site" of a model without a page).
ADMIN_MISSING = who(ADMIN_LOGIN, cs_staff=NOT_FOUND, staff=NOT_FOUND, superuser=NOT_FOUND)

# --- The table ----------------------------------------------------------------------------------------

SCHEDULE = {
    "frequency": "daily",
    "time_of_day": "03:15",
    "weekday": "1",
    "cron_expression": "",
    "timezone": "Europe/Paris",
    "kind": "partial",
    "weekly_full_weekday": "0",
    "enabled": "on",
}
CREDENTIALS = {
    "integration_type": "top_level",
    "company_id": "acme-new-co",
    "entity_id": "",
    "user_id": "Beanworks",
    "password": "Another-Pa55word",
}

TABLE: dict[str, Rule] = {
    "connections:home": Rule(LOGGED_IN),
    "connections:healthz": Rule(PUBLIC),
    # A redirect to the icon under /static/, for pages without an icon link.
    "connections:favicon": Rule(PUBLIC),
    # A System Administrator at the root sees (and adds to) their own organization's list: the
    # outsider's is their own organization's, never the owner's.
    "connections:legal_entities": Rule(
        who(DENIED, anonymous=LOGIN, owner=OK, outsider=OK),
        GET_POST,
        data={"name": "Acme Europe"},
        writes=True,
    ),
    "connections:resume": Rule(WIZARD),
    "connections:rail": Rule(WIZARD),
    "connections:pre_connection": Rule(
        WIZARD,
        GET_POST,
        data={"can_log_in_as_admin": "on", "others_logged_out": "on"},
        writes=True,
    ),
    # Steps 1–6 share one view ("I've done this" is the POST).
    **{f"connections:{step.value}": Rule(WIZARD, GET_POST, writes=True) for step in HANDOFF_STEPS},
    "connections:credentials": Rule(WIZARD, GET_POST, data=CREDENTIALS, writes=True),
    "connections:test_connection": Rule(WIZARD, POST, writes=True, page="connections:credentials"),
    "connections:run_status": Rule(WIZARD),
    # Lists what Intacct has: signs in, writes nothing.
    "connections:intacct_entities": Rule(WIZARD, GET_POST, data=CREDENTIALS),
    "connections:api_sync_profile": Rule(WIZARD),
    "connections:smartsync": Rule(WIZARD),
    "connections:sync_start": Rule(
        WIZARD, POST, data={"kind": "full"}, writes=True, page="connections:smartsync"
    ),
    "connections:sync_run": Rule(WIZARD, values={"run_id": "sync_run"}),
    "connections:sync_schedule": Rule(
        WIZARD, POST, data=SCHEDULE, writes=True, page="connections:smartsync"
    ),
    "connections:handoff_manage": Rule(
        WIZARD,
        GET_POST,
        data={"action": "create", "email": "it@example.com", "lifetime_days": "3"},
        writes=True,
    ),
    "connections:handoff_start": Rule(TOKEN),
    "connections:handoff_check": Rule(TOKEN, GET_POST, writes=True),
    "connections:handoff_run": Rule(TOKEN),
    "connections:handoff_step": Rule(TOKEN, GET_POST, writes=True),
    # The console.
    "console:overview": Rule(CONSOLE, hides=True),
    "console:queue": Rule(CONSOLE, hides=True),
    "console:queue_profile": Rule(
        CONSOLE,
        GET_POST,
        hides=True,
        values={"public_id": "waiting_entity"},
        data={"object_names": ["VENDOR"]},
        writes=True,
    ),
    "console:entity": Rule(CONSOLE, hides=True),
    "console:entity_action": Rule(
        CONSOLE, GET_POST, writes=True, page="console:entity", hides=True
    ),
    "console:funnel": Rule(CONSOLE, hides=True),
    "console:sync_health": Rule(CONSOLE, hides=True),
    # Accounts (django.contrib.auth.urls).
    "login": Rule(PUBLIC, GET_POST),
    "logout": Rule(PUBLIC, POST, page="connections:home"),
    "password_change": Rule(LOGGED_IN, GET_POST),
    "password_change_done": Rule(LOGGED_IN),
    "password_reset": Rule(PUBLIC, GET_POST),
    "password_reset_done": Rule(PUBLIC),
    "password_reset_confirm": Rule(
        PUBLIC, GET_POST, values={"token": "reset_token"}, page="password_reset"
    ),
    "password_reset_complete": Rule(PUBLIC),
    # The admin site.
    "admin:index": Rule(ADMIN_SITE, GET_POST),
    # Staff already logged in are sent on to the index; a POST tries to log in anyone.
    "admin:login": Rule(
        who(OK, cs_staff=ADMIN_INDEX, staff=ADMIN_INDEX, superuser=ADMIN_INDEX),
        GET_POST,
        post={"cs_staff": OK, "staff": OK, "superuser": OK},
    ),
    # Logs staff out; sends anyone else to the admin index (there is nothing to log out of).
    "admin:logout": Rule(who(ADMIN_INDEX, cs_staff=OK, staff=OK, superuser=OK), POST),
    "admin:password_change": Rule(ADMIN_SITE, GET_POST),
    "admin:password_change_done": Rule(ADMIN_SITE),
    "admin:jsi18n": Rule(ADMIN_SITE),
    "admin:autocomplete": Rule(
        ADMIN_MODEL, query="?app_label=connections&model_name=membership&field_name=organization"
    ),
    "admin:view_on_site": Rule(ADMIN_MISSING, GET_POST),
    "admin:app_list": Rule(
        who(ADMIN_LOGIN, cs_staff=NOT_FOUND, staff=NOT_FOUND, superuser=OK), GET_POST
    ),
    "admin/(?P<url>.*)$": Rule(ADMIN_MISSING, GET_POST),
    "admin:auth_user_password_change": Rule(ADMIN_MODEL, GET_POST, values={"id": "auth.user"}),
}


class Admin(StrEnum):
    """What the admin lets a superuser do with a model's rows (the world's row, for deleting)."""

    EDITABLE = "add, change, delete"
    #: Deleting the row would cascade to rows nobody may delete (step states, runs, audit
    #: events): the delete page lists them and its POST is refused.
    UNDELETABLE = "add, change; deleting is refused"
    #: Rows that others protect (an org unit that is someone's home unit): the delete page says
    #: so and its POST deletes nothing.
    PROTECTED = "add, change; deleting deletes nothing"
    #: Rows the system writes.
    READ_ONLY = "view only"
    #: Hand-off links are made and sent from the wizard; the admin revokes them (an action).
    NO_ADD_DELETE = "view, change and actions"
    #: The login throttle's records: written by logins, never added by hand; deleting a lock-out
    #: unlocks its user and address.
    NO_ADD = "view, change, delete"


#: Every model the admin shows.
ADMIN_MODELS = {
    "auth.user": Admin.EDITABLE,
    "auth.group": Admin.EDITABLE,
    "django_celery_beat.periodictask": Admin.EDITABLE,
    "django_celery_beat.crontabschedule": Admin.EDITABLE,
    "django_celery_beat.intervalschedule": Admin.EDITABLE,
    "django_celery_beat.solarschedule": Admin.EDITABLE,
    "django_celery_beat.clockedschedule": Admin.EDITABLE,
    "connections.organization": Admin.UNDELETABLE,
    "connections.orgunit": Admin.PROTECTED,
    "connections.membership": Admin.EDITABLE,
    "connections.legalentity": Admin.UNDELETABLE,
    "connections.connectionattempt": Admin.UNDELETABLE,
    "connections.apisyncprofile": Admin.EDITABLE,
    "connections.stepstate": Admin.READ_ONLY,
    "connections.verificationrun": Admin.READ_ONLY,
    "connections.checkresult": Admin.READ_ONLY,
    "connections.auditevent": Admin.READ_ONLY,
    "connections.handofflink": Admin.NO_ADD_DELETE,
    "axes.accessattempt": Admin.NO_ADD,
    "axes.accesslog": Admin.NO_ADD,
    "axes.accessfailurelog": Admin.NO_ADD,
}


def _admin_rules(model: str, kind: Admin) -> dict[str, Rule]:
    """The six patterns every registered model gets, and who may use each."""
    app_label, model_name = model.split(".")
    name = f"admin:{app_label}_{model_name}"
    row = {"object_id": model}
    adds = (
        ADMIN_NOBODY
        if kind in (Admin.READ_ONLY, Admin.NO_ADD_DELETE, Admin.NO_ADD)
        else ADMIN_MODEL
    )
    deletes = (
        ADMIN_MODEL
        if kind in (Admin.EDITABLE, Admin.PROTECTED, Admin.UNDELETABLE, Admin.NO_ADD)
        else ADMIN_NOBODY
    )
    removes = kind in (Admin.EDITABLE, Admin.NO_ADD)
    delete_post = {"superuser": FORBIDDEN} if kind == Admin.UNDELETABLE else {}
    return {
        # The changelist's POST runs an action: "delete selected" on the row, confirmed.
        f"{name}_changelist": Rule(
            ADMIN_MODEL,
            GET_POST,
            post=delete_post,
            values=row,
            data={"action": "delete_selected", "_selected_action": [], "post": "yes"},
            writes=removes,
        ),
        f"{name}_add": Rule(adds, GET_POST),
        f"{name}_history": Rule(ADMIN_MODEL, GET_POST, values=row),
        f"{name}_delete": Rule(
            deletes,
            GET_POST,
            post=delete_post,
            values=row,
            data={"post": "yes"},
            writes=removes,
        ),
        f"{name}_change": Rule(
            ADMIN_MODEL,
            GET_POST,
            post={"superuser": FORBIDDEN} if kind == Admin.READ_ONLY else {},
            values=row,
        ),
        # The bare object URL redirects any staff member to the change page, which decides.
        f"admin/{app_label}/{model_name}/<path:object_id>/": Rule(
            ADMIN_SITE, GET_POST, values=row, page=f"{name}_change"
        ),
    }


for _model, _kind in ADMIN_MODELS.items():
    TABLE.update(_admin_rules(_model, _kind))

#: The world's id a URL parameter carries unless the rule says otherwise.
DEFAULT_VALUES = {
    "public_id": "entity",
    "run_id": "verification_run",
    "token": "token",
    "step_key": "step",
    "action": "action",
    "uidb64": "uidb64",
    "app_label": "app_label",
    "url": "url",
    "content_type_id": "content_type_id",
    "object_id": "object_id",
}

# --- The URLconf --------------------------------------------------------------------------------------


def _join(prefix: str, route: str) -> str:
    # As Django joins the routes of nested patterns (ResolverMatch.route).
    return prefix + (route[1:] if route.startswith("^") else route)


def url_patterns(
    resolver: URLResolver | None = None, prefix: str = "", namespace: str = ""
) -> Iterator[tuple[str, str]]:
    """``(key, route)`` of every pattern, included URLconfs too; the key is the namespaced name,
    or the route for a pattern without a name."""
    for entry in (resolver or get_resolver()).url_patterns:
        route = _join(prefix, str(entry.pattern))
        if isinstance(entry, URLResolver):
            inner = ":".join(part for part in (namespace, entry.namespace) if part)
            yield from url_patterns(entry, route, inner)
        else:
            assert isinstance(entry, URLPattern)
            name = f"{namespace}:{entry.name}" if namespace and entry.name else entry.name
            yield name or route, route


URLCONF = dict(url_patterns())
PARAMETER = re.compile(r"<(?:\w+:)?(?P<name>\w+)>|\(\?P<(?P<group>\w+)>[^)]*\)")


def url_for(key: str, world: Any, **values: str) -> str:
    """The pattern's URL with the world's real ids (or ``values``, by URL parameter), checked to
    resolve to that very pattern."""
    rule, route = TABLE[key], URLCONF[key]

    def value(match: re.Match[str]) -> str:
        parameter = match["name"] or match["group"]
        if parameter in values:
            return values[parameter]
        return world.ids[rule.values.get(parameter, DEFAULT_VALUES.get(parameter, parameter))]

    url = "/" + PARAMETER.sub(value, route).removesuffix("$")
    assert resolve(url).route == route, f"{url} does not resolve to {route}"
    return url


# --- Outcomes -----------------------------------------------------------------------------------------


def outcome(response: HttpResponse) -> Outcome | str:
    status = response.status_code
    location = response.get("Location", "")
    if status == 405:
        return METHOD
    if status == 404:
        return NOT_FOUND
    if status == 403:
        templates = {template.name for template in getattr(response, "templates", [])}
        return DENIED if "connections/access_denied.html" in templates else FORBIDDEN
    if status == 302 and location.startswith(f"{reverse('login')}?next="):
        return LOGIN
    if status == 302 and location.startswith(f"{reverse('admin:login')}?next="):
        return ADMIN_LOGIN
    if status == 302 and location == reverse("admin:index"):
        return ADMIN_INDEX
    if status < 400:
        return OK
    return f"HTTP {status}"


def post_data(rule: Rule, world: Any) -> dict[str, Any]:
    """What the rule's POST sends; an admin action selects the world's row of the model."""
    data = dict(rule.data)
    if "_selected_action" in data:
        data["_selected_action"] = [world.ids[rule.values["object_id"]]]
    return data


def send(
    client: Any, method: str, url: str, rule: Rule, data: dict[str, Any], **headers: str
) -> HttpResponse:
    if method == "GET":
        return client.get(url + rule.query, headers=headers)
    if method == "POST":
        return client.post(url, data, headers=headers)
    return client.generic(method, url, headers=headers)
