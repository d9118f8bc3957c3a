"""A client for the Sage Intacct XML gateway.

>>> creds = Credentials(sender_id="…", sender_password="…", company_id="acme",
...                     user_id="…", user_password="…")
>>> with IntacctClient(creds) as client:
...     for record in client.iter_records("VENDOR", ["RECORDNO", "VENDORID", "NAME"]):
...         ...

What it does for the caller:

- Sessions: the first call signs in with ``getAPISession`` (alone in its request, as the docs
  ask) from a helper thread while that call goes out with the login itself, so no caller waits
  a round trip for the sign-in; every request after the sign-in goes to the endpoint its answer
  named, with the session id.  The
  endpoint's host must end in ``.intacct.com`` unless ``allowed_hosts`` names it (the sandbox).
  "Invalid session" makes the client sign in again and resend (a few times at most).
- Retries: bounded, exponential backoff with jitter on transport errors, 5xx, 429/GW-0010 and
  "temporarily off-line"; a request holding a write is never retried after an ambiguous failure
  (timeout, HTTP 524), because it may have completed.  The policy is :mod:`intacct.retry`.
- Concurrency: every client of the same company in this process shares one limiter
  (``max_concurrency`` requests in flight; Intacct's default tier allows 2).
- Streaming: :meth:`IntacctClient.query_pages` (offset paging at 2,000) and
  :meth:`IntacctClient.read_by_query_pages` (readByQuery + readMore at 1,000) yield one page at a
  time and fetch the next page while the caller works on the current one;
  :meth:`IntacctClient.changed_pages` pages the records modified or created after a datetime.
- Hostile answers: ``timeout`` bounds each request as a whole (connect, send, and the answer to
  its last byte; a server dripping one byte a second is cut off), the body is read in chunks and
  refused once past ``max_response_bytes`` (counted after gzip/deflate decoding, so memory stays
  bounded), and :func:`protocol.parse_response` refuses DTDs and entities.  See
  :mod:`intacct.transport`.
- Logging: function names and control ids, never envelopes; passwords and session ids never.
"""

from __future__ import annotations

import contextlib
import contextvars
import logging
import threading
import time
import uuid
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from typing import NoReturn
from urllib.parse import urlsplit

import httpx

from . import protocol as p
from .errors import (
    EndpointError,
    IntacctError,
    ProtocolError,
    RateLimitError,
    RequestRefusedError,
    RequestTimeout,
    ServerError,
    ServiceUnavailableError,
    SessionExpiredError,
    SignInError,
    TransportError,
)
from .limiter import PROCESS_LIMITER, CompanyLimiter, LimiterTimeout, company_key
from .retry import RetryPolicy, retry_after_seconds
from .timestamps import format_datetime
from .transport import bound_by_deadline, deadline, read_body

#: Seconds every request to a company waits after a 429 that named no Retry-After.
DEFAULT_BACK_OFF = 1.0
#: How many times one request signs in again after "Invalid session" before giving up.
SESSION_RENEWALS = 3

__all__ = [
    "DEFAULT_ENDPOINT",
    "MAX_FUNCTIONS_PER_REQUEST",
    "Credentials",
    "IntacctClient",
    "Page",
    "QuerySpec",
    "is_intacct_endpoint",
    "validate_endpoint",
]

logger = logging.getLogger("intacct.client")

#: Where every integration's first call goes.
DEFAULT_ENDPOINT = "https://api.intacct.com/ia/xml/xmlgw.phtml"
INTACCT_DOMAIN = ".intacct.com"
USER_AGENT = "intacct-connect/0.1 (+python-httpx)"
_XML_TYPES = ("text/xml", "application/xml")


@dataclass(frozen=True)
class Credentials:
    """Everything needed to sign in.  Passwords never appear in ``repr``."""

    sender_id: str
    sender_password: str = field(repr=False)
    company_id: str
    user_id: str
    user_password: str = field(repr=False)
    entity_id: str | None = None

    def login(self, *, entity_id: str | bool | None = True) -> p.Login:
        """The login block; ``entity_id=False`` signs in at top level whatever was configured."""
        entity = self.entity_id if entity_id is True else (entity_id or None)
        return p.Login(self.user_id, self.company_id, self.user_password, entity)


