"""Named scenarios: one emulated company each, covering every way a connection can go wrong.

A company's ID is its scenario's name with ``-`` for ``_`` (``healthy-top``,
``missing-permissions`` …).  The scenario decides how the gateway treats requests to the company
(authentication, permissions, subscriptions, faults); the records themselves live in
:class:`intacct.sandbox.world.Company` and survive a scenario switch.
"""

from __future__ import annotations

from dataclasses import dataclass

from intacct.permissions import PERMISSION_ROWS

from . import (
    SANDBOX_CUSTOM_FIELD_DESCRIPTION,
    SANDBOX_CUSTOM_FIELD_ID,
    SANDBOX_CUSTOM_FIELD_LABEL,
)
from .schema import CustomFieldDef, EntityDef, UddDef

__all__ = [
    "ALL_MODULES",
    "BEANWORKS_FIELD",
    "DEFAULT_SCENARIO",
    "ENTITIES",
    "GATEWAY_FAULTS",
    "SCENARIOS",
    "Scenario",
    "company_id_for",
    "get_scenario",
]

#: Every application a company may subscribe to (the permission table's "only when" column).
ALL_MODULES: frozenset[str] = frozenset(
    row.only_when for row in PERMISSION_ROWS if row.only_when is not None
)

#: The product's link-back custom field on AP bills, as a healthy company has it.
BEANWORKS_FIELD = CustomFieldDef(
    SANDBOX_CUSTOM_FIELD_ID, SANDBOX_CUSTOM_FIELD_LABEL, "URL", SANDBOX_CUSTOM_FIELD_DESCRIPTION
)

#: The entities of a multi-entity scenario.
ENTITIES: tuple[EntityDef, ...] = (
    EntityDef("E100", "United States", "USD", "United States", "US"),
    EntityDef("E200", "United Kingdom", "GBP", "United Kingdom", "GB"),
    EntityDef("E300", "Canada", "CAD", "Canada", "CA"),
)

PROGRAM = UddDef("PROGRAM", "Program")
FUND = UddDef("FUND", "Fund")

#: Gateway-level behaviours a scenario may switch on.
GATEWAY_FAULTS = (
    "unknown_company",
    "bad_password_401",
    "bad_sender_password",
    "demo_expired",
    "rate_limited",
    "flaky",
)

_SINGLE_MODULES = ALL_MODULES - {"Construction", "Taxes (AU, GB, ZA)", "Multi-entity"}


@dataclass(frozen=True)
class Scenario:
    """How the gateway treats one company.

    ``granted_rows``: keys of :data:`intacct.permissions.PERMISSION_ROWS` the web services user's
    role holds (``None`` = every row); ``role_assigned`` False means the user has no role at all.
    ``modules``: the applications the company subscribes to.  ``gateway_fault``: one of
    :data:`GATEWAY_FAULTS` or None.
    """

    name: str
    description: str
    web_services: bool = True
    sender_authorized: bool = True
    password_ok: bool = True
    role_assigned: bool = True
    granted_rows: frozenset[str] | None = None
    modules: frozenset[str] = _SINGLE_MODULES
    entities: tuple[EntityDef, ...] = ()
    udds: tuple[UddDef, ...] = (PROGRAM,)
    custom_field: CustomFieldDef | None = BEANWORKS_FIELD
    bad_entity: bool = False
    gateway_fault: str | None = None
    #: Fields the company does not have (its edition, modules or field-level permissions):
    #: ``((object, (field, …)), …)``. ``query`` fails on them with XL03000006 "The following
    #: fields cannot be queried", ``readByQuery`` with "Invalid fields list", and ``lookup`` /
    #: ``inspect`` leave them out.
    missing_fields: tuple[tuple[str, tuple[str, ...]], ...] = ()
    #: Requests the company may have in flight over all its connections (Intacct's default tier:
    #: 2); more get HTTP 429 GW-0010. ``None``: the sandbox's ``max_concurrent``.
    max_concurrent: int | None = None
    #: Whether the web services user may read the audit trail (``AUDITHISTORY``: the role's
    #: View permission for custom reports, with Platform Services). Not in the guide's table.
    audit_trail: bool = True
    #: How the company's audit trail words an addition, a change and a deletion (ACCESSMODE; the
    #: documented values include both ``Created``/``Modified``/``Deleted`` and ``Add Event``/
    #: ``Modify Event``/``Delete Event``), which field of the record its OBJECTKEY holds
    #: (``RECORDNO``, or ``ID``: the object's ID field) and the case of its OBJECTTYPE.
    audit_modes: tuple[str, str, str] = ("Created", "Modified", "Deleted")
    audit_key: str = "RECORDNO"
    audit_type_upper: bool = False

    @property
    def company_id(self) -> str:
        """The company ID of the scenario's own company."""
        return company_id_for(self.name)

    @property
    def multi_entity(self) -> bool:
        """True when the company has entities."""
        return bool(self.entities)

    def unqueryable(self, object_name: str) -> frozenset[str]:
        """The fields of ``object_name`` this company does not have (upper-case)."""
        upper = object_name.upper()
        return frozenset(
            field.upper()
            for name, fields in self.missing_fields
            if name.upper() == upper
            for field in fields
        )

    def row_granted(self, key: str) -> bool:
        """Whether the user's role holds the permission row ``key``."""
        if not self.role_assigned:
            return False
        return self.granted_rows is None or key in self.granted_rows


