"""The company model: entities and visibility, mutation and snapshots, scale, control endpoints."""

from __future__ import annotations

import random
import subprocess
import sys
import time

import pytest

from intacct.catalog import LIST_OBJECTS
from intacct.sandbox.query import And, Between, Cmp, In, IsNull, Like, Not, Or, TrueNode
from intacct.sandbox.schema import HOLE_MODULUS, HOLE_RESIDUE, format_timestamp
from intacct.sandbox.world import FaultPlan, Sandbox


def _ids(data):  # type: ignore[no-untyped-def]
    return [int(r.findtext("RECORDNO")) for r in data]


def test_multi_entity_visibility(gw, sandbox, xml):
    table = sandbox.company("healthy-multi").table("VENDOR")
    everything = sorted(table.snapshot())
    shared = [n for n in everything if table.value(n, "MEGAENTITYID") == ""]
    e200 = [n for n in everything if table.value(n, "MEGAENTITYID") in ("", "E200")]
    assert 0 < len(shared) < len(e200) < len(everything)

    top = gw.call("healthy-multi", xml.query("VENDOR", ["RECORDNO"], pagesize=2000)).data()
    private = gw.call(
        "healthy-multi",
        xml.query("VENDOR", ["RECORDNO"], pagesize=2000, options="<showprivate>true</showprivate>"),
    ).data()
    rbq = gw.call("healthy-multi", xml.rbq("VENDOR", fields="RECORDNO", pagesize=1000)).data()
    sid = gw.session("healthy-multi", location="E200")
    entity = gw.call_session(
        sid, xml.query("VENDOR", ["RECORDNO", "MEGAENTITYID"], pagesize=2000)
    ).data()

    assert _ids(top) == shared
    assert _ids(private) == everything
    assert _ids(rbq) == shared
    assert _ids(entity) == e200
    assert {r.findtext("MEGAENTITYID") for r in entity} == {"", "E200"}


def test_entity_session_by_switching_from_top_level(gw):
    sid = gw.session("healthy-multi")
    reply = gw.call_session(sid, "<getAPISession><locationid>E300</locationid></getAPISession>")
    assert reply.text("operation/result/data/api/locationid") == "E300"
    new_sid = reply.text("operation/result/data/api/sessionid")
    back = gw.call_session(new_sid, "<getDimensions/>")
    assert back.text("operation/authentication/locationid") == "E300"
    top = gw.call_session(new_sid, "<getAPISession><locationid/></getAPISession>")
    assert top.text("operation/result/data/api/locationid") == ""


def test_entities_are_location_entity_records(gw, xml):
    multi = gw.call(
        "healthy-multi", xml.query("LOCATIONENTITY", ["LOCATIONID", "NAME", "CURRENCY"])
    ).data()
    assert [
        (r.findtext("LOCATIONID"), r.findtext("NAME"), r.findtext("CURRENCY")) for r in multi
    ] == [
        ("E100", "United States", "USD"),
        ("E200", "United Kingdom", "GBP"),
        ("E300", "Canada", "CAD"),
    ]
    single = gw.call("healthy-top", xml.query("LOCATIONENTITY", ["LOCATIONID"])).data()
    assert single.get("totalcount") == "0"


def test_base_records_have_realistic_timestamps_and_holes(sandbox):
    table = sandbox.company("healthy-top").table("VENDOR")
    big = Sandbox(records=3000, scenarios=["healthy_top"]).company("healthy-top").table("VENDOR")
    hole = HOLE_MODULUS + HOLE_RESIDUE
    assert big.value(hole, "WHENMODIFIED") == ""
    assert big.value(hole, "WHENCREATED") != ""
    stamps = [table.value(n, "WHENMODIFIED") for n in range(1, 51)]
    assert all(len(s) == 19 and s[2] == "/" and s[5] == "/" and s[13] == ":" for s in stamps)
    assert stamps == sorted(stamps, key=lambda s: (s[6:10], s[:5], s[11:]))


