"""Every way a call to the Intacct XML gateway can fail, as one exception tree.

::

    IntacctError                          .step: the guide step that fixes it (or None)
    ├── TransportError                    no usable answer: connection, TLS, non-XML HTTP error
    │   ├── RequestTimeout                the gateway did not answer in time
    │   └── ServerError                   HTTP 5xx without an XML body (.status_code)
    ├── ProtocolError                     unparseable, hostile or unexpected XML
    │   ├── ResponseTooLargeError         the answer was larger than the size cap
    │   └── UnsafeDocumentError           a DTD or entity declaration (XXE, entity bombs)
    ├── EndpointError                     an endpoint we refuse to send credentials to
    └── GatewayError                      the gateway answered with <errormessage> entries
        │                                 (.level, .errors, .http_status, .function, .controlid)
        ├── RateLimitError                HTTP 429 / GW-0010, at any level            → transient
        ├── ServiceUnavailableError       "The Service is Temporarily Off-line"       → transient
        ├── SessionExpiredError           "Invalid session"                           → transient
        ├── ControlError                  control failed: nothing ran
        │   ├── SenderCredentialsError    our Web Services sender ID/password wrong   → sender_config
        │   ├── RequestRejectedError      malformed request (XL03000003, GW-0011)
        │   └── CompanyExpiredError       demo company expired (PL04000055)           → ws_subscription
        ├── AuthenticationError           sign-in failed: no function ran
        │   ├── NotSubscribedError        Web Services subscription off               → ws_subscription
        │   ├── SenderNotAuthorizedError  Sender ID not in Web Services Authorizations → sender_authorization
        │   ├── SignInError               user ID / password / company ID wrong       → credentials
        │   │   ├── UnknownCompanyError   HTTP 400 invalidRequest                     → credentials
        │   │   └── UserNotActiveError    user locked out / inactive                  → ws_user
        │   └── EntityError               entity (location) ID not accepted           → entity
        └── ResultError                   one function failed; the others may have succeeded
            ├── PermissionDeniedError     PL04000005 "You do not have permission …"   → role_permissions
            ├── NotApplicableError        object or module not in this company
            │   └── UnknownObjectError    "Object definition X not found"
            ├── InvalidFieldsError        "Invalid fields list …"
            ├── ResultIdExpiredError      readMore with an expired resultId           → transient
            └── TransactionAbortedError   rolled back with the rest of its operation

A class says *what* went wrong; ``level`` says *where* the gateway put it (``"control"``,
``"authentication"``, ``"result"``; ``"http"`` for non-XML answers).  XL03000006 alone means four
different things, so :func:`classify` decides by level **and** text, tolerating several wordings:
where no capture confirms a wording (marked *unverified*), the matching is deliberately broad.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

__all__ = [
    "GUIDE_STEPS",
    "STEP_TRANSIENT",
    "AuthenticationError",
    "CompanyExpiredError",
    "ControlError",
    "EndpointError",
    "EntityError",
    "ErrorDetail",
    "GatewayError",
    "IntacctError",
    "InvalidFieldsError",
    "NotApplicableError",
    "NotSubscribedError",
    "PermissionDeniedError",
    "ProtocolError",
    "RateLimitError",
    "RequestRefusedError",
    "RequestRejectedError",
    "RequestTimeout",
    "ResponseTooLargeError",
    "ResultError",
    "ResultIdExpiredError",
    "SenderCredentialsError",
    "SenderNotAuthorizedError",
    "ServerError",
    "ServiceUnavailableError",
    "SessionExpiredError",
    "SignInError",
    "TransactionAbortedError",
    "TransportError",
    "UnknownCompanyError",
    "UnknownObjectError",
    "UnsafeDocumentError",
    "UserNotActiveError",
    "classify",
    "unqueryable_fields",
]

#: Guide step keys, in guide order.  ``sender_config`` is ours (our sender credentials).
GUIDE_STEPS: tuple[str, ...] = (
    "sender_config",
    "ws_subscription",
    "ws_user",
    "role_permissions",
    "role_assignment",
    "sender_authorization",
    "custom_field",
    "credentials",
    "entity",
)
#: The step key of conditions that go away by themselves: retry later.
STEP_TRANSIENT = "transient"


@dataclass(frozen=True)
class ErrorDetail:
    """One ``<error>`` of an ``<errormessage>``, exactly as the gateway sent it."""

    errorno: str
    description: str = ""
    description2: str = ""
    correction: str = ""

    def text(self) -> str:
        """The non-empty parts joined by a space, as the official SDKs flatten an error."""
        return " ".join(
            p for p in (self.errorno, self.description, self.description2, self.correction) if p
        )

    def as_dict(self) -> dict[str, str | None]:
        return {
            "errorno": self.errorno or None,
            "description": self.description or None,
            "description2": self.description2 or None,
            "correction": self.correction or None,
        }


class IntacctError(Exception):
    """Base of every error this library raises.  ``step`` names the guide step that fixes it."""

    step: str | None = None
    #: Whether retrying the same request later may succeed.
    transient: bool = False

    def __init__(self, message: str = "") -> None:
        super().__init__(message or self.__class__.__doc__ or self.__class__.__name__)
        self.message = message or (self.__class__.__doc__ or "").strip()


class TransportError(IntacctError):
    """No usable answer from the gateway (connection refused, reset, TLS, non-XML HTTP error)."""

    step: str | None = STEP_TRANSIENT
    transient = True
    level = "http"

    def __init__(self, message: str, *, status_code: int | None = None) -> None:
        super().__init__(message)
        self.status_code = status_code


class RequestTimeout(TransportError):
    """The gateway did not answer within the timeout."""


class RequestRefusedError(TransportError):
    """HTTP 4xx without a gateway document (a proxy's, a firewall's or the gateway's refusal of
    the request itself): no verdict on the customer's setup (later may differ), but never
    retried at once, as the official SDKs retry no 4xx."""


class ServerError(TransportError):
    """HTTP 5xx without an XML body.  524 means the request may still complete: never retry a
    write on it."""


class ProtocolError(IntacctError):
    """The answer is not a gateway response we can trust: unparseable, hostile (DTD, entities),
    too large, or missing a required element."""


class ResponseTooLargeError(ProtocolError):
    """The answer was larger than the client's size cap (``max_response_bytes``, counted after
    decompression); it was not read past the cap."""


class UnsafeDocumentError(ProtocolError):
    """The answer carries a DTD or an entity declaration, which the gateway never sends: an
    external entity (XXE) or an entity-expansion bomb.  Refused unparsed."""


class EndpointError(IntacctError):
    """An endpoint we will not send credentials to (host not under ``.intacct.com`` and not
    explicitly allowed)."""


class GatewayError(IntacctError):
    """The gateway answered with one or more ``<error>`` entries.

    ``errors`` keeps every entry; ``level`` is where they sat (``control``, ``authentication`` or
    ``result``); ``function``/``controlid`` identify the failed function for result-level errors.
    """

    def __init__(
        self,
        errors: Sequence[ErrorDetail],
        *,
        level: str,
        http_status: int | None = None,
        function: str | None = None,
        controlid: str | None = None,
    ) -> None:
        self.errors: tuple[ErrorDetail, ...] = tuple(errors)
        self.level = level
        self.http_status = http_status
        self.function = function
        self.controlid = controlid
        summary = "; ".join(e.text() for e in self.errors) or "no error detail"
        where = f" in {function}" if function else ""
        super().__init__(f"{level}-level failure{where}: {summary}")

    @property
    def errorno(self) -> str | None:
        """The first error number (the one a person quotes), or ``None``."""
        return self.errors[0].errorno if self.errors else None

    @property
    def description(self) -> str:
        """All texts of all entries, for display."""
        return " ".join(
            p for e in self.errors for p in (e.description, e.description2, e.correction) if p
        )


class RateLimitError(GatewayError):
    """Too many requests for the company's tier (HTTP 429 / GW-0010).  Back off and retry."""

    step = STEP_TRANSIENT
    transient = True
    #: Seconds the gateway asked us to wait (``Retry-After``), when it said.
    retry_after: float | None = None


