"""Command line for support staff and scripts: ``python -m intacct check|pull|explain``.

Passwords are read from environment variables named on the command line, never from arguments.
Exit status: 0 success, 1 the check or pull failed, 2 bad usage.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time
from collections.abc import Sequence
from typing import Any, TextIO

from . import protocol as p
from .catalog import get_object
from .checks import FAILED, PASSED, GuideNames, Report, verify
from .client import DEFAULT_ENDPOINT, Credentials, IntacctClient, is_intacct_endpoint
from .errors import STEP_TRANSIENT, IntacctError, ProtocolError, classify
from .timestamps import format_datetime, parse_user_datetime


class UsageError(Exception):
    """Bad command-line input: exit status 2 with the message."""


def _connection_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("connection")
    g.add_argument(
        "--endpoint",
        default=os.environ.get("INTACCT_ENDPOINT", DEFAULT_ENDPOINT),
        help="gateway URL (default: $INTACCT_ENDPOINT or Intacct's)",
    )
    g.add_argument(
        "--sender-id",
        default=os.environ.get("INTACCT_SENDER_ID"),
        help="Web Services sender ID (default: $INTACCT_SENDER_ID)",
    )
    g.add_argument(
        "--sender-password-env",
        default="INTACCT_SENDER_PASSWORD",
        metavar="VAR",
        help="environment variable holding the sender password",
    )
    g.add_argument("--company", required=True, help="Intacct company ID")
    g.add_argument("--user", required=True, help="web services user ID")
    g.add_argument(
        "--password-env",
        required=True,
        metavar="VAR",
        help="environment variable holding the user's password",
    )
    g.add_argument("--entity", default=None, help="entity ID for an entity-level connection")
    g.add_argument(
        "--allow-endpoint",
        action="append",
        default=[],
        metavar="HOST",
        help="allow a non-intacct.com host (e.g. the local sandbox); repeatable",
    )
    g.add_argument(
        "--timeout",
        type=_seconds,
        default=120.0,
        help="seconds for each request, from connecting to the answer's last byte",
    )


def _seconds(text: str) -> float:
    """A ``--timeout``: a finite number of seconds above 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number of seconds") from None
    if not math.isfinite(value) or value <= 0:
        raise argparse.ArgumentTypeError(f"{text!r}: give a number of seconds above 0")
    return value


def _page_size(text: str) -> int:
    """A ``--page-size``: a whole number from 1 (larger ones are lowered to the function's
    maximum)."""
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"{value}: a page holds at least 1 record")
    return value


def _env(name: str, what: str) -> str:
    value = os.environ.get(name)
    if not value:
        raise UsageError(f"{what}: environment variable {name} is not set or empty")
    if not p.is_xml_text(value):
        raise UsageError(f"{what}: environment variable {name} holds a control character")
    return value


def _sendable(value: str, option: str) -> str:
    """``value`` when a request can carry it (not a control character or an undecodable byte)."""
    if not p.is_xml_text(value):
        raise UsageError(f"{option} {value!r} holds a character a request cannot carry")
    return value


def _client(args: argparse.Namespace) -> IntacctClient:
    sender = (args.sender_id or "").strip()
    if not sender:
        raise UsageError("--sender-id is required (or set INTACCT_SENDER_ID)")
    company = _sendable(args.company.strip(), "--company")
    user = _sendable(args.user.strip(), "--user")
    entity = _sendable((args.entity or "").strip(), "--entity") or None
    _sendable(sender, "--sender-id")
    if not company or not user:
        raise UsageError("--company and --user cannot be blank")
    creds = Credentials(
        sender_id=sender,
        sender_password=_env(args.sender_password_env, "sender password"),
        company_id=company,
        user_id=user,
        user_password=_env(args.password_env, "user password"),
        entity_id=entity,
    )
    allowed = [h for a in args.allow_endpoint for h in a.split(",") if h.strip()]
    return IntacctClient(creds, endpoint=args.endpoint, allowed_hosts=allowed, timeout=args.timeout)


# --- check --------------------------------------------------------------------------------------