@pytest.mark.parametrize("company", ["healthy-top", "healthy-multi"])
def test_every_catalog_object_answers_its_sync_fields(gw, sandbox, xml, company):
    c = sandbox.company(company)
    objects = [o for o in LIST_OBJECTS if c.subscribed(o)]
    reply = gw.call(
        company,
        [
            xml.query(
                o,
                list(LIST_OBJECTS[o].fields),
                pagesize=5,
                options="<showprivate>true</showprivate>",
            )
            for o in objects
        ],
    )
    for obj, result in zip(objects, reply.results, strict=True):
        assert result.findtext("status") == "success", (
            obj,
            result.findtext("errormessage/error/errorno"),
        )
        data = result.find("data")
        assert int(data.get("totalcount")) == c.count(obj)


def test_mutation_and_snapshot(gw, sandbox, xml):
    company = sandbox.company("healthy-top")
    before = company.snapshot("VENDOR")
    cutoff = format_timestamp(int(time.time()) - 1)

    done = company.mutate(adds=3, changes=4, deletes=2, objects=["VENDOR"], seed=42)["VENDOR"]
    after = company.snapshot("VENDOR")

    assert done.added == [51, 52, 53]
    assert set(after) == (set(before) | set(done.added)) - set(done.deleted)
    for n in done.changed:
        if n not in done.deleted:
            assert after[n] != before[n]
    untouched = set(before) - set(done.changed) - set(done.deleted)
    assert all(after[n] == before[n] for n in untouched)

    recent = gw.call(
        "healthy-top",
        xml.query(
            "VENDOR",
            ["RECORDNO", "WHENMODIFIED"],
            filter_xml=f"<greaterthan><field>WHENMODIFIED</field><value>{cutoff}</value></greaterthan>",
        ),
    ).data()
    expected = {n for n in done.added + done.changed if n not in done.deleted}
    assert set(_ids(recent)) == expected
    everything = gw.call("healthy-top", xml.query("VENDOR", ["RECORDNO"], pagesize=2000)).data()
    assert _ids(everything) == sorted(after)


def test_changes_rename_or_toggle_status(sandbox):
    company = sandbox.company("healthy-top")
    table = company.table("CUSTOMER")
    originals = {n: (table.value(n, "NAME"), table.value(n, "STATUS")) for n in range(1, 51)}
    done = company.mutate(changes=20, objects=["CUSTOMER"], seed=3)["CUSTOMER"]
    kinds = set()
    for n in done.changed:
        name, status = originals[n]
        if table.value(n, "NAME") != name:
            kinds.add("renamed")
        if table.value(n, "STATUS") != status:
            kinds.add("status")
    assert kinds == {"renamed", "status"}


def test_mutate_touches_every_list_object_by_default(sandbox):
    done = sandbox.company("healthy-multi").mutate(adds=1)
    assert {"VENDOR", "GLACCOUNT", "PROGRAM", "FUND"} <= set(done)
    assert all(s.added for s in done.values())


def test_background_mutation(sandbox):
    company = sandbox.company("healthy-top")
    before = company.count("VENDOR")
    stop = sandbox.start_mutating(0.05)
    try:
        deadline = time.monotonic() + 5
        while company.snapshot("VENDOR") == {} or company.table("VENDOR").version < 3:
            assert time.monotonic() < deadline
            time.sleep(0.02)
    finally:
        stop()
    assert company.table("VENDOR").added
    assert company.count("VENDOR") >= before  # one add and one delete per tick


def test_a_million_records_are_instant_and_pages_are_fast(make_gw, xml):
    started = time.monotonic()
    sandbox = Sandbox(records=1_000_000, scenarios=["healthy_top", "healthy_multi"])
    gw = make_gw(sandbox)
    fields = list(LIST_OBJECTS["VENDOR"].fields)
    first = gw.call("healthy-top", xml.query("VENDOR", ["RECORDNO"], pagesize=1)).data()
    assert time.monotonic() - started < 1.0
    assert first.get("totalcount") == "1000000"

    started = time.monotonic()
    recent = gw.call(
        "healthy-top",
        xml.query(
            "VENDOR",
            fields,
            filter_xml=(
                "<greaterthan><field>WHENMODIFIED</field><value>06/28/2025 00:00:00</value>"
                "</greaterthan>"
            ),
            pagesize=2000,
        ),
    ).data()
    deep = gw.call(
        "healthy-multi",
        xml.query(
            "VENDOR",
            fields,
            filter_xml="<equalto><field>STATUS</field><value>active</value></equalto>",
            pagesize=2000,
            offset=700_000,
        ),
    ).data()
    rbq = gw.call(
        "healthy-top",
        xml.rbq("VENDOR", "WHENMODIFIED >= '01/01/2025'", fields=",".join(fields), pagesize=1000),
    ).data()
    assert time.monotonic() - started < 1.5
    assert 0 < int(recent.get("totalcount")) < 2000
    assert int(recent[0].findtext("RECORDNO")) > 990_000
    assert deep.get("count") == "2000"
    assert int(deep.get("totalcount")) == 1_000_000 * 78 // 100  # shared and active
    assert rbq.get("count") == "1000"


