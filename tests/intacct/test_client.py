"""The client against the sandbox: sessions, endpoint switching, retries, paging, concurrency,
and logs that never carry a secret."""

from __future__ import annotations

import logging
import re
import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone

import httpx
import pytest
from lxml import etree

from intacct import protocol as p
from intacct.client import Credentials, IntacctClient, validate_endpoint
from intacct.errors import (
    EndpointError,
    PermissionDeniedError,
    RateLimitError,
    ServerError,
    SignInError,
    TransportError,
)
from intacct.sandbox import (
    GATEWAY_PATH,
    SANDBOX_SENDER_PASSWORD,
    SANDBOX_USER_PASSWORD,
    make_app,
    serve_in_thread,
)
from intacct.sandbox.world import Sandbox

from .conftest import IN_PROCESS_HOST, ConnectFactory, credentials

VENDOR_FIELDS = ["RECORDNO", "VENDORID", "NAME", "STATUS", "WHENMODIFIED"]


class SleepRecorder:
    def __init__(self) -> None:
        self.delays: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


def keys(records: list[dict[str, str]]) -> list[int]:
    return [int(r["RECORDNO"]) for r in records]


# --- endpoints ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "https://api.intacct.com/ia/xml/xmlgw.phtml",
        "https://API.Intacct.com./ia/xml/xmlgw.phtml",
        "https://eu.api.intacct.com/ia/xml/xmlgw.phtml",
    ],
)
def test_intacct_endpoints_are_accepted(url: str) -> None:
    assert validate_endpoint(url) == url


@pytest.mark.parametrize(
    "url",
    [
        "https://evil.example/ia/xml/xmlgw.phtml",
        "https://intacct.com.evil.example/ia/xml/xmlgw.phtml",
        "https://notintacct.com/ia/xml/xmlgw.phtml",
        "http://api.intacct.com/ia/xml/xmlgw.phtml",
        "ftp://api.intacct.com/x",
        "not a url",
    ],
)
def test_other_endpoints_are_refused(url: str) -> None:
    with pytest.raises(EndpointError):
        validate_endpoint(url)


def test_an_explicitly_allowed_host_may_use_http() -> None:
    url = "http://127.0.0.1:8765/ia/xml/xmlgw.phtml"
    assert validate_endpoint(url, ["127.0.0.1"]) == url


def test_client_refuses_a_foreign_endpoint_before_sending_anything() -> None:
    sent: list[httpx.Request] = []
    transport = httpx.MockTransport(lambda r: sent.append(r) or httpx.Response(500))
    with pytest.raises(EndpointError):
        IntacctClient(
            credentials("healthy-top"), endpoint="https://evil.example/x", transport=transport
        )
    assert sent == []


SESSION_ANSWER = """<?xml version="1.0" encoding="UTF-8"?>
<response><control><status>success</status><senderid>BeanworksMPP</senderid>
<controlid>c</controlid><uniqueid>false</uniqueid><dtdversion>3.0</dtdversion></control>
<operation><authentication><status>success</status><userid>Beanworks</userid>
<companyid>healthy-top</companyid><locationid></locationid>
<sessiontimestamp>2026-11-25T10:00:00+00:00</sessiontimestamp>
<sessiontimeout>2026-11-25T22:00:00+00:00</sessiontimeout></authentication>
<result><status>success</status><function>getAPISession</function><controlid>{cid}</controlid>
<data><api><sessionid>abc..</sessionid><endpoint>{endpoint}</endpoint><locationid></locationid>
</api></data></result></operation></response>"""


def test_a_session_endpoint_outside_intacct_is_refused() -> None:
    """getAPISession names the endpoint for every later call; a foreign host never receives the
    session id."""
    hosts: list[str] = []

    def answer(request: httpx.Request) -> httpx.Response:
        hosts.append(request.url.host)
        cid = etree.fromstring(request.content).find(".//function").get("controlid")
        body = SESSION_ANSWER.format(cid=cid, endpoint="https://evil.example/ia/xml/xmlgw.phtml")
        return httpx.Response(200, content=body.encode(), headers={"content-type": "text/xml"})

    client = IntacctClient(credentials("healthy-top"), transport=httpx.MockTransport(answer))
    with pytest.raises(EndpointError):
        client.session()
    assert hosts == ["api.intacct.com"]


# --- sessions -----------------------------------------------------------------------------------


