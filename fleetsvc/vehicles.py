"""Vehicles: what holds fitted IVMA kit (fleet number, VRM, business unit, status).

One vehicle at a time through the API (``create_vehicle``), or many at once with the
same checks, set-based (``create_vehicles``: the demo's fleet).
"""

from __future__ import annotations

from collections.abc import Container, Mapping, Sequence
from datetime import datetime
from typing import Annotated, Any

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


def _check_fields(p: Problems, out: dict[str, Any], units: Container[int]) -> None:
    """Check and tidy a vehicle's fields in place; ``units`` are the business units that
    exist among those named."""
    if "fleet_number" in out:
        out["fleet_number"] = text(p, "fleet_number", out["fleet_number"], max_len=32).upper()
    if "vrm" in out:
        try:
            out["vrm"] = normalise_vrm(out["vrm"])
        except FieldError as exc:
            p.add("vrm", exc.message)
    if "description" in out:
        out["description"] = text(p, "description", out["description"], max_len=200, required=False)
    if "status" in out:
        choice(p, "status", out["status"], VehicleStatus)
    if "business_unit_id" in out:
        known_id(p, "business_unit_id", "business unit", out["business_unit_id"], units)


async def _check_vehicle(conn: asyncpg.Connection, values: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(values)
    p = Problems()
    units = await existing_ids(conn, BU_TABLE, [out.get("business_unit_id")])
    _check_fields(p, out, units)
    p.raise_if_any()
    return out


async def create_vehicle(conn: asyncpg.Connection, actor: Actor, data: VehicleCreate) -> Vehicle:
    checked = await _check_vehicle(conn, msgspec.structs.asdict(data))
    row = await insert_record(
        conn, actor, table=VEHICLE_TABLE, entity=VEHICLE_ENTITY, values=checked
    )
    return struct_of(Vehicle, row)


async def create_vehicles(
    conn: asyncpg.Connection, actor: Actor, items: Sequence[VehicleCreate]
) -> list[int]:
    """Create many vehicles with ``create_vehicle``'s checks, set-based: every problem of
    every item at once (fields named ``vehicles.3.vrm``), then one INSERT and one COPY of
    their ``created`` events. The new ids come back in the order of ``items``; a fleet
    number or VRM given twice is a 422, one that exists already a 409 naming the vehicle."""
    rows = [msgspec.structs.asdict(item) for item in items]
    p = Problems()
    units = await existing_ids(conn, BU_TABLE, (r["business_unit_id"] for r in rows))
    check_each(p, "vehicles", rows, lambda p, row: _check_fields(p, row, units))
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
        changes=await _check_vehicle(conn, changes_of(changes)),
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
