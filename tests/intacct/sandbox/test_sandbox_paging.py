"""readByQuery/readMore and query paging, the query languages, and read."""

from __future__ import annotations

import pytest

from intacct.sandbox.world import Sandbox


@pytest.fixture
def sandbox() -> Sandbox:
    return Sandbox(records=2500, scenarios=["healthy_top", "healthy_multi"])


def test_read_by_query_and_read_more_page_through_everything(gw, sandbox, xml):
    reply = gw.call("healthy-top", xml.rbq("VENDOR", fields="RECORDNO,WHENMODIFIED", pagesize=1000))
    data = reply.data()
    assert list(data.attrib) == ["listtype", "count", "totalcount", "numremaining", "resultId"]
    assert data.get("listtype") == "vendor"
    assert {r.tag for r in data} == {"vendor"}
    assert (data.get("count"), data.get("totalcount"), data.get("numremaining")) == (
        "1000",
        "2500",
        "1500",
    )
    result_id = data.get("resultId")
    seen = {int(r.findtext("RECORDNO")): r.findtext("WHENMODIFIED") for r in data}
    remaining = [1500]
    while remaining[-1]:
        more = gw.call("healthy-top", f"<readMore><resultId>{result_id}</resultId></readMore>")
        assert more.result().findtext("function") == "readMore"
        d = more.data()
        assert d.get("resultId") == result_id
        assert d.get("listtype") == "vendor"
        assert d.get("totalcount") == "2500"
        seen.update({int(r.findtext("RECORDNO")): r.findtext("WHENMODIFIED") for r in d})
        remaining.append(int(d.get("numremaining")))
    assert remaining == [1500, 500, 0]
    assert seen == sandbox.company("healthy-top").snapshot("VENDOR")

    again = gw.call("healthy-top", f"<readMore><resultId>{result_id}</resultId></readMore>")
    error = again.result().find("errormessage/error")
    assert error.findtext("errorno") == "readMore failed"
    assert error.findtext("description2") == (
        f"Attempt to readMore with an invalid or expired resultId: {result_id}"
    )


def test_read_more_with_an_unknown_result_id_fails(gw):
    reply = gw.call("healthy-top", "<readMore><resultId>bad</resultId></readMore>")
    assert reply.result().findtext("status") == "failure"
    assert reply.result().findtext("errormessage/error/description2") == (
        "Attempt to readMore with an invalid or expired resultId: bad"
    )


def test_read_more_by_object_continues_the_sessions_last_query(gw, xml):
    sid = gw.session("healthy-top")
    first = gw.call_session(sid, xml.rbq("DEPARTMENT", pagesize=1000)).data()
    more = gw.call_session(sid, "<readMore><object>DEPARTMENT</object></readMore>").data()
    assert more.get("resultId") == first.get("resultId")
    assert more[0].findtext("RECORDNO") == "1001"


def test_empty_read_by_query_result(gw, xml):
    reply = gw.call("healthy-top", xml.rbq("VENDOR", "VENDORID = 'nobody'"))
    data = reply.data()
    assert dict(data.attrib) == {
        "listtype": "vendor",
        "count": "0",
        "totalcount": "0",
        "numremaining": "0",
        "resultId": "",
    }
    assert len(data) == 0


def test_read_by_query_page_size_is_capped_at_1000(gw, xml):
    data = gw.call("healthy-top", xml.rbq("VENDOR", fields="RECORDNO", pagesize=5000)).data()
    assert data.get("count") == "1000"


def test_query_offset_paging_covers_everything_then_an_empty_page(gw, sandbox, xml):
    got: list[int] = []
    offset = 0
    while True:
        data = gw.call(
            "healthy-top", xml.query("VENDOR", ["RECORDNO"], pagesize=2000, offset=offset)
        ).data()
        assert list(data.attrib) == ["listtype", "totalcount", "offset", "count", "numremaining"]
        assert data.get("listtype") == "VENDOR"
        got += [int(r.findtext("RECORDNO")) for r in data]
        assert int(data.get("numremaining")) == 2500 - len(got)
        if data.get("numremaining") == "0":
            break
        offset += 2000
    assert got == sorted(sandbox.company("healthy-top").snapshot("VENDOR"))

    past = gw.call("healthy-top", xml.query("VENDOR", ["RECORDNO"], pagesize=100, offset=9000))
    assert dict(past.data().attrib) == {
        "listtype": "VENDOR",
        "totalcount": "2500",
        "offset": "9000",
        "count": "0",
        "numremaining": "0",
    }


