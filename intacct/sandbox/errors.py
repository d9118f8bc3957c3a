"""Every error the emulated gateway answers with: number, texts, and the level it sits at.

Levels: ``control`` = top-level ``errormessage`` after a failed control block,
``authentication`` = ``operation/errormessage`` after a failed authentication, ``result`` = inside a
function's ``result``.  Texts marked *unverified* were not confirmed by any capture; they are named
here so tests and the product can refer to them.
"""

from __future__ import annotations

import random
import string
from dataclasses import dataclass, replace

__all__ = [
    "WireError",
    "bad_entity",
    "demo_expired",
    "fields_cannot_be_queried",
    "generic_processing_error",
    "get_api_session_failed",
    "invalid_fields",
    "invalid_request",
    "invalid_session",
    "login_failed",
    "login_failed_401",
    "module_not_subscribed",
    "no_permission",
    "no_subscription",
    "partner_rejected",
    "query_failed",
    "rate_limited",
    "read_more_failed",
    "sender_not_authorized",
    "service_offline",
    "transaction_rolled_back",
    "unknown_object",
    "unknown_object_query",
    "unknown_user",
    "unsupported_function",
    "with_support_id",
    "xml_parse_error",
]


@dataclass(frozen=True)
class WireError:
    """One ``error`` element the sandbox writes into its answer (not an exception: the client's
    exceptions are :mod:`intacct.errors`).  ``short`` errors (gateway-level: GW-nnnn, XMLGW_JPP0002,
    invalidRequest) carry only ``errorno`` and ``description``."""

    errorno: str
    description: str = ""
    description2: str = ""
    correction: str = ""
    short: bool = False


def _support_id(rng: random.Random) -> str:
    alphabet = string.ascii_letters + string.digits
    head = "".join(rng.choice(alphabet) for _ in range(5))
    tail = "".join(rng.choice(alphabet + "-_") for _ in range(22))
    return f"{head}EBXMLGW{rng.randrange(10**8, 10**9)}-AG%7E{tail}"


def with_support_id(error: WireError, rng: random.Random) -> WireError:
    """The error with `` [Support ID: …]`` appended to ``description2``, as real answers carry
    (the ID is URL-encoded: ``~`` arrives as ``%7E``)."""
    return replace(error, description2=f"{error.description2} [Support ID: {_support_id(rng)}]")


# --- control level -----------------------------------------------------------------------------


def xml_parse_error(detail: str) -> WireError:
    """C-level XL03000003: the request is not well-formed or not a valid request document."""
    return WireError("XL03000003", "", f"XML Parse schema error: {detail}")


def partner_rejected() -> WireError:
    """C-level XL03000006: wrong sender ID or sender password."""
    return WireError("XL03000006", "", "Incorrect Intacct XML Partner ID or password.")


def invalid_request() -> WireError:
    """C-level ``invalidRequest`` (HTTP 400): the company ID is unknown."""
    return WireError("invalidRequest", "Invalid Request", short=True)


def login_failed_401() -> WireError:
    """C-level XMLGW_JPP0002 (HTTP 401): the current gateway's answer to wrong user credentials."""
    return WireError(
        "XMLGW_JPP0002", "Sign-in information is incorrect. Please check your request.", short=True
    )


def rate_limited() -> WireError:
    """C-level GW-0010 (HTTP 429): over the company's rate or concurrency limit."""
    return WireError("GW-0010", "API rate limit exceeded", short=True)


def demo_expired() -> WireError:
    """C-level PL04000055: the company is an expired demo company."""
    return WireError("PL04000055", "", "This company is a demo company and has expired.")


# --- authentication level ----------------------------------------------------------------------


def login_failed() -> WireError:
    """A-level XL03000006: wrong user ID, password or company (classic answer)."""
    return WireError("XL03000006", "", "Sign-in information is incorrect")


def sender_not_authorized(sender_id: str, company_id: str) -> WireError:
    """A-level XL03000006: the sender ID is missing from the company's Web Services
    authorizations."""
    return WireError(
        "XL03000006",
        "Invalid Web Services Authorization",
        f"The sender ID '{sender_id}' is not authorized to make Web Services requests to "
        f"company ID '{company_id}'.",
        "Contact the company administrator to grant Web Services authorization to this sender ID.",
    )


def no_subscription() -> WireError:
    """The company has no Web Services subscription, at the authentication level (a level no
    capture confirms)."""
    return WireError(
        "XL03000006",
        "",
        "This company is not authorized for XML transactions. Please subscribe to the XML Gateway.",
    )


#: Unverified: the second text of a login naming an entity the user cannot use.
BAD_ENTITY_DESCRIPTION2 = "Invalid entity ID '{entity}' for company '{company}'."


