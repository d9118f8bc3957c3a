"""Connections from the command line: create one, verify it, give it its API Sync Profile, list
them all.

    manage.py connection create --org SLUG [--create-org] --legal-entity NAME --company ID
        --user ID --password-env VAR [--entity ID] [--endpoint URL --allow-endpoint HOST] [--json]
    manage.py connection verify LEGAL_ENTITY_UUID [--json]
    manage.py connection profile LEGAL_ENTITY_UUID [--objects A,B,…] [--disable]
    manage.py connection list [--org SLUG] [--json]

Our sender credentials come from the ``INTACCT_SENDER_ID`` / ``INTACCT_SENDER_PASSWORD``
settings; the customer's password from the environment variable ``--password-env`` names.
"""

from __future__ import annotations

import json
import os
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.core.validators import slug_re
from django.db import transaction

from connections.forms import CredentialsForm
from connections.management.arguments import legal_entity_argument, text_argument
from connections.models import (
    ApiSyncProfile,
    ConnectionAttempt,
    LegalEntity,
    Organization,
    VerificationRun,
)
from connections.selectors.connections import (
    current_attempt,
    entity_progress,
    legal_entities_overview,
    overview_attempt,
)
from connections.selectors.profiles import SyncObjectsUnknown
from connections.selectors.reports import verification_report
from connections.services.accounts import create_legal_entity, create_organization
from connections.services.api_sync import change_api_sync_profile, create_api_sync_profile
from connections.services.attempts import start_attempt
from connections.services.verification import create_run, run_verification
from intacct import EndpointError, validate_endpoint

_STATUS_MARK = {"passed": "PASS", "failed": "FAIL", "skipped": "SKIP"}
_PERMISSION_MARK = {
    "granted": "granted",
    "missing": "MISSING",
    "not_applicable": "n/a",
    "not_checked": "not checked",
}


