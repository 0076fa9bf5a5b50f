"""Stocktakes by scan over HTTP: each scan answered at once, the sections, the close and its
moves as events, the frozen result, and every bad input refused with nothing recorded."""

from __future__ import annotations

import datetime as dt
import io
from dataclasses import dataclass
from typing import Any

import httpx
import openpyxl

from db.engine import connection
from tests import factories
from tests.api.test_assets_lifecycle import asset_in
from tests.conftest import ClientFactory, unique

A = "/api/v1"
UTC = dt.UTC


@dataclass
class Store:
    """A location with devices kept at it, and devices the register has elsewhere."""

    location: dict[str, Any]
    other: dict[str, Any]
    kept: list[dict[str, Any]]  # in stock here: scanned by serial, IMEI, tag, SIM's ICCID
    in_repair: dict[str, Any]  # kept here, never scanned: missing
    at_other: dict[str, Any]
    held: dict[str, Any]
    lost: dict[str, Any]
    retired: dict[str, Any]
    iccid: str


async def _store() -> Store:
    here, other = await factories.location(), await factories.location()
    kept = [
        await factories.asset(location_id=here["id"], asset_tag=unique("FP-")) for _ in range(4)
    ]
    sim = await factories.sim(asset_id=kept[3]["id"])
    seen = dt.datetime.now(UTC) - dt.timedelta(days=2)
    in_repair = await factories.asset(
        status="in_repair",
        location_id=here["id"],
        mdm_device_id=unique("mdm-"),
        mdm_last_seen_at=seen,
    )
    return Store(
        location=here,
        other=other,
        kept=kept,
        in_repair=in_repair,
        at_other=await factories.asset(location_id=other["id"]),
        held=await asset_in("deployed"),
        lost=await asset_in("lost"),
        retired=await asset_in("retired"),
        iccid=sim["iccid"],
    )


async def _open(client: httpx.AsyncClient, location_id: int) -> dict[str, Any]:
    r = await client.post(f"{A}/stocktakes", json={"location_id": location_id})
    assert r.status_code == 201, r.text
    assert r.headers["location"] == f"{A}/stocktakes/{r.json()['id']}"
    body: dict[str, Any] = r.json()
    return body


async def _scan(client: httpx.AsyncClient, stocktake_id: int, codes: list[str]) -> httpx.Response:
    return await client.post(f"{A}/stocktakes/{stocktake_id}/scans", json={"codes": codes})


def _ids(section: dict[str, Any]) -> list[int | None]:
    return [line["asset_id"] for line in section["items"]]


