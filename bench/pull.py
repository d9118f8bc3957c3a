"""Pull VENDOR from the sandbox gateway over loopback, three ways, and print records/s.

    python bench/pull.py --records 100000

(a) our client through ``python -m intacct pull VENDOR`` (a separate process, JSON lines out),
(b) fylein's ``sageintacctsdk`` (``vendors.get_all_generator``, its streaming path),
(c) the single-stream ceiling: a bare loop of HTTP posts of prebuilt ``query`` envelopes plus an
    lxml parse of each page, no client logic at all.

All three read the same fields at 2,000 records a page from one sandbox server process.
Targets: (a) >= 0.8 x (c) and (a) >= 10 x (b).  Also prints the peak RSS of (a).
"""

from __future__ import annotations

import argparse
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
from lxml import etree

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from intacct import protocol as p  # noqa: E402
from intacct.catalog import get_object  # noqa: E402
from intacct.client import Credentials, IntacctClient  # noqa: E402
from intacct.sandbox import (  # noqa: E402
    GATEWAY_PATH,
    SANDBOX_SENDER_ID,
    SANDBOX_SENDER_PASSWORD,
    SANDBOX_USER_ID,
    SANDBOX_USER_PASSWORD,
)

COMPANY = "healthy-top"
OBJECT = "VENDOR"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def start_sandbox(records: int, latency_ms: float = 0.0) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "intacct.sandbox",
            "--port",
            str(port),
            "--records",
            str(records),
            "--latency-ms",
            str(latency_ms),
        ],
        cwd=ROOT,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(url + "/sandbox/", timeout=1).status_code == 200:
                return proc, url + GATEWAY_PATH
        except httpx.HTTPError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("the sandbox did not start")


def credentials() -> Credentials:
    return Credentials(
        SANDBOX_SENDER_ID, SANDBOX_SENDER_PASSWORD, COMPANY, SANDBOX_USER_ID, SANDBOX_USER_PASSWORD
    )


