"""The company's request limit, shared.

Intacct limits concurrent requests **per company** (two by default), whatever legal entity, user,
worker process or machine sends them, and answers HTTP 429 / ``GW-0010`` past it. Every request of
:class:`~intacct.client.IntacctClient` takes a slot of its company's limiter first.

- :class:`LocalLimiter`: slots held in this process (threads of one worker).
- :class:`RedisLimiter`: slots held in Redis, shared by every process and machine using the same
  Redis. A slot is a lease (a member of a sorted set scored by its expiry), renewed by a
  background thread while its request runs: a worker that dies holding one loses it within one
  lease (15 s by default), so the company is never blocked for long.

Both also carry the company's **back-off**: after a 429 (or ``Retry-After``), :meth:`back_off`
pauses every request to that company, in every thread (and, with Redis, every process), not only
the one that was refused.

Keys are the gateway host and the company ID (lower-case): several legal entities connected to one
company share its slots.
"""

from __future__ import annotations

import logging
import random
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager, suppress
from typing import Any, Protocol
from urllib.parse import urlsplit

__all__ = [
    "CompanyLimiter",
    "LimiterTimeout",
    "LocalLimiter",
    "RedisLimiter",
    "company_key",
]

logger = logging.getLogger(__name__)

#: How long to wait for a slot before giving up (the company is saturated for that long).
DEFAULT_ACQUIRE_TIMEOUT = 600.0


class LimiterTimeout(Exception):
    """No slot of the company's limit came free in time."""


def company_key(endpoint: str, company_id: str) -> str:
    """``host/company``: what one limit is kept under."""
    host = (urlsplit(endpoint).hostname or "").lower()
    return f"{host}/{company_id.strip().lower()}"


class CompanyLimiter(Protocol):
    def slot(self, key: str, limit: int) -> Any:
        """A context manager holding one of ``limit`` slots of ``key`` (waiting for one and for
        any back-off first)."""

    def back_off(self, key: str, seconds: float) -> None:
        """Hold every request of ``key`` for ``seconds``."""


class LocalLimiter:
    """Slots and back-off in this process."""

    def __init__(
        self,
        *,
        clock: Callable[[], float] = time.monotonic,
        acquire_timeout: float = DEFAULT_ACQUIRE_TIMEOUT,
    ) -> None:
        self._clock = clock
        self._acquire_timeout = acquire_timeout
        self._lock = threading.Condition()
        self._held: dict[str, int] = {}
        self._until: dict[str, float] = {}

    @contextmanager
    def slot(self, key: str, limit: int) -> Iterator[None]:
        deadline = self._clock() + self._acquire_timeout
        with self._lock:
            while True:
                now = self._clock()
                pause = self._until.get(key, 0.0) - now
                if pause <= 0 and self._held.get(key, 0) < max(1, limit):
                    self._held[key] = self._held.get(key, 0) + 1
                    break
                if now >= deadline:
                    raise LimiterTimeout(f"no request slot of {key} came free")
                self._lock.wait(timeout=max(0.01, min(pause if pause > 0 else 1.0, deadline - now)))
        try:
            yield
        finally:
            with self._lock:
                self._held[key] -= 1
                self._lock.notify_all()

    def back_off(self, key: str, seconds: float) -> None:
        with self._lock:
            self._until[key] = max(self._until.get(key, 0.0), self._clock() + max(0.0, seconds))
            self._lock.notify_all()

    def held(self, key: str) -> int:
        with self._lock:
            return self._held.get(key, 0)


# Take a slot if fewer than ARGV[2] live leases are held and no back-off stands; else answer how
# many milliseconds to wait (the back-off's rest, or 0 for "poll again soon"). Redis' own clock.
_ACQUIRE = """
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
local pause = redis.call('PTTL', KEYS[2])
if pause > 0 then return {0, pause} end
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
  redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[3]))
  return {1, 0}
end
return {0, 0}
"""

_RENEW = """
local t = redis.call('TIME')
local now = t[1] * 1000 + math.floor(t[2] / 1000)
redis.call('ZADD', KEYS[1], 'XX', now + tonumber(ARGV[2]), ARGV[1])
redis.call('PEXPIRE', KEYS[1], tonumber(ARGV[2]))
return 1
"""

_BACK_OFF = """
local current = redis.call('PTTL', KEYS[1])
if current < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], '1', 'PX', tonumber(ARGV[1]))
end
return 1
"""


