"""The XML gateway's wire format: request envelopes out, hardened parsing of responses in.

Building: :func:`build_request` writes one ``<request>`` with the control block, one operation with
login or session authentication, and any number of :class:`Function` s, each with its own
``controlid``.  Function factories (:func:`query`, :func:`read_by_query`, :func:`read_more`,
:func:`read`, :func:`lookup`, :func:`inspect`, :func:`get_dimensions`, :func:`get_user_permissions`,
:func:`get_api_session`) return ready :class:`Function` objects.

Parsing: :func:`parse_response` accepts only a plain document (no DTD, no entities, no network,
bounded size) and returns a :class:`Response` of dataclasses; it never raises for gateway errors.
:meth:`Response.raise_for_status` applies the precedence every official SDK uses: control, then
authentication, then (per function) result.  Element names are matched case-insensitively where
real captures differ (``resultId``/``resultid``, ``Type``/``type``, record elements).
"""

from __future__ import annotations

import json
import re
import threading
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from json.encoder import encode_basestring
from typing import Any
from urllib.parse import unquote

from lxml import etree

from .errors import (
    ErrorDetail,
    GatewayError,
    ProtocolError,
    ResponseTooLargeError,
    UnsafeDocumentError,
    classify,
)

__all__ = [
    "DTD_VERSION",
    "MAX_QUERY_PAGE",
    "MAX_READ_BY_QUERY_PAGE",
    "MAX_READ_KEYS",
    "MAX_RESPONSE_BYTES",
    "READ_ONLY_FUNCTIONS",
    "Authentication",
    "Control",
    "Filter",
    "Function",
    "Login",
    "Response",
    "Result",
    "SessionAuth",
    "build_request",
    "get_api_session",
    "get_dimensions",
    "get_user_permissions",
    "inspect",
    "is_xml_text",
    "lookup",
    "parse_response",
    "query",
    "read",
    "read_by_query",
    "read_more",
    "redact",
]

DTD_VERSION = "3.0"
#: readByQuery/readMore page limit (docs: 1–1000).
MAX_READ_BY_QUERY_PAGE = 1000
#: query page limit (XSD: 1–2000).
MAX_QUERY_PAGE = 2000
#: read: the PHP SDK refuses more than 100 keys.
MAX_READ_KEYS = 100
#: Largest response body we parse.  A 2,000-record page of wide records is a few MB.
MAX_RESPONSE_BYTES = 64 * 1024 * 1024
#: Functions that change nothing; a request holding only these may be retried after HTTP 524.
READ_ONLY_FUNCTIONS = frozenset(
    {
        "readByQuery",
        "readMore",
        "query",
        "read",
        "lookup",
        "inspect",
        "getDimensions",
        "getUserPermissions",
        "getAPISession",
        "get_list",
        "get_companyprefs",
        "get_applications",
        "readByName",
        "readRelated",
        "readReport",
        "readView",
    }
)

# --- building -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Login:
    """Login authentication.  ``entity_id`` makes an entity-level sign-in (``<locationid>``)."""

    user_id: str
    company_id: str
    password: str = field(repr=False)
    entity_id: str | None = None


@dataclass(frozen=True)
class SessionAuth:
    """Session authentication with a session id from ``getAPISession``."""

    session_id: str = field(repr=False)


@dataclass(frozen=True)
class Function:
    """One ``<function>`` of a request.  ``name`` is the function element (e.g. ``query``)."""

    name: str
    element: etree._Element = field(repr=False, compare=False)
    controlid: str = field(default_factory=lambda: str(uuid.uuid4()))

    @property
    def read_only(self) -> bool:
        return self.name in READ_ONLY_FUNCTIONS


# What XML 1.0 may carry (its ``Char`` production): no control characters but tab, newline and
# carriage return, no lone surrogates, no U+FFFE or U+FFFF.
_NOT_XML_CHAR = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


def is_xml_text(text: str) -> bool:
    """Whether ``text`` can travel in a request (:func:`build_request` raises ``ValueError`` for
    an ID or password that cannot): check what a person typed with it first."""
    return _NOT_XML_CHAR.search(text) is None


