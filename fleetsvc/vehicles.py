"""Vehicles: what holds fitted IVMA kit (fleet number, VRM, business unit, status).

One vehicle at a time through the API (``create_vehicle``), or many at once with the
same checks, set-based (``create_vehicles``: the demo's fleet).
"""

from __future__ import annotations

from collections.abc import Container, Sequence
from datetime import datetime
from typing import Annotated, TypeVar

import asyncpg
import msgspec

from fleetsvc import identifiers
from fleetsvc.auth import Actor
from fleetsvc.business_units import BU_TABLE
from fleetsvc.checks import (
    Problems,
    check_each,
    choice,
    documented_text,
    existing_ids,
    filter_choice,
    given_once,
    known_id,
    like_pattern,
    text,
)
from fleetsvc.errors import ValidationFailed
from fleetsvc.pagination import Page, PageRequest
from fleetsvc.records import (
    Filters,
    RecordRef,
    changes_of,
    check_id,
    get_record,
    insert_record,
    insert_records,
    list_page,
    struct_of,
    update_record,
    value_or_none,
)
from fleetsvc.vocabulary import VehicleStatus, documented, one_of
from importers.fields import FieldError, normalise_vrm

VEHICLE_TABLE = "vehicle"
VEHICLE_ENTITY = "vehicle"
# The columns a new vehicle is written with, and their SQL types (for the bulk INSERT).
_COLUMNS = {
    "fleet_number": "text",
    "vrm": "text",
    "description": "text",
    "business_unit_id": "int",
    "status": "text",
}


class Vehicle(msgspec.Struct):
    id: int
    fleet_number: str
    vrm: str
    description: str
    business_unit_id: int | None
    status: Annotated[str, one_of(VehicleStatus)]
    version: int
    created_at: datetime
    updated_at: datetime


FleetNumber = Annotated[str, documented_text(32)]
Vrm = Annotated[str, documented(**identifiers.VRM)]
Description = Annotated[str, documented_text(200, required=False)]


class VehicleCreate(msgspec.Struct, forbid_unknown_fields=True):
    fleet_number: FleetNumber
    vrm: Vrm
    description: Description = ""
    business_unit_id: RecordRef | None = None
    status: Annotated[str, one_of(VehicleStatus)] = "active"


class VehicleUpdate(msgspec.Struct, forbid_unknown_fields=True):
    fleet_number: FleetNumber | msgspec.UnsetType = msgspec.UNSET
    vrm: Vrm | msgspec.UnsetType = msgspec.UNSET
    description: Description | msgspec.UnsetType = msgspec.UNSET
    business_unit_id: RecordRef | msgspec.UnsetType | None = msgspec.UNSET
    status: Annotated[str, one_of(VehicleStatus)] | msgspec.UnsetType = msgspec.UNSET


# A vehicle as created, or the fields a change sets: checked the same way.
V = TypeVar("V", VehicleCreate, VehicleUpdate)


def _checked(p: Problems, data: V, units: Container[int]) -> V:
    """A vehicle's fields checked and tidied (for a change, those it sets); ``units`` are
    the business units that exist among those named."""
    tidied: dict[str, object] = {}
    if isinstance(data.fleet_number, str):
        tidied["fleet_number"] = text(p, "fleet_number", data.fleet_number, max_len=32).upper()
    if isinstance(data.vrm, str):
        try:
            tidied["vrm"] = normalise_vrm(data.vrm)
        except FieldError as exc:
            p.add("vrm", exc.message)
    if isinstance(data.description, str):
        tidied["description"] = text(
            p, "description", data.description, max_len=200, required=False
        )
    if isinstance(data.status, str):
        choice(p, "status", data.status, VehicleStatus)
    if not isinstance(data.business_unit_id, msgspec.UnsetType):
        known_id(p, "business_unit_id", "business unit", data.business_unit_id, units)
    return msgspec.structs.replace(data, **tidied)