class ServiceUnavailableError(GatewayError):
    """Intacct says the service is temporarily off-line.  Retry later."""

    step = STEP_TRANSIENT
    transient = True


class SessionExpiredError(GatewayError):
    """The session id is no longer valid.  Log in again (the client does so once)."""

    step = STEP_TRANSIENT
    transient = True


class ControlError(GatewayError):
    """The request's control block failed: nothing ran."""


class SenderCredentialsError(ControlError):
    """Our own Web Services sender ID or sender password was refused.  Ours to fix, not the
    customer's."""

    step = "sender_config"


class RequestRejectedError(ControlError):
    """The gateway could not accept the request document (malformed XML, invalid request)."""


class CompanyExpiredError(ControlError):
    """The Intacct company is a demo company that has expired."""

    step = "ws_subscription"


class AuthenticationError(GatewayError):
    """Sign-in failed: no function ran."""

    step = "credentials"


class NotSubscribedError(AuthenticationError):
    """The company is not subscribed to Web Services (Company → Subscriptions)."""

    step = "ws_subscription"


class SenderNotAuthorizedError(AuthenticationError):
    """Our Sender ID is not in the company's Web Services Authorizations list."""

    step = "sender_authorization"


class SignInError(AuthenticationError):
    """Company ID, user ID or password not accepted."""

    step = "credentials"