def _sub(parent: etree._Element, tag: str, text: str | None = None) -> etree._Element:
    el = etree.SubElement(parent, tag)
    if text is not None:
        el.text = text
    return el


def build_request(
    *,
    sender_id: str,
    sender_password: str,
    auth: Login | SessionAuth,
    functions: Sequence[Function],
    control_id: str | None = None,
    unique_id: bool = False,
    transaction: bool = False,
) -> bytes:
    """The request document for ``functions`` in one operation, as UTF-8 bytes.

    Raises ``ValueError`` for blank sender credentials, no functions, or a controlid outside 1–256
    characters (the limits every official SDK enforces).
    """
    if not sender_id or not sender_password:
        raise ValueError("Sender ID and sender password are required and cannot be blank")
    if not functions:
        raise ValueError("A request needs at least one function")
    control_id = control_id or str(uuid.uuid4())
    for cid in (control_id, *(f.controlid for f in functions)):
        if not 1 <= len(cid) <= 256:
            raise ValueError("Control IDs must be between 1 and 256 characters in length")
    root = etree.Element("request")
    control = _sub(root, "control")
    _sub(control, "senderid", sender_id)
    _sub(control, "password", sender_password)
    _sub(control, "controlid", control_id)
    _sub(control, "uniqueid", "true" if unique_id else "false")
    _sub(control, "dtdversion", DTD_VERSION)
    _sub(control, "includewhitespace", "false")
    operation = _sub(root, "operation")
    operation.set("transaction", "true" if transaction else "false")
    authentication = _sub(operation, "authentication")
    if isinstance(auth, Login):
        if not auth.user_id or not auth.company_id or not auth.password:
            raise ValueError("User ID, company ID and password are required and cannot be blank")
        login = _sub(authentication, "login")
        _sub(login, "userid", auth.user_id)
        _sub(login, "companyid", auth.company_id)
        _sub(login, "password", auth.password)
        if auth.entity_id:
            _sub(login, "locationid", auth.entity_id)
    else:
        _sub(authentication, "sessionid", auth.session_id)
    content = _sub(operation, "content")
    for fn in functions:
        wrapper = _sub(content, "function")
        wrapper.set("controlid", fn.controlid)
        wrapper.append(_copy(fn.element))
    body: bytes = etree.tostring(root, encoding="UTF-8", xml_declaration=False)
    return _XML_DECLARATION + body


_XML_DECLARATION = b'<?xml version="1.0" encoding="UTF-8"?>'


def _copy(element: etree._Element) -> etree._Element:
    # A Function may be sent more than once (retries); appending moves an lxml element, so copy.
    return etree.fromstring(etree.tostring(element))


_REDACT_RE = re.compile(
    rb"(<(password|sessionid)(\s[^>]*)?>)(.*?)(</\2\s*>)", re.IGNORECASE | re.DOTALL
)


def redact(xml: bytes | str) -> str:
    """``xml`` as text with the contents of every ``<password>`` and ``<sessionid>`` replaced by
    ``REDACTED`` (the official SDKs' logging rule).  Use it before any XML reaches a log."""
    raw = xml.encode("utf-8") if isinstance(xml, str) else xml
    return _REDACT_RE.sub(rb"\1REDACTED\5", raw).decode("utf-8", "replace")


# --- filters (query) ----------------------------------------------------------------------------

_FILTER_OPS = frozenset(
    {
        "equalto",
        "notequalto",
        "lessthan",
        "lessthanorequalto",
        "greaterthan",
        "greaterthanorequalto",
        "between",
        "in",
        "notin",
        "like",
        "notlike",
        "isnull",
        "isnotnull",
    }
)


