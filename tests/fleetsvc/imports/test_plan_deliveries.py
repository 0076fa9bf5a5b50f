"""A delivery's plan, every rule at once: one file whose rows each meet a different rule, and
the outcome, field and message each row is given (what the report and rejected.csv show).
The rules are skipped where they can find nothing (plan.GUARDS, plan.AFTER): this file gives
each of them something to find, and a clean file next to it finds nothing and stays new. Both
the plan of a file that fits in memory and that of a larger one are run."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from db.engine import connection
from fleetsvc.auth import Actor
from fleetsvc.imports import plan, run
from tests import factories
from tests.api.test_imports import csv_bytes, handset, one, order

ACTOR = Actor("tests", "stores")
pytestmark = pytest.mark.usefixtures("app")


async def _import(tmp_path: Path, name: str, rows: list[dict[str, str]], mode: str) -> int:
    path = tmp_path / name
    path.write_bytes(csv_bytes(rows))
    item = await run.run_import(
        ACTOR, path=path, file_name=name, profile_name="vodafone-despatch", mode=mode
    )
    return item.id


async def _issues(import_id: int) -> list[tuple[Any, ...]]:
    async with connection() as conn:
        rows = await conn.fetch(
            "SELECT row_number, severity, outcome, column_name, message FROM import_issue"
            " WHERE import_id = $1 AND row_number IS NOT NULL ORDER BY id",
            import_id,
        )
    return [tuple(r) for r in rows]


@pytest.fixture(params=["small", "large"])
def file_size(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """The plan of a small file, and of a large one (plan.LARGE_FILE_ROWS brought down to
    these files' size: the large plan reads the staged rows twice)."""
    if request.param == "large":
        monkeypatch.setattr(plan, "LARGE_FILE_ROWS", 0)
    return str(request.param)


async def test_each_rule_gives_its_rows_their_outcome_and_message(
    tmp_path: Path, file_size: str
) -> None:
    o = await order(quantity=100)
    cancelled = await order(quantity=10)
    async with connection() as conn:
        await conn.execute(
            "UPDATE purchase_order SET status = 'cancelled' WHERE id = $1", cancelled["po"]["id"]
        )
    a, b, c, d, e = (handset(o) for _ in range(5))
    await _import(tmp_path, "first.csv", [a, b, c, d, e], "commit")
    ids = {
        r["serial_number"]: r["id"]
        for r in await _fetch(
            "SELECT id, serial_number FROM asset WHERE purchase_order_id = $1", o["po"]["id"]
        )
    }
    sim_c = await one("SELECT id, asset_id FROM sim WHERE iccid = $1", c["SIM ICCID"])
    fresh = handset(o)
    twin_imei = factories.new_imei()
    rows = [
        fresh,  # row 2: new
        dict(fresh),  # 3: the same as row 2
        handset(o, IMEI=twin_imei),  # 4 and 5: one IMEI, two serials
        handset(o, IMEI=twin_imei),
        handset(o, **{"Product Code": "NO-SUCH-PART"}),  # 6
        handset(o, **{"Customer PO": ""}),  # 7
        handset(o, **{"Customer PO": "PO-NOWHERE"}),  # 8
        handset(cancelled),  # 9
        dict(a),  # 10: registered, the same
        dict(b, **{"Delivery Note": "DN2"}),  # 11: registered, another delivery note
        handset(o, IMEI=d["IMEI"], **{"Serial Number": e["Serial Number"]}),  # 12
        handset(o, **{"SIM ICCID": c["SIM ICCID"]}),  # 13: the SIM is registered
        handset(o, MSISDN=c["MSISDN"]),  # 14: the number is on a registered SIM
        handset(o, **{"Serial Number": c["Serial Number"]}),  # 15: the serial is registered
    ]
    import_id = await _import(tmp_path, "second.csv", rows, "preview")
    assert await _issues(import_id) == [
        (3, "warning", None, None, "the same item as row 2: counted once"),
        *[
            (
                row,
                "error",
                "rejected",
                "IMEI",
                f"IMEI {twin_imei} is also on row {other} with different details; "
                "these rows were all rejected",
            )
            for row, other in ((4, 5), (5, 4))
        ],
        (
            6,
            "error",
            "rejected",
            "Product Code",
            "no device model has part number NO-SUCH-PART (Samsung Galaxy A32 4G 128GB"
            " Awesome Black) — add it to the model's part numbers",
        ),
        (7, "error", "rejected", "Customer PO", "the row has no purchase order number"),
        (
            8,
            "error",
            "rejected",
            "Customer PO",
            "no purchase order PO-NOWHERE — add the purchase order before importing its delivery",
        ),
        (
            9,
            "error",
            "rejected",
            "Customer PO",
            f"purchase order {cancelled['po']['number']} is cancelled",
        ),
        (
            11,
            "error",
            "conflict",
            "IMEI",
            f"already registered as asset {ids[b['Serial Number']]} with a different delivery"
            " reference (file DN2, register DN1); it was not changed",
        ),
        (
            12,
            "error",
            "conflict",
            "Serial Number",
            f"the IMEI is already on asset {ids[d['Serial Number']]} but the serial number is"
            f" on asset {ids[e['Serial Number']]}; nothing was changed",
        ),
        (
            13,
            "error",
            "conflict",
            "SIM ICCID",
            f"SIM {c['SIM ICCID']} is already registered (sim {sim_c['id']}, in asset"
            f" {sim_c['asset_id']}); the handset was not added",
        ),
        (
            14,
            "error",
            "conflict",
            "MSISDN",
            f"number {_e164(c['MSISDN'])} is already on SIM {c['SIM ICCID']}; the handset"
            " was not added",
        ),
        (
            15,
            "error",
            "conflict",
            "IMEI",
            f"already registered as asset {ids[c['Serial Number']]} with a different IMEI"
            f" (file {rows[13]['IMEI']}, register {c['IMEI']}), SIM (file"
            f" {rows[13]['SIM ICCID']}, register {c['SIM ICCID']}); it was not changed",
        ),
    ]
    counts = await _counts(import_id)
    assert (counts["new"], counts["unchanged"], counts["duplicates"]) == (1, 1, 1), counts
    assert (counts["rejected"], counts["conflicts"]) == (6, 5), counts
    # A clean file next to it: no rule finds anything, every row is new.
    clean = await _import(tmp_path, "clean.csv", [handset(o) for _ in range(3)], "preview")
    assert await _issues(clean) == []
    counts = await _counts(clean)
    assert (counts["new"], counts["rejected"], counts["conflicts"]) == (3, 0, 0), counts


async def _fetch(sql: str, *args: Any) -> list[dict[str, Any]]:
    async with connection() as conn:
        return [dict(r) for r in await conn.fetch(sql, *args)]


async def _counts(import_id: int) -> dict[str, int]:
    row = await one("SELECT counts FROM delivery_import WHERE id = $1", import_id)
    counts: dict[str, int] = json.loads(row["counts"])
    return counts


def _e164(national: str) -> str:
    return "+44" + national.removeprefix("0")
