"""The client against a hostile gateway: a real HTTP server on loopback, written here byte by byte,
that answers with XXE, entity bombs, endless or oversized bodies, drips, hangs, lies about its
Content-Length, HTML and JSON.

Every answer must end in a specific :class:`~intacct.errors.IntacctError` within the client's
timeout, which bounds the whole request (connect, send, headers, the whole body), and memory must
stay bounded by the size cap, never by what the server sends.  Peak RSS is measured in a
subprocess (``VmHWM``) so that the server and pytest do not count; run with ``-s`` to see the
figures.
"""

from __future__ import annotations

import functools
import gzip
import json
import os
import socket
import socketserver
import subprocess
import sys
import threading
import time
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from intacct import protocol as p
from intacct.client import Credentials, IntacctClient
from intacct.errors import (
    IntacctError,
    ProtocolError,
    RequestTimeout,
    ResponseTooLargeError,
    TransportError,
    UnsafeDocumentError,
)

from .test_protocol import BILLION_LAUGHS

#: The retries a sync gives each request (connections.services.smartsync.MAX_RETRIES).
SYNC_RETRIES = 6

BASE_DIR = Path(__file__).resolve().parents[2]
FIXTURES = BASE_DIR / "tests" / "fixtures" / "responses"
GATEWAY = "/ia/xml/xmlgw.phtml"
#: The client's timeout in these tests: the whole request must end within it.
TIMEOUT = 2.0
#: What a failure may take beyond the timeout (scheduling, closing the connection).
SLACK = 1.0
#: No server loop here runs longer than this, whatever the client does.
MAX_SERVE_SECONDS = 30.0
MB = 1024 * 1024
#: How much peak RSS may grow while the client refuses an oversized answer: the capped body
#: itself, plus room for one decoding step and the interpreter's own churn.
RSS_HEADROOM = 16 * MB

Behaviour = Callable[[socket.socket, threading.Event], None]


# --- the server ---------------------------------------------------------------------------------


class _Handler(socketserver.BaseRequestHandler):
    server: _Server

    def handle(self) -> None:
        conn: socket.socket = self.request
        conn.settimeout(MAX_SERVE_SECONDS)
        try:
            _read_request(conn)
            self.server.requests += 1
            self.server.behaviour(conn, self.server.stop)
        except OSError:
            return  # the client hung up: what a refused answer looks like from here


class _Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    block_on_close = False
    allow_reuse_address = True

    def __init__(self, behaviour: Behaviour) -> None:
        super().__init__(("127.0.0.1", 0), _Handler)
        self.behaviour = behaviour
        self.stop = threading.Event()
        self.requests = 0