def bad_entity(entity: str, company_id: str) -> WireError:
    """A login naming an entity (``locationid``) that does not exist or is not allowed
    (texts unverified).  A login gets it at the authentication level, a level no capture
    confirms either."""
    return WireError(
        "XL03000006",
        "Sign-in information is incorrect",
        BAD_ENTITY_DESCRIPTION2.format(entity=entity, company=company_id),
    )


def invalid_session() -> WireError:
    """A-level XL03000006: unknown or expired session id."""
    return WireError("XL03000006", "", "Invalid session")


# --- result level ------------------------------------------------------------------------------


def no_permission(operation: str, object_name: str) -> WireError:
    """R-level PL04000005: the user's role lacks the object.

    ``operation`` is ``READ_BY_QUERY`` (readByQuery, object named in lower case, as captured),
    ``QUERY`` (query) or ``READ`` (read), with the object as the request named it.
    """
    return WireError(
        "PL04000005",
        "",
        f"You do not have permission for API operation {operation} on objects of type "
        f"{object_name}",
    )


#: Unverified: the errorno of an object whose application the company does not subscribe to.
MODULE_NOT_SUBSCRIBED_ERRORNO = "BL01001973"


def module_not_subscribed(operation: str, object_name: str) -> WireError:
    """R-level: the object belongs to an application the company does not subscribe to
    (errorno :data:`MODULE_NOT_SUBSCRIBED_ERRORNO`, unverified; text as third-party clients
    match it)."""
    return WireError(
        MODULE_NOT_SUBSCRIBED_ERRORNO,
        "",
        f"API operation '{operation}' cannot be performed on objects of type {object_name}",
    )


def unknown_object(object_name: str) -> WireError:
    """R-level ``Query Failed``: no object of that name (readByQuery, read, lookup, inspect)."""
    return WireError("Query Failed", "", f"Object definition {object_name} not found")


def unknown_object_query(object_name: str) -> WireError:
    """R-level: no object of that name, as a 2025 production capture of ``query`` shows it
    (XL03000009 with "There was an error processing the function")."""
    return WireError(
        "XL03000009",
        "There was an error processing the function",
        f"Object definition {object_name} not found",
    )


def invalid_fields(names: list[str]) -> WireError:
    """R-level: a field in ``fields``/``select`` does not exist (the message is the errorno)."""
    return WireError(f"Invalid fields list {','.join(names)}")


def fields_cannot_be_queried(object_name: str, names: list[str]) -> WireError:
    """R-level XL03000006 of ``query``: fields this company does not have, in the shape public
    captures show (the object lower-case, the fields as sent; several objects may be listed)."""
    return WireError(
        "XL03000006",
        "",
        "The following fields cannot be queried: [\n"
        f"        {object_name.lower()}: [{', '.join(names)}] ]",
    )


def query_failed(detail: str) -> WireError:
    """R-level ``Query Failed`` for a malformed query or filter (texts unverified)."""
    return WireError("Query Failed", "", detail)


def read_more_failed(result_id: str) -> WireError:
    """R-level: ``readMore`` with an unknown, exhausted or expired resultId."""
    return WireError(
        "readMore failed",
        "",
        f"Attempt to readMore with an invalid or expired resultId: {result_id}",
    )


def unknown_user(user_id: str) -> WireError:
    """R-level BL03000025: ``getUserPermissions`` for a login ID that does not exist."""
    return WireError(
        "BL03000025",
        "",
        f"Login ID {user_id} does not exist.",
        "Provide a valid USER.LOGINID value.",
    )


def get_api_session_failed(detail: str) -> WireError:
    """R-level: ``getAPISession`` could not switch to the requested entity."""
    return WireError("Get API Session Failed", "", detail)


def generic_processing_error() -> WireError:
    """R-level DL02000001: the generic "error processing the request"."""
    return WireError("DL02000001", "Error", "There was an error processing the request.")


def unsupported_function(name: str) -> WireError:
    """R-level: a valid gateway function this emulator does not implement."""
    return WireError("DL02000001", "Error", f"The function {name} is not available here.")


def service_offline() -> WireError:
    """R-level: the service is down for a while (FYLE finds the words in a result's
    description2; the errorno is unverified)."""
    return WireError(
        "XL03000009", "", "The Service is Temporarily Off-line. Please try again later."
    )


def transaction_rolled_back() -> WireError:
    """R-level XL03000009 added to every result of a failed ``transaction="true"`` operation."""
    return WireError(
        "XL03000009",
        "",
        "The entire transaction in this operation has been rolled back due to an error.",
    )