async def test_each_scan_is_answered_and_the_sections_add_up(client_for: ClientFactory) -> None:
    stores = await client_for("stores")
    s = await _store()
    opened = await _open(stores, s.location["id"])
    assert opened["status"] == "open" and opened["location"] == s.location["code"]
    assert opened["counts"]["expected"] == 5 and opened["counts"]["missing"] == 5
    a, b, c, d = s.kept
    unknown = unique("NOPE-")
    codes = [
        f"  {a['serial_number'].lower()}\r\n",  # as a scanner types it: case, spaces, Enter
        b["imei"][:3] + " " + b["imei"][3:],  # an IMEI with a space in it
        c["asset_tag"],
        s.iccid,  # the SIM fitted in d
        s.at_other["serial_number"],
        s.held["serial_number"],
        s.lost["serial_number"],
        s.retired["serial_number"],
        unknown,
        a["imei"],  # a again, by another barcode on its box
        unknown.lower(),
        unknown,
    ]
    r = await _scan(stores, opened["id"], codes)
    assert r.status_code == 200, r.text
    answers = r.json()["items"]
    assert [x["outcome"] for x in answers] == [
        "found",
        "found",
        "found",
        "found",
        "elsewhere",
        "elsewhere",
        "elsewhere",
        "elsewhere",
        "unknown",
        "already_scanned",
        "unknown",  # an asset tag keeps its case: another code
        "already_scanned",
    ]
    assert [x["asset_id"] for x in answers[:8]] == [
        a["id"],
        b["id"],
        c["id"],
        d["id"],
        s.at_other["id"],
        s.held["id"],
        s.lost["id"],
        s.retired["id"],
    ]
    assert answers[0]["code"] == a["serial_number"].lower()  # trimmed, as scanned
    assert answers[4]["location"] == s.other["code"]
    assert answers[5]["held_by"] is not None and answers[5]["status"] == "deployed"
    assert answers[9]["counted_as"] == "found" and answers[11]["counted_as"] == "unknown"
    assert r.json()["counts"] == {
        "expected": 5,
        "scans": 12,
        "found": 4,
        "missing": 1,
        "elsewhere": 4,
        "unknown": 2,
        "duplicates": 2,
    }

    result = (await stores.get(f"{A}/stocktakes/{opened['id']}")).json()
    sections = result["sections"]
    assert _ids(sections["found"]) == [a["id"], b["id"], c["id"], d["id"]]
    assert _ids(sections["missing"]) == [s.in_repair["id"]]
    missing = sections["missing"]["items"][0]
    assert missing["code"] is None and missing["status"] == "in_repair"
    assert missing["last_seen_at"] is not None  # the MDM's last check-in
    assert _ids(sections["elsewhere"]) == [
        s.at_other["id"],
        s.held["id"],
        s.lost["id"],
        s.retired["id"],
    ]
    assert [x["code"] for x in sections["unknown"]["items"]] == [unknown, unknown.lower()]
    duplicates = sections["duplicates"]["items"]
    assert [(x["asset_id"], x["times_scanned"]) for x in duplicates] == [(a["id"], 2), (None, 2)]
    assert result["counts"]["duplicates"] == sections["duplicates"]["count"] == 2
    # Readers read it; a section shows its first lines.
    auditor = await client_for("auditor")
    short = await auditor.get(f"{A}/stocktakes/{opened['id']}", params={"limit": 1})
    assert short.status_code == 200
    assert short.json()["sections"]["found"] == {
        "count": 4,
        "items": sections["found"]["items"][:1],
    }