def test_login_then_every_call_uses_the_session_endpoint(connect: ConnectFactory) -> None:
    client = connect("healthy-top")
    session = client.session()
    assert session.session_id.endswith("..")
    assert session.endpoint == f"http://{IN_PROCESS_HOST}{GATEWAY_PATH}"
    client.call(p.query("VENDOR", ["RECORDNO"], page_size=1))
    client.call(p.query("CLASS", ["RECORDNO"], page_size=1))
    assert client.round_trips == 3  # one getAPISession, then two calls on the session
    assert client.session() is session


class AuthRecorder(httpx.BaseTransport):
    """The sandbox in process, noting each request's functions and how it authenticated, in the
    order the requests arrive; ``hold`` keeps getAPISession waiting until it is set."""

    def __init__(self, world: Sandbox) -> None:
        self.inner = httpx.WSGITransport(app=make_app(world))
        self.seen: list[tuple[str, str]] = []
        self.hold = threading.Event()
        self.hold.set()

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        root = etree.fromstring(request.content)
        auth = "login" if root.find(".//authentication/login") is not None else "session"
        names = ",".join(fn[0].tag for fn in root.iter("function"))
        self.seen.append((names, auth))
        if names == "getAPISession":
            assert self.hold.wait(5)
        return self.inner.handle_request(request)


def test_the_first_call_does_not_wait_for_the_sign_in(world: Sandbox) -> None:
    """While getAPISession is under way, the first call goes out with the login itself; calls
    after the sign-in use the session. Requests and transactions are the same as signing in
    first."""
    transport = AuthRecorder(world)
    transport.hold.clear()  # the sign-in answers only after the first call has been answered
    client = IntacctClient(
        credentials("healthy-top"),
        endpoint=f"http://{IN_PROCESS_HOST}{GATEWAY_PATH}",
        allowed_hosts=[IN_PROCESS_HOST],
        transport=transport,
    )
    with client:
        first = client.call(p.query("VENDOR", ["RECORDNO"], page_size=1))
        assert first.ok
        assert ("query", "login") in transport.seen
        transport.hold.set()
        client.wait_for_sign_in(5)
        client.call(p.query("CLASS", ["RECORDNO"], page_size=1))
    assert sorted(transport.seen) == sorted(
        [("query", "login"), ("getAPISession", "login"), ("query", "session")]
    )
    assert transport.seen[-1] == ("query", "session")
    assert (client.round_trips, client.functions_sent) == (3, 3)


def test_a_wrong_password_fails_the_first_call_and_the_background_sign_in_quietly(
    connect: ConnectFactory, caplog: pytest.LogCaptureFixture
) -> None:
    client = connect("healthy-top", password="Wr0ng-Secret-Pa55")
    with caplog.at_level(logging.DEBUG, logger="intacct"), pytest.raises(SignInError):
        client.call(p.query("VENDOR", ["RECORDNO"], page_size=1))
    client.wait_for_sign_in(5)
    assert client._session is None
    assert "failed in the background: SignInError" in caplog.text
    assert "Wr0ng-Secret-Pa55" not in caplog.text


def test_entity_level_session(connect: ConnectFactory) -> None:
    assert connect("healthy-multi", "E200").session().location_id == "E200"


def test_invalid_session_signs_in_again_once(connect: ConnectFactory, world: Sandbox) -> None:
    client = connect("healthy-top")
    first = client.session()
    world.drop_session(first.session_id)
    result = client.call(p.query("VENDOR", ["RECORDNO"], page_size=1))
    assert result.ok
    assert client.session().session_id != first.session_id
    assert client.round_trips == 4  # login, failed call, login again, the call again


def test_sessions_expiring_again_and_again_are_renewed_a_few_times(
    connect: ConnectFactory, world: Sandbox
) -> None:
    """Every session expires after one request: each call signs in again; a session that never
    lives long enough to be used gives up after a few renewals, naming the expiry."""
    from intacct.client import SESSION_RENEWALS
    from intacct.errors import SessionExpiredError
    from intacct.sandbox.world import FaultPlan

    client = connect("healthy-top")
    client.session()
    world.company("healthy-top").faults = FaultPlan(session_every=1)
    for _ in range(3):
        assert client.call(p.query("VENDOR", ["RECORDNO"], page_size=1)).ok

    # Now every sign-in's session is dropped before it can be used.
    original = world.create_session

    def short_lived(*args: object, **kwargs: object):  # type: ignore[no-untyped-def]
        session = original(*args, **kwargs)  # type: ignore[arg-type]
        world.drop_session(session.session_id)
        return session

    world.create_session = short_lived  # type: ignore[method-assign]
    before = client.round_trips
    with pytest.raises(SessionExpiredError):
        client.call(p.query("VENDOR", ["RECORDNO"], page_size=1))
    # The first try, then a sign-in and a try for each renewal.
    assert client.round_trips - before == 1 + 2 * SESSION_RENEWALS


