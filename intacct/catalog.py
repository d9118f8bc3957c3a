"""The Intacct list objects this product reads, and how to read each one.

Each :class:`ListObject` names the object as the XML gateway spells it, the field that holds the
record's human ID and its display name, and the fields a sync selects.  Standard objects use upper-case
fields (``RECORDNO``, ``WHENMODIFIED``); user-defined dimensions (platform objects returned by
``getDimensions``) use lower-case system fields (``id``, ``name``, ``whenModified``), which
:func:`udd_object` builds.

Field names follow fylein's ``sageintacctsdk`` ``constants.py`` and Intacct's object reference.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field, replace

__all__ = [
    "LIST_OBJECTS",
    "ListObject",
    "RequiredFieldsMissing",
    "get_object",
    "list_object",
    "udd_object",
]


@dataclass(frozen=True)
class ListObject:
    """One Intacct list object as the sync and the permission probes read it.

    ``key_field`` is the record number (the stable key), ``id_field`` the human ID, ``name_field``
    the display name; ``fields`` the full select list for a sync (key fields first).
    ``when_modified_field`` / ``when_created_field`` name the timestamps used for partial syncs.

    A company may lack some fields (edition, modules, field-level permissions): :meth:`without`
    drops them. Only :attr:`required_fields` (the key, the ID, the timestamps and, unless
    ``name_optional``, the name) cannot be dropped; without an optional name the ID stands in.
    """

    name: str
    label: str
    id_field: str
    name_field: str
    extra_fields: tuple[str, ...] = ()
    key_field: str = "RECORDNO"
    status_field: str | None = "STATUS"
    when_modified_field: str = "WHENMODIFIED"
    when_created_field: str = "WHENCREATED"
    user_defined: bool = False
    #: The name lives on a related record some companies hide (an employee's contact) or is a
    #: descriptive field (an exchange rate's currency): the ID stands in when it is missing.
    name_optional: bool = False
    fields: tuple[str, ...] = field(init=False)

    def __post_init__(self) -> None:
        ordered: list[str] = []
        for f in (
            self.key_field,
            self.id_field,
            self.name_field,
            self.status_field,
            *self.extra_fields,
            self.when_created_field,
            self.when_modified_field,
        ):
            if f and f not in ordered:
                ordered.append(f)
        object.__setattr__(self, "fields", tuple(ordered))

    @property
    def required_fields(self) -> tuple[str, ...]:
        """What a sync cannot do without."""
        names = [self.key_field, self.id_field, self.when_created_field, self.when_modified_field]
        if not self.name_optional:
            names.insert(2, self.name_field)
        return tuple(dict.fromkeys(names))

    def without(self, names: Iterable[str]) -> ListObject:
        """This object with ``names`` (case-insensitive) left out of its select list; a missing
        optional name falls back to the ID. :class:`RequiredFieldsMissing` when one of
        :attr:`required_fields` is among them."""
        drop = {n.upper() for n in names}
        required = [f for f in self.required_fields if f.upper() in drop]
        if required:
            raise RequiredFieldsMissing(self, tuple(required))
        name_field = self.id_field if self.name_field.upper() in drop else self.name_field
        status_field = (
            None if self.status_field and self.status_field.upper() in drop else self.status_field
        )
        return replace(
            self,
            name_field=name_field,
            status_field=status_field,
            extra_fields=tuple(f for f in self.extra_fields if f.upper() not in drop),
        )


class RequiredFieldsMissing(ValueError):
    """A company lacks a field a sync of the object needs (``fields``)."""

    def __init__(self, obj: ListObject, fields: tuple[str, ...]) -> None:
        self.object = obj
        self.fields = fields
        super().__init__(
            f"{', '.join(fields)} of {obj.name} cannot be queried in this company, and SmartSync "
            f"needs {'them' if len(fields) > 1 else 'it'}: give the role read access to "
            f"{obj.label} (step 3, Role and permissions), or check that the company subscribes "
            "to the module that holds it."
        )


def _obj(
    name: str, label: str, id_field: str, name_field: str, *extra: str, **kw: object
) -> ListObject:
    return ListObject(name, label, id_field, name_field, tuple(extra), **kw)  # type: ignore[arg-type]


#: Every standard list object of the guide's permission table that SmartSync can pull.
LIST_OBJECTS: dict[str, ListObject] = {
    o.name: o
    for o in (
        _obj(
            "VENDOR",
            "Vendors",
            "VENDORID",
            "NAME",
            "TERMNAME",
            "DISPLAYCONTACT.EMAIL1",
            "CURRENCY",
            "MEGAENTITYID",
        ),
        _obj(
            "GLACCOUNT",
            "GL accounts",
            "ACCOUNTNO",
            "TITLE",
            "ACCOUNTTYPE",
            "NORMALBALANCE",
            "CATEGORY",
        ),
        _obj("DEPARTMENT", "Departments", "DEPARTMENTID", "TITLE", "PARENTID", "MEGAENTITYID"),
        _obj("LOCATION", "Locations", "LOCATIONID", "NAME", "PARENTID", "CURRENCY"),
        _obj("LOCATIONENTITY", "Entities", "LOCATIONID", "NAME", "CURRENCY", "REPORTPRINTAS"),
        _obj("CLASS", "Classes", "CLASSID", "NAME", "PARENTID", "MEGAENTITYID"),
        _obj("ALLOCATION", "Transaction allocations", "ALLOCATIONID", "DESCRIPTION", "TYPE"),
        _obj(
            "EMPLOYEE",
            "Employees",
            "EMPLOYEEID",
            "PERSONALINFO.CONTACTNAME",
            "DEPARTMENTID",
            "LOCATIONID",
            name_optional=True,
        ),
        _obj("EXCHANGERATETYPES", "Exchange rate types", "NAME", "NAME", status_field=None),
        _obj(
            "EXCHANGERATE",
            "Exchange rates",
            "RECORDNO",
            "FROM_CURRENCY",
            "TO_CURRENCY",
            "EFFECTIVE_START_DATE",
            status_field=None,
            name_optional=True,
        ),
        _obj(
            "CHECKINGACCOUNT",
            "Checking accounts",
            "BANKACCOUNTID",
            "BANKNAME",
            "GLACCOUNTNO",
            "CURRENCY",
        ),
        _obj(
            "SAVINGSACCOUNT",
            "Savings accounts",
            "BANKACCOUNTID",
            "BANKNAME",
            "GLACCOUNTNO",
            "CURRENCY",
        ),
        _obj("APTERM", "AP terms", "NAME", "NAME", "DESCRIPTION"),
        _obj(
            "APPYMT",
            "Payment requests",
            "RECORDNO",
            "VENDORNAME",
            "STATE",
            "PAYMENTDATE",
            status_field=None,
        ),
        _obj("TAXDETAIL", "Tax details", "DETAILID", "DESCRIPTION", "TAXTYPE", "VALUE"),
        _obj("CUSTOMER", "Customers", "CUSTOMERID", "NAME", "PARENTID"),
        _obj("ITEM", "Items", "ITEMID", "NAME", "ITEMTYPE"),
        _obj("WAREHOUSE", "Warehouses", "WAREHOUSEID", "NAME", "LOC.LOCATIONID"),
        _obj("PROJECT", "Projects", "PROJECTID", "NAME", "PROJECTCATEGORY", "CUSTOMERID"),
        _obj("TASK", "Tasks", "TASKID", "NAME", "PROJECTID"),
        _obj("STANDARDTASK", "Standard tasks", "STANDARDTASKID", "NAME", "DESCRIPTION"),
        _obj("COSTTYPE", "Cost types", "COSTTYPEID", "NAME", "PROJECTID", "TASKID"),
        _obj(
            "STANDARDCOSTTYPE", "Standard cost types", "STANDARDCOSTTYPEID", "NAME", "DESCRIPTION"
        ),
        _obj(
            "SODOCUMENT",
            "Order entry transactions",
            "DOCID",
            "DOCNO",
            "DOCPARID",
            "STATE",
            status_field=None,
        ),
    )
}


def udd_object(object_name: str, label: str | None = None) -> ListObject:
    """A user-defined dimension (platform object) as returned by ``getDimensions``.

    Platform objects use lower-case system fields: ``id`` is the record number, ``name`` the display
    name, ``whenModified``/``whenCreated`` the timestamps.
    """
    return ListObject(
        name=object_name,
        label=label or object_name,
        id_field="id",
        name_field="name",
        key_field="id",
        status_field=None,
        when_modified_field="whenModified",
        when_created_field="whenCreated",
        user_defined=True,
    )


def get_object(name: str) -> ListObject:
    """The catalog entry for ``name`` (case-insensitive).

    An object not in the catalog is taken as a standard object with the usual system fields
    (``RECORDNO``, ``NAME``, ``WHENMODIFIED``); user-defined dimensions are known only from
    ``getDimensions``, so build those with :func:`udd_object`.
    """
    found = LIST_OBJECTS.get(name.upper())
    if found is not None:
        return found
    return ListObject(name.upper(), name.upper(), "RECORDNO", "NAME")


def list_object(name: str) -> ListObject:
    """The catalog entry for an object a sync profile names; a name the catalog lacks is a
    user-defined dimension (:func:`udd_object`)."""
    if name.upper() in LIST_OBJECTS:
        return get_object(name)
    return udd_object(name)
