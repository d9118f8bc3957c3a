"""The objects the emulated gateway knows: their fields, data types and how each value is generated.

Records are never stored: a record's every value is a pure function of its record number ``n`` (and
of the company's :class:`DataProfile`: its entities and record count), so a million-record company
costs nothing until a page of it is asked for.  :func:`build_generators` turns an
:class:`ObjectDef` into one :class:`Gen` per field, each able to produce the raw value and its
XML-escaped form for any ``n``.

Shape of the base data (what tests and benchmarks may rely on):

- ``RECORDNO`` runs from 1 to the record count; ``WHENMODIFIED`` is non-decreasing in ``RECORDNO``
  between :data:`DATA_START` and :data:`DATA_END`, except every record with
  ``n % 1000 == 997``, whose ``WHENMODIFIED`` is empty (real companies have such rows) while its
  ``WHENCREATED`` is set.
- ``STATUS`` is ``inactive`` when ``n % 25 == 13``, else ``active``.
- In a multi-entity company, objects that carry ``MEGAENTITYID`` have entity-private records: those
  with ``n % 10`` in ``(3, 7)`` belong to entity ``(n // 10) % len(entities)``; all others are
  shared (empty ``MEGAENTITYID``).

Every attribute that a visibility or status filter looks at depends on ``n % PERIOD`` only, which
lets :mod:`intacct.sandbox.world` count and page such filters without scanning.
"""

from __future__ import annotations

import calendar
import string
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Literal

from intacct import catalog

__all__ = [
    "AUDIT_HISTORY",
    "DATA_END",
    "DATA_START",
    "HOLE_MODULUS",
    "HOLE_RESIDUE",
    "PERIOD",
    "STANDARD_OBJECTS",
    "CustomFieldDef",
    "DataProfile",
    "EntityDef",
    "FieldDef",
    "Gen",
    "IdFormat",
    "ObjectDef",
    "UddDef",
    "apbill_object",
    "build_generators",
    "escape_text",
    "format_timestamp",
    "parse_timestamp",
    "udd_object",
]

#: Every periodic attribute (status, entity, empty WHENMODIFIED) repeats with this period.
PERIOD = 6000
#: Base records with ``n % HOLE_MODULUS == HOLE_RESIDUE`` have an empty WHENMODIFIED.
HOLE_MODULUS = 1000
HOLE_RESIDUE = 997
#: Base records' WHENMODIFIED values spread between these two instants (seconds, UTC).
DATA_START = calendar.timegm((2019, 1, 1, 8, 0, 0, 0, 0, 0))
DATA_END = calendar.timegm((2025, 6, 30, 18, 0, 0, 0, 0, 0))

Kind = Literal["int", "decimal", "text", "date", "datetime", "bool"]


def escape_text(value: str) -> str:
    """Escape a value for XML text content."""
    if "&" in value or "<" in value or ">" in value:
        return value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return value


# --- timestamps --------------------------------------------------------------------------------

_DAY_CACHE: dict[int, str] = {}


def _day_text(day: int) -> str:
    text = _DAY_CACHE.get(day)
    if text is None:
        tm = time.gmtime(day * 86400)
        text = f"{tm.tm_mon:02d}/{tm.tm_mday:02d}/{tm.tm_year:04d}"
        if len(_DAY_CACHE) < 100_000:
            _DAY_CACHE[day] = text
    return text


_HOUR_MINUTE = tuple(f"{h:02d}:{m:02d}" for h in range(24) for m in range(60))
_SECOND = tuple(f"{s:02d}" for s in range(60))


def format_timestamp(seconds: int) -> str:
    """``MM/DD/YYYY HH:MM:SS`` for seconds since the epoch (UTC), as Intacct writes timestamps."""
    day, rest = divmod(seconds, 86400)
    minutes, secs = divmod(rest, 60)
    return f"{_day_text(day)} {_HOUR_MINUTE[minutes]}:{_SECOND[secs]}"


def format_date(seconds: int) -> str:
    """``MM/DD/YYYY`` for seconds since the epoch (UTC)."""
    return _day_text(seconds // 86400)


_TS_FORMATS = (
    "%m/%d/%Y %H:%M:%S",
    "%m/%d/%Y",
    "%Y-%m-%dT%H:%M:%S",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d",
    "%m/%d/%Y %H:%M",
)


def parse_timestamp(text: str) -> int | None:
    """Seconds since the epoch for a date or timestamp in the formats Intacct accepts, else None.

    Accepts ``MM/DD/YYYY[ HH:MM[:SS]]`` and ISO ``YYYY-MM-DD[(T| )HH:MM:SS]`` (a trailing zone or
    fraction is ignored).
    """
    value = text.strip()
    if not value:
        return None
    if "T" in value or (len(value) > 19 and value[4] == "-"):
        value = value[:19]
    for fmt in _TS_FORMATS:
        try:
            return calendar.timegm(time.strptime(value, fmt))
        except ValueError:
            continue
    return None


# --- definitions -------------------------------------------------------------------------------

#: How a field's value is generated; see ``_make_gen``.
Spec = str | tuple[str, ...] | tuple[str, tuple[str, ...]]


@dataclass(frozen=True)
class FieldDef:
    """One field of an object: its name, lookup metadata and value generator spec."""

    name: str
    label: str
    datatype: str
    kind: Kind
    spec: Spec
    required: bool = False
    readonly: bool = False
    custom: bool = False
    valid_values: tuple[str, ...] = ()
    description: str = ""


@dataclass(frozen=True)
class IdFormat:
    """A human ID of the form ``prefix + zero-padded (n + offset)``; invertible for index lookups."""

    prefix: str
    width: int = 5
    offset: int = 0

    def format(self, n: int) -> str:
        """The ID of record ``n``."""
        return f"{self.prefix}{n + self.offset:0{self.width}d}"

    def parse(self, value: str) -> int | None:
        """The record number whose ID is ``value``, or None when no base record has it."""
        if not value.startswith(self.prefix):
            return None
        digits = value[len(self.prefix) :]
        if not digits.isdigit() or not digits.isascii():
            return None
        n = int(digits) - self.offset
        if n < 1 or self.format(n) != value:
            return None
        return n


@dataclass(frozen=True)
class ObjectDef:
    """One object of the gateway: fields in ``*`` order and the roles some fields play."""

    name: str
    singular: str
    plural: str
    fields: tuple[FieldDef, ...]
    key_field: str = "RECORDNO"
    id_field: str = "RECORDNO"
    name_field: str = "NAME"
    status_field: str | None = "STATUS"
    created_field: str = "WHENCREATED"
    modified_field: str = "WHENMODIFIED"
    id_format: IdFormat | None = None
    name_style: str = "generic"
    user_defined: bool = False
    entity_records: bool = False
    by_name: dict[str, FieldDef] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "by_name", {f.name.upper(): f for f in self.fields})

    def field(self, name: str) -> FieldDef | None:
        """The field called ``name`` (case-insensitive), or None."""
        return self.by_name.get(name.upper())

    @property
    def has_megaentity(self) -> bool:
        """Whether records can be private to an entity (the object carries ``MEGAENTITYID``)."""
        return "MEGAENTITYID" in self.by_name