def test_wrong_password_raises_sign_in_error(connect: ConnectFactory) -> None:
    with pytest.raises(SignInError) as info:
        connect("healthy-top", password="wrong").session()
    assert info.value.level == "authentication"
    assert info.value.step == "credentials"
    assert info.value.errorno == "XL03000006"


def test_a_failed_function_leaves_the_others_alone(connect: ConnectFactory) -> None:
    client = connect("missing-permissions")
    ok_fn = p.query("DEPARTMENT", ["RECORDNO"], page_size=1)
    denied_fn = p.query("VENDOR", ["RECORDNO"], page_size=1)
    response = client.send([ok_fn, denied_fn])
    assert response.result_for(ok_fn.controlid).ok
    with pytest.raises(PermissionDeniedError) as info:
        response.result_for(denied_fn.controlid).raise_for_status()
    assert info.value.errorno == "PL04000005"
    assert info.value.step == "role_permissions"


# --- paging -------------------------------------------------------------------------------------


@pytest.fixture
def big_world() -> Sandbox:
    return Sandbox(records=4500)


@pytest.fixture
def big(big_world: Sandbox) -> Callable[..., IntacctClient]:
    transport = httpx.WSGITransport(app=make_app(big_world))

    def factory(company: str = "healthy-top", **options: object) -> IntacctClient:
        options.setdefault("sleep", lambda _s: None)
        return IntacctClient(
            credentials(company),
            endpoint=f"http://{IN_PROCESS_HOST}{GATEWAY_PATH}",
            allowed_hosts=[IN_PROCESS_HOST],
            transport=transport,
            **options,
        )  # type: ignore[arg-type]

    return factory


def test_query_pages_by_offset_at_2000(
    big: Callable[..., IntacctClient], big_world: Sandbox
) -> None:
    with big() as client:
        pages = list(client.query_pages("VENDOR", VENDOR_FIELDS))
    assert [len(pg.records) for pg in pages] == [2000, 2000, 500]
    assert pages[0].totalcount == 4500
    got = [k for pg in pages for k in keys(pg.records)]
    assert sorted(got) == sorted(big_world.snapshot("healthy-top", "VENDOR"))
    assert len(got) == len(set(got))


def test_read_by_query_then_read_more(
    big: Callable[..., IntacctClient], big_world: Sandbox
) -> None:
    with big() as client:
        pages = list(client.read_by_query_pages("VENDOR", VENDOR_FIELDS))
        trips = client.round_trips
    assert [len(pg.records) for pg in pages] == [1000] * 4 + [500]
    assert sorted(k for pg in pages for k in keys(pg.records)) == sorted(
        big_world.snapshot("healthy-top", "VENDOR")
    )
    assert trips == 1 + 5  # the session, then readByQuery and four readMore


def test_filtered_query_returns_only_changes(
    big: Callable[..., IntacctClient], big_world: Sandbox
) -> None:
    company = big_world.company("healthy-top")
    before = company.snapshot("VENDOR")
    newest = max(_when(v) for v in before.values() if v)
    company.mutate(changes=7, adds=3, objects=["VENDOR"])
    after = company.snapshot("VENDOR")
    touched = {k for k, v in after.items() if before.get(k) != v}
    assert len(touched) == 10
    since = p.Filter.cond("greaterthan", "WHENMODIFIED", newest.strftime(WHEN))
    with big() as client:
        changed = keys(list(client.iter_records("VENDOR", VENDOR_FIELDS, filter=since)))
    expected = {k for k, v in after.items() if v and _when(v) > newest}
    assert set(changed) == expected
    assert touched <= expected