def _read_request(conn: socket.socket) -> bytes:
    """The request's head and body (by its Content-Length), so the answer follows a whole
    request as a real server's would."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            raise ConnectionResetError
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        chunk = conn.recv(65536)
        if not chunk:
            raise ConnectionResetError
        body += chunk
    return body


@pytest.fixture
def serve() -> Iterator[Callable[[Behaviour], _Server]]:
    """``serve(behaviour)``: a server on loopback answering every request with ``behaviour``."""
    servers: list[_Server] = []

    def start(behaviour: Behaviour) -> _Server:
        server = _Server(behaviour)
        threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.05}).start()
        servers.append(server)
        return server

    yield start
    for server in servers:
        server.stop.set()
        server.shutdown()
        server.server_close()


def url_of(server: _Server) -> str:
    host, port = server.server_address[:2]
    return f"http://{host}:{port}{GATEWAY}"


# --- what the server says -----------------------------------------------------------------------


def head(
    status: str = "200 OK", content_type: str = "text/xml", length: int | None = None, **extra: str
) -> bytes:
    lines = [f"HTTP/1.1 {status}", f"Content-Type: {content_type}"]
    lines.append(
        f"Content-Length: {length}" if length is not None else "Transfer-Encoding: chunked"
    )
    lines += [f"{name.replace('_', '-')}: {value}" for name, value in extra.items()]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def answer(body: bytes, content_type: str = "text/xml", **extra: str) -> Behaviour:
    """A whole answer at once, with an honest Content-Length."""

    def behave(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(head(content_type=content_type, length=len(body), **extra) + body)

    return behave


def _hang(conn: socket.socket, stop: threading.Event) -> None:
    """Send nothing more until the client hangs up (or the test ends)."""
    conn.settimeout(0.1)
    ends = time.monotonic() + MAX_SERVE_SECONDS
    while not stop.is_set() and time.monotonic() < ends:
        try:
            if not conn.recv(1):
                return
        except TimeoutError:
            continue


def hang(conn: socket.socket, stop: threading.Event) -> None:
    """Read the request, then never answer."""
    _hang(conn, stop)


def drip(data: bytes, every: float = 1.0) -> Behaviour:
    """``data`` one byte at a time, ``every`` seconds apart."""

    def behave(conn: socket.socket, stop: threading.Event) -> None:
        ends = time.monotonic() + MAX_SERVE_SECONDS
        for i in range(len(data)):
            if stop.is_set() or time.monotonic() > ends:
                return
            conn.sendall(data[i : i + 1])
            time.sleep(every)

    return behave


def stream(
    prefix: bytes,
    chunk: bytes,
    total: int | None = None,
    *,
    framed: bool | None = None,
    every: float = 0.0,
) -> Behaviour:
    """``prefix`` (the head and the start of the body), then ``chunk`` again and again,
    ``every`` seconds apart, until ``total`` more bytes were sent (``None``: forever).  ``framed``
    (the default without a total) sends each as a chunk of a chunked answer.  The body is never
    built in memory."""
    framed = total is None if framed is None else framed

    def behave(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(prefix)
        sent = 0
        ends = time.monotonic() + MAX_SERVE_SECONDS
        while total is None or sent < total:
            if stop.is_set() or time.monotonic() > ends:
                return
            piece = chunk if total is None else chunk[: total - sent]
            conn.sendall(b"%x\r\n%s\r\n" % (len(piece), piece) if framed else piece)
            sent += len(piece)
            if every:
                time.sleep(every)
        if framed:
            conn.sendall(b"0\r\n\r\n")

    return behave


def chunked(first: bytes) -> bytes:
    """A chunked answer's head and its first chunk."""
    return head() + b"%x\r\n%s\r\n" % (len(first), first)


def fixture(name: str) -> bytes:
    return (FIXTURES / name).read_bytes()


GOOD = fixture("get_dimensions.xml")
START = b'<?xml version="1.0" encoding="UTF-8"?><response><control><status>success</status>'
FILLER = b"<x>" + b"a" * (64 * 1024 - 7) + b"</x>"  # 64 KB of well-formed XML, sent again and again


def xxe(path: Path) -> bytes:
    return (
        b'<?xml version="1.0" encoding="UTF-8"?>\n'
        b'<!DOCTYPE response [<!ENTITY xxe SYSTEM "file://' + str(path).encode() + b'">]>\n'
        b"<response><control><status>success</status></control><operation><authentication>"
        b"<status>success</status><userid>&xxe;</userid><companyid>c</companyid>"
        b"</authentication><result><status>failure</status><function>getDimensions</function>"
        b"<controlid>f</controlid><errormessage><error><errorno>&xxe;</errorno>"
        b"<description2>&xxe;</description2></error></errormessage></result></operation>"
        b"</response>"
    )