@dataclass(frozen=True)
class Filter:
    """A ``query`` filter: a condition (``op`` field values) or ``and``/``or`` of filters.

    >>> Filter.cond("greaterthan", "WHENMODIFIED", "01/31/2025 10:00:00")
    """

    op: str
    field: str | None = None
    values: tuple[str, ...] = ()
    children: tuple[Filter, ...] = ()

    @classmethod
    def cond(cls, op: str, field: str, *values: str) -> Filter:
        if op not in _FILTER_OPS:
            raise ValueError(f"Unknown filter operator {op!r}")
        return cls(op=op, field=field, values=tuple(values))

    @classmethod
    def all(cls, *children: Filter) -> Filter:
        """``and`` of the children (a single child is returned as is)."""
        return children[0] if len(children) == 1 else cls(op="and", children=children)

    @classmethod
    def any(cls, *children: Filter) -> Filter:
        """``or`` of the children (a single child is returned as is)."""
        return children[0] if len(children) == 1 else cls(op="or", children=children)

    def to_element(self) -> etree._Element:
        el = etree.Element(self.op)
        if self.op in ("and", "or"):
            for child in self.children:
                el.append(child.to_element())
        else:
            _sub(el, "field", self.field)
            for v in self.values:
                _sub(el, "value", v)
        return el


# --- function factories -------------------------------------------------------------------------


def query(
    object_name: str,
    fields: Sequence[str],
    *,
    filter: Filter | None = None,
    order_by: Sequence[tuple[str, bool]] = (),
    page_size: int = MAX_QUERY_PAGE,
    offset: int = 0,
    show_private: bool = False,
    case_insensitive: bool = False,
    controlid: str | None = None,
) -> Function:
    """``query`` (2020 R1): ``order_by`` is ``[(field, ascending)]``; page size 1–2000."""
    if not fields:
        raise ValueError("query needs at least one field (returning all fields is not supported)")
    if not 1 <= page_size <= MAX_QUERY_PAGE:
        raise ValueError(f"query page size must be between 1 and {MAX_QUERY_PAGE}")
    el = etree.Element("query")
    _sub(el, "object", object_name)
    select = _sub(el, "select")
    for f in fields:
        _sub(select, "field", f)
    if filter is not None:
        _sub(el, "filter").append(filter.to_element())
    if order_by:
        orderby = _sub(el, "orderby")
        for name, ascending in order_by:
            order = _sub(orderby, "order")
            _sub(order, "field", name)
            _sub(order, "ascending" if ascending else "descending")
    if show_private or case_insensitive:
        options = _sub(el, "options")
        if case_insensitive:
            _sub(options, "caseinsensitive", "true")
        if show_private:
            _sub(options, "showprivate", "true")
    _sub(el, "pagesize", str(page_size))
    _sub(el, "offset", str(offset))
    return _function("query", el, controlid)


def read_by_query(
    object_name: str,
    fields: Sequence[str] | str = "*",
    *,
    query_text: str = "",
    page_size: int = MAX_READ_BY_QUERY_PAGE,
    controlid: str | None = None,
) -> Function:
    """``readByQuery`` (legacy): ``query_text`` is the SQL-like condition, empty for all."""
    if not 1 <= page_size <= MAX_READ_BY_QUERY_PAGE:
        raise ValueError(f"readByQuery page size must be between 1 and {MAX_READ_BY_QUERY_PAGE}")
    el = etree.Element("readByQuery")
    _sub(el, "object", object_name)
    _sub(el, "fields", fields if isinstance(fields, str) else ",".join(fields))
    _sub(el, "query", query_text)
    _sub(el, "pagesize", str(page_size))
    return _function("readByQuery", el, controlid)


def read_more(result_id: str, *, controlid: str | None = None) -> Function:
    """``readMore`` with the ``resultId`` of the originating ``readByQuery``."""
    el = etree.Element("readMore")
    _sub(el, "resultId", result_id)
    return _function("readMore", el, controlid)


def read(
    object_name: str,
    keys: Sequence[str],
    fields: Sequence[str] | str = "*",
    *,
    controlid: str | None = None,
) -> Function:
    """``read`` by record numbers (at most 100 keys)."""
    if len(keys) > MAX_READ_KEYS:
        raise ValueError(f"read takes at most {MAX_READ_KEYS} keys")
    el = etree.Element("read")
    _sub(el, "object", object_name)
    _sub(el, "keys", ",".join(keys))
    _sub(el, "fields", fields if isinstance(fields, str) else ",".join(fields))
    return _function("read", el, controlid)


