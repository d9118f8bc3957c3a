"""Reading an answer from the gateway safely: one deadline for the whole request, and a size cap
enforced while the body arrives.

httpx's timeouts bound each network operation, not the request: a server that sends one byte a
second never trips a 10 s read timeout, and neither does one that drips its headers.  Here:

- :func:`deadline` starts a deadline for the requests its block sends from the current thread
  (a context variable: a helper thread that runs in a copied context has its own).
- :func:`bound_by_deadline` makes an ``httpx.Client``'s connections honour it: every connect,
  write and read gets no more than the time left, and fails as httpx's own timeout would
  (``httpx.TimeoutException``) once none is left.  The deadline thus covers connect, send, the
  answer's headers and its whole body.
- :func:`read_body` reads a streamed answer in chunks, decoding gzip/deflate itself with a bound
  on each step's output, and stops as soon as the decoded body passes the cap or the deadline
  has passed: a 200 MB answer, or a decompression bomb, never sits in memory.
"""

from __future__ import annotations

import ssl
import time
import zlib
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

import httpcore
import httpx

from .errors import ProtocolError
from .protocol import too_large

__all__ = ["bound_by_deadline", "deadline", "read_body", "time_left"]

_deadline: ContextVar[float | None] = ContextVar("intacct_request_deadline", default=None)

#: Most bytes one decompression step may produce: a small compressed chunk can expand a
#: thousandfold, so output is taken in steps no larger than this.
DECODE_STEP = 1024 * 1024


@contextmanager
def deadline(seconds: float) -> Iterator[None]:
    """Give the requests this block sends ``seconds`` in all (see :func:`bound_by_deadline`)."""
    token = _deadline.set(time.monotonic() + seconds)
    try:
        yield
    finally:
        _deadline.reset(token)


def time_left() -> float | None:
    """Seconds left before the current block's deadline (``None``: no deadline)."""
    end = _deadline.get()
    return None if end is None else end - time.monotonic()


def _bounded(timeout: float | None, expired: type[httpcore.TimeoutException]) -> float | None:
    """``timeout`` shortened to the time left; ``expired`` raised when none is left."""
    left = time_left()
    if left is None:
        return timeout
    if left <= 0:
        raise expired("the request's deadline passed")
    return left if timeout is None else min(timeout, left)


class _DeadlineStream(httpcore.NetworkStream):
    """A connection whose every operation waits no longer than the current deadline allows."""

    def __init__(self, inner: httpcore.NetworkStream) -> None:
        self._inner = inner

    def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return self._inner.read(max_bytes, _bounded(timeout, httpcore.ReadTimeout))

    def write(self, buffer: bytes, timeout: float | None = None) -> None:
        self._inner.write(buffer, _bounded(timeout, httpcore.WriteTimeout))

    def close(self) -> None:
        self._inner.close()

    def start_tls(
        self,
        ssl_context: ssl.SSLContext,
        server_hostname: str | None = None,
        timeout: float | None = None,
    ) -> httpcore.NetworkStream:
        bounded = _bounded(timeout, httpcore.ConnectTimeout)
        return _DeadlineStream(self._inner.start_tls(ssl_context, server_hostname, bounded))

    def get_extra_info(self, info: str) -> Any:
        return self._inner.get_extra_info(info)


