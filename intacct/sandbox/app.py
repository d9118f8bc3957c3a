"""The sandbox as a WSGI application: the gateway path plus JSON control endpoints.

Use it in-process (``httpx.Client(transport=httpx.WSGITransport(app=make_app(sandbox)))``) or
behind :mod:`intacct.sandbox.server`.

Control endpoints (JSON, outside the gateway path):

- ``GET /sandbox/``: health, scenarios, and every company with its scenario and record counts.
- ``POST /sandbox/companies/<company_id>/scenario``: form or JSON ``{"scenario": name}``.
- ``POST /sandbox/companies/<company_id>/mutate``: JSON ``{"adds": n, "changes": n,
  "deletes": n, "objects": [...], "seed": n, "audited": true}`` (all optional; ``audited``
  false leaves the changes out of the company's audit trail).
- ``GET /sandbox/companies/<company_id>/snapshot?object=VENDOR``: ``{recordno: whenmodified}``.
- ``GET /sandbox/companies/<company_id>/stats``: requests, functions run and failed, the most
  requests it had in flight at once, and how many it refused as over its limit.
- ``GET|POST /sandbox/companies/<company_id>/faults``: the company's fault plan
  (``intacct.sandbox.world.FaultPlan``: bursts of 5xx, storms of 429, sessions expiring every
  few requests, connection resets, latency); POST ``{}`` clears it.
- ``POST /sandbox/reset``: every company back to its initial scenario and records.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict
from typing import Any
from urllib.parse import parse_qs, unquote

from . import GATEWAY_PATH
from .gateway import MAX_REQUEST_BYTES, RESET, Gateway
from .scenarios import SCENARIOS
from .world import FaultPlan, Sandbox

#: The header by which the app asks the server to reset the connection instead of answering.
RESET_HEADER = "X-Sandbox-Reset"

__all__ = ["WSGIApp", "make_app"]

logger = logging.getLogger("intacct.sandbox")

StartResponse = Callable[..., Any]
WSGIApp = Callable[[dict[str, Any], StartResponse], Iterable[bytes]]

_REASONS = {
    200: "OK",
    400: "Bad Request",
    401: "Unauthorized",
    404: "Not Found",
    500: "Internal Server Error",
    405: "Method Not Allowed",
    413: "Request Entity Too Large",
    429: "Too Many Requests",
    502: "Bad Gateway",
    503: "Service Unavailable",
    524: "A Timeout Occurred",
}


def _status(code: int) -> str:
    return f"{code} {_REASONS.get(code, 'Unknown')}"


def _read_body(environ: dict[str, Any], limit: int) -> bytes:
    stream = environ.get("wsgi.input")
    if stream is None:
        return b""
    try:
        length = int(environ.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > 0:
        return bytes(stream.read(min(length, limit + 1)))
    return b""


def _base_url(environ: dict[str, Any]) -> str:
    scheme = environ.get("wsgi.url_scheme", "http")
    host = environ.get("HTTP_HOST")
    if not host:
        host = environ.get("SERVER_NAME", "localhost")
        port = str(environ.get("SERVER_PORT", ""))
        if port and port not in ("80", "443"):
            host = f"{host}:{port}"
    return f"{scheme}://{host}"


def make_app(sandbox: Sandbox) -> WSGIApp:
    """The WSGI callable serving ``sandbox``: the gateway at ``GATEWAY_PATH`` and the control
    endpoints under ``/sandbox/``."""
    gateway = Gateway(sandbox)

    def respond(
        start_response: StartResponse,
        code: int,
        body: bytes,
        content_type: str,
        headers: Sequence[tuple[str, str]] = (),
    ) -> list[bytes]:
        start_response(
            _status(code),
            [("Content-Type", content_type), ("Content-Length", str(len(body))), *headers],
        )
        return [body]

    def json_reply(start_response: StartResponse, code: int, payload: Any) -> list[bytes]:
        body = json.dumps(payload).encode("utf-8")
        return respond(start_response, code, body, "application/json")

    def app(environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "") or "/"
        method = environ.get("REQUEST_METHOD", "GET").upper()
        if path == GATEWAY_PATH:
            if method != "POST":
                return respond(start_response, 405, b"Method Not Allowed", "text/plain")
            body = _read_body(environ, MAX_REQUEST_BYTES)
            try:
                reply = gateway.handle(body, _base_url(environ))
            except Exception:
                # A mid-process failure: the real gateway gives no XML then, just an HTTP 500.
                logger.exception("sandbox gateway failed")
                return respond(start_response, 500, b"Internal Server Error", "text/plain")
            headers = list(reply.headers)
            if reply.status == RESET:
                # The server resets the connection instead of answering (see server.py).
                headers.append((RESET_HEADER, "1"))
            return respond(start_response, reply.status, reply.body, reply.content_type, headers)
        if path == "/sandbox" or path.startswith("/sandbox/"):
            try:
                code, payload = _control(sandbox, method, path, environ)
            except ValueError as exc:
                code, payload = 400, {"error": str(exc)}
            return json_reply(start_response, code, payload)
        return respond(start_response, 404, b"Not Found", "text/plain")

    return app


def _payload(environ: dict[str, Any]) -> dict[str, Any]:
    body = _read_body(environ, 1 << 20)
    if not body.strip():
        return {}
    content_type = str(environ.get("CONTENT_TYPE", ""))
    if "json" in content_type or body.lstrip()[:1] in (b"{", b"["):
        try:
            data = json.loads(body)
        except json.JSONDecodeError as exc:
            raise ValueError(f"invalid JSON: {exc}") from None
        if not isinstance(data, dict):
            raise ValueError("expected a JSON object")
        return data
    form = parse_qs(body.decode("utf-8", "replace"))
    return {k: v[0] if len(v) == 1 else v for k, v in form.items()}


def _int_field(data: dict[str, Any], name: str) -> int:
    value = data.get(name, 0)
    try:
        number = int(value)
    except (TypeError, ValueError):
        raise ValueError(f"{name} must be an integer") from None
    if number < 0:
        raise ValueError(f"{name} must not be negative")
    return number


def _control(sandbox: Sandbox, method: str, path: str, environ: dict[str, Any]) -> tuple[int, Any]:
    parts = [unquote(p) for p in path.strip("/").split("/")]
    if parts == ["sandbox"]:
        if method != "GET":
            return 405, {"error": "use GET"}
        return 200, {
            "status": "ok",
            "gateway": f"{_base_url(environ)}{GATEWAY_PATH}",
            "records": sandbox.records,
            "scenarios": [
                {"name": s.name, "description": s.description} for s in SCENARIOS.values()
            ],
            "companies": [c.summary() for c in sandbox.companies],
        }
    if parts == ["sandbox", "reset"]:
        if method != "POST":
            return 405, {"error": "use POST"}
        sandbox.reset()
        return 200, {"status": "reset"}
    if len(parts) == 4 and parts[:2] == ["sandbox", "companies"]:
        company = sandbox.find_company(parts[2])
        if company is None:
            return 404, {"error": f"unknown company {parts[2]}"}
        action = parts[3]
        if action == "scenario" and method == "POST":
            name = str(_payload(environ).get("scenario", ""))
            if name.replace("-", "_") not in SCENARIOS:
                return 400, {"error": f"unknown scenario {name!r}", "scenarios": list(SCENARIOS)}
            sandbox.set_scenario(company.company_id, name)
            return 200, {"company_id": company.company_id, "scenario": company.scenario.name}
        if action == "mutate" and method == "POST":
            data = _payload(environ)
            objects = data.get("objects")
            if objects is not None and not isinstance(objects, list):
                objects = [str(objects)]
            seed = data.get("seed")
            try:
                done = company.mutate(
                    adds=_int_field(data, "adds"),
                    changes=_int_field(data, "changes"),
                    deletes=_int_field(data, "deletes"),
                    objects=[str(o) for o in objects] if objects is not None else None,
                    seed=int(seed) if seed is not None else None,
                    audited=data.get("audited", True) is not False,
                )
            except KeyError as exc:
                return 400, {"error": f"unknown object {exc.args[0]}"}
            return 200, {name: asdict(summary) for name, summary in done.items()}
        if action == "faults" and method in ("GET", "POST"):
            if method == "POST":
                company.faults = FaultPlan.of(_payload(environ))
            return 200, {"company_id": company.company_id, "faults": asdict(company.faults)}
        if action == "stats" and method == "GET":
            with company.lock:
                return 200, {
                    "requests": company.request_count,
                    "functions_run": company.functions_run,
                    "functions_failed": company.functions_failed,
                    "peak_in_flight": company.peak_in_flight,
                    "refused_busy": company.refused_busy,
                    "audit_rows": len(company.audit),
                }
        if action == "snapshot" and method == "GET":
            query = parse_qs(str(environ.get("QUERY_STRING", "")))
            name = (query.get("object") or [""])[0]
            if not name:
                return 400, {"error": "object is required"}
            try:
                snap = company.snapshot(name)
            except KeyError:
                return 404, {"error": f"unknown object {name}"}
            return 200, {str(k): v for k, v in snap.items()}
        return 405, {"error": f"{method} not allowed on {action}"}
    return 404, {"error": "not found"}
