"""``python -m intacct.sandbox``: serve every scenario's company over HTTP.

Prints the gateway URL, the well-known credentials and the companies, then serves until Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable, Sequence

from . import (
    GATEWAY_PATH,
    SANDBOX_SENDER_ID,
    SANDBOX_SENDER_PASSWORD,
    SANDBOX_USER_ID,
    SANDBOX_USER_PASSWORD,
)
from .scenarios import DEFAULT_SCENARIO, SCENARIOS
from .server import make_server, serve_forever
from .world import DEFAULT_RECORDS, DEFAULT_SESSION_TTL, FaultPlan, Sandbox


def build_parser() -> argparse.ArgumentParser:
    """The command line's options."""
    parser = argparse.ArgumentParser(
        prog="python -m intacct.sandbox",
        description="Emulate the Sage Intacct XML gateway with one company per scenario.",
    )
    parser.add_argument("--host", type=_host, default="127.0.0.1")
    parser.add_argument("--port", type=_count(65_535), default=8765)
    parser.add_argument(
        "--scenario",
        default=DEFAULT_SCENARIO,
        type=lambda name: name.strip().replace("-", "_"),
        choices=sorted(SCENARIOS),
        help="scenario of the company called 'sandbox' (default: %(default)s)",
    )
    parser.add_argument(
        "--records",
        type=_count(MAX_RECORDS),
        default=DEFAULT_RECORDS,
        help=f"records per list object (at most {MAX_RECORDS:,})",
    )
    parser.add_argument(
        "--latency-ms",
        type=_amount(zero=True, most=600_000),
        default=0.0,
        help="added to every answer (at most 10 minutes)",
    )
    parser.add_argument(
        "--fault-rate", type=_fraction, default=0.0, help="fraction answered with HTTP 502/503"
    )
    parser.add_argument(
        "--max-concurrent",
        type=_count(10_000),
        default=0,
        help="requests in flight per company before HTTP 429 (0 = unlimited)",
    )
    parser.add_argument(
        "--session-ttl",
        type=_amount(zero=False, most=7 * 86_400),
        default=DEFAULT_SESSION_TTL,
        help="session lifetime, seconds",
    )
    parser.add_argument(
        "--mutate-every",
        type=_amount(zero=True, most=86_400),
        default=0.0,
        help="mutate every company every S seconds (0: never)",
    )
    parser.add_argument(
        "--faults",
        type=_fault_plan,
        default=FaultPlan(),
        metavar="JSON",
        help='every company\'s fault plan, e.g. \'{"errors_every": 10, "errors_burst": 3}\' '
        "(fields: errors_every, errors_burst, rate_limit_every, rate_limit_storm, retry_after, "
        "session_every, reset_every, latency_ms)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed for faults and mutations")
    parser.add_argument("--verbose", action="store_true", help="log every request")
    return parser


#: More records than this per object would take the sandbox minutes and gigabytes to serve.
MAX_RECORDS = 1_000_000


def _host(text: str) -> str:
    if any(ord(c) < 32 or ord(c) == 127 for c in text):
        raise argparse.ArgumentTypeError("a host name cannot hold control characters")
    return text


def _count(most: int) -> Callable[[str], int]:
    def count(text: str) -> int:
        try:
            number = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a whole number: {text!r}") from None
        if not 0 <= number <= most:
            raise argparse.ArgumentTypeError(f"must be 0 to {most:,}, not {number}")
        return number

    return count


def _number(text: str) -> float:
    try:
        number = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not math.isfinite(number):
        raise argparse.ArgumentTypeError(f"must be a finite number, not {text!r}")
    return number


def _amount(*, zero: bool, most: float) -> Callable[[str], float]:
    def amount(text: str) -> float:
        number = _number(text)
        if number < 0 or (number == 0 and not zero) or number > most:
            raise argparse.ArgumentTypeError(
                f"must be {'0' if zero else 'more than 0'} to {most:,g}, not {text!r}"
            )
        return number

    return amount


def _fraction(text: str) -> float:
    number = _number(text)
    if not 0 <= number <= 1:
        raise argparse.ArgumentTypeError(f"a fraction is 0 to 1, not {text!r}")
    return number


def _fault_plan(text: str) -> FaultPlan:
    try:
        data = json.loads(text)
        if not isinstance(data, dict):
            raise ValueError("a JSON object is needed")
        return FaultPlan.of(data)
    except (ValueError, TypeError, OverflowError) as exc:
        raise argparse.ArgumentTypeError(f"not a fault plan: {exc}") from None


def main(argv: Sequence[str] | None = None) -> int:
    """Run the sandbox server until interrupted."""
    args = build_parser().parse_args(argv)
    sandbox = Sandbox(
        records=args.records,
        scenario=args.scenario,
        latency_ms=args.latency_ms,
        fault_rate=args.fault_rate,
        max_concurrent=args.max_concurrent,
        session_ttl=args.session_ttl,
        seed=args.seed,
        faults=args.faults,
    )
    try:
        server = make_server(sandbox, args.host, args.port, quiet=not args.verbose)
    except (OSError, ValueError, UnicodeError) as exc:  # busy port, unknown or malformed host
        print(f"cannot listen on {args.host!r}:{args.port}: {exc}", file=sys.stderr)
        return 1
    if args.mutate_every > 0:
        sandbox.start_mutating(args.mutate_every)
    print(f"Intacct sandbox gateway: {server.url}{GATEWAY_PATH}")
    print(f"  control endpoints:    {server.url}/sandbox/")
    print(f"  sender:  {SANDBOX_SENDER_ID} / {SANDBOX_SENDER_PASSWORD}")
    print(f"  user:    {SANDBOX_USER_ID} / {SANDBOX_USER_PASSWORD}")
    print(f"  records: {args.records} per list object")
    print("  companies:")
    for company in sandbox.companies:
        print(f"    {company.company_id:<24} {company.scenario.description}")
    print("Press Ctrl-C to stop.", flush=True)
    try:
        serve_forever(server)
    finally:
        sandbox.stop_mutating()
    print("Sandbox stopped.")
    return 0


if __name__ == "__main__":
    sys.exit(main())