@dataclass(frozen=True)
class EntityDef:
    """One entity (``LOCATIONENTITY``) of a multi-entity company."""

    entity_id: str
    name: str
    currency: str
    country: str
    country_code: str


@dataclass(frozen=True)
class UddDef:
    """A user-defined dimension: a platform object with lower-case system fields."""

    object_name: str
    label: str


@dataclass(frozen=True)
class CustomFieldDef:
    """A custom field on ``APBILL`` (the product's link-back field)."""

    field_id: str
    label: str
    datatype: str
    description: str = ""


@dataclass(frozen=True)
class DataProfile:
    """What a company's generated data depends on besides the record number."""

    count: int
    entities: tuple[EntityDef, ...] = ()
    base_currency: str = "USD"

    @property
    def multi_entity(self) -> bool:
        """True when the company has entities."""
        return bool(self.entities)


# --- value tables ------------------------------------------------------------------------------

_COMPANY_A = (
    "Acme",
    "Northwind",
    "Globex",
    "Initech",
    "Umbrella",
    "Stark",
    "Wayne",
    "Wonka",
    "Hooli",
    "Vandelay",
    "Soylent",
    "Cyberdyne",
    "Tyrell",
    "Müller",
    "O'Brien",
    "Zoë",
    "Dunder",
    "Pied Piper",
    "Bluth",
    "Łódź",
)
_COMPANY_B = (
    "Supply",
    "Logistics",
    "Foods",
    "Consulting",
    "Paper",
    "Industries",
    "Imports",
    "Services",
    "Electric",
    "Café",
)
_COMPANY_C = (
    "Co",
    "Inc.",
    "LLC",
    "& Sons",
    "Ltd",
    "GmbH",
    "S.A.",
    "Pty Ltd",
    "Group",
    "<Partners>",
)
_FIRST = (
    "Ada",
    "Grace",
    "Alan",
    "Linus",
    "Margaret",
    "Chloé",
    "Søren",
    "Dennis",
    "Barbara",
    "Ken",
    "Frances",
    "Edsger",
    "Radia",
    "Tim",
    "Hedy",
    "Niklaus",
    "Shafi",
    "Lynn",
    "John",
    "Katherine",
)
_LAST = (
    "Lovelace",
    "Hopper",
    "Turing",
    "Torvalds",
    "Hamilton",
    "Dubois",
    "Kierkegaard",
    "Ritchie",
    "Liskov",
    "Thompson",
    "Allen",
    "Dijkstra",
    "Perlman",
    "Berners-Lee",
    "Lamarr",
    "Wirth",
    "Goldwasser",
    "Conway",
    "O'Neil",
    "Johnson",
)
_CITIES = (
    "Vancouver",
    "Toronto",
    "Seattle",
    "Austin",
    "Denver",
    "Boston",
    "Chicago",
    "Atlanta",
    "London",
    "Leeds",
    "Montréal",
    "Calgary",
    "Dublin",
    "Sydney",
    "Auckland",
    "Portland",
)
_DEPARTMENTS = (
    "Sales",
    "Marketing",
    "Engineering",
    "Finance",
    "Operations",
    "Support",
    "Legal",
    "Human Resources",
    "R&D",
    "Procurement",
)
_ACCOUNTS = (
    ("Cash", "asset"),
    ("Accounts Receivable", "asset"),
    ("Inventory", "asset"),
    ("Prepaid Expenses", "asset"),
    ("Accounts Payable", "liability"),
    ("Accrued Liabilities", "liability"),
    ("Sales Revenue", "income"),
    ("Service Revenue", "income"),
    ("Cost of Goods Sold", "expense"),
    ("Rent Expense", "expense"),
    ("Travel & Meals", "expense"),
    ("Office Supplies", "expense"),
)
_ITEMS = (
    "Widget",
    "Gadget",
    "Sprocket",
    "Gear",
    "Bracket",
    "Valve",
    "Sensor",
    "Cable",
    "Panel",
    "Kit",
)
_TASKS = ("Design", "Build", "Test", "Deploy", "Review", "Plan", "Survey", "Install")
_TERMS = ("Net 30", "Net 15", "Net 45", "Net 60", "Due on receipt")
_CURRENCIES = ("USD", "GBP", "CAD", "EUR")


_COMPANY_NAMES = tuple(
    f"{_COMPANY_A[i % 20]} {_COMPANY_B[(i // 20) % 10]} {_COMPANY_C[(i // 200) % 10]}"
    for i in range(2000)
)
_COMPANY_NAMES_XML = tuple(escape_text(name) for name in _COMPANY_NAMES)


def _company_name(n: int) -> str:
    i = n - 1
    base = _COMPANY_NAMES[i % 2000]
    return base if i < 2000 else f"{base} {i // 2000}"


def _company_name_xml(n: int) -> str:
    i = n - 1
    base = _COMPANY_NAMES_XML[i % 2000]
    return base if i < 2000 else f"{base} {i // 2000}"


def _person_first(n: int) -> str:
    return _FIRST[(n - 1) % 20]


