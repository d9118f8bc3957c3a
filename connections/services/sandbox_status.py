"""The sandbox status the home page shows: which demo companies the local Intacct sandbox serves."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import httpx
from django.conf import settings

logger = logging.getLogger(__name__)

SANDBOX_TIMEOUT_SECONDS = 1.5


@dataclass(frozen=True)
class SandboxCompany:
    """One company of the sandbox; its company ID is its scenario with ``-`` for ``_``."""

    company_id: str
    scenario: str
    description: str = ""


@dataclass(frozen=True)
class SandboxStatus:
    url: str
    reachable: bool
    companies: list[SandboxCompany] = field(default_factory=list)
    problem: str = ""

    @property
    def configured(self) -> bool:
        return bool(self.url)

    @property
    def user_password(self) -> str:
        """The sandbox's well-known web services user password (a test credential, public)."""
        from intacct.sandbox import SANDBOX_USER_PASSWORD

        return SANDBOX_USER_PASSWORD


def sandbox_status(
    *,
    timeout: float = SANDBOX_TIMEOUT_SECONDS,
    transport: httpx.BaseTransport | None = None,
) -> SandboxStatus:
    """Ask the sandbox's health endpoint (``GET {SANDBOX_URL}/sandbox/``) which companies it serves.

    Never raises: an unreachable or confused sandbox is reported in ``problem``.
    """
    base_url = settings.SANDBOX_URL
    if not base_url:
        return SandboxStatus(url="", reachable=False, problem="No sandbox is configured.")
    url = f"{base_url.rstrip('/')}/sandbox/"
    try:
        with httpx.Client(timeout=timeout, transport=transport) as client:
            response = client.get(url, headers={"Accept": "application/json"})
    except httpx.TransportError as exc:
        logger.info("sandbox not reachable at %s: %s", url, type(exc).__name__)
        return SandboxStatus(url=url, reachable=False, problem="Nothing answered at this address.")
    if response.status_code != httpx.codes.OK:
        return SandboxStatus(
            url=url, reachable=False, problem=f"It answered HTTP {response.status_code}."
        )
    try:
        payload = response.json()
    except ValueError:
        return SandboxStatus(url=url, reachable=False, problem="It answered something not JSON.")
    return SandboxStatus(url=url, reachable=True, companies=_companies(payload))


def _companies(payload: Any) -> list[SandboxCompany]:
    """Read ``{"companies": [...]}`` (or a bare list) of company IDs or objects."""
    items = payload.get("companies", []) if isinstance(payload, dict) else payload
    if not isinstance(items, list):
        return []
    companies = []
    for item in items:
        if isinstance(item, str):
            companies.append(SandboxCompany(company_id=item, scenario=item.replace("-", "_")))
        elif isinstance(item, dict):
            company_id = str(item.get("company_id") or item.get("id") or "")
            if not company_id:
                continue
            companies.append(
                SandboxCompany(
                    company_id=company_id,
                    scenario=str(item.get("scenario") or company_id.replace("-", "_")),
                    description=str(item.get("description") or ""),
                )
            )
    return sorted(companies, key=lambda company: company.company_id)
