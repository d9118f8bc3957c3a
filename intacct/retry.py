"""The retry policy for gateway requests: what is retried, and how long to wait before trying again.

:class:`IntacctClient <intacct.client.IntacctClient>` sends every request through
:meth:`RetryPolicy.retrying`; its ``max_retries``, ``backoff_initial`` and ``backoff_max`` options
build the policy.

- What is retried: errors whose ``transient`` is true (:mod:`intacct.errors`): transport errors
  and timeouts, HTTP 5xx, 429 / GW-0010 rate limits, "temporarily off-line" (at any level: a
  function whose result says so is sent again alone, see ``IntacctClient.send``). An expired
  session is not waited out: the client signs in again instead; nor is an expired ``readMore``
  (the read must start again). A 4xx answer that is not a gateway document is never retried.
- A request holding a write is never retried after an ambiguous failure (a timeout, HTTP 524 or
  any 5xx but 502/503), because it may have completed; only what cannot have run is retried.
- Backoff: exponential from ``backoff_initial`` seconds, capped at ``backoff_max``, with full
  jitter (a random delay up to that bound) so concurrent workers spread apart.
- ``Retry-After``: a rate-limit answer's pause is honoured (up to ``backoff_max``) when it is
  longer than the jittered delay.
- Bounded: at most ``max_retries`` retries, then the last error is raised.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass

from tenacity import RetryCallState, Retrying, retry_if_exception, stop_after_attempt

from .errors import (
    IntacctError,
    RequestRefusedError,
    RequestTimeout,
    ServerError,
    SessionExpiredError,
)

__all__ = ["RetryPolicy", "retry_after_seconds"]

#: HTTP statuses proving the request never reached Intacct: a write may be retried after them.
NOT_RUN_STATUSES = (502, 503)


@dataclass(frozen=True)
class RetryPolicy:
    """How many times to retry and how long to wait (seconds)."""

    max_retries: int = 4
    backoff_initial: float = 0.5
    backoff_max: float = 20.0

    def retryable(self, exc: BaseException, *, read_only: bool) -> bool:
        """Whether ``exc`` is worth another try of a request that is ``read_only`` or not."""
        if isinstance(exc, SessionExpiredError):
            return False  # handled by signing in again, not by waiting
        if isinstance(exc, RequestRefusedError):
            return False  # a 4xx: the same request would be refused again
        if not isinstance(exc, IntacctError) or not exc.transient:
            return False
        if read_only:
            return True
        # A write may have completed when the answer was lost: retry only when it cannot have run.
        if isinstance(exc, RequestTimeout):
            return False
        if isinstance(exc, ServerError):
            return exc.status_code in NOT_RUN_STATUSES
        return True

    def longest(self, timeout: float) -> float:
        """The most seconds one request can take with all its retries when each attempt is cut
        off at ``timeout``: every attempt timing out, every pause its longest (``backoff_max``,
        a Retry-After's cap)."""
        return (self.max_retries + 1) * timeout + self.max_retries * self.backoff_max

    def delay(self, attempt: int, exc: BaseException | None) -> float:
        """Seconds to wait after failed attempt number ``attempt`` (1 = the first try)."""
        exp = self.backoff_initial * (2 ** (attempt - 1))
        # Full jitter: spreads the retries of concurrent workers apart.
        delay = random.uniform(0, min(self.backoff_max, exp))
        retry_after = getattr(exc, "retry_after", None)
        if isinstance(retry_after, (int, float)):
            delay = max(delay, min(float(retry_after), self.backoff_max))
        return delay

    def retrying(
        self,
        *,
        read_only: bool,
        sleep: Callable[[float], None],
        before_sleep: Callable[[RetryCallState], None],
    ) -> Retrying:
        """A tenacity ``Retrying`` applying this policy; the last error is re-raised."""

        def wait(state: RetryCallState) -> float:
            exc = state.outcome.exception() if state.outcome else None
            return self.delay(state.attempt_number, exc)

        return Retrying(
            stop=stop_after_attempt(self.max_retries + 1),
            retry=retry_if_exception(lambda e: self.retryable(e, read_only=read_only)),
            wait=wait,
            sleep=sleep,
            before_sleep=before_sleep,
            reraise=True,
        )


def retry_after_seconds(value: str | None) -> float | None:
    """An HTTP ``Retry-After`` header in seconds (``None`` when absent or not a number)."""
    if not value:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        return None