def company_id_for(scenario_name: str) -> str:
    """``healthy_top`` → ``healthy-top``."""
    return scenario_name.replace("_", "-")


def _all_rows_but(*keys: str) -> frozenset[str]:
    return frozenset(row.key for row in PERMISSION_ROWS if row.key not in keys)


def _scenarios() -> dict[str, Scenario]:
    multi_modules = ALL_MODULES
    items = [
        Scenario(
            "healthy_top",
            "Single-entity company, everything granted, custom field and one dimension.",
        ),
        Scenario(
            "healthy_multi",
            "Multi-entity company (3 entities, entity-private records), two dimensions.",
            modules=multi_modules,
            entities=ENTITIES,
            udds=(PROGRAM, FUND),
        ),
        Scenario(
            "no_subscription",
            "The company has no Web Services subscription.",
            web_services=False,
        ),
        Scenario(
            "sender_not_authorized",
            "Our sender ID is missing from the company's Web Services authorizations.",
            sender_authorized=False,
        ),
        Scenario("bad_password", "The web services user's password is wrong.", password_ok=False),
        Scenario(
            "missing_permissions",
            "The role lacks Vendors, GL Accounts and AP Terms.",
            granted_rows=_all_rows_but("vendors", "gl_accounts", "ap_terms"),
        ),
        Scenario("no_role", "The API role is not assigned to the user.", role_assigned=False),
        Scenario("no_custom_field", "The Beanworks custom field is missing.", custom_field=None),
        Scenario(
            "wrong_custom_field_type",
            "The Beanworks custom field exists but is a Text field.",
            custom_field=CustomFieldDef("BEANWORKS", "Beanworks", "TEXT", "Beanworks"),
        ),
        Scenario(
            "bad_entity",
            "Multi-entity company whose entity logins fail.",
            modules=multi_modules,
            entities=ENTITIES,
            bad_entity=True,
        ),
        Scenario(
            "fields_differ",
            "Employees without PERSONALINFO.CONTACTNAME, exchange rates without their currencies.",
            missing_fields=(
                ("EMPLOYEE", ("PERSONALINFO.CONTACTNAME",)),
                ("EXCHANGERATE", ("FROM_CURRENCY", "TO_CURRENCY")),
            ),
        ),
        Scenario(
            "key_field_hidden",
            "Vendors whose VENDORID field-level permissions hide from the API user.",
            missing_fields=(("VENDOR", ("VENDORID",)),),
        ),
        Scenario(
            "two_requests_at_a_time",
            "Intacct's default tier, enforced: a third concurrent request gets HTTP 429 GW-0010.",
            max_concurrent=2,
        ),
        Scenario(
            "no_audit_trail",
            "The role may not read the audit trail (no View permission for custom reports).",
            audit_trail=False,
        ),
        Scenario(
            "audit_trail_differs",
            "An audit trail worded Add/Modify/Delete Event, keyed by ID, object types upper-case.",
            audit_modes=("Add Event", "Modify Event", "Delete Event"),
            audit_key="ID",
            audit_type_upper=True,
        ),
        Scenario(
            "rate_limited",
            "Every third request is refused with HTTP 429 (GW-0010).",
            gateway_fault="rate_limited",
        ),
        Scenario(
            "flaky",
            "About one request in five fails with HTTP 502/503/524; sessions sometimes drop.",
            gateway_fault="flaky",
        ),
        Scenario(
            "bad_sender_password",
            "Every request is refused as if our sender password were wrong.",
            gateway_fault="bad_sender_password",
        ),
        Scenario(
            "unknown_company",
            "The company ID does not exist (HTTP 400 invalidRequest).",
            gateway_fault="unknown_company",
        ),
        Scenario(
            "bad_password_401",
            "Wrong credentials answered the current way: HTTP 401 XMLGW_JPP0002.",
            gateway_fault="bad_password_401",
        ),
        Scenario(
            "demo_expired",
            "An expired demo company (PL04000055).",
            gateway_fault="demo_expired",
        ),
    ]
    return {s.name: s for s in items}


#: Every named scenario, by name.
SCENARIOS: dict[str, Scenario] = _scenarios()
#: The scenario of the ``sandbox`` company unless ``--scenario`` says otherwise.
DEFAULT_SCENARIO = "healthy_top"


def get_scenario(name: str) -> Scenario:
    """The scenario called ``name`` (``-`` and ``_`` are interchangeable); ``KeyError`` if none."""
    return SCENARIOS[name.strip().replace("-", "_")]
