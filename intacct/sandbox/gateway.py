"""The emulated XML gateway: one request document in, one response document out.

:class:`Gateway` validates in the real gateway's order: well-formed XML and a valid
request document (else control-level XL03000003); sender ID and password (else control-level
XL03000006); the company's gateway-level behaviour (unknown company → HTTP 400, 401 mode, rate
limit, flakiness, demo expiry); then per operation the authentication (authentication-level
errors) and per function its own result, honouring ``transaction="true"``.
"""

from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from urllib.parse import parse_qs

from lxml import etree

from intacct.permissions import PERMISSION_ROWS, UDD_ROW_KEY

from . import GATEWAY_PATH
from . import errors as E
from .errors import WireError
from .query import (
    And,
    Node,
    QueryError,
    TrueNode,
    UnknownFieldError,
    compile_predicate,
    parse_filter,
    parse_read_by_query,
    resolve,
)
from .schema import AUDIT_HISTORY, ObjectDef, escape_text
from .world import (
    RESULT_ID_TTL,
    Company,
    Cursor,
    FaultPlan,
    ObjectTable,
    Sandbox,
    Session,
    new_result_id,
)

__all__ = [
    "GATEWAY_CONTENT_TYPE",
    "MAX_REQUEST_BYTES",
    "Gateway",
    "GatewayReply",
]

#: The content type every XML answer carries (as the SDKs' mocks of the real gateway show).
GATEWAY_CONTENT_TYPE = 'text/xml; encoding="UTF-8"'
#: Larger request bodies are refused (HTTP 413).
MAX_REQUEST_BYTES = 4 * 1024 * 1024
#: readByQuery / query page-size limits; larger values are clamped.
READ_BY_QUERY_MAX_PAGE = 1000
QUERY_MAX_PAGE = 2000
DEFAULT_PAGE = 100
#: The ``rate_limited`` scenario refuses every this-many-th request.
RATE_LIMIT_EVERY = 3
#: ``read`` refuses more keys than this.
READ_MAX_KEYS = 100

_XML_DECL = '<?xml version="1.0" encoding="UTF-8"?>\n'

_IMPLEMENTED = {
    "getAPISession",
    "readByQuery",
    "readMore",
    "query",
    "read",
    "lookup",
    "inspect",
    "getDimensions",
    "getUserPermissions",
}
_KNOWN_UNSUPPORTED = {
    "create",
    "update",
    "delete",
    "readByName",
    "readRelated",
    "readView",
    "readReport",
    "readEntityDetails",
    "getDimensionRelationships",
    "getDimensionAutofillDetails",
    "getDimensionRestrictions",
    "getDimensionRestrictedData",
    "installApp",
    "consolidate",
    "getFinancialSetup",
    "get_list",
    "get",
}
_LEGACY_PREFIXES = ("create_", "update_", "delete_", "get_", "reverse_", "record")

_PARSER = etree.XMLParser(
    resolve_entities=False,
    no_network=True,
    load_dtd=False,
    huge_tree=False,
    remove_comments=True,
    remove_pis=True,
    collect_ids=False,
)


@dataclass(frozen=True)
class GatewayReply:
    """An HTTP answer: status, body, content type and extra headers. Status :data:`RESET`
    means no answer at all: the server resets the connection."""

    status: int
    body: bytes
    content_type: str = GATEWAY_CONTENT_TYPE
    headers: tuple[tuple[str, str], ...] = ()


#: The status of a :class:`GatewayReply` that is a connection reset, not an answer (in process,
#: where there is no connection to reset, it reaches the client as this HTTP status).
RESET = 599


# --- XML writing -------------------------------------------------------------------------------


def _esc(value: str) -> str:
    return escape_text(value)


def _esc_attr(value: str) -> str:
    return escape_text(value).replace('"', "&quot;")


def _esc_err(value: str) -> str:
    # Error texts come through PHP's htmlspecialchars(ENT_QUOTES): ' arrives as &#039;.
    return escape_text(value).replace('"', "&quot;").replace("'", "&#039;")


def _el(tag: str, text: str) -> str:
    return f"<{tag}>{_esc(text)}</{tag}>"


def _errors_xml(errors: Sequence[WireError]) -> str:
    parts = ["<errormessage>"]
    for e in errors:
        parts.append("<error>")
        parts.append(f"<errorno>{_esc_err(e.errorno)}</errorno>")
        parts.append(f"<description>{_esc_err(e.description)}</description>")
        if not e.short:
            parts.append(f"<description2>{_esc_err(e.description2)}</description2>")
            parts.append(f"<correction>{_esc_err(e.correction)}</correction>")
        parts.append("</error>")
    parts.append("</errormessage>")
    return "".join(parts)