@functools.cache
def gzip_bomb(decoded: int) -> bytes:
    """``decoded`` bytes of XML filler, gzip-compressed chunk by chunk (never whole in memory)."""
    packer = zlib.compressobj(9, zlib.DEFLATED, zlib.MAX_WBITS | 16)
    parts = [packer.compress(START)]
    block = b" " * MB
    for _ in range(decoded // MB):
        parts.append(packer.compress(block))
    parts.append(packer.flush())
    return b"".join(parts)


# --- the client ---------------------------------------------------------------------------------


def client_for(server: _Server, **options: object) -> IntacctClient:
    options.setdefault("timeout", TIMEOUT)
    options.setdefault("max_retries", 0)
    options.setdefault("sleep", lambda _s: None)
    creds = Credentials("sender", "sender-pw", "acme", "ws_user", "user-pw")
    return IntacctClient(
        creds,
        endpoint=url_of(server),
        allowed_hosts=["127.0.0.1"],
        **options,  # type: ignore[arg-type]
    )


def send(client: IntacctClient) -> p.Response:
    """One read-only request, signed in with the login itself (no background sign-in)."""
    with client:
        return client.send([p.get_dimensions()], login=client.credentials.login())


def failure(server: _Server, **options: object) -> tuple[IntacctError, float]:
    """The error the client raised and how long the request took, in seconds."""
    client = client_for(server, **options)
    started = time.monotonic()
    with pytest.raises(IntacctError) as info:
        send(client)
    return info.value, time.monotonic() - started


# --- hostile documents --------------------------------------------------------------------------


def test_an_external_entity_is_refused_and_the_file_never_read(
    serve: Callable[[Behaviour], _Server], tmp_path: Path
) -> None:
    secret = tmp_path / "secret.txt"
    secret.write_text("TOP-SECRET-8c1f")
    err, took = failure(serve(answer(xxe(secret))))
    assert isinstance(err, UnsafeDocumentError)
    assert "DTD" in str(err)
    assert "TOP-SECRET" not in str(err)
    assert took < TIMEOUT


def test_an_entity_expansion_bomb_is_refused_quickly(
    serve: Callable[[Behaviour], _Server],
) -> None:
    err, took = failure(serve(answer(BILLION_LAUGHS)))
    assert isinstance(err, UnsafeDocumentError)
    assert took < 1.0


def test_truncated_xml_is_a_protocol_error(serve: Callable[[Behaviour], _Server]) -> None:
    err, took = failure(serve(answer(GOOD[: len(GOOD) // 2])))
    assert type(err) is ProtocolError
    assert "not well-formed XML" in str(err)
    assert took < TIMEOUT


@pytest.mark.parametrize(
    ("body", "content_type", "says"),
    [
        (
            b"<!DOCTYPE html><html><head><title>Maintenance</title></head>"
            b"<body><p>Back soon</p></body></html>",
            "text/html; charset=utf-8",
            "Intacct answered an HTML page (text/html; charset=utf-8) (HTTP 200)",
        ),
        (
            b'{"response": {"control": {"status": "success"}}}',
            "application/json",
            "Intacct answered JSON (application/json) (HTTP 200)",
        ),
    ],
    ids=["html-200", "json"],
)
def test_an_answer_that_is_not_xml_says_what_it_was(
    serve: Callable[[Behaviour], _Server], body: bytes, content_type: str, says: str
) -> None:
    err, took = failure(serve(answer(body, content_type)))
    assert type(err) is ProtocolError
    assert str(err) == says + ", not a gateway response"
    assert took < TIMEOUT


# --- size ---------------------------------------------------------------------------------------


def test_a_declared_200_mb_body_is_refused_before_reading_it(
    serve: Callable[[Behaviour], _Server],
) -> None:
    total = 200 * MB
    server = serve(stream(head(length=total) + START, FILLER, total - len(START)))
    err, took = failure(server)
    assert isinstance(err, ResponseTooLargeError)
    assert str(err) == (
        f"Intacct's answer was larger than the {p.MAX_RESPONSE_BYTES // MB} MB limit (200 MB)"
    )
    assert took < TIMEOUT


def test_a_200_mb_chunked_body_is_cut_off_at_the_cap(
    serve: Callable[[Behaviour], _Server],
) -> None:
    server = serve(stream(chunked(START), FILLER))
    err, took = failure(server, max_response_bytes=4 * MB)
    assert isinstance(err, ResponseTooLargeError)
    assert str(err) == "Intacct's answer was larger than the 4 MB limit"
    assert took < TIMEOUT


def test_the_cap_counts_decoded_bytes_of_a_gzip_bomb(
    serve: Callable[[Behaviour], _Server],
) -> None:
    bomb = gzip_bomb(200 * MB)
    assert len(bomb) < MB  # 200 MB once decoded
    err, took = failure(serve(answer(bomb, Content_Encoding="gzip")))
    assert isinstance(err, ResponseTooLargeError)
    assert "larger than the 64 MB limit" in str(err)
    assert took < TIMEOUT


def test_a_gzip_answer_is_still_decoded(serve: Callable[[Behaviour], _Server]) -> None:
    response = send(client_for(serve(answer(gzip.compress(GOOD), Content_Encoding="gzip"))))
    assert response.results
    assert response.results[0].function == "getDimensions"


def test_a_gzip_answer_over_the_cap_once_decoded_is_refused(
    serve: Callable[[Behaviour], _Server],
) -> None:
    """Compressed, the answer fits the cap; decoded, it does not."""
    packed = gzip.compress(GOOD)
    assert len(packed) < len(GOOD) - 100
    err, _ = failure(
        serve(answer(packed, Content_Encoding="gzip")), max_response_bytes=len(GOOD) - 1
    )
    assert isinstance(err, ResponseTooLargeError)


# --- time ---------------------------------------------------------------------------------------


def test_a_server_that_never_answers_times_out(serve: Callable[[Behaviour], _Server]) -> None:
    err, took = failure(serve(hang))
    assert isinstance(err, RequestTimeout)
    assert str(err) == f"Intacct did not answer within the {TIMEOUT:g} s timeout (getDimensions)"
    assert TIMEOUT - 0.1 < took < TIMEOUT + SLACK


@pytest.mark.parametrize("where", ["headers", "body"])
def test_a_drip_of_one_byte_a_second_ends_at_the_deadline(
    serve: Callable[[Behaviour], _Server], where: str
) -> None:
    """Each byte arrives well within a read timeout of 2 s: only a deadline for the whole request
    ends this."""
    whole = head(length=len(GOOD)) + GOOD
    if where == "headers":
        behaviour = drip(whole)
    else:
        split = len(head(length=len(GOOD))) + 10

        def behaviour(conn: socket.socket, stop: threading.Event) -> None:
            conn.sendall(whole[:split])
            drip(whole[split:])(conn, stop)

    err, took = failure(serve(behaviour))
    assert isinstance(err, RequestTimeout)
    assert TIMEOUT - 0.1 < took < TIMEOUT + SLACK


def test_a_never_ending_trickle_ends_at_the_deadline(
    serve: Callable[[Behaviour], _Server],
) -> None:
    server = serve(stream(chunked(START), b"<x/>", every=0.1))
    err, took = failure(server)
    assert isinstance(err, RequestTimeout)
    assert TIMEOUT - 0.1 < took < TIMEOUT + SLACK


def test_a_never_ending_flood_ends_at_the_cap(serve: Callable[[Behaviour], _Server]) -> None:
    server = serve(stream(chunked(START), FILLER))
    err, took = failure(server)
    assert isinstance(err, ResponseTooLargeError)
    assert took < TIMEOUT + SLACK


def test_a_slow_answer_within_the_deadline_is_read(serve: Callable[[Behaviour], _Server]) -> None:
    """The deadline is for the whole request, not shorter: an answer in ten pieces over a second
    arrives whole."""
    whole = head(length=len(GOOD)) + GOOD
    step = len(whole) // 10 + 1

    def behaviour(conn: socket.socket, stop: threading.Event) -> None:
        for i in range(0, len(whole), step):
            conn.sendall(whole[i : i + step])
            time.sleep(0.1)

    response = send(client_for(serve(behaviour), timeout=3.0))
    assert response.results


def test_a_timeout_is_still_retried_for_a_read(serve: Callable[[Behaviour], _Server]) -> None:
    server = serve(hang)
    err, took = failure(server, timeout=1.0, max_retries=1)
    assert isinstance(err, RequestTimeout)
    assert server.requests == 2
    assert 2.0 - 0.1 < took < 2.0 + SLACK


def test_a_hang_with_every_retry_ends_within_the_policys_longest(
    serve: Callable[[Behaviour], _Server],
) -> None:
    """With a sync's retry count and real pauses, a server that never answers is given up after
    every attempt timed out, within ``RetryPolicy.longest`` of the request's timeout."""
    server = serve(hang)
    timeout = 0.3
    client = client_for(
        server,
        timeout=timeout,
        max_retries=SYNC_RETRIES,
        backoff_initial=0.05,
        backoff_max=0.2,
        sleep=time.sleep,
    )
    started = time.monotonic()
    with pytest.raises(RequestTimeout):
        send(client)
    took = time.monotonic() - started

    assert server.requests == SYNC_RETRIES + 1
    assert (SYNC_RETRIES + 1) * timeout <= took <= client.retry_policy.longest(timeout) + SLACK
    print(f"hang, {SYNC_RETRIES} retries of {timeout} s: gave up after {took:.2f} s")


@pytest.mark.parametrize("content_type", ["text/html", "application/octet-stream", ""])
def test_a_gateway_response_under_another_content_type_is_read(
    serve: Callable[[Behaviour], _Server], content_type: str
) -> None:
    """The gateway sends text/xml; a proxy that relabels it does not make it unreadable: the
    body decides (the official SDKs parse the body whatever its type too)."""
    response = send(client_for(serve(answer(GOOD, content_type))))

    assert response.results


# --- Content-Length that lies -------------------------------------------------------------------


def test_a_body_shorter_than_its_content_length_then_closed(
    serve: Callable[[Behaviour], _Server],
) -> None:
    def behaviour(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(head(length=len(GOOD) * 10) + GOOD)
        conn.shutdown(socket.SHUT_WR)

    err, took = failure(serve(behaviour))
    assert type(err) is TransportError
    assert str(err).startswith("Intacct's answer broke off or was not valid HTTP")
    assert took < TIMEOUT


def test_a_body_shorter_than_its_content_length_then_silence(
    serve: Callable[[Behaviour], _Server],
) -> None:
    def behaviour(conn: socket.socket, stop: threading.Event) -> None:
        conn.sendall(head(length=len(GOOD) * 10) + GOOD)
        _hang(conn, stop)

    err, took = failure(serve(behaviour))
    assert isinstance(err, RequestTimeout)
    assert TIMEOUT - 0.1 < took < TIMEOUT + SLACK


def test_a_content_length_shorter_than_the_body_reads_no_further(
    serve: Callable[[Behaviour], _Server],
) -> None:
    """What follows the declared length is not the answer: the document read is cut there."""
    server = serve(stream(head(length=len(START)) + START, FILLER, 200 * MB))
    err, took = failure(server)
    assert type(err) is ProtocolError
    assert "not well-formed XML" in str(err)
    assert took < TIMEOUT


# --- memory -------------------------------------------------------------------------------------

_MEASURE = """
import json, sys, time
from intacct import protocol as p
from intacct.client import Credentials, IntacctClient
from intacct.errors import IntacctError

def peak_kb():
    for line in open("/proc/self/status"):
        if line.startswith("VmHWM:"):
            return int(line.split()[1])

url, timeout = sys.argv[1], float(sys.argv[2])
creds = Credentials("sender", "sender-pw", "acme", "ws_user", "user-pw")
client = IntacctClient(creds, endpoint=url, allowed_hosts=["127.0.0.1"], timeout=timeout,
                       max_retries=0)
fn = p.get_dimensions()
before = peak_kb()
started = time.monotonic()
try:
    client.send([fn], login=creds.login())
    error, message = None, ""
except IntacctError as exc:
    error, message = type(exc).__name__, str(exc)
took = time.monotonic() - started
after = peak_kb()
print(json.dumps({"error": error, "message": message, "seconds": round(took, 2),
                  "peak_before_mb": round(before / 1024, 1), "peak_after_mb": round(after / 1024, 1),
                  "growth_mb": round((after - before) / 1024, 1)}))
"""


def measure(server: _Server) -> dict[str, object]:
    """The client's error, time and peak RSS growth, from a process of its own."""
    env = {**os.environ, "PYTHONPATH": str(BASE_DIR)}
    done = subprocess.run(
        [sys.executable, "-c", _MEASURE, url_of(server), str(TIMEOUT)],
        capture_output=True,
        text=True,
        env=env,
        cwd=BASE_DIR,
        timeout=60,
        check=True,
    )
    figures: dict[str, object] = json.loads(done.stdout)
    return figures


#: Each case as its server plays it: 200 MB that the client must cut off at the cap.
MEMORY_CASES: dict[str, Callable[[], Behaviour]] = {
    # 200 MB of chunks, then the end: no Content-Length says how large it is.
    "200-mb-chunked": lambda: stream(chunked(START), FILLER, 200 * MB, framed=True),
    "200-mb-declared": lambda: stream(head(length=200 * MB) + START, FILLER, 200 * MB - len(START)),
    "never-ending": lambda: stream(chunked(START), FILLER),
    "gzip-bomb": lambda: answer(gzip_bomb(200 * MB), Content_Encoding="gzip"),
}


@pytest.mark.parametrize("case", list(MEMORY_CASES))
def test_peak_memory_stays_bounded_by_the_cap(
    serve: Callable[[Behaviour], _Server], case: str
) -> None:
    figures = measure(serve(MEMORY_CASES[case]()))
    print(f"\n{case}: {json.dumps(figures)}")
    assert figures["error"] == "ResponseTooLargeError"
    assert isinstance(figures["seconds"], float)
    assert figures["seconds"] < TIMEOUT + SLACK
    assert isinstance(figures["growth_mb"], float)
    assert figures["growth_mb"] * MB < p.MAX_RESPONSE_BYTES + RSS_HEADROOM


def test_the_sync_retry_count_here_is_the_syncs():
    from connections.services.smartsync import MAX_RETRIES

    assert SYNC_RETRIES == MAX_RETRIES