@dataclass(frozen=True)
class QuerySpec:
    """One ``query`` whose first page :meth:`IntacctClient.first_pages` fetches in a batch."""

    object_name: str
    fields: tuple[str, ...]
    filter: p.Filter | None = None
    page_size: int = p.MAX_QUERY_PAGE
    show_private: bool = False
    order_by: tuple[tuple[str, bool], ...] = ()
    case_insensitive: bool = False

    @classmethod
    def changed(
        cls,
        object_name: str,
        fields: Sequence[str],
        since: datetime,
        *,
        modified_field: str = "WHENMODIFIED",
        created_field: str = "WHENCREATED",
        page_size: int = p.MAX_QUERY_PAGE,
        show_private: bool = False,
    ) -> QuerySpec:
        """The records modified or created after ``since`` (see :meth:`IntacctClient.changed_pages`)."""
        return cls(
            object_name,
            tuple(fields),
            changed_filter(since, modified_field, created_field),
            page_size,
            show_private,
        )

    def function(self, offset: int) -> p.Function:
        return p.query(
            self.object_name,
            self.fields,
            filter=self.filter,
            order_by=self.order_by,
            page_size=self.page_size,
            offset=offset,
            show_private=self.show_private,
            case_insensitive=self.case_insensitive,
        )

    def pages(self, client: IntacctClient, first: Page | None = None) -> Iterator[Page]:
        """Every page of this query (``first``: its first page, already fetched)."""
        return client.query_pages(
            self.object_name,
            self.fields,
            filter=self.filter,
            order_by=self.order_by,
            page_size=self.page_size,
            show_private=self.show_private,
            case_insensitive=self.case_insensitive,
            first=first,
        )


def changed_filter(since: datetime, modified_field: str, created_field: str) -> p.Filter:
    """``modified_field > since OR created_field > since`` (``since`` in UTC)."""
    after = format_datetime(since)
    return p.Filter.any(
        p.Filter.cond("greaterthan", modified_field, after),
        p.Filter.cond("greaterthan", created_field, after),
    )


#: Functions sent together by :meth:`IntacctClient.first_pages`. The gateway takes many functions
#: in one request's content; how many is not documented, so the batch stays modest.
MAX_FUNCTIONS_PER_REQUEST = 50


@dataclass
class Page:
    """One page of list data: ``records`` (dicts of field → text) are built on first use."""

    result: p.Result = field(repr=False)
    totalcount: int | None
    numremaining: int
    offset: int
    count: int

    @classmethod
    def of(cls, result: p.Result, offset: int) -> Page:
        count = result.record_count
        remaining = result.numremaining
        if remaining is None:
            # Not said (every capture says it): what ``totalcount`` leaves after this page.
            total = result.totalcount
            remaining = max(0, total - offset - count) if total is not None else 0
        return cls(result, result.totalcount, remaining, offset, count)

    @property
    def records(self) -> list[dict[str, str]]:
        return self.result.records

    def values(self, field_name: str) -> list[str]:
        """One field of every record (see ``Result.values``)."""
        return self.result.values(field_name)

    def json_lines(self) -> str:
        """The page as JSON lines, straight from the XML (see ``Result.json_lines``)."""
        return self.result.json_lines()


def validate_endpoint(url: str, allowed_hosts: Sequence[str] = ()) -> str:
    """Return ``url`` if we may send credentials there, else raise :class:`EndpointError`.

    Intacct hosts (``*.intacct.com``, trailing dot allowed) must use https; a host named in
    ``allowed_hosts`` (e.g. the local sandbox) may use http.
    """
    try:
        parts = urlsplit(url)
        host = (parts.hostname or "").lower()
        _ = parts.port  # out of range: ValueError
        httpx.URL(url)  # control characters, undecodable bytes: httpx would refuse to send
    except (ValueError, httpx.InvalidURL):
        raise EndpointError(f"Endpoint URL {url!r} is not a valid URL") from None
    if not host or parts.scheme not in ("http", "https"):
        raise EndpointError(f"Endpoint URL {url!r} is not a valid URL")
    if host in {h.lower().strip() for h in allowed_hosts if h.strip()}:
        return url
    if not is_intacct_endpoint(url):
        raise EndpointError("Endpoint URL is not a valid intacct.com domain name.")
    if parts.scheme != "https":
        raise EndpointError("Intacct endpoints must use https")
    return url