_MARK = {PASSED: "PASS", FAILED: "FAIL", "skipped": "SKIP"}
_PERM_MARK = {
    "granted": "granted",
    "missing": "MISSING",
    "not_applicable": "n/a",
    "not_checked": "not checked",
}


def _print_report(report: Report, out: TextIO) -> None:
    out.write("Guide steps\n")
    for s in report.steps:
        no = f" [{s.errorno}]" if s.errorno else ""
        out.write(f"  {_MARK.get(s.status, s.status):4}  {s.step:22} {s.message}{no}\n")
        if s.status == FAILED and s.remedy:
            out.write(f"        fix: {s.remedy}\n")
    if report.permissions:
        out.write("\nPermissions\n")
        for r in report.permissions:
            out.write(f"  {_PERM_MARK.get(r.status, r.status):11}  {r.row}\n")
    if report.custom_field:
        cf = report.custom_field
        state = "found" if cf.found else "missing"
        out.write(
            f"\nAP Bill custom field {cf.field_id}: {state}"
            + (f", type {cf.datatype or 'not reported'}" if cf.found else "")
            + "\n"
        )
    if report.entities:
        out.write("\nEntities\n")
        for e in report.entities:
            out.write(f"  {e['id']:12} {e['name']}\n")
    first = report.first_failure
    verdict = (
        "OK: every step passed" if report.ok else f"FAILED at step {first.step if first else '?'}"
    )
    out.write(f"\n{verdict} ({report.round_trips} gateway request(s))\n")


