"""Many vehicles at once (the demo's fleet): the checks of one vehicle, set-based."""

from __future__ import annotations

import pytest

from db.engine import connection, transaction
from fleetsvc.auth import Actor
from fleetsvc.errors import Conflict, ValidationFailed
from fleetsvc.vehicles import VehicleCreate, create_vehicles, get_vehicle
from tests import factories
from tests.api.test_vehicles import new_vrm
from tests.conftest import unique

ACTOR = Actor("tests", "admin")


async def test_vehicles_are_created_tidied_in_order_with_their_events(app: object) -> None:
    bu = await factories.business_unit()
    vrms = [new_vrm() for _ in range(2)]
    items = [
        VehicleCreate(
            fleet_number=f" f{unique()[:8].lower()} ",
            vrm=vrms[0],
            description=" BMW 330e Touring IRV ",
            business_unit_id=bu["id"],
        ),
        VehicleCreate(fleet_number=f"F{unique()[:8]}", vrm=vrms[1], status="off_road"),
    ]
    async with transaction() as conn:
        ids = await create_vehicles(conn, ACTOR, items)
        vehicles = [await get_vehicle(conn, i) for i in ids]
    # Stored as the register spells it, like one vehicle's: "bx21 aqz" is BX21AQZ.
    assert [v.vrm for v in vehicles] == [v.replace(" ", "").upper() for v in vrms]
    assert vehicles[0].fleet_number == items[0].fleet_number.strip().upper()
    assert (vehicles[0].description, vehicles[0].business_unit_id) == (
        "BMW 330e Touring IRV",
        bu["id"],
    )
    assert [v.status for v in vehicles] == ["active", "off_road"]
    async with connection() as conn:
        created = await conn.fetchval(
            "SELECT count(*) FROM event WHERE entity = 'vehicle' AND action = 'created'"
            " AND entity_id = ANY($1)",
            ids,
        )
    assert created == 2


async def test_problems_are_named_a_vrm_twice_is_422_and_one_that_exists_409(
    app: object,
) -> None:
    vrm = new_vrm()
    items = [
        VehicleCreate(fleet_number=f"F{unique()[:8]}", vrm=vrm),
        VehicleCreate(fleet_number=f"F{unique()[:8]}", vrm=vrm.upper(), status="parked"),
    ]
    with pytest.raises(ValidationFailed) as failed:
        async with transaction() as conn:
            await create_vehicles(conn, ACTOR, items)
    assert [(p.field, p.message) for p in failed.value.problems] == [
        ("vehicles.1.status", "status must be one of: active, off_road, decommissioned"),
        ("vehicles.1.vrm", f"vrm {vrm.replace(' ', '').upper()} is also given at vehicles.0"),
    ]

    existing = await factories.vehicle()
    with pytest.raises(Conflict) as conflict:
        async with transaction() as conn:
            await create_vehicles(
                conn,
                ACTOR,
                [VehicleCreate(fleet_number=existing["fleet_number"].lower(), vrm=new_vrm())],
            )
    assert conflict.value.existing_id == existing["id"]
