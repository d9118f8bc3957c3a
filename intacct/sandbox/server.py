"""A small threaded HTTP/1.1 server (keep-alive) for the sandbox's WSGI app, stdlib only.

:func:`serve_in_thread` runs it in a background thread of the current process (tests,
benchmarks); :func:`serve_forever` runs it in the foreground (``python -m intacct.sandbox``).
"""

from __future__ import annotations

import io
import logging
import socket
import struct
import sys
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, ClassVar

from .app import RESET_HEADER, WSGIApp, make_app
from .world import Sandbox

__all__ = ["SandboxServer", "make_server", "serve_forever", "serve_in_thread"]

logger = logging.getLogger("intacct.sandbox")

#: Request bodies above this size are refused before being read.
MAX_BODY_BYTES = 8 * 1024 * 1024


class _Handler(BaseHTTPRequestHandler):
    """Adapts one HTTP request to the WSGI app; keeps the connection open between requests."""

    protocol_version = "HTTP/1.1"
    server_version = "IntacctSandbox/1.0"
    sys_version = ""
    #: Idle keep-alive connections are closed after this many seconds.
    timeout = 60
    #: TCP_NODELAY: the body, written after the headers, goes out at once instead of waiting for
    #: the client's delayed ACK of the headers (Nagle's algorithm), which added about 40 ms to
    #: small answers and made every request look slower than the configured latency.
    disable_nagle_algorithm = True
    app: ClassVar[WSGIApp]
    quiet: ClassVar[bool] = True

    def _body(self) -> bytes:
        if "chunked" in (self.headers.get("Transfer-Encoding") or "").lower():
            chunks = []
            while True:
                size_line = self.rfile.readline(1024)
                size = int(size_line.split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline(1024) not in (b"\r\n", b"\n", b""):
                        pass
                    break
                chunks.append(self.rfile.read(size))
                self.rfile.readline(1024)
            return b"".join(chunks)
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _run(self) -> None:
        try:
            declared = int(self.headers.get("Content-Length") or 0)
        except ValueError:
            declared = 0
        if declared > MAX_BODY_BYTES:
            self.close_connection = True
            self.send_response(413, "Request Entity Too Large")
            self.send_header("Content-Type", "text/plain")
            self.send_header("Content-Length", "0")
            self.send_header("Connection", "close")
            self.end_headers()
            return
        body = self._body()
        path, _, query = self.path.partition("?")
        address = self.server.server_address
        host, port = (address[0], address[1]) if isinstance(address, tuple) else (address, 0)
        environ: dict[str, Any] = {
            "REQUEST_METHOD": self.command,
            "SCRIPT_NAME": "",
            "PATH_INFO": path,
            "QUERY_STRING": query,
            "CONTENT_TYPE": self.headers.get("Content-Type", ""),
            "CONTENT_LENGTH": str(len(body)),
            "SERVER_NAME": str(host),
            "SERVER_PORT": str(port),
            "SERVER_PROTOCOL": self.request_version,
            "REMOTE_ADDR": self.client_address[0],
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "http",
            "wsgi.input": io.BytesIO(body),
            "wsgi.errors": sys.stderr,
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
        }
        for key, value in self.headers.items():
            name = "HTTP_" + key.upper().replace("-", "_")
            if name not in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
                environ[name] = value
        captured: dict[str, Any] = {}

        def start_response(
            status: str, headers: list[tuple[str, str]], exc_info: Any = None
        ) -> Callable[[bytes], None]:
            captured["status"] = status
            captured["headers"] = headers
            return lambda data: None

        try:
            out = b"".join(type(self).app(environ, start_response))
        except Exception:
            logger.exception("sandbox request failed: %s %s", self.command, path)
            captured = {
                "status": "500 Internal Server Error",
                "headers": [("Content-Type", "text/plain")],
            }
            out = b"Internal Server Error"
        if any(key == RESET_HEADER for key, _ in captured["headers"]):
            # A connection reset (a fault plan's): RST instead of an answer.
            self.close_connection = True
            self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.connection.close()
            return
        code, _, reason = captured["status"].partition(" ")
        self.send_response(int(code), reason)
        names = set()
        for key, value in captured["headers"]:
            names.add(key.lower())
            self.send_header(key, value)
        if "content-length" not in names:
            self.send_header("Content-Length", str(len(out)))
        if self.close_connection:
            self.send_header("Connection", "close")
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(out)

    def do_GET(self) -> None:
        self._run()

    def do_POST(self) -> None:
        self._run()

    def do_PUT(self) -> None:
        self._run()

    def do_HEAD(self) -> None:
        self._run()

    def log_message(self, format: str, *args: Any) -> None:
        if not type(self).quiet:
            logger.info("%s %s", self.address_string(), format % args)


class SandboxServer(ThreadingHTTPServer):
    """A threading HTTP server bound to one sandbox."""

    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], sandbox: Sandbox, *, quiet: bool = True) -> None:
        handler = type("SandboxHandler", (_Handler,), {"app": make_app(sandbox), "quiet": quiet})
        super().__init__(address, handler)
        self.sandbox = sandbox

    def handle_error(self, request: Any, client_address: Any) -> None:
        """A client that hung up before its answer was written (it timed out, or was closed) is
        routine: noted quietly, not printed as a traceback."""
        if isinstance(sys.exc_info()[1], ConnectionError):
            logger.debug("sandbox client %s hung up", client_address)
            return
        super().handle_error(request, client_address)

    @property
    def url(self) -> str:
        """``http://host:port`` of the listening socket."""
        address = self.server_address
        assert isinstance(address, tuple)
        return f"http://{address[0]!s}:{address[1]}"


def make_server(
    sandbox: Sandbox, host: str = "127.0.0.1", port: int = 8765, *, quiet: bool = True
) -> SandboxServer:
    """A bound (not yet serving) server for ``sandbox``."""
    return SandboxServer((host, port), sandbox, quiet=quiet)


def serve_in_thread(
    sandbox: Sandbox, port: int = 0, host: str = "127.0.0.1"
) -> tuple[str, Callable[[], None]]:
    """Serve ``sandbox`` from a daemon thread; returns ``(base_url, stop)``.

    ``port=0`` picks a free port.  The gateway is at ``base_url + GATEWAY_PATH``.
    """
    server = make_server(sandbox, host, port)
    thread = threading.Thread(
        target=server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True
    )
    thread.start()
    stopped = threading.Event()

    def stop() -> None:
        if stopped.is_set():
            return
        stopped.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)

    return server.url, stop


def serve_forever(server: SandboxServer) -> None:
    """Serve until interrupted (Ctrl-C), then close cleanly."""
    try:
        server.serve_forever(poll_interval=0.2)
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