async def test_closing_moves_what_was_chosen_as_events_and_freezes(
    client_for: ClientFactory,
) -> None:
    stores = await client_for("stores")
    s = await _store()
    stale = await factories.asset(location_id=s.location["id"])  # in stock, never scanned
    opened = await _open(stores, s.location["id"])
    elsewhere = [s.at_other, s.held, s.lost, s.retired]
    r = await _scan(
        stores, opened["id"], [x["serial_number"] for x in [*s.kept, *elsewhere]] + ["ZZ-1"]
    )
    assert r.status_code == 200, r.text
    r = await stores.post(
        f"{A}/stocktakes/{opened['id']}/close",
        json={"move_elsewhere_here": True, "mark_missing_lost": True},
    )
    assert r.status_code == 200, r.text
    closed = r.json()
    assert closed["status"] == "closed" and closed["closed_by"].startswith("t-stores-")
    assert closed["move_elsewhere_here"] is True and closed["mark_missing_lost"] is True
    # Moved here: the one at another store, the one a person held, the one marked lost.
    # Left: the retired one; the missing one in repair. Marked lost: the stale one.
    assert closed["moves"] == {"moved_here": 3, "marked_lost": 1, "not_moved": 2}
    lines = {x["asset_id"]: x for x in closed["sections"]["elsewhere"]["items"]}
    assert lines[s.retired["id"]]["action"] == "not_moved"
    assert "retired" in lines[s.retired["id"]]["note"]
    assert {lines[x["id"]]["action"] for x in (s.at_other, s.held, s.lost)} == {"moved_here"}
    missing = {x["asset_id"]: x for x in closed["sections"]["missing"]["items"]}
    assert missing[stale["id"]]["action"] == "marked_lost"
    assert missing[s.in_repair["id"]]["action"] == "not_moved"
    # The frozen lines say how the register stood: the held device was deployed.
    assert lines[s.held["id"]]["status"] == "deployed"

    code = s.location["code"]
    for moved in (s.at_other, s.held, s.lost):
        now = (await stores.get(f"{A}/assets/{moved['id']}")).json()
        assert (now["status"], now["location"], now["holder"]) == ("in_stock", code, None)
    assert (await stores.get(f"{A}/assets/{s.retired['id']}")).json()["status"] == "retired"
    gone = (await stores.get(f"{A}/assets/{stale['id']}")).json()
    assert (gone["status"], gone["location"]) == ("lost", None)
    repair = (await stores.get(f"{A}/assets/{s.in_repair['id']}")).json()
    assert repair["status"] == "in_repair"

    auditor = await client_for("auditor")

    async def last_event(asset_id: int) -> dict[str, Any]:
        page = await auditor.get(f"{A}/events", params={"entity": "asset", "entity_id": asset_id})
        event: dict[str, Any] = page.json()["items"][-1]
        return event

    relocated = await last_event(s.at_other["id"])
    assert relocated["action"] == "relocated"
    assert relocated["before"] == {"location_id": s.other["id"]}
    assert relocated["after"]["location_id"] == s.location["id"]
    assert f"stocktake {opened['id']}" in relocated["after"]["reason"]
    returned = await last_event(s.held["id"])
    assert returned["action"] == "transition"
    assert returned["before"]["status"] == "deployed" and returned["after"]["person_id"] is None
    assert returned["after"]["location_id"] == s.location["id"]
    found = await last_event(s.lost["id"])
    assert (found["before"]["status"], found["after"]["status"]) == ("lost", "in_stock")
    marked = await last_event(stale["id"])
    assert (marked["before"]["status"], marked["after"]["status"]) == ("in_stock", "lost")
    async with connection() as conn:
        open_issue = await conn.fetchval(
            "SELECT count(*) FROM assignment WHERE asset_id = $1 AND ended_at IS NULL",
            s.held["id"],
        )
    assert open_issue == 0
    closing = (
        await auditor.get(f"{A}/events", params={"entity": "stocktake", "entity_id": opened["id"]})
    ).json()["items"]
    assert [e["action"] for e in closing] == ["created", "scanned", "closed"]
    assert closing[1]["after"] == {
        "scans": 9,
        "found": 4,
        "elsewhere": 4,
        "unknown": 1,
        "already_scanned": 0,
    }

    # Frozen: a later change to a device does not rewrite the count.
    a = s.kept[0]
    await stores.patch(f"{A}/assets/{a['id']}", json={"serial_number": unique("RENAMED")})
    again = (await stores.get(f"{A}/stocktakes/{opened['id']}")).json()
    assert again["sections"] == closed["sections"] and again["counts"] == closed["counts"]
    assert again["sections"]["found"]["items"][0]["serial_number"] == a["serial_number"]

    # Closed is closed: no scans, no second close (409), nothing recorded.
    late = await _scan(stores, opened["id"], [a["imei"]])
    assert late.status_code == 409, late.text
    assert "closed" in late.json()["detail"]
    twice = await stores.post(f"{A}/stocktakes/{opened['id']}/close", json={})
    assert twice.status_code == 409
    after = (await stores.get(f"{A}/stocktakes/{opened['id']}")).json()
    assert after["counts"]["scans"] == 9


async def test_closing_without_moves_changes_no_device(client_for: ClientFactory) -> None:
    stores = await client_for("stores")
    s = await _store()
    opened = await _open(stores, s.location["id"])
    await _scan(stores, opened["id"], [s.held["serial_number"]])
    r = await stores.post(f"{A}/stocktakes/{opened['id']}/close", json={})
    assert r.status_code == 200, r.text
    assert r.json()["moves"] == {"moved_here": 0, "marked_lost": 0, "not_moved": 0}
    assert all(line["action"] is None for line in r.json()["sections"]["missing"]["items"])
    held = (await stores.get(f"{A}/assets/{s.held['id']}")).json()
    assert held["status"] == "deployed" and held["holder"]["person_id"] == s.held["person_id"]
    # The location can be counted again.
    assert (await _open(stores, s.location["id"]))["counts"]["expected"] == 5