class UnknownCompanyError(SignInError):
    """The gateway does not know the company ID (HTTP 400 ``invalidRequest``)."""


class UserNotActiveError(SignInError):
    """The web services user is locked out, inactive or not allowed to sign in."""

    step = "ws_user"


class EntityError(AuthenticationError):
    """The entity (location) ID was not accepted for this company and user."""

    step = "entity"


class ResultError(GatewayError):
    """One function failed; the other functions of the same request may have succeeded."""


class PermissionDeniedError(ResultError):
    """The user's role lacks the permission for this object and operation."""

    step = "role_permissions"


class NotApplicableError(ResultError):
    """The object or its module is not available in this company (not subscribed)."""


class UnknownObjectError(NotApplicableError):
    """The gateway has no definition of this object."""


class InvalidFieldsError(ResultError):
    """A requested field does not exist on the object, or this company cannot query it
    ("The following fields cannot be queried", XL03000006 of ``query``).

    :attr:`fields` says which, by object: ``{"employee": ("PERSONALINFO.CONTACTNAME",)}``;
    the key ``""`` holds fields the message names without an object (``Invalid fields list``).
    """

    @property
    def fields(self) -> dict[str, tuple[str, ...]]:
        return unqueryable_fields(" ".join(e.text() for e in self.errors))

    def fields_of(self, object_name: str) -> tuple[str, ...]:
        """The fields named for ``object_name`` (case-insensitive), and those named without an
        object."""
        named = self.fields
        found: list[str] = []
        for key in (object_name.lower(), ""):
            found.extend(f for f in named.get(key, ()) if f not in found)
        return tuple(found)


class ResultIdExpiredError(ResultError):
    """``readMore`` was given an invalid or expired ``resultId``: start the read again (sending
    the same ``readMore`` again cannot help, so the client never does; later, a new read can)."""

    step = STEP_TRANSIENT
    transient = True


class TransactionAbortedError(ResultError):
    """Rolled back because another function of the same transaction failed."""


# --- classification -----------------------------------------------------------------------------
# Texts are matched lower-cased against every part of every entry.  Several wordings per case:
# the gateway's texts changed over the years and some are known only from documentation.