class Command(BaseCommand):
    help = "Create, verify, profile and list Sage Intacct connections."

    def add_arguments(self, parser: CommandParser) -> None:
        commands = parser.add_subparsers(dest="subcommand", required=True, metavar="COMMAND")

        create = commands.add_parser(
            "create", help="create (or reuse) a legal entity and start a new connection attempt"
        )
        create.add_argument(
            "--org", required=True, type=text_argument, metavar="SLUG", help="organization slug"
        )
        create.add_argument(
            "--create-org", action="store_true", help="create the organization if it is missing"
        )
        create.add_argument("--legal-entity", required=True, type=text_argument, metavar="NAME")
        create.add_argument(
            "--company", required=True, type=text_argument, metavar="ID", help="Intacct company ID"
        )
        create.add_argument(
            "--user", required=True, type=text_argument, metavar="ID", help="web services user ID"
        )
        create.add_argument(
            "--password-env",
            required=True,
            type=text_argument,
            metavar="VAR",
            help="environment variable holding the web services user's password",
        )
        create.add_argument(
            "--entity",
            default="",
            type=text_argument,
            metavar="ID",
            help="entity ID (an entity-level connection)",
        )
        create.add_argument(
            "--endpoint", default="", type=text_argument, metavar="URL", help="gateway URL"
        )
        create.add_argument(
            "--allow-endpoint",
            action="append",
            default=[],
            type=text_argument,
            metavar="HOST",
            help="confirm a --endpoint host outside intacct.com (it must also be in "
            "INTACCT_ALLOWED_ENDPOINT_HOSTS); repeatable",
        )
        create.add_argument(
            "--json", dest="as_json", action="store_true", help="print one JSON object"
        )

        verify = commands.add_parser(
            "verify", help="verify the current attempt now; exit status 0 only if all passed"
        )
        verify.add_argument("legal_entity", metavar="LEGAL_ENTITY_UUID")
        verify.add_argument(
            "--json", dest="as_json", action="store_true", help="print one JSON object"
        )

        profile = commands.add_parser(
            "profile", help="create or change the API Sync Profile (customer success)"
        )
        profile.add_argument("legal_entity", metavar="LEGAL_ENTITY_UUID")
        profile.add_argument(
            "--objects",
            default=None,
            type=text_argument,
            metavar="A,B,…",
            help="objects to sync (default: every list object the last verification found "
            "granted, user-defined dimensions included)",
        )
        profile.add_argument("--disable", action="store_true", help="disable the profile")

        listing = commands.add_parser("list", help="every legal entity with its step and state")
        listing.add_argument(
            "--org", default=None, type=text_argument, metavar="SLUG", help="only this organization"
        )
        listing.add_argument(
            "--json", dest="as_json", action="store_true", help="print one JSON array"
        )

    def handle(self, *args: Any, subcommand: str, **options: Any) -> None:
        if subcommand == "create":
            self.create_connection(**options)
        elif subcommand == "verify":
            self.verify_connection(**options)
        elif subcommand == "profile":
            self.change_profile(**options)
        else:
            self.list_connections(**options)

    # --- create --------------------------------------------------------------------------------

    def create_connection(
        self,
        *,
        org: str,
        create_org: bool,
        legal_entity: str,
        company: str,
        user: str,
        password_env: str,
        entity: str,
        endpoint: str,
        allow_endpoint: list[str],
        as_json: bool,
        **options: Any,
    ) -> None:
        password = os.environ.get(password_env, "")
        if not password:
            raise CommandError(
                f"The environment variable {password_env} (--password-env) is not set or empty."
            )
        company, user, entity, name = company.strip(), user.strip(), entity.strip(), legal_entity
        if not company or not user or not name.strip():
            raise CommandError("--company, --user and --legal-entity cannot be blank.")
        _check_credentials(company, entity, user, password)
        _check_names(org, name)
        endpoint = endpoint.strip() or settings.INTACCT_ENDPOINT
        if endpoint != settings.INTACCT_ENDPOINT:
            _check_endpoint(endpoint, allow_endpoint)

        with transaction.atomic():
            organization = Organization.objects.filter(slug=org).first()
            if organization is None:
                if not create_org:
                    raise CommandError(
                        f"No organization with slug {org!r}; pass --create-org to create it."
                    )
                organization = create_organization(org, slug=org)
            entity_row = LegalEntity.objects.filter(
                organization=organization, name=name
            ).first() or create_legal_entity(organization, name)
            attempt = start_attempt(
                entity_row,
                company_id=company,
                entity_id=entity,
                user_id=user,
                password=password,
                endpoint=endpoint,
            )
        if as_json:
            self._json(
                {"legal_entity": str(entity_row.public_id), "attempt": str(attempt.public_id)}
            )
        else:
            self.stdout.write(
                f"Legal entity {entity_row.name} ({entity_row.public_id}) of "
                f"{organization.slug}: new connection attempt {attempt.public_id} "
                f"for company {company}{f', entity {entity}' if entity else ''}."
            )

    # --- verify --------------------------------------------------------------------------------

    def verify_connection(self, *, legal_entity: str, as_json: bool, **options: Any) -> None:
        entity_row = legal_entity_argument(legal_entity)
        attempt = current_attempt(entity_row)
        if attempt is None:
            raise CommandError(f"Legal entity {entity_row.public_id} has no connection attempt.")
        run, created = create_run(attempt, trigger=VerificationRun.Trigger.COMMAND)
        if not created:
            raise CommandError(
                f"A verification of this attempt is already under way (run {run.public_id}); "
                "try again when it has finished."
            )
        finished = run_verification(run.pk)
        if finished is None:
            raise CommandError(f"Verification run {run.public_id} was taken by another worker.")
        report = verification_report(finished)
        assert report is not None
        self._print(report.to_json(), as_json)
        if finished.state == VerificationRun.State.ERROR:
            raise CommandError(finished.error)
        if not report.ok:
            failed = next((s.key for s in report.steps if s.failed), "?")
            raise CommandError(f"Verification failed at step {failed}.")

    def _print(self, report: dict[str, Any], as_json: bool) -> None:
        if as_json:
            self._json(report)
        else:
            self._print_report(report)

    def _print_report(self, report: dict[str, Any]) -> None:
        out = self.stdout
        out.write(f"Attempt {report['attempt']}, verification run {report['run']}")
        if report["state"] == VerificationRun.State.ERROR:
            out.write(f"No verdict: {report['error']}")
            return
        out.write("Guide steps")
        for step in report["steps"]:
            mark = _STATUS_MARK.get(step["status"], step["status"])
            number = f" [{step['errorno']}]" if step["errorno"] else ""
            out.write(f"  {mark:4}  {step['step']:22} {step['message']}{number}")
            if step["remedy"]:
                out.write(f"        fix ({step['wizard_step']}): {step['remedy']}")
        if report["permissions"]:
            out.write("Permissions")
            for row in report["permissions"]:
                out.write(
                    f"  {_PERMISSION_MARK.get(row['status'], row['status']):11}  {row['row']}"
                )
        field = report["custom_field"]
        if field is not None:
            state = "found" if field["found"] else "missing"
            reported = field.get("datatype") or "not reported"
            kind = (
                ""
                if not field["found"]
                else (
                    ", type URL" if field["type_ok"] else f", type {reported} (the guide asks URL)"
                )
            )
            out.write(f"AP Bill custom field {field['field_id']}: {state}{kind}")
        if report["entities"]:
            out.write("Entities")
            for item in report["entities"]:
                out.write(f"  {item['id']:12} {item['name']}")
        verdict = "OK: every step passed" if report["ok"] else "FAILED"
        out.write(f"{verdict} ({report['round_trips']} gateway request(s))")

    # --- profile -------------------------------------------------------------------------------

    def change_profile(
        self, *, legal_entity: str, objects: str | None, disable: bool, **options: Any
    ) -> None:
        entity_row = legal_entity_argument(legal_entity)
        names = _object_list(objects) if objects is not None else None
        existing = ApiSyncProfile.objects.filter(legal_entity=entity_row).first()
        if existing is None and disable:
            raise CommandError(
                f"Legal entity {entity_row.public_id} has no API Sync Profile to disable."
            )
        with transaction.atomic():
            if existing is None:
                try:
                    profile, _ = create_api_sync_profile(entity_row, object_names=names)
                except SyncObjectsUnknown as error:
                    raise CommandError(f"{error} (--objects A,B,…)") from None
                action = "created"
            else:
                profile = change_api_sync_profile(existing, object_names=names, enabled=not disable)
                action = "disabled" if disable else "changed"
        self.stdout.write(
            f"API Sync Profile of {entity_row.name} ({entity_row.public_id}) {action}: "
            f"{'enabled' if profile.enabled else 'disabled'}, objects "
            f"{', '.join(profile.object_names) or '(none)'}."
        )

    # --- list ----------------------------------------------------------------------------------

    def list_connections(self, *, org: str | None, as_json: bool, **options: Any) -> None:
        organization = None
        if org is not None:
            organization = Organization.objects.filter(slug=org).first()
            if organization is None:
                raise CommandError(f"No organization with slug {org!r}.")
        rows = [_overview_row(entity_row) for entity_row in legal_entities_overview(organization)]
        if as_json:
            self._json(rows)
            return
        if not rows:
            self.stdout.write("No legal entities.")
            return
        self.stdout.write(f"{'ORGANIZATION':16} {'LEGAL ENTITY':28} {'UUID':36} {'STATE':11} STEP")
        for row in rows:
            self.stdout.write(
                f"{row['organization']:16} {row['name'][:28]:28} {row['legal_entity']:36} "
                f"{row['state'] or '-':11} {row['step'] or 'done'}"
            )

    def _json(self, value: Any) -> None:
        self.stdout.write(json.dumps(value, indent=2, default=str))