def test_changed_pages_returns_records_modified_or_created_after_since(
    big: Callable[..., IntacctClient], big_world: Sandbox
) -> None:
    company = big_world.company("healthy-top")
    company.mutate(changes=7, adds=3, objects=["VENDOR"])
    stamps = ["RECORDNO", "WHENMODIFIED", "WHENCREATED"]
    with big() as client:
        every = list(client.iter_records("VENDOR", stamps))
        created = sorted(_when(r["WHENCREATED"]) for r in every if r["WHENCREATED"])
        since = created[len(created) // 2]
        pages = list(client.changed_pages("VENDOR", VENDOR_FIELDS, since.replace(tzinfo=UTC)))

    def after(text: str) -> bool:
        return bool(text) and _when(text) > since

    expected = {
        int(r["RECORDNO"]) for r in every if after(r["WHENMODIFIED"]) or after(r["WHENCREATED"])
    }
    only_created = {
        int(r["RECORDNO"])
        for r in every
        if after(r["WHENCREATED"]) and not after(r["WHENMODIFIED"])
    }
    got = [k for page in pages for k in keys(page.records)]
    assert sorted(got) == sorted(expected)
    assert only_created  # the WHENCREATED side of the filter is exercised
    assert 0 < len(expected) < len(every)


def test_changed_pages_reads_since_in_utc(
    big: Callable[..., IntacctClient], big_world: Sandbox
) -> None:
    newest = max(_when(v) for v in big_world.snapshot("healthy-top", "VENDOR").values() if v)
    big_world.company("healthy-top").mutate(changes=5, objects=["VENDOR"])
    eastern = timezone(timedelta(hours=-5))
    as_eastern = newest.replace(tzinfo=UTC).astimezone(eastern)
    with big() as client:
        in_utc = [
            k
            for pg in client.changed_pages("VENDOR", ["RECORDNO"], newest)
            for k in keys(pg.records)
        ]
        in_eastern = [
            k
            for pg in client.changed_pages("VENDOR", ["RECORDNO"], as_eastern)
            for k in keys(pg.records)
        ]
    after = big_world.snapshot("healthy-top", "VENDOR")
    assert sorted(in_utc) == sorted(k for k, v in after.items() if v and _when(v) > newest)
    assert in_utc
    assert sorted(in_eastern) == sorted(in_utc)


def test_changed_pages_names_the_timestamp_fields_of_a_dimension(
    connect: ConnectFactory, world: Sandbox
) -> None:
    client = connect("healthy-top")
    udd = next(d for d in client.get_dimensions() if d.user_defined)
    fields = ["id", "whenModified", "whenCreated"]
    every = list(client.iter_records(udd.object_name, fields))
    since = min(_when(r["whenModified"]) for r in every if r["whenModified"])
    pages = client.changed_pages(
        udd.object_name,
        ["id"],
        since,
        modified_field="whenModified",
        created_field="whenCreated",
    )
    got = sorted(r["id"] for page in pages for r in page.records)
    expected = sorted(
        r["id"]
        for r in every
        if any(r[f] and _when(r[f]) > since for f in ("whenModified", "whenCreated"))
    )
    assert got == expected
    assert 0 < len(got) < len(every)


WHEN = "%m/%d/%Y %H:%M:%S"


def _when(text: str) -> datetime:
    return datetime.strptime(text, WHEN)


def test_read_many_keys_in_one_request(big: Callable[..., IntacctClient]) -> None:
    with big() as client:
        client.session()
        before = client.round_trips
        wanted = [str(n) for n in range(1, 251)]
        records = client.read("VENDOR", wanted, VENDOR_FIELDS)
        assert client.round_trips - before == 1
    assert sorted(keys(records)) == list(range(1, 251))


def test_flaky_gateway_still_yields_every_record_once(
    big: Callable[..., IntacctClient], big_world: Sandbox
) -> None:
    sleeps = SleepRecorder()
    with big("flaky", sleep=sleeps, max_retries=8) as client:
        got = [
            k for r in client.iter_records("VENDOR", VENDOR_FIELDS) for k in [int(r["RECORDNO"])]
        ]
        for _ in range(3):
            got_again = keys(list(client.iter_records("CLASS", ["RECORDNO"])))
            assert len(got_again) == len(set(got_again))
    assert sorted(got) == sorted(big_world.snapshot("flaky", "VENDOR"))


def test_rate_limited_gateway_backs_off_and_completes(
    big: Callable[..., IntacctClient], big_world: Sandbox
) -> None:
    sleeps = SleepRecorder()
    with big("rate-limited", sleep=sleeps) as client:
        got = keys(list(client.iter_records("VENDOR", VENDOR_FIELDS)))
    assert sorted(got) == sorted(big_world.snapshot("rate-limited", "VENDOR"))
    assert sleeps.delays, "429 answers were retried after a pause"


# --- retries ------------------------------------------------------------------------------------


def _always(
    status: int, calls: list[int], headers: dict[str, str] | None = None
) -> httpx.MockTransport:
    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(
            status,
            content=b"<html>down</html>",
            headers={"content-type": "text/html", **(headers or {})},
        )

    return httpx.MockTransport(answer)


def _login_client(
    transport: httpx.BaseTransport, sleep: SleepRecorder, **kw: object
) -> IntacctClient:
    return IntacctClient(credentials("healthy-top"), transport=transport, sleep=sleep, **kw)  # type: ignore[arg-type]


def test_5xx_is_retried_with_exponential_backoff_and_jitter() -> None:
    calls: list[int] = []
    sleeps = SleepRecorder()
    client = _login_client(
        _always(503, calls), sleeps, max_retries=3, backoff_initial=1.0, backoff_max=3.0
    )
    with pytest.raises(ServerError):
        client.send([p.get_dimensions()], login=client.credentials.login())
    assert len(calls) == 4
    assert len(sleeps.delays) == 3
    for delay, cap in zip(sleeps.delays, [1.0, 2.0, 3.0], strict=True):
        assert 0 <= delay <= cap


def test_524_is_retried_for_reads_but_never_for_writes() -> None:
    calls: list[int] = []
    client = _login_client(_always(524, calls), SleepRecorder(), max_retries=2)
    with pytest.raises(ServerError):
        client.send([p.get_dimensions()], login=client.credentials.login())
    assert len(calls) == 3

    calls.clear()
    create = p.Function(
        "create", etree.fromstring("<create><CLASS><CLASSID>X</CLASSID></CLASS></create>")
    )
    with pytest.raises(ServerError):
        client.send([create], login=client.credentials.login())
    assert len(calls) == 1


def test_429_honours_retry_after() -> None:
    calls: list[int] = []
    sleeps = SleepRecorder()
    client = _login_client(
        _always(429, calls, {"retry-after": "2"}),
        sleeps,
        max_retries=1,
        backoff_initial=0.1,
        backoff_max=10,
    )
    with pytest.raises(RateLimitError):
        client.send([p.get_dimensions()], login=client.credentials.login())
    assert sleeps.delays == [pytest.approx(2.0)]


def test_retries_are_bounded(connect: ConnectFactory) -> None:
    calls: list[int] = []
    client = _login_client(_always(502, calls), SleepRecorder(), max_retries=4)
    with pytest.raises(ServerError):
        client.send([p.get_dimensions()], login=client.credentials.login())
    assert len(calls) == 5


# --- concurrency --------------------------------------------------------------------------------


def _pull_in_threads(client: IntacctClient, n: int) -> None:
    errors: list[BaseException] = []

    def work() -> None:
        try:
            list(client.iter_records("CLASS", ["RECORDNO"], page_size=10))
        except BaseException as exc:
            errors.append(exc)

    threads = [threading.Thread(target=work) for _ in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors, errors


def test_the_company_limit_keeps_requests_under_the_gateway_cap() -> None:
    world = Sandbox(records=60, max_concurrent=2, latency_ms=15)
    transport = httpx.WSGITransport(app=make_app(world))
    sleeps = SleepRecorder()
    limited = IntacctClient(
        credentials("healthy-multi"),
        endpoint=f"http://{IN_PROCESS_HOST}{GATEWAY_PATH}",
        allowed_hosts=[IN_PROCESS_HOST],
        transport=transport,
        max_concurrency=2,
        sleep=sleeps,
    )
    _pull_in_threads(limited, 6)
    assert sleeps.delays == [], "no request was refused with 429"

    unlimited_sleeps = SleepRecorder()
    unlimited = IntacctClient(
        credentials("healthy-multi"),
        endpoint=f"http://{IN_PROCESS_HOST}{GATEWAY_PATH}",
        allowed_hosts=[IN_PROCESS_HOST],
        transport=transport,
        max_concurrency=6,
        sleep=unlimited_sleeps,
        max_retries=20,
    )
    _pull_in_threads(unlimited, 6)
    assert unlimited_sleeps.delays, "without the limit the gateway's cap is hit"


# --- logs ---------------------------------------------------------------------------------------


def test_logs_carry_function_names_and_never_secrets(
    connect: ConnectFactory, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="intacct")
    client = connect("flaky", max_retries=10)
    session = client.session()
    for _ in range(5):
        client.call(p.query("VENDOR", ["RECORDNO"], page_size=5))
    text = "\n".join(r.getMessage() for r in caplog.records)
    assert "query" in text
    for secret in (SANDBOX_USER_PASSWORD, SANDBOX_SENDER_PASSWORD, session.session_id):
        assert secret not in text
    assert SANDBOX_USER_PASSWORD not in repr(client.credentials)
    assert SANDBOX_USER_PASSWORD not in repr(client)


# --- over real HTTP -----------------------------------------------------------------------------


def test_over_real_http(live_gateway: str, live_world: Sandbox) -> None:
    with IntacctClient(
        credentials("healthy-multi"), endpoint=live_gateway, allowed_hosts=["127.0.0.1"]
    ) as client:
        records = list(client.iter_records("VENDOR", VENDOR_FIELDS, show_private=True))
        dims = client.get_dimensions()
        fields = client.lookup("APBILL")
    assert sorted(keys(records)) == sorted(live_world.snapshot("healthy-multi", "VENDOR"))
    assert {d.object_name for d in dims if d.user_defined} == {"PROGRAM", "FUND"}
    assert any(f.is_custom and f.id == "BEANWORKS" for f in fields)


def test_a_limit_of_one_still_completes_over_real_http() -> None:
    world = Sandbox(records=10)
    base, stop = serve_in_thread(world)
    try:
        creds = Credentials(
            "BeanworksMPP",
            SANDBOX_SENDER_PASSWORD,
            "healthy-top",
            "Beanworks",
            SANDBOX_USER_PASSWORD,
        )
        with IntacctClient(
            creds, endpoint=base + GATEWAY_PATH, allowed_hosts=["127.0.0.1"], max_concurrency=1
        ) as one:
            assert len(list(one.iter_records("CLASS", ["RECORDNO"]))) == 10
    finally:
        stop()


# --- what a real company may answer differently from the sandbox's defaults --------------------


class FunctionRecorder(httpx.BaseTransport):
    """The sandbox in process, noting the functions of each request in the order they arrive."""

    def __init__(self, world: Sandbox) -> None:
        self.inner = httpx.WSGITransport(app=make_app(world))
        self.requests: list[list[str]] = []

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        root = etree.fromstring(request.content)
        self.requests.append(
            [fn[0].findtext("object") or fn[0].tag for fn in root.iter("function")]
        )
        return self.inner.handle_request(request)


def _recorded(
    world: Sandbox, company: str, **options: object
) -> tuple[IntacctClient, FunctionRecorder]:
    transport = FunctionRecorder(world)
    client = IntacctClient(
        credentials(company),
        endpoint=f"http://{IN_PROCESS_HOST}{GATEWAY_PATH}",
        allowed_hosts=[IN_PROCESS_HOST],
        transport=transport,
        sleep=options.pop("sleep", lambda _s: None),  # type: ignore[arg-type]
        **options,  # type: ignore[arg-type]
    )
    return client, transport


def test_a_read_that_intacct_says_is_temporarily_off_line_is_sent_again_alone(
    world: Sandbox,
) -> None:
    """Off-line inside a result (HTTP 200, the other functions ran): only that function is sent
    again, after a pause, and its second answer takes its place."""
    from intacct.sandbox.world import FaultPlan

    sleeps = SleepRecorder()
    client, transport = _recorded(world, "healthy-top", sleep=sleeps)
    with client:
        client.session()
        # The company's functions so far: getAPISession (1). Then DEPARTMENT (2), VENDOR (3,
        # off-line), CLASS (4); VENDOR again (5).
        world.company("healthy-top").faults = FaultPlan(offline_every=3)
        functions = [
            p.query(name, ["RECORDNO"], page_size=1) for name in ("DEPARTMENT", "VENDOR", "CLASS")
        ]
        transport.requests.clear()
        response = client.send(functions)
    assert [r.ok for r in response.results] == [True, True, True]
    assert [r.controlid for r in response.results] == [f.controlid for f in functions]
    assert transport.requests == [["DEPARTMENT", "VENDOR", "CLASS"], ["VENDOR"]]
    assert len(sleeps.delays) == 1


def test_a_read_off_line_every_time_ends_with_that_error_after_the_retry_budget(
    world: Sandbox,
) -> None:
    from intacct.errors import ServiceUnavailableError
    from intacct.sandbox.world import FaultPlan

    client, transport = _recorded(world, "healthy-top", max_retries=3)
    with client:
        client.session()
        world.company("healthy-top").faults = FaultPlan(offline_every=1)
        transport.requests.clear()
        result = client.send([p.query("VENDOR", ["RECORDNO"], page_size=1)]).results[0]
    with pytest.raises(ServiceUnavailableError) as info:
        result.raise_for_status()
    assert info.value.transient
    assert info.value.step == "transient"
    assert len(transport.requests) == 4  # the first try and three retries


def test_a_write_whose_result_says_off_line_is_not_sent_again(world: Sandbox) -> None:
    from intacct.errors import ServiceUnavailableError
    from intacct.sandbox.world import FaultPlan

    client, transport = _recorded(world, "healthy-top")
    create = p.Function(
        "create", etree.fromstring("<create><CLASS><CLASSID>X</CLASSID></CLASS></create>")
    )
    with client:
        client.session()
        world.company("healthy-top").faults = FaultPlan(offline_every=1)
        transport.requests.clear()
        result = client.send([create]).results[0]
    assert isinstance(result.error(), ServiceUnavailableError)
    assert len(transport.requests) == 1


@pytest.mark.parametrize("http_401", [False, True], ids=["invalid-session", "http-401"])
def test_a_session_the_company_no_longer_knows_signs_in_again_whichever_way_it_says_so(
    connect: ConnectFactory, world: Sandbox, http_401: bool
) -> None:
    """Unverified which a real company answers to a lost session: the classic "Invalid session"
    at authentication level, or HTTP 401 XMLGW_JPP0002 (the current gateway's answer to wrong
    credentials, which the official SDKs test with a session request). Either way the client
    signs in again; wrong credentials then fail that sign-in itself."""
    world.company("healthy-top").expired_session_http_401 = http_401
    client = connect("healthy-top")
    first = client.session()
    world.drop_session(first.session_id)
    assert client.call(p.query("VENDOR", ["RECORDNO"], page_size=1)).ok
    assert client.session().session_id != first.session_id
    assert client.round_trips == 4  # login, refused call, login again, the call again


def test_a_401_to_a_session_request_with_a_password_changed_since_names_the_credentials(
    connect: ConnectFactory, world: Sandbox
) -> None:
    from intacct.sandbox import SANDBOX_USER_PASSWORD as RIGHT

    world.company("healthy-top").expired_session_http_401 = True
    client = connect("healthy-top", password=RIGHT)
    first = client.session()
    world.drop_session(first.session_id)
    client.credentials = credentials("healthy-top", password="Changed-Since-1")
    with pytest.raises(SignInError) as info:
        client.call(p.query("VENDOR", ["RECORDNO"], page_size=1))
    assert info.value.step == "credentials"
    assert client.round_trips == 3  # login, refused call, the sign-in that failed


@pytest.mark.parametrize("status", [400, 403, 404, 413])
def test_a_4xx_that_is_no_gateway_answer_is_never_retried(status: int) -> None:
    from intacct.errors import RequestRefusedError

    calls: list[int] = []
    client = _login_client(_always(status, calls), SleepRecorder(), max_retries=4)
    with pytest.raises(RequestRefusedError) as info:
        client.send([p.get_dimensions()], login=client.credentials.login())
    assert len(calls) == 1
    assert info.value.status_code == status
    assert info.value.step == "transient"  # no verdict on the customer's setup
    assert f"HTTP {status}" in str(info.value)


def test_a_gateway_answer_without_an_xml_content_type_or_declaration_is_still_read() -> None:
    """HTTP 400 with a bare <response> (no XML declaration, a text/plain type): the bad company
    ID it says, not a busy gateway."""
    from intacct.errors import UnknownCompanyError

    body = (
        b"<response><control><status>failure</status></control><errormessage><error>"
        b"<errorno>invalidRequest</errorno><description>Invalid Request</description>"
        b"</error></errormessage></response>"
    )
    calls: list[int] = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(1)
        return httpx.Response(400, content=body, headers={"content-type": "text/plain"})

    client = _login_client(httpx.MockTransport(answer), SleepRecorder())
    with pytest.raises(UnknownCompanyError):
        client.send([p.get_dimensions()], login=client.credentials.login())
    assert len(calls) == 1


def test_a_page_that_does_not_say_what_remains_is_measured_by_its_totalcount() -> None:
    """Every capture says ``numremaining``; one without it must not end the paging early."""
    from intacct.client import Page

    from .test_protocol import fixture

    body = fixture("query_apbill_page.xml")
    cut = re.sub(rb'\s*numremaining="\d+"', b"", body)
    assert cut != body
    [result] = p.parse_response(cut).results
    assert result.numremaining is None
    assert Page.of(result, 2).numremaining == 1  # 5 in all, 2 before, 2 here
    assert Page.of(result, 3).numremaining == 0
    [result] = p.parse_response(re.sub(rb'\s*totalcount="\d+"', b"", cut)).results
    assert Page.of(result, 2).numremaining == 0  # nothing known: this page is the last


class _SessionRequestsRefused(httpx.BaseTransport):
    """The sandbox for sign-ins; every request sent with a session refused with HTTP 401
    XMLGW_JPP0002, as the current gateway refuses credentials."""

    def __init__(self, world: Sandbox) -> None:
        self.inner = httpx.WSGITransport(app=make_app(world))
        self.requests = 0

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        self.requests += 1
        if b"<sessionid>" in request.content:
            return httpx.Response(
                401,
                headers={"content-type": "text/xml"},
                content=b"<?xml version='1.0' encoding='UTF-8'?><response><control><status>"
                b"failure</status></control><errormessage><error><errorno>XMLGW_JPP0002"
                b"</errorno><description>Sign-in information is incorrect. Please check your "
                b"request.</description></error></errormessage></response>",
            )
        return self.inner.handle_request(request)


def test_a_fresh_session_refused_again_is_no_verdict_on_the_credentials(world: Sandbox) -> None:
    """The credentials just signed in; a session refused twice is the gateway's doing: one new
    sign-in, then an error that names no guide step (nothing counts as a refused sign-in)."""
    from intacct.errors import SessionExpiredError

    transport = _SessionRequestsRefused(world)
    client = IntacctClient(
        credentials("healthy-top"),
        endpoint=f"http://{IN_PROCESS_HOST}{GATEWAY_PATH}",
        allowed_hosts=[IN_PROCESS_HOST],
        transport=transport,
        sleep=lambda _s: None,
    )
    with client:
        client.session()
        with pytest.raises(SessionExpiredError) as info:
            client.call(p.query("VENDOR", ["RECORDNO"], page_size=1))
    assert not isinstance(info.value, SignInError)
    assert info.value.step == "transient"
    assert transport.requests == 4  # sign-in, refused, sign-in again, refused


def test_a_failed_resend_keeps_the_results_already_in(world: Sandbox) -> None:
    """An off-line function sent again meets a gateway gone down: the functions that ran keep
    their results (billed once, used), the off-line one keeps its error."""
    from intacct.errors import ServiceUnavailableError
    from intacct.sandbox.world import FaultPlan

    client, transport = _recorded(world, "healthy-top", max_retries=2)
    with client:
        client.session()
        world.company("healthy-top").faults = FaultPlan(offline_every=3)
        functions = [
            p.query(n, ["RECORDNO"], page_size=1) for n in ("DEPARTMENT", "VENDOR", "CLASS")
        ]
        sent_before = client.round_trips

        original = transport.inner.handle_request

        def down_after_first(request: httpx.Request) -> httpx.Response:
            if client.round_trips > sent_before + 1:
                return httpx.Response(502, content=b"<html>down</html>",
                                      headers={"content-type": "text/html"})  # fmt: skip
            return original(request)

        transport.inner.handle_request = down_after_first  # type: ignore[method-assign]
        response = client.send(functions)
    ok, offline, also_ok = (r.error() for r in response.results)
    assert ok is None
    assert also_ok is None
    assert isinstance(offline, ServiceUnavailableError)


def test_an_html_403_from_a_proxy_gives_no_verdict_on_the_credentials() -> None:
    """A 4xx that is no gateway answer is not retried at once, and says nothing about the
    customer's setup: the check ends without a verdict rather than failing the credentials."""
    from intacct.checks import FAILED, verify

    from .conftest import NAMES

    calls: list[int] = []
    client = _login_client(_always(403, calls), SleepRecorder(), max_retries=4)
    report = verify(client, names=NAMES)
    assert len(calls) == 1
    assert report.steps[0].step == "transient"
    assert all(s.status != FAILED for s in report.steps[1:])


def test_a_proxys_408_timeout_is_retried() -> None:
    calls: list[int] = []
    client = _login_client(_always(408, calls), SleepRecorder(), max_retries=2)
    with pytest.raises(TransportError):
        client.send([p.get_dimensions()], login=client.credentials.login())
    assert len(calls) == 3