_RATE_LIMIT = ("rate limit", "too many requests", "concurrent request limit")
_OFFLINE = ("temporarily off-line", "temporarily offline", "service is unavailable")
_NOT_SUBSCRIBED = (
    "not authorized for xml transactions",
    "subscribe to the xml gateway",
    "not subscribed to web services",
    "subscribed to the web services",
    "web services application is not",
    "web services subscription",
)
_SENDER_CREDENTIALS = ("xml partner id", "partner id or password", "sender id or password")
_SENDER_NOT_AUTHORIZED = (
    "invalid web services authorization",
    "not authorized to make web services requests",
    "grant web services authorization",
    # Quoted (truncated) by a third-party connector's troubleshooting page: weak evidence.
    "not authorized to use web services",
)
_SESSION = ("invalid session", "session has expired", "session expired", "session is invalid")
_USER_NOT_ACTIVE = (
    "locked out",
    "lockedout",
    "user is inactive",
    "user is not active",
    "account is disabled",
    "user is disabled",
)
_ENTITY = ("entity", "location id", "locationid", "invalid location")
_ENTITY_STRONG = ("invalid entity", "entity id", "invalid location", "location id", "locationid")
_SIGN_IN = (
    "sign-in information is incorrect",
    "sign in information is incorrect",
    "invalid user",
    "invalid password",
    "login failed",
)
# A control-level failure is about the request or the sender, never the user's credentials (those
# fail at authentication level or as HTTP 401): a sender wording there is our configuration.
_SENDER_AT_CONTROL = ("sender id/password", "sender password", "sender id")
_DEMO_EXPIRED = ("demo company and has expired", "company has expired")
_PERMISSION = (
    "do not have permission",
    "not have permission for api",
    "permission denied",
    # Wordings a third-party connector expects per object from real companies (unverified).
    "not authorized to perform this action",
)
_NOT_APPLICABLE = (
    "cannot be performed on objects of type",
    "module is not subscribed",
    "not subscribed",
    "is not enabled for",
    "feature is disabled for your company",
)
_UNKNOWN_OBJECT = ("object definition", "not found")
# "Object type advaudithistory is not valid" (a third-party connector's expected outcome).
_UNKNOWN_OBJECT_TYPE = re.compile(r"object type \S+ is not valid")
_RESULT_ID = ("readmore", "invalid or expired resultid", "resultid")
# "cannot be queried" is captured (XL03000006 of query); the others are defensive.
_INVALID_FIELDS = (
    "invalid fields list",
    "cannot be queried",
    "can not be queried",
    "not queryable",
    "invalid field",
)


# "[ employee: [PERSONALINFO.CONTACTNAME] ]", "[ exchangerate: [FROM_CURRENCY, TO_CURRENCY] ]",
# "[ apbill: [A, B], apbillitem: [C] ]" (public captures; spacing and line breaks vary).
_OBJECT_FIELDS = re.compile(r"([A-Za-z_][\w.]*)\s*:\s*\[([^\[\]]*)\]")
# Wordings without an object (unverified: "Invalid fields list A,B" is the sandbox's, and an
# unbracketed list after "cannot be queried:" is accepted too).
_BARE_FIELDS = re.compile(
    r"(?:invalid fields? list|fields? cannot be queried|fields? can ?not be queried"
    r"|fields? (?:are|is) not queryable)\s*:?\s*([^\[\]]+?)\s*(?:$|\[support id)",
    re.IGNORECASE,
)
_FIELD = re.compile(r"[A-Za-z_][\w.]*")


def unqueryable_fields(text: str) -> dict[str, tuple[str, ...]]:
    """The fields an invalid- or unqueryable-fields message names, by lower-case object name
    (``""`` when the message names no object)."""
    found: dict[str, list[str]] = {}
    for obj, names in _OBJECT_FIELDS.findall(text):
        bucket = found.setdefault(obj.lower(), [])
        bucket.extend(f for f in _FIELD.findall(names) if f not in bucket)
    if not found:
        bare = _BARE_FIELDS.search(text)
        if bare is not None:
            found[""] = list(dict.fromkeys(_FIELD.findall(bare.group(1))))
    return {obj: tuple(names) for obj, names in found.items() if names}


