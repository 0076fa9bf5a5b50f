"""`fleetsvc demo` against a register that holds a fleet of its own: the demo adds its
fleet beside it and never changes a record it did not create; what it cannot step around
(an order number already used) stops it with nothing changed."""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest

from db.embedded import drop_database
from fleetsvc.auth import Actor
from fleetsvc.business_units import BusinessUnitCreate, create_business_unit
from fleetsvc.demo.shape import HANDSET_PO_2022, imei
from fleetsvc.device_models import DeviceModelCreate, create_model
from fleetsvc.people import PersonCreate, create_person
from fleetsvc.procurement.contracts import ContractCreate, create_contract
from fleetsvc.procurement.purchase_orders import (
    OrderLineIn,
    PurchaseOrderCreate,
    create_order,
)
from fleetsvc.procurement.suppliers import SupplierCreate, create_supplier
from fleetsvc.vehicles import VehicleCreate, create_vehicle
from importers.fields import luhn_check_digit
from tests.api.test_imports import csv_bytes
from tests.conftest import Databases, new_database
from tests.fleetsvc.demo.helpers import SIZE, demo, rows, run

USER = Actor("cli:stores", "admin")


@pytest.fixture
async def own_database(databases: Databases) -> AsyncIterator[Databases]:
    """A register of its own: what it holds before the demo is the whole point."""
    name = f"fleetsvc_demo_{uuid.uuid4().hex[:8]}"
    db = await new_database(databases, name)
    try:
        yield db
    finally:
        await drop_database(databases.admin, name)


def _env(db: Databases) -> dict[str, str]:
    return {"DATABASE_URL": db.service, "FLEETSVC_MIGRATION_DATABASE_URL": db.owner}


def _handset(n: int, po: str, **kw: str) -> dict[str, str]:
    body, sim = f"35999900{n:06d}", f"89449900{n:010d}"
    return {
        "Despatch Date": "01/06/2020",
        "Vodafone Order No": "VF-OWN-1",
        "Customer PO": po,
        "Delivery Note": "DN-OWN-1",
        "SIM ICCID": sim + luhn_check_digit(sim),
        "MSISDN": f"07700 9{n:05d}",
        "Product Code": "SM-A325FZKGEUB",
        "Product Description": "Samsung Galaxy A32",
        "IMEI": body + luhn_check_digit(body),
        "Serial Number": f"OWN{n:05d}",
        "Quantity": "1",
        **kw,
    }


async def _their_fleet(conn: asyncpg.Connection) -> dict[str, int]:
    """The force's own records, some on the demo's codes and keys: its unit CE, a person
    with a demo employee number, a vehicle with a demo fleet number, a supplier named
    Vodafone, and a model with the demo handset's part number (another lifecycle)."""
    unit = await create_business_unit(conn, USER, BusinessUnitCreate("CE", "Central East"))
    taken = await create_person(
        conn, USER, PersonCreate("D0000003", "Ann Other", business_unit_id=unit.id)
    )
    person = await create_person(conn, USER, PersonCreate("E7001", "Sam Jones"))
    vehicle = await create_vehicle(conn, USER, VehicleCreate("DV00001", "AB12CDE"))
    supplier = await create_supplier(conn, USER, SupplierCreate("Vodafone"))
    model = await create_model(
        conn,
        USER,
        DeviceModelCreate(
            "Samsung", "Galaxy A32", "smartphone", 48, "310.00", part_numbers=["SM-A325FZKGEUB"]
        ),
    )
    contract = await create_contract(
        conn, USER, ContractCreate("OWN-HS-1", supplier.id, "handset_supply", dt.date(2020, 1, 1))
    )
    await create_order(
        conn,
        USER,
        PurchaseOrderCreate(
            "OWN-PO-1",
            contract.id,
            dt.date(2020, 5, 1),
            lines=[OrderLineIn(model.id, 10, "250.00")],
        ),
    )
    return {"people": taken.id, "person": person.id, "vehicle": vehicle.id}