def is_intacct_endpoint(url: str) -> bool:
    """Whether ``url``'s host is Intacct's (``intacct.com`` or below it, trailing dot allowed)."""
    bare = (urlsplit(url).hostname or "").lower().rstrip(".")
    return bare == INTACCT_DOMAIN[1:] or bare.endswith(INTACCT_DOMAIN)


@dataclass
class RequestCount:
    """HTTP requests sent inside one :func:`counting_requests` block, and the functions they
    carried: each function is one billed API transaction in Intacct (a retried request is sent,
    and counted, again)."""

    requests: int = 0
    functions: int = 0


_request_counter: contextvars.ContextVar[RequestCount | None] = contextvars.ContextVar(
    "intacct_request_counter", default=None
)


@contextmanager
def counting_requests() -> Iterator[RequestCount]:
    """Count the requests this block sends, including those its pagers send from their helper
    threads, apart from other work sharing the same client in other threads (``round_trips``
    counts everything)."""
    count = RequestCount()
    token = _request_counter.set(count)
    try:
        yield count
    finally:
        _request_counter.reset(token)


class IntacctClient:
    """A connection to one Intacct company as one web services user.  Thread-safe.

    ``transport`` replaces the network (``httpx.WSGITransport`` around the sandbox, or a mock).
    ``sleep`` replaces ``time.sleep`` between retries (tests).  ``round_trips`` counts HTTP
    requests sent.
    """

    def __init__(
        self,
        credentials: Credentials,
        *,
        endpoint: str = DEFAULT_ENDPOINT,
        allowed_hosts: Sequence[str] = (),
        transport: httpx.BaseTransport | None = None,
        timeout: float = 120.0,
        max_retries: int = 4,
        backoff_initial: float = 0.5,
        backoff_max: float = 20.0,
        max_concurrency: int = 2,
        max_response_bytes: int = p.MAX_RESPONSE_BYTES,
        sleep: Callable[[float], None] = time.sleep,
        limiter: CompanyLimiter | None = None,
    ) -> None:
        self.credentials = credentials
        self.allowed_hosts = tuple(allowed_hosts)
        self.endpoint = validate_endpoint(endpoint, self.allowed_hosts)
        self.retry_policy = RetryPolicy(max_retries, backoff_initial, backoff_max)
        self.max_response_bytes = max_response_bytes
        #: Seconds for a whole request: connect, send and the answer to its last byte.
        self.timeout = timeout
        self.max_concurrency = max(1, max_concurrency)
        self._sleep = sleep
        # Every request takes one of the company's slots: this process's, or (a RedisLimiter)
        # every process's.
        self._limiter: CompanyLimiter = limiter if limiter is not None else PROCESS_LIMITER
        self._limit_key = company_key(self.endpoint, credentials.company_id)
        self._http = httpx.Client(
            transport=transport,
            timeout=httpx.Timeout(timeout, connect=min(timeout, 15.0)),
            headers={
                "Content-Type": "application/xml",
                "Accept-Encoding": "gzip, deflate",
                "User-Agent": USER_AGENT,
            },
            follow_redirects=False,
        )
        bound_by_deadline(self._http)
        self._session: p.ApiSession | None = None
        self._session_lock = threading.Lock()
        self._signer_lock = threading.Lock()
        self._signer: threading.Thread | None = None
        self._count_lock = threading.Lock()
        self.round_trips = 0
        #: Functions sent (API transactions, as Intacct bills them).
        self.functions_sent = 0

    # --- lifecycle ---------------------------------------------------------------------------

    def __enter__(self) -> IntacctClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Wait for a sign-in still under way (its request is counted and billed), then close."""
        self.wait_for_sign_in()
        self._http.close()

    def __repr__(self) -> str:
        c = self.credentials
        return f"<IntacctClient company={c.company_id!r} user={c.user_id!r} entity={c.entity_id!r}>"

    # --- sending -----------------------------------------------------------------------------

    def send(
        self,
        functions: Sequence[p.Function],
        *,
        login: p.Login | None = None,
        transaction: bool = False,
    ) -> p.Response:
        """Send ``functions`` in one request and return the parsed response.

        Without ``login`` the request uses the session (logging in first if needed, and once more
        on "Invalid session").  Control- and authentication-level failures raise; each result is
        left for the caller (:meth:`protocol.Result.raise_for_status`), except that a read whose
        result says to retry later (rate limit, "temporarily off-line") is sent again alone,
        after a pause, within the retry policy: the functions that succeeded are not sent (nor
        billed) twice.
        """
        response = self._send_request(functions, login=login, transaction=transaction)
        if transaction or not all(f.read_only for f in functions):
            return response
        by_id = {f.controlid: f for f in functions}

        def waiting() -> list[tuple[p.Result, IntacctError]]:
            return [
                (r, error)
                for r in response.results
                if (error := r.error()) is not None
                and isinstance(error, RETRIED_RESULT_ERRORS)
                and r.controlid in by_id
            ]

        tries = 0

        def resend_waiting() -> None:
            # The policy's first try is the answer already in; each retry sends the waiting
            # functions again, alone, and raises while some still wait.
            nonlocal tries
            tries += 1
            if tries > 1:
                try:
                    again = self._send_request(
                        [by_id[r.controlid] for r, _ in waiting()], login=login, transaction=False
                    )
                except IntacctError as exc:
                    # The results already in stay theirs; the waiting ones keep their error.
                    logger.warning("intacct retry of results failed: %s", type(exc).__name__)
                    return
                fresh = {r.controlid: r for r in again.results}
                response.results = [fresh.get(r.controlid, r) for r in response.results]
            still = waiting()
            if still:
                error = still[0][1]
                if isinstance(error, RateLimitError):
                    self._limiter.back_off(self._limit_key, DEFAULT_BACK_OFF)
                raise error

        retrying = self.retry_policy.retrying(
            read_only=True,
            sleep=self._sleep,
            before_sleep=lambda state: logger.warning(
                "intacct retry functions=%s attempt=%d error=%s (in the result)",
                ",".join(r.function for r, _ in waiting()),
                state.attempt_number,
                type(state.outcome.exception()).__name__ if state.outcome else "?",
            ),
        )
        # Out of retries, each waiting result keeps its error for its caller.
        with contextlib.suppress(*RETRIED_RESULT_ERRORS):
            retrying(resend_waiting)
        return response

    def _send_request(
        self, functions: Sequence[p.Function], *, login: p.Login | None, transaction: bool
    ) -> p.Response:
        """One request of ``functions`` (see :meth:`send`), signing in again on a lost session."""
        if login is not None:
            return self._send_once(functions, login, self.endpoint, transaction)
        session = self._session
        if session is None:
            # No session yet: sign in from a helper thread and meanwhile send this request with
            # the credentials themselves (any request may authenticate with a login), so the
            # sign-in's round trip is not one the caller waits for.
            self._sign_in_in_background()
            return self._send_once(functions, self.credentials.login(), self.endpoint, transaction)
        refused_fresh = False
        for renewal in range(SESSION_RENEWALS + 1):
            try:
                return self._send_once(
                    functions, p.SessionAuth(session.session_id), session.endpoint, transaction
                )
            except (SessionExpiredError, SignInError) as err:
                # Nothing ran (an authentication failure), so sending again is safe, writes too;
                # the new session may expire as well, so a few times, not once. The current
                # gateway may answer a session it no longer knows with HTTP 401 XMLGW_JPP0002,
                # its words for wrong credentials: signing in again tells which it was (wrong
                # credentials then fail the sign-in itself).
                if isinstance(err, SignInError):
                    if not _session_refused(err):
                        raise
                    if refused_fresh:
                        # A session just issued refused too: the gateway's doing, not the
                        # credentials' (they just signed in): no verdict on them.
                        raise SessionExpiredError(
                            err.errors, level=err.level, http_status=err.http_status
                        ) from err
                    refused_fresh = True
                if renewal == SESSION_RENEWALS:
                    raise
                logger.info("intacct session expired; signing in again")
                self._drop_session(session)
                session = self.session()
        raise AssertionError("unreachable")  # the loop returns or raises

    def call(self, function: p.Function) -> p.Result:
        """Send one function with the session and return its successful result (else raise)."""
        return self.send([function]).result_for(function.controlid).raise_for_status()

    def session(self) -> p.ApiSession:
        """The current API session, signing in with ``getAPISession`` when there is none."""
        with self._session_lock:
            if self._session is None:
                login = self.credentials.login()
                fn = p.get_api_session()
                response = self._send_once([fn], login, self.endpoint, False)
                session = p.api_session_of(response.result_for(fn.controlid).raise_for_status())
                validate_endpoint(session.endpoint, self.allowed_hosts)
                self._session = session
            return self._session

    def _sign_in_in_background(self) -> None:
        """Start a sign-in in a helper thread unless one is under way. Its request belongs to no
        caller's count (:func:`counting_requests`): it is the client's, as the session is."""
        with self._signer_lock:
            if self._signer is not None and self._signer.is_alive():
                return
            signer = threading.Thread(
                target=contextvars.Context().run,
                args=(self._sign_in_quietly,),
                name="intacct-sign-in",
                daemon=True,
            )
            self._signer = signer
        signer.start()

    def _sign_in_quietly(self) -> None:
        # The request sent meanwhile with the credentials meets the same failure and raises it
        # to its caller; here it is only noted (its type: never a message that could echo input).
        try:
            self.session()
        except Exception as exc:  # a helper thread has no caller to raise to
            logger.info("intacct sign-in failed in the background: %s", type(exc).__name__)

    def wait_for_sign_in(self, timeout: float | None = None) -> None:
        """Wait for a sign-in started in the background (counts are final afterwards)."""
        with self._signer_lock:
            signer = self._signer
        if signer is not None and signer is not threading.current_thread():
            signer.join(timeout)

    def _drop_session(self, stale: p.ApiSession) -> None:
        with self._session_lock:
            if self._session is stale:
                self._session = None

    def _send_once(
        self,
        functions: Sequence[p.Function],
        auth: p.Login | p.SessionAuth,
        url: str,
        transaction: bool,
    ) -> p.Response:
        body = p.build_request(
            sender_id=self.credentials.sender_id,
            sender_password=self.credentials.sender_password,
            auth=auth,
            functions=functions,
            control_id=str(uuid.uuid4()),
            transaction=transaction,
        )
        read_only = all(f.read_only for f in functions)
        names = ",".join(f.name for f in functions)
        controlids = ",".join(f.controlid for f in functions)
        retrying = self.retry_policy.retrying(
            read_only=read_only,
            sleep=self._sleep,
            before_sleep=lambda state: logger.warning(
                "intacct retry functions=%s controlids=%s attempt=%d error=%s",
                names,
                controlids,
                state.attempt_number,
                type(state.outcome.exception()).__name__ if state.outcome else "?",
            ),
        )
        response: p.Response = retrying(
            self._post, url, body, names, controlids, auth, len(functions)
        )
        return response

    def _post(
        self,
        url: str,
        body: bytes,
        names: str,
        controlids: str,
        auth: p.Login | p.SessionAuth,
        functions: int = 1,
    ) -> p.Response:
        try:
            return self._post_in_slot(url, body, names, controlids, auth, functions)
        except RateLimitError as err:
            # The company is over its limit: every request to it waits, not only this one.
            self._limiter.back_off(self._limit_key, err.retry_after or DEFAULT_BACK_OFF)
            raise

    def _post_http(
        self, url: str, body: bytes, names: str, functions: int
    ) -> tuple[httpx.Response, bytes]:
        """One POST of ``functions`` functions, inside one of the company's request slots: the
        answer and its decoded body, read within the timeout (for the whole request) and the
        size cap."""
        with self._limiter.slot(self._limit_key, self.max_concurrency):
            with self._count_lock:
                self.round_trips += 1
                self.functions_sent += functions
                counter = _request_counter.get()
                if counter is not None:
                    counter.requests += 1
                    counter.functions += functions
            try:
                with (
                    deadline(self.timeout),
                    self._http.stream("POST", url, content=body) as http,
                ):
                    return http, read_body(http, max_bytes=self.max_response_bytes)
            except httpx.TimeoutException:
                raise RequestTimeout(
                    f"Intacct did not answer within the {self.timeout:g} s timeout ({names})"
                ) from None
            except httpx.RemoteProtocolError as exc:
                # A Content-Length the body did not keep to, a connection closed mid-answer, or
                # no HTTP at all.
                raise TransportError(
                    f"Intacct's answer broke off or was not valid HTTP: {exc}"
                ) from None
            except httpx.HTTPError as exc:
                raise TransportError(f"Could not reach Intacct: {type(exc).__name__}") from None

    def _post_in_slot(
        self,
        url: str,
        body: bytes,
        names: str,
        controlids: str,
        auth: p.Login | p.SessionAuth,
        functions: int,
    ) -> p.Response:
        started = time.perf_counter()
        try:
            http, content = self._post_http(url, body, names, functions)
        except LimiterTimeout as exc:
            raise TransportError(f"Intacct's request limit stayed full: {exc}") from None
        elapsed = (time.perf_counter() - started) * 1000
        status = http.status_code
        content_type = http.headers.get("content-type", "").lower()
        logger.debug(
            "intacct POST functions=%s controlids=%s http=%d bytes=%d %.0fms",
            names,
            controlids,
            status,
            len(content),
            elapsed,
        )
        retry_after = retry_after_seconds(http.headers.get("retry-after"))
        # The official SDKs parse a 4xx/5xx answer as a gateway response when it is XML; anything
        # else (an HTML error page from a proxy or CDN) is an HTTP-level failure.
        start = content.lstrip(b"\xef\xbb\xbf \t\r\n")[:9]
        is_xml = content_type.startswith(_XML_TYPES) or start.startswith((b"<?xml", b"<response"))
        if status >= 400 and not is_xml:
            _raise_http(status, retry_after)
        try:
            response = p.parse_response(
                content, http_status=status, max_bytes=self.max_response_bytes
            )
        except ProtocolError as exc:
            if status >= 400:
                _raise_http(status, retry_after)
            if not is_xml:
                # Say what came instead (a proxy's HTML page, JSON), not how XML parsing failed
                # on it.
                raise ProtocolError(
                    f"Intacct answered {_kind_of(content_type, content)} (HTTP {status}), "
                    "not a gateway response"
                ) from None
            raise exc from None
        entity_given = isinstance(auth, p.Login) and bool(auth.entity_id)
        try:
            response.raise_for_status(entity_given=entity_given)
        except RateLimitError as err:
            err.retry_after = retry_after
            raise
        except IntacctError as err:
            logger.info(
                "intacct failure functions=%s controlids=%s level=%s errorno=%s",
                names,
                controlids,
                getattr(err, "level", None),
                getattr(err, "errorno", None),
            )
            raise
        return response

    # --- functions ---------------------------------------------------------------------------

    def query_pages(
        self,
        object_name: str,
        fields: Sequence[str],
        *,
        filter: p.Filter | None = None,
        order_by: Sequence[tuple[str, bool]] = (),
        page_size: int = p.MAX_QUERY_PAGE,
        show_private: bool = False,
        case_insensitive: bool = False,
        first: Page | None = None,
    ) -> Iterator[Page]:
        """Every page of a ``query``, in order, by offset (``first``: its first page, already
        fetched by :meth:`first_pages`).

        Up to ``max_concurrency`` pages are fetched ahead while the caller works on the current
        one.  Offset paging cannot see records inserted before the current offset while it runs;
        a sync detects those with a key listing afterwards.
        """

        def fetch(offset: int) -> Page:
            fn = p.query(
                object_name,
                fields,
                filter=filter,
                order_by=order_by,
                page_size=page_size,
                offset=offset,
                show_private=show_private,
                case_insensitive=case_insensitive,
            )
            return Page.of(self.call(fn), offset)

        yield from _offset_pages(fetch, self.max_concurrency, first=first)

    def changed_pages(
        self,
        object_name: str,
        fields: Sequence[str],
        since: datetime,
        *,
        modified_field: str = "WHENMODIFIED",
        created_field: str = "WHENCREATED",
        show_private: bool = False,
        page_size: int = p.MAX_QUERY_PAGE,
        first: Page | None = None,
    ) -> Iterator[Page]:
        """Every page of the records modified or created after ``since``, as :meth:`query_pages`.

        The filter is ``modified_field > since OR created_field > since``, with ``since`` in UTC
        (a naive value is taken as UTC).  A record whose timestamps are empty is not seen.
        """
        changed = changed_filter(since, modified_field, created_field)
        yield from self.query_pages(
            object_name,
            fields,
            filter=changed,
            page_size=page_size,
            show_private=show_private,
            first=first,
        )

    def first_pages(self, specs: Sequence[QuerySpec]) -> list[Page | IntacctError]:
        """The first page of each query, sent :data:`MAX_FUNCTIONS_PER_REQUEST` functions to a
        request (one round trip for a whole partial sync of small lists); a query the gateway
        refused is its error, in its place. A request-level failure raises."""
        return self.pages_at([(spec, 0) for spec in specs])

    def pages_at(self, wanted: Sequence[tuple[QuerySpec, int]]) -> list[Page | IntacctError]:
        """The page at each offset of each query, batched as :meth:`first_pages`."""
        out: list[Page | IntacctError] = []
        for start in range(0, len(wanted), MAX_FUNCTIONS_PER_REQUEST):
            batch = wanted[start : start + MAX_FUNCTIONS_PER_REQUEST]
            functions = [(spec.function(offset), offset) for spec, offset in batch]
            response = self.send([fn for fn, _ in functions])
            for fn, offset in functions:
                result = response.result_for(fn.controlid)
                error = result.error()
                out.append(error if error is not None else Page.of(result, offset))
        return out

    def read_by_query_pages(
        self,
        object_name: str,
        fields: Sequence[str] | str = "*",
        *,
        query_text: str = "",
        page_size: int = p.MAX_READ_BY_QUERY_PAGE,
    ) -> Iterator[Page]:
        """Every page of a ``readByQuery`` followed by ``readMore`` on its ``resultId``."""
        state: dict[str, str | None] = {"result_id": None}

        def fetch(offset: int) -> Page:
            if offset == 0:
                fn = p.read_by_query(
                    object_name, fields, query_text=query_text, page_size=page_size
                )
            else:
                fn = p.read_more(state["result_id"] or "")
            result = self.call(fn)
            state["result_id"] = result.result_id or state["result_id"]
            return Page.of(result, offset)

        def next_offset(page: Page) -> int | None:
            if page.numremaining <= 0 or not page.count or not state["result_id"]:
                return None
            return page.offset + page.count

        yield from _prefetching(fetch, 0, next_offset)

    def iter_records(
        self, object_name: str, fields: Sequence[str], **kwargs: object
    ) -> Iterator[dict[str, str]]:
        """Every record of a ``query`` (see :meth:`query_pages` for the options)."""
        for page in self.query_pages(object_name, fields, **kwargs):  # type: ignore[arg-type]
            yield from page.records

    def read(
        self, object_name: str, keys: Sequence[str], fields: Sequence[str] | str = "*"
    ) -> list[dict[str, str]]:
        """Records by record number; many keys travel as several ``read`` functions in one
        request (100 keys each)."""
        if not keys:
            return []
        chunks = [keys[i : i + p.MAX_READ_KEYS] for i in range(0, len(keys), p.MAX_READ_KEYS)]
        functions = [p.read(object_name, chunk, fields) for chunk in chunks]
        response = self.send(functions)
        records: list[dict[str, str]] = []
        for fn in functions:
            records.extend(response.result_for(fn.controlid).raise_for_status().records)
        return records

    def lookup(self, object_name: str) -> list[p.FieldInfo]:
        """The object's fields as ``lookup`` describes them (``is_custom`` included)."""
        return p.lookup_fields_of(self.call(p.lookup(object_name)))

    def inspect_objects(self) -> list[tuple[str, str]]:
        """Every object of the company: ``[(name, label)]``."""
        return p.inspect_types_of(self.call(p.inspect("*")))

    def get_dimensions(self) -> list[p.Dimension]:
        """Standard and user-defined dimensions."""
        return p.dimensions_of(self.call(p.get_dimensions()))

    def get_user_permissions(self, user_id: str | None = None) -> list[p.Policy]:
        """The effective permissions of ``user_id`` (default: the signed-in user)."""
        return p.policies_of(self.call(p.get_user_permissions(user_id or self.credentials.user_id)))


