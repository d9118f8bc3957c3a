"""The connection guide's role permission table, as data.

One :class:`PermissionRow` per row of the guide's table.  Each row says which Intacct API object(s)
a read probe uses to prove the permission, whether it is list data that SmartSync pulls, which
subscription makes it applicable, and which ``getUserPermissions`` policy and rights prove what a
read cannot (write rights, "Run", Application Subscriptions).

The verification plan (:mod:`intacct.checks`) probes every row; the wizard renders the same rows as a
checklist the Intacct administrator follows screen by screen.
"""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

__all__ = [
    "PERMISSION_ROWS",
    "UDD_ROW_KEY",
    "PermissionRow",
    "list_object_names",
    "normalise_name",
    "row_by_key",
]

#: The key of the table's last row, which stands for every user-defined dimension.
UDD_ROW_KEY = "user_defined_dimensions"


@dataclass(frozen=True)
class PermissionRow:
    """One row of the guide's permission table.

    ``objects``: the API objects whose read proves the row (empty when only a policy can prove it).
    ``policy_rights``: rights a ``getUserPermissions`` policy must hold (e.g. ``("Add",)`` for
    Bills) beyond what the read proves; ``policy_names`` are the policy names to look for, in every
    locale we know (matched case- and accent-insensitively).
    ``kind``: ``list`` (SmartSync pulls it), ``write`` (the product creates records) or ``config``.
    ``only_when``: the subscription the row depends on (``None`` = always applicable).
    ``evidence``: where the row's wording comes from: ``V`` verbatim from a public copy of the
    guide, ``G`` our copy of the guide, ``C`` reconstructed (e.g. ``"G/C"``).
    """

    key: str
    application: str
    activity: str
    permissions: str
    objects: tuple[str, ...]
    kind: str
    only_when: str | None = None
    policy_names: tuple[str, ...] = ()
    policy_rights: tuple[str, ...] = ()
    evidence: str = "V"

    @property
    def label(self) -> str:
        """``"Application — Activity"``, as the report names the row."""
        return f"{self.application} — {self.activity}"

    @property
    def screen(self) -> str:
        """Where in Intacct the administrator sets it (the role's permission screen)."""
        return (
            f"Company → Roles → the API role → Subscriptions: {self.application} → "
            f"Permissions → {self.activity}: {self.permissions}"
        )


def _row(
    key: str,
    application: str,
    activity: str,
    permissions: str,
    objects: tuple[str, ...],
    kind: str = "list",
    only_when: str | None = None,
    policy_names: tuple[str, ...] = (),
    policy_rights: tuple[str, ...] = (),
    evidence: str = "V",
) -> PermissionRow:
    return PermissionRow(
        key,
        application,
        activity,
        permissions,
        objects,
        kind,
        only_when,
        policy_names or (activity,),
        policy_rights,
        evidence,
    )