async def test_a_device_the_mdm_saw_lately_is_not_marked_lost(client_for: ClientFactory) -> None:
    stores = await client_for("stores")
    here = await factories.location()
    recent = await factories.asset(
        location_id=here["id"],
        mdm_device_id=unique("mdm-"),
        mdm_last_seen_at=dt.datetime.now(UTC) - dt.timedelta(days=1),
    )
    old = await factories.asset(
        location_id=here["id"],
        mdm_device_id=unique("mdm-"),
        mdm_last_seen_at=dt.datetime.now(UTC) - dt.timedelta(days=400),
    )
    opened = await _open(stores, here["id"])
    r = await stores.post(f"{A}/stocktakes/{opened['id']}/close", json={"mark_missing_lost": True})
    assert r.status_code == 200, r.text
    lines = {x["asset_id"]: x for x in r.json()["sections"]["missing"]["items"]}
    assert lines[old["id"]]["action"] == "marked_lost"
    assert lines[recent["id"]]["action"] == "not_moved"
    assert "checked in with the MDM" in lines[recent["id"]]["note"]
    assert (await stores.get(f"{A}/assets/{recent['id']}")).json()["status"] == "in_stock"


async def test_bad_scans_are_refused_and_nothing_is_recorded(client_for: ClientFactory) -> None:
    stores = await client_for("stores")
    here = await factories.location()
    kept = await factories.asset(location_id=here["id"])
    opened = await _open(stores, here["id"])
    sid = opened["id"]
    cases: list[tuple[Any, str, str]] = [
        ({"codes": [kept["serial_number"], ""]}, "codes.1", "empty"),
        ({"codes": ["   \r\n"]}, "codes.0", "empty"),
        ({"codes": [kept["serial_number"], "X" * 10_000]}, "codes.1", "10,000"),
        # At most 64 as sent, as the document says: spaces around count.
        ({"codes": ["\u2006" * 10 + "X" * 60]}, "codes.0", "this one has 70"),
        ({"codes": ["A\x00B"]}, "codes.0", "control character"),
        ({"codes": [f"C{n}" for n in range(1001)]}, "codes", "at most 1,000"),
        ({"codes": []}, "codes", "at least one"),
        ({"codes": [kept["serial_number"], 352099001761481]}, "codes.1", "str"),
        ({"code": kept["serial_number"]}, "code", "not a field"),
    ]
    for body, field, words in cases:
        r = await stores.post(f"{A}/stocktakes/{sid}/scans", json=body)
        assert r.status_code == 422, (body, r.text)
        assert r.headers["content-type"].startswith("application/problem+json")
        problems = r.json()["errors"]
        assert [p["field"] for p in problems] == [field], problems
        assert words in problems[0]["message"], problems
    now = (await stores.get(f"{A}/stocktakes/{sid}")).json()
    assert now["counts"]["scans"] == 0 and now["counts"]["found"] == 0
    # 1,000 is a batch; the next code is counted.
    batch = [kept["serial_number"], *(unique("U") for _ in range(999))]
    r = await _scan(stores, sid, batch)
    assert r.status_code == 200 and len(r.json()["items"]) == 1000
    assert r.json()["counts"]["found"] == 1 and r.json()["counts"]["unknown"] == 999
    # No such stocktake: 404; a role that only reads: 403.
    assert (await _scan(stores, 2_000_000_000, ["A"])).status_code == 404
    assert (await _scan(await client_for("engineer"), sid, ["A"])).status_code == 403