def test_query_elements_are_named_as_the_object_was_given(gw, xml):
    data = gw.call("healthy-top", xml.query("vendor", ["recordno", "NAME"], pagesize=2)).data()
    assert data.get("listtype") == "vendor"
    assert [r.tag for r in data] == ["vendor", "vendor"]
    assert [c.tag for c in data[0]] == ["RECORDNO", "NAME"]


def test_query_page_size_is_capped_at_2000(gw, xml):
    data = gw.call("healthy-top", xml.query("VENDOR", ["RECORDNO"], pagesize=9999)).data()
    assert data.get("count") == "2000"


def test_query_related_fields_come_back_dotted(gw, xml):
    data = gw.call(
        "healthy-top", xml.query("VENDOR", ["RECORDNO", "DISPLAYCONTACT.EMAIL1"], pagesize=1)
    ).data()
    assert data[0].findtext("DISPLAYCONTACT.EMAIL1") == "ap1@example.com"


def test_read_by_query_star_nests_related_fields(gw, xml):
    data = gw.call("healthy-top", xml.rbq("VENDOR", pagesize=1)).data()
    assert data[0].findtext("DISPLAYCONTACT/EMAIL1") == "ap1@example.com"


def test_query_orderby(gw, sandbox, xml):
    desc = gw.call(
        "healthy-top",
        xml.query(
            "VENDOR",
            ["RECORDNO"],
            pagesize=3,
            offset=1,
            orderby="<order><field>RECORDNO</field><descending/></order>",
        ),
    ).data()
    assert [r.findtext("RECORDNO") for r in desc] == ["2499", "2498", "2497"]

    by_name = gw.call(
        "healthy-top",
        xml.query(
            "VENDOR",
            ["RECORDNO", "NAME"],
            pagesize=2500,
            orderby="<order><field>NAME</field><ascending/></order>",
        ),
    ).data()
    names = [r.findtext("NAME") for r in by_name]
    assert names == sorted(names)


FILTERS = [
    (
        "<equalto><field>STATUS</field><value>inactive</value></equalto>",
        lambda r: r["STATUS"] == "inactive",
    ),
    (
        "<notequalto><field>STATUS</field><value>active</value></notequalto>",
        lambda r: r["STATUS"] != "active",
    ),
    (
        "<lessthan><field>RECORDNO</field><value>10</value></lessthan>",
        lambda r: int(r["RECORDNO"]) < 10,
    ),
    (
        "<lessthanorequalto><field>RECORDNO</field><value>10</value></lessthanorequalto>",
        lambda r: int(r["RECORDNO"]) <= 10,
    ),
    (
        "<greaterthan><field>RECORDNO</field><value>2490</value></greaterthan>",
        lambda r: int(r["RECORDNO"]) > 2490,
    ),
    (
        "<greaterthanorequalto><field>WHENMODIFIED</field><value>06/01/2025</value>"
        "</greaterthanorequalto>",
        lambda r: (
            r["WHENMODIFIED"] != ""
            and r["WHENMODIFIED"][6:10] + r["WHENMODIFIED"][:5] >= "202506/01"
        ),
    ),
    (
        "<between><field>RECORDNO</field><value>5</value><value>8</value></between>",
        lambda r: 5 <= int(r["RECORDNO"]) <= 8,
    ),
    (
        "<in><field>VENDORID</field><value>V00003</value><value>V00007</value></in>",
        lambda r: r["VENDORID"] in ("V00003", "V00007"),
    ),
    (
        "<notin><field>TERMNAME</field><value>Net 30</value><value>Net 15</value></notin>",
        lambda r: r["TERMNAME"] not in ("Net 30", "Net 15"),
    ),
    (
        "<like><field>NAME</field><value>Acme%</value></like>",
        lambda r: r["NAME"].startswith("Acme"),
    ),
    (
        "<notlike><field>NAME</field><value>%Co</value></notlike>",
        lambda r: not r["NAME"].endswith("Co"),
    ),
    ("<isnull><field>WHENMODIFIED</field></isnull>", lambda r: r["WHENMODIFIED"] == ""),
    ("<isnotnull><field>PARENTID</field></isnotnull>", lambda r: r["PARENTID"] != ""),
    (
        "<and><equalto><field>STATUS</field><value>active</value></equalto>"
        "<or><like><field>NAME</field><value>%Café%</value></like>"
        "<equalto><field>VENDORID</field><value>V00013</value></equalto></or></and>",
        lambda r: r["STATUS"] == "active" and ("Café" in r["NAME"] or r["VENDORID"] == "V00013"),
    ),
]


