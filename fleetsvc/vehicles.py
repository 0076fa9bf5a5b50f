"""Vehicles: what holds fitted IVMA kit (fleet number, VRM, business unit, status)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import asyncpg

from fleetsvc.auth import Actor
from fleetsvc.business_units import BU_TABLE
from fleetsvc.checks import Problems, choice, existing_id, filter_choice, like_pattern, text
from fleetsvc.errors import ValidationFailed
from fleetsvc.pagination import Page, PageRequest
from fleetsvc.records import Filters, check_id, get_record, insert_record, list_page, update_record
from fleetsvc.vocabulary import VehicleStatus
from importers.fields import FieldError, normalise_vrm

VEHICLE_TABLE = "vehicle"
VEHICLE_ENTITY = "vehicle"


async def _check_vehicle(conn: asyncpg.Connection, values: Mapping[str, Any]) -> dict[str, Any]:
    out = dict(values)
    p = Problems()
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
        await existing_id(
            conn, p, "business_unit_id", BU_TABLE, "business unit", out["business_unit_id"]
        )
    p.raise_if_any()
    return out


async def create_vehicle(
    conn: asyncpg.Connection, actor: Actor, values: Mapping[str, Any]
) -> asyncpg.Record:
    checked = await _check_vehicle(conn, values)
    return await insert_record(
        conn, actor, table=VEHICLE_TABLE, entity=VEHICLE_ENTITY, values=checked
    )


async def get_vehicle(conn: asyncpg.Connection, vehicle_id: int) -> asyncpg.Record:
    check_id(VEHICLE_ENTITY, vehicle_id)
    return await get_record(conn, VEHICLE_TABLE, VEHICLE_ENTITY, vehicle_id)


async def update_vehicle(
    conn: asyncpg.Connection,
    actor: Actor,
    vehicle_id: int,
    changes: Mapping[str, Any],
    expected_version: int | None,
) -> asyncpg.Record:
    check_id(VEHICLE_ENTITY, vehicle_id)
    return await update_record(
        conn,
        actor,
        table=VEHICLE_TABLE,
        entity=VEHICLE_ENTITY,
        record_id=vehicle_id,
        changes=await _check_vehicle(conn, changes),
        expected_version=expected_version,
    )


async def list_vehicles(
    conn: asyncpg.Connection,
    page: PageRequest,
    *,
    vrm: str | None = None,
    fleet_number: str | None = None,
    business_unit: str | None = None,
    status: str | None = None,
    q: str | None = None,
) -> Page[asyncpg.Record]:
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
    return await list_page(conn, f"SELECT * FROM {VEHICLE_TABLE}", f, page)