async def test_opening_needs_a_location_that_exists_and_is_not_being_counted(
    client_for: ClientFactory,
) -> None:
    stores = await client_for("stores")
    r = await stores.post(f"{A}/stocktakes", json={"location_id": 2_000_000_000})
    assert r.status_code == 422
    assert r.json()["errors"] == [
        {"field": "location_id", "message": "no location with id 2000000000"}
    ]
    r = await stores.post(f"{A}/stocktakes", json={"location_id": 0})
    assert r.status_code == 422 and r.json()["errors"][0]["field"] == "location_id"
    here = await factories.location()
    first = await _open(stores, here["id"])
    r = await stores.post(f"{A}/stocktakes", json={"location_id": here["id"]})
    assert r.status_code == 409
    assert r.json()["existing_id"] == first["id"]
    assert here["code"] in r.json()["detail"]


async def test_the_list_is_newest_first_and_filters(client_for: ClientFactory) -> None:
    stores = await client_for("stores")
    here = await factories.location()
    first = await _open(stores, here["id"])
    await stores.post(f"{A}/stocktakes/{first['id']}/close", json={})
    second = await _open(stores, here["id"])
    r = await stores.get(f"{A}/stocktakes", params={"location": here["code"].lower()})
    assert r.status_code == 200, r.text
    assert [x["id"] for x in r.json()["items"]] == [second["id"], first["id"]]
    assert "sections" not in r.json()["items"][0]
    closed = await stores.get(
        f"{A}/stocktakes", params={"location": here["code"], "status": "closed"}
    )
    assert [x["id"] for x in closed.json()["items"]] == [first["id"]]
    paged = await stores.get(f"{A}/stocktakes", params={"location": here["code"], "limit": 1})
    rest = await stores.get(
        f"{A}/stocktakes",
        params={"location": here["code"], "cursor": paged.json()["next_cursor"]},
    )
    assert [x["id"] for x in rest.json()["items"]] == [first["id"]]
    bad = await stores.get(f"{A}/stocktakes", params={"status": "shut"})
    assert bad.status_code == 422 and "open, closed" in bad.json()["detail"]


async def test_the_report_as_csv_and_xlsx_is_formula_safe(client_for: ClientFactory) -> None:
    stores = await client_for("stores")
    here = await factories.location()
    kept = await factories.asset(location_id=here["id"])
    missing = await factories.asset(location_id=here["id"])
    opened = await _open(stores, here["id"])
    attack = '=HYPERLINK("http://x.example","y")'
    await _scan(stores, opened["id"], [kept["serial_number"], attack])
    reader = await client_for("finance")
    r = await reader.get(f"{A}/stocktakes/{opened['id']}/report")
    assert r.status_code == 200, r.text
    assert r.headers["content-type"] == "text/csv; charset=utf-8"
    assert f"stocktake-{opened['id']}-" in r.headers["content-disposition"]
    text = r.content.decode("utf-8")
    assert text.startswith("\ufeffSection,Code scanned,")
    rows = text.splitlines()[1:]
    assert [row.split(",")[0] for row in rows] == ["found", "missing", "unknown"]
    assert str(missing["id"]) in rows[1]
    assert rows[2].startswith("unknown,\"'=HYPERLINK(")

    x = await reader.get(f"{A}/stocktakes/{opened['id']}/report", params={"format": "xlsx"})
    assert x.status_code == 200
    book = openpyxl.load_workbook(io.BytesIO(x.content))
    assert book.sheetnames == [
        "Found",
        "Missing",
        "Elsewhere",
        "Unknown",
        "Duplicates",
        "Parameters",
    ]
    unknown = book["Unknown"]
    assert unknown.cell(row=4, column=1).value == "'" + attack
    assert book["Found"].cell(row=4, column=2).value == kept["id"]
    bad = await reader.get(f"{A}/stocktakes/{opened['id']}/report", params={"format": "pdf"})
    assert bad.status_code == 422 and "csv, xlsx" in bad.json()["detail"]
    empty = await reader.get(f"{A}/stocktakes/{opened['id']}/report", params={"format": ""})
    assert empty.status_code == 422 and "csv, xlsx" in empty.json()["detail"]