# --- helpers ----------------------------------------------------------------------------------------


#: The create options the wizard's credentials form checks, by its field names.
_CREDENTIAL_OPTIONS = {
    "company_id": "--company",
    "entity_id": "--entity",
    "user_id": "--user",
    "password": "--password-env",
    "integration_type": "--entity",
}


def _check_credentials(company: str, entity: str, user: str, password: str) -> None:
    """The rules the wizard applies to what a person types (ID characters and lengths, a
    password Intacct can receive), with the option to fix named."""
    form = CredentialsForm(
        {
            "integration_type": ConnectionAttempt.IntegrationType.ENTITY_LEVEL
            if entity
            else ConnectionAttempt.IntegrationType.TOP_LEVEL,
            "company_id": company,
            "entity_id": entity,
            "user_id": user,
            "password": password,
        }
    )
    if not form.is_valid():
        raise CommandError(
            " ".join(
                f"{_CREDENTIAL_OPTIONS.get(field, field)}: {message}"
                for field, messages in form.errors.items()
                for message in messages
            )
        )


def _max_length(model: Any, name: str) -> int:
    length = model._meta.get_field(name).max_length
    assert isinstance(length, int)
    return length


def _check_names(org: str, name: str) -> None:
    """What the database would refuse mid-way: a slug that is not one, names too long."""
    if len(org) > _max_length(Organization, "slug") or not slug_re.fullmatch(org):
        raise CommandError(
            f"--org {org!r} is not a slug: at most 100 letters, digits, hyphens and underscores."
        )
    limit = _max_length(LegalEntity, "name")
    if len(name) > limit:
        raise CommandError(
            f"--legal-entity is at most {limit} characters; this one has {len(name)}."
        )


