"""The retry policy on its own: what is retried and how long it waits (the client's retry tests
check the same policy through real requests)."""

from __future__ import annotations

import pytest

from intacct.errors import (
    ProtocolError,
    RateLimitError,
    RequestTimeout,
    ServerError,
    SessionExpiredError,
    SignInError,
    TransportError,
)
from intacct.retry import RetryPolicy, retry_after_seconds

POLICY = RetryPolicy(max_retries=3, backoff_initial=1.0, backoff_max=5.0)


@pytest.mark.parametrize(
    ("error", "read", "write"),
    [
        (TransportError("reset"), True, True),
        (RequestTimeout("slow"), True, False),
        (ServerError("HTTP 502", status_code=502), True, True),
        (ServerError("HTTP 503", status_code=503), True, True),
        (ServerError("HTTP 500", status_code=500), True, False),
        (ServerError("HTTP 524", status_code=524), True, False),
        (RateLimitError([], level="http"), True, True),
        (SessionExpiredError([], level="authentication"), False, False),
        (SignInError([], level="authentication"), False, False),
        (ProtocolError("not XML"), False, False),
        (ValueError("not ours"), False, False),
    ],
)
def test_what_is_retried(error: BaseException, read: bool, write: bool) -> None:
    assert POLICY.retryable(error, read_only=True) is read
    assert POLICY.retryable(error, read_only=False) is write


def test_delay_is_jittered_below_an_exponential_bound() -> None:
    for attempt, bound in [(1, 1.0), (2, 2.0), (3, 4.0), (4, 5.0), (10, 5.0)]:
        delays = [POLICY.delay(attempt, None) for _ in range(200)]
        assert all(0 <= d <= bound for d in delays)
        assert len(set(delays)) > 1


def test_delay_honours_retry_after_up_to_the_cap() -> None:
    err = RateLimitError([], level="http")
    err.retry_after = 3.0
    assert all(POLICY.delay(1, err) == 3.0 for _ in range(50))
    err.retry_after = 60.0
    assert POLICY.delay(1, err) == 5.0


def test_retrying_stops_after_max_retries_and_reraises() -> None:
    calls: list[int] = []
    sleeps: list[float] = []

    def always_fails() -> None:
        calls.append(1)
        raise TransportError("reset")

    retrying = POLICY.retrying(read_only=True, sleep=sleeps.append, before_sleep=lambda _s: None)
    with pytest.raises(TransportError):
        retrying(always_fails)
    assert len(calls) == 4
    assert len(sleeps) == 3


@pytest.mark.parametrize(
    ("header", "seconds"),
    [(None, None), ("", None), ("7", 7.0), ("1.5", 1.5), ("-3", 0.0), ("soon", None)],
)
def test_retry_after_header(header: str | None, seconds: float | None) -> None:
    assert retry_after_seconds(header) == seconds