def lookup(object_name: str, *, controlid: str | None = None) -> Function:
    """``lookup``: the object's fields (with ``ISCUSTOM``) and relationships."""
    el = etree.Element("lookup")
    _sub(el, "object", object_name)
    return _function("lookup", el, controlid)


def inspect(
    object_name: str = "*", *, detail: bool = False, controlid: str | None = None
) -> Function:
    """``inspect``: ``*`` lists every object; otherwise the object's fields."""
    el = etree.Element("inspect")
    if detail:
        el.set("detail", "1")
    _sub(el, "object", object_name)
    return _function("inspect", el, controlid)


def get_dimensions(*, controlid: str | None = None) -> Function:
    """``getDimensions``: standard and user-defined dimensions of the company."""
    return _function("getDimensions", etree.Element("getDimensions"), controlid)


def get_user_permissions(user_id: str, *, controlid: str | None = None) -> Function:
    """``getUserPermissions`` for a login ID (note the camel-case ``userId``)."""
    el = etree.Element("getUserPermissions")
    _sub(el, "userId", user_id)
    return _function("getUserPermissions", el, controlid)


def get_api_session(entity_id: str | None = None, *, controlid: str | None = None) -> Function:
    """``getAPISession``; ``entity_id`` asks for an entity-level session, ``""`` for top level."""
    el = etree.Element("getAPISession")
    if entity_id is not None:
        _sub(el, "locationid", entity_id)
    return _function("getAPISession", el, controlid)


def _function(name: str, el: etree._Element, controlid: str | None) -> Function:
    return Function(name, el, controlid) if controlid else Function(name, el)


# --- parsing ------------------------------------------------------------------------------------

_PARSER_OPTIONS: dict[str, bool] = {
    "resolve_entities": False,
    "no_network": True,
    "load_dtd": False,
    "dtd_validation": False,
    "huge_tree": False,
    "remove_comments": True,
    "remove_pis": True,
    "collect_ids": False,
}
# lxml releases the GIL while parsing only with a parser per thread (lxml FAQ, "threading").
_local = threading.local()


def _parser() -> etree.XMLParser:
    parser: etree.XMLParser | None = getattr(_local, "parser", None)
    if parser is None:
        parser = _local.parser = etree.XMLParser(**_PARSER_OPTIONS)
    return parser


def size_text(size: int) -> str:
    """A byte count as a person reads it: whole megabytes as ``64 MB``, anything else in bytes."""
    mb = 1024 * 1024
    return f"{size // mb} MB" if size >= mb and size % mb == 0 else f"{size:,} bytes"


def too_large(limit: int, size: int | None = None) -> ResponseTooLargeError:
    """The error for an answer over ``limit`` bytes (``size``: how large it was, when known)."""
    seen = f" ({size_text(size)})" if size is not None else ""
    return ResponseTooLargeError(
        f"Intacct's answer was larger than the {size_text(limit)} limit{seen}"
    )


def _parse_xml(body: bytes, max_bytes: int) -> etree._Element:
    if len(body) > max_bytes:
        raise too_large(max_bytes, len(body))
    # The gateway never sends a DTD; one in a response can only be hostile (XXE, entity bombs).
    if (b"<!DOCTYPE" in body or b"<!ENTITY" in body) and _declares_dtd(body):
        raise UnsafeDocumentError("Response carries a DTD or entity declaration; refused")
    try:
        root = etree.fromstring(body, parser=_parser())
    except etree.XMLSyntaxError as exc:
        raise ProtocolError(f"Response is not well-formed XML: {exc}") from None
    if root is None:
        raise ProtocolError("Response is empty")
    if root.getroottree().docinfo.doctype:  # a DTD the byte check missed (UTF-16, UTF-32)
        raise UnsafeDocumentError("Response carries a DTD or entity declaration; refused")
    return root


