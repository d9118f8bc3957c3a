"""A client library for the Sage Intacct XML Web Services gateway.

It knows nothing about Django.  Callers import from this package: every name in ``__all__`` is
public; the sandbox's well-known values are in :mod:`intacct.sandbox`.

Where things live:

- :mod:`intacct.client`: sessions, endpoint switching, concurrency, paging
  (``query_pages``, ``changed_pages``, ``read_by_query_pages``);
- :mod:`intacct.transport`: one deadline for a whole request, and the size cap enforced while the
  answer arrives;
- :mod:`intacct.limiter`: the company's concurrent-request limit, per process or in Redis;
- :mod:`intacct.retry`: the retry policy (what is retried, backoff, jitter, ``Retry-After``);
- :mod:`intacct.errors`: the exception tree, each error naming the guide step that fixes it;
- :mod:`intacct.audit`: the audit trail (AUDITHISTORY), what it says changed, what is unverified;
- :mod:`intacct.timestamps`: Intacct's date-time wire format, always UTC;
- :mod:`intacct.catalog` and :mod:`intacct.permissions`: the list objects and the guide's
  permission table, as data;
- :mod:`intacct.checks`: the connection guide's verification plan, and
  :mod:`intacct.probes`: the permission probes it sends;
- :mod:`intacct.protocol`: request envelopes and hardened response parsing (internal);
- :mod:`intacct.sandbox`: an emulator of the gateway for tests, demos and benchmarks;
- ``python -m intacct``: the command line (:mod:`intacct.__main__`).
"""

from .audit import (
    AUDIT_OBJECT,
    CHANGE_MODES,
    DELETE_MODES,
    AuditEvents,
    audit_denied,
    audit_query,
    classify_mode,
    key_filter,
)
from .catalog import (
    LIST_OBJECTS,
    ListObject,
    RequiredFieldsMissing,
    get_object,
    list_object,
    udd_object,
)
from .checks import (
    AUDIT_TRAIL_KEY,
    FAILED,
    GRANTED,
    MISSING,
    NOT_APPLICABLE,
    NOT_CHECKED,
    PASSED,
    SIGN_IN_CAUSES,
    SKIPPED,
    UNKNOWN_COMPANY,
    CustomFieldResult,
    GuideNames,
    OptionalPermission,
    PermissionResult,
    Report,
    StepResult,
    list_entities,
    remedy_for,
    verify,
)
from .client import (
    DEFAULT_ENDPOINT,
    MAX_FUNCTIONS_PER_REQUEST,
    Credentials,
    IntacctClient,
    Page,
    QuerySpec,
    RequestCount,
    counting_requests,
    validate_endpoint,
)
from .errors import (
    GUIDE_STEPS,
    STEP_TRANSIENT,
    AuthenticationError,
    CompanyExpiredError,
    ControlError,
    EndpointError,
    EntityError,
    ErrorDetail,
    GatewayError,
    IntacctError,
    InvalidFieldsError,
    NotApplicableError,
    NotSubscribedError,
    PermissionDeniedError,
    ProtocolError,
    RateLimitError,
    RequestRefusedError,
    RequestRejectedError,
    RequestTimeout,
    ResponseTooLargeError,
    ResultError,
    ResultIdExpiredError,
    SenderCredentialsError,
    SenderNotAuthorizedError,
    ServerError,
    ServiceUnavailableError,
    SessionExpiredError,
    SignInError,
    TransactionAbortedError,
    TransportError,
    UnknownCompanyError,
    UnknownObjectError,
    UnsafeDocumentError,
    UserNotActiveError,
)
from .limiter import (
    PROCESS_LIMITER,
    CompanyLimiter,
    LimiterTimeout,
    LocalLimiter,
    RedisLimiter,
    company_key,
)
from .permissions import PERMISSION_ROWS, UDD_ROW_KEY, PermissionRow, list_object_names, row_by_key
from .protocol import Filter, is_xml_text
from .timestamps import format_datetime, parse_datetime, parse_user_datetime

__all__ = [  # noqa: RUF022 - grouped by topic, as the docstring lists them
    # the client
    "DEFAULT_ENDPOINT",
    "Credentials",
    "Filter",
    "IntacctClient",
    "MAX_FUNCTIONS_PER_REQUEST",
    "Page",
    "QuerySpec",
    "RequestCount",
    "counting_requests",
    "is_xml_text",
    "validate_endpoint",
    # the company's request limit, shared
    "PROCESS_LIMITER",
    "CompanyLimiter",
    "LimiterTimeout",
    "LocalLimiter",
    "RedisLimiter",
    "company_key",
    # the audit trail
    "AUDIT_OBJECT",
    "CHANGE_MODES",
    "DELETE_MODES",
    "AuditEvents",
    "audit_denied",
    "audit_query",
    "classify_mode",
    "key_filter",
    # timestamps
    "format_datetime",
    "parse_datetime",
    "parse_user_datetime",
    # the catalog and the permission table
    "LIST_OBJECTS",
    "PERMISSION_ROWS",
    "UDD_ROW_KEY",
    "ListObject",
    "RequiredFieldsMissing",
    "PermissionRow",
    "get_object",
    "list_object",
    "list_object_names",
    "row_by_key",
    "udd_object",
    # the verification plan
    "AUDIT_TRAIL_KEY",
    "FAILED",
    "GRANTED",
    "MISSING",
    "NOT_APPLICABLE",
    "NOT_CHECKED",
    "PASSED",
    "SIGN_IN_CAUSES",
    "SKIPPED",
    "UNKNOWN_COMPANY",
    "CustomFieldResult",
    "GuideNames",
    "OptionalPermission",
    "PermissionResult",
    "Report",
    "StepResult",
    "list_entities",
    "remedy_for",
    "verify",
    # errors
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
    "RequestRefusedError",
    "UnknownCompanyError",
    "UnknownObjectError",
    "UnsafeDocumentError",
    "UserNotActiveError",
]
