"""Rows for tests, inserted with plain SQL so a test can set up any state.

Every value that must be unique is made unique, so tests never collide. Use
the API under test for the behaviour being tested; use these for the rest.
"""

from __future__ import annotations

import datetime as dt
import random
from decimal import Decimal
from typing import Any

from db.engine import transaction
from fleetsvc.vocabulary import KEPT_AT_LOCATION
from importers.fields import luhn_check_digit
from tests.conftest import unique


def new_imei() -> str:
    body = "35" + "".join(random.choice("0123456789") for _ in range(12))
    return body + luhn_check_digit(body)


def new_iccid() -> str:
    body = "8944" + "".join(random.choice("0123456789") for _ in range(14))
    return body + luhn_check_digit(body)


_ISSUED_MSISDNS: set[str] = set()


def new_msisdn() -> str:
    # Only 9 random digits: a file of 10,000 handsets would share a number once in ~20 runs,
    # so a number is never handed out twice in one test run.
    while True:
        msisdn = "+447" + "".join(random.choice("0123456789") for _ in range(9))
        if msisdn not in _ISSUED_MSISDNS:
            _ISSUED_MSISDNS.add(msisdn)
            return msisdn


async def insert(table: str, **values: Any) -> dict[str, Any]:
    cols = list(values)
    marks = ", ".join(f"${i + 1}" for i in range(len(cols)))
    async with transaction() as conn:
        row = await conn.fetchrow(
            f"INSERT INTO {table} ({', '.join(cols)}) VALUES ({marks}) RETURNING *",
            *values.values(),
        )
    assert row is not None
    return dict(row)


async def business_unit(**kw: Any) -> dict[str, Any]:
    code = unique("BU")[:16]
    return await insert("business_unit", **{"code": code, "name": f"Unit {code}", **kw})


async def person(**kw: Any) -> dict[str, Any]:
    n = unique()
    values = {
        "employee_number": f"E{n}",
        "upn": f"p{n.lower()}@force.example",
        "display_name": f"Person {n}",
        "kind": "officer",
        **kw,
    }
    return await insert("person", **values)


async def vehicle(**kw: Any) -> dict[str, Any]:
    n = unique()
    return await insert(
        "vehicle",
        **{
            "fleet_number": f"F{n[:8]}",
            "vrm": f"V{n[:7]}",
            "description": "BMW 330e Touring IRV",
            **kw,
        },
    )


async def supplier(**kw: Any) -> dict[str, Any]:
    return await insert("supplier", **{"name": unique("Supplier "), **kw})


async def contract(kind: str = "handset_supply", **kw: Any) -> dict[str, Any]:
    if "supplier_id" not in kw:
        kw["supplier_id"] = (await supplier())["id"]
    values = {
        "reference": unique("CON-"),
        "kind": kind,
        "title": f"{kind} contract",
        "starts_on": dt.date(2021, 4, 1),
        "ends_on": dt.date(2027, 3, 31),
        **kw,
    }
    return await insert("contract", **values)


async def device_model(category: str = "smartphone", **kw: Any) -> dict[str, Any]:
    values = {
        "manufacturer": "Samsung",
        "model_name": unique("Galaxy A32 "),
        "category": category,
        "lifecycle_months": 36,
        "replacement_cost": Decimal("300.00"),
        **kw,
    }
    return await insert("device_model", **values)


async def location(**kw: Any) -> dict[str, Any]:
    code = unique("LOC-")
    return await insert("location", **{"code": code, "name": f"Store {code}", **kw})


async def default_location_id() -> int:
    """The location the migration made (FLEETSVC_DEFAULT_LOCATION is unset in tests)."""
    async with transaction() as conn:
        found: int = await conn.fetchval("SELECT id FROM location WHERE code = 'STORES'")
    return found


async def asset(model: dict[str, Any] | None = None, **kw: Any) -> dict[str, Any]:
    model = model or await device_model()
    values: dict[str, Any] = {
        "model_id": model["id"],
        "manufacturer": model["manufacturer"].lower(),
        "serial_number": unique("SN"),
        "status": "in_stock",
        "delivered_on": dt.date(2022, 11, 14),
        **kw,
    }
    # Kept in stock, in repair or awaiting rebuild: at a location (the default one unless
    # the test names another); in any other status, at none.
    if "location_id" not in kw and values["status"] in KEPT_AT_LOCATION:
        values["location_id"] = await default_location_id()
    if model["category"] == "smartphone" and "imei" not in kw:
        values["imei"] = new_imei()
    # An asset's MDM device and facts are its primary MDM record's (mdm_device), not columns
    # of its own; the row returned carries them under the names the sync's events use.
    mdm = {k: values.pop(k, None) for k in _ASSET_MDM}
    row = await insert("asset", **values)
    if mdm["mdm_device_id"] is not None:
        await insert(
            "mdm_device",
            **{column: mdm[k] for k, column in _ASSET_MDM.items()},
            asset_id=row["id"],
            is_primary=True,
        )
    return {**row, **{k: v for k, v in mdm.items() if k != "mdm_last_seen_at"}}


_ASSET_MDM = {
    "mdm_device_id": "mdm_device_id",
    "mdm_last_seen_at": "last_sync_at",
    "mdm_compliance": "compliance",
    "mdm_os_version": "os_version",
    "mdm_user_upn": "user_upn",
}


async def sim(**kw: Any) -> dict[str, Any]:
    return await insert("sim", **{"iccid": new_iccid(), "msisdn": new_msisdn(), **kw})