#: Result failures that mean "try again later": :meth:`IntacctClient.send` sends such a read again.
RETRIED_RESULT_ERRORS = (RateLimitError, ServiceUnavailableError)


def _session_refused(err: SignInError) -> bool:
    """Whether a request sent with a session was refused as the current gateway refuses
    credentials (HTTP 401, XMLGW_JPP0002): the session may be what it no longer accepts."""
    return err.http_status == 401 or (err.errorno or "").strip().upper() == "XMLGW_JPP0002"


def _kind_of(content_type: str, content: bytes) -> str:
    """What a body that is not a gateway response is, as a person would say it."""
    start = content.lstrip()[:15].lower()
    if "html" in content_type or start.startswith((b"<!doctype html", b"<html")):
        return f"an HTML page ({content_type or 'no content type'})"
    if "json" in content_type:
        return f"JSON ({content_type})"
    if not content.strip():
        return "an empty body"
    return f"{content_type or 'a body without a content type'}"


def _raise_http(status: int, retry_after: float | None) -> NoReturn:
    """Raise the error for an HTTP failure that carries no gateway document."""
    if status == 429:
        err = RateLimitError([], level="http", http_status=429)
        err.retry_after = retry_after
        raise err
    if status == 401:
        raise SignInError([], level="http", http_status=401)
    if status >= 500:
        raise ServerError(f"Intacct answered HTTP {status}", status_code=status)
    if status >= 400 and status != 408:  # 408: a proxy's timeout, worth another try
        # The request itself was refused: sending it again would be refused again.
        raise RequestRefusedError(
            f"Intacct refused the request (HTTP {status})", status_code=status
        )
    raise TransportError(f"Intacct answered HTTP {status}", status_code=status)