class RedisLimiter:
    """Slots and back-off in Redis (``redis.Redis``): shared by every process using it.

    ``lease`` (seconds) is how long a slot outlives a worker that died holding it; while the
    holder lives, a background thread renews its slots every third of a lease.
    """

    PREFIX = "intacct:limit:"

    def __init__(
        self,
        redis: Any,
        *,
        lease: float = 15.0,
        poll: float = 0.02,
        acquire_timeout: float = DEFAULT_ACQUIRE_TIMEOUT,
        sleep: Callable[[float], None] = time.sleep,
    ) -> None:
        self._redis = redis
        self._lease_ms = int(lease * 1000)
        self._poll = poll
        self._acquire_timeout = acquire_timeout
        self._sleep = sleep
        self._lease = lease
        self._acquire = redis.register_script(_ACQUIRE)
        self._renew = redis.register_script(_RENEW)
        self._back_off = redis.register_script(_BACK_OFF)
        self._held_lock = threading.Lock()
        self._held: dict[str, str] = {}  # token → its sorted set
        # Waiters of this process wake as soon as one of its slots is given back (slots of
        # other processes are seen at the next poll).
        self._released = threading.Condition()
        self._renewer: threading.Thread | None = None
        # While Redis is unreachable: this process's slots, so requests still go out, limited.
        self._fallback = LocalLimiter(acquire_timeout=acquire_timeout)
        import redis as redis_module

        self._redis_errors: tuple[type[BaseException], ...] = (redis_module.RedisError, OSError)

    @classmethod
    def from_url(cls, url: str, **kwargs: Any) -> RedisLimiter:
        import redis

        return cls(redis.Redis.from_url(url, socket_timeout=5, socket_connect_timeout=5), **kwargs)

    def _keys(self, key: str) -> tuple[str, str]:
        return f"{self.PREFIX}{key}:slots", f"{self.PREFIX}{key}:pause"

    @contextmanager
    def slot(self, key: str, limit: int) -> Iterator[None]:
        """A slot held in Redis; while Redis cannot be reached, one of this process's instead
        (the limit then holds per process only, and a warning says so)."""
        try:
            acquired = self._take(key, limit)
        except self._redis_errors as exc:
            logger.warning(
                "Redis unreachable (%s): holding %s's request limit in this process only",
                type(exc).__name__,
                key,
            )
            with self._fallback.slot(key, limit):
                yield
            return
        token, slots = acquired
        try:
            yield
        finally:
            with self._held_lock:
                self._held.pop(token, None)
            with suppress(*self._redis_errors):  # else the lease lapses by itself
                self._redis.zrem(slots, token)
            with self._released:
                self._released.notify_all()

    def _take(self, key: str, limit: int) -> tuple[str, str]:
        slots, pause = self._keys(key)
        token = uuid.uuid4().hex
        deadline = time.monotonic() + self._acquire_timeout
        while True:
            taken, wait_ms = self._acquire(
                keys=[slots, pause], args=[token, max(1, limit), self._lease_ms]
            )
            if int(taken):
                break
            if time.monotonic() >= deadline:
                raise LimiterTimeout(f"no request slot of {key} came free")
            # Jitter keeps waiting workers from polling in step.
            wait = int(wait_ms) / 1000 if int(wait_ms) > 0 else self._poll
            wait += random.uniform(0, self._poll)
            if self._sleep is time.sleep:
                with self._released:
                    self._released.wait(wait)
            else:
                self._sleep(wait)
        self._hold(token, slots)
        return token, slots

    def _hold(self, token: str, slots: str) -> None:
        with self._held_lock:
            self._held[token] = slots
            if self._renewer is None or not self._renewer.is_alive():
                self._renewer = threading.Thread(
                    target=self._renew_held, name="intacct-limit-renewer", daemon=True
                )
                self._renewer.start()

    def _renew_held(self) -> None:
        """Keep this process's slots alive while their requests run (a daemon thread: it dies
        with the process, and then so do the leases)."""
        while True:
            time.sleep(self._lease / 3)
            with self._held_lock:
                held = list(self._held.items())
            for token, slots in held:
                try:
                    self._renew(keys=[slots], args=[token, self._lease_ms])
                except Exception as exc:  # Redis away: the next round tries again
                    logger.warning("could not renew a request slot: %s", type(exc).__name__)

    def back_off(self, key: str, seconds: float) -> None:
        self._fallback.back_off(key, seconds)
        if seconds > 0:
            with suppress(*self._redis_errors):  # this process backs off all the same
                self._back_off(keys=[self._keys(key)[1]], args=[int(seconds * 1000)])

    def held(self, key: str) -> int:
        slots, _ = self._keys(key)
        now_ms = int(time.time() * 1000)
        return int(self._redis.zcount(slots, now_ms, "+inf"))


#: The limiter of clients not given one: this process's.
PROCESS_LIMITER = LocalLimiter()
