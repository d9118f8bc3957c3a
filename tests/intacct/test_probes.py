"""The permission probes: one read per object of the guide's table, all in the first request."""

from __future__ import annotations

from intacct import protocol as p
from intacct.permissions import PERMISSION_ROWS
from intacct.probes import ENTITY_FIELDS, dimension_probes, plan_probes


def _query(fn: p.Function) -> tuple[str, list[str], str]:
    el = fn.element
    fields = [f.text or "" for f in el.iterfind("select/field")]
    return el.findtext("object") or "", fields, el.findtext("pagesize") or ""


def test_every_object_of_the_table_is_probed_once_with_one_record() -> None:
    plan = plan_probes("ws_user", PERMISSION_ROWS)
    wanted = {o for row in PERMISSION_ROWS for o in row.objects}
    assert set(plan.objects) == wanted
    for name, fn in plan.objects.items():
        obj, fields, pagesize = _query(fn)
        assert fn.name == "query"
        assert obj == name
        if name == "LOCATIONENTITY":  # doubles as the entity list
            assert fields == list(ENTITY_FIELDS)
            assert pagesize == str(p.MAX_QUERY_PAGE)
        else:
            assert (fields, pagesize) == (["RECORDNO"], "1")


def test_the_first_request_also_asks_permissions_the_custom_field_and_dimensions() -> None:
    plan = plan_probes("ws_user", PERMISSION_ROWS)
    assert plan.permissions.name == "getUserPermissions"
    assert plan.permissions.element.findtext("userId") == "ws_user"
    assert plan.custom_field.name == "lookup"
    assert plan.custom_field.element.findtext("object") == "APBILL"
    assert plan.dimensions.name == "getDimensions"
    functions = plan.functions
    assert functions[:3] == [plan.permissions, plan.custom_field, plan.dimensions]
    assert len(functions) == 3 + len(plan.objects)
    assert len({f.controlid for f in functions}) == len(functions)
    assert all(f.read_only for f in functions)


def test_each_user_defined_dimension_gets_its_own_probe() -> None:
    dims = [
        p.Dimension("nsp::region", "Region", "Region", True, True),
        p.Dimension("nsp::fund", "Fund", "Fund", True, True),
    ]
    probes = dimension_probes(dims)
    assert list(probes) == ["nsp::region", "nsp::fund"]
    assert [_query(f) for f in probes.values()] == [
        ("nsp::region", ["id"], "1"),
        ("nsp::fund", ["id"], "1"),
    ]