_MARKUP_START = re.compile(rb"<[!?]")
#: What ends each kind of markup a declaration could hide in.
_MARKUP_ENDS = ((b"<![CDATA[", b"]]>"), (b"<!--", b"-->"), (b"<?", b"?>"))


def _declares_dtd(body: bytes) -> bool:
    """Whether ``<!DOCTYPE`` or ``<!ENTITY`` appears outside CDATA sections, comments and
    processing instructions (a record's text may quote HTML such as
    ``<![CDATA[<!DOCTYPE html>…]]>``). One pass over the body (each section's end is found
    once); an unterminated section ends the scan, refusing if a declaration follows it (the
    parser would refuse such a document anyway)."""
    position = 0
    while (found := _MARKUP_START.search(body, position)) is not None:
        at = found.start()
        if body.startswith((b"<!DOCTYPE", b"<!ENTITY"), at):
            return True
        for opener, closer in _MARKUP_ENDS:
            if body.startswith(opener, at):
                end = body.find(closer, at + len(opener))
                if end < 0:
                    rest = body[at:]
                    return b"<!DOCTYPE" in rest or b"<!ENTITY" in rest
                position = end + len(closer)
                break
        else:
            position = at + 2
    return False


def _lname(el: etree._Element) -> str:
    tag = el.tag
    if not isinstance(tag, str):
        return ""
    if "}" in tag:
        tag = tag.rsplit("}", 1)[1]
    return tag.lower()


def _child(el: etree._Element | None, name: str) -> etree._Element | None:
    if el is None:
        return None
    for c in el:
        if _lname(c) == name:
            return c
    return None


def _children(el: etree._Element | None, name: str) -> list[etree._Element]:
    return [] if el is None else [c for c in el if _lname(c) == name]


def _text(el: etree._Element | None, name: str | None = None) -> str | None:
    target = _child(el, name) if name is not None else el
    if target is None:
        return None
    return (target.text or "").strip()


def _attr(el: etree._Element, name: str) -> str | None:
    for k, v in el.attrib.items():
        if str(k).lower() == name:
            return str(v)
    return None


def _int_attr(el: etree._Element, name: str) -> int | None:
    value = _attr(el, name)
    if value is None or value.strip() == "":
        return None
    try:
        return int(value)
    except ValueError:
        return None


def _errors(errormessage: etree._Element | None) -> list[ErrorDetail]:
    if errormessage is None:
        return []
    out = []
    for err in _children(errormessage, "error"):
        out.append(
            ErrorDetail(
                errorno=_text(err, "errorno") or "",
                description=_plain(_text(err, "description")),
                description2=_plain(_text(err, "description2")),
                correction=_plain(_text(err, "correction")),
            )
        )
    return out


_TAG_RE = re.compile(r"<[^>]+>")
# "[Support ID: p5rxS%7EYxEXr…]": the gateway URL-encodes the ID (a support request quotes it
# decoded, as FYLE shows it).
_SUPPORT_ID_RE = re.compile(r"(\[Support ID:\s*)([^\]]*)(\])", re.IGNORECASE)


def _plain(text: str | None) -> str:
    # Error texts sometimes carry HTML tags; the official SDKs strip them.
    plain = _TAG_RE.sub("", text or "").strip()
    if "%" in plain:
        plain = _SUPPORT_ID_RE.sub(
            lambda m: (
                m.group(1) + "".join(filter(str.isprintable, unquote(m.group(2)))) + m.group(3)
            ),
            plain,
        )
    return plain


def element_to_record(el: etree._Element) -> dict[str, str]:
    """A record element as ``{field: text}``; nested elements become dotted names
    (``DISPLAYCONTACT.EMAIL1``), empty elements empty strings."""
    record: dict[str, str] = {}
    for c in el:
        tag = c.tag
        if not isinstance(tag, str):
            continue
        if len(c):
            for k, v in element_to_record(c).items():
                record[f"{tag}.{k}"] = v
        else:
            record[tag] = c.text or ""
    return record


_HAS_NESTED_FIELDS = etree.XPath("boolean(*/*/*)")
_json_dumps = json.JSONEncoder(ensure_ascii=False, separators=(",", ":")).encode


