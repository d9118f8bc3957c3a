"""The threaded HTTP server and the command line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

import httpx

from intacct.sandbox import GATEWAY_PATH, SANDBOX_SENDER_ID, SANDBOX_SENDER_PASSWORD
from intacct.sandbox.server import serve_in_thread
from intacct.sandbox.world import Sandbox


def _request(company: str) -> bytes:
    return (
        '<?xml version="1.0" encoding="UTF-8"?><request><control>'
        f"<senderid>{SANDBOX_SENDER_ID}</senderid><password>{SANDBOX_SENDER_PASSWORD}</password>"
        "<controlid>c</controlid><uniqueid>false</uniqueid><dtdversion>3.0</dtdversion></control>"
        "<operation><authentication><login><userid>Beanworks</userid>"
        f"<companyid>{company}</companyid><password>Sandbox-Pa55word</password></login>"
        "</authentication><content><function controlid='f'><getAPISession/></function></content>"
        "</operation></request>"
    ).encode()


def test_serve_in_thread_keeps_connections_alive():
    url, stop = serve_in_thread(Sandbox(records=10, scenarios=["healthy_top"]))
    try:
        ports = set()

        def remember(response: httpx.Response) -> None:
            stream = response.extensions.get("network_stream")
            if stream is not None:
                ports.add(stream.get_extra_info("client_addr"))

        with httpx.Client(base_url=url, event_hooks={"response": [remember]}) as client:
            for _ in range(3):
                r = client.post(GATEWAY_PATH, content=_request("healthy-top"))
                assert r.status_code == 200
                assert b"<status>success</status>" in r.content
                assert f"<endpoint>{url}{GATEWAY_PATH}</endpoint>".encode() in r.content
            assert client.get("/sandbox/").json()["status"] == "ok"
        assert len(ports) == 1
    finally:
        stop()
    stop()  # idempotent


def test_command_line_serves_and_stops_on_ctrl_c():
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "intacct.sandbox",
            "--port",
            "0",
            "--records",
            "7",
            "--scenario",
            "no_role",
            "--mutate-every",
            "30",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    try:
        first = proc.stdout.readline()
        assert first.startswith("Intacct sandbox gateway: http://127.0.0.1:")
        gateway = first.split(": ", 1)[1].strip()
        base = gateway[: -len(GATEWAY_PATH)]
        lines = []
        while "Press Ctrl-C" not in (line := proc.stdout.readline()):
            lines.append(line)
        assert any("healthy-top" in line for line in lines)
        health = httpx.get(f"{base}/sandbox/", timeout=5).json()
        companies = {c["company_id"]: c for c in health["companies"]}
        assert companies["sandbox"]["scenario"] == "no_role"
        assert companies["healthy-top"]["records"]["VENDOR"] == 7
        r = httpx.post(gateway, content=_request("sandbox"), timeout=5)
        assert r.status_code == 200
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
        assert proc.returncode == 0, err
        assert "Sandbox stopped." in out
        assert "Traceback" not in err
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_stats_count_every_companys_requests_and_functions():
    """``/sandbox/companies/<id>/stats`` counts each request that reached the company, whatever
    its scenario, and the functions it ran."""
    url, stop = serve_in_thread(Sandbox(records=10, scenarios=["healthy_top"]))
    try:
        with httpx.Client(base_url=url) as client:
            for _ in range(3):
                answer = client.post(GATEWAY_PATH, content=_request("healthy-top"))
                assert answer.status_code == 200
            stats = client.get("/sandbox/companies/healthy-top/stats").json()
    finally:
        stop()
    assert stats["requests"] == 3
    assert stats["functions_run"] == 3
    assert stats["peak_in_flight"] == 1
    assert stats["refused_busy"] == 0


def test_a_fault_plan_answers_each_request_by_its_number():
    """``/sandbox/companies/<id>/faults``: a burst of 503s, a storm of 429s with Retry-After, a
    connection reset (no answer at all over real HTTP); ``{}`` clears the plan."""
    url, stop = serve_in_thread(Sandbox(records=10, scenarios=["healthy_top"]))
    try:
        with httpx.Client(base_url=url) as client:
            plan = {"errors_every": 3, "errors_burst": 1, "rate_limit_every": 4,
                    "rate_limit_storm": 1, "retry_after": 2, "reset_every": 5}  # fmt: skip
            answer = client.post("/sandbox/companies/healthy-top/faults", json=plan)
            assert answer.json()["faults"]["errors_every"] == 3
            seen = []
            for _ in range(6):
                try:
                    reply = client.post(GATEWAY_PATH, content=_request("healthy-top"))
                except httpx.TransportError as exc:
                    seen.append(type(exc).__name__)
                    continue
                seen.append((reply.status_code, reply.headers.get("retry-after")))
            assert seen[:4] == [(200, None), (200, None), (503, None), (429, "2")]
            assert isinstance(seen[4], str)  # the fifth: reset, no answer
            assert seen[5] == (503, None)  # the sixth: 6 % 3 == 0
            bad = client.post("/sandbox/companies/healthy-top/faults", json={"nope": 1})
            assert bad.status_code == 400
            assert "unknown fault fields: nope" in bad.json()["error"]
            client.post("/sandbox/companies/healthy-top/faults", json={})
            assert client.post(GATEWAY_PATH, content=_request("healthy-top")).status_code == 200
    finally:
        stop()