class _DeadlineBackend(httpcore.NetworkBackend):
    """Opens connections as ``inner`` does, each bounded by the current deadline."""

    def __init__(self, inner: httpcore.NetworkBackend) -> None:
        self.inner = inner

    def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self.inner.connect_tcp(
            host,
            port,
            _bounded(timeout, httpcore.ConnectTimeout),
            local_address,
            socket_options,
        )
        return _DeadlineStream(stream)

    def connect_unix_socket(
        self,
        path: str,
        timeout: float | None = None,
        socket_options: Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.NetworkStream:
        stream = self.inner.connect_unix_socket(
            path, _bounded(timeout, httpcore.ConnectTimeout), socket_options
        )
        return _DeadlineStream(stream)

    def sleep(self, seconds: float) -> None:
        self.inner.sleep(seconds)


def bound_by_deadline(client: httpx.Client) -> bool:
    """Make ``client``'s own network connections (its default transport and the proxies it
    mounted) honour :func:`deadline`.  Returns whether any did: a transport the caller passed in
    (an in-process app, a mock) has no connections, and :func:`read_body` still checks the
    deadline between chunks."""
    # httpx lets no caller choose the network backend of the connection pool it builds: it is
    # swapped here, on the pools of the transports the client made (private attributes, checked
    # by the hostile-server tests).
    done = False
    for transport in (client._transport, *client._mounts.values()):
        pool = getattr(transport, "_pool", None)
        backend = getattr(pool, "_network_backend", None)
        if isinstance(backend, httpcore.NetworkBackend):
            if not isinstance(backend, _DeadlineBackend):
                pool._network_backend = _DeadlineBackend(backend)  # type: ignore[union-attr]
            done = True
    return done


def _check_deadline() -> None:
    left = time_left()
    if left is not None and left <= 0:
        # As a read that ran out of time would fail: the caller handles both alike.
        raise httpx.ReadTimeout("the request's deadline passed")


class _Decoder:
    """One content coding (gzip, deflate), decoded in bounded steps."""

    def __init__(self, coding: str) -> None:
        # gzip: a gzip header; deflate: a zlib header, though some servers send raw deflate.
        self._gzip = coding in ("gzip", "x-gzip")
        self._zlib = zlib.decompressobj(zlib.MAX_WBITS | 16 if self._gzip else zlib.MAX_WBITS)
        self._started = False

    def decode(self, data: bytes) -> Iterator[bytes]:
        while data:
            try:
                out = self._zlib.decompress(data, DECODE_STEP)
            except zlib.error:
                if self._gzip or self._started:
                    raise ProtocolError("Intacct's answer is not valid compressed data") from None
                self._zlib = zlib.decompressobj(-zlib.MAX_WBITS)  # raw deflate
                self._started = True
                continue
            self._started = True
            data = self._zlib.unconsumed_tail
            if out:
                yield out
            if self._zlib.eof:
                return


def _decoders(response: httpx.Response) -> list[_Decoder]:
    codings = [c.strip().lower() for c in response.headers.get("content-encoding", "").split(",")]
    codings = [c for c in codings if c and c != "identity"]
    for coding in codings:
        if coding not in ("gzip", "x-gzip", "deflate"):
            raise ProtocolError(
                f"Intacct's answer uses the content encoding {coding!r}, which was not asked for"
            )
    # Codings are listed in the order they were applied: undo them from the last.
    return [_Decoder(c) for c in reversed(codings)]


def _decoded(chunk: bytes, decoders: list[_Decoder]) -> Iterator[bytes]:
    if not decoders:
        yield chunk
        return
    first, rest = decoders[0], decoders[1:]
    for piece in first.decode(chunk):
        yield from _decoded(piece, rest)


def read_body(response: httpx.Response, *, max_bytes: int) -> bytes:
    """The body of a streamed ``response``, decoded.

    Raises :class:`~intacct.errors.ResponseTooLargeError` as soon as the decoded body passes
    ``max_bytes`` (at once when an uncompressed answer declares a larger ``Content-Length``),
    :class:`~intacct.errors.ProtocolError` for a content encoding it cannot decode, and
    ``httpx.ReadTimeout`` when the current :func:`deadline` passes between chunks.  Memory stays
    within ``max_bytes`` plus one decoding step.
    """
    if response.is_stream_consumed:
        # A transport that built the answer in memory (httpx.MockTransport) has read and
        # decoded it already.
        if len(response.content) > max_bytes:
            raise too_large(max_bytes, len(response.content))
        return response.content
    decoders = _decoders(response)
    declared = response.headers.get("content-length", "")
    if not decoders and declared.isdigit() and int(declared) > max_bytes:
        raise too_large(max_bytes, int(declared))
    body = bytearray()
    for chunk in response.iter_raw():
        for piece in _decoded(chunk, decoders):
            if len(body) + len(piece) > max_bytes:
                raise too_large(max_bytes)
            body += piece
        _check_deadline()
    return bytes(body)