def _offset_pages(
    fetch: Callable[[int], Page], window: int, *, first: Page | None = None
) -> Iterator[Page]:
    """Yield offset pages in order with up to ``window`` requests in flight (starting from
    ``first`` when it was fetched already)."""
    pool = ThreadPoolExecutor(max_workers=window, thread_name_prefix="intacct-page")
    try:
        first = first if first is not None else fetch(0)
        stride = first.count
        end = stride + first.numremaining  # where the set ends, as far as we know
        pending: deque[Future[Page]] = deque()
        next_offset = stride

        def schedule() -> None:
            nonlocal next_offset
            while stride and len(pending) < window and next_offset < end:
                pending.append(pool.submit(contextvars.copy_context().run, fetch, next_offset))
                next_offset += stride

        schedule()
        yield first
        while pending:
            page = pending.popleft().result()
            page_end = page.offset + page.count
            # The set may have grown or shrunk since the first page: follow what Intacct says now.
            end = page_end if page.numremaining == 0 else max(end, page_end + page.numremaining)
            schedule()
            if page.count:
                yield page
    finally:
        pool.shutdown(wait=True, cancel_futures=True)


def _prefetching(
    fetch: Callable[[int], Page], first: int, next_offset: Callable[[Page], int | None]
) -> Iterator[Page]:
    """Yield pages, fetching page n+1 in a helper thread while the caller handles page n."""
    pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="intacct-prefetch")
    try:
        page = fetch(first)
        while True:
            nxt = next_offset(page)
            future: Future[Page] | None = (
                pool.submit(contextvars.copy_context().run, fetch, nxt) if nxt is not None else None
            )
            yield page
            if future is None:
                return
            page = future.result()
    finally:
        pool.shutdown(wait=True, cancel_futures=True)