def run_ours(endpoint: str, fields: list[str]) -> tuple[int, float, float, float, str]:
    """(a): records, seconds of the whole process, seconds of the pull itself (as the command
    reports it: sign-in to last record, without interpreter start-up), peak RSS in MB."""
    env = dict(
        os.environ, BENCH_SENDER_PW=SANDBOX_SENDER_PASSWORD, BENCH_USER_PW=SANDBOX_USER_PASSWORD
    )
    cmd = [
        sys.executable,
        "-m",
        "intacct",
        "pull",
        OBJECT,
        "--fields",
        ",".join(fields),
        "--endpoint",
        endpoint,
        "--allow-endpoint",
        "127.0.0.1",
        "--sender-id",
        SANDBOX_SENDER_ID,
        "--sender-password-env",
        "BENCH_SENDER_PW",
        "--company",
        COMPANY,
        "--user",
        SANDBOX_USER_ID,
        "--password-env",
        "BENCH_USER_PW",
    ]
    started = time.perf_counter()
    proc = subprocess.Popen(cmd, cwd=ROOT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert proc.stdout is not None
    assert proc.stderr is not None
    lines = 0
    for chunk in iter(lambda: proc.stdout.read(1 << 20), b""):  # type: ignore[union-attr]
        lines += chunk.count(b"\n")
    progress = proc.stderr.read().decode()
    _, status, usage = os.wait4(proc.pid, 0)
    elapsed = time.perf_counter() - started
    if status != 0:
        raise SystemExit(f"python -m intacct pull failed with status {status}: {progress}")
    # The last progress line: "VENDOR: N records in S.SSs (…/s, R requests)"
    last = progress.rsplit("\r", 1)[-1]
    match = re.search(r"records in ([0-9.]+)s", last)
    pull_seconds = float(match.group(1)) if match else elapsed
    requests = re.search(r"([0-9]+) requests", last)
    made = requests.group(1) if requests else "-"
    return lines, elapsed, pull_seconds, usage.ru_maxrss / 1024, made


def run_sdk(endpoint: str, fields: list[str]) -> tuple[int, float, int]:
    """(b): fylein's sageintacctsdk, its posts routed from api.intacct.com to the sandbox."""
    import requests
    from sageintacctsdk import SageIntacctSDK

    original = requests.post
    calls = 0

    def post(url: str, *args: object, **kwargs: object) -> requests.Response:
        nonlocal calls
        calls += 1
        return original(endpoint, *args, **kwargs)  # type: ignore[arg-type]

    requests.post = post  # type: ignore[assignment]
    try:
        started = time.perf_counter()
        sdk = SageIntacctSDK(
            sender_id=SANDBOX_SENDER_ID,
            sender_password=SANDBOX_SENDER_PASSWORD,
            user_id=SANDBOX_USER_ID,
            company_id=COMPANY,
            user_password=SANDBOX_USER_PASSWORD,
        )
        count = 0
        for page in sdk.vendors.get_all_generator(fields=fields):
            count += len(page)
        return count, time.perf_counter() - started, calls
    finally:
        requests.post = original  # type: ignore[assignment]


def run_ceiling(endpoint: str, fields: list[str], total: int) -> tuple[int, float, int]:
    """(c): prebuilt envelopes, one HTTP post per page, lxml parse, count the records."""
    with IntacctClient(credentials(), endpoint=endpoint, allowed_hosts=["127.0.0.1"]) as c:
        session = c.session()
    bodies = [
        p.build_request(
            sender_id=SANDBOX_SENDER_ID,
            sender_password=SANDBOX_SENDER_PASSWORD,
            auth=p.SessionAuth(session.session_id),
            functions=[p.query(OBJECT, fields, page_size=p.MAX_QUERY_PAGE, offset=offset)],
        )
        for offset in range(0, total, p.MAX_QUERY_PAGE)
    ]
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    count = 0
    started = time.perf_counter()
    with httpx.Client(headers={"Content-Type": "application/xml"}) as http:
        for body in bodies:
            root = etree.fromstring(http.post(session.endpoint, content=body).content, parser)
            data = root.find("operation/result/data")
            count += len(data) if data is not None else 0
    return count, time.perf_counter() - started, len(bodies)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--records", type=int, default=100_000)
    ap.add_argument("--skip-sdk", action="store_true", help="skip the slow sageintacctsdk run")
    args = ap.parse_args()
    fields = list(get_object(OBJECT).fields)
    proc, endpoint = start_sandbox(args.records)
    try:
        c_n, c_s, c_req = run_ceiling(endpoint, fields, args.records)
        a_n, a_s, a_pull, a_rss, a_req = run_ours(endpoint, fields)
        b = None if args.skip_sdk else run_sdk(endpoint, fields)
    finally:
        proc.terminate()
        proc.wait(10)
    rows = [
        ("(a) python -m intacct pull, whole process", a_n, a_s, a_req),
        ("(a) the pull itself (sign-in to last record)", a_n, a_pull, a_req),
        ("(c) bare HTTP + lxml (ceiling)", c_n, c_s, c_req),
    ]
    if b:
        rows.insert(2, ("(b) sageintacctsdk get_all_generator", b[0], b[1], b[2]))
    print(f"\nVENDOR, {args.records:,} records, {len(fields)} fields, sandbox over loopback")
    print(f"{'method':46} {'records':>9} {'seconds':>8} {'records/s':>10} {'requests':>9}")
    for name, n, s, req in rows:
        print(f"{name:46} {n:>9,} {s:>8.2f} {n / s:>10,.0f} {req!s:>9}")
    a_rate, a_pull_rate, c_rate = a_n / a_s, a_n / a_pull, c_n / c_s
    print(f"\npeak RSS of (a): {a_rss:.1f} MB")
    print(
        f"(a) / ceiling (c): {a_rate / c_rate:.2f} whole process, "
        f"{a_pull_rate / c_rate:.2f} the pull itself  (target >= 0.8)"
    )
    if b:
        b_rate = b[0] / b[1]
        print(
            f"(a) / sageintacctsdk (b): {a_rate / b_rate:.1f} whole process, "
            f"{a_pull_rate / b_rate:.1f} the pull itself  (target >= 10)"
        )
    if a_n != args.records or c_n != args.records or (b and b[0] != args.records):
        print("WARNING: a method did not read every record")


if __name__ == "__main__":
    main()
