"""Import profiles: one added from a file imports without code."""

from __future__ import annotations

from pathlib import Path

import pytest

from db.engine import connection
from fleetsvc.auth import Actor
from fleetsvc.imports import run
from tests.api.test_imports import handset, order

ACTOR = Actor("tests", "stores")
# The app's lifespan opens the connection pool the service uses.
pytestmark = pytest.mark.usefixtures("app")


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
    assert item.status == "committed" and item.counts["new"] == 2, item
    async with connection() as conn:
        imeis = await conn.fetch(
            "SELECT imei, serial_number FROM asset WHERE delivery_import_id = $1", item.id
        )
    assert sorted(r["imei"] for r in imeis) == sorted(r["IMEI"] for r in rows)