def _guide_options(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group(
        "the guide's names",
        "What the customer was asked to name things. The web services user and the Sender ID "
        "are --user and --sender-id. Against a gateway outside intacct.com (the sandbox) every "
        "name left out is the sandbox's.",
    )
    g.add_argument(
        "--product",
        default=os.environ.get("INTACCT_PRODUCT_NAME"),
        help="the product's name as the guide says it (default: $INTACCT_PRODUCT_NAME); "
        "required against Intacct",
    )
    g.add_argument(
        "--role-name",
        default=os.environ.get("INTACCT_ROLE_NAME"),
        help="the API role (default: $INTACCT_ROLE_NAME, else '<product> API')",
    )
    g.add_argument(
        "--custom-field-id",
        default=os.environ.get("INTACCT_CUSTOM_FIELD_ID"),
        help="the AP Bill custom field's Field ID "
        "(default: $INTACCT_CUSTOM_FIELD_ID, else the product in capitals)",
    )
    g.add_argument(
        "--custom-field-label",
        default=os.environ.get("INTACCT_CUSTOM_FIELD_LABEL"),
        help="its label (default: $INTACCT_CUSTOM_FIELD_LABEL, else the product)",
    )
    g.add_argument(
        "--custom-field-description",
        default=os.environ.get("INTACCT_CUSTOM_FIELD_DESCRIPTION"),
        help="its description "
        "(default: $INTACCT_CUSTOM_FIELD_DESCRIPTION, else 'Link to <product> Invoice')",
    )


def _guide_names(args: argparse.Namespace) -> GuideNames:
    """The guide's names from the options; the sandbox's fill the gaps against a sandbox."""
    product = (args.product or "").strip()
    if product:
        defaults = {
            "role_name": f"{product} API",
            "custom_field_id": product.upper(),
            "custom_field_label": product,
            "custom_field_description": f"Link to {product} Invoice",
        }
    elif not is_intacct_endpoint(args.endpoint):
        from .sandbox import guide_names as sandbox_guide_names

        sandbox = sandbox_guide_names()
        product = sandbox.product
        defaults = {
            "role_name": sandbox.role_name,
            "custom_field_id": sandbox.custom_field_id,
            "custom_field_label": sandbox.custom_field_label,
            "custom_field_description": sandbox.custom_field_description,
        }
    else:
        raise UsageError("--product is required against Intacct (or set INTACCT_PRODUCT_NAME)")

    def given(key: str) -> str:
        return str(getattr(args, key) or "").strip() or defaults[key]

    return GuideNames(
        product=product,
        ws_user_id=args.user.strip(),
        role_name=given("role_name"),
        sender_id=(args.sender_id or "").strip(),
        custom_field_label=given("custom_field_label"),
        custom_field_id=given("custom_field_id"),
        custom_field_description=given("custom_field_description"),
    )


def cmd_check(args: argparse.Namespace) -> int:
    names = _guide_names(args)
    with _client(args) as client:
        report = verify(client, names=names)
    if args.json:
        json.dump(report.to_json(), sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        _print_report(report, sys.stdout)
    return 0 if report.ok else 1


# --- pull ---------------------------------------------------------------------------------------


def _intacct_timestamp(text: str) -> str:
    try:
        return format_datetime(parse_user_datetime(text))
    except ValueError:
        raise UsageError(
            f"--since {text!r}: use MM/DD/YYYY HH:MM:SS or YYYY-MM-DDTHH:MM:SS"
        ) from None


def cmd_pull(args: argparse.Namespace) -> int:
    # This process only streams: switch threads often so the page fetched ahead is parsed while
    # the current one is written (the default 5 ms interval leaves the network idle).
    sys.setswitchinterval(0.001)
    obj = get_object(_sendable(args.object, "object"))
    fields = [f.strip() for f in args.fields.split(",")] if args.fields else list(obj.fields)
    _sendable(",".join(fields), "--fields")
    filt = None
    if args.since:
        filt = p.Filter.cond("greaterthan", obj.when_modified_field, _intacct_timestamp(args.since))
    started = time.perf_counter()
    total = 0
    write = sys.stdout.write
    with _client(args) as client:
        if args.method == "readByQuery":
            if args.page_size > p.MAX_READ_BY_QUERY_PAGE:
                args.page_size = p.MAX_READ_BY_QUERY_PAGE
            qtext = (
                f"{obj.when_modified_field} > '{_intacct_timestamp(args.since)}'"
                if args.since
                else ""
            )
            pages = client.read_by_query_pages(
                obj.name, fields, query_text=qtext, page_size=args.page_size
            )
        else:
            pages = client.query_pages(
                obj.name,
                fields,
                filter=filt,
                page_size=min(args.page_size, p.MAX_QUERY_PAGE),
                show_private=args.show_private,
            )
        for page in pages:
            write(page.json_lines())
            total += page.count
            if not args.quiet:
                of = f"/{page.totalcount}" if page.totalcount is not None else ""
                sys.stderr.write(f"\r{obj.name}: {total}{of} records")
                sys.stderr.flush()
    elapsed = time.perf_counter() - started
    if not args.quiet:
        rate = total / elapsed if elapsed > 0 else 0.0
        sys.stderr.write(
            f"\r{obj.name}: {total} records in {elapsed:.2f}s "
            f"({rate:,.0f}/s, {client.round_trips} requests)\n"
        )
    sys.stdout.flush()
    return 0


# --- explain ------------------------------------------------------------------------------------


def explain(body: bytes, http_status: int = 200) -> dict[str, Any]:
    """What a raw gateway response means, as the ``explain --json`` object."""
    out: dict[str, Any] = {
        "ok": False,
        "level": None,
        "step": None,
        "errors": [],
        "results": [],
        "http_status": http_status,
        "meaning": "",
    }
    try:
        response = p.parse_response(body, http_status=http_status)
    except ProtocolError as exc:
        if http_status >= 400:
            out["level"] = "http"
            if http_status >= 500 or http_status == 429:
                out["step"] = STEP_TRANSIENT
            elif http_status == 401:
                out["step"] = "credentials"
            out["meaning"] = f"HTTP {http_status} without a gateway document."
        else:
            out["level"] = "protocol"
            out["meaning"] = f"Not a gateway response: {exc}"
        return out
    out["results"] = [p.to_plain(r) for r in response.results]
    level = response.level
    out["level"] = level
    error = None
    if level == "control":
        out["errors"] = [e.as_dict() for e in response.errors]
        error = classify(response.errors, level="control", http_status=http_status)
    elif level == "authentication":
        out["errors"] = [e.as_dict() for e in response.auth_errors]
        error = classify(response.auth_errors, level="authentication", http_status=http_status)
    elif level == "result":
        failed = [r for r in response.results if not r.ok]
        out["errors"] = [e.as_dict() for r in failed for e in r.errors]
        error = failed[0].error()
    elif response.authentication is None or not response.results:
        out["level"] = "protocol"
        out["meaning"] = "Control succeeded but the operation, authentication or result is missing."
        return out
    if error is None:
        out["ok"] = True
        out["meaning"] = f"Success: {len(response.results)} result(s)."
    else:
        out["step"] = error.step
        out["meaning"] = f"{type(error).__name__}: {(error.__doc__ or '').strip().splitlines()[0]}"
    return out


def cmd_explain(args: argparse.Namespace) -> int:
    # One byte past the cap is enough to refuse a file as too large (/dev/zero never ends).
    limit = p.MAX_RESPONSE_BYTES + 1
    if args.file == "-":
        body = sys.stdin.buffer.read(limit)
    else:
        try:
            with open(args.file, "rb") as fh:
                body = fh.read(limit)
        except OSError as exc:
            raise UsageError(f"cannot read {args.file}: {exc.strerror}") from None
    result = explain(body, args.status)
    if args.json:
        json.dump(result, sys.stdout, indent=2)
        sys.stdout.write("\n")
    else:
        level = result["level"] or "none"
        sys.stdout.write(
            f"{'OK' if result['ok'] else 'FAILED'} — level: {level}; "
            f"guide step: {result['step'] or '-'}\n{result['meaning']}\n"
        )
        for e in result["errors"]:
            parts = [e[k] for k in ("errorno", "description", "description2", "correction") if e[k]]
            sys.stdout.write("  " + " | ".join(parts) + "\n")
        for r in result["results"]:
            sys.stdout.write(
                f"  {r['function']} [{r['controlid']}]: {r['status']}"
                + (f", {r['records']} record(s)" if r["records"] else "")
                + (f", {r['numremaining']} remaining" if r["numremaining"] else "")
                + "\n"
            )
    return 0 if result["ok"] else 1


# --- entry point --------------------------------------------------------------------------------


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m intacct", description="Sage Intacct XML gateway tools."
    )
    sub = parser.add_subparsers(dest="command", required=True)

    check = sub.add_parser("check", help="run the connection guide's verification plan")
    _connection_options(check)
    _guide_options(check)
    check.add_argument("--json", action="store_true", help="print one JSON object")
    check.set_defaults(func=cmd_check)

    pull = sub.add_parser("pull", help="stream an object's records as JSON lines")
    pull.add_argument("object", help="object name, e.g. VENDOR")
    pull.add_argument("--fields", help="comma-separated fields (default: the catalog's)")
    pull.add_argument("--since", help="only records modified after this timestamp")
    pull.add_argument("--page-size", type=_page_size, default=p.MAX_QUERY_PAGE)
    pull.add_argument("--method", choices=("query", "readByQuery"), default="query")
    pull.add_argument(
        "--show-private",
        action="store_true",
        help="include entity-private records (top level of a multi-entity company)",
    )
    pull.add_argument("--quiet", action="store_true", help="no progress on stderr")
    _connection_options(pull)
    pull.set_defaults(func=cmd_pull)

    exp = sub.add_parser("explain", help="say what a raw gateway response means")
    exp.add_argument("file", help="response file, or - for stdin")
    exp.add_argument("--status", type=int, default=200, help="the HTTP status it came with")
    exp.add_argument("--json", action="store_true")
    exp.set_defaults(func=cmd_explain)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    given = list(sys.argv[1:] if argv is None else argv)
    for arg in given:
        # Bytes that are not text in the locale arrive as lone surrogates: say so, at once.
        try:
            arg.encode("utf-8")
        except UnicodeEncodeError:
            parser.error(f"an argument is not valid text: {arg.encode('utf-8', 'replace')!r}")
    args = parser.parse_args(given)
    try:
        code: int = args.func(args)
        return code
    except UsageError as exc:
        sys.stderr.write(f"error: {exc}\n")
        return 2
    except IntacctError as exc:
        step = f" (guide step: {exc.step})" if exc.step else ""
        sys.stderr.write(f"\nerror: {exc}{step}\n")
        return 1
    except BrokenPipeError:
        return 0
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