async def test_the_demo_adds_beside_a_fleet_and_never_over_it(
    own_database: Databases, tmp_path: Path
) -> None:
    db = own_database
    conn = await asyncpg.connect(db.service)
    try:
        async with conn.transaction():
            ids = await _their_fleet(conn)
        # Their delivery: four handsets in stock, one with an IMEI the demo's file also has.
        path = tmp_path / "own.csv"
        clash = _handset(3, "OWN-PO-1", IMEI=imei(3))
        path.write_bytes(csv_bytes([_handset(n, "OWN-PO-1") for n in range(3)] + [clash]))
        imported = run(
            "import",
            str(path),
            "--profile",
            "vodafone-despatch",
            "--commit",
            env=_env(db),
            cwd=tmp_path,
        )
        assert imported.returncode == 0, imported.stdout + imported.stderr
        theirs = await rows(conn)
        their_assets = [r["id"] for r in await conn.fetch("SELECT id FROM asset")]
        assert len(their_assets) == 4

        first = demo(_env(db))
        assert first.returncode == 0, first.stdout + first.stderr
        assert "1 row(s) not applied" in first.stdout  # the demo handset whose IMEI is theirs
        assert "2 of the demo's people and vehicles were left out" in first.stdout
        loaded = await rows(conn)
        for table, before in theirs.items():
            if table != "event":
                # Every row they had is as it was: none changed, none moved, none issued.
                assert loaded[table][: len(before)] == before, table
        touched = await conn.fetchval(
            "SELECT count(*) FROM event WHERE id > $1 AND (entity, entity_id) IN"
            " (SELECT 'asset', unnest($2::bigint[])"
            "  UNION ALL SELECT 'person', unnest($3::bigint[])"
            "  UNION ALL SELECT 'vehicle', $4)",
            int(theirs["event"][1]),
            their_assets,
            [ids["people"], ids["person"]],
            ids["vehicle"],
        )
        assert touched == 0
        held = await conn.fetchval(
            "SELECT count(*) FROM asset WHERE person_id = ANY($1::int[])",
            [ids["people"], ids["person"]],
        )
        assert held == 0
        assert not await conn.fetchval(
            "SELECT count(*) FROM install WHERE vehicle_id = $1", ids["vehicle"]
        )
        # Beside them: the demo's people and fleet, in service on their dates.
        assert await conn.fetchval("SELECT count(*) FROM person") == SIZE.people - 1 + 2
        issued = await conn.fetchval(
            "SELECT count(*) FROM asset WHERE status = 'deployed' AND person_id IS NOT NULL"
            " AND model_id = (SELECT model_id FROM model_part_number"
            "                 WHERE part_number = 'SM-A325FZKGEUB')"
        )
        assert issued == SIZE.handsets_2021 + SIZE.handsets_2022 - 1

        second = demo(_env(db))
        assert second.returncode == 0, second.stdout + second.stderr
        assert "nothing was changed" in second.stdout
        assert await rows(conn) == loaded
    finally:
        await conn.close()


async def test_an_order_number_the_register_uses_stops_the_demo_unchanged(
    own_database: Databases,
) -> None:
    db = own_database
    conn = await asyncpg.connect(db.service)
    try:
        async with conn.transaction():
            supplier = await create_supplier(conn, USER, SupplierCreate("Vodafone UK"))
            contract = await create_contract(
                conn,
                USER,
                ContractCreate("OWN-HS-2", supplier.id, "handset_supply", dt.date(2022, 1, 1)),
            )
            order = await create_order(
                conn, USER, PurchaseOrderCreate(HANDSET_PO_2022, contract.id, dt.date(2022, 2, 1))
            )
        before = await rows(conn)
        refused = demo(_env(db))
        assert refused.returncode == 1
        line = refused.stderr.strip().splitlines()[-1]  # after the steps it began
        assert (
            f"purchase order with number {HANDSET_PO_2022} already exists (id {order.id})" in line
        )
        assert "nothing was changed" in line and "Traceback" not in refused.stderr
        assert await rows(conn) == before
    finally:
        await conn.close()