@pytest.mark.parametrize(("filter_xml", "expected"), FILTERS)
def test_query_filters_match_a_brute_force_evaluation(gw, sandbox, xml, filter_xml, expected):
    table = sandbox.company("healthy-top").table("VENDOR")
    fields = ["RECORDNO", "VENDORID", "NAME", "STATUS", "TERMNAME", "PARENTID", "WHENMODIFIED"]
    want = [n for n in range(1, 2501) if expected(table.record(n, fields))]

    data = gw.call(
        "healthy-top", xml.query("VENDOR", ["RECORDNO"], filter_xml=filter_xml, pagesize=2000)
    ).data()

    assert int(data.get("totalcount")) == len(want)
    assert [int(r.findtext("RECORDNO")) for r in data] == want[:2000]


READ_BY_QUERY = [
    ("STATUS = 'inactive'", lambda r: r["STATUS"] == "inactive"),
    ("RECORDNO <> 5 AND RECORDNO < 8", lambda r: int(r["RECORDNO"]) < 8 and r["RECORDNO"] != "5"),
    ("RECORDNO != 5 AND RECORDNO <= 8", lambda r: int(r["RECORDNO"]) <= 8 and r["RECORDNO"] != "5"),
    (
        "(RECORDNO < 3 OR RECORDNO > 2498) AND STATUS = 'active'",
        lambda r: (int(r["RECORDNO"]) < 3 or int(r["RECORDNO"]) > 2498) and r["STATUS"] == "active",
    ),
    ("VENDORID IN ('V00001', 'V00002')", lambda r: r["VENDORID"] in ("V00001", "V00002")),
    ("VENDORID not in ('V00001')", lambda r: r["VENDORID"] != "V00001"),
    ("NAME LIKE 'O\\'Brien%'", lambda r: r["NAME"].startswith("O'Brien")),
    ("NAME NOT LIKE '%Ltd'", lambda r: not r["NAME"].endswith("Ltd")),
    ("WHENMODIFIED IS NULL", lambda r: r["WHENMODIFIED"] == ""),
    (
        "WHENMODIFIED IS NOT NULL and RECORDNO < 1000",
        lambda r: r["WHENMODIFIED"] != "" and int(r["RECORDNO"]) < 1000,
    ),
    ("NOT STATUS = 'active'", lambda r: r["STATUS"] != "active"),
    (
        "WHENMODIFIED > '06/01/2025 12:00:00'",
        lambda r: r["WHENMODIFIED"] > "06/01/2025 12:00:00" and r["WHENMODIFIED"][6:10] == "2025",
    ),
    ("NAME = 'Acme Supply Co'", lambda r: r["NAME"] == "Acme Supply Co"),
    ("NAME = 'acme supply co'", lambda r: False),
]


