"""A client library for the Sage Intacct XML Web Services gateway.

It knows nothing about Django.  The pieces:

- :mod:`intacct.protocol`: request envelopes and hardened response parsing;
- :mod:`intacct.errors`: the exception tree, each error naming the guide step that fixes it;
- :mod:`intacct.client`: sessions, endpoint switching, retries, concurrency, paging;
- :mod:`intacct.catalog` and :mod:`intacct.permissions`: the list objects and the guide's
  permission table, as data;
- :mod:`intacct.checks`: the connection guide's verification plan;
- :mod:`intacct.sandbox`: an emulator of the gateway for tests, demos and benchmarks.
"""

from .catalog import LIST_OBJECTS, ListObject, get_object, udd_object
from .checks import GuideNames, Report, list_entities, verify
from .client import DEFAULT_ENDPOINT, Credentials, IntacctClient, Page, validate_endpoint
from .errors import (
    GUIDE_STEPS,
    STEP_TRANSIENT,
    AuthenticationError,
    ControlError,
    ErrorDetail,
    GatewayError,
    IntacctError,
    PermissionDeniedError,
    ProtocolError,
    RateLimitError,
    ResultError,
    SessionExpiredError,
    TransportError,
)
from .permissions import PERMISSION_ROWS, PermissionRow
from .protocol import Filter

__all__ = [
    "DEFAULT_ENDPOINT",
    "GUIDE_STEPS",
    "LIST_OBJECTS",
    "PERMISSION_ROWS",
    "STEP_TRANSIENT",
    "AuthenticationError",
    "ControlError",
    "Credentials",
    "ErrorDetail",
    "Filter",
    "GatewayError",
    "GuideNames",
    "IntacctClient",
    "IntacctError",
    "ListObject",
    "Page",
    "PermissionDeniedError",
    "PermissionRow",
    "ProtocolError",
    "RateLimitError",
    "Report",
    "ResultError",
    "SessionExpiredError",
    "TransportError",
    "get_object",
    "list_entities",
    "udd_object",
    "validate_endpoint",
    "verify",
]