def _person_last(n: int) -> str:
    return _LAST[((n - 1) // 20) % 20]


def _person_name(n: int) -> str:
    base = f"{_FIRST[(n - 1) % 20]} {_LAST[((n - 1) // 20) % 20]}"
    return base if n <= 400 else f"{base} {(n - 1) // 400}"


_NAME_STYLES: dict[str, Callable[[int], str]] = {
    "company": _company_name,
    "person": _person_name,
    "department": lambda n: f"{_DEPARTMENTS[(n - 1) % 10]} {n}" if n > 10 else _DEPARTMENTS[n - 1],
    "account": lambda n: (
        _ACCOUNTS[(n - 1) % 12][0] if n <= 12 else f"{_ACCOUNTS[(n - 1) % 12][0]} {n}"
    ),
    "city": lambda n: _CITIES[(n - 1) % 16] if n <= 16 else f"{_CITIES[(n - 1) % 16]} {n}",
    "class": lambda n: (
        f"{('Retail', 'Wholesale', 'Online', 'Government', 'Non-profit')[n % 5]} {n}"
    ),
    "item": lambda n: f"{_ITEMS[(n - 1) % 10]} {n}",
    "project": lambda n: f"{_CITIES[(n - 1) % 16]} project {n}",
    "task": lambda n: f"{_TASKS[(n - 1) % 8]} {n}",
    "term": lambda n: f"Net {n}",
    "bank": lambda n: f"{('First National', 'Royal Bank', 'Chase', 'Barclays')[n % 4]} {n}",
    "allocation": lambda n: f"Split {n}",
    "ratetype": lambda n: "Intacct Daily Rate" if n == 1 else f"Rate type {n}",
    "currency": lambda n: _CURRENCIES[n % 4],
    "tax": lambda n: f"VAT {('Standard', 'Reduced', 'Zero', 'Exempt')[n % 4]} {n}",
    "docno": lambda n: f"SO-{n:06d}",
    "program": lambda n: f"Program {n}",
    "fund": lambda n: f"Fund {n}",
}


# --- field declarations ------------------------------------------------------------------------


def _kind_for(name: str) -> tuple[str, Kind]:
    upper = name.upper()
    if upper in ("RECORDNO", "ID") or upper.endswith("KEY") or upper in ("CREATEDBY", "MODIFIEDBY"):
        return "INTEGER", "int"
    if upper.startswith("WHEN") and upper not in ("WHENDUE", "WHENPOSTED"):
        return "TIMESTAMP", "datetime"
    if upper.endswith("DATE") or upper in ("WHENDUE", "WHENPOSTED", "EFFECTIVE_START_DATE"):
        return "DATE", "date"
    if upper in ("STATUS", "STATE", "ACCOUNTTYPE", "NORMALBALANCE", "ITEMTYPE", "TYPE"):
        return "ENUM", "text"
    if upper in (
        "VALUE",
        "TOTALDUE",
        "RATE",
        "TOTALENTERED",
        "TOTALDUEAMT",
        "MINTAXABLE",
        "MAXTAXABLE",
        "MINTAX",
        "MAXTAX",
        "TAXRATE",
        "MRR",
    ):
        return "DECIMAL", "decimal"
    if upper in (
        "BILLABLE",
        "ONETIME",
        "ONHOLD",
        "REVERSECHARGE",
        "HAS_IE_RELATION",
        "ENABLELEGALCONTACT",
        "NONREIMBURSABLE",
        "INCLUDE",
    ):
        return "BOOLEAN", "bool"
    if upper == "RECORD_URL":
        return "URL", "text"
    return "TEXT", "text"


def _label_for(name: str) -> str:
    special = {
        "RECORDNO": "Record number",
        "WHENCREATED": "When created",
        "WHENMODIFIED": "When modified",
        "CREATEDBY": "Created by",
        "MODIFIEDBY": "Modified by",
        "STATUS": "Status",
        "MEGAENTITYKEY": "Created at - Entity key",
        "MEGAENTITYID": "Created at - Entity ID",
        "MEGAENTITYNAME": "Created at - Entity name",
        "NAME": "Name",
    }
    if name in special:
        return special[name]
    return name.replace("_", " ").replace(".", " ").capitalize()


_VALID: dict[str, tuple[str, ...]] = {
    "STATUS": ("active", "inactive"),
    "ACCOUNTTYPE": ("balancesheet", "incomestatement"),
    "NORMALBALANCE": ("debit", "credit"),
}


def _f(name: str, spec: Spec = "empty", **kw: object) -> FieldDef:
    datatype, kind = _kind_for(name)
    valid = _VALID.get(name, ())
    return FieldDef(
        name=name,
        label=str(kw.pop("label", _label_for(name))),
        datatype=str(kw.pop("datatype", datatype)),
        kind=kw.pop("kind", kind),  # type: ignore[arg-type]
        spec=spec,
        required=bool(kw.pop("required", name in ("RECORDNO",))),
        readonly=bool(kw.pop("readonly", name in ("RECORDNO", "WHENCREATED", "WHENMODIFIED"))),
        valid_values=valid,
    )


def _std_tail(mega: bool) -> tuple[FieldDef, ...]:
    tail = [
        _f("WHENCREATED", "wc"),
        _f("WHENMODIFIED", "wm"),
        _f("CREATEDBY", ("const", "1")),
        _f("MODIFIEDBY", ("const", "1")),
    ]
    if mega:
        tail += [
            _f("MEGAENTITYKEY", "megakey"),
            _f("MEGAENTITYID", "megaid"),
            _f("MEGAENTITYNAME", "meganame"),
        ]
    return tuple(tail)


def _obj(
    name: str,
    singular: str,
    id_field: str,
    name_field: str,
    fields: tuple[FieldDef, ...],
    *,
    id_format: IdFormat | None = None,
    name_style: str = "generic",
    status: bool = True,
    mega: bool = False,
    entity_records: bool = False,
) -> ObjectDef:
    plural = catalog.LIST_OBJECTS[name].label if name in catalog.LIST_OBJECTS else singular + "s"
    head = [_f("RECORDNO", "recordno")]
    if id_field != "RECORDNO":
        head.append(_f(id_field, "id", required=True))
    if name_field not in (id_field, "RECORDNO"):
        head.append(_f(name_field, "name", required=True))
    if status:
        head.append(_f("STATUS", "status"))
    seen = {f.name for f in head}
    body = tuple(f for f in fields if f.name not in seen)
    tail = tuple(f for f in _std_tail(mega) if f.name not in {b.name for b in body})
    return ObjectDef(
        name=name,
        singular=singular,
        plural=plural,
        fields=(*head, *body, *tail),
        id_field=id_field,
        name_field=name_field,
        status_field="STATUS" if status else None,
        id_format=id_format,
        name_style=name_style,
        entity_records=entity_records,
    )


def _contact(prefix: str, extra: tuple[str, ...] = ()) -> tuple[FieldDef, ...]:
    return (
        _f(f"{prefix}.CONTACTNAME", "contactname"),
        _f(f"{prefix}.COMPANYNAME", "name"),
        _f(f"{prefix}.FIRSTNAME", "first"),
        _f(f"{prefix}.LASTNAME", "last"),
        _f(f"{prefix}.INITIAL", "empty"),
        _f(f"{prefix}.PRINTAS", "name"),
        _f(f"{prefix}.PHONE1", "phone"),
        _f(f"{prefix}.PHONE2", "empty"),
        _f(f"{prefix}.EMAIL1", "email"),
        _f(f"{prefix}.EMAIL2", "empty"),
        *(_f(f"{prefix}.{x}", "empty") for x in extra),
    )


_MAIL = (
    "MAILADDRESS.ADDRESS1",
    "MAILADDRESS.CITY",
    "MAILADDRESS.STATE",
    "MAILADDRESS.ZIP",
    "MAILADDRESS.COUNTRY",
)


def _standard_objects() -> dict[str, ObjectDef]:
    objs = [
        _obj(
            "VENDOR",
            "Vendor",
            "VENDORID",
            "NAME",
            (
                _f("PARENTKEY", "parentkey"),
                _f("PARENTID", "parentid"),
                _f("PARENTNAME", "parentname"),
                *_contact("DISPLAYCONTACT", _MAIL),
                _f("VENDORACCOUNTNO", ("fmt", "ACCT-{n:06d}")),
                _f("VENDTYPE", ("cycle", ("Supplier", "Contractor", "Utility", ""))),
                _f("ACCOUNTLABEL", "empty"),
                _f("APACCOUNT", ("const", "2000")),
                _f("APACCOUNTTITLE", ("const", "Accounts Payable")),
                _f("TERMNAME", ("cycle", _TERMS[:4])),
                _f("CURRENCY", "currency"),
                _f("ONHOLD", ("const", "false")),
            ),
            id_format=IdFormat("V"),
            name_style="company",
            mega=True,
        ),
        _obj(
            "GLACCOUNT",
            "GL Account",
            "ACCOUNTNO",
            "TITLE",
            (
                _f(
                    "ACCOUNTTYPE",
                    (
                        "cycle",
                        ("balancesheet", "balancesheet", "incomestatement", "incomestatement"),
                    ),
                ),
                _f("NORMALBALANCE", ("cycle", ("debit", "credit"))),
                _f("CLOSINGTYPE", ("cycle", ("non-closing account", "closing account"))),
                _f("CATEGORY", ("cycle", ("Cash", "Accounts Receivable", "Revenue", "Expense"))),
                _f("ALTERNATIVEACCOUNT", ("const", "None")),
            ),
            id_format=IdFormat("", 4, 1000),
            name_style="account",
        ),
        _obj(
            "DEPARTMENT",
            "Department",
            "DEPARTMENTID",
            "TITLE",
            (
                _f("PARENTKEY", "parentkey"),
                _f("PARENTID", "parentid"),
                _f("SUPERVISORNAME", "personname"),
                _f("CUSTTITLE", "empty"),
            ),
            id_format=IdFormat("D", 3),
            name_style="department",
            mega=True,
        ),
        _obj(
            "LOCATION",
            "Location",
            "LOCATIONID",
            "NAME",
            (
                _f("PARENTID", "parentid"),
                _f("CURRENCY", "currency"),
            ),
            id_format=IdFormat("L", 3),
            name_style="city",
        ),
        _obj(
            "LOCATIONENTITY",
            "Entity",
            "LOCATIONID",
            "NAME",
            (
                _f("REPORTPRINTAS", "name"),
                _f("SUPERVISORID", "empty"),
                _f("FIRSTMONTH", ("const", "January")),
                _f("FIRSTMONTHTAX", ("const", "January")),
                _f("WEEKSTART", ("const", "Monday")),
                _f("FEDERALID", "empty"),
                _f("STARTDATE", ("const", "01/01/2019")),
                _f("ENDDATE", "empty"),
                _f("HAS_IE_RELATION", ("const", "false")),
                _f("CUSTOMERID", "empty"),
                _f("CUSTOMERNAME", "empty"),
                _f("VENDORID", "empty"),
                _f("VENDORNAME", "empty"),
                _f("CURRENCY", ("entity", "currency")),
                _f("TAXID", "empty"),
                _f("ENABLELEGALCONTACT", ("const", "false")),
                _f("LEGALNAME", "name"),
                _f("LEGALADDRESS1", "empty"),
                _f("LEGALADDRESS2", "empty"),
                _f("LEGALCITY", "empty"),
                _f("LEGALSTATE", "empty"),
                _f("LEGALZIPCODE", "empty"),
                _f("LEGALCOUNTRY", ("entity", "country")),
                _f("OPCOUNTRY", ("entity", "country")),
                _f("ADDRESSCOUNTRYDEFAULT", ("entity", "country")),
                _f("RECORD_URL", "empty"),
            ),
            name_style="entity",
            entity_records=True,
        ),
        _obj(
            "CLASS",
            "Class",
            "CLASSID",
            "NAME",
            (
                _f("DESCRIPTION", "empty"),
                _f("PARENTKEY", "parentkey"),
                _f("PARENTID", "parentid"),
                _f("RECORD_URL", "empty"),
            ),
            id_format=IdFormat("CL", 3),
            name_style="class",
            mega=True,
        ),
        _obj(
            "ALLOCATION",
            "Transaction allocation",
            "ALLOCATIONID",
            "DESCRIPTION",
            (_f("TYPE", ("cycle", ("Percentage", "Absolute"))),),
            id_format=IdFormat("ALLOC-", 3),
            name_style="allocation",
        ),
        _obj(
            "EMPLOYEE",
            "Employee",
            "EMPLOYEEID",
            "PERSONALINFO.CONTACTNAME",
            (
                _f("SSN", "empty"),
                _f("TITLE", ("cycle", ("Analyst", "Manager", "Clerk", "Director"))),
                _f("LOCATIONID", ("fmt", "L{m16:03d}")),
                _f("DEPARTMENTID", ("fmt", "D{m10:03d}")),
                _f("BIRTHDATE", "empty"),
                _f("STARTDATE", ("date", "wc")),
                _f("ENDDATE", "empty"),
                _f("EMPLOYEETYPE", ("cycle", ("Full Time", "Part Time"))),
                _f("EMPLOYEETYPE1099TYPE", "empty"),
                _f("GENDER", "empty"),
                _f("TERMINATIONTYPE", "empty"),
                _f("PERSONALINFO.FIRSTNAME", "first"),
                _f("PERSONALINFO.LASTNAME", "last"),
                _f("PERSONALINFO.EMAIL1", "email"),
                _f("CONTACT.CONTACTNAME", "name"),
                _f("CONTACT.FIRSTNAME", "first"),
                _f("CONTACT.LASTNAME", "last"),
                _f("CONTACT.EMAIL1", "email"),
                _f("CONTACT.PHONE1", "phone"),
                _f("CURRENCY", "currency"),
                _f("PAYMETHODKEY", "empty"),
                _f("CONTACTKEY", "recordno"),
            ),
            id_format=IdFormat("E", 4),
            name_style="person",
            mega=True,
        ),
        _obj(
            "EXCHANGERATETYPES",
            "Exchange rate type",
            "NAME",
            "NAME",
            (_f("DESCRIPTION", "empty"),),
            id_format=None,
            name_style="ratetype",
            status=False,
        ),
        _obj(
            "EXCHANGERATE",
            "Exchange rate",
            "RECORDNO",
            "FROM_CURRENCY",
            (
                _f("TO_CURRENCY", ("const", "USD")),
                _f("EFFECTIVE_START_DATE", ("date", "wc")),
                _f("RATE", ("fmt", "1.{m1000:04d}")),
                _f("TYPENAME", ("const", "Intacct Daily Rate")),
            ),
            name_style="currency",
            status=False,
        ),
        _obj(
            "CHECKINGACCOUNT",
            "Checking account",
            "BANKACCOUNTID",
            "BANKNAME",
            (
                _f("BANKACCOUNTNO", ("fmt", "****{m10000:04d}")),
                _f("GLACCOUNTNO", ("const", "1000")),
                _f("ROUTINGNO", ("const", "021000021")),
                _f("BRANCHID", "empty"),
                _f("BANKACCOUNTTYPE", ("const", "checking")),
                _f("DEPARTMENTID", "empty"),
                _f("LOCATIONID", "empty"),
                _f("ACHBANKID", "empty"),
                _f("COMPANYNAME", "empty"),
                _f("CURRENCY", "currency"),
            ),
            id_format=IdFormat("CHK", 3),
            name_style="bank",
        ),
        _obj(
            "SAVINGSACCOUNT",
            "Savings account",
            "BANKACCOUNTID",
            "BANKNAME",
            (
                _f("BANKACCOUNTNO", ("fmt", "****{m10000:04d}")),
                _f("GLACCOUNTNO", ("const", "1010")),
                _f("CURRENCY", "currency"),
            ),
            id_format=IdFormat("SAV", 3),
            name_style="bank",
        ),
        _obj(
            "APTERM",
            "AP term",
            "NAME",
            "NAME",
            (
                _f("DESCRIPTION", "name"),
                _f("DUE", ("fmt", "{n}")),
            ),
            id_format=IdFormat("Net ", 0),
            name_style="term",
        ),
        _obj(
            "APPYMT",
            "Payment request",
            "RECORDNO",
            "VENDORNAME",
            (
                _f("VENDORID", ("fmt", "V{m50p1:05d}")),
                _f("STATE", ("cycle", ("Requested", "Approved", "Complete", "Declined"))),
                _f("PAYMENTDATE", ("date", "wm")),
                _f("PAYMENTMETHOD", ("const", "Printed Check")),
                _f("TOTALENTERED", "amount"),
                _f("CURRENCY", "currency"),
            ),
            name_style="vendorref",
            status=False,
        ),
        _obj(
            "TAXDETAIL",
            "Tax detail",
            "DETAILID",
            "DESCRIPTION",
            (
                _f("TAXUID", "empty"),
                _f("TAXTYPE", ("cycle", ("Purchase", "Sale"))),
                _f("VALUE", ("cycle", ("20", "5", "0", "0"))),
                _f("MINTAXABLE", "empty"),
                _f("MAXTAXABLE", "empty"),
                _f("INCLUDE", ("const", "false")),
                _f("MINTAX", "empty"),
                _f("MAXTAX", "empty"),
                _f("GLACCOUNT", ("const", "2200")),
                _f("TAXAUTHORITY", ("const", "HMRC")),
                _f("REVERSECHARGE", ("const", "false")),
                _f("TAXRATE", ("cycle", ("Standard", "Reduced", "Zero", "Exempt"))),
                _f("TAXSOLUTIONID", ("const", "United Kingdom - VAT")),
            ),
            id_format=IdFormat("UK VAT ", 3),
            name_style="tax",
            mega=True,
        ),
        _obj(
            "CUSTOMER",
            "Customer",
            "CUSTOMERID",
            "NAME",
            (
                _f("ENTITY", ("fmt", "C{n:05d}")),
                _f("PARENTKEY", "parentkey"),
                _f("PARENTID", "parentid"),
                _f("PARENTNAME", "parentname"),
                _f("CUSTREPNAME", "empty"),
                _f("TOTALDUE", "amount"),
                _f("GLGRPKEY", "empty"),
                _f("GLGROUP", "empty"),
                _f("ONETIME", ("const", "false")),
                _f("ONHOLD", ("const", "false")),
                _f("OBJECTRESTRICTION", ("const", "Unrestricted")),
                *_contact("DISPLAYCONTACT"),
                _f("CURRENCY", "currency"),
            ),
            id_format=IdFormat("C"),
            name_style="company",
            mega=True,
        ),
        _obj(
            "ITEM",
            "Item",
            "ITEMID",
            "NAME",
            (
                _f("MRR", ("const", "false"), kind="text", datatype="BOOLEAN"),
                _f("EXTENDED_DESCRIPTION", "empty"),
                _f("PRODUCTLINEID", "empty"),
                _f("GLGROUP", "empty"),
                _f(
                    "ITEMTYPE",
                    (
                        "cycle",
                        ("Inventory", "Non-Inventory", "Non-Inventory (Purchase only)", "Kit"),
                    ),
                ),
            ),
            id_format=IdFormat("I"),
            name_style="item",
        ),
        _obj(
            "WAREHOUSE",
            "Warehouse",
            "WAREHOUSEID",
            "NAME",
            (_f("LOC.LOCATIONID", ("fmt", "L{m16:03d}")),),
            id_format=IdFormat("WH", 3),
            name_style="city",
        ),
        _obj(
            "PROJECT",
            "Project",
            "PROJECTID",
            "NAME",
            (
                _f("DESCRIPTION", "empty"),
                _f("CURRENCY", "currency"),
                _f(
                    "PROJECTCATEGORY",
                    (
                        "cycle",
                        ("Contract", "Capitalized", "Internal Billable", "Internal Non-billable"),
                    ),
                ),
                _f(
                    "PROJECTSTATUS",
                    ("cycle", ("In Progress", "Not Started", "Completed", "On Hold")),
                ),
                _f("PARENTKEY", "parentkey"),
                _f("PARENTID", "parentid"),
                _f("PARENTNAME", "parentname"),
                _f("CUSTOMERKEY", ("fmt", "{m50p1}")),
                _f("CUSTOMERID", ("fmt", "C{m50p1:05d}")),
                _f("CUSTOMERNAME", "empty"),
                _f("PROJECTTYPE", "empty"),
                _f("DEPARTMENTNAME", "empty"),
                _f("LOCATIONID", "empty"),
                _f("LOCATIONNAME", "empty"),
                _f("BUDGETID", "empty"),
            ),
            id_format=IdFormat("P"),
            name_style="project",
            mega=True,
        ),
        _obj(
            "TASK",
            "Task",
            "TASKID",
            "NAME",
            (
                _f("PARENTKEY", "empty"),
                _f("PARENTID", "empty"),
                _f("PARENTTASKNAME", "empty"),
                _f("PROJECTKEY", ("fmt", "{m50p1}")),
                _f("PROJECTID", ("fmt", "P{m50p1:05d}")),
                _f("PROJECTNAME", "empty"),
                _f("ITEMKEY", "empty"),
                _f("ITEMID", "empty"),
                _f("ITEMNAME", "empty"),
                _f("DESCRIPTION", "empty"),
                _f("BILLABLE", ("const", "true")),
                _f("TASKNO", ("fmt", "{n}")),
                _f("TASKSTATUS", ("cycle", ("In Progress", "Not Started", "Completed", "On Hold"))),
                _f("CLASSID", "empty"),
                _f("CLASSNAME", "empty"),
                _f("CLASSKEY", "empty"),
                _f("ROOTPARENTKEY", "empty"),
                _f("ROOTPARENTID", "empty"),
                _f("ROOTPARENTNAME", "empty"),
            ),
            id_format=IdFormat("T"),
            name_style="task",
        ),
        _obj(
            "STANDARDTASK",
            "Standard task",
            "STANDARDTASKID",
            "NAME",
            (_f("DESCRIPTION", "empty"),),
            id_format=IdFormat("ST", 4),
            name_style="task",
        ),
        _obj(
            "COSTTYPE",
            "Cost type",
            "COSTTYPEID",
            "NAME",
            (
                _f("PROJECTKEY", ("fmt", "{m50p1}")),
                _f("PROJECTID", ("fmt", "P{m50p1:05d}")),
                _f("PROJECTNAME", "empty"),
                _f("TASKKEY", ("fmt", "{m50p1}")),
                _f("TASKID", ("fmt", "T{m50p1:05d}")),
                _f("TASKNAME", "empty"),
            ),
            id_format=IdFormat("CT", 4),
            name_style="task",
        ),
        _obj(
            "STANDARDCOSTTYPE",
            "Standard cost type",
            "STANDARDCOSTTYPEID",
            "NAME",
            (_f("DESCRIPTION", "empty"),),
            id_format=IdFormat("SCT", 4),
            name_style="task",
        ),
        _obj(
            "SODOCUMENT",
            "Order entry transaction",
            "DOCID",
            "DOCNO",
            (
                _f("DOCPARID", ("const", "Sales Order")),
                _f("STATE", ("cycle", ("Pending", "Closed", "Partially Converted", "Converted"))),
                _f("CUSTVENDID", ("fmt", "C{m50p1:05d}")),
                _f("TOTAL", "amount"),
                _f("WHENPOSTED", ("date", "wc")),
            ),
            id_format=IdFormat("Sales Order-SO", 6),
            name_style="docno",
            status=False,
        ),
    ]
    return {o.name: o for o in objs}


#: Every standard object the sandbox serves (the catalog's list objects), by name.
STANDARD_OBJECTS: dict[str, ObjectDef] = _standard_objects()


def _audit_field(name: str, label: str, kind: Kind = "text", datatype: str = "TEXT") -> FieldDef:
    return FieldDef(name, label, datatype, kind, "empty", readonly=True)


#: ``AUDITHISTORY``: the company's audit trail (developer.intacct.com, Company Console → Audit
#: Trails). Its rows are not generated: :class:`intacct.sandbox.world.Company` appends one per
#: record its mutations add, change or delete. Reading it needs the role's View permission for
#: custom reports (Platform Services).
AUDIT_HISTORY = ObjectDef(
    name="AUDITHISTORY",
    singular="Audit history",
    plural="Audit history",
    fields=(
        _audit_field("OBJECTTYPE", "Object type"),
        _audit_field("OBJECTKEY", "Object key"),
        _audit_field("OBJECTDESC", "Object description"),
        _audit_field("USERID", "User ID"),
        _audit_field("ACCESSTIME", "Access time", "datetime", "TIMESTAMP"),
        _audit_field("ACCESSMODE", "Access mode"),
        _audit_field("SOURCE", "Source"),
        _audit_field("WORKFLOWACTION", "Workflow action"),
    ),
    key_field="OBJECTKEY",
    id_field="OBJECTKEY",
    name_field="OBJECTDESC",
    status_field=None,
    created_field="ACCESSTIME",
    modified_field="ACCESSTIME",
)


def apbill_object(custom: CustomFieldDef | None) -> ObjectDef:
    """``APBILL`` with the company's custom field (if any) at the end of its fields."""
    extra: tuple[FieldDef, ...] = ()
    if custom is not None:
        extra = (
            FieldDef(
                name=custom.field_id,
                label=custom.label,
                datatype=custom.datatype,
                kind="text",
                spec=("fmt", "https://app.beanworks.example/bills/{n}"),
                custom=True,
                description=custom.description,
            ),
        )
    return _obj(
        "APBILL",
        "AP Bill",
        "RECORDID",
        "VENDORNAME",
        (
            _f("VENDORID", ("fmt", "V{m50p1:05d}")),
            _f("BILLNO", ("fmt", "INV-{n:06d}")),
            _f("STATE", ("cycle", ("Posted", "Paid", "Partially Paid", "Selected"))),
            _f("DESCRIPTION", "empty"),
            _f("WHENPOSTED", ("date", "wc")),
            _f("WHENDUE", ("date", "wm")),
            _f("TOTALENTERED", "amount"),
            _f("TOTALDUE", "amount"),
            _f("CURRENCY", "currency"),
            *extra,
        ),
        id_format=IdFormat("BILL-", 6),
        name_style="vendorref",
        status=False,
        mega=True,
    )


def udd_object(udd: UddDef) -> ObjectDef:
    """A user-defined dimension's object: lower-case platform fields, ``id`` as record number."""
    style = udd.object_name.lower() if udd.object_name.lower() in _NAME_STYLES else "generic"
    fields = (
        FieldDef("id", "Record number", "INTEGER", "int", "recordno", readonly=True),
        FieldDef("name", "Name", "TEXT", "text", "name", required=True),
        FieldDef("description", "Description", "TEXT", "text", "empty"),
        FieldDef("createdBy", "Created by", "INTEGER", "int", ("const", "1"), readonly=True),
        FieldDef("updatedBy", "Updated by", "INTEGER", "int", ("const", "1"), readonly=True),
        FieldDef("whenCreated", "Created", "TIMESTAMP", "datetime", "wc", readonly=True),
        FieldDef("whenModified", "Updated", "TIMESTAMP", "datetime", "wm", readonly=True),
    )
    return ObjectDef(
        name=udd.object_name,
        singular=udd.label,
        plural=udd.label,
        fields=fields,
        key_field="id",
        id_field="id",
        name_field="name",
        status_field=None,
        created_field="whenCreated",
        modified_field="whenModified",
        name_style=style,
        user_defined=True,
    )


# --- generators --------------------------------------------------------------------------------


@dataclass(frozen=True)
class Gen:
    """How one field's value is produced for record ``n``.

    ``raw(n)`` is the value; ``xml(n)`` its XML-escaped text.  ``periodic`` means the value
    depends only on ``n % PERIOD`` (so filters on it can be answered per residue).
    """

    raw: Callable[[int], str]
    xml: Callable[[int], str]
    periodic: bool
    #: The XML text when every record has the same value (inlined into templates).
    const: str | None = None


def _const(value: str) -> Gen:
    text = escape_text(value)
    return Gen(lambda n: value, lambda n: text, True, text)


def _safe(fn: Callable[[int], str], periodic: bool = False) -> Gen:
    return Gen(fn, fn, periodic)


def _escaped(fn: Callable[[int], str], periodic: bool = False) -> Gen:
    return Gen(fn, lambda n: escape_text(fn(n)), periodic)


class _Ctx:
    """Per-table context shared by the generators of one object."""

    def __init__(self, odef: ObjectDef, profile: DataProfile) -> None:
        self.odef = odef
        self.profile = profile
        count = max(profile.count, 1)
        span = DATA_END - DATA_START
        self.count = count
        self.name_fn = self._name_fn()
        self.id_fn = self._id_fn()
        if odef.name_style == "company" and self.name_fn is _company_name:
            self.name_xml: Callable[[int], str] = _company_name_xml
        else:
            name_fn = self.name_fn
            self.name_xml = lambda n: escape_text(name_fn(n))
        entities = profile.entities if odef.has_megaentity else ()
        k = len(entities)

        def entity_of(n: int) -> int:
            if k == 0:
                return -1
            r = n % 10
            if r == 3 or r == 7:
                return (n // 10) % k
            return -1

        self.entity_of = entity_of
        self.entities = entities

        def wm_base(n: int) -> int:
            return DATA_START + ((n - 1) * span) // count

        self.wm_base = wm_base

    def _name_fn(self) -> Callable[[int], str]:
        odef = self.odef
        if odef.entity_records:
            ents = self.profile.entities

            def entity_name(n: int) -> str:
                return ents[n - 1].name if 0 < n <= len(ents) else f"Entity {n}"

            return entity_name
        if odef.name_style == "vendorref":
            return lambda n: _company_name((n - 1) % 50 + 1)
        if odef.name_style == "generic":
            label = odef.singular
            return lambda n: f"{label} {n}"
        if odef.id_field == odef.name_field and odef.id_format is not None:
            return odef.id_format.format
        return _NAME_STYLES[odef.name_style]

    def _id_fn(self) -> Callable[[int], str]:
        odef = self.odef
        if odef.entity_records:
            ents = self.profile.entities

            def entity_id(n: int) -> str:
                return ents[n - 1].entity_id if 0 < n <= len(ents) else f"E{n}00"

            return entity_id
        if odef.id_field == odef.key_field:
            return str
        if odef.id_format is not None:
            return odef.id_format.format
        return self.name_fn


_FMT_VARS: dict[str, Callable[[int], int]] = {
    "n": lambda n: n,
    "m10": lambda n: n % 10 + 1,
    "m16": lambda n: n % 16 + 1,
    "m1000": lambda n: n % 1000,
    "m10000": lambda n: n % 10000,
    "m50p1": lambda n: (n - 1) % 50 + 1,
}


def _fmt_gen(template: str) -> Callable[[int], str]:
    # Placeholders: {n}, {m10} = n % 10 + 1, {m16} = n % 16 + 1, {m50p1} = (n - 1) % 50 + 1 ...
    used = {name for _, name, _, _ in string.Formatter().parse(template) if name}
    if used == {"n"}:
        return lambda n: template.format(n=n)
    getters = {name: _FMT_VARS[name] for name in used}
    return lambda n: template.format(**{k: g(n) for k, g in getters.items()})


def _make_gen(fdef: FieldDef, ctx: _Ctx) -> Gen:
    spec = fdef.spec
    profile = ctx.profile
    if isinstance(spec, tuple):
        kind = spec[0]
        if kind == "const":
            return _const(str(spec[1]))
        if kind == "cycle":
            values = tuple(str(v) for v in spec[1])
            texts = tuple(escape_text(v) for v in values)
            size = len(values)
            return Gen(lambda n: values[n % size], lambda n: texts[n % size], PERIOD % size == 0)
        if kind == "fmt":
            return _escaped(_fmt_gen(str(spec[1])))
        if kind == "date":
            source = ctx.wm_base if spec[1] == "wm" else _created_fn(ctx)
            return _safe(lambda n: format_date(source(n)))
        if kind == "entity":
            attr = str(spec[1])
            ents = profile.entities

            def entity_attr(n: int) -> str:
                return str(getattr(ents[n - 1], attr)) if 0 < n <= len(ents) else ""

            return _escaped(entity_attr)
        raise ValueError(f"unknown field spec {spec!r}")
    if spec == "recordno":
        return _safe(str)
    if spec == "id":
        return _escaped(ctx.id_fn)
    if spec == "name":
        return Gen(ctx.name_fn, ctx.name_xml, False)
    if spec == "empty":
        return _const("")
    if spec == "status":
        return _safe(lambda n: "inactive" if n % 25 == 13 else "active", True)
    if spec == "wm":
        wm_base = ctx.wm_base

        def wm(n: int) -> str:
            if n % HOLE_MODULUS == HOLE_RESIDUE:
                return ""
            return format_timestamp(wm_base(n))

        return _safe(wm)
    if spec == "wc":
        created = _created_fn(ctx)
        return _safe(lambda n: format_timestamp(created(n)))
    if spec in ("megakey", "megaid", "meganame"):
        ents, entity_of = ctx.entities, ctx.entity_of
        if not ents:
            return _const("")
        periodic = PERIOD % (10 * len(ents)) == 0
        if spec == "megakey":
            return _safe(lambda n: str(entity_of(n) + 1) if entity_of(n) >= 0 else "", periodic)
        attr = "entity_id" if spec == "megaid" else "name"
        values = tuple(escape_text(getattr(e, attr)) for e in ents)
        raws = tuple(getattr(e, attr) for e in ents)
        return Gen(
            lambda n: raws[entity_of(n)] if entity_of(n) >= 0 else "",
            lambda n: values[entity_of(n)] if entity_of(n) >= 0 else "",
            periodic,
        )
    if spec == "currency":
        ents, entity_of, base = ctx.entities, ctx.entity_of, profile.base_currency
        if not ents:
            return _const(base)
        currencies = tuple(e.currency for e in ents)
        return _safe(
            lambda n: currencies[entity_of(n)] if entity_of(n) >= 0 else base,
            PERIOD % (10 * len(ents)) == 0,
        )
    if spec in ("parentkey", "parentid", "parentname"):
        # Every tenth record (n % 10 == 5) has the record before it as parent.
        targets: dict[str, Callable[[int], str]] = {
            "parentkey": str,
            "parentid": ctx.id_fn,
            "parentname": ctx.name_fn,
        }
        target = targets[spec]
        return _escaped(lambda n: target(n - 1) if n % 10 == 5 else "")
    if spec == "contactname":
        name_fn, id_fn, name_xml = ctx.name_fn, ctx.id_fn, ctx.name_xml
        return Gen(
            lambda n: f"{name_fn(n)}({id_fn(n)})", lambda n: f"{name_xml(n)}({id_fn(n)})", False
        )
    if spec == "first":
        return _escaped(_person_first)
    if spec == "last":
        return _escaped(_person_last)
    if spec == "personname":
        return _escaped(_person_name)
    if spec == "email":
        return _safe(lambda n: f"ap{n}@example.com")
    if spec == "phone":
        return _safe(lambda n: f"+1 604 555 {n % 10000:04d}")
    if spec == "amount":
        return _safe(lambda n: f"{(n * 7919) % 1_000_000 / 100:.2f}")
    raise ValueError(f"unknown field spec {spec!r}")


def _created_fn(ctx: _Ctx) -> Callable[[int], int]:
    wm_base = ctx.wm_base
    window = 200 * 86400

    def created(n: int) -> int:
        return wm_base(n) - (n * 2654435761) % window

    return created


def build_generators(odef: ObjectDef, profile: DataProfile) -> dict[str, Gen]:
    """One :class:`Gen` per field of ``odef`` (keyed by the field's canonical name)."""
    ctx = _Ctx(odef, profile)
    return {f.name: _make_gen(f, ctx) for f in odef.fields}


def base_modified(profile: DataProfile) -> Callable[[int], int]:
    """The non-decreasing base WHENMODIFIED (seconds) of record ``n``, holes ignored."""
    count = max(profile.count, 1)
    span = DATA_END - DATA_START

    def wm_base(n: int) -> int:
        return DATA_START + ((n - 1) * span) // count

    return wm_base