def _records(data: etree._Element) -> list[dict[str, str]]:
    if not _HAS_NESTED_FIELDS(data):
        # Flat records (the usual case): one dict comprehension per record, no recursion.
        return [{c.tag: c.text or "" for c in r} for r in data]
    return [element_to_record(r) for r in data if isinstance(r.tag, str)]


@dataclass(frozen=True)
class Control:
    """The response's control block."""

    status: str
    senderid: str | None = None
    controlid: str | None = None
    uniqueid: str | None = None
    dtdversion: str | None = None


@dataclass(frozen=True)
class Authentication:
    """The operation's authentication block (``locationid`` is ``""`` at top level)."""

    status: str
    userid: str | None = None
    companyid: str | None = None
    locationid: str | None = None
    sessiontimestamp: str | None = None
    sessiontimeout: str | None = None


@dataclass
class Result:
    """One function's result.  ``records`` holds list data (dicts of field → text); ``data`` the
    raw payload element for function-specific readers in this package (never handed out)."""

    status: str
    function: str
    controlid: str
    errors: list[ErrorDetail] = field(default_factory=list)
    listtype: str | None = None
    count: int | None = None
    totalcount: int | None = None
    numremaining: int | None = None
    offset: int | None = None
    result_id: str | None = None
    key: str | None = None
    data: etree._Element | None = field(default=None, repr=False, compare=False)
    _records: list[dict[str, str]] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    @property
    def ok(self) -> bool:
        return self.status == "success"

    @property
    def is_list(self) -> bool:
        """Whether the payload is records (readByQuery, readMore, query, read …)."""
        return self.data is not None and _is_list_function(self.function)

    def values(self, field_name: str) -> list[str]:
        """One top-level field of every record, straight from the XML (cheaper than
        ``records`` when only one field is wanted, as in a key-only listing)."""
        if self.data is None:
            return []
        return [el.text or "" for el in self.data.iterfind(f"*/{field_name}")]

    @property
    def records(self) -> list[dict[str, str]]:
        """The records as dicts of field → text, built on first use."""
        if self._records is None:
            self._records = _records(self.data) if self.is_list and self.data is not None else []
        return self._records

    @property
    def record_count(self) -> int:
        """How many records the page holds, without building them."""
        if self._records is not None:
            return len(self._records)
        if not self.is_list or self.data is None:
            return 0
        # The hardened parser drops comments and processing instructions and resolves no
        # entities, so every child of <data> is a record element.
        return len(self.data)

    def json_lines(self) -> str:
        """The records as JSON lines (one object per record, ``\n``-terminated), written straight
        from the XML: the fast path for streaming output."""
        if self._records is not None or not self.is_list or self.data is None:
            return "".join(_json_dumps(r) + "\n" for r in self.records)
        if _HAS_NESTED_FIELDS(self.data):
            return "".join(_json_dumps(r) + "\n" for r in self.records)
        enc = encode_basestring
        return "".join(
            [
                "{" + ",".join([enc(c.tag) + ":" + enc(c.text or "") for c in r]) + "}\n"
                for r in self.data
            ]
        )

    def error(self) -> GatewayError | None:
        """The classified error of a failed or aborted result, else ``None``."""
        if self.ok:
            return None
        return classify(
            self.errors,
            level="result",
            function=self.function,
            controlid=self.controlid,
            status=self.status,
        )

    def raise_for_status(self) -> Result:
        err = self.error()
        if err is not None:
            raise err
        return self