@pytest.mark.parametrize(("query", "expected"), READ_BY_QUERY)
def test_read_by_query_language_matches_a_brute_force_evaluation(gw, sandbox, xml, query, expected):
    table = sandbox.company("healthy-top").table("VENDOR")
    fields = ["RECORDNO", "VENDORID", "NAME", "STATUS", "WHENMODIFIED"]
    want = [n for n in range(1, 2501) if expected(table.record(n, fields))]

    data = gw.call("healthy-top", xml.rbq("VENDOR", query, fields="RECORDNO", pagesize=1000)).data()

    assert int(data.get("totalcount")) == len(want)
    assert [int(r.findtext("RECORDNO")) for r in data] == want[:1000]


def test_case_insensitive_query_option(gw, xml):
    flt = "<equalto><field>NAME</field><value>acme supply co</value></equalto>"
    plain = gw.call("healthy-top", xml.query("VENDOR", ["RECORDNO"], filter_xml=flt)).data()
    ci = gw.call(
        "healthy-top",
        xml.query(
            "VENDOR",
            ["RECORDNO"],
            filter_xml=flt,
            options="<caseinsensitive>true</caseinsensitive>",
        ),
    ).data()
    assert plain.get("totalcount") == "0"
    assert ci.get("totalcount") == "1"


def test_malformed_query_string_fails_the_function(gw, xml):
    reply = gw.call("healthy-top", xml.rbq("VENDOR", "STATUS = = 'x'"))
    assert reply.result().findtext("status") == "failure"
    assert reply.result().findtext("errormessage/error/errorno") == "Query Failed"


def test_read_returns_the_keys_with_count_only(gw, xml):
    reply = gw.call(
        "healthy-top",
        "<read><object>VENDOR</object><keys>3,1,999999</keys><fields>RECORDNO,NAME</fields></read>",
    )
    data = reply.data()
    assert dict(data.attrib) == {"listtype": "VENDOR", "count": "2"}
    assert [r.tag for r in data] == ["VENDOR", "VENDOR"]
    assert [r.findtext("RECORDNO") for r in data] == ["3", "1"]


def test_read_refuses_more_than_100_keys(gw):
    keys = ",".join(str(i) for i in range(1, 102))
    reply = gw.call("healthy-top", f"<read><object>VENDOR</object><keys>{keys}</keys></read>")
    assert reply.result().findtext("status") == "failure"


def test_udd_records_use_lower_case_platform_fields(gw, xml):
    data = gw.call(
        "healthy-multi", xml.query("FUND", ["id", "name", "whenModified"], pagesize=2)
    ).data()
    assert data.get("totalcount") == "2500"
    assert [c.tag for c in data[0]] == ["id", "name", "whenModified"]
    assert data[0].findtext("name") == "Fund 1"


def test_inspect_lists_objects_and_fields(gw):
    everything = gw.call("healthy-multi", "<inspect><object>*</object></inspect>").data()
    names = {t.get("typename") for t in everything.findall("type")}
    assert {"VENDOR", "APBILL", "PROGRAM", "FUND"} <= names

    detail0 = gw.call("healthy-top", "<inspect><object>VENDOR</object></inspect>").data()
    assert "RECORDNO" in [f.text for f in detail0.findall("Type/Fields/Field")]
    detail1 = gw.call("healthy-top", '<inspect detail="1"><object>VENDOR</object></inspect>').data()
    assert detail1.findtext("Type/Attributes/SingularName") == "Vendor"
    assert detail1.find("Type/Fields/Field/externalDataName").text == "integer"


def test_get_dimensions_lists_standard_and_user_defined(gw):
    data = gw.call("healthy-multi", "<getDimensions/>").data()
    dims = {
        d.findtext("objectName"): d.findtext("userDefinedDimension")
        for d in data.findall("dimensions/dimension")
    }
    assert dims["DEPARTMENT"] == "false"
    assert dims["PROGRAM"] == "true"
    assert dims["FUND"] == "true"
    first = data.find("dimensions/dimension")
    assert [c.tag for c in first] == [
        "objectName",
        "objectLabel",
        "termLabel",
        "userDefinedDimension",
        "enabledInGL",
    ]
