"""The delivery import run itself: batches, progress, failures, and a profile added from a
file (the `fleetsvc import` command is tested in tests/fleetsvc/commands/test_imports.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from db.engine import connection
from fleetsvc.auth import Actor
from fleetsvc.errors import ValidationFailed
from fleetsvc.imports import run
from tests.api.test_imports import csv_bytes, handset, one, order

ACTOR = Actor("tests", "stores")
# The app's lifespan opens the connection pool the service uses.
pytestmark = pytest.mark.usefixtures("app")


async def test_many_batches_with_progress(tmp_path: Path) -> None:
    o = await order(quantity=20_000)
    rows = run.BATCH_ROWS * 2 + 7
    path = tmp_path / "big.csv"
    path.write_bytes(csv_bytes([handset(o) for _ in range(rows)]))
    seen: list[tuple[int, float | None]] = []
    item = await run.run_import(
        ACTOR,
        path=path,
        file_name="big.csv",
        profile_name="vodafone-despatch",
        mode="commit",
        progress=lambda n, share: seen.append((n, share)),
    )
    assert [n for n, _ in seen] == [5_000, 10_000, rows]
    shares = [share or 0.0 for _, share in seen]
    assert all(0 < share <= 1 for share in shares), seen
    assert shares == sorted(shares) and shares[-1] == 1.0 and shares[0] < 1.0, seen
    assert item["status"] == "committed" and item["counts"]["new"] == rows
    async with connection() as conn:
        created = await conn.fetchval(
            "SELECT count(*) FROM asset WHERE delivery_import_id = $1", item["id"]
        )
    assert created == rows


async def test_a_file_that_breaks_halfway_leaves_a_failed_import_and_nothing_else(
    tmp_path: Path,
) -> None:
    o = await order(quantity=20_000)
    # A UTF-8 file (its first row has an accent) of more than the 1 MiB sniffed.
    first = handset(o, **{"Product Description": "Galaxy A32 Noir Intense (édition pro)"})
    good = csv_bytes([first] + [handset(o) for _ in range(8_000)])
    assert len(good) > 1 << 20
    path = tmp_path / "broken.csv"
    path.write_bytes(good + b"14/11/2022,\xff\xfe broken\r\n")
    with pytest.raises(ValidationFailed) as caught:
        await run.run_import(
            ACTOR, path=path, file_name="broken.csv", profile_name="vodafone-despatch"
        )
    assert "not valid UTF-8" in caught.value.message
    imp = await one(
        "SELECT id, status FROM delivery_import WHERE file_name = 'broken.csv'"
        " ORDER BY id DESC LIMIT 1"
    )
    async with connection() as conn:
        staged = await conn.fetchval(
            "SELECT count(*) FROM import_staged_row WHERE import_id = $1", imp["id"]
        )
        assets = await conn.fetchval(
            "SELECT count(*) FROM asset WHERE purchase_order_id = $1", o["po"]["id"]
        )
    assert imp["status"] == "failed" and staged == 0 and assets == 0


O2_PROFILE = """
name = "o2-despatch"
description = "O2 despatch report: one row per handset"
kind = "delivery"
formats = ["csv"]

[[fields]]
name = "delivered_on"
aliases = ["Ship Dt"]
parser = "date"
required_column = true
required_value = true

[[fields]]
name = "supplier_order_ref"
aliases = ["O2 Ref"]
parser = "text"
required_column = true
required_value = true

[[fields]]
name = "po_number"
aliases = ["PO"]
parser = "text"
required_column = true
required_value = true

[[fields]]
name = "part_number"
aliases = ["SKU"]
parser = "upper"
required_column = true
required_value = true

[[fields]]
name = "imei"
aliases = ["Handset IMEI"]
parser = "imei"
required_column = true
required_value = true
"""


async def test_a_profile_added_from_a_file_imports_without_code(tmp_path: Path) -> None:
    o = await order()
    profiles = tmp_path / "profiles"
    profiles.mkdir()
    (profiles / "o2.toml").write_text(O2_PROFILE)
    rows = [handset(o) for _ in range(2)]
    path = tmp_path / "o2.csv"
    path.write_text(
        "Ship Dt,O2 Ref,PO,SKU,Handset IMEI\n"
        + "".join(f"14/11/2022,O2-1,{o['po']['number']},{o['part']},{r['IMEI']}\n" for r in rows)
    )
    item = await run.run_import(
        ACTOR,
        path=path,
        file_name="o2.csv",
        profile_name="o2-despatch",
        mode="commit",
        extra_profile_dirs=[profiles],
    )
    assert item["status"] == "committed" and item["counts"]["new"] == 2, item
    async with connection() as conn:
        imeis = await conn.fetch(
            "SELECT imei, serial_number FROM asset WHERE delivery_import_id = $1", item["id"]
        )
    assert sorted(r["imei"] for r in imeis) == sorted(r["IMEI"] for r in rows)