@dataclass
class Response:
    """A parsed gateway response.  Nothing here raises until :meth:`raise_for_status`."""

    http_status: int
    control: Control
    errors: list[ErrorDetail]
    authentication: Authentication | None
    auth_errors: list[ErrorDetail]
    results: list[Result]
    has_operation: bool

    @property
    def level(self) -> str | None:
        """Where the request failed: ``control``, ``authentication``, ``result`` or ``None``."""
        if self.control.status != "success":
            return "control"
        if self.authentication is not None and self.authentication.status != "success":
            return "authentication"
        if any(not r.ok for r in self.results):
            return "result"
        return None

    def raise_for_status(self, *, entity_given: bool = False) -> Response:
        """Raise for a failed control or authentication (nothing ran), or a missing block.

        Result failures are not raised here: each :class:`Result` decides for its own function.
        """
        if self.control.status != "success":
            raise classify(self.errors, level="control", http_status=self.http_status)
        if not self.has_operation or self.authentication is None:
            raise ProtocolError("Operation or authentication block is missing from the response")
        if self.authentication.status != "success":
            raise classify(
                self.auth_errors,
                level="authentication",
                http_status=self.http_status,
                entity_given=entity_given,
            )
        if not self.results:
            raise ProtocolError("Result block is missing from operation element")
        return self

    def result_for(self, controlid: str) -> Result:
        """The result whose ``controlid`` echoes the function's."""
        for r in self.results:
            if r.controlid == controlid:
                return r
        raise ProtocolError(f"No result for function controlid {controlid!r}")


def parse_response(
    body: bytes, *, http_status: int = 200, max_bytes: int = MAX_RESPONSE_BYTES
) -> Response:
    """Parse a gateway response document (hardened: no DTD, no entities, no network, size cap).

    Raises :class:`ProtocolError` when the body is not a trustworthy ``<response>`` with a
    ``<control>`` holding a ``<status>``.
    """
    root = _parse_xml(body, max_bytes)
    if _lname(root) != "response":
        raise ProtocolError(f"Expected a <response> document, got <{_lname(root)}>")
    control_el = _child(root, "control")
    status = _text(control_el, "status")
    if control_el is None or not status:
        raise ProtocolError("Response has no control status")
    control = Control(
        status=status,
        senderid=_text(control_el, "senderid"),
        controlid=_text(control_el, "controlid"),
        uniqueid=_text(control_el, "uniqueid"),
        dtdversion=_text(control_el, "dtdversion"),
    )
    errors = _errors(_child(root, "errormessage"))
    operation = _child(root, "operation")
    auth: Authentication | None = None
    auth_errors: list[ErrorDetail] = []
    results: list[Result] = []
    if operation is not None:
        auth_el = _child(operation, "authentication")
        if auth_el is not None:
            auth = Authentication(
                status=_text(auth_el, "status") or "",
                userid=_text(auth_el, "userid"),
                companyid=_text(auth_el, "companyid"),
                locationid=_text(auth_el, "locationid"),
                sessiontimestamp=_text(auth_el, "sessiontimestamp"),
                sessiontimeout=_text(auth_el, "sessiontimeout"),
            )
        auth_errors = _errors(_child(operation, "errormessage"))
        results = [_parse_result(r) for r in _children(operation, "result")]
    return Response(
        http_status=http_status,
        control=control,
        errors=errors,
        authentication=auth,
        auth_errors=auth_errors,
        results=results,
        has_operation=operation is not None,
    )


def _parse_result(el: etree._Element) -> Result:
    status = _text(el, "status")
    function = _text(el, "function")
    controlid = _text(el, "controlid")
    if not status or function is None or controlid is None:
        raise ProtocolError("Result needs status, function and controlid")
    result = Result(
        status=status,
        function=function,
        controlid=controlid,
        errors=_errors(_child(el, "errormessage")),
        key=_text(el, "key"),
    )
    legacy_listtype = _child(el, "listtype")
    if legacy_listtype is not None:
        result.listtype = (legacy_listtype.text or "").strip()
        result.totalcount = _int_attr(legacy_listtype, "total")
    data = _child(el, "data")
    if data is not None:
        result.data = data
        result.listtype = _attr(data, "listtype") or result.listtype
        result.count = _int_attr(data, "count")
        result.totalcount = _int_attr(data, "totalcount")
        if result.totalcount is None and legacy_listtype is not None:
            result.totalcount = _int_attr(legacy_listtype, "total")
        result.numremaining = _int_attr(data, "numremaining")
        result.offset = _int_attr(data, "offset")
        result.result_id = _attr(data, "resultid") or None
    return result