RANDOM_FIELDS = ["STATUS", "MEGAENTITYID", "CURRENCY", "VENDTYPE", "TERMNAME", "WHENMODIFIED"]


def _random_node(rng: random.Random, depth: int = 0):  # type: ignore[no-untyped-def]
    roll = rng.random()
    if depth < 2 and roll < 0.3:
        kind = And if rng.random() < 0.5 else Or
        return kind(tuple(_random_node(rng, depth + 1) for _ in range(rng.randint(2, 3))))
    if depth < 2 and roll < 0.4:
        return Not(_random_node(rng, depth + 1))
    field = rng.choice(RANDOM_FIELDS)
    values = {
        "STATUS": ["active", "inactive"],
        "MEGAENTITYID": ["E100", "E200", "E300"],
        "CURRENCY": ["USD", "GBP", "CAD"],
        "VENDTYPE": ["Supplier", "Utility", "Contractor"],
        "TERMNAME": ["Net 30", "Net 60"],
        "WHENMODIFIED": ["01/01/2022", "06/15/2023 10:00:00"],
    }[field]
    op = rng.random()
    if field == "WHENMODIFIED":
        return Cmp(field, rng.choice([">", ">=", "<", "<=", "="]), rng.choice(values))
    if op < 0.4:
        return Cmp(field, rng.choice(["=", "!="]), rng.choice(values))
    if op < 0.6:
        return In(field, tuple(rng.sample(values, 2)), rng.random() < 0.5)
    if op < 0.8:
        return IsNull(field, rng.random() < 0.5)
    return Like(field, rng.choice(values)[:2] + "%")


def test_planned_answers_equal_brute_force():
    # Large enough that filters go through intervals and per-residue tables, not scans.
    sandbox = Sandbox(records=15_000, scenarios=["healthy_multi"])
    table = sandbox.company("healthy-multi").table("VENDOR")
    sandbox.company("healthy-multi").mutate(
        adds=5, changes=40, deletes=10, objects=["VENDOR"], seed=5
    )
    rng = random.Random(11)
    alive = sorted(table.snapshot())
    nodes = [TrueNode(), Cmp("WHENMODIFIED", ">", "03/01/2024")]
    nodes += [_random_node(rng) for _ in range(25)]
    nodes += [And((Cmp("WHENMODIFIED", ">=", "01/01/2021"), n)) for n in nodes[2:8]]
    nodes += [
        And((Cmp("RECORDNO", ">", "12345"), Cmp("RECORDNO", "<=", "23456"), n)) for n in nodes[2:6]
    ]
    # A partial sync's "changed since": WHENCREATED alone, and OR'ed with WHENMODIFIED.
    for since in ("01/01/2021", "09/30/2024 12:00:00", "12/31/2030"):
        created = Cmp("WHENCREATED", ">", since)
        nodes += [created, Or((Cmp("WHENMODIFIED", ">", since), created))]
        nodes += [
            Or((Between("WHENMODIFIED", since, "12/31/2030"), Cmp("WHENCREATED", ">=", since)))
        ]
    for node in nodes:
        pred = table.predicate(node, False)
        want = [n for n in alive if pred(table.getter(n))]
        matches = table.matches(node)
        assert matches.total == len(want), node
        assert matches.slice(0, 50) == want[:50], node
        if len(want) > 500:
            assert matches.slice(400, 30) == want[400:430], node
            assert matches.count_le(want[300]) == 301, node
            assert matches.after(want[250], 5) == want[251:256], node
    assert table._residues, "the per-residue plan was not exercised"