#: The guide's table in its own order.
PERMISSION_ROWS: tuple[PermissionRow, ...] = (
    _row(
        "application_subscriptions",
        "Administration",
        "Application Subscriptions",
        "List, View",
        (),
        kind="config",
        policy_rights=("List", "View"),
    ),
    _row("departments", "Company", "Departments", "View", ("DEPARTMENT",)),
    _row("entities", "Company", "Entities", "View", ("LOCATIONENTITY",), only_when="Multi-entity"),
    _row("locations", "Company", "Locations", "View", ("LOCATION",)),
    _row("classes", "Company", "Class", "View", ("CLASS",), policy_names=("Class", "Classes")),
    _row(
        "transaction_allocations",
        "Company",
        "Transaction Allocations",
        "View",
        ("ALLOCATION",),
        evidence="V+G",
    ),
    _row("employees", "Company", "Employees", "View", ("EMPLOYEE",)),
    _row(
        "exchange_rate_types",
        "Company",
        "Exchange Rate Types",
        "View",
        ("EXCHANGERATETYPES",),
        only_when="Multi-currency",
        evidence="G",
    ),
    _row(
        "exchange_rate",
        "Company",
        "Exchange Rate",
        "View",
        ("EXCHANGERATE",),
        only_when="Multi-currency",
        policy_names=("Exchange Rate", "Exchange Rates"),
        evidence="G",
    ),
    _row(
        "checking_accounts",
        "Cash Management",
        "Checking Accounts",
        "View",
        ("CHECKINGACCOUNT",),
        only_when="Cash Management",
        policy_names=("Checking Accounts", "Current accounts"),
        evidence="G/C",
    ),
    _row(
        "savings_accounts",
        "Cash Management",
        "Savings Accounts",
        "View",
        ("SAVINGSACCOUNT",),
        only_when="Cash Management",
        policy_names=("Savings Accounts", "Deposit accounts"),
        evidence="G",
    ),
    _row("gl_accounts", "General Ledger", "Accounts", "View", ("GLACCOUNT",), evidence="G/C"),
    _row(
        "pay_bills",
        "Accounts Payable",
        "Pay Bills",
        "Run",
        (),
        kind="write",
        policy_names=("Pay Bills", "Pay supplier invoices"),
        policy_rights=("Run",),
        evidence="G/C",
    ),
    _row(
        "bills",
        "Accounts Payable",
        "Bills",
        "View, Add",
        ("APBILL",),
        kind="write",
        policy_names=("Bills", "AP supplier invoices", "Supplier invoices"),
        policy_rights=("Add",),
        evidence="C/G",
    ),
    _row(
        "vendors",
        "Accounts Payable",
        "Vendors",
        "View",
        ("VENDOR",),
        policy_names=("Vendors", "Suppliers"),
        evidence="C",
    ),
    _row(
        "ap_terms",
        "Accounts Payable",
        "AP Terms",
        "View",
        ("APTERM",),
        policy_names=("AP Terms", "Supplier terms"),
        evidence="G",
    ),
    _row(
        "payment_requests",
        "Accounts Payable",
        "Payment Requests",
        "View",
        ("APPYMT",),
        evidence="G",
    ),
    _row(
        "tax_details",
        "Accounts Payable",
        "Tax Details",
        "View",
        ("TAXDETAIL",),
        only_when="Taxes (AU, GB, ZA)",
        evidence="G",
    ),
    _row("customers", "Accounts Receivable", "Customers", "View", ("CUSTOMER",), evidence="G/C"),
    _row(
        "items",
        "Inventory Control",
        "Items",
        "View",
        ("ITEM",),
        only_when="Inventory Control",
        evidence="G/C",
    ),
    _row(
        "warehouses",
        "Inventory Control",
        "Warehouses",
        "View",
        ("WAREHOUSE",),
        only_when="Inventory Control",
        evidence="C",
    ),
    _row(
        "projects", "Projects", "Projects", "View", ("PROJECT",), only_when="Projects", evidence="C"
    ),
    _row("tasks", "Projects", "Tasks", "View", ("TASK",), only_when="Projects", evidence="C"),
    _row(
        "standard_tasks",
        "Projects",
        "Standard Tasks",
        "View",
        ("STANDARDTASK",),
        only_when="Construction",
        evidence="G",
    ),
    _row(
        "cost_types",
        "Projects",
        "Cost Types",
        "View",
        ("COSTTYPE",),
        only_when="Construction",
        evidence="G",
    ),
    _row(
        "standard_cost_types",
        "Projects",
        "Standard Cost Types",
        "View",
        ("STANDARDCOSTTYPE",),
        only_when="Construction",
        evidence="G",
    ),
    _row(
        "order_entry",
        "Order Entry",
        "Order Entry transactions",
        "View",
        ("SODOCUMENT",),
        only_when="Order Entry",
        evidence="G/?",
    ),
    _row(
        UDD_ROW_KEY,
        "User Defined Dimensions",
        "User Defined Dimensions",
        "View (All that apply)",
        (),
        only_when="Platform Services",
        evidence="G",
    ),
)


def row_by_key(key: str) -> PermissionRow:
    """The row with ``key``; raises ``KeyError`` for an unknown key."""
    for row in PERMISSION_ROWS:
        if row.key == key:
            return row
    raise KeyError(key)


def list_object_names() -> list[str]:
    """Every standard object the guide's table marks as list data, in table order."""
    return [o for row in PERMISSION_ROWS if row.kind == "list" for o in row.objects]


def normalise_name(text: str) -> str:
    """Fold a policy or application name for locale-insensitive matching.

    Case, accents, surrounding and repeated spaces are ignored (``applicationName`` values arrive
    with trailing spaces, e.g. ``"Time "``).
    """
    decomposed = unicodedata.normalize("NFKD", text)
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return " ".join(stripped.casefold().split())