def _has(text: str, needles: Iterable[str]) -> bool:
    return any(n in text for n in needles)


def classify(
    errors: Sequence[ErrorDetail],
    *,
    level: str,
    http_status: int | None = None,
    function: str | None = None,
    controlid: str | None = None,
    status: str | None = None,
    entity_given: bool = False,
) -> GatewayError:
    """Turn the gateway's error entries into the most specific :class:`GatewayError`.

    ``level`` is where the entries sat; ``status`` the result status (``aborted`` matters);
    ``entity_given`` whether the sign-in carried an entity (location) ID, which makes an
    entity-worded sign-in failure an :class:`EntityError`.
    """
    numbers = {e.errorno.strip().upper() for e in errors}
    text = " ".join(e.text() for e in errors).lower()

    def make(cls: type[GatewayError]) -> GatewayError:
        return cls(
            errors, level=level, http_status=http_status, function=function, controlid=controlid
        )

    # Conditions that mean "retry later", whatever level they arrive at.
    if http_status == 429 or "GW-0010" in numbers or _has(text, _RATE_LIMIT):
        return make(RateLimitError)
    if _has(text, _OFFLINE):
        return make(ServiceUnavailableError)
    if _has(text, _SESSION):
        return make(SessionExpiredError)
    if _has(text, _NOT_SUBSCRIBED):
        return make(NotSubscribedError)

    if level == "control":
        if "XL03000003" in numbers:  # a parse error may quote <password>: not a sign-in failure
            return make(RequestRejectedError)
        if _has(text, _SENDER_CREDENTIALS):
            return make(SenderCredentialsError)
        if "PL04000055" in numbers or _has(text, _DEMO_EXPIRED):
            return make(CompanyExpiredError)
        if "INVALIDREQUEST" in numbers:
            return make(UnknownCompanyError)
        if http_status == 401 or "XMLGW_JPP0002" in numbers or _has(text, _SIGN_IN):
            return make(SignInError)
        if _has(text, _SENDER_NOT_AUTHORIZED):
            return make(SenderNotAuthorizedError)
        if _has(text, _SENDER_AT_CONTROL):
            return make(SenderCredentialsError)
        return make(RequestRejectedError)

    if level == "authentication":
        if _has(text, _SENDER_NOT_AUTHORIZED) or ("sender id" in text and "not authorized" in text):
            return make(SenderNotAuthorizedError)
        if _has(text, _USER_NOT_ACTIVE):
            return make(UserNotActiveError)
        if _has(text, _ENTITY_STRONG) or (entity_given and _has(text, _ENTITY)):
            return make(EntityError)
        if _has(text, _DEMO_EXPIRED):
            return make(CompanyExpiredError)
        return make(SignInError)

    # result level
    # XL03000009 also numbers plain function failures ("There was an error processing the
    # function" around "Object definition X not found"): only a rollback text means aborted.
    if status == "aborted" or "rolled back" in text:
        return make(TransactionAbortedError)
    if "PL04000005" in numbers or _has(text, _PERMISSION):
        return make(PermissionDeniedError)
    if all(n in text for n in _UNKNOWN_OBJECT) or _UNKNOWN_OBJECT_TYPE.search(text):
        return make(UnknownObjectError)
    if _has(text, _NOT_APPLICABLE):
        return make(NotApplicableError)
    if _has(text, _INVALID_FIELDS):
        return make(InvalidFieldsError)
    if _has(text, _RESULT_ID) and ("expired" in text or "invalid" in text or "failed" in text):
        return make(ResultIdExpiredError)
    return make(ResultError)