async def _check_vehicle(conn: asyncpg.Connection, data: V) -> V:
    p = Problems()
    units = await existing_ids(conn, BU_TABLE, [value_or_none(data.business_unit_id)])
    checked = _checked(p, data, units)
    p.raise_if_any()
    return checked


async def create_vehicle(conn: asyncpg.Connection, actor: Actor, data: VehicleCreate) -> Vehicle:
    checked = await _check_vehicle(conn, data)
    row = await insert_record(
        conn,
        actor,
        table=VEHICLE_TABLE,
        entity=VEHICLE_ENTITY,
        values=msgspec.structs.asdict(checked),
    )
    return struct_of(Vehicle, row)


async def create_vehicles(
    conn: asyncpg.Connection, actor: Actor, items: Sequence[VehicleCreate]
) -> list[int]:
    """Create many vehicles with ``create_vehicle``'s checks, set-based: every problem of
    every item at once (fields named ``vehicles.3.vrm``), then one INSERT and one COPY of
    their ``created`` events. The new ids come back in the order of ``items``; a fleet
    number or VRM given twice is a 422, one that exists already a 409 naming the vehicle."""
    p = Problems()
    units = await existing_ids(conn, BU_TABLE, (item.business_unit_id for item in items))
    checked: list[VehicleCreate] = []
    check_each(p, "vehicles", items, lambda p, item: checked.append(_checked(p, item, units)))
    rows = [msgspec.structs.asdict(item) for item in checked]
    given_once(p, rows, "vehicles", ("fleet_number", "vrm"))
    p.raise_if_any()
    return await insert_records(
        conn,
        actor,
        table=VEHICLE_TABLE,
        entity=VEHICLE_ENTITY,
        types=_COLUMNS,
        rows=[{c: r[c] for c in _COLUMNS} for r in rows],
        key="fleet_number",
    )


async def get_vehicle(conn: asyncpg.Connection, vehicle_id: int) -> Vehicle:
    check_id(VEHICLE_ENTITY, vehicle_id)
    return struct_of(Vehicle, await get_record(conn, VEHICLE_TABLE, VEHICLE_ENTITY, vehicle_id))


async def update_vehicle(
    conn: asyncpg.Connection,
    actor: Actor,
    vehicle_id: int,
    changes: VehicleUpdate,
    expected_version: int | None,
) -> Vehicle:
    check_id(VEHICLE_ENTITY, vehicle_id)
    row = await update_record(
        conn,
        actor,
        table=VEHICLE_TABLE,
        entity=VEHICLE_ENTITY,
        record_id=vehicle_id,
        changes=changes_of(await _check_vehicle(conn, changes)),
        expected_version=expected_version,
    )
    return struct_of(Vehicle, row)


async def list_vehicles(
    conn: asyncpg.Connection,
    page: PageRequest,
    *,
    vrm: str | None = None,
    fleet_number: str | None = None,
    business_unit: str | None = None,
    status: str | None = None,
    q: str | None = None,
) -> Page[Vehicle]:
    f = Filters()
    if vrm is not None:
        # Looked up as stored: "bx21 aaa" finds BX21AAA.
        try:
            f.add("vrm = {}", normalise_vrm(vrm))
        except FieldError as exc:
            raise ValidationFailed.one("vrm", exc.message) from None
    if fleet_number is not None:
        f.add("fleet_number = {}", fleet_number.strip().upper())
    if business_unit is not None:
        f.add(
            "business_unit_id = (SELECT id FROM business_unit WHERE code = {})",
            business_unit.strip().upper(),
        )
    if status is not None:
        f.add("status = {}", filter_choice("status", status, VehicleStatus))
    if q and q.strip():
        f.add(
            "(fleet_number ILIKE {0} OR vrm ILIKE {1} OR description ILIKE {0})",
            like_pattern(q),
            like_pattern("".join(q.split()).upper()),
        )
    found = await list_page(conn, f"SELECT * FROM {VEHICLE_TABLE}", f, page)
    return Page([struct_of(Vehicle, r) for r in found.items], found.next_cursor)
