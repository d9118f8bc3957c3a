"""The company's request limit: held in one process (LocalLimiter) or shared through Redis
(RedisLimiter) by every process; leases that outlive a dead worker only so long; a 429 backs the
whole company off. The last tests run real worker processes against a sandbox company that, like
Intacct, refuses a third concurrent request from any connection."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import threading
import time
import uuid
from pathlib import Path

import pytest

from intacct.limiter import LimiterTimeout, LocalLimiter, RedisLimiter, company_key
from intacct.sandbox import GATEWAY_PATH, serve_in_thread
from intacct.sandbox.world import Sandbox

REDIS_URL = os.environ.get("REDIS_URL", "")
needs_redis = pytest.mark.skipif(not REDIS_URL, reason="REDIS_URL is not set")
ROOT = Path(__file__).resolve().parents[2]


def _peak(limiter: object, key: str, limit: int, threads: int = 6, hold: float = 0.05) -> int:
    """How many of ``threads`` held a slot at once."""
    lock = threading.Lock()
    current = peak = 0

    def work() -> None:
        nonlocal current, peak
        for _ in range(3):
            with limiter.slot(key, limit):  # type: ignore[attr-defined]
                with lock:
                    current += 1
                    peak = max(peak, current)
                time.sleep(hold)
                with lock:
                    current -= 1

    pool = [threading.Thread(target=work) for _ in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    return peak


def test_the_key_is_the_gateway_host_and_the_company() -> None:
    a = company_key("https://api.intacct.com/ia/xml/xmlgw.phtml", " Acme ")
    assert a == company_key("https://API.intacct.com/other", "acme") == "api.intacct.com/acme"
    assert a != company_key("https://api.intacct.com/ia/xml/xmlgw.phtml", "acme-2")


def test_local_limiter_holds_the_limit_and_backs_off() -> None:
    limiter = LocalLimiter()
    assert _peak(limiter, "h/c", 2) == 2
    assert _peak(limiter, "h/other", 1) == 1
    limiter.back_off("h/c", 0.3)
    started = time.monotonic()
    with limiter.slot("h/c", 2):
        pass
    assert time.monotonic() - started >= 0.25
    # Another company is not held.
    started = time.monotonic()
    with limiter.slot("h/d", 2):
        pass
    assert time.monotonic() - started < 0.2


def test_local_limiter_gives_up_after_its_timeout() -> None:
    limiter = LocalLimiter(acquire_timeout=0.2)
    with limiter.slot("h/c", 1), pytest.raises(LimiterTimeout), limiter.slot("h/c", 1):
        pass


@pytest.fixture
def redis_key() -> str:
    return f"test/{uuid.uuid4().hex}"


@needs_redis
def test_redis_limiter_is_shared_by_separate_connections(redis_key: str) -> None:
    first = RedisLimiter.from_url(REDIS_URL)
    second = RedisLimiter.from_url(REDIS_URL)
    lock = threading.Lock()
    current = peak = 0

    def work(limiter: RedisLimiter) -> None:
        nonlocal current, peak
        for _ in range(3):
            with limiter.slot(redis_key, 2):
                with lock:
                    current += 1
                    peak = max(peak, current)
                time.sleep(0.05)
                with lock:
                    current -= 1

    pool = [threading.Thread(target=work, args=(lim,)) for lim in (first, second) * 3]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    assert peak == 2
    assert first.held(redis_key) == 0


@needs_redis
def test_a_dead_holders_lease_expires(redis_key: str) -> None:
    dying = RedisLimiter.from_url(REDIS_URL, lease=0.5)
    slot = dying.slot(redis_key, 1)
    slot.__enter__()  # taken, never given back: the worker "died"
    dying._held.clear()  # and with it the thread renewing its leases
    other = RedisLimiter.from_url(REDIS_URL, acquire_timeout=5)
    started = time.monotonic()
    with other.slot(redis_key, 1):
        waited = time.monotonic() - started
    assert 0.3 <= waited < 3


@needs_redis
def test_a_back_off_holds_every_process(redis_key: str) -> None:
    RedisLimiter.from_url(REDIS_URL).back_off(redis_key, 0.4)
    started = time.monotonic()
    with RedisLimiter.from_url(REDIS_URL).slot(redis_key, 2):
        pass
    assert time.monotonic() - started >= 0.3


# --- Worker processes against a company limited to two concurrent requests --------------------------

WORKER = textwrap.dedent(
    """
    import sys
    from concurrent.futures import ThreadPoolExecutor
    from intacct import IntacctClient, Credentials, PROCESS_LIMITER, RedisLimiter
    from intacct.sandbox import (SANDBOX_SENDER_ID, SANDBOX_SENDER_PASSWORD, SANDBOX_USER_ID,
                                 SANDBOX_USER_PASSWORD)
    endpoint, mode, redis_url = sys.argv[1:4]
    limiter = RedisLimiter.from_url(redis_url) if mode == "redis" else PROCESS_LIMITER
    creds = Credentials(SANDBOX_SENDER_ID, SANDBOX_SENDER_PASSWORD, "two-requests-at-a-time",
                        SANDBOX_USER_ID, SANDBOX_USER_PASSWORD)
    client = IntacctClient(creds, endpoint=endpoint, allowed_hosts=["127.0.0.1"],
                           max_concurrency=2, limiter=limiter, max_retries=8,
                           backoff_initial=0.05, backoff_max=0.5)
    def pull(_):
        return sum(p.count for p in client.query_pages("VENDOR", ["RECORDNO"], page_size=10))
    with ThreadPoolExecutor(2) as pool:
        print(sum(pool.map(pull, range(2))))
    """
)


def _run_workers(mode: str, processes: int = 3) -> tuple[Sandbox, list[str]]:
    world = Sandbox(records=60, latency_ms=40)
    base, stop = serve_in_thread(world)
    try:
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", WORKER, base + GATEWAY_PATH, mode, REDIS_URL],
                cwd=ROOT,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )
            for _ in range(processes)
        ]
        outputs = []
        for proc in procs:
            out, err = proc.communicate(timeout=120)
            assert proc.returncode == 0, err[-2000:]
            outputs.append(out.strip())
    finally:
        stop()
    return world, outputs


@needs_redis
def test_workers_sharing_redis_never_exceed_the_company_limit() -> None:
    world, outputs = _run_workers("redis")
    company = world.company("two-requests-at-a-time")
    assert outputs == ["120"] * 3  # every record, in every process
    assert company.refused_busy == 0
    assert company.peak_in_flight <= 2


def test_workers_each_with_their_own_limit_are_refused() -> None:
    """The same workers without the shared limit: each process keeps to two, together they send
    more, and the company refuses some (retries still finish the reads)."""
    world, outputs = _run_workers("local")
    company = world.company("two-requests-at-a-time")
    assert outputs == ["120"] * 3
    assert company.refused_busy > 0


@needs_redis
def test_a_live_holder_keeps_its_slot_past_the_lease(redis_key: str) -> None:
    holder = RedisLimiter.from_url(REDIS_URL, lease=0.3)
    other = RedisLimiter.from_url(REDIS_URL, acquire_timeout=0.6)
    # A slow request: two leases long, renewed meanwhile, so nobody else gets the slot.
    with holder.slot(redis_key, 1), pytest.raises(LimiterTimeout), other.slot(redis_key, 1):
        pass
    with other.slot(redis_key, 1):
        pass


HOLDER = textwrap.dedent(
    """
    import sys, time
    from intacct.limiter import RedisLimiter
    redis_url, key, lease = sys.argv[1], sys.argv[2], float(sys.argv[3])
    with RedisLimiter.from_url(redis_url, lease=lease).slot(key, 1):
        print("held", flush=True)
        time.sleep(600)
    """
)


@needs_redis
def test_a_worker_process_killed_holding_a_slot_frees_it_within_its_lease(redis_key: str) -> None:
    """A real process takes the company's only slot and keeps it past its lease (renewed) while
    it lives; SIGKILLed, its slot comes back within the lease."""
    import signal

    lease = 1.0
    holder = subprocess.Popen(
        [sys.executable, "-c", HOLDER, REDIS_URL, redis_key, str(lease)],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline().strip() == "held"
        waiting = RedisLimiter.from_url(REDIS_URL, acquire_timeout=2 * lease)
        with pytest.raises(LimiterTimeout), waiting.slot(redis_key, 1):
            pass  # two leases long: the living holder renewed its slot
        holder.send_signal(signal.SIGKILL)
        holder.wait(10)
        other = RedisLimiter.from_url(REDIS_URL, acquire_timeout=5)
        started = time.monotonic()
        with other.slot(redis_key, 1):
            waited = time.monotonic() - started
        assert waited <= lease + 0.5
    finally:
        holder.kill()
        holder.wait(10)


def test_without_reachable_redis_the_limit_holds_in_the_process(caplog) -> None:
    """A Redis that cannot be reached (nothing listens on the port): requests still go out, each
    process keeping to the limit on its own, and a warning says so."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    limiter = RedisLimiter.from_url(f"redis://127.0.0.1:{port}/0")
    assert _peak(limiter, "h/c", 2, threads=4, hold=0.02) == 2
    limiter.back_off("h/c", 0.2)  # does not raise either
    assert "holding h/c's request limit in this process only" in caplog.text