def _iso(ts: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S+00:00", time.gmtime(ts))


@dataclass
class _ControlEcho:
    senderid: str | None = None
    controlid: str | None = None
    uniqueid: str | None = None
    dtdversion: str | None = None

    def xml(self, status: str) -> str:
        parts = ["<control>", _el("status", status)]
        if self.senderid is not None:
            parts.append(_el("senderid", self.senderid))
        if self.controlid is not None:
            parts.append(_el("controlid", self.controlid))
        parts.append(_el("uniqueid", self.uniqueid if self.uniqueid is not None else "false"))
        parts.append(_el("dtdversion", self.dtdversion or "3.0"))
        parts.append("</control>")
        return "".join(parts)


def _control_failure(
    echo: _ControlEcho | None, errors: Sequence[WireError], status: int = 200
) -> GatewayReply:
    if echo is None or any(e.short for e in errors):
        control = "<control><status>failure</status></control>"
    else:
        control = echo.xml("failure")
    body = f"{_XML_DECL}<response>{control}{_errors_xml(errors)}</response>"
    return GatewayReply(status, body.encode("utf-8"))


def _html(status: int, title: str) -> GatewayReply:
    body = (
        f"<html>\r\n<head><title>{status} {title}</title></head>\r\n<body>\r\n"
        f"<center><h1>{status} {title}</h1></center>\r\n</body>\r\n</html>\r\n"
    )
    return GatewayReply(status, body.encode("ascii"), "text/html")


# --- functions ---------------------------------------------------------------------------------


@dataclass
class _Result:
    status: str
    function: str
    controlid: str
    data: str | None = None
    errors: list[WireError] = field(default_factory=list)
    data_after_errors: str | None = None

    def xml(self) -> str:
        parts = [
            "<result>",
            _el("status", self.status),
            _el("function", self.function),
            _el("controlid", self.controlid),
        ]
        if self.data is not None:
            parts.append(self.data)
        if self.errors:
            parts.append(_errors_xml(self.errors))
        if self.data_after_errors is not None:
            parts.append(self.data_after_errors)
        parts.append("</result>")
        return "".join(parts)


class _Failure(Exception):
    """A function failed with these errors."""

    def __init__(self, *errors: WireError, data_after: str | None = None) -> None:
        super().__init__(errors[0].errorno if errors else "failure")
        self.errors = list(errors)
        self.data_after = data_after


@dataclass
class _Context:
    sandbox: Sandbox
    company: Company
    user_id: str
    location_id: str
    session: Session | None
    base_url: str


def _text(el: etree._Element | None, name: str) -> str | None:
    if el is None:
        return None
    for c in el:
        if isinstance(c.tag, str) and c.tag == name:
            return str(c.text or "").strip()
    return None


def _child(el: etree._Element | None, name: str) -> etree._Element | None:
    if el is None:
        return None
    for c in el:
        if isinstance(c.tag, str) and c.tag == name:
            return c
    return None


def _int(value: str | None, default: int) -> int:
    try:
        return int(str(value).strip()) if value not in (None, "") else default
    except ValueError:
        return default


def _truthy(value: str | None) -> bool:
    return (value or "").strip().lower() in ("true", "1", "t", "yes")


class Gateway:
    """Answers gateway requests for a :class:`Sandbox`."""

    def __init__(self, sandbox: Sandbox) -> None:
        self.sandbox = sandbox
        self._lock = threading.Lock()

    # entry point

    def handle(self, body: bytes, base_url: str) -> GatewayReply:
        """Answer one POST to the gateway path.  ``base_url`` is this server's own URL (scheme
        and host), used for the ``endpoint`` that ``getAPISession`` returns."""
        sandbox = self.sandbox
        if sandbox.fault_rate > 0:
            with self._lock:
                roll, pick = sandbox.rng.random(), sandbox.rng.random()
            if roll < sandbox.fault_rate:
                self._sleep()
                return (
                    _html(502, "Bad Gateway")
                    if pick < 0.5
                    else _html(503, "Service Temporarily Unavailable")
                )
        if len(body) > MAX_REQUEST_BYTES:
            return GatewayReply(413, b"Request Entity Too Large", "text/plain")
        body = _unwrap_form(body)
        parsed = self._parse(body)
        if isinstance(parsed, GatewayReply):
            self._sleep()
            return parsed
        root, echo = parsed
        control = _child(root, "control")
        if (_text(control, "senderid") or "") != sandbox.sender_id or (
            _text(control, "password") or ""
        ) != sandbox.sender_password:
            self._sleep()
            return _control_failure(echo, [self._support(E.partner_rejected())])
        operations = [c for c in root if isinstance(c.tag, str) and c.tag == "operation"]
        known, company = self._target_company(operations[0])
        if not known:
            self._sleep()
            return _control_failure(echo, [E.invalid_request()], 400)
        drop_session = False
        if company is not None:
            with company.lock:
                company.request_count += 1
                number = company.request_count
                plan = company.faults
            planned = self._planned_fault(plan, number, echo)
            if planned is not None:
                return planned
            fault, drop_session = self._gateway_fault(company, echo, number)
            drop_session = drop_session or plan.expires_session(number)
            if fault is None and company.expired_session_http_401:
                fault = self._unknown_session_401(operations[0], echo)
            if fault is not None:
                self._sleep()
                return fault
            limit = (
                company.max_concurrent or company.scenario.max_concurrent or sandbox.max_concurrent
            )
            with company.lock:
                busy = bool(limit) and company.in_flight >= limit
                if busy:
                    company.refused_busy += 1
                else:
                    company.in_flight += 1
                    company.peak_in_flight = max(company.peak_in_flight, company.in_flight)
            if busy:
                self._sleep()
                return _control_failure(echo, [E.rate_limited()], 429)
        try:
            self._sleep()
            if company is not None and company.faults.latency_ms > 0:
                time.sleep(company.faults.latency_ms / 1000.0)
            out = [self._operation(op, base_url, drop_session) for op in operations]
        finally:
            if company is not None:
                with company.lock:
                    company.in_flight -= 1
        body_text = f"{_XML_DECL}<response>{echo.xml('success')}{''.join(out)}</response>"
        return GatewayReply(200, body_text.encode("utf-8"))

    def _sleep(self) -> None:
        if self.sandbox.latency_ms > 0:
            time.sleep(self.sandbox.latency_ms / 1000.0)

    def _support(self, error: WireError) -> WireError:
        if not self.sandbox.support_ids:
            return error
        with self._lock:
            return E.with_support_id(error, self.sandbox.rng)

    # parsing and validation

    def _parse(self, body: bytes) -> tuple[etree._Element, _ControlEcho] | GatewayReply:
        echo = _scrape_echo(body)
        if b"<!DOCTYPE" in body or b"<!ENTITY" in body:
            return _control_failure(
                echo,
                [
                    E.xml_parse_error(
                        "Fatal Error: DOCTYPE and ENTITY declarations are not allowed."
                    )
                ],
            )
        try:
            root = etree.fromstring(body, parser=_PARSER)
        except etree.XMLSyntaxError as exc:
            errors = [
                E.xml_parse_error(
                    f"Fatal Error {entry.type}: {entry.message.strip()}. "
                    f"Line: {entry.line}, column: {entry.column}."
                )
                for entry in exc.error_log
            ] or [E.xml_parse_error(str(exc))]
            return _control_failure(echo, errors[:5])
        if root is None or root.tag != "request":
            tag = root.tag if root is not None else ""
            return _control_failure(
                echo, [E.xml_parse_error(f"Element '{tag}': No matching global declaration.")]
            )
        control = _child(root, "control")
        if control is None:
            return _control_failure(
                echo,
                [
                    E.xml_parse_error(
                        "Element 'request': Missing child element(s). Expected is ( control )."
                    )
                ],
            )
        echo = _ControlEcho(
            _text(control, "senderid"),
            _text(control, "controlid"),
            _text(control, "uniqueid"),
            _text(control, "dtdversion"),
        )
        operations = [c for c in root if isinstance(c.tag, str) and c.tag == "operation"]
        if not operations:
            return _control_failure(
                echo,
                [
                    E.xml_parse_error(
                        "Element 'request': Missing child element(s). Expected is ( operation )."
                    )
                ],
            )
        for op in operations:
            auth = _child(op, "authentication")
            if auth is None or (
                _child(auth, "login") is None and _child(auth, "sessionid") is None
            ):
                return _control_failure(
                    echo,
                    [
                        E.xml_parse_error(
                            "Element 'authentication': Missing child element(s). "
                            "Expected is one of ( login, sessionid )."
                        )
                    ],
                )
            content = _child(op, "content")
            functions = (
                [c for c in content if isinstance(c.tag, str)] if content is not None else []
            )
            if not functions:
                return _control_failure(
                    echo,
                    [
                        E.xml_parse_error(
                            "Element 'content': Missing child element(s). Expected is ( function )."
                        )
                    ],
                )
            for fn in functions:
                inner = [c for c in fn if isinstance(c.tag, str)]
                if fn.tag != "function" or len(inner) != 1:
                    return _control_failure(
                        echo,
                        [E.xml_parse_error(f"Element '{fn.tag}': This element is not expected.")],
                    )
                name = str(inner[0].tag)
                if not _known_function(name):
                    return _control_failure(
                        echo,
                        [E.xml_parse_error(f"Element '{name}': This element is not expected.")],
                    )
        return root, echo

    def _target_company(self, op: etree._Element) -> tuple[bool, Company | None]:
        """(known, company): a login naming an unknown company is not known; an unknown
        session has no company (authentication will answer "Invalid session")."""
        auth = _child(op, "authentication")
        login = _child(auth, "login")
        if login is not None:
            company_id = (_text(login, "companyid") or "").split("|")[0]
            company = self.sandbox.find_company(company_id)
            if company is None or company.scenario.gateway_fault == "unknown_company":
                return False, None
            return True, company
        session_id = _text(auth, "sessionid") or ""
        session = self.sandbox.peek_session(session_id)
        if session is None:
            dropped = self.sandbox.company_of_dropped_session(session_id)
            return True, self.sandbox.find_company(dropped) if dropped else None
        return True, self.sandbox.find_company(session.company_id)

    def _planned_fault(
        self, plan: FaultPlan, number: int, echo: _ControlEcho
    ) -> GatewayReply | None:
        """The answer the company's :class:`FaultPlan` gives its ``number``-th request, if any."""
        if plan.resets(number):
            return GatewayReply(RESET, b"", "text/plain")
        if plan.server_error(number):
            self._sleep()
            return _html(503, "Service Temporarily Unavailable")
        if plan.rate_limited(number):
            self._sleep()
            reply = _control_failure(echo, [E.rate_limited()], 429)
            if plan.retry_after is not None:
                return replace(reply, headers=(("Retry-After", str(plan.retry_after)),))
            return reply
        return None

    def _gateway_fault(
        self, company: Company, echo: _ControlEcho, number: int
    ) -> tuple[GatewayReply | None, bool]:
        """A gateway-level answer for this company's scenario, if any, and whether the session
        used by this request should be dropped afterwards (flaky). ``number``: the request's
        place among the company's requests."""
        fault = company.scenario.gateway_fault
        if fault == "bad_sender_password":
            return _control_failure(echo, [self._support(E.partner_rejected())]), False
        if fault == "demo_expired":
            return _control_failure(echo, [E.demo_expired()]), False
        if fault == "bad_password_401":
            return _control_failure(echo, [E.login_failed_401()], 401), False
        if fault == "rate_limited" and number % RATE_LIMIT_EVERY == 0:
            return _control_failure(echo, [E.rate_limited()], 429), False
        if fault == "flaky":
            with company.lock:
                roll = company.rng.random()
            if roll < 0.08:
                return _html(502, "Bad Gateway"), False
            if roll < 0.14:
                return _html(503, "Service Temporarily Unavailable"), False
            if roll < 0.17:
                return (
                    GatewayReply(
                        524,
                        b"<html><body><h1>524</h1><p>A timeout occurred</p></body></html>",
                        "text/html",
                    ),
                    False,
                )
            return None, roll < 0.20
        return None, False

    # operations

    def _unknown_session_401(self, op: etree._Element, echo: _ControlEcho) -> GatewayReply | None:
        """HTTP 401 XMLGW_JPP0002 for a request whose session is no longer known (a company
        with ``expired_session_http_401``)."""
        session_id = _text(_child(op, "authentication"), "sessionid")
        if session_id is None or self.sandbox.peek_session(session_id) is not None:
            return None
        return _control_failure(echo, [E.login_failed_401()], 401)

    def _operation(self, op: etree._Element, base_url: str, drop_session: bool) -> str:
        auth_el = _child(op, "authentication")
        outcome = self._authenticate(auth_el, base_url)
        if isinstance(outcome, str):
            return f"<operation>{outcome}</operation>"
        ctx, auth_xml = outcome
        content = _child(op, "content")
        functions = [c for c in content if isinstance(c.tag, str)] if content is not None else []
        results = [self._function(fn, ctx) for fn in functions]
        if _truthy(op.get("transaction")) and any(r.status == "failure" for r in results):
            rolled = E.transaction_rolled_back()
            for i, r in enumerate(results):
                if r.status == "failure":
                    r.errors.append(rolled)
                else:
                    results[i] = _Result("aborted", r.function, r.controlid, errors=[rolled])
        if drop_session and ctx.session is not None:
            self.sandbox.drop_session(ctx.session.session_id)
        return f"<operation>{auth_xml}{''.join(r.xml() for r in results)}</operation>"

    def _authenticate(
        self, auth: etree._Element | None, base_url: str
    ) -> tuple[_Context, str] | str:
        sandbox = self.sandbox
        login = _child(auth, "login")
        if login is not None:
            user_id = _text(login, "userid") or ""
            raw_company = _text(login, "companyid") or ""
            company_part, _, pipe_entity = raw_company.partition("|")
            password = _text(login, "password") or ""
            location = _text(login, "locationid") or pipe_entity.strip()

            def fail(error: WireError) -> str:
                return (
                    "<authentication>"
                    + _el("status", "failure")
                    + _el("userid", user_id)
                    + _el("companyid", company_part)
                    + "</authentication>"
                    + _errors_xml([error])
                )

            company = sandbox.find_company(company_part)
            if company is None or company.scenario.gateway_fault == "unknown_company":
                return fail(E.login_failed())
            scenario = company.scenario
            if not scenario.web_services:
                return fail(E.no_subscription())
            if not scenario.password_ok or not company.sign_in(user_id, password):
                return fail(E.login_failed())
            if not scenario.sender_authorized:
                return fail(E.sender_not_authorized(sandbox.sender_id, company_part))
            entity = ""
            if location:
                match = next(
                    (e for e in scenario.entities if e.entity_id.upper() == location.upper()), None
                )
                if scenario.bad_entity or match is None:
                    return fail(E.bad_entity(location, company_part))
                entity = match.entity_id
            now = time.time()
            ctx = _Context(sandbox, company, user_id, entity, None, base_url)
            return ctx, self._auth_ok(user_id, company_part, entity, now)
        session_id = _text(auth, "sessionid") or ""
        session = sandbox.use_session(session_id)
        company = sandbox.find_company(session.company_id) if session is not None else None

        def fail_session(error: WireError, user: str = "", comp: str = "") -> str:
            return (
                "<authentication>"
                + _el("status", "failure")
                + _el("userid", user)
                + _el("companyid", comp)
                + "</authentication>"
                + _errors_xml([error])
            )

        if session is None or company is None:
            return fail_session(E.invalid_session())
        scenario = company.scenario
        if not scenario.web_services:
            return fail_session(E.no_subscription(), session.user_id, session.company_id)
        if not scenario.sender_authorized:
            return fail_session(
                E.sender_not_authorized(sandbox.sender_id, session.company_id),
                session.user_id,
                session.company_id,
            )
        ctx = _Context(sandbox, company, session.user_id, session.location_id, session, base_url)
        return ctx, self._auth_ok(
            session.user_id, session.company_id, session.location_id, time.time()
        )

    def _auth_ok(self, user_id: str, company_id: str, location_id: str, now: float) -> str:
        return (
            "<authentication>"
            + _el("status", "success")
            + _el("userid", user_id)
            + _el("companyid", company_id)
            + _el("locationid", location_id)
            + _el("sessiontimestamp", _iso(now))
            + _el("sessiontimeout", _iso(now + self.sandbox.session_ttl))
            + "</authentication>"
        )

    def _function(self, fn: etree._Element, ctx: _Context) -> _Result:
        controlid = fn.get("controlid") or ""
        el = next(c for c in fn if isinstance(c.tag, str))
        name = str(el.tag)
        handler: Callable[[etree._Element, _Context], str] | None = (
            getattr(self, f"_fn_{name}", None) if name in _IMPLEMENTED else None
        )
        company = ctx.company
        with company.lock:
            company.functions_run += 1
            offline = company.faults.offline(company.functions_run)
        if offline:
            with company.lock:
                company.functions_failed += 1
            return _Result("failure", name, controlid, errors=[E.service_offline()])
        if handler is None:
            return _Result("failure", name, controlid, errors=[E.unsupported_function(name)])
        try:
            data = handler(el, ctx)
        except _Failure as failure:
            with company.lock:
                company.functions_failed += 1
            return _Result(
                "failure",
                name,
                controlid,
                errors=failure.errors,
                data_after_errors=failure.data_after,
            )
        return _Result("success", name, controlid, data=data)

    # object access

    def _object(
        self, ctx: _Context, name: str, operation: str, shown: str, *, query: bool = False
    ) -> tuple[ObjectDef, ObjectTable]:
        company = ctx.company
        odef = company.object_def(name) if name else None
        table = company.table(name) if odef is not None else None
        if odef is None or table is None:
            if query:
                raise _Failure(
                    E.unknown_object_query(name),
                    data_after=(
                        f'<data listtype="{_esc_attr(name)}" totalcount="0" offset="0" '
                        'count="0" numremaining="0"/>'
                    ),
                )
            raise _Failure(E.unknown_object(name))
        if not company.subscribed(odef.name):
            raise _Failure(E.module_not_subscribed(operation, odef.name))
        if not company.permitted(odef.name):
            raise _Failure(self._support(E.no_permission(operation, shown)))
        return odef, table

    @staticmethod
    def _fields(odef: ObjectDef, text: str | None) -> tuple[tuple[str, ...], bool]:
        raw = (text or "").strip()
        if raw in ("", "*"):
            return tuple(f.name for f in odef.fields), True
        names = [n.strip() for n in raw.split(",") if n.strip()]
        return _resolve_fields(odef, names), False

    @staticmethod
    def _where(node: Node, odef: ObjectDef) -> Node:
        try:
            return resolve(node, odef)
        except UnknownFieldError as exc:
            raise _Failure(E.invalid_fields(exc.names)) from None

    # getAPISession

    def _fn_getAPISession(self, el: etree._Element, ctx: _Context) -> str:
        company = ctx.company
        loc_el = _child(el, "locationid")
        target = ctx.location_id if loc_el is None else str(loc_el.text or "").strip()
        if target:
            match = next(
                (e for e in company.scenario.entities if e.entity_id.upper() == target.upper()),
                None,
            )
            if company.scenario.bad_entity or match is None:
                raise _Failure(
                    E.get_api_session_failed(E.bad_entity(target, company.company_id).description2)
                )
            target = match.entity_id
        session = ctx.sandbox.create_session(company, ctx.user_id, target)
        endpoint = f"{ctx.base_url}{GATEWAY_PATH}"
        return (
            "<data><api>"
            + _el("sessionid", session.session_id)
            + _el("endpoint", endpoint)
            + _el("locationid", target)
            + "</api></data>"
        )

    # readByQuery / readMore

    def _fn_readByQuery(self, el: etree._Element, ctx: _Context) -> str:
        name = _text(el, "object") or ""
        odef, table = self._object(ctx, name, "READ_BY_QUERY", name.lower())
        fields, nested = self._fields(odef, _text(el, "fields"))
        hidden = ctx.company.scenario.unqueryable(odef.name)
        if hidden and _text(el, "fields") not in (None, "", "*"):
            missing = [f for f in fields if f in hidden]
            if missing:
                raise _Failure(E.invalid_fields(missing))
        fields = tuple(f for f in fields if f not in hidden)
        try:
            node = parse_read_by_query(_text(el, "query"))
        except QueryError as exc:
            raise _Failure(E.query_failed(f"Invalid query: {exc}")) from None
        node = self._where(node, odef)
        vis = ctx.company.visibility(odef, ctx.location_id, showprivate=False)
        if vis is not None:
            node = vis if isinstance(node, TrueNode) else And((node, vis))
        pagesize = min(max(_int(_text(el, "pagesize"), DEFAULT_PAGE), 1), READ_BY_QUERY_MAX_PAGE)
        tag = odef.name.lower()
        with ctx.company.lock:
            try:
                matches = table.matches(node, False)
            except QueryError as exc:
                raise _Failure(E.query_failed(str(exc))) from None
            page = matches.slice(0, pagesize)
            total = matches.total
            remaining = total - len(page)
            records = table.render(page, fields, tag, nested)
        result_id = new_result_id() if total else ""
        if remaining > 0:
            ctx.sandbox.add_cursor(
                Cursor(
                    result_id=result_id,
                    company_id=ctx.company.company_id,
                    object_name=name,
                    table_name=odef.name,
                    node=node,
                    fields=fields,
                    nested=nested,
                    pagesize=pagesize,
                    last=page[-1],
                    totalcount=total,
                    served=len(page),
                    expires=time.time() + RESULT_ID_TTL,
                    session_id=ctx.session.session_id if ctx.session else "",
                )
            )
        return _list_data(tag, len(page), total, remaining, result_id, records)

    def _fn_readMore(self, el: etree._Element, ctx: _Context) -> str:
        result_id = _text(el, "resultId")
        cursor: Cursor | None
        if result_id is None:
            name = _text(el, "object") or _text(el, "view") or ""
            session_id = ctx.session.session_id if ctx.session else ""
            cursor = ctx.sandbox.latest_cursor(session_id, name) if name else None
            result_id = name
        else:
            cursor = ctx.sandbox.cursor(result_id)
        if cursor is None or cursor.company_id != ctx.company.company_id:
            raise _Failure(E.read_more_failed(result_id))
        table = ctx.company.table(cursor.table_name)
        if table is None:
            raise _Failure(E.read_more_failed(result_id))
        tag = table.odef.name.lower()
        with ctx.company.lock:
            matches = table.matches(cursor.node, False)
            page = matches.after(cursor.last, cursor.pagesize)
            last = page[-1] if page else cursor.last
            remaining = matches.total - matches.count_le(last)
            records = table.render(page, cursor.fields, tag, cursor.nested)
        cursor.last = last
        cursor.served += len(page)
        if remaining <= 0:
            ctx.sandbox.drop_cursor(cursor.result_id)
        return _list_data(
            tag, len(page), cursor.totalcount, max(remaining, 0), cursor.result_id, records
        )

    # query

    @staticmethod
    def _select(el: etree._Element) -> list[str]:
        """The fields a ``query`` selects; an aggregate or an empty select fails it."""
        select = _child(el, "select")
        children = [c for c in (select if select is not None else []) if isinstance(c.tag, str)]
        aggregates = [c.tag for c in children if c.tag != "field"]
        if aggregates:
            raise _Failure(
                E.query_failed(f"Aggregate function {aggregates[0]} is not supported here.")
            )
        names = [str(c.text or "").strip() for c in children]
        if not names:
            raise _Failure(E.query_failed("The select element must name at least one field."))
        return names

    def _filter_of(self, el: etree._Element, odef: ObjectDef) -> Node:
        filter_el = _child(el, "filter")
        if filter_el is None:
            return TrueNode()
        try:
            node = parse_filter(filter_el)
        except QueryError as exc:
            raise _Failure(E.query_failed(f"Invalid filter: {exc}")) from None
        return self._where(node, odef)

    def _fn_query(self, el: etree._Element, ctx: _Context) -> str:
        name = _text(el, "object") or ""
        if name.strip().upper() == AUDIT_HISTORY.name:
            return self._audit_query(el, ctx, name)
        odef, table = self._object(ctx, name, "QUERY", name, query=True)
        fields = _resolve_fields(odef, self._select(el))
        missing = [f for f in fields if f in ctx.company.scenario.unqueryable(odef.name)]
        if missing:
            raise _Failure(E.fields_cannot_be_queried(odef.name, missing))
        node = self._filter_of(el, odef)
        order: list[tuple[str, bool]] = []
        orderby = _child(el, "orderby")
        if orderby is not None:
            for o in orderby:
                if not (isinstance(o.tag, str) and o.tag == "order"):
                    continue
                fname = _text(o, "field") or ""
                fdef = odef.field(fname)
                if fdef is None:
                    raise _Failure(E.invalid_fields([fname]))
                order.append((fdef.name, _child(o, "descending") is not None))
        options = _child(el, "options")
        ci = _truthy(_text(options, "caseinsensitive"))
        showprivate = _truthy(_text(options, "showprivate"))
        vis = ctx.company.visibility(odef, ctx.location_id, showprivate)
        if vis is not None:
            node = vis if isinstance(node, TrueNode) else And((node, vis))
        pagesize = min(max(_int(_text(el, "pagesize"), DEFAULT_PAGE), 1), QUERY_MAX_PAGE)
        offset = max(_int(_text(el, "offset"), 0), 0)
        with ctx.company.lock:
            try:
                matches = table.matches(node, ci)
                total = matches.total
                if not order or order == [(odef.key_field, False)]:
                    page = matches.slice(offset, pagesize)
                elif order == [(odef.key_field, True)]:
                    end = total - offset
                    start = max(end - pagesize, 0)
                    page = matches.slice(start, end - start)[::-1] if end > 0 else []
                else:
                    page = list(table.ordered(node, ci, order)[offset : offset + pagesize])
            except QueryError as exc:
                raise _Failure(E.query_failed(str(exc))) from None
            records = table.render(page, fields, name, False)
        remaining = max(total - offset - len(page), 0)
        attrs = (
            f'listtype="{_esc_attr(name)}" totalcount="{total}" offset="{offset}" '
            f'count="{len(page)}" numremaining="{remaining}"'
        )
        if not records:
            return f"<data {attrs}/>"
        return f"<data {attrs}>{records}</data>"

    def _audit_query(self, el: etree._Element, ctx: _Context, name: str) -> str:
        """``query`` of ``AUDITHISTORY``: the company's audit rows matching the filter, oldest
        first (or as ordered by ACCESSTIME), paged by offset."""
        company = ctx.company
        scenario = company.scenario
        if not (
            scenario.audit_trail
            and scenario.role_assigned
            and "Platform Services" in scenario.modules
        ):
            raise _Failure(self._support(E.no_permission("QUERY", name)))
        odef = AUDIT_HISTORY
        fields = _resolve_fields(odef, self._select(el))
        node = self._filter_of(el, odef)
        options = _child(el, "options")
        ci = _truthy(_text(options, "caseinsensitive"))
        try:
            matches = compile_predicate(node, odef, ci)
        except QueryError as exc:
            raise _Failure(E.query_failed(str(exc))) from None
        descending = False
        orderby = _child(el, "orderby")
        for o in orderby if orderby is not None else []:
            if isinstance(o.tag, str) and o.tag == "order":
                fname = (_text(o, "field") or "").upper()
                if fname != "ACCESSTIME":
                    raise _Failure(E.query_failed(f"Cannot order audit history by {fname}."))
                descending = _child(o, "descending") is not None
        with company.lock:
            rows = [row for row in company.audit if matches(_getter(row))]
        if descending:
            rows.reverse()
        pagesize = min(max(_int(_text(el, "pagesize"), DEFAULT_PAGE), 1), QUERY_MAX_PAGE)
        offset = max(_int(_text(el, "offset"), 0), 0)
        page = rows[offset : offset + pagesize]
        records = "".join(
            f"<{name}>" + "".join(_el(f, row.get(f, "")) for f in fields) + f"</{name}>"
            for row in page
        )
        remaining = max(len(rows) - offset - len(page), 0)
        attrs = (
            f'listtype="{_esc_attr(name)}" totalcount="{len(rows)}" offset="{offset}" '
            f'count="{len(page)}" numremaining="{remaining}"'
        )
        return f"<data {attrs}>{records}</data>" if records else f"<data {attrs}/>"

    # read

    def _fn_read(self, el: etree._Element, ctx: _Context) -> str:
        name = _text(el, "object") or ""
        odef, table = self._object(ctx, name, "READ", name)
        fields, nested = self._fields(odef, _text(el, "fields"))
        keys = [k.strip() for k in (_text(el, "keys") or "").split(",") if k.strip()]
        if len(keys) > READ_MAX_KEYS:
            raise _Failure(E.generic_processing_error())
        vis = ctx.company.visibility(odef, ctx.location_id, showprivate=False)
        tag = odef.name.upper()
        with ctx.company.lock:
            visible = compile_predicate(vis, odef) if vis is not None else None
            recnos: list[int] = []
            for key in keys:
                try:
                    n = int(key)
                except ValueError:
                    continue
                if not table.alive(n) or n in recnos:
                    continue
                if visible is not None and not visible(table.getter(n)):
                    continue
                recnos.append(n)
            records = table.render(recnos, fields, tag, nested)
        attrs = f'listtype="{tag}" count="{len(recnos)}"'
        return f"<data {attrs}>{records}</data>" if records else f"<data {attrs}/>"

    # metadata

    def _fn_lookup(self, el: etree._Element, ctx: _Context) -> str:
        name = _text(el, "object") or _text(el, "name") or ""
        if name.strip().upper() == AUDIT_HISTORY.name:
            odef: ObjectDef | None = AUDIT_HISTORY
        else:
            odef = ctx.company.object_def(name) if name else None
        if odef is None:
            raise _Failure(E.unknown_object(name))
        parts = [
            f'<data listtype="All" count="1"><Type Name="{_esc_attr(odef.name)}" DocumentType="">'
        ]
        parts.append("<Fields>")
        hidden = ctx.company.scenario.unqueryable(odef.name)
        for f in odef.fields:
            if f.name in hidden:
                continue
            parts.append("<Field>")
            parts.append(_el("ID", f.name))
            parts.append(_el("LABEL", f.label))
            parts.append(_el("DESCRIPTION", f.description or f.label))
            parts.append(_el("REQUIRED", "true" if f.required else "false"))
            parts.append(_el("READONLY", "true" if f.readonly else "false"))
            parts.append(_el("DATATYPE", f.datatype))
            if f.valid_values:
                parts.append("<VALIDVALUES>")
                parts.extend(_el("VALIDVALUE", v) for v in f.valid_values)
                parts.append("</VALIDVALUES>")
            parts.append(_el("ISCUSTOM", "true" if f.custom else "false"))
            parts.append("</Field>")
        parts.append("</Fields><Relationships>")
        for path, target, label, related_by in _relationships(odef):
            parts.append("<Relationship>")
            parts.append(_el("OBJECTPATH", path))
            parts.append(_el("OBJECTNAME", target))
            parts.append(_el("LABEL", label))
            parts.append(_el("RELATIONSHIPTYPE", "MANY2ONE"))
            parts.append(_el("RELATEDBY", related_by))
            parts.append("</Relationship>")
        parts.append("</Relationships></Type></data>")
        return "".join(parts)

    def _fn_inspect(self, el: etree._Element, ctx: _Context) -> str:
        name = _text(el, "object") or "*"
        detail = _truthy(el.get("detail"))
        company = ctx.company
        if name == "*":
            parts = ['<data listtype="All" count="1">']
            for obj in company.object_names():
                odef = company.object_def(obj)
                if odef is not None:
                    parts.append(
                        f'<type typename="{_esc_attr(odef.name)}">{_esc(odef.singular)}</type>'
                    )
            parts.append("</data>")
            return "".join(parts)
        odef = company.object_def(name)
        if odef is None:
            raise _Failure(E.unknown_object(name))
        parts = [f'<data listtype="All" count="1"><Type Name="{_esc_attr(odef.name)}">']
        if detail:
            parts.append(
                "<Attributes>"
                + _el("SingularName", odef.singular)
                + _el("PluralName", odef.plural)
                + _el("Description", odef.plural)
                + "</Attributes>"
            )
        parts.append("<Fields>")
        hidden = company.scenario.unqueryable(odef.name)
        for i, f in enumerate((f for f in odef.fields if f.name not in hidden), start=1):
            if not detail:
                parts.append(_el("Field", f.name))
                continue
            parts.append(
                "<Field>"
                + _el("Name", f.name)
                + _el("GroupName", "Custom fields" if f.custom else "Information")
                + _el("dataName", _DATA_NAMES.get(f.kind, "Pt_FieldString"))
                + _el("externalDataName", _EXTERNAL_NAMES.get(f.kind, "string"))
                + _el("isRequired", "true" if f.required else "false")
                + _el("isReadOnly", "true" if f.readonly else "false")
                + _el("maxLength", "8" if f.kind == "int" else "100")
                + _el("DisplayLabel", f.label)
                + _el("Description", f.description or f.label)
                + _el("id", str(i))
                + "</Field>"
            )
        parts.append("</Fields></Type></data>")
        return "".join(parts)

    def _fn_getDimensions(self, el: etree._Element, ctx: _Context) -> str:
        scenario = ctx.company.scenario
        modules = scenario.modules
        dims: list[tuple[str, str, bool]] = [
            ("DEPARTMENT", "Department", False),
            ("LOCATION", "Location", False),
        ]
        if "Projects" in modules:
            dims.append(("PROJECT", "Project", False))
        dims += [
            ("CUSTOMER", "Customer", False),
            ("VENDOR", "Vendor", False),
            ("EMPLOYEE", "Employee", False),
            ("ITEM", "Item", False),
            ("CLASS", "Class", False),
        ]
        if "Projects" in modules:
            dims.append(("TASK", "Task", False))
        if "Inventory Control" in modules:
            dims.append(("WAREHOUSE", "Warehouse", False))
        if "Construction" in modules:
            dims.append(("COSTTYPE", "Cost type", False))
        if "Platform Services" in modules:
            dims += [(u.object_name, u.label, True) for u in scenario.udds]
        parts = ["<data><dimensions>"]
        for obj, label, udd in dims:
            parts.append(
                "<dimension>"
                + _el("objectName", obj)
                + _el("objectLabel", label)
                + _el("termLabel", label)
                + _el("userDefinedDimension", "true" if udd else "false")
                + _el("enabledInGL", "true")
                + "</dimension>"
            )
        parts.append("</dimensions></data>")
        return "".join(parts)

    def _fn_getUserPermissions(self, el: etree._Element, ctx: _Context) -> str:
        user_id = _text(el, "userId") or _text(el, "userid") or ""
        company = ctx.company
        if user_id.lower() != company.user_id.lower():
            raise _Failure(E.unknown_user(user_id))
        scenario = company.scenario
        apps: dict[str, list[tuple[str, str]]] = {}
        if scenario.role_assigned:
            for row in PERMISSION_ROWS:
                if not scenario.row_granted(row.key):
                    continue
                if (
                    row.only_when
                    and row.only_when != "Multi-entity"
                    and row.only_when not in scenario.modules
                ):
                    continue
                if row.only_when == "Multi-entity" and not scenario.multi_entity:
                    continue
                rights = ["List", "View"] if row.kind != "write" or row.objects else []
                for r in row.policy_rights:
                    if r not in rights:
                        rights.append(r)
                if row.key == "bills":
                    rights += [r for r in ("Edit", "Delete") if r not in rights]
                if row.key == UDD_ROW_KEY:
                    if "Platform Services" in scenario.modules:
                        for udd in scenario.udds:
                            apps.setdefault(row.application, []).append(
                                (udd.label, "|".join(rights))
                            )
                    continue
                apps.setdefault(row.application, []).append((row.policy_names[0], "|".join(rights)))
            apps["Time "] = [("My Expenses", "List|View|Add|Edit|Delete")]
        parts = ["<data><permissions>"]
        for app, policies in apps.items():
            parts.append("<appSubscription>" + _el("applicationName", app) + "<policies>")
            for policy, rights_text in policies:
                parts.append(
                    "<policy>"
                    + _el("policyName", policy)
                    + _el("rights", rights_text)
                    + "</policy>"
                )
            parts.append("</policies></appSubscription>")
        parts.append("</permissions></data>")
        return "".join(parts)


_DATA_NAMES = {
    "int": "Pt_FieldInt",
    "decimal": "Pt_FieldDouble",
    "date": "Pt_FieldDate",
    "datetime": "Pt_FieldDateTime",
    "bool": "Pt_FieldBoolean",
}
_EXTERNAL_NAMES = {
    "int": "integer",
    "decimal": "number",
    "date": "date",
    "datetime": "datetime",
    "bool": "boolean",
}
_RELATED = {
    "VENDORID": ("VENDOR", "Vendor"),
    "CUSTOMERID": ("CUSTOMER", "Customer"),
    "PROJECTID": ("PROJECT", "Project"),
    "DEPARTMENTID": ("DEPARTMENT", "Department"),
    "LOCATIONID": ("LOCATION", "Location"),
    "TASKID": ("TASK", "Task"),
    "CLASSID": ("CLASS", "Class"),
    "TERMNAME": ("APTERM", "Term"),
    "MEGAENTITYID": ("LOCATIONENTITY", "Created at entity"),
}


def _relationships(odef: ObjectDef) -> list[tuple[str, str, str, str]]:
    out = []
    for f in odef.fields:
        target = _RELATED.get(f.name)
        if target is None or f.name == odef.id_field or "." in f.name:
            continue
        path = target[0] if f.name != "MEGAENTITYID" else "MELOCATION"
        out.append((path, target[0], target[1], f.name))
    return out


def _getter(row: dict[str, str]) -> Callable[[str], str]:
    return lambda name: row.get(name, "")


def _resolve_fields(odef: ObjectDef, names: Sequence[str]) -> tuple[str, ...]:
    out: list[str] = []
    unknown: list[str] = []
    for raw in names:
        fdef = odef.field(raw)
        if fdef is None:
            unknown.append(raw)
        elif fdef.name not in out:
            out.append(fdef.name)
    if unknown:
        raise _Failure(E.invalid_fields(unknown))
    return tuple(out)


def _list_data(
    tag: str, count: int, total: int, remaining: int, result_id: str, records: str
) -> str:
    attrs = (
        f'listtype="{tag}" count="{count}" totalcount="{total}" numremaining="{remaining}" '
        f'resultId="{_esc_attr(result_id)}"'
    )
    return f"<data {attrs}>{records}</data>" if records else f"<data {attrs}/>"


def _known_function(name: str) -> bool:
    return name in _IMPLEMENTED or name in _KNOWN_UNSUPPORTED or name.startswith(_LEGACY_PREFIXES)


_ECHO_RE = {
    key: re.compile(rf"<{key}>([^<]{{0,256}})</{key}>".encode())
    for key in ("senderid", "controlid", "uniqueid", "dtdversion")
}


def _scrape_echo(body: bytes) -> _ControlEcho:
    # Even a document that does not parse gets its control values echoed, as the gateway does.
    head = body[:8192]
    found: dict[str, str | None] = {}
    for key, rx in _ECHO_RE.items():
        m = rx.search(head)
        found[key] = m.group(1).decode("utf-8", "replace").strip() if m else None
    return _ControlEcho(
        found["senderid"], found["controlid"], found["uniqueid"], found["dtdversion"]
    )


def _unwrap_form(body: bytes) -> bytes:
    # Older integrations post ``xmlrequest=<urlencoded XML>`` as a form.
    stripped = body.lstrip()
    if stripped.startswith(b"xmlrequest="):
        values = parse_qs(stripped.decode("utf-8", "replace")).get("xmlrequest")
        if values:
            return values[0].encode("utf-8")
    return body