def test_control_endpoints(gw, sandbox):
    health = gw.http.get("/sandbox/").json()
    assert health["status"] == "ok"
    assert health["gateway"] == "http://sandbox.test/ia/xml/xmlgw.phtml"
    by_id = {c["company_id"]: c for c in health["companies"]}
    assert by_id["healthy-top"]["scenario"] == "healthy_top"
    assert by_id["healthy-top"]["records"]["VENDOR"] == 50
    assert by_id["sandbox"]["scenario"] == "healthy_top"
    assert "no_role" in {s["name"] for s in health["scenarios"]}

    r = gw.http.post("/sandbox/companies/sandbox/scenario", json={"scenario": "no_role"})
    assert r.status_code == 200
    assert r.json() == {"company_id": "sandbox", "scenario": "no_role"}
    r = gw.http.post("/sandbox/companies/sandbox/scenario", data={"scenario": "bad-password"})
    assert r.json()["scenario"] == "bad_password"
    assert sandbox.company("sandbox").scenario.name == "bad_password"
    assert (
        gw.http.post("/sandbox/companies/sandbox/scenario", json={"scenario": "x"}).status_code
        == 400
    )
    assert (
        gw.http.post("/sandbox/companies/nope/scenario", json={"scenario": "no_role"}).status_code
        == 404
    )

    r = gw.http.post(
        "/sandbox/companies/healthy-top/mutate",
        json={"adds": 2, "changes": 1, "deletes": 1, "objects": ["VENDOR"], "seed": 1},
    )
    assert r.status_code == 200
    assert r.json()["VENDOR"]["added"] == [51, 52]
    snap = gw.http.get(
        "/sandbox/companies/healthy-top/snapshot", params={"object": "VENDOR"}
    ).json()
    assert snap == {str(k): v for k, v in sandbox.company("healthy-top").snapshot("VENDOR").items()}
    assert gw.http.get("/sandbox/companies/healthy-top/snapshot").status_code == 400
    assert (
        gw.http.get(
            "/sandbox/companies/healthy-top/snapshot", params={"object": "NOPE"}
        ).status_code
        == 404
    )
    assert (
        gw.http.post(
            "/sandbox/companies/healthy-top/mutate", json={"objects": ["NOPE"]}
        ).status_code
        == 400
    )

    assert gw.http.post("/sandbox/reset").json() == {"status": "reset"}
    assert sandbox.company("sandbox").scenario.name == "healthy_top"
    assert len(sandbox.company("healthy-top").snapshot("VENDOR")) == 50


def test_max_concurrent_refuses_the_excess_with_429(make_gw, xml):
    import threading

    sandbox = Sandbox(records=50, scenarios=["healthy_top"], latency_ms=200, max_concurrent=2)
    statuses: list[int] = []

    def call() -> None:
        statuses.append(make_gw(sandbox).call("healthy-top", "<getDimensions/>").status)

    threads = [threading.Thread(target=call) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(statuses) == [200, 200, 429, 429, 429]


def test_fault_rate_answers_non_xml_5xx(make_gw):
    gw = make_gw(Sandbox(records=5, scenarios=["healthy_top"], fault_rate=0.5, seed=3))
    statuses = [gw.call("healthy-top", "<getDimensions/>").status for _ in range(60)]
    assert set(statuses) == {200, 502, 503}
    assert 15 < statuses.count(200) < 45


def test_intacct_package_imports_no_django():
    code = (
        "import sys, intacct.sandbox.app, intacct.sandbox.server, intacct.sandbox.__main__;"
        "assert 'django' not in sys.modules, 'django imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


@pytest.mark.parametrize(
    ("data", "says"),
    [
        ({"latency_ms": float("nan")}, "latency_ms must be a finite number"),
        ({"latency_ms": float("inf")}, "latency_ms must be a finite number"),
        ({"reset_every": -1}, "reset_every must not be negative"),
        ({"errors_everyone": 1}, "unknown fault fields: errors_everyone"),
    ],
)
def test_a_fault_plan_refuses_what_it_could_not_keep(data, says):
    """A plan is checked whole when it is given (command line or control endpoint), not when a
    request meets a NaN latency in the middle of a run."""
    with pytest.raises(ValueError, match=says):
        FaultPlan.of(data)