def _is_list_function(function: str) -> bool:
    return function in ("readByQuery", "readMore", "query", "read", "readByName", "get_list")


# --- function-specific readers (raw XML stays here) --------------------------------------------


@dataclass(frozen=True)
class ApiSession:
    """``getAPISession``'s answer."""

    session_id: str = field(repr=False)
    endpoint: str
    location_id: str


def api_session_of(result: Result) -> ApiSession:
    """Read ``data/api/{sessionid, endpoint, locationid}``."""
    api = _child(result.data, "api")
    session_id = _text(api, "sessionid")
    endpoint = _text(api, "endpoint")
    if not session_id or not endpoint:
        raise ProtocolError("getAPISession result has no sessionid or endpoint")
    return ApiSession(session_id, endpoint, _text(api, "locationid") or "")


@dataclass(frozen=True)
class Dimension:
    """One entry of ``getDimensions``."""

    object_name: str
    object_label: str
    term_label: str
    user_defined: bool
    enabled_in_gl: bool


def dimensions_of(result: Result) -> list[Dimension]:
    """Read ``data/dimensions/dimension``."""
    out = []
    for d in _children(_child(result.data, "dimensions"), "dimension"):
        out.append(
            Dimension(
                object_name=_text(d, "objectname") or "",
                object_label=_text(d, "objectlabel") or "",
                term_label=_text(d, "termlabel") or "",
                user_defined=(_text(d, "userdefineddimension") or "").lower() == "true",
                enabled_in_gl=(_text(d, "enabledingl") or "").lower() == "true",
            )
        )
    return out


@dataclass(frozen=True)
class Policy:
    """One ``getUserPermissions`` policy of an application subscription."""

    application: str
    name: str
    rights: tuple[str, ...]


def policies_of(result: Result) -> list[Policy]:
    """Read ``data/permissions/appSubscription/policies/policy`` (names kept as sent)."""
    out = []
    perms = _child(result.data, "permissions")
    for app in _children(perms, "appsubscription"):
        app_name = (_text(app, "applicationname") or "").strip()
        for pol in _children(_child(app, "policies"), "policy"):
            rights = tuple(r.strip() for r in (_text(pol, "rights") or "").split("|") if r.strip())
            out.append(Policy(app_name, (_text(pol, "policyname") or "").strip(), rights))
    return out


@dataclass(frozen=True)
class FieldInfo:
    """One ``lookup`` field."""

    id: str
    label: str
    datatype: str
    #: ``ISCUSTOM``: ``None`` when the field does not say.
    is_custom: bool | None
    description: str = ""


def _flag(text: str | None) -> bool | None:
    value = (text or "").strip().lower()
    return None if not value else value == "true"


def lookup_fields_of(result: Result) -> list[FieldInfo]:
    """Read ``data/Type/Fields/Field`` of a ``lookup`` result."""
    out = []
    for type_el in _children(result.data, "type"):
        for f in _children(_child(type_el, "fields"), "field"):
            out.append(
                FieldInfo(
                    id=_text(f, "id") or "",
                    label=_text(f, "label") or "",
                    datatype=_text(f, "datatype") or "",
                    is_custom=_flag(_text(f, "iscustom")),
                    description=_text(f, "description") or "",
                )
            )
    return out


def inspect_types_of(result: Result) -> list[tuple[str, str]]:
    """Read ``inspect *``: ``[(typename, label)]``."""
    out = []
    for t in _children(result.data, "type"):
        name = _attr(t, "typename") or _attr(t, "name") or ""
        out.append((name, (t.text or "").strip()))
    return out


def to_plain(result: Result) -> dict[str, Any]:
    """A result as plain JSON-able data (the ``explain`` command's shape)."""
    return {
        "function": result.function,
        "controlid": result.controlid,
        "status": result.status,
        "listtype": result.listtype,
        "count": result.count,
        "totalcount": result.totalcount,
        "numremaining": result.numremaining,
        "result_id": result.result_id,
        "records": result.record_count,
        "errors": [e.as_dict() for e in result.errors],
    }