def _check_endpoint(endpoint: str, allowed: list[str]) -> None:
    """A non-Intacct endpoint needs its host both confirmed on the command line and allowed by
    the settings (the worker only ever sends credentials where the settings allow)."""
    limit = _max_length(ConnectionAttempt, "endpoint")
    if len(endpoint) > limit:
        raise CommandError(
            f"--endpoint is at most {limit} characters; this one has {len(endpoint)}."
        )
    hosts = [host.strip() for item in allowed for host in item.split(",") if host.strip()]
    try:
        validate_endpoint(endpoint, hosts)
    except EndpointError as err:
        raise CommandError(f"{err.message} Pass --allow-endpoint HOST to confirm it.") from None
    host = (urlsplit(endpoint).hostname or "").lower()
    configured = {h.lower() for h in settings.INTACCT_ALLOWED_ENDPOINT_HOSTS}
    try:
        validate_endpoint(endpoint, sorted(configured))
    except EndpointError:
        raise CommandError(
            f"{host} is not in INTACCT_ALLOWED_ENDPOINT_HOSTS, so verification would refuse to "
            "send credentials there."
        ) from None


def _object_list(text: str) -> list[str]:
    names: list[str] = []
    for item in text.split(","):
        name = item.strip()
        if name and name not in names:
            names.append(name)
    if not names:
        raise CommandError("--objects names no object.")
    return names


def _overview_row(legal_entity: LegalEntity) -> dict[str, Any]:
    attempt = overview_attempt(legal_entity)
    step = entity_progress(attempt).current_step
    profile = getattr(legal_entity, "api_sync_profile", None)  # select_related: no query
    return {
        "legal_entity": str(legal_entity.public_id),
        "name": legal_entity.name,
        "organization": legal_entity.organization.slug,
        "attempt": str(attempt.public_id) if attempt is not None else None,
        "state": attempt.state if attempt is not None else None,
        "step": step.value if step is not None else None,
        "company_id": attempt.company_id if attempt is not None else None,
        "entity_id": (attempt.entity_id or None) if attempt is not None else None,
        "api_sync_profile": ApiSyncProfile.status_of(profile),
        "last_verified_at": legal_entity.last_verified_at.isoformat()
        if legal_entity.last_verified_at
        else None,
        "last_error_code": legal_entity.last_error_code,
        "last_error": legal_entity.last_error,
    }
