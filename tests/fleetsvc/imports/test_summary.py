"""The import summary and counts as stored and shown: the figures and the layout that earlier
releases wrote (a preview kept for days is committed by whatever release runs then), and a
re-evaluation that finds its checks' warnings afresh, once."""

from __future__ import annotations

from typing import Any

import msgspec

from db.engine import connection
from tests.api.test_imports import VF_HEADER, csv_bytes, handset, order, upload
from tests.api.test_imports_installs import HEADER as INSTALL_HEADER
from tests.api.test_imports_installs import job, kit
from tests.conftest import ClientFactory

# The figures each kind of import counts, as the API and the CLI show them.
DELIVERY_COUNTS = {
    "rows",
    "new",
    "unchanged",
    "duplicates",
    "conflicts",
    "rejected",
    "sims",
    "licence_rows",
    "licence_seats",
    "warnings",
}
INSTALL_COUNTS = {
    "rows",
    "new",
    "unchanged",
    "duplicates",
    "conflicts",
    "rejected",
    "installs",
    "vehicles_created",
    "warnings",
}
AIRTIME = "no airtime contract is active then"


async def _stored(import_id: int) -> dict[str, Any]:
    async with connection() as conn:
        raw = await conn.fetchval("SELECT summary FROM delivery_import WHERE id = $1", import_id)
    stored: dict[str, Any] = msgspec.json.decode(raw)
    return stored


async def test_counts_name_the_figures_of_each_kind(client_for: ClientFactory) -> None:
    stores = await client_for("stores")
    o = await order()
    delivery = (await upload(stores, csv_bytes([handset(o)]), mode="commit")).json()
    assert set(delivery["counts"]) == DELIVERY_COUNTS, delivery["counts"]
    k = await kit()
    rows = [job(**{"Tablet Serial": k["tablets"][0]["serial_number"]})]
    install = (await upload(stores, csv_bytes(rows, INSTALL_HEADER), "babcock-install")).json()
    assert set(install["counts"]) == INSTALL_COUNTS, install["counts"]
    assert install["counts"]["installs"] == 1 and install["counts"]["vehicles_created"] == 1


async def test_the_summary_keeps_the_layout_earlier_releases_read(
    client_for: ClientFactory,
) -> None:
    stores = await client_for("stores")
    o = await order()
    # A blank row (the file's own warning) and SIMs with no airtime contract (the checks').
    content = csv_bytes([handset(o, **{"Despatch Date": "14/11/1995"})]) + b",,,\r\n"
    preview = (await upload(stores, content)).json()
    stored = await _stored(preview["id"])
    assert {
        "fields",
        "headers",
        "header_row",
        "format",
        "kind",
        "skipped",
        "file_warnings",
        "previous_import",
        "po_lines",
        "licences",
    } <= set(stored)
    assert stored["kind"] == "delivery" and stored["format"] == "csv"
    assert stored["headers"] == VF_HEADER and stored["skipped"]["blank"] == 1
    warnings = {w["message"]: w for w in stored["file_warnings"]}
    assert warnings["1 blank row(s) were skipped"] == {
        "row": None,
        "message": "1 blank row(s) were skipped",
    }
    (airtime,) = (w for m, w in warnings.items() if AIRTIME in m)
    assert airtime["generated"] is True
    assert stored["po_lines"][0]["po_number"] == o["po"]["number"]


async def test_a_commit_finds_the_checks_warnings_afresh_once(client_for: ClientFactory) -> None:
    stores = await client_for("stores")
    o = await order()
    content = csv_bytes([handset(o, **{"Despatch Date": "14/11/1995"})]) + b",,,\r\n"
    preview = (await upload(stores, content)).json()
    done = (await stores.post(f"/api/v1/imports/{preview['id']}/commit")).json()
    assert done["status"] == "committed", done
    messages = [w["message"] for w in done["file_warnings"]]
    assert messages.count("1 blank row(s) were skipped") == 1, messages
    assert len([m for m in messages if AIRTIME in m]) == 1, messages
    assert done["counts"]["warnings"] == 2
